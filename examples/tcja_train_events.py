"""Train a TCJA-SNN on a neuromorphic dataset from your disk (or the offline digits_dvs).

    python examples/tcja_train_events.py --config dvs128_gesture --root ~/data/DVSGesture --epochs 200
    python examples/tcja_train_events.py                       # digits_dvs, no download needed

Same as ``snnkit train tcja ...``: frames by number (SpikingJelly's bin edges, as the paper),
cached in HDF5; training augmentation as the config says (on for cifar10_dvs, as its original
script); checkpoints (last.pt, best.pt), metrics.csv and TensorBoard logs in --out;
``--resume`` continues bit for bit.
"""
from __future__ import annotations

import argparse

import torch

from snnkit.train.recipes import tcja_trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="digits_dvs")
    ap.add_argument("--root", default=None, help="dataset folder in its native layout (see docs/data.md)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out", default="runs/tcja_example")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out")
    ap.add_argument("--overwrite", action="store_true", help="write over the run in --out")
    args = ap.parse_args()
    torch.set_num_threads(1)  # small conv layers on a shared CPU: one thread is fastest
    try:
        trainer = tcja_trainer(args.config, root=args.root, out_dir=args.out, epochs=args.epochs)
        history = trainer.fit(resume=args.resume, overwrite=args.overwrite)
    except (ValueError, OSError) as err:   # a missing dataset, an --out holding another run: say so, no traceback
        raise SystemExit(f"tcja_train_events: {err}") from None
    print(f"best test accuracy {trainer.best:.4f} after {len(history)} epochs; outputs in {args.out}")


if __name__ == "__main__":
    main()
