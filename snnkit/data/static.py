"""Static image datasets for spiking networks: Fashion-MNIST from its idx files, scikit-learn's digits.

Samples are ``[T, 1, H, W]`` float frames in [0, 1]: the image repeated over T steps (direct
input encoding, as TCJA-SNN feeds Fashion-MNIST); ``frames=None`` gives T = 1.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .cache import sample_generator
from ..functional.validation import is_int

__all__ = ["read_idx", "StaticFrames", "fashion_mnist", "digits", "FASHION_CLASSES", "FASHION_LAYOUT", "FASHION_SOURCE"]

PathLike = Union[str, os.PathLike]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_LAYOUT = """\
ROOT/                                 (or ROOT/FashionMNIST/raw/ as torchvision leaves it, or ROOT/fashion-mnist/)
    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]"""
FASHION_SOURCE = ("https://github.com/zalandoresearch/fashion-mnist (the four .gz files under data/fashion; "
                  "gzipped or not)")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: PathLike) -> np.ndarray:
    """An idx file (MNIST format; gzipped or plain, told by content) as a numpy array; ``ValueError`` if corrupt or truncated."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":   # gzip magic: the name may say .gz or not (saved decompressed, renamed)
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: cannot read idx file ({type(e).__name__}: {e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number {data[:4].hex() if len(data) >= 4 else data.hex()!r})")
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: idx header is truncated or has {ndim} dimensions")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    have = len(data) - 4 - 4 * ndim
    if have != need:
        raise ValueError(f"{path}: idx header says shape {shape} ({need} bytes) but the file holds {have} data bytes "
                         f"({'truncated' if have < need else 'trailing bytes'})")
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)


class StaticFrames(torch.utils.data.Dataset):
    """Images ``[N, H, W]`` in [0, 1] served as ``[T, 1, H, W]`` frames with integer labels."""

    supports_epoch_keys = True

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str], *, frames: Optional[int] = None,
                 augment: Optional[Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = None, seed: int = 0,
                 name: str = "", split: str = "") -> None:
        if frames is not None and (not is_int(frames) or frames < 1):
            raise ValueError(f"{name}: frames must be a positive integer (time steps to repeat the image) or None, got {frames!r}")
        self.images = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.float32)
        self.targets = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.T = frames or 1
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.name, self.split = name, split
        self.names = [f"{name}/{split}[{i}]" for i in range(len(self.targets))]
        self.skipped: list = []

    def __len__(self) -> int:
        return len(self.targets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, key: Any) -> Tuple[torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        n = len(self)
        if not -n <= int(index) < n:
            raise IndexError(f"{self.name or 'dataset'}: index {index} out of range for {n} samples")
        index = int(index) % n   # ds[-1] is ds[n - 1], augmentation draw included
        # a copy, not an expanded view of the stored images: editing x in place must not change the dataset
        x = self.images[index][None, None].expand(self.T, 1, *self.images.shape[1:]).clone()
        if self.augment is not None:
            x = self.augment(x, sample_generator(self.seed, epoch, index))
        return x, int(self.targets[index])

    def __repr__(self) -> str:
        return f"StaticFrames({self.name}/{self.split}: {len(self)} samples, frames [{self.T}, 1, {self.images.shape[1]}, {self.images.shape[2]}])"


def _find_fashion(root: Path) -> Dict[str, Path]:
    """The four idx files in the first folder holding all of them; else an error naming the missing ones."""
    best: Tuple[Path, Dict[str, Path]] = (root, {})
    for d in (root, root / "FashionMNIST" / "raw", root / "fashion-mnist", root / "fashion_mnist"):
        found: Dict[str, Path] = {}
        for names in FASHION_FILES.values():
            for n in names:
                for cand in (d / n, d / f"{n}.gz"):
                    if cand.is_file():
                        found[n] = cand
                        break
        if len(found) == 4:
            return found
        if len(found) > len(best[1]):
            best = (d, found)
    d, found = best
    if found:
        missing = [f"{n}[.gz]" for names in FASHION_FILES.values() for n in names if n not in found]
        what = f"{d} holds {len(found)} of the four idx files; missing: {', '.join(missing)}"
    else:
        have = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        what = f"the four idx files are not in {root} (found: {have[:8]})"
    raise FileNotFoundError(f"fashion_mnist: {what}.\nExpected layout:\n{FASHION_LAYOUT}\nWhere to get the files: "
                            f"{FASHION_SOURCE}")


def fashion_mnist(root: Optional[PathLike], *, frames: Optional[int] = None, augment: Any = None, seed: int = 0,
                  **_: Any) -> Tuple[StaticFrames, StaticFrames]:
    """Fashion-MNIST train (60000) / test (10000) from the idx files under ``root``."""
    if root is None:
        raise ValueError(f"fashion_mnist: no dataset folder given (root= in Python, --root on the command line), and "
                         f"Fashion-MNIST does not ship with snnkit: give the folder with its idx files.\nExpected layout:\n{FASHION_LAYOUT}\nWhere to get the files: {FASHION_SOURCE}")
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"fashion_mnist: root directory {str(root)!r} {what}.\nExpected layout:\n"
                                f"{FASHION_LAYOUT}\nWhere to get the files: {FASHION_SOURCE}")
    files = _find_fashion(root)
    out = []
    for split, (img_name, lab_name) in FASHION_FILES.items():
        images, labels = read_idx(files[img_name]), read_idx(files[lab_name])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"fashion_mnist: {files[img_name].name} has shape {images.shape} and {files[lab_name].name} "
                             f"{labels.shape}; expected [N, 28, 28] images and N labels")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"fashion_mnist: {files[lab_name].name} has labels outside 0..9")
        out.append(StaticFrames(images.astype(np.float32) / 255.0, labels, FASHION_CLASSES, frames=frames,
                                augment=augment if split == "train" else None, seed=seed, name="fashion_mnist", split=split))
    return out[0], out[1]


def digits(root: Optional[PathLike] = None, *, frames: Optional[int] = None, augment: Any = None, seed: int = 0,
           test_size: float = 0.2, **_: Any) -> Tuple[StaticFrames, StaticFrames]:
    """scikit-learn's 8x8 digits (values / 16), stratified split with ``random_state=seed`` (same split as ``digits_dvs``)."""
    from .digits_dvs import CLASSES, load_digit_images, split_indices

    images, labels = load_digit_images()
    tr, te = split_indices(labels, test_size, seed)
    return (StaticFrames(images[tr], labels[tr], CLASSES, frames=frames, augment=augment, seed=seed, name="digits", split="train"),
            StaticFrames(images[te], labels[te], CLASSES, frames=frames, seed=seed, name="digits", split="test"))
