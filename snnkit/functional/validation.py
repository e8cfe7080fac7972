"""Argument checks shared by the neuron functions; each error names the argument and what was expected."""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Optional

import torch

Tensor = torch.Tensor
_warned: set = set()


def is_int(v: object) -> bool:
    """An int that is not a bool (``True`` is an ``int`` to Python, never a count to us)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_real(v: object) -> bool:
    """A real number that is not a bool: Python's int/float and NumPy's scalars (``np.float32(0.5)``)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_input(x: object, fn: str) -> None:
    """``x`` must be a floating tensor shaped ``[T, B, ...]`` with T >= 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: x must be a floating-point tensor (spikes and currents are real-valued), got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must be time-major [T, B, ...] with at least 2 dims, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{fn}: x has T=0 time steps (shape {tuple(x.shape)})")


def check_state(state: Optional[object], x: Tensor, arg: str, fn: str, fill: float) -> Tensor:
    """Return the initial state for ``x[T, B, ...]``: ``fill`` if ``None``, else a tensor shaped ``x.shape[1:]``."""
    if state is None:
        return torch.full(x.shape[1:], float(fill), dtype=x.dtype, device=x.device)
    if not isinstance(state, torch.Tensor):
        raise TypeError(f"{fn}: {arg} must be a tensor or None, got {type(state).__name__}")
    if not state.is_floating_point():
        raise TypeError(f"{fn}: {arg} must be floating point, got dtype {state.dtype}")
    if tuple(state.shape) != tuple(x.shape[1:]):
        raise ValueError(
            f"{fn}: {arg} has shape {tuple(state.shape)} but the input x{list(x.shape)} needs state shape "
            f"{tuple(x.shape[1:])} (batch and feature sizes must match; x is [T, B, ...])"
        )
    if state.device != x.device:
        raise ValueError(f"{fn}: {arg} is on {state.device} but x is on {x.device}")
    return state.to(x.dtype)


def check_threshold(v_threshold: object, v_reset: Optional[object], fn: str) -> None:
    """The threshold must be finite and above the reset potential (above 0 for soft reset)."""
    if not is_real(v_threshold) or not math.isfinite(v_threshold):
        raise TypeError(f"{fn}: v_threshold must be a finite number, got {v_threshold!r}")
    if v_reset is None:
        if v_threshold <= 0:
            raise ValueError(f"{fn}: soft reset (v_reset=None) subtracts v_threshold, which must be > 0, got {v_threshold}")
        return
    if not is_real(v_reset) or not math.isfinite(v_reset):
        raise TypeError(f"{fn}: v_reset must be a finite number or None (soft reset), got {v_reset!r}")
    if v_threshold <= v_reset:
        raise ValueError(f"{fn}: v_threshold ({v_threshold}) must be above v_reset ({v_reset})")


def check_reset_delay(reset_delay: object, tau: float, decay_input: object, v_reset: Optional[object], fn: str) -> None:
    """``reset_delay=True`` (snnTorch's default reset) needs ``v_reset=None``, ``decay_input=False``, ``tau > 1``."""
    if not isinstance(reset_delay, bool):
        raise TypeError(f"{fn}: reset_delay must be a bool, got {reset_delay!r}")
    if not reset_delay:
        return
    if v_reset is not None:
        raise ValueError(f"{fn}: reset_delay=True is snnTorch's delayed subtract reset and needs a soft reset "
                         f"(v_reset=None), got v_reset={v_reset!r}")
    if decay_input:
        raise ValueError(f"{fn}: reset_delay=True ports snnTorch's Leaky (mem = beta * mem + x), which needs "
                         "decay_input=False, got decay_input=True")
    if not tau > 1:
        raise ValueError(f"{fn}: reset_delay=True subtracts v_threshold / beta with beta = 1 - 1/tau, which needs "
                         f"tau > 1, got tau={tau!r} (beta = 0 keeps no membrane to carry the reset)")


def _under_functorch(tensors: tuple) -> bool:
    """True when a tensor is wrapped by a torch.func transform (vmap, grad, jacrev, ...)."""
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return wrapped is not None and any(isinstance(t, Tensor) and wrapped(t) for t in tensors)


def resolve_backend(backend: object, x: Tensor, fn: str, surrogate_code: int = 0, *others: Optional[Tensor]) -> str:
    """Map ``auto`` to the fastest backend usable for ``x``; check an explicit choice is usable.

    A user-defined surrogate (``code < 0``) is unknown to the fused kernels: ``auto`` then
    runs the reference loop, and an explicit fused backend is an error. So it is under a
    ``torch.func`` transform (``vmap``, ``grad``, ...) of ``x`` or of the ``others`` (state,
    PLIF's ``w``): the fused kernels read raw memory, which a transformed tensor does not have.
    """
    from ..kernels import cpu, triton as triton_kernels, triton_available

    if backend not in ("auto", "reference", "cpu", "triton"):
        raise ValueError(f"{fn}: backend must be one of 'auto', 'reference', 'cpu', 'triton', got {backend!r}")
    if backend == "reference" or (backend == "auto" and surrogate_code < 0):
        return "reference"
    if surrogate_code < 0:
        raise ValueError(f"{fn}: backend={backend!r} supports only snnkit's built-in surrogates; "
                         "use backend='reference' (or 'auto') for a custom surrogate")
    if _under_functorch((x,) + others):
        if backend == "auto":
            return "reference"
        raise ValueError(f"{fn}: backend={backend!r} cannot run under torch.func transforms (vmap, grad, jacrev, ...); "
                         "use backend='reference' (or 'auto', which picks it there)")
    if backend == "cpu":
        if x.device.type != "cpu":
            raise ValueError(f"{fn}: backend='cpu' needs a CPU tensor, x is on {x.device}")
        if not cpu.available():
            raise RuntimeError(f"{fn}: backend='cpu' is unavailable: {cpu.error()}")
        return "cpu"
    if backend == "triton":
        if x.device.type != "cuda":
            raise ValueError(f"{fn}: backend='triton' needs a CUDA tensor, x is on {x.device}")
        if not triton_available():
            raise RuntimeError(f"{fn}: backend='triton' is unavailable: {triton_kernels.error()}")
        return "triton"
    if x.device.type == "cuda" and triton_available():
        return "triton"
    if x.device.type == "cpu" and cpu.available():
        return "cpu"
    if x.device.type == "cpu" and "cpu" not in _warned:
        _warned.add("cpu")
        warnings.warn(f"snnkit: fused CPU kernels unavailable ({cpu.error()}); using the reference loop", RuntimeWarning, stacklevel=4)
    return "reference"
