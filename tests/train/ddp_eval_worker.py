"""Run under torchrun (2 processes, gloo): a BatchNorm model evaluated on one test sample (rank 1 gets none)."""
from __future__ import annotations

import sys

import torch
from torch.utils.data import TensorDataset

from snnkit.train import TrainConfig, Trainer
from tests.train._tiny import TinySNN, dataset


class BNNet(torch.nn.Module):
    """BatchNorm1d (running statistics: DDP buffers) in front of the tiny SNN, over ``[T, B, F]``."""

    def __init__(self) -> None:
        super().__init__()
        self.bn, self.snn = torch.nn.BatchNorm1d(12), TinySNN()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.snn(self.bn(x.flatten(0, 1)).view_as(x))


def test_set() -> TensorDataset:
    return TensorDataset(*dataset(n=1, seed=1)[:1])


if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=2e-2, out_dir=sys.argv[1], tensorboard=False, progress=False, seed=3)
    trainer = Trainer(BNNet(), dataset(n=24), test_set(), cfg)
    with trainer.closing():
        trainer.fit()
