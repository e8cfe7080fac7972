"""Pure neuron dynamics: validate arguments, then dispatch to a backend.

Backends: ``reference`` (readable loop with autograd, the specification), ``cpu``
(fused compiled kernel), ``triton`` (fused GPU kernel). ``auto`` picks the fastest one
available for the tensor's device. All take time-major input ``x[T, B, ...]``.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple, Union

import torch

from .. import surrogate as _sg
from . import reference
from .validation import check_input, check_reset_delay, check_state, check_threshold, is_real, resolve_backend

Tensor = torch.Tensor
SurrogateLike = Union[str, _sg.Surrogate]

__all__ = [
    "lif_multistep",
    "if_multistep",
    "plif_multistep",
    "cuba_lif_multistep",
    "reference",
    "BACKENDS",
]
BACKENDS = ("auto", "reference", "cpu", "triton")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _flat(x: Tensor, *states: Tensor) -> Tuple[Tensor, ...]:
    """Kernels work on contiguous ``[T, N]`` / ``[N]`` in float32 or float64."""
    dt = torch.float32 if x.dtype in _LOW_PRECISION else x.dtype
    out = [x.reshape(x.shape[0], -1).to(dt).contiguous()]
    out += [s.reshape(-1).to(dt).contiguous() for s in states]
    return tuple(out)


def _as_float(v: Any) -> Any:
    """A NumPy scalar (``np.float32(0.5)``) as a Python float; anything else unchanged, for the checks to judge."""
    return float(v) if is_real(v) else v


def _lif_family(
    name: str, x: Tensor, v0: Optional[Tensor], k: Optional[Tensor], mode_kind: str, c: float,
    decay_input: bool, v_threshold: float, v_reset: Optional[float], detach_reset: bool,
    surrogate: _sg.Surrogate, graded: bool, backend: str, ref: Any, soft_amount: Optional[float] = None,
) -> Tuple[Tensor, Tensor]:
    check_input(x, name)
    check_threshold(v_threshold, v_reset, name)
    v_init = 0.0 if v_reset is None else v_reset
    v0 = check_state(v0, x, "v0", name, fill=v_init)
    impl = resolve_backend(backend, x, name, surrogate.code, v0, k)
    if impl == "reference":
        return ref(v0)
    from ..kernels import ops_for

    ops = ops_for(impl)
    if mode_kind == "if":
        mode = ops.IF
    elif mode_kind == "div":
        mode = ops.LIF_DIV_DI if decay_input else ops.LIF_DIV_NDI
    else:
        mode = ops.LIF_MUL_DI if decay_input else ops.LIF_MUL_NDI
    xf, vf = _flat(x, v0)
    a1, a2 = surrogate.kernel_params()
    vr = 0.0 if v_reset is None else float(v_reset)
    kk = None if k is None else k.to(xf.dtype).reshape(())
    cval = float(kk.detach()) if kk is not None else float(c)
    s, v = ops.LIFFunction.apply(
        xf, vf, kk, mode, cval, float(v_threshold), vr, v_reset is None, bool(detach_reset), bool(graded),
        surrogate.code, a1, a2, soft_amount,
    )
    return s.view(x.shape).to(x.dtype), v.view(x.shape[1:]).to(x.dtype)


def lif_multistep(
    x: Tensor,
    v0: Optional[Tensor] = None,
    *,
    tau: float = 2.0,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = False,
    surrogate: SurrogateLike = "atan",
    graded: bool = False,
    backend: str = "auto",
    reset_delay: bool = False,
) -> Tuple[Tensor, Tensor]:
    """Leaky integrate-and-fire over ``x[T, B, ...]``; returns ``(spikes, v_T)``.

    Charge (SpikingJelly's form): ``h = v + (x - (v - v_reset)) / tau`` if ``decay_input``
    else ``h = v - (v - v_reset) / tau + x``; spike ``s = h >= v_threshold``; reset
    ``v = v_reset`` (hard) or ``v = h - v_threshold`` (soft, ``v_reset=None``, leak to 0).
    ``graded=True`` emits ``s * h`` (the spike carries the potential as payload).
    ``reset_delay=True`` ports snnTorch's default ``Leaky`` (``reset_mechanism="subtract"``,
    ``reset_delay=True``, ``beta = 1 - 1/tau``): the soft reset subtracts ``v_threshold / beta``,
    which the next step's leak turns into ``v_threshold``, so ``h`` is snnTorch's ``mem`` and the
    spikes are its spikes. Needs ``v_reset=None``, ``decay_input=False`` and ``tau > 1``.
    """
    if not is_real(tau) or not math.isfinite(tau) or tau < 1:
        raise ValueError(f"lif_multistep: tau must be a finite number >= 1 (decay 1 - 1/tau in [0, 1)), got {tau!r}")
    tau = float(tau)
    check_reset_delay(reset_delay, tau, decay_input, v_reset, "lif_multistep")
    v_threshold, v_reset = _as_float(v_threshold), _as_float(v_reset)
    sg = _sg.get(surrogate)
    amount = v_threshold / (1.0 - 1.0 / tau) if reset_delay and is_real(v_threshold) else None
    ref = lambda v: reference.lif_multistep(  # noqa: E731
        x, v, tau, decay_input, v_threshold, v_reset, sg, detach_reset, graded, reset_delay)
    return _lif_family("lif_multistep", x, v0, None, "div", tau, decay_input, v_threshold, v_reset,
                       detach_reset, sg, graded, backend, ref, amount)


def if_multistep(
    x: Tensor,
    v0: Optional[Tensor] = None,
    *,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = False,
    surrogate: SurrogateLike = "atan",
    graded: bool = False,
    backend: str = "auto",
) -> Tuple[Tensor, Tensor]:
    """Integrate-and-fire over ``x[T, B, ...]`` (``h = v + x``); returns ``(spikes, v_T)``."""
    v_threshold, v_reset = _as_float(v_threshold), _as_float(v_reset)
    sg = _sg.get(surrogate)
    ref = lambda v: reference.if_multistep(x, v, v_threshold, v_reset, sg, detach_reset, graded)  # noqa: E731
    return _lif_family("if_multistep", x, v0, None, "if", 1.0, True, v_threshold, v_reset,
                       detach_reset, sg, graded, backend, ref)


def plif_multistep(
    x: Tensor,
    v0: Optional[Tensor] = None,
    *,
    w: Tensor,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = False,
    surrogate: SurrogateLike = "atan",
    graded: bool = False,
    backend: str = "auto",
) -> Tuple[Tensor, Tensor]:
    """Parametric LIF: like :func:`lif_multistep` with ``1/tau = sigmoid(w)`` learnable (scalar ``w``)."""
    if not isinstance(w, torch.Tensor) or w.numel() != 1 or not w.is_floating_point():
        raise TypeError(f"plif_multistep: w must be a floating scalar tensor, got {w!r}")
    w = w.reshape(())  # a [1] or [1, 1] w must not broadcast the reference loop's state to a new shape
    v_threshold, v_reset = _as_float(v_threshold), _as_float(v_reset)
    sg = _sg.get(surrogate)
    ref = lambda v: reference.plif_multistep(x, v, w, decay_input, v_threshold, v_reset, sg, detach_reset, graded)  # noqa: E731
    return _lif_family("plif_multistep", x, v0, w.sigmoid(), "mul", 0.0, decay_input, v_threshold, v_reset,
                       detach_reset, sg, graded, backend, ref)


def cuba_lif_multistep(
    x: Tensor,
    state: Optional[Tuple[Tensor, Tensor]] = None,
    *,
    du: float,
    dv: float,
    v_threshold: float = 1.0,
    bias: float = 0.0,
    detach_reset: bool = False,
    surrogate: SurrogateLike = "atan",
    graded: bool = False,
    backend: str = "auto",
) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
    """Current-based LIF with exactly the discrete dynamics of Lava's ``LIF`` process (floating point).

    ``u = u*(1-du) + x; v = v*(1-dv) + u + bias; s = v > v_threshold; v = 0 where s``.
    ``state`` is ``(u0, v0)`` (zeros if ``None``); returns ``(spikes, (u_T, v_T))``.
    """
    name = "cuba_lif_multistep"
    du, dv, bias, v_threshold = (_as_float(a) for a in (du, dv, bias, v_threshold))
    for pname, val in (("du", du), ("dv", dv)):
        if not is_real(val) or not 0 <= val <= 1:
            raise ValueError(f"{name}: {pname} must be a number in [0, 1] (decay per step), got {val!r}")
    if not is_real(bias) or not math.isfinite(bias):
        raise TypeError(f"{name}: bias must be a finite number, got {bias!r}")
    check_input(x, name)
    check_threshold(v_threshold, 0.0, name)
    if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
        raise TypeError(f"{name}: state must be a (u, v) pair of tensors or None, got {type(state).__name__}")
    u0 = check_state(None if state is None else state[0], x, "state[0] (u)", name, fill=0.0)
    v0 = check_state(None if state is None else state[1], x, "state[1] (v)", name, fill=0.0)
    sg = _sg.get(surrogate)
    impl = resolve_backend(backend, x, name, sg.code, u0, v0)
    if impl == "reference":
        s, u, v = reference.cuba_multistep(x, u0, v0, du, dv, v_threshold, bias, sg, detach_reset, graded)
        return s, (u, v)
    from ..kernels import ops_for

    xf, uf, vf = _flat(x, u0, v0)
    a1, a2 = sg.kernel_params()
    s, u, v = ops_for(impl).CubaFunction.apply(
        xf, uf, vf, 1.0 - du, 1.0 - dv, float(v_threshold), float(bias), bool(detach_reset), bool(graded),
        sg.code, a1, a2,
    )
    shape = x.shape[1:]
    return s.view(x.shape).to(x.dtype), (u.view(shape).to(x.dtype), v.view(shape).to(x.dtype))

