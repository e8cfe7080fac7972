"""``snnkit data``: list datasets, show where their files go, build frame caches ahead of training."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``list``, ``info`` and ``prepare`` actions to the ``snnkit data`` parser."""
    from ..cli import int_at_least, number_above

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
    s.add_argument("--root", default=None, help="folder holding your copy of the dataset (digits_dvs and digits take none)")
    framing = s.add_mutually_exclusive_group()
    framing.add_argument("--frames", type=int_at_least(1), default=None,
                         help="number of frames T (default: the T of the dataset's TCJA-SNN config, else 10)")
    s.add_argument("--split-by", default="number", choices=["number", "time"], help="equal event counts (number, the default) or equal durations (time)")
    framing.add_argument("--time-window", type=number_above(0), default=None, help="microseconds per frame (instead of --frames)")
    framing.add_argument("--event-count", type=int_at_least(1), default=None, help="events per frame (instead of --frames)")
    s.add_argument("--convention", default="spikingjelly", choices=["spikingjelly", "tonic"], help="bin-edge convention (default spikingjelly)")
    s.add_argument("--include-incomplete", action="store_true",
                   help="--convention tonic only: keep the last partial frame (time_window/event_count)")
    s.add_argument("--size", type=int_at_least(1), nargs=2, metavar=("H", "W"), default=None, help="resize the sensor grid")
    s.add_argument("--split-seed", type=int_at_least(0), default=None,
                   help="cifar10_dvs, n_caltech101: the per-class 90/10 split, as load's split_seed (default: each "
                        "class's sorted files, the first 90%% for training: TCJA's split, which `snnkit train tcja` "
                        "reads with the config's split_seed: null); an integer permutes each class first")
    s.add_argument("--seed", type=int_at_least(0), default=None,
                   help="digits_dvs: the seed of its stratified 80/20 split, as load's seed (default 0); other "
                        "datasets take none (their cache does not depend on it; augmentation draws happen in training)")
    s.add_argument("--cache-dir", default=None, help="cache folder (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    s.add_argument("--on-error", default="raise", choices=["raise", "skip"], help="unreadable samples: stop (raise, the default), or leave out and list them (skip)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_prepare)
    _add_cache_parser(actions)
    return p


def _add_cache_parser(actions: Any) -> None:
    c = actions.add_parser("cache", help="see and clear the frame caches",
                           description="Frame caches are keyed by every setting, so each new setting or touched source "
                                       "file adds a pair of files; old ones are never removed by themselves.")
    sub = c.add_subparsers(dest="cache_command", required=True)
    s = sub.add_parser("list", help="the cache files, their size, last use and settings")
    s.add_argument("--cache-dir", default=None, help="cache folder (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    s.set_defaults(func=cmd_cache_list)
    s = sub.add_parser("clear", help="remove cache files (all, some datasets', or those unused for a while)",
                       description="Remove frame caches; they are rebuilt on the next load. Temporary files of "
                                   "killed builds are always removed (a build also removes them when it starts).")
    s.add_argument("datasets", nargs="*", help="only these datasets' caches (default: all)")
    s.add_argument("--unused-for", type=float, default=None, metavar="DAYS",
                   help="only caches not opened for DAYS days")
    s.add_argument("--cache-dir", default=None, help="cache folder (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    s.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    s.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_cache_clear)


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


def _prepare_args_error(meta: Any, args: argparse.Namespace) -> str:
    """What is wrong with the command line for this dataset, in the CLI's own terms ('' if nothing)."""
    if meta.offline and args.root is not None:
        return f"{meta.name} takes no --root: its data ship with snnkit's dependencies ({meta.source})"
    if not meta.offline and args.root is None:
        return (f"{meta.name} needs --root, the folder holding your copy of the dataset.\nExpected layout:\n"
                f"{meta.layout}\nWhere to get the files: {meta.source}")
    if meta.kind == "static":   # read directly, no frame cache: the framing options would change nothing
        framing = [flag for flag, val, unset in (
            ("--frames", args.frames, None), ("--time-window", args.time_window, None),
            ("--event-count", args.event_count, None), ("--size", args.size, None), ("--split-by", args.split_by, "number"),
            ("--convention", args.convention, "spikingjelly"), ("--include-incomplete", args.include_incomplete, False),
        ) if val != unset]
        if framing:
            return (f"{', '.join(framing)}: framing option{'s' if len(framing) > 1 else ''} of event datasets' frame "
                    f"cache; {meta.name} is a static image dataset, read directly (no cache to prepare)")
    if args.split_seed is not None and "split_seed" not in meta.options:
        return f"--split-seed applies to cifar10_dvs and n_caltech101 (no published split); {meta.name} has its own split"
    if args.seed is not None and meta.name != "digits_dvs":
        hint = "; its split is set by --split-seed" if "split_seed" in meta.options else ""
        return (f"--seed applies to digits_dvs (its split); it does not change {meta.name}'s cache{hint} "
                "(augmentation draws are seeded at training time)")
    return ""


def cmd_prepare(args: argparse.Namespace) -> int:
    """Build the frame cache of both splits and print where it is (static datasets: check the files, count samples)."""
    from . import info, load, load_verified

    frames = args.frames
    try:
        meta = info(args.name)
        problem = _prepare_args_error(meta, args)
        if problem:
            print(f"snnkit data prepare: {problem}", file=sys.stderr)
            return 2
        if meta.kind == "static":   # load refuses the framing options, which a static dataset cannot use
            train, test = load(meta.name, args.root, split_by=args.split_by, time_window=args.time_window,
                               event_count=args.event_count, convention=args.convention,
                               include_incomplete=args.include_incomplete, size=args.size)
            print(f"{meta.name}: a static image dataset, read directly (no frame cache): "
                  f"train {len(train)} samples, test {len(test)} samples")
            return 0
        if frames is None and args.time_window is None and args.event_count is None:
            frames = meta.paper_frames or 10
        problem = _unwritable_cache_dir(args.cache_dir)
        if problem:
            print(f"snnkit data prepare: {problem}", file=sys.stderr)
            return 2
        split = {"split_seed": args.split_seed} if "split_seed" in meta.options else {"seed": args.seed or 0}
        train, test = load_verified(meta.name, args.root, frames, args.split_by, time_window=args.time_window,
                           event_count=args.event_count, convention=args.convention,
                           include_incomplete=args.include_incomplete, size=args.size, **split,
                           cache_dir=args.cache_dir, on_error=args.on_error, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, TypeError, ModuleNotFoundError, NotADirectoryError) as e:
        print(f"snnkit data prepare: {e}", file=sys.stderr)
        return 2
    for ds in (train, test):
        shape = ", ".join(map(str, ds.frame_shape))
        print(f"{ds.split}: {len(ds)} samples, frames [{frames or 'T'}, {shape}] -> {ds.path}")
    return 0


def _unwritable_cache_dir(cache_dir: Any) -> str:
    """Why the frame cache folder cannot take a new file ('' if it can), checked before any work is done."""
    from .. import _io
    from .cache import default_cache_dir

    folder = default_cache_dir(cache_dir)
    try:
        _io.check_writable_folder(folder)
    except OSError as e:
        origin = "--cache-dir" if cache_dir is not None else "$SNNKIT_DATA or the default ~/.cache/snnkit/data"
        return f"the frame cache folder (from {origin}) cannot be written: {e}; pass --cache-dir a writable folder " \
               "or set $SNNKIT_DATA"
    return ""


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _cache_dir(args: argparse.Namespace) -> Any:
    from .cache import default_cache_dir

    try:
        return default_cache_dir(args.cache_dir)
    except NotADirectoryError as e:
        print(f"snnkit data cache: {e}", file=sys.stderr)
        return None


def cmd_cache_list(args: argparse.Namespace) -> int:
    """Print one line per cache file, then the temporary files of killed builds and the total."""
    import time

    from .housekeeping import list_caches, stale_temporaries

    folder = _cache_dir(args)
    if folder is None:
        return 2
    entries = list_caches(folder)
    temps = stale_temporaries(folder)
    print(f"frame caches in {folder}:")
    if entries:
        rows = [("dataset", "split", "samples", "framing", "size", "last used", "source", "file")]
        for e in entries:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
            samples = str(e.samples) if e.status == "ok" else e.status
            rows.append((e.dataset, e.split, samples, e.framing, _size(e.size), used, e.detail or "-", e.path.name))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  " + "  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]))
    else:
        print("  (none)")
    total = sum(e.size for e in entries)
    if temps is None:
        print("a cache build is running in this folder: its temporary file is not listed")
    elif temps:
        left = sum(p.stat().st_size for p in temps if p.exists())
        total += left
        print(f"{len(temps)} temporary file(s) of killed builds, {_size(left)} (removed by the next build or "
              "`snnkit data cache clear`)")
    print(f"total {_size(total)}")
    return 0


def cmd_cache_clear(args: argparse.Namespace) -> int:
    """Remove the selected cache files (asking first unless --yes) and any temporaries of killed builds."""
    from . import info
    from .housekeeping import list_caches, remove_files, remove_stale_temporaries, select_caches, stale_temporaries

    folder = _cache_dir(args)
    if folder is None:
        return 2
    try:
        names = [info(n).name for n in args.datasets]
    except ValueError as e:
        print(f"snnkit data cache clear: {e}", file=sys.stderr)
        return 2
    if args.unused_for is not None and not args.unused_for >= 0:
        print(f"snnkit data cache clear: --unused-for must be a number of days >= 0, got {args.unused_for}", file=sys.stderr)
        return 2
    chosen = select_caches(list_caches(folder), names, args.unused_for)
    temps = stale_temporaries(folder) or []
    size = sum(e.size for e in chosen) + sum(p.stat().st_size for p in temps if p.exists())
    if not chosen and not temps:
        print(f"nothing to remove in {folder}")
        return 0
    for e in chosen:
        print(f"  {e.path.name} ({e.dataset}/{e.split}, {_size(e.size)})")
    if temps:
        print(f"  {len(temps)} temporary file(s) of killed builds")
    count = f"{len(chosen) + len(temps)} file(s), {_size(size)}"
    if args.dry_run:
        print(f"dry run: would remove {count}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"snnkit data cache clear: not removing {count} without confirmation; pass --yes", file=sys.stderr)
            return 1
        if input(f"remove {count}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    sizes = {p: p.stat().st_size for p in temps if p.exists()}
    try:
        freed = remove_files([e.path for e in chosen])
        freed += sum(sizes.get(p, 0) for p in remove_stale_temporaries(folder))
    except PermissionError as e:
        print(f"snnkit data cache clear: cannot remove files in {folder} ({e.strerror or e}): the folder is not "
              "writable for you; fix its permissions or pass --cache-dir / $SNNKIT_DATA for your own folder", file=sys.stderr)
        return 1
    print(f"removed {len(chosen) + len(temps)} file(s), freed {_size(freed)}")
    return 0
