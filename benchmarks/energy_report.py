"""Energy and sparsity of the demo network: the digits_dvs TCJA-SNN vs its ANN counterpart.

Trains the ``digits_dvs`` TCJA-SNN briefly on snnkit's offline DVS digits (or loads
``--checkpoint``; ``--epochs 0`` keeps random weights, with a note), then on ``--samples`` test
samples counts every layer per time step with forward hooks and reports:

* sparsity: firing rate per layer (and per time step in the JSON);
* operations per sample: synaptic ops (ACs), MACs, other adds, neuron updates, memory traffic;
* energy per sample under horowitz45 (FP32), horowitz45-int8 and loihi, and the share of the
  TCJA blocks;
* the ANN counterpart (same network and weights, ReLU instead of LIF, one pass on the
  time-averaged frame): operations and energy side by side;
* two views of what counts as a spike: ``strict`` (only 0/1 tensors; the DVS event-count frames
  and the average-pooled spikes cost dense MACs) and ``events`` (event counts and pooled spikes
  are events, as on an event-driven chip);
* the ANN run once per frame (T passes) and the ``attention="none"`` network with the same
  weights (TCJA removed: what its gating costs the layers after it);
* the counting overhead: wall time of ``count_ops(..., backend="hooks")`` vs a plain forward.

Writes ``benchmarks/results/energy_report.json``.

    python benchmarks/energy_report.py                 # ~4-8 min on 2 CPU cores (8 training epochs)
    python benchmarks/energy_report.py --epochs 0      # random weights, under a minute
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (add_results_option, machine, non_negative_int, positive_int, print_table,  # noqa: E402
                     results_file, timeit)


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``y`` predicted from the readout ``out[T, B, K]`` as snnkit evaluate/energy do (first class on a tie)."""
    from snnkit.train.trainer import predicted_class

    return float((predicted_class(out.mean(0)) == y).float().mean())


def train(model: Any, train_set: Any, epochs: int, batch_size: int, lr: float, seed: int,
          max_train: int) -> Dict[str, Any]:
    """A short Adam run with the config's loss (MSE on the firing rate)."""
    from snnkit.data import make_loader

    if epochs <= 0:
        return {"epochs": 0, "note": "random (untrained) weights"}
    n = min(max_train, len(train_set))
    ds = torch.utils.data.Subset(train_set, range(n))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    losses: List[float] = []
    for epoch in range(epochs):
        for x, y in make_loader(ds, batch_size=batch_size, shuffle=True, seed=seed + epoch):
            opt.zero_grad()
            loss = model.loss(model(x.float()), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        print(f"epoch {epoch + 1}/{epochs}: last loss {losses[-1]:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    model.eval()
    return {"epochs": epochs, "train_samples": n, "batch_size": batch_size, "lr": lr,
            "final_loss": losses[-1], "train_s": time.perf_counter() - t0}


def summarize(ops: Any, ens: List[Any]) -> Dict[str, Any]:
    t = ops.totals
    B = max(ops.B, 1)
    tcja = [n for n, L in ops.layers.items() if L.kind == "attention"]
    out = {"samples": ops.B, "T": ops.T, "firing_rate": t["firing_rate"],
           "spikes_per_sample": t["spikes"] / B, "synops_per_sample": t["synops"] / B,
           "macs_per_sample": t["macs"] / B, "other_adds_per_sample": t["acs"] / B,
           "neuron_updates_per_sample": t["neuron_updates"] / B,
           "weight_read_bytes_per_sample": t["weight_read_bytes"] / B,
           "state_rw_bytes_per_sample": (t["state_read_bytes"] + t["state_write_bytes"]) / B,
           "energy_uj_per_sample": {e.model: e.per_sample_j * 1e6 for e in ens},
           "tcja_energy_share": {e.model: (sum(e.per_layer_j.get(n, 0.0) for n in tcja) / e.total_j
                                           if e.total_j else 0.0) for e in ens},
           "unknown_layers": [u["name"] for u in ops.unknown]}
    out["layers"] = [{"layer": n, "kind": L.kind, "input": L.input, "neurons": L.neurons,
                      "firing_rate": L.firing_rate if L.kind in ("neuron", "activation") else None,
                      "synops_per_sample": L.synops / B, "macs_per_sample": L.macs / B,
                      "adds_per_sample": L.acs / B, "per_step_spikes": L.per_step.get("spikes"),
                      **{f"uj_per_sample[{e.model}]": e.per_layer_j.get(n, 0.0) / max(e.samples, 1) * 1e6
                         for e in ens}}
                     for n, L in ops.layers.items()]
    return out


def main(argv: Any = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=non_negative_int, default=8, help="training epochs (0: random weights)")
    ap.add_argument("--max-train", type=positive_int, default=1437, help="training samples used (default: all 1437)")
    ap.add_argument("--checkpoint", help="use a `snnkit train` checkpoint instead of training")
    ap.add_argument("--samples", type=positive_int, default=128, help="test samples to count over")
    ap.add_argument("--batch-size", type=positive_int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=positive_int, help="torch threads")
    ap.add_argument("--out", default=None, help="also write the full report (CSV, PNG) to this folder")
    add_results_option(ap, "energy_report")
    args = ap.parse_args(argv)
    if args.checkpoint and not Path(args.checkpoint).is_file():  # before the dataset is framed, not after
        ap.error(f"--checkpoint {args.checkpoint}: no such file")
    results_json = results_file(ap, args, "energy_report")
    if args.threads:
        torch.set_num_threads(args.threads)

    from snnkit import data as snn_data
    from snnkit.hardware.counters import count_module_ops
    from snnkit.hardware.energy import compare_snn_ann, energy
    from snnkit.models import tcja_snn

    notes: List[str] = []
    train_set, test_set = snn_data.load("digits_dvs", frames=tcja_snn.get_config("digits_dvs").T, progress=False)
    if args.checkpoint:
        from snnkit.train.recipes import load_tcja

        from snnkit.hardware.cli import dataset_splits

        model, ckpt = load_tcja(args.checkpoint)
        train_set, test_set = dataset_splits("digits_dvs", model.config, ckpt)   # the run's split, not seed 0's
        training = {"checkpoint": args.checkpoint, "epoch": ckpt.get("epoch")}
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = tcja_snn.build_model("digits_dvs")
        training = train(model, train_set, args.epochs, args.batch_size, 1e-3, args.seed, args.max_train)
        if args.epochs <= 0:
            notes.append("random (untrained) weights: firing rates and so the SNN counts are not those of a "
                         "trained network")
    model.eval()
    n = min(args.samples, len(test_set))
    loader = snn_data.make_loader(torch.utils.data.Subset(test_set, range(n)), batch_size=args.batch_size)
    batches = [(x.float(), y) for x, y in loader]
    xs = [x for x, _ in batches]
    y = torch.cat([y for _, y in batches])

    models = ["horowitz45", "horowitz45-int8", "loihi"]
    views: Dict[str, Any] = {}
    comparisons: Dict[str, Any] = {}
    rep = None
    for view, ev in (("strict", "binary"), ("events", "counts")):
        ops = count_module_ops(model, xs, event_inputs=ev)
        ens = [energy(ops, m) for m in models]
        views[view] = summarize(ops, ens)
        if view == "strict":
            acc = accuracy(ops.output, y)
            rep = (ops, ens)
        cmp = compare_snn_ann(model, inputs_snn=xs, energy_models=models, event_inputs=ev)
        comparisons[view] = cmp.to_dict()
        if view == "strict" and args.out:
            from snnkit.hardware.report import save_report

            save_report(args.out, ops, ens, comparison=cmp)
    # the ANN once per frame, and the network without its TCJA blocks (same weights)
    per_frame = compare_snn_ann(model, inputs_snn=xs, energy_models=models, ann_time_steps=None)
    extra = {"ann_per_frame": {"macs_per_sample": per_frame.to_dict()["ann"]["macs"],
                               "energy_uj_per_sample": {m: per_frame.energy[m]["ann"].per_sample_j * 1e6
                                                        for m in models}}}
    import copy

    from snnkit.attention import TCJA

    no_tcja = copy.deepcopy(model).eval()
    for i, mod in enumerate(no_tcja.features):
        if isinstance(mod, TCJA):
            no_tcja.features[i] = torch.nn.Identity()
    for view, ev in (("strict", "binary"), ("events", "counts")):
        ops_n = count_module_ops(no_tcja, xs, event_inputs=ev)
        s_n = summarize(ops_n, [energy(ops_n, m) for m in models])
        s_n.pop("layers")
        s_n["accuracy"] = accuracy(ops_n.output, y)
        extra[f"no_tcja_same_weights_{view}"] = s_n
    # counting overhead on one batch (median of 3)
    x0 = xs[0]

    def plain_fwd() -> None:
        with torch.no_grad():
            model(x0)

    plain = timeit(plain_fwd, repeat=3, warmup=1)
    counted = timeit(lambda: count_module_ops(model, x0, keep_output=False), repeat=3, warmup=1)

    rows = []
    for view in views:
        c = comparisons[view]
        for who in ("snn", "ann"):
            r = {"view": view, "net": who.upper(), "T": c[who]["time_steps"], "MACs/sample": c[who]["macs"],
                 "ACs/sample": c[who]["acs"], "rate": c[who]["firing_rate"] if who == "snn" else None}
            for m in models:
                r[f"uJ {m}"] = c["energy"][m][f"{who}_j_per_sample"] * 1e6
            rows.append(r)
    print_table(rows, ["view", "net", "T", "MACs/sample", "ACs/sample", "rate"] + [f"uJ {m}" for m in models],
                f"digits_dvs TCJA-SNN vs ANN counterpart, per sample ({n} test samples, accuracy {acc:.3f})")
    assert rep is not None
    lrows = [{"layer": L["layer"], "kind": L["kind"], "input": L["input"], "rate": L["firing_rate"],
              "synops": L["synops_per_sample"], "MACs": L["macs_per_sample"],
              "uJ horowitz45": L["uj_per_sample[horowitz45]"], "uJ loihi": L["uj_per_sample[loihi]"]}
             for L in views["strict"]["layers"]]
    print_table(lrows, ["layer", "kind", "input", "rate", "synops", "MACs", "uJ horowitz45", "uJ loihi"],
                "per layer (strict view), per sample")
    print(f"ANN once per frame (T={model.config.T} passes): " + ", ".join(
        f"{m} {v:.3g} uJ" for m, v in extra["ann_per_frame"]["energy_uj_per_sample"].items()) + " per sample")
    for view in ("strict", "events"):
        e = extra[f"no_tcja_same_weights_{view}"]
        print(f"without TCJA (same weights, {view}): MACs {e['macs_per_sample']:.4g}, synops "
              f"{e['synops_per_sample']:.4g} per sample, " + ", ".join(
                  f"{m} {v:.3g} uJ" for m, v in e["energy_uj_per_sample"].items()) + f", accuracy {e['accuracy']:.3f}")
    print(f"counting overhead: forward {plain * 1e3:.0f} ms, forward with counting hooks {counted * 1e3:.0f} ms "
          f"(batch {x0.shape[1]}, T={x0.shape[0]})")
    payload = {"benchmark": "energy_report", "machine": machine(), "model": "tcja_snn digits_dvs",
               "config": dict(model.config.__dict__), "training": training,
               "test_samples": n, "test_accuracy_snn": acc, "views": views, "snn_vs_ann": comparisons, **extra,
               "counting_overhead": {"forward_s": plain, "forward_with_hooks_s": counted, "batch": int(x0.shape[1])},
               "notes": notes + ["ANN: the same network and weights with ReLU, one pass on the time-averaged frame; "
                                 "its accuracy is not measured (it is not trained)",
                                 "energy = published per-op costs x counts; see docs/energy.md for the limits"]}
    results_json.save(payload)
    return payload


if __name__ == "__main__":
    main()
