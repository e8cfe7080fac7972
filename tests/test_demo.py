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
    assert summary["options"] == {"epochs": 1, "lr": 3e-3, "seed": 0, "samples": 3}
    fixed = summary["lava"]["fixed_pt"]                            # the printed spike totals are the report's
    assert f"(spikes: PyTorch {sum(c['torch'] for c in fixed['spike_counts'].values())}, " \
           f"Lava {sum(c['lava'] for c in fixed['spike_counts'].values())})" in r.stdout
    assert (out / "demo.png").stat().st_size > 10_000
    for variant in ("tcja", "none"):
        assert (out / variant / "last.pt").is_file()
    assert "Loihi" in r.stdout or "loihi" in r.stdout            # the energy report was printed
    sweep = summary["seed_sweep"]                                  # the shipped 40-seed result is printed beside it
    assert sweep["seeds"] >= 40 and f"over {sweep['seeds']} seeds" in r.stdout and sweep["reading"] in r.stdout
    imu = summary["imu"]                                           # the same pair on real temporal data (smartwatch IMU)
    assert set(imu["runs"]) == {"tcja", "none"} and imu["test_windows"] == 1484
    imu_gain = (imu["runs"]["tcja"]["final"] - imu["runs"]["none"]["final"]) * 100
    assert abs(imu["tcja_gain_points"] - imu_gain) < 1e-9 and f"{imu_gain + 0.0:+.1f} points on 1484 test windows" in r.stdout
    assert imu["preregistered"]["outcome"] in r.stdout and "this run trained 1" in r.stdout
    assert (out / "imu" / "tcja" / "last.pt").is_file()

    # a second demo into the same folder replaces the first one's runs (it used to stop: "already holds a run");
    # --no-imu leaves the smartwatch pair out
    r2 = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--epochs", "1", "--samples", "2",
                         "--seed", "1", "--no-imu", "--out", str(out)], capture_output=True, text=True, env=env,
                        cwd=tmp_path, timeout=900)
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-3000:]
    assert "replacing the previous demo runs" in r2.stdout
    second = json.loads((out / "demo.json").read_text())
    assert second["lava"]["fixed_pt"]["B"] == 2 and second["options"]["seed"] == 1
    assert second["imu"] is None and "smartwatch" not in r2.stdout and "test windows" not in r2.stdout
    assert "(split seed 1)" in r2.stdout


def _demo_module():
    
    from tests.conftest import load_script

    return load_script(ROOT / "examples" / "demo.py", "snnkit_demo")


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


def test_demo_options_are_checked(tmp_path: Path, capsys) -> None:
    """Nonsense options stop at once with the option named, before any data or training."""
    import pytest

    demo = _demo_module()
    for argv, word in ((["--epochs", "0"], "--epochs"), (["--samples", "-1"], "--samples"), (["--lr", "0"], "--lr"),
                       (["--lr", "nan"], "--lr"), (["--seed", "-1"], "--seed")):
        with pytest.raises(SystemExit) as e:
            demo.main([*argv, "--out", str(tmp_path / "o")])
        assert e.value.code == 2 and word in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit):                                # --out that cannot be a folder: a clear refusal
        demo.main(["--out", str(blocker / "sub")])
    assert "cannot hold the demo's outputs" in capsys.readouterr().err
    ro = tmp_path / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if not os.access(ro, os.W_OK):                            # (root writes anywhere: nothing to check then)
            with pytest.raises(SystemExit):
                demo.main(["--out", str(ro / "demo_out")])
            assert "give a writable folder with --out" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_demo_simulates_held_out_samples_of_its_seed(tmp_path: Path, monkeypatch) -> None:
    """The Lava samples come from the test split of the training runs' seed (it used to be seed 0's whatever --seed)."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from snnkit.models.tcja_snn import get_config

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    demo = _demo_module()
    labels = load_digits().target
    for seed in (0, 3):
        _, test = demo_data_names(demo, get_config("digits_dvs"), seed)
        want = np.sort(train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=seed)[1])
        assert test == [f"digits[{i}]" for i in want]


def demo_data_names(demo, cfg, seed: int):
    train, test = demo.demo_data(cfg, seed)
    return list(train.names), list(test.names)


def test_sweep_line_names_its_statistics() -> None:
    """The sweep's ± are a standard deviation over seeds and, for the difference, a standard error: the line says which."""
    demo = _demo_module()
    sweep = demo.seed_sweep()
    rows = {r["variant"]: r for r in json.loads((ROOT / "benchmarks" / "results" / "tcja_seeds.json").read_text())["summary"]}
    line = demo.sweep_text(sweep, "15 epochs")
    t, n = rows["tcja"], rows["none"]
    assert f"TCJA-SNN {t['mean']:.2f} ± {t['std']:.2f}%" in line and f"without TCJA {n['mean']:.2f} ± {n['std']:.2f}%" in line
    assert "mean ± std" in line and f"{t['minus_none_mean']:+.2f} points, standard error {t['minus_none_sem']:.2f}" in line
    assert f"over {t['seeds']} seeds" in line and f"{t['wins_vs_none']} wins" in line


def test_watch_lines_quote_the_preregistered_results() -> None:
    """The smartwatch lines are the committed pre-registered results: means ± std, paired differences ± sem, p, outcome."""
    demo = _demo_module()
    res = ROOT / "benchmarks" / "results"
    plain, wide = (json.loads((res / f).read_text()) for f in ("tcja_watch.json", "tcja_watch_wide.json"))
    t = demo.watch_test()
    assert t["complete"] and t["seeds"] == 20
    text = demo.watch_text(t)
    s, d, w = plain["summary"], plain["summary"]["difference"], wide["summary"]["tcja_minus_none_wide"]
    assert f"TCJA-SNN {s['tcja']['mean']:.2f} ± {s['tcja']['std']:.2f}%" in text
    assert f"without TCJA {s['none']['mean']:.2f} ± {s['none']['std']:.2f}%" in text
    assert f"{d['mean']:+.2f} points, standard error {d['sem']:.2f}" in text and plain["outcome"] in text
    assert f"({wide['channels']} channels): {w['mean']:+.2f} ± {w['sem']:.2f} points" in text and wide["outcome"] in text
    sh = json.loads((res / "tcja_watch_shuffled.json").read_text())
    g, o = sh["summary"]["shuffled"]["difference"], sh["summary"]["ordered_minus_shuffled"]
    assert f"shuffled (order destroyed, content kept): {g['mean']:+.2f} ± {g['sem']:.2f} points" in text
    assert f"falls by {o['difference']:.2f} ± {o['se']:.2f}" in text and sh["outcome"] in text
    assert demo.watch_test(plain=res / "absent.json") is None


def test_watch_lines_survive_a_missing_or_interrupted_shuffled_file(tmp_path: Path) -> None:
    """The temporal-order control is its own file: absent, or rewritten by an interrupted rerun (no shuffled summary
    yet), it drops only its own line; the ordered and parameter-matched results are still quoted (they used to vanish)."""
    demo = _demo_module()
    res = ROOT / "benchmarks" / "results"
    full = demo.watch_text(demo.watch_test())
    partial = json.loads((res / "tcja_watch_shuffled.json").read_text())
    partial.update(complete=False, outcome="incomplete: no outcome")
    partial["summary"]["shuffled"] = {}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    for shuffled in (tmp_path / "absent.json", tmp_path / "partial.json"):
        t = demo.watch_test(shuffled=shuffled)
        assert t is not None and t["complete"] and "shuffled" not in t
        text = demo.watch_text(t)
        assert "steps shuffled" not in text and "falls by" not in text
        assert text == full.rsplit("\n", 1)[0]   # the other two lines, unchanged


def test_agreement_plot_shows_every_layer() -> None:
    """A layer below 90 % agreement lowers the panel's floor instead of vanishing under the old fixed 90-100 % range."""
    demo = _demo_module()

    def reports(*values: float):
        return {"floating_pt": {"per_layer": {"a": 1.0, "b": 1.0}}, "fixed_pt": {"per_layer": dict(zip("ab", values))}}

    assert demo.agreement_ylim(reports(0.99, 0.95)) == (90.0, 102.0)
    low, high = demo.agreement_ylim(reports(0.99, 0.62))
    assert low < 62.0 and high > 100.0
    assert demo.agreement_ylim(reports(0.99, 0.0))[0] < 0.0 + 1e-9
