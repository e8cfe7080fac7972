"""snnkit neurons against their peers: same inputs, converted parameters, identical spikes.

Each comparison feeds one float32 input ``x[T=8, B=4, 37]`` to a peer neuron and to the
matching snnkit neuron (once per CPU backend: ``reference`` and the fused ``cpu`` kernel),
in two chunks (T=3 then T=5) so the state carried between calls is exercised, and
back-propagates the same random upstream gradients through spikes (and, where both sides
expose the same quantity, the final membrane potential). Spikes and final potentials must
be identical (``torch.equal``); gradients with respect to the input (and PLIF's ``w``)
close to rtol 1e-5 / atol 1e-6. The peers are then reset
(``spikingjelly.activation_based.functional.reset_net`` / ``snnkit.reset``) and run again
on a second input, which must again agree.

SpikingJelly 2.0 (``spikingjelly.activation_based.neuron``)
    ``LIFNode``, ``ParametricLIFNode`` and ``IFNode`` take the same arguments as
    ``snnkit.LIF``/``PLIF``/``IF`` (``tau``/``init_tau``, ``decay_input``, ``v_threshold``,
    ``v_reset`` with ``None`` = soft reset, ``detach_reset``); only the surrogate keyword
    differs (``surrogate_function=surrogate.ATan()`` vs ``surrogate=snnkit.surrogate.ATan()``).
    SpikingJelly 2.0 has no ``backend=`` argument any more: a CPU tensor always runs its
    CPU implementation (a torch loop with a hand-written backward for the built-in
    surrogates, an autograd loop for the others), so that is what is compared here.
    PLIF's learnable parameter is ``w`` in both, with ``1/tau = sigmoid(w)`` and
    ``w0 = -log(init_tau - 1)``.

snnTorch 1.0 (``snntorch.Leaky``), mapping worked out from ``snntorch/_neurons/leaky.py``
    Per step: ``reset = H(mem_prev - thr)`` (detached), ``mem = beta*mem_prev + x`` with
    reset-to-zero applied to ``mem_prev`` first (``zero``) or ``thr*reset`` subtracted
    afterwards (``subtract``); ``spk = H(mem - thr)`` with a strict ``>``. By default
    (``reset_delay=True``) the stored ``mem`` is the *pre-reset* charge and the reset is
    applied one step late, from the previous step's membrane.

    snnkit ``LIF(decay_input=False, tau=1/(1-beta))`` charges ``h = v - v/tau + x``, which
    is ``beta*v + x`` with ``v_reset=0``. With ``beta = 1 - 2**-k`` (0.5, 0.75, 0.875) ``v/tau``
    is exact and ``v - v/tau`` rounds to the same float as ``beta*v``, so the two
    libraries do bit-identical arithmetic; other betas agree only to 1 ulp per step and
    could flip a spike sitting on the threshold, so they are not used here. The spike
    convention (``>`` vs ``>=``) only differs when the charge equals the threshold
    exactly, which random float inputs do not hit.

    * ``reset_mechanism="zero"`` (default ``reset_delay=True``) == ``LIF(v_reset=0.0,
      detach_reset=True)``: ``mem_t = beta*(1 - s_{t-1})*mem_{t-1} + x_t`` is exactly snnkit's
      ``h_t`` with hard reset to 0 and snnTorch's reset is detached. snnTorch's ``mem`` is
      the charge ``h``; snnkit's ``v`` is ``(1 - s)*h``.
    * ``reset_mechanism="zero", reset_delay=False`` == ``LIF(v_reset=0.0, detach_reset=False)``:
      the reset ``mem - spk*mem`` now happens in the same step and carries the spike's
      surrogate gradient; ``mem`` is snnkit's ``v``.
    * ``reset_mechanism="subtract", reset_delay=False`` == ``LIF(v_reset=None,
      detach_reset=False)`` *while the membrane after a reset stays below the threshold*
      (inputs bounded by ``x < thr`` guarantee it: ``h < beta*thr + thr < 2*thr``). When the
      post-reset membrane is still above threshold, snnTorch subtracts ``thr`` once more
      before the next spike decision ("avoid double reset"), which no snnkit neuron does
      (see ``test_snntorch_known_differences``).
    * ``reset_mechanism="subtract"`` with the default ``reset_delay=True`` subtracts an
      *undecayed* threshold one step late: ``h_{t+1} = beta*h_t + x - thr*s_t`` where snnkit's
      plain soft reset has ``beta*(h_t - thr*s_t) + x``. ``LIF(..., reset_delay=True)`` subtracts
      ``thr/beta`` instead, which the leak turns into ``thr``: the same recursion, tested over
      many steps in float64 for several betas. For ``beta = 1`` snnTorch's Leaky is also
      ``IF(v_reset=None, detach_reset=True)``; that case is tested (on inputs where the
      different summation order cannot round differently, see the test).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import pytest
import torch

import snnkit
import snnkit.kernels.cpu as cpu_kernels
from snnkit import surrogate as S

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
snntorch = pytest.importorskip("snntorch")
st_surrogate = pytest.importorskip("snntorch.surrogate")

CPU_BACKENDS = ["reference"] + (["cpu"] if cpu_kernels.available() else [])
SHAPE = (8, 4, 37)  # [T, B, N]
T1 = 3  # first chunk; the second chunk (T - T1 steps) starts from the carried state
RTOL, ATOL = 1e-5, 1e-6

Tensor = torch.Tensor
Forward = Callable[[Tensor], Tensor]


def _input(seed: int, offset: float, scale: float, hi: Optional[float] = None) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    x = offset + scale * torch.randn(SHAPE, generator=g, dtype=torch.float32)
    return x if hi is None else x.clamp(max=hi)


def _run(forward: Forward, x: Tensor, final_v: Optional[Callable[[], Tensor]], params: Sequence[Tensor],
         seed: int) -> Tuple[Tensor, Optional[Tensor], List[Tensor]]:
    """Two chunks through ``forward``; loss = <spikes, gs> (+ <v_T, gv>); returns spikes, v_T, grads."""
    xs = x.detach().clone().requires_grad_()
    s = torch.cat([forward(xs[:T1]), forward(xs[T1:])])
    g = torch.Generator().manual_seed(seed + 1000)
    loss = (s * torch.randn(s.shape, generator=g)).sum()
    v = None
    if final_v is not None:
        v = final_v()
        loss = loss + (v * torch.randn(v.shape, generator=g)).sum()
    grads = torch.autograd.grad(loss, [xs, *params])
    return s.detach(), None if v is None else v.detach(), list(grads)


def _compare(ours: Tuple, theirs: Tuple, what: str, check_v: bool = True) -> None:
    s_o, v_o, g_o = ours
    s_t, v_t, g_t = theirs
    assert s_o.dtype == s_t.dtype == torch.float32
    assert torch.equal(s_o, s_t), f"{what}: spikes differ at {int((s_o != s_t).sum())} places"
    rate = s_o.mean().item()
    assert 0.03 < rate < 0.8, f"{what}: firing rate {rate:.3f}: the inputs do not exercise the neuron"
    if check_v and v_o is not None and v_t is not None:
        assert torch.equal(v_o, v_t), f"{what}: final membrane potential differs"
    names = ["x"] + [f"param{i}" for i in range(1, len(g_o))]
    for name, a, b in zip(names, g_o, g_t):
        assert a.abs().sum() > 0, f"{what}: zero gradient wrt {name}"
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: grad wrt {name}: {m}")


def _versus(make_ours: Callable[[], torch.nn.Module], make_theirs: Callable[[], torch.nn.Module],
            inputs: Sequence[Tensor], what: str, params: Callable[[torch.nn.Module], List[Tensor]] = lambda m: [],
            with_v: bool = True) -> None:
    """Run snnkit and SpikingJelly side by side on each input, resetting both in between."""
    ours, theirs = make_ours(), make_theirs()
    for i, x in enumerate(inputs):
        snnkit.reset(ours)
        sj_functional.reset_net(theirs)
        assert ours.v is None
        r_o = _run(ours, x, (lambda: ours.v) if with_v else None, params(ours), seed=i)
        r_t = _run(theirs, x, (lambda: theirs.v) if with_v else None, params(theirs), seed=i)
        _compare(r_o, r_t, f"{what} run {i}")


# ---------------------------------------------------------------------------------------------
# SpikingJelly
# ---------------------------------------------------------------------------------------------
RESETS = {  # name: (v_threshold, v_reset)
    "hard0": (1.0, 0.0),
    "hard_neg": (0.8, -0.3),
    "soft": (1.0, None),
}


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("detach_reset", [False, True], ids=["grad_reset", "detach_reset"])
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("decay_input", [True, False], ids=["decay_input", "no_decay_input"])
@pytest.mark.parametrize("tau", [2.0, 2.7])
def test_lif_vs_spikingjelly(tau: float, decay_input: bool, reset: str, detach_reset: bool, backend: str) -> None:
    vth, vr = RESETS[reset]
    kw = dict(tau=tau, decay_input=decay_input, v_threshold=vth, v_reset=vr, detach_reset=detach_reset)
    off, sc = (1.0, 1.5) if decay_input else (0.3, 0.8)
    _versus(
        lambda: snnkit.LIF(**kw, surrogate=S.ATan(), step_mode="m", backend=backend),
        lambda: sj_neuron.LIFNode(**kw, surrogate_function=sj_surrogate.ATan(), step_mode="m"),
        [_input(1, off, sc), _input(2, off, sc)], f"LIF {kw} {backend}",
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("pair", [
    (S.ATan(alpha=3.0), lambda: sj_surrogate.ATan(alpha=3.0)),
    (S.Sigmoid(alpha=4.0), lambda: sj_surrogate.Sigmoid(alpha=4.0)),
    (S.PiecewiseQuadratic(alpha=1.0), lambda: sj_surrogate.PiecewiseQuadratic(alpha=1.0)),
    (S.Rectangular(alpha=1.5), lambda: sj_surrogate.Rect(alpha=1.5)),
], ids=["atan3", "sigmoid4", "pwq1", "rect1.5"])
def test_lif_surrogates_vs_spikingjelly(pair: Tuple, backend: str) -> None:
    ours_sg, make_sj_sg = pair
    kw = dict(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    _versus(
        lambda: snnkit.LIF(**kw, surrogate=ours_sg, step_mode="m", backend=backend),
        lambda: sj_neuron.LIFNode(**kw, surrogate_function=make_sj_sg(), step_mode="m"),
        [_input(3, 1.0, 1.5)], f"LIF {ours_sg} {backend}",
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("detach_reset", [False, True], ids=["grad_reset", "detach_reset"])
@pytest.mark.parametrize("reset", ["hard0", "soft"])
@pytest.mark.parametrize("decay_input", [True, False], ids=["decay_input", "no_decay_input"])
@pytest.mark.parametrize("init_tau", [2.0, 3.3])
def test_plif_vs_spikingjelly(init_tau: float, decay_input: bool, reset: str, detach_reset: bool,
                              backend: str) -> None:
    vth, vr = RESETS[reset]
    kw = dict(decay_input=decay_input, v_threshold=vth, v_reset=vr, detach_reset=detach_reset)
    ours = snnkit.PLIF(init_tau=init_tau, **kw, surrogate=S.ATan(), step_mode="m", backend=backend)
    theirs = sj_neuron.ParametricLIFNode(init_tau=init_tau, **kw, surrogate_function=sj_surrogate.ATan(),
                                         step_mode="m")
    assert torch.equal(ours.w.detach(), theirs.w.detach()), "initial w differs"
    assert ours.tau == pytest.approx(init_tau, rel=1e-6)
    off, sc = (1.0, 1.5) if decay_input else (0.3, 0.8)
    _versus(lambda: ours, lambda: theirs, [_input(4, off, sc), _input(5, off, sc)], f"PLIF {kw} {backend}",
            params=lambda m: [m.w])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_plif_training_step_vs_spikingjelly(backend: str) -> None:
    """After an identical SGD step on w (and a reset) both still agree: w's gradient has the right size."""
    ours = snnkit.PLIF(init_tau=2.0, surrogate=S.ATan(), step_mode="m", backend=backend)
    theirs = sj_neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=sj_surrogate.ATan(), step_mode="m")
    x = _input(6, 1.0, 1.5)
    for m in (ours, theirs):
        _, _, (_, gw) = _run(m, x, lambda m=m: m.v, [m.w], seed=0)
        with torch.no_grad():
            m.w -= 0.02 * gw
    torch.testing.assert_close(ours.w.detach(), theirs.w.detach(), rtol=RTOL, atol=ATOL)
    assert ours.w.item() != pytest.approx(0.0)  # it moved from -log(1) = 0
    # re-align w exactly so the second comparison is about dynamics, not the first step's rounding
    with torch.no_grad():
        ours.w.copy_(theirs.w)
    _versus(lambda: ours, lambda: theirs, [_input(7, 1.0, 1.5)], f"PLIF after a step {backend}",
            params=lambda m: [m.w])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("detach_reset", [False, True], ids=["grad_reset", "detach_reset"])
@pytest.mark.parametrize("reset", list(RESETS))
def test_if_vs_spikingjelly(reset: str, detach_reset: bool, backend: str) -> None:
    vth, vr = RESETS[reset]
    kw = dict(v_threshold=vth, v_reset=vr, detach_reset=detach_reset)
    _versus(
        lambda: snnkit.IF(**kw, surrogate=S.ATan(), step_mode="m", backend=backend),
        lambda: sj_neuron.IFNode(**kw, surrogate_function=sj_surrogate.ATan(), step_mode="m"),
        [_input(8, 0.25, 0.8), _input(9, 0.25, 0.8)], f"IF {kw} {backend}",
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_single_step_mode_vs_spikingjelly(backend: str) -> None:
    """step_mode='s' on both sides, one time step per call."""
    kw = dict(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    ours = snnkit.LIF(**kw, surrogate=S.ATan(), step_mode="s", backend=backend)
    theirs = sj_neuron.LIFNode(**kw, surrogate_function=sj_surrogate.ATan(), step_mode="s")

    def stepper(m: torch.nn.Module) -> Forward:
        return lambda xc: torch.stack([m(xt) for xt in xc])

    x = _input(10, 1.0, 1.5)
    snnkit.reset(ours)
    sj_functional.reset_net(theirs)
    r_o = _run(stepper(ours), x, lambda: ours.v, [], seed=0)
    r_t = _run(stepper(theirs), x, lambda: theirs.v, [], seed=0)
    _compare(r_o, r_t, f"LIF single-step {backend}")


# ---------------------------------------------------------------------------------------------
# snnTorch
# ---------------------------------------------------------------------------------------------
def _leaky_forward(leaky: torch.nn.Module) -> Forward:
    """Drive snnTorch's single-step Leaky over a chunk [T', B, N] (state kept in ``leaky.mem``)."""
    def forward(xc: Tensor) -> Tensor:
        return torch.stack([leaky(xt)[0] for xt in xc])

    return forward


def _versus_snntorch(make_ours: Callable[[], torch.nn.Module], make_leaky: Callable[[], torch.nn.Module],
                     inputs: Sequence[Tensor], what: str, mem_is_v: bool,
                     check_ours_v: Optional[Callable[[Tensor, Tensor, Tensor], None]] = None) -> None:
    ours, leaky = make_ours(), make_leaky()
    for i, x in enumerate(inputs):
        snnkit.reset(ours)
        leaky.reset_mem()
        r_o = _run(ours, x, (lambda: ours.v) if mem_is_v else None, [], seed=i)
        r_t = _run(_leaky_forward(leaky), x, (lambda: leaky.mem) if mem_is_v else None, [], seed=i)
        _compare(r_o, r_t, f"{what} run {i}")
        if check_ours_v is not None:
            check_ours_v(ours.v.detach(), leaky.mem.detach(), r_o[0][-1])


def _check_v_is_reset_charge(v: Tensor, mem: Tensor, s_last: Tensor) -> None:
    # with reset_delay=True snnTorch keeps the pre-reset charge h; snnkit's hard-reset v = (1 - s) * h
    assert torch.equal(v, (1 - s_last) * mem)


BETAS = [0.5, 0.75, 0.875]  # 1 - beta = 2**-k: beta*v and v - v/tau round identically


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("beta", BETAS)
def test_leaky_zero_reset_vs_snntorch(beta: float, backend: str) -> None:
    """Leaky(zero, reset_delay=True) == LIF(decay_input=False, tau=1/(1-beta), v_reset=0, detach_reset=True)."""
    tau = 1.0 / (1.0 - beta)
    _versus_snntorch(
        lambda: snnkit.LIF(tau=tau, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                           surrogate=S.ATan(alpha=2.0), step_mode="m", backend=backend),
        lambda: snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero",
                               spike_grad=st_surrogate.atan(alpha=2.0)),
        [_input(11, 0.3, 0.8), _input(12, 0.3, 0.8)], f"Leaky zero beta={beta} {backend}",
        mem_is_v=False, check_ours_v=_check_v_is_reset_charge,
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("beta", BETAS)
def test_leaky_zero_reset_no_delay_vs_snntorch(beta: float, backend: str) -> None:
    """Leaky(zero, reset_delay=False) == LIF(decay_input=False, tau=1/(1-beta), v_reset=0, detach_reset=False)."""
    tau = 1.0 / (1.0 - beta)
    _versus_snntorch(
        lambda: snnkit.LIF(tau=tau, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                           surrogate=S.ATan(alpha=3.0), step_mode="m", backend=backend),
        lambda: snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False,
                               spike_grad=st_surrogate.atan(alpha=3.0)),
        [_input(13, 0.3, 0.8), _input(14, 0.3, 0.8)], f"Leaky zero no-delay beta={beta} {backend}",
        mem_is_v=True,
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("beta", BETAS)
def test_leaky_subtract_no_delay_vs_snntorch(beta: float, backend: str) -> None:
    """Leaky(subtract, reset_delay=False) == LIF(decay_input=False, tau=1/(1-beta), v_reset=None, detach_reset=False).

    Inputs are capped below the threshold so the membrane after a reset stays below it (see module
    docstring); not *at* it, since from rest ``h = x`` would then sit exactly on the threshold, where
    snnTorch's ``>`` and our ``>=`` legitimately differ.
    """
    tau = 1.0 / (1.0 - beta)
    thr = 1.0
    _versus_snntorch(
        lambda: snnkit.LIF(tau=tau, decay_input=False, v_threshold=thr, v_reset=None, detach_reset=False,
                           surrogate=S.ATan(alpha=2.0), step_mode="m", backend=backend),
        lambda: snntorch.Leaky(beta=beta, threshold=thr, reset_mechanism="subtract", reset_delay=False,
                               spike_grad=st_surrogate.atan(alpha=2.0)),
        [_input(15, 0.3, 0.8, hi=0.95 * thr), _input(16, 0.3, 0.8, hi=0.95 * thr)],
        f"Leaky subtract no-delay beta={beta} {backend}",
        mem_is_v=True,
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_leaky_subtract_beta1_vs_snntorch(backend: str) -> None:
    """Leaky(beta=1, subtract, reset_delay=True) == IF(v_reset=None, detach_reset=True).

    snnTorch sums ``(mem + x) - thr*s`` where snnkit sums ``(h - thr*s) + x``. To make that order
    irrelevant the inputs lie on a 2**-10 grid and the threshold on a finer one (1 + 2**-12): every
    sum is then exact in float32, and no charge can land exactly on the threshold.
    """
    thr = 1.0 + 2.0**-12

    def check(v: Tensor, mem: Tensor, s_last: Tensor) -> None:
        assert torch.equal(v, mem - s_last * thr)  # snnTorch keeps the pre-reset charge

    def grid(x: Tensor) -> Tensor:
        return torch.round(x * 1024) / 1024

    _versus_snntorch(
        lambda: snnkit.IF(v_threshold=thr, v_reset=None, detach_reset=True, surrogate=S.ATan(alpha=2.0),
                          step_mode="m", backend=backend),
        lambda: snntorch.Leaky(beta=1.0, threshold=thr, reset_mechanism="subtract",
                               spike_grad=st_surrogate.atan(alpha=2.0)),
        [grid(_input(17, 0.25, 0.8)), grid(_input(18, 0.25, 0.8))], f"Leaky subtract beta=1 {backend}",
        mem_is_v=False, check_ours_v=check,
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("beta", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_leaky_subtract_default_delay_vs_snntorch(beta: float, backend: str) -> None:
    """snnTorch's default Leaky(beta) (subtract, reset_delay=True) == LIF(tau=1/(1-beta), decay_input=False,
    v_reset=None, detach_reset=True, reset_delay=True), over 120 steps in float64.

    snnkit subtracts thr/beta after a spike and the next leak makes it thr, so its charge ``h`` is
    snnTorch's ``mem`` up to rounding (different summation order: float64 here, so a spike could flip
    only for a charge within ~1e-15 of the threshold). Spikes must be identical, the input gradients
    equal to float64 rounding, and the final ``v`` must be ``mem - s * thr / beta``.
    """
    g = torch.Generator().manual_seed(int(beta * 100))
    T, thr = 120, 0.9
    x = (0.15 + 0.7 * torch.randn(T, 4, 37, generator=g, dtype=torch.float64))
    leaky = snntorch.Leaky(beta=beta, threshold=thr)  # every default: subtract, reset_delay=True, atan(2)
    b, thr = leaky.beta.item(), leaky.threshold.item()  # snnTorch keeps both as float32 tensors: port those values
    ours = snnkit.LIF(tau=1 / (1 - b), decay_input=False, v_threshold=thr, v_reset=None, detach_reset=True,
                      reset_delay=True, backend=backend)
    xs_t, xs_o = x.clone().requires_grad_(), x.clone().requires_grad_()
    s_t = torch.stack([leaky(xt)[0] for xt in xs_t])
    s_o = ours(xs_o)
    assert torch.equal(s_o.float(), s_t), f"beta={beta}: {int((s_o.float() != s_t).sum())} spikes differ"
    assert 0.05 < s_o.mean().item() < 0.6
    gs = torch.randn(s_o.shape, generator=g, dtype=torch.float64)
    gm = torch.randn(s_o.shape[1:], generator=g, dtype=torch.float64)
    mem_o = ours.v + s_o[-1].detach() * thr / b  # the charge h_T: snnTorch's final mem
    torch.testing.assert_close(mem_o, leaky.mem, rtol=1e-9, atol=1e-9)
    (gt,) = torch.autograd.grad((s_t * gs).sum() + (leaky.mem * gm).sum(), xs_t)
    (go,) = torch.autograd.grad((s_o * gs).sum() + (mem_o * gm).sum(), xs_o)
    assert go.abs().sum() > 0
    torch.testing.assert_close(go, gt, rtol=RTOL, atol=ATOL)  # snnTorch's float32 spikes carry float32 gradients


def test_snntorch_known_differences() -> None:
    """Pin the two snnTorch behaviours the mapping above steers around (so the docstring stays true)."""
    beta, thr = 0.5, 1.0
    # (1) subtract, reset_delay=False: a post-reset membrane still above threshold.
    # t0: h = 2.5 fires, v = 1.5 (>= thr).  t1: h = 0.75 + 0.6 = 1.35: snnkit fires; snnTorch first
    # subtracts thr again (1.35 - 1 = 0.35 < thr) and does not.
    x = torch.tensor([[[2.5]], [[0.6]]])
    ours = snnkit.LIF(tau=2.0, decay_input=False, v_reset=None, backend="reference")(x)
    leaky = snntorch.Leaky(beta=beta, threshold=thr, reset_mechanism="subtract", reset_delay=False)
    theirs = _leaky_forward(leaky)(x)
    assert ours.flatten().tolist() == [1.0, 1.0]
    assert theirs.flatten().tolist() == [1.0, 0.0]
    # (2) subtract, default reset_delay=True, beta < 1: the threshold is subtracted undecayed a step late.
    # t0: h = 1.2 fires.  snnkit t1: 0.5*(1.2 - 1) + 0.85 = 0.95 (silent); snnTorch: 0.5*1.2 + 0.85 - 1 = 0.45.
    # t2 (+0.6): snnkit 0.475 + 0.6 = 1.075 fires; snnTorch 0.225 + 0.6 = 0.825 does not.
    x = torch.tensor([[[1.2]], [[0.85]], [[0.6]]])
    ours = snnkit.LIF(tau=2.0, decay_input=False, v_reset=None, backend="reference")(x)
    leaky = snntorch.Leaky(beta=beta, threshold=thr, reset_mechanism="subtract")
    theirs = _leaky_forward(leaky)(x)
    assert ours.flatten().tolist() == [1.0, 0.0, 1.0]
    assert theirs.flatten().tolist() == [1.0, 0.0, 0.0]
    # reset_delay=True subtracts thr/beta = 2: t1 0.5*(1.2 - 2) + 0.85 = 0.45, t2 0.225 + 0.6 = 0.825, as snnTorch
    delayed = snnkit.LIF(tau=2.0, decay_input=False, v_reset=None, detach_reset=True, reset_delay=True,
                         backend="reference")(x)
    assert delayed.flatten().tolist() == [1.0, 0.0, 0.0]
