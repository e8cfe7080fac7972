"""Evaluate a trained classifier: accuracy, balanced accuracy, per-class accuracy and confusion matrix.

The loop is the Trainer's (time-major input, state reset per batch, firing rate as the score)
but keeps every prediction, so a saved checkpoint can be reported class by class.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch.utils.data import DataLoader, Dataset

from .._io import atomic_write_text
from ..base import reset
from ..progress import progress as progress_bar
from .trainer import pick_device, predicted_class, rate, to_time_major

__all__ = ["confusion_matrix", "ClassificationReport", "predict", "classification_report", "predicted_class"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[K, K]`` int64 counts; entry ``[i, j]`` is the number of samples of class ``i`` predicted as ``j``."""
    pred, target = torch.as_tensor(pred).long().flatten(), torch.as_tensor(target).long().flatten()
    if pred.shape != target.shape:
        raise ValueError(f"confusion_matrix: {pred.numel()} predictions but {target.numel()} targets")
    for name, t in (("predictions", pred), ("targets", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"confusion_matrix: {name} must lie in [0, {num_classes}), "
                             f"got values in [{int(t.min())}, {int(t.max())}]")
    return torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass
class ClassificationReport:
    """Counts behind the usual scores; ``confusion[i][j]``: samples of class ``i`` predicted as ``j``."""

    confusion: List[List[int]]
    loss: float = float("nan")
    classes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)  # where the numbers come from (checkpoint, split, ...)

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = [str(i) for i in range(len(self.confusion))]
        if len(self.classes) != len(self.confusion):
            raise ValueError(f"ClassificationReport: {len(self.classes)} class names for a "
                             f"{len(self.confusion)}-class confusion matrix")

    @property
    def n(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(row[i] for i, row in enumerate(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def support(self) -> List[int]:
        return [sum(row) for row in self.confusion]

    @property
    def per_class(self) -> List[float]:
        """Accuracy (recall) of each class; NaN for a class with no samples."""
        return [row[i] / s if s else float("nan") for i, (row, s) in enumerate(zip(self.confusion, self.support))]

    @property
    def balanced_accuracy(self) -> float:
        """Mean of the per-class accuracies over the classes present (equals accuracy on a balanced set)."""
        present = [a for a, s in zip(self.per_class, self.support) if s]
        return sum(present) / len(present) if present else float("nan")

    def to_dict(self) -> Dict[str, Any]:
        return {"accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy, "loss": self.loss,
                "n": self.n, "correct": self.correct, "classes": self.classes, "per_class": self.per_class,
                "support": self.support, "confusion": self.confusion, **self.meta}

    def save_json(self, path: Union[str, Path]) -> Path:
        """Write :meth:`to_dict` as JSON (temp file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=True)
        return atomic_write_text(path, text + "\n")

    def format(self, max_matrix: int = 20, worst: int = 10) -> str:
        """A text report: scores, per-class accuracy and (up to ``max_matrix`` classes) the confusion matrix."""
        lines = [f"accuracy {100 * self.accuracy:.2f} % ({self.correct}/{self.n})   "
                 f"balanced accuracy {100 * self.balanced_accuracy:.2f} %   loss {self.loss:.4f}"]
        k = len(self.classes)
        rows = list(range(k))
        if k > max_matrix:
            rows = sorted((i for i in rows if self.support[i]), key=lambda i: self.per_class[i])[:worst]
            lines.append(f"the {len(rows)} classes with the lowest accuracy (all {k} in --json):")
        else:
            lines.append("per-class accuracy:")
        width = max(len(c) for c in self.classes)
        for i in rows:
            acc = self.per_class[i]
            shown = "   -  " if math.isnan(acc) else f"{100 * acc:5.1f}%"
            lines.append(f"  {self.classes[i]:>{width}}  {shown}  ({self.confusion[i][i]}/{self.support[i]})")
        if k <= max_matrix:
            cell = max(3, len(str(max(max(r) for r in self.confusion))))
            lines.append("confusion matrix (rows: true class, columns: predicted class):")
            lines.append(" " * (width + 2) + "".join(f" {c[:cell]:>{cell}}" for c in self.classes))
            for name, row in zip(self.classes, self.confusion):
                lines.append(f"  {name:>{width}}" + "".join(f" {v:>{cell}}" for v in row))
        return "\n".join(lines)


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: Dataset, *, batch_size: int = 32, device: str = "auto",
            input_layout: str = "BT", num_workers: int = 0, loss_fn: Optional[LossFn] = None,
            progress: bool = False) -> Dict[str, Any]:
    """Scores (firing rates ``[N, K]``), labels ``[N]`` and the mean ``loss_fn`` over ``dataset``, in order."""
    if len(dataset) == 0:
        raise ValueError("predict: the dataset is empty")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be a positive integer, got {batch_size!r}")
    dev = pick_device(device)
    model = model.to(dev).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    loader = progress_bar(loader, desc="evaluate", enabled=progress, leave=False, unit="batch")
    scores, labels, loss_sum = [], [], 0.0
    for x, y in loader:
        x, y = to_time_major(x.to(dev), input_layout), torch.as_tensor(y).to(dev)
        reset(model)
        out = model(x)
        if loss_fn is not None:
            loss_sum += float(loss_fn(out, y)) * len(y)
        scores.append(rate(out).float().cpu())
        labels.append(y.cpu())
    reset(model)
    n = sum(len(y) for y in labels)
    return {"scores": torch.cat(scores), "labels": torch.cat(labels),
            "loss": loss_sum / n if loss_fn is not None else float("nan")}


def classification_report(model: torch.nn.Module, dataset: Dataset, num_classes: int, *,
                          classes: Optional[Sequence[str]] = None, meta: Optional[Dict[str, Any]] = None,
                          **predict_kw: Any) -> ClassificationReport:
    """Run :func:`predict` and count: the prediction is the class with the highest score (first on ties,
    :func:`predicted_class`)."""
    res = predict(model, dataset, **predict_kw)
    if res["scores"].shape[-1] != num_classes:
        raise ValueError(f"classification_report: the model scores {res['scores'].shape[-1]} classes, "
                         f"expected {num_classes}")
    cm = confusion_matrix(predicted_class(res["scores"]), res["labels"], num_classes)
    return ClassificationReport(cm.tolist(), res["loss"], list(classes or []), dict(meta or {}))
