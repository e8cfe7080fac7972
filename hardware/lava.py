"""Layer graph -> connected Lava processes -> run in Lava's CPU simulator.

``to_lava(model, input_shape)`` traces the model (:mod:`snnkit.hardware.graph`), plans one Lava
connection process and one ``LIFReset`` population per neuron layer, and returns a
:class:`LavaNetwork`. ``net.run(x)`` builds the processes for the data, runs them under
``Loihi2SimCfg(select_tag="floating_pt" | "fixed_pt")`` and returns the spikes of every neuron
layer in snnkit's layout ``[T, B, ...]``.

How the run lines up with PyTorch
---------------------------------
* **Read-back.** Each population's spikes leave through one Lava ``Extractor`` (one message per
  step, buffered for the whole run) - not a ``RingBuffer`` sink, whose ``data.get()`` transfers
  one number per message (about 40 s for 16x34x34 neurons x 100 steps, vs 0.1 s).
* **Delays.** Lava's ``Dense``/``Conv``/``Sparse`` send at step ``t`` what they accumulated at
  ``t-1``. A layer behind ``d`` connection processes therefore sees sample time ``t`` at Lava step
  ``t + d + 1``; results are read back shifted by ``d`` (``LavaResult.depth``).
* **Samples.** All B samples run back to back in one simulation of ``B*T + max(d)`` steps. Each
  population is a ``LIFReset`` whose reset (``u = v = 0``) fires every ``T`` steps at its own
  offset ``d + 1``, i.e. exactly when its first input of a sample arrives, so samples do not leak
  into each other and the warm-up before the first input is wiped.
* **Biases.** A bias on the membrane (``CubaLIF.bias``, and a Linear/Conv bias when ``du == 1``,
  where the current equals the input) becomes the LIF's ``bias_mant``: Loihi-native and exact
  thanks to the aligned reset. A Linear/Conv bias in front of a neuron with ``du < 1`` is a constant
  *current* input, which ``bias_mant`` cannot express; it is sent by one always-on neuron (a LIF that
  fires every step) through a ``Dense`` whose weights are the biases - also native and exact.
  ``bias="neuron"`` instead forces everything into ``bias_mant`` (steady-state ``b/du``;
  approximate for ``du < 1``), as lava-dl's netx does.
* **Connections.** A single Linear (optionally after Flatten) becomes ``Dense``; a single Conv2d or
  pooling layer becomes ``Conv`` (pooling as a depthwise all-ones kernel); any other chain of
  linear ops between two neuron layers is composed into one matrix and becomes ``Sparse``.
  ``conv="sparse"`` turns convolutions into ``Sparse`` too: Lava's float ``Conv`` computes in
  float32 (it calls ``torch.FloatTensor``), ``Sparse`` in float64. A convolution or pooling Lava's
  ``Conv`` cannot hold (its geometry fields are int8: 128+ groups, e.g. pooling over 128 channels)
  becomes ``Sparse`` as well.
* **Thresholds.** Lava fires on ``v > vth``, snnkit's IF/LIF/PLIF on ``v >= vth``: for those the
  Lava threshold is the next float below ``vth`` (exactly ``>=``; one integer unit lower in fixed point).
* **Layouts.** Lava's Conv wants ``(W, H, C)``; conv-fed populations use that layout and the
  others are flat in torch's C-order; ports are transposed/reshaped between them (as netx does).

Operations Loihi cannot run natively
------------------------------------
A TCJA block (``snnkit.attention.TCJA``) multiplies run-time activations, which Loihi synapses
cannot. It becomes a custom Lava process, :class:`~snnkit.hardware.procs.tcja.TCJAProcess`
(``floating_pt`` and ``fixed_pt`` models, on the host CPU), between the neuron layer it follows
and the next connection, and is reported as ``native: False`` everywhere. Its gate at step ``t``
uses all ``T`` steps of the sample, so the process buffers one sample and emits the gated, graded
output over the following ``T`` steps: every layer behind it is ``T`` steps deeper
(``StagePlan.depth``), which the back-to-back sample schedule and the read-back account for. The
connection after it receives graded (24-bit) messages. Other non-native operations (LayerNorm,
max pooling...) are rejected by the tracer with a ``ValueError`` naming the module.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .graph import TCJA, Conv2d, Dense, Flatten, LayerGraph, Neuron, Pool2d, is_binary, trace

MODES = ("floating_pt", "fixed_pt")
BIAS_MODES = ("auto", "neuron")
CONV_MODES = ("native", "sparse")

__all__ = ["to_lava", "LavaNetwork", "LavaResult", "StagePlan", "HostOpPlan", "NetworkPlan", "plan_network",
           "simulate_plan", "load_lava", "MODES", "LAVA_FORMAT"]

LAVA_FORMAT = "snnkit-lava-network"  # the "format" entry of files written by LavaNetwork.save


# --------------------------------------------------------------------------- plan (no lava needed)


@dataclass
class HostOpPlan:
    """A non-native operation run as a custom host process (TCJA) in front of a stage's connection.

    It receives the spikes of the population at ``in_depth`` and emits its graded output ``latency``
    steps later. ``out_scale`` (fixed point only): the gate is sent as ``round(gate * out_scale)``.
    """

    name: str
    kind: str
    layer: TCJA
    shape: Tuple[int, ...]  # torch layout (C, H, W)
    in_depth: int
    latency: int
    out_scale: Optional[float] = None
    native: bool = False

    @property
    def out_depth(self) -> int:
        return self.in_depth + self.latency

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "native": self.native, "shape": list(self.shape),
                "latency_steps": self.latency, "out_scale": self.out_scale, "info": self.layer.describe()}


@dataclass
class StagePlan:
    """Everything needed to build one connection + LIF population (float values, or ints after quantize)."""

    index: int
    name: str
    source: str  # snnkit neuron class
    conn: str  # "none" | "dense" | "conv" | "sparse"
    in_shape: Tuple[int, ...]  # torch layout of the source population
    shape: Tuple[int, ...]  # torch layout of this population
    layout: str  # "whc" (conv-fed, 3-D) or "flat"
    depth: int  # connection processes between the input and this population
    graded_input: bool = False  # source sends graded (multi-bit) messages: the network input
    weight: Any = None  # dense [out,in] (torch order) | conv [out, in/g, kH, kW] | csr [out,in]
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    weight_exp: int = 0
    du: Any = 1.0
    dv: Any = 0.0
    vth: Any = 1.0
    bias_mant: Optional[np.ndarray] = None  # per neuron, torch flat order
    bias_exp: Optional[np.ndarray] = None
    ubias: Optional[np.ndarray] = None  # current bias via the always-on neuron, torch flat order
    ubias_exp: int = 0
    input_scale: float = 1.0  # only for conn == "none" from the input: applied to the data
    spike_rule: str = ">"
    fixed: bool = False
    scale: float = 1.0  # fixed point: integer state units per float unit (lambda)
    pre: Optional[HostOpPlan] = None  # non-native host op applied to the source population's spikes first
    native: bool = True  # the connection and LIF population themselves are native to Loihi

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def lava_shape(self) -> Tuple[int, ...]:
        return tuple(reversed(self.shape)) if self.layout == "whc" else (self.size,)

    def to_lava_order(self, flat: np.ndarray) -> np.ndarray:
        """Torch-flat-order vector -> array in this population's Lava shape."""
        a = np.asarray(flat).reshape(self.shape)
        return a.transpose(tuple(reversed(range(a.ndim)))) if self.layout == "whc" else a.reshape(-1)


@dataclass
class NetworkPlan:
    """The planned Lava network: input description, one StagePlan per neuron layer, readout."""

    input_shape: Tuple[int, ...]
    input_layout: str
    stages: List[StagePlan]
    graph: LayerGraph
    mode: str = "floating_pt"
    input_scale: float = 1.0  # fixed point: integer input units per float unit (graded input)
    input_binary: bool = True  # fixed point: planned for unary spike inputs (no calibration data)
    quant_report: Any = None

    @property
    def max_depth(self) -> int:
        return max(s.depth for s in self.stages)

    @property
    def host_ops(self) -> List[HostOpPlan]:
        """The non-native operations (custom host processes), in network order."""
        return [s.pre for s in self.stages if s.pre is not None]

    def native_flags(self) -> Dict[str, bool]:
        """``{layer name: native?}`` for every neuron layer and host op, in network order."""
        out: Dict[str, bool] = {}
        for s in self.stages:
            if s.pre is not None:
                out[s.pre.name] = False
            out[s.name] = True
        return out

    def non_native_note(self) -> Optional[str]:
        """A one-line note naming the layers that are not native to Loihi (``None`` if all are)."""
        ops = self.host_ops
        if not ops:
            return None
        names = ", ".join(f"{op.name} ({op.kind.upper()})" for op in ops)
        return (f"not native to Loihi: {names} - run as custom Lava processes on the host CPU (they multiply "
                "run-time activations); each adds a latency of T steps and sends graded messages")


def _layout_of(shape: Tuple[int, ...], conv_fed: bool) -> str:
    return "whc" if (len(shape) == 3 and conv_fed) else "flat"


def _lava_threshold(n: Neuron) -> float:
    """Lava fires on ``v > vth``; for neurons that fire on ``v >= vth`` (snnkit IF/LIF/PLIF) use the largest
    float below the threshold, so ``v > vth'`` is exactly ``v >= vth`` (ties are common after sum pooling)."""
    vth = float(n.vth)
    return float(np.nextafter(vth, -np.inf)) if n.spike_rule == ">=" else vth


LAVA_CONV_MAX = 127  # Lava's Conv models hold kernel_size, stride, padding, dilation and groups as int8


def _fits_lava_conv(op: Union[Conv2d, Pool2d]) -> bool:
    """Whether Lava's ``Conv`` can hold the op's geometry: its int8 fields wrap at 128 (groups=130 -> -126, and the
    run fails inside Lava's worker); pooling is a depthwise conv, so pooling over 128+ channels does not fit."""
    if isinstance(op, Conv2d):
        vals = list(op.weight.shape[2:]) + list(op.stride) + list(op.padding) + list(op.dilation) + [op.groups]
    else:
        vals = list(op.kernel_size) + list(op.stride) + list(op.padding) + [op.in_shape[0]]
    return max(int(v) for v in vals) <= LAVA_CONV_MAX


def plan_network(graph: LayerGraph, *, bias: str = "auto", conv: str = "native",
                 lava_conv_limits: bool = True) -> NetworkPlan:
    """Plan the Lava processes for a traced graph (float parameters).

    ``lava_conv_limits``: plan a conv/pool stage that Lava's ``Conv`` cannot hold (int8 geometry, e.g. 128+
    groups) as ``Sparse``; netx export passes ``False``, its file layers are not Lava processes.
    """
    if bias not in BIAS_MODES:
        raise ValueError(f"to_lava: bias must be one of {BIAS_MODES}, got {bias!r}")
    if conv not in CONV_MODES:
        raise ValueError(f"to_lava: conv must be one of {CONV_MODES}, got {conv!r}")
    in_shape = tuple(graph.input_shape)
    stages = graph.stages()
    plans: List[StagePlan] = []
    depth = 0
    prev_shape = in_shape
    for st in stages:
        n = st.neuron
        pre = None
        if st.pre is not None:
            if not isinstance(st.pre, TCJA):  # pragma: no cover - the tracer only makes TCJA host ops
                raise ValueError(f"to_lava: no Lava process for non-native layer {st.pre.name!r} ({st.pre.kind})")
            pre = HostOpPlan(name=st.pre.name, kind=st.pre.kind, layer=st.pre, shape=tuple(st.pre.out_shape),
                             in_depth=depth, latency=int(st.pre.T))
            depth += pre.latency
        syn = [s for s in st.synapses if not isinstance(s, Flatten)]
        kind, w, extra = "sparse", None, {}
        only_flatten_before = all(isinstance(s, Flatten) for s in st.synapses[:-1])
        if not st.synapses and (n.input_scale == 1.0 or st.index == 0):
            kind = "none"
        elif len(syn) == 1 and isinstance(syn[0], Dense) and isinstance(st.synapses[-1], Dense) and only_flatten_before:
            kind, w = "dense", syn[0].weight * n.input_scale
        elif (len(st.synapses) == 1 and isinstance(syn[0], (Conv2d, Pool2d)) and conv == "native"
              and (not lava_conv_limits or _fits_lava_conv(syn[0]))):
            kind = "conv"
            op = syn[0]
            if isinstance(op, Conv2d):
                w = op.weight * n.input_scale
                extra = dict(stride=op.stride, padding=op.padding, dilation=op.dilation, groups=op.groups)
            else:
                C = op.in_shape[0]
                w = np.full((C, 1) + tuple(op.kernel_size), op.scale * n.input_scale)
                extra = dict(stride=op.stride, padding=op.padding, dilation=(1, 1), groups=C)
        if kind == "sparse":
            w = st.matrix()
        if kind != "none":
            depth += 1
        _, b = st.affine() if st.synapses else (None, np.zeros(n.size))
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        vbias = np.full(n.size, float(n.bias))
        ubias = None
        if n.du == 1.0 or bias == "neuron":
            if n.du == 1.0:
                vbias = vbias + b
            else:
                if np.any(b != 0):
                    warnings.warn(f"to_lava: layer {n.name!r} has a current bias before a neuron with du={n.du}; "
                                  "bias='neuron' approximates it by bias_mant = b/du (exact only in steady state)",
                                  stacklevel=3)
                vbias = vbias + b / max(n.du, 1e-12)
        elif np.any(b != 0):
            ubias = b
        layout = _layout_of(n.out_shape, kind == "conv")
        plans.append(StagePlan(
            index=st.index, name=n.name, source=n.source, conn=kind, in_shape=tuple(prev_shape),
            shape=tuple(n.out_shape), layout=layout, depth=depth, graded_input=(st.index == 0 or pre is not None),
            weight=w, du=float(n.du), dv=float(n.dv), vth=_lava_threshold(n), bias_mant=vbias, ubias=ubias,
            input_scale=n.input_scale if kind == "none" else 1.0, spike_rule=n.spike_rule, pre=pre, **extra,
        ))
        prev_shape = n.out_shape
    in_layout = "whc" if len(in_shape) == 3 else "flat"
    return NetworkPlan(in_shape, in_layout, plans, graph)


# --------------------------------------------------------------------------- results


@dataclass
class LavaResult:
    """Spikes (and optionally voltages) per neuron layer in snnkit's layout ``[T, B, ...]``."""

    spikes: Dict[str, np.ndarray]
    output: torch.Tensor
    mode: str
    T: int
    B: int
    steps: int
    depth: Dict[str, int]
    wall_s: float
    voltages: Optional[Dict[str, np.ndarray]] = None
    currents: Optional[Dict[str, np.ndarray]] = None
    bias_neuron_spikes: int = 0
    plan: Optional[NetworkPlan] = None
    inputs: Optional[np.ndarray] = None
    host_outputs: Optional[Dict[str, np.ndarray]] = None  # graded outputs of non-native host ops [T, B, ...]

    @property
    def layer_names(self) -> List[str]:
        return list(self.spikes)

    def to_dict(self) -> Dict[str, Any]:
        d = {
            "mode": self.mode, "T": self.T, "B": self.B, "steps": self.steps, "wall_s": self.wall_s,
            "depth": dict(self.depth),
            "spike_counts": {k: int(v.sum()) for k, v in self.spikes.items()},
            "firing_rate": {k: float(v.mean()) for k, v in self.spikes.items()},
        }
        if self.plan is not None:
            d["native"] = self.plan.native_flags()
            d["non_native"] = [op.to_dict() for op in self.plan.host_ops]
        return d


# --------------------------------------------------------------------------- building


def _as_input(x: Any, in_shape: Tuple[int, ...], name: str = "to_lava", empty_ok: bool = False) -> np.ndarray:
    """``x`` as float64 ``[T, B, *in_shape]`` (a missing batch axis is added); clear errors for anything else."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"{name}: inputs must be real numbers, got dtype {x.dtype}")
        x = x.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":  # complex parts would be dropped; strings/objects are not data
        raise ValueError(f"{name}: inputs must be real numbers (bool, int or float), got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    nd = len(in_shape)
    if x.ndim == nd + 1:
        x = x[:, None]
    if x.ndim != nd + 2 or tuple(x.shape[2:]) != tuple(in_shape):
        raise ValueError(f"{name}: inputs must be time-major [T, B, *{tuple(in_shape)}] (or [T, *input_shape]), "
                         f"got shape {tuple(x.shape)}")
    if not empty_ok and (x.shape[0] == 0 or x.shape[1] == 0):
        raise ValueError(f"{name}: inputs hold no time steps or no samples (shape {tuple(x.shape)}); "
                         "give [T, B, ...] with T >= 1 and B >= 1")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: inputs contain NaN or infinity")
    return x


class _Built:
    """Lava processes of one run (kept for inspection); ``stop()`` ends the runtime, ``abort()`` kills it."""

    def __init__(self) -> None:
        self.procs: Dict[str, Any] = {}
        self.lifs: List[Any] = []
        self.conns: List[Any] = []
        self.sinks: List[Any] = []
        self.monitors: List[Any] = []
        self.bias_sink: Any = None
        self.host_procs: Dict[str, Any] = {}
        self.host_sinks: Dict[str, Any] = {}
        self.steps = 0
        self.T = 0
        self.B = 0
        self.running = False

    def stop(self) -> None:
        """End a finished run with Lava's STOP handshake (the workers must be alive and idle)."""
        if self.running and self.lifs:
            try:
                self.lifs[0].stop()
            finally:
                self.running = False

    def abort(self) -> None:
        """End the run after Ctrl-C or an error: terminate and reap Lava's workers, free their shared memory.

        Bounded in time (no handshake with workers that may be dead or busy); a second Ctrl-C is
        held back until the clean-up is done.
        """
        from .lava_runtime import abort_runtime, signals_held

        try:
            if self.lifs:  # also after an interrupted stop(), which has cleared `running`
                with signals_held():
                    abort_runtime(self.lifs[0].runtime)
        finally:
            self.running = False


class LavaNetwork:
    """A planned Lava network. ``run(x)`` builds the processes for ``x[T, B, ...]``, runs and reads back."""

    def __init__(self, plan: NetworkPlan, model: Optional[nn.Module] = None) -> None:
        self.plan = plan
        self.model = model
        self.meta: Dict[str, Any] = {}

    @property
    def mode(self) -> str:
        return self.plan.mode

    @property
    def graph(self) -> LayerGraph:
        return self.plan.graph

    @property
    def quant_report(self) -> Any:
        return self.plan.quant_report

    def simulate(self, x: Any) -> Dict[str, np.ndarray]:
        """Spikes per layer ``[T, B, ...]`` from :func:`simulate_plan` (numpy, Lava's arithmetic, no Lava run)."""
        return simulate_plan(self.plan, x)

    def save(self, path: Union[str, "os.PathLike[str]"], meta: Optional[Dict[str, Any]] = None) -> "Path":
        """Write the planned network (weights, neuron parameters, layouts, host ops, quantization) to ``path``.

        A ``torch.save`` file (written to a temporary file, then renamed) that :func:`load_lava`
        turns back into a :class:`LavaNetwork` without the PyTorch model; ``meta`` is stored beside it.
        Sparse matrices are stored packed (:mod:`snnkit.hardware.packing`, lossless, ~50x smaller).
        """
        from pathlib import Path

        import snnkit

        path = Path(path)
        if path.is_dir():
            raise ValueError(f"LavaNetwork.save: path {str(path)!r} is a directory")
        if not path.parent.exists():
            raise FileNotFoundError(f"LavaNetwork.save: folder {str(path.parent)!r} does not exist")
        from .packing import pack_plan

        payload = {"format": LAVA_FORMAT, "version": 2, "snnkit_version": snnkit.__version__, "mode": self.mode,
                   "plan": pack_plan(self.plan), "meta": dict(meta or {})}
        from snnkit._io import atomic_write

        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    def summary(self) -> str:
        rows = [f"Lava network ({self.mode}), input {self.plan.input_shape} [{self.plan.input_layout}]",
                f"{'#':>3} {'layer':24} {'conn':7} {'shape':>16} {'lava':>16} {'depth':>5}  neuron"]
        for s in self.plan.stages:
            if s.pre is not None:
                rows.append(f"{'':>3} {s.pre.name[:24]:24} {'host':7} {str(s.pre.shape):>16} "
                            f"{str(tuple(reversed(s.pre.shape))):>16} {s.pre.out_depth:>5}  {s.pre.layer.describe()}")
            nb = "" if s.ubias is None else " +bias-current"
            rows.append(f"{s.index:>3} {s.name[:24]:24} {s.conn:7} {str(s.shape):>16} {str(s.lava_shape):>16} "
                        f"{s.depth:>5}  {s.source} du={s.du} dv={s.dv} vth={s.vth}{nb}")
        return "\n".join(rows)

    # -- building ----------------------------------------------------------

    def _input_data(self, x: np.ndarray, steps: int) -> np.ndarray:
        """``x[T, B, *shape]`` -> RingBuffer data ``[*lava_shape, steps]`` (zero padded), scaled for fixed point."""
        T, B = x.shape[:2]
        flat = x.transpose((1, 0) + tuple(range(2, x.ndim))).reshape((B * T,) + tuple(x.shape[2:]))
        if self.plan.mode == "fixed_pt":
            _refuse_real_input(self.plan, x)  # the raw inputs, before a first layer's input scale
        first = self.plan.stages[0]
        if first.conn == "none" and first.input_scale != 1.0:
            flat = flat * first.input_scale
        if self.plan.input_layout == "whc":
            flat = flat.transpose(0, 3, 2, 1)  # [N, C, H, W] -> [N, W, H, C]
        else:
            flat = flat.reshape(B * T, -1)
        data = np.zeros(flat.shape[1:] + (steps,), dtype=np.float64)
        data[..., : B * T] = np.moveaxis(flat, 0, -1)
        if self.plan.mode == "fixed_pt":
            data = np.round(data * self.plan.input_scale)
            lim = 2 ** 23 - 1
            if np.any(np.abs(data) > lim):
                warnings.warn("to_lava: fixed-point input exceeds 24-bit graded messages; clipped", stacklevel=3)
                data = np.clip(data, -lim, lim)
            data = data.astype(np.int32)
        return data

    def build(self, x: Any, record_voltage: bool = False, record_current: bool = False) -> _Built:
        """Create (but do not run) the Lava processes for inputs ``x[T, B, ...]``."""
        from .lava_compat import import_lava

        import_lava()
        from lava.proc.conv.process import Conv
        from lava.proc.dense.process import Dense as LDense
        from lava.proc.io.extractor import Extractor
        from lava.proc.io.source import RingBuffer as Source
        from lava.proc.lif.process import LIF, LIFReset
        from lava.proc.monitor.process import Monitor
        from lava.proc.sparse.process import Sparse

        plan = self.plan
        fixed = plan.mode == "fixed_pt"
        x = _as_input(x, plan.input_shape)
        T, B = x.shape[:2]
        for op in plan.host_ops:
            if op.latency != T:
                raise ValueError(f"to_lava: {op.kind.upper()} layer {op.name!r} was built for T={op.latency} time "
                                 f"steps, but the inputs have T={T}")
            if fixed and not op.out_scale:
                raise ValueError(f"to_lava: host op {op.name!r} has no fixed-point output scale; quantize the plan")
        steps = B * T + plan.max_depth
        built = _Built()
        built.steps = steps
        built.T, built.B = T, B
        data = self._input_data(x, steps)
        # Unary (1-bit) messages only if what is sent is 0/1: a fixed-point plan scales even 0/1 inputs by
        # input_scale (units per count), and Lava's connections read 1-bit messages as bool.
        binary_input = is_binary(data)
        src = Source(data=data)
        built.procs["input"] = src
        prev_port, prev_layout, prev_shape = src.s_out, plan.input_layout, plan.input_shape
        bias_neuron = None

        def adapt(port: Any, layout: str, shape: Tuple[int, ...], want: str) -> Any:
            if len(shape) != 3 or layout == want:
                return port
            if want == "flat":  # (W, H, C) -> (C, H, W) -> flat torch order
                return port.transpose([2, 1, 0]).flatten()
            return port.reshape(tuple(shape)).transpose([2, 1, 0])  # flat torch order -> (W, H, C)

        for sp in plan.stages:
            lava_shape = sp.lava_shape
            nbits = 24 if ((sp.graded_input and not binary_input) or sp.pre is not None) else 0
            if sp.pre is not None:  # non-native host process between the previous population and this stage
                from .procs.tcja import TCJAProcess

                op = sp.pre
                L = op.layer
                hp = TCJAProcess(shape=tuple(reversed(op.shape)), T=op.latency, weight_t=L.weight_t,
                                 weight_c=L.weight_c, offset=op.in_depth + 1,
                                 out_scale=float(op.out_scale or 0.0), name=f"tcja:{op.name}")
                adapt(prev_port, prev_layout, prev_shape, "whc").connect(hp.s_in)
                hsink = Extractor(shape=tuple(reversed(op.shape)), buffer_size=steps)
                hp.s_out.connect(hsink.in_port)
                built.host_procs[op.name] = hp
                built.host_sinks[op.name] = hsink
                built.procs[f"tcja:{op.name}"] = hp
                prev_port, prev_layout, prev_shape = hp.s_out, "whc", tuple(op.shape)
            bias_mant = sp.to_lava_order(sp.bias_mant if sp.bias_mant is not None else np.zeros(sp.size))
            kw: Dict[str, Any] = dict(shape=lava_shape, du=sp.du, dv=sp.dv, vth=sp.vth, bias_mant=bias_mant,
                                      reset_interval=T, reset_offset=(sp.depth + 1) % T, name=f"lif:{sp.name}")
            if fixed:
                kw["bias_exp"] = sp.to_lava_order(sp.bias_exp if sp.bias_exp is not None else np.zeros(sp.size, int))
            lif = LIFReset(**kw)
            if sp.conn == "none":
                adapt(prev_port, prev_layout, prev_shape, sp.layout).connect(lif.a_in)
                conn = None
            elif sp.conn == "dense":
                conn = LDense(weights=np.asarray(sp.weight), num_message_bits=nbits, name=f"dense:{sp.name}",
                              **({"weight_exp": int(sp.weight_exp)} if fixed else {}))
                adapt(prev_port, prev_layout, prev_shape, "flat").connect(conn.s_in)
                conn.a_out.connect(lif.a_in)
            elif sp.conn == "sparse":
                conn = Sparse(weights=sp.weight, num_message_bits=nbits, name=f"sparse:{sp.name}",
                              **({"weight_exp": int(sp.weight_exp)} if fixed else {}))
                adapt(prev_port, prev_layout, prev_shape, "flat").connect(conn.s_in)
                if sp.layout == "whc":  # pragma: no cover - sparse stages are planned flat
                    conn.a_out.reshape(tuple(sp.shape)).transpose([2, 1, 0]).connect(lif.a_in)
                else:
                    conn.a_out.connect(lif.a_in)
            else:  # conv: torch [out, in/g, kH, kW] correlation -> Lava [out, kW, kH, in/g] true convolution
                w = np.asarray(sp.weight)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1).copy()
                C, H, W = sp.in_shape
                conn = Conv(weight=w, input_shape=(W, H, C), stride=sp.stride[::-1], padding=sp.padding[::-1],
                            dilation=sp.dilation[::-1], groups=sp.groups, num_message_bits=nbits,
                            name=f"conv:{sp.name}", **({"weight_exp": int(sp.weight_exp)} if fixed else {}))
                adapt(prev_port, prev_layout, prev_shape, "whc").connect(conn.s_in)
                conn.a_out.connect(lif.a_in)
            if sp.ubias is not None:
                if bias_neuron is None:
                    bias_neuron = LIF(shape=(1,), du=4095 if fixed else 1.0, dv=0, vth=0, bias_mant=1,
                                      name="bias-neuron")
                    bias_sink = Extractor(shape=(1,), buffer_size=steps)
                    bias_neuron.s_out.connect(bias_sink.in_port)
                    built.bias_sink = bias_sink
                    built.procs["bias-neuron"] = bias_neuron
                wb = sp.to_lava_order(sp.ubias).reshape(-1, 1)
                bconn = LDense(weights=wb, name=f"bias:{sp.name}",
                               **({"weight_exp": int(sp.ubias_exp)} if fixed else {}))
                bias_neuron.s_out.connect(bconn.s_in)
                (bconn.a_out.reshape(lava_shape) if len(lava_shape) > 1 else bconn.a_out).connect(lif.a_in)
                built.procs[f"bias:{sp.name}"] = bconn
            sink = Extractor(shape=lava_shape, buffer_size=steps)
            lif.s_out.connect(sink.in_port)
            mons = {}
            if record_voltage:
                mons["v"] = Monitor()
                mons["v"].probe(lif.v, steps)
            if record_current:
                mons["u"] = Monitor()
                mons["u"].probe(lif.u, steps)
            built.lifs.append(lif)
            built.conns.append(conn)
            built.sinks.append(sink)
            built.monitors.append(mons)
            built.procs[f"lif:{sp.name}"] = lif
            prev_port, prev_layout, prev_shape = lif.s_out, sp.layout, sp.shape
        return built

    # -- running -----------------------------------------------------------

    def _to_torch_layout(self, sp: StagePlan, arr: np.ndarray, T: int, B: int, time_last: bool) -> np.ndarray:
        """Recorded ``[*lava_shape, steps]`` (or ``[steps, *lava_shape]``) -> ``[T, B, *shape]`` aligned by depth."""
        if time_last:
            arr = np.moveaxis(arr, -1, 0)
        if sp.layout == "whc":
            arr = arr.transpose(0, 3, 2, 1)
        arr = arr.reshape((arr.shape[0],) + tuple(sp.shape))
        arr = arr[sp.depth: sp.depth + B * T]
        return arr.reshape((B, T) + tuple(sp.shape)).swapaxes(0, 1)

    @staticmethod
    def _host_layout(op: HostOpPlan, arr: np.ndarray, T: int, B: int) -> np.ndarray:
        """A host op's recorded ``[W, H, C, steps]`` -> ``[T, B, C, H, W]`` aligned by its output depth."""
        arr = np.moveaxis(arr, -1, 0).transpose(0, 3, 2, 1)[op.out_depth: op.out_depth + B * T]
        return arr.reshape((B, T) + tuple(op.shape)).swapaxes(0, 1)

    def run_config(self) -> Any:
        """``Loihi2SimCfg`` for this network's mode (Lava's Extractor, untagged, is mapped explicitly)."""
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel

        return Loihi2SimCfg(select_tag=self.plan.mode, exception_proc_model_map={Extractor: PyLoihiExtractorModel})

    def run(self, x: Any, record_voltage: bool = False, record_current: bool = False) -> LavaResult:
        """Run the network on ``x[T, B, *input_shape]`` (or ``[T, *input_shape]``) and read back every layer.

        Voltages/currents (``record_voltage``/``record_current``) are in float units; in ``fixed_pt``
        the integer state is divided by the layer's scale (``StagePlan.scale``).
        """
        from .lava_compat import import_lava
        from .lava_runtime import signals_held

        import_lava()
        from lava.magma.core.run_conditions import RunSteps

        x = _as_input(x, self.plan.input_shape)
        T, B = x.shape[:2]
        t0 = time.perf_counter()
        built = self.build(x, record_voltage=record_voltage, record_current=record_current)
        spikes: Dict[str, np.ndarray] = {}
        volts: Dict[str, np.ndarray] = {}
        currs: Dict[str, np.ndarray] = {}
        host: Dict[str, np.ndarray] = {}
        bias_spikes = 0
        try:
            built.running = True
            with signals_held():  # Lava forks its workers here: they ignore Ctrl-C, which reaches us after
                built.lifs[0].create_runtime(run_cfg=self.run_config())
            built.lifs[0].run(condition=RunSteps(num_steps=built.steps))

            def drain(ext: Any) -> np.ndarray:  # one message per step: [*shape, steps], as a RingBuffer sink
                return np.stack([np.asarray(ext.receive()) for _ in range(built.steps)], axis=-1)

            for sp, sink, mons in zip(self.plan.stages, built.sinks, built.monitors):
                s = drain(sink)
                spikes[sp.name] = (self._to_torch_layout(sp, s, T, B, time_last=True) != 0).astype(np.float64)
                for key, store in (("v", volts), ("u", currs)):
                    if key in mons:
                        lif = built.procs[f"lif:{sp.name}"]
                        d = np.asarray(mons[key].get_data()[lif.name][key], dtype=np.float64)
                        d = self._to_torch_layout(sp, d, T, B, time_last=False)
                        store[sp.name] = d / sp.scale if self.plan.mode == "fixed_pt" else d
            for sp in self.plan.stages:
                if sp.pre is not None:
                    h = drain(built.host_sinks[sp.pre.name]).astype(np.float64)
                    h = self._host_layout(sp.pre, h, T, B)
                    host[sp.pre.name] = h / sp.pre.out_scale if self.plan.mode == "fixed_pt" else h
            if built.bias_sink is not None:
                bias_spikes = int(np.count_nonzero(drain(built.bias_sink)))
            with signals_held():  # Lava's join of its workers loses track of them if interrupted
                built.stop()
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or an error: Lava's STOP handshake could wait for good
            built.abort()
            raise
        wall = time.perf_counter() - t0
        last = self.plan.stages[-1].name
        out = self.plan.graph.apply_readout(torch.as_tensor(spikes[last]))
        return LavaResult(
            spikes=spikes, output=out, mode=self.plan.mode, T=T, B=B, steps=built.steps,
            depth={sp.name: sp.depth for sp in self.plan.stages}, wall_s=wall,
            voltages=volts if record_voltage else None, currents=currs if record_current else None,
            bias_neuron_spikes=bias_spikes, plan=self.plan, inputs=x, host_outputs=host,
        )


def _shift(a: np.ndarray, e: int) -> np.ndarray:
    return np.left_shift(a, e) if e > 0 else np.right_shift(a, -e)


def _synaptic_input(sp: StagePlan, s: np.ndarray, fixed: bool) -> np.ndarray:
    """One step of the stage's connection for a batch ``s[B, *in_shape]`` (torch layout) -> ``[B, size]``."""
    B = s.shape[0]
    if sp.conn == "none":
        return s.reshape(B, -1)
    flat = s.reshape(B, -1)
    if sp.conn == "dense":
        a = flat @ np.asarray(sp.weight).T
    elif sp.conn == "sparse":
        a = np.asarray((sp.weight @ flat.T).T)
    else:
        import torch.nn.functional as tF

        with torch.no_grad():
            a = tF.conv2d(torch.as_tensor(s, dtype=torch.float64), torch.as_tensor(np.asarray(sp.weight), dtype=torch.float64),
                          None, sp.stride, sp.padding, sp.dilation, sp.groups).reshape(B, -1).numpy()
    if fixed:
        a = np.round(a).astype(np.int64)
        if sp.conn == "conv":
            # Lava's fixed Conv has no exponent and wraps its sums to 24 bits (utils.signed_clamp is a modulo:
            # 2**23 + k -> -2**23 + k), it does not saturate
            a = (a + 2 ** 23) % 2 ** 24 - 2 ** 23
        else:
            a = _shift(a, int(sp.weight_exp))
    return a


def _decay(x: np.ndarray, keep: int) -> np.ndarray:
    d = x.astype(np.int64) * keep
    return (np.sign(d) * np.right_shift(np.abs(d), 12)).astype(np.int64)


def _refuse_real_input(plan: NetworkPlan, x: np.ndarray) -> None:
    """A fixed-point plan sized for binary inputs cannot take real values: refuse them (one check for run/simulate)."""
    if plan.mode == "fixed_pt" and plan.input_binary and not is_binary(x):
        raise ValueError("to_lava: fixed_pt was planned for binary (spike) inputs but the inputs are real-valued; "
                         "pass calibration=<sample inputs [T, B, ...]> to to_lava (snnkit export/simulate: "
                         "--data with the model's own dataset) so the input can be sent as graded spikes")


def simulate_plan(plan: NetworkPlan, x: Any) -> Dict[str, np.ndarray]:
    """Run a plan with Lava's LIF/Dense/Conv/Sparse arithmetic in numpy (no Lava, no delays).

    Reproduces ``LavaNetwork.run`` spike for spike: in ``fixed_pt`` it re-implements the
    bit-accurate integer models (the tests check it against Lava), in ``floating_pt`` the float
    models. Much faster than the Lava simulator; useful for sweeps over many samples.
    """
    fixed = plan.mode == "fixed_pt"
    x = _as_input(x, plan.input_shape, "simulate")
    T, B = x.shape[:2]
    first = plan.stages[0]
    if fixed:
        _refuse_real_input(plan, x)   # as LavaNetwork.run: rounding would silently change such inputs
    src = x * first.input_scale if (first.conn == "none" and first.input_scale != 1.0) else x
    if fixed:
        src = np.round(src * plan.input_scale).astype(np.int64)
    out: Dict[str, np.ndarray] = {}
    for sp in plan.stages:
        if sp.pre is not None:  # non-native host op (TCJA) on the previous layer's spikes, per sample
            from .host_ops import tcja_apply

            src = tcja_apply(sp.pre.layer, src, sp.pre.out_scale if fixed else None)
        n = sp.size
        u = np.zeros((B, n), dtype=np.int64 if fixed else np.float64)
        v = np.zeros_like(u)
        spikes = np.zeros((T, B, n))
        bias = np.asarray(sp.bias_mant if sp.bias_mant is not None else np.zeros(n)).reshape(-1)
        if fixed:
            bexp = np.asarray(sp.bias_exp if sp.bias_exp is not None else np.zeros(n, int)).reshape(-1)
            bias = np.where(bexp >= 0, np.left_shift(bias.astype(np.int64), np.maximum(bexp, 0)),
                            np.right_shift(bias.astype(np.int64), np.maximum(-bexp, 0)))
            ub = None if sp.ubias is None else _shift(np.asarray(sp.ubias, dtype=np.int64).reshape(-1), int(sp.ubias_exp))
            keep_u, keep_v = 4096 - (int(sp.du) + 1), 4096 - int(sp.dv)
            vth = int(sp.vth) << 6
            lim = 2 ** 23
        else:
            ub = None if sp.ubias is None else np.asarray(sp.ubias, dtype=np.float64).reshape(-1)
        for t in range(T):
            a = _synaptic_input(sp, src[t], fixed)
            if ub is not None:
                a = a + ub
            if fixed:
                du_ = _decay(u, keep_u) + np.left_shift(a.astype(np.int64), 6)
                w = np.where(du_ > lim, du_ - 2 * lim, du_)
                u = np.where(w <= -lim, du_ + 2 * lim, w)
                v = np.clip(_decay(v, keep_v) + u + bias, -lim + 1, lim - 1)
                s = v > vth
            else:
                u = u * (1 - sp.du) + a
                v = v * (1 - sp.dv) + u + bias
                s = v > sp.vth
            v = np.where(s, 0, v)
            spikes[t] = s
        spikes = spikes.reshape((T, B) + tuple(sp.shape))
        out[sp.name] = spikes
        src = spikes.astype(np.int64) if fixed else spikes
    return out


def load_lava(path: Union[str, "os.PathLike[str]"]) -> LavaNetwork:
    """Read a network written by :meth:`LavaNetwork.save` (``snnkit export --to lava``); ``.meta`` holds its metadata."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"load_lava: {str(path)!r} is a folder; give the .lava file snnkit export wrote")
    if not path.is_file():
        raise FileNotFoundError(f"load_lava: {str(path)!r} does not exist")
    try:
        d = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
        raise ValueError(f"load_lava: {str(path)!r} could not be read ({err})") from None
    if not isinstance(d, dict) or d.get("format") != LAVA_FORMAT:
        raise ValueError(f"load_lava: {str(path)!r} is not a snnkit Lava network file (format {LAVA_FORMAT!r})")
    from .packing import unpack_plan

    net = LavaNetwork(unpack_plan(d["plan"]))  # version 1 files hold plain CSR matrices
    net.meta = dict(d.get("meta") or {})
    return net


def to_lava(
    model: Union[nn.Module, LayerGraph],
    input_shape: Optional[Sequence[int]] = None,
    mode: str = "floating_pt",
    *,
    bias: str = "auto",
    conv: str = "native",
    calibration: Any = None,
    **quant_kwargs: Any,
) -> LavaNetwork:
    """Map a trained snnkit model onto Lava processes.

    Parameters
    ----------
    model: an ``nn.Module`` (traced with :func:`snnkit.hardware.graph.trace`) or a ``LayerGraph``.
    input_shape: one sample's shape without time/batch, e.g. ``(64,)`` or ``(2, 32, 32)``.
    mode: ``"floating_pt"`` (float64, reproduces the PyTorch model) or ``"fixed_pt"`` (Loihi's
        bit-accurate integer arithmetic; the model is quantized by :func:`snnkit.hardware.quantize.quantize`).
    bias: ``"auto"`` (exact, see module docs) or ``"neuron"`` (everything in ``bias_mant``).
    conv: ``"native"`` (Lava ``Conv``) or ``"sparse"`` (convolutions as float64 sparse matrices).
    calibration: fixed point only: sample inputs ``[T, B, ...]`` to size the input scale of graded
        (non-spike) inputs. ``quant_kwargs`` go to ``quantize`` (``input_bits``, ``clip_percentile``...).

    Returns a :class:`LavaNetwork`; call ``.run(x)`` with ``x[T, B, *input_shape]``.
    """
    if mode not in MODES:
        raise ValueError(f"to_lava: mode must be one of {MODES}, got {mode!r}")
    if isinstance(model, LayerGraph):
        graph = model
    else:
        if input_shape is None:
            raise ValueError("to_lava: input_shape is required with an nn.Module (one sample, no time/batch axis)")
        graph = trace(model, input_shape)
    plan = plan_network(graph, bias=bias, conv=conv)
    if mode == "fixed_pt":
        from .quantize import quantize_plan

        plan = quantize_plan(plan, calibration=calibration, **quant_kwargs)
    elif quant_kwargs or calibration is not None:
        raise ValueError(f"to_lava: quantization options {sorted(quant_kwargs) + (['calibration'] if calibration is not None else [])} "
                         "only apply with mode='fixed_pt'")
    return LavaNetwork(plan, model if isinstance(model, nn.Module) else None)
