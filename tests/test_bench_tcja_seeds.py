"""The seed-sweep benchmark's bookkeeping: paired statistics by hand, and extending a results file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module():
    from tests.conftest import load_script

    return load_script(ROOT / "benchmarks" / "tcja_seeds.py", "tcja_seeds")


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


def test_main_extend_merges_files_end_to_end(tmp_path: Path, monkeypatch, capsys) -> None:
    """main() twice, the second with --extend: old pairs kept, the baseline added only where missing, wall summed."""
    from concurrent.futures import ThreadPoolExecutor

    import snnkit.data

    m = _module()
    trained, seen_overrides = [], []

    def fake_train(variant: str, seed: int, epochs, out: str, overrides=None) -> dict:
        trained.append((variant, seed))
        seen_overrides.append(overrides)
        final = {"tcja": 0.95, "none": 0.94, "tcja:1": 0.93}[variant] + seed / 1000
        return {**_run(variant, seed, final, gain=1.0 if variant == "tcja:1" else 10.0), "seconds": 1.0}

    monkeypatch.setattr(m, "train_one", fake_train)
    monkeypatch.setattr(m, "ProcessPoolExecutor", ThreadPoolExecutor)  # the fake is not importable by a child
    monkeypatch.setattr(snnkit.data, "load", lambda *a, **k: None)  # no frame cache needed
    monkeypatch.setattr(m, "RESULTS", tmp_path)
    clock = iter(range(0, 1000, 10))  # each main() reads the clock twice: 10 s of wall time per call
    monkeypatch.setattr(m.time, "time", lambda: float(next(clock)))
    monkeypatch.setattr(m, "write_json", lambda name, payload: (tmp_path / f"{name}.json").write_text(json.dumps(payload)))
    first = m.main(["--variants", "tcja", "--seeds", "0", "1", "--name", "sweep"])
    assert sorted(trained) == [("none", 0), ("none", 1), ("tcja", 0), ("tcja", 1)]
    trained.clear()
    second = m.main(["--variants", "tcja:1", "tcja", "--seeds", "1", "2", "--name", "sweep", "--extend"])
    assert sorted(trained) == [("none", 2), ("tcja", 1), ("tcja", 2), ("tcja:1", 1), ("tcja:1", 2)]  # none 1 kept
    pairs = sorted((r["attention"], r["seed"]) for r in second["runs"])
    assert pairs == sorted([("tcja", 0), ("tcja", 1), ("tcja", 2), ("none", 0), ("none", 1), ("none", 2),
                            ("tcja:1", 1), ("tcja:1", 2)])
    assert second["seeds"] == [0, 1, 2] and (first["wall_s"], second["wall_s"]) == (10.0, 20.0)  # summed
    rows = {r["variant"]: r for r in second["summary"]}
    assert rows["tcja"]["seeds"] == 3 and rows["tcja"]["minus_none_mean"] == pytest.approx(1.0)
    assert rows["tcja:1"]["seeds"] == 2 and rows["tcja:1"]["minus_none_mean"] == pytest.approx(-1.0)
    assert json.loads((tmp_path / "sweep.json").read_text())["runs"] == second["runs"]
    assert "config_overrides" not in second and set(map(str, seen_overrides)) == {"{}"}
    with pytest.raises(SystemExit, match=r"was trained with --set \{\}, not \{'hidden': \[64\]\}"):
        m.main(["--seeds", "3", "--name", "sweep", "--extend", "--set", "hidden=[64]"])
    third = m.main(["--seeds", "0", "--name", "narrow", "--set", "stages=[[8], [16], [16]]", "--set", "hidden=[64]"])
    assert third["config_overrides"] == {"stages": [[8], [16], [16]], "hidden": [64]}
    assert seen_overrides[-1] == third["config_overrides"]


@pytest.mark.parametrize("item, message", [
    ("stages", "bad --set 'stages'"),
    ("attention=\"none\"", "attention and init gain come from --variants"),
    ("stages=[[8]", "the value is not JSON"),
    ("chanels=3", r"unknown field 'chanels'"),
    ("stages=\"wide\"", "stages must be a non-empty list"),
    ("stages=5", "stages must be a non-empty list"),
    ("name=\"n_mnist\"", "not name: the sweep is on digits_dvs"),
])
def test_bad_set_is_refused(item: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        _module().parse_sets([item])



def test_plain_run_refuses_to_replace_an_existing_results_file(tmp_path: Path, monkeypatch) -> None:
    """Without --extend or --overwrite an existing NAME.json (e.g. the committed 40-seed sweep) is refused before
    any training; --overwrite replaces it, --extend adds to it."""
    from concurrent.futures import ThreadPoolExecutor

    import snnkit.data

    m = _module()
    trained = []

    def fake_train(variant: str, seed: int, epochs, out: str, overrides=None) -> dict:
        trained.append((variant, seed))
        return {**_run(variant, seed, 0.9), "seconds": 1.0}

    monkeypatch.setattr(m, "train_one", fake_train)
    monkeypatch.setattr(m, "ProcessPoolExecutor", ThreadPoolExecutor)
    monkeypatch.setattr(snnkit.data, "load", lambda *a, **k: None)
    monkeypatch.setattr(m, "RESULTS", tmp_path)
    monkeypatch.setattr(m, "write_json",
                        lambda name, payload: (tmp_path / f"{name}.json").write_text(json.dumps(payload)))
    old = {"epochs": None, "runs": [_run("tcja", s, 0.9) for s in range(5)] + [_run("none", s, 0.9) for s in range(5)]}
    (tmp_path / "sweep.json").write_text(json.dumps(old))
    with pytest.raises(SystemExit, match=r"already holds 10 runs; --extend adds to it, --overwrite replaces it"):
        m.main(["--seeds", "0", "--name", "sweep"])
    assert trained == [] and json.loads((tmp_path / "sweep.json").read_text()) == old
    with pytest.raises(SystemExit, match="pass one"):
        m.main(["--seeds", "0", "--name", "sweep", "--extend", "--overwrite"])
    assert len(m.main(["--seeds", "0", "--name", "sweep", "--extend"])["runs"]) == 10
    assert len(m.main(["--seeds", "0", "--name", "sweep", "--overwrite"])["runs"]) == 2


@pytest.mark.parametrize("argv, message", [(["--seeds", "1", "1"], "--seeds repeats 1"),
                                           (["--variants", "tcja", "tcja"], "--variants repeats tcja"),
                                           (["--name", "../../x"], r"--name '../../x' must be a plain file name"),
                                           (["--name", ""], r"--name '' must be a plain file name")])
def test_repeated_seeds_or_variants_are_refused(argv, message, tmp_path: Path, monkeypatch) -> None:
    m = _module()
    monkeypatch.setattr(m, "RESULTS", tmp_path)  # never the committed results, whatever happens
    monkeypatch.setattr(m, "train_one", lambda *a, **k: pytest.fail("trained despite the bad option"))
    with pytest.raises(SystemExit, match=message):
        m.main(argv)
