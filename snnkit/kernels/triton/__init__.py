"""Fused GPU kernels written in Triton, wrapped as autograd functions in :mod:`.ops`.

Importing this package never imports ``triton``: the kernels are defined on first use,
so ``import snnkit`` works on machines without Triton or CUDA (the first call then raises
a ``RuntimeError`` that says what is missing).
"""
from __future__ import annotations

import importlib.util

__all__ = ["available", "error"]


def error() -> str:
    """Why the Triton kernels cannot run here ('' when they can)."""
    if importlib.util.find_spec("triton") is None:
        return "the 'triton' package is not installed (pip install triton)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device is available"
    return ""


def available() -> bool:
    """True when Triton is importable and a CUDA device is present."""
    return error() == ""
