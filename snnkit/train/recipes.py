"""Ready-made training jobs wiring models, data and the Trainer (used by ``snnkit train`` and the demo)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from . import distributed as dist
from .config import TrainConfig
from .trainer import Trainer, pick_device



def tcja_trainer(
    config: Union[str, Any] = "digits_dvs", *, root: Optional[Union[str, Path]] = None,
    out_dir: Union[str, Path] = "runs/tcja", epochs: Optional[int] = None, attention: Optional[str] = None,
    batch_size: Optional[int] = None, lr: Optional[float] = None, seed: int = 0, augment: Optional[bool] = None,
    max_train: Optional[int] = None, progress: bool = True, tensorboard: bool = True,
    data: Optional[Tuple[Any, Any]] = None, tcja_init_gain: Optional[float] = None, num_workers: int = 0,
    device: str = "auto", amp: str = "auto", mixup: Optional[float] = None,
    cache_dir: Optional[Union[str, Path]] = None, bars: bool = True, on_error: str = "raise",
) -> Trainer:
    """A :class:`Trainer` for a TCJA-SNN config (name, JSON/YAML file or :class:`~snnkit.models.TCJASNNConfig`).

    The dataset comes from :func:`snnkit.data.load` (frames by number, SpikingJelly's bin edges,
    as the paper) unless ``data=(train, test)`` is given. ``max_train`` keeps N training
    samples drawn at random with ``seed`` (quick runs). Optimiser, schedule (cosine over ``T_max`` epochs), loss, batch
    size, training augmentation and mixup follow the config (``augment``/``mixup`` None: the config's); ``num_workers``,
    ``device`` and ``amp`` go to :class:`TrainConfig`; ``cache_dir``: the frame cache folder (default
    ``$SNNKIT_DATA`` or ``~/.cache/snnkit/data``, as ``snnkit data prepare``); ``bars=False`` keeps the
    per-epoch lines but draws no progress bars (logs written to a file). ``on_error="skip"`` trains
    without unreadable samples (listed in a warning), as ``snnkit data prepare --on-error skip`` caches them.
    """
    from ..models import tcja_snn

    cfg = tcja_snn.resolve_config(config, attention=attention, epochs=epochs, batch_size=batch_size, lr=lr,
                                  tcja_init_gain=tcja_init_gain, augment=augment, mixup=mixup)
    tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
                     scheduler=cfg.scheduler, T_max=cfg.T_max, step_size=cfg.step_size, gamma=cfg.step_gamma,
                     seed=seed,
                     out_dir=str(out_dir), progress=progress, tensorboard=tensorboard, input_layout="BT",
                     num_workers=num_workers, device=device, amp=amp, drop_last=cfg.drop_last, mixup=cfg.mixup)
    pick_device(device)  # refuse an unavailable device before the (slow) data loading
    if data is None:
        check_dataset_fits(cfg)
    train, test = data if data is not None else tcja_data(cfg, root, seed=seed, augment=cfg.augment,
                                                          # under torchrun: rank 0's frame-cache bar alone
                                                          progress=progress and bars and dist.launch_rank() == 0,
                                                          cache_dir=cache_dir,
                                                          on_error=on_error)
    if data is None:
        check_classes_found(cfg, train)
    subset = max_train is not None and max_train < len(train)
    if subset:
        train = torch.utils.data.Subset(train, subset_indices(len(train), max_train, seed))
    elif max_train is not None:
        warnings.warn(f"max_train={max_train} is not below the {len(train)} training samples: all are used",
                      stacklevel=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = tcja_snn.build_model(cfg)
    source = None if data is not None else {
        **{key: None if where is None else str(Path(where).expanduser().resolve())
           for key, where in (("root", root), ("cache_dir", cache_dir))}, "on_error": on_error,
        "max_train": int(max_train) if subset else None}  # evaluate --split train scores the samples trained on
    defaults = _asdict(tcja_snn.TCJASNNConfig())  # what a field missing from an older checkpoint meant
    if cfg.loss != "tet":  # only the TET loss reads tet_lamb: a checkpoint without it resumes under any other loss
        defaults["tet_lamb"] = cfg.tet_lamb
    trainer = Trainer(model, train, test, tc, arch="tcja_snn", model_config=_asdict(cfg), loss_fn=model.loss,
                      label=f"{cfg.name} {cfg.attention}", model_config_defaults=defaults, data_source=source)
    trainer.bars = bars
    return trainer


def check_dataset_fits(cfg: Any) -> None:
    """The config's ``name`` must be a dataset snnkit loads, and its classes, channels and sensor must be that
    dataset's: said before any data is read, naming the field (a mismatch otherwise fails deep in training)."""
    from .. import data as snn_data

    try:
        info = snn_data.info(cfg.name)
    except ValueError as err:
        raise ValueError(f"config field name {cfg.name!r} must name the dataset to train on: {err}") from None
    w, h, channels = info.sensor_size
    wrong = [f"{field} {got} (the dataset has {want})" for field, got, want in (
        ("num_classes", cfg.num_classes, info.n_classes), ("in_channels", cfg.in_channels, channels),
        ("sensor_size", list(cfg.sensor_size), [h, w])) if got != want]
    if wrong:
        raise ValueError(f"config {cfg.name!r} does not fit the {info.name} dataset: {'; '.join(wrong)}")


def check_classes_found(cfg: Any, train: Any) -> None:
    """A dataset folder with class folders missing would shift every label after the gap: refuse it."""
    classes = getattr(train, "classes", None) or getattr(getattr(train, "dataset", None), "classes", None)
    if classes is not None and len(classes) != cfg.num_classes:
        raise ValueError(f"{cfg.name}: found {len(classes)} classes in the dataset folder, the config expects "
                         f"{cfg.num_classes}; is the copy complete? (found: {', '.join(map(str, classes[:8]))}"
                         f"{' ...' if len(classes) > 8 else ''})")


def subset_indices(n: int, k: int, seed: int) -> List[int]:
    """``k`` of ``n`` indices drawn at random (seeded), in ascending order: a ``--max-train`` subset.

    The datasets list their samples class by class, so the first ``k`` would hold only the first
    few classes (the first 900 of CIFAR10-DVS are all airplanes).
    """
    if k < 1:
        raise ValueError(f"max_train must be a positive integer, got {k}")
    g = torch.Generator().manual_seed(int(seed))
    return sorted(torch.randperm(n, generator=g)[:k].tolist())


def tcja_data(cfg: Any, root: Optional[Union[str, Path]] = None, *, seed: int = 0, augment: bool = False,
              progress: bool = True, cache_dir: Optional[Union[str, Path]] = None,
              splits: Sequence[str] = ("train", "test"), on_error: str = "raise") -> Tuple[Any, Any]:
    """``(train, test)`` frames for a TCJA-SNN config, as training reads them.

    CIFAR10-DVS and N-Caltech101 are split per class by ``cfg.split_seed`` (None: the first 90 % of
    each class's sorted files train, as the original scripts); ``seed`` splits digits_dvs and seeds
    the augmentation draws, so evaluation passes the training run's seed."""
    from .. import data as snn_data

    name = snn_data.info(cfg.name).name  # the config names N-Caltech101 'ncaltech101'
    size = None if list(cfg.input_size) == list(cfg.sensor_size) else cfg.input_size
    # per-class 90/10 splits follow the config's split_seed (None: the scripts' file order), not the run's seed
    split = {"split_seed": cfg.split_seed} if "split_seed" in snn_data.info(name).options else {}
    return snn_data.load(name, root=root, frames=cfg.T, split_by="number", size=size, augment=augment, seed=seed,
                         progress=progress, cache_dir=cache_dir, splits=splits, on_error=on_error, **split)


def evaluate_tcja(checkpoint: Union[str, Path], *, root: Optional[Union[str, Path]] = None, split: str = "test",
                  batch_size: Optional[int] = None, device: str = "auto", num_workers: int = 0,
                  progress: bool = True, data: Optional[Tuple[Any, Any]] = None,
                  cache_dir: Optional[Union[str, Path]] = None) -> Any:
    """A :class:`~snnkit.train.evaluate.ClassificationReport` of a TCJA-SNN checkpoint on its dataset's ``split``.

    The data are framed as the run's config says and split with the run's seed, read from ``root``
    (default: the folder the run trained on, see :func:`run_data_source`); ``data=(train, test)``
    replaces the loading (tests, custom sets). The training split is read without augmentation.
    """
    from ..models import tcja_snn
    from .evaluate import classification_report

    if split not in ("test", "train"):
        raise ValueError(f"evaluate_tcja: split must be 'test' or 'train', got {split!r}")
    pick_device(device)
    model, ckpt = load_tcja(checkpoint)
    cfg = tcja_snn.TCJASNNConfig.from_dict(ckpt["model_config"])
    seed = int((ckpt.get("config") or {}).get("seed", 0))
    if data is None:
        root, cache_dir = run_data_source(ckpt, root, cache_dir)
        data = tcja_data(cfg, root, seed=seed, progress=progress, cache_dir=cache_dir, splits=(split,),
                         on_error=(ckpt.get("data_source") or {}).get("on_error", "raise"))
    train, test = data
    dataset = test if split == "test" else train
    if dataset is None or len(dataset) == 0:
        raise ValueError(f"evaluate_tcja: {cfg.name} has no {split} samples to evaluate")
    classes, split_size = getattr(dataset, "classes", None), len(dataset)
    max_train = (ckpt.get("data_source") or {}).get("max_train")
    if split == "train" and max_train is not None and max_train < split_size:  # a --max-train run: what it trained on
        dataset = torch.utils.data.Subset(dataset, subset_indices(split_size, int(max_train), seed))
    history = ckpt.get("history") or []
    meta = {"checkpoint": str(checkpoint), "dataset": cfg.name, "attention": cfg.attention, "split": split,
            "split_size": split_size, "max_train": max_train if split == "train" else None,
            "seed": seed, "epoch": ckpt.get("epoch"), "logged_test_acc": history[-1].get("test_acc") if history else None}
    return classification_report(model, dataset, cfg.num_classes, classes=classes,
                                 meta=meta, batch_size=batch_size or cfg.batch_size, device=device,
                                 num_workers=num_workers, loss_fn=model.loss, progress=progress)


def run_data_source(ckpt: Dict[str, Any], root: Optional[Union[str, Path]] = None,
                    cache_dir: Optional[Union[str, Path]] = None) -> Tuple[Optional[str], Optional[str]]:
    """``(root, cache_dir)`` to read a checkpoint's dataset: those given, else the ones its training run used.

    A remembered folder that is gone is dropped (the loader then asks for ``--root`` as usual,
    and this names the folder the run used)."""
    source = ckpt.get("data_source") or {}
    if root is None and source.get("root"):
        if not Path(source["root"]).is_dir():
            raise FileNotFoundError(f"the run trained on the dataset folder {source['root']!r}, which is not there "
                                    "any more: give the dataset's folder with --root")
        root = source["root"]
    if cache_dir is None and source.get("cache_dir") and Path(source["cache_dir"]).is_dir():
        cache_dir = source["cache_dir"]
    return (None if root is None else str(root)), (None if cache_dir is None else str(cache_dir))


def _asdict(cfg: Any) -> Dict[str, Any]:
    """The config as checkpoints store it, with ``surrogate_alpha: null`` written as the alpha the network uses
    (so a run resumes from checkpoints written when the field defaulted to ATan's 2.0)."""
    import dataclasses

    from .. import surrogate

    d = dataclasses.asdict(cfg)
    if d.get("surrogate_alpha") is None:
        d["surrogate_alpha"] = getattr(surrogate.get(d["surrogate"]), "alpha", None)
    return d


def load_tcja(checkpoint: Union[str, Path]) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild a TCJA-SNN from a Trainer checkpoint; returns ``(model in eval mode, checkpoint dict)``."""
    from ..models import tcja_snn
    from .checkpoint import check_state_dict, load_checkpoint

    ckpt = load_checkpoint(checkpoint, arch="tcja_snn")  # read once: the config, then the weights from it
    if not ckpt.get("model_config"):
        raise ValueError(f"checkpoint {str(checkpoint)!r} has no model_config: cannot rebuild the network")
    try:
        cfg = tcja_snn.TCJASNNConfig.from_dict(ckpt["model_config"]).validate()
    except (ValueError, TypeError) as err:
        raise ValueError(f"checkpoint {str(checkpoint)!r}: its network config cannot be rebuilt by this snnkit "
                         f"{__import__('snnkit').__version__}: {err}") from None
    model = tcja_snn.build_model(cfg)
    check_state_dict(model, ckpt["model"], str(checkpoint))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
