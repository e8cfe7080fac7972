"""Energy models: per-operation costs with their sources, and ``energy(counts, model=...)``.

Every constant below is a published per-operation energy; none is measured here. Loihi 2 has
no published per-operation figures, so ``"loihi"`` uses Loihi 1's pre-silicon table.

* ``loihi`` - Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning",
  IEEE Micro 38(1), 2018, Table 1 (pre-silicon, 14 nm): synaptic spike operation 23.6 pJ, neuron
  update 81 pJ (active) / 52 pJ (inactive), within-tile spike energy 1.7 pJ, tile hop energy
  3.0-4.0 pJ (placement dependent: not counted, see ``tile_hop_pj`` to add it yourself).
* ``horowitz45`` - M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, 45 nm: FP32 multiply-accumulate 4.6 pJ (mult 3.7 + add 0.9), FP32 add 0.9 pJ,
  INT8 add 0.03 pJ, INT8 multiply 0.2 pJ, INT32 add 0.1 pJ. Used the Spikformer way:
  ``E = E_MAC * MACs(first layer, real-valued input) + E_AC * synaptic operations``.
* ``horowitz45-int8`` - the same with INT8 multiply + INT32 accumulate for MACs and INT32 adds
  for synaptic operations (an 8-bit accelerator baseline).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

__all__ = ["ENERGY_MODELS", "energy", "EnergyReport"]

PJ = 1e-12

ENERGY_MODELS: Dict[str, Dict[str, Any]] = {
    "loihi": {
        "synop_pj": 23.6,
        "neuron_update_active_pj": 81.0,
        "neuron_update_inactive_pj": 52.0,
        "spike_pj": 1.7,  # within-tile spike energy
        "tile_hop_pj": (3.0, 4.0),  # per hop; hops depend on placement, not counted
        "source": "Davies et al., IEEE Micro 38(1):82-99, 2018, Table 1 (Loihi, pre-silicon)",
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


@dataclass
class EnergyReport:
    model: str
    total_j: float
    per_layer_j: Dict[str, float]
    breakdown_j: Dict[str, float]
    source: str
    notes: list = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"model": self.model, "total_j": self.total_j, "per_layer_j": dict(self.per_layer_j),
                "breakdown_j": dict(self.breakdown_j), "source": self.source, "notes": list(self.notes)}

    def __str__(self) -> str:
        rows = [f"energy ({self.model}): {self.total_j * 1e6:.4f} uJ  [{self.source}]"]
        for k, v in self.breakdown_j.items():
            rows.append(f"  {k:28} {v * 1e6:.4f} uJ")
        return "\n".join(rows)


def energy(counts: Any, model: str = "loihi") -> EnergyReport:
    """Estimate energy from an operation count report (``count_ops``/``count_lava``) or its ``to_dict()``.

    ``model``: ``"loihi"``, ``"horowitz45"`` or ``"horowitz45-int8"`` (see :data:`ENERGY_MODELS`).
    """
    if model not in ENERGY_MODELS:
        raise ValueError(f"energy: model must be one of {sorted(ENERGY_MODELS)}, got {model!r}")
    d = counts.to_dict() if hasattr(counts, "to_dict") else counts
    if not isinstance(d, Mapping) or "layers" not in d:
        raise TypeError("energy: counts must be an OpsReport (from count_ops / count_lava) or its to_dict()")
    c = ENERGY_MODELS[model]
    per: Dict[str, float] = {}
    br: Dict[str, float] = {}
    notes = []

    def add(key: str, val: float) -> None:
        br[key] = br.get(key, 0.0) + val

    for name, L in d["layers"].items():
        if model == "loihi":
            e_syn = (L["synops"] + L.get("graded_synops", 0)) * c["synop_pj"] * PJ
            e_act = L["active_updates"] * c["neuron_update_active_pj"] * PJ
            e_ina = (L["neuron_updates"] - L["active_updates"]) * c["neuron_update_inactive_pj"] * PJ
            e_spk = L["spikes"] * c["spike_pj"] * PJ
            add("synaptic ops", e_syn)
            add("neuron updates (active)", e_act)
            add("neuron updates (inactive)", e_ina)
            add("spikes (within tile)", e_spk)
            per[name] = e_syn + e_act + e_ina + e_spk
        else:
            e_mac = L.get("macs", 0) * c["mac_pj"] * PJ
            e_ac = L["synops"] * c["ac_pj"] * PJ
            add("MACs", e_mac)
            add("ACs (synaptic ops)", e_ac)
            per[name] = e_mac + e_ac
    extra = d.get("overhead", {})
    if extra.get("bias_synops"):
        e = extra["bias_synops"] * (c["synop_pj"] if model == "loihi" else c["ac_pj"]) * PJ
        add("bias-current synaptic ops", e)
        if model == "loihi":
            add("bias neuron", extra.get("bias_neuron_updates", 0) * c["neuron_update_active_pj"] * PJ
                + extra.get("bias_neuron_spikes", 0) * c["spike_pj"] * PJ)
    if model == "loihi":
        notes.append("tile-hop routing energy (3.0-4.0 pJ per hop) depends on placement and is not included")
        notes.append("active update = a neuron that received synaptic input that step or has a bias")
    return EnergyReport(model=model, total_j=float(sum(br.values())), per_layer_j=per, breakdown_j=br,
                        source=c["source"], notes=notes)
