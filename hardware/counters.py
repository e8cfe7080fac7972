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
to_lava adds for current biases is reported under ``overhead``. These three backends work on the
Loihi-mappable networks that :func:`~snnkit.hardware.graph.trace` accepts and report one entry per
neuron stage.

``count_ops(model, inputs, backend="hooks")`` counts *any* PyTorch / snnkit model (TCJA, max
pooling, ReLU ANNs, ...) with forward hooks only - the model runs unchanged, fused kernels
included - and reports one entry per module, per time step: spikes, synaptic operations
(``synops``: for a binary input, every spike x the number of synapses it actually drives, exact
for Linear / ConvNd with any padding, stride, dilation and groups, and for pooling windows),
``macs`` (dense multiply-accumulates of layers whose input is not binary, the FLOPs convention),
``graded_synops`` (nonzero real-valued inputs x fan-out: the event-driven view of those MACs),
``acs`` (other additions), ``activations`` (non-linear activation evaluations), neuron updates,
and memory traffic (weights and neuron state read / written). Modules it cannot count are listed
in ``OpsReport.unknown``, never counted as zero silently. ``docs/energy.md`` defines every count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tF
from snnkit.functional.validation import is_int

__all__ = ["count_ops", "count_module_ops", "count_lava", "count_spikes", "OpsReport", "LayerOps", "STEP_KEYS",
           "COUNT_KEYS", "BACKENDS", "EVENT_INPUTS"]

BACKENDS = ("torch", "lava", "simulate", "hooks")

#: counts kept per time step (``LayerOps.per_step[key]`` is a list of T integers)
STEP_KEYS = ("spikes", "nonzero", "synops", "macs", "graded_synops", "acs", "activations", "neuron_updates",
             "active_updates", "weight_read_bytes", "bias_read_bytes", "state_read_bytes", "state_write_bytes")
#: integer counts summed into ``OpsReport.totals``
COUNT_KEYS = ("neurons", "synapses", "params") + STEP_KEYS


@dataclass
class LayerOps:
    """Counts of one layer over all time steps and samples (see ``docs/energy.md`` for each definition)."""

    neurons: int
    synapses: int
    spikes: int
    synops: int
    macs: int
    graded_synops: int
    neuron_updates: int
    active_updates: int
    firing_rate: float
    kind: str = "stage"  # stage (trace backends) | linear | conv | pool | norm | neuron | activation | attention | unknown
    module: str = ""  # the module's class name
    acs: int = 0  # additions that are not synaptic operations (pooling / reductions on real values)
    activations: int = 0  # non-linear activation evaluations (ReLU, sigmoid, ...)
    nonzero: int = 0  # nonzero outputs (= spikes for spiking layers)
    params: int = 0
    weight_read_bytes: int = 0
    bias_read_bytes: int = 0
    state_read_bytes: int = 0
    state_write_bytes: int = 0
    input: str = ""  # "binary", "real" or "mixed" (over the calls counted)
    calls: int = 0
    per_step: Dict[str, List[int]] = field(default_factory=dict)
    detail: Dict[str, int] = field(default_factory=dict)  # a breakdown (TCJA: squeeze, conv_t, conv_c, ...)
    note: str = ""
    # a sum/average pool the Lava export folds into this layer's weights: event-driven models price its
    # inputs as events of that composed connection, not the pool's own operations (docs/energy.md)
    folded_into: str = ""

    def to_dict(self) -> Dict[str, Any]:
        d = dict(self.__dict__)
        d["per_step"] = {k: list(v) for k, v in self.per_step.items()}
        d["detail"] = dict(self.detail)
        return d


@dataclass
class OpsReport:
    """Operation counts of one model on one set of inputs; ``to_dict()`` is plain JSON-able data."""

    source: str
    mode: str
    T: int
    B: int
    layers: Dict[str, LayerOps]
    overhead: Dict[str, int] = field(default_factory=dict)
    unknown: List[Dict[str, str]] = field(default_factory=list)  # modules that could not be counted
    notes: List[str] = field(default_factory=list)
    model: str = ""
    output: Any = field(default=None, repr=False, compare=False)  # the model's output (hooks backend)

    @property
    def totals(self) -> Dict[str, Any]:
        t: Dict[str, Any] = {k: int(sum(getattr(L, k) for L in self.layers.values())) for k in COUNT_KEYS}
        t["firing_rate"] = t["spikes"] / max(t["neuron_updates"], 1)
        t["synops_per_sample"] = t["synops"] / max(self.B, 1)
        t["macs_per_sample"] = t["macs"] / max(self.B, 1)
        t["ops"] = t["synops"] + t["macs"] + t["acs"]
        t["ops_per_sample"] = t["ops"] / max(self.B, 1)
        t["unknown_layers"] = len(self.unknown)
        return t

    @property
    def per_step(self) -> Dict[str, List[int]]:
        """Each per-step count summed over layers (lists of length T)."""
        out: Dict[str, List[int]] = {}
        for key in STEP_KEYS:
            acc = [0] * self.T
            for L in self.layers.values():
                for t, v in enumerate(L.per_step.get(key, ())[: self.T]):
                    acc[t] += int(v)
            out[key] = acc
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"source": self.source, "mode": self.mode, "T": self.T, "B": self.B, "model": self.model,
                "layers": {k: v.to_dict() for k, v in self.layers.items()}, "totals": self.totals,
                "per_step": self.per_step, "overhead": dict(self.overhead),
                "unknown": [dict(u) for u in self.unknown], "notes": list(self.notes)}

    def __str__(self) -> str:
        rows = [f"operation counts ({self.source}, {self.mode}), T={self.T}, B={self.B}",
                f"  {'layer':20} {'neurons':>8} {'spikes':>10} {'rate':>7} {'synops':>12} {'macs':>10} {'updates':>10}"]
        for k, L in self.layers.items():
            rows.append(f"  {k[:20]:20} {L.neurons:>8} {L.spikes:>10} {L.firing_rate:>7.4f} {L.synops:>12} "
                        f"{L.macs:>10} {L.neuron_updates:>10}")
        t = self.totals
        rows.append(f"  {'total':20} {t['neurons']:>8} {t['spikes']:>10} {t['firing_rate']:>7.4f} {t['synops']:>12} "
                    f"{t['macs']:>10} {t['neuron_updates']:>10}")
        for u in self.unknown:
            rows.append(f"  NOT COUNTED: {u['name']} ({u['module']}): {u['reason']}")
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
    # J^T 1 of the conv with its weight mask: the (output position, channel) pairs each input reaches. (A transposed
    # conv of ones without output_padding would drop the last row/column that the last window reaches when
    # H + 2p - d(k-1) - 1 is not a multiple of the stride.)
    with torch.enable_grad():
        x = torch.zeros((1,) + tuple(sp.in_shape), dtype=torch.float64, requires_grad=True)
        y = tF.conv2d(x, torch.as_tensor(m), None, sp.stride, sp.padding, sp.dilation, sp.groups)
        (g,) = torch.autograd.grad(y.sum(), x)
    return g.round().reshape(-1).numpy()


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
    """Count operations of ``plan`` given its input ``[T, B, ...]`` and every layer's spikes ``[T, B, ...]``.

    Memory traffic follows the hooks backend's model: one weight read per synaptic event, state
    ``u`` and ``v`` read and written once per neuron update; 4-byte words in ``floating_pt``,
    Loihi's 8-bit weights and 24-bit (3-byte) state in ``fixed_pt``.
    """
    from .graph import is_binary
    from .lava import _as_input

    x = _as_input(inputs, plan.input_shape, "count_ops")
    T, B = x.shape[:2]
    fixed = getattr(plan, "mode", "") == "fixed_pt"
    w_bytes, s_bytes = (1, 3) if fixed else (4, 4)
    layers: Dict[str, LayerOps] = {}
    notes: List[str] = []
    pre = x
    bias_synops = 0
    for sp in plan.stages:
        s = np.asarray(spikes[sp.name])
        if s.shape[:2] != (T, B):
            raise ValueError(f"count_ops: spikes of {sp.name!r} have shape {s.shape}, expected [T={T}, B={B}, ...]")
        fo = _fanout(sp)
        ev_t = ((pre.reshape(T, B, -1) != 0) * fo).sum(axis=(1, 2))  # events per time step
        events = float(ev_t.sum())
        host = getattr(sp, "pre", None)  # a non-native host op (TCJA) feeding graded values to this stage
        graded = (sp.index == 0 and not is_binary(pre)) or host is not None
        if host is not None:
            notes.append(f"{host.name} ({host.kind}) runs on the host in front of stage {sp.name}: its own operations "
                         "are not in these counts (count_ops(..., backend='hooks') counts them); the stage's input "
                         "is graded")
        synapses = int(fo.sum())
        rec = _receives(sp, pre.reshape((T * B,) + tuple(sp.in_shape)))
        has_bias = (np.asarray(sp.bias_mant if sp.bias_mant is not None else 0) != 0).reshape(-1)
        if sp.ubias is not None:
            ub = np.asarray(sp.ubias).reshape(-1) != 0
            has_bias = has_bias | ub
            bias_synops += int(ub.sum()) * T * B
        act = (rec | np.broadcast_to(has_bias, rec.shape)).reshape(T, -1).sum(axis=1)
        active = int(act.sum())
        n = sp.size
        sp_t = (s.reshape(T, -1) != 0).sum(axis=1)
        nsp = int(s.sum())
        ev_i = [int(round(float(v))) for v in ev_t]
        zero = [0] * T
        per_step = {
            "spikes": [int(v) for v in s.reshape(T, -1).sum(axis=1)], "nonzero": [int(v) for v in sp_t],
            "synops": zero if graded else ev_i, "macs": ev_i if graded else zero,
            "graded_synops": ev_i if graded else zero, "acs": zero, "activations": zero,
            "neuron_updates": [n * B] * T, "active_updates": [int(v) for v in act],
            "weight_read_bytes": [v * w_bytes for v in ev_i], "bias_read_bytes": zero,
            "state_read_bytes": [2 * n * B * s_bytes] * T, "state_write_bytes": [2 * n * B * s_bytes] * T,
        }
        layers[sp.name] = LayerOps(
            neurons=n, synapses=synapses, spikes=nsp, synops=0 if graded else int(events),
            macs=int(events) if graded else 0, graded_synops=int(events) if graded else 0,
            neuron_updates=n * T * B, active_updates=active, firing_rate=nsp / max(n * T * B, 1),
            kind="stage", module=getattr(sp, "source", "") or "LIF", nonzero=int(sp_t.sum()), params=synapses,
            weight_read_bytes=int(events) * w_bytes, state_read_bytes=2 * n * T * B * s_bytes,
            state_write_bytes=2 * n * T * B * s_bytes, input="real" if graded else "binary", calls=1,
            per_step=per_step,
        )
        pre = s
    overhead: Dict[str, int] = {}
    if bias_synops:
        overhead = {"bias_neuron_spikes": T * B, "bias_neuron_updates": T * B, "bias_synops": bias_synops}
    return OpsReport(source=source, mode=plan.mode, T=T, B=B, layers=layers, overhead=overhead, notes=notes)


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
    **kwargs: Any,
) -> OpsReport:
    """Count spikes, synaptic ops, MACs and neuron updates of ``model`` on ``inputs[T, B, ...]``.

    ``backend``: ``"torch"`` (PyTorch's spikes, float64 copy of the model), ``"lava"`` (a Lava
    run in ``mode``) or ``"simulate"`` (numpy re-implementation of Lava's arithmetic) count the
    Loihi mapping of a traceable network, one entry per neuron stage; ``"hooks"`` counts any
    model as it runs in PyTorch, one entry per module and time step (``inputs`` may then also be
    an iterable of batches; keyword options ``weight_bytes``, ``state_bytes``, ``max_samples``,
    see :func:`count_module_ops`). Other keyword arguments go to :func:`~snnkit.hardware.to_lava`.
    """
    from snnkit.base import set_step_mode

    from .compare import model_copy, torch_spikes
    from .graph import trace
    from .lava import _as_input, plan_network, to_lava

    if backend not in BACKENDS:
        raise ValueError(f"count_ops: backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {backend!r}")
    if backend == "hooks":
        if input_shape is not None:
            raise ValueError("count_ops: input_shape is not used by backend='hooks' (inputs are time-major tensors)")
        return count_module_ops(model, inputs, **kwargs)
    lava_kwargs = kwargs
    x_t = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if input_shape is None:
        if x_t.ndim < 3:
            raise ValueError(f"count_ops: inputs must be time-major [T, B, ...], got shape {tuple(x_t.shape)}")
        input_shape = tuple(x_t.shape[2:])
    x = _as_input(x_t, tuple(input_shape), "count_ops")
    try:
        graph = trace(model, input_shape)
    except ValueError as err:
        raise ValueError(f"{err} (count_ops backend={backend!r} counts the Loihi mapping; "
                         "backend='hooks' counts any model as it runs in PyTorch)") from err
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


# --------------------------------------------------------------------------- hook-based counting (any model)

_NO_OP_TYPES: Tuple[type, ...] = (nn.Flatten, nn.Unflatten, nn.Identity, nn.modules.dropout._DropoutNd)
_ACTIVATION_TYPES: Tuple[type, ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
                                       nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid,
                                       nn.Hardswish, nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold)
_CONTAINER_TYPES: Tuple[type, ...] = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# third-party modules whose forward only calls their children (matched by class name)
_CONTAINER_NAMES = {"SeqToANNContainer", "MultiStepContainer", "StepModeContainer", "TLastMultiStepContainer",
                    "ElementWiseRecurrentContainer"}


def _snnkit_classes() -> Dict[str, Any]:
    """snnkit classes with known counting rules (imported lazily)."""
    from snnkit import layers as L
    from snnkit import neurons as N
    from snnkit.attention.tcja import TCJA

    out: Dict[str, Any] = {"neuron": (N._Neuron,), "tcja": (TCJA,), "sumpool": (L.SumPool2d,),
                           "voting": (L.VotingLayer,), "noop": (L.TemporalDropout,),
                           "container": (L.TimeDistributed, L._SpikingBlock)}
    try:
        from snnkit.models.tcja_snn import TCJASNN

        out["container"] = out["container"] + (TCJASNN,)
    except ImportError:  # pragma: no cover - models are part of the package
        pass
    return out


def _nonzero_per_step(x: torch.Tensor, T: int) -> np.ndarray:
    """Nonzero elements of each of the T leading slices (row-wise reductions are slow in torch: loop)."""
    rows = x.reshape(T, -1)
    return np.array([float(torch.count_nonzero(r)) for r in rows], dtype=np.float64)


def _first_tensor(args: tuple, kwargs: dict) -> Optional[torch.Tensor]:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a
    return None


def _first_out(out: Any) -> Optional[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


_FANOUT_CACHE: Dict[Tuple[Any, ...], torch.Tensor] = {}


def _cached_conv_fanout(mod: nn.Module, in_shape: Tuple[int, ...]) -> torch.Tensor:
    """:func:`_conv_fanout`, cached on the module, its weight's storage and version, and the input shape."""
    w = mod.weight
    key = (id(mod), w.data_ptr(), w._version, tuple(w.shape), tuple(in_shape), type(mod).__name__,
           str(getattr(mod, "padding", "")), str(getattr(mod, "stride", "")), str(getattr(mod, "dilation", "")),
           getattr(mod, "groups", 1), getattr(mod, "padding_mode", ""))
    fo = _FANOUT_CACHE.get(key)
    if fo is None:
        if len(_FANOUT_CACHE) > 256:
            _FANOUT_CACHE.clear()
        fo = _FANOUT_CACHE[key] = _conv_fanout(mod, in_shape)
    return fo


def _conv_fanout(mod: nn.Module, in_shape: Tuple[int, ...]) -> torch.Tensor:
    """Nonzero synapses each input element of one sample drives: ``J^T 1`` of the conv with its weight mask.

    Runs the module's own ``_conv_forward`` (so every padding mode, stride, dilation and group
    setting is honoured) on a zero input with the weights replaced by their nonzero mask; the
    gradient of the output sum is, for every input position, the number of (output position, output
    channel) pairs it reaches through a nonzero weight - padding positions excluded, reflected
    copies counted as often as they are used.
    """
    w = (mod.weight.detach() != 0).to(torch.float64)
    with torch.enable_grad():
        x = torch.zeros((1,) + tuple(in_shape), dtype=torch.float64, device=w.device, requires_grad=True)
        y = mod._conv_forward(x, w, None)
        (g,) = torch.autograd.grad(y.sum(), x)
    return g[0].round().cpu()


def _pool_windows(kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                  ceil_mode: bool, in_shape: Tuple[int, ...]) -> torch.Tensor:
    """Number of pooling windows each input element of one sample ``[C, *spatial]`` lies in (padding excluded)."""
    d = len(kernel)
    C = int(np.prod(in_shape[: len(in_shape) - d])) if len(in_shape) > d else 1
    sp = tuple(in_shape[-d:])
    ones = torch.ones((1, 1) + tuple(int(k) for k in kernel), dtype=torch.float64)
    # output size as torch's pooling_output_shape (ceil_mode: the last window must start inside the input)
    extra = []
    for i in range(d):
        span = sp[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1
        out = (span + (stride[i] - 1 if ceil_mode else 0)) // stride[i] + 1
        if ceil_mode and (out - 1) * stride[i] >= sp[i] + padding[i]:
            out -= 1
        extra.append(max(0, (out - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 - (sp[i] + 2 * padding[i])))
    conv = {1: tF.conv1d, 2: tF.conv2d, 3: tF.conv3d}[d]
    with torch.enable_grad():
        x = torch.zeros((1, 1) + sp, dtype=torch.float64, requires_grad=True)
        pads: List[int] = []
        for i in reversed(range(d)):
            pads += [int(padding[i]), int(padding[i] + extra[i])]
        y = conv(tF.pad(x, pads), ones, None, tuple(stride), 0, tuple(dilation))
        (g,) = torch.autograd.grad(y.sum(), x)
    return g[0, 0].round().expand((C,) + sp).reshape(tuple(in_shape))


def _adaptive_windows(out_size: Sequence[Optional[int]], in_shape: Tuple[int, ...]) -> torch.Tensor:
    d = len(out_size)
    sp = tuple(in_shape[-d:])
    cnt = torch.ones(sp, dtype=torch.float64)
    for i, (n_in, n_out) in enumerate(zip(sp, out_size)):
        n_out = n_in if n_out is None else int(n_out)
        c = torch.zeros(n_in, dtype=torch.float64)
        for o in range(n_out):
            c[(o * n_in) // n_out: -(-((o + 1) * n_in) // n_out)] += 1
        shape = [1] * d
        shape[i] = n_in
        cnt = cnt * c.reshape(shape)
    return cnt.expand(tuple(in_shape))


def _tup(v: Any, d: int) -> Tuple[Any, ...]:
    """A d-tuple of ints from an int or a sequence (None kept: an adaptive pool's 'same as the input' size)."""
    return tuple(None if a is None else int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * d


class _Acc:
    """Per-layer accumulator: totals and per-step arrays."""

    def __init__(self, name: str, mod: nn.Module, kind: str, T: int) -> None:
        self.name, self.kind, self.T = name, kind, T
        self.module = type(mod).__name__
        self.params = int(sum(p.numel() for p in mod.parameters()))
        self.total = {k: 0 for k in STEP_KEYS}
        self.steps = {k: np.zeros(T, dtype=np.int64) for k in STEP_KEYS}
        self.neurons = 0
        self.synapses = 0
        self.inputs: set = set()
        self.calls = 0
        self.split_ok = True
        self.folded_into = ""
        self.detail: Dict[str, int] = {}
        self.notes: List[str] = []

    def layer(self, B: int) -> LayerOps:
        tot = {k: int(v) for k, v in self.total.items()}
        if self.kind == "neuron":
            rate = tot["spikes"] / max(tot["neuron_updates"], 1)
        elif self.kind == "activation":
            rate = tot["nonzero"] / max(tot["activations"], 1)
        else:
            rate = 0.0
        note = "; ".join(self.notes)
        if not self.split_ok:
            note = (note + "; " if note else "") + "some calls could not be split by time step: per_step is partial"
        inp = "mixed" if len(self.inputs) > 1 else (next(iter(self.inputs)) if self.inputs else "")
        return LayerOps(neurons=self.neurons, synapses=self.synapses, spikes=tot["spikes"], synops=tot["synops"],
                        macs=tot["macs"], graded_synops=tot["graded_synops"], neuron_updates=tot["neuron_updates"],
                        active_updates=tot["active_updates"], firing_rate=float(rate), kind=self.kind,
                        module=self.module, acs=tot["acs"], activations=tot["activations"], nonzero=tot["nonzero"],
                        params=self.params, weight_read_bytes=tot["weight_read_bytes"],
                        bias_read_bytes=tot["bias_read_bytes"], state_read_bytes=tot["state_read_bytes"],
                        state_write_bytes=tot["state_write_bytes"], input=inp, calls=self.calls,
                        per_step={k: [int(v) for v in self.steps[k]] for k in STEP_KEYS},
                        detail=dict(self.detail), note=note, folded_into=self.folded_into)


class _HookCounter:
    """Registers forward hooks on every module of a model and counts what each call does."""

    def __init__(self, model: nn.Module, T: int, *, weight_bytes: Optional[int], state_bytes: Optional[int],
                 event_inputs: str = "binary") -> None:
        self.model, self.T = model, T
        self.event_inputs = event_inputs
        self.weight_bytes, self.state_bytes = weight_bytes, state_bytes
        self.t: Optional[int] = None  # time step of single-step calls (None: multi-step, time-major tensors)
        self.B = 0
        self.acc: Dict[str, _Acc] = {}
        self.unknown: Dict[str, Dict[str, str]] = {}
        self.custom: List[str] = []
        self.folded: Dict[str, str] = {}
        # output address of each Linear/Conv (or BatchNorm folded into one) -> (layer name, the output, kept alive
        # so that its address cannot be reused by another tensor during the batch)
        self.weighted_out: Dict[int, Tuple[str, torch.Tensor]] = {}
        # latest output of each foldable pool, with the nonzero inputs in each of its windows and, when its input
        # was events (spikes or counts), the events in each window (what event_inputs="counts" counts downstream)
        self.pooled: Dict[str, Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]] = {}
        self.handles: List[Any] = []
        self._seen = 0  # modules with a rule (or listed as unknown) called so far
        self._calls: List[int] = []  # self._seen when each custom module now running was entered
        self._pool_cache: Dict[Tuple[int, Tuple[int, ...]], Tuple[torch.Tensor, int]] = {}
        self.cls = _snnkit_classes()

    # ---- classification
    def kind_of(self, mod: nn.Module) -> str:
        c = self.cls
        names = {k.__name__ for k in type(mod).__mro__}
        if isinstance(mod, c["tcja"]):
            return "attention"
        if isinstance(mod, c["neuron"]) or "BaseNode" in names:
            return "neuron"
        if isinstance(mod, nn.Linear):
            return "linear"
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return "conv"
        if isinstance(mod, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)) \
                or isinstance(mod, c["sumpool"]) or isinstance(mod, c["voting"]):
            return "pool"
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            return "norm"
        if isinstance(mod, _ACTIVATION_TYPES):
            return "activation"
        if isinstance(mod, _NO_OP_TYPES) or isinstance(mod, c["noop"]):
            return "noop"
        if isinstance(mod, _CONTAINER_TYPES) or isinstance(mod, c["container"]) or names & _CONTAINER_NAMES:
            return "container"
        return "custom" if any(True for _ in mod.children()) else "unknown"

    def attach(self) -> None:
        skip: List[str] = []
        for name, mod in self.model.named_modules():
            if any(name == s or name.startswith(s + ".") for s in skip):
                continue
            kind = self.kind_of(mod)
            if kind in ("attention", "neuron", "linear", "conv", "pool", "norm", "activation"):
                skip.append(name) if kind in ("attention", "neuron") and name else None
                hook = getattr(self, f"_on_{kind}")
                self.handles.append(mod.register_forward_hook(
                    lambda m, a, kw, o, name=name, kind=kind, hook=hook: self._dispatch(hook, name, kind, m, a, kw, o),
                    with_kwargs=True))
            elif kind == "unknown":
                self.handles.append(mod.register_forward_hook(
                    lambda m, a, kw, o, name=name: self._on_unknown(name, m, a, kw, o), with_kwargs=True))
            elif kind == "noop":  # runs no operation, but a custom module that calls it is not all own work
                self.handles.append(mod.register_forward_hook(lambda m, a, o: self._saw()))
            elif kind == "custom":
                self.custom.append(f"{name or '<model>'} ({type(mod).__name__})")
                self.handles.append(mod.register_forward_pre_hook(lambda m, a: self._calls.append(self._seen)))
                self.handles.append(mod.register_forward_hook(
                    lambda m, a, o, name=name: self._on_custom(name or "<model>", m)))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    # ---- helpers
    def _dispatch(self, hook: Callable, name: str, kind: str, mod: nn.Module, args: tuple, kwargs: dict,
                  out: Any) -> None:
        self._seen += 1
        x = _first_tensor(args, kwargs)
        y = _first_out(out)
        if x is None or y is None:
            self._unknown(name or "<model>", mod, "called without a tensor input/output")
            return
        if kind not in ("linear", "conv", "norm"):
            self._overwritten(y)
        try:
            with torch.no_grad():
                hook(name or "<model>", kind, mod, x.detach(), y.detach())
        except Exception as err:  # noqa: BLE001 - a counting bug must not break the user's forward pass
            self._unknown(name or "<model>", mod, f"the {kind} counting rule failed ({type(err).__name__}: {err}); "
                          "its counts are incomplete")

    def _get(self, name: str, mod: nn.Module, kind: str) -> _Acc:
        a = self.acc.get(name)
        if a is None:
            a = self.acc[name] = _Acc(name, mod, kind, self.T)
        a.calls += 1
        return a

    def _split(self, a: _Acc, v: torch.Tensor) -> np.ndarray:
        """Per-step sums of ``v`` (values per leading position, time-major), length T."""
        T = self.T
        out = np.zeros(T, dtype=np.float64)
        if self.t is not None:
            out[self.t] = float(v.sum())
            return out
        if v.ndim >= 1 and v.shape[0] in (T, T * max(self.B, 1)) and v.numel() % T == 0:
            return v.reshape(T, -1).sum(1).to(torch.float64).cpu().numpy()
        a.split_ok = False
        return out

    def _add(self, a: _Acc, key: str, v: torch.Tensor, total: Optional[float] = None) -> None:
        """Add the per-position values ``v`` (time-major leading axis) to ``key``."""
        steps = self._split(a, v)
        tot = float(v.sum()) if total is None else total
        a.steps[key] += np.rint(steps).astype(np.int64)
        a.total[key] += int(round(tot))

    def _add_uniform(self, a: _Acc, key: str, lead: torch.Tensor, per_position: float) -> None:
        """Add ``per_position`` for each element of ``lead`` (a tensor whose elements are positions)."""
        n = lead.numel()
        T = self.T
        steps = np.zeros(T, dtype=np.float64)
        if self.t is not None:
            steps[self.t] = n * per_position
        elif lead.ndim >= 1 and lead.shape[0] in (T, T * max(self.B, 1)) and n % T == 0:
            steps[:] = n // T * per_position
        else:
            a.split_ok = False
        a.steps[key] += np.rint(steps).astype(np.int64)
        a.total[key] += int(round(n * per_position))

    def _add_nonzero(self, a: _Acc, key: str, x: torch.Tensor, scale: float = 1.0) -> None:
        """Add ``scale`` x the number of nonzero elements of ``x`` (time-major), per step."""
        T = self.T
        steps = np.zeros(T, dtype=np.float64)
        if self.t is not None:
            tot = float(torch.count_nonzero(x))
            steps[self.t] = tot
        elif x.ndim >= 1 and x.shape[0] in (T, T * max(self.B, 1)) and x.numel() % T == 0:
            steps = _nonzero_per_step(x, T)
            tot = float(steps.sum())
        else:
            tot = float(torch.count_nonzero(x))
            a.split_ok = False
        a.steps[key] += np.rint(steps * scale).astype(np.int64)
        a.total[key] += int(round(tot * scale))

    def _lead(self, x: torch.Tensor, feat_dims: int) -> torch.Tensor:
        """A tensor shaped like the leading (time/batch) positions of ``x`` (feature dims dropped)."""
        shape = tuple(x.shape[: x.ndim - feat_dims]) if feat_dims else tuple(x.shape)
        return torch.empty(shape if shape else (1,), dtype=torch.bool)

    def _per_sample(self, y: torch.Tensor) -> int:
        """Elements of ``y`` per sample and time step (the layer's size)."""
        n = max(self.B, 1) * (1 if self.t is not None else self.T)
        return y.numel() // n if y.numel() % n == 0 else y.numel()

    def _wbytes(self, mod: nn.Module) -> int:
        return self.weight_bytes or mod.weight.element_size()

    def _events(self, x: torch.Tensor) -> Tuple[str, Optional[torch.Tensor]]:
        """``("binary", x)`` for spikes, ``("counts", n)`` for event counts (``event_inputs="counts"``), else
        ``(kind, None)``: a dense input (always with ``event_inputs="none"``).

        Counts: the events a 2-d sum/average pool summed in each window when ``x`` is such a pool's
        output over events; else integer counts (DVS event-count frames), or all nonzero values
        positive integer multiples ``n`` of the smallest one; each unit is one event.
        """
        if self.event_inputs == "counts":  # a sum/average pool's output: the spikes it summed in each window (the
            for y, _, events in self.pooled.values():  # smallest pooled value need not be one spike)
                if events is not None and y.data_ptr() == x.data_ptr() and y.numel() == x.numel():
                    return "counts", events.reshape(x.shape)
        head = x.reshape(-1)[:4096]
        if x.dtype == torch.bool or (bool(torch.logical_or(head == 0, head == 1).all())
                                     and bool(torch.logical_or(x == 0, x == 1).all())):
            return ("binary", None) if self.event_inputs == "none" else ("binary", x)
        if self.event_inputs == "counts" and x.is_floating_point() and bool((head >= 0).all()):
            nz = x[x != 0]
            if nz.numel() and bool((nz > 0).all()):
                # integer counts (DVS frames): one event per unit, even where no pixel holds a single event
                q = 1.0 if bool((nz == nz.round()).all()) else float(nz.min())
                n = x.to(torch.float64) / q
                r = n.round()
                if float((n - r).abs().max()) <= 1e-4:
                    return "counts", r
        return "real", None

    def _input_kind(self, a: _Acc, kind: Any) -> None:
        a.inputs.add(kind if isinstance(kind, str) else ("binary" if kind else "real"))

    def _unknown(self, name: str, mod: nn.Module, reason: str) -> None:
        self.unknown.setdefault(name, {"name": name, "module": type(mod).__name__, "reason": reason})

    # ---- rules
    def _overwritten(self, y: Optional[torch.Tensor]) -> None:
        """Forget a Linear/Conv or pool output that ``y`` overwrote in place (``ReLU(inplace=True)``): a BatchNorm
        or layer reading that memory afterwards reads ``y``, not the weighted layer's or pool's output."""
        if y is None:
            return
        ptr = y.data_ptr()
        self.weighted_out.pop(ptr, None)
        for pname in [n for n, (py, _, _) in self.pooled.items() if py.data_ptr() == ptr]:
            del self.pooled[pname]

    def _on_unknown(self, name: str, mod: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        self._seen += 1
        self._overwritten(_first_out(out))
        self._unknown(name or "<model>", mod, "no counting rule for this module type: its operations are NOT "
                      "counted (see docs/energy.md to add one)")

    def _saw(self) -> None:
        self._seen += 1

    def _on_custom(self, name: str, mod: nn.Module) -> None:
        """A module with children whose forward() ran none of them that has a counting rule (``MultiheadAttention``
        uses its ``out_proj`` weight directly): its work is all its own tensor operations, which are not counted."""
        start = self._calls.pop() if self._calls else self._seen
        if self._seen == start:
            self._unknown(name, mod, "its forward() runs no submodule with a counting rule: its operations are NOT "
                          "counted (see docs/energy.md to add one)")
            self._seen += 1

    def _events_x_fanout(self, ev: torch.Tensor, fo: torch.Tensor, lead_shape: Tuple[int, ...]) -> torch.Tensor:
        """Per leading position: sum over one sample's elements of (event multiplicity x fan-out)."""
        n = int(fo.numel())
        m = ev.reshape(-1, n)
        fo = fo.to(m.device)
        top = 1.0 if m.dtype == torch.bool else float(m.max()) if m.numel() else 0.0
        # float32 sums are exact below 2**24; fall back to float64 for big layers
        dtype = torch.float32 if top * float(fo.max() if fo.numel() else 0) * n < 2 ** 24 else torch.float64
        v = m.to(dtype) @ fo.reshape(-1).to(dtype)
        return v.to(torch.float64).reshape(lead_shape if lead_shape else (1,))

    def _weighted(self, a: _Acc, mod: nn.Module, x: torch.Tensor, y: torch.Tensor, fo: torch.Tensor,
                  feat: int, dense_per_out: int) -> None:
        """Shared by Linear and Conv: ``fo`` is the fan-out of one sample's input (shape ``x.shape[-feat:]``)."""
        kind, ev = self._events(x)
        self._input_kind(a, kind)
        lead_shape = tuple(x.shape[: x.ndim - feat])
        n_lead = max(int(np.prod(lead_shape)), 1)
        out_per = y.numel() // n_lead
        wb = self._wbytes(mod)
        pool = self._folded_pool(x)
        if pool is not None:
            self.acc[pool[0]].folded_into = a.name
        if ev is not None:
            syn = self._events_x_fanout(ev, fo, lead_shape)
            self._add(a, "synops", syn)
            self._add(a, "weight_read_bytes", syn * wb)
        else:
            # event-driven view: nonzero inputs x fan-out; after a folded pool, every nonzero input of the
            # pool drives the composed connection (as to_lava maps it), i.e. window counts x fan-out
            events = pool[1] if pool is not None else x != 0
            self._add(a, "graded_synops", self._events_x_fanout(events, fo, lead_shape))
            dense = float(out_per * dense_per_out)
            self._add_uniform(a, "macs", self._lead(x, feat), dense)
            self._add_uniform(a, "weight_read_bytes", self._lead(x, feat), dense * wb)
        if getattr(mod, "bias", None) is not None:
            self._add_uniform(a, "bias_read_bytes", self._lead(x, feat), float(out_per * mod.bias.element_size()))
        a.neurons = self._per_sample(y)
        a.synapses = int(fo.sum())
        self.weighted_out[y.data_ptr()] = (a.name, y)

    def _folded_pool(self, x: torch.Tensor) -> Optional[Tuple[str, torch.Tensor]]:
        """``(pool name, nonzero inputs per window)`` when ``x`` is (a view of) a foldable pool's output."""
        for name, (y, counts, _) in self.pooled.items():
            if y.data_ptr() == x.data_ptr() and y.numel() == x.numel():
                return name, counts.reshape(x.shape)
        return None

    def _on_linear(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        a = self._get(name, mod, kind)
        fo = (mod.weight.detach() != 0).sum(0).to(torch.float64)
        self._weighted(a, mod, x, y, fo, 1, mod.in_features)

    def _on_conv(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        a = self._get(name, mod, kind)
        d = mod.weight.ndim - 2
        in_shape = tuple(x.shape[-(d + 1):])
        per_out = int(np.prod(mod.weight.shape[1:]))  # (C_in / groups) * prod(kernel)
        self._weighted(a, mod, x, y, _cached_conv_fanout(mod, in_shape), d + 1, per_out)

    def _pool_fanout(self, mod: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, int]:
        c = self.cls
        if isinstance(mod, c["voting"]):
            return torch.ones(x.shape[-1:], dtype=torch.float64), 1
        if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            d = 1 if isinstance(mod, nn.AdaptiveAvgPool1d) else 2 if isinstance(mod, nn.AdaptiveAvgPool2d) else 3
            in_shape = tuple(x.shape[-(d + 1):])
            return _adaptive_windows(_tup(mod.output_size, d), in_shape), d + 1
        if isinstance(mod, (nn.AvgPool1d, nn.MaxPool1d)):
            d = 1
        elif isinstance(mod, (nn.AvgPool3d, nn.MaxPool3d)):
            d = 3
        else:
            d = 2
        k = _tup(mod.kernel_size, d)
        s = _tup(mod.stride, d) if mod.stride else k
        p = _tup(getattr(mod, "padding", 0), d)
        dil = _tup(getattr(mod, "dilation", 1), d)
        in_shape = tuple(x.shape[-(d + 1):])
        return _pool_windows(k, s, p, dil, bool(getattr(mod, "ceil_mode", False)), in_shape), d + 1

    def _on_pool(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        a = self._get(name, mod, kind)
        key = (id(mod), tuple(x.shape[1:]))
        if key not in self._pool_cache:
            self._pool_cache[key] = self._pool_fanout(mod, x)
        fo, feat = self._pool_cache[key]
        is_max = isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d))
        ikind, ev = self._events(x)
        if is_max and ikind == "counts":  # a max is not a sum of events
            ikind, ev = "real", None
        self._input_kind(a, ikind)
        lead_shape = tuple(x.shape[: x.ndim - feat])
        n_lead = max(int(np.prod(lead_shape)), 1)
        out_per = y.numel() // n_lead
        if ev is not None:  # each spike (event) is added to every window it lies in
            self._add(a, "synops", self._events_x_fanout(ev, fo, lead_shape))
        else:  # every window sums (or compares) its valid elements: sum(fan-out) - outputs additions
            self._add_uniform(a, "acs", self._lead(x, feat), float(fo.sum()) - out_per)
        a.neurons = self._per_sample(y)
        a.synapses = int(fo.sum())
        window_sum = self._window_sum(mod, tuple(x.shape[-2:]))
        if window_sum is not None:  # y is kept alive with it, so its address cannot be reused meanwhile
            nz = (x != 0).to(torch.float32)
            counts = window_sum(nz.reshape((-1,) + tuple(x.shape[-3:]))).round().reshape(y.shape)
            events = None
            if ev is not None and not is_max:  # the spikes (event units) summed in each window
                events = window_sum(ev.to(torch.float64).reshape((-1,) + tuple(x.shape[-3:]))).round().reshape(y.shape)
            self.pooled[name] = (y, counts, events)
        if is_max:
            a.notes = ["max pooling: a spike x each window it lies in (binary input), or comparisons (real input)"]

    def _window_sum(self, mod: nn.Module, hw: Tuple[int, ...]) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
        """Sum over each window of the 2-d sum/average pools that to_lava folds into the next layer, else None
        (adaptive average pooling folds when its output size divides the input size ``hw``, as to_lava maps it)."""
        if isinstance(mod, self.cls["sumpool"]):
            k, s, p, ceil = mod.kernel_size, mod.stride, mod.padding, False
        elif isinstance(mod, nn.AvgPool2d):
            k, s, p, ceil = mod.kernel_size, mod.stride or mod.kernel_size, mod.padding, mod.ceil_mode
        elif isinstance(mod, nn.AdaptiveAvgPool2d) and len(hw) == 2:
            out = [h if o is None else o for o, h in zip(_tup(mod.output_size, 2), hw)]
            if any(h % o for h, o in zip(hw, out)):
                return None
            k = s = tuple(h // o for h, o in zip(hw, out))
            p, ceil = 0, False
        else:
            return None
        return lambda v: tF.avg_pool2d(v, k, s, p, ceil_mode=ceil, count_include_pad=True, divisor_override=1)

    def _on_norm(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        src = self.weighted_out.get(x.data_ptr())
        if src is not None and src[1].numel() == x.numel() and not mod.training:
            self.folded.setdefault(name, src[0])
            self.weighted_out[y.data_ptr()] = (src[0], y)
            return
        a = self._get(name, mod, kind)
        self._input_kind(a, self._events(x)[0])
        self._add_uniform(a, "macs", x, 1.0)  # scale and shift per element
        a.neurons = self._per_sample(y)
        a.notes = ["not folded (no Linear/Conv right before it): one multiply-add per element"]

    def _on_activation(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        a = self._get(name, mod, kind)
        self._input_kind(a, self._events(x)[0])
        self._add_uniform(a, "activations", y, 1.0)
        self._add_nonzero(a, "nonzero", y)
        a.neurons = self._per_sample(y)

    def _on_neuron(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        a = self._get(name, mod, kind)
        self._input_kind(a, self._events(x)[0])
        self._add_uniform(a, "neuron_updates", y, 1.0)
        before = a.steps["spikes"].copy(), a.total["spikes"]
        self._add_nonzero(a, "spikes", y)
        a.steps["nonzero"] += a.steps["spikes"] - before[0]  # spikes are the nonzero outputs
        a.total["nonzero"] += a.total["spikes"] - before[1]
        bias = getattr(mod, "bias", 0.0)
        if isinstance(bias, (int, float)) and bias != 0:
            self._add_uniform(a, "active_updates", y, 1.0)
        else:
            self._add_nonzero(a, "active_updates", x)
        names = {k.__name__ for k in type(mod).__mro__}
        n_state = 2 if (hasattr(mod, "u") and hasattr(mod, "du")) else 1
        if "BaseNode" in names and isinstance(getattr(mod, "_memories", None), dict):
            n_state = max(1, len(mod._memories))
        sb = self.state_bytes or y.element_size()
        self._add_uniform(a, "state_read_bytes", y, float(n_state * sb))
        self._add_uniform(a, "state_write_bytes", y, float(n_state * sb))
        a.neurons = self._per_sample(y)
        if getattr(mod, "graded", False):
            a.notes = ["graded=True: outputs are real-valued (the next layer counts MACs)"]

    def _on_attention(self, name: str, kind: str, mod: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        """TCJA on ``x[T, B, C, H, W]`` (see :mod:`snnkit.attention.tcja`)."""
        a = self._get(name, mod, kind)
        T, B, C = x.shape[:3]
        HW = int(np.prod(x.shape[3:]))
        ikind, ev = self._events(x)
        binary = ev is not None
        self._input_kind(a, ikind)
        if T != self.T:
            a.split_ok = False
        steps: Dict[str, np.ndarray] = {}
        nz_t = _nonzero_per_step(x, T)
        ev_t = ev.reshape(T, -1).sum(1, dtype=torch.float64).cpu().numpy() if binary else nz_t

        def put(key: str, part: str, per_t: np.ndarray) -> None:
            per_t = np.asarray(per_t, dtype=np.float64)
            steps[key] = steps.get(key, 0) + per_t
            a.detail[part] = a.detail.get(part, 0) + int(round(per_t.sum()))

        # 1. squeeze Z = mean over H, W: spikes accumulate (fan-out 1), real values are summed; 1 scale per mean
        if binary:
            put("synops", "squeeze_accumulates", ev_t)
        else:
            put("acs", "squeeze_adds", np.full(T, B * C * (HW - 1)))
        put("macs", "squeeze_scale", np.full(T, B * C))
        w_read = np.zeros(T)
        # 2./3. the two Conv1d (dense MACs on the real-valued Z, torch padding='same' zeros included)
        if getattr(mod, "conv_t", None) is not None:
            kt = mod.conv_t.weight.shape[-1]
            v = np.full(T, B * C * C * kt)  # output (channel c, time t): C * kt MACs
            put("macs", "conv_t", v)
            w_read += v
        if getattr(mod, "conv_c", None) is not None:
            kc = mod.conv_c.weight.shape[-1]
            v = np.full(T, B * C * T * kc)  # output (channel t, position c): T * kc MACs
            put("macs", "conv_c", v)
            w_read += v
        # 4. fusion A_t * A_c, sigmoid, gating x * gate (only where x is nonzero for spikes)
        if getattr(mod, "conv_t", None) is not None and getattr(mod, "conv_c", None) is not None:
            put("macs", "fusion", np.full(T, B * C))
        put("activations", "sigmoid", np.full(T, B * C))
        put("macs", "gating", nz_t if binary else np.full(T, B * C * HW))
        wb = self.weight_bytes or 4
        put("weight_read_bytes", "weight_read_bytes", w_read * wb)
        a.detail.pop("weight_read_bytes", None)
        for key, per_t in steps.items():
            vals = np.rint(per_t).astype(np.int64)
            if T == self.T:
                a.steps[key] += vals
            a.total[key] += int(vals.sum())
        a.neurons = C * HW
        a.synapses = a.params
        a.notes = ["squeeze, two Conv1d on the squeezed [T, C] matrix, fusion, sigmoid and gating; not native "
                   "on Loihi (its convolutions and products are MACs)"]

    # ---- result
    def report(self, model_name: str) -> OpsReport:
        layers = {n: a.layer(self.B) for n, a in self.acc.items()}
        notes: List[str] = []
        if self.folded:
            notes.append("BatchNorm folded into the preceding Linear/Conv (no ops of its own): "
                         + ", ".join(f"{k} -> {v}" for k, v in self.folded.items()))
        if self.custom:
            notes.append("modules with their own forward() whose submodules are counted, but whose own tensor "
                         "operations outside submodules are not: " + ", ".join(self.custom))
        notes.append("synops: spikes x synapses reached (exact fan-out); macs: dense multiply-accumulates of layers "
                     "with real-valued input (FLOPs convention, padding included); see docs/energy.md")
        return OpsReport(source="hooks", mode=f"float, event_inputs={self.event_inputs}", T=self.T, B=self.B, layers=layers,
                         unknown=list(self.unknown.values()), notes=notes, model=model_name)


def _batches(inputs: Any) -> Iterable[torch.Tensor]:
    if isinstance(inputs, torch.Tensor):
        yield inputs
        return
    if isinstance(inputs, np.ndarray):
        yield torch.as_tensor(inputs)
        return
    for item in inputs:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        yield x


EVENT_INPUTS = ("binary", "counts", "none")


def count_module_ops(model: nn.Module, inputs: Any, *, event_inputs: str = "binary",
                     weight_bytes: Optional[int] = None, state_bytes: Optional[int] = None,
                     max_samples: Optional[int] = None, keep_output: bool = True) -> OpsReport:
    """Count the operations of any model on ``inputs`` with forward hooks (``count_ops(..., backend="hooks")``).

    ``inputs``: a time-major tensor ``[T, B, ...]`` or an iterable of them (a DataLoader of
    ``(x, label)`` batches works). The model runs in eval mode under ``torch.no_grad()`` after
    ``snnkit.reset`` per batch; its training flags are restored afterwards. A model whose snnkit
    modules are in single-step mode is called once per time step with ``x[t]``. ``weight_bytes``
    / ``state_bytes`` set the word sizes of the memory estimate (default: the tensors' dtypes).

    ``event_inputs``: ``"binary"`` (default) treats only 0/1 tensors as spikes; every other
    input of a Linear / Conv costs dense MACs. ``"counts"`` also treats integer tensors (DVS
    event-count frames), the output of a 2-d sum/average pool over events (the spikes in each
    window) and tensors whose nonzero values are positive integer multiples of their smallest
    value as events: each unit is one spike, so such a layer costs
    ``count x fan-out`` synaptic operations, as on an event-driven chip. ``"none"`` treats every
    input as dense (a conventional accelerator: the ANN side of :func:`compare_snn_ann`).
    """
    from snnkit.base import reset

    if event_inputs not in EVENT_INPUTS:
        raise ValueError(f"count_ops: event_inputs must be one of {EVENT_INPUTS}, got {event_inputs!r}")
    if max_samples is not None and (not is_int(max_samples) or max_samples < 1):
        raise ValueError(f"count_ops: max_samples must be a positive int or None, got {max_samples!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_ops: model must be a torch.nn.Module, got {type(model).__name__}")
    single = any(getattr(m, "step_mode", "m") == "s" for m in model.modules()
                 if isinstance(m, _snnkit_classes()["neuron"]))
    modes = {m: m.training for m in model.modules()}
    counter: Optional[_HookCounter] = None
    outputs: List[Any] = []
    seen = 0
    try:
        model.eval()
        for x in _batches(inputs):
            if max_samples is not None and seen >= max_samples:
                break
            if x.ndim < 3:
                raise ValueError(f"count_ops: inputs must be time-major [T, B, ...], got shape {tuple(x.shape)}")
            if max_samples is not None and seen + x.shape[1] > max_samples:
                x = x[:, : max_samples - seen]
            x = x.to(next((p.device for p in model.parameters()), x.device))
            if not x.is_floating_point():
                x = x.float()
            T, B = int(x.shape[0]), int(x.shape[1])
            if counter is None:
                counter = _HookCounter(model, T, weight_bytes=weight_bytes, state_bytes=state_bytes,
                                       event_inputs=event_inputs)
                counter.attach()
            elif T != counter.T:
                raise ValueError(f"count_ops: every batch must have the same T; got {T} after {counter.T}")
            counter.B = B
            counter.weighted_out.clear()
            reset(model)
            with torch.no_grad():
                if single:
                    outs = []
                    for t in range(T):
                        counter.t = t
                        outs.append(model(x[t]))
                    counter.t = None
                    out = torch.stack(outs) if all(isinstance(o, torch.Tensor) for o in outs) else outs
                else:
                    out = model(x)
            counter.weighted_out.clear()
            if keep_output:
                outputs.append(out.detach().cpu() if isinstance(out, torch.Tensor) else out)
            seen += B
    finally:
        if counter is not None:
            counter.detach()
        for m, flag in modes.items():
            m.training = flag
    if counter is None:
        raise ValueError("count_ops: inputs held no batch")
    counter.B = seen
    rep = counter.report(type(model).__name__)
    if keep_output and outputs:
        if all(isinstance(o, torch.Tensor) for o in outputs) and len({o.shape[2:] for o in outputs}) == 1 \
                and all(o.ndim >= 2 for o in outputs):
            rep.output = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
        else:
            rep.output = outputs
    return rep
