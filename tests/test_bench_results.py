"""Benchmarks write the committed benchmarks/results/NAME.json only for a run with every option at its default."""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_file_rules(tmp_path, capsys) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _common
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint")
    _common.add_results_option(ap, "x")
    assert _common.results_file(ap, ap.parse_args([]), "x").path == _common.RESULTS / "x.json"
    rf = _common.results_file(ap, ap.parse_args(["--quick", "--checkpoint", "c.pt"]), "x")
    assert rf.path is None and rf.changed == ["--quick", "--checkpoint"]
    assert rf.save({"a": 1}) is None and "results not written: --quick, --checkpoint differ" in capsys.readouterr().out
    rf = _common.results_file(ap, ap.parse_args(["--quick", "--results", str(tmp_path / "q.json")]), "x")
    assert rf.save({"a": 1}) == tmp_path / "q.json" and (tmp_path / "q.json").read_text() == '{\n  "a": 1\n}'


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != "tcja_seeds"])  # tcja_seeds --extend adds to its file
def test_every_benchmark_takes_results_option(script) -> None:
    text = (ROOT / "benchmarks" / f"{script}.py").read_text()
    assert "add_results_option(ap, " in text and "results_file(ap, args, " in text and "write_json(" not in text


def test_lava_speed_with_a_checkpoint_leaves_the_committed_results_alone(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("lava", reason="lava-nc not installed")
    import snnkit
    from snnkit.train.checkpoint import save_checkpoint
    from tests.hardware.test_lava_tcja import _tcja_net

    net = _tcja_net("none")
    ckpt = save_checkpoint(tmp_path / "best.pt", {
        "model": net.state_dict(), "arch": "tcja_snn", "model_config": dataclasses.asdict(net.config),
        "config": {}, "snnkit_version": snnkit.__version__})
    mod = _load("lava_speed")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path / "results")
    mod.main(["--quick", "--checkpoint", str(ckpt)])
    assert not (tmp_path / "results").exists()
    assert "results not written: --checkpoint, --quick differ" in capsys.readouterr().out
