"""The quick examples run as scripts (the long ones are exercised through their library calls)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["tcja_custom_block.py"])
def test_example_runs(script: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", [script])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    first, last = capsys.readouterr().out.strip().splitlines()
    rate = float(first.split("mean rate ")[1].split(",")[0])
    assert rate > 0.01 and "TCJA grads" in first  # the network fires from the start, so gradients reach TCJA
    assert "accuracy 1.00" in last  # and it fits the batch


def test_custom_block_example_has_help_and_checks_its_options(capsys) -> None:
    """--help prints usage instead of training; a bad --steps is one argparse line."""
    mod = runpy.run_path(str(ROOT / "examples" / "tcja_custom_block.py"))
    with pytest.raises(SystemExit) as e:
        mod["main"](["--help"])
    assert e.value.code == 0 and "--steps" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        mod["main"](["--steps", "0"])
    assert e.value.code == 2 and "--steps must be at least 1" in capsys.readouterr().err


def test_train_events_example_refuses_an_out_holding_a_run(tmp_path, monkeypatch) -> None:
    (tmp_path / "last.pt").write_bytes(b"a finished run")
    monkeypatch.setattr("sys.argv", ["tcja_train_events.py", "--epochs", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="tcja_train_events: .* already holds a run .*overwrite=True"):
        runpy.run_path(str(ROOT / "examples" / "tcja_train_events.py"), run_name="__main__")
    assert (tmp_path / "last.pt").read_bytes() == b"a finished run"
