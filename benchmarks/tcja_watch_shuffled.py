"""Pre-registered temporal-order control for tcja_watch: TCJA vs no TCJA on smartwatch windows whose steps are shuffled.

tcja_watch found TCJA +3.55 ± 0.54 points over the same network without it (G_ordered, seeds 0-19). This
runs ONE follow-up test, designed before any run: every window's T=20 steps (5 samples per channel each)
are permuted by a fixed permutation drawn once per window (numpy PCG64 seeded by [SHUFFLE_SEED, the
window's index among all windows], ``snnkit.data.imu_watch.step_permutation``), the same for both variants
and all seeds, applied to train and test windows: order within a window is destroyed, each step's content
kept. Both variants (``tcja``, ``none``, width 32) train on the shuffled windows with tcja_watch's recipe,
Trainer, seeding, split and T; seeds 0-19, one CPU thread per run, two at a time; metric final-epoch test
accuracy. G_shuffled = mean paired difference (tcja - none, same seed) on shuffled windows. Decision rule
(fixed before the runs): TCJA's gain depends on temporal order only if G_ordered - G_shuffled >= +1.0
point AND a two-sided Welch t-test on the two sets of 20 paired differences (ordered, from the committed
results/tcja_watch.json; shuffled) gives p < 0.05.

    python benchmarks/tcja_watch_shuffled.py                       # 20 seeds x 2 variants -> results/tcja_watch_shuffled.json
    python benchmarks/tcja_watch_shuffled.py --epochs 1 --seeds 0 --results /tmp/smoke.json   # plumbing check only
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table  # noqa: E402
from tcja_watch import VARIANTS, committed_reference, follow_up_args, paired_stats, run_sweep, store, train_one  # noqa: E402

from snnkit.data.imu_watch import SHUFFLE_SEED  # noqa: E402

NAME = "tcja_watch_shuffled"
REFERENCE = "tcja_watch"  # the committed ordered-window runs this test compares with (read, never rewritten)
RULE = {"metric": "final-epoch test accuracy (%)", "seeds": list(range(20)), "min_gain_drop": 1.0,
        "test": "two-sided Welch t-test, ordered vs shuffled paired differences (tcja - none)", "max_p": 0.05,
        "text": "TCJA's gain depends on temporal order only if G_ordered - G_shuffled >= +1.0 point AND "
                "Welch t-test p < 0.05"}


def differences(runs: Sequence[Dict[str, Any]]) -> Dict[int, float]:
    """tcja - none final test accuracy (points) per seed both variants hold."""
    acc = {(r["attention"], r["seed"]): r["final"] * 100 for r in runs}
    return {s: acc["tcja", s] - acc["none", s] for v, s in acc if v == "tcja" and ("none", s) in acc}


def welch(ordered: Sequence[float], shuffled: Sequence[float]) -> Dict[str, Any]:
    """mean(ordered) - mean(shuffled) with its Welch se, t, Welch-Satterthwaite df and two-sided p."""
    from scipy import stats

    a, b = list(ordered), list(shuffled)
    if len(a) < 2 or len(b) < 2:
        return {"n": [len(a), len(b)]}
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff, se = statistics.mean(a) - statistics.mean(b), math.sqrt(va + vb)
    if se == 0:
        return {"n": [len(a), len(b)], "difference": diff, "se": 0.0, "df": None,
                "t": math.copysign(math.inf, diff) if diff else 0.0, "p": 0.0 if diff else 1.0}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    t = diff / se
    return {"n": [len(a), len(b)], "difference": diff, "se": se, "df": df, "t": t, "p": float(2 * stats.t.sf(abs(t), df))}


def summarise(runs: List[Dict[str, Any]], ref_runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Shuffled per-variant mean ± std and G_shuffled (paired_stats), G_ordered, the Welch comparison, and the drops."""
    shuf = paired_stats(runs) if {r["attention"] for r in runs} == set(VARIANTS) else {}
    ordered = paired_stats(ref_runs)
    d_ord, d_shuf = differences(ref_runs), differences(runs)
    out: Dict[str, Any] = {"shuffled": shuf, "G_ordered": ordered["difference"]["mean"],
                           "G_shuffled": shuf.get("difference", {}).get("mean"),
                           "ordered_minus_shuffled": welch([d_ord[s] for s in sorted(d_ord)],
                                                           [d_shuf[s] for s in sorted(d_shuf)]),
                           "drop_ordered_to_shuffled": {}}
    for v in VARIANTS:
        if shuf.get(v, {}).get("mean") is not None:
            out["drop_ordered_to_shuffled"][v] = ordered[v]["mean"] - shuf[v]["mean"]
    return out


def decide(summary: Dict[str, Any], complete: bool) -> str:
    """The pre-registered rule applied to ``summary`` ("incomplete" unless all 40 shuffled runs finished)."""
    w = summary.get("ordered_minus_shuffled", {})
    if not complete or "difference" not in w:
        return "incomplete: no outcome"
    ok = w["difference"] >= RULE["min_gain_drop"] and w["p"] < RULE["max_p"]
    return ("TCJA's gain depends on temporal order" if ok
            else "TCJA's gain is not shown to depend on temporal order (rule not met)")


def reference() -> Tuple[Dict[str, Any], str]:
    """The committed tcja_watch results (must be complete) and the sha256 of the file as read."""
    return committed_reference(NAME)


def main(argv: Any = None) -> Dict[str, Any]:
    args, rf = follow_up_args(__doc__, NAME, argv)
    ref, sha = reference()
    ref_runs = [r for r in ref["runs"] if r["attention"] in VARIANTS]
    registered = args.epochs is None and sorted(args.seeds) == RULE["seeds"]
    payload: Dict[str, Any] = {
        "machine": machine(), "design": " ".join(__doc__.split("\n\n")[1].split()), "rule": RULE,
        "options": vars(args), "shuffle_seed": SHUFFLE_SEED,
        "reference": {"file": f"benchmarks/results/{REFERENCE}.json", "sha256": sha, "runs_used": len(ref_runs)},
        "runs": [], "complete": False}
    t0 = time.time()

    def save(final: bool = False) -> None:
        runs = sorted(payload["runs"], key=lambda r: (r["seed"], VARIANTS.index(r["attention"])))
        done = {(r["attention"], r["seed"]) for r in runs}
        payload.update(runs=runs, wall_s=round(time.time() - t0, 1),
                       complete=registered and done == {(v, s) for v in VARIANTS for s in RULE["seeds"]})
        payload["summary"] = summarise(runs, ref_runs)
        payload["outcome"] = decide(payload["summary"], payload["complete"])
        store(rf, payload, final)

    run = partial(train_one, shuffle_steps=True)
    run_sweep(run, [(v, s, args.epochs) for s in args.seeds for v in VARIANTS], args.jobs, payload, save, " (shuffled)")
    if payload["complete"]:
        s = payload["summary"]
        print_table([{"variant": v, "mean": round(s["shuffled"][v]["mean"], 2), "std": round(s["shuffled"][v]["std"], 2),
                      "drop from ordered": round(s["drop_ordered_to_shuffled"][v], 2)} for v in VARIANTS],
                    ["variant", "mean", "std", "drop from ordered"], "shuffled steps, final test accuracy (%), seeds 0-19")
        g, w = s["shuffled"]["difference"], s["ordered_minus_shuffled"]
        print(f"G_shuffled: {g['mean']:+.2f} ± {g['sem']:.2f}; G_ordered - G_shuffled: {w['difference']:+.2f} ± "
              f"{w['se']:.2f}, t = {w['t']:.2f}, p = {w['p']:.3g}: {payload['outcome']}")
    save(final=True)
    return payload


if __name__ == "__main__":
    main()
