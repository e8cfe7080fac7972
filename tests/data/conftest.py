"""Fixtures for the data tests: a private frame cache and small native-format dataset copies."""
from __future__ import annotations

from pathlib import Path

import pytest

from .native import make_nmnist


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's ~/.cache: SNNKIT_DATA points at a per-session temporary folder."""
    d = tmp_path_factory.getbasetemp() / "snnkit-data-cache"
    monkeypatch.setenv("SNNKIT_DATA", str(d))
    return d


@pytest.fixture(scope="session")
def digits_dvs_frames(tmp_path_factory: pytest.TempPathFactory):
    """digits_dvs framed with T=8, built once per session (the whole 1797-digit dataset)."""
    import snnkit.data as D

    cache = tmp_path_factory.mktemp("digits-cache")
    return D.load("digits_dvs", frames=8, cache_dir=cache, progress=False), cache


@pytest.fixture()
def nmnist_root(tmp_path: Path) -> Path:
    return make_nmnist(tmp_path / "data", per_class=2)
