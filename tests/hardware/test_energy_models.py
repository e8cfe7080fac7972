"""Energy models as data (Horowitz 45 nm, Loihi, user-registered), per sample / per step energy, and the
SNN-vs-ANN comparison."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.attention import TCJA
from snnkit.hardware import count_ops
from snnkit.hardware.energy import (ENERGY_MODELS, ann_counterpart, compare_snn_ann, energy, get_energy_model,
                                    register_energy_model, unregister_energy_model)

PJ = 1e-12


def _hand_net():
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    net = nn.Sequential(L.TimeDistributed(lin), snnkit.IF(v_threshold=0.5)).eval()
    x = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    return net, x


def test_horowitz_and_loihi_by_hand_on_hook_counts() -> None:
    net, x = _hand_net()
    c = count_ops(net, x, backend="hooks")
    n = c.layers["1"]
    h = energy(c, "horowitz45")
    assert h.total_j == pytest.approx(8 * 0.9 * PJ) and h.samples == 2
    assert h.per_sample_j == pytest.approx(4 * 0.9 * PJ)
    assert h.per_step_j == pytest.approx([3 * 0.9 * PJ, 5 * 0.9 * PJ])
    assert energy(c, "horowitz45-int8").total_j == pytest.approx(8 * 0.1 * PJ)
    lo = energy(c, "loihi")
    expected = (8 * 23.6 + n.active_updates * 81.0 + (n.neuron_updates - n.active_updates) * 52.0
                + n.spikes * 1.7) * PJ
    assert lo.total_j == pytest.approx(expected)
    assert sum(lo.per_step_j) == pytest.approx(lo.total_j)
    assert lo.per_layer_j["0.module"] == pytest.approx(8 * 23.6 * PJ)
    json.dumps(lo.to_dict())


def test_bias_neuron_overhead_is_in_every_step_energy() -> None:
    """The Lava mapping's always-on bias neuron (a current bias before a CubaLIF with du < 1) costs the same at
    every step: it is part of per_step_j, which adds up to the total."""
    net = nn.Sequential(nn.Linear(4, 3), snnkit.CubaLIF(du=0.5, dv=0.5)).eval()
    with torch.no_grad():
        net[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    c = count_ops(net, torch.rand(5, 2, 4) + 0.1)  # torch backend: the Lava mapping's counts
    assert c.overhead == {"bias_neuron_spikes": 10, "bias_neuron_updates": 10, "bias_synops": 30}
    for model in ("loihi", "horowitz45"):
        e = energy(c, model)
        layers = [energy({**c.to_dict(), "overhead": {}}, model).per_step_j[t] for t in range(5)]
        per_step = (30 * 23.6 + 10 * 81.0 + 10 * 1.7) / 5 if model == "loihi" else 30 * 0.9 / 5
        assert e.per_step_j == pytest.approx([v + per_step * PJ for v in layers])
        assert sum(e.per_step_j) == pytest.approx(e.total_j)


def test_real_valued_and_non_native_ops() -> None:
    torch.manual_seed(0)
    T, B, C = 4, 2, 3
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, C, 3, padding=1, bias=False)), snnkit.IF(v_threshold=0.2),
                        TCJA(T, C, 2, 2), L.AvgPool2d(2), snnkit.IF())
    x = torch.rand(T, B, 2, 4, 4)
    c = count_ops(net, x, backend="hooks")
    conv, att, pool = c.layers["0.module"], c.layers["2"], c.layers["3"]
    h = energy(c, "horowitz45")
    assert h.per_layer_j["0.module"] == pytest.approx(conv.macs * 4.6 * PJ)
    assert h.per_layer_j["2"] == pytest.approx((att.macs * 4.6 + att.synops * 0.9) * PJ)
    assert h.per_layer_j["3"] == pytest.approx((pool.synops + pool.acs) * 0.9 * PJ)
    lo = energy(c, "loihi")
    # the conv's real-valued input goes as graded spikes; TCJA's MACs and real-valued adds run on the host
    assert lo.per_layer_breakdown_j["0.module"] == {"synaptic ops": pytest.approx(conv.graded_synops * 23.6 * PJ)}
    assert lo.per_layer_breakdown_j["2"]["host MACs (not native)"] == pytest.approx(att.macs * 4.6 * PJ)
    assert any("host" in n and "2" in n for n in lo.notes)


def test_register_energy_model_and_errors() -> None:
    net, x = _hand_net()
    c = count_ops(net, x, backend="hooks")
    try:
        m = register_energy_model("test-asic", mac_pj=1.0, ac_pj=0.25, neuron_update_pj=2.0, spike_pj=0.5,
                                  weight_read_pj_per_byte=0.1, source="made up for a test")
        assert m["ac_pj"] == 0.25 and "test-asic" in ENERGY_MODELS
        n = c.layers["1"]
        e = energy(c, "test-asic")
        expected = 8 * 0.25 + n.neuron_updates * 2.0 + n.spikes * 0.5 + c.totals["weight_read_bytes"] * 0.1
        assert e.total_j == pytest.approx(expected * PJ) and e.source == "made up for a test"
        with pytest.raises(ValueError, match="already registered"):
            register_energy_model("test-asic", ac_pj=1.0, source="x")
        register_energy_model("test-asic", ac_pj=1.0, source="x", overwrite=True)
        assert energy(c, "test-asic").total_j == pytest.approx(8 * PJ)
        with pytest.raises(ValueError, match="test-asic"):  # the error lists the known models
            energy(c, "nope")
    finally:
        if "test-asic" in ENERGY_MODELS:
            unregister_energy_model("test-asic")
    assert set(ENERGY_MODELS) == {"loihi", "horowitz45", "horowitz45-int8"}
    with pytest.raises(ValueError, match="built-in"):
        register_energy_model("loihi", ac_pj=1.0, source="x")
    with pytest.raises(ValueError, match="unknown cost keys"):
        register_energy_model("y", mac=1.0, source="x")
    with pytest.raises(ValueError, match=">= 0"):
        register_energy_model("y", mac_pj=-1.0, source="x")
    with pytest.raises(ValueError, match="source"):
        register_energy_model("y", mac_pj=1.0, source="")
    with pytest.raises(ValueError, match="one of"):
        get_energy_model("gpu")
    with pytest.raises(ValueError, match="built in"):
        unregister_energy_model("horowitz45")
    # an inline dict works too, and counts it cannot price are reported, not dropped silently
    e = energy(c, {"mac_pj": 1.0, "source": "inline"})
    assert e.total_j == 0 and e.unpriced == {"synops": 8} and any("left out" in n for n in e.notes)


def test_inline_model_dicts_are_checked_as_registered_ones() -> None:
    net, x = _hand_net()
    c = count_ops(net, x, backend="hooks")
    for costs, message in (({"mac_pj": -2.0, "source": "x"}, r"energy: mac_pj must be a finite number >= 0"),
                           ({"mac_pj": float("nan")}, "finite number"),
                           ({"ac_pj": "1"}, "finite number"),
                           ({"neuron_update_pj": 1.0}, "at least one of mac_pj"),
                           ({"mac": 1.0}, r"energy: unknown cost keys \['mac'\]")):
        with pytest.raises(ValueError, match=message):
            energy(c, costs)
    assert energy(c, {"ac_pj": 1, "name": "mine", "tile_hop_pj": (3.0, 4.0), "source": "x"}).total_j == pytest.approx(8 * PJ)


def _tiny_tcja():
    from snnkit.models.tcja_snn import TCJASNN, TCJASNNConfig

    torch.manual_seed(0)
    cfg = TCJASNNConfig(name="t", in_channels=2, input_size=[8, 8], sensor_size=[8, 8], T=4, stages=[[4], [4]],
                        pool="avg", hidden=[8], num_classes=2, voting=2, dropout=0.0)
    return TCJASNN(cfg).eval()


def test_ann_counterpart() -> None:
    snn = _tiny_tcja()
    ann = ann_counterpart(snn, time_steps=1)
    assert ann.config.T == 1 and not any(isinstance(m, snnkit.neurons._Neuron) for m in ann.modules())
    assert sum(isinstance(m, nn.ReLU) for m in ann.modules()) == 4
    assert torch.equal(ann.features[0].conv.weight, snn.features[0].conv.weight)
    y = ann(torch.rand(1, 3, 2, 8, 8))
    assert y.shape == (1, 3, 2)
    same_T = ann_counterpart(snn)
    assert same_T.config.T == 4
    with pytest.raises(ValueError, match="no spiking neurons"):
        ann_counterpart(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="TCJA-SNN"):
        ann_counterpart(nn.Sequential(nn.Linear(2, 2), snnkit.IF()), time_steps=1)


def test_compare_snn_ann() -> None:
    snn = _tiny_tcja()
    x = (torch.rand(4, 3, 2, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    cmp = compare_snn_ann(snn, inputs_snn=x, energy_models=("horowitz45", "loihi"))
    d = cmp.to_dict()
    assert d["snn"]["time_steps"] == 4 and d["ann"]["time_steps"] == 1 and d["ann"]["samples"] == 3
    assert cmp.ann.totals["synops"] == 0 and cmp.ann.totals["macs"] > 0 and cmp.ann.totals["spikes"] == 0
    assert cmp.snn.totals["synops"] > 0
    h = d["energy"]["horowitz45"]
    assert h["ann_j_per_sample"] == pytest.approx(cmp.ann.totals["macs"] / 3 * 4.6 * PJ
                                                  + cmp.ann.totals["acs"] / 3 * 0.9 * PJ)
    assert h["ann_over_snn"] == pytest.approx(h["ann_j_per_sample"] / h["snn_j_per_sample"])
    assert [r["layer"] for r in d["layers"]][:3] == ["features.0.conv", "features.0.neuron", "features.1"]
    assert d["layers"][1]["snn_kind"] == "neuron" and d["layers"][1]["ann_kind"] == "activation"
    assert "SNN vs ANN" in str(cmp)
    json.dumps(d)
    # the ANN keeps T when asked; an explicit ANN and its inputs are used as given
    cmp2 = compare_snn_ann(snn, ann_counterpart(snn), x, x, ann_time_steps=None)
    assert cmp2.ann.T == 4
    with pytest.raises(ValueError, match="energy model"):
        compare_snn_ann(snn, inputs_snn=x, energy_models=("gpu",))
