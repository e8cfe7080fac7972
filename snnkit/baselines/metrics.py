"""Ranking, CTR and regression metrics the baselines report (numpy in, Python floats out).

Conventions: AUC is the probability that a random positive scores above a random negative,
ties counted as one half (the Mann-Whitney statistic, equal to ``sklearn.metrics.roc_auc_score``);
GAUC is the impression-weighted mean of per-group AUCs over groups that hold both classes;
NDCG@k uses gains ``2**rel - 1`` and ``log2(rank + 1)`` discounts, tied scores sharing their
mean gain (the expected DCG over the orders of a tie, as ``sklearn.metrics.ndcg_score``);
MSLE uses ``log2(1 + y)``, as the citation/cascade-prediction literature does.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

__all__ = ["auc", "gauc", "ndcg_at_k", "mean_ndcg", "pairwise_accuracy", "msle", "pearson", "spearman",
           "hit_rate", "jaccard", "rank_overlap"]


def _scores(name: str, scores: Sequence[float]) -> np.ndarray:
    """Scores as float64; ValueError on NaN, which has no rank (a diverged model would score as a perfect one)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    bad = int(np.isnan(s).sum())
    if bad:
        raise ValueError(f"{name}: {bad} of {s.size} scores are NaN (a diverged model?); they cannot be ranked")
    return s


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    xs = x[order]
    i = 0
    n = len(x)
    while i < n:
        j = i
        while j + 1 < n and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def auc(labels: Sequence[float], scores: Sequence[float]) -> float:
    """ROC AUC of binary ``labels`` (nan when only one class is present)."""
    y = np.asarray(labels, dtype=np.float64).ravel() > 0.5
    s = _scores("auc", scores)
    if y.shape != s.shape:
        raise ValueError(f"auc: labels has {y.size} entries but scores has {s.size}")
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    r = _rankdata(s)
    return float((r[y].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def gauc(groups: Sequence[int], labels: Sequence[float], scores: Sequence[float]) -> float:
    """Group AUC: per-group AUC weighted by the group's size, over groups with both classes."""
    g = np.asarray(groups).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = _scores("gauc", scores)
    if not (g.shape == y.shape == s.shape):
        raise ValueError(f"gauc: groups, labels and scores must have one length, got {g.size}, {y.size}, {s.size}")
    order = np.argsort(g, kind="mergesort")
    g, y, s = g[order], y[order], s[order]
    cuts = np.flatnonzero(np.r_[True, g[1:] != g[:-1], True])
    num = den = 0.0
    for a, b in zip(cuts[:-1], cuts[1:]):
        val = auc(y[a:b], s[a:b])
        if not np.isnan(val):
            num += val * (b - a)
            den += b - a
    return float(num / den) if den else float("nan")


def ndcg_at_k(relevance: Sequence[float], scores: Sequence[float], k: int = 10) -> float:
    """NDCG@k of one query's documents (nan when no document has positive relevance)."""
    rel = np.asarray(relevance, dtype=np.float64).ravel()
    s = _scores("ndcg_at_k", scores)
    if rel.shape != s.shape:
        raise ValueError(f"ndcg_at_k: relevance has {rel.size} entries but scores has {s.size}")
    if k < 1:
        raise ValueError(f"ndcg_at_k: k must be >= 1, got {k}")
    gains = 2.0 ** rel - 1.0
    kk = min(k, len(rel))
    disc = 1.0 / np.log2(np.arange(2, kk + 2))
    ideal = (np.sort(gains)[::-1][:kk] * disc).sum()
    if ideal <= 0:
        return float("nan")
    # tied scores share their mean gain over the positions they occupy (McSherry & Najork 2008, the
    # expected DCG under a random order of the tie; sklearn.metrics.ndcg_score's default): breaking
    # ties by input order gave a constant scorer NDCG 1.0 whenever the relevant rows came first
    order = np.argsort(-s, kind="mergesort")
    gs, ss = gains[order], s[order]
    cuts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1], True])
    cdisc = np.r_[0.0, np.cumsum(disc)]
    dcg = 0.0
    for a, b in zip(cuts[:-1], cuts[1:]):
        if a >= kk:
            break
        dcg += gs[a:b].mean() * (cdisc[min(b, kk)] - cdisc[a])
    return float(dcg / ideal)


def mean_ndcg(groups: Sequence[int], relevance: Sequence[float], scores: Sequence[float], k: int = 10) -> float:
    """Mean NDCG@k over the queries in ``groups`` (queries without relevant documents skipped)."""
    g = np.asarray(groups).ravel()
    rel = np.asarray(relevance, dtype=np.float64).ravel()
    s = _scores("mean_ndcg", scores)
    if not (g.shape == rel.shape == s.shape):
        raise ValueError(f"mean_ndcg: groups, relevance and scores must have one length, got {g.size}, {rel.size}, {s.size}")
    vals = [ndcg_at_k(rel[g == q], s[g == q], k) for q in np.unique(g)]
    vals = [v for v in vals if not np.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def pairwise_accuracy(groups: Sequence[int], relevance: Sequence[float], scores: Sequence[float]) -> float:
    """Within-query pair AUC: share of document pairs with different relevance ordered correctly."""
    g = np.asarray(groups).ravel()
    rel = np.asarray(relevance, dtype=np.float64).ravel()
    s = _scores("pairwise_accuracy", scores)
    if not (g.shape == rel.shape == s.shape):
        raise ValueError(f"pairwise_accuracy: groups, relevance and scores must have one length, got {g.size}, "
                         f"{rel.size}, {s.size}")
    good = total = 0.0
    for q in np.unique(g):
        m = g == q
        r, sc = rel[m], s[m]
        dr = r[:, None] - r[None, :]
        ds = sc[:, None] - sc[None, :]
        pairs = dr > 0
        total += pairs.sum()
        good += ((ds > 0) & pairs).sum() + 0.5 * ((ds == 0) & pairs).sum()
    return float(good / total) if total else float("nan")


def hit_rate(rank_of_positive: Sequence[int], k: int = 10) -> float:
    """Share of queries whose positive is ranked within the top ``k`` (ranks are 1-based)."""
    r = np.asarray(rank_of_positive)
    return float((r <= k).mean()) if r.size else float("nan")


def msle(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean squared error of ``log2(1 + y)`` (negative predictions clipped to 0)."""
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.clip(np.asarray(y_pred, dtype=np.float64).ravel(), 0.0, None)
    if t.shape != p.shape:
        raise ValueError(f"msle: y_true has {t.size} entries but y_pred has {p.size}")
    return float(np.mean((np.log2(1 + t) - np.log2(1 + p)) ** 2))


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    return pearson(_rankdata(np.asarray(a, dtype=np.float64).ravel()), _rankdata(np.asarray(b, dtype=np.float64).ravel()))


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    sa, sb = set(int(v) for v in a), set(int(v) for v in b)
    return float(len(sa & sb) / len(sa | sb)) if (sa or sb) else float("nan")


def rank_overlap(rank_a: Sequence[int], rank_b: Sequence[int], ks: Sequence[int] = (10, 20, 50)) -> Dict[str, float]:
    """Overlap ``|top_k(a) & top_k(b)| / k`` of two rankings (lists of ids, best first) for each k."""
    out = {}
    for k in ks:
        if k <= min(len(rank_a), len(rank_b)):
            out[f"overlap@{k}"] = len(set(list(rank_a)[:k]) & set(list(rank_b)[:k])) / k
    return out
