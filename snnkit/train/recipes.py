"""Ready-made training jobs wiring models, data and the Trainer (used by ``snnkit train`` and the demo)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from .config import TrainConfig
from .trainer import Trainer, pick_device

_DATASET_OF = {"ncaltech101": "n_caltech101"}  # TCJA config name -> snnkit.data name where they differ


def tcja_trainer(
    config: Union[str, Any] = "digits_dvs", *, root: Optional[Union[str, Path]] = None,
    out_dir: Union[str, Path] = "runs/tcja", epochs: Optional[int] = None, attention: Optional[str] = None,
    batch_size: Optional[int] = None, lr: Optional[float] = None, seed: int = 0, augment: bool = False,
    max_train: Optional[int] = None, progress: bool = True, tensorboard: bool = True,
    data: Optional[Tuple[Any, Any]] = None, tcja_init_gain: Optional[float] = None, num_workers: int = 0,
    device: str = "auto", amp: str = "auto",
) -> Trainer:
    """A :class:`Trainer` for a TCJA-SNN config (name, JSON/YAML file or :class:`~snnkit.models.TCJASNNConfig`).

    The dataset comes from :func:`snnkit.data.load` (frames by number, SpikingJelly's bin edges,
    as the paper) unless ``data=(train, test)`` is given. ``max_train`` keeps the first N
    training samples (quick runs). Optimiser, schedule (cosine over ``T_max`` epochs), loss and
    batch size follow the config; ``num_workers``, ``device`` and ``amp`` go to :class:`TrainConfig`.
    """
    from .. import data as snn_data
    from ..models import tcja_snn

    cfg = tcja_snn.resolve_config(config, attention=attention, epochs=epochs, batch_size=batch_size, lr=lr,
                                  tcja_init_gain=tcja_init_gain)
    tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
                     scheduler="cosine" if cfg.scheduler == "cosine" else "none", T_max=cfg.T_max, seed=seed,
                     out_dir=str(out_dir), progress=progress, tensorboard=tensorboard, input_layout="BT",
                     num_workers=num_workers, device=device, amp=amp)
    pick_device(device)  # refuse an unavailable device before the (slow) data loading
    if data is None:
        name = _DATASET_OF.get(cfg.name, cfg.name)
        size = None if list(cfg.input_size) == list(cfg.sensor_size) else cfg.input_size
        data = snn_data.load(name, root=root, frames=cfg.T, split_by="number", size=size, augment=augment,
                             seed=seed, progress=progress)
    train, test = data
    if max_train is not None and max_train < len(train):
        train = torch.utils.data.Subset(train, range(max_train))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = tcja_snn.build_model(cfg)
    return Trainer(model, train, test, tc, arch="tcja_snn", model_config=_asdict(cfg), loss_fn=model.loss,
                   label=f"{cfg.name} {cfg.attention}")


def _asdict(cfg: Any) -> Dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)


def load_tcja(checkpoint: Union[str, Path]) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild a TCJA-SNN from a Trainer checkpoint; returns ``(model in eval mode, checkpoint dict)``."""
    from ..models import tcja_snn
    from .checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, arch="tcja_snn")
    if not ckpt.get("model_config"):
        raise ValueError(f"checkpoint {str(checkpoint)!r} has no model_config: cannot rebuild the network")
    model = tcja_snn.build_model(tcja_snn.TCJASNNConfig.from_dict(ckpt["model_config"]))
    load_checkpoint(checkpoint, model, arch="tcja_snn")
    return model.eval(), ckpt
