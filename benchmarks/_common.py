"""Shared benchmark helpers: timing, machine description, atomic JSON results, tables."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch

from snnkit._io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


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
