"""HDF5 frame cache: frames computed once, stored under a key of every setting that shapes them.

A cache file is ``<cache dir>/<dataset>-<split>-<key[:20]>.h5``; the key is the SHA-256 of a
JSON record holding the dataset name, split, every framing parameter, the split seed and ratio,
simulator version and parameters (``digits_dvs``), the path, size and mtime of every source
file, :data:`FRAMES_VERSION` (the version of snnkit's readers and framing code) and the
installed tonic's version (:func:`reader_versions`: its ``tonic.io`` parses several formats), so any
change reads a different file and stale frames are never used. Files are written
to a temporary name in the same directory and renamed only when complete, and a reader checks
the stored key and completion mark, so an interrupted build is never read.

A build first removes temporary files of builds that were killed in the same folder
(:mod:`snnkit.data.housekeeping`); opening a cache sets its modification time, so
``snnkit data cache clear --unused-for DAYS`` keeps the caches in use.

Layout: ``frames`` ``[sum T_i, C, H, W]`` event counts, uint16 (float32 if a count does not fit),
lzf-compressed in chunks of one sample (T frames) when all samples have T frames, else one frame,
with fletcher32 checksums (as ``offsets`` and ``labels``; the metadata has HDF5's own, ``libver="latest"``),
``offsets`` int64 ``[N + 1]`` (sample i is ``frames[offsets[i]:offsets[i + 1]]``), ``labels``
int64 ``[N]``, ``names`` (sample names), ``skipped`` (names of unreadable samples left out with
``on_error="skip"``); attributes ``key``, ``record`` (the JSON), ``format``, ``complete``.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .._io import atomic_write
from .housekeeping import building, mark_used

__all__ = ["CACHE_FORMAT", "FRAMES_VERSION", "reader_versions", "default_cache_dir", "cache_key", "file_fingerprint", "cache_path", "is_valid",
           "write_cache", "verify_cache", "CorruptCacheError", "FrameDataset"]

CACHE_FORMAT = 1
# Version of what the frames of a given file and setting are: bump it with any change to a reader
# (neuromorphic.py), the framing (events.py) or the frame stream that changes stored frames, so every
# existing cache misses and is rebuilt instead of serving frames the fixed code would not give.
# 2: first keyed version (caches built before it may predate the gesture .npy fractional-ms fix).
FRAMES_VERSION = 2
IN_MEMORY_LIMIT = 256 << 20   # bytes of stored frames below which FrameDataset reads them all at once
PathLike = Union[str, os.PathLike]
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def default_cache_dir(cache_dir: Optional[PathLike] = None) -> Path:
    """The frame cache directory: ``cache_dir`` if given, else ``$SNNKIT_DATA``, else ``~/.cache/snnkit/data``.

    ``NotADirectoryError`` naming the setting it came from if it (or a parent) is a file.
    """
    if cache_dir is not None:
        return _checked_dir(Path(cache_dir).expanduser(), "cache_dir= (--cache-dir)")
    env = os.environ.get("SNNKIT_DATA")
    if env:
        return _checked_dir(Path(env).expanduser(), "$SNNKIT_DATA")
    return _checked_dir(Path.home() / ".cache" / "snnkit" / "data", "the default, ~/.cache/snnkit/data")


def _checked_dir(folder: Path, origin: str) -> Path:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == folder else f"cannot be created: {str(probe)!r} is a file"
        raise NotADirectoryError(f"frame cache folder {str(folder)!r} (from {origin}) {where}; point it at a folder")
    return folder


def file_fingerprint(files: Iterable[PathLike]) -> str:
    """SHA-256 over (path, size, mtime) of each file: changes when any source file is replaced or edited."""
    h = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        h.update(f"{os.fspath(f)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_key(record: Dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``record`` (every setting that shapes the frames)."""
    return hashlib.sha256(_canonical(record).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def reader_versions() -> Dict[str, Optional[str]]:
    """Versions of the third-party file readers behind the frames (tonic's ``tonic.io``), part of the key:
    a tonic upgrade that parses a format differently misses the caches built with the old one. Read once per
    process (the installed version does not change while it runs; reading it scans the installed packages)."""
    from importlib import metadata

    try:
        return {"tonic": metadata.version("tonic")}
    except metadata.PackageNotFoundError:
        return {"tonic": None}


def _canonical(record: Dict[str, Any]) -> str:
    # the running code's versions win over any a record carries (a record read back from an older file)
    return json.dumps({**record, "cache_format": CACHE_FORMAT, "frames_version": FRAMES_VERSION,
                       "readers": reader_versions()}, sort_keys=True, default=str)


def cache_path(cache_dir: PathLike, dataset: str, split: str, record: Dict[str, Any]) -> Path:
    """Where the frames for ``record`` live (the name carries the key)."""
    return Path(cache_dir) / f"{dataset}-{split}-{cache_key(record)[:20]}.h5"


def is_valid(path: PathLike, record: Dict[str, Any]) -> bool:
    """True if ``path`` is a complete cache file written for exactly ``record``."""
    import h5py

    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False)) and f.attrs.get("key", "") == cache_key(record) \
                and int(f.attrs.get("format", -1)) == CACHE_FORMAT
    except (OSError, KeyError, ValueError):
        return False


def write_cache(
    path: PathLike,
    record: Dict[str, Any],
    samples: Iterator[Tuple[str, int, Optional[np.ndarray]]],
    total: int,
    frame_shape: Sequence[int],
    *,
    desc: str = "frames",
    progress: bool = True,
    chunk_frames: int = 1,
) -> Path:
    """Write ``(name, label, frames[T, C, H, W] or None if skipped)`` samples to ``path`` atomically.

    The file appears under its final name only when every sample is written; on any error or
    interrupt the temporary file is removed. ``chunk_frames``: frames per HDF5 chunk (T when
    every sample has T frames, so a sample is one chunk read).
    """
    import h5py

    from ..progress import progress as progress_bar

    c, h, w = (int(v) for v in frame_shape)

    def _write(tmp: str) -> None:
        with h5py.File(tmp, "w", libver="latest") as f:   # "latest": checksummed metadata
            frame_bytes = c * h * w * 4
            store = _FrameStore(f, (c, h, w), max(1, min(int(chunk_frames), (8 << 20) // frame_bytes)), Path(path))
            offsets: List[int] = [0]
            labels: List[int] = []
            names: List[str] = []
            skipped: List[str] = []
            buf: List[np.ndarray] = []
            buffered = 0
            for name, label, fr in progress_bar(samples, total=total, desc=desc, enabled=progress, unit="sample"):
                if fr is None:
                    skipped.append(name)
                    continue
                if fr.ndim != 4 or tuple(fr.shape[1:]) != (c, h, w):
                    raise ValueError(f"sample {name!r}: frames have shape {tuple(fr.shape)}, expected [T, {c}, {h}, {w}]")
                buf.append(fr)
                buffered += fr.shape[0]
                offsets.append(offsets[-1] + fr.shape[0])
                labels.append(int(label))
                names.append(name)
                if buffered * c * h * w >= 1 << 23:  # flush every ~8M values
                    store.append(buf)
                    buf, buffered = [], 0
            store.append(buf)
            _check_space(Path(path), 16 * len(offsets) + sum(len(n) + 16 for n in names + skipped))
            f.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64), fletcher32=True)
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64), fletcher32=True)
            f.create_dataset("names", data=np.asarray(names, dtype=object), dtype=h5py.string_dtype())
            f.create_dataset("skipped", data=np.asarray(skipped, dtype=object), dtype=h5py.string_dtype())
            f.attrs["record"] = _canonical(record)
            f.attrs["key"] = cache_key(record)
            f.attrs["format"] = CACHE_FORMAT
            f.attrs["complete"] = True
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)

    with building(Path(path).parent):   # removes temporaries of killed builds; marks this one as running
        return atomic_write(path, _write)


SPACE_MARGIN = 8 << 20   # bytes kept free beyond a block's size: HDF5 metadata and its chunk cache, written later


def _check_space(path: Path, need: int) -> None:
    """Refuse (``OSError`` ENOSPC naming the folder) a write of up to ``need`` bytes the disk has no room for.

    Checked before HDF5 writes, because HDF5 that hits a full disk itself leaves its file in a
    state where closing or freeing it crashes the process (a segfault; h5py issue #914).
    """
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:   # no statvfs here: let the write itself report
        return
    if free < need + SPACE_MARGIN:
        raise OSError(errno.ENOSPC, f"no room to write the frame cache {path.name} in {str(path.parent)!r}: "
                      f"{free / 2**20:.1f} MiB free, the next block needs up to {(need + SPACE_MARGIN) / 2**20:.1f} MiB; "
                      "free some space (snnkit data cache clear) or point cache_dir= / --cache-dir / $SNNKIT_DATA "
                      "at a disk with room")


class _FrameStore:
    """The ``frames`` dataset: uint16 counts (exact, 2 bytes) unless a value needs float32, which it then switches to."""

    def __init__(self, f: Any, shape: Tuple[int, int, int], chunk_frames: int, path: Path) -> None:
        self.f, self.shape, self.chunk, self.dtype, self.path = f, shape, chunk_frames, np.dtype(np.uint16), path
        _check_space(path, 0)
        self.dset = self._create(self.dtype)

    def _create(self, dtype: Any) -> Any:
        c, h, w = self.shape
        return self.f.create_dataset("frames", shape=(0, c, h, w), maxshape=(None, c, h, w), dtype=dtype,
                                     chunks=(self.chunk, c, h, w), compression="lzf", shuffle=True, fletcher32=True)

    def append(self, buf: List[np.ndarray]) -> None:
        if not buf:
            return
        block = np.concatenate(buf)
        if self.dtype == np.uint16:
            exact = block.size == 0 or (block.min() >= 0 and block.max() <= 65535 and np.array_equal(block, np.round(block)))
            if not exact:  # promote what is stored so far, then go on in float32
                _check_space(self.path, (self.dset.size + block.size) * 4)
                old = self.dset[()]
                del self.f["frames"]
                self.dtype = np.dtype(np.float32)
                self.dset = self._create(self.dtype)
                self._write(old.astype(np.float32))
        _check_space(self.path, block.size * self.dtype.itemsize)   # stored uncompressed at worst
        self._write(block.astype(self.dtype))

    def _write(self, block: np.ndarray) -> None:
        n = self.dset.shape[0]
        self.dset.resize(n + block.shape[0], axis=0)
        self.dset[n:] = block


class CorruptCacheError(OSError):
    """A frame cache file that cannot be read back; the message names the file and how to rebuild it."""

    def __init__(self, path: Path, reason: str, missing: bool = False) -> None:
        dataset = path.name.split("-")[0]
        if missing:   # not damage: the file went away (cache clear while training, another disk)
            text = (f"frame cache {str(path)!r} is missing: it was removed after the dataset was loaded (e.g. by "
                    "snnkit data cache clear); load the dataset again and it is rebuilt")
        else:
            text = (f"frame cache {str(path)!r} is corrupt ({reason}); delete it (snnkit data cache clear "
                    f"{dataset}) and it is rebuilt on the next load")
        super().__init__(text)
        self.path = path


@contextlib.contextmanager
def _named_read_errors(path: Path) -> Iterator[None]:
    """Turn h5py's read errors into one line naming the cache file and the fix (it is rebuilt on the next load)."""
    try:
        yield
    except (OSError, KeyError, ValueError) as e:   # ValueError: e.g. undecodable names or record (UnicodeDecodeError)
        if isinstance(e, CorruptCacheError):
            raise
        raise CorruptCacheError(path, str(e), missing=getattr(e, "errno", None) == errno.ENOENT) from None


def verify_cache(path: PathLike) -> None:
    """Read every stored frame of a cache file once; ``CorruptCacheError`` naming it if any part is unreadable."""
    import h5py

    with _named_read_errors(Path(path)), h5py.File(path, "r") as f:
        dset = f["frames"]
        step = max(1, (64 << 20) // max(1, dset.dtype.itemsize * int(np.prod(dset.shape[1:]))))
        for a in range(0, dset.shape[0], step):
            dset[a:a + step]
        f["offsets"][()], f["labels"][()], json.loads(f.attrs["record"])
        [s.decode() if isinstance(s, bytes) else str(s) for k in ("names", "skipped") for s in f[k][()]]


class FrameDataset(torch.utils.data.Dataset):
    """Frames ``[T, C, H, W]`` (float32) and integer labels read from a frame cache file.

    The HDF5 file is opened lazily in each process (DataLoader workers included). ``augment``
    (training sets) is called as ``augment(frames, generator)`` with a generator seeded from
    ``(seed, epoch, index)``: reproducible, the same for any number of workers, and different
    every epoch when the loader comes from :func:`snnkit.data.make_loader` (which passes the
    epoch) or after :meth:`set_epoch`.
    """

    supports_epoch_keys = True

    def __init__(self, path: PathLike, classes: Sequence[str], *, augment: Optional[Augment] = None, seed: int = 0,
                 in_memory: Optional[bool] = None, name: str = "", split: str = "") -> None:
        import h5py

        self.path = Path(path).absolute()   # workers, or the caller after a chdir, open it lazily by this name
        self.classes = list(classes)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.name, self.split = name, split
        with _named_read_errors(self.path), h5py.File(self.path, "r") as f:
            self.offsets = f["offsets"][()]
            self.targets = f["labels"][()]
            self.names = [s.decode() if isinstance(s, bytes) else str(s) for s in f["names"][()]]
            self.skipped = [s.decode() if isinstance(s, bytes) else str(s) for s in f["skipped"][()]]
            self.frame_shape = tuple(f["frames"].shape[1:])
            self.record = json.loads(f.attrs["record"])
            dset = f["frames"]
            if in_memory is None:   # small caches (like digits_dvs) are read into memory once
                in_memory = dset.size * dset.dtype.itemsize <= IN_MEMORY_LIMIT
            self._memory = torch.from_numpy(dset[()]) if in_memory else None
        mark_used(self.path)
        self._file: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.targets)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation draw for plain ``dataset[i]`` indexing."""
        self.epoch = int(epoch)

    def lengths(self) -> np.ndarray:
        """Number of frames of every sample."""
        return np.diff(self.offsets)

    def _frames(self, i: int) -> torch.Tensor:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        if self._memory is not None:
            return self._memory[a:b].to(torch.float32, copy=True)   # never a view: editing x must not edit the cache
        with _named_read_errors(self.path):
            if self._file is None or self._pid != os.getpid():
                import h5py

                self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            return torch.from_numpy(self._file["frames"][a:b]).to(torch.float32)

    def __getitem__(self, key: Any) -> Tuple[torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        n = len(self)
        if not -n <= int(index) < n:
            raise IndexError(f"{self.name or 'dataset'}: index {index} out of range for {n} samples")
        index = int(index) % n
        x = self._frames(index)
        if self.augment is not None:
            x = self.augment(x, sample_generator(self.seed, epoch, index))
        return x, int(self.targets[index])

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

    def __repr__(self) -> str:
        return f"FrameDataset({self.name}/{self.split}: {len(self)} samples, frames [T, {', '.join(map(str, self.frame_shape))}], {self.path})"


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A torch generator seeded from (seed, epoch, index), independent of worker layout."""
    mixed = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, int(index) & 0xFFFFFFFF])
    return torch.Generator().manual_seed(int(mixed.generate_state(1, dtype=np.uint64)[0]) >> 1)
