"""TCJA-SNN against its ablations on digits_dvs over several seeds (the demo's comparison, repeated).

A single demo run compares TCJA-SNN with the same network without TCJA on one seed; the test
set has 360 samples (one sample = 0.28 points), so one seed cannot separate a small effect
from initialisation noise. This trains every (variant, seed) pair with the demo's recipe (the
``digits_dvs`` config: 15 epochs, Adam 3e-3, cosine schedule), one CPU thread per run and
``--jobs`` runs at a time, and reports the final test accuracy per seed, mean and standard
deviation per variant, and the paired per-seed difference to ``none``.

A variant is an attention mode, optionally with the TCJA convolutions' init gain after a colon
(``tcja:1`` = PyTorch's default init as in the original code; without a gain the config's, 10).

    python benchmarks/tcja_seeds.py --extend              # tcja vs none, seeds 0-3 (re-run) in results/tcja_seeds.json
    python benchmarks/tcja_seeds.py --variants tcja tcja:1 none t_xa:1 c_xa:1 --seeds 0 1 2 3
    python benchmarks/tcja_seeds.py --variants tcja:1 --seeds 8 9 --extend   # add runs to results/tcja_seeds.json
    python benchmarks/tcja_seeds.py --set 'stages=[[8],[16],[16]]' --seeds 0 1 2 3 4 5 --name tcja_seeds_narrow
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, non_negative_int, positive_int, print_table, write_json  # noqa: E402


def parse_variant(spec: str) -> Dict[str, Any]:
    """``"tcja"`` / ``"tcja:1"`` -> config overrides (attention mode, optional TCJA init gain)."""
    mode, _, gain = spec.partition(":")
    if mode not in ("tcja", "none", "t_xa", "c_xa") or (gain and mode == "none"):
        raise SystemExit(f"tcja_seeds: bad variant {spec!r}; use tcja, none, t_xa or c_xa, optionally ':GAIN'")
    try:
        return {"attention": mode, **({"tcja_init_gain": float(gain)} if gain else {})}
    except ValueError:
        raise SystemExit(f"tcja_seeds: bad init gain in variant {spec!r}") from None


def parse_sets(items: List[str]) -> Dict[str, Any]:
    """``["stages=[[8],[16],[16]]"]`` -> network overrides for every variant (values are JSON)."""
    from snnkit.models.tcja_snn import get_config

    out: Dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or key in ("name", "attention", "tcja_init_gain", "epochs", "T_max"):
            raise SystemExit(f"tcja_seeds: bad --set {item!r}; use KEY=JSON for a digits_dvs config field "
                             "(not name: the sweep is on digits_dvs; attention and init gain come from --variants, "
                             "epochs from --epochs)")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            raise SystemExit(f"tcja_seeds: --set {item!r}: the value is not JSON") from None
    try:
        get_config("digits_dvs", **out)
    except (ValueError, TypeError) as err:
        raise SystemExit(f"tcja_seeds: --set: {err}") from None
    return out


def train_one(variant: str, seed: int, epochs: Optional[int], out: str,
              overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Train one variant with one seed in this (child) process on one thread."""
    import torch

    torch.set_num_threads(1)
    from snnkit.models.tcja_snn import get_config
    from snnkit.train.recipes import tcja_trainer

    t0 = time.time()
    cfg = get_config("digits_dvs", **(overrides or {}), **parse_variant(variant))
    tr = tcja_trainer(cfg, out_dir=Path(out) / f"{variant.replace(':', '_')}_{seed}", seed=seed, epochs=epochs,
                      progress=False, tensorboard=False)
    hist = tr.fit()
    return {"attention": variant, "seed": seed, "tcja_init_gain": cfg.tcja_init_gain, "final": hist[-1]["test_acc"],
            "best": tr.best, "curve": [h["test_acc"] for h in hist], "seconds": time.time() - t0}


def summarize(runs: List[Dict[str, Any]], baseline: str = "none") -> List[Dict[str, Any]]:
    """Per variant: mean/std of the final accuracy and the paired per-seed difference to ``baseline``."""
    by = {(r["attention"], r["seed"]): r["final"] for r in runs}
    rows = []
    for v in dict.fromkeys(r["attention"] for r in runs):
        seeds = sorted(s for a, s in by if a == v)
        acc = [by[v, s] * 100 for s in seeds]
        diffs = [(by[v, s] - by[baseline, s]) * 100 for s in seeds if (baseline, s) in by]
        paired = bool(diffs) and v != baseline
        rows.append({"variant": v, "seeds": len(seeds), "final_per_seed": [round(a, 2) for a in acc],
                     "mean": round(statistics.mean(acc), 2), "std": round(statistics.stdev(acc), 2) if len(acc) > 1 else 0.0,
                     f"minus_{baseline}_mean": round(statistics.mean(diffs), 2) if paired else None,
                     # standard error of the paired mean difference: |mean| below ~2 sem is seed noise
                     f"minus_{baseline}_sem": round(statistics.stdev(diffs) / len(diffs) ** 0.5, 2)
                     if paired and len(diffs) > 1 else None,
                     f"wins_vs_{baseline}": f"{sum(d > 0 for d in diffs)}/{len(diffs)}" if paired else None,
                     f"ties_vs_{baseline}": sum(d == 0 for d in diffs) if paired else None})
    return rows


def previous_runs(path: Path, epochs: Optional[int], new: List[Dict[str, Any]],
                  overrides: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Runs of an earlier results file that ``new`` does not redo; refuses a file trained another way."""
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    if old.get("epochs") != epochs:
        raise SystemExit(f"tcja_seeds: {path} was trained with epochs={old.get('epochs')}, not {epochs}; "
                         "use another --name")
    if old.get("config_overrides", {}) != (overrides or {}):
        raise SystemExit(f"tcja_seeds: {path} was trained with --set {old.get('config_overrides', {})}, not "
                         f"{overrides or {}}; use another --name")
    from snnkit.models.tcja_snn import get_config

    for r in old["runs"]:  # same recipe: each variant's init gain and the epochs actually trained
        cfg = get_config("digits_dvs", **(overrides or {}), **parse_variant(r["attention"]))
        if r.get("tcja_init_gain") != cfg.tcja_init_gain or len(r["curve"]) != (epochs or cfg.epochs):
            raise SystemExit(f"tcja_seeds: {path} run {r['attention']} seed {r['seed']} was trained with init gain "
                             f"{r.get('tcja_init_gain')} for {len(r['curve'])} epochs, not gain {cfg.tcja_init_gain} "
                             f"for {epochs or cfg.epochs}; use another --name")
    redo = {(r["attention"], r["seed"]) for r in new}
    return [r for r in old["runs"] if (r["attention"], r["seed"]) not in redo]


def main(argv: Any = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=["tcja", "none"], help="tcja, none, t_xa, c_xa [:init gain]")
    ap.add_argument("--seeds", nargs="+", type=non_negative_int, default=[0, 1, 2, 3])
    ap.add_argument("--epochs", type=positive_int, default=None, help="default: the digits_dvs config's")
    ap.add_argument("--jobs", type=positive_int, default=2, help="runs in parallel (one thread each)")
    ap.add_argument("--name", default="tcja_seeds", help="results file benchmarks/results/NAME.json")
    ap.add_argument("--extend", action="store_true",
                    help="keep the runs already in NAME.json (same epochs) and add these; a re-run pair replaces its old run")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an existing NAME.json (without --extend or --overwrite an existing file is refused)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=JSON",
                    help="change the digits_dvs network for every variant, e.g. --set 'stages=[[8],[16],[16]]'")
    args = ap.parse_args(argv)
    for v in args.variants:
        parse_variant(v)
    for flag, items in (("--seeds", args.seeds), ("--variants", args.variants)):
        dup = sorted({str(i) for i in items if items.count(i) > 1})
        if dup:  # a repeated pair would be trained twice and counted once
            raise SystemExit(f"tcja_seeds: {flag} repeats {', '.join(dup)}")
    if not args.name or Path(args.name).name != args.name or args.name.startswith("."):
        # a name with a folder in it wrote outside benchmarks/results (--name ../../x wrote ../../x.json)
        raise SystemExit(f"tcja_seeds: --name {args.name!r} must be a plain file name (no folder): "
                         f"the results go to {RESULTS}/NAME.json")
    overrides = parse_sets(args.sets)
    path = RESULTS / f"{args.name}.json"
    if args.extend and args.overwrite:
        raise SystemExit("tcja_seeds: --extend keeps the runs in the file, --overwrite drops them; pass one")
    if path.exists() and not (args.extend or args.overwrite):
        # refused before training: a plain run would replace every earlier run (hours of training) with its few
        raise SystemExit(f"tcja_seeds: {path} already holds {len(json.loads(path.read_text()).get('runs', []))} "
                         "runs; --extend adds to it, --overwrite replaces it, or use another --name")
    have = ({(r["attention"], r["seed"]) for r in previous_runs(path, args.epochs, [], overrides)}
            if args.extend else set())
    # every variant is paired with the baseline `none` of its seed; one already in the file is kept, not re-run
    add_none = "none" not in args.variants
    jobs = [(v, s) for s in args.seeds
            for v in args.variants + (["none"] if add_none and ("none", s) not in have else [])]
    from snnkit import data as snn_data

    snn_data.load("digits_dvs", frames=8, split_by="number")  # build the frame cache once, before the workers
    t0 = time.time()
    with tempfile.TemporaryDirectory() as out, ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(train_one, v, s, args.epochs, out, overrides) for v, s in jobs]
        runs = []
        for f in futs:
            runs.append(f.result())
            r = runs[-1]
            print(f"  {r['attention']:<7} seed {r['seed']}: {r['final'] * 100:.2f}%  ({r['seconds']:.0f} s)", flush=True)
    wall = round(time.time() - t0, 1)
    if args.extend and path.exists():
        runs = previous_runs(path, args.epochs, runs, overrides) + runs
        wall = round(wall + json.loads(path.read_text()).get("wall_s", 0.0), 1)  # all invocations together
    variants = list(dict.fromkeys(r["attention"] for r in runs))
    seeds = sorted({r["seed"] for r in runs})
    rows = summarize(runs)
    print_table(rows, list(rows[0]), f"digits_dvs final test accuracy (%), {len(seeds)} seeds")
    payload = {"machine": machine(), "variants": variants, "epochs": args.epochs, "seeds": seeds,
               **({"config_overrides": overrides} if overrides else {}), "summary": rows, "runs": runs, "wall_s": wall,
               "last_invocation_args": vars(args)}   # --extend merges invocations: the runs carry their own settings
    print(f"results: {write_json(args.name, payload)}")
    return payload


if __name__ == "__main__":
    main()
