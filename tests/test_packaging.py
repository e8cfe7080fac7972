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


def _make_plan(tmp_path: Path, python_script: "str | None") -> str:
    """What `make -n install` would run in a copy of the Makefile whose .venv/bin/python is ``python_script``
    (None: a dangling link, as after the interpreter it was made from is removed), with the stamp and
    pyvenv.cfg newer than pyproject.toml and the Makefile."""
    import os
    import shutil
    import subprocess

    import pytest

    make = shutil.which("make")
    if make is None:
        pytest.skip("needs make")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
        os.utime(tmp_path / name, (1_000_000_000, 1_000_000_000))
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    if python_script is None:
        (bin_dir / "python").symlink_to(tmp_path / "gone" / "python3.11")
    else:
        (bin_dir / "python").write_text("#!/bin/sh\n" + python_script + "\n")
        (bin_dir / "python").chmod(0o755)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / ".venv" / ".snnkit-installed").touch()
    # as a top-level make: under `make test` the inherited MAKELEVEL/MAKEFLAGS add "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    proc = subprocess.run([make, "-n", "--no-print-directory", "install", "PYTHON=python3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_install_keeps_a_working_venv(tmp_path: Path) -> None:
    plan = _make_plan(tmp_path, "exit 0")  # runs and imports pip: installed, nothing to do
    assert "pip install" not in plan and "venv" not in plan, plan


def test_make_install_remakes_a_broken_venv(tmp_path: Path) -> None:
    # `python -m venv` interrupted before pip was in (or a venv made without pip); then an interpreter
    # that no longer exists. Both: the venv is made again from scratch and everything installed again.
    for script in ("exit 1", None):
        (tmp_path / str(script is None)).mkdir()
        plan = _make_plan(tmp_path / str(script is None), script)
        lines = plan.splitlines()
        assert lines and lines[0].endswith("-m venv --clear .venv"), plan
        assert any("pip install" in ln and "torch==2.13.0" in ln for ln in lines), plan


def test_every_data_file_in_a_package_is_package_data() -> None:
    """Files the code reads at run time (the C++ kernel sources) must be in the wheel: each non-Python file in
    a package folder matches a [tool.setuptools.package-data] pattern of its package."""
    from fnmatch import fnmatch

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = conf.get("package-data", {})
    missing = []
    for top, name in ((ROOT / "snnkit", "snnkit"), (ROOT / "hardware", "snnkit.hardware")):
        for path in top.rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            pkg = ".".join([name, *path.parent.relative_to(top).parts])
            if not any(fnmatch(path.name, pat) for pat in data.get(pkg, [])):
                missing.append(f"{pkg}: {path.name}")
    assert not missing, f"add to pyproject.toml [tool.setuptools.package-data]: {missing}"
