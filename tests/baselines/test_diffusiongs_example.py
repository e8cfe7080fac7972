"""examples/baseline_diffusiongs.py: --seed sets the models' initial weights (they were built before seeding)."""
from __future__ import annotations

import pytest
import torch

import snnkit.baselines.diffusiongs as dgs

from ._util import example_initial_weights, movielens_or_skip, one_thread  # noqa: F401

_REAL_SEARCH = dgs.movielens_search


def _initial_weights(monkeypatch, seed: int) -> torch.Tensor:
    ml = movielens_or_skip()
    monkeypatch.setattr(dgs, "movielens_search", lambda **kw: _REAL_SEARCH(ml, **kw))
    return example_initial_weights(monkeypatch, "baseline_diffusiongs.py", (dgs, "train_ranker"),
                                   ["--users", "20", "--seed", str(seed)])


def test_seed_sets_initial_weights(monkeypatch, capsys):
    torch.manual_seed(123)                      # whatever the global RNG holds before the script runs
    a = _initial_weights(monkeypatch, 0)
    torch.manual_seed(456)
    b = _initial_weights(monkeypatch, 0)
    c = _initial_weights(monkeypatch, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
