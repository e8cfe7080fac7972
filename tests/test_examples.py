"""The quick examples run as scripts (the long ones are exercised through their library calls)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["tcja_custom_block.py"])
def test_example_runs(script: str, capsys) -> None:
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    first, last = capsys.readouterr().out.strip().splitlines()
    rate = float(first.split("mean rate ")[1].split(",")[0])
    assert rate > 0.01 and "TCJA grads" in first  # the network fires from the start, so gradients reach TCJA
    assert "accuracy 1.00" in last  # and it fits the batch
