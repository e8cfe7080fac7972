"""Mixup (Zhang et al. 2018) as the TCJA scripts' ``-mixup`` applies it: mix whole batches, mix the losses.

The scripts (``src/transfroms.py``) draw ``lam ~ Beta(alpha, alpha)`` (alpha 0.5) and one permutation
per batch, train on ``lam * x + (1 - lam) * x[perm]`` and minimise
``lam * loss(out, y) + (1 - lam) * loss(out, y[perm])``. Here the draws come from a generator seeded by
``(seed, epoch, rank, step)``, so a resumed run mixes exactly as an uninterrupted one.
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
import torch


def mixup_draw(alpha: float, batch: int, seed: int, epoch: int, rank: int, step: int) -> Tuple[float, torch.Tensor]:
    """``(lam, perm)`` for one batch: ``lam ~ Beta(alpha, alpha)`` and a permutation of ``range(batch)``."""
    if not alpha > 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha!r}")
    rng = np.random.default_rng([int(seed), int(epoch), int(rank), int(step)])
    lam = float(rng.beta(alpha, alpha))
    return lam, torch.from_numpy(rng.permutation(batch))


def mix_inputs(x: torch.Tensor, perm: torch.Tensor, lam: float, batch_dim: int) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[perm]`` along ``batch_dim`` (1 for time-major ``[T, B, ...]``), in floating point."""
    if x.shape[batch_dim] != len(perm):
        raise ValueError(f"mix_inputs: batch dimension {batch_dim} of x has {x.shape[batch_dim]} samples, "
                         f"the permutation {len(perm)}")
    x = x if x.is_floating_point() else x.float()
    return lam * x + (1 - lam) * x.index_select(batch_dim, perm.to(x.device))


def mixup_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], out: torch.Tensor, y: torch.Tensor,
               perm: torch.Tensor, lam: float) -> torch.Tensor:
    """The scripts' ``mixup_criterion``: ``lam * loss_fn(out, y) + (1 - lam) * loss_fn(out, y[perm])``."""
    return lam * loss_fn(out, y) + (1 - lam) * loss_fn(out, y[perm.to(y.device)])
