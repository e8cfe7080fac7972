"""Import lava-nc 0.10 on Python 3.11.

lava 0.10 declares Python < 3.11. On 3.11 one dataclass in
``lava/magma/compiler/var_model.py`` has a mutable default (a dataclass instance), which
3.11 rejects. Around the first ``import lava`` only, :func:`import_lava` wraps
``dataclasses._get_field`` so that such a default becomes a ``default_factory`` that
deep-copies it, then restores the original. No other dataclass is touched.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import threading
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


def import_lava() -> ModuleType:
    """Import and return ``lava.magma.core``'s parent package with the 3.11 shim applied once.

    Raises ImportError with install instructions if lava-nc is missing.
    """
    global _done
    with _lock:
        if not _done:
            original = dataclasses._get_field  # type: ignore[attr-defined]
            dataclasses._get_field = _patched_get_field(original)  # type: ignore[attr-defined]
            try:
                importlib.import_module("lava.magma.compiler.var_model")
                importlib.import_module("lava.magma.core.run_configs")
            except ModuleNotFoundError as err:
                if err.name and err.name.startswith("lava"):
                    raise ImportError(
                        "snnkit.hardware needs lava-nc: pip install --no-deps --ignore-requires-python "
                        "lava-nc==0.10.0 (plus numpy<2, networkx<=2.8.7, asteval<0.10, scipy, scikit-learn)"
                    ) from err
                raise
            finally:
                dataclasses._get_field = original  # type: ignore[attr-defined]
            _done = True
    return importlib.import_module("lava")
