"""Operation counts of a spiking network: spikes, synaptic operations, neuron updates.

Lava's simulator has no profiler, so counts come from the recorded spikes and the connectivity:

* ``spikes``: spikes a layer emitted (sum over time steps and samples);
* ``synops``: synaptic operations *into* a layer = each presynaptic spike x its fan-out (the
  number of nonzero synapses it drives in this layer's connection). For a real-valued network
  input the first layer instead gets ``macs`` (= ``graded_synops``: nonzero input values x fan-out,
  graded spikes on Loihi 2, multiply-accumulates on a conventional chip);
* ``neuron_updates``: neurons x time steps x samples; ``active_updates``: those where the neuron
  received at least one synaptic event or has a bias (the rest are ``inactive``, cheaper on Loihi);
* ``firing_rate``: spikes / (neurons x T x B).

``count_lava(result)`` counts a :class:`~snnkit.hardware.lava.LavaResult`; ``count_ops(model, inputs)``
counts PyTorch's spikes (``backend="torch"``), a Lava run (``"lava"``) or the numpy simulation of
Lava's arithmetic (``"simulate"``), so the three can be compared. The always-on bias neuron that
to_lava adds for current biases is reported under ``overhead``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tF

__all__ = ["count_ops", "count_lava", "count_spikes", "OpsReport", "LayerOps"]


@dataclass
class LayerOps:
    neurons: int
    synapses: int
    spikes: int
    synops: int
    macs: int
    graded_synops: int
    neuron_updates: int
    active_updates: int
    firing_rate: float

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OpsReport:
    source: str
    mode: str
    T: int
    B: int
    layers: Dict[str, LayerOps]
    overhead: Dict[str, int] = field(default_factory=dict)

    @property
    def totals(self) -> Dict[str, Any]:
        keys = ("neurons", "synapses", "spikes", "synops", "macs", "graded_synops", "neuron_updates", "active_updates")
        t: Dict[str, Any] = {k: int(sum(getattr(L, k) for L in self.layers.values())) for k in keys}
        t["firing_rate"] = t["spikes"] / max(t["neuron_updates"], 1)
        t["synops_per_sample"] = t["synops"] / max(self.B, 1)
        return t

    def to_dict(self) -> Dict[str, Any]:
        return {"source": self.source, "mode": self.mode, "T": self.T, "B": self.B,
                "layers": {k: v.to_dict() for k, v in self.layers.items()}, "totals": self.totals,
                "overhead": dict(self.overhead)}

    def __str__(self) -> str:
        rows = [f"operation counts ({self.source}, {self.mode}), T={self.T}, B={self.B}",
                f"  {'layer':20} {'neurons':>8} {'spikes':>10} {'rate':>7} {'synops':>12} {'macs':>10} {'updates':>10}"]
        for k, L in self.layers.items():
            rows.append(f"  {k[:20]:20} {L.neurons:>8} {L.spikes:>10} {L.firing_rate:>7.4f} {L.synops:>12} "
                        f"{L.macs:>10} {L.neuron_updates:>10}")
        t = self.totals
        rows.append(f"  {'total':20} {t['neurons']:>8} {t['spikes']:>10} {t['firing_rate']:>7.4f} {t['synops']:>12} "
                    f"{t['macs']:>10} {t['neuron_updates']:>10}")
        return "\n".join(rows)


def _mask(w: Any) -> Any:
    if hasattr(w, "toarray"):
        m = w.copy()
        m.data = (m.data != 0).astype(np.float64)
        m.eliminate_zeros()
        return m
    return (np.asarray(w) != 0).astype(np.float64)


def _fanout(sp) -> np.ndarray:
    """Nonzero synapses driven by each presynaptic neuron (torch flat order of ``sp.in_shape``)."""
    n_in = int(np.prod(sp.in_shape))
    if sp.conn == "none":
        return np.ones(n_in)
    m = _mask(sp.weight)
    if sp.conn in ("dense", "sparse"):
        return np.asarray(m.sum(axis=0)).reshape(-1)
    C, H, W = sp.in_shape
    with torch.no_grad():
        ones = torch.ones((1,) + tuple(sp.shape), dtype=torch.float64)
        fo = tF.conv_transpose2d(ones, torch.as_tensor(m), None, sp.stride, sp.padding, 0, sp.groups, sp.dilation)
        fo = fo[..., :H, :W]
        fo = tF.pad(fo, (0, W - fo.shape[-1], 0, H - fo.shape[-2]))
    return fo.reshape(-1).numpy()


def _receives(sp, s: np.ndarray) -> np.ndarray:
    """Whether each neuron gets at least one synaptic event: ``s[N, *in_shape]`` -> ``[N, size]`` bool."""
    N = s.shape[0]
    nz = (s != 0).astype(np.float64)
    if sp.conn == "none":
        return nz.reshape(N, -1) > 0
    m = _mask(sp.weight)
    if sp.conn in ("dense", "sparse"):
        return np.asarray(m @ nz.reshape(N, -1).T).T > 0
    with torch.no_grad():
        r = tF.conv2d(torch.as_tensor(nz), torch.as_tensor(m), None, sp.stride, sp.padding, sp.dilation, sp.groups)
    return r.reshape(N, -1).numpy() > 0


def count_spikes(plan, inputs: np.ndarray, spikes: Dict[str, np.ndarray], *, source: str = "spikes") -> OpsReport:
    """Count operations of ``plan`` given its input ``[T, B, ...]`` and every layer's spikes ``[T, B, ...]``."""
    from .graph import is_binary
    from .lava import _as_input

    x = _as_input(inputs, plan.input_shape, "count_ops")
    T, B = x.shape[:2]
    layers: Dict[str, LayerOps] = {}
    pre = x
    bias_synops = 0
    for sp in plan.stages:
        s = np.asarray(spikes[sp.name])
        if s.shape[:2] != (T, B):
            raise ValueError(f"count_ops: spikes of {sp.name!r} have shape {s.shape}, expected [T={T}, B={B}, ...]")
        flat_pre = pre.reshape(T * B, -1)
        fo = _fanout(sp)
        events = float(((flat_pre != 0) * fo).sum())
        graded = sp.index == 0 and not is_binary(pre)
        synapses = int(fo.sum())
        rec = _receives(sp, pre.reshape((T * B,) + tuple(sp.in_shape)))
        has_bias = (np.asarray(sp.bias_mant if sp.bias_mant is not None else 0) != 0).reshape(-1)
        if sp.ubias is not None:
            ub = np.asarray(sp.ubias).reshape(-1) != 0
            has_bias = has_bias | ub
            bias_synops += int(ub.sum()) * T * B
        active = int((rec | np.broadcast_to(has_bias, rec.shape)).sum())
        n = sp.size
        nsp = int(s.sum())
        layers[sp.name] = LayerOps(
            neurons=n, synapses=synapses, spikes=nsp, synops=0 if graded else int(events),
            macs=int(events) if graded else 0, graded_synops=int(events) if graded else 0,
            neuron_updates=n * T * B, active_updates=active, firing_rate=nsp / max(n * T * B, 1),
        )
        pre = s
    overhead: Dict[str, int] = {}
    if bias_synops:
        overhead = {"bias_neuron_spikes": T * B, "bias_neuron_updates": T * B, "bias_synops": bias_synops}
    return OpsReport(source=source, mode=plan.mode, T=T, B=B, layers=layers, overhead=overhead)


def count_lava(result) -> OpsReport:
    """Counts from a :class:`~snnkit.hardware.lava.LavaResult` (spikes recorded in the Lava run)."""
    if result.plan is None or result.inputs is None:
        raise ValueError("count_lava: the result carries no plan/inputs (use LavaNetwork.run)")
    return count_spikes(result.plan, result.inputs, result.spikes, source="lava")


def count_ops(
    model: nn.Module,
    inputs: Any,
    *,
    backend: str = "torch",
    mode: str = "floating_pt",
    input_shape: Optional[tuple] = None,
    **lava_kwargs: Any,
) -> OpsReport:
    """Count spikes, synaptic ops, MACs and neuron updates of ``model`` on ``inputs[T, B, ...]``.

    ``backend``: ``"torch"`` (PyTorch's spikes, float64 copy of the model), ``"lava"`` (a Lava
    run in ``mode``) or ``"simulate"`` (numpy re-implementation of Lava's arithmetic).
    """
    from snnkit.base import set_step_mode

    from .compare import model_copy, torch_spikes
    from .graph import trace
    from .lava import _as_input, plan_network, to_lava

    if backend not in ("torch", "lava", "simulate"):
        raise ValueError(f"count_ops: backend must be 'torch', 'lava' or 'simulate', got {backend!r}")
    x_t = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if input_shape is None:
        if x_t.ndim < 3:
            raise ValueError(f"count_ops: inputs must be time-major [T, B, ...], got shape {tuple(x_t.shape)}")
        input_shape = tuple(x_t.shape[2:])
    x = _as_input(x_t, tuple(input_shape), "count_ops")
    graph = trace(model, input_shape)
    if backend == "torch":
        names = [n.name for n in graph.neurons()]
        ref = model_copy(model, torch.float64)
        set_step_mode(ref, "m")
        sp = torch_spikes(ref, torch.as_tensor(x), names)["spikes"]
        return count_spikes(plan_network(graph), x, sp, source="torch")
    if mode == "fixed_pt" and "calibration" not in lava_kwargs:
        lava_kwargs["calibration"] = x
    net = to_lava(graph, mode=mode, **lava_kwargs)
    if backend == "lava":
        return count_lava(net.run(x))
    return count_spikes(net.plan, x, net.simulate(x), source="simulate")
