"""When a model's hand-written recurrent step may stand in for its modules' ``forward`` calls.

The fast steps of :class:`snnkit.baselines.rwkv.RWKV` and :class:`snnkit.models.spikegpt.SpikeGPT`
read the submodules' weights directly instead of calling them, which is only the same
computation while every submodule is of the type the step was written for (not, say, a
LoRA wrapper put in place of a projection) and no module hook (forward, or backward: the
fast step may run with gradients) expects to be called.
"""
from __future__ import annotations

from typing import Tuple, Type

import torch.nn as nn
import torch.nn.modules.module as _module

__all__ = ["fast_step_ok"]

_STRUCTURE = [0]  # bumped whenever any module registers a submodule: cached module lists go stale


def _bump(module: nn.Module, name: str, submodule: nn.Module) -> None:
    _STRUCTURE[0] += 1


_module.register_module_module_registration_hook(_bump)


def fast_step_ok(model: nn.Module, types: Tuple[Type[nn.Module], ...]) -> bool:
    """True when every submodule of ``model`` is exactly one of ``types`` and no forward or backward hook is set.

    The module list is cached on ``model`` until a submodule is registered anywhere; a call
    then costs one pass over the cached hook dicts.
    """
    cache = model.__dict__.get("_fast_step_cache")
    if cache is None or cache[0] != _STRUCTURE[0]:
        subs = tuple(model.modules())[1:]
        exact = all(type(m) in types for m in subs)
        hooks = tuple(d for m in subs for d in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks,
                                                m._backward_pre_hooks))
        cache = model.__dict__["_fast_step_cache"] = (_STRUCTURE[0], exact, hooks)
    return cache[1] and not (_module._global_forward_hooks or _module._global_forward_pre_hooks
                             or _module._global_backward_hooks or _module._global_backward_pre_hooks or any(cache[2]))
