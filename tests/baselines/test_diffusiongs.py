"""DiffusionGS: query-conditioned diffusion over behaviour sequences for personalised search."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit.baselines.diffusiongs import (DiffusionGS, SequenceRanker, UserAwareDenoisingLayer, evaluate_search,
                                          movielens_search, popularity_ranker, rank_scores, train_ranker)

from ._util import movielens_or_skip, one_thread  # noqa: F401


@pytest.fixture(scope="module")
def data():
    return movielens_search(movielens_or_skip(), n_users=200, seed=0, max_len=12, n_cands=10)


def test_learns_personalised_ranking(data):
    torch.manual_seed(0)
    m = DiffusionGS(DiffusionGS.spec(data), dim=24, layers=1)
    logs = train_ranker(m, data, epochs=3, seed=0)
    assert logs[-1]["rank_loss"] < logs[0]["rank_loss"]
    res = evaluate_search(rank_scores(m, data))
    pop = evaluate_search(popularity_ranker(data))
    # popularity-matched negatives leave popularity near chance; the model must beat it by 0.05 GAUC
    assert res["gauc"] > pop["gauc"] + 0.05 and res["gauc"] > 0.58, (res, pop)


def test_shapes_and_determinism(data):
    spec = DiffusionGS.spec(data)
    m = DiffusionGS(spec, dim=16, layers=1, t_start=6, infer_steps=3).eval()
    b = [torch.as_tensor(a[:4]) for a in (data.history, data.gaps, data.query, data.user_x, data.cands)]
    s1, s2 = m(*b), m(*b)
    assert s1.shape == (4, data.cands.shape[1]) and torch.equal(s1, s2)
    m.train()
    rank, diff = m.losses(*b, generator=torch.Generator().manual_seed(0))
    assert rank.ndim == 0 and diff.ndim == 0 and torch.isfinite(rank + diff)
    for pooling in ("mean", "attention"):
        assert SequenceRanker(spec, dim=16, pooling=pooling)(*b).shape == (4, data.cands.shape[1])
    layer = UserAwareDenoisingLayer(16, heads=2)
    x = torch.randn(3, 5, 16)
    mask = torch.tensor([[True] * 5, [False, False, True, True, True], [False] * 4 + [True]])
    y, att = layer(x, torch.randn(3, 16), torch.randn(3, 16), torch.randn(3, 16), mask)
    assert y.shape == x.shape and att.shape == (3, 2, 5, 6)
    torch.testing.assert_close(att.sum(-1), torch.ones(3, 2, 5))
    assert float(att[1, :, :, 1:3].detach().abs().max()) < 1e-6        # padded past actions get no attention
    # the user profile changes the attention distribution (UDL)
    _, att2 = layer(x, torch.zeros(3, 16), torch.zeros(3, 16), torch.randn(3, 16) * 3, mask)
    _, att3 = layer(x, torch.zeros(3, 16), torch.zeros(3, 16), torch.randn(3, 16) * 3, mask)
    assert not torch.allclose(att2, att3) or float(layer.user_q.weight.abs().sum()) == 0


def test_bad_inputs(data):
    spec = DiffusionGS.spec(data)
    m = DiffusionGS(spec, dim=16, layers=1)
    h, g, q, u, c = (torch.as_tensor(a[:2]) for a in (data.history, data.gaps, data.query, data.user_x, data.cands))
    with pytest.raises(ValueError, match="empty"):
        m(torch.zeros_like(h), g, q, u, c)
    with pytest.raises(ValueError, match="gaps"):
        m(h, g[:, 1:], q, u, c)
    with pytest.raises(ValueError, match="query ids"):
        m(h, g, torch.tensor([0, 99]), u, c)
    with pytest.raises(ValueError, match="user_x"):
        m(h, g, q, u[:, :2], c)
    with pytest.raises(TypeError, match="integer ids"):
        m(h.float(), g, q, u, c)
    with pytest.raises(ValueError, match="t_start"):
        DiffusionGS(spec, steps=10, t_start=20)
    with pytest.raises(ValueError, match="negatives"):
        movielens_search(movielens_or_skip(), negatives="hard")
    with pytest.raises(ValueError, match="pooling"):
        SequenceRanker(spec, pooling="max")
    assert evaluate_search(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]]))["hr@10"] == 1.0


def test_requests_have_no_leakage(data):
    # negatives are movies the user never rated; the positive is a rating >= 4 later than every history item;
    # each user's test request comes after their training requests (time-ordered split)
    ml = movielens_or_skip().subset_users(200, 0)            # the users movielens_search(n_users=200, seed=0) took
    when = {(int(u), int(i)): (float(t), float(r)) for u, i, t, r in zip(ml.user, ml.item, ml.timestamp, ml.rating)}
    last_train: dict = {}
    for r in np.argsort(data.test, kind="stable"):          # training requests first
        u, pos = int(data.user[r]), int(data.cands[r, 0])
        t_pos, rating = when[(u, pos)]
        assert rating >= 4
        assert not any((u, int(c)) in when for c in data.cands[r, 1:]), r
        assert len(set(data.cands[r].tolist())) == data.cands.shape[1]
        for h in data.history[r][data.history[r] > 0]:
            assert when[(u, int(h) - 1)][0] <= t_pos and int(h) - 1 != pos
        if data.train[r]:
            last_train[u] = max(last_train.get(u, -np.inf), t_pos)
        else:
            assert t_pos >= last_train.get(u, -np.inf)
    assert data.test.sum() > 100 and data.train.sum() > data.test.sum()
