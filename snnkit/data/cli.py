"""``snnkit data``: list datasets, show where their files go, build frame caches ahead of training."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``list``, ``info`` and ``prepare`` actions to the ``snnkit data`` parser."""
    actions = p.add_subparsers(dest="data_command", required=True)
    s = actions.add_parser("list", help="the datasets snnkit.data.load accepts")
    s.set_defaults(func=cmd_list)
    s = actions.add_parser("info", help="where a dataset's files come from and the directory layout expected")
    s.add_argument("name", help="dataset name (see `snnkit data list`)")
    s.set_defaults(func=cmd_info)
    s = actions.add_parser("prepare", help="compute the frames once and store them in the HDF5 cache",
                           description="Build the frame cache of both splits so training starts at once. The cache is "
                                       "keyed by every setting: prepare with the settings you will train with.")
    s.add_argument("name", help="dataset name (see `snnkit data list`)")
    s.add_argument("--root", default=None, help="folder holding your copy of the dataset (not needed for digits_dvs)")
    s.add_argument("--frames", type=int, default=None, help="number of frames T (default: the T of the dataset's TCJA-SNN config, else 10)")
    s.add_argument("--split-by", default="number", choices=["number", "time"], help="equal event counts or equal durations")
    s.add_argument("--time-window", type=float, default=None, help="microseconds per frame (instead of --frames)")
    s.add_argument("--event-count", type=int, default=None, help="events per frame (instead of --frames)")
    s.add_argument("--convention", default="spikingjelly", choices=["spikingjelly", "tonic"], help="bin-edge convention")
    s.add_argument("--include-incomplete", action="store_true", help="tonic convention: keep the last partial frame")
    s.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None, help="resize the sensor grid")
    s.add_argument("--seed", type=int, default=None,
                   help="split seed for datasets without an official split (default: cifar10_dvs and n_caltech101 "
                        "in TCJA's order, the first 90%% of each class's sorted files for training, as "
                        "`snnkit train tcja` reads them; digits_dvs: 0)")
    s.add_argument("--cache-dir", default=None, help="cache folder (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    s.add_argument("--on-error", default="raise", choices=["raise", "skip"], help="unreadable samples: stop, or leave out and list them")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_prepare)
    return p


def cmd_list(args: argparse.Namespace) -> int:
    """Print one line per dataset."""
    from . import DATASETS

    rows: List[Dict[str, Any]] = []
    for name in sorted(DATASETS):
        d = DATASETS[name]
        rows.append({"name": name, "kind": d.kind, "classes": d.n_classes, "sensor (W,H,P)": "x".join(map(str, d.sensor_size)),
                     "needs root": "no" if d.offline else "yes", "TCJA T": d.paper_frames or "", "split": d.split})
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols[:-1]}
    print("  ".join(c.ljust(widths.get(c, 0)) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths.get(c, 0)) for c in cols))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print a dataset's source, layout and split."""
    from . import info

    try:
        d = info(args.name)
    except ValueError as e:
        print(f"snnkit data: {e}", file=sys.stderr)
        return 2
    print(f"{d.name}: {d.kind}, {d.n_classes} classes, sensor (W, H, P) = {d.sensor_size}")
    print(f"split: {d.split}")
    print(f"where to get it: {d.source}")
    print(f"expected layout:\n{d.layout}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Build the frame cache of both splits and print where it is."""
    from . import info, load

    frames = args.frames
    try:
        meta = info(args.name)
        if meta.kind == "static":
            print(f"{args.name}: a static image dataset, read directly; nothing to cache")
            return 0
        if frames is None and args.time_window is None and args.event_count is None:
            frames = meta.paper_frames or 10
        split = {"split_seed": args.seed} if "split_seed" in meta.options else {"seed": args.seed or 0}
        train, test = load(args.name, args.root, frames, args.split_by, time_window=args.time_window,
                           event_count=args.event_count, convention=args.convention,
                           include_incomplete=args.include_incomplete, size=args.size, **split,
                           cache_dir=args.cache_dir, on_error=args.on_error, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, TypeError, ModuleNotFoundError) as e:
        print(f"snnkit data prepare: {e}", file=sys.stderr)
        return 2
    for ds in (train, test):
        shape = ", ".join(map(str, ds.frame_shape))
        print(f"{ds.split}: {len(ds)} samples, frames [{frames or 'T'}, {shape}] -> {ds.path}")
    return 0
