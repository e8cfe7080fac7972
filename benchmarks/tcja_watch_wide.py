"""Pre-registered parameter-matched control for tcja_watch: TCJA-SNN vs a wider network without TCJA (smartwatch IMU).

tcja_watch found TCJA +3.55 ± 0.54 points over the same network without it, but the ``tcja`` network has
44,608 parameters and ``none`` 33,216. This runs ONE follow-up test, designed before any run: variant
``none_wide`` is tcja_watch's ``none`` network with both conv units widened to c channels (conv 6->c,
conv c->c, flatten 5c, the same head), c the smallest width whose parameter count is >= the ``tcja``
network's (computed by instantiating: c = 45, 44,825 >= 44,608; c = 44 gives 43,896). Everything else is
tcja_watch's: digits_dvs recipe, Trainer, seeding, data, split, T. Seeds 0-19, one CPU thread per run,
two at a time; the committed ``tcja`` and ``none`` runs of results/tcja_watch.json are reused as they are.
Decision rule (fixed before the runs): the TCJA gain is not explained by parameter count only if the mean
paired difference (tcja - none_wide, same seed) over seeds 0-19 is >= +1.0 point of final-epoch test
accuracy AND a two-sided paired t-test gives p < 0.05.

    python benchmarks/tcja_watch_wide.py                       # 20 seeds of none_wide -> results/tcja_watch_wide.json
    python benchmarks/tcja_watch_wide.py --epochs 1 --seeds 0 --results /tmp/smoke.json   # plumbing check only
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table  # noqa: E402
from tcja_watch import CHANNELS, WatchNet, committed_reference, follow_up_args, run_sweep, store, train_one  # noqa: E402

NAME = "tcja_watch_wide"
VARIANT = "none_wide"
REFERENCE = "tcja_watch"  # the committed tcja / none runs this test pairs with (read, never rewritten)
RULE = {"metric": "final-epoch test accuracy (%)", "seeds": list(range(20)), "min_mean_paired_difference": 1.0,
        "test": "two-sided paired t-test", "max_p": 0.05,
        "text": "the TCJA gain is not explained by parameter count only if mean(tcja - none_wide, same seed) "
                ">= +1.0 point AND paired t-test p < 0.05"}


def n_params(net: nn.Module) -> int:
    """Trainable parameter count (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in net.parameters())


def wide_channels() -> int:
    """The smallest conv width c whose ``none`` network has at least as many parameters as the ``tcja`` network."""
    target = n_params(WatchNet("tcja"))
    c = CHANNELS
    while n_params(WatchNet("none", c)) < target:
        c += 1
    return c


def paired(a: Dict[int, float], b: Dict[int, float]) -> Dict[str, Any]:
    """a - b over the seeds both hold (accuracies in %): mean, sem, 95 % t interval, wins/ties/losses, t, two-sided p."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    if len(d) < 2:
        return {"seeds": seeds}
    n, mean, sd = len(d), statistics.mean(d), statistics.stdev(d)
    sem = sd / math.sqrt(n)
    q = stats.t.ppf(0.975, n - 1)
    t = mean / sem if sem > 0 else math.copysign(math.inf, mean) if mean else 0.0
    p = float(2 * stats.t.sf(abs(t), n - 1)) if sem > 0 else (0.0 if mean else 1.0)
    return {"seeds": seeds, "mean": mean, "sem": sem, "ci95": [mean - q * sem, mean + q * sem],
            "wins": sum(x > 1e-9 for x in d), "ties": sum(abs(x) <= 1e-9 for x in d),
            "losses": sum(x < -1e-9 for x in d), "t": t, "p": p}


def _mean_std(acc: Dict[int, float]) -> Dict[str, Any]:
    a = [acc[s] for s in sorted(acc)]
    return {"n": len(a), "mean": statistics.mean(a) if a else None, "std": statistics.stdev(a) if len(a) > 1 else None}


def summarise(wide_runs: List[Dict[str, Any]], ref_runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per variant mean ± std (%), tcja - none_wide (the rule's comparison) and none_wide - none (context)."""
    acc: Dict[str, Dict[int, float]] = {"tcja": {}, "none": {}, VARIANT: {}}
    for r in list(ref_runs) + list(wide_runs):
        acc[r["attention"]][r["seed"]] = r["final"] * 100
    return {**{v: _mean_std(a) for v, a in acc.items()},
            "tcja_minus_none_wide": paired(acc["tcja"], acc[VARIANT]),
            "none_wide_minus_none": paired(acc[VARIANT], acc["none"])}


def decide(summary: Dict[str, Any], complete: bool) -> str:
    """The pre-registered rule applied to ``summary`` ("incomplete" unless all 20 none_wide seeds ran)."""
    d = summary.get("tcja_minus_none_wide", {})
    if not complete or "mean" not in d:
        return "incomplete: no outcome"
    ok = d["mean"] >= RULE["min_mean_paired_difference"] and d["p"] < RULE["max_p"]
    return ("the TCJA gain is not explained by parameter count" if ok
            else "the TCJA gain may be explained by parameter count (rule not met)")


def reference() -> Tuple[Dict[str, Any], str]:
    """The committed tcja_watch results (must be complete) and the sha256 of the file as read."""
    return committed_reference(NAME)


def main(argv: Any = None) -> Dict[str, Any]:
    args, rf = follow_up_args(__doc__, NAME, argv)
    ref, sha = reference()
    ref_runs = [r for r in ref["runs"] if r["attention"] in ("tcja", "none")]
    c = wide_channels()
    registered = args.epochs is None and sorted(args.seeds) == RULE["seeds"]
    payload: Dict[str, Any] = {
        "machine": machine(), "design": " ".join(__doc__.split("\n\n")[1].split()), "rule": RULE,
        "options": vars(args), "channels": c,
        "parameters": {"tcja": n_params(WatchNet("tcja")), "none": n_params(WatchNet("none")),
                       VARIANT: n_params(WatchNet("none", c)), f"{VARIANT}_c_minus_1": n_params(WatchNet("none", c - 1))},
        "reference": {"file": f"benchmarks/results/{REFERENCE}.json", "sha256": sha, "runs_used": len(ref_runs)},
        "runs": [], "complete": False}
    t0 = time.time()

    def save(final: bool = False) -> None:
        runs = sorted(payload["runs"], key=lambda r: r["seed"])
        payload.update(runs=runs, wall_s=round(time.time() - t0, 1),
                       complete=registered and {r["seed"] for r in runs} == set(RULE["seeds"]))
        payload["summary"] = summarise(runs, ref_runs)
        payload["outcome"] = decide(payload["summary"], payload["complete"])
        store(rf, payload, final)

    run_sweep(partial(train_one, channels=c, label=VARIANT), [("none", s, args.epochs) for s in args.seeds], args.jobs,
              payload, save)
    if payload["complete"]:
        s = payload["summary"]
        print_table([{"variant": v, "mean": round(s[v]["mean"], 2), "std": round(s[v]["std"], 2)}
                     for v in ("tcja", VARIANT, "none")], ["variant", "mean", "std"], "final test accuracy (%), seeds 0-19")
        for k in ("tcja_minus_none_wide", "none_wide_minus_none"):
            d = s[k]
            print(f"{k}: {d['mean']:+.2f} ± {d['sem']:.2f} (95 % {d['ci95'][0]:+.2f} to {d['ci95'][1]:+.2f}), "
                  f"{d['wins']}/{d['ties']}/{d['losses']} w/t/l, t = {d['t']:.2f}, p = {d['p']:.3g}")
        print(f"outcome: {payload['outcome']}")
    save(final=True)
    return payload


if __name__ == "__main__":
    main()
