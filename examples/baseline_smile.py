"""SMILE on MovieLens-100k: RQ-OPQ semantic IDs for cold-start items in a CTR model.

20% of the movies are made cold (no training ratings, or --shots of them); the same CTR model
is trained with and without semantic IDs and evaluated by AUC and GAUC (click = rating >= 4)
on held-out ratings of cold and of warm movies.

    python examples/baseline_smile.py                 # all users, ~1-2 min on 2 cores
    python examples/baseline_smile.py --shots 3 --side
"""
from __future__ import annotations

import argparse
import json

import torch

from snnkit.baselines.smile import (SMILECTR, build_semantic_ids, cold_start_split, collaborative_vectors,
                                    evaluate_ctr, frequency_buckets, train_ctr)
from snnkit.cli import add_threads_option, int_at_least, use_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int_at_least(1), default=None)
    ap.add_argument("--epochs", type=int_at_least(1), default=5)
    ap.add_argument("--shots", type=int_at_least(0), default=0, help="training ratings kept per cold item")
    ap.add_argument("--cold-frac", type=float, default=0.2)
    ap.add_argument("--side", action="store_true", help="give both models the genre multi-hot as side features")
    ap.add_argument("--seed", type=int, default=0)
    add_threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    try:
        d = cold_start_split(n_users=args.users, cold_frac=args.cold_frac, shots=args.shots, seed=args.seed)
    except (ValueError, OSError) as err:   # --cold-frac outside (0, 1), --users above 943, no MovieLens-100k copy
        ap.error(str(err))
    print(d.description)
    tr = d.train
    collab = collaborative_vectors(d.user[tr], d.item[tr], d.label[tr], d.user_dims[0], d.n_items, seed=args.seed)
    sids = build_semantic_ids(d.content, collab, d.train_count > 0, seed=args.seed)
    print("semantic IDs:", {k: round(v, 3) for k, v in sids.info.items()}, f"collisions {sids.collisions():.3f}")
    out = {}
    for use in (False, True):
        torch.manual_seed(args.seed)
        m = SMILECTR(d.user_dims, d.n_items, sids, use_semantic_ids=use, item_side=d.item_side if args.side else None,
                     freq_buckets=frequency_buckets(d.train_count))
        train_ctr(m, d, epochs=args.epochs, seed=args.seed)
        name = "SMILE (ID + semantic IDs)" if use else "ID only (no semantic IDs)"
        out[name] = evaluate_ctr(m, d)
        print(f"{name:28s} " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in out[name].items()))
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
