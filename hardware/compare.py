"""Run a model in PyTorch and in Lava on the same inputs and report where they agree.

``compare(model, inputs)`` traces the model, runs a float64 copy of it in PyTorch (hooks record
every neuron layer's spikes), runs the Lava network (``floating_pt`` or ``fixed_pt``) on the same
``inputs[T, B, ...]`` and compares spike by spike.

Layers that are not native to Loihi (TCJA, run as custom host processes) are listed under
``non_native`` with ``native: False`` and the largest difference of their graded outputs
between PyTorch and Lava; ``native`` maps every layer name to its flag.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from snnkit.base import set_step_mode as snnkit_set_step_mode

from .graph import trace

__all__ = ["compare", "CompareReport", "torch_spikes", "model_copy"]


@dataclass
class CompareReport:
    """Agreement between PyTorch and Lava. ``to_dict()`` is plain JSON-able data."""

    mode: str
    T: int
    B: int
    spike_agreement: float
    per_layer: Dict[str, float]
    first_divergence: Optional[Dict[str, Any]]
    class_agreement: Optional[float]
    spike_counts: Dict[str, Dict[str, int]]
    accuracy: Optional[Dict[str, float]] = None
    lava_wall_s: float = 0.0
    torch_wall_s: float = 0.0
    quantization: Optional[Dict[str, Any]] = None
    notes: List[str] = field(default_factory=list)
    native: Dict[str, bool] = field(default_factory=dict)
    non_native: List[Dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "mode": self.mode, "T": self.T, "B": self.B,
            "spike_agreement": self.spike_agreement,
            "per_layer": dict(self.per_layer),
            "first_divergence": self.first_divergence,
            "class_agreement": self.class_agreement,
            "accuracy": self.accuracy,
            "spike_counts": self.spike_counts,
            "lava_wall_s": self.lava_wall_s,
            "torch_wall_s": self.torch_wall_s,
            "quantization": self.quantization,
            "native": dict(self.native),
            "non_native": [dict(d) for d in self.non_native],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        rows = [f"PyTorch vs Lava ({self.mode}), T={self.T}, B={self.B}: spike agreement {self.spike_agreement:.4%}"]
        rows.append(f"  {'layer':24} {'agreement':>10} {'torch':>8} {'lava':>8}")
        for name, a in self.per_layer.items():
            c = self.spike_counts[name]
            rows.append(f"  {name[:24]:24} {a:>10.4%} {c['torch']:>8} {c['lava']:>8}")
        rows.append(f"  first divergence: {self.first_divergence}")
        if self.class_agreement is not None:
            rows.append(f"  class agreement: {self.class_agreement:.4%}")
        if self.accuracy:
            rows.append(f"  accuracy: torch {self.accuracy['torch']:.4f}, lava {self.accuracy['lava']:.4f}")
        for d in self.non_native:
            rows.append(f"  {d['name'][:24]:24} NOT NATIVE ({d['kind']}, host process): graded output max |torch - lava| "
                        f"= {d.get('max_abs_diff', float('nan')):.3g}")
        for n in self.notes:
            rows.append(f"  note: {n}")
        return "\n".join(rows)


def torch_spikes(model: nn.Module, inputs: torch.Tensor, names: Sequence[str]) -> Dict[str, Any]:
    """Run ``model`` on ``inputs[T, B, ...]`` (after ``snnkit.reset``) and record the listed neuron modules' outputs."""
    import snnkit

    rec: Dict[str, torch.Tensor] = {}
    hooks = []
    for name in names:
        mod = model.get_submodule(name)
        hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: rec.__setitem__(name, o.detach())))
    try:
        snnkit.reset(model)
        with torch.no_grad():
            out = model(inputs)
    finally:
        for h in hooks:
            h.remove()
        snnkit.reset(model)
    return {"spikes": {k: rec[k].cpu().numpy().astype(np.float64) for k in names}, "output": out}


def model_copy(model: nn.Module, dtype: Optional[torch.dtype] = None) -> nn.Module:
    """A deep copy of ``model`` in eval mode (optionally cast), without copying neuron state.

    Neuron state left over from training holds autograd history, which ``copy.deepcopy`` refuses;
    the state is detached from the original for the copy and put back afterwards.
    """
    from snnkit.base import StatefulModule

    saved = []
    for m in model.modules():
        if isinstance(m, StatefulModule):
            state = {k: v for k, v in vars(m).items() if isinstance(v, torch.Tensor)}
            saved.append((m, state))
            for k in state:
                setattr(m, k, None)
    try:
        ref = copy.deepcopy(model)
    finally:
        for m, state in saved:
            for k, v in state.items():
                setattr(m, k, v)
    ref.eval()
    return ref.to(dtype) if dtype is not None else ref


def class_scores(out: Any) -> torch.Tensor:
    """The readout summed over time steps, one row of class scores per sample (``[T, B, C...]`` or ``[B, C...]``)."""
    o = torch.as_tensor(out).detach().double()
    if o.ndim >= 3:
        o = o.sum(0)
    return o.reshape(o.shape[0], -1)


def predict(out: Any) -> torch.Tensor:
    """The predicted classes, as snnkit evaluate and training count them (the first class on a tie)."""
    from snnkit.train.trainer import predicted_class

    return predicted_class(class_scores(out))


def _predict(out: Any) -> Optional[np.ndarray]:
    if not isinstance(out, torch.Tensor) or out.ndim < 2:
        return None
    return predict(out).cpu().numpy()


def compare(
    model: nn.Module,
    inputs: Any,
    *,
    mode: str = "floating_pt",
    labels: Any = None,
    input_shape: Optional[Sequence[int]] = None,
    torch_dtype: torch.dtype = torch.float64,
    bias: str = "auto",
    conv: str = "native",
    calibration: Any = None,
    **quant_kwargs: Any,
) -> CompareReport:
    """Run ``model`` in PyTorch and in Lava on ``inputs[T, B, *input_shape]``; compare spikes and classes.

    The PyTorch run uses a deep copy of the model in eval mode cast to ``torch_dtype`` (float64 by
    default, Lava's float precision). ``class_agreement`` compares the predicted classes (the output summed
    over time, the first class on a tie: :func:`snnkit.train.evaluate.predicted_class`); with ``labels[B]`` both accuracies are reported too. ``mode="fixed_pt"`` quantizes
    (``quant_kwargs`` go to :func:`snnkit.hardware.quantize.quantize_plan`; ``calibration``
    defaults to ``inputs``).
    """
    import time

    from .lava import _as_input, to_lava

    if not isinstance(model, nn.Module):
        raise TypeError(f"compare: model must be a torch.nn.Module, got {type(model).__name__}")
    x_t = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if input_shape is None:
        if x_t.ndim < 3:
            raise ValueError(f"compare: inputs must be time-major [T, B, ...], got shape {tuple(x_t.shape)}")
        input_shape = tuple(x_t.shape[2:])
    x_np = _as_input(x_t, tuple(input_shape), "compare")
    T, B = x_np.shape[:2]
    graph = trace(model, input_shape)
    names = [n.name for n in graph.neurons()]
    host_names = [layer.name for layer in graph.non_native()]
    ref = model_copy(model, torch_dtype)
    snnkit_set_step_mode(ref, "m")
    t0 = time.perf_counter()
    tr = torch_spikes(ref, torch.as_tensor(x_np, dtype=torch_dtype), names + host_names)
    t_torch = time.perf_counter() - t0
    if mode == "fixed_pt" and calibration is None:
        calibration = x_np
    net = to_lava(graph, mode=mode, bias=bias, conv=conv,
                  **({"calibration": calibration} if mode == "fixed_pt" else {}), **quant_kwargs)
    res = net.run(x_np)
    per_layer, counts = {}, {}
    eq_total, n_total = 0, 0
    first = None
    for li, name in enumerate(names):
        a, b = tr["spikes"][name], res.spikes[name]
        if a.shape != b.shape:
            raise RuntimeError(f"compare: layer {name!r} has shape {a.shape} in PyTorch but {b.shape} in Lava")
        eq = a == b
        per_layer[name] = float(eq.mean())
        eq_total += int(eq.sum())
        n_total += eq.size
        counts[name] = {"torch": int(a.sum()), "lava": int(b.sum())}
    # earliest time step with a mismatch; among layers at that step, the first (the root cause)
    for t in range(T):
        for li, name in enumerate(names):
            a, b = tr["spikes"][name][t], res.spikes[name][t]
            diff = a != b
            if diff.any():
                samples = np.nonzero(diff.reshape(B, -1).any(1))[0]
                first = {"time_step": t, "layer": name, "layer_index": li, "samples": samples.tolist(),
                         "mismatches": int(diff.sum()), "torch_spikes": int(a[diff].sum()),
                         "lava_spikes": int(b[diff].sum())}
                break
        if first is not None:
            break
    p_t, p_l = _predict(tr["output"]), _predict(res.output)
    class_agreement = None if p_t is None or p_l is None else float(np.mean(p_t == p_l))
    accuracy = None
    if labels is not None:
        y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
        if y.shape[0] != B:
            raise ValueError(f"compare: labels must have one entry per sample (B={B}), got {y.shape[0]}")
        if p_t is not None and p_l is not None:
            accuracy = {"torch": float(np.mean(p_t == y)), "lava": float(np.mean(p_l == y))}
    notes = []
    srcs = {n.source for n in graph.neurons()}
    if srcs & {"LIF", "PLIF", "IF"} and mode == "fixed_pt":
        notes.append("snnkit IF/LIF/PLIF fire on v >= threshold; in fixed point their Lava threshold is one integer "
                     "unit lower so that exact ties fire")
    if mode == "floating_pt" and conv == "native" and any(s.conn == "conv" for s in net.plan.stages):
        notes.append("Lava's float Conv computes in float32; use conv='sparse' for float64 convolutions")
    q = net.quant_report.to_dict() if (mode == "fixed_pt" and net.quant_report is not None) else None
    non_native = []
    for op in net.plan.host_ops:
        d = op.to_dict()
        a, b = tr["spikes"][op.name], (res.host_outputs or {}).get(op.name)
        if b is not None and a.shape == b.shape:
            d["max_abs_diff"] = float(np.abs(a - b).max()) if a.size else 0.0
            d["feeds"] = next(s.name for s in net.plan.stages if s.pre is op)
        non_native.append(d)
    note = net.plan.non_native_note()
    if note:
        notes.append(note)
    return CompareReport(
        mode=mode, T=T, B=B, spike_agreement=float(eq_total / max(n_total, 1)), per_layer=per_layer,
        first_divergence=first, class_agreement=class_agreement, spike_counts=counts, accuracy=accuracy,
        lava_wall_s=res.wall_s, torch_wall_s=t_torch, quantization=q, notes=notes,
        native=net.plan.native_flags(), non_native=non_native,
    )
