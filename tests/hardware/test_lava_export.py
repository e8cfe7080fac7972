"""to_lava / compare: float exports reproduce PyTorch exactly; fixed point matches our bit-accurate reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.attention import TCJA

pytest.importorskip("lava", reason="lava-nc not installed")

from snnkit.hardware import compare, to_lava  # noqa: E402
from snnkit.hardware.lava import plan_network  # noqa: E402
from snnkit.hardware.graph import trace  # noqa: E402


def _cuba_net() -> nn.Sequential:
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Linear(6, 12), snnkit.CubaLIF(du=0.3, dv=0.2, v_threshold=1.0, bias=0.05),
        nn.Linear(12, 4), snnkit.CubaLIF(du=1.0, dv=0.1, v_threshold=0.5),
    ).double().eval()
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    return net


def _conv_net() -> nn.Sequential:
    torch.manual_seed(4)
    net = nn.Sequential(
        L.TimeDistributed(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4))),
        snnkit.LIF(tau=2.0),
        L.SumPool2d(2),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.8, bias=0.01),
        L.TimeDistributed(nn.Conv2d(4, 3, 3, stride=2, padding=1)),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.5),
        L.Flatten(),
        nn.Linear(12, 5),
        snnkit.IF(v_threshold=1.0),
        nn.Linear(5, 3),
    ).eval()
    bn = net[0].module[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        net[0].module[0].weight.mul_(5.0)
        net[4].module.weight.mul_(3.0)
        net[7].weight.mul_(3.0)
    return net


def test_float_export_of_cuba_network_reproduces_pytorch_exactly() -> None:
    """Linear -> CubaLIF -> Linear -> CubaLIF in float64: 100% spike agreement (biases, du < 1, 3 samples)."""
    net = _cuba_net()
    x = torch.rand(16, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rep = compare(net, x)
    d = rep.to_dict()
    assert d["spike_agreement"] == 1.0
    assert d["per_layer"] == {"1": 1.0, "3": 1.0}
    assert d["first_divergence"] is None
    assert d["class_agreement"] == 1.0
    assert d["spike_counts"]["1"]["torch"] > 40 and d["spike_counts"]["3"]["torch"] > 5


def test_float_voltages_and_currents_match_the_pytorch_dynamics() -> None:
    net = _cuba_net()
    x = torch.rand(10, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = to_lava(net, (6,)).run(x, record_voltage=True, record_current=True)
    with torch.no_grad():
        h = net[0](x)
    u = torch.zeros(2, 12, dtype=torch.float64)
    v = torch.zeros_like(u)
    us, vs = [], []
    for t in range(10):
        u = u * 0.7 + h[t]
        v = v * 0.8 + u + 0.05
        v = torch.where(v > 1.0, torch.zeros_like(v), v)
        us.append(u.clone())
        vs.append(v.clone())
    np.testing.assert_allclose(res.voltages["1"], torch.stack(vs).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.currents["1"], torch.stack(us).numpy(), rtol=0, atol=1e-12)
    assert res.depth == {"1": 1, "3": 2} and res.steps == 2 * 10 + 2


def test_conv_pool_batchnorm_network_float_is_exact_with_sparse_convs() -> None:
    net = _conv_net()
    x = (torch.rand(8, 2, 2, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    rep = compare(net, x, conv="sparse")
    assert rep.spike_agreement == 1.0, str(rep)
    assert rep.class_agreement == 1.0
    assert sum(c["torch"] for c in rep.spike_counts.values()) > 100


def test_network_that_resizes_its_input_by_adaptive_pooling_runs_exactly_in_lava() -> None:
    """A leading AdaptiveAvgPool2d (TCJA-SNN's `resize`) with a size dividing the input folds into the first conv."""
    torch.manual_seed(4)
    net = nn.Sequential(L.TimeDistributed(nn.AdaptiveAvgPool2d(4)), L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)),
                        snnkit.IF(), L.Flatten(), L.TimeDistributed(nn.Linear(64, 3)), snnkit.IF())
    with torch.no_grad():
        net[1].module.weight.mul_(4)
    x = (torch.rand(8, 2, 2, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    rep = compare(net, x)
    assert rep.spike_agreement == 1.0, str(rep)
    assert sum(c["torch"] for c in rep.spike_counts.values()) > 100


@pytest.mark.parametrize("mode", ["floating_pt", "fixed_pt"])
def test_lava_run_equals_numpy_reference_of_lava_arithmetic(mode: str) -> None:
    """Native Lava Conv/Dense/LIFReset: the Lava run matches simulate() bit for bit (fixed point: Loihi ints)."""
    net = _conv_net()
    x = (torch.rand(8, 2, 2, 8, 8, generator=torch.Generator().manual_seed(5)) < 0.4).float()
    lnet = to_lava(net, (2, 8, 8), mode)
    assert [s.conn for s in lnet.plan.stages] == ["conv", "conv", "conv", "dense"]
    res = lnet.run(x)
    sim = lnet.simulate(x)
    for name in res.spikes:
        np.testing.assert_array_equal(res.spikes[name], sim[name], err_msg=f"{mode} layer {name}")
    assert sum(s.sum() for s in res.spikes.values()) > 100
    assert res.output.shape == (8, 2, 3)  # host-side Linear readout


def test_fixed_point_graded_input_and_bias_current_match_reference() -> None:
    net = _cuba_net().float()
    x = torch.rand(12, 3, 6, generator=torch.Generator().manual_seed(6))
    lnet = to_lava(net, (6,), "fixed_pt", calibration=x)
    assert lnet.plan.stages[0].ubias is not None  # Linear bias before du < 1: always-on neuron + Dense
    res = lnet.run(x)
    sim = lnet.simulate(x)
    for name in res.spikes:
        np.testing.assert_array_equal(res.spikes[name], sim[name])
    assert res.bias_neuron_spikes == res.steps
    rep = lnet.quant_report.to_dict()
    assert rep["layers"][0]["weight_int_max"] == 254 and rep["layers"][0]["clip_fraction"] == 0.0


def test_refusals_happen_before_any_lava_process_is_built() -> None:
    tcja = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 2, 3)), snnkit.LIF(), TCJA(4, 2))
    with pytest.raises(ValueError, match="TCJA"):
        to_lava(tcja, (2, 6, 6))
    with pytest.raises(ValueError, match="mode"):
        to_lava(_cuba_net(), (6,), "analog")
    with pytest.raises(ValueError, match="input_shape"):
        to_lava(_cuba_net())
    lnet = to_lava(_cuba_net().float(), (6,), "fixed_pt")  # no calibration: planned for spikes
    with pytest.raises(ValueError, match="calibration"):
        lnet.build(torch.rand(4, 1, 6))
    with pytest.raises(ValueError, match="planned for binary"):  # the numpy simulation refuses them alike
        lnet.simulate(torch.rand(4, 1, 6) * 0.37)                 # (it rounded them to 0 silently)
    with pytest.raises(ValueError, match=r"calibration holds no samples \(shape \(4, 0, 6\)\)"):
        to_lava(_cuba_net().float(), (6,), "fixed_pt", calibration=torch.zeros(4, 0, 6))
    with pytest.raises(ValueError, match=r"\[T, B"):
        to_lava(_cuba_net(), (6,)).build(torch.rand(4, 1, 5))


def test_empty_and_non_real_inputs_are_refused_with_a_clear_error() -> None:
    """No time steps or no samples crashed in a reshape (B = 0) or returned nothing (T = 0); complex inputs
    lost their imaginary part with only a numpy warning."""
    lnet = to_lava(_cuba_net(), (6,))
    for shape in ((0, 2, 6), (4, 0, 6)):
        with pytest.raises(ValueError, match=r"no time steps or no samples \(shape \(%d, %d, 6\)\)" % shape[:2]):
            lnet.simulate(np.zeros(shape))
        with pytest.raises(ValueError, match="no time steps or no samples"):
            lnet.build(np.zeros(shape))
    with pytest.raises(ValueError, match="real numbers.*complex"):
        lnet.simulate(np.ones((4, 1, 6)) * 1j)
    with pytest.raises(ValueError, match="real numbers.*complex"):
        lnet.simulate(torch.ones(4, 1, 6, dtype=torch.complex64))
    assert lnet.simulate(torch.ones(4, 1, 6, dtype=torch.bool))["1"].shape == (4, 1, 12)  # bool spikes are fine


def test_bias_neuron_mode_puts_current_biases_into_bias_mant() -> None:
    g = trace(_cuba_net(), (6,))
    with pytest.warns(UserWarning, match="b/du"):
        plan = plan_network(g, bias="neuron")
    assert plan.stages[0].ubias is None
    auto = plan_network(g)
    b = g.layers[1].bias
    np.testing.assert_allclose(auto.stages[0].ubias, b)
    np.testing.assert_allclose(plan.stages[0].bias_mant, 0.05 + b / 0.3)
    # du == 1: a Linear bias is exactly a membrane bias
    np.testing.assert_allclose(auto.stages[1].bias_mant, g.layers[3].bias)


def test_fixed_point_plan_for_count_inputs_runs_a_batch_of_plain_spikes_at_its_input_scale() -> None:
    """Calibrated on counts 0..3 (24 units per count), a 0/1 batch must still be sent as 24-unit graded messages.

    Before, the run chose 1-bit messages because the raw batch was 0/1, and Lava's Dense read the 24s as
    ``True``: every input counted 1/24 of its weight and the Lava run fired 0 spikes (simulate and torch: 25).
    """
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, bias=False), snnkit.CubaLIF(du=1.0, dv=0.1, v_threshold=1.0)).double().eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.rand(4, 5, dtype=torch.float64) * 0.8)
    g = torch.Generator().manual_seed(1)
    cal = torch.randint(0, 4, (6, 4, 5), generator=g).double()
    x = (torch.rand(6, 2, 5, generator=g) < 0.5).double()
    lnet = to_lava(net, (5,), "fixed_pt", calibration=cal)
    assert lnet.plan.input_scale == 24.0
    res = lnet.run(x)
    with torch.no_grad():
        ref = net(x).numpy()
    np.testing.assert_array_equal(res.spikes["1"], lnet.simulate(x)["1"])
    np.testing.assert_array_equal(res.spikes["1"], ref)
    assert ref.sum() == 25


def test_pooling_over_128_or_more_channels_runs_in_lava() -> None:
    """Lava's Conv keeps groups as int8: a depthwise pooling over 130 channels (groups=130 -> -126) crashed the run
    inside Lava's worker. Such a stage is now planned as Sparse and reproduces PyTorch exactly."""
    torch.manual_seed(0)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 130, 1, bias=False)), snnkit.IF(), L.SumPool2d(2),
                        snnkit.IF(v_threshold=2.0)).double().eval()
    with torch.no_grad():
        net[0].module.weight.uniform_(0.5, 1.5)
    x = (torch.rand(4, 1, 2, 4, 4, generator=torch.Generator().manual_seed(1)) < 0.5).double()
    lnet = to_lava(net, (2, 4, 4))
    assert [s.conn for s in lnet.plan.stages] == ["conv", "sparse"]
    res = lnet.run(x)
    with torch.no_grad():
        ref = net(x).numpy()
    np.testing.assert_array_equal(res.spikes["3"], ref)
    assert ref.sum() > 100


def test_fixed_conv_sums_past_24_bits_wrap_as_in_lava() -> None:
    """Lava's fixed Conv wraps its output to 24 bits (``utils.signed_clamp`` is a modulo); simulate() clipped it.

    An input 150x the calibration range makes one conv sum 40375 units x 29 x 9 taps = 10537875 > 2**23: Lava
    wraps it to 10537875 - 2**24 = -6239341 (no spike, v saturates at -2**23 + 1 and the next sample stays
    silent too); the clip gave +2**23 - 1 and two spikes Lava did not fire.
    """
    from snnkit.hardware.lava import _synaptic_input

    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(1, 1, 3, bias=False)), snnkit.IF(v_threshold=1.0)).double().eval()
    with torch.no_grad():
        net[0].module.weight.fill_(1.0)
    cal = torch.rand(3, 2, 1, 3, 3, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    lnet = to_lava(net, (1, 3, 3), "fixed_pt", calibration=cal)
    sp = lnet.plan.stages[0]
    assert sp.conn == "conv" and np.all(np.asarray(sp.weight) == 29)
    units = int(np.round(150.0 * lnet.plan.input_scale))
    assert units == 40375
    a = _synaptic_input(sp, np.full((1, 1, 3, 3), float(units)), True)
    assert int(a[0, 0]) == 40375 * 29 * 9 - 2 ** 24 == -6239341
    x = torch.tensor([0.5, 150.0, 0.0, 0.5], dtype=torch.float64).reshape(4, 1, 1, 1, 1).expand(4, 1, 1, 3, 3)
    res = lnet.run(x.contiguous())
    sim = lnet.simulate(x.contiguous())
    np.testing.assert_array_equal(res.spikes["1"].ravel(), [1, 0, 0, 0])
    np.testing.assert_array_equal(sim["1"], res.spikes["1"])


def test_fixed_point_trajectory_matches_lavas_equations_computed_by_hand() -> None:
    """Linear(2->1) -> CubaLIF(du=0.25, dv=0.125, vth=1) at 200 weight units per float unit (state scale 12800).

    Integers: w = [100, -50], du_int = 1023 (u keeps 3072/4096), dv_int = 512 (v keeps 3584/4096),
    vth_int = 200 (v > 12800). By hand, u = sign(u)(|u| 3072 >> 12) + (a << 6), v = sign(v)(|v| 3584 >> 12) + u.
    """
    net = nn.Sequential(nn.Linear(2, 1, bias=False), snnkit.CubaLIF(du=0.25, dv=0.125, v_threshold=1.0)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, -0.25]]))
    lnet = to_lava(net, (2,), "fixed_pt", state_scale=12800.0, weight_exp=0)
    sp = lnet.plan.stages[0]
    assert np.asarray(sp.weight).tolist() == [[100, -50]] and (sp.du, sp.dv, sp.vth) == (1023, 512, 200)
    x = torch.tensor([[1, 0], [1, 1], [0, 0], [0, 1], [1, 0], [0, 1], [0, 1], [0, 1], [0, 0]], dtype=torch.float64)
    v_hand = [6400, 0, 6000, 6550, 0, 2331, 587, -3776, -6520]  # after reset; spikes at t = 1 (13600), 4 (13106)
    u_hand = [6400, 8000, 6000, 1300, 7375, 2331, -1452, -4289, -3216]
    res = lnet.run(x[:, None], record_voltage=True, record_current=True)
    np.testing.assert_array_equal(np.round(res.voltages["1"].ravel() * 12800), v_hand)
    np.testing.assert_array_equal(np.round(res.currents["1"].ravel() * 12800), u_hand)
    np.testing.assert_array_equal(res.spikes["1"].ravel(), [0, 1, 0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(lnet.simulate(x[:, None])["1"], res.spikes["1"])


def test_fixed_point_cuba_lif_with_du_0_keeps_its_current() -> None:
    """CubaLIF(du=0) keeps its current for ever; Lava's 12-bit decay_u = du_int + 1 needs du_int = -1 for that.

    decay_to_int clipped du_int at 0, a current decay of 1/4096 per step: with one input spike at t=0 and
    the current fell by 1/4096 a step and the network fired fewer spikes than PyTorch. Hand: u stays 0.5 (6400
    units at state scale 12800), v grows by 0.5 a step (dv=0) and CubaLIF fires on v > 1: v = 0.5, 1.0, 1.5
    (spike, reset), so one spike every third step, at t = 2, 5, ..., 398: 133.
    """
    net = nn.Sequential(nn.Linear(1, 1, bias=False), snnkit.CubaLIF(du=0.0, dv=0.0, v_threshold=1.0)).double()
    with torch.no_grad():
        net[0].weight.fill_(0.5)
    lnet = to_lava(net, (1,), "fixed_pt", state_scale=12800.0, weight_exp=0)
    assert lnet.plan.stages[0].du == -1 and lnet.quant_report.layers[0].du_effective == 0.0
    T = 400
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    with torch.no_grad():
        ref = net(x).numpy()
    res = lnet.run(x, record_current=True)
    np.testing.assert_array_equal(np.round(res.currents["1"].ravel() * 12800), np.full(T, 6400))
    np.testing.assert_array_equal(res.spikes["1"], ref)
    np.testing.assert_array_equal(lnet.simulate(x)["1"], ref)
    assert ref.sum() == 133 and np.flatnonzero(ref.ravel()).tolist() == list(range(2, T, 3))
