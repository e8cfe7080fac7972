"""Trace a trained torch model into a typed layer graph: the common input of every exporter.

The graph is a flat sequence of layers with per-sample shapes (torch layout, no time or batch
axis) and numpy float64 parameters::

    Input -> [synapse ops: Dense | Conv2d | Pool2d | Flatten]* -> Neuron -> [TCJA] -> ... -> Neuron -> readout

Every spiking neuron is expressed in Lava ``LIF`` form (``u = u*(1-du) + a_in;
v = v*(1-dv) + u + bias; spike; v = 0``):

=================  =========================================================================
snnkit module      Lava LIF
=================  =========================================================================
``CubaLIF``        ``du, dv, vth, bias`` unchanged (bit-for-bit the same float dynamics)
``IF``             ``du=1, dv=0``
``LIF(tau)``       ``du=1, dv=1/tau``; with ``decay_input`` the input is scaled by ``1/tau``,
                   folded into the preceding Linear/Conv weights and bias
``PLIF``           as ``LIF`` with ``1/tau = sigmoid(w)``
=================  =========================================================================

Hard reset to 0 is required (Lava's LIF resets to 0). snnkit's ``IF``/``LIF``/``PLIF`` fire on
``v >= v_threshold`` (SpikingJelly) while Lava fires on ``v > vth``. The two differ only when the
potential lands exactly on the threshold - a measure-zero event for real-valued inputs, but a
common one with integer weights and sum pooling. ``Neuron.spike_rule`` records the source's rule;
the Lava exporters lower the threshold by one float ulp (``floating_pt``: then ``v > vth'`` is
exactly ``v >= vth``) or by one integer unit (``fixed_pt``, netx) for ``>=`` neurons. Ties are then
exact only where both sides round alike: ``LIF(decay_input=True)`` computes ``v + (x - v)/tau`` in
PyTorch and ``v*(1 - 1/tau) + x/tau`` in Lava, which differ in the last bit for e.g. ``tau=3``.

BatchNorm after a Linear/Conv is folded into its weight and bias with the running (eval)
statistics. A TCJA attention block directly after a neuron layer becomes a :class:`TCJA` layer
with ``native = False``: it multiplies run-time activations, which Loihi's synapses cannot, so
the Lava exporter runs it as a custom host (CPU) process (``hardware/procs/tcja.py``).
Stateless ops after the last neuron layer (a Linear readout, ``VotingLayer``...) are kept as a
host-side ``readout``. Anything else raises ``ValueError`` naming the module's path
and the reason, before any file is written or any Lava process is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tF

Shape = Tuple[int, ...]

__all__ = [
    "Layer",
    "Input",
    "Dense",
    "Conv2d",
    "Pool2d",
    "Flatten",
    "Neuron",
    "TCJA",
    "Stage",
    "LayerGraph",
    "trace",
]


# --------------------------------------------------------------------------- layer types


@dataclass
class Layer:
    """One op of the graph. ``name`` is the module's path in the model (``"0"``, ``"block.linear"``)."""

    name: str
    in_shape: Shape
    out_shape: Shape
    kind = "layer"
    native = True  # whether Loihi runs it natively (False: a custom host/CPU process in Lava)

    @property
    def size(self) -> int:
        return int(np.prod(self.out_shape))

    def describe(self) -> str:
        return ""

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "in_shape": list(self.in_shape),
                "out_shape": list(self.out_shape), "native": self.native, "info": self.describe()}


@dataclass
class Input(Layer):
    kind = "input"


@dataclass
class Dense(Layer):
    """``y = weight @ x + bias`` with ``weight[out, in]`` (a ``nn.Linear``, BatchNorm folded in)."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bias: Optional[np.ndarray] = None
    kind = "dense"

    def describe(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}" + (", bias" if self.bias is not None else "")


@dataclass
class Conv2d(Layer):
    """2-D cross-correlation as ``torch.nn.Conv2d`` (``weight[out, in/groups, kH, kW]``, (H, W) order)."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 1, 1)))
    bias: Optional[np.ndarray] = None
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    kind = "conv2d"

    def describe(self) -> str:
        o, i, kh, kw = self.weight.shape
        return (f"{i * self.groups}->{o} k=({kh},{kw}) s={self.stride} p={self.padding} d={self.dilation} "
                f"g={self.groups}" + (", bias" if self.bias is not None else ""))


@dataclass
class Pool2d(Layer):
    """Sum or average pooling with zero padding (average divides by ``kH*kW``, padding included)."""

    mode: str = "sum"
    kernel_size: Tuple[int, int] = (2, 2)
    stride: Tuple[int, int] = (2, 2)
    padding: Tuple[int, int] = (0, 0)
    kind = "pool2d"

    @property
    def scale(self) -> float:
        return 1.0 if self.mode == "sum" else 1.0 / (self.kernel_size[0] * self.kernel_size[1])

    def describe(self) -> str:
        return f"{self.mode} k={self.kernel_size} s={self.stride} p={self.padding}"


@dataclass
class Flatten(Layer):
    """Flatten each sample in torch's C-order (``[C, H, W] -> [C*H*W]``)."""

    kind = "flatten"


@dataclass
class Neuron(Layer):
    """A spiking population in Lava ``LIF`` form.

    ``input_scale`` multiplies the synaptic input; the tracer folds it into the preceding
    Linear/Conv when there is one, so it is 1 except after pooling-only or direct input.
    ``source`` is the snnkit class; ``spike_rule`` is ``">"`` (CubaLIF, as Lava) or ``">="``.
    """

    source: str = "CubaLIF"
    du: float = 1.0
    dv: float = 0.0
    vth: float = 1.0
    bias: float = 0.0
    input_scale: float = 1.0
    spike_rule: str = ">"
    params: Dict[str, Any] = field(default_factory=dict)
    kind = "neuron"

    def describe(self) -> str:
        s = f"{self.source}: du={self.du:.6g} dv={self.dv:.6g} vth={self.vth:.6g}"
        if self.bias:
            s += f" bias={self.bias:.6g}"
        if self.input_scale != 1.0:
            s += f" in_scale={self.input_scale:.6g}"
        return s


@dataclass
class TCJA(Layer):
    """TCJA attention on a neuron layer's spikes ``x[T, B, C, H, W]``: ``x * sigmoid(conv_t(z) * conv_c(z))``.

    ``z`` is the spatial mean of the sample's ``T`` steps, so the gate at step ``t`` depends on the
    whole sample (not causal in time). Not native to Loihi: it multiplies run-time activations.
    ``weight_t[C, C, kernel_t]`` slides along T, ``weight_c[T, T, kernel_c]`` along C (either may be
    ``None`` for the single-branch ablations); ``T`` is fixed by the block.
    """

    T: int = 1
    weight_t: Optional[np.ndarray] = None
    weight_c: Optional[np.ndarray] = None
    mode: str = "tcja"
    kind = "tcja"
    native = False

    @property
    def channels(self) -> int:
        return int(self.in_shape[0])

    def describe(self) -> str:
        kt = None if self.weight_t is None else self.weight_t.shape[-1]
        kc = None if self.weight_c is None else self.weight_c.shape[-1]
        return (f"TCJA T={self.T} C={self.channels} kernel_t={kt} kernel_c={kc} mode={self.mode} "
                "(not native to Loihi: host process, graded output, latency T steps)")


SYNAPSE_KINDS = (Dense, Conv2d, Pool2d, Flatten)


@dataclass
class Stage:
    """The synapse ops feeding one neuron layer (possibly none) and the neuron layer itself.

    ``pre`` is a non-native host op (:class:`TCJA`) applied to the previous neuron layer's spikes
    before the synapses (``None`` for most stages).
    """

    index: int
    synapses: List[Layer]
    neuron: Neuron
    pre: Optional[Layer] = None

    @property
    def in_shape(self) -> Shape:
        return self.synapses[0].in_shape if self.synapses else self.neuron.in_shape

    @property
    def weighted(self) -> List[Layer]:
        return [s for s in self.synapses if isinstance(s, (Dense, Conv2d))]

    def torch_fn(self, with_bias: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
        """The stage's synapse chain as a torch function on ``[N, *in_shape]`` (float64), input_scale applied."""
        ops = list(self.synapses)
        scale = self.neuron.input_scale

        def fn(x: torch.Tensor) -> torch.Tensor:
            for op in ops:
                x = apply_op(op, x, with_bias=with_bias)
            return x * scale if scale != 1.0 else x

        return fn

    def affine(self) -> Tuple[Callable[[torch.Tensor], torch.Tensor], np.ndarray]:
        """(linear part, bias vector over the flattened output) of the synapse chain."""
        lin = self.torch_fn(with_bias=False)
        full = self.torch_fn(with_bias=True)
        zero = torch.zeros((1,) + tuple(self.in_shape), dtype=torch.float64)
        with torch.no_grad():
            b = full(zero).reshape(-1).numpy().copy()
        return lin, b

    def matrix(self):
        """The linear part as a ``scipy.sparse.csr_matrix[out, in]`` in torch flatten order.

        Built by multiplying the ops' own sparse matrices (:func:`op_matrix`), so it costs the
        number of synapses, not ``n_in`` probes of the whole chain. Exact zeros are dropped.
        """
        import scipy.sparse as sp

        n_in = int(np.prod(self.in_shape))
        m = sp.identity(n_in, dtype=np.float64, format="csr")
        for op in self.synapses:
            if not isinstance(op, Flatten):
                m = (op_matrix(op) @ m).tocsr()
        if self.neuron.input_scale != 1.0:
            m = m * self.neuron.input_scale
        m = m.tocsr()
        m.eliminate_zeros()
        m.sort_indices()
        return m


def _window_matrix(in_shape: Shape, out_shape: Shape, kernel: Tuple[int, int], stride: Tuple[int, int],
                   padding: Tuple[int, int], dilation: Tuple[int, int], taps) -> Any:
    """COO matrix of a 2-D windowed op: ``taps(ky, kx)`` yields ``(out_channel[], in_channel[], value[])``."""
    import scipy.sparse as sp

    C, H, W = in_shape
    O, Ho, Wo = out_shape
    oy, ox = np.arange(Ho), np.arange(Wo)
    rows, cols, vals = [], [], []
    for ky in range(kernel[0]):
        iy = oy * stride[0] - padding[0] + ky * dilation[0]
        vy = (iy >= 0) & (iy < H)
        for kx in range(kernel[1]):
            ix = ox * stride[1] - padding[1] + kx * dilation[1]
            vx = (ix >= 0) & (ix < W)
            if not vy.any() or not vx.any():
                continue
            pos_out = (oy[vy][:, None] * Wo + ox[vx][None, :]).ravel()
            pos_in = (iy[vy][:, None] * W + ix[vx][None, :]).ravel()
            for o, c, v in taps(ky, kx):
                rows.append((o[:, None] * (Ho * Wo) + pos_out[None, :]).ravel())
                cols.append((c[:, None] * (H * W) + pos_in[None, :]).ravel())
                vals.append(np.repeat(v, pos_out.size))
    n_out, n_in = O * Ho * Wo, C * H * W
    if not rows:
        return sp.csr_matrix((n_out, n_in))
    m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in))
    return m.tocsr()  # duplicates (none for these ops) would be summed


def op_matrix(op: Layer) -> Any:
    """One synapse op (no bias) as a ``scipy.sparse.csr_matrix[out, in]`` in torch flatten order."""
    import scipy.sparse as sp

    if isinstance(op, Dense):
        return sp.csr_matrix(np.asarray(op.weight, dtype=np.float64))
    if isinstance(op, Flatten):
        return sp.identity(int(np.prod(op.in_shape)), dtype=np.float64, format="csr")
    if isinstance(op, Conv2d):
        w = np.asarray(op.weight, dtype=np.float64)
        O, Ig = w.shape[:2]
        Og = O // op.groups
        o = np.arange(O)

        def conv_taps(ky: int, kx: int):
            for i in range(Ig):
                yield o, (o // Og) * Ig + i, w[:, i, ky, kx]

        return _window_matrix(op.in_shape, op.out_shape, w.shape[2:], op.stride, op.padding, op.dilation, conv_taps)
    if isinstance(op, Pool2d):
        C = op.in_shape[0]
        c = np.arange(C)
        val = np.full(C, op.scale)

        def pool_taps(ky: int, kx: int):
            yield c, c, val

        return _window_matrix(op.in_shape, op.out_shape, op.kernel_size, op.stride, op.padding, (1, 1), pool_taps)
    raise TypeError(f"op_matrix: not a synapse op: {type(op).__name__}")


def apply_op(op: Layer, x: torch.Tensor, with_bias: bool = True) -> torch.Tensor:
    """Apply one synapse op to ``x[N, *in_shape]`` in float64."""
    if isinstance(op, Dense):
        w = torch.as_tensor(op.weight, dtype=x.dtype)
        b = torch.as_tensor(op.bias, dtype=x.dtype) if (with_bias and op.bias is not None) else None
        return tF.linear(x, w, b)
    if isinstance(op, Conv2d):
        w = torch.as_tensor(op.weight, dtype=x.dtype)
        b = torch.as_tensor(op.bias, dtype=x.dtype) if (with_bias and op.bias is not None) else None
        return tF.conv2d(x, w, b, op.stride, op.padding, op.dilation, op.groups)
    if isinstance(op, Pool2d):
        return tF.avg_pool2d(x, op.kernel_size, op.stride, op.padding, ceil_mode=False, count_include_pad=True,
                             divisor_override=1) * op.scale
    if isinstance(op, Flatten):
        return x.flatten(1)
    raise TypeError(f"apply_op: not a synapse op: {type(op).__name__}")


@dataclass
class LayerGraph:
    """A traced model: ``layers[0]`` is the Input; ``readout`` holds host-side modules after the last neuron."""

    layers: List[Layer]
    readout: List[Tuple[str, nn.Module]] = field(default_factory=list)

    @property
    def input_shape(self) -> Shape:
        return self.layers[0].out_shape

    def neurons(self) -> List[Neuron]:
        return [layer for layer in self.layers if isinstance(layer, Neuron)]

    def stages(self) -> List[Stage]:
        stages, pending = [], []
        pre: Optional[Layer] = None
        for layer in self.layers[1:]:
            if isinstance(layer, Neuron):
                stages.append(Stage(len(stages), pending, layer, pre))
                pending, pre = [], None
            elif isinstance(layer, TCJA):
                pre = layer  # the tracer guarantees it directly follows a neuron layer
            else:
                pending.append(layer)
        return stages

    def non_native(self) -> List[Layer]:
        """Layers Loihi cannot run natively (executed as custom host processes in Lava)."""
        return [layer for layer in self.layers if not layer.native]

    def apply_readout(self, spikes: torch.Tensor) -> torch.Tensor:
        """Run the host-side readout (in float64) on the last layer's spikes ``[T, B, ...]`` (identity if none)."""
        import copy

        y = spikes.double()
        with torch.no_grad():
            for _, mod in self.readout:
                m = copy.deepcopy(mod).double().eval()
                if getattr(m, "step_mode", "s") == "m":
                    y = m(y)
                else:  # plain torch layer: fold time into the batch
                    T, B = y.shape[:2]
                    z = m(y.reshape((T * B,) + tuple(y.shape[2:])))
                    y = z.reshape((T, B) + tuple(z.shape[1:]))
        return y

    def summary(self) -> str:
        rows = [f"{'#':>3}  {'kind':8} {'name':24} {'in':>16} {'out':>16}  info"]
        for i, layer in enumerate(self.layers):
            rows.append(f"{i:>3}  {layer.kind:8} {layer.name[:24]:24} {str(tuple(layer.in_shape)):>16} "
                        f"{str(tuple(layer.out_shape)):>16}  {layer.describe()}")
        for name, mod in self.readout:
            rows.append(f"{'':>3}  {'readout':8} {name[:24]:24} {'':>16} {'':>16}  {type(mod).__name__} (host)")
        return "\n".join(rows)

    def to_dict(self) -> Dict[str, Any]:
        return {"layers": [layer.to_dict() for layer in self.layers],
                "readout": [{"name": n, "module": type(m).__name__} for n, m in self.readout]}

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- tracing


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _classes():
    """snnkit classes the tracer knows (imported lazily so a partial checkout still traces basics)."""
    from snnkit import neurons

    out: Dict[str, Any] = {"CubaLIF": neurons.CubaLIF, "LIF": neurons.LIF, "PLIF": neurons.PLIF, "IF": neurons.IF}
    try:
        from snnkit import layers as L

        for name in ("TimeDistributed", "SpikingLinear", "SpikingConv2d", "SumPool2d", "Flatten", "VotingLayer",
                     "TemporalDropout"):
            if hasattr(L, name):
                out[name] = getattr(L, name)
    except ImportError:  # pragma: no cover - layers.py is part of the package
        pass
    try:
        from snnkit.attention import TCJA

        out["TCJA"] = TCJA
    except ImportError:  # pragma: no cover
        pass
    try:
        from snnkit.models.tcja_snn import TCJASNN

        out["TCJASNN"] = TCJASNN
    except ImportError:  # pragma: no cover
        pass
    return out


_NOT_NATIVE = {
    "LayerNorm": "LayerNorm divides by a per-sample standard deviation computed at run time; Loihi synapses only "
                 "sum weight x spike",
    "GroupNorm": "GroupNorm normalises by per-sample statistics computed at run time",
    "MultiheadAttention": "attention multiplies activations with each other (Q K^T), which Loihi synapses cannot do",
    "MaxPool2d": "max pooling is not a weighted sum, and Loihi has no native max; use snnkit.layers.SumPool2d or "
                 "AvgPool2d",
    "MaxPool1d": "max pooling is not a weighted sum; use sum or average pooling",
    "ReLU": "a ReLU between layers makes a non-spiking (analog) layer; Loihi layers communicate with spikes",
    "Sigmoid": "a sigmoid is an analog non-linearity; Loihi layers communicate with spikes",
    "Tanh": "a tanh is an analog non-linearity; Loihi layers communicate with spikes",
    "GELU": "an analog non-linearity; Loihi layers communicate with spikes",
}


# every torch dropout (Dropout, Dropout1d/2d/3d, AlphaDropout...): the identity at inference
_DROPOUT = (nn.modules.dropout._DropoutNd,)


def _reject(path: str, mod: nn.Module, why: str) -> ValueError:
    return ValueError(f"cannot map module {path or '<model>'!r} ({type(mod).__name__}) to Loihi: {why}")


def _walk(mod: nn.Module, path: str, cls: Dict[str, Any]) -> Iterator[Tuple[str, nn.Module]]:
    """Yield leaf ops in execution order, expanding containers and snnkit blocks."""
    if type(mod) is nn.Sequential or isinstance(mod, nn.Sequential):
        for name, child in mod.named_children():
            yield from _walk(child, _join(path, name), cls)
        return
    if "TimeDistributed" in cls and isinstance(mod, cls["TimeDistributed"]):
        yield from _walk(mod.module, _join(path, "module"), cls)
        return
    if "TCJASNN" in cls and isinstance(mod, cls["TCJASNN"]):  # forward = classifier(features(x))
        yield from _walk(mod.features, _join(path, "features"), cls)
        yield from _walk(mod.classifier, _join(path, "classifier"), cls)
        return
    for block in ("SpikingLinear", "SpikingConv2d"):
        if block in cls and isinstance(mod, cls[block]):
            syn = "linear" if block == "SpikingLinear" else "conv"
            yield from _walk(getattr(mod, syn), _join(path, syn), cls)
            yield from _walk(mod.bn, _join(path, "bn"), cls)
            yield from _walk(mod.neuron, _join(path, "neuron"), cls)
            return
    yield path, mod


def _pair(v: Any) -> Tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected 2 values, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _np(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().to("cpu", torch.float64).numpy().copy()


def _conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _neuron(path: str, mod: nn.Module, shape: Shape, cls: Dict[str, Any]) -> Neuron:
    name = type(mod).__name__
    if getattr(mod, "graded", False):
        raise _reject(path, mod, "graded=True emits the potential as payload; Lava's LIF emits binary spikes")
    if isinstance(mod, cls["CubaLIF"]):
        return Neuron(path, shape, shape, source="CubaLIF", du=mod.du, dv=mod.dv, vth=mod.v_threshold,
                      bias=mod.bias, input_scale=1.0, spike_rule=">",
                      params={"du": mod.du, "dv": mod.dv, "v_threshold": mod.v_threshold, "bias": mod.bias})
    if getattr(mod, "reset_delay", False):
        raise _reject(path, mod, "reset_delay=True (snnTorch's delayed subtract reset, v_threshold / beta taken off "
                                 "after a spike) has no Lava LIF equivalent; Lava's LIF resets v to 0: train with "
                                 "reset_delay=False, v_reset=0.0 (reset_delay=True refuses a hard reset)")
    v_reset = getattr(mod, "v_reset", 0.0)
    if v_reset is None:
        raise _reject(path, mod, "soft reset (v_reset=None, subtract threshold) has no Lava LIF equivalent; "
                                 "Lava's LIF resets v to 0: train with v_reset=0.0")
    if v_reset != 0.0:
        raise _reject(path, mod, f"v_reset={v_reset} but Lava's LIF resets v to 0: train with v_reset=0.0")
    vth = float(mod.v_threshold)
    if isinstance(mod, cls["IF"]):
        return Neuron(path, shape, shape, source="IF", du=1.0, dv=0.0, vth=vth, spike_rule=">=",
                      params={"v_threshold": vth})
    if isinstance(mod, cls["PLIF"]):
        k = float(torch.sigmoid(mod.w.detach().double()))
        return Neuron(path, shape, shape, source="PLIF", du=1.0, dv=k, vth=vth,
                      input_scale=k if mod.decay_input else 1.0, spike_rule=">=",
                      params={"tau": 1.0 / k, "decay_input": mod.decay_input, "v_threshold": vth})
    if isinstance(mod, cls["LIF"]):
        k = 1.0 / float(mod.tau)
        return Neuron(path, shape, shape, source="LIF", du=1.0, dv=k, vth=vth,
                      input_scale=k if mod.decay_input else 1.0, spike_rule=">=",
                      params={"tau": float(mod.tau), "decay_input": mod.decay_input, "v_threshold": vth})
    raise _reject(path, mod, f"unknown neuron type {name}")  # pragma: no cover


def _fold_bn(path: str, mod: nn.Module, prev: Optional[Layer], prev_path_ok: bool) -> None:
    if not prev_path_ok or not isinstance(prev, (Dense, Conv2d)):
        raise _reject(path, mod, "BatchNorm can only be folded into a directly preceding Linear or Conv2d "
                                 f"(found {type(prev).__name__ if prev is not None else 'nothing'} before it)")
    if mod.running_mean is None or mod.running_var is None:
        raise _reject(path, mod, "track_running_stats=False: there are no eval statistics to fold")
    n = prev.weight.shape[0]
    if mod.num_features != n:
        raise _reject(path, mod, f"num_features={mod.num_features} but the preceding layer has {n} outputs")
    mean, var = _np(mod.running_mean), _np(mod.running_var)
    gamma = _np(mod.weight) if mod.weight is not None else np.ones(n)
    beta = _np(mod.bias) if mod.bias is not None else np.zeros(n)
    scale = gamma / np.sqrt(var + mod.eps)
    bias = prev.bias if prev.bias is not None else np.zeros(n)
    prev.weight = prev.weight * scale.reshape((-1,) + (1,) * (prev.weight.ndim - 1))
    prev.bias = (bias - mean) * scale + beta
    prev.name = f"{prev.name}+{path}"


def _trace_unfolded(model: nn.Module, input_shape: Sequence[int]) -> LayerGraph:
    """Trace without folding input scales (see :func:`trace`)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"trace: model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        shape: Shape = tuple(int(s) for s in input_shape)
        if any(int(s) != s for s in input_shape):  # 3.5 -> 3 would trace a different network
            raise TypeError
    except TypeError:
        raise TypeError(f"trace: input_shape must be a sequence of ints (one sample, no time/batch), "
                        f"got {input_shape!r}") from None
    if not shape or any(s <= 0 for s in shape) or len(shape) not in (1, 3):
        raise ValueError(f"trace: input_shape must be (features,) or (C, H, W) with positive sizes "
                         f"(one sample, no time/batch axis), got {tuple(input_shape)!r}")
    cls = _classes()
    layers: List[Layer] = [Input("input", shape, shape)]
    readout: List[Tuple[str, nn.Module]] = []
    last_op_path_ok = False  # whether the previous leaf was the Dense/Conv a BatchNorm may fold into
    ops = list(_walk(model, "", cls))
    # everything after the last neuron is a host-side readout
    neuron_types = tuple(cls[k] for k in ("CubaLIF", "LIF", "PLIF", "IF"))
    last_neuron = max((i for i, (_, m) in enumerate(ops) if isinstance(m, neuron_types)), default=-1)
    if last_neuron < 0:
        raise ValueError("cannot map the model to Loihi: it has no spiking neuron layer "
                         "(snnkit.CubaLIF, LIF, PLIF or IF)")
    for i, (path, mod) in enumerate(ops):
        if i > last_neuron:
            _check_readout(path, mod, cls)
            readout.append((path, mod))
            continue
        prev = layers[-1]
        cur = prev.out_shape
        tname = type(mod).__name__
        if isinstance(mod, (nn.Identity, _DROPOUT)) or ("TemporalDropout" in cls and isinstance(mod, cls["TemporalDropout"])):
            continue  # identity at inference
        if isinstance(mod, neuron_types):
            layers.append(_neuron(path, mod, cur, cls))
            last_op_path_ok = False
            continue
        if isinstance(mod, nn.Linear):
            if len(cur) != 1:
                raise _reject(path, mod, f"Linear receives a per-sample shape {cur}; it would act on the last dim "
                                         "only. Add snnkit.layers.Flatten() before it")
            if cur[0] != mod.in_features:
                raise _reject(path, mod, f"in_features={mod.in_features} but the incoming shape is {cur}")
            layers.append(Dense(path, cur, (mod.out_features,), weight=_np(mod.weight), bias=_np(mod.bias)))
            last_op_path_ok = True
            continue
        if isinstance(mod, nn.Conv2d):
            layers.append(_conv(path, mod, cur))
            last_op_path_ok = True
            continue
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            _fold_bn(path, mod, prev, last_op_path_ok)
            continue
        if ("SumPool2d" in cls and isinstance(mod, cls["SumPool2d"])) or isinstance(mod, nn.AvgPool2d):
            layers.append(_pool(path, mod, cur, "sum" if not isinstance(mod, nn.AvgPool2d) else "avg"))
            last_op_path_ok = False
            continue
        if isinstance(mod, nn.AdaptiveAvgPool2d):
            layers.append(_adaptive_pool(path, mod, cur))
            last_op_path_ok = False
            continue
        if isinstance(mod, nn.Flatten) or ("Flatten" in cls and isinstance(mod, cls["Flatten"])):
            if isinstance(mod, nn.Flatten) and (mod.start_dim, mod.end_dim) != (1, -1) and not (
                    "Flatten" in cls and isinstance(mod, cls["Flatten"])):
                raise _reject(path, mod, f"only per-sample flattening (start_dim=1, end_dim=-1) maps; got "
                                         f"start_dim={mod.start_dim}, end_dim={mod.end_dim}")
            if len(cur) > 1:
                layers.append(Flatten(path, cur, (int(np.prod(cur)),)))
            last_op_path_ok = False
            continue
        if "TCJA" in cls and isinstance(mod, cls["TCJA"]):
            layers.append(_tcja(path, mod, prev))
            last_op_path_ok = False
            continue
        if tname in _NOT_NATIVE:
            raise _reject(path, mod, _NOT_NATIVE[tname])
        if "VotingLayer" in cls and isinstance(mod, cls["VotingLayer"]):
            raise _reject(path, mod, "VotingLayer averages analog values; it is only supported after the last "
                                     "neuron layer (as a host-side readout)")
        if list(mod.children()):
            raise _reject(path, mod, "custom container: only nn.Sequential, TimeDistributed and snnkit's Spiking* "
                                     "blocks are traced (its forward() is not inspected); rewrite it as nn.Sequential")
        raise _reject(path, mod, f"no Loihi mapping for {tname}")
    return LayerGraph(layers, readout)


def _tcja(path: str, mod: nn.Module, prev: Layer) -> TCJA:
    """A TCJA block -> a non-native :class:`TCJA` layer (it must act on a neuron layer's spikes)."""
    if not isinstance(prev, Neuron):
        raise _reject(path, mod, "TCJA attention gates x with sigmoid(A * B), a product of two run-time activations, "
                                 "so it runs as a host process that needs the spikes of a neuron layer; here it "
                                 "follows "
                                 f"{type(prev).__name__ if not isinstance(prev, Input) else 'the network input'} "
                                 "(put it directly after a spiking neuron layer)")
    cur = prev.out_shape
    if len(cur) != 3:
        raise _reject(path, mod, f"TCJA needs a per-sample shape (C, H, W), got {cur}")
    if cur[0] != mod.channels:
        raise _reject(path, mod, f"channels={mod.channels} but the incoming shape is {cur}")
    wt = None if mod.conv_t is None else _np(mod.conv_t.weight)
    wc = None if mod.conv_c is None else _np(mod.conv_c.weight)
    return TCJA(path, cur, cur, T=int(mod.T), weight_t=wt, weight_c=wc, mode=str(mod.mode))


def _check_readout(path: str, mod: nn.Module, cls: Dict[str, Any]) -> None:
    if "TCJA" in cls and isinstance(mod, cls["TCJA"]):
        raise _reject(path, mod, "TCJA after the last neuron layer is not supported: it is mapped as a host process "
                                 "between two neuron layers (its gated, graded output must feed a synapse layer)")
    ok = (nn.Linear, nn.Identity, _DROPOUT, nn.Flatten, nn.AvgPool2d)
    extra = tuple(cls[k] for k in ("VotingLayer", "Flatten", "SumPool2d", "TemporalDropout") if k in cls)
    if not isinstance(mod, ok + extra):
        raise _reject(path, mod, "after the last neuron layer only stateless readout ops (Linear, Flatten, "
                                 "VotingLayer, pooling) are run on the host")


def _conv(path: str, mod: nn.Conv2d, cur: Shape) -> Conv2d:
    if len(cur) != 3:
        raise _reject(path, mod, f"Conv2d needs a per-sample shape (C, H, W), got {cur}")
    if mod.padding_mode != "zeros":
        raise _reject(path, mod, f"padding_mode={mod.padding_mode!r}; Loihi convolutions pad with zeros")
    C, H, W = cur
    if C != mod.in_channels:
        raise _reject(path, mod, f"in_channels={mod.in_channels} but the incoming shape is {cur}")
    k, s, d = _pair(mod.kernel_size), _pair(mod.stride), _pair(mod.dilation)
    if isinstance(mod.padding, str):
        if mod.padding == "valid":
            p = (0, 0)
        else:  # 'same' (stride 1 only in torch)
            tot = [d[i] * (k[i] - 1) for i in range(2)]
            if any(t % 2 for t in tot):
                raise _reject(path, mod, "padding='same' with an even effective kernel pads asymmetrically; "
                                         "Loihi's Conv pads symmetrically")
            p = (tot[0] // 2, tot[1] // 2)
    else:
        p = _pair(mod.padding)
    out = (mod.out_channels, _conv_out(H, k[0], s[0], p[0], d[0]), _conv_out(W, k[1], s[1], p[1], d[1]))
    if out[1] <= 0 or out[2] <= 0:
        raise _reject(path, mod, f"the output would be empty for input shape {cur}")
    return Conv2d(path, cur, out, weight=_np(mod.weight), bias=_np(mod.bias), stride=s, padding=p, dilation=d,
                  groups=int(mod.groups))


def _pool(path: str, mod: nn.Module, cur: Shape, mode: str) -> Pool2d:
    if len(cur) != 3:
        raise _reject(path, mod, f"pooling needs a per-sample shape (C, H, W), got {cur}")
    k = _pair(mod.kernel_size)
    s = _pair(mod.stride if mod.stride is not None else mod.kernel_size)
    p = _pair(mod.padding)
    if isinstance(mod, nn.AvgPool2d):
        if mod.ceil_mode:
            raise _reject(path, mod, "ceil_mode=True makes partial windows; use ceil_mode=False")
        if mod.divisor_override is not None:
            if mod.divisor_override == 1:
                mode = "sum"
            elif mod.divisor_override != k[0] * k[1]:
                raise _reject(path, mod, f"divisor_override={mod.divisor_override} is not supported")
        if not mod.count_include_pad and any(p):
            raise _reject(path, mod, "count_include_pad=False with padding divides border windows differently")
    C, H, W = cur
    out = (C, _conv_out(H, k[0], s[0], p[0]), _conv_out(W, k[1], s[1], p[1]))
    if out[1] <= 0 or out[2] <= 0:
        raise _reject(path, mod, f"the output would be empty for input shape {cur} (kernel {k}, padding {p})")
    return Pool2d(path, cur, out, mode=mode, kernel_size=k, stride=s, padding=p)


def _adaptive_pool(path: str, mod: nn.AdaptiveAvgPool2d, cur: Shape) -> Pool2d:
    """An adaptive average pooling whose output divides its input: the average pooling it equals (k = in / out).

    Other sizes average windows of unequal, overlapping sizes, which no pooling layer (one kernel,
    one stride) describes; TCJA-SNN's ``resize`` 128 -> 48 is one (CIFAR10-DVS)."""
    if len(cur) != 3:
        raise _reject(path, mod, f"pooling needs a per-sample shape (C, H, W), got {cur}")
    C, H, W = cur
    size = mod.output_size if isinstance(mod.output_size, tuple) else (mod.output_size, mod.output_size)
    oh, ow = (H if size[0] is None else int(size[0])), (W if size[1] is None else int(size[1]))
    if H % oh or W % ow:
        raise _reject(path, mod, f"{H}x{W} -> {oh}x{ow} averages windows of unequal sizes (only sizes that divide "
                                 "the input map, as average pooling); resize the frames before the network instead: "
                                 f"in a TCJA-SNN config, resize: null and input_size: [{oh}, {ow}] (the data pipeline "
                                 "then scales the events), and retrain")
    k = (H // oh, W // ow)
    return Pool2d(path, cur, (C, oh, ow), mode="avg", kernel_size=k, stride=k, padding=(0, 0))


def fold_input_scales(graph: LayerGraph) -> LayerGraph:
    """Fold each neuron's ``input_scale`` into the last Linear/Conv of its synapse chain (in place)."""
    for stage in graph.stages():
        n = stage.neuron
        if n.input_scale == 1.0:
            continue
        weighted = stage.weighted
        if not weighted:
            continue  # kept on the neuron: applied to pooling weights or to the input data
        last = weighted[-1]
        # ops after `last` are bias-free linear (pool, flatten): the scale commutes with them
        last.weight = last.weight * n.input_scale
        if last.bias is not None:
            last.bias = last.bias * n.input_scale
        n.input_scale = 1.0
    return graph


def trace(model: nn.Module, input_shape: Sequence[int], fold: bool = True) -> LayerGraph:
    """Trace ``model`` for one sample of ``input_shape`` into a :class:`LayerGraph`.

    ``model`` is an ``nn.Sequential`` (possibly nested) of torch layers, ``TimeDistributed`` wrappers,
    snnkit's ``SpikingLinear``/``SpikingConv2d`` blocks, pooling, Flatten, BatchNorm and snnkit
    neurons. ``input_shape`` excludes time and batch: ``(features,)`` or ``(C, H, W)``. With
    ``fold=True`` (default) each LIF/PLIF ``1/tau`` input scale is folded into the preceding
    Linear/Conv weights and bias. Raises ``ValueError`` naming the first module (its path in the
    model) that has no Loihi mapping, and why.
    """
    g = _trace_unfolded(model, input_shape)
    return fold_input_scales(g) if fold else g


def is_binary(x: np.ndarray) -> bool:
    """Whether every entry is 0 or 1 (spikes), so a connection can use unary (1-bit) messages."""
    return bool(np.all((x == 0) | (x == 1)))
