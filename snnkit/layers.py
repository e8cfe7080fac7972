"""Layers for spiking networks: time-distributed torch layers, BatchNorm through time, spiking
blocks, pooling, voting and dropout with one mask per sample.

Multi-step mode (``step_mode="m"``) takes ``x[T, B, ...]``: a stateless layer folds T into the
batch (``x[T*B, ...]``), runs once and unfolds, so every time step sees the same weights and, for
BatchNorm, the same statistics (SpikingJelly's ``SeqToANNContainer`` / ``layer.BatchNorm2d(step_mode="m")``).
Single-step mode (``"s"``) takes ``x[B, ...]`` and is exactly the torch layer. The pooling,
BatchNorm and Flatten classes subclass their torch counterparts, so ``isinstance`` checks,
state dicts and exporters that know the torch layer keep working.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as tF
from torch.nn.modules.utils import _pair

from .base import StatefulModule, check_step_mode
from .neurons import LIF
from .kernels.cpu.pool import pool2x2
from .functional.validation import is_int

Tensor = torch.Tensor
NeuronLike = Union[None, nn.Module, Callable[[], nn.Module]]
IntPair = Union[int, Tuple[int, int]]

__all__ = [
    "time_distributed",
    "sum_pool2d",
    "vote",
    "dropout_mask",
    "TimeDistributed",
    "BatchNorm1d",
    "BatchNorm2d",
    "SpikingLinear",
    "SpikingConv2d",
    "MaxPool2d",
    "AvgPool2d",
    "SumPool2d",
    "Flatten",
    "TemporalDropout",
    "VotingLayer",
]


# --------------------------------------------------------------------------- checks


def _check_tensor(x: object, name: str, floating: bool = True) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: input must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name}: input must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_rank(x: Tensor, name: str, ranks: Sequence[int], layout: str, step_mode: str) -> None:
    if x.ndim not in ranks:
        mode = "multi-step" if step_mode == "m" else "single-step"
        raise ValueError(f"{name}: {mode} input must be {layout}, got shape {tuple(x.shape)} ({x.ndim} dims)")


def _check_min_rank(x: Tensor, name: str, min_rank: int, layout: str, step_mode: str) -> None:
    if x.ndim < min_rank:
        mode = "multi-step" if step_mode == "m" else "single-step"
        raise ValueError(f"{name}: {mode} input must be {layout} (at least {min_rank} dims), "
                         f"got shape {tuple(x.shape)}")


def _check_int(val: object, arg: str, name: str, minimum: int = 1) -> int:
    if not is_int(val):
        raise TypeError(f"{name}: {arg} must be an int, got {val!r} ({type(val).__name__})")
    if val < minimum:
        raise ValueError(f"{name}: {arg} must be >= {minimum}, got {val}")
    return val


# --------------------------------------------------------------------------- functional core


def _unfold(y: Any, T: int, B: int, name: str) -> Any:
    if isinstance(y, torch.Tensor):
        if y.ndim < 1 or y.shape[0] != T * B:
            raise ValueError(f"{name}: the wrapped layer must keep the folded batch dimension T*B={T * B} "
                             f"first, but returned shape {tuple(y.shape)}")
        return y.reshape(T, B, *y.shape[1:])
    if isinstance(y, tuple):
        return tuple(_unfold(t, T, B, name) for t in y)
    raise TypeError(f"{name}: the wrapped layer must return a tensor or a tuple of tensors, got {type(y).__name__}")


def time_distributed(x: Tensor, fn: Callable[[Tensor], Any], name: str = "time_distributed") -> Any:
    """Apply a stateless ``fn`` to all time steps at once: fold ``x[T, B, ...]`` to ``[T*B, ...]``, apply, unfold."""
    _check_tensor(x, name, floating=False)
    if x.ndim < 2:
        raise ValueError(f"{name}: multi-step input must be time-major [T, B, ...] (at least 2 dims), "
                         f"got shape {tuple(x.shape)}")
    T, B = x.shape[0], x.shape[1]
    return _unfold(fn(x.flatten(0, 1)), T, B, name)


def sum_pool2d(x: Tensor, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0) -> Tensor:
    """Sum over each pooling window (``avg * kH*kW`` with zero padding), the pooling Loihi and NIR support natively."""
    stride = kernel_size if stride is None else stride
    return tF.avg_pool2d(x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=1)


def vote(x: Tensor, voting_size: int) -> Tensor:
    """Average consecutive groups of ``voting_size`` entries of the last dim: ``[..., C*voting_size] -> [..., C]``."""
    _check_tensor(x, "vote")
    _check_int(voting_size, "voting_size", "vote")
    n = x.shape[-1] if x.ndim else 0
    if x.ndim == 0 or n % voting_size != 0:
        raise ValueError(f"vote: the last dim ({n}) of input shape {tuple(x.shape)} must be a multiple of "
                         f"voting_size={voting_size} (classes * neurons per class)")
    return x.unflatten(-1, (n // voting_size, voting_size)).mean(-1)


def _check_p(p: object, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name}: p must be a number in [0, 1), got {p!r}")
    if not 0 <= p < 1:
        raise ValueError(f"{name}: p must be in [0, 1) (probability to drop), got {p}")
    return float(p)


def dropout_mask(
    shape: Sequence[int], p: float, *, dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device, None] = None, generator: Optional[torch.Generator] = None,
) -> Tensor:
    """A dropout mask: 0 with probability ``p``, else ``1/(1-p)`` so the expected value is 1."""
    p = _check_p(p, "dropout_mask")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"dropout_mask: generator must be a torch.Generator or None, got {type(generator).__name__}")
    gen_device = generator.device if generator is not None else device
    keep_prob = torch.full(tuple(shape), 1.0 - p, dtype=torch.float32, device=gen_device)
    keep = torch.bernoulli(keep_prob, generator=generator)
    return keep.to(dtype=dtype, device=device) / (1.0 - p)  # scale in the target dtype (float64 stays exact)


# --------------------------------------------------------------------------- time-distributed layers


class _TimeFolded:
    """Mixin over a stateless torch layer: multi-step folds T into the batch; single step is the torch layer."""

    step_mode: str
    _seq_ranks: Tuple[int, ...] = ()  # allowed ranks of x[T, B, ...]; empty means any >= 2
    _seq_layout: str = "[T, B, ...]"

    def _init_step_mode(self, step_mode: str) -> None:
        self.step_mode = check_step_mode(step_mode)

    def forward(self, x: Tensor) -> Any:
        name = type(self).__name__
        _check_tensor(x, name)
        if self.step_mode == "s":
            return self._layer_forward(x)
        if self._seq_ranks:
            _check_rank(x, name, self._seq_ranks, self._seq_layout, "m")
        return time_distributed(x, self._layer_forward, name)

    def _layer_forward(self, x: Tensor) -> Any:
        """The torch layer on one (folded) step."""
        return super().forward(x)  # type: ignore[misc]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", step_mode={self.step_mode!r}"  # type: ignore[misc]


class TimeDistributed(nn.Module):
    """Run stateless layers on every time step of ``x[T, B, ...]`` by folding T into the batch.

    Several modules are chained in an ``nn.Sequential`` (SpikingJelly's ``SeqToANNContainer(*modules)``).
    Single-step mode passes ``x[B, ...]`` straight to the layer. snnkit's own layers inside (BatchNorm,
    pooling, Flatten, ...) already fold time themselves; here they see one step ``[B, ...]`` (or the
    folded ``[T*B, ...]``), so they run in single-step mode whatever their ``step_mode``. Stateful
    layers (neurons) are refused: folding time into the batch would erase their dynamics.
    """

    def __init__(self, *modules: nn.Module, step_mode: str = "m") -> None:
        super().__init__()
        if not modules:
            raise TypeError("TimeDistributed: expected at least one torch.nn.Module, got none")
        for m in modules:
            if isinstance(m, str):
                raise TypeError(f"TimeDistributed: got the string {m!r} where a module was expected; "
                                f"pass the step mode by keyword: TimeDistributed(module, step_mode={m!r})")
            if not isinstance(m, nn.Module):
                raise TypeError(f"TimeDistributed: module must be a torch.nn.Module, got {type(m).__name__}")
        module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
        stateful = [type(m).__name__ for m in module.modules() if isinstance(m, StatefulModule)]
        if stateful:
            raise TypeError(f"TimeDistributed: module must be stateless, but it contains {', '.join(stateful)}; "
                            "apply neurons to x[T, B, ...] directly in multi-step mode")
        self.module = module
        self.step_mode = check_step_mode(step_mode)

    def _run_per_step(self, x: Tensor) -> Any:
        """Call the wrapped module with the snnkit layers inside it switched to single-step mode, then restore them."""
        inner = [m for m in self.module.modules() if isinstance(m, _PER_STEP_LAYERS)]
        modes = [m.step_mode for m in inner]
        try:
            for m in inner:
                m.step_mode = "s"
            return self.module(x)
        finally:
            for m, mode in zip(inner, modes):
                m.step_mode = mode

    def forward(self, x: Tensor) -> Any:
        if self.step_mode == "s":
            _check_tensor(x, "TimeDistributed", floating=False)
            return self._run_per_step(x)
        return time_distributed(x, self._run_per_step, "TimeDistributed")

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


class BatchNorm1d(_TimeFolded, nn.BatchNorm1d):
    """BatchNorm1d with statistics shared over time: normalises ``x[T, B, C(, L)]`` over (T, B, L) per channel."""

    _seq_ranks = (3, 4)
    _seq_layout = "[T, B, C] or [T, B, C, L]"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, step_mode: str = "m") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self._init_step_mode(step_mode)


class BatchNorm2d(_TimeFolded, nn.BatchNorm2d):
    """BatchNorm2d with statistics shared over time: normalises ``x[T, B, C, H, W]`` over (T, B, H, W) per channel."""

    _seq_ranks = (5,)
    _seq_layout = "[T, B, C, H, W]"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, step_mode: str = "m") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self._init_step_mode(step_mode)


def _is_2x2(layer: nn.Module) -> bool:
    """True when a pooling layer is a plain 2x2 stride-2 window without padding (what the CPU pooling kernel does)."""
    return (_pair(layer.kernel_size) == (2, 2) and _pair(layer.stride) == (2, 2) and _pair(layer.padding) == (0, 0)
            and not layer.ceil_mode and _pair(getattr(layer, "dilation", 1)) == (1, 1)
            and not getattr(layer, "return_indices", False) and getattr(layer, "divisor_override", None) is None)


class MaxPool2d(_TimeFolded, nn.MaxPool2d):
    """Max pooling applied to every time step of ``x[T, B, C, H, W]`` (torch's ``MaxPool2d`` arguments).

    A 2x2 stride-2 window on CPU float input runs a compiled kernel (:mod:`snnkit.kernels.cpu.pool`),
    bit for bit torch's result and gradient (same first-maximum choice) at a fraction of its time.
    """

    def _layer_forward(self, x: Tensor) -> Any:
        y = pool2x2(x, "max") if _is_2x2(self) else None
        return super()._layer_forward(x) if y is None else y

    _seq_ranks = (5,)
    _seq_layout = "[T, B, C, H, W]"

    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False,
                 step_mode: str = "m") -> None:
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self._init_step_mode(step_mode)


class AvgPool2d(_TimeFolded, nn.AvgPool2d):
    """Average pooling applied to every time step of ``x[T, B, C, H, W]`` (torch's ``AvgPool2d`` arguments).

    A 2x2 stride-2 window on CPU float input runs a compiled kernel, bit for bit torch's (as :class:`MaxPool2d`).
    """

    def _layer_forward(self, x: Tensor) -> Any:
        y = pool2x2(x, "avg") if _is_2x2(self) else None
        return super()._layer_forward(x) if y is None else y

    _seq_ranks = (5,)
    _seq_layout = "[T, B, C, H, W]"

    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Optional[int] = None,
                 step_mode: str = "m") -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        self._init_step_mode(step_mode)


class Flatten(_TimeFolded, nn.Flatten):
    """Flatten each sample: ``[T, B, ...] -> [T, B, -1]`` in multi-step, ``[B, ...] -> [B, -1]`` in single step."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__(start_dim=1, end_dim=-1)
        self._init_step_mode(step_mode)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor(x, "Flatten", floating=False)
        if self.step_mode == "m":
            _check_min_rank(x, "Flatten", 3, "[T, B, ...] with at least one feature dim", "m")
            return x.flatten(2)
        _check_min_rank(x, "Flatten", 2, "[B, ...] with at least one feature dim", "s")
        return x.flatten(1)


class SumPool2d(nn.Module):
    """Sum pooling (``AvgPool2d * kH*kW``, zero padding) on ``x[T, B, C, H, W]``: no division, as on Loihi and in NIR."""

    def __init__(self, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
                 step_mode: str = "m") -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        self.padding = _pair(padding)
        for arg, val in (("kernel_size", self.kernel_size), ("stride", self.stride)):
            for v in val:
                _check_int(v, arg, "SumPool2d", minimum=1)
        for v in self.padding:
            _check_int(v, "padding", "SumPool2d", minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"SumPool2d: padding {self.padding} must be at most half of kernel_size {self.kernel_size}")
        self.step_mode = check_step_mode(step_mode)

    def _pool(self, x: Tensor) -> Tensor:
        return sum_pool2d(x, self.kernel_size, self.stride, self.padding)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor(x, "SumPool2d")
        if self.step_mode == "s":
            _check_rank(x, "SumPool2d", (3, 4), "[B, C, H, W] or [C, H, W]", "s")
            return self._pool(x)
        _check_rank(x, "SumPool2d", (5,), "[T, B, C, H, W]", "m")
        return time_distributed(x, self._pool, "SumPool2d")

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"step_mode={self.step_mode!r}")


class VotingLayer(nn.Module):
    """Class scores from population coding: average groups of ``voting_size`` neurons (SpikingJelly's ``VotingLayer``).

    Unlike SpikingJelly (which drops a remainder silently), the last dim must be a multiple of ``voting_size``.
    """

    def __init__(self, voting_size: int = 10, step_mode: str = "m") -> None:
        super().__init__()
        self.voting_size = _check_int(voting_size, "voting_size", "VotingLayer")
        self.step_mode = check_step_mode(step_mode)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor(x, "VotingLayer")
        if self.step_mode == "m":
            _check_min_rank(x, "VotingLayer", 3, "[T, B, C*voting_size]", "m")
        else:
            _check_min_rank(x, "VotingLayer", 2, "[B, C*voting_size]", "s")
        return vote(x, self.voting_size)

    def extra_repr(self) -> str:
        return f"voting_size={self.voting_size}, step_mode={self.step_mode!r}"


# snnkit layers that fold time themselves (a nested TimeDistributed too); inside TimeDistributed they run one (folded)
# step at a time
_PER_STEP_LAYERS = (_TimeFolded, SumPool2d, VotingLayer, TimeDistributed)


class TemporalDropout(StatefulModule):
    """Dropout with one mask per sample for all time steps until :meth:`reset` (Lee et al. 2020; SpikingJelly ``Dropout``).

    The mask (0 with probability ``p``, else ``1/(1-p)``) is drawn from ``generator`` at the first
    call in training mode after a reset, with the shape of one time step ``[B, ...]``; it is reused
    for every later step and call until ``reset()``. In eval mode the layer is the identity.
    A fresh mask per time step would average the dropout away over T.
    """

    _state_attrs = ("mask",)

    def __init__(self, p: float = 0.5, generator: Optional[torch.Generator] = None, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        _check_p(p, "TemporalDropout")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"TemporalDropout: generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.p = float(p)
        self.generator = generator
        self.mask: Optional[Tensor] = None

    def reset(self) -> None:
        self.mask = None

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor(x, "TemporalDropout")
        if self.step_mode == "m":
            _check_min_rank(x, "TemporalDropout", 2, "[T, B, ...]", "m")
            shape = x.shape[1:]
        else:
            _check_min_rank(x, "TemporalDropout", 1, "[B, ...]", "s")
            shape = x.shape
        if not self.training or self.p == 0.0:
            return x
        self._thaw_state()
        if self.mask is None:
            self.mask = dropout_mask(shape, self.p, dtype=x.dtype, device=x.device, generator=self.generator)
        elif self.mask.shape != shape:
            raise ValueError(f"TemporalDropout: the mask was drawn for per-step shape {tuple(self.mask.shape)} but "
                             f"the input has per-step shape {tuple(shape)}; call snnkit.reset(net) between batches")
        return x * self.mask.to(dtype=x.dtype, device=x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}, step_mode={self.step_mode!r}"


# --------------------------------------------------------------------------- spiking blocks


def _make_neuron(neuron: NeuronLike, step_mode: str, name: str) -> nn.Module:
    """``None`` -> ``LIF()``; a module is used as is (not copied); another callable is a factory called without arguments."""
    if neuron is None:
        mod: Any = LIF(step_mode=step_mode)
    elif isinstance(neuron, nn.Module):
        mod = neuron
    elif callable(neuron):
        mod = neuron()
        if not isinstance(mod, nn.Module):
            raise TypeError(f"{name}: the neuron factory must return a torch.nn.Module, got {type(mod).__name__}")
    else:
        raise TypeError(f"{name}: neuron must be None (LIF), a torch.nn.Module or a factory returning one, "
                        f"got {type(neuron).__name__}")
    if hasattr(mod, "step_mode"):
        mod.step_mode = step_mode
    return mod


class _SpikingBlock(nn.Module):
    """Synapse (a stateless layer plus optional BatchNorm, run time-distributed) followed by a neuron."""

    bn: nn.Module
    neuron: nn.Module
    step_mode: str
    _ranks: dict  # step mode -> (min rank, max rank, layout)
    _synapse_name: str  # attribute holding the weight layer: "linear" or "conv"

    @property
    def synapse(self) -> nn.Module:
        """The weight layer (``linear`` or ``conv``)."""
        return getattr(self, self._synapse_name)

    def _synapse(self, x: Tensor) -> Tensor:
        return self.bn(self.synapse(x))

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        _check_tensor(x, name)
        lo, hi, layout = self._ranks[self.step_mode]
        if not lo <= x.ndim <= hi:
            mode = "multi-step" if self.step_mode == "m" else "single-step"
            raise ValueError(f"{name}: {mode} input must be {layout}, got shape {tuple(x.shape)} ({x.ndim} dims)")
        neuron_mode = getattr(self.neuron, "step_mode", self.step_mode)
        if neuron_mode != self.step_mode:
            raise ValueError(f"{name}: step_mode is {self.step_mode!r} but its neuron's is {neuron_mode!r}; "
                             "switch both with snnkit.set_step_mode(net, mode)")
        y = time_distributed(x, self._synapse, name) if self.step_mode == "m" else self._synapse(x)
        return self.neuron(y)

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


class SpikingLinear(_SpikingBlock):
    """Linear -> (BatchNorm1d if ``bn``) -> spiking neuron, over ``x[T, B, in_features]``.

    ``neuron`` is ``None`` (``snnkit.LIF()``), a module (used as is, so do not share one between
    blocks) or a factory such as ``snnkit.LIF`` or ``lambda: snnkit.LIF(tau=4.0)``; it is switched
    to the block's ``step_mode``. ``bias`` defaults to ``not bn`` (BatchNorm's shift replaces it).
    Without ``bn`` extra dims before the features are allowed (``[T, B, ..., in_features]``).
    """

    def __init__(self, in_features: int, out_features: int, neuron: NeuronLike = None, *, bn: bool = False,
                 bias: Optional[bool] = None, step_mode: str = "m") -> None:
        super().__init__()
        _check_int(in_features, "in_features", "SpikingLinear")
        _check_int(out_features, "out_features", "SpikingLinear")
        self.step_mode = check_step_mode(step_mode)
        self.linear = nn.Linear(in_features, out_features, bias=(not bn) if bias is None else bool(bias))
        self.bn = nn.BatchNorm1d(out_features) if bn else nn.Identity()
        self.neuron = _make_neuron(neuron, self.step_mode, "SpikingLinear")
        big = 2 if bn else 64  # BatchNorm1d needs the features in dim 1 of the folded input
        self._ranks = {"m": (3, big + 1, "[T, B, in_features]" if bn else "[T, B, ..., in_features]"),
                       "s": (2, big, "[B, in_features]" if bn else "[B, ..., in_features]")}

    _synapse_name = "linear"


class SpikingConv2d(_SpikingBlock):
    """Conv2d -> BatchNorm2d (if ``bn``) -> spiking neuron over ``x[T, B, C, H, W]``; conv and BN are folded over time.

    The conv-BN-LIF unit of TCJA-SNN and SEW/Spiking ResNets. ``neuron`` as in :class:`SpikingLinear`;
    ``bias`` defaults to ``not bn``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: Union[IntPair, str] = 0, neuron: NeuronLike = None, bn: bool = True, *,
                 bias: Optional[bool] = None, dilation: IntPair = 1, groups: int = 1, step_mode: str = "m") -> None:
        super().__init__()
        _check_int(in_channels, "in_channels", "SpikingConv2d")
        _check_int(out_channels, "out_channels", "SpikingConv2d")
        self.step_mode = check_step_mode(step_mode)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                                 bias=(not bn) if bias is None else bool(bias))
        self.bn = nn.BatchNorm2d(out_channels) if bn else nn.Identity()
        self.neuron = _make_neuron(neuron, self.step_mode, "SpikingConv2d")
        self._ranks = {"m": (5, 5, "[T, B, C, H, W]"), "s": (4, 4, "[B, C, H, W]")}

    _synapse_name = "conv"
