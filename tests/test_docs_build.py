"""The documentation site builds with ``mkdocs build --strict`` (broken links and missing pages fail)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_strict_build(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (the docs extra: pip install -e '.[docs]')")
    exe = str(mkdocs) if mkdocs.exists() else "mkdocs"
    # no -q: it hides the warnings that --strict counts, and a broken link passed
    res = subprocess.run([exe, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    built = {p.stem for p in (ROOT / "docs").glob("*.md")}
    for page in built - {"index"}:
        assert (tmp_path / "site" / page / "index.html").is_file(), f"docs/{page}.md was not built"
