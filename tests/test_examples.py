"""The quick examples run as scripts (the long ones are exercised through their library calls)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["tcja_custom_block.py"])
def test_example_runs(script: str, capsys) -> None:
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert "TCJA grads" in capsys.readouterr().out
