"""Frame augmentations for training sets: random horizontal flip and random roll (TCJA's ``dvs_aug``).

Each augmentation is called as ``aug(frames[T, C, H, W], generator)`` and draws only from the
given ``torch.Generator``; frame datasets seed it per (seed, epoch, sample), so runs are
reproducible. The same draw applies to all T frames of a sample (a moving object stays one
object). :func:`paper_augment` is what TCJA's CIFAR10-DVS script applies: flip along W with
probability 0.5, then ``np.roll`` by integers drawn uniformly from [-5, 5] along H and W.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from ..functional.validation import is_int

__all__ = ["RandomFlip", "RandomRoll", "Compose", "paper_augment", "get"]

Tensor = torch.Tensor


def _check_frames(x: object, name: str) -> Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise TypeError(f"{name}: frames must be a tensor [..., H, W], got {type(x).__name__}"
                        f"{'' if not isinstance(x, torch.Tensor) else ' of shape ' + str(tuple(x.shape))}")
    return x


class RandomFlip:
    """Flip the frames along ``dim`` (default -1: left-right) with probability ``p``."""

    def __init__(self, p: float = 0.5, dim: int = -1) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"RandomFlip: p must be a probability in [0, 1], got {p!r}")
        self.p, self.dim = float(p), int(dim)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        _check_frames(x, "RandomFlip")
        if torch.rand((), generator=generator).item() < self.p:
            return torch.flip(x, dims=(self.dim,))
        return x

    def __repr__(self) -> str:
        return f"RandomFlip(p={self.p}, dim={self.dim})"


class RandomRoll:
    """Cyclically shift the frames by integers drawn uniformly from ``[-max_shift, max_shift]`` along each of ``dims``."""

    def __init__(self, max_shift: int = 5, dims: Sequence[int] = (-2, -1)) -> None:
        if not is_int(max_shift) or max_shift < 0:
            raise ValueError(f"RandomRoll: max_shift must be a non-negative integer (pixels), got {max_shift!r}")
        self.max_shift, self.dims = max_shift, tuple(int(d) for d in dims)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        _check_frames(x, "RandomRoll")
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (len(self.dims),), generator=generator).tolist()
        return torch.roll(x, shifts=shifts, dims=self.dims)

    def __repr__(self) -> str:
        return f"RandomRoll(max_shift={self.max_shift}, dims={self.dims})"


class Compose:
    """Apply augmentations in order, all drawing from the same generator."""

    def __init__(self, *augs: Callable[[Tensor, torch.Generator], Tensor]) -> None:
        self.augs = list(augs)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        for a in self.augs:
            x = a(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.augs))})"


def paper_augment(max_shift: int = 5) -> Compose:
    """TCJA's event-frame augmentation: left-right flip (p=0.5), then roll by U{-5..5} pixels in H and W."""
    return Compose(RandomFlip(0.5, dim=-1), RandomRoll(max_shift, dims=(-2, -1)))


def get(augment: object) -> Callable[[Tensor, torch.Generator], Tensor] | None:
    """Resolve ``load(..., augment=...)``: False/None (none), True or "paper" (:func:`paper_augment`), "flip", "roll", or a callable."""
    if augment is None or augment is False:
        return None
    if augment is True or augment == "paper":
        return paper_augment()
    if augment == "flip":
        return RandomFlip()
    if augment == "roll":
        return RandomRoll()
    if callable(augment):
        return augment  # type: ignore[return-value]
    raise ValueError(f"augment must be False, True/'paper' (flip + roll as in TCJA), 'flip', 'roll' or a callable "
                     f"(frames, generator) -> frames, got {augment!r}")
