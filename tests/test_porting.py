"""Porting peer networks to snnkit: the networks of docs/neurons-and-kernels.md "Porting from snnTorch /
SpikingJelly" against snnTorch 1.0 and SpikingJelly 2.0 themselves.

The page's python blocks run as written (they print ``True``). Then the networks they build get
larger weights (so that every spiking layer fires: with PyTorch's default initialisation the deeper
layers of the page's networks are silent and equal spikes would prove little), are copied into the
ports with the page's ``copy_weights``, and each spiking layer's spikes must be identical
(``torch.equal``) and every weight's gradient close, over two batches with the peers' and snnkit's
resets in between. Rows of the mapping table not exercised here are checked neuron by neuron in
tests/test_peers.py (other resets, ``IF``, snnTorch's default subtract reset) and
tests/test_surrogate.py (surrogate parameters).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import torch
import torch.nn as nn

import snnkit
import snnkit.kernels.cpu as cpu_kernels

snntorch = pytest.importorskip("snntorch")
pytest.importorskip("snntorch.utils")  # _compare_nets resets snnTorch nets with snntorch.utils.reset
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")

PAGE = Path(__file__).resolve().parents[1] / "docs" / "neurons-and-kernels.md"
SECTION = "## Porting from snnTorch / SpikingJelly"
Tensor = torch.Tensor


def _section_blocks() -> List[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    nxt = section.find("\n## ", len(SECTION))
    section = section if nxt < 0 else section[:nxt]
    return re.findall(r"^```python\n(.*?)^```", section, re.M | re.S)


@pytest.fixture(scope="module")
def page() -> Dict[str, Any]:
    """The section's blocks run in order in one namespace; their printed lines are kept under '_printed'."""
    printed: List[str] = []
    ns: Dict[str, Any] = {"print": lambda *a: printed.append(" ".join(map(str, a)))}
    blocks = _section_blocks()
    assert len(blocks) == 3, "the porting section should have the copy_weights, snnTorch and SpikingJelly blocks"
    for i, code in enumerate(blocks):
        exec(compile(code, f"{PAGE.name} porting block {i}", "exec"), ns)  # noqa: S102 - our own docs
    ns["_printed"] = printed
    return ns


def test_page_examples_print_true(page: Dict[str, Any]) -> None:
    """What the page promises: rate codes equal and both ports' spikes equal the peers'."""
    assert page["_printed"] == ["True True", "True"]
    assert page["sk_spk"].shape == (25, 8, 10)


def _spiking(net: nn.Module) -> List[nn.Module]:
    names = {"Leaky", "LIFNode", "ParametricLIFNode", "LIF", "PLIF"}
    return [m for m in net.modules() if type(m).__name__ in names]


def _record(net: nn.Module) -> Tuple[List[List[Tensor]], list]:
    """Forward hooks that keep each spiking layer's output spikes (snnTorch's (spk, mem) -> spk)."""
    rec: List[List[Tensor]] = [[] for _ in _spiking(net)]
    hooks = []
    for i, m in enumerate(_spiking(net)):
        def hook(_m: nn.Module, _inp: Any, out: Any, i: int = i) -> None:
            rec[i].append(out[0] if isinstance(out, tuple) else out)
        hooks.append(m.register_forward_hook(hook))
    return rec, hooks


def _scale(net: nn.Module, gains: Sequence[float]) -> None:
    """Multiply the weights of the Conv2d/Linear layers, in order, by ``gains``."""
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == len(gains)
    with torch.no_grad():
        for m, g in zip(layers, gains):
            m.weight.mul_(g)


def _compare_nets(peer: nn.Module, port: nn.Module, run_peer: Any, run_port: Any, inputs: Sequence[Tensor],
                  what: str) -> None:
    """Per-layer spikes identical and all weight gradients close, for each input after a reset."""
    for k, x in enumerate(inputs):
        sj_functional.reset_net(peer) if what.startswith("SpikingJelly") else snntorch.utils.reset(peer)
        snnkit.reset(port)
        results = []
        for net, run in ((peer, run_peer), (port, run_port)):
            net.zero_grad()
            rec, hooks = _record(net)
            out = run(x)
            for h in hooks:
                h.remove()
            g = torch.Generator().manual_seed(100 + k)
            (out * torch.randn(out.shape, generator=g)).sum().backward()
            spikes = [r[0] if len(r) == 1 else torch.stack(r) for r in rec]  # one multi-step call, or T steps
            grads = [(n, p.grad.clone()) for n, p in net.named_parameters()]
            results.append((spikes, grads))
        (s_peer, g_peer), (s_port, g_port) = results
        for i, (a, b) in enumerate(zip(s_peer, s_port)):
            assert a.shape == b.shape, f"{what} input {k}: spiking layer {i} shape {tuple(a.shape)} vs {tuple(b.shape)}"
            assert torch.equal(a, b), f"{what} input {k}: spiking layer {i}: {int((a != b).sum())} spikes differ"
            assert 0.02 < b.mean().item() < 0.8, f"{what} input {k}: layer {i} fires at {b.mean().item():.3f}"
        assert len(g_peer) == len(g_port)
        for (n_a, a), (n_b, b) in zip(g_peer, g_port):
            assert b.abs().sum() > 0, f"{what}: zero gradient for {n_b}"
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=lambda m: f"{what}: grad of {n_b} ({n_a}): {m}")


def test_snntorch_csnn_port_spikes_and_gradients(page: Dict[str, Any]) -> None:
    """The page's snnTorch tutorial-6 network (Leaky zero reset, fast_sigmoid(slope=25)) and its port."""
    st_net, sk_net = page["st_net"], page["sk_net"]
    _scale(st_net, [4.0, 3.0, 6.0])
    page["copy_weights"](st_net, sk_net)
    T = 12

    def run_peer(x: Tensor) -> Tensor:
        return torch.stack([st_net(x[t])[0] for t in range(T)])

    g = torch.Generator().manual_seed(0)
    inputs = [snnkit.encoding.rate(torch.rand(4, 1, 28, 28, generator=g), T, generator=g) for _ in range(2)]
    _compare_nets(st_net, sk_net, run_peer, sk_net, inputs, "snnTorch CSNN")


def test_spikingjelly_port_spikes_gradients_and_bn_stats(page: Dict[str, Any]) -> None:
    """The page's SpikingJelly network (SeqToANNContainer, step-mode layers, PLIF) and its port."""
    sj_net, sk_net = page["sj_net"], page["sk_net2"]
    _scale(sj_net, [1.0, 1.0, 8.0])
    page["copy_weights"](sj_net, sk_net)
    g = torch.Generator().manual_seed(1)
    inputs = [torch.rand(5, 3, 1, 28, 28, generator=g) for _ in range(2)]
    _compare_nets(sj_net, sk_net, sj_net, sk_net, inputs, "SpikingJelly net")
    bns = [[m for m in net.modules() if isinstance(m, nn.BatchNorm2d)] for net in (sj_net, sk_net)]
    for a, b in zip(*bns):  # the running statistics saw the same batches
        torch.testing.assert_close(b.running_mean, a.running_mean)
        torch.testing.assert_close(b.running_var, a.running_var)
    plif_peer = [m for m in sj_net.modules() if isinstance(m, sj_neuron.ParametricLIFNode)][0]
    assert plif_peer.w.grad is not None and plif_peer.w.grad.abs() > 0


def test_copy_weights_refuses_mismatched_networks(page: Dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="the layers differ"):
        page["copy_weights"](page["st_net"], page["sk_net2"])


def _fc_pair(beta: float, reset_delay: bool, step_mode: str) -> Tuple[nn.Module, nn.Module]:
    """snnTorch tutorial 5's fully connected net (explicit state) and its snnkit port."""
    torch.manual_seed(3)
    fc1, fc2 = nn.Linear(40, 30).double(), nn.Linear(30, 10).double()
    with torch.no_grad():
        fc1.weight.mul_(3.0), fc2.weight.mul_(4.0)
    st = nn.ModuleList([fc1, snntorch.Leaky(beta=beta, reset_mechanism="zero", reset_delay=reset_delay),
                        fc2, snntorch.Leaky(beta=beta, reset_mechanism="zero", reset_delay=reset_delay)]).double()
    beta = st[1].beta.item()  # snnTorch keeps beta as a float32 tensor: 0.95 is 0.949999988... in float64
    lif = lambda: snnkit.LIF(tau=1 / (1 - beta), decay_input=False, v_reset=0.0, detach_reset=reset_delay,  # noqa: E731
                             step_mode=step_mode)
    sk = nn.ModuleList([nn.Linear(40, 30).double(), lif(), nn.Linear(30, 10).double(), lif()])
    sk.load_state_dict({k: v for k, v in st.state_dict().items() if k.split(".")[0] in ("0", "2")})
    return st, sk


@pytest.mark.parametrize("reset_delay", [False, True], ids=["reset_delay_false", "reset_delay_true"])
def test_snntorch_tutorial5_membrane_loss_port(reset_delay: bool) -> None:
    """Tutorial 5 (beta=0.95, loss on the output membrane over time) ported to a single-step loop reading ``.v``.

    beta=0.95 is not of the form 1 - 2**-k, so the charges may differ in the last bit (float64 here, so
    a flipped spike would need a charge within ~1e-16 of the threshold). With ``reset_delay=False``
    snnTorch's ``mem`` is snnkit's ``.v``; with the default ``reset_delay=True`` (ported with
    ``detach_reset=True``) the spikes agree but ``mem`` is the charge before the reset, ``v / (1 - s)``.
    """
    st, sk = _fc_pair(0.95, reset_delay, "s")
    g = torch.Generator().manual_seed(4)
    x = torch.rand(20, 6, 40, generator=g, dtype=torch.float64)
    target = torch.randint(0, 10, (6,), generator=g)
    loss_fn = nn.CrossEntropyLoss()

    mem1, mem2 = st[1].init_leaky(), st[3].init_leaky()
    st_spk, st_mem = [], []
    for t in range(x.shape[0]):
        spk1, mem1 = st[1](st[0](x[t]), mem1)
        spk2, mem2 = st[3](st[2](spk1.double()), mem2)  # snnTorch's surrogates return float32 spikes
        st_spk.append(spk2.double()), st_mem.append(mem2)
    sk_spk, sk_mem = [], []
    for t in range(x.shape[0]):
        spk2 = sk[3](sk[2](sk[1](sk[0](x[t]))))
        sk_spk.append(spk2), sk_mem.append(sk[3].v)
    st_spk, st_mem, sk_spk, sk_mem = map(torch.stack, (st_spk, st_mem, sk_spk, sk_mem))
    assert torch.equal(sk_spk, st_spk)
    assert 0.05 < sk_spk.mean().item() < 0.8, sk_spk.mean().item()
    if reset_delay:
        torch.testing.assert_close(sk_mem, st_mem * (1 - sk_spk), rtol=1e-12, atol=1e-12)
        loss_st, loss_sk = (sum(loss_fn(m, target) for m in mem) for mem in (st_mem * (1 - st_spk.detach()), sk_mem))
    else:
        torch.testing.assert_close(sk_mem, st_mem, rtol=1e-12, atol=1e-12)
        loss_st, loss_sk = (sum(loss_fn(m, target) for m in mem) for mem in (st_mem, sk_mem))
    loss_st.backward(), loss_sk.backward()
    for i in (0, 2):  # float32 tolerance: snnTorch's float32 spikes carry float32 gradients back
        for name in ("weight", "bias"):
            torch.testing.assert_close(getattr(sk[i], name).grad, getattr(st[i], name).grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("step_mode", ["m", "s"])
@pytest.mark.parametrize("backend", ["reference"] + (["cpu"] if cpu_kernels.available() else []))
def test_snntorch_default_subtract_reset_net_port(backend: str, step_mode: str) -> None:
    """A Linear-Leaky-Linear-Leaky net with snnTorch's default Leaky (subtract, reset_delay=True, beta=0.9)
    ported with ``LIF(tau=1/(1-beta), decay_input=False, v_reset=None, detach_reset=True, reset_delay=True)``:
    every layer's spikes identical over 60 steps (float64) and every weight's gradient equal."""
    torch.manual_seed(6)
    st = nn.Sequential(nn.Linear(40, 30), snntorch.Leaky(beta=0.9, init_hidden=True),
                       nn.Linear(30, 10), snntorch.Leaky(beta=0.9, init_hidden=True)).double()
    with torch.no_grad():
        st[0].weight.mul_(2.0), st[2].weight.mul_(5.0)
    beta, thr = st[1].beta.item(), st[1].threshold.item()  # float32 tensors in snnTorch
    lif = lambda: snnkit.LIF(tau=1 / (1 - beta), decay_input=False, v_threshold=thr, v_reset=None,  # noqa: E731
                             detach_reset=True, reset_delay=True, step_mode=step_mode, backend=backend)
    sk = nn.Sequential(nn.Linear(40, 30), lif(), nn.Linear(30, 10), lif()).double()
    sk.load_state_dict({k: v for k, v in st.state_dict().items() if k.split(".")[0] in ("0", "2")})

    def run_peer(x: Tensor) -> Tensor:  # init_hidden: each Leaky returns spikes only, as float32
        return torch.stack([st[3](st[2](st[1](st[0](xt)).double())) for xt in x]).double()

    def run_port(x: Tensor) -> Tensor:
        return sk(x) if step_mode == "m" else torch.stack([sk(xt) for xt in x])

    g = torch.Generator().manual_seed(7)
    inputs = [torch.rand(60, 5, 40, generator=g, dtype=torch.float64) for _ in range(2)]
    _compare_nets(st, sk, run_peer, run_port, inputs, "snnTorch default-reset net")


@pytest.mark.parametrize("backend", ["reference"] + (["cpu"] if cpu_kernels.available() else []))
def test_default_surrogates_differ_and_map(backend: str) -> None:
    """The default-surrogate row: SpikingJelly's LIFNode() is LIF(surrogate=Sigmoid(alpha=4.0)), not snnkit's
    default ATan(alpha=2.0); snnTorch's Leaky default spike_grad is ATan(alpha=2.0)."""
    g = torch.Generator().manual_seed(5)
    x = (0.8 + 0.6 * torch.randn(6, 3, 20, generator=g)).requires_grad_()
    gout = torch.randn(6, 3, 20, generator=g)

    def grad(net: nn.Module, multi: bool) -> Tensor:
        xs = x.detach().clone().requires_grad_()
        out = net(xs) if multi else torch.stack([net(xt)[0] for xt in xs])
        (out * gout).sum().backward()
        return xs.grad

    sj = grad(sj_neuron.LIFNode(step_mode="m"), True)
    torch.testing.assert_close(grad(snnkit.LIF(surrogate=snnkit.surrogate.Sigmoid(alpha=4.0), backend=backend), True),
                               sj, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(grad(snnkit.LIF(backend=backend), True), sj, rtol=1e-3)
    st = grad(snntorch.Leaky(beta=0.5, reset_mechanism="zero", reset_delay=False), False)
    ours = grad(snnkit.LIF(tau=2.0, decay_input=False, backend=backend), True)
    torch.testing.assert_close(ours, st, rtol=1e-5, atol=1e-7)
