"""snnkit.hardware: the path from a trained snnkit model to Loihi-style simulation in Lava.

Lava is imported lazily (through :func:`lava_compat.import_lava`), so ``import snnkit``
never needs it.
"""
from __future__ import annotations

from .lava_compat import import_lava

__all__ = ["import_lava"]
