"""Encoders (values -> spike trains) and readouts (spike trains or currents -> values).

Encoders take a static input ``x[B, ...]`` (``delta`` takes a sequence ``x[T, B, ...]``) and
return float 0/1 spikes ``[T, B, ...]`` in ``x``'s dtype. Random encoders draw only from the
``generator`` they are given (the global generator when ``None``). Readouts reduce over the time
dim 0. Semantics follow snnTorch's ``spikegen`` (rate, latency, delta), Norse's
``poisson_encode`` and SpikingJelly's ``NonSpikingLIFNode`` where stated.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .base import StatefulModule

Tensor = torch.Tensor

__all__ = [
    "rate",
    "poisson",
    "latency",
    "latency_times",
    "delta",
    "spike_count",
    "firing_rate",
    "membrane_readout",
    "READOUT_MODES",
    "RateEncoder",
    "PoissonEncoder",
    "LatencyEncoder",
    "DeltaEncoder",
    "MembraneReadout",
]
READOUT_MODES = ("sequence", "final", "max", "mean", "max_abs")


# --------------------------------------------------------------------------- checks


def _check_x(x: object, fn: str, arg: str = "x", min_rank: int = 1, layout: str = "[B, ...]") -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: {arg} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: {arg} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < min_rank:
        raise ValueError(f"{fn}: {arg} must be {layout} (at least {min_rank} dims), got shape {tuple(x.shape)}")
    if x.numel() and torch.isnan(x).any():
        raise ValueError(f"{fn}: {arg} contains NaN")
    return x


def _check_unit(x: Tensor, fn: str, arg: str = "x") -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{fn}: {arg} must lie in [0, 1] (normalise intensities first), "
                         f"got values in [{x.min().item():.4g}, {x.max().item():.4g}]")


def _check_T(T: object, fn: str) -> int:
    if isinstance(T, bool) or not isinstance(T, numbers.Integral):
        raise TypeError(f"{fn}: T (number of time steps) must be an int, got {T!r} ({type(T).__name__})")
    if T < 1:
        raise ValueError(f"{fn}: T (number of time steps) must be >= 1, got {T}")
    return int(T)


def _check_number(val: object, arg: str, fn: str, lo: float, hi: float, lo_open: bool, hi_open: bool) -> float:
    if isinstance(val, bool) or not isinstance(val, numbers.Real) or not math.isfinite(val):
        raise TypeError(f"{fn}: {arg} must be a finite number, got {val!r}")
    ok_lo = val > lo if lo_open else val >= lo
    ok_hi = val < hi if hi_open else val <= hi
    if not (ok_lo and ok_hi):
        interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{fn}: {arg} must be in {interval}, got {val}")
    return float(val)


def _check_generator(generator: object, x: Tensor, fn: str) -> Optional[torch.Generator]:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{fn}: generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != x.device.type:
        raise ValueError(f"{fn}: generator is on {generator.device} but x is on {x.device}; "
                         f"use torch.Generator(device={x.device.type!r})")
    return generator


def _check_spikes(s: object, fn: str) -> Tensor:
    if not isinstance(s, torch.Tensor):
        raise TypeError(f"{fn}: s must be a torch.Tensor, got {type(s).__name__}")
    if s.dtype == torch.bool:
        s = s.float()
    if not s.is_floating_point():
        raise TypeError(f"{fn}: s must be a floating-point or bool spike tensor, got dtype {s.dtype}")
    if s.ndim < 2:
        raise ValueError(f"{fn}: s must be time-major [T, B, ...] (at least 2 dims), got shape {tuple(s.shape)}")
    return s


# --------------------------------------------------------------------------- encoders


def rate(x: Tensor, T: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Bernoulli rate code: at each of ``T`` steps spike with probability ``clamp(x, 0, 1)``; ``[B, ...] -> [T, B, ...]``.

    Same draws as snnTorch's ``spikegen.rate(x, num_steps=T)`` when ``generator`` and snnTorch's
    global generator start from the same seed. Values outside [0, 1] are clipped (as in snnTorch).
    """
    _check_x(x, "rate")
    T = _check_T(T, "rate")
    generator = _check_generator(generator, x, "rate")
    p = x.detach().clamp(0, 1)
    return torch.bernoulli(p.expand(T, *p.shape), generator=generator)


def poisson(x: Tensor, T: int, dt: float = 1e-3, max_rate: float = 100.0,
            generator: Optional[torch.Generator] = None) -> Tensor:
    """Poisson spike trains: intensity ``x`` in [0, 1] fires at ``x * max_rate`` Hz, sampled every ``dt`` seconds.

    Each step spikes with probability ``x * max_rate * dt`` (the Bernoulli approximation of a
    Poisson process used by Norse's ``poisson_encode``, whose defaults these are), so
    ``max_rate * dt`` must be at most 1. With ``max_rate * dt = 1`` this is :func:`rate`.
    Unlike :func:`rate`, values outside [0, 1] are an error.
    """
    _check_x(x, "poisson")
    _check_unit(x, "poisson")
    _check_number(dt, "dt", "poisson", 0.0, math.inf, True, True)
    _check_number(max_rate, "max_rate", "poisson", 0.0, math.inf, False, True)
    if max_rate * dt > 1:
        raise ValueError(f"poisson: max_rate * dt is the spike probability per step at x=1 and must be <= 1, "
                         f"got {max_rate} * {dt} = {max_rate * dt}")
    return rate(x * (max_rate * dt), T, generator)


def _check_latency_args(T: int, tau: float, threshold: float, first_spike_time: int, epsilon: float, fn: str) -> int:
    T = _check_T(T, fn)
    _check_number(tau, "tau", fn, 0.0, math.inf, True, True)
    _check_number(threshold, "threshold", fn, 0.0, 1.0, True, True)
    _check_number(epsilon, "epsilon", fn, 0.0, 1.0, True, True)
    if isinstance(first_spike_time, bool) or not isinstance(first_spike_time, numbers.Integral):
        raise TypeError(f"{fn}: first_spike_time must be an int, got {first_spike_time!r}")
    if not 0 <= first_spike_time <= T - 1:
        raise ValueError(f"{fn}: first_spike_time must be in [0, T-1] = [0, {T - 1}], got {first_spike_time}")
    return T


def latency_times(x: Tensor, T: int, tau: float = 1.0, threshold: float = 0.01, linear: bool = False,
                  normalize: bool = True, first_spike_time: int = 0, epsilon: float = 1e-7) -> Tensor:
    """Real-valued spike times of :func:`latency` (before rounding to a step), shaped like ``x``.

    Log code (an RC neuron charging to ``x``): ``t = tau * log(x / (x - threshold))`` with ``x``
    clamped to ``threshold + epsilon``. Linear code: ``t = tau * (1 - x)``, capped at
    ``tau * (1 - threshold)``. Both plus ``first_spike_time``. ``normalize=True`` scales the log code so
    that the latest possible spike (an input at or below ``threshold``) falls on step ``T - 1``;
    the linear code uses ``tau = T - 1 - first_spike_time`` (exactly as snnTorch), so its latest
    time is ``tau * (1 - threshold) + first_spike_time``, which rounds to a step before ``T - 1``
    once ``tau * threshold > 0.5`` (``T > 51`` at the default threshold). For the log code snnTorch
    divides by the largest time *in the batch* instead; the two agree whenever the batch holds an
    input at or below ``threshold`` (any zero pixel), and ours does not depend on the batch.
    """
    _check_x(x, "latency_times", min_rank=0)
    _check_unit(x, "latency_times")
    T = _check_latency_args(T, tau, threshold, first_spike_time, epsilon, "latency_times")
    return _latency_times(x, T, tau, threshold, linear, normalize, first_spike_time, epsilon).to(x.dtype)


def _latency_times(x: Tensor, T: int, tau: float, threshold: float, linear: bool, normalize: bool,
                   first_spike_time: int, epsilon: float) -> Tensor:
    """Spike times computed in float32 at least: in float16/bfloat16 ``threshold + epsilon`` rounds to
    ``threshold`` and the log code of dark inputs would be ``inf / inf = NaN``."""
    x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    span = T - 1 - first_spike_time
    if linear:
        if normalize:
            tau = span
        return torch.clamp_max(-tau * (x - 1), -tau * (threshold - 1)) + first_spike_time
    floor = threshold + epsilon
    xc = torch.clamp(x, floor)
    t = tau * torch.log(xc / (xc - threshold))
    if normalize:
        zero = torch.clamp(torch.zeros((), dtype=x.dtype, device=x.device), floor)
        t_max = tau * torch.log(zero / (zero - threshold))  # the latest time: an input at the threshold
        t = t * span / t_max
    return t + first_spike_time


def latency(x: Tensor, T: int, tau: float = 1.0, threshold: float = 0.01, linear: bool = False,
            normalize: bool = True, clip: bool = False, first_spike_time: int = 0, epsilon: float = 1e-7) -> Tensor:
    """Latency (time-to-first-spike) code: each input spikes once, earlier the brighter; ``[B, ...] -> [T, B, ...]``.

    ``x`` must lie in [0, 1]. The spike falls on step ``round(t)`` with ``t`` from
    :func:`latency_times` (round half to even, as snnTorch's ``spikegen.latency``, whose arguments
    and defaults these are apart from ``normalize``: on here). Inputs at or below ``threshold``
    spike at the latest time (step ``T - 1`` for the normalised log code) or, with ``clip=True``,
    not at all. A time beyond ``T - 1`` (only possible with ``normalize=False``) gives no spike,
    where snnTorch raises unless ``bypass=True``.
    """
    _check_x(x, "latency")
    _check_unit(x, "latency")
    T = _check_latency_args(T, tau, threshold, first_spike_time, epsilon, "latency")
    t = _latency_times(x, T, tau, threshold, linear, normalize, first_spike_time, epsilon)
    step = torch.round(t).long()
    valid = step <= T - 1
    if clip:
        valid &= ~(x < threshold)
    out = torch.zeros((T, *x.shape), dtype=x.dtype, device=x.device)
    out.scatter_(0, step.clamp(0, T - 1).unsqueeze(0), valid.unsqueeze(0).to(x.dtype))
    return out


def delta(x_seq: Tensor, threshold: float = 0.1, off_spike: bool = True, padding: bool = False,
          signed: bool = False) -> Tensor:
    """Change detection on a sequence ``x[T, B, ...]``: spike where ``x[t] - x[t-1]`` reaches ``threshold``.

    ON spikes where the change is ``>= threshold``, OFF spikes where it is ``<= -threshold`` (snnTorch
    ``spikegen.delta``). ``x[-1]`` is 0 (a first frame above threshold spikes) or, with
    ``padding=True``, ``x[0]`` (no spikes at t=0). Output:

    - ``off_spike=False``: ON spikes only, 0/1 ``[T, B, ...]``;
    - ``off_spike=True`` (default): 0/1 ``[T, B, 2, ...]`` with polarity channel 0 = ON, 1 = OFF
      (the layout of DVS frames when ``x`` is ``[T, B, H, W]``);
    - ``signed=True`` with ``off_spike=True``: one tensor, +1 ON / -1 OFF (snnTorch's output).

    It compares consecutive steps only; it does not keep a DVS-style reference level.
    """
    _check_x(x_seq, "delta", "x_seq", min_rank=2, layout="time-major [T, B, ...]")
    if x_seq.shape[0] == 0:
        raise ValueError(f"delta: x_seq has T=0 time steps (shape {tuple(x_seq.shape)})")
    threshold = _check_number(threshold, "threshold", "delta", 0.0, math.inf, True, True)
    if signed and not off_spike:
        raise ValueError("delta: signed=True needs off_spike=True (signed output carries both polarities)")
    first = x_seq[:1] if padding else torch.zeros_like(x_seq[:1])
    d = x_seq - torch.cat((first, x_seq[:-1]))
    on = (d >= threshold).to(x_seq.dtype)
    if not off_spike:
        return on
    off = (d <= -threshold).to(x_seq.dtype)
    return on - off if signed else torch.stack((on, off), dim=2)


# --------------------------------------------------------------------------- readouts


def spike_count(s: Tensor) -> Tensor:
    """Number of spikes per neuron over time: ``s[T, B, ...] -> [B, ...]`` (bool spikes are counted as 1)."""
    return _check_spikes(s, "spike_count").sum(0)


def firing_rate(s: Tensor) -> Tensor:
    """Spikes per step per neuron, ``spike_count / T``: ``s[T, B, ...] -> [B, ...]`` (the TCJA-SNN output for MSE)."""
    return _check_spikes(s, "firing_rate").mean(0)


def _check_readout(tau: object, mode: object, fn: str) -> float:
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not math.isfinite(tau) or tau < 1:
        raise ValueError(f"{fn}: tau must be a finite number >= 1 (decay 1 - 1/tau in [0, 1)), got {tau!r}")
    if mode not in READOUT_MODES:
        raise ValueError(f"{fn}: mode must be one of {', '.join(READOUT_MODES)}, got {mode!r}")
    return float(tau)


def _charge(v: Tensor, x: Tensor, tau: float, decay_input: bool) -> Tensor:
    return v + (x - v) / tau if decay_input else v - v / tau + x


def _max_abs(vmax: Tensor, vmin: Tensor) -> Tensor:
    """The extreme of larger magnitude (SpikingJelly's ``max-abs-mem``; ties go to the minimum)."""
    return torch.where(vmax.abs() > vmin.abs(), vmax, vmin)


def membrane_readout(x: Tensor, tau: float = 2.0, mode: str = "sequence", v0: Optional[Tensor] = None,
                     decay_input: bool = True) -> Tensor:
    """Non-spiking leaky integrator over ``x[T, B, ...]``: ``v[t] = v[t-1] + (x[t] - v[t-1]) / tau`` from ``v0`` (0).

    Reads out a network's last layer without the loss of information that thresholding causes.
    ``decay_input=False`` uses ``v[t] = v[t-1] * (1 - 1/tau) + x[t]``. ``mode``: ``"sequence"``
    returns ``v[T, B, ...]``; ``"final"`` ``v[T-1]``; ``"max"``, ``"mean"`` the max / mean over
    time; ``"max_abs"`` whichever of max and min has the larger magnitude. These are
    SpikingJelly's ``NonSpikingLIFNode`` decodes (None, ``last_mem``, ``max-mem``, ``mean-mem``,
    ``max-abs-mem``) with the same dynamics.
    """
    _check_x(x, "membrane_readout", min_rank=2, layout="time-major [T, B, ...]")
    if x.shape[0] == 0:
        raise ValueError(f"membrane_readout: x has T=0 time steps (shape {tuple(x.shape)})")
    tau = _check_readout(tau, mode, "membrane_readout")
    if v0 is None:
        v = torch.zeros_like(x[0])
    else:
        if not isinstance(v0, torch.Tensor) or not v0.is_floating_point():
            raise TypeError(f"membrane_readout: v0 must be a floating-point tensor or None, got {v0!r}")
        if tuple(v0.shape) != tuple(x.shape[1:]):
            raise ValueError(f"membrane_readout: v0 has shape {tuple(v0.shape)}, expected {tuple(x.shape[1:])} "
                             "(the shape of one step of x[T, B, ...])")
        v = v0.to(x.dtype)
    vs = []
    for xt in x:
        v = _charge(v, xt, tau, decay_input)
        vs.append(v)
    v_seq = torch.stack(vs)
    if mode == "sequence":
        return v_seq
    if mode == "final":
        return v_seq[-1]
    if mode == "max":
        return v_seq.amax(0)
    if mode == "mean":
        return v_seq.mean(0)
    return _max_abs(v_seq.amax(0), v_seq.amin(0))


# --------------------------------------------------------------------------- modules


class RateEncoder(nn.Module):
    """Module form of :func:`rate`: ``x[B, ...] -> spikes[T, B, ...]``."""

    def __init__(self, T: int, generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.T = _check_T(T, "RateEncoder")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"RateEncoder: generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return rate(x, self.T, self.generator)

    def extra_repr(self) -> str:
        return f"T={self.T}"


class PoissonEncoder(nn.Module):
    """Module form of :func:`poisson`: ``x[B, ...]`` in [0, 1] -> spikes[T, B, ...] at ``x * max_rate`` Hz."""

    def __init__(self, T: int, dt: float = 1e-3, max_rate: float = 100.0,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.T = _check_T(T, "PoissonEncoder")
        self.dt = _check_number(dt, "dt", "PoissonEncoder", 0.0, math.inf, True, True)
        self.max_rate = _check_number(max_rate, "max_rate", "PoissonEncoder", 0.0, math.inf, False, True)
        if max_rate * dt > 1:
            raise ValueError(f"PoissonEncoder: max_rate * dt must be <= 1 (spike probability per step), got {max_rate * dt}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"PoissonEncoder: generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return poisson(x, self.T, self.dt, self.max_rate, self.generator)

    def extra_repr(self) -> str:
        return f"T={self.T}, dt={self.dt}, max_rate={self.max_rate}"


class LatencyEncoder(nn.Module):
    """Module form of :func:`latency`: one spike per input, earlier for larger values."""

    def __init__(self, T: int, tau: float = 1.0, threshold: float = 0.01, linear: bool = False,
                 normalize: bool = True, clip: bool = False, first_spike_time: int = 0, epsilon: float = 1e-7) -> None:
        super().__init__()
        self.T = _check_latency_args(T, tau, threshold, first_spike_time, epsilon, "LatencyEncoder")
        self.tau, self.threshold, self.epsilon = float(tau), float(threshold), float(epsilon)
        self.linear, self.normalize, self.clip = bool(linear), bool(normalize), bool(clip)
        self.first_spike_time = int(first_spike_time)

    def forward(self, x: Tensor) -> Tensor:
        return latency(x, self.T, self.tau, self.threshold, self.linear, self.normalize, self.clip,
                       self.first_spike_time, self.epsilon)

    def extra_repr(self) -> str:
        return (f"T={self.T}, tau={self.tau}, threshold={self.threshold}, linear={self.linear}, "
                f"normalize={self.normalize}, clip={self.clip}, first_spike_time={self.first_spike_time}")


class DeltaEncoder(nn.Module):
    """Module form of :func:`delta`: ``x[T, B, ...]`` -> ON/OFF change spikes."""

    def __init__(self, threshold: float = 0.1, off_spike: bool = True, padding: bool = False, signed: bool = False) -> None:
        super().__init__()
        self.threshold = _check_number(threshold, "threshold", "DeltaEncoder", 0.0, math.inf, True, True)
        if signed and not off_spike:
            raise ValueError("DeltaEncoder: signed=True needs off_spike=True")
        self.off_spike, self.padding, self.signed = bool(off_spike), bool(padding), bool(signed)

    def forward(self, x_seq: Tensor) -> Tensor:
        return delta(x_seq, self.threshold, self.off_spike, self.padding, self.signed)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, off_spike={self.off_spike}, padding={self.padding}, signed={self.signed}"


class MembraneReadout(StatefulModule):
    """Stateful module form of :func:`membrane_readout` (non-spiking leaky integrator).

    The membrane ``v`` carries over calls until :meth:`reset`. ``"sequence"`` returns this call's
    potentials (``[T, B, ...]`` multi-step, ``[B, ...]`` single step); ``"final"``, ``"max"``,
    ``"mean"`` and ``"max_abs"`` aggregate over every step since the last reset, so T single
    steps, or a sequence split into several calls, give the same result as one multi-step call.
    """

    _state_attrs = ("v", "_stats")

    def __init__(self, tau: float = 2.0, mode: str = "sequence", decay_input: bool = True, step_mode: str = "m") -> None:
        super().__init__(step_mode)
        self.tau = _check_readout(tau, mode, "MembraneReadout")
        self.mode = mode
        self.decay_input = bool(decay_input)
        self.reset()

    def reset(self) -> None:
        self.v: Optional[Tensor] = None
        self._stats: Optional[Tuple[Tensor, Tensor, Tensor, int]] = None  # max, min, sum, steps

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "s":
            _check_x(x, "MembraneReadout", min_rank=1, layout="[B, ...]")
            x = x.unsqueeze(0)
        else:
            _check_x(x, "MembraneReadout", min_rank=2, layout="time-major [T, B, ...]")
        if self.v is not None and tuple(self.v.shape) != tuple(x.shape[1:]):
            raise ValueError(f"MembraneReadout: state has shape {tuple(self.v.shape)} but the input needs "
                             f"{tuple(x.shape[1:])}; call snnkit.reset(net) between batches")
        self._thaw_state()
        v_seq = membrane_readout(x, self.tau, "sequence", self.v, self.decay_input)
        self.v = v_seq[-1]
        vmax, vmin, vsum, n = v_seq.amax(0), v_seq.amin(0), v_seq.sum(0), v_seq.shape[0]
        if self._stats is not None:
            pmax, pmin, psum, pn = self._stats
            vmax, vmin, vsum, n = torch.maximum(pmax, vmax), torch.minimum(pmin, vmin), psum + vsum, pn + n
        self._stats = (vmax, vmin, vsum, n)
        if self.mode == "sequence":
            return v_seq if self.step_mode == "m" else v_seq[0]
        if self.mode == "final":
            return self.v
        if self.mode == "max":
            return vmax
        if self.mode == "mean":
            return vsum / n
        return _max_abs(vmax, vmin)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, mode={self.mode!r}, decay_input={self.decay_input}, step_mode={self.step_mode!r}"
