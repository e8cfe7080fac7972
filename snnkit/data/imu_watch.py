"""Smartwatch exercise IMU data (seglearn's ``watch_dataset.npy``) as windowed time-step frames for SNNs.

Real recorded temporal data that ships offline: Burns et al. (arXiv 1802.01489), a wrist-worn
6-axis inertial sensor (accelerometer ax, ay, az; gyroscope wx, wy, wz) at 50 Hz, 140 series
of 947-2618 samples, 7 shoulder-rehabilitation exercises (PEN, ABD, FEL, IR, ER, TRAP, ROW),
10 subjects with 14 series each (BSD-3, bundled in the seglearn 1.2.5 wheel). Only the ``.npy``
file is read, by path: seglearn's code is never imported.

Each series is cut into windows of ``width`` samples with ``stride`` (an incomplete tail is
dropped) labelled with the series' class; the split is by subject (the highest subject ids
test), so no window of a test subject is trained on; each channel is standardised with the
mean and (population) standard deviation of the training windows only. A window ``[6, 100]``
becomes frames ``[T=20, 6, 1, 5]``: step ``t`` holds samples ``5t .. 5t+4`` of each channel.
``load_watch(shuffle_steps=True)`` (the temporal-order control of docs/tcja.md) permutes each window's
T steps by its own fixed permutation (:func:`step_permutation`), so order is destroyed, content kept.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch

__all__ = ["SEGLEARN_VERSION", "PIP_COMMAND", "CHANNELS", "CLASSES", "watch_path", "load_watch_raw", "window_starts",
           "make_windows", "subject_split", "standardize", "to_frames", "SHUFFLE_SEED", "step_permutation",
           "shuffle_frames", "WatchWindows", "load_watch"]

SEGLEARN_VERSION = "1.2.5"
PIP_COMMAND = f"pip install --no-deps seglearn=={SEGLEARN_VERSION}"
CHANNELS = ("ax", "ay", "az", "wx", "wy", "wz")
CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
SHUFFLE_SEED = 20240607  # the constant mixed with a window's index to seed its step permutation


def watch_path() -> Path:
    """Path of ``seglearn/data/watch_dataset.npy`` in the installed seglearn wheel (not imported)."""
    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"imu_watch: the smartwatch data ships in the seglearn wheel, which is not installed; "
                                f"run `{PIP_COMMAND}`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "watch_dataset.npy"
    if not path.is_file():
        raise FileNotFoundError(f"imu_watch: {path} is missing from the installed seglearn; run `{PIP_COMMAND}`")
    return path


def load_watch_raw(path: Any = None) -> Dict[str, Any]:
    """The file's series: ``X`` (list of float64 ``[n_i, 6]``), ``y`` and ``subject`` (int arrays), names."""
    p = Path(path) if path is not None else watch_path()
    d = np.load(p, allow_pickle=True).item()
    missing = {"X", "y", "subject", "y_labels", "X_labels"} - set(d)
    if missing:
        raise ValueError(f"imu_watch: {p} lacks the keys {sorted(missing)} (not seglearn's watch_dataset.npy?)")
    X = [np.asarray(x, dtype=np.float64) for x in d["X"]]
    if any(x.ndim != 2 or x.shape[1] != len(CHANNELS) for x in X) or tuple(d["X_labels"]) != CHANNELS:
        raise ValueError(f"imu_watch: {p}: expected series [n, 6] with channels {CHANNELS}, got channels "
                         f"{d['X_labels']} and shapes like {X[0].shape}")
    return {"X": X, "y": np.asarray(d["y"], dtype=np.int64), "subject": np.asarray(d["subject"], dtype=np.int64),
            "classes": tuple(d["y_labels"]), "channels": tuple(d["X_labels"])}


def window_starts(n: int, width: int, stride: int) -> np.ndarray:
    """Start indices of the complete windows of ``width`` samples every ``stride`` in a series of ``n``."""
    for name, v in (("width", width), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"window_starts: {name} must be a positive int, got {v!r}")
    return np.arange(0, max(n - width + 1, 0), stride, dtype=np.int64)


def make_windows(series: Sequence[np.ndarray], labels: Sequence[int], subjects: Sequence[int], width: int = 100,
                 stride: int = 50) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(windows[N, C, width], label[N], subject[N], series_index[N])``; series ``[n, C]`` (time first)."""
    if not (len(series) == len(labels) == len(subjects)):
        raise ValueError(f"make_windows: {len(series)} series, {len(labels)} labels, {len(subjects)} subjects")
    idx = np.arange(width)
    wins, lab, sub, src = [], [], [], []
    for i, (x, y, s) in enumerate(zip(series, labels, subjects)):
        starts = window_starts(len(x), width, stride)
        if len(starts):
            wins.append(np.asarray(x)[starts[:, None] + idx].transpose(0, 2, 1))  # [k, width, C] -> [k, C, width]
            lab += [int(y)] * len(starts)
            sub += [int(s)] * len(starts)
            src += [i] * len(starts)
    c = series[0].shape[1] if len(series) else 0
    out = np.concatenate(wins) if wins else np.zeros((0, c, width))
    return out, np.asarray(lab, np.int64), np.asarray(sub, np.int64), np.asarray(src, np.int64)


def subject_split(subjects: np.ndarray, n_test: int = 3) -> Tuple[List[int], List[int]]:
    """``(train_subjects, test_subjects)``: the ``n_test`` highest subject ids test, the rest train."""
    ids = sorted(int(s) for s in np.unique(subjects))
    if not 1 <= n_test < len(ids):
        raise ValueError(f"subject_split: n_test must be in [1, {len(ids) - 1}] for {len(ids)} subjects, got {n_test}")
    return ids[:-n_test], ids[-n_test:]


def standardize(train: np.ndarray, test: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel ``(x - mean) / std`` of ``[N, C, L]`` windows with the training windows' statistics only."""
    mean = train.mean(axis=(0, 2))
    std = train.std(axis=(0, 2))
    if np.any(std == 0):
        raise ValueError(f"standardize: channel(s) {np.flatnonzero(std == 0).tolist()} are constant in training")
    return (train - mean[:, None]) / std[:, None], (test - mean[:, None]) / std[:, None], mean, std


def to_frames(windows: np.ndarray, T: int = 20) -> np.ndarray:
    """``[N, C, L]`` windows -> ``[N, T, C, 1, L // T]`` frames: step ``t`` holds samples ``t*L/T .. (t+1)*L/T - 1``."""
    n, c, length = windows.shape
    if length % T:
        raise ValueError(f"to_frames: window length {length} is not a multiple of T={T}")
    return windows.reshape(n, c, T, length // T).transpose(0, 2, 1, 3)[:, :, :, None, :]


def step_permutation(window: int, T: int, seed: int = SHUFFLE_SEED) -> np.ndarray:
    """The fixed permutation of ``T`` steps for window number ``window`` (numpy PCG64 seeded by ``[seed, window]``)."""
    for name, v in (("window", window), ("T", T), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (1 if name == "T" else 0):
            raise ValueError(f"step_permutation: {name} must be a {'positive' if name == 'T' else 'non-negative'} int, "
                             f"got {v!r}")
    return np.random.default_rng([int(seed), int(window)]).permutation(int(T))


def shuffle_frames(frames: np.ndarray, windows: Sequence[int], seed: int = SHUFFLE_SEED) -> np.ndarray:
    """``frames[N, T, ...]`` with row ``i``'s steps reordered by ``step_permutation(windows[i], T, seed)`` (a copy)."""
    frames = np.asarray(frames)
    if frames.ndim < 2 or len(windows) != len(frames):
        raise ValueError(f"shuffle_frames: need frames [N, T, ...] and N window ids, got {frames.shape} and "
                         f"{len(windows)} ids")
    T = frames.shape[1]
    perm = np.stack([step_permutation(int(w), T, seed) for w in windows]) if len(frames) else np.zeros((0, T), int)
    return np.take_along_axis(frames, perm.reshape(perm.shape + (1,) * (frames.ndim - 2)), axis=1)


@dataclass
class WatchWindows(torch.utils.data.Dataset):
    """One split: ``x[N, T, 6, 1, W]`` float32 frames, ``y[N]`` labels, each window's subject and series index."""

    x: torch.Tensor
    y: torch.Tensor
    subject: np.ndarray
    series: np.ndarray
    split: str
    classes: Tuple[str, ...] = CLASSES

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def load_watch(T: int = 20, width: int = 100, stride: int = 50, n_test_subjects: int = 3,
               path: Any = None, shuffle_steps: bool = False) -> Tuple[WatchWindows, WatchWindows]:
    """``(train, test)`` standardised window frames, split by subject (see the module docstring); with
    ``shuffle_steps`` each window's steps are permuted by :func:`step_permutation` of its index among all windows."""
    raw = load_watch_raw(path)
    wins, lab, sub, src = make_windows(raw["X"], raw["y"], raw["subject"], width, stride)
    train_ids, _ = subject_split(raw["subject"], n_test_subjects)
    tr = np.isin(sub, train_ids)
    xtr, xte, _, _ = standardize(wins[tr], wins[~tr])
    out = []
    for mask, x, split in ((tr, xtr, "train"), (~tr, xte, "test")):
        frames = to_frames(x, T)
        if shuffle_steps:
            frames = shuffle_frames(frames, np.flatnonzero(mask))
        out.append(WatchWindows(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)),
                                torch.from_numpy(lab[mask]), sub[mask], src[mask], split, raw["classes"]))
    return out[0], out[1]
