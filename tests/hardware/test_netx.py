"""lava-dl netx HDF5: layout, round trip, atomic writes, clear errors for foreign or corrupt files."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.hardware.netx import export_netx, load_netx, netx_plan, read_netx


def _net(bias: bool = True) -> nn.Sequential:
    torch.manual_seed(2)
    net = nn.Sequential(
        L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1, bias=bias)),
        snnkit.LIF(tau=2.0),
        L.SumPool2d(2),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.8),
        L.TimeDistributed(nn.Conv2d(4, 3, 3, stride=2, padding=1, bias=False)),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.5),
        L.Flatten(),
        nn.Linear(12, 5, bias=bias),
        snnkit.IF(),
    ).eval()
    with torch.no_grad():
        net[0].module.weight.mul_(5.0)
        net[4].module.weight.mul_(3.0)
        net[7].weight.mul_(3.0)
    return net


def test_layout_matches_what_netx_reads(tmp_path) -> None:
    path = export_netx(_net(), tmp_path / "net.net", (2, 8, 8))
    with h5py.File(path) as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert types == ["input", "conv", "conv", "conv", "flatten", "dense"]
        assert f["layer/0/type"].dtype == np.dtype("S10") and f["layer/0/type"].shape == (1,)
        assert list(f["layer/0/shape"][()]) == [2, 8, 8]  # (C, H, W); netx reverses to (W, H, C)
        c = f["layer/1"]
        assert c["weight"].shape == (4, 2, 3, 3) and list(c["stride"][()]) == [1, 1] and c["groups"][()] == 1
        assert c["neuron/type"][0] == b"CUBA" and c["neuron/iDecay"][()] == 4096 and c["neuron/vDecay"][()] == 2048
        w = c["weight"][()]
        assert np.all(w == np.round(w)) and np.abs(w).max() == 254 and np.all(w % 2 == 0)
        assert c["bias"].shape == (4,)  # channel-wise bias: netx broadcasts it over (W, H)
        pool = f["layer/2"]
        assert pool["groups"][()] == 4 and pool["weight"].shape == (4, 1, 2, 2)  # sum pool = depthwise ones
        d = f["layer/5"]
        assert d["weight"].shape == (5, 12) and d["neuron/vDecay"][()] == 0 and d["neuron/iDecay"][()] == 4096
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_round_trip_weights_and_idempotence(tmp_path) -> None:
    net = _net()
    p1 = export_netx(net, tmp_path / "a.net", (2, 8, 8))
    loaded = load_netx(p1)
    assert loaded.input_shape == (2, 8, 8)
    convs = [m.module for m in loaded.modules() if isinstance(m, L.TimeDistributed)]
    w0 = net[0].module.weight.detach().numpy() * 0.5  # LIF(tau=2) input scale folded into the weights
    step = np.abs(w0).max() / 254
    np.testing.assert_allclose(convs[0].weight.detach().numpy(), w0, atol=step)
    neurons = [m for m in loaded.modules() if isinstance(m, snnkit.CubaLIF)]
    assert [(n.du, n.dv) for n in neurons] == [(1.0, 0.5), (0.5, 0.199951171875), (0.5, 0.199951171875), (1.0, 0.0)]
    p2 = export_netx(loaded, tmp_path / "b.net", (2, 8, 8))
    a, b = read_netx(p1), read_netx(p2)
    assert [d["type"] for d in a] == [d["type"] for d in b]
    for da, db in zip(a, b):
        if "weight" in da:
            np.testing.assert_array_equal(da["weight"], db["weight"])
            assert da["neuron"] == db["neuron"]
            np.testing.assert_array_equal(da.get("bias", 0), db.get("bias", 0))
    # the loaded float model and the file's integers give the same spikes
    x = (torch.rand(8, 2, 2, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    from snnkit.hardware.compare import torch_spikes
    from snnkit.hardware.lava import simulate_plan

    plan = netx_plan(p1)
    sim = simulate_plan(plan, x)
    names = [n for n, m in loaded.named_modules() if isinstance(m, snnkit.CubaLIF)]
    ref = torch_spikes(loaded.double(), x.double(), names)["spikes"]
    agree = np.mean([(sim[sp.name] == ref[sp.name]).mean() for sp in plan.stages])
    assert agree > 0.97 and sum(s.sum() for s in sim.values()) > 50


def test_netx_plan_runs_in_lava_exactly(tmp_path) -> None:
    pytest.importorskip("lava")
    from snnkit.hardware.lava import LavaNetwork

    path = export_netx(_net(bias=False), tmp_path / "n.net", (2, 8, 8))
    plan = netx_plan(path)
    x = (torch.rand(6, 2, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    res = LavaNetwork(plan).run(x)
    sim = LavaNetwork(plan).simulate(x)
    for k in res.spikes:
        np.testing.assert_array_equal(res.spikes[k], sim[k])
    assert res.spikes[plan.stages[-1].name].sum() > 0


def test_slayer_scale_and_atomic_failure(tmp_path) -> None:
    net = _net()
    p = export_netx(net, tmp_path / "s.net", (2, 8, 8), scale=64)
    with h5py.File(p) as f:
        assert f["layer/1"].attrs["snnkit_weight_scale"] == 64
        assert f["layer/1/neuron/vThMant"][()] == 63  # LIF threshold 1.0 x 64, one unit lower: fires on v >= vth
    target = tmp_path / "keep.net"
    target.write_bytes(b"old")
    bad = nn.Sequential(nn.Linear(4, 4), snnkit.CubaLIF(du=0.5))  # current bias before du < 1
    with pytest.raises(ValueError, match="du=0.5"):
        export_netx(bad, target)
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["keep.net", "s.net"]
    with pytest.raises(ValueError, match="input_shape"):
        export_netx(_net(), tmp_path / "x.net")
    composite = nn.Sequential(L.TimeDistributed(nn.Conv2d(1, 2, 3, bias=False)), L.SumPool2d(2), snnkit.IF())
    with pytest.raises(ValueError, match="one Dense"):
        export_netx(composite, tmp_path / "c.net", (1, 6, 6))
    with pytest.raises(FileNotFoundError):
        export_netx(_net(), tmp_path / "missing" / "a.net", (2, 8, 8))


def test_clear_errors_for_corrupt_and_foreign_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_netx(tmp_path / "nope.net")
    junk = tmp_path / "junk.net"
    junk.write_bytes(b"\x89HDF\r\n this is not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        load_netx(junk)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(ValueError, match="no 'layer' group"):
        load_netx(foreign)
    good = export_netx(nn.Sequential(nn.Linear(4, 3, bias=False), snnkit.CubaLIF()), tmp_path / "g.net")
    for mutate, msg in [
        (lambda f: f.move("layer/1", "layer/7"), "named '0'"),
        (lambda f: (f.__delitem__("layer/1/type"), f["layer/1"].create_dataset("type", (1,), "S10", [b"pool"])),
         "type 'pool'"),
        (lambda f: (f.__delitem__("layer/1/neuron/type"),
                    f["layer/1/neuron"].create_dataset("type", (1,), "S10", [b"SDNN"])), "SDNN"),
        (lambda f: f.__delitem__("layer/1/weight"), "no 'weight'"),
        (lambda f: (f.__delitem__("layer/1/weight"), f["layer/1"].create_dataset("weight", data=np.zeros((3, 5)))),
         "5 inputs"),
        # SLAYER's block.cuba.Input: netx runs it as a neuron layer, so it must not be dropped silently
        (lambda f: f.copy("layer/1/neuron", "layer/0/neuron"), "input layer with neurons"),
    ]:
        bad = tmp_path / "bad.net"
        bad.write_bytes(good.read_bytes())
        with h5py.File(bad, "r+") as f:
            mutate(f)
        with pytest.raises(ValueError, match=msg):
            load_netx(bad)


def _import_netx_with_stubs():
    """Import ``lava.lib.dl.netx`` with throwaway stubs for modules lava-dl imports but netx never uses.

    lava-dl 0.6 imports ``lava.lib.dl.slayer`` (for neuron parameters), whose ``object_detection``
    package imports ``cv2`` and ``torchvision`` at import time. Only names that are not importable
    are stubbed, and ``sys.modules`` is restored afterwards so no other test sees the stubs.
    """
    import importlib
    import importlib.util
    import sys
    import types

    pytest.importorskip("lava")
    from snnkit.hardware import import_lava

    import_lava()
    try:
        found = importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ModuleNotFoundError:  # the parent package lava.lib.dl is missing too
        found = False
    if not found:
        pytest.skip("lava-dl is not installed")

    def stub(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    stubs = {}
    if importlib.util.find_spec("cv2") is None:
        stubs["cv2"] = stub("cv2")
    if importlib.util.find_spec("torchvision") is None:
        ops, transforms = stub("torchvision.ops"), stub("torchvision.transforms")
        stubs.update({"torchvision": stub("torchvision", ops=ops, transforms=transforms),
                      "torchvision.ops": ops, "torchvision.transforms": transforms})
    saved = dict(sys.modules)
    sys.modules.update(stubs)
    try:
        return importlib.import_module("lava.lib.dl.netx")
    finally:
        for name in stubs:
            if name in saved:
                sys.modules[name] = saved[name]
            else:
                sys.modules.pop(name, None)


def _run_netx(net, data: np.ndarray, T: int) -> list:
    """Run a netx ``Network`` in Lava (fixed_pt) for ``T`` steps on ``data`` (time last); each layer's spikes."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    src = Source(data=data)
    src.s_out.connect(net.inp)
    sinks = []
    for layer in net.layers:
        sink = Sink(shape=layer.out.shape, buffer=T)
        layer.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return [s.data.get() for s in sinks]
    finally:
        net.stop()


def test_lava_dl_netx_reads_our_file_if_installed(tmp_path) -> None:
    """Optional: lava-dl is not a dependency; when installed, its netx Network must build from our file
    and, run in Lava (fixed_pt), spike exactly as snnkit's ``netx_plan`` simulation of the same file.

    netx chains one process per layer, so layer ``i`` (0-based) lags our delay-free simulation by
    ``i + 1`` steps; the comparison shifts by that, and it is exact.
    """
    netx = _import_netx_with_stubs()
    from snnkit.hardware.lava import LavaNetwork

    path = export_netx(_net(bias=False), tmp_path / "n.net", (2, 8, 8))
    net = netx.hdf5.Network(net_config=str(path))
    assert len(net) == 4
    assert tuple(net.inp.shape) == (8, 8, 2) and tuple(net.out.shape) == (5,)

    plan = netx_plan(path)
    T = 24
    x = (torch.rand(T, 1, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    ref = LavaNetwork(plan).simulate(x)

    got = _run_netx(net, x[:, 0].numpy().transpose(3, 2, 1, 0), T)  # netx order: (x, y, c, t)

    assert len(plan.stages) == len(got)
    for i, (stage, out) in enumerate(zip(plan.stages, got)):
        want = ref[stage.name][:, 0]  # [T, C, H, W] or [T, N]
        if want.ndim == 4:
            want = want.transpose(0, 3, 2, 1)  # -> [T, W, H, C], netx's (x, y, c)
        out = np.moveaxis(out, -1, 0)
        d = i + 1
        assert not out[:d].any()
        np.testing.assert_array_equal(out[d:], want[: T - d], err_msg=f"layer {i} ({stage.name})")
    assert got[-1].sum() > 5


def test_dropped_readout_is_a_named_warning(tmp_path) -> None:
    from snnkit.hardware import DroppedReadoutWarning

    net = nn.Sequential(L.TimeDistributed(nn.Linear(4, 4, bias=False)), snnkit.LIF(), L.TimeDistributed(nn.Linear(4, 3)),
                        L.VotingLayer(3)).eval()
    with pytest.warns(DroppedReadoutWarning) as rec:
        export_netx(net, tmp_path / "r.net", (4,))
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "dropped: '2.module' (Linear), '3' (VotingLayer)" in msg and "apply the readout on the host" in msg, msg
    assert "'1' (4 neurons)" in msg, msg
    assert [d["type"] for d in read_netx(tmp_path / "r.net")] == ["input", "dense"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no readout: no warning
        export_netx(net[:2], tmp_path / "s.net", (4,))


def _slayer_dense_file(path) -> None:
    """A file laid out as lava-dl SLAYER's ``block.cuba.Dense`` exports write it: no input layer, the first
    dense layer's weight gives the input size; the last layer's weight is 1-D with ``shape = (3, 1, 1)``."""
    rng = np.random.default_rng(0)
    w1 = 2 * rng.integers(-20, 60, size=(8, 12))
    w2 = 2 * rng.integers(-40, 80, size=(3, 8))
    with h5py.File(path, "w") as f:
        for i, (w, shape, idecay, vdecay) in enumerate([(w1, [8], 1024, 512), (w2.reshape(-1), [3, 1, 1], 4096, 1024)]):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array(shape))
            g.create_dataset("inFeatures", data=12 if i == 0 else 8)
            g.create_dataset("outFeatures", data=8 if i == 0 else 3)
            g.create_dataset("weight", data=w.astype(np.float32))
            for key, value in dict(type="CUBA", iDecay=idecay, vDecay=vdecay, vThMant=80, refDelay=1,
                                   gradedSpike=False).items():
                g.create_dataset(f"neuron/{key}", data=value)


def test_slayer_file_without_input_layer_loads(tmp_path) -> None:
    """netx builds a file whose layer/0 is dense (the SLAYER tutorials' MNIST network is one); so must load_netx."""
    from snnkit.hardware.compare import torch_spikes
    from snnkit.hardware.lava import simulate_plan

    path = tmp_path / "slayer.net"
    _slayer_dense_file(path)
    model = load_netx(path, dtype=torch.float64)
    assert model.input_shape == (12,)
    lins = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in lins] == [(8, 12), (3, 8)]
    with h5py.File(path) as f:
        np.testing.assert_array_equal(lins[1].weight.detach().numpy() * 64, f["layer/1/weight"][()].reshape(3, 8))
    x = (torch.rand(20, 2, 12, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    plan = netx_plan(path)
    sim = simulate_plan(plan, x)
    names = [n for n, m in model.named_modules() if isinstance(m, snnkit.CubaLIF)]
    ref = torch_spikes(model, x, names)["spikes"]
    assert sum(s.sum() for s in sim.values()) > 20
    for sp, name in zip(plan.stages, names):
        np.testing.assert_array_equal(sim[sp.name], ref[name])


def test_lava_dl_netx_runs_a_file_without_input_layer_as_netx_plan(tmp_path) -> None:
    """Optional (lava-dl): netx's own run of the SLAYER-style file spikes as ``netx_plan``'s, layer i i+1 steps later."""
    netx = _import_netx_with_stubs()
    from snnkit.hardware.lava import LavaNetwork

    path = tmp_path / "slayer.net"
    _slayer_dense_file(path)
    net = netx.hdf5.Network(net_config=str(path))
    T = 20
    x = (torch.rand(T, 1, 12, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    plan = netx_plan(path)
    ref = LavaNetwork(plan).simulate(x)
    got = _run_netx(net, x[:, 0].numpy().T, T)
    for i, (stage, out) in enumerate(zip(plan.stages, got)):
        out = np.moveaxis(out, -1, 0)
        np.testing.assert_array_equal(out[i + 1:], ref[stage.name][: T - i - 1, 0], err_msg=f"layer {i}")
    assert got[-1].sum() > 3


def test_pooling_over_128_channels_still_exports_as_a_netx_conv_layer(tmp_path) -> None:
    """to_lava plans such a pooling as Sparse (Lava's Conv keeps groups as int8); netx files keep the conv layer."""
    from snnkit.hardware import to_lava

    torch.manual_seed(0)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 130, 1, bias=False)), snnkit.IF(), L.SumPool2d(2),
                        snnkit.IF(v_threshold=2.0)).eval()
    path = tmp_path / "pool130.net"
    export_netx(net, path, input_shape=(2, 4, 4))
    specs = read_netx(path)
    assert [d["type"] for d in specs if d["type"] != "input"] == ["conv", "conv"]
    assert [s.conn for s in netx_plan(path).stages] == ["conv", "conv"]
    assert [s.conn for s in to_lava(net, (2, 4, 4)).plan.stages] == ["conv", "sparse"]


def test_no_current_decay_is_written_as_idecay_zero(tmp_path) -> None:
    """``CubaLIF(du=0)`` (a current that never decays) is ``iDecay = 0`` (netx: Lava ``du = -1``, decay 0/4096), as
    SLAYER writes it; it used to be written as 1, a 1/4096 decay per step: 156 instead of 200 spikes in 2000 steps."""
    net = nn.Sequential(nn.Linear(1, 1, bias=False), snnkit.CubaLIF(du=0.0, dv=0.0, v_threshold=9.5)).eval().double()
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    path = export_netx(net, tmp_path / "du0.net", (1,))
    with h5py.File(path) as f:
        assert f["layer/1/neuron/iDecay"][()] == 0
    assert load_netx(path)[1].du == 0.0
    x = torch.zeros(2000, 1, 1, dtype=torch.float64)
    x[0] = 1.0  # one input spike: u = 1 forever, v = t, a spike every 10 steps
    from snnkit.hardware.lava import simulate_plan

    plan = netx_plan(path)
    sim = simulate_plan(plan, x)[plan.stages[0].name]
    ref = net(x).detach().numpy()
    assert ref.sum() == 200
    np.testing.assert_array_equal(sim, ref)


def test_lava_dl_netx_runs_idecay_zero_as_netx_plan(tmp_path) -> None:
    """Optional (lava-dl): netx's own Network runs the ``iDecay = 0`` file spike for spike as ``netx_plan`` (1 step later)."""
    netx = _import_netx_with_stubs()
    from snnkit.hardware.lava import LavaNetwork

    net = nn.Sequential(nn.Linear(1, 2, bias=False), snnkit.CubaLIF(du=0.0, dv=0.0, v_threshold=4.5)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [0.5]]))
    path = export_netx(net, tmp_path / "du0.net", (1,))
    T = 60
    x = torch.zeros(T, 1, 1)
    x[0] = 1.0
    want = LavaNetwork(netx_plan(path)).simulate(x)[netx_plan(path).stages[0].name][:, 0]
    got = np.moveaxis(_run_netx(netx.hdf5.Network(net_config=str(path)), x[:, 0].numpy().T, T)[0], -1, 0)
    assert want.sum() == 12 + 6  # every 5th and every 10th step (u never decays)
    np.testing.assert_array_equal(got[1:], want[:-1])
