"""Figures quoted in README.md, benchmarks/README.md and docs/ match the committed benchmark JSON they cite.

Each statistic is recomputed here from the per-run data (seed lists, counts, energies) with numpy/scipy,
not read from the JSON's own summary, so a doc that was not updated after a re-run, a hand-edited
summary and a rounding that changes a figure all fail.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

stats = pytest.importorskip("scipy.stats")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MINUS = "\u2212"  # the docs print negative differences with a real minus sign


def _text(rel: str) -> str:
    """A doc with its line breaks and runs of spaces folded to single spaces (sentences wrap anywhere)."""
    return " ".join((ROOT / rel).read_text(encoding="utf-8").split())


def _json(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def _signed(x: float) -> str:
    """+0.09 / −0.09 as the docs write a paired difference (two decimals)."""
    s = f"{x:+.2f}"
    return s.replace("-", MINUS) if s[0] == "-" else s


def _accuracies(name: str, key: str = "final") -> Dict[Tuple[str, int], float]:
    return {(r["attention"], r["seed"]): r[key] * 100 for r in _json(name)["runs"]}


def _paired(acc: Dict[Tuple[str, int], float], variant: str, seeds: List[int]) -> dict:
    """Paired per-seed difference to ``none``: mean, sem, wins/ties/losses, t, two-sided p and 95 % t interval."""
    d = [acc[variant, s] - acc["none", s] for s in seeds]
    n, mean, sd = len(d), statistics.mean(d), statistics.stdev(d)
    sem = sd / math.sqrt(n)
    q = stats.t.ppf(0.975, n - 1)
    return {"mean": mean, "sem": sem, "wins": sum(x > 1e-9 for x in d), "ties": sum(abs(x) <= 1e-9 for x in d),
            "losses": sum(x < -1e-9 for x in d), "t": mean / sem, "p": 2 * stats.t.sf(abs(mean / sem), n - 1),
            "lo": mean - q * sem, "hi": mean + q * sem}


def _mean_std(acc: Dict[Tuple[str, int], float], variant: str, seeds: List[int]) -> str:
    a = [acc[variant, s] for s in seeds]
    return f"{statistics.mean(a):.2f} ± {statistics.stdev(a):.2f}"


def _row(rel: str, start: str, header: str) -> str:
    """The one table row of ``rel`` that starts with ``start``, in the table whose header line contains ``header``."""
    lines = (ROOT / rel).read_text(encoding="utf-8").splitlines()
    top = [i for i, line in enumerate(lines) if line.startswith("|") and header in line]
    assert len(top) == 1, f"{rel}: {len(top)} tables with header {header!r}"
    rows = []
    for line in lines[top[0] + 2:]:
        if not line.startswith("|"):
            break
        if line.startswith(start):
            rows.append(line)
    assert len(rows) == 1, f"{rel}: {len(rows)} rows starting {start!r} under {header!r}"
    return rows[0]


def _seed_list(acc: Dict[Tuple[str, int], float], variant: str, seeds: List[int]) -> str:
    return ", ".join(f"{acc[variant, s]:.2f}" for s in seeds)


SEEDS_0_15, SEEDS_16_39, SEEDS_0_39 = list(range(16)), list(range(16, 40)), list(range(40))


def test_tcja_seeds_json_summary_is_its_runs() -> None:
    """The committed summary rows are what ``summarize`` gives for the committed runs (not edited by hand)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tcja_seeds import summarize

    for name in ("tcja_seeds", "tcja_seeds_branches", "tcja_seeds_narrow_8_16_16", "tcja_seeds_narrow_4_8_8"):
        d = _json(name)
        assert d["summary"] == summarize(d["runs"]), name


def test_tcja_doc_seed_tables_are_the_json_runs() -> None:
    acc = _accuracies("tcja_seeds")
    for start, v in (("| `tcja` (the demo's)", "tcja"), ("| `tcja:1` (original init)", "tcja:1"), ("| `none` |", "none")):
        row = _row("docs/tcja.md", start, "seeds 0-15 (final test accuracy, %)")
        assert _seed_list(acc, v, SEEDS_0_15) in row and f"| {_mean_std(acc, v, SEEDS_0_15)} |" in row, row
        if v != "none":
            p = _paired(acc, v, SEEDS_0_15)
            assert f"| {_signed(p['mean'])} ± {p['sem']:.2f} |" in row and f"{p['wins']}/16" in row, row
    for v in ("tcja", "none"):
        row = _row("docs/tcja.md", f"| `{v}` |", "seeds 16-39 (final test accuracy, %)")
        assert _seed_list(acc, v, SEEDS_16_39) in row, row
        assert f"| {_mean_std(acc, v, SEEDS_16_39)} | {_mean_std(acc, v, SEEDS_0_39)} |" in row, row
    p = _paired(acc, "tcja", SEEDS_0_39)
    row = _row("docs/tcja.md", "| `tcja` |", "seeds 16-39 (final test accuracy, %)")
    assert f"**{_signed(p['mean'])} ± {p['sem']:.2f}**" in row and f"{p['wins']}/40 ({p['ties']} ties)" in row, row


def test_tcja_forty_seed_statistics_in_the_docs() -> None:
    """Paired difference, t, p, 95 % interval, win counts, the halves and the best-epoch reading (docs/tcja.md, READMEs)."""
    acc = _accuracies("tcja_seeds")
    p = _paired(acc, "tcja", SEEDS_0_39)
    interval = f"{_signed(p['lo'])} to {_signed(p['hi'])}"
    doc = _text("docs/tcja.md")
    assert (f"{_signed(p['mean'])} ± {p['sem']:.2f} points ({p['wins']} wins, {p['ties']} ties, {p['losses']} losses; "
            f"t = {p['t']:.2f}, p = {p['p']:.2f}); its 95 % interval, {interval} points") in doc
    first, second = _paired(acc, "tcja", SEEDS_0_15), _paired(acc, "tcja", SEEDS_16_39)
    assert (f"Seeds 0-15 gave {_signed(first['mean'])} ± {first['sem']:.2f}, seeds 16-39 "
            f"{_signed(second['mean'])} ± {second['sem']:.2f}") in doc
    best = _accuracies("tcja_seeds", "best")
    b = _paired(best, "tcja", SEEDS_0_39)
    assert (f"{_mean_std(best, 'tcja', SEEDS_0_39)} % vs {_mean_std(best, 'none', SEEDS_0_39)} %, paired "
            f"{_signed(b['mean'])} ± {b['sem']:.2f} points ({b['wins']} wins, {b['ties']} ties, {b['losses']} losses)") in doc
    one = {v: [acc[v, s] for s in SEEDS_0_39] for v in ("tcja", "none")}
    assert (f"over 40 seeds {statistics.mean(one['tcja']):.1f} ± {statistics.stdev(one['tcja']):.1f} % vs "
            f"{statistics.mean(one['none']):.1f} ± {statistics.stdev(one['none']):.1f} %: no measurable difference "
            f"({_signed(p['mean'])} ± {p['sem']:.2f} points)") in doc  # the results table
    for rel in ("benchmarks/README.md",):
        text = _text(rel)
        assert (f"TCJA-SNN (init gain 10) {_mean_std(acc, 'tcja', SEEDS_0_39)} %, without TCJA "
                f"{_mean_std(acc, 'none', SEEDS_0_39)} %; paired TCJA - none {_signed(p['mean'])} ± {p['sem']:.2f} points "
                f"(sem; {p['wins']} wins, {p['ties']} ties, {p['losses']} losses; 95 % interval {interval})") in text
        assert f"Seeds 0-15 with the original init: {_mean_std(acc, 'tcja:1', SEEDS_0_15)} %" in text


def test_tcja_first_seeds_init_gain_and_curves_in_the_docs() -> None:
    """docs/tcja.md's seeds 0-7 / 8-15 reading, the 10x-init gain over the original init, and mean curves."""
    acc = _accuracies("tcja_seeds")
    doc = _text("docs/tcja.md")

    def gain(seeds: List[int]) -> Tuple[float, float, int]:
        d = [acc["tcja", s] - acc["tcja:1", s] for s in seeds]
        return statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d)), sum(x > 0 for x in d)

    first, late = list(range(8)), list(range(8, 16))
    g0, g16 = gain(first), gain(SEEDS_0_15)
    assert f"On seeds 0-7 TCJA was {_signed(_paired(acc, 'tcja', first)['mean'])} ahead" in doc
    assert f"init was {_signed(g0[0])} ± {g0[1]:.2f} above the original init ({g0[2]} of 8)" in doc
    assert f"reversed both ({_signed(_paired(acc, 'tcja', late)['mean'])} and {_signed(gain(late)[0])})" in doc
    assert f"over 16 seeds the init gain is worth {_signed(g16[0])} ± {g16[1]:.2f} points" in doc
    curves = {(r["attention"], r["seed"]): r["curve"] for r in _json("tcja_seeds")["runs"]}

    def early(v: str, seeds: List[int]) -> str:
        return ", ".join(f"{statistics.mean(curves[v, s][e] for s in seeds) * 100:.1f}" for e in range(5))

    assert (f"original init {early('tcja:1', SEEDS_0_15)} %; 10x {early('tcja', SEEDS_0_15)} %; without TCJA "
            f"{early('none', SEEDS_0_15)} % (over all 40 seeds: 10x {early('tcja', SEEDS_0_39)} %, without TCJA "
            f"{early('none', SEEDS_0_39)} %") in doc


def test_tcja_branch_and_narrow_sweeps_in_the_docs() -> None:
    acc = _accuracies("tcja_seeds_branches")
    doc = _text("docs/tcja.md")
    seeds = list(range(8))
    for label, v in (("T-XA only", "t_xa:1"), ("C-XA only", "c_xa:1")):
        p = _paired(acc, v, seeds)
        ties = f", {p['ties']} tie" + ("s" if p["ties"] != 1 else "") if p["ties"] else ""
        assert (f"{label} {_seed_list(acc, v, seeds)} ({_mean_std(acc, v, seeds)}; "
                + ("minus `none` " if v == "t_xa:1" else "")
                + f"{_signed(p['mean'])} ± {p['sem']:.2f}, {p['wins']} wins{ties})") in doc, label
    for name, stages in (("tcja_seeds_narrow_8_16_16", "8-16-16"), ("tcja_seeds_narrow_4_8_8", "4-8-8")):
        acc = _accuracies(name)
        seeds = list(range(6))
        row = _row("docs/tcja.md", f"| {stages} |", "TCJA, seeds 0-5 (%)")
        p = _paired(acc, "tcja", seeds)
        for v in ("tcja", "none"):
            mean = statistics.mean(acc[v, s] for s in seeds)
            assert f"{_seed_list(acc, v, seeds)} ({mean:.2f})" in row, row
        assert f"| {_signed(p['mean'])} ± {p['sem']:.2f} | {p['wins']}/6" in row, row


def _close(printed: str, value: float, scale: float = 1.0) -> bool:
    """``printed`` (e.g. "18.6") is ``value / scale`` correctly rounded to the digits it shows."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) * scale - value) <= 0.5 * 10 ** -decimals * scale * (1 + 1e-9)


def _cells(row: str) -> List[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def _num(cell: str) -> str:
    m = re.search(r"[\d.]+", cell)
    assert m, cell
    return m.group(0)


def test_energy_report_tables_are_the_json() -> None:
    """benchmarks/README.md's and docs/energy.md's energy tables: counts and energies, as rounded, per sample."""
    d = _json("energy_report")

    def view(v: dict) -> dict:
        e = v["energy_uj_per_sample"]
        return {"macs": v["macs_per_sample"], "acs": v["synops_per_sample"] + v["other_adds_per_sample"],
                "horowitz45": e["horowitz45"], "horowitz45-int8": e["horowitz45-int8"], "loihi": e["loihi"]}

    ann = d["snn_vs_ann"]["strict"]
    rows = {"SNN, strict view": view(d["views"]["strict"]), "SNN, event-count view": view(d["views"]["events"]),
            "ANN counterpart, one pass": {"macs": ann["ann"]["macs"], "acs": ann["ann"]["acs"],
                                          **{m: ann["energy"][m]["ann_j_per_sample"] * 1e6 for m in
                                             ("horowitz45", "horowitz45-int8", "loihi")}},
            "ANN, once per frame": {"macs": d["ann_per_frame"]["macs_per_sample"],
                                    **d["ann_per_frame"]["energy_uj_per_sample"]},
            "without TCJA (same weights), strict view": view(d["no_tcja_same_weights_strict"]),
            "without TCJA (same weights), event-count view": view(d["no_tcja_same_weights_events"])}
    energy_md = {"SNN, strict view": "SNN, strict view (only", "SNN, event-count view": "SNN, event-count view",
                 "ANN counterpart, one pass": "ANN counterpart, one pass",
                 "without TCJA (same weights), strict view": "SNN without its TCJA blocks (same weights, accuracy",
                 "without TCJA (same weights), event-count view": "SNN without its TCJA blocks (same weights), event"}
    for rel, header, cols, labels in (
            ("benchmarks/README.md", "| | MACs | ACs | horowitz45 | horowitz45-int8 | loihi |",
             ["macs", "acs", "horowitz45", "horowitz45-int8", "loihi"],
             {k: ("| SNN " + k if k.startswith("without") else "| " + k) for k in rows}),
            ("docs/energy.md", "| | MACs | ACs | horowitz45 | loihi |", ["macs", "acs", "horowitz45", "loihi"],
             {k: "| " + v for k, v in energy_md.items()})):
        for key, start in labels.items():
            cells = _cells(_row(rel, start, header))[1:]
            for col, cell in zip(cols, cells):
                if cell in ("", "-"):
                    continue  # not given (the ANN's Loihi figure is not meaningful; README prints it in brackets)
                scale = 1e6 if col in ("macs", "acs") else 1.0
                assert cell == "0" and rows[key][col] == 0 or _close(_num(cell), rows[key][col], scale), (rel, key, col, cell)
    strict, events = rows["SNN, strict view"], rows["SNN, event-count view"]
    ann_h = rows["ANN counterpart, one pass"]["horowitz45"]
    no_tcja = rows["without TCJA (same weights), event-count view"]["horowitz45"]
    readme = _text("benchmarks/README.md")
    assert f"this SNN costs {strict['horowitz45'] / ann_h:.1f}x the ANN's" in readme
    assert f"it is {events['horowitz45'] / ann_h:.1f}x" in readme
    assert f"{ann_h / no_tcja:.1f}x cheaper than the ANN" in readme and f"{ann_h / no_tcja:.1f}x cheaper than the ANN" in _text("docs/energy.md")
    loihi = ann["energy"]["loihi"]["snn_breakdown_j_per_sample"]
    updates = (loihi["neuron updates (active)"] + loihi["neuron updates (inactive)"]) * 1e6
    for rel in ("benchmarks/README.md", "docs/energy.md"):
        assert f"euron updates are {updates:.1f} uJ of the strict view's {strict['loihi']:.1f}" in _text(rel), rel
    rates = ", ".join(f"{layer['firing_rate']:.3f}" for layer in d["views"]["strict"]["layers"] if layer["kind"] == "neuron")
    assert f"Firing rates per spiking layer {rates} (overall {d['views']['strict']['firing_rate']:.3f})" in readme
    assert f"layer: {rates}." in _text("docs/energy.md")
    assert f"accuracy {d['test_accuracy_snn']:.3f}" in readme
    assert f"accuracy {d['no_tcja_same_weights_strict']['accuracy']:.3f} with the same weights" in readme


def test_energy_report_energies_are_counts_times_the_current_constants() -> None:
    """The JSON's Horowitz energies are its MAC/AC counts x hardware/energy.py's costs (a changed constant makes it stale)."""
    from snnkit.hardware.energy import ENERGY_MODELS

    d = _json("energy_report")
    views = {"strict": d["views"]["strict"], "events": d["views"]["events"],
             "no_tcja_strict": d["no_tcja_same_weights_strict"], "no_tcja_events": d["no_tcja_same_weights_events"]}
    for name, v in views.items():
        acs = v["synops_per_sample"] + v["other_adds_per_sample"]
        for model in ("horowitz45", "horowitz45-int8"):
            c = ENERGY_MODELS[model]
            want = (v["macs_per_sample"] * c["mac_pj"] + acs * c["ac_pj"]) * 1e-6
            assert v["energy_uj_per_sample"][model] == pytest.approx(want, rel=1e-9), (name, model)
    loihi, c = d["snn_vs_ann"]["strict"]["energy"]["loihi"]["snn_breakdown_j_per_sample"], ENERGY_MODELS["loihi"]
    strict = d["views"]["strict"]
    assert loihi["spikes (within tile)"] == pytest.approx(strict["spikes_per_sample"] * c["spike_pj"] * 1e-12, rel=1e-9)
    active = loihi["neuron updates (active)"] / (c["neuron_update_active_pj"] * 1e-12)
    inactive = loihi["neuron updates (inactive)"] / (c["neuron_update_inactive_pj"] * 1e-12)
    assert active + inactive == pytest.approx(strict["neuron_updates_per_sample"], rel=1e-9)


def test_spikegpt_energy_table_is_the_json() -> None:
    d = _json("spikegpt_energy")["results"]
    header = "| | test bpc | MACs | ACs | spikes | horowitz45 | loihi |"
    for size, dims in (("tiny", "2x64"), ("small", "4x256")):
        for model, start in (("SpikeGPT", f"| SpikeGPT {size} ({dims}) |"), ("RWKV-4", f"| RWKV-4 {size} |")):
            r = d[size][model]
            cells = _cells(_row("benchmarks/README.md", start, header))[1:]
            bpc, macs, acs, spikes, h45, loihi = cells
            assert _close(bpc, r["test_bpc"]), (size, model, bpc)
            mac_scale = 1e3 if macs.endswith("k") else 1e6
            assert _close(_num(macs), r["per_token"]["macs"], mac_scale), (size, model, macs)
            assert _close(acs, r["per_token"]["acs"]) and _close(spikes, r["per_token"]["spikes"]), (size, model)
            for cell, key in ((h45, "horowitz45"), (loihi, "loihi")):
                scale = 1e-9 if cell.endswith("nJ") else 1e-6
                assert _close(_num(cell), r["energy_per_token_j"][key], scale), (size, model, cell)
    ratio = {size: d[size]["snn_ann_energy_ratio"] for size in ("tiny", "small")}
    assert (f"SNN/ANN energy: {ratio['tiny']['horowitz45']:.4f} (horowitz45) and {ratio['tiny']['loihi']:.2f} / "
            f"{ratio['small']['loihi']:.2f} (loihi)") in _text("benchmarks/README.md")


def test_neuron_speed_figures_are_the_json() -> None:
    """benchmarks/README.md's LIF fwd+bwd times and speed-ups (snnkit fused vs the faster of SpikingJelly/snnTorch)."""
    rows = {(r["shape"], r["impl"]): r for r in _json("neuron_speed_cpu")["rows"]}
    text = _text("benchmarks/README.md")
    for shape in ("[16, 32, 8192]", "[8, 32, 8192]", "[32, 32, 8192]"):
        ms = {impl: rows[shape, impl]["ms"] for impl in ("snnkit_cpu", "spikingjelly", "snntorch")}
        speedup = min(ms["spikingjelly"], ms["snntorch"]) / ms["snnkit_cpu"]
        assert speedup == pytest.approx(rows[shape, "snnkit_cpu"]["speedup_vs_best_peer"], rel=1e-3)
        shown = re.search(re.escape(f"`{shape}`:") + r"[^(]*?([\d.]+)[^(]*?([\d.]+)[^(]*?([\d.]+) \((?:\*\*)?([\d.]+)x", text)
        assert shown, shape
        for printed, value in zip(shown.groups(), (ms["snnkit_cpu"], ms["spikingjelly"], ms["snntorch"], speedup)):
            assert _close(printed, value) or _close(printed, round(value, 2 - int(math.floor(math.log10(value))))), \
                (shape, printed, value)
    small = [rows[s, "snnkit_cpu"]["speedup_vs_best_peer"] for s, impl in rows if impl == "snnkit_cpu" and s.endswith("512]")]
    assert f"`[T, 32, 512]`: {min(small):.1f}x-{max(small):.0f}x" in text
    gbps = [r["GBps"] for r in rows.values() if "GBps" in r]
    copy = [r["copy_GBps"] for r in rows.values() if "copy_GBps" in r]
    assert f"Achieved {min(gbps):.0f}-{max(gbps):.0f} GB/s" in text and f"at {min(copy):.0f}-{max(copy):.0f} GB/s" in text


def _p_text(p: float) -> str:
    """A p-value as docs/tcja.md prints it: three decimals, or two significant digits below 0.001."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _watch_sweep(name: str, variants: Tuple[str, ...], follow_up: bool = False) -> dict:
    """A complete pre-registered smartwatch results file: seeds 0-19 of each variant at the default epochs, each run's
    curve ending at its final accuracy and peaking at its best; a follow-up's reference is tcja_watch.json as it is now."""
    import hashlib

    d, seeds = _json(name), list(range(20))
    assert d["complete"] and d["rule"]["seeds"] == seeds and d["options"]["epochs"] is None
    if follow_up:  # the committed runs a follow-up compares with are the file as it is now
        assert d["reference"]["sha256"] == hashlib.sha256((RESULTS / "tcja_watch.json").read_bytes()).hexdigest()
    assert sorted((r["attention"], r["seed"]) for r in d["runs"]) == sorted((v, s) for v in variants for s in seeds)
    assert all(len(r["curve"]) == 15 and r["curve"][-1] == r["final"] and max(r["curve"]) == r["best"] for r in d["runs"])
    return d


def test_tcja_watch_preregistered_result_in_the_docs() -> None:
    """docs/tcja.md's smartwatch section: per-seed tables, summary, floor and the rule's outcome, from tcja_watch.json."""
    import sys

    d = _watch_sweep("tcja_watch", ("none", "tcja"))
    seeds = list(range(20))
    acc = {(r["attention"], r["seed"]): r["final"] * 100 for r in d["runs"]}
    best = {(r["attention"], r["seed"]): r["best"] * 100 for r in d["runs"]}
    for v in ("tcja", "none"):
        row = _row("docs/tcja.md", f"| `{v}` |", "seeds 0-19, smartwatch (final test accuracy, %)")
        assert _seed_list(acc, v, seeds) in row, row
        assert f"| {_mean_std(acc, v, seeds)} | {_mean_std(best, v, seeds)} |" in row, row
    p = _paired(acc, "tcja", seeds)
    doc = _text("docs/tcja.md")
    assert (f"tcja − none, same seed: **{_signed(p['mean'])} ± {p['sem']:.2f} points** (mean ± sem; 95 % interval "
            f"{_signed(p['lo'])} to {_signed(p['hi'])}; wins/ties/losses {p['wins']}/{p['ties']}/{p['losses']}; "
            f"t = {p['t']:.2f}, p = {_p_text(p['p'])})") in doc
    b = _paired(best, "tcja", seeds)
    assert f"best epoch instead: {_signed(b['mean'])} ± {b['sem']:.2f} points" in doc
    floor = d["floor_logreg"]["test_acc"] * 100
    assert f"logistic-regression floor: {floor:.2f} % (train {d['floor_logreg']['train_acc'] * 100:.1f} %)" in doc
    early = {v: statistics.mean(r["curve"][0] for r in d["runs"] if r["attention"] == v) * 100 for v in ("tcja", "none")}
    assert f"after epoch 1: {early['tcja']:.1f} % vs {early['none']:.1f} % without" in doc
    assert f"({d['parameters']['tcja']:,} vs {d['parameters']['none']:,})" in doc
    secs = {v: statistics.median(r["seconds"] for r in d["runs"] if r["attention"] == v) for v in ("tcja", "none")}
    assert f"median {secs['tcja']:.0f} s with TCJA and {secs['none']:.0f} s without, {d['wall_s'] / 60:.0f} min" in doc
    helps = p["mean"] >= 1.0 and p["p"] < 0.05
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tcja_watch import decide, paired_stats

    assert d["outcome"] == decide(paired_stats(d["runs"]), True)
    assert d["outcome"] == ("TCJA helps on this data" if helps else "TCJA does not help on this data (rule not met)")
    assert f"Outcome by the rule: **{d['outcome']}**" in doc


def test_tcja_watch_wide_control_in_the_docs() -> None:
    """docs/tcja.md's parameter-matched control: per-seed table, both paired differences and the rule's outcome."""
    import sys

    d, ref = _watch_sweep("tcja_watch_wide", ("none_wide",), follow_up=True), _json("tcja_watch")
    seeds = list(range(20))
    runs = ref["runs"] + d["runs"]
    acc = {(r["attention"], r["seed"]): r["final"] * 100 for r in runs}
    best = {(r["attention"], r["seed"]): r["best"] * 100 for r in runs}
    header = "seeds 0-19, smartwatch, parameter-matched control (final test accuracy, %)"
    for v in ("tcja", "none_wide", "none"):
        row = _row("docs/tcja.md", f"| `{v}` |", header)
        assert f"| {d['parameters'][v]:,} |" in row, row
        assert _seed_list(acc, v, seeds) in row, row
        assert f"| {_mean_std(acc, v, seeds)} | {_mean_std(best, v, seeds)} |" in row, row
    doc = _text("docs/tcja.md")
    assert (f"c = {d['channels']}, {d['parameters']['none_wide']:,} parameters** ≥ {d['parameters']['tcja']:,} "
            f"(`tcja`); c = {d['channels'] - 1} would give {d['parameters']['none_wide_c_minus_1']:,}") in doc
    relabel = lambda a, b: {**{("x", s): acc[a, s] for s in seeds}, **{("none", s): acc[b, s] for s in seeds}}  # noqa: E731
    p = {}
    for a, b in (("tcja", "none_wide"), ("none_wide", "none")):
        p[a, b] = q = _paired(relabel(a, b), "x", seeds)
        assert (f"{a} − {b}, same seed: **{_signed(q['mean'])} ± {q['sem']:.2f} points** (mean ± sem; 95 % interval "
                f"{_signed(q['lo'])} to {_signed(q['hi'])}; wins/ties/losses {q['wins']}/{q['ties']}/{q['losses']}; "
                f"t = {q['t']:.2f}, p = {_p_text(q['p'])})") in doc, (a, b)
    rb = lambda a, b: {**{("x", s): best[a, s] for s in seeds}, **{("none", s): best[b, s] for s in seeds}}  # noqa: E731
    b1, b2 = _paired(rb("tcja", "none_wide"), "x", seeds), _paired(rb("none_wide", "none"), "x", seeds)
    assert (f"tcja − none_wide {_signed(b1['mean'])} ± {b1['sem']:.2f}, none_wide − none {_signed(b2['mean'])} ± "
            f"{b2['sem']:.2f} (p = {_p_text(b2['p'])})") in doc
    early = {v: statistics.mean(r["curve"][0] for r in runs if r["attention"] == v) * 100 for v in ("tcja", "none_wide", "none")}
    assert f"epoch 1: {early['none_wide']:.1f} % vs {early['none']:.1f} % for `none`, {early['tcja']:.1f} % for `tcja`" in doc
    secs = statistics.median(r["seconds"] for r in d["runs"])
    lo, hi = min(r["seconds"] for r in d["runs"]), max(r["seconds"] for r in d["runs"])
    assert f"{lo:.0f}-{hi:.0f} s per run" in doc
    assert f"median {secs:.0f} s per run, {d['wall_s'] / 60:.0f} min in all" in doc
    q = p["tcja", "none_wide"]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tcja_watch_wide import decide, summarise

    assert d["outcome"] == decide(summarise(d["runs"], ref["runs"]), True)
    assert d["outcome"] == ("the TCJA gain is not explained by parameter count" if q["mean"] >= 1.0 and q["p"] < 0.05
                            else "the TCJA gain may be explained by parameter count (rule not met)")
    assert f"Outcome by the rule: **{d['outcome']}**" in doc


def test_tcja_watch_shuffled_control_in_the_docs() -> None:
    """docs/tcja.md's temporal-order control: per-seed table, G_shuffled, the Welch comparison, drops and the outcome."""
    import sys

    d, ref = _watch_sweep("tcja_watch_shuffled", ("none", "tcja"), follow_up=True), _json("tcja_watch")
    seeds = list(range(20))
    acc = {(r["attention"], r["seed"]): r["final"] * 100 for r in d["runs"]}
    ordered = {(r["attention"], r["seed"]): r["final"] * 100 for r in ref["runs"]}
    header = "seeds 0-19, smartwatch, shuffled steps (final test accuracy, %)"
    for v in ("tcja", "none"):
        row = _row("docs/tcja.md", f"| `{v}` |", header)
        assert _seed_list(acc, v, seeds) in row, row
        drop = statistics.mean(ordered[v, s] for s in seeds) - statistics.mean(acc[v, s] for s in seeds)
        assert f"| {_mean_std(acc, v, seeds)} | {_mean_std(ordered, v, seeds)} | {_signed(drop)} |" in row, row
    g = _paired(acc, "tcja", seeds)
    doc = _text("docs/tcja.md")
    assert (f"G_shuffled = tcja − none on shuffled windows, same seed: **{_signed(g['mean'])} ± {g['sem']:.2f} points** "
            f"(mean ± sem; 95 % interval {_signed(g['lo'])} to {_signed(g['hi'])}; wins/ties/losses "
            f"{g['wins']}/{g['ties']}/{g['losses']}; t = {g['t']:.2f}, p = {_p_text(g['p'])})") in doc
    d_ord = [ordered["tcja", s] - ordered["none", s] for s in seeds]
    d_shuf = [acc["tcja", s] - acc["none", s] for s in seeds]
    w = stats.ttest_ind(d_ord, d_shuf, equal_var=False)
    diff = statistics.mean(d_ord) - statistics.mean(d_shuf)
    va, vb = statistics.variance(d_ord) / 20, statistics.variance(d_shuf) / 20
    se, df = math.sqrt(va + vb), (va + vb) ** 2 / (va ** 2 / 19 + vb ** 2 / 19)  # Welch-Satterthwaite
    assert (f"G_ordered − G_shuffled: **{_signed(diff)} ± {se:.2f} points** (difference ± Welch se; G_ordered = "
            f"{_signed(statistics.mean(d_ord))}; Welch t = {w.statistic:.2f}, p = {_p_text(w.pvalue)}; "
            f"Welch-Satterthwaite df {df:.1f})") in doc
    assert f"Outcome by the rule: **{d['outcome']}** ({_signed(diff)} ≥ +1.0 and p = {_p_text(w.pvalue)} < 0.05)" in doc \
        or diff < 1.0 or w.pvalue >= 0.05
    for v in ("tcja", "none"):
        best = statistics.mean(r["best"] * 100 for r in d["runs"] if r["attention"] == v)
        assert f"{best:.2f} %" in doc.split("### Temporal-order control (pre-registered)")[1].split("## TCJA VAE")[0], v
    lo, hi = min(r["seconds"] for r in d["runs"]), max(r["seconds"] for r in d["runs"])
    med = statistics.median(r["seconds"] for r in d["runs"])
    assert f"{lo:.0f}-{hi:.0f} s per run, median {med:.0f} s, {d['wall_s'] / 60:.0f} min in all" in doc
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tcja_watch_shuffled import decide, summarise

    assert d["outcome"] == decide(summarise(d["runs"], ref["runs"]), True)
    depends = diff >= 1.0 and w.pvalue < 0.05
    assert d["outcome"] == ("TCJA's gain depends on temporal order" if depends
                            else "TCJA's gain is not shown to depend on temporal order (rule not met)")
    assert f"Outcome by the rule: **{d['outcome']}**" in doc
