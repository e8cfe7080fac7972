"""Shared benchmark helpers: timing, machine description, atomic JSON results, tables."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from snnkit._io import atomic_write_text
from snnkit.cli import int_at_least, number_above

RESULTS = Path(__file__).resolve().parent / "results"

positive_int = int_at_least(1)       # argparse ``type`` for counts, sizes, repeats, threads: refused below 1
non_negative_int = int_at_least(0)   # argparse ``type`` for counts where 0 means "none" (epochs, steps)
positive_float = number_above(0)     # argparse ``type`` for budgets in GiB or seconds: a finite number > 0


def machine() -> Dict[str, Any]:
    """Where the numbers came from."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def timeit(fn: Callable[[], Any], repeat: int = 7, warmup: int = 2, sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup``."""
    if repeat < 1 or warmup < 0:
        raise ValueError(f"timeit: repeat must be >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    sync()
    times: List[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_json(name: str, payload: Dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically (temp file, then rename)."""
    return atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2))


def add_results_option(ap: argparse.ArgumentParser, name: str) -> None:
    """``--results PATH``: where a run that is not the committed reference run writes its JSON."""
    ap.add_argument("--results", metavar="PATH",
                    help=f"write the results JSON to PATH. Without it only a run with every other option at its "
                         f"default writes benchmarks/results/{name}.json (the committed reference); other runs "
                         "(any option changed) print their tables and write nothing")


@dataclass
class ResultsFile:
    """Where a benchmark run's JSON goes: ``--results``, the committed file for a default run, or nowhere."""

    name: str
    path: Optional[Path]
    changed: List[str]
    args: Dict[str, Any] = field(default_factory=dict)

    def save(self, payload: Dict[str, Any]) -> Optional[Path]:
        """Write ``payload`` (atomically), with the options it was run with, and say where, or why not."""
        if self.path is None:
            verb = "differs" if len(self.changed) == 1 else "differ"
            print(f"results not written: {', '.join(self.changed)} {verb} from the defaults, and "
                  f"benchmarks/results/{self.name}.json holds the reference run; pass --results PATH to keep them")
            return None
        payload = {"args": self.args, **payload, "non_default_options": self.changed}  # a script's own "args" wins
        path = atomic_write_text(self.path, json.dumps(payload, indent=2, default=str))
        print(f"wrote {path}")
        return path


def results_file(ap: argparse.ArgumentParser, args: argparse.Namespace, name: str) -> ResultsFile:
    """The :class:`ResultsFile` of a parsed run (call right after ``parse_args``, before options are changed)."""
    changed = [a.option_strings[0] for a in ap._actions
               if a.option_strings and a.dest not in ("help", "results") and a.default is not argparse.SUPPRESS
               and getattr(args, a.dest, a.default) != a.default]
    options = {k: v for k, v in vars(args).items() if k != "results" and not k.startswith("_")}  # as parsed
    if args.results:
        path = Path(args.results)
        if path.is_dir():  # refused now, not by the write after a run of minutes
            ap.error(f"--results {args.results}: that is a directory; give a file name, e.g. {path / (name + '.json')}")
        return ResultsFile(name, path, changed, options)
    return ResultsFile(name, None if changed else RESULTS / f"{name}.json", changed, options)


def print_table(rows: List[Dict[str, Any]], columns: List[str], title: str) -> None:
    """A plain-text table (rich if installed)."""
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c, justify="right" if c not in ("impl", "shape") else "left")
        for r in rows:
            table.add_row(*[_fmt(r.get(c)) for c in columns])
        Console(width=200).print(table)
    except ImportError:
        print(title)
        print(" | ".join(columns))
        for r in rows:
            print(" | ".join(_fmt(r.get(c)) for c in columns))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return "" if v is None else str(v)
