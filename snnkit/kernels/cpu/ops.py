"""Autograd functions over the compiled CPU kernels.

Saved for backward: only the input ``x`` and the initial state (references, no copies).
The backward re-integrates the membrane potential for each block of neurons in a cache-
resident scratch buffer, so no ``[T, ...]`` tensor of potentials is ever stored: the
memory of a fused LIF layer during training is its input and its spikes.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple

import torch

from .._autograd import first_order_only
from .build import bind, load

_I, _L, _D, _P = ctypes.c_int, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
_SIGS = {
    "lif_forward": [_I, _P, _P, _P, _P, _L, _L, _D, _D, _D, _D, _I, _I, _I],
    "lif_backward": [_I, _I, _P, _P, _P, _P, _P, _P, _P, _L, _L, _D, _D, _D, _D, _I, _I, _I, _D, _D, _I],
    "cuba_forward": [_P, _P, _P, _P, _P, _P, _L, _L, _D, _D, _D, _D, _I, _I],
    "cuba_backward": [_I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _L, _L, _D, _D, _D, _D, _I, _I, _D, _D, _I],
}
_cache: dict = {}

# Charge modes understood by the kernel (see neuron_kernels.cpp; it runs LIF_DIV_* with a power-of-two tau as a
# multiply by 1/tau, the same bits).
IF, LIF_DIV_DI, LIF_DIV_NDI, LIF_MUL_DI, LIF_MUL_NDI = range(5)


def _fn(name: str, dtype: torch.dtype) -> Any:
    f = _cache.get((name, dtype))
    if f is None:
        f = _cache[(name, dtype)] = bind(load, f"snn_{name}_{'f64' if dtype == torch.float64 else 'f32'}", _SIGS[name],
                                         lambda: "snnkit CPU kernels are unavailable on this machine")
    return f


def _p(t: Optional[torch.Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise RuntimeError(f"snnkit CPU kernel {what} rejected its arguments (code {rc})")


def _nthreads(T: int, N: int) -> int:
    """Threads worth waking: one per 256-neuron block, and none beyond one for tiny calls (~32k element-steps)."""
    return max(1, min(torch.get_num_threads(), -(-N // 256), (T * N) // 32768))


class LIFFunction(torch.autograd.Function):
    """Fused LIF/IF/PLIF over ``x[T, N]``; ``k`` is PLIF's ``1/tau`` tensor (or ``None``)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, v0: torch.Tensor, k: Optional[torch.Tensor], mode: int, c: float,
        vth: float, vr: float, soft: bool, detach: bool, graded: bool, sg: int, a1: float, a2: float,
        vsub: Optional[float] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        T, N = x.shape
        vsub = vth if vsub is None else float(vsub)  # what a soft reset subtracts (LIF reset_delay: vth / beta)
        out, vT = torch.empty_like(x), torch.empty_like(v0)
        rc = _fn("lif_forward", x.dtype)(mode, _p(x), _p(v0), _p(out), _p(vT), T, N, c, vth, vr, vsub, int(soft), int(graded),
                                         _nthreads(T, N))
        _check(rc, "lif_forward")
        ctx.save_for_backward(x, v0, k)  # k (a scalar) only ties a second-order error to PLIF's w
        ctx.args = (mode, c, vth, vr, vsub, soft, detach, graded, sg, a1, a2, k is not None)
        return out, vT

    @staticmethod
    @first_order_only("snnkit CPU LIF kernel")
    def backward(ctx: Any, gout: Optional[torch.Tensor], gvT: Optional[torch.Tensor]) -> Tuple[Any, ...]:
        x, v0, _ = ctx.saved_tensors
        mode, c, vth, vr, vsub, soft, detach, graded, sg, a1, a2, has_k = ctx.args
        T, N = x.shape
        gout = torch.zeros_like(x) if gout is None else gout.contiguous()
        gvT = None if gvT is None else gvT.contiguous()
        gx, gv0 = torch.empty_like(x), torch.empty_like(v0)
        gk = torch.zeros((), dtype=x.dtype) if has_k else None
        rc = _fn("lif_backward", x.dtype)(
            mode, sg, _p(x), _p(v0), _p(gout), _p(gvT), _p(gx), _p(gv0), _p(gk), T, N, c, vth, vr, vsub,
            int(soft), int(detach), int(graded), a1, a2, _nthreads(T, N),
        )
        _check(rc, "lif_backward")
        return (gx, gv0, gk) + (None,) * 11


class CubaFunction(torch.autograd.Function):
    """Fused CUBA LIF (Lava ``LIF`` float dynamics) over ``x[T, N]``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, u0: torch.Tensor, v0: torch.Tensor, omdu: float, omdv: float, vth: float,
        bias: float, detach: bool, graded: bool, sg: int, a1: float, a2: float,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        T, N = x.shape
        out, uT, vT = torch.empty_like(x), torch.empty_like(u0), torch.empty_like(v0)
        rc = _fn("cuba_forward", x.dtype)(_p(x), _p(u0), _p(v0), _p(out), _p(uT), _p(vT), T, N, omdu, omdv, vth, bias, int(graded), _nthreads(T, N))
        _check(rc, "cuba_forward")
        ctx.save_for_backward(x, u0, v0)
        ctx.args = (omdu, omdv, vth, bias, detach, graded, sg, a1, a2)
        return out, uT, vT

    @staticmethod
    @first_order_only("snnkit CPU CUBA kernel")
    def backward(
        ctx: Any, gout: Optional[torch.Tensor], guT: Optional[torch.Tensor], gvT: Optional[torch.Tensor]
    ) -> Tuple[Any, ...]:
        x, u0, v0 = ctx.saved_tensors
        omdu, omdv, vth, bias, detach, graded, sg, a1, a2 = ctx.args
        T, N = x.shape
        gout = torch.zeros_like(x) if gout is None else gout.contiguous()
        guT = None if guT is None else guT.contiguous()
        gvT = None if gvT is None else gvT.contiguous()
        gx, gu0, gv0 = torch.empty_like(x), torch.empty_like(u0), torch.empty_like(v0)
        rc = _fn("cuba_backward", x.dtype)(
            sg, _p(x), _p(u0), _p(v0), _p(gout), _p(guT), _p(gvT), _p(gx), _p(gu0), _p(gv0), T, N,
            omdu, omdv, vth, bias, int(detach), int(graded), a1, a2, _nthreads(T, N),
        )
        _check(rc, "cuba_backward")
        return (gx, gu0, gv0) + (None,) * 9


def lif_step(x: torch.Tensor, v: torch.Tensor, tau: float, v_threshold: float,
             v_reset: float) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """One token of a hard-reset LIF (``decay_input``) for ``x`` from ``v``, without autograd: ``(spikes, v_next)``.

    The forward kernel of :class:`LIFFunction` at T = 1 (a recurrent step's neurons in one call
    instead of five small ops). ``None`` where it cannot run (no kernel, not CPU, not
    float32/float64, mismatched tensors): the caller then uses the formulas.
    """
    if (x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or v.dtype != x.dtype
            or v.shape != x.shape or v.device != x.device or load() is None):
        return None
    x, v = (t if t.is_contiguous() else t.contiguous() for t in (x, v))
    out, vT = torch.empty_like(x), torch.empty_like(v)
    _check(_fn("lif_forward", x.dtype)(LIF_DIV_DI, x.data_ptr(), v.data_ptr(), out.data_ptr(), vT.data_ptr(), 1,
                                       x.numel(), float(tau), float(v_threshold), float(v_reset), float(v_threshold), 0, 0, 1),
           "lif_step")
    return out, vT
