"""``snnkit energy``: operation counts and energy estimates of a TCJA-SNN on real samples.

    snnkit energy --model digits_dvs --samples 64 --energy-model horowitz45 --ann --out runs/energy
    snnkit energy --checkpoint runs/tcja/best.pt --energy-model loihi --out runs/energy
    snnkit energy --checkpoint runs/tcja/best.pt --data samples.pt --out runs/energy   # simulate's .pt format

Counts every layer per time step with forward hooks (``count_ops(..., backend="hooks")``),
prices them with the chosen energy models, optionally compares with the ANN counterpart (the
same network with ReLU, one pass per sample), prints tables and writes JSON, CSV and PNG files
to ``--out``. ``configure(parser)`` adds the arguments to an argparse (sub)parser.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from snnkit.cli import clean_warnings

from .cli import RANDOM_RATE, check_out, dataset_splits, is_sample_file, load_samples, random_inputs

__all__ = ["configure", "run"]

_DATASET_OF = {"ncaltech101": "n_caltech101"}  # TCJA config name -> snnkit.data name where they differ


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``snnkit energy``'s arguments to ``parser`` and set ``func=run``."""
    from snnkit.models.tcja_snn import ATTENTIONS, CONFIGS

    from snnkit.cli import int_at_least

    from .energy import ENERGY_MODELS

    parser.description = ("Count spikes, synaptic operations, MACs, neuron updates and memory traffic of a TCJA-SNN "
                          "per layer and time step on real samples, and estimate energy (docs/energy.md).")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="CONFIG", choices=sorted(CONFIGS),
                     help=f"a TCJA-SNN config ({', '.join(CONFIGS)}); untrained (random) weights")
    src.add_argument("--checkpoint", metavar="CKPT", help="a checkpoint written by `snnkit train` (TCJA-SNN)")
    parser.add_argument("--data", metavar="NAME",
                        help="dataset for snnkit.data.load (default: the config's; one that cannot be loaded is an "
                             "error), 'random' (Bernoulli(0.05) input spikes) or a .pt file of (x[N, T, C, H, W], "
                             "y[N]) as snnkit simulate reads")
    parser.add_argument("--root", help="dataset folder (with --checkpoint, default: the folder its run trained on; "
                                       "not needed for digits_dvs)")
    parser.add_argument("--split", choices=["test", "train"], default="test", help="which split to sample (default test)")
    parser.add_argument("--samples", type=int, default=64, help="number of samples to count over (default 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per forward pass (default 16; the counts do not depend on it)")
    parser.add_argument("--energy-model", action="append", choices=sorted(ENERGY_MODELS), dest="energy_models",
                        metavar="MODEL", help=f"energy model, repeatable: {', '.join(sorted(ENERGY_MODELS))} "
                                              "(default: horowitz45 and loihi)")
    parser.add_argument("--ann", action="store_true", help="also count the ANN counterpart (ReLU, one pass) and compare")
    parser.add_argument("--attention", choices=list(ATTENTIONS), help="with --model only: ablation (e.g. none); a checkpoint keeps its own")
    parser.add_argument("--event-counts", action="store_true",
                        help="treat event-count frames and average-pooled spikes as events (synaptic ops) instead "
                             "of dense MACs (count_ops event_inputs='counts'); loihi already folds pooling as the "
                             "Lava export does, so for it only the input's events change (docs/energy.md)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random weights / random inputs (default 0)")
    parser.add_argument("--threads", type=int_at_least(1), help="torch threads")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while a frame cache is built")
    parser.add_argument("--out", required=True, help="output folder (JSON, CSV, PNG)")
    parser.set_defaults(func=run)
    return parser


def _build(args: argparse.Namespace) -> Tuple[Any, Dict[str, Any], Optional[Dict[str, Any]]]:
    import dataclasses

    import torch

    from snnkit.models import tcja_snn

    if args.checkpoint:
        from snnkit.train.recipes import load_tcja

        if args.attention:
            raise SystemExit("snnkit energy: --attention applies to --model (an untrained config); a --checkpoint's "
                             "network keeps the attention it was trained with (train another with snnkit train tcja "
                             "--attention ...)")
        path = Path(args.checkpoint)
        try:
            model, ckpt = load_tcja(path)
        except (ValueError, OSError) as err:  # missing, a directory, corrupt, not a TCJA-SNN: its message says which
            raise SystemExit(f"snnkit energy: {err}") from None
        meta = {"checkpoint": str(path), "config": model.config.name, "trained": True,
                "epoch": ckpt.get("epoch")}
        return model.eval(), meta, ckpt
    cfg = tcja_snn.get_config(args.model)
    if args.attention:
        cfg = dataclasses.replace(cfg, attention=args.attention).validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = tcja_snn.build_model(cfg)
    meta = {"config": cfg.name, "attention": cfg.attention, "trained": False, "seed": args.seed}
    return model.eval(), meta, None


def _random_batches(cfg: Any, n: int, bs: int, seed: int) -> List[Tuple[Any, Any]]:
    """``--data random``: unlabelled batches of Bernoulli(0.05) input spikes, seeded by ``--seed``."""
    return [(x, None) for x in random_inputs(cfg, n, bs, seed)]


def _file_batches(args: argparse.Namespace, model: Any, notes: List[str]) -> Tuple[List[Tuple[Any, Any]], str]:
    """``--data FILE.pt``: its first ``--samples`` samples, read and checked as ``snnkit simulate`` reads them."""
    if args.split != "test" or args.root:
        raise SystemExit(f"snnkit energy: --data {args.data!r} is a file of samples, which has no --split or --root; "
                         "drop them, or give a dataset name with --data")
    x, y, desc = load_samples(args.data, model, args.samples, cmd="energy")  # x[T, N, ...], y[N] or None
    n, bs = int(x.shape[1]), args.batch_size
    if n == 0:
        raise SystemExit(f"snnkit energy: --data {args.data!r} holds no samples (x[N, T, C, H, W] with N = 0)")
    if n < args.samples:
        notes.append(f"{Path(args.data).name} holds only {n} samples")
    return [(x[:, i:i + bs], None if y is None else y[i:i + bs]) for i in range(0, n, bs)], desc


def _check_dataset_name(name: str, given: bool) -> None:
    """Refuse a name that is no dataset, listing the valid ones (no --root can help it)."""
    from snnkit import data as snn_data

    try:
        snn_data.info(name)
    except ValueError as err:  # its message lists the available datasets
        which = "--data" if given else "the network's dataset (its config name)"
        raise SystemExit(f"snnkit energy: {which} {name!r}: {err}; or give --data a .pt file of samples "
                         "(x[N, T, C, H, W], y[N]) or random for Bernoulli(0.05) input spikes") from None


def _data(args: argparse.Namespace, model: Any, notes: List[str], ckpt: Optional[Dict[str, Any]] = None,
          ) -> Tuple[List[Tuple[Any, Any]], str]:
    """A list of ``(x[T, B, ...], labels[B] or None)`` batches and the data's name."""
    import torch

    from snnkit import data as snn_data

    cfg = model.config
    name = args.data or _DATASET_OF.get(cfg.name, cfg.name)
    if name == "random":
        if args.split != "test" or args.root:
            raise SystemExit("snnkit energy: --data random draws Bernoulli(0.05) spikes from --seed; it has no --split "
                             "or --root: drop them, or give a dataset name with --data")
        notes.append("inputs are random Bernoulli(0.05) spikes, not real data (--data random)")
        return _random_batches(cfg, args.samples, args.batch_size, args.seed), "random"
    if args.data and is_sample_file(args.data):
        return _file_batches(args, model, notes)
    _check_dataset_name(name, bool(args.data))
    try:
        train, test = dataset_splits(name, cfg, ckpt, args.root, splits=(args.split,), progress=not args.no_progress)
    except Exception as err:  # noqa: BLE001 - any loader failure: its message says what is missing and where
        which = "--data" if args.data else "the network's dataset"
        raise SystemExit(f"snnkit energy: could not load {which} {name!r}: {err}\nGive the dataset's folder with --root "
                         f"(`snnkit data info {name}` says what it must hold), or pass --data random for random "
                         "Bernoulli(0.05) input spikes") from None
    ds = test if args.split == "test" else train
    n = min(args.samples, len(ds))
    if n < args.samples:
        notes.append(f"the {args.split} split has only {len(ds)} samples")
    loader = snn_data.make_loader(torch.utils.data.Subset(ds, range(n)), batch_size=args.batch_size)
    batches = []
    for x, y in loader:
        if x.shape[0] != cfg.T and x.ndim == 5 and x.shape[1] == cfg.T:  # [B, T, ...] -> [T, B, ...]
            x = x.transpose(0, 1)
        batches.append((x.float(), y))
    return batches, f"{name} ({args.split}, first {n})"


def _unmappable_note(model: Any, input_shape: Tuple[int, ...], ens: List[Any]) -> Optional[str]:
    """A note when an event-driven (neuromorphic) model prices a network the Lava export refuses: no silent Loihi figure."""
    from .graph import trace

    neuromorphic = [e.model for e in ens if e.costs.get("synop_pj") is not None]
    if not neuromorphic:
        return None
    try:
        trace(model, input_shape)  # what snnkit export --to lava runs first
    except ValueError as err:
        return (f"this network cannot be exported to Loihi (snnkit export --to lava refuses it: {err}); the "
                f"{' and '.join(neuromorphic)} figure prices it as if it could be mapped")
    return None


def _header(meta: Dict[str, Any], seed: int) -> str:
    """The first line: which network, which samples (dataset, split, how many) and their accuracy, as simulate says."""
    net = (f"{meta['config']} (checkpoint, epoch {meta.get('epoch')})" if meta["trained"]
           else f"{meta['config']} (random weights, seed {meta.get('seed')})")
    acc = meta.get("accuracy_on_these_samples")
    data = meta["data"] if meta["data"] != "random" else f"random Bernoulli({RANDOM_RATE}) spikes (seed {seed})"
    return (f"snnkit energy: {net}, {data}: {meta['samples']} samples, T={meta['T']}"
            + ("" if acc is None else f"; accuracy on these samples {100 * acc:.2f}%"))


def run(args: argparse.Namespace) -> int:
    import torch

    from .counters import count_module_ops
    from .energy import compare_snn_ann, energy
    from .report import print_comparison, print_ops, save_report

    if args.samples < 1 or args.batch_size < 1:
        raise SystemExit(f"snnkit energy: --samples and --batch-size must be >= 1, got {args.samples}, {args.batch_size}")
    check_out("energy", Path(args.out), Path(args.out))
    if args.threads:
        torch.set_num_threads(args.threads)
    models = list(dict.fromkeys(args.energy_models or ["horowitz45", "loihi"]))  # a repeated model once, not two rows
    notes: List[str] = []
    model, meta, ckpt = _build(args)
    if not meta["trained"]:
        notes.append("untrained (random) weights: firing rates, and so the counts, differ from a trained network's")
    batches, data_name = _data(args, model, notes, ckpt)
    xs = [x for x, _ in batches]
    event_inputs = "counts" if args.event_counts else "binary"
    ops = count_module_ops(model, xs, event_inputs=event_inputs)
    ens = [energy(ops, m) for m in models]
    unmappable = _unmappable_note(model, tuple(xs[0].shape[2:]), ens)
    if unmappable:
        notes.append(unmappable)
    labels = [y for _, y in batches]
    if all(y is not None for y in labels) and isinstance(ops.output, torch.Tensor):
        y = torch.cat([torch.as_tensor(v) for v in labels])
        from snnkit.train.trainer import predicted_class

        pred = predicted_class(ops.output.mean(0))
        meta["accuracy_on_these_samples"] = float((pred == y).float().mean())
    comparison = None
    if args.ann:
        comparison = compare_snn_ann(model, inputs_snn=xs, energy_models=models, event_inputs=event_inputs)
    meta.update({"data": data_name, "samples": ops.B, "T": ops.T, "event_inputs": event_inputs,
                 "energy_models": models, "notes": notes})
    print(_header(meta, args.seed))
    print_ops(ops, ens)
    for e in ens:
        print(f"{e.model}: {e.per_sample_j * 1e6:.4f} uJ per sample ({e.source})")
    if comparison is not None:
        print_comparison(comparison)
    for n in notes:
        print(f"NOTE: {n}", file=sys.stderr)
    files = save_report(args.out, ops, ens, comparison=comparison, plots=not args.no_plots, extra=meta)
    print(f"wrote {len(files)} files to {args.out}: " + ", ".join(Path(p).name for p in files.values()))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone entry: ``python -m snnkit.hardware.energy_cli ...``."""
    p = configure(argparse.ArgumentParser(prog="snnkit energy"))
    args = p.parse_args(argv)
    with clean_warnings():
        return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
