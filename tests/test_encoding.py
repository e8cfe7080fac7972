"""Encoders and readouts against snnTorch's spikegen, SpikingJelly's NonSpikingLIFNode, hand-computed
values and statistics; bad input."""
from __future__ import annotations

import math

import pytest
import torch

import snnkit
from snnkit import encoding as E


def _spikegen():
    return pytest.importorskip("snntorch.spikegen")


# --------------------------------------------------------------------------- rate / poisson


def test_rate_matches_snntorch_draw_for_draw() -> None:
    spikegen = _spikegen()
    x = torch.rand(3, 2, 5) * 1.4 - 0.2  # includes values outside [0, 1]: both clip
    torch.manual_seed(11)
    ref = spikegen.rate(x, num_steps=7)
    ours = E.rate(x, 7, generator=torch.Generator().manual_seed(11))
    assert ours.shape == (7, 3, 2, 5)
    assert torch.equal(ours, ref)


def test_rate_statistics_and_clipping() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([-0.5, 0.0, 0.1, 0.5, 0.9, 1.0, 3.0])
    s = E.rate(x, 4000, generator=g)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    p = s.mean(0)
    assert p[0] == 0 and p[1] == 0 and p[5] == 1 and p[6] == 1
    assert torch.allclose(p[2:5], torch.tensor([0.1, 0.5, 0.9]), atol=0.03)
    # independent over time: lag-1 correlation near 0 at p = 0.5
    c = s[:, 3]
    assert abs(((c[1:] - 0.5) * (c[:-1] - 0.5)).mean().item()) < 0.02
    # reproducible from the generator alone, and dtype preserved
    a = E.rate(x.double(), 10, generator=torch.Generator().manual_seed(4))
    b = E.rate(x.double(), 10, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.dtype == torch.float64
    assert torch.equal(E.RateEncoder(10, generator=torch.Generator().manual_seed(4))(x.double()), a)


def test_poisson_is_scaled_rate() -> None:
    x = torch.rand(4, 6)
    a = E.poisson(x, 9, dt=1e-3, max_rate=250.0, generator=torch.Generator().manual_seed(2))
    b = E.rate(x * 0.25, 9, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    enc = E.PoissonEncoder(9, dt=1e-3, max_rate=250.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(enc(x), a)
    # mean rate: x * max_rate Hz with the defaults (100 Hz, dt = 1 ms)
    s = E.poisson(torch.full((2000,), 0.8), 200, generator=torch.Generator().manual_seed(3))
    hz = s.mean().item() / 1e-3
    assert abs(hz - 80.0) < 2.0


@pytest.mark.parametrize("fn", [E.rate, E.poisson])
def test_rate_poisson_errors(fn) -> None:
    x = torch.rand(2, 3)
    with pytest.raises(TypeError, match="floating"):
        fn(torch.ones(2, 3, dtype=torch.long), 5)
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn([0.5], 5)
    with pytest.raises(ValueError, match="T .*>= 1, got 0"):
        fn(x, 0)
    with pytest.raises(TypeError, match="T .*int.*2.5"):
        fn(x, 2.5)
    with pytest.raises(TypeError, match="T "):
        fn(x, True)
    with pytest.raises(TypeError, match="generator"):
        fn(x, 5, generator=42)
    with pytest.raises(ValueError, match="NaN"):
        fn(torch.tensor([0.5, float("nan")]), 5)
    with pytest.raises(ValueError, match=r"\[B, \.\.\.\]"):
        fn(torch.tensor(0.5), 5)


def test_poisson_range_errors() -> None:
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\].*1.5"):
        E.poisson(torch.tensor([0.2, 1.5]), 5)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        E.poisson(torch.tensor([-0.1]), 5)
    with pytest.raises(ValueError, match=r"max_rate \* dt.*<= 1"):
        E.poisson(torch.tensor([0.2]), 5, dt=1e-2, max_rate=200.0)
    with pytest.raises(ValueError, match="dt"):
        E.poisson(torch.tensor([0.2]), 5, dt=0.0)
    with pytest.raises(ValueError, match="max_rate"):
        E.PoissonEncoder(5, max_rate=-1.0)


# --------------------------------------------------------------------------- latency


def test_latency_hand_computed() -> None:
    a = torch.tensor([0.02, 0.5, 1.0])
    # snnTorch docstring example, linear code: times (T-1)(1-x) = 3.92, 2, 0
    s = E.latency(a, 5, linear=True)
    assert s.argmax(0).tolist() == [4, 2, 0]
    assert s.sum(0).tolist() == [1.0, 1.0, 1.0]
    torch.testing.assert_close(E.latency_times(a, 5, linear=True), torch.tensor([3.92, 2.0, 0.0]))
    # log code, not normalised: t = tau * ln(x / (x - threshold))
    t = E.latency_times(a, 10, tau=5.0, threshold=0.01, normalize=False)
    torch.testing.assert_close(t, torch.tensor([5 * math.log(2.0), 5 * math.log(0.5 / 0.49), 5 * math.log(1 / 0.99)]))
    # normalised log code: an input at the threshold lands on T-1
    t = E.latency_times(torch.tensor([0.0, 0.01, 1.0]), 8)
    assert t[0].item() == pytest.approx(7.0) and t[1].item() == pytest.approx(7.0, rel=1e-3)
    assert 0 < t[2].item() < 0.1
    # normalised linear code: the threshold cap (T-1)(1-threshold) = 99 * 0.99 = 98.01 keeps dark inputs
    # off step T-1 = 99 (as snnTorch); the docstring used to say they land on T-1 for both codes
    dark = torch.tensor([0.0])
    assert E.latency_times(dark, 100, linear=True).item() == pytest.approx(98.01)
    assert E.latency(dark, 100, linear=True)[:, 0].nonzero().flatten().tolist() == [98]
    assert E.latency(dark, 100)[:, 0].nonzero().flatten().tolist() == [99]


@pytest.mark.parametrize("T", [1, 2, 5, 25])
@pytest.mark.parametrize("kw", [
    {}, {"linear": True}, {"clip": True}, {"linear": True, "clip": True, "threshold": 0.2},
    {"threshold": 0.3, "tau": 2.0}, {"linear": True, "threshold": 0.05, "first_spike_time": 0},
])
def test_latency_matches_snntorch(T: int, kw) -> None:
    spikegen = _spikegen()
    x = torch.rand(4, 3, 5)
    x[0, 0, 0] = 0.0  # an input at/below threshold (snnTorch normalises by the batch maximum)
    ref = spikegen.latency(x, num_steps=T, normalize=True, **kw)
    assert torch.equal(E.latency(x, T, **kw), ref)
    assert torch.equal(E.LatencyEncoder(T, **kw)(x), ref)


def test_latency_first_spike_time_and_unnormalised_match_snntorch() -> None:
    spikegen = _spikegen()
    x = torch.rand(6, 7)
    x[0, 0] = 0.0
    for linear in (False, True):
        ref = spikegen.latency(x, num_steps=12, normalize=True, first_spike_time=3, linear=linear)
        ours = E.latency(x, 12, first_spike_time=3, linear=linear)
        assert torch.equal(ours, ref)
        assert ours[:3].sum() == 0
        # not normalised: spikes beyond T-1 are dropped (snnTorch with bypass=True)
        ref = spikegen.latency(x, num_steps=6, tau=8.0, normalize=False, linear=linear, bypass=True)
        ours = E.latency(x, 6, tau=8.0, normalize=False, linear=linear)
        assert torch.equal(ours, ref)
        assert 0 < ours.sum() < x.numel()  # some late spikes fell off the end


def test_latency_properties() -> None:
    x = torch.rand(5, 40)
    x[:, 0] = 0.0
    s = E.latency(x, 20, linear=True)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(s.sum(0), torch.ones_like(x))  # exactly one spike each
    first = s.argmax(0)
    order = torch.argsort(x[1])
    assert (first[1][order].diff() <= 0).all(), "brighter inputs must spike no later"
    assert (first[:, 0] == 19).all()
    clipped = E.latency(x, 20, linear=True, clip=True)
    assert clipped[:, :, 0].sum() == 0
    # clip removes inputs strictly below threshold; one exactly at it still spikes (as snnTorch)
    edge = torch.tensor([[0.25, 0.2499, 0.5]])
    assert E.latency(edge, 8, threshold=0.25, clip=True).sum(0).tolist() == [[1.0, 0.0, 1.0]]
    # the encoding of a sample does not depend on the rest of the batch (log code too)
    bright = torch.rand(3, 10) * 0.5 + 0.5
    assert torch.equal(E.latency(bright, 10)[:, :1], E.latency(bright[:1], 10))
    assert torch.equal(E.latency_times(bright, 10)[1], E.latency_times(bright[1:2], 10)[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_latency_low_precision_equals_float32(dtype: torch.dtype) -> None:
    """threshold + epsilon rounds to threshold in half precision: dark inputs must still spike last, not first."""
    x = torch.tensor([[0.0, 0.005, 0.25, 0.5, 1.0]]).to(dtype)
    for linear in (False, True):
        s = E.latency(x, 8, linear=linear)
        assert s.dtype == dtype
        assert torch.equal(s.float(), E.latency(x.float(), 8, linear=linear))
        t = E.latency_times(x, 8, linear=linear)
        assert t.dtype == dtype and not t.isnan().any()
    assert E.latency(x, 8).argmax(0).tolist() == [[7, 7, 0, 0, 0]]


def test_latency_errors() -> None:
    x = torch.rand(2, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\].*1.2"):
        E.latency(torch.tensor([0.3, 1.2]), 5)
    with pytest.raises(ValueError, match="threshold"):
        E.latency(x, 5, threshold=0.0)
    with pytest.raises(ValueError, match="threshold"):
        E.latency(x, 5, threshold=1.0)
    with pytest.raises(ValueError, match="tau"):
        E.latency(x, 5, tau=-1.0)
    with pytest.raises(ValueError, match="first_spike_time.*\\[0, 4\\]"):
        E.latency(x, 5, first_spike_time=5)
    with pytest.raises(ValueError, match="T "):
        E.latency(x, 0)
    with pytest.raises(TypeError, match="floating"):
        E.latency(torch.ones(2, 3, dtype=torch.int64), 5)
    with pytest.raises(ValueError, match="threshold"):
        E.LatencyEncoder(5, threshold=2.0)


# --------------------------------------------------------------------------- delta


def test_delta_hand_and_snntorch() -> None:
    spikegen = _spikegen()
    # snnTorch docstring examples, with a batch dim
    a = torch.tensor([1, 2, 2.9, 3, 3.9]).view(5, 1)
    assert E.delta(a, 1.0, off_spike=False).flatten().tolist() == [1, 1, 0, 0, 0]
    assert E.delta(a, 1.0, off_spike=False, padding=True).flatten().tolist() == [0, 1, 0, 0, 0]
    b = torch.tensor([1, 2, 0, 2, 2.9]).view(5, 1)
    assert E.delta(b, 1.0, signed=True).flatten().tolist() == [1, 1, -1, 1, 0]
    two = E.delta(b, 1.0)
    assert two.shape == (5, 1, 2)
    assert two[:, 0, 0].tolist() == [1, 1, 0, 1, 0] and two[:, 0, 1].tolist() == [0, 0, 1, 0, 0]
    x = torch.randn(12, 3, 4, 4).cumsum(0)
    for padding in (False, True):
        for thr in (0.3, 1.0):
            ref = spikegen.delta(x, threshold=thr, padding=padding, off_spike=True)
            assert torch.equal(E.delta(x, thr, padding=padding, signed=True), ref)
            pol = E.delta(x, thr, padding=padding)
            assert pol.shape == (12, 3, 2, 4, 4)
            assert torch.equal(pol[:, :, 0] - pol[:, :, 1], ref)
            ref_on = spikegen.delta(x, threshold=thr, padding=padding, off_spike=False)
            assert torch.equal(E.delta(x, thr, off_spike=False, padding=padding), ref_on)
            assert torch.equal(E.DeltaEncoder(thr, padding=padding)(x), pol)


def test_delta_errors() -> None:
    with pytest.raises(ValueError, match=r"x_seq.*\[T, B, \.\.\.\].*\(5,\)"):
        E.delta(torch.randn(5), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        E.delta(torch.randn(5, 2), 0.0)
    with pytest.raises(TypeError, match="threshold"):
        E.delta(torch.randn(5, 2), "0.1")
    with pytest.raises(TypeError, match="floating"):
        E.delta(torch.ones(5, 2, dtype=torch.int32), 0.1)
    with pytest.raises(ValueError, match="signed"):
        E.delta(torch.randn(5, 2), 0.1, off_spike=False, signed=True)


# --------------------------------------------------------------------------- readouts


def test_spike_count_and_rate() -> None:
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]], [[1.0, 0.0]]])
    assert E.spike_count(s).tolist() == [[3.0, 1.0]]
    assert E.firing_rate(s).tolist() == [[0.75, 0.25]]
    assert E.spike_count(s.bool()).tolist() == [[3.0, 1.0]]
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        E.firing_rate(torch.ones(4))
    with pytest.raises(TypeError, match="dtype"):
        E.spike_count(torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        E.spike_count([[1.0]])


def test_membrane_readout_hand_computed() -> None:
    x = torch.tensor([2.0, 2.0, 0.0, -4.0]).view(4, 1)
    # tau=2, decay_input: v = v + (x - v)/2 -> 1, 1.5, 0.75, -1.625
    v = E.membrane_readout(x, 2.0)
    assert v.flatten().tolist() == [1.0, 1.5, 0.75, -1.625]
    assert E.membrane_readout(x, 2.0, "final").item() == -1.625
    assert E.membrane_readout(x, 2.0, "max").item() == 1.5
    assert E.membrane_readout(x, 2.0, "mean").item() == pytest.approx((1 + 1.5 + 0.75 - 1.625) / 4)
    assert E.membrane_readout(x, 2.0, "max_abs").item() == -1.625
    # tau=1 follows the input; max_abs ties go to the minimum (SpikingJelly's max-abs-mem)
    tie = torch.tensor([[1.0, 2.0], [-1.0, -1.0]])
    assert E.membrane_readout(tie, 1.0, "max_abs").tolist() == [-1.0, 2.0]
    # without input decay: v = v/2 + x -> 2, 3, 1.5, -3.25; from v0 = 1: 2.5, 3.25, 1.625, -3.1875
    assert E.membrane_readout(x, 2.0, decay_input=False).flatten().tolist() == [2.0, 3.0, 1.5, -3.25]
    v = E.membrane_readout(x, 2.0, decay_input=False, v0=torch.ones(1))
    assert v.flatten().tolist() == [2.5, 3.25, 1.625, -3.1875]


@pytest.mark.parametrize("mode, decode", [("sequence", None), ("final", "last_mem"), ("max", "max-mem"),
                                          ("mean", "mean-mem"), ("max_abs", "max-abs-mem")])
def test_membrane_readout_matches_spikingjelly(mode: str, decode) -> None:
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = torch.randn(9, 3, 5)
    ref = neuron.NonSpikingLIFNode(tau=3.0, decode=decode)(x)
    if decode is None:
        ref = torch.stack(ref)
    torch.testing.assert_close(E.membrane_readout(x, 3.0, mode), ref)
    torch.testing.assert_close(E.MembraneReadout(3.0, mode)(x), ref)


@pytest.mark.parametrize("mode", E.READOUT_MODES)
def test_membrane_readout_module_state(mode: str) -> None:
    x = torch.randn(8, 2, 3)
    whole = E.MembraneReadout(2.5, mode)(x)
    split = E.MembraneReadout(2.5, mode)
    a, b = split(x[:3]), split(x[3:])
    if mode == "sequence":
        torch.testing.assert_close(torch.cat([a, b]), whole)
    else:
        torch.testing.assert_close(b, whole)
    single = E.MembraneReadout(2.5, mode, step_mode="s")
    outs = [single(xt) for xt in x]
    torch.testing.assert_close(torch.stack(outs) if mode == "sequence" else outs[-1], whole)
    snnkit.reset(split)
    assert split.v is None
    torch.testing.assert_close(split(x), whole)
    # gradients flow to the input
    xg = x.clone().requires_grad_()
    E.MembraneReadout(2.5, mode)(xg).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_membrane_readout_errors() -> None:
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        E.membrane_readout(x, 2.0, "last")
    with pytest.raises(ValueError, match="tau .*>= 1.*0.5"):
        E.membrane_readout(x, 0.5)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        E.membrane_readout(torch.randn(4), 2.0)
    with pytest.raises(ValueError, match="v0 has shape"):
        E.membrane_readout(x, 2.0, v0=torch.zeros(3))
    with pytest.raises(TypeError, match="floating"):
        E.membrane_readout(torch.ones(4, 2, dtype=torch.long), 2.0)
    ro = E.MembraneReadout(2.0)
    ro(x)
    with pytest.raises(ValueError, match="reset"):
        ro(torch.randn(4, 3))
    with pytest.raises(ValueError, match="mode"):
        E.MembraneReadout(2.0, "avg")
