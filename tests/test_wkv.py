"""RWKV-4 WKV: the reference loop, the fused CPU kernel and the chunked form agree in values and gradients."""
from __future__ import annotations

import pytest
import torch

from snnkit.kernels import wkv as W

FUSED = ["cpu"] if W.available() else []
FAST = FUSED + ["chunked"]


def _inputs(T: int, B: int, C: int, dtype: torch.dtype, decay_scale: float = 1.0, k_scale: float = 1.0,
            grad: bool = True, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    time_decay = torch.randn(C, generator=g, dtype=dtype) * decay_scale
    w = -torch.exp(time_decay)
    u = torch.randn(C, generator=g, dtype=dtype)
    k = torch.randn(T, B, C, generator=g, dtype=dtype) * k_scale
    v = torch.randn(T, B, C, generator=g, dtype=dtype)
    return [t.requires_grad_(grad) for t in (w, u, k, v)]


def _random_state(B: int, C: int, dtype: torch.dtype, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, C, generator=g, dtype=dtype)
    b = torch.rand(B, C, generator=g, dtype=dtype) + 0.1  # a denominator is positive
    p = torch.randn(B, C, generator=g, dtype=dtype)
    return [t.requires_grad_() for t in (a, b, p)]


def _run(backend: str, w, u, k, v, state, chunk_size: int = 16):
    """Values and gradients of a loss on y and on every part of the final state."""
    y, (a, b, p) = W.wkv(w, u, k, v, state, backend=backend, chunk_size=chunk_size)
    g = torch.Generator().manual_seed(7)
    loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum()
    for s in (a, b, p):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    leaves = [w, u, k, v] + ([] if state is None else list(state))
    grads = torch.autograd.grad(loss, leaves)
    return [y.detach(), a.detach(), b.detach(), p.detach()], list(grads)


def _naive(w, u, k, v):
    """The definition, summed term by term (no state, no max trick): small float64 inputs only."""
    T = k.shape[0]
    ys = []
    for t in range(T):
        num = torch.exp(u + k[t]) * v[t]
        den = torch.exp(u + k[t])
        for i in range(t):
            e = torch.exp((t - 1 - i) * w + k[i])
            num, den = num + e * v[i], den + e
        ys.append(num / den)
    return torch.stack(ys)


def test_reference_matches_the_definition() -> None:
    w, u, k, v = _inputs(9, 2, 3, torch.float64, grad=False)
    y, _ = W.wkv(w, u, k, v, backend="reference")
    torch.testing.assert_close(y, _naive(w, u, k, v), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("T,chunk", [(1, 16), (23, 8), (32, 16), (40, 64)])
def test_values_and_gradients_agree_float64(backend: str, T: int, chunk: int) -> None:
    w, u, k, v = _inputs(T, 2, 5, torch.float64)
    state = _random_state(2, 5, torch.float64)
    ref_vals, ref_grads = _run("reference", w, u, k, v, state)
    vals, grads = _run(backend, w, u, k, v, state, chunk)
    for name, x, r in zip("y a b p".split(), vals, ref_vals):
        torch.testing.assert_close(x, r, rtol=1e-10, atol=1e-12, msg=f"{backend} {name}")
    for name, x, r in zip("w u k v a0 b0 p0".split(), grads, ref_grads):
        torch.testing.assert_close(x, r, rtol=1e-9, atol=1e-11, msg=f"{backend} grad {name}")


@pytest.mark.parametrize("backend", FAST)
def test_gradients_from_a_fresh_state(backend: str) -> None:
    w, u, k, v = _inputs(17, 3, 4, torch.float64)
    ref_vals, ref_grads = _run("reference", w, u, k, v, None)
    vals, grads = _run(backend, w, u, k, v, None, 5)
    for x, r in zip(vals + grads, ref_vals + ref_grads):
        torch.testing.assert_close(x, r, rtol=1e-9, atol=1e-11)


@pytest.mark.skipif(not FUSED, reason="WKV CPU kernel unavailable")
def test_cpu_kernel_across_blocks_and_threads() -> None:
    """B*C = 150 columns: kernel blocks of 64 cut channels (C = 50) mid-way; T*N is large enough for two threads."""
    w, u, k, v = _inputs(512, 3, 50, torch.float64)
    state = _random_state(3, 50, torch.float64)
    ref_vals, ref_grads = _run("chunked", w, u, k, v, state)
    vals, grads = _run("cpu", w, u, k, v, state)
    for x, r in zip(vals + grads, ref_vals + ref_grads):
        torch.testing.assert_close(x, r, rtol=1e-9, atol=1e-10)


@pytest.mark.skipif(not FUSED, reason="WKV CPU kernel unavailable")
def test_cpu_kernel_gradcheck() -> None:
    w, u, k, v = _inputs(6, 2, 3, torch.float64)
    a, b, p = _random_state(2, 3, torch.float64)
    torch.autograd.gradcheck(lambda *xs: W.WKVFunction.apply(*xs), (w, u, k, v, a, b, p), eps=1e-6, atol=1e-6)


def test_long_sequence_float32_agrees_without_overflow() -> None:
    T, B, C = 2048, 2, 16
    w, u, k, v = _inputs(T, B, C, torch.float32, k_scale=3.0)
    with torch.no_grad():
        y_ref, s_ref = W.wkv(w, u, k, v, backend="reference")
    results = {}
    for backend in FAST:
        y, (a, b, p) = W.wkv(w, u, k, v, backend=backend)
        (gw, gu, gk, gv) = torch.autograd.grad((y * y).sum(), (w, u, k, v))
        for t in (y, a, b, p, gw, gu, gk, gv):
            assert torch.isfinite(t).all(), backend
        torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b, s_ref[1], rtol=1e-4, atol=1e-5)
        results[backend] = (gw, gu, gk, gv)
    if len(results) == 2:  # the fused and the chunked gradients agree with each other
        for x, r in zip(results["cpu"], results["chunked"]):
            torch.testing.assert_close(x, r, rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("decay_scale,k_scale", [(8.0, 1.0), (1.0, 60.0), (6.0, 200.0)])
def test_extreme_decays_and_keys(decay_scale: float, k_scale: float) -> None:
    """time_decay ~ N(0, 8) gives e^w from ~1 to 0 (w down to about -1e10); k up to ~+-800: exp would overflow."""
    T, B, C = 96, 2, 8
    w64, u64, k64, v64 = _inputs(T, B, C, torch.float64, decay_scale, k_scale, grad=False)
    y64, (a64, b64, p64) = W.wkv(w64, u64, k64, v64, backend="reference")
    for backend in ["reference"] + FAST:
        w, u, k, v = (t.float().requires_grad_() for t in (w64, u64, k64, v64))
        y, (a, b, p) = W.wkv(w, u, k, v, backend=backend)
        grads = torch.autograd.grad(y.sum() + a.sum() + b.sum(), (w, u, k, v))
        for t in (y, a, b, p) + tuple(grads):
            assert torch.isfinite(t).all(), backend
        torch.testing.assert_close(y.double(), y64, rtol=1e-4, atol=1e-4, msg=backend)
        torch.testing.assert_close(p.double(), p64, rtol=1e-5, atol=1e-3, msg=backend)


@pytest.mark.parametrize("backend", ["reference"] + FAST)
def test_chunk_by_chunk_with_carried_state_equals_one_call(backend: str) -> None:
    w, u, k, v = _inputs(50, 2, 6, torch.float64)
    y_full, (a_f, b_f, p_f) = W.wkv(w, u, k, v, backend=backend, chunk_size=8)
    g_full = torch.autograd.grad((y_full ** 2).sum(), (w, u, k, v))
    state, ys = None, []
    for lo, hi in [(0, 1), (1, 13), (13, 14), (14, 50)]:
        y, state = W.wkv(w, u, k[lo:hi], v[lo:hi], state, backend=backend, chunk_size=8)
        ys.append(y)
    y_parts = torch.cat(ys)
    torch.testing.assert_close(y_parts, y_full, rtol=1e-11, atol=1e-12)
    for x, r in zip(state, (a_f, b_f, p_f)):
        torch.testing.assert_close(x, r, rtol=1e-11, atol=1e-12)
    # gradients flow back through the carried state too
    g_parts = torch.autograd.grad((y_parts ** 2).sum(), (w, u, k, v))
    for x, r in zip(g_parts, g_full):
        torch.testing.assert_close(x, r, rtol=1e-9, atol=1e-11)


def test_states_are_interchangeable_between_backends() -> None:
    w, u, k, v = _inputs(30, 2, 4, torch.float64, grad=False)
    y_ref, _ = W.wkv(w, u, k, v, backend="reference")
    backends = ["reference"] + FAST
    for first in backends:
        for second in backends:
            y1, st = W.wkv(w, u, k[:11], v[:11], backend=first)
            y2, _ = W.wkv(w, u, k[11:], v[11:], st, backend=second)
            torch.testing.assert_close(torch.cat([y1, y2]), y_ref, rtol=1e-11, atol=1e-12)


def test_fresh_state_and_empty_input() -> None:
    w, u, k, v = _inputs(5, 2, 3, torch.float32, grad=False)
    y0, s0 = W.wkv(w, u, k, v)
    y1, s1 = W.wkv(w, u, k, v, W.initial_state(2, 3))
    torch.testing.assert_close(y0, y1)
    y, st = W.wkv(w, u, k[:0], v[:0])
    assert y.shape == (0, 2, 3) and st[2].eq(W.NEG).all()


def test_low_precision_inputs_come_back_in_their_dtype() -> None:
    w, u, k, v = _inputs(12, 2, 4, torch.float32, grad=False)
    y32, _ = W.wkv(w, u, k, v)
    y16, _ = W.wkv(w, u, k.bfloat16(), v.bfloat16())
    assert y16.dtype == torch.bfloat16
    torch.testing.assert_close(y16.float(), y32, rtol=0.05, atol=0.05)


def test_bad_arguments_name_what_is_wrong() -> None:
    w, u, k, v = _inputs(4, 2, 3, torch.float32, grad=False)
    with pytest.raises(ValueError, match=r"k must be time-major \[T, B, C\]"):
        W.wkv(w, u, k[0], v[0])
    with pytest.raises(ValueError, match="v must have k's shape"):
        W.wkv(w, u, k, v[:, :1])
    with pytest.raises(ValueError, match=r"w must be \[C\] = \[3\]"):
        W.wkv(w[:2], u, k, v)
    with pytest.raises(TypeError, match="k must be floating point"):
        W.wkv(w, u, k.long(), v)
    with pytest.raises(ValueError, match="backend must be one of"):
        W.wkv(w, u, k, v, backend="cuda")
    with pytest.raises(ValueError, match="state a must be a"):
        W.wkv(w, u, k, v, (torch.zeros(3, 3), torch.zeros(2, 3), torch.zeros(2, 3)))
    with pytest.raises(TypeError, match=r"state must be an \(a, b, p\) triple"):
        W.wkv(w, u, k, v, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        W.wkv(w, u, k, v, chunk_size=0)


def test_state_on_another_device_is_rejected_before_the_kernel_reads_it() -> None:
    # the fused CPU kernel takes raw pointers: a state elsewhere (meta here, CUDA in practice) used to segfault
    w, u, k, v = _inputs(4, 2, 3, torch.float32, grad=False)
    st = W.initial_state(2, 3, device=torch.device("meta"))
    for backend in ("auto", "cpu", "chunked", "reference"):
        with pytest.raises(ValueError, match="state a is on meta but k is on cpu"):
            W.wkv(w, u, k, v, st, backend=backend)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_initial_state_for_low_precision_is_the_float32_state_wkv_returns(dtype) -> None:
    # -1e38 overflows float16 (initial_state(..., float16) used to raise from torch.full_like)
    a, b, p = W.initial_state(2, 3, dtype)
    assert a.dtype == b.dtype == p.dtype == torch.float32 and bool((p == W.NEG).all())
    w, u, k, v = _inputs(4, 2, 3, dtype, grad=False)
    y, st = W.wkv(w, u, k, v, (a, b, p))
    y0, st0 = W.wkv(w, u, k, v)
    assert y.dtype == dtype and all(s.dtype == torch.float32 for s in st)
    torch.testing.assert_close(y, y0, rtol=0, atol=0)


def test_an_infinite_decay_forgets_at_once_in_every_backend() -> None:
    """w = -inf (time_decay past float32's exp range): the chunked form must not turn 0 * -inf into nan."""
    w, u, k, v = _inputs(21, 2, 6, torch.float64, grad=False)
    w = w.clone()
    w[::2] = float("-inf")
    ref_y, ref_s = W.wkv(w, u, k, v, backend="reference")
    assert torch.isfinite(ref_y).all()
    for backend in FAST:
        y, st = W.wkv(w, u, k, v, backend=backend, chunk_size=4)
        torch.testing.assert_close(y, ref_y, rtol=1e-12, atol=1e-12, msg=lambda m: f"{backend}: {m}")
        for got, want in zip(st[:2], ref_s[:2]):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def check_second_order_raises(backend: str) -> None:
    """grad(grad(y.sum(), k, create_graph=True)**2, u): the reference gives it; the first-order
    kernel backward of ``backend`` must raise (it gave ``None``/0 with once_differentiable)."""
    w, u, k, v = _inputs(5, 2, 3, torch.float64)

    def second(b: str):
        y, _ = W.wkv(w, u, k, v, backend=b)
        gk, = torch.autograd.grad(y.sum(), k, create_graph=True)
        return torch.autograd.grad((gk ** 2).sum() + (k ** 2).sum(), u, allow_unused=True)[0]

    assert second("reference").abs().max() > 1e-3
    with pytest.raises(RuntimeError, match="first-order gradients only"):
        second(backend)


@pytest.mark.parametrize("backend", FUSED)
def test_second_order_gradients_raise_instead_of_dropping_the_kernel_term(backend: str) -> None:
    check_second_order_raises(backend)


@pytest.mark.parametrize("backend", ["auto", "reference"] + FAST)
@pytest.mark.parametrize("B,C", [(0, 3), (2, 0)])
def test_an_empty_batch_or_no_channels_gives_empty_outputs(backend: str, B: int, C: int) -> None:
    """B = 0 (an empty last batch) or C = 0: empty y and state, zero gradients (the kernel rejected C = 0
    with 'code 1' and the chunked form raised ZeroDivisionError for either)."""
    w, u, k, v = _inputs(4, B, C, torch.float64)
    state = W.initial_state(B, C, torch.float64)
    y, (a, b, p) = W.wkv(w, u, k, v, state, backend=backend)
    assert y.shape == (4, B, C) and a.shape == b.shape == p.shape == (B, C)
    gw, gu = torch.autograd.grad(y.sum() + a.sum(), (w, u), allow_unused=True)
    for g in (gw, gu):
        assert g is None or (g.shape == (C,) and not g.any())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fused", [True, False])
def test_wkv_step_runs_the_recurrence_one_token_at_a_time(dtype, fused) -> None:
    # the recurrent step's inner loop (fused kernel or formulas) == wkv_reference, 30 tokens, carried state
    B, C, T = 3, 70, 30  # 70 channels: more than one of the kernel's 64-column blocks
    w, u, k, v = _inputs(T, B, C, dtype, k_scale=5.0, grad=False)
    y_ref, st_ref = W.wkv_reference(w, u, k, v, W.initial_state(B, C, dtype))
    st, ys = W.initial_state(B, C, dtype), []
    with torch.no_grad():
        for t in range(T):
            y, st = W.wkv_step(w, u, k[t], v[t], st, fused=fused)
            ys.append(y)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack(ys), y_ref, **tol)
    for s, r in zip(st, st_ref):
        torch.testing.assert_close(s, r, **tol)
    if not fused:  # the formulas are wkv_reference's, op for op
        assert torch.equal(torch.stack(ys), y_ref)


def test_wkv_step_with_gradients_uses_the_differentiable_formulas() -> None:
    w, u, k, v = _inputs(1, 2, 5, torch.float64)
    state = _random_state(2, 5, torch.float64)
    y, (a, b, p) = W.wkv_step(w, u, k[0], v[0], state)
    y_ref, (a_ref, b_ref, p_ref) = W.wkv_reference(w, u, k, v, state)
    torch.testing.assert_close(y, y_ref[0], rtol=0, atol=0)
    leaves = [w, u, k, v, *state]
    g1 = torch.autograd.grad((y + a + b + p).sum(), leaves)
    g2 = torch.autograd.grad((y_ref[0] + a_ref + b_ref + p_ref).sum(), leaves)
    for x, r in zip(g1, g2):
        torch.testing.assert_close(x, r, rtol=1e-12, atol=1e-12)
