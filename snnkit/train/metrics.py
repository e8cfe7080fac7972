"""Metric logs: a CSV file rewritten atomically each epoch, and TensorBoard when installed."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional

from .._io import atomic_write_text


def format_epoch(row: Dict[str, Any], epochs: int, best: float) -> str:
    """One line per finished epoch for the console: train and test loss/accuracy, best so far, lr, time."""
    parts = [f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}"]
    if "train_acc" in row:
        parts[0] += f" acc {row['train_acc'] * 100:.1f}%"
    if "test_acc" in row:
        parts.append(f"test loss {row['test_loss']:.4f} acc {row['test_acc'] * 100:.1f}% (best {best * 100:.1f}%)")
    parts.append(f"lr {row['lr']:.2e}")
    parts.append(f"{row['seconds']:.1f} s")
    return " | ".join(parts)


class MetricLogger:
    """Keeps the history of per-epoch metrics; writes ``metrics.csv`` and TensorBoard scalars."""

    def __init__(self, out_dir: Path, tensorboard: bool = True, history: Optional[List[Dict[str, Any]]] = None) -> None:
        self.out_dir = Path(out_dir)
        self.history: List[Dict[str, Any]] = list(history or [])
        self._tb, self._want_tb = None, tensorboard  # the writer opens at the first row: a run that fails leaves no log

    def log(self, row: Dict[str, Any]) -> None:
        self.history.append(dict(row))
        if self._want_tb and self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                # purge_step: TensorBoard drops what an interrupted earlier run logged from this epoch on
                # (it logged the epoch, then stopped before the checkpoint; the resumed run logs it again)
                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=row["epoch"])
            except ImportError:
                self._want_tb = False
        if self._tb is not None:
            for key, val in row.items():
                if key != "epoch" and isinstance(val, (int, float)):
                    self._tb.add_scalar(key, val, row["epoch"])
            self._tb.flush()
        self._write_csv()

    def _write_csv(self) -> None:
        keys: List[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
