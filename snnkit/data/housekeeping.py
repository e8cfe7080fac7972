"""Frame-cache housekeeping: see what a cache folder holds, remove what is no longer wanted.

Builds take a shared lock on ``<cache dir>/.snnkit-cache.lock`` while they write; a cleaner
that gets the exclusive lock knows no build is running, so every temporary file left there
is from a build that died (SIGKILL, SIGTERM, a power cut) and can go. The kernel drops a
dead process's lock, so a killed build never blocks a later clean-up. Where ``flock`` is not
available nothing temporary is ever removed: it cannot be proven stale.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

__all__ = ["CacheEntry", "LOCK_NAME", "building", "build_lock", "list_caches", "stale_temporaries", "remove_stale_temporaries",
           "select_caches", "remove_files", "mark_used"]

PathLike = Union[str, os.PathLike]
LOCK_NAME = ".snnkit-cache.lock"
CACHE_RE = re.compile(r"^(?P<dataset>.+)-(?P<split>[^-]+)-(?P<key>[0-9a-f]{20})\.h5$")
TEMP_RE = re.compile(r"^\.(?P<final>.+-[0-9a-f]{20}\.h5)\.[A-Za-z0-9_]+\.h5\.tmp$")   # _io.atomic_write's names
BUILD_LOCK_RE = re.compile(r"^\.(?P<final>.+-[0-9a-f]{20}\.h5)\.lock$")   # build_lock's files


@dataclass(frozen=True)
class CacheEntry:
    """One frame-cache file and what its record says it holds."""

    path: Path
    dataset: str
    split: str
    size: int                     # bytes on disk
    last_used: float              # modification time: set when built and each time a dataset opens it
    samples: Optional[int]        # None if the file cannot be read
    framing: str                  # e.g. "T=10 number spikingjelly", "" if unreadable
    root: str                     # the dataset folder it was built from ("" for offline data)
    status: str                   # "ok", "incomplete" or "unreadable"
    detail: str = ""              # what else tells it apart: the root, or digits_dvs's simulator settings and split


@contextlib.contextmanager
def _flock(cache_dir: Path, mode: str, blocking: bool) -> Iterator[bool]:
    """Hold ``mode`` ("shared"/"exclusive") on the folder's lock file; yields False if not granted."""
    try:
        import fcntl
    except ImportError:   # pragma: no cover - not POSIX
        yield False
        return
    try:
        fd = os.open(cache_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        op = fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, op if blocking else op | fcntl.LOCK_NB)
            granted = True
        except OSError:
            granted = False
        yield granted
    finally:
        os.close(fd)   # closing the only descriptor releases the lock


@contextlib.contextmanager
def building(cache_dir: PathLike) -> Iterator[None]:
    """Mark a cache build in ``cache_dir`` (a shared lock) after removing any temporaries of dead builds."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cache_dir)
    with _flock(cache_dir, "shared", blocking=True):
        yield


@contextlib.contextmanager
def build_lock(path: PathLike) -> Iterator[None]:
    """Hold an exclusive lock for building cache file ``path``: concurrent loads (torchrun ranks) build it once.

    The others wait, then find it built. Only an economy, never needed for correctness (writes
    are atomic): where ``flock`` does not work, or the folder cannot be written, it locks nothing.
    """
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:   # the build itself reports an unwritable folder, naming it
        yield
        return
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except (ImportError, OSError):   # pragma: no cover - not POSIX, or a file system without flock
            pass
        yield
    finally:
        with contextlib.suppress(OSError):   # a waiter then holds the unlinked file's lock: harmless, it re-checks
            os.unlink(lock)
        os.close(fd)


def _unheld(lock: Path) -> bool:
    """Whether no process holds ``build_lock``'s file ``lock`` (a killed build leaves it behind, unheld)."""
    try:
        import fcntl

        fd = os.open(lock, os.O_RDWR)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _stale(p: Path) -> bool:
    """A temporary cache file or an unheld build-lock file (only asked while no build runs in the folder)."""
    return p.is_file() and (bool(TEMP_RE.match(p.name)) or (bool(BUILD_LOCK_RE.match(p.name)) and _unheld(p)))


def stale_temporaries(cache_dir: PathLike) -> Optional[List[Path]]:
    """Temporary cache and build-lock files in ``cache_dir`` (from killed builds) if no build is running there, else None."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    with _flock(cache_dir, "exclusive", blocking=False) as idle:
        if not idle:
            return None
        return sorted(p for p in cache_dir.iterdir() if _stale(p))


def remove_stale_temporaries(cache_dir: PathLike) -> List[Path]:
    """Delete temporary cache and build-lock files left by builds that died; nothing while another build runs."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    removed: List[Path] = []
    with _flock(cache_dir, "exclusive", blocking=False) as idle:
        if not idle:
            return []
        for p in sorted(cache_dir.iterdir()):
            if _stale(p):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
    return removed


def mark_used(path: PathLike) -> None:
    """Set a cache file's modification time to now, so ``clear --unused-for`` keeps caches in use."""
    with contextlib.suppress(OSError):   # a read-only cache folder is fine to read from
        os.utime(path)


def _describe_framing(f: Dict[str, Any]) -> str:
    if f.get("n_bins") is not None:
        head = f"T={f['n_bins']} {f.get('split_by', '')}"
    elif f.get("time_window") is not None:
        head = f"window={f['time_window']:g}us"
    elif f.get("event_count") is not None:
        head = f"events={f['event_count']}"
    else:
        head = "?"
    size = f" size={'x'.join(map(str, f['size']))}" if f.get("size") else ""
    return f"{head} {f.get('convention', '')}{size}".strip()


def _describe_source(record: Dict[str, Any]) -> str:
    """The root a cache was built from, or digits_dvs's non-default simulator settings and split; '+skip' if used."""
    source = record.get("source") if isinstance(record.get("source"), dict) else {}
    if source.get("root"):
        text = str(source["root"])
    elif "simulator" in source:
        from .digits_dvs import DVSSimParams

        default = DVSSimParams().to_dict()
        changed = [f"{k}={v}" for k, v in sorted(source["simulator"].items()) if default.get(k) != v]
        text = " ".join(changed + [f"split={str(source.get('indices_sha', ''))[:8]}"])
    else:
        text = ""
    return f"{text} +skip".strip() if record.get("on_error") == "skip" else text


def _entry(path: Path) -> CacheEntry:
    import h5py

    m = CACHE_RE.match(path.name)
    assert m is not None
    st = path.stat()
    samples, framing, root, status, detail = None, "", "", "unreadable", ""
    try:
        with h5py.File(path, "r") as f:
            record = json.loads(f.attrs["record"])
            samples = int(f["labels"].shape[0])
            status = "ok" if bool(f.attrs.get("complete", False)) else "incomplete"
        framing = _describe_framing(record.get("framing", {}))
        root = str(record.get("source", {}).get("root", "")) if isinstance(record.get("source"), dict) else ""
        detail = _describe_source(record)
    except (OSError, KeyError, ValueError, TypeError):
        pass
    return CacheEntry(path, m["dataset"], m["split"], st.st_size, st.st_mtime, samples, framing, root, status, detail)


def list_caches(cache_dir: PathLike) -> List[CacheEntry]:
    """Every frame-cache file in ``cache_dir``, by dataset and setting, train before test."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    entries = [_entry(p) for p in cache_dir.iterdir() if CACHE_RE.match(p.name) and p.is_file()]
    return sorted(entries, key=lambda e: (e.dataset, e.framing, e.root, e.split != "train", e.path.name))


def select_caches(entries: Sequence[CacheEntry], datasets: Sequence[str] = (), unused_for_days: Optional[float] = None,
                  now: Optional[float] = None) -> List[CacheEntry]:
    """The entries of the given datasets (all if none) not used for ``unused_for_days`` days (any if None)."""
    now = time.time() if now is None else now
    keep = set(datasets)
    return [e for e in entries if (not keep or e.dataset in keep)
            and (unused_for_days is None or now - e.last_used >= unused_for_days * 86400)]


def remove_files(paths: Sequence[PathLike]) -> int:
    """Delete ``paths`` (those already gone are skipped); returns the bytes freed."""
    freed = 0
    for p in paths:
        try:
            size = os.stat(p).st_size
            os.unlink(p)
            freed += size
        except FileNotFoundError:
            continue
    return freed
