"""Load a checkpoint of the original ridgerchu/TCJA scripts into snnkit's transcription of its network.

``src/dvs128.py``, ``src/cifar10dvs.py`` and ``src/caltech101.py`` save ``{"net": state_dict, ...}``,
``src/tet/cifar10dvs.py`` and ``src/tet/n-caltech101.py`` the bare state dict. Their networks hold the
same Conv2d / BatchNorm2d / Linear layers in the same order as ``build_model("dvs128_gesture" |
"cifar10_dvs" | "ncaltech101" | "cifar10_dvs_tet" | "ncaltech101_tet")``, under other names; each TCJA
block's two 1-D convolutions are named the other way round (the original ``conv``, T channels
sliding along C, is our ``conv_c``; its ``conv_c``, C channels sliding along T, is our ``conv_t``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

import torch
import torch.nn as nn

from .._io import torch_load
from ..attention import TCJA

__all__ = ["load_original_state_dict", "load_original_checkpoint"]

_LAYERS = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def _kind(prefix: str, params: Dict[str, torch.Tensor]) -> str:
    """What an original module is, from its parameters (names differ between scripts, shapes do not)."""
    if "running_mean" in params:
        return "BatchNorm2d"
    w = params.get("weight")
    kinds = {4: "Conv2d", 3: "Conv1d", 2: "Linear"}
    if w is None or w.ndim not in kinds:
        raise ValueError(f"load_original_state_dict: module {prefix!r} ({sorted(params)}) is not a Conv2d, "
                         "BatchNorm2d, Linear or TCJA convolution of the original TCJA networks")
    return kinds[w.ndim]


def _split(state_dict: Mapping[str, torch.Tensor]) -> Tuple[List[Tuple[str, str, Dict[str, torch.Tensor]]],
                                                             Dict[str, Dict[str, torch.Tensor]]]:
    """The original's layers in order ``(prefix, kind, params)`` and its TCJA blocks ``{prefix: {conv, conv_c}}``."""
    groups: Dict[str, Dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = value
    layers, blocks = [], {}
    for prefix, params in groups.items():
        kind = _kind(prefix, params)
        if kind == "Conv1d":
            # src/tet's TCJA wraps its ``conv`` in an nn.Sequential: ``<block>.conv.0``
            parent, _, role = (prefix[:-2] if prefix.endswith(".conv.0") else prefix).rpartition(".")
            if role not in ("conv", "conv_c"):
                raise ValueError(f"load_original_state_dict: 1-D convolution {prefix!r} is not a TCJA block's "
                                 "'conv' or 'conv_c'")
            blocks.setdefault(parent, {})[role] = params["weight"]
        else:
            layers.append((prefix, kind, params))
    return layers, blocks


def load_original_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy an original TCJA network's weights (its ``checkpoint["net"]``) into ``model``; returns ``model``.

    ``ValueError`` naming the first layer whose type or shape differs (another network or config).
    """
    layers, blocks = _split(state_dict)
    ours = [(name, m) for name, m in model.named_modules() if isinstance(m, _LAYERS)]
    tcjas = [(name, m) for name, m in model.named_modules() if isinstance(m, TCJA)]
    if len(layers) != len(ours) or len(blocks) != len(tcjas):
        raise ValueError(f"load_original_state_dict: the checkpoint has {len(layers)} Conv2d/BatchNorm2d/Linear layers "
                         f"and {len(blocks)} TCJA blocks, the model {len(ours)} and {len(tcjas)}: another network "
                         "(load it into build_model of the config its script trained)")
    for (prefix, kind, params), (name, m) in zip(layers, ours):
        own = m.state_dict()
        shapes_differ = set(params) != set(own) or any(params[k].shape != own[k].shape for k in own)
        if type(m).__name__ != kind or shapes_differ:
            got = {k: tuple(v.shape) for k, v in params.items() if k != "num_batches_tracked"}
            want = {k: tuple(v.shape) for k, v in own.items() if k != "num_batches_tracked"}
            raise ValueError(f"load_original_state_dict: checkpoint {kind} {prefix!r} {got} does not fit "
                             f"{type(m).__name__} {name!r} {want}")
        m.load_state_dict(dict(params))
    for (prefix, convs), (name, block) in zip(blocks.items(), tcjas):
        for role, target in (("conv", block.conv_c), ("conv_c", block.conv_t)):
            w = convs.get(role)
            if w is None or target is None or w.shape != target.weight.shape:
                raise ValueError(f"load_original_state_dict: TCJA {prefix!r}.{role} does not fit {name!r} "
                                 f"({None if w is None else tuple(w.shape)} vs "
                                 f"{None if target is None else tuple(target.weight.shape)})")
            with torch.no_grad():
                target.weight.copy_(w)
    return model


def load_original_checkpoint(path: Union[str, Path], config: Union[str, Any]) -> nn.Module:
    """``build_model(config)`` with the weights of an original script's checkpoint file (``{"net": ...}`` or, from
    ``src/tet``, the bare state dict)."""
    from .tcja_snn import build_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_original_checkpoint: {str(path)!r} does not exist")
    ckpt = torch_load(path)
    state = ckpt.get("net", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"load_original_checkpoint: {str(path)!r} holds no state dict (the original scripts save "
                         "{'net': state_dict, ...}, the src/tet scripts the state dict itself)")
    return load_original_state_dict(build_model(config), state)
