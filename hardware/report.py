"""Reports of operation counts and energy: terminal tables (rich), JSON / CSV files, PNG plots.

Every file is written atomically (a temporary file in the same folder, then renamed), so an
interrupted run never leaves a half-written report. Plots use matplotlib's object API with the
Agg canvas (no display, no global pyplot state).

    ops = count_ops(model, x, backend="hooks")
    en = energy(ops, "horowitz45")
    print_ops(ops, en)                                   # rich table in the terminal
    save_report("out/", ops, [en, energy(ops, "loihi")], comparison=compare_snn_ann(...))
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from snnkit._io import atomic_write
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["layer_rows", "step_rows", "comparison_rows", "spiking_neurons", "ops_table", "comparison_table", "print_ops",
           "print_comparison", "write_json", "write_csv", "write_text", "plot_firing_rates", "plot_layer_ops",
           "plot_comparison", "plot_steps", "save_report"]

PathLike = Union[str, Path]


# --------------------------------------------------------------------------- atomic files


def _atomic_bytes(path: PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_json(path: PathLike, data: Any) -> Path:
    """Write ``data`` (anything with ``to_dict()`` or plain data) as indented JSON, atomically."""
    if hasattr(data, "to_dict"):
        data = data.to_dict()
    return _atomic_bytes(path, (json.dumps(_clean(data), indent=2) + "\n").encode())


def write_csv(path: PathLike, rows: Sequence[Mapping[str, Any]], columns: Optional[Sequence[str]] = None) -> Path:
    """Write dict rows as CSV (columns: ``columns`` or the union of keys in order), atomically."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return _atomic_bytes(path, buf.getvalue().encode())


def write_text(path: PathLike, text: str) -> Path:
    return _atomic_bytes(path, text.encode())


# --------------------------------------------------------------------------- rows


def _energies(energies: Any) -> List[Any]:
    if energies is None:
        return []
    if isinstance(energies, (list, tuple)):
        return list(energies)
    return [energies]


def layer_rows(ops: Any, energies: Any = None) -> List[Dict[str, Any]]:
    """One dict per layer: counts for the whole run and per sample, plus energy per sample for each model."""
    ens = _energies(energies)
    B = max(ops.B, 1)
    rows = []
    for name, L in ops.layers.items():
        r: Dict[str, Any] = {"layer": name, "kind": L.kind, "module": L.module, "input": L.input,
                             "neurons": L.neurons, "synapses": L.synapses, "params": L.params,
                             "spikes": L.spikes, "firing_rate": L.firing_rate, "synops": L.synops, "macs": L.macs,
                             "graded_synops": L.graded_synops, "acs": L.acs, "activations": L.activations,
                             "neuron_updates": L.neuron_updates, "active_updates": L.active_updates,
                             "weight_read_bytes": L.weight_read_bytes, "bias_read_bytes": L.bias_read_bytes,
                             "state_read_bytes": L.state_read_bytes, "state_write_bytes": L.state_write_bytes,
                             "synops_per_sample": L.synops / B, "macs_per_sample": L.macs / B,
                             "ops_per_sample": (L.synops + L.macs + L.acs) / B}
        for e in ens:
            r[f"energy_j_per_sample[{e.model}]"] = e.per_layer_j.get(name, 0.0) / max(e.samples, 1)
        r["note"] = L.note
        rows.append(r)
    for u in ops.unknown:
        rows.append({"layer": u["name"], "kind": "unknown", "module": u["module"], "note": "NOT COUNTED: " + u["reason"]})
    return rows


def step_rows(ops: Any, energies: Any = None) -> List[Dict[str, Any]]:
    """One dict per (layer, time step): spikes, firing rate, synops, MACs, neuron updates."""
    ens = _energies(energies)
    rows = []
    for name, L in ops.layers.items():
        ps = L.per_step
        for t in range(ops.T):
            r: Dict[str, Any] = {"layer": name, "kind": L.kind, "t": t}
            for k in ("spikes", "synops", "macs", "graded_synops", "acs", "activations", "neuron_updates",
                      "active_updates"):
                r[k] = ps.get(k, [0] * ops.T)[t] if ps.get(k) else 0
            upd = r["neuron_updates"] or (ps.get("activations", [0] * ops.T)[t] if ps.get("activations") else 0)
            nz = r["spikes"] if L.kind != "activation" else (ps.get("nonzero", [0] * ops.T)[t] if ps.get("nonzero") else 0)
            r["firing_rate"] = nz / upd if upd else None
            rows.append(r)
    for e in ens:
        for t, v in enumerate(e.per_step_j):
            rows.append({"layer": f"<total energy {e.model}>", "kind": "energy", "t": t, "energy_j": v})
    return rows


def comparison_rows(cmp: Any) -> List[Dict[str, Any]]:
    return list(cmp.to_dict()["layers"])


# --------------------------------------------------------------------------- terminal


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, int) and abs(v) >= 10 ** 7:
        return f"{v:.3e}"
    return str(v)


SPIKING_KINDS = ("neuron", "stage")  # layers whose outputs are spiking neurons (hooks: a neuron module; trace: a stage)


def spiking_neurons(ops: Any) -> int:
    """Spiking neurons per sample and step: the denominator of ``ops.totals["firing_rate"]`` (not every layer's outputs)."""
    return int(sum(L.neurons for L in ops.layers.values() if L.kind in SPIKING_KINDS))


def ops_table(ops: Any, energies: Any = None, title: Optional[str] = None) -> Any:
    """A ``rich.table.Table`` of per-layer counts (per sample) and energy per sample.

    ``graded synops`` (what event-driven models charge a layer with real-valued input) is a column
    when any layer has them; the total's ``neurons`` are the spiking neurons the total rate divides by.
    """
    from rich.table import Table

    ens = _energies(energies)
    B = max(ops.B, 1)
    tot = ops.totals
    graded = tot["graded_synops"] > 0
    t = Table(title=title or f"operations per sample ({ops.source}: T={ops.T}, {ops.B} samples)",
              caption="neurons: each layer's outputs per sample and step; total: spiking neurons only (the rate's "
                      "denominator)")
    cols = ["layer", "kind", "input", "neurons", "rate", "spikes", "synops", "MACs"] + ["graded synops"] * graded
    for c in cols + ["adds", "updates"]:
        t.add_column(c, justify="left" if c in ("layer", "kind", "input") else "right")
    for e in ens:
        t.add_column(f"uJ ({e.model})", justify="right")
    for name, L in ops.layers.items():
        row = [name, L.kind, L.input, str(L.neurons), f"{L.firing_rate:.4f}" if L.kind in ("neuron", "activation", "stage") else "",
               _fmt(L.spikes / B), _fmt(L.synops / B), _fmt(L.macs / B), *[_fmt(L.graded_synops / B)] * graded,
               _fmt(L.acs / B), _fmt((L.neuron_updates or L.activations) / B)]
        row += [_fmt(e.per_layer_j.get(name, 0.0) / max(e.samples, 1) * 1e6) for e in ens]
        t.add_row(*row)
    for u in ops.unknown:
        t.add_row(u["name"], "[red]unknown[/red]", *[""] * (len(cols) - 2), "", "", *["NOT COUNTED" for _ in ens])
    t.add_row("[bold]total[/bold]", "", "", str(spiking_neurons(ops)), f"{tot['firing_rate']:.4f}", _fmt(tot["spikes"] / B),
              _fmt(tot["synops"] / B), _fmt(tot["macs"] / B), *[_fmt(tot["graded_synops"] / B)] * graded,
              _fmt(tot["acs"] / B), _fmt((tot["neuron_updates"] or tot["activations"]) / B),
              *[_fmt(e.per_sample_j * 1e6) for e in ens])
    return t


def comparison_table(cmp: Any) -> Any:
    from rich.table import Table

    d = cmp.to_dict()
    s, a = d["snn"], d["ann"]
    t = Table(title="SNN vs ANN, per sample")
    for c in ("", "SNN", "ANN", "ANN / SNN"):
        t.add_column(c, justify="left" if not c else "right")

    def ratio(x: float, y: float) -> str:
        return f"{y / x:.3g}" if x else ""

    for label, key in (("MACs", "macs"), ("ACs (synops + adds)", "acs"), ("all ops", "ops"),
                       ("spikes", "spikes"), ("weight reads (bytes)", "weight_read_bytes")):
        t.add_row(label, _fmt(float(s[key])), _fmt(float(a[key])), ratio(s[key], a[key]))
    t.add_row("time steps", str(s["time_steps"]), str(a["time_steps"]), "")
    for m, e in d["energy"].items():
        t.add_row(f"energy, {m} (uJ)", _fmt(e["snn_j_per_sample"] * 1e6), _fmt(e["ann_j_per_sample"] * 1e6),
                  f"{e['ann_over_snn']:.3g}" if e["ann_over_snn"] else "")
    return t


def _console(console: Any = None) -> Any:
    if console is not None:
        return console
    from rich.console import Console

    return Console(width=max(160, Console().width))


def print_ops(ops: Any, energies: Any = None, console: Any = None) -> None:
    c = _console(console)
    c.print(ops_table(ops, energies))
    for n in ops.notes:
        c.print(f"[dim]note: {n}[/dim]")
    for u in ops.unknown:
        c.print(f"[red]NOT COUNTED: {u['name']} ({u['module']}): {u['reason']}[/red]")
    for e in _energies(energies):
        for n in e.notes:
            c.print(f"[dim]{e.model}: {n}[/dim]")


def print_comparison(cmp: Any, console: Any = None) -> None:
    c = _console(console)
    c.print(comparison_table(cmp))
    for n in cmp.notes:
        c.print(f"[dim]note: {n}[/dim]")


# --------------------------------------------------------------------------- plots


def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Any, path: PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return _atomic_bytes(path, buf.getvalue())


def plot_firing_rates(ops: Any, path: PathLike) -> Path:
    """Bar chart of the firing rate (spiking layers) / activation density (ANN layers) per layer."""
    names = [n for n, L in ops.layers.items() if L.kind in ("neuron", "activation", "stage")]
    rates = [ops.layers[n].firing_rate for n in names]
    fig = _figure(max(6.0, 0.5 * len(names) + 2), 4.0)
    ax = fig.add_subplot(111)
    ax.bar(range(len(names)), rates, color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("firing rate (spikes / neuron / step)")
    ax.set_title(f"firing rate per layer ({ops.model or ops.source}, T={ops.T}, {ops.B} samples)")
    ax.grid(axis="y", alpha=0.3)
    return _save_png(fig, path)


def plot_steps(ops: Any, path: PathLike) -> Path:
    """Heat map of the firing rate of each spiking layer at each time step."""
    names = [n for n, L in ops.layers.items() if L.kind in ("neuron", "stage", "activation")]
    import numpy as np

    M = np.zeros((len(names), ops.T))
    for i, n in enumerate(names):
        L = ops.layers[n]
        num = L.per_step.get("spikes" if L.kind != "activation" else "nonzero", [0] * ops.T)
        den = L.per_step.get("neuron_updates" if L.kind != "activation" else "activations", [0] * ops.T)
        M[i] = [a / b if b else 0.0 for a, b in zip(num, den)]
    fig = _figure(max(5.0, 0.4 * ops.T + 3), max(2.5, 0.35 * len(names) + 1.5))
    ax = fig.add_subplot(111)
    im = ax.imshow(M, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("time step")
    ax.set_title("firing rate per layer and time step")
    fig.colorbar(im, ax=ax, label="rate")
    return _save_png(fig, path)


def plot_layer_ops(ops: Any, energies: Any, path: PathLike) -> Path:
    """Two panels: operations per sample per layer (synops / MACs / adds, log scale) and energy per layer."""
    ens = _energies(energies)
    names = [n for n, L in ops.layers.items() if (L.synops + L.macs + L.acs) > 0 or L.kind in ("neuron", "stage")]
    B = max(ops.B, 1)
    import numpy as np

    x = np.arange(len(names))
    fig = _figure(max(7.0, 0.55 * len(names) + 2), 7.0 if ens else 4.0)
    ax = fig.add_subplot(211 if ens else 111)
    w = 0.27
    for i, (key, label, col) in enumerate((("synops", "synaptic ops (ACs)", "tab:green"), ("macs", "MACs", "tab:red"),
                                           ("acs", "other adds", "tab:gray"))):
        vals = [getattr(ops.layers[n], key) / B for n in names]
        ax.bar(x + (i - 1) * w, [v if v > 0 else np.nan for v in vals], w, label=label, color=col)
    ax.set_yscale("log")
    ax.set_ylabel("ops per sample")
    ax.set_xticks(x)
    ax.set_xticklabels(names if not ens else [""] * len(names), rotation=45, ha="right", fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"operations and energy per layer ({ops.model or ops.source})")
    if ens:
        ax2 = fig.add_subplot(212)
        w2 = 0.8 / len(ens)
        for i, e in enumerate(ens):
            vals = [e.per_layer_j.get(n, 0.0) / max(e.samples, 1) * 1e6 for n in names]
            ax2.bar(x + (i - (len(ens) - 1) / 2) * w2, [v if v > 0 else np.nan for v in vals], w2, label=e.model)
        ax2.set_yscale("log")
        ax2.set_ylabel("energy per sample (uJ)")
        ax2.set_xticks(x)
        ax2.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax2.legend(fontsize=8)
        ax2.grid(axis="y", alpha=0.3)
    return _save_png(fig, path)


def plot_comparison(cmp: Any, path: PathLike) -> Path:
    """SNN vs ANN bars: MACs, ACs per sample (log) and energy per sample for each model."""
    d = cmp.to_dict()
    s, a = d["snn"], d["ann"]
    import numpy as np

    fig = _figure(9.0, 4.0)
    ax = fig.add_subplot(121)
    keys = [("macs", "MACs"), ("acs", "ACs"), ("ops", "all ops")]
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [max(s[k], 0) or np.nan for k, _ in keys], 0.4, label="SNN", color="tab:blue")
    ax.bar(x + 0.2, [max(a[k], 0) or np.nan for k, _ in keys], 0.4, label="ANN", color="tab:orange")
    ax.set_xticks(x)
    ax.set_xticklabels([lbl for _, lbl in keys])
    ax.set_yscale("log")
    ax.set_ylabel("per sample")
    ax.legend()
    ax.set_title("operations")
    ax2 = fig.add_subplot(122)
    ms = list(d["energy"])
    x2 = np.arange(len(ms))
    ax2.bar(x2 - 0.2, [d["energy"][m]["snn_j_per_sample"] * 1e6 for m in ms], 0.4, label="SNN", color="tab:blue")
    ax2.bar(x2 + 0.2, [d["energy"][m]["ann_j_per_sample"] * 1e6 for m in ms], 0.4, label="ANN", color="tab:orange")
    ax2.set_xticks(x2)
    ax2.set_xticklabels(ms)
    ax2.set_ylabel("energy per sample (uJ)")
    ax2.set_title("energy estimate")
    ax2.legend()
    return _save_png(fig, path)


# --------------------------------------------------------------------------- all at once


def save_report(out_dir: PathLike, ops: Any, energies: Any = None, *, comparison: Any = None, plots: bool = True,
                prefix: str = "", extra: Optional[Mapping[str, Any]] = None) -> Dict[str, str]:
    """Write ``ops.json`` (counts + energies + ``extra``), ``layers.csv``, ``steps.csv`` and, with
    ``comparison``, ``snn_vs_ann.json`` / ``snn_vs_ann.csv``; with ``plots`` the PNGs
    ``firing_rate.png``, ``firing_rate_steps.png``, ``ops_energy.png`` and ``snn_vs_ann.png``.
    Returns ``{kind: path}``. Names get ``prefix`` in front.
    """
    out = Path(out_dir)
    ens = _energies(energies)
    files: Dict[str, str] = {}
    payload: Dict[str, Any] = {"counts": ops.to_dict(), "energy": {e.model: e.to_dict() for e in ens}}
    if extra:
        payload["meta"] = dict(extra)
    if comparison is not None:
        payload["snn_vs_ann"] = comparison.to_dict()
    files["json"] = str(write_json(out / f"{prefix}ops.json", payload))
    files["layers_csv"] = str(write_csv(out / f"{prefix}layers.csv", layer_rows(ops, ens)))
    files["steps_csv"] = str(write_csv(out / f"{prefix}steps.csv", step_rows(ops, ens)))
    if comparison is not None:
        files["comparison_json"] = str(write_json(out / f"{prefix}snn_vs_ann.json", comparison.to_dict()))
        files["comparison_csv"] = str(write_csv(out / f"{prefix}snn_vs_ann.csv", comparison_rows(comparison)))
    if plots:
        files["firing_rate_png"] = str(plot_firing_rates(ops, out / f"{prefix}firing_rate.png"))
        files["steps_png"] = str(plot_steps(ops, out / f"{prefix}firing_rate_steps.png"))
        files["ops_energy_png"] = str(plot_layer_ops(ops, ens, out / f"{prefix}ops_energy.png"))
        if comparison is not None:
            files["comparison_png"] = str(plot_comparison(comparison, out / f"{prefix}snn_vs_ann.png"))
    return files
