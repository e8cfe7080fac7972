"""Autograd functions over the Triton kernels (CUDA path); same interface as ``kernels.cpu.ops``.

Saved for backward: only the input ``x`` and the initial state (references, no copies).
The backward kernel re-integrates the membrane potential over ``T`` per block of neurons
and keeps the charged potentials ``h[t]`` it needs for the reverse recurrence in the
gradient buffer it is about to fill (see ``_kernels``), so no ``[T, ...]`` tensor of
potentials is kept between forward and backward and none is allocated in the backward.

Importing this module never needs Triton; the first call does, and raises a
``RuntimeError`` naming the missing piece (the ``triton`` package, or a CUDA tensor).
Kernels run on CUDA tensors, or on CPU tensors under Triton's interpreter
(``TRITON_INTERPRET=1`` set before the first call), which the tests use on machines
without a GPU.
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from .._autograd import first_order_only

# Charge modes understood by the kernels (same numbering as the CPU kernels).
IF, LIF_DIV_DI, LIF_DIV_NDI, LIF_MUL_DI, LIF_MUL_NDI = range(5)

__all__ = ["IF", "LIF_DIV_DI", "LIF_DIV_NDI", "LIF_MUL_DI", "LIF_MUL_NDI", "LIFFunction", "CubaFunction"]

_mod: Optional[ModuleType] = None
_params_cache: Dict[Tuple[Any, ...], torch.Tensor] = {}
_sm_count: Dict[int, int] = {}
_DTYPES = (torch.float32, torch.float64)


def _k() -> ModuleType:
    """The kernel module, imported (and the kernels defined) on first use."""
    global _mod
    if _mod is None:
        try:
            from . import _kernels
        except ImportError as err:  # triton missing or broken
            raise RuntimeError(
                f"snnkit's triton backend needs the 'triton' package (pip install triton), which failed to import: {err}"
            ) from err
        _mod = _kernels
    return _mod


def interpreting() -> bool:
    """True when the kernels were defined under Triton's CPU interpreter (``TRITON_INTERPRET=1``)."""
    return type(_k().lif_fwd_kernel).__name__ == "InterpretedFunction"


def _check(x: torch.Tensor, *states: torch.Tensor) -> bool:
    """Validate device/dtype; returns whether the reference runs as on CUDA (``RECIP``)."""
    interp = interpreting()
    if x.device.type != "cuda" and not interp:
        raise RuntimeError(
            f"snnkit triton kernels need CUDA tensors, got x on {x.device} (use backend='cpu' or 'reference', "
            "or set TRITON_INTERPRET=1 before first use to run them in Triton's interpreter)"
        )
    if x.dtype not in _DTYPES:
        raise TypeError(f"snnkit triton kernels take float32 or float64 tensors, got x of dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"snnkit triton kernels take x shaped [T, N], got shape {tuple(x.shape)}")
    if x.shape[1] >= 2**31:
        raise ValueError(f"snnkit triton kernels index neurons with int32: N must be < 2**31, got {x.shape[1]}")
    for s in states:
        if s.dtype != x.dtype or s.device != x.device or s.numel() != x.shape[1]:
            raise ValueError(
                f"snnkit triton kernels: state of shape {tuple(s.shape)}, {s.dtype} on {s.device} does not match "
                f"x[T, N] = {tuple(x.shape)}, {x.dtype} on {x.device}"
            )
    return x.device.type == "cuda"


def _params(vals: Sequence[float], recip_of: Optional[float], atan_a1: float, dtype: torch.dtype,
            device: torch.device) -> torch.Tensor:
    """Scalar parameters as a small device tensor of the compute dtype (cached: no copy per call).

    Layout ``[vals..., 1/recip_of, pi/2 * atan_a1]`` is arranged by the callers; values are
    rounded to ``dtype`` first and the derived ones computed in ``dtype``, as PyTorch does.
    """
    key = (tuple(vals), recip_of, atan_a1, dtype, device)
    t = _params_cache.get(key)
    if t is None:
        if len(_params_cache) > 256:
            _params_cache.clear()
        base = torch.tensor(list(vals), dtype=dtype)
        if recip_of is not None:  # [c, 1/c, ...]: insert the reciprocal after c
            inv = torch.tensor(recip_of, dtype=dtype).reciprocal().reshape(1)
            base = torch.cat([base[:1], inv, base[1:]])
        atan_c = torch.tensor(math.pi / 2, dtype=dtype) * torch.tensor(atan_a1, dtype=dtype)
        t = torch.cat([base, atan_c.reshape(1)]).to(device)
        _params_cache[key] = t
    return t


def _launch_cfg(n: int, device: torch.device, backward: bool) -> Tuple[int, int]:
    """(BLOCK, num_warps): the largest block that still gives every SM a couple of programs."""
    if device.type != "cuda":  # interpreter: small blocks keep numpy fast
        return 64, 1
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _sm_count:
        _sm_count[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    sms = _sm_count[idx]
    top = 512 if backward else 1024
    block = top
    while block > 128 and (n + block - 1) // block < 2 * sms:
        block //= 2
    return block, max(1, min(4, block // 128))


def _run(kernel: Any, n: int, x: torch.Tensor, backward: bool, *args: Any, **meta: Any) -> None:
    block, warps = _launch_cfg(n, x.device, backward)
    grid = ((n + block - 1) // block,)
    if x.device.type == "cuda":
        with torch.cuda.device(x.device):
            kernel[grid](*args, BLOCK=block, num_warps=warps, enable_fp_fusion=False, **meta)
    else:
        kernel[grid](*args, BLOCK=block, num_warps=warps, enable_fp_fusion=False, **meta)


def _nblocks(n: int, x: torch.Tensor, backward: bool) -> int:
    block, _ = _launch_cfg(n, x.device, backward)
    return (n + block - 1) // block


class LIFFunction(torch.autograd.Function):
    """Fused LIF/IF/PLIF over ``x[T, N]``; ``k`` is PLIF's ``1/tau`` tensor (or ``None``)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, v0: torch.Tensor, k: Optional[torch.Tensor], mode: int, c: float,
        vth: float, vr: float, soft: bool, detach: bool, graded: bool, sg: int, a1: float, a2: float,
        vsub: Optional[float] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        K = _k()
        vsub = vth if vsub is None else float(vsub)  # what a soft reset subtracts (LIF reset_delay: vth / beta)
        x, v0 = x.contiguous(), v0.contiguous()
        recip = _check(x, v0)
        if mode not in range(5):
            raise ValueError(f"snnkit triton LIF: charge mode must be one of 0..4, got {mode!r}")
        if sg not in range(6):
            raise ValueError(f"snnkit triton LIF: surrogate code must be one of 0..5, got {sg!r}")
        has_k = k is not None
        if has_k:
            if mode not in (LIF_MUL_DI, LIF_MUL_NDI):
                raise ValueError(f"snnkit triton LIF: k is only used by the multiplicative (PLIF) modes, got mode {mode}")
            kt = k.detach().to(device=x.device, dtype=x.dtype).reshape(1).contiguous()
            p = _params([0.0, vth, vr, a1, a2, vsub], 1.0, a1, x.dtype, x.device)
        else:
            kt = None
            p = _params([c, vth, vr, a1, a2, vsub], c, a1, x.dtype, x.device)
        T, N = x.shape
        out, vT = torch.empty_like(x), torch.empty_like(v0)
        if N > 0:
            _run(K.lif_fwd_kernel, N, x, False, x, v0, out, vT, p, kt if has_k else p, T, N,
                 CH=int(mode), HAS_K=has_k, SOFT=bool(soft), GRADED=bool(graded), RECIP=recip,
                 IS_F64=x.dtype == torch.float64)
        ctx.save_for_backward(x, v0, kt)
        ctx.args = (mode, p, recip, soft, detach, graded, sg, has_k, k.shape if has_k else None,
                    k.dtype if has_k else None)
        return out, vT

    @staticmethod
    @first_order_only("snnkit triton LIF kernel")
    def backward(ctx: Any, gout: Optional[torch.Tensor], gvT: Optional[torch.Tensor]) -> Tuple[Any, ...]:
        K = _k()
        x, v0, kt = ctx.saved_tensors
        mode, p, recip, soft, detach, graded, sg, has_k, k_shape, k_dtype = ctx.args
        T, N = x.shape
        gout = torch.zeros_like(x) if gout is None else gout.to(x.dtype).contiguous()
        gvT = None if gvT is None else gvT.to(x.dtype).contiguous()
        gx, gv0 = torch.empty_like(x), torch.empty_like(v0)
        gk = None
        if N > 0:
            nb = _nblocks(N, x, True)
            gk_part = torch.empty(nb, dtype=x.dtype, device=x.device) if has_k else p
            _run(K.lif_bwd_kernel, N, x, True, x, v0, gout, gvT if gvT is not None else p, gx, gv0, gk_part, p,
                 kt if has_k else p, T, N, (T - 1) * N,
                 CH=int(mode), SG=int(sg), HAS_K=has_k, SOFT=bool(soft), DETACH=bool(detach),
                 GRADED=bool(graded), HAS_GVT=gvT is not None, RECIP=recip, IS_F64=x.dtype == torch.float64)
            if has_k:
                gk = gk_part.sum(dtype=torch.float64).to(k_dtype).reshape(k_shape)
        elif has_k:
            gk = torch.zeros(k_shape, dtype=k_dtype, device=x.device)
        return (gx, gv0, gk) + (None,) * 11


class CubaFunction(torch.autograd.Function):
    """Fused CUBA LIF (Lava ``LIF`` float dynamics) over ``x[T, N]``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, u0: torch.Tensor, v0: torch.Tensor, omdu: float, omdv: float, vth: float,
        bias: float, detach: bool, graded: bool, sg: int, a1: float, a2: float,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        K = _k()
        x, u0, v0 = x.contiguous(), u0.contiguous(), v0.contiguous()
        _check(x, u0, v0)
        if sg not in range(6):
            raise ValueError(f"snnkit triton CUBA: surrogate code must be one of 0..5, got {sg!r}")
        p = _params([omdu, omdv, vth, bias, a1, a2], None, a1, x.dtype, x.device)
        T, N = x.shape
        out, uT, vT = torch.empty_like(x), torch.empty_like(u0), torch.empty_like(v0)
        if N > 0:
            _run(K.cuba_fwd_kernel, N, x, False, x, u0, v0, out, uT, vT, p, T, N, GRADED=bool(graded))
        ctx.save_for_backward(x, u0, v0)
        ctx.args = (p, detach, graded, sg)
        return out, uT, vT

    @staticmethod
    @first_order_only("snnkit triton CUBA kernel")
    def backward(
        ctx: Any, gout: Optional[torch.Tensor], guT: Optional[torch.Tensor], gvT: Optional[torch.Tensor]
    ) -> Tuple[Any, ...]:
        K = _k()
        x, u0, v0 = ctx.saved_tensors
        p, detach, graded, sg = ctx.args
        T, N = x.shape
        gout = torch.zeros_like(x) if gout is None else gout.to(x.dtype).contiguous()
        guT = None if guT is None else guT.to(x.dtype).contiguous()
        gvT = None if gvT is None else gvT.to(x.dtype).contiguous()
        gx, gu0, gv0 = torch.empty_like(x), torch.empty_like(u0), torch.empty_like(v0)
        if N > 0:
            _run(K.cuba_bwd_kernel, N, x, True, x, u0, v0, gout, guT if guT is not None else p,
                 gvT if gvT is not None else p, gx, gu0, gv0, p, T, N, (T - 1) * N,
                 SG=int(sg), DETACH=bool(detach), GRADED=bool(graded), HAS_GUT=guT is not None,
                 HAS_GVT=gvT is not None)
        return (gx, gu0, gv0) + (None,) * 9
