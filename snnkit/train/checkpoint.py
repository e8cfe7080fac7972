"""Checkpoints: model, optimiser, scheduler, scaler and RNG states, config and snnkit version.

Written to a temporary file in the target directory and renamed, so a crash never
leaves a half-written checkpoint under the real name.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from .._io import atomic_write, torch_load


def rng_state() -> Dict[str, Any]:
    """Every RNG a training run draws from."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def seed_rngs(seed: int) -> None:
    """Seed every RNG :func:`rng_state` saves (torch, NumPy, Python), so two runs with one seed draw alike."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Union[str, Path], payload: Dict[str, Any]) -> Path:
    """``torch.save`` to a temp file next to ``path``, then atomically rename."""
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def refuse_vae(path: Union[str, Path], ckpt: Any) -> None:
    """A TCJA VAE file (``snnkit generate-images`` writes it) is not a training checkpoint: say which command reads it."""
    if isinstance(ckpt, dict) and ckpt.get("arch") == "tcja_vae":
        raise ValueError(f"checkpoint {str(path)!r} is a TCJA VAE (snnkit generate-images --checkpoint samples and "
                         "scores it), not a classifier or language model checkpoint")


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_LAVA_MARK = b"snnkit-lava-network"  # snnkit.hardware.lava.LAVA_FORMAT, as pickled in LavaNetwork.save's files
_GIVE_CHECKPOINT = "give the checkpoint snnkit train wrote (best.pt or last.pt in its --out folder)"


def export_file_kind(path: Union[str, Path]) -> Optional[str]:
    """What ``snnkit export`` file ``path`` is (read from its bytes, nothing unpickled), or None for any other file.

    A user who passes an export's output where a training checkpoint belongs gets told that, not a pickle error."""
    import zipfile

    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(len(_HDF5_MAGIC)) == _HDF5_MAGIC:
                return "an HDF5 file (a NIR graph or lava-dl netx network, as snnkit export --to nir|netx writes)"
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if pkl and _LAVA_MARK in z.read(pkl[0]):
                    return ("a Lava network (snnkit export --to lava writes it; snnkit.hardware.load_lava reads it; "
                            "snnkit simulate runs the checkpoint it was exported from)")
    except (OSError, zipfile.BadZipFile):
        return None
    return None


def refuse_export_file(path: Union[str, Path]) -> None:
    """ValueError if ``path`` is an ``snnkit export`` output rather than a checkpoint, naming the fix."""
    kind = export_file_kind(path)
    if kind is not None:
        raise ValueError(f"{str(path)!r} is {kind}, not a training checkpoint; {_GIVE_CHECKPOINT}")


def load_checkpoint(path: Union[str, Path], model: Optional[nn.Module] = None, arch: Optional[str] = None) -> Dict[str, Any]:
    """Load a checkpoint; if ``model`` is given, check it has the same architecture and load its weights.

    Raises FileNotFoundError for a missing file, ValueError for a file that is not a
    snnkit checkpoint or was written for another architecture (naming what differs).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {str(path)!r} is a directory; give the .pt file (e.g. last.pt or best.pt in it)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    refuse_export_file(path)
    try:
        ckpt = torch_load(path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise ValueError(f"checkpoint {str(path)!r} could not be read (corrupt or not a torch file): {err}") from None
    refuse_vae(path, ckpt)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "snnkit_version" not in ckpt:
        raise ValueError(f"checkpoint {str(path)!r} is not a snnkit checkpoint (no 'model'/'snnkit_version' entries)")
    if arch is not None and ckpt.get("arch") not in (None, arch):
        raise ValueError(f"checkpoint {str(path)!r} holds a {ckpt.get('arch')!r} model, expected {arch!r}")
    if model is not None:
        check_state_dict(model, ckpt["model"], str(path))
        model.load_state_dict(ckpt["model"])
    return ckpt


FREE_TEXT_KEYS = ("notes",)  # model-config entries that describe a run without changing it


def config_differences(saved: Any, wanted: Any, limit: int = 8, defaults: Optional[Dict[str, Any]] = None,
                       ignore: Sequence[str] = (), names: str = "") -> str:
    """``"key: checkpoint X vs this run Y; ..."`` for the top-level entries where two model configs differ.

    Empty when they agree; free-text entries (``notes``) are not compared. An entry missing from
    the checkpoint counts as its value in ``defaults``: a field added by a later snnkit version
    does not stop an older run from resuming while it keeps its default. ``ignore``: keys that may
    differ; ``names`` prefixes each key (``"samples"`` -> ``"samples train: ..."``).
    """
    if not isinstance(saved, dict) or not isinstance(wanted, dict):
        return "" if saved == wanted else f"model config {saved!r} vs this run {wanted!r}"
    if defaults:
        saved = {**{k: v for k, v in defaults.items() if k in wanted}, **saved}

    def show(d: Dict[str, Any], k: str) -> str:
        return repr(d[k]) if k in d else "absent"

    keys = [k for k in dict.fromkeys([*saved, *wanted])
            if k not in FREE_TEXT_KEYS and k not in ignore and (k not in saved or k not in wanted or saved[k] != wanted[k])]
    prefix = f"{names} " if names else ""
    parts = [f"{prefix}{k}: checkpoint {show(saved, k)} vs this run {show(wanted, k)}" for k in keys[:limit]]
    return "; ".join(parts) + (" ..." if len(keys) > limit else "")


def load_fitting_state(model: nn.Module, state: Dict[str, torch.Tensor], where: str) -> None:
    """``model.load_state_dict(state)``; weights that do not fit the model are one ValueError line naming ``where``
    (torch's report spans many lines), for checkpoints whose ``model_config`` built ``model``."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"{where}: its weights do not fit its model_config ({detail[:500]}"
                         f"{' ...' if len(detail) > 500 else ''})") from None


def check_state_dict(model: nn.Module, state: Dict[str, torch.Tensor], source: str) -> None:
    """Raise ValueError listing missing, unexpected and mis-shaped entries between ``model`` and ``state``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:8]))
        raise ValueError(f"{source} was saved from a different architecture: " + ", ".join(parts))
