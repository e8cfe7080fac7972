"""The seed-sweep benchmark's bookkeeping: paired statistics by hand, and extending a results file."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location("tcja_seeds", ROOT / "benchmarks" / "tcja_seeds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(variant: str, seed: int, final: float, gain: float = 10.0, epochs: int = 15) -> dict:
    return {"attention": variant, "seed": seed, "final": final, "tcja_init_gain": gain, "curve": [final] * epochs}


def test_summary_pairs_by_seed() -> None:
    m = _module()
    runs = [_run("tcja", 0, 0.98), _run("none", 0, 0.97), _run("tcja", 1, 0.96), _run("none", 1, 0.96),
            _run("tcja", 2, 0.95), _run("none", 2, 0.97)]
    rows = {r["variant"]: r for r in m.summarize(runs)}
    t = rows["tcja"]
    # paired differences +1, 0, -2 points: mean -1/3, std sqrt(7/3), sem std/sqrt(3)
    assert t["minus_none_mean"] == pytest.approx(-0.33)
    assert t["minus_none_sem"] == pytest.approx(round((7 / 3) ** 0.5 / 3 ** 0.5, 2))
    assert (t["wins_vs_none"], t["ties_vs_none"]) == ("1/3", 1)
    assert t["mean"] == pytest.approx(96.33) and rows["none"]["minus_none_mean"] is None


def test_extend_keeps_old_runs_and_replaces_redone_pairs(tmp_path: Path) -> None:
    m = _module()
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"epochs": None, "runs": [_run("tcja", 0, 0.9), _run("none", 0, 0.8)]}))
    kept = m.previous_runs(path, None, [_run("tcja", 0, 0.95), _run("tcja", 1, 0.9)])
    assert kept == [_run("none", 0, 0.8)]
    assert m.previous_runs(tmp_path / "missing.json", None, []) == []
    with pytest.raises(SystemExit, match="epochs=None, not 3"):
        m.previous_runs(path, 3, [])
    path.write_text(json.dumps({"epochs": None, "runs": [_run("tcja", 0, 0.9, gain=1.0)]}))
    with pytest.raises(SystemExit, match="init gain 1.0 for 15 epochs, not gain 10.0"):
        m.previous_runs(path, None, [])  # a gain-1 run under the name of the gain-10 variant
    path.write_text(json.dumps({"epochs": None, "runs": [_run("tcja:1", 0, 0.9, gain=1.0, epochs=3)]}))
    with pytest.raises(SystemExit, match="for 3 epochs"):
        m.previous_runs(path, None, [])
