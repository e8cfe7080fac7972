"""`make demo` end to end, shortened (one epoch, a few Lava samples): it must run and report what it claims."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    env = {**os.environ, "SNNKIT_DATA": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--epochs", "1", "--samples", "3",
                        "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "demo.json").read_text())
    runs = summary["runs"]
    assert set(runs) == {"tcja", "none"} and all(0.0 <= runs[a]["final"] <= 1.0 for a in runs)
    gain = (runs["tcja"]["final"] - runs["none"]["final"]) * 100
    assert abs(summary["tcja_gain_points"] - gain) < 1e-9
    assert f"{gain + 0.0:+.1f} points" in r.stdout               # the printed verdict is the measured one
    # Lava in floating point reproduces PyTorch spike for spike; fixed point stays close
    assert summary["lava"]["floating_pt"]["spike_agreement"] == 1.0
    assert summary["lava"]["fixed_pt"]["spike_agreement"] > 0.9
    assert (out / "demo.png").stat().st_size > 10_000
    for variant in ("tcja", "none"):
        assert (out / variant / "last.pt").is_file()
    assert "Loihi" in r.stdout or "loihi" in r.stdout            # the energy report was printed
    sweep = summary["seed_sweep"]                                  # the shipped 40-seed result is printed beside it
    assert sweep["seeds"] >= 40 and f"over {sweep['seeds']} seeds" in r.stdout and sweep["reading"] in r.stdout

    # a second demo into the same folder replaces the first one's runs (it used to stop: "already holds a run")
    r2 = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--epochs", "1", "--samples", "2",
                         "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-3000:]
    assert "replacing the previous demo runs" in r2.stdout
    assert json.loads((out / "demo.json").read_text())["lava"]["fixed_pt"]["B"] == 2


def _demo_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("snnkit_demo", ROOT / "examples" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_seed_sweep_reading(tmp_path: Path) -> None:
    """The demo calls a difference measurable only when it is at least two standard errors from zero."""
    demo = _demo_module()
    path = tmp_path / "sweep.json"

    def reading(diff: float, sem: float) -> str:
        rows = [{"variant": "tcja", "seeds": 16, "mean": 98.0, "std": 0.5, "minus_none_mean": diff, "minus_none_sem": sem,
                 "wins_vs_none": "9/16", "ties_vs_none": 0},
                {"variant": "none", "seeds": 16, "mean": 97.0, "std": 0.5, "minus_none_mean": None, "minus_none_sem": None}]
        path.write_text(json.dumps({"summary": rows}))
        return demo.seed_sweep(path)["reading"]

    assert reading(-0.09, 0.23) == "no measurable difference"
    assert reading(0.45, 0.23) == "no measurable difference"
    assert reading(0.5, 0.23) == "TCJA better"
    assert reading(-0.6, 0.2) == "TCJA worse"
    assert demo.seed_sweep(tmp_path / "absent.json") is None
    path.write_text("{not json")
    assert demo.seed_sweep(path) is None                          # a broken file is left out, not a crash
