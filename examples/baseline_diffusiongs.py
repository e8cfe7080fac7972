"""DiffusionGS on MovieLens-100k personalised search vs non-generative sequence rankers.

A request: a user, a query (a genre of the movie they rate >= 4 next), 20 candidates of that
genre (the movie + 19 popularity-matched negatives), and the user's earlier ratings as history.
Prints AUC, GAUC, NDCG@10, HR@10 and MRR for popularity, mean-pooled and target-attention
sequence rankers and DiffusionGS.

    python examples/baseline_diffusiongs.py --users 300 --epochs 5     # ~1 min
    python examples/baseline_diffusiongs.py                            # all users, several minutes
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from snnkit.baselines.diffusiongs import (DiffusionGS, SequenceRanker, evaluate_search, movielens_search,
                                          popularity_ranker, rank_scores, train_ranker)
from snnkit.cli import add_threads_option, int_at_least, use_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int_at_least(1), default=None)
    ap.add_argument("--epochs", type=int_at_least(1), default=8)
    ap.add_argument("--negatives", choices=("popularity", "uniform"), default="popularity")
    ap.add_argument("--seed", type=int, default=0)
    add_threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    try:
        d = movielens_search(n_users=args.users, negatives=args.negatives, seed=args.seed)
    except (ValueError, OSError) as err:   # --users above the 943 of MovieLens-100k; no copy of it (where to get one)
        ap.error(str(err))
    print(d.description)
    spec = DiffusionGS.spec(d)
    rows = {"random": evaluate_search(np.random.default_rng(args.seed).random(d.cands[d.test].shape)),
            "popularity": evaluate_search(popularity_ranker(d))}
    for name, build in (("mean-pooled sequence", lambda: SequenceRanker(spec, pooling="mean")),
                        ("target-attention sequence", lambda: SequenceRanker(spec, pooling="attention")),
                        ("DiffusionGS", lambda: DiffusionGS(spec))):
        torch.manual_seed(args.seed)   # before building: --seed sets the initial weights too
        model = build()
        train_ranker(model, d, epochs=args.epochs, seed=args.seed)
        rows[name] = evaluate_search(rank_scores(model, d))
    print(f"\n{'model':28s} " + " ".join(f"{k:>8s}" for k in rows["random"]))
    for name, r in rows.items():
        print(f"{name:28s} " + " ".join(f"{v:8.4f}" for v in r.values()))
    print(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
