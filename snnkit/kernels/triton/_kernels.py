"""Triton kernels for the fused multi-step neurons (imported only when a kernel is used).

Layout: ``x``, spikes and gradients are contiguous ``[T, N]``, states ``[N]``. Each program
owns ``BLOCK`` neighbouring neurons and loops over ``T`` itself, keeping the state in
registers; the pointers advance by ``N`` per step (64-bit pointer arithmetic, so ``T * N``
may exceed 2**31).

Arithmetic mirrors :mod:`snnkit.functional.reference` operation by operation and is
compiled with ``enable_fp_fusion=False`` (no FMA contraction), so forward spikes and final
states match the reference bit for bit on the same device. One device-specific detail:
PyTorch on CUDA evaluates ``tensor / python_float`` as ``tensor * (1 / float)`` (see
``div_true_kernel_cuda``), while on the CPU it divides. ``RECIP`` selects the CUDA form
(multiply by the host-computed reciprocal) and is set when the tensors live on a CUDA
device; otherwise an IEEE round-to-nearest division is used (the CPU/interpreter form).

Backward: the forward saves only ``x`` and the initial state. The backward kernel first
re-integrates ``h[t]`` (charge before firing) for its neurons and parks it in the ``gx``
output buffer it is about to overwrite (no extra memory), then runs the recurrence
backwards, reading ``h[t]`` and ``h[t-1]`` and writing ``gx[t]`` in place of ``h[t]``.
"""
from __future__ import annotations

import triton
import triton.language as tl

# ---------------------------------------------------------------------------- helpers


@triton.jit
def _div(a, c, inv_c, RECIP: tl.constexpr, IS_F64: tl.constexpr):
    """``a / c`` as the reference computes it on this device (see the module docstring)."""
    if RECIP:
        r = a * inv_c
    elif IS_F64:
        r = a / c  # float64 division is IEEE round-to-nearest in Triton
    else:
        r = tl.math.div_rn(a, c)  # plain ``/`` may be approximate for float32 on GPUs
    return r


@triton.jit
def _charge(x, v, c, inv_c, vr, CH: tl.constexpr, RECIP: tl.constexpr, IS_F64: tl.constexpr):
    """Charge ``h`` from input ``x`` and potential ``v`` (modes as in ``ops``: IF, LIF div/mul, DI/NDI)."""
    if CH == 0:  # IF
        h = v + x
    elif CH == 1:  # LIF_DIV_DI: v + (x - (v - vr)) / tau
        h = v + _div(x - (v - vr), c, inv_c, RECIP, IS_F64)
    elif CH == 2:  # LIF_DIV_NDI: v - (v - vr) / tau + x
        h = v - _div(v - vr, c, inv_c, RECIP, IS_F64) + x
    elif CH == 3:  # LIF_MUL_DI (PLIF): v + (x - (v - vr)) * k
        h = v + (x - (v - vr)) * c
    else:  # LIF_MUL_NDI (PLIF): v - (v - vr) * k + x
        h = v - (v - vr) * c + x
    return h


@triton.jit
def _reset(h, spk, vsub, vr, SOFT: tl.constexpr):
    """After a spike: subtract ``vsub`` (soft: ``v_threshold``, or ``v_threshold / beta`` for reset_delay) or set ``vr``."""
    if SOFT:
        v = tl.where(spk, h - vsub, h)
    else:
        v = tl.where(spk, vr, h)
    return v


@triton.jit
def _sgrad(x, a1, a2, atan_c, SG: tl.constexpr):
    """Surrogate derivative at ``x = h - v_threshold`` (formulas of :mod:`snnkit.surrogate`)."""
    if SG == 0:  # ATan: a1 / 2 / (1 + (pi/2 * a1 * x)^2); atan_c = pi/2 * a1
        z = atan_c * x
        r = a1 / 2 / (1 + z * z)
    elif SG == 1:  # Sigmoid
        s = 1 / (1 + tl.exp(-a1 * x))
        r = a1 * s * (1 - s)
    elif SG == 2:  # FastSigmoid (SuperSpike)
        d = a1 * tl.abs(x) + 1
        r = 1 / (d * d)
    elif SG == 3:  # Triangle: gamma * max(0, 1 - |x| / width)
        r = a1 * tl.maximum(1 - tl.abs(x) / a2, 0)
    elif SG == 4:  # Rectangular: alpha where |x| < 0.5 / alpha
        r = tl.where(tl.abs(x) < 0.5 / a1, a1, tl.zeros_like(x))
    else:  # PiecewiseQuadratic: max(0, alpha - alpha^2 |x|)
        r = tl.maximum(a1 - a1 * a1 * tl.abs(x), 0)
    return r


# ---------------------------------------------------------------------------- LIF / IF / PLIF


@triton.jit
def lif_fwd_kernel(
    x_ptr, v0_ptr, out_ptr, vT_ptr, p_ptr, k_ptr, T, N,
    CH: tl.constexpr, HAS_K: tl.constexpr, SOFT: tl.constexpr, GRADED: tl.constexpr,
    RECIP: tl.constexpr, IS_F64: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    # params: [c, 1/c, v_threshold, v_reset, a1, a2, soft-reset amount, pi/2*a1]; PLIF reads k = 1/tau from k_ptr
    if HAS_K:
        c = tl.load(k_ptr)
    else:
        c = tl.load(p_ptr)
    inv_c = tl.load(p_ptr + 1)
    vth = tl.load(p_ptr + 2)
    vr = tl.load(p_ptr + 3)
    vsub = tl.load(p_ptr + 6)
    v = tl.load(v0_ptr + offs, mask=mask, other=0)
    xp = x_ptr + offs
    op = out_ptr + offs
    for _t in range(T):
        xt = tl.load(xp, mask=mask, other=0)
        h = _charge(xt, v, c, inv_c, vr, CH, RECIP, IS_F64)
        spk = h >= vth
        if GRADED:
            o = tl.where(spk, h, tl.zeros_like(h))
        else:
            o = spk.to(h.dtype)
        tl.store(op, o, mask=mask)
        v = _reset(h, spk, vsub, vr, SOFT)
        xp += N
        op += N
    tl.store(vT_ptr + offs, v, mask=mask)


@triton.jit
def lif_bwd_kernel(
    x_ptr, v0_ptr, gout_ptr, gvT_ptr, gx_ptr, gv0_ptr, gk_ptr, p_ptr, k_ptr, T, N, LAST,
    CH: tl.constexpr, SG: tl.constexpr, HAS_K: tl.constexpr, SOFT: tl.constexpr, DETACH: tl.constexpr,
    GRADED: tl.constexpr, HAS_GVT: tl.constexpr, RECIP: tl.constexpr, IS_F64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    if HAS_K:
        c = tl.load(k_ptr)
    else:
        c = tl.load(p_ptr)
    inv_c = tl.load(p_ptr + 1)
    vth = tl.load(p_ptr + 2)
    vr = tl.load(p_ptr + 3)
    a1 = tl.load(p_ptr + 4)
    a2 = tl.load(p_ptr + 5)
    vsub = tl.load(p_ptr + 6)
    atan_c = tl.load(p_ptr + 7)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0)

    # pass 1: re-integrate h[t] (exactly as the forward) and park it in gx
    v = v0
    xp = x_ptr + offs
    hp = gx_ptr + offs
    for _t in range(T):
        xt = tl.load(xp, mask=mask, other=0)
        h = _charge(xt, v, c, inv_c, vr, CH, RECIP, IS_F64)
        tl.store(hp, h, mask=mask)
        v = _reset(h, h >= vth, vsub, vr, SOFT)
        xp += N
        hp += N
    tl.debug_barrier()

    # pass 2: reverse recurrence; g = dL/dv_t (after reset), starts from the final-state grad
    if HAS_GVT:
        g = tl.load(gvT_ptr + offs, mask=mask, other=0)
    else:
        g = tl.zeros_like(v0)
    gk_acc = tl.zeros_like(v0)
    xp = x_ptr + offs + LAST
    gp = gx_ptr + offs + LAST
    gop = gout_ptr + offs + LAST
    h = tl.load(gp, mask=mask, other=0)
    for i in range(T):
        has_prev = (tl.zeros_like(offs) + i) < T - 1  # t = T - 1 - i > 0 (as a vector: mask-friendly)
        h_prev = tl.load(gp - N, mask=mask & has_prev, other=0)
        spk = h >= vth
        s = spk.to(h.dtype)
        sg = _sgrad(h - vth, a1, a2, atan_c, SG)
        go = tl.load(gop, mask=mask, other=0)
        if GRADED:
            gs = go * h
        else:
            gs = go
        if not DETACH:
            if SOFT:
                gs += g * (-vsub)
            else:
                gs += g * (vr - h)
        if SOFT:
            gh = gs * sg + g
        else:
            gh = gs * sg + g * (1 - s)
        if GRADED:
            gh += go * s
        if CH == 1:
            gxt = _div(gh, c, inv_c, RECIP, IS_F64)
        elif CH == 3:
            gxt = gh * c
        else:
            gxt = gh
        tl.store(gp, gxt, mask=mask)
        if HAS_K:
            vp = tl.where(has_prev, _reset(h_prev, h_prev >= vth, vsub, vr, SOFT), v0)
            if CH == 3:
                xt = tl.load(xp, mask=mask, other=0)
                dk = xt - (vp - vr)
            else:
                dk = -(vp - vr)
            gk_acc += tl.where(mask, gh * dk, tl.zeros_like(gh))
        if CH == 0:
            g = gh
        elif CH == 1 or CH == 2:
            g = gh - _div(gh, c, inv_c, RECIP, IS_F64)
        else:
            g = gh * (1 - c)
        h = h_prev
        xp -= N
        gp -= N
        gop -= N
    tl.store(gv0_ptr + offs, g, mask=mask)
    if HAS_K:
        tl.store(gk_ptr + pid, tl.sum(gk_acc, axis=0))


# ---------------------------------------------------------------------------- CUBA LIF (Lava)


@triton.jit
def cuba_fwd_kernel(
    x_ptr, u0_ptr, v0_ptr, out_ptr, uT_ptr, vT_ptr, p_ptr, T, N,
    GRADED: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    # params: [1 - du, 1 - dv, v_threshold, bias, a1, a2, pi/2*a1]
    omdu = tl.load(p_ptr)
    omdv = tl.load(p_ptr + 1)
    vth = tl.load(p_ptr + 2)
    bias = tl.load(p_ptr + 3)
    u = tl.load(u0_ptr + offs, mask=mask, other=0)
    v = tl.load(v0_ptr + offs, mask=mask, other=0)
    xp = x_ptr + offs
    op = out_ptr + offs
    for _t in range(T):
        xt = tl.load(xp, mask=mask, other=0)
        u = u * omdu + xt
        h = v * omdv + u + bias
        spk = h > vth  # strict, as Lava
        if GRADED:
            o = tl.where(spk, h, tl.zeros_like(h))
        else:
            o = spk.to(h.dtype)
        tl.store(op, o, mask=mask)
        v = tl.where(spk, tl.zeros_like(h), h)
        xp += N
        op += N
    tl.store(uT_ptr + offs, u, mask=mask)
    tl.store(vT_ptr + offs, v, mask=mask)


@triton.jit
def cuba_bwd_kernel(
    x_ptr, u0_ptr, v0_ptr, gout_ptr, guT_ptr, gvT_ptr, gx_ptr, gu0_ptr, gv0_ptr, p_ptr, T, N, LAST,
    SG: tl.constexpr, DETACH: tl.constexpr, GRADED: tl.constexpr, HAS_GUT: tl.constexpr,
    HAS_GVT: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    omdu = tl.load(p_ptr)
    omdv = tl.load(p_ptr + 1)
    vth = tl.load(p_ptr + 2)
    bias = tl.load(p_ptr + 3)
    a1 = tl.load(p_ptr + 4)
    a2 = tl.load(p_ptr + 5)
    atan_c = tl.load(p_ptr + 6)
    u = tl.load(u0_ptr + offs, mask=mask, other=0)
    v = tl.load(v0_ptr + offs, mask=mask, other=0)

    # pass 1: re-integrate h[t] into gx
    xp = x_ptr + offs
    hp = gx_ptr + offs
    for _t in range(T):
        xt = tl.load(xp, mask=mask, other=0)
        u = u * omdu + xt
        h = v * omdv + u + bias
        tl.store(hp, h, mask=mask)
        v = tl.where(h > vth, tl.zeros_like(h), h)
        xp += N
        hp += N
    tl.debug_barrier()

    # pass 2: reverse; gu = dL/du_t from later steps, gv = dL/dv_t (after reset)
    if HAS_GUT:
        gu = tl.load(guT_ptr + offs, mask=mask, other=0)
    else:
        gu = tl.zeros_like(u)
    if HAS_GVT:
        gv = tl.load(gvT_ptr + offs, mask=mask, other=0)
    else:
        gv = tl.zeros_like(v)
    gp = gx_ptr + offs + LAST
    gop = gout_ptr + offs + LAST
    for _i in range(T):
        h = tl.load(gp, mask=mask, other=0)
        s = (h > vth).to(h.dtype)
        sg = _sgrad(h - vth, a1, a2, atan_c, SG)
        go = tl.load(gop, mask=mask, other=0)
        if GRADED:
            gs = go * h
        else:
            gs = go
        if not DETACH:
            gs += gv * (-h)
        gh = gs * sg + gv * (1 - s)
        if GRADED:
            gh += go * s
        gut = gh + gu
        tl.store(gp, gut, mask=mask)
        gu = gut * omdu
        gv = gh * omdv
        gp -= N
        gop -= N
    tl.store(gu0_ptr + offs, gu, mask=mask)
    tl.store(gv0_ptr + offs, gv, mask=mask)
