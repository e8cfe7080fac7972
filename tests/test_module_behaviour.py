"""Stateful snnkit modules as ordinary torch modules: copies, pickles, inference mode, checkpointing."""
from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn as nn
import torch.utils.checkpoint

import snnkit
from snnkit.encoding import MembraneReadout
from snnkit.layers import TemporalDropout, TimeDistributed
from tests.conftest import CPU_BACKENDS

NEURONS = [snnkit.IF, snnkit.LIF, snnkit.PLIF, snnkit.CubaLIF]


def _state(m: nn.Module) -> list:
    return [getattr(m, n) for n in ("u", "v") if getattr(m, n, None) is not None]


@pytest.mark.parametrize("cls", NEURONS)
def test_deepcopy_and_pickle_after_a_training_forward(cls) -> None:
    # state left by a forward with autograd is a non-leaf tensor; deepcopy used to refuse it
    n = cls()
    x = (torch.rand(5, 3, 4) * 2).requires_grad_()
    n(x).sum().backward(retain_graph=True)
    assert any(t.grad_fn is not None for t in _state(n))
    x2 = torch.rand(5, 3, 4) * 2
    expected = n(x2).detach()  # the next call continues from the kept membrane
    for c in (copy.deepcopy(n), pickle.loads(pickle.dumps(n))):
        assert all(t.grad_fn is None for t in _state(c))
        for a, b in zip(_state(c), _state(n)):
            assert torch.equal(a, b.detach())
    snnkit.reset(n)
    n(x)
    for c in (copy.deepcopy(n), pickle.loads(pickle.dumps(n))):
        assert torch.equal(c(x2), expected)  # the copy carries the state on like the original did
    buf = io.BytesIO()
    torch.save(n, buf)
    buf.seek(0)
    assert type(torch.load(buf, weights_only=False)) is cls
    n2 = cls()
    n2(x)
    copy.deepcopy(n2)
    assert any(t.grad_fn is not None for t in _state(n2))  # the original keeps its graph


def test_deepcopy_of_a_trained_membrane_readout_and_dropout() -> None:
    r, d = MembraneReadout(mode="max"), TemporalDropout(0.5)
    x = torch.rand(4, 2, 3, requires_grad=True)
    r(d(x))
    r2, d2 = copy.deepcopy(r), copy.deepcopy(d)
    assert torch.equal(d2.mask, d.mask)
    assert torch.equal(r2.v, r.v.detach()) and r2._stats[3] == r._stats[3] == 4
    assert all(t.grad_fn is None for t in r2._stats[:3])


@pytest.mark.parametrize("cls", NEURONS)
def test_state_from_inference_mode_carries_into_training(cls) -> None:
    x1, x2 = torch.rand(3, 2, 4) * 2, torch.rand(3, 2, 4) * 2
    n, ref = cls(), cls(backend="reference")
    with torch.inference_mode():
        n(x1)
    with torch.no_grad():
        ref(x1)
    x2a, x2b = x2.clone().requires_grad_(), x2.clone().requires_grad_()
    out = n(x2a)  # used to raise "Inference tensors cannot be saved for backward"
    out.sum().backward()
    out_ref = ref(x2b)  # continues from the membrane kept under no_grad
    out_ref.sum().backward()
    assert torch.equal(out.detach(), out_ref.detach())
    assert torch.allclose(x2a.grad, x2b.grad, atol=1e-6)


def test_readout_and_dropout_state_from_inference_mode_carries_into_training() -> None:
    r, d = MembraneReadout(mode="mean"), TemporalDropout(0.5)
    with torch.inference_mode():
        r(d(torch.rand(2, 3, 4)))
    x = torch.rand(2, 3, 4, requires_grad=True)
    r(d(x)).sum().backward()
    # mean over 4 steps of a leaky integrator: d/dx of the last two steps' contribution, all finite and non-zero
    assert x.grad is not None and bool((x.grad[:, d.mask != 0] > 0).all())


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("cls", NEURONS)
def test_checkpoint_recomputes_from_the_state_the_forward_started_from(cls, backend: str) -> None:
    torch.manual_seed(1)
    lin = nn.Linear(4, 4).double()
    x0, x = torch.randn(3, 2, 4, dtype=torch.float64) * 2, torch.randn(5, 2, 4, dtype=torch.float64) * 2

    def grads(run) -> tuple:
        n = cls(backend=backend).double()
        block = nn.Sequential(TimeDistributed(lin), n)
        with torch.no_grad():
            block(x0)  # a membrane carried into the checkpointed call
        lin.zero_grad()
        out = run(block, x)
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        return lin.weight.grad.clone(), out.detach(), [t.clone() for t in _state(n)]

    g_ref, o_ref, s_ref = grads(lambda b, z: b(z))
    g, o, s = grads(lambda b, z: snnkit.checkpoint(b, z))
    assert torch.equal(o, o_ref)
    assert torch.allclose(g, g_ref, rtol=1e-12, atol=1e-12)
    assert all(torch.equal(a, b) for a, b in zip(s, s_ref))  # the live state is the forward's, not the recompute's
    g_plain, _, _ = grads(lambda b, z: torch.utils.checkpoint.checkpoint(b, z, use_reentrant=False))
    assert not torch.allclose(g_plain, g_ref)  # what snnkit.checkpoint exists for


def test_checkpoint_refuses_reentrant_and_non_modules() -> None:
    with pytest.raises(ValueError, match="use_reentrant"):
        snnkit.checkpoint(snnkit.LIF(), torch.rand(2, 2, 2), use_reentrant=True)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        snnkit.checkpoint(lambda z: z, torch.rand(2, 2))


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_torch_func_vmap_and_grad_match_a_loop(backend: str) -> None:
    from snnkit import functional as F

    x = torch.randn(3, 4, 2, 5, dtype=torch.float64) * 2  # a vmapped batch of 3 sequences [T, B, N]
    w = torch.tensor(0.3, dtype=torch.float64)
    out = torch.vmap(lambda z: F.plif_multistep(z, w=w, backend=backend)[0])(x)
    loop = torch.stack([F.plif_multistep(z, w=w, backend="reference")[0] for z in x])
    assert torch.equal(out, loop)
    s = torch.vmap(lambda z: F.cuba_lif_multistep(z, du=0.5, dv=0.3, backend=backend)[0])(x)
    assert torch.equal(s, torch.stack([F.cuba_lif_multistep(z, du=0.5, dv=0.3, backend="reference")[0] for z in x]))
    # torch.func.grad against ordinary autograd on the reference loop
    g = torch.func.grad(lambda z: F.lif_multistep(z, backend=backend)[0].mul(torch.arange(5.0)).sum())(x[0])
    xr = x[0].clone().requires_grad_()
    F.lif_multistep(xr, backend="reference")[0].mul(torch.arange(5.0)).sum().backward()
    assert torch.allclose(g, xr.grad, rtol=1e-12, atol=0)


def test_fused_backend_under_vmap_is_a_clear_error() -> None:
    from snnkit import functional as F

    if "cpu" not in CPU_BACKENDS:
        pytest.skip("the fused CPU kernel is unavailable here")
    with pytest.raises(ValueError, match="backend='cpu' cannot run under torch.func"):
        torch.vmap(lambda z: F.lif_multistep(z, backend="cpu")[0])(torch.rand(2, 3, 4))


@pytest.mark.parametrize("seeded", [False, True])
def test_checkpoint_redraws_the_same_dropout_mask(seeded: bool) -> None:
    lin = nn.Linear(4, 4).double()
    x = torch.randn(5, 3, 4, dtype=torch.float64)

    def grads(run) -> torch.Tensor:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1) if seeded else None
        block = nn.Sequential(TimeDistributed(lin), TemporalDropout(0.5, generator=gen),
                              snnkit.LIF(backend="reference").double())
        lin.zero_grad()
        run(block, x).sum().backward()
        return lin.weight.grad.clone()

    assert torch.equal(grads(snnkit.checkpoint), grads(lambda b, z: b(z)))


@pytest.mark.parametrize("cls", NEURONS)
def test_dtype_conversion_converts_the_kept_state(cls) -> None:
    n = cls()
    n(torch.rand(3, 2, 4) * 2)
    kept = [t.clone() for t in _state(n)]
    n.double()
    assert all(t.dtype == torch.float64 for t in _state(n))
    assert all(torch.equal(a.double(), b) for a, b in zip(kept, _state(n)))  # float32 -> float64 is exact
    n.half()
    assert all(t.dtype == torch.float16 for t in _state(n))
    r = MembraneReadout(mode="max")
    r(torch.rand(3, 2, 4))
    r.double()
    assert r.v.dtype == torch.float64 and all(t.dtype == torch.float64 for t in r._stats[:3]) and r._stats[3] == 3


def test_checkpoint_per_chunk_of_time_steps_gives_the_full_gradients() -> None:
    # the memory-saving pattern: checkpoint each chunk of T, the state carried from chunk to chunk
    lin = nn.Linear(4, 4).double()
    x = torch.randn(12, 3, 4, dtype=torch.float64) * 2

    def grads(run) -> list:
        torch.manual_seed(5)
        block = nn.Sequential(TimeDistributed(lin), snnkit.PLIF().double(), TimeDistributed(nn.Linear(4, 4).double()),
                              snnkit.CubaLIF(du=0.3, dv=0.2, v_threshold=0.5).double())
        lin.zero_grad()
        out = torch.cat([run(block, c) for c in x.split(4)])
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        return [lin.weight.grad.clone(), block[1].w.grad.clone(), block[2].module.weight.grad.clone()]

    for a, b in zip(grads(snnkit.checkpoint), grads(lambda b, z: b(z))):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
