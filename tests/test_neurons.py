"""Neuron modules: step modes, state carried and reset, hand-computed dynamics, bad input."""
from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import functional as F
from tests.conftest import CPU_BACKENDS


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_lif_hand_computed(backend: str) -> None:
    # tau=2, decay_input, hard reset to 0, threshold 1: h = v + (x - v)/2
    x = torch.tensor([[1.5], [1.5], [0.2], [3.0]])
    s, v = F.lif_multistep(x, tau=2.0, backend=backend)
    # t0: h=0.75 no spike; t1: h=0.75+(1.5-0.75)/2=1.125 spike -> 0; t2: h=0.1; t3: h=0.1+(3-0.1)/2=1.55 spike
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert v.item() == 0.0
    s, v = F.lif_multistep(x, tau=2.0, v_reset=None, backend=backend)
    # soft reset: t1 h=1.125 -> v=0.125; t2: 0.125+(0.2-0.125)/2=0.1625; t3: 0.1625+(3-0.1625)/2=1.58125 -> 0.58125
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert v.item() == pytest.approx(0.58125)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cuba_hand_computed(backend: str) -> None:
    x = torch.tensor([[0.6], [0.6], [0.0], [0.0]])
    s, (u, v) = F.cuba_lif_multistep(x, du=0.5, dv=0.5, v_threshold=1.0, backend=backend)
    # u: .6, .9, .45, .225 ; v: .6, .3+.9=1.2 -> spike, 0+.45=.45, .225+.225=.45
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert u.item() == pytest.approx(0.225) and v.item() == pytest.approx(0.45)


@pytest.mark.parametrize("cls", [snnkit.IF, snnkit.LIF, snnkit.PLIF, snnkit.CubaLIF])
def test_single_step_equals_multi_step_and_state_carries(cls) -> None:
    x = torch.randn(10, 3, 20) * 1.5
    multi = cls(step_mode="m")
    single = cls(step_mode="s")
    out_m = multi(x)
    out_s = torch.stack([single(xt) for xt in x])
    assert torch.equal(out_m, out_s)
    # splitting the sequence in two calls carries the state
    split = cls(step_mode="m")
    assert torch.equal(torch.cat([split(x[:4]), split(x[4:])]), out_m)
    assert torch.equal(split.v, multi.v)
    snnkit.reset(split)
    assert split.v is None
    assert torch.equal(split(x), out_m)


def test_state_can_be_set_and_read() -> None:
    lif = snnkit.LIF(tau=2.0)
    lif.v = torch.full((1, 1), 0.9)
    s = lif(torch.full((1, 1, 1), 1.2))  # h = 0.9 + (1.2 - 0.9)/2 = 1.05 -> spike
    assert s.item() == 1.0 and lif.v.item() == 0.0


def test_reset_whole_network_and_step_mode_switch() -> None:
    net = nn.Sequential(nn.Linear(4, 8), snnkit.LIF(step_mode="s"), nn.Linear(8, 2), snnkit.CubaLIF(step_mode="s"))
    for _ in range(3):
        net(torch.randn(5, 4))
    assert net[1].v is not None and net[3].u is not None
    snnkit.reset(net)
    assert net[1].v is None and net[3].u is None and net[3].v is None
    snnkit.set_step_mode(net, "m")
    assert net[1].step_mode == "m"


def test_plif_learns_tau() -> None:
    plif = snnkit.PLIF(init_tau=2.0)
    assert plif.tau == pytest.approx(2.0)
    x = torch.randn(8, 4, 16) + 0.8
    plif(x).sum().backward()
    assert plif.w.grad is not None and plif.w.grad.abs().item() > 0


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_plif_one_element_w_of_any_rank_keeps_the_input_shape(backend: str) -> None:
    """w of shape [1, 1] is a scalar: it must not broadcast x[T, B] to [T, 1, B] (as the reference loop did)."""
    x = torch.randn(5, 3)
    s0, v0 = F.plif_multistep(x, w=torch.tensor(0.4), backend=backend)
    w = torch.full((1, 1), 0.4, requires_grad=True)
    s, v = F.plif_multistep(x, w=w, backend=backend)
    assert s.shape == x.shape and v.shape == x.shape[1:]
    assert torch.equal(s, s0) and torch.equal(v, v0)
    (s.sum() + v.sum()).backward()
    assert w.grad.shape == (1, 1)


@pytest.mark.parametrize("bias", [float("nan"), float("inf"), "0.1", None, True])
def test_cuba_bias_must_be_a_finite_number(bias: object) -> None:
    """A NaN bias made every potential NaN and silently suppressed all spikes; a string failed deep inside."""
    with pytest.raises(TypeError, match="CubaLIF: bias must be a finite number"):
        snnkit.CubaLIF(bias=bias)
    for backend in CPU_BACKENDS:
        with pytest.raises(TypeError, match="cuba_lif_multistep: bias must be a finite number"):
            F.cuba_lif_multistep(torch.ones(3, 2), du=0.5, dv=0.5, bias=bias, backend=backend)


def test_graded_spikes_carry_the_potential() -> None:
    x = torch.tensor([[[2.0]], [[0.1]]])
    s = snnkit.LIF(tau=1.0, graded=True)(x)  # tau=1: h = x + v_reset... h = v + (x - v) = x
    assert s.flatten().tolist() == [2.0, 0.0]


def test_outputs_are_float_zero_one() -> None:
    s = snnkit.LIF()(torch.randn(6, 2, 9) * 3)
    assert s.dtype == torch.float32 and set(s.unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- bad input
def test_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        snnkit.LIF(step_mode="m")(torch.randn(5))
    with pytest.raises(ValueError, match="scalar"):
        snnkit.LIF(step_mode="s")(torch.tensor(1.0))


def test_mismatched_state() -> None:
    lif = snnkit.LIF()
    lif(torch.randn(4, 3, 10))
    with pytest.raises(ValueError, match=r"needs \(2, 10\): call snnkit.reset"):
        lif(torch.randn(4, 2, 10))  # batch changed without reset
    with pytest.raises(ValueError, match="v0 has shape"):
        F.lif_multistep(torch.randn(4, 3, 10), torch.zeros(3, 11))


def test_integer_dtypes() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        snnkit.LIF()(torch.ones(4, 2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="v0 must be floating"):
        F.lif_multistep(torch.ones(4, 2), torch.zeros(2, dtype=torch.int32))


@pytest.mark.parametrize("tau", [0.0, -1.0, 0.5, math.nan, math.inf])
def test_bad_tau(tau: float) -> None:
    with pytest.raises(ValueError, match="tau"):
        snnkit.LIF(tau=tau)
    with pytest.raises(ValueError, match="tau"):
        F.lif_multistep(torch.randn(2, 2), tau=tau)


def test_threshold_not_above_reset() -> None:
    with pytest.raises(ValueError, match=r"v_threshold \(0.5\) must be above v_reset \(0.5\)"):
        snnkit.LIF(v_threshold=0.5, v_reset=0.5)
    with pytest.raises(ValueError, match="must be > 0"):
        snnkit.IF(v_threshold=-1.0, v_reset=None)
    with pytest.raises(ValueError, match="v_threshold"):
        F.cuba_lif_multistep(torch.randn(2, 2), du=0.1, dv=0.1, v_threshold=-0.1)


def test_bad_decays_backend_step_mode_surrogate() -> None:
    with pytest.raises(ValueError, match="du must be"):
        snnkit.CubaLIF(du=1.5)
    with pytest.raises(ValueError, match="backend"):
        snnkit.LIF(backend="cuda")
    with pytest.raises(ValueError, match="step_mode"):
        snnkit.LIF(step_mode="multi")
    with pytest.raises(ValueError, match="unknown surrogate 'erf'"):
        snnkit.LIF(surrogate="erf")
    with pytest.raises(ValueError, match="triton"):
        F.lif_multistep(torch.randn(2, 2), backend="triton")


def test_custom_surrogate_runs_on_the_reference_loop() -> None:
    from dataclasses import dataclass

    from snnkit import surrogate as S

    @dataclass(frozen=True)
    class Box(S.Surrogate):
        width: float = 0.5
        name = "box"

        def derivative(self, x: torch.Tensor) -> torch.Tensor:
            return (x.abs() < self.width).to(x.dtype)

    x = (torch.rand(5, 2, 7) * 3).requires_grad_()
    s, _ = F.lif_multistep(x, surrogate=Box())
    s.sum().backward()
    s_ref, _ = F.lif_multistep(x.detach(), surrogate="atan", backend="reference")
    assert torch.equal(s, s_ref) and x.grad is not None
    with pytest.raises(ValueError, match="custom surrogate"):
        F.lif_multistep(x, surrogate=Box(), backend="cpu")
    with pytest.raises(ValueError, match="positive finite"):
        S.ATan(alpha=-1.0)


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_a_kept_state_of_another_batch_size_asks_for_a_reset(step_mode: str) -> None:
    """A neuron called on a new batch size without reset names the kept state and the fix."""
    n = snnkit.LIF(tau=2.0, step_mode=step_mode)
    shape = (4, 3) if step_mode == "s" else (2, 4, 3)
    n(torch.rand(shape))
    bigger = (5, 3) if step_mode == "s" else (2, 5, 3)
    with pytest.raises(ValueError, match=r"kept from the previous call has shape \(4, 3\).*snnkit.reset\(net\)"):
        n(torch.rand(bigger))
    snnkit.reset(n)
    assert n(torch.rand(bigger)).shape == bigger


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_numpy_scalar_parameters_act_as_the_same_floats(backend: str) -> None:
    """np.float32 / np.int64 parameters (a sweep over a NumPy array) were refused with a message
    contradicting itself ('v_threshold must be a finite number, got 0.5'); they are numbers."""
    import numpy as np

    x = torch.randn(6, 2, 8, generator=torch.Generator().manual_seed(0)) * 1.5
    np_kw = dict(v_threshold=np.float32(0.5), v_reset=np.float32(-0.5), surrogate=snnkit.surrogate.ATan(np.float32(3.0)))
    kw = dict(v_threshold=0.5, v_reset=-0.5, surrogate=snnkit.surrogate.ATan(3.0))
    pairs = [
        (F.lif_multistep(x, tau=np.float32(3.0), backend=backend, **np_kw), F.lif_multistep(x, tau=3.0, backend=backend, **kw)),
        (F.if_multistep(x, backend=backend, **np_kw), F.if_multistep(x, backend=backend, **kw)),
        (F.plif_multistep(x, w=torch.tensor(0.2), backend=backend, **np_kw),
         F.plif_multistep(x, w=torch.tensor(0.2), backend=backend, **kw)),
        (F.cuba_lif_multistep(x, du=np.float32(0.25), dv=np.float64(0.5), bias=np.float32(0.125),
                              v_threshold=np.int64(1), backend=backend),
         F.cuba_lif_multistep(x, du=0.25, dv=0.5, bias=0.125, v_threshold=1.0, backend=backend)),
    ]
    for got, want in pairs:
        assert torch.equal(got[0], want[0])
    xs = x.clone().requires_grad_()
    F.lif_multistep(xs, backend=backend, **np_kw)[0].sum().backward()
    xr = x.clone().requires_grad_()
    F.lif_multistep(xr, backend=backend, **kw)[0].sum().backward()
    assert isinstance(xs.grad, torch.Tensor) and torch.equal(xs.grad, xr.grad)
    lif = snnkit.LIF(tau=np.int64(2), v_threshold=np.float32(0.5), backend=backend)
    assert lif.tau == 2.0 and lif.v_threshold == 0.5
    assert snnkit.PLIF(init_tau=np.float32(3.0)).tau == pytest.approx(3.0)
    assert snnkit.CubaLIF(du=np.float32(0.5), bias=np.float64(0.1)).du == 0.5
    with pytest.raises(TypeError, match="v_threshold must be a finite number, got True"):
        snnkit.LIF(v_threshold=True)


@pytest.mark.parametrize("kw, words", [
    (dict(tau=4.0, decay_input=False, v_reset=0.0), "needs a soft reset (v_reset=None), got v_reset=0.0"),
    (dict(tau=4.0, decay_input=True, v_reset=None), "needs decay_input=False"),
    (dict(tau=1.0, decay_input=False, v_reset=None), "needs tau > 1, got tau=1.0"),
])
def test_lif_reset_delay_refuses_what_it_cannot_port(kw: dict, words: str) -> None:
    """reset_delay=True (snnTorch's delayed subtract reset) is only defined for soft reset, no input decay, tau > 1."""
    with pytest.raises(ValueError, match=re.escape("LIF: reset_delay=True")) as err:
        snnkit.LIF(reset_delay=True, **kw)
    assert words in str(err.value)
    with pytest.raises(ValueError, match=re.escape("lif_multistep: reset_delay=True")):
        snnkit.functional.lif_multistep(torch.zeros(2, 1, 3), reset_delay=True, **kw)
    with pytest.raises(TypeError, match="reset_delay must be a bool, got 'yes'"):
        snnkit.LIF(tau=4.0, decay_input=False, v_reset=None, reset_delay="yes")


def test_lif_reset_delay_subtracts_threshold_over_beta() -> None:
    """Hand-computed: tau=4 (beta=0.75), thr=1: x=1.2 fires, v = 1.2 - 1/0.75 = -2/15; the next charge
    0.75 * (-2/15) + 0.9 = 0.8 = 0.75 * 1.2 + 0.9 - 1 (snnTorch's mem), silent; a plain soft reset gives 1.05 and fires."""
    x = torch.tensor([1.2, 0.9], dtype=torch.float64).reshape(2, 1, 1)
    for backend in ("reference", "cpu"):
        lif = snnkit.LIF(tau=4.0, decay_input=False, v_reset=None, reset_delay=True, backend=backend)
        assert lif(x).flatten().tolist() == [1.0, 0.0]
        assert abs(lif.v.item() - 0.8) < 1e-12
        plain = snnkit.LIF(tau=4.0, decay_input=False, v_reset=None, backend=backend)
        assert plain(x).flatten().tolist() == [1.0, 1.0]
    assert "reset_delay=True" in repr(snnkit.LIF(tau=4.0, decay_input=False, v_reset=None, reset_delay=True))
    assert "reset_delay" not in repr(snnkit.LIF())
