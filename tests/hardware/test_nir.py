"""NIR export/import: per-neuron arrays, round trip through a NIR file, and snnTorch reading our graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.hardware.compare import torch_spikes

nir = pytest.importorskip("nir")

from snnkit.hardware.nir import export_nir, import_nir  # noqa: E402


def _conv_net() -> nn.Sequential:
    torch.manual_seed(5)
    net = nn.Sequential(
        L.TimeDistributed(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4))),
        snnkit.LIF(tau=2.0),
        L.SumPool2d(2),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.8, bias=0.01),
        L.TimeDistributed(nn.Conv2d(4, 3, 3, stride=2, padding=1, bias=False)),
        snnkit.LIF(tau=3.0, decay_input=False, v_threshold=0.7),
        L.Flatten(),
        nn.Linear(12, 6),
        snnkit.IF(v_threshold=1.0),
        L.VotingLayer(2),
    ).eval().double()
    with torch.no_grad():
        net[0].module[1].running_var.uniform_(0.5, 2.0)
        net[0].module[0].weight.mul_(5.0)
        net[4].module.weight.mul_(2.0)
        net[7].weight.mul_(3.0)
    return net


def test_export_writes_per_neuron_arrays_and_the_documented_mapping() -> None:
    g = export_nir(_conv_net(), (2, 8, 8))
    names = list(g.nodes)
    assert names[0] == "input" and names[-1] == "output"
    lif, cuba, lif2, iff = (g.nodes[k] for k in ("1", "3", "5", "8"))
    assert isinstance(lif, nir.LIF) and lif.tau.shape == (4, 8, 8)
    np.testing.assert_allclose(lif.tau, 2e-4)
    np.testing.assert_allclose(lif.r, 1.0)
    np.testing.assert_allclose(lif2.r, 3.0)  # decay_input=False: r = tau
    assert isinstance(cuba, nir.CubaLIF) and cuba.v_leak.shape == (4, 4, 4)
    np.testing.assert_allclose(cuba.tau_syn, 1e-4 / 0.5)
    np.testing.assert_allclose(cuba.tau_mem, 1e-4 / 0.2)
    np.testing.assert_allclose(cuba.r, 5.0)
    np.testing.assert_allclose(cuba.w_in, 2.0)
    np.testing.assert_allclose(cuba.v_leak, 0.05)
    assert isinstance(iff, nir.IF) and iff.r.shape == (6,)
    assert isinstance(g.nodes["0_module_0"], nir.Conv2d)
    assert isinstance(g.nodes["9"], nir.Linear) and g.nodes["9"].weight.shape == (3, 6)  # voting readout


def test_round_trip_through_a_nir_file_gives_the_same_spikes(tmp_path) -> None:
    net = _conv_net()
    path = tmp_path / "net.nir"
    export_nir(net, (2, 8, 8), path=path)
    back = import_nir(path, dtype=torch.float64)
    x = (torch.rand(10, 3, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) < 0.4).double()
    a = torch_spikes(net, x, ["1", "3", "5", "8"])
    names = [n for n, m in back.named_modules() if isinstance(m, (snnkit.LIF, snnkit.CubaLIF, snnkit.IF))]
    b = torch_spikes(back, x, names)
    for ka, kb in zip(["1", "3", "5", "8"], names):
        np.testing.assert_array_equal(a["spikes"][ka], b["spikes"][kb])
    np.testing.assert_allclose(a["output"].numpy(), b["output"].numpy(), rtol=1e-12, atol=1e-12)
    assert sum(s.sum() for s in a["spikes"].values()) > 100
    # a graph whose 1/tau was already folded into the weights exports with r = tau instead
    from snnkit.hardware.graph import trace

    folded = import_nir(export_nir(trace(net, (2, 8, 8))), dtype=torch.float64)
    c = torch_spikes(folded, x, names)
    for ka, kc in zip(["1", "3", "5", "8"], names):
        np.testing.assert_array_equal(a["spikes"][ka], c["spikes"][kc])


def test_snntorch_imports_our_graph_and_gives_the_same_spikes(capsys) -> None:
    """snnTorch's import_from_nir (dt=1e-4 convention): Synaptic / Leaky reproduce CubaLIF / LIF spikes."""
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(0)
    nets = [
        nn.Sequential(nn.Linear(6, 10), snnkit.CubaLIF(du=0.3, dv=0.2), nn.Linear(10, 4),
                      snnkit.CubaLIF(du=1.0, dv=0.1, v_threshold=0.5)),
        nn.Sequential(nn.Linear(6, 10), snnkit.LIF(tau=2.0), nn.Linear(10, 4), snnkit.LIF(tau=4.0, v_threshold=0.3)),
    ]
    for net in nets:
        net.eval()
        with torch.no_grad():
            net[0].weight.mul_(3.0)
            net[2].weight.mul_(3.0)
        sn = import_from_nir(export_nir(net))
        x = torch.rand(20, 5, 6, generator=torch.Generator().manual_seed(1))
        ref = torch_spikes(net, x, ["1", "3"])["spikes"]["3"]
        for m in sn.modules():
            if hasattr(m, "reset_hidden"):
                m.reset_hidden()
        with torch.no_grad():
            out = [sn(x[t]) for t in range(x.shape[0])]
        out = torch.stack([o[0] if isinstance(o, tuple) else o for o in out]).numpy()
        assert ref.sum() > 10
        np.testing.assert_array_equal(out, ref)
    capsys.readouterr()  # snnTorch prints warnings about weight scaling


def test_refusals() -> None:
    with pytest.raises(ValueError, match="du > 0"):
        export_nir(nn.Sequential(nn.Linear(3, 3), snnkit.CubaLIF(du=0.0, dv=0.5)))
    g = export_nir(nn.Sequential(nn.Linear(3, 3), snnkit.CubaLIF(du=0.5, dv=0.5)))
    node = g.nodes["1"]
    node.v_threshold = np.array([1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="per-neuron v_threshold"):
        import_nir(g)
    g = export_nir(nn.Sequential(nn.Linear(3, 3), snnkit.CubaLIF(du=0.5, dv=0.5)))
    g.edges.append(("input", "1"))
    with pytest.raises(ValueError, match="branches"):
        import_nir(g)
    li = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                             "li": nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)),
                             "output": nir.Output(output_type={"output": np.array([2])})},
                      edges=[("input", "li"), ("li", "output")])
    with pytest.raises(ValueError, match="'li'"):
        import_nir(li)
    typo = nir.NIRGraph(nodes=dict(li.nodes), edges=[("input", "li"), ("li", "Output")], type_check=False)
    with pytest.raises(ValueError, match=r"edge \('li', 'Output'\) names a node the graph does not have"):
        import_nir(typo)
    with pytest.raises(TypeError):
        import_nir(42)


def test_bad_files_are_named(tmp_path) -> None:
    from snnkit.hardware.netx import export_netx

    good = tmp_path / "good.nir"
    nir.write(str(good), export_nir(nn.Sequential(nn.Linear(3, 3), snnkit.CubaLIF(du=0.5, dv=0.5))))
    (tmp_path / "trunc.nir").write_bytes(good.read_bytes()[:200])
    (tmp_path / "text.nir").write_text("not a NIR file")
    export_netx(nn.Sequential(nn.Linear(3, 3, bias=False), snnkit.CubaLIF(du=0.5, dv=0.5)), tmp_path / "x.net", (3,))
    with pytest.raises(FileNotFoundError, match="import_nir: no such file: '.*missing.nir'"):
        import_nir(tmp_path / "missing.nir")
    for name in ("trunc.nir", "text.nir"):
        with pytest.raises(ValueError, match=f"import_nir: '.*{name}' is not a readable HDF5 file"):
            import_nir(tmp_path / name)
    with pytest.raises(ValueError, match=r"'.*x.net' is HDF5 but not a NIR graph: .*\['layer'\]\) \(a lava-dl netx file"):
        import_nir(str(tmp_path / "x.net"))
    assert isinstance(import_nir(good), nn.Sequential)


def test_spikingjelly_graph_imports_with_the_same_spikes() -> None:
    """SpikingJelly's own NIR export (int pool sizes, IF with r = 1/dt) imports and spikes exactly as SpikingJelly."""
    to_nir = pytest.importorskip("spikingjelly.activation_based.nir_exchange.to_nir")
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    sj = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1, step_mode="m"), neuron.LIFNode(tau=2.0, step_mode="m"),
                       layer.AvgPool2d(2, step_mode="m"), layer.Flatten(step_mode="m"),
                       layer.Linear(36, 5, step_mode="m"), neuron.IFNode(v_threshold=0.2, step_mode="m"))
    with torch.no_grad():
        sj[0].weight.mul_(4.0)
        sj[4].weight.mul_(4.0)
    x = (torch.rand(12, 2, 2, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    g = to_nir.export_to_nir(sj, x)
    assert isinstance(g.nodes["_5"], nir.IF) and np.allclose(g.nodes["_5"].r, 1e4)  # SpikingJelly: r = 1/dt
    functional.reset_net(sj)
    with torch.no_grad():
        ref = sj(x)
    out = import_nir(g)(x)
    assert 10 < ref.sum() < ref.numel() / 2
    np.testing.assert_array_equal(out.detach().numpy(), ref.numpy())


def test_import_uses_the_dt_the_graph_was_exported_with(tmp_path) -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 6), snnkit.LIF(tau=2.0), nn.Linear(6, 3), snnkit.CubaLIF(du=0.5, dv=0.25, v_threshold=0.2)).eval()
    with torch.no_grad():
        net[0].weight.mul_(5.0)
        net[2].weight.mul_(5.0)
    path = tmp_path / "dt.nir"
    export_nir(net, (4,), dt=1e-3, path=path)
    back = import_nir(path)  # dt from the graph's metadata, not the 1e-4 default
    lif, cuba = back[1], back[3]
    assert lif.tau == pytest.approx(2.0) and (cuba.du, cuba.dv) == (pytest.approx(0.5), pytest.approx(0.25))
    x = (torch.rand(10, 2, 4, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    ref = net(x)
    assert ref.sum() > 3
    np.testing.assert_array_equal(back(x).detach().numpy(), ref.detach().numpy())
    assert import_nir(path, dt=1e-4)[1].tau == pytest.approx(20.0)  # an explicit dt still wins
    with pytest.raises(ValueError, match="dt must be a positive"):
        import_nir(path, dt=0.0)


@pytest.mark.parametrize("pool", ["sum", "avg"])
def test_pooling_readout_after_the_last_neuron_exports(pool) -> None:
    """trace keeps pooling after the last neuron as a host readout; NIR has SumPool2d/AvgPool2d nodes for it."""
    torch.manual_seed(3)
    p = L.SumPool2d(2) if pool == "sum" else L.AvgPool2d(2)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), snnkit.LIF(), p, L.Flatten(),
                        nn.Linear(36, 3)).eval().double()
    with torch.no_grad():
        net[0].module.weight.mul_(4.0)
    g = export_nir(net, (2, 6, 6))
    node = g.nodes["2"]
    assert isinstance(node, nir.SumPool2d if pool == "sum" else nir.AvgPool2d)
    assert list(node.output_type["output"]) == [4, 3, 3]
    x = (torch.rand(6, 2, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    ref = net(x)
    assert net[1](net[0](x)).sum() > 20
    np.testing.assert_allclose(import_nir(g, dtype=torch.float64)(x).detach().numpy(), ref.detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_export_path_is_written_atomically(tmp_path, monkeypatch) -> None:
    """A write that fails half-way leaves the old file as it was and no temporary file behind."""
    net = nn.Sequential(nn.Linear(3, 3), snnkit.CubaLIF(du=0.5, dv=0.5))
    target = tmp_path / "net.nir"
    target.write_bytes(b"old")

    def broken_write(filename, graph):
        with open(filename, "wb") as f:
            f.write(b"\x89HDF half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        export_nir(net, path=target)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["net.nir"]
    monkeypatch.undo()
    export_nir(net, path=target)
    assert isinstance(import_nir(target), nn.Sequential)


def test_grouped_and_non_square_convolutions_round_trip(tmp_path) -> None:
    """nir 1.0 infers a Conv2d's types from weight.shape[1] and kH only; export and file import must still work."""
    torch.manual_seed(0)
    net = nn.Sequential(
        L.TimeDistributed(nn.Conv2d(4, 6, 3, stride=(2, 1), padding=(2, 1), dilation=(2, 1), groups=2)),
        snnkit.LIF(),
        L.TimeDistributed(nn.Conv2d(6, 6, (3, 1), groups=6, bias=False)),
        snnkit.IF(v_threshold=0.5),
    ).eval().double()
    with torch.no_grad():
        net[0].module.weight.mul_(4.0)
        net[2].module.weight.mul_(4.0)
    path = tmp_path / "conv.nir"
    g = export_nir(net, (4, 9, 8), path=path)
    assert list(g.nodes["0_module"].input_type["input"]) == [4, 9, 8]
    assert list(g.nodes["2_module"].output_type["output"]) == [6, 3, 8]
    x = (torch.rand(8, 2, 4, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    ref = net(x)
    assert ref.sum() > 20
    np.testing.assert_array_equal(import_nir(path, dtype=torch.float64)(x).detach().numpy(), ref.detach().numpy())


def _nir_spec_run(g, x: np.ndarray, dt: float = 1e-4) -> np.ndarray:
    """A slow float32 interpreter of a NIR chain written from the NIR 1.0 spec (forward Euler of ``dt``,
    spike on ``v > v_threshold``, reset to ``v_reset``; IF's ``r`` per step, as snnTorch/Sinabs write it)."""
    f = np.float32
    order, cur = [], "input"
    succ = dict(g.edges)
    while cur in succ:
        cur = succ[cur]
        order.append(g.nodes[cur])
    state: dict = {}
    out = []
    for t in range(x.shape[0]):
        h = x[t].astype(f)
        for i, node in enumerate(order):
            if isinstance(node, (nir.Affine, nir.Linear)):
                h = h @ node.weight.astype(f).T + (node.bias.astype(f) if isinstance(node, nir.Affine) else f(0))
            elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
                v = state.get(i, np.zeros_like(h))
                if isinstance(node, nir.IF):
                    v = v + node.r.astype(f) * h
                elif isinstance(node, nir.LIF):
                    v = v + f(dt) / node.tau.astype(f) * (node.v_leak.astype(f) - v + node.r.astype(f) * h)
                else:
                    cur_i = state.get((i, "I"), np.zeros_like(h))
                    cur_i = cur_i + f(dt) / node.tau_syn.astype(f) * (node.w_in.astype(f) * h - cur_i)
                    state[(i, "I")] = cur_i
                    v = v + f(dt) / node.tau_mem.astype(f) * (node.v_leak.astype(f) - v + node.r.astype(f) * cur_i)
                z = v > node.v_threshold.astype(f)
                state[i] = np.where(z, node.v_reset.astype(f), v).astype(f)
                h = z.astype(f)
        out.append(h)
    return np.stack(out)


def test_thresholds_follow_nir_strict_rule_at_ties(capsys) -> None:
    """NIR fires on ``v > v_threshold``, snnkit's IF/LIF on ``v >= v_threshold``: with half-integer weights and
    binary inputs the potential often lands exactly on the threshold. A spec interpreter, snnTorch and the round
    trip must all spike as snnkit does (before the fix: 54 of 393 LIF spikes were missing in snnTorch)."""
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(8, 6, bias=False), nn.Linear(6, 5, bias=False)
    with torch.no_grad():
        lin1.weight.copy_(torch.randint(-1, 3, (6, 8)).float() * 0.5)
        lin2.weight.copy_(torch.randint(-1, 3, (5, 6)).float() * 0.5)
    x = (torch.rand(30, 4, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    for net in (nn.Sequential(lin1, snnkit.LIF(tau=2.0, decay_input=False), lin2, snnkit.IF()),
                nn.Sequential(lin1, snnkit.LIF(tau=2.0, v_threshold=0.5), lin2,
                              snnkit.CubaLIF(du=0.5, dv=0.25, v_threshold=0.25))):
        net.eval()
        ref = net(x).detach().numpy()
        g = export_nir(net)
        np.testing.assert_array_equal(_nir_spec_run(g, x.numpy()), ref)
        for dtype in (torch.float32, torch.float64):
            back = import_nir(g, dtype=dtype)
            np.testing.assert_array_equal(back(x.to(dtype)).detach().numpy(), ref)
            assert back[1].v_threshold == net[1].v_threshold  # float32 thresholds survive the round trip exactly
        assert ref.sum() > 20
    # snnTorch (float32, fires on mem > threshold) on the LIF layer: exactly snnkit's spikes, ties included
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    net = nn.Sequential(lin1, snnkit.LIF(tau=2.0, decay_input=False)).eval()
    ref = net(x).detach().numpy()
    h = net[0](x).detach()
    v, ties = torch.zeros(4, 6), 0
    for t in range(30):  # count the potentials that land exactly on the threshold
        v = v * 0.5 + h[t]
        ties += int((v == 1.0).sum())
        v = torch.where(v >= 1.0, torch.zeros_like(v), v)
    assert ties > 20
    sn = import_from_nir(export_nir(net))
    for m in sn.modules():
        if hasattr(m, "reset_hidden"):
            m.reset_hidden()
    with torch.no_grad():
        out = [sn(x[t]) for t in range(30)]
    out = torch.stack([o[0] if isinstance(o, tuple) else o for o in out]).numpy()
    np.testing.assert_array_equal(out, ref)
    capsys.readouterr()


def test_import_reads_nir_thresholds_as_strict() -> None:
    """A foreign NIR LIF/IF with ``v_threshold = 1`` does not fire at ``v == 1`` (NIR: ``v > v_threshold``)."""
    one = np.ones(1)
    for neuron in (nir.IF(r=one, v_threshold=one, v_reset=0 * one),
                   nir.LIF(tau=2e-4 * one, r=2 * one, v_leak=0 * one, v_threshold=one, v_reset=0 * one)):
        g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1])}),
                                "w": nir.Linear(weight=np.ones((1, 1))), "n": neuron,
                                "output": nir.Output(output_type={"output": np.array([1])})},
                         edges=[("input", "w"), ("w", "n"), ("n", "output")])
        x = torch.tensor([[[1.0]], [[0.0]], [[0.0]]])  # v: 1 (IF: 1 1 1; LIF: 1, 0.5, 0.25)
        want = np.zeros((3, 1, 1), dtype=np.float32)
        np.testing.assert_array_equal(_nir_spec_run(g, x.numpy()), want)
        np.testing.assert_array_equal(import_nir(g)(x).detach().numpy(), want)
        np.testing.assert_array_equal(import_nir(g)(1.5 * x).detach().numpy()[0], [[1.0]])


def test_recurrent_graph_is_refused_as_recurrent() -> None:
    """snnTorch's RLeaky exports a loop lif -> w_rec -> lif; the error must say so (it used to say 'branches at')."""
    n = 3
    lif = nir.LIF(tau=np.full(n, 2e-4), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "0": nir.Affine(weight=np.ones((n, 2)), bias=np.zeros(n)), "1.lif": lif,
                            "1.w_rec": nir.Affine(weight=np.eye(n), bias=np.zeros(n)),
                            "output": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("1.w_rec", "1.lif"), ("input", "0"), ("1.lif", "1.w_rec"), ("0", "1.lif"),
                            ("1.lif", "output")])
    with pytest.raises(ValueError, match=r"recurrent \('1.lif' -> '1.w_rec' -> '1.lif'\)"):
        import_nir(g)
