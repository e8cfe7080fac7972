"""RWKV-4 WKV as Triton kernels (the GPU form of ``snnkit/kernels/cpu/wkv_kernels.cpp``).

Importing this module imports ``triton`` and defines the kernels; :func:`snnkit.kernels.wkv.wkv`
imports it only when ``backend="triton"`` is used (or picked by ``auto`` for CUDA tensors).
The kernels run on CUDA tensors, or on CPU tensors under Triton's interpreter when
``TRITON_INTERPRET=1`` was set before this module was first imported (the tests do that).

Layout and arithmetic are those of the C++ kernel: ``k, v, y, gy, gk, gv`` are contiguous
``[T, N]`` (time-major ``[T, B, C]`` with ``N = B*C``), ``w, u`` are ``[C]`` (the channel of
column ``n`` is ``n % C``), the state ``(a, b, p)`` is ``[N]`` with the running sums
``A = a*e^p``, ``B = b*e^p`` and ``p`` their largest exponent. Each program owns ``BLOCK``
neighbouring columns and loops over ``T``, keeping the state in registers.

Backward: the forward saves only its inputs. The backward kernel re-runs the forward of its
columns and parks the state before each step in the ``gk`` and ``gv`` buffers it is about to
fill (``a_t``, ``b_t``) and in one ``[T, N]`` scratch tensor (``p_t``), then runs the adjoint
recurrence backwards in scaled form ``alpha = ga*e^r`` (every exponent evaluated is <= 0),
reading the state of step ``t`` before overwriting it with ``gk[t]``, ``gv[t]``. The gradients
of ``w`` and ``u`` are accumulated per column in float64 and written per column; the wrapper
sums them over the batch with ``torch.sum`` (deterministic: no atomics).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
import triton
import triton.language as tl

from .._autograd import first_order_only

__all__ = ["WKVFunction", "wkv_triton", "interpreting"]

NEG = -1e38  # the exponent of an empty sum (same as snnkit.kernels.wkv.NEG)
_DTYPES = (torch.float32, torch.float64)
_sm_count: dict = {}


@triton.jit
def _div(a, b, IS_F64: tl.constexpr):
    if IS_F64:
        r = a / b
    else:
        r = tl.math.div_rn(a, b)  # plain ``/`` may be approximate for float32 on GPUs
    return r


@triton.jit
def wkv_fwd_kernel(
    w_ptr, u_ptr, k_ptr, v_ptr, a0_ptr, b0_ptr, p0_ptr, y_ptr, aT_ptr, bT_ptr, pT_ptr, T, N, C,
    IS_F64: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ch = offs % C
    w = tl.load(w_ptr + ch, mask=mask, other=0)
    u = tl.load(u_ptr + ch, mask=mask, other=0)
    a = tl.load(a0_ptr + offs, mask=mask, other=0)
    b = tl.load(b0_ptr + offs, mask=mask, other=1)
    p = tl.load(p0_ptr + offs, mask=mask, other=0)
    kp = k_ptr + offs
    vp = v_ptr + offs
    yp = y_ptr + offs
    for _t in range(T):
        kk = tl.load(kp, mask=mask, other=0)
        vv = tl.load(vp, mask=mask, other=0)
        uk = u + kk
        q = tl.maximum(p, uk)
        e1 = tl.exp(p - q)
        e2 = tl.exp(uk - q)
        tl.store(yp, _div(e1 * a + e2 * vv, e1 * b + e2, IS_F64), mask=mask)
        wp = w + p
        pn = tl.maximum(wp, kk)
        f1 = tl.exp(wp - pn)
        f2 = tl.exp(kk - pn)
        a = f1 * a + f2 * vv
        b = f1 * b + f2
        p = pn
        kp += N
        vp += N
        yp += N
    tl.store(aT_ptr + offs, a, mask=mask)
    tl.store(bT_ptr + offs, b, mask=mask)
    tl.store(pT_ptr + offs, p, mask=mask)


@triton.jit
def wkv_bwd_kernel(
    w_ptr, u_ptr, k_ptr, v_ptr, a0_ptr, b0_ptr, p0_ptr, gy_ptr, gaT_ptr, gbT_ptr, gpT_ptr,
    gk_ptr, gv_ptr, sp_ptr, gw_ptr, gu_ptr, ga0_ptr, gb0_ptr, gp0_ptr, T, N, C, LAST,
    HAS_GS: tl.constexpr, IS_F64: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    ch = offs % C
    w = tl.load(w_ptr + ch, mask=mask, other=0)
    u = tl.load(u_ptr + ch, mask=mask, other=0)
    a0 = tl.load(a0_ptr + offs, mask=mask, other=0)
    b0 = tl.load(b0_ptr + offs, mask=mask, other=1)
    p0 = tl.load(p0_ptr + offs, mask=mask, other=0)

    # 1. Re-run the forward, parking the state before each step: a_t in gk, b_t in gv, p_t in sp.
    a = a0
    b = b0
    p = p0
    arg = tl.full([BLOCK], -1, tl.int32)  # which term holds the final max p_T: -1 = initial state, else t
    kp = k_ptr + offs
    vp = v_ptr + offs
    ap = gk_ptr + offs
    bp = gv_ptr + offs
    pp_ = sp_ptr + offs
    for t in range(T):
        tl.store(ap, a, mask=mask)
        tl.store(bp, b, mask=mask)
        tl.store(pp_, p, mask=mask)
        kk = tl.load(kp, mask=mask, other=0)
        vv = tl.load(vp, mask=mask, other=0)
        wp = w + p
        pn = tl.maximum(wp, kk)
        arg = tl.where(kk > wp, t, arg)
        f1 = tl.exp(wp - pn)
        f2 = tl.exp(kk - pn)
        a = f1 * a + f2 * vv
        b = f1 * b + f2
        p = pn
        kp += N
        vp += N
        ap += N
        bp += N
        pp_ += N
    tl.debug_barrier()

    # 2. Adjoint of (A, B) after the last step, in scaled form alpha = ga * e^r.
    if HAS_GS:
        ga = tl.load(gaT_ptr + offs, mask=mask, other=0)
        gb = tl.load(gbT_ptr + offs, mask=mask, other=0)
        r = -p
        # dL/dA_T = gaT e^-p_T; the rest of dL/dp_T goes to the term holding the max (arg)
        gpe = tl.load(gpT_ptr + offs, mask=mask, other=0) - ga * a - gb * b
    else:
        ga = tl.zeros_like(a)
        gb = tl.zeros_like(a)
        r = tl.zeros_like(a) - 1e38  # NEG: an empty adjoint
        gpe = tl.zeros_like(a)
    gwa = tl.zeros([BLOCK], dtype=tl.float64)
    gua = tl.zeros([BLOCK], dtype=tl.float64)

    # 3. Backwards over t.
    kp = k_ptr + offs + LAST
    vp = v_ptr + offs + LAST
    gyp = gy_ptr + offs + LAST
    ap = gk_ptr + offs + LAST
    bp = gv_ptr + offs + LAST
    pp_ = sp_ptr + offs + LAST
    for i in range(T):
        t = T - 1 - i
        kk = tl.load(kp, mask=mask, other=0)
        vv = tl.load(vp, mask=mask, other=0)
        gyt = tl.load(gyp, mask=mask, other=0)
        at = tl.load(ap, mask=mask, other=0)
        bt = tl.load(bp, mask=mask, other=1)
        pt = tl.load(pp_, mask=mask, other=0)
        # the output y_t, recomputed (D_t = d * e^q)
        uk = u + kk
        q = tl.maximum(pt, uk)
        e1 = tl.exp(pt - q)
        e2 = tl.exp(uk - q)
        d = e1 * bt + e2
        yy = _div(e1 * at + e2 * vv, d, IS_F64)
        # through the state update A_{t+1} = e^w A_t + e^k v, B_{t+1} = e^w B_t + e^k
        s = tl.exp(kk + r)
        gvv = s * ga
        gkk = s * (ga * vv + gb)
        gwa += (tl.exp(w + pt + r) * (at * ga + bt * gb)).to(tl.float64)
        # directly through y_t
        g = _div(gyt, d, IS_F64)
        ge = g * e2
        gvv += ge
        gkk += ge * (vv - yy)
        gua += (ge * (vv - yy)).to(tl.float64)
        # dL/dp_T routed to k_t when k_t holds the final max
        gkk += tl.where(arg == t, gpe, tl.zeros_like(gpe))
        tl.store(ap, gkk, mask=mask)
        tl.store(bp, gvv, mask=mask)
        # adjoint of (A_t, B_t): alpha_t = e^w alpha_{t+1} + gy_t / D_t
        wr = w + r
        rn = tl.maximum(wr, -q)
        f1 = tl.exp(wr - rn)
        f2 = tl.exp(-q - rn)
        ga = f1 * ga + f2 * g
        gb = f1 * gb - f2 * g * yy
        r = rn
        kp -= N
        vp -= N
        gyp -= N
        ap -= N
        bp -= N
        pp_ -= N

    # 4. Initial state and the rest of the argmax route of dL/dp_T.
    sc = tl.exp(r + p0)
    ga0 = ga * sc
    gb0 = gb * sc
    init = arg < 0
    gp0 = ga0 * a0 + gb0 * b0 + tl.where(init, gpe, tl.zeros_like(gpe))
    steps = tl.where(init, T, T - 1 - arg)
    gwa += gpe.to(tl.float64) * steps.to(tl.float64)
    tl.store(ga0_ptr + offs, ga0, mask=mask)
    tl.store(gb0_ptr + offs, gb0, mask=mask)
    tl.store(gp0_ptr + offs, gp0, mask=mask)
    tl.store(gw_ptr + offs, gwa, mask=mask)
    tl.store(gu_ptr + offs, gua, mask=mask)


# ---------------------------------------------------------------------------- wrappers
def interpreting() -> bool:
    """True when the kernels were defined under Triton's CPU interpreter (``TRITON_INTERPRET=1``)."""
    return type(wkv_fwd_kernel).__name__ == "InterpretedFunction"


def _check(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *state: torch.Tensor) -> None:
    if k.device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"snnkit triton WKV needs CUDA tensors, got k on {k.device} (use backend='cpu', 'chunked' or "
            "'reference', or set TRITON_INTERPRET=1 before first use to run it in Triton's interpreter)"
        )
    if k.dtype not in _DTYPES:
        raise TypeError(f"snnkit triton WKV takes float32 or float64 tensors, got k of dtype {k.dtype}")
    if k.ndim != 3:
        raise ValueError(f"snnkit triton WKV takes k shaped [T, B, C], got shape {tuple(k.shape)}")
    T, B, C = k.shape
    if B * C >= 2**31:
        raise ValueError(f"snnkit triton WKV indexes columns with int32: B*C must be < 2**31, got {B * C}")
    for name, t, shape in (("w", w, (C,)), ("u", u, (C,)), ("v", v, tuple(k.shape)),
                           ("a", state[0], (B, C)), ("b", state[1], (B, C)), ("p", state[2], (B, C))):
        if t.dtype != k.dtype or t.device != k.device or tuple(t.shape) != shape:
            raise ValueError(f"snnkit triton WKV: {name} of shape {tuple(t.shape)}, {t.dtype} on {t.device} does not "
                             f"match k [T, B, C] = {tuple(k.shape)}, {k.dtype} on {k.device}")


def _launch(kernel: Any, n: int, k: torch.Tensor, *args: Any, **meta: Any) -> None:
    if k.device.type != "cuda":  # interpreter: small blocks keep numpy fast
        block, warps = 64, 1
    else:
        idx = k.device.index if k.device.index is not None else torch.cuda.current_device()
        if idx not in _sm_count:
            _sm_count[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
        block = 128
        while block > 32 and (n + block - 1) // block < 2 * _sm_count[idx]:
            block //= 2
        warps = max(1, block // 32)
    grid = ((n + block - 1) // block,)
    if k.device.type == "cuda":
        with torch.cuda.device(k.device):
            kernel[grid](*args, BLOCK=block, num_warps=warps, enable_fp_fusion=False, **meta)
    else:
        kernel[grid](*args, BLOCK=block, num_warps=warps, enable_fp_fusion=False, **meta)


class WKVFunction(torch.autograd.Function):
    """Triton WKV over contiguous ``k, v [T, B, C]`` (float32/float64) with state ``(a, b, p)``.

    Same signature and semantics as :class:`snnkit.kernels.wkv.WKVFunction` (the CPU kernel).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a0: torch.Tensor,
        b0: torch.Tensor, p0: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        w, u, k, v, a0, b0, p0 = (t.contiguous() for t in (w, u, k, v, a0, b0, p0))
        _check(w, u, k, v, a0, b0, p0)
        T, B, C = k.shape
        N = B * C
        y, aT, bT, pT = torch.empty_like(k), torch.empty_like(a0), torch.empty_like(b0), torch.empty_like(p0)
        if N > 0:
            _launch(wkv_fwd_kernel, N, k, w, u, k, v, a0, b0, p0, y, aT, bT, pT, T, N, C,
                    IS_F64=k.dtype == torch.float64)
        ctx.save_for_backward(w, u, k, v, a0, b0, p0)
        return y, aT, bT, pT

    @staticmethod
    @first_order_only("snnkit triton WKV kernel")
    def backward(ctx: Any, gy: Optional[torch.Tensor], gaT: Optional[torch.Tensor], gbT: Optional[torch.Tensor],
                 gpT: Optional[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        w, u, k, v, a0, b0, p0 = ctx.saved_tensors
        T, B, C = k.shape
        N = B * C
        gy = torch.zeros_like(k) if gy is None else gy.to(k.dtype).contiguous()
        has_gs = not (gaT is None and gbT is None and gpT is None)
        if has_gs:
            gaT, gbT, gpT = (torch.zeros_like(a0) if g is None else g.to(k.dtype).contiguous()
                             for g in (gaT, gbT, gpT))
        gk, gv = torch.empty_like(k), torch.empty_like(v)
        ga0, gb0, gp0 = torch.empty_like(a0), torch.empty_like(b0), torch.empty_like(p0)
        gw = torch.empty(B, C, dtype=torch.float64, device=k.device)
        gu = torch.empty(B, C, dtype=torch.float64, device=k.device)
        if N > 0:
            sp = torch.empty_like(k)  # p_t, re-computed by the kernel
            _launch(wkv_bwd_kernel, N, k, w, u, k, v, a0, b0, p0, gy,
                    *((gaT, gbT, gpT) if has_gs else (a0, a0, a0)),
                    gk, gv, sp, gw, gu, ga0, gb0, gp0, T, N, C, max(T - 1, 0) * N,
                    HAS_GS=has_gs, IS_F64=k.dtype == torch.float64)
        else:
            gw.zero_()
            gu.zero_()
        return gw.sum(0).to(w.dtype), gu.sum(0).to(u.dtype), gk, gv, ga0, gb0, gp0


def wkv_triton(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               state: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
               ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The Triton kernels (float32 or float64); same contract as :func:`snnkit.kernels.wkv.wkv_cpu`."""
    y, a, b, p = WKVFunction.apply(w, u, k, v, *state)
    return y, (a, b, p)
