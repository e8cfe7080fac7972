"""Stateful-module base and whole-network reset."""
from __future__ import annotations

import torch.nn as nn

__all__ = ["StatefulModule", "reset", "set_step_mode", "STEP_MODES"]
STEP_MODES = ("s", "m")


def check_step_mode(step_mode: object) -> str:
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be 's' (one step, x[B, ...]) or 'm' (multi-step, x[T, B, ...]), got {step_mode!r}")
    return str(step_mode)


class StatefulModule(nn.Module):
    """A module whose state persists across calls until :meth:`reset` (neurons, shared dropout masks)."""

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self.step_mode = check_step_mode(step_mode)

    def reset(self) -> None:
        """Clear the state; the next call starts from the initial state."""
        raise TypeError(f"{type(self).__name__} must implement reset()")

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


def reset(net: nn.Module) -> nn.Module:
    """Reset every stateful snnkit module inside ``net`` (call between independent samples)."""
    for m in net.modules():
        if isinstance(m, StatefulModule):
            m.reset()
    return net


def set_step_mode(net: nn.Module, step_mode: str) -> nn.Module:
    """Switch every snnkit module in ``net`` between single-step ('s') and multi-step ('m')."""
    step_mode = check_step_mode(step_mode)
    for m in net.modules():
        if hasattr(m, "step_mode"):
            m.step_mode = step_mode
    return net
