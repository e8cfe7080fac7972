"""Build and load the CPU kernel libraries (C++ compiled once per machine, called through ctypes).

``load()`` gives the neuron kernels (``neuron_kernels.cpp``); ``load_library(source, flags, stem)``
builds any other source the same way (the WKV kernels of :mod:`snnkit.kernels.wkv`). Each
library is cached under ``$SNNKIT_CACHE`` (default ``~/.cache/snnkit``), keyed by a hash of
the source, the compiler flags and the CPU model, so a changed source or a different
machine never reuses a stale build. It is compiled to a temporary file and
renamed, so an interrupted build never leaves a broken library behind.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

SOURCE = Path(__file__).with_name("neuron_kernels.cpp")
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]

NEURON_STEM = "snnkit_neuron"

_lock = threading.Lock()
_libs: Dict[str, ctypes.CDLL] = {}
_errors: Dict[str, str] = {}


def cache_dir() -> Path:
    """Where compiled kernels live (``$SNNKIT_CACHE`` or ``~/.cache/snnkit``)."""
    return Path(os.environ.get("SNNKIT_CACHE", Path.home() / ".cache" / "snnkit")) / "kernels"


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh if ln.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _compiler() -> Optional[str]:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def library_path(compiler: str, source: Optional[Path] = None, flags: Optional[Sequence[str]] = None,
                 stem: str = NEURON_STEM) -> Path:
    """Cache path of a build of ``source`` (default: the neuron kernels) with ``flags`` by ``compiler``."""
    source = SOURCE if source is None else source
    flags = FLAGS if flags is None else flags
    key = hashlib.sha256()
    for part in (source.read_bytes(), " ".join(flags).encode(), compiler.encode(), _cpu_id().encode()):
        key.update(part)
    return cache_dir() / f"{stem}_{key.hexdigest()[:16]}.so"


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (else set and restored)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _compile(compiler: str, target: Path, source: Optional[Path] = None, flags: Optional[Sequence[str]] = None) -> None:
    source = SOURCE if source is None else source
    flags = FLAGS if flags is None else flags
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    except OSError as err:  # e.g. a read-only home directory in a container
        origin = "$SNNKIT_CACHE" if os.environ.get("SNNKIT_CACHE") else "the default, ~/.cache/snnkit"
        raise RuntimeError(f"cannot write the kernel build cache {target.parent} ({origin}): "
                           f"{err.strerror or err}; set SNNKIT_CACHE to a writable folder") from err
    os.close(fd)
    try:
        try:
            proc = subprocess.run([compiler, *flags, "-o", tmp, str(source)], capture_output=True, text=True)
        except (FileNotFoundError, PermissionError) as err:  # e.g. a mistyped $CXX
            origin = " ($CXX)" if os.environ.get("CXX") == compiler else ""
            raise RuntimeError(f"C++ compiler {compiler!r}{origin} cannot be run: {err.strerror}; "
                               "install g++ or set CXX to a working compiler") from err
        if proc.returncode != 0:
            raise RuntimeError(f"compiling {source.name} with {compiler} failed:\n{proc.stderr[-4000:]}")
        # mkstemp made the file 0600 (and the linker keeps that, adding execute bits): give it the mode
        # of any new file, so other users of a shared $SNNKIT_CACHE can load it instead of failing
        os.chmod(tmp, 0o755 & ~_umask())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_library(source: Path, flags: Sequence[str], stem: str) -> Optional[ctypes.CDLL]:
    """Return the library built from ``source``, compiling it on first use; ``None`` if impossible here."""
    if stem in _libs or stem in _errors:
        return _libs.get(stem)
    with _lock:
        if stem in _libs or stem in _errors:
            return _libs.get(stem)
        if os.environ.get("SNNKIT_DISABLE_CPU_KERNELS", "").lower() not in ("", "0", "false", "no"):
            _errors[stem] = "disabled by SNNKIT_DISABLE_CPU_KERNELS"
            return None
        compiler = _compiler()
        if compiler is None:
            _errors[stem] = "no C++ compiler found (install g++ or set CXX)"
            return None
        try:
            path = library_path(compiler, source, flags, stem)
            if not path.exists():
                _compile(compiler, path, source, flags)
            _libs[stem] = ctypes.CDLL(str(path))
        except (OSError, RuntimeError) as err:
            _errors[stem] = str(err)
        return _libs.get(stem)


def load() -> Optional[ctypes.CDLL]:
    """Return the neuron kernel library, compiling it on first use; ``None`` if that is impossible here."""
    return load_library(SOURCE, FLAGS, NEURON_STEM)


def error(stem: str = NEURON_STEM) -> Optional[str]:
    """Why a library could not be loaded (``None`` if it loaded or was not tried)."""
    return _errors.get(stem)


def bind(lib: Callable[[], Optional[ctypes.CDLL]], symbol: str, argtypes: list, unavailable: Callable[[], str]) -> Any:
    """The C function ``symbol`` (returning an int status) of ``lib()`` with its ctypes argument types; a
    ``RuntimeError`` saying ``unavailable()`` (asked once loading failed) when the library cannot be loaded."""
    so = lib()
    if so is None:
        raise RuntimeError(unavailable())
    f = getattr(so, symbol)
    f.argtypes, f.restype = argtypes, ctypes.c_int
    return f
