"""DeepCCP: citation counts from the early cascade (GCN per time slice + GRU), simulator and CSV loader."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit.baselines.deepccp import (DeepCCP, baseline_predictions, batch_cascades, evaluate_counts, predict_counts,
                                      train_deepccp)
from snnkit.data.graphs import Cascade, CascadeParams, load_citation_csv, observe, simulate_cascades

from ._util import one_thread  # noqa: F401

T_OBS = 2.0


@pytest.fixture(scope="module")
def cascades():
    return simulate_cascades(500, seed=0)


def test_learns_better_than_early_count(cascades):
    train, test = cascades[:400], cascades[400:]
    torch.manual_seed(0)
    m = DeepCCP(hidden=24, gru_hidden=24)
    train_deepccp(m, train, T_OBS, slices=4, epochs=15, seed=0)
    res = evaluate_counts(predict_counts(m, test, T_OBS, slices=4), test)
    base = {k: evaluate_counts(v, test) for k, v in baseline_predictions(train, test, T_OBS, 4).items()}
    # margin: MSLE at most 60% of the early-count baseline's, and log-count correlation > 0.8
    assert res["msle"] < 0.6 * base["early_count"]["msle"], (res, base)
    assert res["msle"] < 1.25 * base["linear"]["msle"], (res, base)
    assert res["pearson_log"] > 0.8, res


def test_simulator_ground_truth():
    cs = simulate_cascades(60, CascadeParams(horizon=5.0), seed=1)
    for c in cs:
        assert c.times[0] == 0 and (np.diff(c.times[1:]) >= 0).all() and c.times.max() <= 5.0
        assert c.label == c.n_nodes - 1 == c.count_at(5.0)
        assert {"visibility", "branching", "expected_final"} <= set(c.truth)
        if c.n_nodes > 1:
            assert (c.edges[:, 0] > c.edges[:, 1]).all()                  # cite only earlier papers
            assert set(c.edges[c.edges[:, 1] == 0, 0]) == set(range(1, c.n_nodes))   # everyone cites the root
    # higher branching (fitness) -> more citations, on average
    br = np.array([c.truth["branching"] for c in cs])
    lab = np.array([c.label for c in cs])
    assert lab[br > np.median(br)].mean() > lab[br <= np.median(br)].mean()
    assert simulate_cascades(2, seed=3)[0].label == simulate_cascades(2, seed=3)[0].label


def test_shapes_and_graphs_without_edges(cascades):
    b = batch_cascades(cascades[:5], T_OBS, slices=3, max_nodes=50)
    N = b.adj.shape[-1]
    assert b.adj.shape == (5, 3, N, N) and b.x.shape == (5, 3, N, 6) and b.counts.shape == (5, 3)
    assert (b.counts[:, 1:] >= b.counts[:, :-1]).all()
    lonely = Cascade(np.array([0.0]), np.zeros((0, 2)), 0.0)             # no citations yet: root only, no edges
    late = Cascade(np.array([0.0, 5.0]), np.array([[1, 0]]), 1.0)       # its one citation comes after t_obs
    m = DeepCCP(hidden=8, gru_hidden=8)
    pred = predict_counts(m, [lonely, late], T_OBS)
    assert pred.shape == (2,) and np.isfinite(pred).all() and (pred >= 0).all()
    assert observe(late, T_OBS).n_nodes == 1 and len(observe(late, T_OBS).edges) == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        Cascade(np.array([]), np.zeros((0, 2)), 0.0)
    with pytest.raises(ValueError, match="outside"):
        Cascade(np.array([0.0, 1.0]), np.array([[2, 0]]), 1.0)
    with pytest.raises(ValueError, match="no cascades"):
        batch_cascades([], T_OBS)
    with pytest.raises(TypeError, match="Cascade"):
        batch_cascades([{"times": [0]}], T_OBS)
    with pytest.raises(ValueError, match="t_obs"):
        batch_cascades(simulate_cascades(1), 0.0)
    with pytest.raises(TypeError, match="CascadeBatch"):
        DeepCCP()(torch.zeros(2, 3))
    b = batch_cascades(simulate_cascades(2), T_OBS)
    b.x = b.x[..., :4]
    with pytest.raises(ValueError, match="6 columns"):
        DeepCCP()(b)


def test_citation_csv_loader(tmp_path):
    p = tmp_path / "edges.csv"
    p.write_text("citing,cited,time\n"
                 "A,Z,2000\n"            # A published 2000 (its earliest reference)
                 "B,A,2001\nC,A,2002\nC,B,2002\nD,A,2004\nE,A,2013\n"
                 "F,Q,2015\n")
    cs = {c.paper: c for c in load_citation_csv(p, horizon=10.0)}
    a = cs["A"]
    assert a.label == 3 and list(a.times) == [0.0, 1.0, 2.0, 4.0]       # E cites after the horizon
    assert {tuple(e) for e in a.edges} == {(1, 0), (2, 0), (2, 1), (3, 0)}
    assert observe(a, 2.0).count_at(2.0) == 2
    assert "Q" not in cs                                               # its horizon runs past the data
    with pytest.raises(ValueError, match="columns \\['source'\\] not found"):
        load_citation_csv(p, citing="source")
    bad = tmp_path / "bad.csv"
    bad.write_text("citing,cited,time\nA,B,soon\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        load_citation_csv(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("citing,cited,time\n")
    with pytest.raises(ValueError, match="no citation edges"):
        load_citation_csv(empty)
    with pytest.raises(FileNotFoundError):
        load_citation_csv(tmp_path / "nope.csv")
    dated = tmp_path / "dated.tsv"
    dated.write_text("src\tdst\tdate\nB\tA\t2001-07-01\n")
    c = load_citation_csv(dated, citing="src", cited="dst", time="date", pub_times={"A": 2001.0},
                          require_full_horizon=False)
    assert c[0].paper == "A" and 0.4 < c[0].times[1] < 0.6


def test_loader_and_baselines_refuse_unusable_input(tmp_path, cascades):
    p = tmp_path / "edges.csv"
    p.write_text("citing,cited,time\nB,A,2001\n")
    pub = tmp_path / "pub.csv"
    pub.write_text("paper,time\nA\n")                                  # was an IndexError
    with pytest.raises(ValueError, match="pub.csv:2: expected paper,time"):
        load_citation_csv(p, pub_times=pub)
    with pytest.raises(ValueError, match="need training and test cascades, got 3 and 0"):   # was numpy's stack error
        baseline_predictions(cascades[:3], [], T_OBS)
    swapped = tmp_path / "pub2.csv"                                    # columns by header name, not position
    swapped.write_text("time,paper\n1995,7\n")
    ids = tmp_path / "ids.csv"
    ids.write_text("citing,cited,time\n8,7,2001\n")
    (c,) = load_citation_csv(ids, pub_times=swapped, require_full_horizon=False)
    assert c.paper == "7" and list(c.times) == [0.0, 6.0]             # was read as paper "1995" published in year 7
