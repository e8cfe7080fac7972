"""Packaging: every package folder is listed in pyproject.toml, so a non-editable install is complete."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_every_package_folder_is_listed() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "snnkit").rglob("__init__.py")}
    found |= {"snnkit." + ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hardware").rglob("__init__.py")}
    found = {f for f in found if "__pycache__" not in f}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
    assert conf["package-dir"]["snnkit.hardware"] == "hardware"
