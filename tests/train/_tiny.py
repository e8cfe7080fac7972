"""A tiny spiking classifier and a separable synthetic event-like dataset for trainer tests."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

import snnkit


class TinySNN(nn.Module):
    """Linear -> LIF -> Linear -> LIF over [T, B, F] (no batch norm, so DDP equals a big batch)."""

    def __init__(self, features: int = 12, hidden: int = 24, classes: int = 3) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(features, hidden), nn.Linear(hidden, classes)
        self.lif1, self.lif2 = snnkit.LIF(detach_reset=True), snnkit.LIF(detach_reset=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def dataset(n: int = 96, T: int = 6, features: int = 12, classes: int = 3, seed: int = 0) -> TensorDataset:
    """Class c raises the firing probability of feature block c; items are [T, F] (batch-first loader)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    p = torch.full((n, features), 0.1)
    block = features // classes
    for c in range(classes):
        p[y == c, c * block:(c + 1) * block] = 0.7
    x = (torch.rand(n, T, features, generator=g) < p[:, None, :]).float()
    return TensorDataset(x, y)
