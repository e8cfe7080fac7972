"""Run under torchrun (2 processes, gloo): train the tiny SNN and save the final weights."""
from __future__ import annotations

import sys

import torch

from snnkit.train import TrainConfig, Trainer
from tests.train._tiny import TinySNN, dataset

out_dir, batch = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = TinySNN()
cfg = TrainConfig(epochs=2, batch_size=batch, lr=2e-2, out_dir=out_dir, tensorboard=False, progress=False, seed=3)
trainer = Trainer(model, dataset(), dataset(n=30, seed=1), cfg)
trainer.fit()
if trainer.out_dir and torch.distributed.is_initialized() and torch.distributed.get_rank() == 0:
    torch.save(model.state_dict(), f"{out_dir}/final_weights.pt")
trainer.close()
