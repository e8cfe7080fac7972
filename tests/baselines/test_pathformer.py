"""PathFormer: gene selection + pathway-aware attention; disease classification and reproducible biomarkers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit.baselines.pathformer import (PathFormer, evaluate_classification, predict, reproducibility,
                                         shortest_path_distances, standardize, t_statistic_ranking, train_pathformer)
from snnkit.data.graphs import load_expression_csv, load_pathway_edges, simulate_expression

from ._util import one_thread  # noqa: F401


@pytest.fixture(scope="module")
def sim():
    return simulate_expression([120, 120], n_genes=60, n_biomarkers=6, effect=1.0, seed=0)


def _fit(coh, A, seed):
    idx = np.random.default_rng(seed).permutation(len(coh.y))
    tr, te = idx[:84], idx[84:]
    Xtr, Xte = standardize(coh.X[tr], coh.X[te])
    torch.manual_seed(seed)
    m = PathFormer(A, d_model=16, layers=1, readout_hidden=32)
    train_pathformer(m, Xtr, coh.y[tr], epochs=16, k=12, seed=seed)
    return m, evaluate_classification(predict(m, Xte), coh.y[te]), coh.y[te]


def test_learns_and_ranks_reproducibly(sim):
    (ma, ra, ya), (mb, rb, _) = (_fit(c, sim.adjacency, i) for i, c in enumerate(sim.cohorts))
    majority = max(ya.mean(), 1 - ya.mean())
    assert ra["accuracy"] > majority + 0.15 and rb["accuracy"] > 0.65, (ra, rb, majority)
    assert ma.k == 12 and sorted(ma.gene_ranking().tolist()) == list(range(60))
    rep = reproducibility(ma.gene_ranking(), mb.gene_ranking(), ks=(6, 12), truth=sim.biomarkers)
    # planted biomarkers found in both cohorts, and the two top-12 lists agree
    assert rep["precision_a"] >= 0.5 and rep["precision_b"] >= 0.5, rep
    assert rep["overlap@12"] >= 0.4, rep


def test_shapes_and_selection(sim):
    m = PathFormer(sim.adjacency, n_classes=3, d_model=8, heads=2, layers=2)
    x = torch.randn(5, 60)
    logits, atts = m(x, return_attention=True)
    assert logits.shape == (5, 3) and len(atts) == 2 and atts[0].shape == (5, 2, 60, 60)
    m.prune(10)
    assert m.k == 10 and m(x).shape == (5, 3)
    assert len(set(m.gene_ranking()[:10].tolist()) ^ set(m.selected.tolist())) == 0
    path = np.zeros((5, 5))
    for i in range(4):
        path[i, i + 1] = 1
    D = shortest_path_distances(path, max_dist=2)
    assert D[0].tolist() == [0, 1, 2, 3, 3] and (D == D.T).all()
    t = t_statistic_ranking(sim.cohorts[0].X, sim.cohorts[0].y)
    assert len(set(t[:6].tolist()) & set(sim.biomarkers.tolist())) >= 3


def test_bad_inputs(sim):
    with pytest.raises(ValueError, match="no edges"):
        PathFormer(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="square"):
        PathFormer(np.ones((3, 4)))
    m = PathFormer(sim.adjacency, d_model=8, layers=1)
    with pytest.raises(ValueError, match="one column per gene"):
        m(torch.randn(2, 59))
    with pytest.raises(TypeError, match="float"):
        m(torch.zeros(2, 60, dtype=torch.long))
    with pytest.raises(ValueError, match="labels for"):
        train_pathformer(m, np.zeros((4, 60)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="k must be"):
        m.prune(0)
    with pytest.raises(ValueError, match="prior"):
        PathFormer(sim.adjacency, prior=np.ones(5))
    with pytest.raises(ValueError, match="permutations"):
        reproducibility([0, 1, 2], [0, 1, 3])


def test_expression_and_pathway_loaders(tmp_path):
    expr = tmp_path / "expr.csv"
    expr.write_text("gene,control_1,AD_1,AD_2\nAPOE,1.0,2.0,2.5\nAPP,0.5,NA,0.7\nCLU,3,3,3\n")
    e = load_expression_csv(expr, label_prefixes={"control": 0, "AD": 1})
    assert e.X.shape == (3, 3) and e.genes == ["APOE", "APP", "CLU"] and e.y.tolist() == [0, 1, 1]
    assert e.X[1, 1] == pytest.approx(0.6)                              # NA -> the gene's mean
    assert e.top_variance(2).genes == ["APOE", "APP"]
    edges = tmp_path / "ppi.txt"
    edges.write_text("Source\tTarget\nAPOE\tAPP\nAPP\tMAPT\nCLU\tCLU\n")
    A, stats = load_pathway_edges(edges, e.genes)
    assert A.shape == (3, 3) and A[0, 1] == A[1, 0] == 1 and A.sum() == 2
    assert stats == {"edges_read": 3, "edges_kept": 1, "unknown_genes": 1}
    with pytest.raises(ValueError, match="none of the"):
        load_pathway_edges(edges, ["X1", "X2"])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("gene,s1,s2\nAPOE,1,2\nAPP,1\n")
    with pytest.raises(ValueError, match="ragged.csv:3"):
        load_expression_csv(ragged)
    with pytest.raises(ValueError, match="match none of the prefixes"):
        load_expression_csv(expr, label_prefixes={"control": 0})
    with pytest.raises(ValueError, match="appears twice"):
        dup = tmp_path / "dup.csv"
        dup.write_text("gene,s1\nA,1\nA,2\n")
        load_expression_csv(dup)
    with pytest.raises(ValueError, match="absent"):
        e.select_genes(["APOE", "TREM2"])


def test_expression_header_must_line_up_and_labels_are_class_ids(tmp_path):
    short = tmp_path / "short.csv"                 # every row lacks a value: S1's column was read as S2's
    short.write_text("gene,S1,S2,S3\nG1,1,2\nG2,3,4\n")
    with pytest.raises(ValueError, match="header has 4 fields but rows have 3"):
        load_expression_csv(short)
    rstyle = tmp_path / "rstyle.csv"               # header names only the samples (R's write.table)
    rstyle.write_text("S1,S2\nG1,1,2\nG2,3,4\n")
    e = load_expression_csv(rstyle, labels={"S1": "1", "S2": 0.0})
    assert e.samples == ["S1", "S2"] and e.X[:, 0].tolist() == [1.0, 2.0] and e.y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="label of sample 'S1' is 'AD', not a class id"):   # was int()'s message
        load_expression_csv(rstyle, labels={"S1": "AD", "S2": 0})
    with pytest.raises(ValueError, match="is -1, not a class id >= 0"):
        load_expression_csv(rstyle, labels={"S1": -1, "S2": 0})
    lab = tmp_path / "labels.csv"
    lab.write_text("sample,label\nS1,case\nS2,0\n")
    with pytest.raises(ValueError, match="labels.csv:2: label 'case' of sample 'S1' is not a class id"):
        load_expression_csv(rstyle, labels=lab)
