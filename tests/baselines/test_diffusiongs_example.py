"""examples/baseline_diffusiongs.py: --seed sets the models' initial weights (they were built before seeding)."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

import snnkit.baselines.diffusiongs as dgs

from ._util import movielens_or_skip, one_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
_REAL_SEARCH = dgs.movielens_search


class _Stop(Exception):
    pass


def _initial_weights(monkeypatch, seed: int) -> torch.Tensor:
    ml = movielens_or_skip()
    monkeypatch.setattr(dgs, "movielens_search", lambda **kw: _REAL_SEARCH(ml, **kw))

    def first_model(model, data, **kw):
        raise _Stop(torch.cat([p.detach().flatten() for p in model.parameters()]))

    monkeypatch.setattr(dgs, "train_ranker", first_model)
    monkeypatch.setattr("sys.argv", ["baseline_diffusiongs.py", "--users", "20", "--seed", str(seed)])
    with pytest.raises(_Stop) as exc:
        runpy.run_path(str(ROOT / "examples" / "baseline_diffusiongs.py"), run_name="__main__")
    return exc.value.args[0]


def test_seed_sets_initial_weights(monkeypatch, capsys):
    torch.manual_seed(123)                      # whatever the global RNG holds before the script runs
    a = _initial_weights(monkeypatch, 0)
    torch.manual_seed(456)
    b = _initial_weights(monkeypatch, 0)
    c = _initial_weights(monkeypatch, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
