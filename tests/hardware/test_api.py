"""The public hardware API: names, lazy lava import."""
from __future__ import annotations

import subprocess
import sys

import snnkit.hardware as hw


def test_import_does_not_import_lava_nir_or_h5py() -> None:
    code = ("import sys, snnkit.hardware as h; h.compare; h.energy; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('lava', 'nir', 'nirtorch', 'h5py')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names() -> None:
    for name in ("trace", "to_lava", "compare", "export_netx", "load_netx", "export_nir", "import_nir", "count_ops",
                 "count_lava", "energy", "quantize_plan", "LavaNetwork", "CompareReport", "import_lava"):
        assert callable(getattr(hw, name)), name
    from snnkit.hardware.compare import CompareReport  # importing the submodule keeps the function bound

    assert callable(hw.compare) and CompareReport is hw.CompareReport


def test_lava_without_its_requirements_names_them(monkeypatch) -> None:
    # lava-nc is installed with --no-deps; asteval is imported by lava only when a network is compiled,
    # so a missing one used to surface as a bare ModuleNotFoundError deep inside a run
    import importlib.util

    import pytest

    from snnkit.hardware import lava_compat

    if importlib.util.find_spec("lava") is None:
        pytest.skip("needs lava-nc")
    monkeypatch.setattr(lava_compat, "_done", False)
    monkeypatch.setitem(sys.modules, "asteval", None)
    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(ImportError) as err:
        lava_compat.import_lava()
    msg = str(err.value)
    assert 'pip install "networkx<=2.8.7" "asteval>=0.9.31,<0.10"' in msg, msg
    assert "numpy" not in msg and "scikit-learn" not in msg, msg  # only what is missing


def test_lava_with_its_requirements_imports(monkeypatch) -> None:
    import importlib.util

    import pytest

    from snnkit.hardware import lava_compat

    if importlib.util.find_spec("lava") is None:
        pytest.skip("needs lava-nc")
    monkeypatch.setattr(lava_compat, "_done", False)
    assert lava_compat.import_lava().__name__ == "lava"


def test_lava_missing_requirements_leave_dataclasses_unpatched(monkeypatch) -> None:
    # import_lava swaps in a 3.11 shim for dataclasses._get_field while lava imports; a refusal for lava's
    # missing requirements must put the original back, not leave every later dataclass patched
    import dataclasses
    import importlib.util

    import pytest

    from snnkit.hardware import lava_compat

    if importlib.util.find_spec("lava") is None:
        pytest.skip("needs lava-nc")
    original = dataclasses._get_field
    monkeypatch.setattr(lava_compat, "_done", False)
    monkeypatch.setitem(sys.modules, "asteval", None)
    with pytest.raises(ImportError, match="asteval"):
        lava_compat.import_lava()
    assert dataclasses._get_field is original
