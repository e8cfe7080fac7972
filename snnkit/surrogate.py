"""Spike functions: Heaviside forward, a named surrogate derivative backward.

Each surrogate is a small parameter object. ``derivative(x)`` is the readable torch
formula (the specification); ``kernel_code``/``kernel_params`` hand the same formula
to the fused kernels, which implement it again in C and Triton.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, asdict
from typing import Any, Callable, Dict, Tuple, Type

import torch

__all__ = [
    "Surrogate",
    "ATan",
    "Sigmoid",
    "FastSigmoid",
    "Triangle",
    "Rectangular",
    "PiecewiseQuadratic",
    "get",
    "spike",
    "heaviside",
    "NAMES",
]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Step function ``x >= 0`` as a float tensor (SpikingJelly's convention)."""
    return (x >= 0).to(x.dtype)


@dataclass(frozen=True)
class Surrogate:
    """Base class: ``self(x)`` spikes with Heaviside and back-propagates ``derivative``."""

    name = "base"
    code = -1  # user subclasses keep -1: the fused kernels do not know them, the reference loop runs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that redefines ``derivative`` without its own ``code`` is unknown to the kernels.

        Otherwise a user subclass of, say, ``ATan`` with a new derivative would inherit ``code = 0``
        and the fused kernels would silently back-propagate ATan's derivative instead of its own.
        """
        super().__init_subclass__(**kwargs)
        if "derivative" in cls.__dict__ and "code" not in cls.__dict__:
            cls.code = -1

    def __post_init__(self) -> None:
        _validate(self)
        for key, val in asdict(self).items():  # NumPy scalars as floats, so derivative() yields tensors
            if not isinstance(val, (int, float)):
                object.__setattr__(self, key, float(val))

    def derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} defines no derivative")

    def kernel_params(self) -> Tuple[float, float]:
        """The (at most two) shape parameters in field order, padded with 0, for the fused kernels."""
        vals = [float(v) for v in asdict(self).values()] + [0.0, 0.0]
        return vals[0], vals[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, self)


@dataclass(frozen=True)
class ATan(Surrogate):
    """``g'(x) = alpha / 2 / (1 + (pi/2 * alpha * x)^2)`` (Fang et al. 2021; SpikingJelly, snnTorch)."""

    alpha: float = 2.0
    name = "atan"
    code = 0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x) ** 2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """``g'(x) = alpha * sig(alpha x) * (1 - sig(alpha x))`` (SpikingJelly ``Sigmoid``, snnTorch ``sigmoid(slope)``)."""

    alpha: float = 4.0
    name = "sigmoid"
    code = 1

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        sg = torch.sigmoid(self.alpha * x)
        return self.alpha * sg * (1 - sg)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike (Zenke & Ganguli 2018): ``g'(x) = 1 / (slope * |x| + 1)^2`` (snnTorch ``fast_sigmoid``)."""

    slope: float = 25.0
    name = "fast_sigmoid"
    code = 2

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1 / (self.slope * x.abs() + 1) ** 2


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Bellec et al. 2018 pseudo-derivative: ``g'(x) = gamma * max(0, 1 - |x| / width)``."""

    gamma: float = 1.0
    width: float = 1.0
    name = "triangle"
    code = 3

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * torch.clamp(1 - x.abs() / self.width, min=0)


@dataclass(frozen=True)
class Rectangular(Surrogate):
    """Box window: ``g'(x) = alpha`` where ``|x| < 0.5 / alpha``, else 0 (SpikingJelly ``Rect``)."""

    alpha: float = 1.0
    name = "rectangular"
    code = 4

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * (x.abs() < 0.5 / self.alpha).to(x.dtype)


@dataclass(frozen=True)
class PiecewiseQuadratic(Surrogate):
    """``g'(x) = max(0, alpha - alpha^2 |x|)`` (Esser et al. 2016; SpikingJelly ``PiecewiseQuadratic``)."""

    alpha: float = 1.0
    name = "piecewise_quadratic"
    code = 5

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.alpha - self.alpha**2 * x.abs(), min=0)


_REGISTRY: Dict[str, Type[Surrogate]] = {
    cls.name: cls for cls in (ATan, Sigmoid, FastSigmoid, Triangle, Rectangular, PiecewiseQuadratic)
}
NAMES = tuple(_REGISTRY)


def _validate(sg: Surrogate) -> Surrogate:
    for key, val in asdict(sg).items():
        if not isinstance(val, numbers.Real) or isinstance(val, bool) or not math.isfinite(val) or val <= 0:
            raise ValueError(f"{type(sg).__name__}: parameter {key!r} must be a positive finite number, got {val!r}")
    return sg


def get(name: Any = "atan", **params: float) -> Surrogate:
    """Return a surrogate by name (``"atan"``, ``"sigmoid"``, ...) or pass an instance through."""
    if isinstance(name, Surrogate):
        if params:
            raise TypeError("surrogate.get: parameters are only accepted with a surrogate name")
        return _validate(name)
    if not isinstance(name, str):
        raise TypeError(f"surrogate must be a name or a snnkit.surrogate.Surrogate, got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown surrogate {name!r}; expected one of {', '.join(NAMES)}")
    try:
        return _validate(_REGISTRY[key](**params))
    except TypeError as err:
        raise TypeError(f"surrogate {name!r}: {err}") from None


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, ``derivative`` backward; written with ``setup_context`` so vmap/grad/jacrev work."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, derivative: Callable[[torch.Tensor], torch.Tensor], strict: bool) -> torch.Tensor:
        return (x > 0).to(x.dtype) if strict else heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
        x, derivative, _ = inputs
        ctx.save_for_backward(x)
        ctx.derivative = derivative

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x), None, None


def spike(x: torch.Tensor, surrogate: Surrogate, strict: bool = False) -> torch.Tensor:
    """Heaviside forward (``x >= 0``, or ``x > 0`` when ``strict`` as in Lava); surrogate backward."""
    return _SpikeFn.apply(x, surrogate.derivative, strict)
