"""Datasets for spiking networks: neuromorphic event data as frames, with an HDF5 frame cache.

``load(name, root=..., frames=T, split_by="number")`` returns ``(train, test)`` datasets that
yield ``(frames[T, C, H, W] float32, label int)``; ``make_loader`` batches them time-major,
``[T, B, C, H, W]``. Event datasets (DVS128 Gesture, CIFAR10-DVS, N-Caltech101, N-MNIST) are read
from your own copy in its native layout with tonic's readers; ``digits_dvs`` (scikit-learn's
digits seen by a simulated DVS in N-MNIST-style saccades) and ``digits`` need no download.
Framing conventions (SpikingJelly's or tonic's bin edges) are in :mod:`snnkit.data.events`;
the cache in :mod:`snnkit.data.cache`; ``docs/data.md`` says where each dataset's files go.
"""
from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import augment as _augment
from .augment import Compose, RandomFlip, RandomRoll, paper_augment
from .cache import FrameDataset, cache_path, default_cache_dir, is_valid, sample_generator, write_cache
from .collate import TimeMajorCollate, collate_time_major, make_loader
from .digits_dvs import DigitsDVS, DVSSimParams, simulate, simulate_batch
from .events import CONVENTIONS, EVENT_DTYPE, SPLIT_BY, Framing, _check_choice, bin_index, make_events, resize_events, to_frames
from .housekeeping import build_lock
from .neuromorphic import LAYOUTS, SOURCES, EventFiles, SampleError
from .static import FASHION_LAYOUT, FASHION_SOURCE, StaticFrames

__all__ = [
    "load", "prepare", "info", "list_datasets", "DATASETS", "DatasetInfo", "default_cache_dir",
    "EVENT_DTYPE", "make_events", "to_frames", "bin_index", "resize_events", "Framing",
    "DVSSimParams", "simulate", "simulate_batch", "DigitsDVS",
    "FrameDataset", "FramedEvents", "EventFiles", "StaticFrames", "SampleError",
    "collate_time_major", "TimeMajorCollate", "make_loader",
    "RandomFlip", "RandomRoll", "Compose", "paper_augment",
]



@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where its files come from and go, and how it is split."""

    name: str
    kind: str                       # "events" (framed, cached) or "static" (images repeated over T)
    n_classes: int
    sensor_size: Tuple[int, int, int]   # (W, H, P) for events, (W, H, 1) for images
    offline: bool                   # True: needs no root (ships with snnkit's dependencies)
    split: str
    source: str
    layout: str
    paper_frames: Optional[int] = None   # T used by TCJA-SNN (split_by="number")
    options: FrozenSet[str] = field(default_factory=frozenset)   # dataset-specific keyword options of load()
    factory: Optional[Callable[..., Tuple[Any, Any]]] = field(default=None, repr=False, compare=False)


def _digits_dvs_factory(root: Any, seed: int = 0, sim: Any = None, test_size: float = 0.2, **_: Any) -> Tuple[Any, Any]:
    from .digits_dvs import load_digit_images, split_indices

    if root is not None:
        raise ValueError(f"digits_dvs takes no dataset folder (root / --root): it is simulated from scikit-learn's "
                         f"bundled digits; got {str(root)!r}")
    if sim is None:
        params = DVSSimParams()
    elif isinstance(sim, DVSSimParams):
        params = sim
    elif isinstance(sim, dict):
        params = DVSSimParams(**sim)
    else:
        raise TypeError(f"digits_dvs: sim must be a DVSSimParams, a dict of its fields or None, got {type(sim).__name__}")
    _, labels = load_digit_images()
    tr, te = split_indices(labels, test_size, seed)
    return DigitsDVS(tr, params, "train"), DigitsDVS(te, params, "test")


def _neuromorphic(fn_name: str) -> Callable[..., Tuple[Any, Any]]:
    def factory(root: Any, seed: int = 0, **opts: Any) -> Tuple[Any, Any]:
        from . import neuromorphic

        # the per-class split follows split_seed only (None: sorted order), never the augmentation seed
        opts["seed"] = opts.pop("split_seed", None)
        return getattr(neuromorphic, fn_name)(root, **opts)

    return factory


def _static(fn_name: str) -> Callable[..., Tuple[Any, Any]]:
    def factory(root: Any, **opts: Any) -> Tuple[Any, Any]:
        from . import static

        return getattr(static, fn_name)(root, **opts)

    return factory


DATASETS: Dict[str, DatasetInfo] = {
    "dvs128_gesture": DatasetInfo(
        "dvs128_gesture", "events", 11, (128, 128, 2), False,
        "official: users 1-23 train, 24-29 test (IBM original: 1176/288 samples; tonic's copy: its own files)",
        SOURCES["dvs128_gesture"], LAYOUTS["dvs128_gesture"], 20, frozenset(), _neuromorphic("dvs128_gesture")),
    "cifar10_dvs": DatasetInfo(
        "cifar10_dvs", "events", 10, (128, 128, 2), False,
        "none published: per class ceil(90%) train / rest test, each class's files in sorted order (split_seed=None, "
        "the default: SpikingJelly's and TCJA's split) or permuted by numpy default_rng(split_seed); seed does not move it",
        SOURCES["cifar10_dvs"], LAYOUTS["cifar10_dvs"], 10, frozenset({"split_seed", "train_ratio"}), _neuromorphic("cifar10_dvs")),
    "n_caltech101": DatasetInfo(
        "n_caltech101", "events", 101, (240, 180, 2), False,
        "none published: per class ceil(90%) train / rest test in sorted order, or permuted by split_seed, as cifar10_dvs",
        SOURCES["n_caltech101"], LAYOUTS["n_caltech101"], 14, frozenset({"split_seed", "train_ratio", "classes"}),
        _neuromorphic("n_caltech101")),
    "n_mnist": DatasetInfo(
        "n_mnist", "events", 10, (34, 34, 2), False, "official Train (60000) / Test (10000)",
        SOURCES["n_mnist"], LAYOUTS["n_mnist"], None, frozenset(), _neuromorphic("n_mnist")),
    "digits_dvs": DatasetInfo(
        "digits_dvs", "events", 10, (34, 34, 2), True,
        "stratified 80/20 of the 1797 digits (sklearn train_test_split, random_state=seed)",
        "simulated offline from scikit-learn's bundled digits (snnkit.data.digits_dvs)", "(none: root=None)",
        8, frozenset({"sim", "test_size"}), _digits_dvs_factory),  # T of snnkit's digits_dvs TCJA config
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "static", 10, (28, 28, 1), False, "official train (60000) / test (10000)",
        FASHION_SOURCE, FASHION_LAYOUT, None, frozenset(), _static("fashion_mnist")),
    "digits": DatasetInfo(
        "digits", "static", 10, (8, 8, 1), True,
        "stratified 80/20 (sklearn train_test_split, random_state=seed; the same split as digits_dvs)",
        "scikit-learn's bundled digits (sklearn.datasets.load_digits)", "(none: root=None)", None,
        frozenset({"test_size"}), _static("digits")),
}


def list_datasets() -> List[str]:
    """Names accepted by :func:`load`."""
    return sorted(DATASETS)


ALIASES = {"ncaltech101": "n_caltech101"}  # the TCJA-SNN config names a dataset differently


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; ``ValueError`` naming the available datasets if unknown."""
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    if not isinstance(name, str) or name not in DATASETS:
        close = difflib.get_close_matches(str(name).lower().replace("-", "_"), DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown dataset {name!r}{hint}; available: {', '.join(list_datasets())}")
    return DATASETS[name]


class FramedEvents(torch.utils.data.Dataset):
    """Frames computed on access from an event dataset (``load(..., cache=False)``)."""

    supports_epoch_keys = True

    def __init__(self, source: Any, framing: Framing, augment: Any = None, seed: int = 0) -> None:
        self.source, self.framing = source, framing
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.classes = list(source.classes)
        self.targets = source.targets
        self.names = source.names
        self.name, self.split = getattr(source, "name", ""), getattr(source, "split", "")
        self.skipped: List[str] = list(getattr(source, "skipped", []))

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, key: Any) -> Tuple[torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        ev, label = self.source[int(index)]
        x = torch.from_numpy(self.framing(ev, self.source.sensor_size))
        if self.augment is not None:
            x = self.augment(x, sample_generator(self.seed, epoch, int(index) % len(self)))
        return x, int(label)

    def __repr__(self) -> str:
        return f"FramedEvents({self.name}/{self.split}: {len(self)} samples, {self.framing})"


def _frame_stream(source: Any, framing: Framing, on_error: str) -> Any:
    """(name, label, frames or None) for every sample, from the source's fastest path.

    Samples the source already left out while listing come first, as skipped. If every sample was
    skipped, the stream raises after the last one, so the cache writer keeps no empty file.
    """
    if hasattr(source, "iter_events"):
        items = source.iter_events()
    else:  # pragma: no cover - every snnkit event source has iter_events
        items = ((source.names[i], int(source.targets[i]), source[i][0]) for i in range(len(source)))
    skipped = list(getattr(source, "skipped", []))
    for name in skipped:
        yield name, -1, None
    kept = 0
    for name, label, ev in items:
        if isinstance(ev, Exception):
            if on_error == "raise":
                raise ev
            skipped.append(name)
            yield name, label, None
            continue
        kept += 1
        yield name, label, framing(ev, source.sensor_size)
    if not kept and skipped:
        _nothing_left(source, skipped)


def _nothing_left(source: Any, skipped: List[str]) -> None:
    """Refuse a split that skipping left empty: training on nothing would 'succeed' silently."""
    raise ValueError(f"{source.name}/{source.split}: all {len(skipped)} sample(s) of this split were unreadable and "
                     f"left out (on_error='skip'), so nothing is cached for it; first: {', '.join(skipped[:3])}. "
                     "Fix or replace those files (on_error='raise' stops at the first with its reason), or check root")


def _check_opts(meta: DatasetInfo, opts: Dict[str, Any]) -> None:
    unknown = sorted(set(opts) - meta.options)
    if unknown:
        allowed = ", ".join(sorted(meta.options)) or "none"
        raise TypeError(f"load({meta.name!r}): unexpected option(s) {unknown}; options for this dataset: {allowed}")


def _framing(frames: Optional[int], split_by: str, time_window: Optional[float], event_count: Optional[int],
             convention: str, include_incomplete: bool, size: Optional[Sequence[int]]) -> Optional[Framing]:
    if frames is None and time_window is None and event_count is None:
        if size is not None:
            raise ValueError("size= needs a framing: pass frames=T, time_window= or event_count=")
        return None
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1):
        raise ValueError(f"frames must be a positive integer (the number of frames T per sample), got {frames!r}")
    return Framing(n_bins=None if frames is None else int(frames), split_by=split_by, time_window=time_window,
                   event_count=event_count, convention=convention, include_incomplete=include_incomplete,
                   size=size)  # type: ignore[arg-type]  # Framing checks it: an int or a bad tuple get one message


def _check_framing_options(name: str, why: str, split_by: str, convention: str, include_incomplete: bool) -> None:
    """Refuse framing-only options where nothing is framed, so a setting is never silently ignored."""
    _check_choice(split_by, SPLIT_BY, "split_by")
    _check_choice(convention, CONVENTIONS, "convention")
    given = [f"{k}={v!r}" for k, v, default in (("split_by", split_by, "number"), ("convention", convention, "spikingjelly"),
                                                ("include_incomplete", include_incomplete, False)) if v != default]
    if given:
        raise ValueError(f"load({name!r}): {', '.join(given)} only shape event frames, and {why}; leave them out")


def _check_skip_needs_cache(name: str, on_error: str, cache: bool, framing: Optional[Framing]) -> None:
    """Refuse on_error='skip' where unreadable samples are found only while iterating (no frame cache is built)."""
    if on_error == "skip" and (framing is None or not cache):
        raise ValueError(f"load({name!r}): on_error='skip' needs the frame cache, which finds unreadable samples "
                         "before training: pass cache=True and frames=T (or time_window=/event_count=)")


def load(
    name: str,
    root: Optional[Union[str, Path]] = None,
    frames: Optional[int] = None,
    split_by: str = "number",
    *,
    time_window: Optional[float] = None,
    event_count: Optional[int] = None,
    convention: str = "spikingjelly",
    include_incomplete: bool = False,
    size: Optional[Sequence[int]] = None,
    augment: Any = False,
    seed: int = 0,
    cache: bool = True,
    cache_dir: Optional[Union[str, Path]] = None,
    on_error: str = "raise",
    in_memory: Optional[bool] = None,
    progress: bool = True,
    splits: Sequence[str] = ("train", "test"),
    **opts: Any,
) -> Tuple[Any, Any]:
    """``(train, test)`` datasets of ``name`` (see :func:`list_datasets`), yielding ``(x, label)``.

    Event datasets: give ``frames=T`` (with ``split_by="number"|"time"``), ``time_window=`` (us)
    or ``event_count=`` to get ``x = frames[T, 2, H, W]`` (float32 event counts), with
    ``convention`` SpikingJelly's (default; TCJA's numbers) or tonic's bin edges and an optional
    ``size=(H, W)`` resize of the sensor grid; frames are cached in HDF5 under ``cache_dir``
    (default ``$SNNKIT_DATA`` or ``~/.cache/snnkit/data``). With no framing argument ``x`` is
    the raw event array. Static datasets give ``x = image[T, 1, H, W]`` (repeated; T=1 if
    ``frames`` is None). ``augment`` (True = TCJA's flip + roll) applies to the training set
    only. ``seed`` seeds the augmentation draws and the digits/digits_dvs split
    (``random_state=seed``); ``on_error="skip"`` leaves unreadable samples out with a warning
    naming them, instead of raising. Dataset options: ``split_seed`` (cifar10_dvs,
    n_caltech101: the per-class 90/10 split; None, the default, keeps each class's sorted file
    order as SpikingJelly/TCJA; an int permutes; independent of ``seed``, so a seed sweep keeps
    one test set), ``train_ratio`` (the same two), ``classes`` (n_caltech101: a chosen subset
    of class folders), ``sim``/``test_size`` (digits_dvs), ``test_size`` (digits). ``splits``: the
    splits to read (the other is returned as None: evaluating the test split frames no training file).
    """
    meta = info(name)
    _check_opts(meta, opts)
    if isinstance(splits, str) or not splits or any(sp not in ("train", "test") for sp in splits):
        raise ValueError(f"splits must name 'train' and/or 'test', got {splits!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    aug = _augment.get(augment)
    assert meta.factory is not None
    if meta.kind == "static":
        if time_window is not None or event_count is not None or size is not None:
            raise ValueError(f"load({name!r}): a static image dataset takes frames=T (steps to repeat the image); "
                             "time_window, event_count and size apply to event datasets only")
        _check_framing_options(name, "this static image dataset has no events", split_by, convention, include_incomplete)
        return _only(splits, meta.factory(root, frames=frames, augment=aug, seed=seed, **opts))
    framing = _framing(frames, split_by, time_window, event_count, convention, include_incomplete, size)
    if framing is None:
        _check_framing_options(name, "no framing was asked (raw events: pass frames=T, time_window= or event_count=)",
                               split_by, convention, include_incomplete)
    _check_skip_needs_cache(name, on_error, cache, framing)
    train_src, test_src = meta.factory(root, seed=int(seed), on_error=on_error, **opts)
    if framing is None:
        if aug is not None:
            raise ValueError(f"load({name!r}): augment works on frames; pass frames=T (or time_window/event_count)")
        for src in (train_src, test_src):
            _warn_skipped(meta.name, src)
        return _only(splits, (train_src, test_src))
    if not cache:
        live = FramedEvents(train_src, framing, aug, seed), FramedEvents(test_src, framing, None, seed)
        for ds in live:
            _warn_skipped(meta.name, ds)
        return _only(splits, live)
    out: List[Any] = []
    for src, split_aug, split in ((train_src, aug, "train"), (test_src, None, "test")):
        if split not in splits:
            out.append(None)
            continue
        path = _ensure_cache(src, framing, cache_dir, on_error, progress)
        ds = FrameDataset(path, src.classes, augment=split_aug, seed=int(seed), in_memory=in_memory,
                          name=meta.name, split=src.split)
        _warn_skipped(meta.name, ds)
        out.append(ds)
    return out[0], out[1]


def _only(splits: Sequence[str], pair: Tuple[Any, Any]) -> Tuple[Any, Any]:
    """``(train, test)`` with the splits not asked for replaced by None."""
    return tuple(ds if sp in splits else None for sp, ds in zip(("train", "test"), pair))  # type: ignore[return-value]


def _warn_skipped(name: str, ds: Any) -> None:
    """Warn, naming them, about samples ``on_error='skip'`` left out (again on every cached load)."""
    skipped = getattr(ds, "skipped", [])
    if skipped:
        warnings.warn(f"{name}/{ds.split}: {len(skipped)} unreadable sample(s) left out "
                      f"(on_error='skip'): {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}",
                      RuntimeWarning, stacklevel=3)


def _record(src: Any, framing: Framing, on_error: str) -> Dict[str, Any]:
    return {"dataset": src.name, "split": src.split, "framing": framing.to_dict(), "sensor_size": list(src.sensor_size),
            "source": src.fingerprint(), "on_error": on_error}


def _ensure_cache(src: Any, framing: Framing, cache_dir: Any, on_error: str, progress: bool) -> Path:
    record = _record(src, framing, on_error)
    path = cache_path(default_cache_dir(cache_dir), src.name, src.split, record)
    if is_valid(path, record):
        return path
    with build_lock(path):   # concurrent loads (torchrun ranks) build once: the others wait here, then read it
        if not is_valid(path, record):
            w, h, p = framing.sensor_size(src.sensor_size)
            write_cache(path, record, _frame_stream(src, framing, on_error), len(src), (p, h, w),
                        desc=f"{src.name}/{src.split} frames", progress=progress,
                        chunk_frames=framing.n_bins if framing.fixed_length else 1)
    return path


def load_verified(name: str, *args: Any, **kwargs: Any) -> Tuple[Any, Any]:
    """:func:`load`, then read every cache file fully; a corrupt one is removed and rebuilt once (``prepare``'s check)."""
    from .cache import CorruptCacheError, verify_cache

    for attempt in (0, 1):
        try:
            pair = load(name, *args, **kwargs)
            for ds in pair:
                if hasattr(ds, "path"):
                    verify_cache(ds.path)
            return pair
        except CorruptCacheError as e:
            if attempt:
                raise
            warnings.warn(f"{e}; removing it and building it again", RuntimeWarning, stacklevel=2)
            e.path.unlink(missing_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def prepare(name: str, root: Optional[Union[str, Path]] = None, frames: Optional[int] = None, split_by: str = "number",
            **kwargs: Any) -> List[Path]:
    """Build (or find) the frame cache of both splits ahead of training; returns the cache files.

    Static image datasets have no cache: their files are checked (as :func:`load` reads them) and
    ``[]`` is returned.
    """
    meta = info(name)
    if meta.kind == "static":
        load(name, root, frames, **{k: v for k, v in kwargs.items() if k in ("seed", "test_size")})
        return []
    if frames is None and kwargs.get("time_window") is None and kwargs.get("event_count") is None:
        frames = meta.paper_frames or 10
    train, test = load_verified(name, root, frames, split_by, **kwargs)
    return [getattr(d, "path") for d in (train, test) if hasattr(d, "path")]
