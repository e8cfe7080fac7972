"""Atomic file writes: everything snnkit saves goes to a temporary file in the target folder first."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it onto ``path``.

    A crash or an exception leaves ``path`` as it was (and no temporary file behind); the file is
    flushed to the disk before the rename, so a power loss cannot leave it empty.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a directory (give a file name)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix + ".tmp")
    except OSError as err:  # name the file asked for, not the hidden temporary one
        raise type(err)(err.errno, err.strerror, str(path)) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should read like any file the user writes
        write(tmp)
        _fsync(tmp)          # the data on disk before the name points at it: a crash never leaves an empty file
        os.replace(tmp, path)
        _fsync(path.parent)  # and the rename itself
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_writable_folder(folder: PathLike) -> Path:
    """Refuse (``OSError`` naming it) a folder no file can be written in; creates nothing.

    Probes the nearest existing folder on the way (a temporary file created and removed), so a
    long run can check its output location before it starts.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file" if probe == folder else f"cannot be created: {str(probe)!r} is a file"
        raise NotADirectoryError(f"{str(folder)!r} {where}, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".snnkit-write-probe.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise OSError(f"{str(folder)!r} is not writable: no file can be created in {str(probe)!r} "
                      f"({err.strerror or err})") from None
    return folder


def _fsync(path: PathLike) -> None:
    """Flush a file's (or a folder's entries') data to the disk; a filesystem that cannot is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. some network filesystems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _safe_globals() -> list:
    """What snnkit's own checkpoints hold beyond tensors and plain data: numpy's RNG state (arrays, dtypes, scalars)."""
    import numpy as np

    core = np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in ("uint32", "int64", "int32", "float64", "float32", "bool")]
    return [core._reconstruct, core.scalar, np.ndarray, np.dtype, *dtypes]


def torch_load(path: PathLike, mmap: bool = False) -> object:
    """``torch.load`` that runs no code from the file (``weights_only``; numpy's RNG state allowed): a downloaded
    checkpoint cannot execute anything. A file holding other Python objects is refused, saying why."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
        what = (lines[0] if lines else "objects other than tensors and plain data")[:200]
        raise ValueError(f"{str(path)!r} holds Python objects beyond tensors and plain data ({what}); snnkit does not "
                         "load those, since unpickling them can run code. If you trust the file, load it with "
                         "torch.load(path, weights_only=False) and save only its state dict") from None

