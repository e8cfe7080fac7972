"""Ranking metrics against scikit-learn and hand-computed values, ties in the scores included."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score, roc_auc_score

from snnkit.baselines import metrics
from snnkit.baselines.diffusiongs import evaluate_search


def test_ndcg_matches_sklearn_with_ties_and_large_k():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        rel = rng.integers(0, 4, n).astype(float)
        if rel.sum() == 0:
            continue
        s = rng.integers(0, 3, n).astype(float)             # many ties
        k = int(rng.integers(1, 16))                          # k larger than the list too
        # snnkit's gains are 2^rel - 1; sklearn takes the gains as y_true and averages over ties
        assert metrics.ndcg_at_k(rel, s, k) == pytest.approx(ndcg_score([2 ** rel - 1], [s], k=k), abs=1e-12)


def test_ndcg_constant_scorer_does_not_depend_on_input_order():
    # was 1.0 with the relevant document first and 0.0 with it last (ties broken by input order)
    disc = 1.0 / np.log2([2, 3])
    expected = disc.sum() / 3                                 # each of the top 2 positions holds 1/3 of the gain
    assert metrics.ndcg_at_k([1, 0, 0], [0, 0, 0], k=2) == pytest.approx(expected)
    assert metrics.ndcg_at_k([0, 0, 1], [0, 0, 0], k=2) == pytest.approx(expected)
    assert metrics.mean_ndcg([0, 0, 1, 1], [1, 0, 0, 0], [5, 5, 1, 2]) == pytest.approx(1 / np.log2(3) / 2 + 0.5)  # query 1 skipped


def test_auc_gauc_with_ties_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = rng.integers(0, 5, 300).astype(float)
    g = rng.integers(0, 7, 300)
    assert metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    num = den = 0.0
    for q in np.unique(g):
        m = g == q
        if 0 < y[m].sum() < m.sum():
            num += roc_auc_score(y[m], s[m]) * m.sum()
            den += m.sum()
    assert metrics.gauc(g, y, s) == pytest.approx(num / den, abs=1e-12)


def _search_by_permutation(scores: np.ndarray, k: int):
    """Slow reference: NDCG/HR/MRR averaged over every order of each request's tied candidates (C small)."""
    import itertools
    nd, hr, rr = [], [], []
    for row in scores:
        vals = []
        for perm in itertools.permutations(range(len(row))):
            # sort by score, ties in the order ``perm``
            order = sorted(range(len(row)), key=lambda j: (-row[j], perm.index(j)))
            rank = order.index(0) + 1
            vals.append((1 / np.log2(rank + 1) if rank <= k else 0.0, float(rank <= k), 1 / rank))
        v = np.mean(vals, 0)
        nd.append(v[0]), hr.append(v[1]), rr.append(v[2])
    return np.mean(nd), np.mean(hr), np.mean(rr)


def test_evaluate_search_ties_are_expected_values():
    # the positive (column 0) tied with negatives: a mid-rank gave a constant scorer HR@10 = 0 on 20 candidates
    const = evaluate_search(np.zeros((3, 20)), k=10)
    assert const["hr@10"] == pytest.approx(0.5)
    assert const["mrr"] == pytest.approx(np.mean(1 / np.arange(1, 21)))
    assert const["auc"] == pytest.approx(0.5) and const["gauc"] == pytest.approx(0.5)
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 3, (6, 5)).astype(float)
    for k in (1, 2, 7):
        nd, hr, rr = _search_by_permutation(scores, k)
        res = evaluate_search(scores, k=k)
        assert res[f"ndcg@{k}"] == pytest.approx(nd) and res[f"hr@{k}"] == pytest.approx(hr) and res["mrr"] == pytest.approx(rr)
        # NDCG with one relevant candidate equals sklearn's tie-averaged NDCG
        lab = np.zeros_like(scores)
        lab[:, 0] = 1
        assert res[f"ndcg@{k}"] == pytest.approx(ndcg_score(lab, scores, k=k))
    with pytest.raises(ValueError, match="k must be >= 1"):
        evaluate_search(scores, k=0)
