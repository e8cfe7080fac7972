"""Fused kernels against the reference loop: spikes bit for bit, states and gradients close.

Property-based over shapes, parameters, every surrogate and reset mode.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List

import pytest
import torch
from hypothesis import given, settings, strategies as st

import snnkit.kernels.cpu as cpu_kernels
from snnkit import functional as F
from snnkit import surrogate as S

pytestmark = pytest.mark.skipif(not cpu_kernels.available(), reason=f"CPU kernels unavailable: {cpu_kernels.error()}")

SURROGATES = [S.ATan(2.0), S.Sigmoid(4.0), S.FastSigmoid(25.0), S.Triangle(0.7, 1.3), S.Rectangular(1.5),
              S.PiecewiseQuadratic(1.0)]


def _run(fn: Callable, x: torch.Tensor, state, backend: str, **kw):
    """Forward and backward with random upstream gradients on spikes and final state."""
    xs = x.detach().clone().requires_grad_()
    states = [s.detach().clone().requires_grad_() for s in (state if isinstance(state, tuple) else (state,))]
    extra = {}
    params = [xs, *states]
    if "w" in kw:
        extra["w"] = kw.pop("w").detach().clone().requires_grad_()
        params.append(extra["w"])
    st_arg = tuple(states) if isinstance(state, tuple) else states[0]
    s, v = fn(xs, st_arg, backend=backend, **kw, **extra)
    vs = v if isinstance(v, tuple) else (v,)
    g = torch.Generator().manual_seed(1)
    loss = (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    loss = loss + sum((q * torch.randn(q.shape, generator=g, dtype=q.dtype)).sum() for q in vs)
    grads = torch.autograd.grad(loss, params)
    return s.detach(), [q.detach() for q in vs], grads


def _agree(fn: Callable, x: torch.Tensor, state, tol: float, **kw) -> Dict[str, float]:
    ref = _run(fn, x, state, "reference", **dict(kw))
    fast = _run(fn, x, state, "cpu", **dict(kw))
    assert torch.equal(ref[0], fast[0]), "spikes differ"
    for a, b in zip(ref[1], fast[1]):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(ref[2], fast[2]):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)
    return {"rate": ref[0].abs().gt(0).float().mean().item()}


shapes = st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(1, 300))
dtypes = st.sampled_from([torch.float32, torch.float64])
TOL = {torch.float32: 2e-4, torch.float64: 1e-10}


@settings(max_examples=40, deadline=None)
@given(shape=shapes, dtype=dtypes, sg=st.sampled_from(SURROGATES), tau=st.floats(1.0, 8.0),
       decay_input=st.booleans(), reset=st.sampled_from([0.0, -0.5, None]), detach=st.booleans(),
       graded=st.booleans(), scale=st.floats(0.2, 3.0))
def test_lif_fast_equals_reference(shape, dtype, sg, tau, decay_input, reset, detach, graded, scale) -> None:
    x = torch.randn(shape, dtype=dtype) * scale
    v0 = torch.rand(shape[1:], dtype=dtype) * 0.5
    _agree(F.lif_multistep, x, v0, TOL[dtype], tau=tau, decay_input=decay_input, v_reset=reset,
           detach_reset=detach, graded=graded, surrogate=sg)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, dtype=dtypes, sg=st.sampled_from(SURROGATES), reset=st.sampled_from([0.0, None]),
       detach=st.booleans(), graded=st.booleans())
def test_if_fast_equals_reference(shape, dtype, sg, reset, detach, graded) -> None:
    x = torch.randn(shape, dtype=dtype) * 0.6
    _agree(F.if_multistep, x, torch.zeros(shape[1:], dtype=dtype), TOL[dtype], v_reset=reset,
           detach_reset=detach, graded=graded, surrogate=sg)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, dtype=dtypes, sg=st.sampled_from(SURROGATES), w=st.floats(-2.0, 2.0),
       decay_input=st.booleans(), reset=st.sampled_from([0.0, None]), detach=st.booleans(), graded=st.booleans())
def test_plif_fast_equals_reference(shape, dtype, sg, w, decay_input, reset, detach, graded) -> None:
    x = torch.randn(shape, dtype=dtype) * 1.5
    # gradient of w sums over all neurons: scale the tolerance with their number
    tol = TOL[dtype] * (10 if dtype == torch.float32 else 1)
    _agree(F.plif_multistep, x, torch.zeros(shape[1:], dtype=dtype), tol, w=torch.tensor(w, dtype=dtype),
           decay_input=decay_input, v_reset=reset, detach_reset=detach, graded=graded, surrogate=sg)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, dtype=dtypes, sg=st.sampled_from(SURROGATES), du=st.floats(0.0, 1.0),
       dv=st.floats(0.0, 1.0), bias=st.floats(-0.2, 0.2), detach=st.booleans(), graded=st.booleans())
def test_cuba_fast_equals_reference(shape, dtype, sg, du, dv, bias, detach, graded) -> None:
    x = torch.randn(shape, dtype=dtype) * 0.8
    state = (torch.randn(shape[1:], dtype=dtype) * 0.3, torch.rand(shape[1:], dtype=dtype) * 0.5)
    _agree(F.cuba_lif_multistep, x, state, TOL[dtype], du=du, dv=dv, bias=bias, detach_reset=detach,
           graded=graded, surrogate=sg)


@pytest.mark.parametrize("sg", SURROGATES, ids=lambda s: s.name)
def test_every_surrogate_reaches_the_input(sg: S.Surrogate) -> None:
    """No surrogate may give zero gradients in the fused path (the SpikingJelly Triton bug)."""
    x = (torch.rand(6, 2, 50) * 0.4 + 0.8).requires_grad_()  # h near threshold from the first step
    s, _ = F.lif_multistep(x, surrogate=sg, backend="cpu", tau=1.0)
    s.sum().backward()
    assert x.grad.abs().sum() > 0


def test_large_batch_uses_several_blocks_and_threads() -> None:
    x = torch.randn(9, 8, 1031) * 1.2  # 74k element-steps: two OpenMP threads, 33 blocks
    _agree(F.lif_multistep, x, torch.zeros(8, 1031), 2e-4, tau=2.5)


def test_low_precision_inputs_are_computed_in_float32() -> None:
    x = torch.randn(5, 4, 64).to(torch.bfloat16)
    s_fast, v_fast = F.lif_multistep(x, backend="cpu")
    s_ref, v_ref = F.lif_multistep(x.float(), backend="reference")
    assert s_fast.dtype == torch.bfloat16
    assert torch.equal(s_fast.float(), s_ref)


def test_forward_saves_no_membrane_sequence() -> None:
    """The fused kernel saves for backward only the input and initial state (no [T, ...] potentials)."""
    saved: List[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    x = torch.randn(16, 8, 512, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s, v = F.lif_multistep(x, backend="cpu")
    big = [t for t in saved if t.numel() >= x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()


@pytest.mark.parametrize("neuron", ["lif", "plif", "cuba"])
def test_second_order_gradients_raise_instead_of_dropping_the_kernel_term(neuron: str) -> None:
    """A gradient penalty through the fused backward: the reference gives a non-zero second-order
    gradient; the kernel's backward is first-order only, so it must raise, not give 0 or None."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(9, 9, generator=g, dtype=torch.float64, requires_grad=True)
    w_plif = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    inp = torch.randn(6, 2, 9, generator=g, dtype=torch.float64)

    def penalty_grad(backend: str) -> torch.Tensor:
        x = inp @ weight
        if neuron == "lif":
            s, v = F.lif_multistep(x, backend=backend)
        elif neuron == "plif":
            s, v = F.plif_multistep(x, w=w_plif, backend=backend)
        else:
            s, (_, v) = F.cuba_lif_multistep(x, du=0.3, dv=0.2, backend=backend)
        first, = torch.autograd.grad(s.sum(), weight, create_graph=True)
        loss = (first ** 2).sum() + (x ** 2).sum() * 1e-3  # the penalty plus a term that needs no kernel
        return torch.autograd.grad(loss, weight)[0]

    ref = penalty_grad("reference")
    plain = 2e-3 * inp.reshape(-1, 9).T @ (inp.reshape(-1, 9) @ weight.detach())  # the second term alone
    assert (ref - plain).abs().max() > 1e-3  # the penalty's own (second-order) part is not zero
    with pytest.raises(RuntimeError, match="first-order gradients only.*backend='reference'"):
        penalty_grad("cpu")


def test_create_graph_keeps_first_order_gradients() -> None:
    """create_graph=True with no second differentiation: the same gradients as a plain backward."""
    x = (torch.randn(5, 3, 40, dtype=torch.float64) * 1.5).requires_grad_()
    s, v = F.lif_multistep(x, backend="cpu")
    plain, = torch.autograd.grad(s.sum() + v.sum(), x, retain_graph=True)
    graphed, = torch.autograd.grad(s.sum() + v.sum(), x, create_graph=True)
    assert torch.equal(plain, graphed.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau,v_th,v_reset", [(2.0, 1.0, 0.0), (3.7, 0.6, -0.3)])
def test_lif_step_is_one_token_of_the_reference(dtype, tau, v_th, v_reset) -> None:
    # the recurrent step's neurons (SpikeGPT): spikes and membranes bit for bit against the reference loop
    from snnkit.kernels.cpu.ops import lif_step

    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 300, generator=g, dtype=dtype) * 2
    v = torch.randn(5, 300, generator=g, dtype=dtype)
    s, vn = lif_step(x, v, tau, v_th, v_reset)
    s_ref, v_ref = F.lif_multistep(x[None], v, tau=tau, v_threshold=v_th, v_reset=v_reset, backend="reference")
    assert 0 < int(s.sum()) < s.numel()
    assert torch.equal(s, s_ref[0]) and torch.equal(vn, v_ref)
    assert lif_step(x.half(), v.half(), tau, v_th, v_reset) is None  # not the kernel's: the caller's formulas


def _lif_kernel_formulas(x, v0, go, tau, decay_input):
    """The fused LIF backward (hard reset to 0, threshold 1, detach_reset, binary spikes, atan alpha 2), op by op:
    every division by tau is a true division of tensors, as neuron_kernels.cpp writes it."""
    full = lambda val: torch.full_like(v0, val)  # noqa: E731 - tensors, so no op becomes a multiply by 1/scalar
    c, vth, vr, one = full(tau), full(1.0), full(0.0), full(1.0)
    hs, v = [], v0
    for t in range(x.shape[0]):
        h = v + (x[t] - (v - vr)) / c if decay_input else v - (v - vr) / c + x[t]
        hs.append(h)
        v = torch.where(h >= vth, vr, h)
    cz = torch.tensor(math.pi / 2, dtype=x.dtype) * torch.tensor(2.0, dtype=x.dtype)
    half_a1 = torch.tensor(2.0, dtype=x.dtype) / torch.tensor(2.0, dtype=x.dtype)
    g, gx = torch.zeros_like(v0), torch.empty_like(x)
    for t in reversed(range(x.shape[0])):
        h = hs[t]
        z = cz * (h - vth)
        gh = go[t] * (half_a1 / (one + z * z)) + g * (one - (h >= vth).to(x.dtype))
        gx[t] = gh / c if decay_input else gh
        g = gh - gh / c
    return torch.stack(hs), gx, g


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0, 1024.0, 3.0, 1.7])
@pytest.mark.parametrize("decay_input", [True, False])
def test_lif_kernel_divides_by_tau_bit_for_bit(dtype, tau, decay_input) -> None:
    """A power-of-two tau multiplies by 1/tau in the kernel (faster than a vector divide): the same bits as dividing,
    subnormal gradients included; any other tau still divides."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(7, 3, 300, generator=gen, dtype=dtype) * 1.2 + 0.3).requires_grad_()
    v0 = (torch.rand(3, 300, generator=gen, dtype=dtype) * 0.5).requires_grad_()
    go = torch.randn(7, 3, 300, generator=gen, dtype=dtype)
    go[:, :, :50] *= torch.finfo(dtype).tiny * 3  # dividing these by tau rounds in the subnormal range
    s, v = F.lif_multistep(x, v0, tau=tau, decay_input=decay_input, v_reset=0.0, detach_reset=True, backend="cpu")
    gx, gv0 = torch.autograd.grad(s, (x, v0), go)
    h, rx, rv = _lif_kernel_formulas(x.detach(), v0.detach(), go, tau, decay_input)
    assert torch.equal(s, (h >= 1.0).to(dtype))
    assert torch.equal(gx, rx) and torch.equal(gv0, rv)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("detach,graded", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("tau", [2.0, 1.0 / (1.0 - 0.95), 1.25])
def test_lif_reset_delay_cpu_vs_reference(tau: float, detach: bool, graded: bool, dtype: torch.dtype) -> None:
    """reset_delay=True (soft reset subtracting v_threshold / beta): fused kernel == reference loop."""
    g = torch.Generator().manual_seed(7)
    x = (0.4 + 0.9 * torch.randn(40, 3, 150, generator=g)).to(dtype)
    v0 = (0.3 * torch.randn(3, 150, generator=g)).to(dtype)
    kw = dict(tau=tau, decay_input=False, v_threshold=0.8, v_reset=None, detach_reset=detach, graded=graded,
              surrogate=S.ATan(2.0), reset_delay=True)
    stats = _agree(F.lif_multistep, x, v0, TOL[dtype], **kw)
    assert 0.05 < stats["rate"] < 0.8
    plain = F.lif_multistep(x, v0, **{**kw, "reset_delay": False}, backend="cpu")[0]
    assert not torch.equal(plain, F.lif_multistep(x, v0, **kw, backend="cpu")[0])  # the option changes the dynamics
