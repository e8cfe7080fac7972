"""Operation counts and energy per token of language models (SpikeGPT, RWKV) on real token streams.

:func:`count_lm_ops` runs ``model(tokens[B, L]) -> logits`` once under
``count_ops(..., backend="hooks")`` (the counter sees one "time step" of ``B`` sequences of ``L``
tokens; everything is divided by ``B * L`` to give counts per token) and adds what the generic
hooks cannot see in SpikeGPT: the spikes of its token-axis LIF layers (``TokenLIF``) and of the
binary embedding, their neuron updates, and one addition per spike into the residual stream
(``x + s``, the only place SpikeGPT's spikes go: every Linear of SpikeGPT reads a LayerNorm
output, i.e. real values, so its synaptic operations are dense MACs, exactly as in RWKV).

Modules still not counted (``Embedding`` lookups, ``LayerNorm``, the WKV recurrence and the
element-wise token shift / sigmoid / gating inside ``SRWKV``/``SRFFN``/``TimeMix``/``ChannelMix``)
are listed in ``result["unknown"]`` and ``result["not_counted"]``, never counted as zero silently.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
import torch.nn as nn

from .counters import count_ops
from .energy import energy

__all__ = ["count_lm_ops", "SPIKING_MODULES"]

#: SpikeGPT modules that emit spikes, counted here (the hooks counter has no rule for them)
SPIKING_MODULES = ("TokenLIF", "BinaryEmbedding")


class _TokensAsTime(nn.Module):
    """``x[1, B, L]`` (float token ids, the counter's time-major input) -> ``model(tokens[B, L])[None]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x[0].long())[None]


def count_lm_ops(model: nn.Module, tokens: torch.Tensor, *, event_inputs: str = "binary",
                 energy_models: Sequence[str] = ("horowitz45", "loihi")) -> Dict[str, Any]:
    """Per-token operation counts, spike rates per layer and energy of ``model`` on ``tokens[B, L]``.

    ``event_inputs`` goes to the hooks counter (``"none"`` for a dense ANN such as RWKV). Returns
    plain data: ``per_token`` totals (macs, synops, acs, spikes, neuron_updates), ``layers`` (per
    module: kind, input, macs/synops/acs/spikes per token, firing_rate), ``spike_layers`` (per
    spiking module: spikes per token, firing rate), ``energy_per_token_j`` per energy model,
    ``unknown`` (modules with no counting rule) and ``notes``.
    """
    if tokens.ndim != 2:
        raise ValueError(f"count_lm_ops: tokens must be [B, L], got shape {tuple(tokens.shape)}")
    B, L = (int(s) for s in tokens.shape)
    n_tok = B * L
    spikes: Dict[str, Dict[str, float]] = {}
    handles: List[Any] = []

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, out: Any) -> None:
            s = out[0] if isinstance(out, tuple) else out
            if not torch.is_tensor(s) or not bool(((s == 0) | (s == 1)).all()):
                return  # e.g. BinaryEmbedding with binary=False: real values, not spikes
            e = spikes.setdefault(name, {"module": type(mod).__name__, "spikes": 0.0, "neuron_updates": 0.0,
                                         "neurons": int(s.shape[-1])})
            e["spikes"] += float(s.sum())
            e["neuron_updates"] += float(s.numel())
        return fn

    for name, mod in model.named_modules():
        if type(mod).__name__ in SPIKING_MODULES:
            handles.append(mod.register_forward_hook(hook(name)))
    try:
        rep = count_ops(_TokensAsTime(model), tokens.detach().cpu().float()[None].to(
            next(model.parameters()).device), backend="hooks", event_inputs=event_inputs, keep_output=False)
    finally:
        for h in handles:
            h.remove()
    d = rep.to_dict()
    # the spiking modules become counted "neuron" layers: updates, spikes, one residual addition per spike
    counted_spiking = set()
    for name, e in spikes.items():
        key = f"model.{name}"
        counted_spiking.add(key)
        upd = int(e["neuron_updates"])
        n_sp = int(e["spikes"])
        is_lif = e["module"] == "TokenLIF"
        d["layers"][key] = {"kind": "neuron", "module": e["module"], "neurons": e["neurons"], "synapses": 0,
                            "spikes": n_sp, "nonzero": n_sp, "synops": 0, "macs": 0, "graded_synops": 0,
                            "acs": n_sp if is_lif else 0, "neuron_updates": upd if is_lif else 0,
                            "active_updates": upd if is_lif else 0, "firing_rate": n_sp / max(upd, 1),
                            "input": "real", "per_step": {},
                            "note": "counted by lm_energy: spikes, neuron updates, 1 residual add per spike"
                                    if is_lif else "counted by lm_energy: binary embedding spikes (a lookup)"}
    d["unknown"] = [u for u in d.get("unknown", []) if u.get("name") not in counted_spiking]
    tot = {k: sum(int(L.get(k, 0) or 0) for L in d["layers"].values())
           for k in ("macs", "synops", "graded_synops", "acs", "spikes", "neuron_updates")}
    layers = {}
    for k, L in d["layers"].items():
        layers[k.replace("model.", "", 1)] = {
            "kind": L.get("kind"), "module": L.get("module"), "input": L.get("input"),
            **{f"{c}_per_token": (L.get(c, 0) or 0) / n_tok for c in ("macs", "synops", "acs", "spikes")},
            "firing_rate": L.get("firing_rate", 0.0)}
    spike_layers = {k.replace("model.", "", 1): {"module": d["layers"][k]["module"],
                                                 "spikes_per_token": d["layers"][k]["spikes"] / n_tok,
                                                 "firing_rate": d["layers"][k]["firing_rate"]}
                    for k in sorted(counted_spiking)}
    en = {m: energy(d, m) for m in energy_models}
    unknown = [{"name": u["name"].replace("model.", "", 1), "module": u.get("module"), "reason": u.get("reason")}
               for u in d["unknown"]]
    notes = list(d.get("notes", []))
    own = sorted({type(m).__name__ for m in model.modules()
                  if any(True for _ in m.children()) and not isinstance(m, (nn.ModuleList, nn.Sequential))
                  and type(m).__name__ not in SPIKING_MODULES})
    not_counted = sorted({str(u["module"]) for u in unknown}) + [
        f"own tensor ops of {', '.join(own)} (WKV recurrence, token shift, sigmoid/gating, squared ReLU, residual "
        "adds of real values)"]
    return {"tokens": n_tok, "batch": B, "length": L, "per_token": {k: v / n_tok for k, v in tot.items()},
            "layers": layers, "spike_layers": spike_layers,
            "energy_per_token_j": {m: r.total_j / n_tok for m, r in en.items()},
            "energy_notes": {m: list(r.notes) for m, r in en.items()},
            "unknown": unknown, "not_counted": not_counted, "notes": notes}
