"""Energy models as data: per-operation costs with their sources, ``energy(counts, model=...)``,
``register_energy_model`` for your own, and the SNN-vs-ANN comparison.

Every constant below is a published per-operation energy; none is measured here. Loihi 2 has
no published per-operation figures, so ``"loihi"`` uses Loihi 1's pre-silicon table.

* ``loihi`` - Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning",
  IEEE Micro 38(1), 2018, pre-silicon energy table (14 nm): synaptic spike operation 23.6 pJ (min), neuron
  update 81 pJ (active) / 52 pJ (inactive), within-tile spike energy 1.7 pJ, tile hop energy
  3.0-4.0 pJ (placement dependent: not counted, see ``tile_hop_pj`` to add it yourself).
  Operations Loihi cannot run (TCJA's products and convolutions, real-valued additions) are
  priced as host work at Horowitz's FP32 figures (``host_mac_pj``, ``host_ac_pj``) and listed.
* ``horowitz45`` - M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, 45 nm: FP32 multiply-accumulate 4.6 pJ (mult 3.7 + add 0.9), FP32 add 0.9 pJ,
  INT8 add 0.03 pJ, INT8 multiply 0.2 pJ, INT32 add 0.1 pJ. Used the Spikformer way:
  ``E = E_MAC * MACs + E_AC * ACs`` (MACs: layers with real-valued input; ACs: synaptic
  operations driven by spikes, plus other additions).
* ``horowitz45-int8`` - the same with INT8 multiply + INT32 accumulate for MACs and INT32 adds
  for synaptic operations (an 8-bit accelerator baseline).

A model is a dict of costs in pJ (keys in :data:`COST_KEYS`) plus ``source``. A model with
``synop_pj`` is *event-driven*: spikes and graded (nonzero real-valued) inputs of Linear/Conv
layers cost ``synop_pj`` each, and their dense MACs are not charged; otherwise MACs cost
``mac_pj`` and spike-driven synaptic operations cost ``ac_pj``. ``docs/energy.md`` has the formulas.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from snnkit.functional.validation import is_int

__all__ = ["ENERGY_MODELS", "COST_KEYS", "energy", "EnergyReport", "register_energy_model",
           "unregister_energy_model", "get_energy_model", "ann_counterpart", "compare_snn_ann", "SnnAnnComparison"]

PJ = 1e-12

ENERGY_MODELS: Dict[str, Dict[str, Any]] = {
    "loihi": {
        "synop_pj": 23.6,
        "neuron_update_active_pj": 81.0,
        "neuron_update_inactive_pj": 52.0,
        "spike_pj": 1.7,  # within-tile spike energy
        "tile_hop_pj": (3.0, 4.0),  # per hop; hops depend on placement, not counted
        "host_mac_pj": 4.6,  # ops Loihi cannot run (TCJA, real-valued adds): Horowitz 45 nm FP32
        "host_ac_pj": 0.9,
        "source": "Davies et al., IEEE Micro 38(1):82-99, 2018 (Loihi, pre-silicon energy table); host ops: "
                  "Horowitz, ISSCC 2014, 45 nm FP32",
    },
    "horowitz45": {
        "mac_pj": 4.6,  # FP32 mult 3.7 + add 0.9
        "ac_pj": 0.9,  # FP32 add
        "source": "Horowitz, ISSCC 2014, 45 nm, FP32",
    },
    "horowitz45-int8": {
        "mac_pj": 0.2 + 0.1,  # INT8 mult + INT32 add (accumulator)
        "ac_pj": 0.1,  # INT32 add
        "source": "Horowitz, ISSCC 2014, 45 nm, INT8 multiply / INT32 add",
    },
}
_BUILTIN = frozenset(ENERGY_MODELS)

#: the per-operation costs a model may set (pJ per operation, or per byte for memory traffic)
COST_KEYS = ("mac_pj", "ac_pj", "synop_pj", "neuron_update_pj", "neuron_update_active_pj",
             "neuron_update_inactive_pj", "spike_pj", "activation_pj", "host_mac_pj", "host_ac_pj",
             "weight_read_pj_per_byte", "bias_read_pj_per_byte", "state_read_pj_per_byte",
             "state_write_pj_per_byte")
# layers whose real-valued input a neuromorphic chip can take as graded spikes (Loihi 2)
_EVENT_MAPPABLE = ("stage", "linear", "conv")
# layers the Lava export runs on the host (TCJA): their accumulates are host additions, not synaptic ops
_HOST_ONLY = ("attention",)
# keys an inline model dict may hold besides COST_KEYS
_INLINE_EXTRA = ("source", "name", "tile_hop_pj")


def _checked_costs(costs: Mapping[str, Any], who: str, extra: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """The costs of ``costs`` as floats, refusing unknown keys, non-finite or negative values and no operation cost."""
    bad = sorted(set(costs) - set(COST_KEYS) - set(extra))
    if bad:
        raise ValueError(f"{who}: unknown cost keys {bad}; expected some of {list(COST_KEYS)}")
    model: Dict[str, Any] = {}
    for k in COST_KEYS:
        v = costs.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{who}: {k} must be a finite number >= 0 (pJ), got {v!r}")
        model[k] = float(v)
    if not any(k in model for k in ("mac_pj", "ac_pj", "synop_pj")):
        raise ValueError(f"{who}: give at least one of mac_pj, ac_pj, synop_pj")
    return model


def register_energy_model(name: str, *, source: str, overwrite: bool = False, **costs: Any) -> Dict[str, Any]:
    """Add an energy model: ``register_energy_model("my-asic", mac_pj=1.1, ac_pj=0.2, source="...")``.

    ``costs`` are keys of :data:`COST_KEYS` (pJ, finite, >= 0). At least one operation cost is
    required. Built-in models cannot be replaced; a registered one only with ``overwrite=True``.
    Returns the stored model (a copy).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"register_energy_model: name must be a non-empty string, got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"register_energy_model: {name!r} is a built-in model ({', '.join(sorted(_BUILTIN))}); "
                         "choose another name")
    if name in ENERGY_MODELS and not overwrite:
        raise ValueError(f"register_energy_model: {name!r} is already registered; pass overwrite=True to replace it")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("register_energy_model: source must say where the numbers come from (a citation)")
    model = _checked_costs(costs, "register_energy_model")
    model["source"] = source
    ENERGY_MODELS[name] = model
    return dict(model)


def unregister_energy_model(name: str) -> None:
    """Remove a model added with :func:`register_energy_model` (built-ins stay)."""
    if name in _BUILTIN:
        raise ValueError(f"unregister_energy_model: {name!r} is built in and cannot be removed")
    if name not in ENERGY_MODELS:
        raise ValueError(f"unregister_energy_model: no registered model {name!r}; registered: "
                         f"{sorted(set(ENERGY_MODELS) - _BUILTIN)}")
    del ENERGY_MODELS[name]


def get_energy_model(name: str) -> Dict[str, Any]:
    """A copy of a model's costs; unknown names raise ``ValueError`` listing the known ones."""
    if name not in ENERGY_MODELS:
        raise ValueError(f"energy: model must be one of {sorted(ENERGY_MODELS)}, got {name!r}")
    return copy.deepcopy(ENERGY_MODELS[name])


@dataclass
class EnergyReport:
    """Energy of one count report under one model. Joules for the whole run (all samples) unless ``per_sample``."""

    model: str
    total_j: float
    per_layer_j: Dict[str, float]
    breakdown_j: Dict[str, float]
    source: str
    notes: list = field(default_factory=list)
    samples: int = 0
    time_steps: int = 0
    per_step_j: List[float] = field(default_factory=list)
    per_layer_breakdown_j: Dict[str, Dict[str, float]] = field(default_factory=dict)
    unpriced: Dict[str, int] = field(default_factory=dict)
    costs: Dict[str, Any] = field(default_factory=dict)

    @property
    def per_sample_j(self) -> float:
        """Energy of one inference of one sample (all its time steps)."""
        return self.total_j / max(self.samples, 1)

    def to_dict(self) -> Dict[str, Any]:
        return {"model": self.model, "total_j": self.total_j, "per_sample_j": self.per_sample_j,
                "samples": self.samples, "time_steps": self.time_steps, "per_layer_j": dict(self.per_layer_j),
                "per_layer_per_sample_j": {k: v / max(self.samples, 1) for k, v in self.per_layer_j.items()},
                "breakdown_j": dict(self.breakdown_j), "per_step_j": list(self.per_step_j),
                "per_layer_breakdown_j": {k: dict(v) for k, v in self.per_layer_breakdown_j.items()},
                "unpriced": dict(self.unpriced), "costs": _jsonable(self.costs), "source": self.source,
                "notes": list(self.notes)}

    def __str__(self) -> str:
        rows = [f"energy ({self.model}): {self.total_j * 1e6:.4f} uJ for {self.samples} sample(s), "
                f"{self.per_sample_j * 1e6:.4f} uJ per sample  [{self.source}]"]
        for k, v in self.breakdown_j.items():
            rows.append(f"  {k:28} {v * 1e6:.4f} uJ")
        for n in self.notes:
            rows.append(f"  note: {n}")
        return "\n".join(rows)


def _jsonable(d: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _layer_energy(L: Mapping[str, Any], kind: str, c: Mapping[str, Any], unpriced: Dict[str, int]) -> Dict[str, float]:
    """Energy (pJ) of one layer's counts ``L`` by category; counts the model cannot price go to ``unpriced``."""

    def g(k: str) -> float:
        v = L.get(k, 0)
        return float(v or 0)

    def miss(k: str, n: float) -> None:
        if n:
            unpriced[k] = unpriced.get(k, 0) + int(n)

    out: Dict[str, float] = {}
    if c.get("synop_pj") is not None and L.get("folded_into"):
        return out  # a pool folded into the next layer's weights: its inputs are priced there, as events
    if c.get("synop_pj") is not None:  # event-driven (neuromorphic) model
        host = kind in _HOST_ONLY
        out["synaptic ops"] = 0.0 if host else (g("synops") + g("graded_synops")) * c["synop_pj"]
        host_macs = g("macs") if kind not in _EVENT_MAPPABLE else 0.0
        if host_macs:
            if c.get("host_mac_pj") is not None:
                out["host MACs (not native)"] = host_macs * c["host_mac_pj"]
            else:
                miss("macs", host_macs)
        host_adds = g("acs") + (g("synops") + g("graded_synops") if host else 0.0)
        if host_adds:
            if c.get("host_ac_pj") is not None:
                out["host additions (not native)"] = host_adds * c["host_ac_pj"]
            else:
                miss("acs", host_adds)
    else:
        if c.get("mac_pj") is not None:
            out["MACs"] = g("macs") * c["mac_pj"]
        else:
            miss("macs", g("macs"))
        if c.get("ac_pj") is not None:
            out["ACs (synaptic ops)"] = g("synops") * c["ac_pj"]
            if g("acs"):
                out["ACs (other additions)"] = g("acs") * c["ac_pj"]
        else:
            miss("synops", g("synops"))
            miss("acs", g("acs"))
    upd, act = g("neuron_updates"), g("active_updates")
    if c.get("neuron_update_active_pj") is not None:
        out["neuron updates (active)"] = act * c["neuron_update_active_pj"]
        out["neuron updates (inactive)"] = (upd - act) * c.get("neuron_update_inactive_pj",
                                                               c["neuron_update_active_pj"])
    elif c.get("neuron_update_pj") is not None:
        out["neuron updates"] = upd * c["neuron_update_pj"]
    if c.get("spike_pj") is not None:
        out["spikes (within tile)" if c.get("synop_pj") is not None else "spikes"] = g("spikes") * c["spike_pj"]
    if c.get("activation_pj") is not None:
        out["activations"] = g("activations") * c["activation_pj"]
    for key, label in (("weight_read", "weight reads"), ("bias_read", "bias reads"), ("state_read", "state reads"),
                       ("state_write", "state writes")):
        if c.get(f"{key}_pj_per_byte") is not None:
            out[label] = g(f"{key}_bytes") * c[f"{key}_pj_per_byte"]
    return out


TRACE_SOURCES = ("torch", "simulate", "lava")  # OpsReport.source of the backends that count the Lava mapping


def energy(counts: Any, model: Union[str, Mapping[str, Any]] = "loihi") -> EnergyReport:
    """Estimate energy from an operation count report (``count_ops``/``count_lava``) or its ``to_dict()``.

    ``model``: a name in :data:`ENERGY_MODELS` (``"loihi"``, ``"horowitz45"``, ``"horowitz45-int8"``
    and any registered with :func:`register_energy_model`) or a dict of costs (keys of
    :data:`COST_KEYS` plus ``source``, checked as :func:`register_energy_model` checks them). Energy = sum over layers of counts x per-op energy; the
    report gives the total for the run, per sample (``per_sample_j``), per layer and per time step.
    """
    if isinstance(model, str):
        if model not in ENERGY_MODELS:
            raise ValueError(f"energy: model must be one of {sorted(ENERGY_MODELS)}, got {model!r}")
        name, c = model, ENERGY_MODELS[model]
    elif isinstance(model, Mapping):
        name, c = str(model.get("name", "custom")), {**model, **_checked_costs(model, "energy", _INLINE_EXTRA)}
    else:
        raise TypeError(f"energy: model must be a name ({sorted(ENERGY_MODELS)}) or a dict of costs, "
                        f"got {type(model).__name__}")
    d = counts.to_dict() if hasattr(counts, "to_dict") else counts
    if not isinstance(d, Mapping) or "layers" not in d:
        raise TypeError("energy: counts must be an OpsReport (from count_ops / count_lava) or its to_dict()")
    T = int(d.get("T", 0) or 0)
    per: Dict[str, float] = {}
    per_br: Dict[str, Dict[str, float]] = {}
    br: Dict[str, float] = {}
    per_step = [0.0] * T
    unpriced: Dict[str, int] = {}
    unpriced_layers: List[str] = []
    notes: List[str] = []

    def add(key: str, val: float) -> None:
        br[key] = br.get(key, 0.0) + val

    for lname, L in d["layers"].items():
        kind = L.get("kind", "stage")
        before = dict(unpriced)
        parts = _layer_energy(L, kind, c, unpriced)
        if unpriced != before:
            unpriced_layers.append(lname)
        parts_j = {k: v * PJ for k, v in parts.items()}
        for k, v in parts_j.items():
            add(k, v)
        per[lname] = float(sum(parts_j.values()))
        per_br[lname] = {k: v for k, v in parts_j.items() if v}
        steps = L.get("per_step") or {}
        if T and steps:
            for t in range(T):
                st = {k: (v[t] if t < len(v) else 0) for k, v in steps.items()}
                st["folded_into"] = L.get("folded_into", "")
                per_step[t] += sum(_layer_energy(st, kind, c, {}).values()) * PJ
    extra = d.get("overhead", {}) or {}
    event_driven = c.get("synop_pj") is not None
    if extra.get("bias_synops"):
        cost = c["synop_pj"] if event_driven else c.get("ac_pj", 0.0)
        over = {"bias-current synaptic ops": extra["bias_synops"] * cost * PJ}
        if event_driven:
            over["bias neuron"] = (extra.get("bias_neuron_updates", 0) * c.get("neuron_update_active_pj", 0.0) * PJ
                                   + extra.get("bias_neuron_spikes", 0) * c.get("spike_pj", 0.0) * PJ)
        for k, v in over.items():
            add(k, v)
            for t in range(T):  # the always-on bias neuron does the same work at every step
                per_step[t] += v / T
    if name == "loihi":
        notes.append("tile-hop routing energy (3.0-4.0 pJ per hop) depends on placement and is not included")
        notes.append("active update = a neuron that received synaptic input that step or has a bias")
    folded = {n: L["folded_into"] for n, L in d["layers"].items() if L.get("folded_into")}
    if event_driven and folded:
        notes.append("pooling folded into the next layer's weights, as the Lava export maps it (its nonzero inputs "
                     "are that layer's events; the pool has no cost of its own): "
                     + ", ".join(f"{k} -> {v}" for k, v in folded.items()))
    if event_driven and any(br.get(k) for k in ("host MACs (not native)", "host additions (not native)")):
        hosts = [n for n, b in per_br.items() if any(k.startswith("host") and v for k, v in b.items())]
        notes.append(f"operations with no neuromorphic mapping priced as host FP32 work: {', '.join(hosts)}")
    if not event_driven and d.get("source") in TRACE_SOURCES:
        notes.append(f"counts from the {d.get('source')} backend describe the Loihi mapping (pools folded into "
                     "composed connections, macs = nonzero real-valued inputs x fan-out), not what a conventional "
                     "chip computes: for this model count with count_ops(..., backend='hooks') (snnkit energy)")
    if not event_driven and c.get("neuron_update_pj") is None and c.get("neuron_update_active_pj") is None:
        notes.append("Spikformer-style estimate E = E_MAC*MACs + E_AC*ACs: neuron updates, activations and memory "
                     "traffic are not included")
    if unpriced:
        notes.append(f"counts this model has no cost for (left out): {unpriced} in layers {', '.join(unpriced_layers)}")
    for u in d.get("unknown", []) or []:
        notes.append(f"NOT COUNTED (no counting rule): {u.get('name')} ({u.get('module')})")
    return EnergyReport(model=name, total_j=float(sum(br.values())), per_layer_j=per, breakdown_j=br,
                        source=str(c.get("source", "")), notes=notes, samples=int(d.get("B", 0) or 0),
                        time_steps=T, per_step_j=per_step, per_layer_breakdown_j=per_br, unpriced=unpriced,
                        costs={k: v for k, v in c.items() if k != "source"})


# --------------------------------------------------------------------------- SNN vs ANN


def _neuron_types() -> Tuple[type, ...]:
    from snnkit.neurons import _Neuron

    return (_Neuron,)


def _is_neuron(mod: nn.Module) -> bool:
    return isinstance(mod, _neuron_types()) or "BaseNode" in {k.__name__ for k in type(mod).__mro__}


def ann_counterpart(model: nn.Module, *, time_steps: Optional[int] = None,
                    activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Module:
    """The same network with ``activation()`` (ReLU) in place of every spiking neuron, in eval mode.

    Weights are copied (the result has the SNN's weights; it is not a trained ANN). For a
    TCJA-SNN, ``time_steps`` rebuilds it for another number of steps - ``time_steps=1`` is the
    usual ANN baseline that sees the accumulated frame once (the TCJA blocks are resized; their
    temporal weights are kept where the shapes allow). Other models keep their time axis.
    """
    try:
        from snnkit.models.tcja_snn import TCJASNN
    except ImportError:  # pragma: no cover
        TCJASNN = ()  # type: ignore[assignment]
    if not isinstance(model, nn.Module):
        raise TypeError(f"ann_counterpart: model must be a torch.nn.Module, got {type(model).__name__}")
    if time_steps is not None and (not is_int(time_steps) or time_steps < 1):
        raise ValueError(f"ann_counterpart: time_steps must be a positive int or None, got {time_steps!r}")
    if isinstance(model, TCJASNN) and time_steps is not None and time_steps != model.config.T:
        import dataclasses

        with torch.random.fork_rng(devices=[]):  # blocks resized for the new T get a reproducible init
            torch.manual_seed(0)
            ann = TCJASNN(dataclasses.replace(model.config, T=time_steps))
        own = ann.state_dict()
        ann.load_state_dict({k: v for k, v in model.state_dict().items() if k in own and own[k].shape == v.shape},
                            strict=False)
    elif time_steps is not None and not isinstance(model, TCJASNN):
        raise ValueError("ann_counterpart: time_steps applies to TCJA-SNN networks only; other models keep their "
                         "time axis (feed the ANN x[1, B, ...] yourself for a single pass)")
    else:
        ann = copy.deepcopy(model)
    n = 0
    for parent in list(ann.modules()):
        for cname, child in list(parent.named_children()):
            if _is_neuron(child):
                setattr(parent, cname, activation())
                n += 1
    if n == 0:
        raise ValueError("ann_counterpart: the model has no spiking neurons to replace")
    return ann.eval()


def _density(rep: Any) -> Optional[float]:
    """Fraction of nonzero outputs over the activation (ReLU ...) layers; None without any."""
    acts = [L for L in rep.layers.values() if L.kind == "activation"]
    n = sum(L.activations for L in acts)
    return sum(L.nonzero for L in acts) / n if n else None


@dataclass
class SnnAnnComparison:
    """Operations and energy of an SNN and its ANN counterpart, per sample (one inference)."""

    snn: Any  # OpsReport
    ann: Any  # OpsReport
    energy: Dict[str, Dict[str, EnergyReport]]
    notes: List[str] = field(default_factory=list)

    def _ops(self, rep: Any) -> Dict[str, float]:
        t = rep.totals
        B = max(rep.B, 1)
        return {"macs": t["macs"] / B, "acs": (t["synops"] + t["acs"]) / B, "synops": t["synops"] / B,
                "other_adds": t["acs"] / B, "ops": t["ops"] / B, "spikes": t["spikes"] / B,
                "neuron_updates": t["neuron_updates"] / B, "activations": t["activations"] / B,
                "firing_rate": t["firing_rate"],
                "activation_density": _density(rep),
                "time_steps": rep.T, "samples": rep.B,
                "weight_read_bytes": t["weight_read_bytes"] / B,
                "state_bytes": (t["state_read_bytes"] + t["state_write_bytes"]) / B}

    def to_dict(self) -> Dict[str, Any]:
        snn, ann = self._ops(self.snn), self._ops(self.ann)
        en: Dict[str, Any] = {}
        for m, pair in self.energy.items():
            s, a = pair["snn"].per_sample_j, pair["ann"].per_sample_j
            en[m] = {"snn_j_per_sample": s, "ann_j_per_sample": a, "ann_over_snn": a / s if s else None,
                     "snn_breakdown_j_per_sample": {k: v / max(pair["snn"].samples, 1)
                                                    for k, v in pair["snn"].breakdown_j.items()},
                     "ann_breakdown_j_per_sample": {k: v / max(pair["ann"].samples, 1)
                                                    for k, v in pair["ann"].breakdown_j.items()}}
        layers = []
        names = list(dict.fromkeys(list(self.snn.layers) + list(self.ann.layers)))
        first = next(iter(self.energy.values()), None)
        for n in names:
            ls, la = self.snn.layers.get(n), self.ann.layers.get(n)
            row: Dict[str, Any] = {"layer": n, "snn_kind": ls.kind if ls else None, "ann_kind": la.kind if la else None}
            for tag, L, rep in (("snn", ls, self.snn), ("ann", la, self.ann)):
                B = max(rep.B, 1)
                row[f"{tag}_ops"] = (L.synops + L.macs + L.acs) / B if L else None
                row[f"{tag}_macs"] = L.macs / B if L else None
                row[f"{tag}_acs"] = (L.synops + L.acs) / B if L else None
                if first is not None:
                    row[f"{tag}_j"] = first[tag].per_layer_j.get(n, 0.0) / max(first[tag].samples, 1) if L else None
            layers.append(row)
        ratio = {"ops": ann["ops"] / snn["ops"] if snn["ops"] else None,
                 "macs": ann["macs"] / snn["macs"] if snn["macs"] else None}
        return {"snn": snn, "ann": ann, "ratio_ann_over_snn": ratio, "energy": en, "layers": layers,
                "energy_model_of_layers": next(iter(self.energy), None), "notes": list(self.notes)}

    def __str__(self) -> str:
        d = self.to_dict()
        s, a = d["snn"], d["ann"]
        rows = ["SNN vs ANN, per sample:",
                f"  {'':14} {'SNN':>14} {'ANN':>14}",
                f"  {'MACs':14} {s['macs']:>14.4g} {a['macs']:>14.4g}",
                f"  {'ACs':14} {s['acs']:>14.4g} {a['acs']:>14.4g}",
                f"  {'ops':14} {s['ops']:>14.4g} {a['ops']:>14.4g}",
                f"  {'time steps':14} {s['time_steps']:>14} {a['time_steps']:>14}"]
        for m, e in d["energy"].items():
            ratio = e["ann_over_snn"]
            rows.append(f"  {'E ' + m:14} {e['snn_j_per_sample'] * 1e6:>11.4f} uJ {e['ann_j_per_sample'] * 1e6:>11.4f} uJ"
                        + (f"  (ANN/SNN = {ratio:.3g})" if ratio else ""))
        rows += [f"  note: {n}" for n in self.notes]
        return "\n".join(rows)


def _ann_inputs(inputs_snn: Any, collapse: bool) -> Any:
    """The ANN's inputs: the SNN's, averaged over time to one step when ``collapse``."""
    def one(x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        return x.float().mean(0, keepdim=True) if collapse and x.shape[0] != 1 else x

    if isinstance(inputs_snn, torch.Tensor):
        return one(inputs_snn)

    class _Mapped:
        def __iter__(self) -> Iterable[torch.Tensor]:
            for item in inputs_snn:
                yield one(item[0] if isinstance(item, (tuple, list)) else item)

    return _Mapped()


def _has_fixed_T_block(model: nn.Module) -> bool:
    from snnkit.attention.tcja import TCJA

    return any(isinstance(m, TCJA) and m.T != 1 for m in model.modules())


def compare_snn_ann(snn_model: nn.Module, ann_model: Optional[nn.Module] = None, inputs_snn: Any = None,
                    inputs_ann: Any = None, *, energy_models: Sequence[str] = ("horowitz45",),
                    ann_time_steps: Optional[int] = 1, ann_event_inputs: str = "none",
                    **count_kwargs: Any) -> SnnAnnComparison:
    """Count operations and energy of an SNN and an ANN side by side (per sample).

    ``ann_model=None`` builds :func:`ann_counterpart` (ReLU instead of spiking neurons; a
    TCJA-SNN is rebuilt for ``ann_time_steps`` steps). With ``ann_time_steps=1`` (default) the
    ANN makes one pass per sample: ``inputs_ann=None`` then becomes the SNN's input averaged over
    time (for a static image repeated T times, the image itself); ``ann_time_steps=None`` keeps
    the SNN's time axis (the ANN runs once per frame). Both models are counted with
    ``count_ops(..., backend="hooks", **count_kwargs)`` and priced with every model in
    ``energy_models`` (event-driven prices such as Loihi's make sense for the SNN only); the ANN
    with ``event_inputs=ann_event_inputs`` (default ``"none"``: every layer dense, as an ANN
    accelerator runs it - binary inputs to an ANN layer still cost MACs).
    """
    from snnkit.models.tcja_snn import TCJASNN

    from .counters import count_module_ops

    if inputs_snn is None:
        raise ValueError("compare_snn_ann: inputs_snn is required (time-major [T, B, ...] or an iterable of batches)")
    if not isinstance(inputs_snn, torch.Tensor) and iter(inputs_snn) is inputs_snn:
        raise ValueError("compare_snn_ann: inputs_snn is a one-shot iterator; pass a tensor, a list or a DataLoader")
    if ann_time_steps not in (None, 1):
        raise ValueError(f"compare_snn_ann: ann_time_steps must be 1 (one pass) or None (the SNN's T), "
                         f"got {ann_time_steps!r}")
    for m in energy_models:
        if m not in ENERGY_MODELS:
            raise ValueError(f"compare_snn_ann: energy model must be one of {sorted(ENERGY_MODELS)}, got {m!r}")
    notes: List[str] = []
    if ann_model is None:
        steps = ann_time_steps if isinstance(snn_model, TCJASNN) else None
        ann_model = ann_counterpart(snn_model, time_steps=steps)
        notes.append("ANN = the same network and weights with ReLU instead of spiking neurons (ann_counterpart)")
    collapse = ann_time_steps == 1 and not _has_fixed_T_block(ann_model)
    if ann_time_steps == 1 and not collapse:
        notes.append("the ANN keeps the SNN's time axis (it has a TCJA block sized for T > 1)")
    if inputs_ann is None:
        inputs_ann = _ann_inputs(inputs_snn, collapse)
        if collapse:
            notes.append("the ANN sees the SNN's input averaged over time, in one pass per sample")
    snn = count_module_ops(snn_model, inputs_snn, **count_kwargs)
    ann_kwargs = dict(count_kwargs, event_inputs=ann_event_inputs)
    ann = count_module_ops(ann_model, inputs_ann, **ann_kwargs)
    en = {m: {"snn": energy(snn, m), "ann": energy(ann, m)} for m in energy_models}
    if any(ENERGY_MODELS[m].get("synop_pj") is not None for m in energy_models):
        notes.append("event-driven (neuromorphic) prices are meaningful for the SNN only")
    return SnnAnnComparison(snn=snn, ann=ann, energy=en, notes=notes)
