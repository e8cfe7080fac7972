"""Run under torchrun (2 processes, gloo): one run straight through, one stopped after epoch 1 and resumed.

The model samples its input spikes in evaluation too, and the 31 test samples split 16/15 between the
ranks, so the ranks' RNG streams part after the first evaluation."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from snnkit.train import TrainConfig, Trainer
from tests.train._tiny import TinySNN, dataset


class Bernoulli(torch.nn.Module):
    """Input spikes drawn with probability ``0.9 x`` (training and evaluation alike)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.rand_like(x) < 0.9 * x).float()


def trainer(out: Path) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Sequential(Bernoulli(), torch.nn.Dropout(0.3), TinySNN())
    cfg = TrainConfig(epochs=3, batch_size=8, lr=2e-2, loss="ce", out_dir=str(out), tensorboard=False,
                      progress=False, seed=3)
    return Trainer(model, dataset(n=40), dataset(n=31, seed=1), cfg)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    full = trainer(out / "full")
    full.fit()
    trainer(out / "split").fit(stop_after=1)
    resumed = trainer(out / "split")
    with resumed.closing():
        resumed.fit(resume=True)
    if os.environ["RANK"] == "0":
        torch.save({"full": full.model.state_dict(), "resumed": resumed.model.state_dict()}, out / "weights.pt")
