"""ChatLR: API-ID recognition + Text2API over a SQLite database built from MovieLens-100k."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit.baselines.chatlr import (MOVIELENS_APIS, ApiCall, ChatLR, HFText2API, KeywordApiBaseline, Text2APIModel,
                                     build_movielens_db, evaluate_retrieval, execute, generate_questions, parse_call,
                                     train_text2api)

from ._util import movielens_or_skip, one_thread  # noqa: F401


@pytest.fixture(scope="module")
def con():
    return build_movielens_db(movielens_or_skip())


@pytest.fixture(scope="module")
def trained(con):
    train = generate_questions(con, 600, split="train", seed=0)
    m = Text2APIModel.from_questions(train, dim=48)
    train_text2api(m, train, epochs=6, seed=0)
    return m, train


def test_database_and_gold_calls(con):
    assert con.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 100000
    assert execute(con, ApiCall("movie_year", {"title": "Toy Story"})) == [(1995,)]
    assert execute(con, ApiCall("user_profile", {"user": 1})) == [(24, "M", "technician")]
    qs = generate_questions(con, 120, split="test", seed=1)
    assert {q.call.api for q in qs} == {a.name for a in MOVIELENS_APIS}
    for q in qs:
        for p, (s, e) in q.spans.items():
            assert q.text[s:e] == str(q.call.args[p])
    train_titles = {q.call.args.get("title") for q in generate_questions(con, 600, split="train")}
    test_titles = {q.call.args.get("title") for q in generate_questions(con, 600, split="test")}
    assert not (train_titles & test_titles) - {None}          # test entities are unseen in training


def test_learns_retrieval_on_unseen_entities(con, trained):
    m, train = trained
    test = generate_questions(con, 240, split="test", seed=3)
    res = evaluate_retrieval(m, test, con)
    majority = max(np.mean([q.call.api == a.name for q in test]) for a in MOVIELENS_APIS)
    assert res["api_accuracy"] > 0.95 and res["retrieval_accuracy"] > 0.85, res   # majority API: ~0.08
    assert res["retrieval_accuracy"] > majority + 0.7
    kw = KeywordApiBaseline(questions=train)
    assert np.mean([kw.predict_api(q.text) == q.call.api for q in test]) > 0.5
    call, rows = ChatLR(con, m).retrieve("What year was Toy Story released?")
    assert call.api == "movie_year" and rows == [(1995,)]


def test_parse_call_and_errors(con, trained):
    c = parse_call("Sure! Call: user_movie_rating(user=12, title='Heat') done")
    assert c.api == "user_movie_rating" and c.args == {"user": 12, "title": "Heat"}
    assert parse_call("top_rated_in_genre('Comedy', 3)").args == {"genre": "Comedy", "k": 3}
    with pytest.raises(ValueError, match="no call of a known API"):
        parse_call("delete_everything(1)")
    with pytest.raises(ValueError, match="unknown API"):
        execute(con, ApiCall("drop_table", {}))
    with pytest.raises(ValueError, match="missing \\['title'\\]"):
        execute(con, ApiCall("movie_year", {}))
    m, _ = trained
    with pytest.raises(ValueError, match="no words"):
        m.predict(["   "])
    with pytest.raises(ValueError, match="non-empty"):
        ChatLR(con, m).retrieve("")
    with pytest.raises(ValueError, match="split"):
        generate_questions(con, 3, split="valid")


def test_hugging_face_backend_when_installed(con):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=512, n_embd=16, n_layer=1, n_head=2)
    lm = transformers.GPT2LMHeadModel(cfg).eval()

    class CharTok:
        eos_token_id = 0

        def __call__(self, text, return_tensors="pt"):
            return {"input_ids": torch.tensor([[min(ord(ch), 63) for ch in text[-400:]]])}

        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(int(i)) for i in ids)

    hf = HFText2API((lm, CharTok()), max_new_tokens=4)
    assert "movie_year(title: title)" in hf.prompt("When did Heat come out?")
    call = hf.predict("When did Heat come out?", con)            # an untrained LM: output is parsed or marked
    assert isinstance(call, ApiCall)


def test_rating_questions_ask_about_rated_movies_and_empty_results_earn_nothing(con):
    qs = generate_questions(con, 240, split="test", seed=2)
    rating_qs = [q for q in qs if q.call.api == "user_movie_rating"]
    assert rating_qs and all(execute(con, q.call) for q in rating_qs)   # independent draws: ~98% empty

    class WrongArgs:                      # the right API, arguments that match nothing in the database
        def predict(self, texts, con):
            calls = {q.text: q.call for q in qs}
            return [ApiCall(calls[t].api, {k: ("no such thing" if isinstance(v, str) else -1)
                                           for k, v in calls[t].args.items()}) for t in texts]

    res = evaluate_retrieval(WrongArgs(), qs, con)
    assert res["api_accuracy"] == 1.0 and res["call_accuracy"] == 0.0
    assert res["retrieval_accuracy"] == 0.0, res

    unrated = ApiCall("user_movie_rating", {"user": 1, "title": "no such movie"})
    q = generate_questions(con, 1, split="test")[0]
    q_empty = type(q)("How did user 1 rate no such movie?", unrated, {}, 0)

    class Exact:
        def predict(self, texts, con):
            return [unrated for _ in texts]

    assert evaluate_retrieval(Exact(), [q_empty], con)["retrieval_accuracy"] == 1.0
