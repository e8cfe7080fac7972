"""snnkit: spiking neural networks with fused kernels, TCJA-SNN, SpikeGPT and a path to Lava.

Tensors are time-major: ``[T, B, ...]`` in multi-step mode, ``[B, ...]`` in single step.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import data, encoding, functional, layers, surrogate
from .base import StatefulModule, checkpoint, reset, set_step_mode
from .neurons import IF, LIF, PLIF, CubaLIF

__all__ = [
    "__version__",
    "functional",
    "surrogate",
    "layers",
    "encoding",
    "data",
    "StatefulModule",
    "reset",
    "set_step_mode",
    "checkpoint",
    "IF",
    "LIF",
    "PLIF",
    "CubaLIF",
]
