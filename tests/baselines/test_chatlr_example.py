"""examples/baseline_chatlr.py: --seed sets the model's initial weights (it was built from whatever torch's RNG held)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

import snnkit.baselines.chatlr as chatlr

from ._util import example_initial_weights, movielens_or_skip, one_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
_REAL_DB = chatlr.build_movielens_db


def _initial_weights(monkeypatch, seed: int) -> torch.Tensor:
    ml = movielens_or_skip()
    monkeypatch.setattr(chatlr, "build_movielens_db", lambda path=":memory:": _REAL_DB(ml, path=path))
    return example_initial_weights(monkeypatch, "baseline_chatlr.py", (chatlr, "train_text2api"),
                                   ["--train", "60", "--test", "12", "--seed", str(seed)])


def test_seed_sets_initial_weights(monkeypatch):
    torch.manual_seed(123)                      # whatever the global RNG holds before the script runs
    a = _initial_weights(monkeypatch, 0)
    torch.manual_seed(456)
    b = _initial_weights(monkeypatch, 0)
    c = _initial_weights(monkeypatch, 1)
    assert a.shape == b.shape and torch.equal(a, b)
    assert not (a.shape == c.shape and torch.equal(a, c))


@pytest.mark.parametrize("argv, message", [
    (["--db", "{tmp}/no/such/folder/x.sqlite"], "--db {tmp}/no/such/folder/x.sqlite: unable to open database file"),
    (["--db", "{tmp}/ratings.csv"], "--db {tmp}/ratings.csv: file is not a database"),
    (["--train", "0"], "--train: must be an integer >= 1, got 0"),       # was 'from_questions: no questions' traceback
    (["--test", "0"], "--test: must be an integer >= 1, got 0"),         # was 'evaluate_retrieval: no questions'
    (["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),     # was an untrained model's answers
])
def test_bad_options_and_db_paths_are_one_line(monkeypatch, capsys, tmp_path, argv, message):
    ml = movielens_or_skip()
    monkeypatch.setattr(chatlr, "build_movielens_db", lambda path=":memory:": _REAL_DB(ml, path=path))
    (tmp_path / "ratings.csv").write_text("user,movie,rating\n" * 200)
    monkeypatch.setattr("sys.argv", ["baseline_chatlr.py", *[a.format(tmp=tmp_path) for a in argv]])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "examples" / "baseline_chatlr.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message.format(tmp=tmp_path) in err and "Traceback" not in err
