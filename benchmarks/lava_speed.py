"""Lava simulation speed of the demo TCJA-SNN (``digits_dvs``) and where the time goes.

For ``floating_pt`` and ``fixed_pt`` it times, on the same samples:

* export: ``to_lava(model, ...)`` (trace, plan; quantize in fixed point), then building the Lava
  process objects for the inputs (``LavaNetwork.build``);
* Lava run phases: compile (choose process models, build channels), start-up (fork one OS process
  per Lava process, connect shared-memory channels), the first step, steady per-step time,
  read-back of the recorded spikes (Extractor channels), stop;
* an end-to-end ``LavaNetwork.run`` of ``--samples`` samples back to back: steps/s and samples/s;
* the numpy re-implementation of the same arithmetic (``LavaNetwork.simulate``): samples/s;
* a "hollow" copy of the network - the same processes, channels and host ops, but one channel
  per layer on an 8x8 input - whose per-step time is Lava's messaging/synchronisation cost for
  this topology; ``compute`` is the rest of the real network's per-step time;
* a minimal 3-process Lava network (RingBuffer -> LIF(1) -> RingBuffer) for reference.

The default network is the ``digits_dvs`` TCJA-SNN trained here first (8 epochs, seed 0, the recipe of
``energy_report.py``; the JSON records it under ``model_recipe``), so ``make bench`` re-measures what
is committed; ``--epochs 0`` times random weights, ``--checkpoint`` a trained run of your own.

    python benchmarks/lava_speed.py [--checkpoint runs/tcja/best.pt] [--epochs 8] [--samples 4] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import (add_results_option, machine, non_negative_int, positive_int, print_table,  # noqa: E402
                     results_file, timeit)


def _model(checkpoint: Optional[str], epochs: int, seed: int) -> Tuple[Any, str, Dict[str, Any]]:
    """The network to run: a checkpoint's, or the digits_dvs TCJA-SNN trained here by energy_report's recipe.

    Lava's sparse convolutions cost what the spikes cost, so the default run times a trained network;
    training it here (about a minute) is what makes the committed results reproducible by this command.
    """
    from snnkit.models import build_model, get_config

    if checkpoint:
        from snnkit.hardware.cli import load_model

        model, _ = load_model(checkpoint, "bench")
        return model, f"trained ({checkpoint})", {"checkpoint": checkpoint}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(get_config("digits_dvs"))
    if epochs <= 0:
        return model.eval(), f"untrained digits_dvs (seed {seed})", {"epochs": 0, "seed": seed}
    from energy_report import train
    from snnkit import data as snn_data

    train_set, _ = snn_data.load("digits_dvs", frames=model.config.T, progress=False)
    recipe = train(model, train_set, epochs, batch_size=32, lr=1e-3, seed=seed, max_train=len(train_set))
    recipe = {"recipe": "benchmarks/energy_report.py train(): Adam, the config's loss, shuffled batches",
              "seed": seed, **recipe}
    return model.eval(), f"digits_dvs trained here ({epochs} epochs, seed {seed})", recipe


def _samples(model: Any, n: int, split: str = "test"):
    """Real digits_dvs frames [T, n, 2, 34, 34] (random spikes if the dataset cannot be built here)."""
    cfg = model.config
    try:
        from snnkit.hardware.cli import load_samples

        x, _, desc = load_samples("digits_dvs", model, n, split=split, cmd="bench")
        return x, desc
    except SystemExit as err:  # pragma: no cover - the dataset ships offline
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(cfg.T, n, cfg.in_channels, *cfg.input_size, generator=g) < 0.05).float()
        return x, f"random spikes ({err})"


def _phases(net: Any, x: Any) -> Dict[str, float]:
    """Time the phases of one Lava run of ``x`` (compile, start-up, first step, steady steps, stop)."""
    from lava.magma.core.run_conditions import RunSteps

    t0 = time.perf_counter()
    built = net.build(x)
    t_build = time.perf_counter() - t0
    root = built.lifs[0]
    cfg = net.run_config()
    t0 = time.perf_counter()
    exe = root.compile(cfg)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    root.create_runtime(executable=exe)
    t_start = time.perf_counter() - t0
    n_procs = len(exe.proc_builders) if hasattr(exe, "proc_builders") else None
    try:
        t0 = time.perf_counter()
        root.run(condition=RunSteps(num_steps=1))
        t_first = time.perf_counter() - t0
        k = max(built.steps - 1, 1)
        t0 = time.perf_counter()
        root.run(condition=RunSteps(num_steps=k))
        t_steps = time.perf_counter() - t0
        t0 = time.perf_counter()
        exts = list(built.sinks) + list(built.host_sinks.values()) + ([built.bias_sink] if built.bias_sink else [])
        for ext in exts:
            for _ in range(built.steps):
                ext.receive()
        t_read = time.perf_counter() - t0
    finally:
        t0 = time.perf_counter()
        root.stop()
        t_stop = time.perf_counter() - t0
    return {"build_processes_s": t_build, "compile_s": t_compile, "startup_s": t_start, "first_step_s": t_first,
            "per_step_s": t_steps / k, "readback_s": t_read, "stop_s": t_stop, "steps": built.steps,
            "lava_processes": n_procs}


def _hollow_per_step(model: Any, mode: str, conv: str) -> float:
    """Steady per-step time of the same topology with one neuron channel per layer on an 8x8 input."""
    import dataclasses

    from snnkit.hardware import to_lava
    from snnkit.models import build_model

    cfg = model.config
    small = dataclasses.replace(cfg, input_size=[8, 8], sensor_size=[8, 8], stages=[[1] * len(s) for s in cfg.stages],
                                hidden=[2] * len(cfg.hidden), num_classes=2, voting=1).validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        hollow = build_model(small).eval()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(small.T, 1, small.in_channels, 8, 8, generator=g) < 0.3).float()
    net = to_lava(hollow, (small.in_channels, 8, 8), mode, conv=conv,
                  **({"calibration": x} if mode == "fixed_pt" else {}))
    return _phases(net, x)["per_step_s"]


def _minimal_step() -> float:
    """Steady per-step time of RingBuffer -> LIF(1) -> RingBuffer (Lava's sync cost for 3 processes)."""
    from snnkit.hardware import import_lava

    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    src = Source(data=np.ones((1, 200)))
    lif = LIF(shape=(1,), du=1.0, dv=0.0, vth=0.5)
    snk = Sink(shape=(1,), buffer=200)
    src.s_out.connect(lif.a_in)
    lif.s_out.connect(snk.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=5), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        t0 = time.perf_counter()
        lif.run(condition=RunSteps(num_steps=195))
        return (time.perf_counter() - t0) / 195
    finally:
        lif.stop()


def main(argv: List[str] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help="a TCJA-SNN checkpoint (default: the digits_dvs network trained here)")
    ap.add_argument("--epochs", type=non_negative_int, default=8,
                    help="training epochs of the digits_dvs network when no --checkpoint (default 8, as "
                         "energy_report.py; 0: untrained weights)")
    ap.add_argument("--seed", type=non_negative_int, default=0, help="seed of its initialisation and training")
    ap.add_argument("--samples", type=positive_int, default=4, help="samples per end-to-end Lava run (default 4)")
    ap.add_argument("--conv", choices=["sparse", "native"], default="sparse")
    ap.add_argument("--quick", action="store_true", help="1 sample, floating_pt only, fewer repeats")
    add_results_option(ap, "lava_speed")
    args = ap.parse_args(argv)
    if args.checkpoint and not Path(args.checkpoint).is_file():
        ap.error(f"--checkpoint {args.checkpoint}: no such file")
    results_json = results_file(ap, args, "lava_speed")
    from snnkit.hardware import import_lava, to_lava

    import_lava()
    torch.set_num_threads(1)
    model, what, recipe = _model(args.checkpoint, args.epochs, args.seed)
    cfg = model.config
    shape = (cfg.in_channels, *cfg.input_size)
    n = 1 if args.quick else args.samples
    x, desc = _samples(model, n)
    calib, _ = _samples(model, 32, "train")
    T = x.shape[0]
    modes = ["floating_pt"] if args.quick else ["floating_pt", "fixed_pt"]
    reps = 1 if args.quick else 3
    rows: List[Dict[str, Any]] = []
    minimal = _minimal_step()
    for mode in modes:
        kw = {"calibration": calib} if mode == "fixed_pt" else {}
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_export = timeit(lambda: to_lava(model, shape, mode, conv=args.conv, **kw), repeat=reps, warmup=1)
            net = to_lava(model, shape, mode, conv=args.conv, **kw)
        ph = _phases(net, x[:, :1])
        t0 = time.perf_counter()
        res = net.run(x)
        t_run = time.perf_counter() - t0
        t_sim1 = timeit(lambda: net.simulate(x[:, :1]), repeat=reps, warmup=1)
        t_simn = timeit(lambda: net.simulate(x), repeat=reps, warmup=1)
        sim_step = t_sim1 / T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hollow = _hollow_per_step(model, mode, args.conv)
        row = {
            "mode": mode, "export_s": t_export, **ph,
            "lava_run_s": t_run, "lava_run_steps": res.steps, "lava_steps_per_s": res.steps / t_run,
            "lava_samples_per_s": n / t_run, "lava_s_per_sample": t_run / n,
            "simulate_samples_per_s": n / t_simn, "simulate_s_per_sample_b1": t_sim1,
            "simulate_per_step_s": sim_step, "messaging_per_step_s": hollow,
            "compute_per_step_s": max(ph["per_step_s"] - hollow, 0.0),
            "minimal_3proc_per_step_s": minimal,
        }
        fixed = ph["build_processes_s"] + ph["compile_s"] + ph["startup_s"] + ph["stop_s"] + ph["readback_s"]
        row["fixed_overhead_s"] = fixed
        row["share_startup"] = fixed / max(fixed + ph["per_step_s"] * ph["steps"], 1e-12)
        rows.append(row)
    print_table(rows, ["mode", "export_s", "build_processes_s", "compile_s", "startup_s", "first_step_s",
                       "per_step_s", "readback_s", "stop_s", "lava_processes"],
                f"Lava phases, one sample ({what}, T={T})")
    print_table(rows, ["mode", "lava_run_steps", "lava_steps_per_s", "lava_samples_per_s", "simulate_samples_per_s",
                       "compute_per_step_s", "messaging_per_step_s", "simulate_per_step_s",
                       "minimal_3proc_per_step_s"],
                f"throughput: {n} sample(s) back to back in one Lava run vs numpy simulate")
    for r in rows:
        print(f"{r['mode']}: a {n}-sample run took {r['lava_run_s']:.1f} s: build/compile/start-up/read-back/stop "
              f"~{r['fixed_overhead_s']:.1f} s once, then {r['lava_run_steps']} steps x {r['per_step_s'] * 1e3:.1f} ms "
              f"(messaging/sync of {r['lava_processes']} OS processes ~{r['messaging_per_step_s'] * 1e3:.1f} ms, "
              f"compute ~{r['compute_per_step_s'] * 1e3:.1f} ms); numpy simulate is "
              f"{r['simulate_samples_per_s'] / max(r['lava_samples_per_s'], 1e-12):.0f}x faster")
    try:
        import os

        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = None
    payload = {"machine": machine(), "load_average_1min": load, "model": what,
               "model_recipe": recipe, "data": desc, "T": T, "samples": n,
               "conv": args.conv, "rows": rows}
    results_json.save(payload)
    return payload


if __name__ == "__main__":
    main()
