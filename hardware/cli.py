"""``snnkit export`` and ``snnkit simulate``: a trained checkpoint to Lava / netx / NIR, and Lava runs on real samples.

    snnkit export --checkpoint runs/tcja/best.pt --to lava --out tcja.lava
    snnkit export --checkpoint runs/tcja/best.pt --to nir --out tcja.nir
    snnkit simulate --checkpoint runs/tcja/best.pt --data digits_dvs --samples 32 --out runs/simulate

Checkpoints are those written by :class:`snnkit.train.Trainer` (keys ``model``, ``arch``,
``model_config``, ``config``, ``snnkit_version``); the network is rebuilt from ``model_config``
(a TCJA-SNN config). ``simulate`` runs the samples in PyTorch (float64) and in Lava (``floating_pt``
and/or ``fixed_pt``), prints per-layer spike agreement, accuracies and an energy table, and writes
``simulate.json`` and ``simulate.png`` (per-layer agreement and firing rates) to ``--out``, atomically.
``configure_export(parser)`` / ``configure_simulate(parser)`` add the arguments to argparse (sub)parsers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from snnkit._io import check_writable_folder, torch_load
from snnkit.cli import clean_warnings

__all__ = ["configure_export", "configure_simulate", "run_export", "run_simulate", "load_model", "load_samples"]

MODES = ("floating_pt", "fixed_pt")
CALIBRATION_SAMPLES = 64  # default --calibration-samples
_DATASET_OF = {"ncaltech101": "n_caltech101"}  # TCJA config name -> snnkit.data name where they differ


def _fail(cmd: str, msg: str) -> "SystemExit":
    return SystemExit(f"snnkit {cmd}: {msg}")


# --------------------------------------------------------------------------- shared helpers


def load_model(checkpoint: str, cmd: str = "export") -> Tuple[Any, Dict[str, Any]]:
    """Rebuild the network of a Trainer checkpoint: ``(model in eval mode, checkpoint dict)``."""
    from snnkit.models import tcja_snn
    from snnkit.train.checkpoint import load_checkpoint

    path = Path(checkpoint)
    try:
        ckpt = load_checkpoint(path)
    except (ValueError, OSError) as err:  # missing, a directory, corrupt, not a checkpoint: its message says which
        raise _fail(cmd, str(err)) from None
    arch, cfg = ckpt.get("arch"), ckpt.get("model_config")
    if not isinstance(cfg, dict):
        raise _fail(cmd, f"checkpoint {str(path)!r} has no model_config (a dict), so the network cannot be rebuilt; "
                         "write checkpoints with snnkit.train.Trainer(..., arch=..., model_config=...)")
    if arch not in (None, "tcja_snn", "tcja", "TCJASNN"):
        raise _fail(cmd, f"checkpoint {str(path)!r} holds a {arch!r} model; export/simulate support TCJA-SNN "
                         "checkpoints (arch 'tcja_snn'); for other models use snnkit.hardware.to_lava in Python")
    try:
        model = tcja_snn.build_model(tcja_snn.TCJASNNConfig.from_dict(cfg))
        load_checkpoint(path, model)
    except ValueError as err:
        raise _fail(cmd, f"checkpoint {str(path)!r}: {err}") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, ckpt


def _refusal(cmd: str, model: Any, err: ValueError) -> "SystemExit":
    """``err`` (a layer the export cannot map) as the command's error; for a max-pool TCJA-SNN, how to retrain it."""
    hint = ""
    if getattr(model.config, "pool", None) == "max" and "MaxPool" in str(err):
        hint = ("; this checkpoint's config has pool: max, so train it again with pool: avg (snnkit train tcja "
                "--config CHECKPOINT --print-config > cfg.yaml writes the config it trained with; set pool: avg, "
                "then snnkit train tcja --config cfg.yaml)")
    return _fail(cmd, f"{err}{hint}")


def _input_shape(model: Any) -> Tuple[int, ...]:
    cfg = model.config
    h, w = cfg.input_size
    return (int(cfg.in_channels), int(h), int(w))


def is_sample_file(data: str) -> bool:
    """``--data`` names a ``.pt`` file of samples, not a dataset."""
    return data.endswith(".pt") or Path(data).is_file()


_SAMPLE_FILE = "x[N, T, C, H, W] alone, a tuple (x, y[N]) or a dict {'x': x, 'y': y}"


def _unpack_samples(obj: Any, data: str, cmd: str) -> Tuple[Any, Any]:
    """``(x, y or None)`` from what a ``.pt`` sample file holds; a clear error for anything else."""
    import torch

    if isinstance(obj, dict):
        if "x" not in obj:
            raise _fail(cmd, f"--data {data!r} holds a dict without an 'x' entry (keys: {sorted(map(str, obj))}); "
                             f"expected {_SAMPLE_FILE}")
        x, y = obj["x"], obj.get("y")
    elif isinstance(obj, (tuple, list)) and len(obj) in (1, 2):
        x, y = obj[0], (obj[1] if len(obj) == 2 else None)
    else:
        x, y = obj, None
    if not isinstance(x, torch.Tensor):
        raise _fail(cmd, f"--data {data!r}: x is of type {type(x).__name__}, not a tensor; expected {_SAMPLE_FILE}")
    if x.ndim != 5:
        raise _fail(cmd, f"--data {data!r}: expected x[N, T, C, H, W] (5 dims), got {tuple(x.shape)}")
    return x, y


def _checked_labels(y: Any, n: int, num_classes: int, data: str, cmd: str) -> Any:
    """``y`` as a long tensor of ``n`` class indices in ``0..num_classes-1``; a clear error otherwise."""
    import torch

    try:
        y = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError) as err:
        raise _fail(cmd, f"--data {data!r}: the labels y are not a tensor of class indices ({err})") from None
    if y.ndim != 1 or len(y) != n:
        raise _fail(cmd, f"--data {data!r}: the labels y have shape {tuple(y.shape)} but x has {n} samples; "
                         f"expected y[{n}], one class index per sample")
    if (y.is_floating_point() and not torch.equal(y, y.round())) or y.is_complex() or y.dtype == torch.bool:
        raise _fail(cmd, f"--data {data!r}: the labels y must be integer class indices, got {y.dtype} values")
    y = y.long()
    bad = y[(y < 0) | (y >= num_classes)]
    if len(bad):
        raise _fail(cmd, f"--data {data!r}: {len(bad)} label(s) outside 0..{num_classes - 1} (the network has "
                         f"{num_classes} classes), e.g. {int(bad[0])}")
    return y


RANDOM_RATE = 0.05  # firing probability of the inputs of --data random


def random_inputs(cfg: Any, n: int, batch_size: int, seed: int) -> List[Any]:
    """``--data random``: ``n`` samples of Bernoulli(RANDOM_RATE) spikes as ``x[T, B, C, H, W]`` batches of ``batch_size``.

    Drawn one sample after the other, so sample i is the same whatever the batch size (and in
    ``snnkit simulate`` and ``snnkit energy``)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    H, W = cfg.input_size

    def draw() -> Any:
        return (torch.rand(cfg.T, 1, cfg.in_channels, H, W, generator=g) < RANDOM_RATE).float()

    return [torch.cat([draw() for _ in range(min(batch_size, n - start))], dim=1) for start in range(0, n, batch_size)]


def dataset_splits(name: str, cfg: Any, ckpt: Optional[Dict[str, Any]] = None, root: Optional[str] = None,
                   splits: Sequence[str] = ("train", "test"), progress: bool = False) -> Tuple[Any, Any]:
    """``(train, test)`` of dataset ``name`` framed for the network ``cfg``.

    The network's own dataset is split as its training run split it (the run's seed for
    digits_dvs, the config's ``split_seed`` for CIFAR10-DVS / N-Caltech101), so a test split
    never holds samples the checkpoint trained on. ``progress``: a bar on stderr while a frame cache is built
    (minutes for a full dataset, which would otherwise pass in silence).
    """
    from snnkit import data as snn_data
    from snnkit.train.recipes import run_data_source, tcja_data

    try:
        own = snn_data.info(name).name == snn_data.info(cfg.name).name
    except ValueError:   # a custom config name: not a registered dataset
        own = False
    if own:
        seed = int(((ckpt or {}).get("config") or {}).get("seed", 0))
        root, cache_dir = run_data_source(ckpt or {}, root)  # default: the folder the run trained on
        return tcja_data(cfg, root, seed=seed, progress=progress, cache_dir=cache_dir, splits=splits,
                         on_error=((ckpt or {}).get("data_source") or {}).get("on_error", "raise"))
    size = None if list(cfg.input_size) == list(cfg.sensor_size) else list(cfg.input_size)
    return snn_data.load(name, root=root, frames=int(cfg.T), split_by="number", size=size, progress=progress,
                         splits=splits)


def load_samples(data: str, model: Any, n: int, *, split: str = "test", cmd: str = "simulate",
                 offset: int = 0, root: Optional[str] = None, ckpt: Optional[Dict[str, Any]] = None,
                 progress: bool = False) -> Tuple[Any, Any, str]:
    """``(x[T, N, C, H, W] float32, y[N] or None, description)`` from a dataset name or a ``.pt`` file.

    A ``.pt`` file holds ``(x[N, T, C, H, W], y[N])`` (a tuple, or a dict with keys ``x``/``y``).
    ``random`` gives Bernoulli(0.05) spikes without labels (seed 0 for the test split, 1 for train).
    A dataset name is read by :func:`dataset_splits` (from ``root``; the model's ``T``, frames by
    number, SpikingJelly's bin edges, split as the checkpoint ``ckpt``'s run split it); the first
    ``n`` samples of ``split`` after ``offset`` are used; ``progress`` shows a frame cache build.
    """
    import torch

    cfg = model.config
    T = int(cfg.T)
    if data == "random":
        x = random_inputs(cfg, offset + n, offset + n, seed=int(split == "train"))[0][:, offset:]
        return x, None, f"random Bernoulli({RANDOM_RATE}) spikes ({split} seed {int(split == 'train')})"
    if is_sample_file(data):
        path = Path(data)
        if not path.is_file():
            raise _fail(cmd, f"--data {data!r} does not exist (expected a dataset name or a .pt file of "
                             "(x[N, T, C, H, W], y[N]))")
        try:
            obj = torch_load(path)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
            raise _fail(cmd, f"--data {data!r} could not be read (corrupt, empty or not a torch file: "
                             f"{type(err).__name__}: {err})") from None
        x, y = _unpack_samples(obj, data, cmd)
        if x.shape[1] != T or tuple(x.shape[2:]) != _input_shape(model):
            raise _fail(cmd, f"--data {data!r}: x has shape {tuple(x.shape)} but the model needs "
                             f"[N, T={T}, {', '.join(map(str, _input_shape(model)))}]")
        if x.shape[0] <= offset:
            raise _fail(cmd, f"--data {data!r} holds {x.shape[0]} samples: nothing to run"
                             + (f" after offset {offset}" if offset else ""))
        y = None if y is None else _checked_labels(y, x.shape[0], int(cfg.num_classes), data, cmd)
        total = x.shape[0]
        x = x[offset: offset + n].float().transpose(0, 1).contiguous()
        y = None if y is None else y[offset: offset + n]
        return x, y, f"{path.name} (samples {offset}..{offset + x.shape[1] - 1}{_capped(n, x.shape[1], total)})"
    try:
        train, test = dataset_splits(data, cfg, ckpt, root, splits=(split,), progress=progress)  # frames only the split it reads
    except Exception as err:  # noqa: BLE001 - report any loader failure with its message
        raise _fail(cmd, f"could not load --data {data!r}: {err}") from None
    ds = test if split == "test" else train
    asked, n = n, max(0, min(n, len(ds) - offset))
    if n == 0:
        raise _fail(cmd, f"--data {data!r} ({split} split) has {len(ds)} samples: nothing after offset {offset}")
    xs, ys = zip(*(ds[i] for i in range(offset, offset + n)))
    x = torch.stack([torch.as_tensor(v) for v in xs]).float()  # [N, T, C, H, W]
    if x.ndim == 5 and x.shape[1] != T and x.shape[0] == T:  # pragma: no cover - loaders yield [T, C, H, W]
        x = x.transpose(0, 1)
    if tuple(x.shape[2:]) != _input_shape(model):
        raise _fail(cmd, f"--data {data!r} yields samples of shape {tuple(x.shape[1:])}, but the model needs "
                         f"[T={T}, {', '.join(map(str, _input_shape(model)))}]")
    return (x.transpose(0, 1).contiguous(), torch.as_tensor(ys).long(),
            f"{data} ({split} split, first {n}{_capped(asked, n, len(ds))})")


def _capped(asked: int, got: int, total: int) -> str:
    """The note for a description when fewer samples than asked for exist (else nothing)."""
    return f"; {asked} asked for, the set has {total}" if got < asked else ""


def check_out(cmd: str, out: Path, folder: Path) -> None:
    """Refuse, before any work, an ``--out`` (``out``, written in ``folder``) where no file can be written."""
    try:
        check_writable_folder(folder)
    except OSError as err:
        raise _fail(cmd, f"--out {err}" if folder == out else f"--out {str(out)!r}: {err}") from None


def _atomic_write(path: Path, write: Any) -> Path:
    from .report import atomic_write

    return atomic_write(path, write)


def _write_json(path: Path, data: Any) -> Path:
    from .report import write_json

    return write_json(path, data)


# --------------------------------------------------------------------------- export


def configure_export(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``snnkit export``'s arguments to ``parser`` and set ``func``."""
    from snnkit.cli import int_at_least

    parser.description = ("Export a trained checkpoint to Lava (a saved, planned Lava network: load it with "
                          "snnkit.hardware.load_lava), lava-dl netx HDF5, or NIR. Layers Loihi cannot run "
                          "natively (TCJA) only map to Lava, as custom host processes; netx and NIR refuse them. netx also "
                          "needs every neuron layer fed by exactly one Dense or Conv, so networks that pool between "
                          "layers (every TCJA-SNN config) export to lava or nir, not netx.")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="checkpoint written by snnkit.train.Trainer")
    parser.add_argument("--to", required=True, choices=["lava", "netx", "nir"], help="target format")
    parser.add_argument("--out", required=True, metavar="PATH", help="output file (written atomically)")
    parser.add_argument("--mode", choices=MODES,
                        help="--to lava only: float (exact) or Loihi fixed point (default floating_pt)")
    parser.add_argument("--conv", choices=["sparse", "native"],
                        help="--to lava only: convolutions as float64 Sparse (default) or Lava Conv "
                             "(float32 in floating_pt)")
    parser.add_argument("--data",
                        help="--to lava --mode fixed_pt only: calibration data (dataset name or .pt file; default: "
                             "the config's dataset, training split)")
    parser.add_argument("--root", help="--to lava --mode fixed_pt only: the folder of the calibration dataset "
                                       "(not needed for digits_dvs)")
    parser.add_argument("--calibration-samples", type=int_at_least(1),
                        help=f"--to lava --mode fixed_pt only: training samples that size the fixed-point input "
                             f"scale (default {CALIBRATION_SAMPLES})")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar while a frame cache for the calibration samples is built")
    parser.set_defaults(func=run_export)
    return parser


def _refuse_ignored_options(args: argparse.Namespace) -> None:
    """Refuse export options that ``--to`` / ``--mode`` would ignore."""
    lava = {"--mode": args.mode, "--conv": args.conv, "--data": args.data, "--root": args.root,
            "--calibration-samples": args.calibration_samples}
    if args.to != "lava":
        given = [k for k, v in lava.items() if v is not None]
        where = f"--to lava only, not to --to {args.to}"
    else:
        given = [k for k in ("--data", "--root", "--calibration-samples") if lava[k] is not None and args.mode != "fixed_pt"]
        where = "--to lava --mode fixed_pt only (the calibration of its fixed-point scales)"
    if given:
        raise _fail("export", f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to {where}")


def run_export(args: argparse.Namespace) -> int:
    """``snnkit export``: write the checkpoint's network to ``--out``."""
    _refuse_ignored_options(args)
    model, ckpt = load_model(args.checkpoint, "export")
    shape = _input_shape(model)
    out = Path(args.out)
    if out.is_dir() or str(args.out).endswith(("/", os.sep)):
        raise _fail("export", f"--out {str(args.out)!r} is a directory; give a file path (e.g. "
                              f"{str(out / ('net.' + {'netx': 'net'}.get(args.to, args.to)))!r})")
    check_out("export", out, out.parent)  # its folders are created with the file, once the network is accepted
    meta = {"checkpoint": str(args.checkpoint), "arch": ckpt.get("arch"), "model_config": ckpt.get("model_config"),
            "input_shape": list(shape), "T": int(model.config.T), "snnkit_version": ckpt.get("snnkit_version")}
    try:
        if args.to == "lava":
            from .lava import to_lava

            kw: Dict[str, Any] = {}
            if args.mode == "fixed_pt":
                data = args.data or _DATASET_OF.get(model.config.name, model.config.name)
                x, _, desc = load_samples(data, model, args.calibration_samples or CALIBRATION_SAMPLES, split="train",
                                          cmd="export", root=args.root, ckpt=ckpt, progress=not args.no_progress)
                kw["calibration"] = x
                meta["calibration"] = desc
            net = to_lava(model, shape, args.mode or "floating_pt", conv=args.conv or "sparse", **kw)
            out.parent.mkdir(parents=True, exist_ok=True)  # as nir and netx: the network was accepted
            net.save(out, meta=meta)
            print(net.summary())
            note = net.plan.non_native_note()
            if net.quant_report is not None:
                print(net.quant_report)  # includes the note
            elif note:
                print(f"note: {note}")
        elif args.to == "netx":
            from .netx import export_netx

            export_netx(model, out, shape)
        else:
            from .nir import export_nir

            g = export_nir(model, shape)
            import nir

            _atomic_write(out, lambda tmp: nir.write(tmp, g))
    except ValueError as err:
        raise _refusal("export", model, err) from None
    print(f"wrote {out} ({args.to})")
    return 0


# --------------------------------------------------------------------------- simulate


def configure_simulate(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``snnkit simulate``'s arguments to ``parser`` and set ``func``."""
    from snnkit.cli import int_at_least

    from .energy import ENERGY_MODELS

    parser.description = ("Run test samples through a trained checkpoint in PyTorch (float64) and in Lava's CPU "
                          "simulator (floating_pt and/or Loihi fixed_pt); print per-layer spike agreement, "
                          "accuracies and an energy table; write simulate.json and simulate.png to --out.")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="checkpoint written by snnkit.train.Trainer")
    parser.add_argument("--data", default=None,
                        help="dataset name for snnkit.data.load (default: the config's, e.g. digits_dvs), a .pt "
                             "file of (x[N, T, C, H, W], y[N]), or 'random' (Bernoulli(0.05) input spikes, no labels)")
    parser.add_argument("--root", default=None, help="folder holding the dataset (default for the checkpoint's own "
                                                     "dataset: the folder its run trained on; not needed for digits_dvs)")
    parser.add_argument("--samples", type=int, default=16, help="number of test samples (default 16)")
    parser.add_argument("--mode", choices=MODES + ("both",), default="both",
                        help="Lava arithmetic: floating_pt, fixed_pt or both (default both)")
    parser.add_argument("--out", default="runs/simulate", metavar="DIR",
                        help="folder for simulate.json/.png (default runs/simulate; checked before the run)")
    parser.add_argument("--conv", choices=["sparse", "native"], default="sparse",
                        help="convolutions as float64 Sparse (default; exact in floating_pt) or Lava Conv (float32)")
    parser.add_argument("--chunk", type=int, default=8,
                        help="samples per Lava run (default 8; back to back, each run pays Lava's process start-up "
                             "once)")
    parser.add_argument("--calibration-samples", type=int_at_least(1), default=CALIBRATION_SAMPLES,
                        help=f"training samples that size the fixed-point input scale (default {CALIBRATION_SAMPLES}; "
                             "with a .pt --data, which has no training split, the simulated samples)")
    parser.add_argument("--energy-model", default="loihi", choices=sorted(ENERGY_MODELS),
                        help="event-driven (neuromorphic) energy model pricing the Lava run's events (default "
                             "loihi); a conventional chip (horowitz45) runs the PyTorch network: snnkit energy")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_simulate)
    return parser


def _progress(total: int, desc: str, enabled: bool) -> Any:
    """A bar to ``update(n)`` as samples are run (:func:`snnkit.progress.progress`: lines in a log)."""
    from snnkit.progress import progress

    return progress(total=total, desc=desc, enabled=enabled, unit="sample")


def _silent_outputs(out: Any) -> int:
    """Samples whose summed output ties across all classes (nothing fired): their argmax is class 0 by default."""
    from .compare import class_scores

    o = class_scores(out)
    return int((o.max(-1).values == o.min(-1).values).sum())


def _run_lava(net: Any, x: Any, chunk: int, desc: str,
              progress: bool) -> Tuple[Dict[str, Any], Dict[str, Any], Any, float]:
    """Run ``x[T, N, ...]`` in chunks of samples; concatenate spikes and host outputs along the batch axis."""
    import numpy as np
    import torch

    N = x.shape[1]
    bar = _progress(N, desc, progress)
    spikes: Dict[str, List[Any]] = {}
    host: Dict[str, List[Any]] = {}
    outs: List[Any] = []
    wall = 0.0
    try:
        for start in range(0, N, chunk):
            res = net.run(x[:, start: start + chunk])
            wall += res.wall_s
            for k, v in res.spikes.items():
                spikes.setdefault(k, []).append(v)
            for k, v in (res.host_outputs or {}).items():
                host.setdefault(k, []).append(v)
            outs.append(res.output)
            bar.update(min(chunk, N - start))
    finally:
        bar.close()
    cat = {k: np.concatenate(v, axis=1) for k, v in spikes.items()}
    hcat = {k: np.concatenate(v, axis=1) for k, v in host.items()}
    return cat, hcat, torch.cat(outs, dim=1), wall


def _energy_rows(en: Any) -> List[Tuple[str, float]]:
    d = en.to_dict() if hasattr(en, "to_dict") else dict(en)
    return [(k, float(v)) for k, v in d.get("breakdown_j", {}).items()]


_COLOURS = {"pytorch": "tab:gray", "floating_pt": "tab:blue", "fixed_pt": "tab:orange"}  # one per source, both panels


def _colour(source: str) -> str:
    """The plot colour of a source: ``pytorch``, ``floating_pt`` or ``fixed_pt`` (with or without ``Lava ``)."""
    return _COLOURS.get(source.removeprefix("Lava "), "tab:purple")


def _plot(path: Path, layers: List[str], agreement: Dict[str, Dict[str, float]], rates: Dict[str, Dict[str, float]],
          non_native: List[str], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import numpy as np

    fig = Figure(figsize=(max(7.0, 1.1 * len(layers) + 3), 7.0))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    idx = np.arange(len(layers))
    modes = list(agreement)
    w = 0.8 / max(len(modes), 1)
    for i, m in enumerate(modes):
        vals = [100 * agreement[m].get(layer, float("nan")) for layer in layers]
        ax1.bar(idx + (i - (len(modes) - 1) / 2) * w, vals, w, label=f"Lava {m}", color=_colour(m))
    lo = min([100 * v for m in modes for v in agreement[m].values()] + [99.0])
    ax1.set_ylim(max(0.0, lo - 0.5), 100.05)
    ax1.set_ylabel("spike agreement with PyTorch (%)")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.set_title(title, fontsize=10)
    srcs = list(rates)
    w2 = 0.8 / max(len(srcs), 1)
    for i, s in enumerate(srcs):
        ax2.bar(idx + (i - (len(srcs) - 1) / 2) * w2, [rates[s].get(layer, 0.0) for layer in layers], w2, label=s,
                color=_colour(s))
    ax2.set_ylabel("firing rate (spikes / neuron / step)")
    ax2.set_xticks(idx)
    ax2.set_xticklabels(layers, rotation=30, ha="right", fontsize=8)
    ax2.legend(fontsize=8)
    if non_native:
        fig.text(0.01, 0.005, "not native to Loihi (host processes, not plotted): " + ", ".join(non_native), fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def run_simulate(args: argparse.Namespace) -> int:
    """``snnkit simulate``: PyTorch vs Lava on test samples; tables, JSON and a plot."""
    import numpy as np
    import torch

    from snnkit.base import set_step_mode

    from .compare import model_copy, predict, torch_spikes
    from .counters import count_spikes
    from .energy import ENERGY_MODELS, energy
    from .graph import trace
    from .host_ops import host_ops_report
    from .lava import to_lava

    if args.samples < 1:
        raise _fail("simulate", f"--samples must be >= 1, got {args.samples}")
    if args.chunk < 1:
        raise _fail("simulate", f"--chunk must be >= 1, got {args.chunk}")
    if ENERGY_MODELS[args.energy_model].get("synop_pj") is None:
        raise _fail("simulate", f"--energy-model {args.energy_model} prices a conventional chip, which runs the "
                                "PyTorch network (pools, dense MACs), not the Lava run's events; use snnkit energy "
                                f"--checkpoint {args.checkpoint} --energy-model {args.energy_model}")
    check_out("simulate", Path(args.out), Path(args.out))
    model, ckpt = load_model(args.checkpoint, "simulate")
    shape = _input_shape(model)
    try:
        graph = trace(model, shape)  # a network Lava cannot run is refused before any data is loaded
    except ValueError as err:
        raise _refusal("simulate", model, err) from None
    data = args.data or _DATASET_OF.get(model.config.name, model.config.name)
    if args.root and (data == "random" or is_sample_file(data)):
        raise _fail("simulate", f"--root is the folder of a dataset; --data {data!r} is "
                                f"{'random spikes' if data == 'random' else 'a file of samples'}: drop --root")
    progress = not args.no_progress
    x, y, desc = load_samples(data, model, args.samples, root=args.root, ckpt=ckpt, progress=progress)
    if data == "random":
        print(f"note: inputs are random Bernoulli({RANDOM_RATE}) spikes, not real data (--data random): no accuracy",
              file=sys.stderr)
    T, N = x.shape[:2]
    modes = list(MODES) if args.mode == "both" else [args.mode]
    print(f"snnkit simulate: {model.config.name} ({ckpt.get('arch')}), {desc}: {N} samples, T={T}")

    # PyTorch float64 reference
    names = [n.name for n in graph.neurons()]
    host_names = [layer.name for layer in graph.non_native()]
    ref = model_copy(model, torch.float64)
    set_step_mode(ref, "m")
    t0 = time.perf_counter()
    tr = torch_spikes(ref, x.double(), names + host_names)
    torch_s = time.perf_counter() - t0
    pred = {"pytorch": predict(tr["output"])}
    rates = {"pytorch": {k: float(tr["spikes"][k].mean()) for k in names}}
    agreement: Dict[str, Dict[str, float]] = {}
    results: Dict[str, Any] = {}
    first_counts = None
    energies: Dict[str, Any] = {}
    for mode in modes:
        kw: Dict[str, Any] = {}
        if mode == "fixed_pt":
            if is_sample_file(data):  # a sample file has no training split
                calib, cdesc = x, "the simulated samples"
                print("note: fixed point calibrated on the simulated samples (a .pt --data has no training split)",
                      file=sys.stderr)
            else:
                calib, _, cdesc = load_samples(data, model, args.calibration_samples, split="train", root=args.root,
                                               ckpt=ckpt, progress=progress)
            kw["calibration"] = calib
        t0 = time.perf_counter()
        try:
            net = to_lava(model, shape, mode, conv=args.conv, **kw)
        except ValueError as err:
            raise _refusal("simulate", model, err) from None
        build_s = time.perf_counter() - t0
        spikes, host, out, wall = _run_lava(net, x, args.chunk, f"Lava {mode}", progress)
        per_layer, eq, tot = {}, 0, 0
        for k in names:
            e = tr["spikes"][k] == spikes[k]
            per_layer[k] = float(e.mean())
            eq, tot = eq + int(e.sum()), tot + e.size
        agreement[mode] = per_layer
        rates[f"Lava {mode}"] = {k: float(spikes[k].mean()) for k in names}
        pred[mode] = predict(out)
        counts = count_spikes(net.plan, x.double().numpy(), spikes, source="lava")
        cd = counts.to_dict()
        nn_ops = host_ops_report(net.plan, N, spikes)
        for op in net.plan.host_ops:
            a, b = tr["spikes"][op.name], host.get(op.name)
            if b is not None and op.name in nn_ops:
                nn_ops[op.name]["max_abs_diff_vs_pytorch"] = float(np.abs(a - b).max())
        cd["non_native"] = nn_ops
        cd["native"] = net.plan.native_flags()
        en = energy(counts, args.energy_model)
        energies[mode] = en
        if first_counts is None:
            first_counts = counts
        results[mode] = {
            "spike_agreement": eq / max(tot, 1), "per_layer": per_layer,
            "class_agreement": float((pred[mode] == pred["pytorch"]).double().mean()),
            "accuracy": None if y is None else float((pred[mode] == y).double().mean()),
            "firing_rate": rates[f"Lava {mode}"], "lava_wall_s": wall, "build_s": build_s,
            "s_per_sample": wall / N, "counts": cd, "energy": en.to_dict(),
            "host_energy_j": sum(float(d.get("energy_j", 0.0)) for d in nn_ops.values()),
            "quantization": net.quant_report.to_dict() if net.quant_report is not None else None,
            "notes": [n for n in [net.plan.non_native_note()] if n],
        }
        if mode == "fixed_pt":
            results[mode]["calibration"] = cdesc
    acc_torch = None if y is None else float((pred["pytorch"] == y).double().mean())

    # ---- print
    print()
    print(f"{'layer':28} {'native':>6} " + " ".join(f"{'agree ' + m[:5]:>12}" for m in modes)
          + f" {'rate torch':>10} " + " ".join(f"{'rate ' + m[:5]:>10}" for m in modes))
    for k in names:
        print(f"{k[:28]:28} {'yes':>6} " + " ".join(f"{100 * agreement[m][k]:>11.4f}%" for m in modes)
              + f" {rates['pytorch'][k]:>10.4f} " + " ".join(f"{rates['Lava ' + m][k]:>10.4f}" for m in modes))
    for h in host_names:
        diffs = " ".join(
            f"{results[m]['counts']['non_native'].get(h, {}).get('max_abs_diff_vs_pytorch', float('nan')):>12.2g}"
            for m in modes)
        print(f"{h[:28]:28} {'NO':>6} {diffs}   (TCJA host process: max |graded output diff|)")
    print()
    print("spike agreement: " + ", ".join(f"{m} {100 * results[m]['spike_agreement']:.4f}%" for m in modes))
    if y is not None:
        print(f"accuracy: PyTorch {100 * acc_torch:.2f}%  " + "  ".join(
            f"Lava {m} {100 * results[m]['accuracy']:.2f}%" for m in modes))
    print("class agreement with PyTorch: " + ", ".join(f"{m} {100 * results[m]['class_agreement']:.2f}%"
                                                       for m in modes))
    print("Lava time: " + ", ".join(f"{m} {results[m]['s_per_sample']:.3f} s/sample" for m in modes)
          + f" (PyTorch {torch_s / N * 1e3:.2f} ms/sample)")
    print()
    for m in modes:
        en = energies[m]
        per_sample = en.total_j / max(N, 1)
        print(f"energy per sample ({en.model}, counts from the Lava {m} run): {per_sample * 1e6:.4f} uJ")
        for k, v in _energy_rows(en):
            if v:
                print(f"  {k:34} {v / max(N, 1) * 1e6:>12.4f} uJ")
        host_j = results[m]["host_energy_j"]
        if host_names:
            print(f"  {'+ non-native TCJA on the host':34} {host_j / max(N, 1) * 1e6:>12.4f} uJ  "
                  "(FP32 MACs/adds, Horowitz 45 nm; not Loihi)")
        break  # the table of the first mode; every mode's is in the JSON
    silent = _silent_outputs(tr["output"])
    if silent:
        results[modes[0]]["notes"].append(
            f"{silent} of {N} samples: the network's output is the same for every class (its last layer did not "
            "fire), so PyTorch and Lava both predict class 0 for them: agreement says nothing about those samples")
    for n in (results[modes[0]]["notes"]):
        print(f"note: {n}")

    # ---- files
    out = Path(args.out)
    report = {
        "checkpoint": str(args.checkpoint), "arch": ckpt.get("arch"), "config": model.config.name,
        "data": desc, "samples": N, "T": T, "conv": args.conv, "energy_model": args.energy_model,
        "pytorch": {"accuracy": acc_torch, "firing_rate": rates["pytorch"], "wall_s": torch_s},
        "lava": results, "native": {**{k: True for k in names}, **{h: False for h in host_names}},
        "non_native": host_names,
    }
    _write_json(out / "simulate.json", report)
    def pct(v: Optional[float]) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    title = (f"{model.config.name}: {N} samples, T={T}; accuracy PyTorch {pct(acc_torch)}, "
             + ", ".join(f"Lava {m} {pct(results[m]['accuracy'])}" for m in modes))
    _plot(out / "simulate.png", names, agreement, rates, host_names, title)
    print(f"wrote {out / 'simulate.json'} and {out / 'simulate.png'}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone entry: ``python -m snnkit.hardware.cli export|simulate ...``."""
    p = argparse.ArgumentParser(prog="snnkit-hardware")
    sub = p.add_subparsers(dest="command", required=True)
    configure_export(sub.add_parser("export", help="export a checkpoint to lava / netx / nir"))
    configure_simulate(sub.add_parser("simulate", help="run a checkpoint in Lava and compare with PyTorch"))
    args = p.parse_args(argv)
    with clean_warnings():
        return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
