"""Fixed point: Lava's integer grid, scale choice, clipping report, and the loss on a small trained network."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit.hardware.graph import trace
from snnkit.hardware.lava import plan_network, simulate_plan
from snnkit.hardware.quantize import QuantizationWarning, decay_to_int, quantize_plan, quantize_weights


def test_weight_grid_follows_lava_sign_modes() -> None:
    w = np.array([[0.5, -1.0, 0.26], [0.0, 0.99, -0.5]])
    q, clip, zero = quantize_weights(w, 254.0)
    assert clip == 0.0 and zero == 0.0
    assert np.all(q % 2 == 0) and q.min() >= -256 and q.max() <= 254  # mixed: even ints (Lava drops the LSB)
    pos, _, _ = quantize_weights(np.abs(w), 255.0)
    assert pos.max() == 255 and np.any(pos % 2 == 1)  # single sign: any int in [0, 255]
    neg, _, _ = quantize_weights(-np.abs(w), 255.0)
    assert neg.min() == -255
    _, clip, _ = quantize_weights(w, 400.0)
    assert clip == pytest.approx(2 / 6)  # -400 and 396 overflow


def test_lava_would_not_change_our_integers() -> None:
    pytest.importorskip("lava")
    from snnkit.hardware import import_lava

    import_lava()
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    for w in (rng.normal(size=(5, 7)), np.abs(rng.normal(size=(5, 7))), -np.abs(rng.normal(size=(5, 7)))):
        q, _, _ = quantize_weights(w, 254.0 / np.abs(w).max())
        mode = determine_sign_mode(q)
        np.testing.assert_array_equal(truncate_weights(clip_weights(q, mode, 8), mode, 8), q)


def test_decays_use_lavas_offsets() -> None:
    assert decay_to_int(1.0, 0.0) == (4095, 0)  # u fully decays ((4095 + 1)/4096), v never does
    assert decay_to_int(0.5, 0.25) == (2047, 1024)
    assert decay_to_int(0.0, 1.0) == (-1, 4095)  # u never decays (du + 1 = 0); dv = 4095 is the closest Lava can do
    assert decay_to_int(1 / 4096, 0.0) == (0, 0)  # the smallest real current decay


def test_scale_choice_and_report_fields() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), snnkit.CubaLIF(du=1.0, dv=0.1, v_threshold=0.7, bias=0.02)).eval()
    plan = quantize_plan(plan_network(trace(net, (8,))))
    sp, q = plan.stages[0], plan.quant_report.layers[0]
    assert q.weight_int_max == 254 and q.effective_bits == pytest.approx(np.log2(255))
    assert sp.vth == round(0.7 * q.scale / 64) and sp.vth <= 2 ** 17 - 1
    assert q.vth_rel_error < 1e-3 and q.weight_rel_rmse < 0.01
    assert 64 * 2 ** q.weight_exp * 254 / q.scale == pytest.approx(q.weight_max)
    d = plan.quant_report.to_dict()
    assert {"scale", "weight_exp", "clip_fraction", "vth_int", "du_int", "dv_int"} <= set(d["layers"][0])


def test_clip_percentile_reports_and_warns() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(50, 20), snnkit.CubaLIF()).eval()
    with torch.no_grad():
        net[0].weight[0, 0] = 10.0  # one outlier
    plan = plan_network(trace(net, (50,)))
    with pytest.warns(QuantizationWarning, match="clipped"):
        q = quantize_plan(plan, clip_percentile=99.0)
    assert 0 < q.quant_report.layers[0].clip_fraction <= 0.02
    with pytest.raises(ValueError, match="clip_percentile"):
        quantize_plan(plan, clip_percentile=10)
    with pytest.raises(ValueError, match="input_bits"):
        quantize_plan(plan, input_bits=40)


@pytest.fixture(scope="module")
def trained_digits():
    """A 64-64-10 CubaLIF network trained briefly on scikit-learn's digits (real-valued input, T=6)."""
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    d = load_digits()
    X = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1200], perm[1200:1500]
    T = 6
    net = nn.Sequential(nn.Linear(64, 64), snnkit.CubaLIF(du=0.5, dv=0.25, v_threshold=1.0),
                        nn.Linear(64, 10), snnkit.CubaLIF(du=0.5, dv=0.25, v_threshold=1.0))
    opt = torch.optim.Adam(net.parameters(), 5e-3)
    for _ in range(6):
        for i in range(0, len(tr), 100):
            idx = tr[i:i + 100]
            snnkit.reset(net)
            loss = nn.functional.cross_entropy(net(X[idx].expand(T, -1, -1)).sum(0), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net, X[te].expand(T, -1, -1).contiguous(), y[te]


def test_fixed_point_loss_on_a_trained_network(trained_digits) -> None:
    """8-bit weights, 8-bit graded input: spikes agree >= 98%, accuracy within 2 points (300 samples, numpy
    reference of Lava's integer arithmetic), and a Lava fixed_pt run on 24 samples agrees with it exactly."""
    from snnkit.hardware.compare import model_copy, torch_spikes

    net, x, y = trained_digits
    graph = trace(net, (64,))
    plan = quantize_plan(plan_network(graph), calibration=x, input_bits=8)
    sim = simulate_plan(plan, x)
    ref = torch_spikes(model_copy(net, torch.float64), x.double(), ["1", "3"])["spikes"]
    agree = np.mean([(sim[k] == ref[k]).mean() for k in ("1", "3")])
    acc_float = (ref["3"].sum(0).argmax(-1) == y.numpy()).mean()
    acc_fixed = (sim["3"].sum(0).argmax(-1) == y.numpy()).mean()
    assert acc_float > 0.85
    assert agree >= 0.98
    assert acc_fixed >= acc_float - 0.02
    pytest.importorskip("lava")
    from snnkit.hardware import compare

    rep = compare(net, x[:, :24], mode="fixed_pt", labels=y[:24], calibration=x)
    assert rep.spike_agreement >= 0.97
    assert rep.class_agreement >= 0.9
    lava_sim = simulate_plan(plan, x[:, :24])
    assert rep.spike_counts["3"]["lava"] == int(lava_sim["3"].sum())


def test_integer_count_input_is_sent_exactly_and_keeps_conv_weights_8_bit() -> None:
    """Event-count frames are integers: sent at a whole number of units per count (exact), no more than lets the
    first Conv keep 8-bit weights; on the same data, spikes agree with float64 PyTorch better than with the
    input scaled to fill 8 bits (what non-integer calibration data still get)."""
    from snnkit.hardware.compare import model_copy, torch_spikes

    torch.manual_seed(0)
    net = nn.Sequential(snnkit.layers.TimeDistributed(nn.Conv2d(2, 8, 3, padding=1)), snnkit.LIF(tau=2.0)).eval()
    with torch.no_grad():
        net[0].module.weight.mul_(3.0)
    counts = torch.poisson(torch.full((6, 40, 2, 10, 10), 1.5)).clamp(max=7)
    graph = trace(net, (2, 10, 10))
    ref = torch_spikes(model_copy(net, torch.float64), counts.double(), ["1"])["spikes"]["1"]
    assert 0.05 < ref.mean() < 0.5

    exact = quantize_plan(plan_network(graph), calibration=counts)
    assert exact.input_scale == round(exact.input_scale) and 1 <= exact.input_scale < 255 / 7
    q = exact.quant_report.layers[0]
    assert q.weight_int_max >= 250 and q.weight_rel_rmse < 0.01
    assert any("integer input" in n for n in exact.quant_report.notes)
    assert simulate_plan(exact, counts)["1"].tolist() == simulate_plan(exact, counts.numpy().astype(np.int64))["1"].tolist()
    agree_exact = (simulate_plan(exact, counts)["1"] == ref).mean()

    not_integer = counts.clone()
    not_integer[0, 0, 0, 0, 0] = 0.5  # same max, no longer integer: the old rule, scale 255 / 7
    with pytest.warns(QuantizationWarning, match="integer levels"):
        lossy = quantize_plan(plan_network(graph), calibration=not_integer)
    assert lossy.input_scale == pytest.approx(255 / 7)
    agree_scaled = (simulate_plan(lossy, counts)["1"] == ref).mean()
    assert agree_exact > agree_scaled
    assert agree_exact >= 0.995


@pytest.mark.parametrize("data_sign", [1, -1])
def test_integer_input_straight_into_neurons_keeps_threshold_precision(data_sign: int) -> None:
    """A first layer with no weights gains nothing from a small input scale: integer data get the largest whole
    number of units per count that fits ``input_bits``, so the threshold keeps its precision."""
    net = nn.Sequential(snnkit.IF(v_threshold=1.3)).eval()
    counts = data_sign * torch.poisson(torch.full((5, 30, 12), 2.0)).clamp(max=9)
    plan = quantize_plan(plan_network(trace(net, (12,))), calibration=counts)
    limit = 255 if data_sign > 0 else 127
    assert plan.input_scale == limit // 9
    assert plan.quant_report.layers[0].vth_rel_error < 0.02  # one unit per count would give 1.3 -> 1 (23 %)


def test_spikes_into_a_first_lif_layer_are_accepted_and_sent_as_graded_values() -> None:
    """A first LIF (decay_input) reading spikes directly scales them by 1/tau: without calibration the plan
    used to refuse binary inputs as real-valued (it checked the scaled values) and sized the input for
    unit spikes (0.5 would round to 0). PyTorch reference: the model's own spikes."""
    from snnkit.hardware.compare import model_copy, torch_spikes

    torch.manual_seed(0)
    net = nn.Sequential(snnkit.LIF(tau=2.0, v_threshold=0.4), nn.Linear(4, 3), snnkit.IF(v_threshold=0.3)).eval()
    x = (torch.rand(8, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    plan = quantize_plan(plan_network(trace(net, (4,))))
    assert plan.input_binary
    ref = torch_spikes(model_copy(net, torch.float64), x, ["0"])["spikes"]["0"]
    got = simulate_plan(plan, x)["0"]
    assert ref.sum() > 20
    np.testing.assert_array_equal(got, ref)
    assert plan.quant_report.layers[0].vth_rel_error < 0.01  # was vth_int = 0: fire on any input
    with pytest.raises(ValueError, match="planned for binary"):  # real values are still refused
        simulate_plan(plan, x * 0.7)


def test_spikes_straight_into_a_first_neuron_layer_keep_threshold_precision() -> None:
    """Binary inputs into a first layer without weights were sent as 1 unit (lam = 64): v_threshold 1.3 became 1,
    so spike, gap, spike (LIF tau=2: v = 1.25 < 1.3) fired. Now spikes are whole graded values (255 units)."""
    from snnkit.hardware.compare import model_copy, torch_spikes

    net = nn.Sequential(snnkit.LIF(tau=2.0, decay_input=False, v_threshold=1.3)).eval()
    x = (torch.rand(12, 40, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    plan = quantize_plan(plan_network(trace(net, (5,))))
    ref = torch_spikes(model_copy(net, torch.float64), x, ["0"])["spikes"]["0"]
    assert ref.sum() > 100
    np.testing.assert_array_equal(simulate_plan(plan, x)["0"], ref)
    assert plan.input_scale == 255 and plan.quant_report.layers[0].vth_rel_error < 0.01
