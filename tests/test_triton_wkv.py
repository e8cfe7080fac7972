"""Triton WKV kernels against the reference loop: values, gradients, carried state, extreme inputs.

With CUDA the kernels are compiled and run on the GPU. Without CUDA they run in Triton's
CPU interpreter (``TRITON_INTERPRET=1``, set here before the kernels are first defined), on
tiny shapes because the interpreter executes every block operation through numpy. Tests
that need Triton are skipped when it is not installed.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

import pytest
import torch

from snnkit.kernels import wkv as W

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    # must precede the first definition of the kernels (triton.jit reads it at decoration time)
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = "cuda" if HAS_CUDA else "cpu"
TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-10, atol=1e-11)}


@pytest.fixture(scope="module")
def tw() -> Any:
    """The triton WKV module, with kernels compiled for CUDA or defined under the interpreter."""
    pytest.importorskip("triton")
    import snnkit.kernels.triton.wkv as mod

    if not HAS_CUDA and not mod.interpreting():
        pytest.skip("the triton WKV kernels were defined before TRITON_INTERPRET=1 was set in this process "
                    "(no CUDA to compile them for); run this file on its own")
    return mod


def _inputs(T: int, B: int, C: int, dtype: torch.dtype, decay_scale: float = 1.0, k_scale: float = 1.0,
            seed: int = 0, device: str = DEVICE) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = -torch.exp(torch.randn(C, generator=g, dtype=dtype) * decay_scale)
    u = torch.randn(C, generator=g, dtype=dtype)
    k = torch.randn(T, B, C, generator=g, dtype=dtype) * k_scale
    v = torch.randn(T, B, C, generator=g, dtype=dtype)
    return [t.to(device).requires_grad_() for t in (w, u, k, v)]


def _state(B: int, C: int, dtype: torch.dtype, seed: int = 1, device: str = DEVICE) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, C, generator=g, dtype=dtype)
    b = torch.rand(B, C, generator=g, dtype=dtype) + 0.1  # a denominator is positive
    p = torch.randn(B, C, generator=g, dtype=dtype)
    return [t.to(device).requires_grad_() for t in (a, b, p)]


def _run(backend: str, w, u, k, v, state: Optional[List[torch.Tensor]], on_state: str = "all"):
    """Values, and gradients of a random-weighted loss on y and (``on_state``) on the final state."""
    y, (a, b, p) = W.wkv(w, u, k, v, state, backend=backend)
    g = torch.Generator().manual_seed(7)
    rnd = lambda t: torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device)  # noqa: E731
    loss = (y * rnd(y)).sum()
    terms = {"all": (a, b, p), "none": (), "p": (p,)}[on_state]
    for s in terms:
        loss = loss + (s * rnd(s)).sum()
    leaves = [w, u, k, v] + ([] if state is None else list(state))
    grads = torch.autograd.grad(loss, leaves)
    return [y.detach(), a.detach(), b.detach(), p.detach()], list(grads)


def _agree(w, u, k, v, state, on_state: str = "all") -> None:
    vals, grads = _run("triton", w, u, k, v, state, on_state)
    rvals, rgrads = _run("reference", w, u, k, v, state, on_state)
    tol = TOL[k.dtype]
    for i, (x, r) in enumerate(zip(vals + grads, rvals + rgrads)):
        assert torch.isfinite(x).all(), f"output {i} is not finite"
        torch.testing.assert_close(x, r, **tol, msg=lambda m: f"output {i}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T,B,C", [(1, 1, 3), (9, 2, 5), (16, 2, 8)])
def test_values_and_gradients_match_reference(tw: Any, dtype: torch.dtype, T: int, B: int, C: int) -> None:
    w, u, k, v = _inputs(T, B, C, dtype)
    _agree(w, u, k, v, _state(B, C, dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("on_state", ["all", "none", "p"])
def test_fresh_state_and_partial_state_gradients(tw: Any, dtype: torch.dtype, on_state: str) -> None:
    """From the empty state (p = -1e38), with gradients on y only, on y and p_T only, or on everything."""
    w, u, k, v = _inputs(7, 2, 4, dtype, seed=3)
    _agree(w, u, k, v, None, on_state)
    _agree(w, u, k, v, _state(2, 4, dtype, seed=4), on_state)


def test_blocks_cut_channels(tw: Any) -> None:
    """B*C = 72 columns: more than one program in the interpreter (BLOCK 64), channel = column % C."""
    w, u, k, v = _inputs(4, 9, 8, torch.float64, seed=5)
    _agree(w, u, k, v, _state(9, 8, torch.float64, seed=6))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunk_by_chunk_with_carried_state_equals_one_call(tw: Any, dtype: torch.dtype) -> None:
    w, u, k, v = _inputs(13, 2, 6, dtype, seed=8)
    state = _state(2, 6, dtype, seed=9)
    y_full, s_full = W.wkv(w, u, k, v, state, backend="triton")
    ys, st = [], state
    for lo, hi in ((0, 1), (1, 5), (5, 13)):
        y, st = W.wkv(w, u, k[lo:hi], v[lo:hi], st, backend="triton")
        ys.append(y)
    tol = TOL[dtype]
    torch.testing.assert_close(torch.cat(ys), y_full, **tol)
    for a, b in zip(st, s_full):
        torch.testing.assert_close(a, b, **tol)
    # gradients flow through the carried state as through one call
    g_full = torch.autograd.grad((y_full ** 2).sum() + s_full[0].sum(), [w, u, k, v] + state)
    g_chunk = torch.autograd.grad((torch.cat(ys) ** 2).sum() + st[0].sum(), [w, u, k, v] + state)
    for a, b in zip(g_chunk, g_full):
        torch.testing.assert_close(a, b, **tol)
    # and the triton state is interchangeable with the reference's
    y_ref, _ = W.wkv(w, u, k[5:], v[5:], W.wkv(w, u, k[:5], v[:5], state, backend="triton")[1], backend="reference")
    torch.testing.assert_close(y_ref, y_full[5:], **tol)


@pytest.mark.parametrize("decay_scale,k_scale", [(8.0, 1.0), (1.0, 60.0), (6.0, 200.0)])
def test_extreme_decays_and_keys_stay_finite(tw: Any, decay_scale: float, k_scale: float) -> None:
    """e^w from ~1 to 0 (w down to about -1e10) and k up to +-600: a naive exp would overflow."""
    w, u, k, v = _inputs(12, 2, 8, torch.float32, decay_scale=decay_scale, k_scale=k_scale, seed=11)
    vals, grads = _run("triton", w, u, k, v, None)
    for t in vals + grads:
        assert torch.isfinite(t).all()
    w64, u64, k64, v64 = (t.detach().double().requires_grad_() for t in (w, u, k, v))
    rvals, rgrads = _run("reference", w64, u64, k64, v64, None)
    torch.testing.assert_close(vals[0].double(), rvals[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(vals[3].double(), rvals[3], rtol=1e-5, atol=1e-3)
    # float64 through the kernel agrees with the float64 reference, gradients included
    _agree(w64, u64, k64, v64, None)


def test_gradcheck_float64(tw: Any) -> None:
    w, u, k, v = _inputs(4, 1, 2, torch.float64, seed=12)
    a, b, p = _state(1, 2, torch.float64, seed=13)
    torch.autograd.gradcheck(lambda *xs: tw.WKVFunction.apply(*xs), (w, u, k, v, a, b, p), eps=1e-6, atol=1e-6)


def test_backward_is_deterministic(tw: Any) -> None:
    w, u, k, v = _inputs(6, 2, 4, torch.float32, seed=14)
    g1 = _run("triton", w, u, k, v, None)[1]
    g2 = _run("triton", w, u, k, v, None)[1]
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_end_to_end() -> None:
    """On the GPU: auto picks triton; a larger shape across many programs matches the float64 reference."""
    pytest.importorskip("triton")
    T, B, C = 64, 3, 200
    w, u, k, v = _inputs(T, B, C, torch.float32, k_scale=3.0, seed=20, device="cuda")
    state = _state(B, C, torch.float32, seed=21, device="cuda")
    assert W._resolve("auto", k) == "triton"
    vals, grads = _run("auto", w, u, k, v, state)
    leaves64 = [t.detach().double().requires_grad_() for t in [w, u, k, v] + state]
    rvals, rgrads = _run("reference", *leaves64[:4], leaves64[4:])
    for x, r in zip(vals + grads, rvals + rgrads):
        assert torch.isfinite(x).all()
        torch.testing.assert_close(x.double(), r, rtol=2e-3, atol=2e-4)
    w, u, k, v = (t.detach().double().requires_grad_() for t in (w, u, k, v))
    _agree(w, u, k, v, [t.detach().double().requires_grad_() for t in state])


def test_second_order_gradients_raise_instead_of_dropping_the_kernel_term(tw: Any) -> None:
    """The triton WKV backward is first-order only: differentiating it again raises (it gave ``None``)."""
    from tests.test_wkv import check_second_order_raises

    check_second_order_raises("triton")
