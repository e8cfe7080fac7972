"""Fused multi-step neuron kernels: ``cpu`` (compiled C++) and ``triton`` (CUDA GPUs).

Both expose the same autograd functions (``LIFFunction``, ``CubaFunction``) and mirror
:mod:`snnkit.functional.reference`, which the tests hold them to.
"""
from __future__ import annotations

from types import ModuleType

from . import cpu
from . import triton as _triton

__all__ = ["cpu", "ops_for", "triton_available"]


def triton_available() -> bool:
    """True when Triton is importable and a CUDA device is present."""
    return _triton.available()


def ops_for(backend: str) -> ModuleType:
    """The module holding the autograd functions of a fused backend."""
    if backend == "cpu":
        from .cpu import ops
    elif backend == "triton":
        from .triton import ops
    else:
        raise ValueError(f"no fused kernels for backend {backend!r}")
    return ops
