"""snnkit demo: train a TCJA-SNN on real offline event data, run it in Lava, report ops and energy.

1. data: scikit-learn's 1797 handwritten digits turned into DVS events by snnkit's saccade
   simulator (``digits_dvs``, 34x34x2, no download), framed into T frames by event count;
2. train the digits_dvs TCJA-SNN and the same network without TCJA side by side (one process
   and one CPU thread each), through the shared Trainer (checkpoints in demo_out/); print this
   run's difference next to the shipped seed sweep (benchmarks/results/tcja_seeds.json);
   then the same pair on real recorded temporal data that ships offline (smartwatch IMU windows,
   ``snnkit.models.tcja_watch``), next to its pre-registered 20-seed test (results/tcja_watch*.json);
3. export the trained TCJA-SNN to a Lava process graph and simulate test samples in floating
   and fixed point: spike agreement and accuracy against PyTorch;
4. count operations and estimate energy (Loihi and 45 nm CMOS); write demo_out/demo.png.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from snnkit.cli import int_at_least, number_above

OUT = Path("demo_out")
RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
SWEEP = RESULTS / "tcja_seeds.json"
WATCH, WATCH_WIDE = RESULTS / "tcja_watch.json", RESULTS / "tcja_watch_wide.json"
WATCH_SHUFFLED = RESULTS / "tcja_watch_shuffled.json"


def train_variant(attention: str, epochs: Optional[int], lr: Optional[float], seed: int, out: str) -> Dict[str, Any]:
    """Train one variant in this (child) process on one thread; returns its history and best accuracy."""
    torch.set_num_threads(1)
    from snnkit.train.recipes import tcja_trainer

    t0 = time.time()
    trainer = tcja_trainer("digits_dvs", out_dir=Path(out) / attention, epochs=epochs, attention=attention, lr=lr,
                           seed=seed, progress=attention == "tcja", tensorboard=False)
    hist = trainer.fit(overwrite=True)  # a second `make demo` replaces the first one's run in demo_out/
    return {"attention": attention, "history": hist, "best": trainer.best, "final": hist[-1]["test_acc"],
            "seconds": time.time() - t0}


def train_watch_variant(attention: str, epochs: Optional[int], seed: int, out: str) -> Dict[str, Any]:
    """Train one smartwatch-IMU variant in this (child) process on one thread (checkpoints in ``out/imu/<variant>``)."""
    torch.set_num_threads(1)
    from snnkit.models.tcja_watch import watch_trainer

    t0 = time.time()
    trainer = watch_trainer(attention, seed, Path(out) / "imu" / attention, epochs)
    hist = trainer.fit(overwrite=True)  # a second `make demo` replaces the first one's run
    return {"attention": attention, "history": hist, "best": trainer.best, "final": hist[-1]["test_acc"],
            "test_windows": len(trainer.test_set), "seconds": time.time() - t0}


def watch_test(wide: Path = WATCH_WIDE, plain: Path = WATCH, shuffled: Path = WATCH_SHUFFLED) -> Optional[Dict[str, Any]]:
    """The pre-registered smartwatch results (TCJA vs none, vs the parameter-matched none_wide, and with each window's
    steps shuffled); None if the first two are absent; without a usable shuffled file its line is left out."""
    try:
        w, p = json.loads(wide.read_text()), json.loads(plain.read_text())
        s = w["summary"]
        out = {"tcja": [s["tcja"]["mean"], s["tcja"]["std"]], "none": [s["none"]["mean"], s["none"]["std"]],
               "diff": p["summary"]["difference"], "outcome": p["outcome"], "wide": s["tcja_minus_none_wide"],
               "wide_outcome": w["outcome"], "channels": w["channels"], "seeds": len(p["summary"]["paired_seeds"]),
               "complete": bool(p["complete"] and w["complete"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:  # the temporal-order control is a separate file: a missing or interrupted one must not hide the two above
        sh = json.loads(shuffled.read_text())
        g, o = sh["summary"]["shuffled"]["difference"], sh["summary"]["ordered_minus_shuffled"]
        out.update(shuffled={k: float(g[k]) for k in ("mean", "sem")},
                   order={k: float(o[k]) for k in ("difference", "se", "p")}, shuffled_outcome=str(sh["outcome"]),
                   complete=out["complete"] and bool(sh["complete"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return out


def watch_text(t: Dict[str, Any]) -> str:
    """The pre-registered test's lines: means ± std over seeds, paired differences ± standard error, p, the rule's outcome."""
    d, w = t["diff"], t["wide"]
    return (f"  pre-registered test over {t['seeds']} seeds (benchmarks/tcja_watch.py, rule fixed before the runs), final "
            f"test accuracy mean ± std: TCJA-SNN {t['tcja'][0]:.2f} ± {t['tcja'][1]:.2f}%, without TCJA "
            f"{t['none'][0]:.2f} ± {t['none'][1]:.2f}%; paired difference {d['mean']:+.2f} points, standard error "
            f"{d['sem']:.2f} ({d['wins']} wins, {d['ties']} tie{'' if d['ties'] == 1 else 's'}, {d['losses']} loss"
            f"{'' if d['losses'] == 1 else 'es'}; p = {d['p']:.2g}): {t['outcome']}\n"
            f"  against a network without TCJA widened to the same parameter count ({t['channels']} channels): "
            f"{w['mean']:+.2f} ± {w['sem']:.2f} points (p = {w['p']:.2g}): {t['wide_outcome']}"
            + (f"\n  with each window's 20 steps shuffled (order destroyed, content kept): {t['shuffled']['mean']:+.2f} ± "
               f"{t['shuffled']['sem']:.2f} points; the gain falls by {t['order']['difference']:.2f} ± "
               f"{t['order']['se']:.2f} (Welch p = {t['order']['p']:.2g}): {t['shuffled_outcome']}"
               if "shuffled" in t else ""))


def simulate_variant(mode: str, checkpoint: str, xs: torch.Tensor, ys: torch.Tensor) -> Dict[str, Any]:
    """Run the trained TCJA-SNN in Lava in ``mode`` in this (child) process; returns the agreement report.

    Float and fixed point run at the same time, one per core: a Lava run spends much of its time
    waiting on messages between its processes, so two of them share 2 cores well (measured: 45 s in
    turn, 30 s side by side).
    """
    torch.set_num_threads(1)
    from snnkit import hardware
    from snnkit.train.recipes import load_tcja

    model, _ = load_tcja(checkpoint)
    return hardware.compare(model, xs, mode=mode, labels=ys).to_dict()


def seed_sweep(path: Path = SWEEP) -> Optional[Dict[str, Any]]:
    """TCJA vs no TCJA over many seeds, from the seed-sweep benchmark's results (None if it is absent)."""
    if not path.is_file():
        return None
    try:
        rows = {r["variant"]: r for r in json.loads(path.read_text())["summary"]}
    except (ValueError, KeyError, TypeError) as e:
        print(f"  (seed sweep {path} unreadable, left out: {e!r})")
        return None
    if "tcja" not in rows or "none" not in rows or rows["tcja"].get("minus_none_sem") is None:
        return None
    t, n = rows["tcja"], rows["none"]
    diff, sem = t["minus_none_mean"], t["minus_none_sem"]
    reading = "no measurable difference" if abs(diff) < 2 * sem else ("TCJA better" if diff > 0 else "TCJA worse")
    return {"seeds": t["seeds"], "tcja": [t["mean"], t["std"]], "none": [n["mean"], n["std"]], "diff": diff, "sem": sem,
            "wins": t["wins_vs_none"], "ties": t["ties_vs_none"], "reading": reading, "file": str(path)}


def agreement_ylim(reports: Dict[str, Any]) -> tuple:
    """The agreement panel's y range: 90-102 % (legend above the bars), lowered so that no layer's bar is cut off."""
    low = min(rep["per_layer"][name] * 100 for rep in reports.values() for name in rep["per_layer"])
    return (max(0.0, min(90.0, 5 * int(low // 5) - 5)), 102.0)


def _plot(runs: Dict[str, Any], reports: Dict[str, Any], path: Path, imu: Optional[Dict[str, Any]] = None) -> None:
    """Test accuracy per epoch for both variants (digits_dvs, and the smartwatch IMU runs if any), and per-layer
    spike agreement in float / fixed point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3 if imu else 2, figsize=(16 if imu else 11, 4))
    curves = [(axes[0], runs, "digits_dvs")] + ([(axes[1], imu, "smartwatch IMU (real temporal data)")] if imu else [])
    for a, pair, title in curves:
        for name, r in pair.items():
            a.plot([h["epoch"] for h in r["history"]], [h["test_acc"] * 100 for h in r["history"]], marker="o",
                   label="TCJA-SNN" if name == "tcja" else "without TCJA")
        a.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
        a.legend()
    b = axes[-1]
    layers = list(reports["floating_pt"]["per_layer"])
    width = 0.4
    for k, (mode, rep) in enumerate(reports.items()):
        b.bar([i + k * width for i in range(len(layers))], [rep["per_layer"][l] * 100 for l in layers], width, label=mode)
    b.set_xticks([i + width / 2 for i in range(len(layers))], layers, rotation=30, ha="right", fontsize=8)
    samples = next(iter(reports.values()))["B"]
    b.set(ylabel="spike agreement with PyTorch (%)", title=f"Lava simulation, {samples} test samples",
          ylim=agreement_ylim(reports))
    b.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def demo_data(cfg: Any, seed: int) -> Any:
    """``(train, test)`` as the training runs read them: digits_dvs's split follows the seed, so Lava sees held-out samples."""
    from snnkit.train.recipes import tcja_data

    return tcja_data(cfg, seed=seed)


def sweep_text(sweep: Dict[str, Any], recipe: str) -> str:
    """The seed sweep's line: means ± standard deviation over seeds, the paired difference ± its standard error."""
    ties = f", {sweep['ties']} tie{'' if sweep['ties'] == 1 else 's'}" if sweep["ties"] else ""
    return (f"  one seed cannot settle it; over {sweep['seeds']} seeds ({recipe}; benchmarks/tcja_seeds.py), final test "
            f"accuracy mean ± std: TCJA-SNN {sweep['tcja'][0]:.2f} ± {sweep['tcja'][1]:.2f}%, without TCJA "
            f"{sweep['none'][0]:.2f} ± {sweep['none'][1]:.2f}%; paired difference {sweep['diff']:+.2f} points, standard "
            f"error {sweep['sem']:.2f} ({sweep['wins']} wins{ties}): {sweep['reading']} on digits_dvs")


def train_imu(args: argparse.Namespace, epochs: int, out: Path) -> Optional[Dict[str, Any]]:
    """Step 2b: TCJA-SNN vs the same network without TCJA on smartwatch IMU windows, side by side; None without seglearn."""
    from snnkit.data.imu_watch import watch_path

    try:
        watch_path()  # the training processes load the windows themselves
    except FileNotFoundError as e:  # seglearn (its wheel ships the data) is missing: say so, go on with the rest
        print(f"  (smartwatch IMU pair left out: {e})")
        return None
    print(f"training the same pair on real temporal data: smartwatch IMU windows (seglearn's watch set: 6-axis, 7 "
          f"exercises, 2 s windows as T=20 steps; subjects 8-10 held out) ...", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = {a: pool.submit(train_watch_variant, a, args.epochs, args.seed, str(out)) for a in ("tcja", "none")}
        runs = {a: j.result() for a, j in jobs.items()}
    for a, r in runs.items():
        print(f"  {'TCJA-SNN' if a == 'tcja' else 'no TCJA '}: test accuracy {r['final'] * 100:.1f}% "
              f"(best {r['best'] * 100:.1f}%) in {r['seconds']:.0f} s")
    gain = (runs["tcja"]["final"] - runs["none"]["final"]) * 100
    n_test = runs["tcja"]["test_windows"]
    print(f"  TCJA-SNN is {'better than' if gain > 0 else 'not better than'} the same network without TCJA in this run: "
          f"{gain + 0.0:+.1f} points on {n_test} test windows (seed {args.seed})")
    test_result = watch_test()
    if test_result:
        text = watch_text(test_result)
        if epochs != test_result_epochs():
            text += f"\n  (the test's recipe is {test_result_epochs()} epochs; this run trained {epochs})"
        print(text)
    return {"runs": runs, "tcja_gain_points": gain, "test_windows": n_test, "preregistered": test_result}


def test_result_epochs() -> int:
    """Epochs of the pre-registered runs (the digits_dvs config's)."""
    from snnkit.models.tcja_watch import watch_config

    return watch_config("tcja").epochs


def _seed(text: str) -> int:
    """argparse type: a seed scikit-learn's split accepts (0 to 2**32 - 1)."""
    v = int(text)
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {v}")
    return v


def writable_out(ap: argparse.ArgumentParser, out: Path) -> Path:
    """Make ``out`` and check it takes files before minutes of training (a read-only checkout: use --out)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".demo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        ap.error(f"--out {str(out)!r} cannot hold the demo's outputs ({e.strerror or e}); give a writable folder "
                 "with --out")
    return out.resolve()


def _one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Warnings as one indented line in the demo's report (no source-line echo)."""
    print(f"  warning ({category.__name__}): {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The demo's options (``snnkit demo --help``; also listed in docs/cli.md)."""
    ap = argparse.ArgumentParser(prog="snnkit demo", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int_at_least(1), default=None, help="default: the digits_dvs config's (15)")
    ap.add_argument("--lr", type=number_above(0), default=None,
                    help="default: the digits_dvs config's (3e-3); the smartwatch pair keeps its pre-registered recipe's")
    ap.add_argument("--seed", type=_seed, default=0,
                    help="initialisation, data order and train/test split of both runs (default 0; the smartwatch "
                         "split is fixed by subject)")
    ap.add_argument("--samples", type=int_at_least(1), default=100,
                    help="test samples simulated in Lava and counted for ops/energy (default %(default)s; at most the 360 "
                         "of the test split)")
    ap.add_argument("--no-imu", action="store_true",
                    help="skip the TCJA vs no-TCJA pair on the smartwatch IMU data (real temporal data, ~20 s)")
    ap.add_argument("--out", default=str(OUT), help="folder for checkpoints, plots and the JSON reports (relative to "
                                                   "the current directory; default: %(default)s)")
    return ap


def main(argv: Any = None) -> Dict[str, Any]:
    ap = build_parser()
    args = ap.parse_args(argv)
    out = writable_out(ap, Path(args.out))

    import snnkit
    from snnkit._io import atomic_write_text

    print(f"snnkit {snnkit.__version__} demo  |  data: digits_dvs (scikit-learn digits -> DVS events)", flush=True)
    print(f"  outputs (checkpoints, plots, JSON) go to {out}", flush=True)
    t_start = time.time()
    from snnkit.models.tcja_snn import get_config

    cfg = get_config("digits_dvs")
    train, test = demo_data(cfg, args.seed)  # builds the frame cache once
    print(f"  {len(train)} training / {len(test)} test samples (split seed {args.seed}), frames "
          f"[T={cfg.T}, {cfg.in_channels}, {', '.join(map(str, cfg.input_size))}]")

    # --- 2. train TCJA-SNN and the no-attention ablation in parallel -----------------------------
    epochs = args.epochs if args.epochs is not None else cfg.epochs
    lr = args.lr if args.lr is not None else cfg.lr
    print(f"training TCJA-SNN and the same network without TCJA ({epochs} epochs each, in parallel) ...", flush=True)
    if any((out / a / "last.pt").is_file() for a in ("tcja", "none")):
        print(f"  (replacing the previous demo runs in {out / 'tcja'} and {out / 'none'})", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = {a: pool.submit(train_variant, a, args.epochs, args.lr, args.seed, str(out)) for a in ("tcja", "none")}
        runs = {a: j.result() for a, j in jobs.items()}
    for a, r in runs.items():
        print(f"  {'TCJA-SNN' if a == 'tcja' else 'no TCJA '}: test accuracy {r['final'] * 100:.1f}% "
              f"(best {r['best'] * 100:.1f}%) in {r['seconds']:.0f} s")
    gain = (runs["tcja"]["final"] - runs["none"]["final"]) * 100
    verdict = "better than" if gain > 0 else "not better than"
    print(f"  TCJA-SNN is {verdict} the same network without TCJA in this run: {gain + 0.0:+.1f} points on "
          f"{len(test)} test samples (seed {args.seed})")
    sweep = seed_sweep()
    if sweep:
        recipe = f"{cfg.epochs} epochs, Adam {cfg.lr:g}"
        if (epochs, lr) != (cfg.epochs, cfg.lr):
            recipe += f"; not this run's recipe ({epochs} epochs, Adam {lr:g})"
        print(sweep_text(sweep, recipe))
    imu = None if args.no_imu else train_imu(args, epochs, out)

    # --- 3. Lava: float and fixed point ------------------------------------------------------------
    from snnkit.train.recipes import load_tcja
    from snnkit import hardware

    model, _ = load_tcja(out / "tcja" / "last.pt")
    n = min(args.samples, len(test))
    xs = torch.stack([test[i][0] for i in range(n)], 1)  # [T, n, 2, 34, 34]
    ys = torch.tensor([test[i][1] for i in range(n)])
    print(f"running it in Lava, floating and fixed point side by side, on {n} test samples ...", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = {m: pool.submit(simulate_variant, m, str(out / "tcja" / "last.pt"), xs, ys) for m in ("floating_pt", "fixed_pt")}
        reports = {m: j.result() for m, j in jobs.items()}
    print("  spike agreement: the share of (neuron, time step, sample) slots where Lava and PyTorch both spike or both "
          "stay silent; class agreement: the same predicted class", flush=True)
    for mode, rep in reports.items():
        spikes = {k: sum(c[k] for c in rep["spike_counts"].values()) for k in ("torch", "lava")}
        print(f"  Lava {mode:<11}: spike agreement {rep['spike_agreement'] * 100:.3f}% (spikes: PyTorch {spikes['torch']}, "
              f"Lava {spikes['lava']}), class agreement {rep['class_agreement'] * 100:.1f}%, accuracy "
              f"{rep['accuracy']['lava'] * 100:.1f}% (PyTorch {rep['accuracy']['torch'] * 100:.1f}%) on {n} test samples "
              f"[{rep['lava_wall_s']:.1f} s]", flush=True)
    non_native = sorted({d.get("layer", d.get("name", "?")) for d in reports["floating_pt"]["non_native"]})
    if non_native:
        print(f"  not native to Loihi (run as custom Lava processes): {', '.join(map(str, non_native))}")
    change = (reports["fixed_pt"]["accuracy"]["lava"] - reports["floating_pt"]["accuracy"]["torch"]) * 100
    print(f"  fixed point vs PyTorch accuracy: {change + 0.0:+.1f} points on {n} test samples")

    # --- 4. operations and energy ------------------------------------------------------------------
    from snnkit.hardware import report

    ops = hardware.count_ops(model, xs, backend="hooks", event_inputs="counts")
    energies = [hardware.energy(ops, model=em) for em in ("loihi", "horowitz45")]
    cmp = hardware.compare_snn_ann(model, inputs_snn=xs, energy_models=("horowitz45", "loihi"), event_inputs="counts")
    report.print_ops(ops, energies)
    report.print_comparison(cmp)
    report.save_report(out, ops, energies, comparison=cmp)
    _plot(runs, reports, out / "demo.png", imu and imu["runs"])
    print(f"  plots: {out / 'demo.png'} (training, agreement) and the energy report PNGs in {out}")

    summary = {"options": {"epochs": epochs, "lr": lr, "seed": args.seed, "samples": n}, "runs": {a: {k: v for k, v in r.items() if k != "history"} for a, r in runs.items()},
               "tcja_gain_points": gain, "seed_sweep": sweep,
               "imu": imu and {**imu, "runs": {a: {k: v for k, v in r.items() if k != "history"} for a, r in imu["runs"].items()}},
               "lava": reports, "seconds": time.time() - t_start}
    atomic_write_text(out / "demo.json", json.dumps(summary, indent=2, default=str))
    print(f"done in {time.time() - t_start:.0f} s; report in {out / 'demo.json'}")
    return summary


if __name__ == "__main__":
    warnings.showwarning = _one_line_warning
    sys.exit(0 if main() else 1)
