"""RankDFM: DeepFM pairwise ranking with learnable field selection, on MovieLens-100k."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from snnkit.baselines import metrics
from snnkit.baselines.rankdfm import (RankDFM, evaluate_ranking, movielens_ranking, pairwise_loss, popularity_scores,
                                      sample_pairs, score, time_inference, train_rankdfm)
from snnkit.data import recsys

from ._util import movielens_or_skip, one_thread  # noqa: F401


@pytest.fixture(scope="module")
def data():
    return movielens_ranking(movielens_or_skip(), n_users=120, seed=0)


@pytest.fixture(scope="module")
def trained(data):
    torch.manual_seed(0)
    m = RankDFM(data.fields, embed_dim=8, hidden=(32,))
    train_rankdfm(m, data, epochs=3, sparsity=0.01, seed=0)
    return m


def test_learns_to_rank_held_out_documents(data, trained):
    rnd = evaluate_ranking(np.random.default_rng(0).random(len(data.query)), data)
    res = evaluate_ranking(score(trained, data.x), data)
    # margin: NDCG@10 at least 0.05 above random order, within-query pair AUC above 0.62 (random 0.5)
    assert res["ndcg@10"] > rnd["ndcg@10"] + 0.05, (res, rnd)
    assert res["pair_auc"] > 0.62 and res["auc"] > 0.62, res


def test_field_selection_prunes_and_keeps_quality(data, trained):
    full = evaluate_ranking(score(trained, data.x), data)
    small = trained.prune(top_k=4)
    assert small.num_fields == 4 and small.gate_logits is None
    assert set(small.field_names) == {n for n, _ in trained.field_ranking()[:4]}
    cols = small.columns(data.field_names)
    pruned = evaluate_ranking(score(small, data.x, cols), data)
    assert pruned["pair_auc"] > full["pair_auc"] - 0.03, (pruned, full)
    n_full = sum(p.numel() for p in trained.parameters())
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < n_full
    t = time_inference(small, torch.as_tensor(data.x[:2000][:, cols]), repeats=3, warmup=1)
    assert t > 0


def test_prune_keeping_every_field_reproduces_scores(data):
    m = RankDFM(data.fields, embed_dim=4, hidden=(8,))
    with torch.no_grad():
        m.gate_logits.copy_(torch.linspace(-2, 2, m.num_fields))
    m.eval()
    x = torch.as_tensor(data.x[:64])
    full = m.prune(keep=data.field_names)
    torch.testing.assert_close(full(x), m(x), rtol=1e-5, atol=1e-5)


def test_shapes_and_pairs():
    m = RankDFM([("q", 5), ("d", 7)], embed_dim=4, hidden=(8, 4))
    x = torch.stack([torch.randint(0, 5, (3, 6)), torch.randint(0, 7, (3, 6))], -1)
    assert m(x).shape == (3, 6)
    assert m.sparsity_penalty().shape == ()
    q = np.array([0, 0, 0, 1, 1, 2])
    rel = np.array([3.0, 1.0, 1.0, 2.0, 2.0, 4.0])
    pos, neg = sample_pairs(q, rel, np.arange(6), np.random.default_rng(0))
    assert len(pos) and (rel[pos] > rel[neg]).all() and (q[pos] == q[neg]).all()
    loss = pairwise_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0]))
    assert torch.isclose(loss, (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.nn.functional.softplus(torch.tensor(2.0))) / 2)


def test_bad_inputs():
    m = RankDFM({"user": 4, "item": 6})
    with pytest.raises(ValueError, match="2 columns"):
        m(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="'item'"):
        m(torch.tensor([[0, 6]]))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="unknown fields \\['genre'\\]"):
        m.prune(keep=["genre"])
    with pytest.raises(ValueError, match="fields is empty"):
        RankDFM([])
    with pytest.raises(ValueError, match="vocabulary size"):
        RankDFM({"user": 0})
    with pytest.raises(ValueError, match="duplicate"):
        RankDFM([("a", 2), ("a", 3)])
    with pytest.raises(ValueError, match="kind"):
        pairwise_loss(torch.zeros(2), torch.zeros(2), kind="listnet")
    with pytest.raises(ValueError, match="different relevance"):
        sample_pairs(np.array([0, 0]), np.array([1.0, 1.0]), np.arange(2), np.random.default_rng(0))


def test_popularity_baseline_and_metrics(data):
    pop = evaluate_ranking(popularity_scores(data, "mean_rating"), data)
    assert pop["pair_auc"] > 0.55
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.ndcg_at_k([3, 2, 0], [3, 2, 1], k=3) == pytest.approx(1.0)
    assert metrics.gauc([0, 0, 1, 1], [0, 1, 1, 0], [0.1, 0.9, 0.1, 0.2]) == pytest.approx(0.5)   # AUCs 1 and 0


# ---- the MovieLens loader (snnkit.data.recsys) ----

def test_movielens_offline_copy_is_complete():
    ml = movielens_or_skip()
    assert (ml.n_ratings, ml.n_users, ml.n_items) == (100000, 943, 1682)
    assert ml.titles[0] == "Toy Story" and ml.years[0] == 1995
    assert ml.item_genre_names(0) == ["Animation", "Children's", "Comedy"]
    assert set(np.unique(ml.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    tr, te = recsys.split_per_user(ml, 0.2, seed=0)
    assert not (tr & te).any() and abs(te.mean() - 0.2) < 0.01
    assert recsys.item_content_matrix(ml, dim=16).shape == (1682, 16)


def _grouplens(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t2\t881250950\n1\t20\t5\t881250951\n")
    genres = "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(f"10|Heat (1995)|01-Jan-1995||http://x|{genres}\n"
                                     f"20|Alien (1979)|01-Jan-1979||http://y|0|1{'|0' * 17}\n", encoding="latin-1")
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return tmp_path


def test_movielens_grouplens_format_and_archive(tmp_path):
    (tmp_path / "gl").mkdir()
    ml = recsys.load_movielens100k(_grouplens(tmp_path / "gl"))
    assert (ml.n_users, ml.n_items, ml.n_ratings) == (2, 2, 3)
    assert ml.titles == ["Heat", "Alien"] and list(ml.years) == [1995, 1979]
    assert ml.item_genre_names(1) == ["Action"] and list(ml.genders) == [0, 1]
    # a RecBole wheel is read inside the zip
    whl = tmp_path / "recbole-0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.inter",
                    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n5\t7\t3\t100\n")
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.item",
                    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n7\tFargo\t1996\tCrime Drama\n")
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.user",
                    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n5\t33\tF\twriter\t02139\n")
    ml2 = recsys.load_movielens100k(whl)
    assert ml2.titles == ["Fargo"] and ml2.item_genre_names(0) == ["Crime", "Drama"] and ml2.source.startswith("zip:")


def test_movielens_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps recbole"):
        recsys.load_movielens100k(tmp_path)


@pytest.mark.parametrize("name, text, match", [
    ("u.data", "1\t10\t4\n", r"u.data:1: expected at least 4 '\\t'-separated fields, got 3"),
    ("u.data", "1\t10\tfour\t881250949\n", r"u.data: data row 1 .* does not parse: could not convert string to float"),
    ("u.user", "1|24|M|technician|85711\n2|old|F|other|94043\n", r"u.user: data row 2 .* does not parse"),
    ("u.user", "1|24|M|technician|85711\n", r"ratings name 1 users missing from .*u.user \(e.g. \['2'\]\)"),
    ("u.item", "10|Heat (1995)|01-Jan-1995||http://x|0|0\n", r"u.item:1: expected at least 24 '\|'-separated fields"),
])
def test_movielens_corrupt_files_are_named(tmp_path, name, text, match):
    # a short or garbled line was an IndexError/bare float() error; a rating of a user missing from u.user was
    # read as a 0-year-old man with the first occupation
    _grouplens(tmp_path)
    (tmp_path / name).write_text(text, encoding="latin-1")
    with pytest.raises(ValueError, match=match):
        recsys.load_movielens100k(tmp_path)


def test_ranking_metrics_refuse_nan_scores():
    # NaN compares false with everything: a diverged model had NDCG = HR@10 = MRR = 1.0 in evaluate_search
    from snnkit.baselines.diffusiongs import evaluate_search

    nan = float("nan")
    with pytest.raises(ValueError, match="evaluate_search: 100 of 100 scores are NaN"):
        evaluate_search(np.full((5, 20), nan))
    for call in (lambda: metrics.auc([1, 0, 1, 0], [nan, 0.1, 0.2, 0.3]),
                 lambda: metrics.gauc([0, 0], [1, 0], [nan, 0.0]),
                 lambda: metrics.ndcg_at_k([1, 0], [nan, nan]),
                 lambda: metrics.mean_ndcg([0, 0], [1, 0], [0.1, nan]),
                 lambda: metrics.pairwise_accuracy([0, 0], [1, 0], [nan, nan])):
        with pytest.raises(ValueError, match="NaN"):
            call()
    with pytest.raises(ValueError, match="one length"):
        metrics.mean_ndcg([0, 0, 1], [1, 0], [0.1, 0.2])
    # infinities still rank (ties among themselves count one half)
    assert metrics.auc([1, 0], [np.inf, -np.inf]) == 1.0 and metrics.auc([1, 0], [np.inf, np.inf]) == 0.5
    assert evaluate_search(np.array([[np.inf, 0.0, 1.0]]))["mrr"] == 1.0
