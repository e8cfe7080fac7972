"""TCJA in Lava: a non-native host process with a T-step latency; float runs reproduce PyTorch float64.

The network has the shape of the ``digits_dvs`` TCJA-SNN (conv-BN-LIF-pool, conv-BN-LIF-TCJA-pool
twice, FC-LIF, FC-LIF, voting), shrunk to T=4 and 16x16 inputs, with BatchNorm statistics from a
few training-mode passes so that every layer fires.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.attention import TCJA

pytest.importorskip("lava", reason="lava-nc not installed")

from snnkit.hardware import compare, host_ops_report, load_lava, to_lava  # noqa: E402
from snnkit.hardware.compare import model_copy, torch_spikes  # noqa: E402
from snnkit.hardware.graph import trace  # noqa: E402
from snnkit.hardware.host_ops import tcja_apply  # noqa: E402

T, B, HW = 4, 3, 16
SHAPE = (2, HW, HW)


def _tcja_net(attention: str = "tcja") -> nn.Module:
    from snnkit.models import build_model, get_config

    cfg = get_config("digits_dvs", T=T, input_size=[HW, HW], stages=[[4], [6], [6]], hidden=[16], voting=2,
                     dropout=0.0, attention=attention)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_model(cfg)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = None  # cumulative average of the calibration passes
                    m.bias.fill_(0.8)
                if isinstance(m, nn.Linear):
                    m.weight.mul_(25.0)
                if isinstance(m, TCJA):
                    for conv in (m.conv_t, m.conv_c):
                        if conv is not None:
                            conv.weight.mul_(3.0)
            net.train()
            for _ in range(3):
                net((torch.rand(T, 8, *SHAPE, generator=g) < 0.3).float() * 2)
    return net.eval()


def _inputs(seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *SHAPE, generator=g) < 0.3).double() * 2  # graded (event-count) input


@pytest.fixture(scope="module")
def net() -> nn.Module:
    return _tcja_net()


def test_tcja_is_traced_as_a_non_native_layer_after_a_neuron(net) -> None:
    g = trace(net, SHAPE)
    host = g.non_native()
    assert [layer.name for layer in host] == ["features.3", "features.6"]
    assert all(layer.kind == "tcja" and layer.native is False and layer.T == T for layer in host)
    stages = g.stages()
    assert [s.pre.name if s.pre else None for s in stages] == [None, None, "features.3", "features.6", None]
    assert {d["name"]: d["native"] for d in g.to_dict()["layers"]}["features.3"] is False


def test_float_export_reproduces_pytorch_float64_spike_for_spike(net) -> None:
    """Every spike of every layer agrees; the TCJA outputs agree to the last bit or two (numpy vs torch)."""
    rep = compare(net, _inputs(), conv="sparse")
    d = rep.to_dict()
    assert d["spike_agreement"] == 1.0, str(rep)
    assert set(d["per_layer"].values()) == {1.0} and d["first_divergence"] is None
    assert d["class_agreement"] == 1.0
    assert all(c["torch"] > 10 for c in d["spike_counts"].values()), d["spike_counts"]  # every layer fires
    assert [h["name"] for h in d["non_native"]] == ["features.3", "features.6"]
    assert all(h["native"] is False and h["latency_steps"] == T for h in d["non_native"])
    assert max(h["max_abs_diff"] for h in d["non_native"]) <= 1e-15
    assert d["native"]["features.3"] is False and d["native"]["features.0.neuron"] is True
    assert any("not native to Loihi" in n and "features.3" in n for n in d["notes"])


@pytest.mark.parametrize("mode", ["floating_pt", "fixed_pt"])
def test_lava_run_matches_simulate_with_tcja_latency(net, mode: str) -> None:
    """Back-to-back samples through two TCJA processes (T steps of latency each) line up exactly."""
    x = _inputs(3)
    lnet = to_lava(net, SHAPE, mode, conv="sparse", **({"calibration": x} if mode == "fixed_pt" else {}))
    depths = [s.depth for s in lnet.plan.stages]
    assert depths == [1, 2, 3 + T, 4 + 2 * T, 5 + 2 * T]  # each TCJA adds T steps
    assert [op.in_depth for op in lnet.plan.host_ops] == [2, 3 + T]
    res = lnet.run(x)
    assert res.steps == B * T + lnet.plan.max_depth
    sim = lnet.simulate(x)
    for name in sim:
        np.testing.assert_array_equal(res.spikes[name], sim[name], err_msg=f"{mode} {name}")
    assert all(s.sum() > 0 for s in sim.values())
    # the host process's graded output equals TCJA applied to the spikes it received
    fixed = mode == "fixed_pt"
    for op, src in zip(lnet.plan.host_ops, ["features.2.neuron", "features.5.neuron"]):
        want = tcja_apply(op.layer, sim[src], op.out_scale if fixed else None)
        np.testing.assert_array_equal(res.host_outputs[op.name], want / op.out_scale if fixed else want)
    d = res.to_dict()
    assert [h["native"] for h in d["non_native"]] == [False, False]
    if fixed:
        q = lnet.quant_report.to_dict()
        assert [h["name"] for h in q["non_native"]] == ["features.3", "features.6"]
        assert all(h["native"] is False and h["out_scale"] == 255.0 for h in q["non_native"])
        assert all(layer["native"] is True for layer in q["layers"])
        assert any("not native to Loihi" in n for n in q["notes"])
        assert "NOT NATIVE" in str(lnet.quant_report)


def test_host_op_counts_by_hand(net) -> None:
    plan = to_lava(net, SHAPE).plan
    rep = host_ops_report(plan, B=2)  # no spikes given: every input element counts
    a = rep["features.3"]  # 6 channels at 8x8, T=4, kernels 4 and 4
    assert a["native"] is False and a["kind"] == "tcja" and a["feeds"] == "features.5.neuron"
    n = 2 * 4 * 6 * 8 * 8
    assert a["detail"] == {"squeeze_adds": n, "squeeze_scale": 2 * 4 * 6, "conv_t": 2 * 4 * 6 * 6 * 4,
                           "conv_c": 2 * 4 * 6 * 4 * 4, "fusion": 2 * 4 * 6, "gating": n}
    assert a["macs"] == 48 + 1152 + 768 + 48 + n and a["adds"] == n and a["activations"] == 48
    assert a["energy_j"] > 0 and rep["features.6"]["elements"] == 2 * 4 * 6 * 4 * 4
    spikes = to_lava(net, SHAPE).simulate(_inputs())
    b = host_ops_report(plan, B=B, spikes=spikes)["features.3"]
    assert b["spikes_in"] == int(spikes["features.2.neuron"].sum()) == b["detail"]["gating"]


@pytest.mark.parametrize("attention", ["t_xa", "c_xa"])
def test_numpy_simulate_supports_single_branch_tcja(attention: str) -> None:
    net = _tcja_net(attention)
    x = _inputs(4)
    g = trace(net, SHAPE)
    names = [n.name for n in g.neurons()]
    ref = model_copy(net, torch.float64)
    tr = torch_spikes(ref, x, names)["spikes"]
    sim = to_lava(g).simulate(x)
    for name in names:
        np.testing.assert_array_equal(sim[name], tr[name], err_msg=f"{attention} {name}")


def test_save_and_load_a_planned_network(net, tmp_path) -> None:
    lnet = to_lava(net, SHAPE, conv="sparse")
    path = lnet.save(tmp_path / "net.lava", meta={"T": T})
    back = load_lava(path)
    assert back.meta == {"T": T} and [op.name for op in back.plan.host_ops] == ["features.3", "features.6"]
    x = _inputs(5)
    a, b = lnet.simulate(x), back.simulate(x)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="not a snnkit Lava network"):
        torch.save({"x": 1}, tmp_path / "other.pt")
        load_lava(tmp_path / "other.pt")


def test_tcja_refusals(net, tmp_path) -> None:
    bad = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 2, 3)), TCJA(4, 2), snnkit.LIF())
    with pytest.raises(ValueError, match=r"'1'.*TCJA.*directly after a spiking neuron"):
        trace(bad, (2, 6, 6))
    with pytest.raises(ValueError, match="T=4 time steps, but the inputs have T=3"):
        to_lava(net, SHAPE).build(_inputs()[:3])
    from snnkit.hardware import export_netx, export_nir

    with pytest.raises(ValueError, match="features.3.*not native to Loihi"):
        export_netx(net, tmp_path / "x.net", SHAPE)
    with pytest.raises(ValueError, match="features.3.*not native to Loihi"):
        export_nir(net, SHAPE)
