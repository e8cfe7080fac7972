"""Spiking neuron modules: thin stateful wrappers over :mod:`snnkit.functional`.

Multi-step mode (``step_mode="m"``) takes ``x[T, B, ...]``; single-step (``"s"``) takes
``x[B, ...]``. State persists across calls (read or set it as ``.v``; CUBA also ``.u``)
until :meth:`reset` or :func:`snnkit.reset`.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn

from . import functional as F
from . import surrogate as _sg
from .base import StatefulModule
from .functional.validation import check_reset_delay, check_threshold, is_real

Tensor = torch.Tensor
__all__ = ["IF", "LIF", "PLIF", "CubaLIF"]


class _Neuron(StatefulModule):
    """Shared plumbing: step modes, state storage, argument checks."""

    _state_attrs = ("v",)

    def __init__(
        self, v_threshold: float, v_reset: Optional[float], surrogate: Union[str, _sg.Surrogate],
        detach_reset: bool, step_mode: str, backend: str, graded: bool,
    ) -> None:
        super().__init__(step_mode)
        check_threshold(v_threshold, v_reset, type(self).__name__)
        if backend not in F.BACKENDS:
            raise ValueError(f"{type(self).__name__}: backend must be one of {F.BACKENDS}, got {backend!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = _sg.get(surrogate)
        self.detach_reset = bool(detach_reset)
        self.backend = backend
        self.graded = bool(graded)
        self.v: Optional[Tensor] = None

    def reset(self) -> None:
        self.v = None

    def _kwargs(self) -> dict:
        return dict(v_threshold=self.v_threshold, v_reset=self.v_reset, detach_reset=self.detach_reset,
                    surrogate=self.surrogate, graded=self.graded, backend=self.backend)

    def _multistep(self, x: Tensor) -> Tensor:
        raise TypeError(f"{type(self).__name__} must implement _multistep")

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a tensor, got {type(x).__name__}")
        if self.step_mode == "s" and x.ndim < 1:
            raise ValueError(f"{type(self).__name__}: single-step input must be [B, ...], got a scalar")
        self._check_kept_state(x if self.step_mode == "m" else x.unsqueeze(0))
        self._thaw_state()
        if self.step_mode == "m":
            return self._multistep(x)
        return self._multistep(x.unsqueeze(0))[0]

    def _check_kept_state(self, x: Tensor) -> None:
        """The membrane kept from the last call must fit ``x[T, B, ...]``; else say that a reset is missing."""
        v = getattr(self, "v", None)
        if isinstance(v, torch.Tensor) and x.ndim >= 2 and tuple(v.shape) != tuple(x.shape[1:]):
            got = "[B, ...]" if self.step_mode == "s" else "[T, B, ...]"
            raise ValueError(
                f"{type(self).__name__}: the state kept from the previous call has shape {tuple(v.shape)}, but this "
                f"input {got} = {list(x.shape[1:] if self.step_mode == 's' else x.shape)} needs "
                f"{tuple(x.shape[1:])}: call snnkit.reset(net) (or this neuron's reset()) between independent "
                "batches, e.g. before each new batch or when the batch size changes")

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard to {self.v_reset}"
        return (f"v_threshold={self.v_threshold}, reset={reset}, surrogate={self.surrogate}, "
                f"detach_reset={self.detach_reset}, graded={self.graded}, step_mode={self.step_mode!r}, backend={self.backend!r}")


class IF(_Neuron):
    """Integrate-and-fire: ``h = v + x``; spike at ``h >= v_threshold``; hard or soft reset."""

    def __init__(self, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0, detach_reset: bool = False,
                 surrogate: Union[str, _sg.Surrogate] = _sg.ATan(), step_mode: str = "m",
                 backend: str = "auto", graded: bool = False) -> None:
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, step_mode, backend, graded)

    def _multistep(self, x: Tensor) -> Tensor:
        s, self.v = F.if_multistep(x, self.v, **self._kwargs())
        return s


class LIF(_Neuron):
    """Leaky integrate-and-fire with SpikingJelly's arguments and dynamics (see :func:`snnkit.functional.lif_multistep`).

    ``reset_delay=True`` (with ``v_reset=None, decay_input=False``) is snnTorch's default
    ``Leaky`` reset: ``h`` is snnTorch's ``mem``, while ``.v`` holds the potential after the reset.
    """

    def __init__(self, tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                 v_reset: Optional[float] = 0.0, detach_reset: bool = False,
                 surrogate: Union[str, _sg.Surrogate] = _sg.ATan(), step_mode: str = "m",
                 backend: str = "auto", graded: bool = False, reset_delay: bool = False) -> None:
        if not is_real(tau) or not math.isfinite(tau) or tau < 1:
            raise ValueError(f"LIF: tau must be a finite number >= 1, got {tau!r}")
        check_reset_delay(reset_delay, float(tau), decay_input, v_reset, "LIF")
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, step_mode, backend, graded)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)
        self.reset_delay = reset_delay

    def _multistep(self, x: Tensor) -> Tensor:
        s, self.v = F.lif_multistep(x, self.v, tau=self.tau, decay_input=self.decay_input,
                                    reset_delay=getattr(self, "reset_delay", False), **self._kwargs())
        return s

    def extra_repr(self) -> str:
        delay = ", reset_delay=True" if getattr(self, "reset_delay", False) else ""  # absent in pickles of older LIFs
        return f"tau={self.tau}, decay_input={self.decay_input}{delay}, " + super().extra_repr()


class PLIF(_Neuron):
    """Parametric LIF (Fang et al. 2021): one learnable ``w`` per layer with ``1/tau = sigmoid(w)``."""

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                 v_reset: Optional[float] = 0.0, detach_reset: bool = False,
                 surrogate: Union[str, _sg.Surrogate] = _sg.ATan(), step_mode: str = "m",
                 backend: str = "auto", graded: bool = False) -> None:
        if not is_real(init_tau) or not math.isfinite(init_tau) or init_tau <= 1:
            raise ValueError(f"PLIF: init_tau must be a finite number > 1, got {init_tau!r}")
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, step_mode, backend, graded)
        self.decay_input = bool(decay_input)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    @property
    def tau(self) -> float:
        """The current time constant ``1 / sigmoid(w)``."""
        return float(1.0 / self.w.detach().sigmoid())

    def _multistep(self, x: Tensor) -> Tensor:
        s, self.v = F.plif_multistep(x, self.v, w=self.w, decay_input=self.decay_input, **self._kwargs())
        return s

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4f}, decay_input={self.decay_input}, " + super().extra_repr()


class CubaLIF(_Neuron):
    """Current-based LIF with the exact discrete dynamics of Lava's ``LIF`` process.

    ``u = u*(1-du) + x; v = v*(1-dv) + u + bias; spike where v > v_threshold; v = 0 after a spike``.
    A trained CubaLIF maps onto a Lava ``LIF(du, dv, vth, bias_mant)`` without change.
    """

    _state_attrs = ("u", "v")

    def __init__(self, du: float = 1.0, dv: float = 0.5, v_threshold: float = 1.0, bias: float = 0.0,
                 detach_reset: bool = False, surrogate: Union[str, _sg.Surrogate] = _sg.ATan(),
                 step_mode: str = "m", backend: str = "auto", graded: bool = False) -> None:
        for name, val in (("du", du), ("dv", dv)):
            if not is_real(val) or not 0 <= val <= 1:
                raise ValueError(f"CubaLIF: {name} must be a number in [0, 1], got {val!r}")
        if not is_real(bias) or not math.isfinite(bias):
            raise TypeError(f"CubaLIF: bias must be a finite number, got {bias!r}")
        if is_real(v_threshold) and v_threshold <= 0:
            raise ValueError(f"CubaLIF: v_threshold must be > 0 (the voltage resets to 0), got {v_threshold!r}")
        super().__init__(v_threshold, 0.0, surrogate, detach_reset, step_mode, backend, graded)
        self.du, self.dv, self.bias = float(du), float(dv), float(bias)
        self.u: Optional[Tensor] = None

    def reset(self) -> None:
        self.u = None
        self.v = None

    def _multistep(self, x: Tensor) -> Tensor:
        state: Optional[Tuple[Tensor, Tensor]] = None
        if self.u is not None or self.v is not None:
            shape = x.shape[1:]
            zeros = lambda: torch.zeros(shape, dtype=x.dtype, device=x.device)  # noqa: E731
            state = (self.u if self.u is not None else zeros(), self.v if self.v is not None else zeros())
        s, (self.u, self.v) = F.cuba_lif_multistep(
            x, state, du=self.du, dv=self.dv, v_threshold=self.v_threshold, bias=self.bias,
            detach_reset=self.detach_reset, surrogate=self.surrogate, graded=self.graded, backend=self.backend,
        )
        return s

    def extra_repr(self) -> str:
        return (f"du={self.du}, dv={self.dv}, v_threshold={self.v_threshold}, bias={self.bias}, "
                f"surrogate={self.surrogate}, graded={self.graded}, step_mode={self.step_mode!r}")
