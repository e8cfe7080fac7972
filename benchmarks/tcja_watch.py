"""Pre-registered test: TCJA-SNN vs the same network without TCJA on real smartwatch IMU data (seglearn's watch set).

On ``digits_dvs`` TCJA and its ablation are indistinguishable over 40 seeds (docs/tcja.md); that
data has little per-sample temporal structure. This runs ONE test, designed before any run, on
recorded temporal data: 2 s windows (100 samples, stride 50) of the 6-axis smartwatch signal,
split by subject (subjects 1-7 train, 8-10 test), fed as T=20 steps of 5 samples per channel
(``snnkit.data.imu_watch``). Network, both variants identical except the two TCJA blocks:
conv(1x3)-BN-neuron 6->32, [TCJA], conv(1x3)-BN-neuron 32->32, [TCJA], flatten, then the
TCJA-SNN builder's head (dropout before each linear layer, FC128-neuron, FC70-neuron, vote 10).
Neuron, surrogate, TCJA init gain, loss, optimiser, lr, schedule, epochs, batch size and
drop_last come from the ``digits_dvs`` config; training is snnkit's Trainer, seeded as
``tcja_trainer`` seeds it. Decision rule (fixed before the runs): TCJA helps on this data only if
the mean paired difference (tcja - none, same seed) over seeds 0-19 is >= +1.0 point of final-epoch
test accuracy AND a two-sided paired t-test gives p < 0.05.

    python benchmarks/tcja_watch.py                       # 20 seeds x 2 variants -> results/tcja_watch.json
    python benchmarks/tcja_watch.py --epochs 1 --seeds 0 --results /tmp/smoke.json   # plumbing check only
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, add_results_option, machine, non_negative_int, positive_int, print_table, results_file  # noqa: E402

from snnkit.models.tcja_watch import (CHANNELS, N_CLASSES, T, VARIANTS, WIDTH, WatchNet, train_one,  # noqa: E402,F401
                                      watch_config)

NAME = "tcja_watch"
RULE = {"metric": "final-epoch test accuracy (%)", "seeds": list(range(20)), "min_mean_paired_difference": 1.0,
        "test": "two-sided paired t-test", "max_p": 0.05,
        "text": "TCJA helps on this data only if mean(tcja - none, same seed) >= +1.0 point AND paired t-test p < 0.05"}


def paired_stats(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per variant mean ± std (%), and tcja - none per seed: mean, sem, 95 % t interval, wins/ties/losses, t, p."""
    from scipy import stats

    acc = {(r["attention"], r["seed"]): r["final"] * 100 for r in runs}
    seeds = sorted(s for v, s in acc if v == "tcja" and ("none", s) in acc)
    out: Dict[str, Any] = {"paired_seeds": seeds}
    for v in VARIANTS:
        a = [acc[v, s] for s in sorted(s for w, s in acc if w == v)]
        out[v] = {"n": len(a), "mean": statistics.mean(a) if a else None,
                  "std": statistics.stdev(a) if len(a) > 1 else None}
    d = [acc["tcja", s] - acc["none", s] for s in seeds]
    if len(d) > 1:
        n, mean, sd = len(d), statistics.mean(d), statistics.stdev(d)
        sem = sd / math.sqrt(n)
        q = stats.t.ppf(0.975, n - 1)
        t = mean / sem if sem > 0 else math.copysign(math.inf, mean) if mean else 0.0
        p = float(2 * stats.t.sf(abs(t), n - 1)) if sem > 0 else (0.0 if mean else 1.0)
        out["difference"] = {"mean": mean, "sem": sem, "ci95": [mean - q * sem, mean + q * sem],
                             "wins": sum(x > 1e-9 for x in d), "ties": sum(abs(x) <= 1e-9 for x in d),
                             "losses": sum(x < -1e-9 for x in d), "t": t, "p": p}
    return out


def decide(summary: Dict[str, Any], complete: bool) -> str:
    """The pre-registered rule applied to ``summary`` ("incomplete" unless every seed of both variants ran)."""
    if not complete or "difference" not in summary:
        return "incomplete: no outcome"
    d = summary["difference"]
    ok = d["mean"] >= RULE["min_mean_paired_difference"] and d["p"] < RULE["max_p"]
    return "TCJA helps on this data" if ok else "TCJA does not help on this data (rule not met)"


def floor_logreg() -> Dict[str, Any]:
    """Time-order-blind floor: logistic regression on per-channel mean, std, min, max of each window, same split."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from snnkit.data.imu_watch import load_watch

    train, test = load_watch(T=T)

    def feats(ds: Any) -> np.ndarray:
        w = ds.x.squeeze(3).permute(0, 2, 1, 3).reshape(len(ds), 6, -1).double().numpy()  # back to [N, 6, 100]
        return np.concatenate([w.mean(2), w.std(2), w.min(2), w.max(2)], axis=1)

    clf = LogisticRegression(max_iter=2000).fit(feats(train), train.y.numpy())
    return {"features": "per-channel mean, std, min, max of each standardised window (24)",
            "model": "sklearn LogisticRegression(max_iter=2000), default C",
            "test_acc": float((clf.predict(feats(test)) == test.y.numpy()).mean()),
            "train_acc": float((clf.predict(feats(train)) == train.y.numpy()).mean())}


def data_summary() -> Dict[str, Any]:
    """Window counts per split and class, and the subjects of each split (the fixed split)."""
    from snnkit.data.imu_watch import load_watch, watch_path

    train, test = load_watch(T=T)
    return {"file": "seglearn 1.2.5 seglearn/data/watch_dataset.npy", "bytes": watch_path().stat().st_size,
            "windows": {"train": len(train), "test": len(test)}, "width": 100, "stride": 50, "T": T,
            "train_subjects": sorted(set(train.subject.tolist())), "test_subjects": sorted(set(test.subject.tolist())),
            "class_counts": {"train": torch.bincount(train.y, minlength=N_CLASSES).tolist(),
                             "test": torch.bincount(test.y, minlength=N_CLASSES).tolist()}}


def committed_reference(who: str) -> Tuple[Dict[str, Any], str]:
    """The committed tcja_watch results (must be complete) and the file's sha256: the follow-up tests compare with
    its 40 runs and record which file they read."""
    path = RESULTS / f"{NAME}.json"
    raw = path.read_bytes()
    ref = json.loads(raw)
    if not ref.get("complete"):
        raise SystemExit(f"{who}: {path} is not a complete tcja_watch run; this test compares with its 40 runs")
    return ref, hashlib.sha256(raw).hexdigest()


def follow_up_args(doc: str, name: str, argv: Any) -> Tuple[argparse.Namespace, Any]:
    """The follow-up tests' options (``--seeds``, ``--epochs``, ``--jobs``, ``--results``) and their results file."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--seeds", nargs="+", type=non_negative_int, default=list(range(20)))
    ap.add_argument("--epochs", type=positive_int, default=None, help="default: the digits_dvs config's (15)")
    ap.add_argument("--jobs", type=positive_int, default=2, help="runs in parallel (one thread each)")
    add_results_option(ap, name)
    args = ap.parse_args(argv)
    rf = results_file(ap, args, name)
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"{name}: --seeds must not repeat an entry")
    return args, rf


def store(rf: Any, payload: Dict[str, Any], final: bool) -> None:
    """Write the results: quietly after every run where ``--results`` names a file (an interrupted sweep keeps its runs,
    marked incomplete), and at the end with the usual message."""
    if final or rf.path is not None:
        with contextlib.nullcontext() if final else contextlib.redirect_stdout(io.StringIO()):
            rf.save(payload)


def run_sweep(train: Callable[..., Dict[str, Any]], jobs: List[Tuple[Any, ...]], n_jobs: int,
              payload: Dict[str, Any], save: Callable[[], None], tag: str = "") -> None:
    """``train(*job, out)`` for every job, ``n_jobs`` at a time in child processes; each run is appended to
    ``payload["runs"]`` and saved as it finishes (an interrupted sweep keeps what finished)."""
    with tempfile.TemporaryDirectory() as out, ProcessPoolExecutor(max_workers=n_jobs) as pool:
        futs = [pool.submit(train, *job, out) for job in jobs]
        for f in futs:
            r = f.result()
            payload["runs"].append(r)
            save()
            print(f"  {r['attention']:<5} seed {r['seed']}{tag}: done ({r['seconds']:.0f} s)", flush=True)


def main(argv: Any = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", nargs="+", type=non_negative_int, default=list(range(20)))
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--epochs", type=positive_int, default=None, help="default: the digits_dvs config's (15)")
    ap.add_argument("--jobs", type=positive_int, default=2, help="runs in parallel (one thread each)")
    add_results_option(ap, NAME)
    args = ap.parse_args(argv)
    rf = results_file(ap, args, NAME)
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.variants)) != len(args.variants):
        raise SystemExit("tcja_watch: --seeds and --variants must not repeat an entry")
    registered = args.epochs is None and sorted(args.seeds) == RULE["seeds"] and sorted(args.variants) == sorted(VARIANTS)
    jobs = [(v, s) for s in args.seeds for v in args.variants]
    payload: Dict[str, Any] = {"machine": machine(), "design": __doc__.split("\n\n")[1].replace("\n", " "),
                               "rule": RULE, "options": vars(args), "data": data_summary(),
                               "recipe": {k: getattr(watch_config("tcja"), k) for k in (
                                   "neuron", "tau", "decay_input", "v_threshold", "v_reset", "detach_reset", "surrogate",
                                   "surrogate_alpha", "tcja_init_gain", "dropout", "voting", "loss", "optimizer", "lr",
                                   "scheduler", "T_max", "epochs", "batch_size", "drop_last", "mixup")},
                               "parameters": {v: sum(p.numel() for p in WatchNet(v).parameters()) for v in VARIANTS},
                               "floor_logreg": floor_logreg(), "runs": [], "complete": False}
    t0 = time.time()

    def save(final: bool = False) -> None:
        runs = sorted(payload["runs"], key=lambda r: (r["seed"], VARIANTS.index(r["attention"])))
        done = {(r["attention"], r["seed"]) for r in runs}
        payload.update(runs=runs, wall_s=round(time.time() - t0, 1),
                       complete=registered and done == {(v, s) for v in VARIANTS for s in RULE["seeds"]})
        payload["summary"] = paired_stats(runs) if {r["attention"] for r in runs} == set(VARIANTS) else None
        payload["outcome"] = decide(payload["summary"] or {}, payload["complete"])
        store(rf, payload, final)

    run_sweep(train_one, [(v, s, args.epochs) for v, s in jobs], args.jobs, payload, save)
    if payload["complete"]:
        s, d = payload["summary"], payload["summary"]["difference"]
        print_table([{"variant": v, "mean": round(s[v]["mean"], 2), "std": round(s[v]["std"], 2)} for v in VARIANTS],
                    ["variant", "mean", "std"], "final test accuracy (%), seeds 0-19")
        print(f"tcja - none: {d['mean']:+.2f} ± {d['sem']:.2f} (95 % {d['ci95'][0]:+.2f} to {d['ci95'][1]:+.2f}), "
              f"{d['wins']}/{d['ties']}/{d['losses']} w/t/l, t = {d['t']:.2f}, p = {d['p']:.3g}: {payload['outcome']}")
    save(final=True)
    return payload


if __name__ == "__main__":
    main()
