"""Build and load the CPU kernel library (C++ compiled once per machine, called through ctypes).

The shared library is cached under ``$SNNKIT_CACHE`` (default ``~/.cache/snnkit``), keyed by
a hash of the source, the compiler flags and the CPU model, so a changed source or a
different machine never reuses a stale build. It is compiled to a temporary file and
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
from typing import Optional

SOURCE = Path(__file__).with_name("neuron_kernels.cpp")
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_error: Optional[str] = None


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


def library_path(compiler: str) -> Path:
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler.encode(), _cpu_id().encode()):
        key.update(part)
    return cache_dir() / f"snnkit_neuron_{key.hexdigest()[:16]}.so"


def _compile(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} with {compiler} failed:\n{proc.stderr[-4000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load() -> Optional[ctypes.CDLL]:
    """Return the kernel library, compiling it on first use; ``None`` if that is impossible here."""
    global _lib, _error
    if _lib is not None or _error is not None:
        return _lib
    with _lock:
        if _lib is not None or _error is not None:
            return _lib
        if os.environ.get("SNNKIT_DISABLE_CPU_KERNELS", "").lower() not in ("", "0", "false", "no"):
            _error = "disabled by SNNKIT_DISABLE_CPU_KERNELS"
            return None
        compiler = _compiler()
        if compiler is None:
            _error = "no C++ compiler found (install g++ or set CXX)"
            return None
        try:
            path = library_path(compiler)
            if not path.exists():
                _compile(compiler, path)
            _lib = ctypes.CDLL(str(path))
        except (OSError, RuntimeError) as err:
            _error = str(err)
        return _lib


def error() -> Optional[str]:
    """Why the library could not be loaded (``None`` if it loaded or was not tried)."""
    return _error
