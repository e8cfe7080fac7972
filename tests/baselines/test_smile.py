"""SMILE: RQ-OPQ semantic IDs fused with item IDs in a CTR model; cold-start items on MovieLens-100k."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit.baselines.smile import (OPQ, SMILECTR, build_semantic_ids, cold_start_split, collaborative_vectors,
                                    evaluate_ctr, frequency_buckets, kmeans, residual_quantize, train_ctr)

from ._util import movielens_or_skip, one_thread  # noqa: F401


@pytest.fixture(scope="module")
def setup():
    d = cold_start_split(movielens_or_skip(), n_users=300, cold_frac=0.2, shots=0, seed=0)
    tr = d.train
    collab = collaborative_vectors(d.user[tr], d.item[tr], d.label[tr], d.user_dims[0], d.n_items, epochs=20)
    sids = build_semantic_ids(d.content, collab, d.train_count > 0, rq_levels=2, rq_k=16, opq_m=4, opq_k=16)
    return d, sids


def _fit(d, sids, use):
    torch.manual_seed(0)
    m = SMILECTR(d.user_dims, d.n_items, sids, use_semantic_ids=use, freq_buckets=frequency_buckets(d.train_count))
    train_ctr(m, d, epochs=3, seed=0)
    return evaluate_ctr(m, d)


def test_semantic_ids_help_cold_items(setup):
    d, sids = setup
    base, smile = _fit(d, sids, False), _fit(d, sids, True)
    # both learn on warm items (AUC well above the 0.5 of a constant predictor) ...
    assert base["warm_auc"] > 0.65 and smile["warm_auc"] > 0.65, (base, smile)
    # ... and semantic IDs lift cold-item GAUC (the ID-only model is at chance on unseen items) by >= 0.04
    assert smile["cold_gauc"] > base["cold_gauc"] + 0.04, (base, smile)
    assert smile["cold_auc"] > 0.6, smile


def test_quantisers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8))
    C, a = kmeans(X, 10, seed=0)
    assert C.shape == (10, 8) and a.shape == (300,) and a.max() < 10
    errs = []
    for levels in (1, 2, 3):
        codes, books, res = residual_quantize(X, levels, 8, seed=0)
        assert codes.shape == (300, levels) and len(books) == levels
        rec = sum(b[codes[:, i]] for i, b in enumerate(books))
        np.testing.assert_allclose(rec + res, X, atol=1e-9)
        errs.append((res ** 2).sum())
    assert errs[0] > errs[1] > errs[2]
    opq = OPQ(m=4, k=8, outer=3).fit(X)
    np.testing.assert_allclose(opq.R @ opq.R.T, np.eye(8), atol=1e-8)
    codes = opq.encode(X)
    assert codes.shape == (300, 4)
    assert ((X - opq.decode(codes)) ** 2).sum() < (X ** 2).sum()


def test_shapes(setup):
    d, sids = setup
    assert sids.rq.shape == (d.n_items, 2) and sids.opq.shape == (d.n_items, 4)
    assert 0.0 <= sids.collisions() <= 1.0   # content-only codes: movies with equal genres/year/title words may share one
    m = SMILECTR(d.user_dims, d.n_items, sids, item_side=d.item_side)
    ux = torch.as_tensor(d.user_x[:5])
    it = torch.as_tensor(d.item[:5])
    assert m(ux, it).shape == (5,)
    a, c = m.alignment_loss(it, torch.ones(d.n_items, dtype=torch.bool))
    assert a.ndim == 0 and c.ndim == 0


def test_bad_inputs(setup):
    d, sids = setup
    with pytest.raises(ValueError, match="needs sids"):
        SMILECTR(d.user_dims, d.n_items, None, use_semantic_ids=True)
    with pytest.raises(ValueError, match="cover"):
        SMILECTR(d.user_dims, d.n_items + 1, sids)
    m = SMILECTR(d.user_dims, d.n_items, sids)
    with pytest.raises(ValueError, match="one column per user field"):
        m(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="item indices"):
        m(torch.zeros(1, 4, dtype=torch.long), torch.tensor([d.n_items]))
    with pytest.raises(ValueError, match="user field 1"):
        m(torch.tensor([[0, 99, 0, 0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="content has"):
        build_semantic_ids(d.content, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="cold_frac"):
        cold_start_split(movielens_or_skip(), cold_frac=1.5)


@pytest.mark.parametrize("shots", [0, 3])
def test_cold_start_split_keeps_cold_items_out_of_training(shots):
    d = cold_start_split(movielens_or_skip(), n_users=150, cold_frac=0.2, shots=shots, seed=1)
    assert not (d.train & d.test).any() and (d.train | d.test).all()
    per_item = np.bincount(d.item[d.train], minlength=d.n_items)
    np.testing.assert_array_equal(per_item, d.train_count)
    assert per_item[d.cold_items].max() == shots                       # no cold item seen more than `shots` times
    assert np.isin(d.cold_items, d.item[d.test]).all()                  # every cold item is tested
    warm_test = d.test & d.warm_items[d.item]
    assert (d.train_count[d.item[warm_test]] > 0).mean() > 0.95         # warm test items were seen in training
