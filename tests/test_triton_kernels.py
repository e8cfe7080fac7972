"""Triton kernels against the reference loop: spikes and final states bit for bit, gradients close.

With CUDA the kernels are compiled and run on the GPU. Without CUDA they run in Triton's
CPU interpreter (``TRITON_INTERPRET=1``, set here before the kernels are first defined),
on tiny shapes because the interpreter executes every block operation through numpy.
Tests that need Triton are skipped when it is not installed; the import-guard test runs
either way.
"""
from __future__ import annotations

import importlib
import itertools
import os
import sys
from typing import Any, List, Optional, Tuple

import pytest
import torch

from snnkit import functional as F
from snnkit import surrogate as S
from snnkit.functional import reference as R

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    # must precede the first definition of the kernels (triton.jit reads it at decoration time)
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = "cuda" if HAS_CUDA else "cpu"
SURROGATES = [S.ATan(2.0), S.Sigmoid(4.0), S.FastSigmoid(25.0), S.Triangle(0.7, 1.3), S.Rectangular(1.5),
              S.PiecewiseQuadratic(1.0)]
TOL = {torch.float32: 2e-4, torch.float64: 1e-10}
RESETS = [0.0, -0.5, None]  # hard to 0, hard to -0.5, soft


@pytest.fixture(scope="module")
def ops() -> Any:
    """The triton ops module, with kernels compiled for CUDA or defined under the interpreter."""
    pytest.importorskip("triton")
    from snnkit.kernels.triton import ops as mod

    if not HAS_CUDA:
        import snnkit.kernels.triton._kernels as kern

        if type(kern.lif_fwd_kernel).__name__ != "InterpretedFunction":
            pytest.skip("the triton kernels were defined before TRITON_INTERPRET=1 was set in this process "
                        "(no CUDA to compile them for); run this file on its own")
        mod._mod = kern
    return mod


def _data(T: int, N: int, dtype: torch.dtype, scale: float = 1.2, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, generator=g, dtype=dtype) * scale
    v0 = torch.rand(N, generator=g, dtype=dtype) * 0.5
    return x.to(DEVICE), v0.to(DEVICE)


def _loss(outs: List[torch.Tensor], seed: int = 1) -> torch.Tensor:
    """A loss with random upstream gradients on every output (spikes and final states)."""
    g = torch.Generator().manual_seed(seed)
    return sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in outs)


def _compare(fast: List[torch.Tensor], ref: List[torch.Tensor], gfast: Tuple[torch.Tensor, ...],
             gref: Tuple[torch.Tensor, ...], tol: float) -> None:
    assert torch.equal(fast[0], ref[0]), f"spikes differ at {int((fast[0] != ref[0]).sum())} places"
    for a, b in zip(fast[1:], ref[1:]):
        assert torch.equal(a, b), f"final state differs (max {float((a - b).abs().max()):.3g})"
    for a, b in zip(gfast, gref):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _lif_case(ops: Any, mode: int, sg: S.Surrogate, reset: Optional[float], detach: bool, graded: bool,
              dtype: torch.dtype = torch.float32, T: int = 5, N: int = 70, tau: float = 3.0, w: float = 0.3,
              scale: float = 1.2) -> Tuple[torch.Tensor, ...]:
    """Run one LIF-family configuration through the kernel and the reference; compare everything."""
    x, v0 = _data(T, N, dtype, scale)
    vth = 1.0
    a1, a2 = sg.kernel_params()
    decay_input = mode in (ops.LIF_DIV_DI, ops.LIF_MUL_DI)
    plif = mode in (ops.LIF_MUL_DI, ops.LIF_MUL_NDI)

    def run(kernel: bool) -> Tuple[List[torch.Tensor], Tuple[torch.Tensor, ...]]:
        xs, vs = x.clone().requires_grad_(), v0.clone().requires_grad_()
        ws = torch.tensor(w, dtype=dtype, device=DEVICE, requires_grad=True)
        params = [xs, vs, ws] if plif else [xs, vs]
        if kernel:
            k = ws.sigmoid() if plif else None
            c = float(k.detach()) if plif else (1.0 if mode == ops.IF else tau)
            vr = 0.0 if reset is None else reset
            s, v = ops.LIFFunction.apply(xs, vs, k, mode, c, vth, vr, reset is None, detach, graded, sg.code, a1, a2)
        elif mode == ops.IF:
            s, v = R.if_multistep(xs, vs, vth, reset, sg, detach, graded)
        elif plif:
            s, v = R.plif_multistep(xs, vs, ws, decay_input, vth, reset, sg, detach, graded)
        else:
            s, v = R.lif_multistep(xs, vs, tau, decay_input, vth, reset, sg, detach, graded)
        grads = torch.autograd.grad(_loss([s, v]), params)
        return [s.detach(), v.detach()], grads

    fast, gfast = run(True)
    ref, gref = run(False)
    tol = TOL[dtype] * (10 if plif and dtype == torch.float32 else 1)  # w's grad sums over all neurons
    _compare(fast, ref, gfast, gref, tol)
    return gfast


MODES = ["IF", "LIF_DIV_DI", "LIF_DIV_NDI", "LIF_MUL_DI", "LIF_MUL_NDI"]
# every charge mode x every surrogate; reset/detach/graded rotate through their combinations
_FLAGS = list(itertools.product(RESETS, [False, True], [False, True]))
MODE_SG = [(m, i, _FLAGS[(5 * j + i) % len(_FLAGS)]) for j, m in enumerate(MODES) for i in range(6)]


@pytest.mark.parametrize("mode,sg_idx,flags", MODE_SG,
                         ids=[f"{m}-{SURROGATES[i].name}" for m, i, _ in MODE_SG])
def test_lif_family_every_mode_and_surrogate(ops: Any, mode: str, sg_idx: int, flags: tuple) -> None:
    reset, detach, graded = flags
    _lif_case(ops, getattr(ops, mode), SURROGATES[sg_idx], reset, detach, graded)


@pytest.mark.parametrize("detach,graded", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_reset_delay(ops: Any, dtype: torch.dtype, detach: bool, graded: bool) -> None:
    """LIF reset_delay=True: the soft reset subtracts v_threshold / beta; kernel == reference (values, grads)."""
    tau, vth = 1.0 / (1.0 - 0.9), 0.7
    amount = vth / (1.0 - 1.0 / tau)
    x, v0 = _data(12, 70, dtype, 1.0, seed=3)
    x = x + 0.3
    a1, a2 = S.ATan(2.0).kernel_params()

    def run(kernel: bool) -> Tuple[List[torch.Tensor], Tuple[torch.Tensor, ...]]:
        xs, vs = x.clone().requires_grad_(), v0.clone().requires_grad_()
        if kernel:
            s, v = ops.LIFFunction.apply(xs, vs, None, ops.LIF_DIV_NDI, tau, vth, 0.0, True, detach, graded, 0,
                                         a1, a2, amount)
        else:
            s, v = R.lif_multistep(xs, vs, tau, False, vth, None, S.ATan(2.0), detach, graded, reset_delay=True)
        return [s.detach(), v.detach()], torch.autograd.grad(_loss([s, v]), [xs, vs])

    fast, gfast = run(True)
    ref, gref = run(False)
    assert 0.05 < fast[0].gt(0).float().mean().item() < 0.8
    _compare(fast, ref, gfast, gref, TOL[dtype])


@pytest.mark.parametrize("reset,detach,graded", _FLAGS,
                         ids=[f"{'soft' if r is None else f'hard{r}'}-{'detach' if d else 'nodetach'}-"
                              f"{'graded' if g else 'binary'}" for r, d, g in _FLAGS])
@pytest.mark.parametrize("mode", ["LIF_DIV_DI", "LIF_MUL_NDI"])
def test_lif_reset_detach_graded(ops: Any, mode: str, reset: Optional[float], detach: bool, graded: bool) -> None:
    _lif_case(ops, getattr(ops, mode), SURROGATES[0], reset, detach, graded)


@pytest.mark.parametrize("mode", MODES)
def test_lif_float64(ops: Any, mode: str) -> None:
    _lif_case(ops, getattr(ops, mode), SURROGATES[1], None, False, True, dtype=torch.float64)
    _lif_case(ops, getattr(ops, mode), SURROGATES[3], -0.5, True, False, dtype=torch.float64)


@pytest.mark.parametrize("T,N", [(1, 1), (1, 130), (7, 3)])
def test_lif_edge_shapes(ops: Any, T: int, N: int) -> None:
    """One step, one neuron, and a block count that is not a multiple of the block size."""
    _lif_case(ops, ops.LIF_DIV_NDI, SURROGATES[2], 0.0, False, False, T=T, N=N)
    _lif_case(ops, ops.LIF_MUL_DI, SURROGATES[5], None, False, True, T=T, N=N)


@pytest.mark.parametrize("tau", [1.0, 2.0, 7.3])
def test_lif_tau_values(ops: Any, tau: float) -> None:
    """Division by tau: exact for powers of two, rounded otherwise (the reciprocal question)."""
    _lif_case(ops, ops.LIF_DIV_DI, SURROGATES[0], 0.0, False, False, T=6, tau=tau)


@pytest.mark.parametrize("mode", ["LIF_DIV_DI", "LIF_DIV_NDI"])
def test_cuda_division_form(ops: Any, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """On CUDA, PyTorch computes ``t / tau`` as ``t * (1/tau)``; the kernels' RECIP form must match that.

    Forced here on any device, against the reference with its charge written in that form.
    """
    check = ops._check
    monkeypatch.setattr(ops, "_check", lambda *a: check(*a) or True)

    def charge_as_on_cuda(x: torch.Tensor, v: torch.Tensor, tau: float, decay_input: bool,
                          v_reset: Optional[float]) -> torch.Tensor:
        vr = 0.0 if v_reset is None else v_reset
        inv = torch.tensor(tau, dtype=x.dtype).reciprocal().to(x.device)
        return v + (x - (v - vr)) * inv if decay_input else v - (v - vr) * inv + x

    tau = 7.3
    x, v0 = _data(8, 70, torch.float32)
    _, true_div = R.lif_multistep(x, v0, tau, mode == "LIF_DIV_DI", 1.0, None, SURROGATES[0], False, True)
    monkeypatch.setattr(R, "lif_charge", charge_as_on_cuda)
    _, recip = R.lif_multistep(x, v0, tau, mode == "LIF_DIV_DI", 1.0, None, SURROGATES[0], False, True)
    assert not torch.equal(true_div, recip)  # final states differ between the forms: the check below bites
    _lif_case(ops, getattr(ops, mode), SURROGATES[0], None, False, True, T=8, tau=tau)


@pytest.mark.parametrize("sg", SURROGATES, ids=lambda s: s.name)
def test_every_surrogate_reaches_the_input(ops: Any, sg: S.Surrogate) -> None:
    """No surrogate may give zero gradients (the SpikingJelly Triton bug)."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 40, generator=g) * 0.4 + 0.8).to(DEVICE).requires_grad_()
    a1, a2 = sg.kernel_params()
    s, _ = ops.LIFFunction.apply(x, torch.zeros(40, device=DEVICE), None, ops.LIF_DIV_DI, 1.0, 1.0, 0.0, False,
                                 False, False, sg.code, a1, a2)
    s.sum().backward()
    assert x.grad.abs().sum() > 0


def _cuba_case(ops: Any, sg: S.Surrogate, detach: bool, graded: bool, dtype: torch.dtype = torch.float32,
               du: float = 0.3, dv: float = 0.2, bias: float = 0.05, T: int = 6, N: int = 70) -> None:
    x, v0 = _data(T, N, dtype, 0.8)
    g = torch.Generator().manual_seed(5)
    u0 = (torch.randn(N, generator=g, dtype=dtype) * 0.3).to(DEVICE)
    a1, a2 = sg.kernel_params()

    def run(kernel: bool) -> Tuple[List[torch.Tensor], Tuple[torch.Tensor, ...]]:
        xs, us, vs = x.clone().requires_grad_(), u0.clone().requires_grad_(), v0.clone().requires_grad_()
        if kernel:
            s, u, v = ops.CubaFunction.apply(xs, us, vs, 1.0 - du, 1.0 - dv, 1.0, bias, detach, graded, sg.code, a1, a2)
        else:
            s, u, v = R.cuba_multistep(xs, us, vs, du, dv, 1.0, bias, sg, detach, graded)
        return [s.detach(), u.detach(), v.detach()], torch.autograd.grad(_loss([s, u, v]), [xs, us, vs])

    fast, gfast = run(True)
    ref, gref = run(False)
    _compare(fast, ref, gfast, gref, TOL[dtype])


@pytest.mark.parametrize("sg_idx", range(6), ids=[s.name for s in SURROGATES])
def test_cuba_every_surrogate(ops: Any, sg_idx: int) -> None:
    detach, graded = [(False, False), (True, False), (False, True), (True, True)][sg_idx % 4]
    _cuba_case(ops, SURROGATES[sg_idx], detach, graded)


@pytest.mark.parametrize("detach,graded", list(itertools.product([False, True], [False, True])))
def test_cuba_detach_graded(ops: Any, detach: bool, graded: bool) -> None:
    _cuba_case(ops, SURROGATES[0], detach, graded, du=0.7, dv=0.05, bias=-0.1)


def test_cuba_float64_and_edges(ops: Any) -> None:
    _cuba_case(ops, SURROGATES[3], False, True, dtype=torch.float64)
    _cuba_case(ops, SURROGATES[4], False, False, du=1.0, dv=0.0, T=1, N=1)
    _cuba_case(ops, SURROGATES[5], True, False, du=0.0, dv=1.0, T=3, N=130)


def test_only_state_grad_or_only_spike_grad(ops: Any) -> None:
    """Backward with the final state unused (and with the spikes unused) matches the reference."""
    x, v0 = _data(5, 20, torch.float32)
    sg = SURROGATES[0]
    for use in ("s", "v"):
        grads = []
        for kernel in (True, False):
            xs = x.clone().requires_grad_()
            if kernel:
                s, v = ops.LIFFunction.apply(xs, v0, None, ops.LIF_DIV_DI, 2.0, 1.0, 0.0, False, False, False,
                                             0, *sg.kernel_params())
            else:
                s, v = R.lif_multistep(xs, v0, 2.0, True, 1.0, 0.0, sg, False, False)
            grads.append(torch.autograd.grad(_loss([s if use == "s" else v]), xs)[0])
        torch.testing.assert_close(grads[0], grads[1], rtol=2e-4, atol=2e-4)


def test_forward_saves_no_membrane_sequence(ops: Any) -> None:
    """Saved for backward: x and the initial state only (no [T, N] potentials)."""
    saved: List[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    x, v0 = _data(6, 50, torch.float32)
    x.requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ops.LIFFunction.apply(x, v0, None, ops.LIF_DIV_DI, 2.0, 1.0, 0.0, False, False, False, 0, 2.0, 0.0)
    big = [t for t in saved if t is not None and t.numel() >= x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()


def test_bad_arguments_raise(ops: Any) -> None:
    x, v0 = _data(3, 8, torch.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.LIFFunction.apply(x.half(), v0.half(), None, 1, 2.0, 1.0, 0.0, False, False, False, 0, 2.0, 0.0)
    with pytest.raises(ValueError, match="surrogate code"):
        ops.LIFFunction.apply(x, v0, None, 1, 2.0, 1.0, 0.0, False, False, False, 9, 2.0, 0.0)
    with pytest.raises(ValueError, match="does not match"):
        ops.LIFFunction.apply(x, v0[:3], None, 1, 2.0, 1.0, 0.0, False, False, False, 0, 2.0, 0.0)


def test_import_without_triton_raises_only_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """``snnkit.kernels.triton`` imports without Triton; using a kernel gives a RuntimeError."""
    import snnkit.kernels as kernels_pkg

    monkeypatch.setattr(kernels_pkg, "triton", getattr(kernels_pkg, "triton", None), raising=False)
    monkeypatch.setitem(sys.modules, "triton", None)  # makes `import triton` raise ImportError
    monkeypatch.setitem(sys.modules, "triton.language", None)
    for name in ("snnkit.kernels.triton", "snnkit.kernels.triton.ops", "snnkit.kernels.triton._kernels"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    pkg = importlib.import_module("snnkit.kernels.triton")
    mod = importlib.import_module("snnkit.kernels.triton.ops")
    assert not pkg.available() and "triton" in pkg.error()
    assert (mod.IF, mod.LIF_DIV_DI, mod.LIF_DIV_NDI, mod.LIF_MUL_DI, mod.LIF_MUL_NDI) == (0, 1, 2, 3, 4)
    x = torch.zeros(2, 3)
    with pytest.raises(RuntimeError, match="triton"):
        mod.LIFFunction.apply(x, torch.zeros(3), None, 1, 2.0, 1.0, 0.0, False, False, False, 0, 2.0, 0.0)
    with pytest.raises(RuntimeError, match="triton"):
        mod.CubaFunction.apply(x, torch.zeros(3), torch.zeros(3), 0.5, 0.5, 1.0, 0.0, False, False, 0, 2.0, 0.0)


# ---------------------------------------------------------------------------- end to end on CUDA


def _e2e(fn: Any, x: torch.Tensor, state: Any, tol: float, **kw: Any) -> None:
    outs = []
    for backend in ("triton", "reference"):
        xs = x.detach().clone().requires_grad_()
        st = tuple(s.detach().clone().requires_grad_() for s in state) if isinstance(state, tuple) else \
            state.detach().clone().requires_grad_()
        extra = {k: (v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        s, v = fn(xs, st, backend=backend, **extra)
        vs = list(v) if isinstance(v, tuple) else [v]
        params = [xs, *(st if isinstance(st, tuple) else (st,))] + [t for t in extra.values() if isinstance(t, torch.Tensor)]
        grads = torch.autograd.grad(_loss([s, *vs]), params)
        outs.append(([s.detach(), *[q.detach() for q in vs]], grads))
    (fast, gfast), (ref, gref) = outs
    _compare(fast, ref, gfast, gref, tol)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_end_to_end_cuda_backend_triton() -> None:
    pytest.importorskip("triton")
    from snnkit.kernels import triton_available

    assert triton_available()
    torch.manual_seed(0)
    x = torch.randn(16, 4, 3000, device="cuda") * 1.2
    v0 = torch.rand(4, 3000, device="cuda") * 0.5
    for tau, di, reset, detach, graded in [(2.0, True, 0.0, False, False), (3.0, False, None, True, True),
                                           (7.3, True, -0.5, False, True)]:
        _e2e(F.lif_multistep, x, v0, 2e-4, tau=tau, decay_input=di, v_reset=reset, detach_reset=detach,
             graded=graded, surrogate="atan")
    for sg in SURROGATES:
        _e2e(F.lif_multistep, x, v0, 2e-4, tau=2.5, surrogate=sg)
    _e2e(F.if_multistep, x * 0.5, torch.zeros_like(v0), 2e-4, v_reset=None, surrogate="sigmoid")
    _e2e(F.plif_multistep, x, torch.zeros_like(v0), 2e-3, w=torch.tensor(0.4, device="cuda"),
         decay_input=False, surrogate="triangle")
    _e2e(F.cuba_lif_multistep, x * 0.7, (torch.zeros_like(v0), v0), 2e-4, du=0.3, dv=0.1, bias=0.02)
    _e2e(F.lif_multistep, x.double(), v0.double(), 1e-10, tau=3.0, v_reset=None)
    # auto picks triton on CUDA; low precision is computed in float32
    s_auto, _ = F.lif_multistep(x.bfloat16(), backend="auto", tau=2.0)
    s_ref, _ = F.lif_multistep(x.bfloat16().float(), backend="reference", tau=2.0)
    assert s_auto.dtype == torch.bfloat16 and torch.equal(s_auto.float(), s_ref)
    # a large layer (several programs per SM, T * N > 2**31 is not exercised here)
    big = torch.randn(8, 64, 65536, device="cuda")
    s_big, v_big = F.lif_multistep(big, backend="triton")
    s_ref, v_ref = F.lif_multistep(big, backend="reference")
    assert torch.equal(s_big, s_ref) and torch.equal(v_big, v_ref)


@pytest.mark.parametrize("neuron", ["lif", "cuba"])
def test_second_order_gradients_raise_instead_of_dropping_the_kernel_term(ops: Any, neuron: str) -> None:
    """grad(grad(s.sum(), weight, create_graph=True)**2, weight): the reference loop gives a non-zero
    second-order term; the first-order kernel backward must raise, not silently contribute 0."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 6, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    inp = torch.randn(4, 2, 6, generator=g, dtype=torch.float64).to(DEVICE)
    sg = SURROGATES[0]
    a1, a2 = sg.kernel_params()

    def penalty_grad(kernel: bool) -> torch.Tensor:
        x = (inp @ weight).reshape(4, -1)
        zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
        if neuron == "lif":
            s = (ops.LIFFunction.apply(x, zeros, None, ops.LIF_DIV_DI, 2.0, 1.0, 0.0, False, False, False,
                                       sg.code, a1, a2)[0] if kernel
                 else R.lif_multistep(x, zeros, 2.0, True, 1.0, 0.0, sg, False, False)[0])
        else:
            s = (ops.CubaFunction.apply(x, zeros, zeros, 0.7, 0.8, 1.0, 0.0, False, False, sg.code, a1, a2)[0]
                 if kernel else R.cuba_multistep(x, zeros, zeros, 0.3, 0.2, 1.0, 0.0, sg, False, False)[0])
        first, = torch.autograd.grad(s.sum(), weight, create_graph=True)
        return torch.autograd.grad((first ** 2).sum() + (x ** 2).sum(), weight)[0]

    plain = 2 * inp.reshape(-1, 6).T @ (inp.reshape(-1, 6) @ weight.detach())
    assert (penalty_grad(False) - plain).abs().max() > 1e-3
    with pytest.raises(RuntimeError, match="first-order gradients only"):
        penalty_grad(True)
