"""Readable reference dynamics: a plain loop over T with autograd.

These functions are the specification; every fused kernel is tested against them
(values and gradients). Formulas follow SpikingJelly's (LIF/IF/PLIF) and Lava's
``LIF`` process (CUBA) operation by operation, so spikes agree bit for bit.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..surrogate import Surrogate, spike

Tensor = torch.Tensor


def fire_and_reset(
    h: Tensor,
    v_threshold: float,
    v_reset: Optional[float],
    surrogate: Surrogate,
    detach_reset: bool,
    graded: bool,
    soft_amount: Optional[float] = None,
) -> Tuple[Tensor, Tensor]:
    """Spike from the charged potential ``h`` and reset it: hard to ``v_reset`` or soft (``None``).

    A soft reset subtracts ``soft_amount`` (default ``v_threshold``).
    """
    s = surrogate(h - v_threshold)
    s_r = s.detach() if detach_reset else s
    if v_reset is None:
        v = h - s_r * (v_threshold if soft_amount is None else soft_amount)
    else:
        v = (1.0 - s_r) * h + s_r * v_reset
    out = s * h if graded else s
    return out, v


def lif_charge(x: Tensor, v: Tensor, tau: float, decay_input: bool, v_reset: Optional[float]) -> Tensor:
    """SpikingJelly's LIF charge; soft reset leaks towards 0."""
    vr = 0.0 if v_reset is None else v_reset
    if decay_input:
        return v + (x - (v - vr)) / tau
    return v - (v - vr) / tau + x


def plif_charge(x: Tensor, v: Tensor, k: Tensor, decay_input: bool, v_reset: Optional[float]) -> Tensor:
    """PLIF charge with ``k = 1/tau = sigmoid(w)`` multiplied in (SpikingJelly ``ParametricLIFNode``)."""
    vr = 0.0 if v_reset is None else v_reset
    if decay_input:
        return v + (x - (v - vr)) * k
    return v - (v - vr) * k + x


def lif_multistep(
    x: Tensor,
    v0: Tensor,
    tau: float,
    decay_input: bool,
    v_threshold: float,
    v_reset: Optional[float],
    surrogate: Surrogate,
    detach_reset: bool,
    graded: bool,
    reset_delay: bool = False,
) -> Tuple[Tensor, Tensor]:
    """LIF over ``x[T, ...]`` from ``v0``: returns ``(spikes[T, ...], v_T)``.

    ``reset_delay`` (soft reset, ``decay_input=False``, ``tau > 1``): subtract ``v_threshold / beta``
    with ``beta = 1 - 1/tau``; the next step's leak turns it into ``v_threshold``, so ``h`` follows
    snnTorch's ``Leaky`` default: ``mem[t] = beta * mem[t-1] + x[t] - spk[t-1] * threshold``.
    """
    amount = v_threshold / (1.0 - 1.0 / tau) if reset_delay else None
    v, outs = v0, []
    for t in range(x.shape[0]):
        h = lif_charge(x[t], v, tau, decay_input, v_reset)
        s, v = fire_and_reset(h, v_threshold, v_reset, surrogate, detach_reset, graded, amount)
        outs.append(s)
    return torch.stack(outs), v


def if_multistep(
    x: Tensor,
    v0: Tensor,
    v_threshold: float,
    v_reset: Optional[float],
    surrogate: Surrogate,
    detach_reset: bool,
    graded: bool,
) -> Tuple[Tensor, Tensor]:
    """Integrate-and-fire: ``h = v + x``."""
    v, outs = v0, []
    for t in range(x.shape[0]):
        s, v = fire_and_reset(v + x[t], v_threshold, v_reset, surrogate, detach_reset, graded)
        outs.append(s)
    return torch.stack(outs), v


def plif_multistep(
    x: Tensor,
    v0: Tensor,
    w: Tensor,
    decay_input: bool,
    v_threshold: float,
    v_reset: Optional[float],
    surrogate: Surrogate,
    detach_reset: bool,
    graded: bool,
) -> Tuple[Tensor, Tensor]:
    """Parametric LIF: learnable ``w`` with ``1/tau = sigmoid(w)`` (Fang et al. 2021)."""
    k = w.sigmoid()
    v, outs = v0, []
    for t in range(x.shape[0]):
        h = plif_charge(x[t], v, k, decay_input, v_reset)
        s, v = fire_and_reset(h, v_threshold, v_reset, surrogate, detach_reset, graded)
        outs.append(s)
    return torch.stack(outs), v


def cuba_multistep(
    x: Tensor,
    u0: Tensor,
    v0: Tensor,
    du: float,
    dv: float,
    v_threshold: float,
    bias: float,
    surrogate: Surrogate,
    detach_reset: bool,
    graded: bool,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Lava ``LIF`` (floating_pt): ``u = u*(1-du) + x; v = v*(1-dv) + u + bias; s = v > vth; v = 0 on spike``.

    Spikes use a strict ``>`` as Lava does. Returns ``(spikes, u_T, v_T)``.
    """
    u, v, outs = u0, v0, []
    for t in range(x.shape[0]):
        u = u * (1 - du) + x[t]
        h = v * (1 - dv) + u + bias
        s = spike(h - v_threshold, surrogate, strict=True)
        s_r = s.detach() if detach_reset else s
        v = (1.0 - s_r) * h
        outs.append(s * h if graded else s)
    return torch.stack(outs), u, v
