"""Fused CPU kernels (compiled C++), wrapped as autograd functions in :mod:`.ops`."""
from .build import load, error

__all__ = ["load", "error", "available"]


def available() -> bool:
    """True when the compiled CPU kernel library can be used on this machine."""
    return load() is not None
