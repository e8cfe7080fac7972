"""Import lava-nc 0.10 on Python 3.11.

lava 0.10 declares Python < 3.11. On 3.11 one dataclass in
``lava/magma/compiler/var_model.py`` has a mutable default (a dataclass instance), which
3.11 rejects. Around the first ``import lava`` only, :func:`import_lava` wraps
``dataclasses._get_field`` so that such a default becomes a ``default_factory`` that
deep-copies it, then restores the original. No other dataclass is touched.

lava also calls ``multiprocessing.set_start_method('fork')`` at import, which raises once the
start method has been fixed by anything else (even ``multiprocessing.get_start_method()``);
during the import that call is made a no-op when the method is already ``fork`` (and switches
to ``fork`` with a warning otherwise: lava's runtime needs it).
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import multiprocessing
import threading
import warnings
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_done = False


def _patched_get_field(original: Any) -> Any:
    def get_field(cls: type, a_name: str, a_type: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(cls, a_name, a_type, *args, **kwargs)
        except ValueError as err:
            if "mutable default" not in str(err):
                raise
            default = cls.__dict__.get(a_name)
            setattr(cls, a_name, dataclasses.field(default_factory=lambda d=default: copy.deepcopy(d)))
            return original(cls, a_name, a_type, *args, **kwargs)

    return get_field


def _tolerant_set_start_method() -> Any:
    """Let lava's import-time ``multiprocessing.set_start_method('fork')`` pass when a start method is set.

    lava 0.10 calls it unconditionally, which raises ``RuntimeError: context has already been set``
    once anything has fixed the start method (``multiprocessing.get_start_method()`` does).
    Returns the original function; the caller restores it.
    """
    original = multiprocessing.set_start_method

    def set_start_method(method: str, force: bool = False) -> None:
        current = multiprocessing.get_start_method(allow_none=True)
        if current is None or force:
            return original(method, force=force)
        if current != method:
            warnings.warn(f"snnkit.hardware: lava needs the multiprocessing start method {method!r}, but it was "
                          f"already set to {current!r}; switching it to {method!r}", RuntimeWarning, stacklevel=2)
            original(method, force=True)

    multiprocessing.set_start_method = set_start_method  # type: ignore[assignment]
    return original


# lava-nc 0.10's declared requirements (import names). It is installed with --no-deps, so pip does not
# bring them; asteval, for one, is imported only when a network is compiled, deep inside a run.
LAVA_REQUIREMENTS = {"numpy": "numpy<2", "scipy": "scipy<2", "sklearn": "scikit-learn",
                     "networkx": "networkx<=2.8.7", "asteval": "asteval>=0.9.31,<0.10"}


def _check_lava_requirements() -> None:
    """ImportError naming lava-nc's missing requirements (and the pip command) when lava-nc is installed."""
    try:
        if importlib.util.find_spec("lava") is None:
            return  # lava-nc itself is missing: the import below says how to install it
    except (ImportError, ValueError):
        return
    missing = []
    for name, spec in LAVA_REQUIREMENTS.items():
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(spec)
    if missing:
        raise ImportError(
            f"snnkit.hardware: lava-nc is installed but its requirements {', '.join(missing)} are missing "
            "(lava-nc is installed with --no-deps, so pip does not bring them): "
            "pip install " + " ".join(f'"{m}"' for m in missing))


def import_lava() -> ModuleType:
    """Import and return ``lava.magma.core``'s parent package with the 3.11 shim applied once.

    Raises ImportError with install instructions if lava-nc is missing.
    """
    global _done
    with _lock:
        if not _done:
            _check_lava_requirements()  # before the shim: a refusal must leave dataclasses as it was
            original = dataclasses._get_field  # type: ignore[attr-defined]
            dataclasses._get_field = _patched_get_field(original)  # type: ignore[attr-defined]
            set_start = _tolerant_set_start_method()
            try:
                importlib.import_module("lava.magma.compiler.var_model")
                importlib.import_module("lava.magma.core.run_configs")
                importlib.import_module("lava.magma.runtime.message_infrastructure.multiprocessing")
            except ModuleNotFoundError as err:
                if err.name and err.name.startswith("lava"):
                    raise ImportError(
                        "snnkit.hardware needs lava-nc: pip install --no-deps --ignore-requires-python "
                        "lava-nc==0.10.0 (plus numpy<2, networkx<=2.8.7, asteval<0.10, scipy, scikit-learn)"
                    ) from err
                # lava-nc is installed with --no-deps, so its own requirements may be missing
                raise ImportError(
                    f"snnkit.hardware: lava-nc is installed but its requirement {err.name!r} is missing "
                    f"({err}); lava-nc is installed with --no-deps, so install its requirements yourself: "
                    "pip install \"numpy<2\" \"networkx<=2.8.7\" \"asteval>=0.9.31,<0.10\" \"scipy<2\" scikit-learn"
                ) from err
            finally:
                dataclasses._get_field = original  # type: ignore[attr-defined]
                multiprocessing.set_start_method = set_start
            _done = True
    return importlib.import_module("lava")
