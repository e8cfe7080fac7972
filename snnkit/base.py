"""Stateful-module base and whole-network reset."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint

__all__ = ["StatefulModule", "reset", "set_step_mode", "checkpoint", "STEP_MODES"]
STEP_MODES = ("s", "m")


def check_step_mode(step_mode: object) -> str:
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be 's' (one step, x[B, ...]) or 'm' (multi-step, x[T, B, ...]), got {step_mode!r}")
    return str(step_mode)


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to the tensors in a state value (a tensor, ``None``, or a tuple/list of them and numbers)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    return obj


def _thaw(t: torch.Tensor) -> torch.Tensor:
    """An inference-mode tensor as a normal one (autograd refuses to save inference tensors for backward)."""
    return t.clone() if t.is_inference() and not torch.is_inference_mode_enabled() else t


class StatefulModule(nn.Module):
    """A module whose state persists across calls until :meth:`reset` (neurons, shared dropout masks).

    ``_state_attrs`` names the attributes holding that state, so that copies, pickles and
    :func:`checkpoint` can find it.
    """

    _state_attrs: Tuple[str, ...] = ()

    def __init__(self, step_mode: str = "m") -> None:
        super().__init__()
        self.step_mode = check_step_mode(step_mode)

    def reset(self) -> None:
        """Clear the state; the next call starts from the initial state."""
        raise TypeError(f"{type(self).__name__} must implement reset()")

    def _thaw_state(self) -> None:
        """State kept from a call under ``torch.inference_mode`` becomes a normal tensor outside it, so training can go on from it."""
        if torch.is_inference_mode_enabled():
            return
        for name in self._state_attrs:
            if name in self.__dict__:
                self.__dict__[name] = _map_tensors(self.__dict__[name], _thaw)

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "StatefulModule":
        """``.to()``, ``.double()``, ``.half()``, ``.cuda()`` convert the kept state too, as they do buffers (SpikingJelly's ``MemoryModule``)."""
        for name in self._state_attrs:
            if name in self.__dict__:
                self.__dict__[name] = _map_tensors(self.__dict__[name], fn)
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self) -> Dict[str, Any]:
        """Copy and pickle the state by value: detached from the last forward's graph (deepcopy refuses non-leaf tensors)."""
        state = super().__getstate__()
        for name in self._state_attrs:
            if name in state:
                state[name] = _map_tensors(state[name], torch.Tensor.detach)
        return state

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


_GEN = "__generator_state__"


def _get_states(net: nn.Module) -> List[Tuple[StatefulModule, Dict[str, Any]]]:
    """The state of every stateful module in ``net``, with the state of its own ``generator`` (dropout masks)."""
    out = []
    for m in net.modules():
        if isinstance(m, StatefulModule):
            st = {n: m.__dict__.get(n) for n in m._state_attrs}
            gen = getattr(m, "generator", None)
            if isinstance(gen, torch.Generator):
                st[_GEN] = gen.get_state()
            out.append((m, st))
    return out


def _set_states(states: List[Tuple[StatefulModule, Dict[str, Any]]]) -> None:
    for m, st in states:
        st = dict(st)
        gen_state = st.pop(_GEN, None)
        if gen_state is not None:
            m.generator.set_state(gen_state)  # type: ignore[union-attr]
        m.__dict__.update(st)


def checkpoint(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``torch.utils.checkpoint`` for a module holding neurons: the recomputation starts from the state the forward started from.

    Plain ``torch.utils.checkpoint.checkpoint(module, x)`` re-runs ``module`` in backward from the
    state its forward *left*, so the recomputed graph (and the gradients) differ silently. This
    saves the states of every :class:`StatefulModule` inside ``module`` (and of its own
    ``generator``, so a dropout mask is drawn again the same) before the forward, restores
    them for the recomputation and puts the live states back afterwards. Extra
    keyword arguments go to :func:`torch.utils.checkpoint.checkpoint` (non-reentrant only).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"snnkit.checkpoint: module must be a torch.nn.Module, got {type(module).__name__}")
    if kwargs.pop("use_reentrant", False):
        raise ValueError("snnkit.checkpoint: use_reentrant=True is not supported (it has no recomputation context); "
                         "leave it out (non-reentrant)")
    if "context_fn" in kwargs:
        raise ValueError("snnkit.checkpoint: context_fn is set by snnkit.checkpoint itself and cannot be given")
    before = _get_states(module)

    @contextlib.contextmanager
    def recompute() -> Iterator[None]:
        live = _get_states(module)
        _set_states(before)
        try:
            yield
        finally:
            _set_states(live)

    return torch.utils.checkpoint.checkpoint(
        module, *args, use_reentrant=False, context_fn=lambda: (contextlib.nullcontext(), recompute()), **kwargs)
