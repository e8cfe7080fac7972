"""RankDFM on MovieLens-100k: pairwise DeepFM ranking, learnable field selection, pruned inference.

Users are queries, the movies they rated are documents, relevance = rating - 1. Prints NDCG@10,
within-query pair AUC, AUC and GAUC (relevant = rating >= 4) for random order, item popularity,
the shrunk item mean rating, RankDFM with all fields and RankDFM pruned to the selected fields,
plus the inference time of both on one batch of candidates.

    python examples/baseline_rankdfm.py                  # all 943 users, ~1 min on 2 cores
    python examples/baseline_rankdfm.py --users 150 --epochs 3
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from snnkit.baselines.rankdfm import (RankDFM, evaluate_ranking, movielens_ranking, popularity_scores, score,
                                      time_inference, train_rankdfm)
from snnkit.cli import add_threads_option, int_at_least, use_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int_at_least(1), default=None, help="random subset of users (default: all 943)")
    ap.add_argument("--epochs", type=int_at_least(1), default=8)
    ap.add_argument("--sparsity", type=float, default=0.01, help="weight of the field-gate penalty")
    ap.add_argument("--threshold", type=float, default=0.5, help="keep fields with keep probability >= this")
    ap.add_argument("--seed", type=int, default=0)
    add_threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        data = movielens_ranking(n_users=args.users, seed=args.seed)
    except (ValueError, OSError) as err:   # --users above the 943 of MovieLens-100k; no copy of it (where to get one)
        ap.error(str(err))
    print(data.description)
    rows = {"random": evaluate_ranking(np.random.default_rng(args.seed).random(len(data.query)), data),
            "popularity (count)": evaluate_ranking(popularity_scores(data, "count"), data),
            "item mean rating": evaluate_ranking(popularity_scores(data, "mean_rating"), data)}
    model = RankDFM(data.fields, embed_dim=8, hidden=(64, 32))
    train_rankdfm(model, data, epochs=args.epochs, sparsity=args.sparsity, seed=args.seed, verbose=True)
    rows["RankDFM (all fields)"] = evaluate_ranking(score(model, data.x), data)
    print("field keep probabilities:", ", ".join(f"{n}={p:.2f}" for n, p in model.field_ranking()))
    pruned = model.prune(threshold=args.threshold)
    cols = pruned.columns(data.field_names)
    rows[f"RankDFM pruned ({pruned.num_fields} fields)"] = evaluate_ranking(score(pruned, data.x, cols), data)
    x = torch.as_tensor(data.x[:5000])
    t_full, t_pruned = time_inference(model, x), time_inference(pruned, x[:, cols])
    print(f"\n{'model':32s} " + " ".join(f"{k:>9s}" for k in rows["random"]))
    for name, r in rows.items():
        print(f"{name:32s} " + " ".join(f"{v:9.4f}" for v in r.values()))
    print(f"\ninference, 5000 candidates: all fields {t_full * 1e3:.2f} ms, pruned {t_pruned * 1e3:.2f} ms "
          f"({t_full / t_pruned:.1f}x); kept fields: {pruned.field_names}")
    print(json.dumps({"metrics": rows, "ms_full": t_full * 1e3, "ms_pruned": t_pruned * 1e3}, default=float))


if __name__ == "__main__":
    main()
