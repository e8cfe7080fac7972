"""Hook-based operation counts (count_ops(..., backend="hooks")): hand-computed counts on small layers,
brute-force fan-outs, per-step attribution, unknown layers, results unchanged, and cross-checks
against SpikingJelly's op_counter and (when importable) the syops package."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as tF

import snnkit
from snnkit import layers as L
from snnkit.attention import TCJA
from snnkit.hardware.counters import _conv_fanout, _pool_windows, count_module_ops, count_ops


def _hooks(net: nn.Module, x: torch.Tensor, **kw):
    return count_ops(net, x, backend="hooks", **kw)


# --------------------------------------------------------------------------- Linear


def test_linear_synops_by_hand_per_step() -> None:
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))  # fan-out of inputs: 1, 0, 2
    net = nn.Sequential(L.TimeDistributed(lin), snnkit.IF(v_threshold=0.5)).eval()
    x = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],   # t0: b0 -> 1 + 0, b1 -> 2
                      [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])  # t1: b0 -> 2,     b1 -> 1 + 0 + 2
    r = _hooks(net, x)
    L0 = r.layers["0.module"]
    assert (L0.kind, L0.input, L0.synops, L0.macs, L0.synapses) == ("linear", "binary", 8, 0, 3)
    assert L0.per_step["synops"] == [3, 5]
    assert L0.weight_read_bytes == 8 * 4 and L0.neurons == 2
    n = r.layers["1"]
    assert n.kind == "neuron" and n.neuron_updates == 2 * 2 * 2 and n.per_step["neuron_updates"] == [4, 4]
    # currents: t0 b0 [1, 0] b1 [2, 3]; t1 b0 [2+0, 3+0]... IF integrates; spikes at >= 0.5
    with torch.no_grad():
        snnkit.reset(net)
        s = net(x)
    assert n.spikes == int(s.sum()) and n.per_step["spikes"] == [int(v) for v in s.reshape(2, -1).sum(1)]
    assert n.active_updates == int((lin(x) != 0).sum())
    assert n.state_read_bytes == n.state_write_bytes == 8 * 4  # one state (v), 4-byte words
    assert r.totals["synops"] == 8 and r.per_step["synops"] == [3, 5]


def test_linear_real_input_counts_dense_macs_and_graded_events() -> None:
    net = nn.Sequential(L.TimeDistributed(nn.Linear(4, 3)), snnkit.LIF()).eval()
    x = torch.rand(5, 2, 4) + 0.1
    x[0, 0, 0] = 0.0  # one zero: dense MACs do not care, graded events do
    L0 = _hooks(net, x).layers["0.module"]
    assert L0.input == "real" and L0.synops == 0
    assert L0.macs == 5 * 2 * 4 * 3 and L0.graded_synops == (5 * 2 * 4 - 1) * 3
    assert L0.bias_read_bytes == 5 * 2 * 3 * 4 and L0.weight_read_bytes == L0.macs * 4


# --------------------------------------------------------------------------- Conv2d with padding and stride


def _brute_fanout(conv_fn, in_shape) -> torch.Tensor:
    """Nonzero outputs of the layer for a unit impulse at each input position (positive weights: no cancellation)."""
    n = int(np.prod(in_shape))
    eye = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))
    with torch.no_grad():
        out = conv_fn(eye)
    return (out.reshape(n, -1) != 0).sum(1).reshape(in_shape).double()


def test_conv_stride_padding_fanout_by_hand() -> None:
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(2, 1, 3, 3) + 0.1)
    # 4x4 input -> 2x2 output; input rows reached by output rows: [1, 2, 1, 1] (same for columns)
    rows = torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    expected = 2 * torch.outer(rows, rows)
    fo = _conv_fanout(conv, (1, 4, 4))
    assert torch.equal(fo[0], expected)
    assert torch.equal(fo, _brute_fanout(lambda z: tF.conv2d(z, conv.weight.double(), None, 2, 1), (1, 4, 4)))
    x = torch.zeros(1, 1, 1, 4, 4)
    for i, j in ((0, 0), (1, 1), (3, 2), (1, 3)):
        x[0, 0, 0, i, j] = 1.0
    net = nn.Sequential(L.TimeDistributed(conv), snnkit.IF()).eval()
    L0 = _hooks(net, x).layers["0.module"]
    assert L0.synops == 2 * (1 + 4 + 1 + 2) and L0.synapses == 2 * 25
    # real-valued input: dense MACs include the zero padding (8 outputs x 9 taps), exact events do not
    L1 = _hooks(net, torch.rand(1, 1, 1, 4, 4) + 0.1).layers["0.module"]
    assert (L1.macs, L1.graded_synops, L1.synops) == (2 * 2 * 2 * 9, 50, 0)


@pytest.mark.parametrize("kw", [dict(stride=1, padding=0), dict(stride=2, padding=2, dilation=2),
                                dict(stride=(1, 2), padding=(1, 0), groups=2), dict(stride=1, padding="same"),
                                dict(stride=2, padding=1, padding_mode="reflect")])
def test_conv_fanout_matches_brute_force(kw) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3, bias=False, **kw).double()
    with torch.no_grad():
        conv.weight.abs_().add_(0.1)
        conv.weight[0, 0, 1, 1] = 0.0  # a pruned synapse is not a synaptic operation
    fo = _conv_fanout(conv, (2, 7, 6))
    if kw.get("padding_mode") == "reflect":  # reflected inputs are used more than once: count the uses
        ref = torch.autograd.functional.vjp(lambda z: conv._conv_forward(z, (conv.weight != 0).double(), None),
                                            torch.zeros(1, 2, 7, 6, dtype=torch.float64),
                                            torch.ones(conv(torch.zeros(1, 2, 7, 6, dtype=torch.float64)).shape,
                                                       dtype=torch.float64))[1][0]
        assert torch.equal(fo, ref)
    else:
        assert torch.equal(fo, _brute_fanout(conv, (2, 7, 6)))


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("pool", [nn.AvgPool2d(2), nn.MaxPool2d(3, stride=2, padding=1),
                                  nn.MaxPool2d(2, stride=2, ceil_mode=True), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
                                  nn.MaxPool2d(2, stride=1, dilation=2)])
def test_pool_windows_match_brute_force(pool) -> None:
    d = 2
    k = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * d
    s = pool.stride if isinstance(pool.stride, tuple) else (pool.stride,) * d
    p = pool.padding if isinstance(pool.padding, tuple) else (pool.padding,) * d
    dil = getattr(pool, "dilation", 1)
    dil = dil if isinstance(dil, tuple) else (dil,) * d
    win = _pool_windows(k, s, p, dil, pool.ceil_mode, (1, 5, 6))
    assert torch.equal(win, _brute_fanout(lambda z: pool(z + 0.0) if isinstance(pool, nn.AvgPool2d)
                                          else pool(z), (1, 5, 6)))


def test_pooling_counts_by_hand() -> None:
    x = torch.zeros(1, 1, 1, 4, 4)
    for i, j in ((0, 0), (1, 1), (3, 2), (1, 3)):
        x[0, 0, 0, i, j] = 1.0
    r = _hooks(nn.Sequential(L.MaxPool2d(3, 2, 1), L.AvgPool2d(2), snnkit.IF()), x)
    assert r.layers["0"].synops == 1 + 4 + 1 + 2  # windows each spike lies in
    # real input to the average pool (the max pool's output is binary here: 2x2 map -> one 2x2 window)
    assert r.layers["1"].input == "binary" and r.layers["1"].synops == 4
    xr = torch.rand(2, 3, 2, 4, 4) + 0.1
    r2 = _hooks(nn.Sequential(L.AvgPool2d(2), snnkit.IF()), xr)
    assert r2.layers["0"].acs == 2 * 3 * 2 * (16 - 4) and r2.layers["0"].synops == 0  # 3 adds x 4 windows
    r3 = _hooks(nn.Sequential(L.SumPool2d(2), snnkit.IF(), L.Flatten(), L.VotingLayer(2)), x)
    assert r3.layers["0"].synops == 4 and r3.layers["3"].synops == int(r3.layers["1"].spikes)


# --------------------------------------------------------------------------- TCJA


def test_tcja_counts_by_hand_and_per_step() -> None:
    torch.manual_seed(0)
    T, B, C, H, W, kt, kc = 4, 2, 3, 2, 2, 2, 3
    blk = TCJA(T, C, kernel_t=kt, kernel_c=kc)
    net = nn.Sequential(blk, snnkit.IF())
    x = (torch.rand(T, B, C, H, W) < 0.5).float()
    r = _hooks(net, x)
    a = r.layers["0"]
    nnz = int(x.sum())
    assert a.kind == "attention" and a.input == "binary"
    assert a.detail == {"squeeze_accumulates": nnz, "squeeze_scale": T * B * C, "conv_t": T * B * C * C * kt,
                        "conv_c": T * B * C * T * kc, "fusion": T * B * C, "sigmoid": T * B * C, "gating": nnz}
    assert a.macs == T * B * C + T * B * C * C * kt + T * B * C * T * kc + T * B * C + nnz
    assert a.synops == nnz and a.activations == T * B * C
    assert a.per_step["synops"] == [int(v) for v in x.reshape(T, -1).sum(1)]
    assert sum(a.per_step["macs"]) == a.macs
    # the gated output is real-valued: the next layer sees "real" input
    assert r.layers["1"].input == "real"
    # single-branch ablations count one conv and no fusion
    r2 = _hooks(nn.Sequential(TCJA(T, C, kt, kc, mode="t_xa"), snnkit.IF()), x)
    assert "conv_c" not in r2.layers["0"].detail and "fusion" not in r2.layers["0"].detail


def test_tcja_convolution_macs_agree_with_spikingjelly() -> None:
    pytest.importorskip("spikingjelly.activation_based.op_counter")
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter

    torch.manual_seed(3)
    T, B, C = 4, 2, 5
    blk = TCJA(T, C, kernel_t=3, kernel_c=4)
    x = (torch.rand(T, B, C, 3, 3) < 0.4).float()
    m = MACCounter()
    with torch.no_grad(), DispatchCounterMode([m]):
        blk(x)
    d = _hooks(nn.Sequential(blk), x).layers["0"].detail
    assert m.get_total() == d["conv_t"] + d["conv_c"]


# --------------------------------------------------------------------------- cross-checks with SpikingJelly on a network


def _small_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 4, 3, stride=2, padding=1)), snnkit.LIF(), L.Flatten(),
                        L.TimeDistributed(nn.Linear(64, 5)), snnkit.IF()).eval()
    with torch.no_grad():
        net[0].module.weight.mul_(3)
    return net


@pytest.mark.parametrize("real", [False, True])
def test_counts_agree_with_spikingjelly_op_counter(real: bool) -> None:
    pytest.importorskip("spikingjelly.activation_based.op_counter")
    from spikingjelly.activation_based.op_counter import (DispatchCounterMode, MACCounter, ModuleCounterMode,
                                                          NeuromorphicMemoryAccessCounter, SynOpCounter)

    net = _small_net()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 2, 8, 8, generator=g) if real else (torch.rand(3, 2, 2, 8, 8, generator=g) < 0.3).float()
    s, m, mem = SynOpCounter(), MACCounter(), NeuromorphicMemoryAccessCounter()
    snnkit.reset(net)
    with torch.no_grad(), DispatchCounterMode([s, m]):
        net(x)
    snnkit.reset(net)
    with torch.no_grad(), ModuleCounterMode([mem], model=net):
        net(x)
    t = _hooks(net, x).totals
    sj = mem.get_counts()["Global"]
    assert (t["synops"], t["macs"]) == (s.get_total(), m.get_total())
    assert (t["weight_read_bytes"], t["bias_read_bytes"]) == (sj["weight_read_bytes"], sj["bias_read_bytes"])
    assert t["synops"] > 0 and (t["macs"] > 0) == real


def _syops():
    """syops 0.0.5 imports spikingjelly.clock_driven (gone in SpikingJelly 2.0) and progress; stub both."""
    try:
        import syops  # noqa: F401
    except ImportError:
        saved = {k: sys.modules.get(k) for k in ("progress", "progress.bar", "spikingjelly.clock_driven",
                                                  "spikingjelly.clock_driven.neuron")}
        p, b = types.ModuleType("progress"), types.ModuleType("progress.bar")
        b.Bar = object
        p.bar = b
        cd, n = types.ModuleType("spikingjelly.clock_driven"), types.ModuleType("spikingjelly.clock_driven.neuron")
        for k in ("MultiStepIFNode", "MultiStepLIFNode", "IFNode", "LIFNode", "MultiStepParametricLIFNode",
                  "ParametricLIFNode"):
            setattr(n, k, type(k, (nn.Module,), {}))
        cd.neuron = n
        sys.modules.update({"progress": p, "progress.bar": b, "spikingjelly.clock_driven": cd,
                            "spikingjelly.clock_driven.neuron": n})
        try:
            import syops  # noqa: F401
        except ImportError:
            return None
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
    from syops import ops

    return ops


def test_counts_agree_with_syops_where_it_is_exact() -> None:
    ops = _syops()
    if ops is None:
        pytest.skip("syops is not installed (pip install syops pulls another torch; see docs/energy.md)")
    torch.manual_seed(0)
    lin = nn.Linear(20, 7, bias=False)
    x = (torch.rand(4, 3, 20) < 0.3).float()
    lin.__syops__ = np.zeros(4)
    ops.linear_syops_counter_hook(lin, (x,), lin(x))
    ours = _hooks(nn.Sequential(L.TimeDistributed(lin), snnkit.IF()), x).layers["0.module"]
    assert round(lin.__syops__[1]) == ours.synops  # ACs = rate x dense = spikes x fan-out for a Linear
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    xr = torch.rand(12, 2, 6, 6)
    conv.__syops__ = np.zeros(4)
    ops.conv_syops_counter_hook(conv, (xr,), conv(xr))
    net = nn.Sequential(L.TimeDistributed(conv), snnkit.IF())
    assert conv.__syops__[2] == _hooks(net, xr.reshape(4, 3, 2, 6, 6)).layers["0.module"].macs  # dense MACs
    xs = (torch.rand(12, 2, 6, 6) < 0.3).float()
    conv.__syops__ = np.zeros(4)
    ops.conv_syops_counter_hook(conv, (xs,), conv(xs))
    exact = _hooks(net, xs.reshape(4, 3, 2, 6, 6)).layers["0.module"].synops
    assert exact < conv.__syops__[1]  # syops averages (rate x dense, padding included); ours is exact


# --------------------------------------------------------------------------- behaviour


def test_counting_does_not_change_results_and_restores_the_model() -> None:
    from snnkit.models.tcja_snn import TCJASNN, TCJASNNConfig

    torch.manual_seed(0)
    cfg = TCJASNNConfig(name="t", in_channels=2, input_size=[8, 8], sensor_size=[8, 8], T=4, stages=[[4], [4]],
                        hidden=[8], num_classes=2, voting=2, dropout=0.2)
    net = TCJASNN(cfg).train()
    x = (torch.rand(4, 3, 2, 8, 8) < 0.3).float() * 2
    net.eval()
    with torch.no_grad():
        ref = net(x)
    net.train()
    bn = dict(net.state_dict())
    r = _hooks(net, x)
    assert torch.equal(r.output, ref)
    assert net.training and all(m.training for m in net.modules())
    assert all(not m._forward_hooks for m in net.modules())
    assert all(torch.equal(v, bn[k]) for k, v in net.state_dict().items())  # BN statistics untouched
    assert r.unknown == [] and {L.kind for L in r.layers.values()} >= {"conv", "neuron", "attention", "pool", "linear"}
    assert any("folded" in n for n in r.notes)
    # several batches (an iterable) add up to one big batch
    r2 = count_module_ops(net, [x[:, :2], x[:, 2:]])
    assert r2.B == 3 and r2.totals["synops"] == r.totals["synops"] and r2.totals["macs"] == r.totals["macs"]
    assert torch.equal(r2.output, ref)


def test_unknown_layers_are_listed_never_silently_zero() -> None:
    class Scale(nn.Module):
        def forward(self, x):
            return 2 * x

    net = nn.Sequential(L.TimeDistributed(nn.Linear(4, 4)), L.TimeDistributed(nn.LayerNorm(4)), Scale(), snnkit.IF())
    r = _hooks(net, torch.rand(2, 3, 4))
    names = {u["name"] for u in r.unknown}
    assert names == {"1.module", "2"} and r.totals["unknown_layers"] == 2
    assert "NOT COUNTED" in str(r) and "2" in str(r)
    d = r.to_dict()
    assert d["unknown"][0]["reason"]
    from snnkit.hardware import energy

    assert any("NOT COUNTED" in n for n in energy(r, "horowitz45").notes)


def test_module_with_children_that_runs_none_of_them_is_listed() -> None:
    """nn.MultiheadAttention has a Linear child (out_proj) but computes everything in F.multi_head_attention_forward:
    none of its work is seen, so it is NOT COUNTED, not a silent zero; a wrapper that runs a counted child, or only
    a no-op one (Flatten), is not listed."""

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha, self.lin, self.flat = nn.MultiheadAttention(8, 2), nn.Linear(8, 8), nn.Flatten(0, 1)

        def forward(self, x):
            return self.flat(self.lin(self.mha(x, x, x)[0]))

    r = _hooks(Wrap(), torch.rand(4, 2, 8))
    assert [(u["name"], u["module"]) for u in r.unknown] == [("mha", "MultiheadAttention")]
    assert r.layers["lin"].macs == 4 * 2 * 8 * 8
    from snnkit.hardware import energy

    assert any("NOT COUNTED" in n and "mha" in n for n in energy(r, "horowitz45").notes)

    class Reshape(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flat = nn.Flatten(2)

        def forward(self, x):
            return self.flat(x)

    assert _hooks(nn.Sequential(Reshape(), L.TimeDistributed(nn.Linear(8, 2))), torch.rand(4, 2, 2, 4)).unknown == []


def test_single_step_models_are_counted_per_call() -> None:
    net = nn.Sequential(nn.Linear(3, 2, bias=False), snnkit.IF(v_threshold=0.5, step_mode="s"))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    x = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    r = _hooks(net, x)
    assert r.layers["0"].per_step["synops"] == [3, 5] and r.layers["1"].per_step["neuron_updates"] == [4, 4]
    assert r.output.shape == (2, 2, 2)


def test_event_count_inputs() -> None:
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    net = nn.Sequential(L.TimeDistributed(conv), snnkit.IF())
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0], x[0, 0, 0, 1, 1] = 3.0, 1.0  # event counts: 3 events at (0,0), 1 at (1,1)
    strict = _hooks(net, x).layers["0.module"]
    counts = _hooks(net, x, event_inputs="counts").layers["0.module"]
    assert strict.input == "real" and strict.synops == 0 and strict.macs == 72
    assert counts.input == "counts" and counts.macs == 0 and counts.synops == 2 * (3 * 1 + 1 * 4)
    dense = _hooks(net, (x > 0).float(), event_inputs="none").layers["0.module"]
    assert dense.input == "binary" and dense.synops == 0 and dense.macs == 72
    with pytest.raises(ValueError, match="event_inputs"):
        _hooks(net, x, event_inputs="maybe")


def test_hooks_and_trace_backends_agree_on_a_loihi_network() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 5, bias=False), snnkit.IF(v_threshold=0.5), nn.Linear(5, 3, bias=False),
                        snnkit.IF(v_threshold=0.5)).eval()
    with torch.no_grad():
        net[0].weight.abs_()
        net[2].weight.abs_()
    x = (torch.rand(4, 3, 6) < 0.5).float()
    tr = count_ops(net, x, backend="torch")
    hk = _hooks(net, x)
    assert hk.layers["0"].synops == tr.layers["1"].synops and hk.layers["2"].synops == tr.layers["3"].synops
    assert hk.layers["1"].spikes == tr.layers["1"].spikes and hk.layers["3"].spikes == tr.layers["3"].spikes
    assert hk.layers["0"].per_step["synops"] == tr.layers["1"].per_step["synops"]
    assert sum(tr.layers["3"].per_step["spikes"]) == tr.layers["3"].spikes
    with pytest.raises(ValueError, match="hooks"):
        count_ops(nn.Sequential(L.MaxPool2d(2), snnkit.IF()), torch.zeros(2, 1, 1, 4, 4), backend="torch")


def test_adaptive_pool_batchnorm_and_relu_counts() -> None:
    from snnkit.hardware.counters import _adaptive_windows

    pool = nn.AdaptiveAvgPool2d((3, 4))
    assert torch.equal(_adaptive_windows((3, 4), (1, 5, 7)), _brute_fanout(pool, (1, 5, 7)))
    net = nn.Sequential(L.TimeDistributed(nn.Sequential(nn.AvgPool2d(2), nn.BatchNorm2d(2), nn.ReLU(),
                                                        nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))), snnkit.IF()).eval()
    x = torch.rand(2, 3, 2, 4, 4) - 0.5
    r = _hooks(net, x)
    bn = r.layers["0.module.1"]
    relu = r.layers["0.module.2"]
    assert bn.kind == "norm" and bn.macs == 2 * 3 * 2 * 2 * 2  # not after a Linear/Conv: one MAC per element
    assert relu.kind == "activation" and relu.activations == 2 * 3 * 8
    assert relu.nonzero == int((net[0].module[:3](x.flatten(0, 1)) > 0).sum())
    assert relu.firing_rate == relu.nonzero / relu.activations
    assert "0.module.4" not in r.layers and any("0.module.4 -> 0.module.3" in n for n in r.notes)  # folded


@pytest.mark.parametrize("act", [lambda: nn.ReLU(inplace=True), lambda: nn.Hardtanh(inplace=True)])
def test_batchnorm_folds_only_right_after_its_linear(act) -> None:
    """BatchNorm after Linear -> in-place activation reads the activation's output from the Linear's memory: it
    cannot be folded into the Linear, and costs one MAC per element as any unfoldable BatchNorm. (The same holds
    when a later tensor reuses the Linear's freed memory: the counter keeps the Linear's output alive.)"""
    net = nn.Sequential(L.TimeDistributed(nn.Linear(20, 20)), L.TimeDistributed(act()), L.BatchNorm1d(20)).eval()
    r = _hooks(net, torch.rand(4, 3, 20))
    bn = r.layers["2"]
    assert bn.kind == "norm" and bn.macs == 4 * 3 * 20
    assert not any("folded" in note for note in r.notes)
    direct = _hooks(nn.Sequential(L.TimeDistributed(nn.Linear(20, 20)), L.BatchNorm1d(20)).eval(), torch.rand(4, 3, 20))
    assert "1" not in direct.layers and any("1 -> 0.module" in n for n in direct.notes)  # right after it: folded


def _pooled_net(tcja: bool) -> nn.Module:
    """Conv -> LIF [-> TCJA] -> AvgPool -> Conv -> LIF -> SumPool -> Flatten -> Linear -> LIF (to_lava maps it)."""
    torch.manual_seed(3)
    parts = [L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1, bias=False)), snnkit.LIF(tau=2.0, v_threshold=0.3)]
    if tcja:
        parts.append(TCJA(T=4, channels=4, kernel_t=3, kernel_c=3))
    parts += [L.TimeDistributed(nn.AvgPool2d(2)), L.TimeDistributed(nn.Conv2d(4, 3, 3, padding=1, bias=False)),
              snnkit.LIF(tau=2.0, v_threshold=0.3), L.SumPool2d(2), L.Flatten(), L.TimeDistributed(
                  nn.Linear(12, 5, bias=False)), snnkit.LIF(tau=2.0, v_threshold=0.3)]
    net = nn.Sequential(*parts).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.abs_()
    return net


def test_adaptive_pool_that_to_lava_folds_is_priced_as_the_average_pool_it_equals() -> None:
    """AdaptiveAvgPool2d(4) on 8x8 maps to Loihi as AvgPool2d(2) folded into the next conv: the same counts and
    Loihi energy as the network written with AvgPool2d(2)."""
    from snnkit.hardware import energy

    avg = _pooled_net(False)
    adaptive = _pooled_net(False)
    adaptive[2] = L.TimeDistributed(nn.AdaptiveAvgPool2d(4))
    x = (torch.rand(4, 3, 2, 8, 8) < 0.3).float()
    a, b = _hooks(avg, x), _hooks(adaptive, x)
    assert b.layers["2.module"].folded_into == "3.module" == a.layers["2.module"].folded_into
    assert b.layers["3.module"].graded_synops == a.layers["3.module"].graded_synops > 0
    assert energy(b, "loihi").total_j == pytest.approx(energy(a, "loihi").total_j, rel=1e-12)
    x10 = (torch.rand(4, 3, 2, 10, 10) < 0.3).float()  # 10 -> 4: unequal windows, no Loihi mapping, not folded
    assert _hooks(adaptive, x10).layers["2.module"].folded_into == ""
    adaptive[2] = L.TimeDistributed(nn.AdaptiveAvgPool2d((4, None)))   # None: keep the width (then 8 -> 4 by hand)
    adaptive[3] = L.TimeDistributed(nn.Conv2d(4, 3, (3, 5), padding=(1, 2), stride=(1, 2), bias=False))
    b2 = _hooks(adaptive, x)
    assert b2.layers["2.module"].folded_into == "3.module" and b2.layers["2.module"].synapses == 4 * 8 * 8


@pytest.mark.parametrize("tcja", [False, True])
def test_loihi_energy_of_pooled_network_matches_the_lava_mapping(tcja: bool) -> None:
    """to_lava folds pooling into the next layer's weights: the hooks backend's event-driven price must
    equal that of the trace backend, which counts events through the composed connection."""
    from snnkit.hardware import energy

    net = _pooled_net(tcja)
    x = (torch.rand(4, 3, 2, 8, 8) < 0.3).float()
    hk = _hooks(net, x)
    tr = count_ops(net, x, backend="torch")
    assert all(L.spikes > 0 for L in tr.layers.values())  # every stage fires: nothing agrees trivially
    i = 3 if tcja else 2
    pool1, conv2 = hk.layers[f"{i}.module"], hk.layers[f"{i + 1}.module"]
    assert pool1.folded_into == f"{i + 1}.module" and hk.layers[f"{i + 3}"].folded_into == f"{i + 5}.module"
    stage2 = tr.layers[f"{i + 2}"]
    # events of the composed pool+conv connection: every nonzero pool input x its composed fan-out
    assert conv2.graded_synops == stage2.macs + stage2.synops
    assert conv2.per_step["graded_synops"] == [a + b for a, b in zip(stage2.per_step["macs"],
                                                                      stage2.per_step["synops"])]
    assert hk.layers[f"{i + 5}.module"].graded_synops == tr.layers[f"{i + 6}"].synops
    e_hk, e_tr = energy(hk, "loihi"), energy(tr, "loihi")
    assert e_hk.breakdown_j["synaptic ops"] == pytest.approx(e_tr.breakdown_j["synaptic ops"], rel=1e-12)
    assert e_hk.per_layer_j[f"{i}.module"] == 0.0 and e_hk.per_layer_j[f"{i + 3}"] == 0.0
    assert sum(e_hk.per_step_j) == pytest.approx(e_hk.total_j, rel=1e-9)
    assert any("folded" in n and f"{i}.module -> {i + 1}.module" in n for n in e_hk.notes)
    # a conventional accelerator still pools and then multiplies densely: Horowitz prices both
    e_h = energy(hk, "horowitz45")
    assert e_h.per_layer_j[f"{i}.module"] > 0 and conv2.macs > 0


def test_event_counts_of_average_pooled_spikes_count_every_spike() -> None:
    """event_inputs="counts": an average-pooled window holding n spikes is n events, whatever else is in the batch.
    Here every window holds 0, 2 or 4 spikes (values 0.5 and 1.0): the smallest value is not one spike."""
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]]))
    net = nn.Sequential(L.AvgPool2d(2), L.Flatten(), L.TimeDistributed(lin), snnkit.IF()).eval()
    x = torch.zeros(2, 2, 1, 4, 4)
    x[0, 0, 0, :2, :2] = 1.0                                          # window 0: 4 spikes
    x[0, 0, 0, 0, 2:] = 1.0                                           # window 1: 2 spikes
    x[1, 1, 0, 2:, 2:] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])       # window 3: 2 spikes
    fan_out = [int(v) for v in (lin.weight != 0).sum(0)]
    expected = 0
    for t in range(2):
        for b in range(2):
            for w, (i, j) in enumerate(((0, 0), (0, 2), (2, 0), (2, 2))):
                expected += int(x[t, b, 0, i:i + 2, j:j + 2].sum()) * fan_out[w]
    r = _hooks(net, x, event_inputs="counts")
    assert r.layers["2.module"].input == "counts" and r.layers["2.module"].synops == expected
    # counted one sample at a time, the same events (the count of a window does not depend on the batch)
    per_sample = [_hooks(net, x[:, b:b + 1], event_inputs="counts").layers["2.module"].synops for b in range(2)]
    assert sum(per_sample) == expected
    x1 = x.clone()
    x1[0, 1, 0, 2, 0] = 1.0  # a window with one spike elsewhere in the batch changes nothing for the others
    assert _hooks(net, x1, event_inputs="counts").layers["2.module"].synops == expected + fan_out[2]


def test_integer_event_counts_are_events_even_without_a_single_event_pixel() -> None:
    """DVS count frames are integers: a pixel with n events is n events. In a batch where no pixel holds exactly
    one event (counts 2 and 3 here) the smallest count is not the unit (3 / 2 is no integer multiple)."""
    lin = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]]))
    net = nn.Sequential(L.TimeDistributed(lin), snnkit.IF()).eval()
    x = torch.tensor([[[2.0, 0.0, 3.0, 0.0]], [[0.0, 2.0, 0.0, 0.0]]])  # [T=2, B=1, 4]
    expected = 0
    for t in range(2):
        for i in range(4):
            expected += int(x[t, 0, i]) * int((lin.weight[:, i] != 0).sum())
    r = _hooks(net, x, event_inputs="counts").layers["0.module"]
    assert (r.input, r.synops, r.macs) == ("counts", expected, 0)
    # with a one-event pixel in another sample of the batch, this sample's count is the same
    both = torch.cat([x, torch.tensor([[[1.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]])], dim=1)
    assert _hooks(net, both, event_inputs="counts").layers["0.module"].synops == expected + 2
