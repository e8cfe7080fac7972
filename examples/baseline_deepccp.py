"""DeepCCP: predict citation counts from the first years of the citation cascade.

Default: cascades from snnkit's self-exciting citation simulator (known ground truth). With
--csv EDGES (columns citing,cited,time) the real cascades of that edge list are used.
Prints MSLE (log2) and correlations for the early count, a ridge regression on the log counts
per time slice, and DeepCCP.

    python examples/baseline_deepccp.py --n 2000
    python examples/baseline_deepccp.py --csv citations.csv --t-obs 3 --horizon 10
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from snnkit.baselines.deepccp import DeepCCP, baseline_predictions, evaluate_counts, predict_counts, train_deepccp
from snnkit.cli import add_threads_option, int_at_least, use_threads
from snnkit.data.graphs import CascadeParams, load_citation_csv, simulate_cascades


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=None)
    ap.add_argument("--n", type=int, default=2000, help="simulated cascades")
    ap.add_argument("--t-obs", type=float, default=2.0)
    ap.add_argument("--horizon", type=float, default=10.0)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    add_threads_option(ap)
    args = ap.parse_args()
    use_threads(args.threads)
    if not 0 < args.t_obs < args.horizon:
        ap.error(f"--t-obs must be in (0, --horizon={args.horizon}), got {args.t_obs}")
    if args.slices < 1 or args.epochs < 1 or (not args.csv and args.n < 10):
        ap.error("--slices and --epochs must be >= 1 and --n >= 10")
    if args.csv:
        try:
            cascades = load_citation_csv(args.csv, horizon=args.horizon, min_citations=1)
        except (OSError, ValueError) as err:
            ap.error(str(err))
        if len(cascades) < 10:
            ap.error(f"{args.csv}: only {len(cascades)} papers have a full {args.horizon}-year horizon and at least one "
                     "citation; at least 10 are needed for a train/test split (try a shorter --horizon)")
    else:
        cascades = simulate_cascades(args.n, CascadeParams(horizon=args.horizon), seed=args.seed)
    perm = np.random.default_rng(args.seed).permutation(len(cascades))
    cut = int(0.8 * len(perm))
    train, test = [cascades[i] for i in perm[:cut]], [cascades[i] for i in perm[cut:]]
    print(f"{len(train)} train / {len(test)} test cascades, observed {args.t_obs}, horizon {args.horizon}")
    res = {k: evaluate_counts(v, test) for k, v in baseline_predictions(train, test, args.t_obs, args.slices).items()}
    torch.manual_seed(args.seed)
    model = DeepCCP()
    train_deepccp(model, train, args.t_obs, slices=args.slices, epochs=args.epochs, seed=args.seed)
    res["DeepCCP"] = evaluate_counts(predict_counts(model, test, args.t_obs, args.slices), test)
    for name, r in res.items():
        print(f"{name:12s} " + "  ".join(f"{k}={v:.4f}" for k, v in r.items()))
    print(json.dumps(res, default=float))


if __name__ == "__main__":
    main()
