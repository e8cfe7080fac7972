"""ChatLR: retrieve from a SQLite database built from MovieLens-100k with a small Text2API model.

Builds the database (optionally to a file), generates template questions, trains the API-ID +
argument model, reports API-ID / exact-call / retrieval accuracy on questions about unseen
entities (and, with --heldout-templates, unseen phrasings), then answers a few questions.
With --hf PATH a local Hugging Face causal LM is evaluated the same way (needs transformers).

    python examples/baseline_chatlr.py
    python examples/baseline_chatlr.py --db movielens.sqlite --ask "How did user 7 rate Fargo?"
"""
from __future__ import annotations

import argparse
import json
import sqlite3

import numpy as np
import torch

from snnkit.baselines.chatlr import (MOVIELENS_APIS, ChatLR, HFText2API, KeywordApiBaseline, Text2APIModel,
                                     build_movielens_db, evaluate_retrieval, generate_questions, train_text2api)
from snnkit.cli import add_threads_option, int_at_least, use_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=":memory:", help="SQLite file to write (default: in memory)")
    ap.add_argument("--train", type=int_at_least(1), default=1200)
    ap.add_argument("--test", type=int_at_least(1), default=600)
    ap.add_argument("--epochs", type=int_at_least(1), default=8)
    ap.add_argument("--heldout-templates", action="store_true")
    ap.add_argument("--hf", default=None, help="path of a local Hugging Face causal LM to evaluate too")
    ap.add_argument("--ask", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0, help="seed of the questions and of the model's initial weights")
    add_threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    try:
        con = build_movielens_db(path=args.db)
    except sqlite3.Error as err:      # a folder that does not exist, a file that is not a SQLite database
        ap.error(f"--db {args.db}: {err}")
    except OSError as err:            # no MovieLens-100k copy: the message says where to get one
        ap.error(str(err))
    train = generate_questions(con, args.train, split="train", heldout_templates=args.heldout_templates,
                               seed=args.seed)
    test = generate_questions(con, args.test, split="test", heldout_templates=args.heldout_templates,
                              seed=args.seed)
    kw = KeywordApiBaseline(questions=train)
    res = {"majority API-ID accuracy": max(np.mean([q.call.api == a.name for q in test]) for a in MOVIELENS_APIS),
           "keyword API-ID accuracy": float(np.mean([kw.predict_api(q.text) == q.call.api for q in test]))}
    torch.manual_seed(args.seed)   # before building: --seed sets the initial weights too
    model = Text2APIModel.from_questions(train)
    train_text2api(model, train, epochs=args.epochs, seed=args.seed)
    res["Text2APIModel"] = evaluate_retrieval(model, test, con)
    if args.hf:
        res["HF LM (few-shot)"] = evaluate_retrieval(HFText2API(args.hf, examples=train[:12]), test[:100], con)
    print(json.dumps(res, indent=2, default=float))
    chat = ChatLR(con, model)
    for q in args.ask or ["What year was Toy Story released?", "What are the 3 best Film-Noir movies?",
                          "How many users are librarians?"]:
        print(f"Q: {q}\n   {chat.context(q)}")


if __name__ == "__main__":
    main()
