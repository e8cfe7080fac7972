"""2x2 stride-2 pooling on the CPU through a compiled kernel, bit for bit torch's ``avg_pool2d`` / ``max_pool2d``.

torch's CPU kernels for contiguous NCHW input loop over each output with scalar code (5-10x
slower than a copy of the input at the TCJA-SNN sizes, and max pooling keeps an int64 index
per output); ``pool_kernels.cpp`` does the same operations in the same order, so the outputs,
the gradients and hence a whole training run stay identical. :func:`pool2x2` returns ``None``
where it does not apply (not CPU float32/float64 NCHW-contiguous 4-D input, no kernel, a
``torch.func`` transform): the caller then runs torch's layer.
"""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as tF

from ...functional.validation import _under_functorch
from . import build

SOURCE = Path(__file__).with_name("pool_kernels.cpp")
STEM = "snnkit_pool"
_I, _L, _P = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
_SIGS = {
    "avg_forward": [_P, _P, _L, _L, _L, _I],
    "avg_backward": [_P, _P, _L, _L, _L, _I],
    "max_forward": [_P, _P, _P, _L, _L, _L, _I],
    "max_backward": [_P, _P, _P, _L, _L, _L, _I],
}
_fns: dict = {}


def _lib() -> Optional[ctypes.CDLL]:
    return build.load_library(SOURCE, build.FLAGS, STEM)


def available() -> bool:
    """True when the compiled pooling kernel can be used on this machine."""
    return _lib() is not None


def _fn(name: str, dtype: torch.dtype) -> Any:
    f = _fns.get((name, dtype))
    if f is None:
        f = _fns[(name, dtype)] = build.bind(_lib, f"snn_pool2_{name}_{'f64' if dtype == torch.float64 else 'f32'}",
                                             _SIGS[name],
                                             lambda: f"snnkit pooling CPU kernel is unavailable: {build.error(STEM)}")
    return f


def _nthreads(n: int) -> int:
    """Threads worth waking for ``n`` input elements (torch's grain size of 32k elements per thread)."""
    return max(1, min(torch.get_num_threads(), n // 32768))


def _run(name: str, dtype: torch.dtype, *args: Any) -> None:
    rc = _fn(name, dtype)(*args)
    if rc != 0:
        raise RuntimeError(f"snnkit pooling CPU kernel {name} rejected its arguments (code {rc})")


def _forward(x: torch.Tensor, kind: str) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    N, C, H, W = x.shape
    out = x.new_empty((N, C, H // 2, W // 2))
    if kind == "avg":
        _run("avg_forward", x.dtype, x.data_ptr(), out.data_ptr(), N * C, H, W, _nthreads(x.numel()))
        return out, None
    idx = torch.empty(out.shape, dtype=torch.int32)
    _run("max_forward", x.dtype, x.data_ptr(), out.data_ptr(), idx.data_ptr(), N * C, H, W, _nthreads(x.numel()))
    return out, idx


def _backward(g: torch.Tensor, idx: Optional[torch.Tensor], shape: torch.Size) -> torch.Tensor:
    g = g.contiguous()
    N, C, H, W = shape
    gin = g.new_empty(shape)
    if idx is None:
        _run("avg_backward", g.dtype, g.data_ptr(), gin.data_ptr(), N * C, H, W, _nthreads(gin.numel()))
    else:
        _run("max_backward", g.dtype, g.data_ptr(), idx.data_ptr(), gin.data_ptr(), N * C, H, W,
             _nthreads(gin.numel()))
    return gin


def _gather(gg: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The adjoint of the max backward: each window's entry at its argmax (``gg[N, C, H, W] -> [N, C, H//2, W//2]``)."""
    H2, W2 = idx.shape[-2:]
    win = gg[..., :2 * H2, :2 * W2].unflatten(-1, (W2, 2)).unflatten(-3, (H2, 2))  # [N, C, H2, 2, W2, 2]
    win = win.permute(0, 1, 2, 4, 3, 5).reshape(*idx.shape, 4)
    return win.gather(-1, idx.long().unsqueeze(-1)).squeeze(-1)


class _Pool2x2Backward(torch.autograd.Function):
    """The pooling's backward as a function of the output gradient (linear), so double backward works."""

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, idx: Optional[torch.Tensor], shape: torch.Size) -> torch.Tensor:  # type: ignore[override]
        ctx.idx = idx
        return _backward(g, idx, shape)

    @staticmethod
    def backward(ctx: Any, gg: torch.Tensor) -> Tuple[Any, ...]:
        if ctx.idx is None:
            return tF.avg_pool2d(gg, 2, 2), None, None
        return _gather(gg, ctx.idx), None, None


class _Pool2x2(torch.autograd.Function):
    """2x2 stride-2 average or max pooling of contiguous ``x[N, C, H, W]``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kind: str) -> torch.Tensor:  # type: ignore[override]
        out, idx = _forward(x, kind)
        ctx.idx, ctx.shape = idx, x.shape
        if idx is not None:
            ctx.mark_non_differentiable(idx)
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> Tuple[Any, ...]:
        return _Pool2x2Backward.apply(g, ctx.idx, ctx.shape), None


def pool2x2(x: torch.Tensor, kind: str) -> Optional[torch.Tensor]:
    """``avg_pool2d(x, 2, 2)`` (``kind="avg"``) or ``max_pool2d(x, 2, 2)`` (``"max"``) by the kernel, or ``None``."""
    if (x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.ndim != 4
            or not x.is_contiguous() or x.shape[-2] < 2 or x.shape[-1] < 2 or x.numel() == 0
            or _under_functorch((x,)) or not available()):
        return None
    return _Pool2x2.apply(x, kind)
