"""Float -> Loihi fixed point, following Lava's bit-accurate ``LIF``/``Dense``/``Conv``/``Sparse`` models.

What Lava's ``fixed_pt`` models compute (lava-nc 0.10, ``proc/lif/models.py``, ``proc/dense/models.py``)::

    a_out = (sum_j w_int[i, j] * s_j) << weight_exp         # Dense/Sparse; Conv ignores weight_exp
    u = sign(u) * (|u| * (4096 - (du + 1)) >> 12) + (a_in << 6)   # 24-bit, wraps around
    v = sign(v) * (|v| * (4096 - dv) >> 12) + u + (bias_mant << bias_exp)   # 24-bit, saturates
    spike where v > (vth << 6); v = 0 after a spike

with ``w_int`` 8-bit (even integers in [-256, 254] for mixed-sign matrices, [0, 255] or [-255, 0]
for single-sign ones), ``dv`` 12-bit unsigned, ``du`` from -1 (``du + 1 = 0``: no current decay, as
lava-dl's netx loads ``iDecay = 0``) to 4095, ``vth`` 17-bit unsigned, ``bias_mant`` 13-bit signed,
``bias_exp`` 3-bit unsigned.

Binary spikes make every layer's scale independent. For each neuron layer we choose a *state
scale* ``lam`` (integer state units per float unit of ``u``/``v``), then::

    w_int = round(w * lam / (64 * 2**weight_exp * input_scale))     (on Lava's grid, clipped)
    vth_int = round(vth * lam / 64);  bias_mant * 2**bias_exp = round(bias * lam)
    du_int = round(du * 4096) - 1 (-1 for du = 0: no decay);  dv_int = round(dv * 4096)

``lam`` is as large as the constraints allow (largest weight on the top of the 8-bit range,
threshold within 17 bits, one step of full input within 23 bits), so thresholds and decays keep
the most precision. ``weight_exp`` carries the rest of the scale (Dense/Sparse only: Lava's fixed
``Conv`` model ignores ``weight_exp``, so conv layers use ``weight_exp = 0``). ``clip_percentile``
sizes the range on a percentile of ``|w|`` instead of the maximum, trading clipped outliers for
resolution; the report gives the clipped fraction and warns.

The network input, when it is not binary, is sent as graded spikes ``round(x * input_scale)``
with ``input_scale = (2**(input_bits-1) - 1) / max|x|`` (``2**input_bits - 1`` for
non-negative data), ``max|x|`` from ``calibration`` data. Integer data that fit ``input_bits``
(event-count frames) get a whole number of units per count, so they are sent exactly: at most
``floor(that scale)``, and no more than lets the first layer's weights fill their 8 bits at the
largest state scale (a Conv has no ``weight_exp`` to absorb a larger input scale).
A first neuron layer without weights (reading the input directly) gets even binary spikes as such
graded integers (``2**input_bits - 1`` units per spike, times its ``1/tau`` input scale), so its
threshold keeps its precision; the inputs must still be spikes unless ``calibration`` says otherwise.

Non-native host ops (TCJA, see :mod:`snnkit.hardware.host_ops`) are not quantized themselves (they
run on the host CPU); their graded output ``spike * gate`` (gate in (0, 1)) is sent as the
integer ``spike * round(gate * out_scale)`` with ``out_scale = 2**gate_bits - 1``, and the next
layer is scaled for an input of ``out_scale`` integer units per float unit, like a graded input.
The report lists them under ``non_native`` (``native: False``).
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from snnkit.functional.validation import is_int

__all__ = ["quantize_plan", "QuantReport", "LayerQuant", "QuantizationWarning", "quantize_weights",
           "decay_to_int", "threshold_to_int", "VTH_MAX", "UV_MAX"]

VTH_MAX = 2 ** 17 - 1  # 17-bit unsigned threshold mantissa
UV_MAX = 2 ** 23 - 1  # 24-bit signed u and v
BIAS_MANT_MAX = 2 ** 12 - 1  # 13-bit signed bias mantissa
BIAS_EXP_MAX = 7  # 3-bit unsigned
WEIGHT_EXP_RANGE = (-8, 7)


class QuantizationWarning(UserWarning):
    """Weights, biases or thresholds had to be clipped, or the state may overflow."""


@dataclass
class LayerQuant:
    """Scale factors and losses of one neuron layer."""

    name: str
    conn: str
    scale: float  # lam: integer state units per float unit
    weight_exp: int
    weight_step: float  # float value of one integer weight unit
    weight_max: float
    weight_int_max: int
    effective_bits: float
    clip_fraction: float
    zero_fraction: float
    weight_rel_rmse: float
    vth: float
    vth_int: int
    vth_rel_error: float
    du: float
    du_int: int
    du_effective: float
    dv: float
    dv_int: int
    dv_effective: float
    bias_exp: int
    bias_clip_fraction: float
    current_bias_exp: Optional[int]
    u_bound_bits: float
    warnings: List[str] = field(default_factory=list)
    native: bool = True  # connection + LIF population: native to Loihi

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QuantReport:
    input_scale: float
    input_bits: Optional[int]
    layers: List[LayerQuant]
    non_native: List[Dict[str, Any]] = field(default_factory=list)  # host ops (TCJA): native False
    notes: List[str] = field(default_factory=list)

    @property
    def clipped(self) -> bool:
        return any(layer.clip_fraction > 0 or layer.bias_clip_fraction > 0 for layer in self.layers)

    def to_dict(self) -> Dict[str, Any]:
        return {"input_scale": self.input_scale, "input_bits": self.input_bits,
                "layers": [layer.to_dict() for layer in self.layers],
                "non_native": [dict(d) for d in self.non_native], "notes": list(self.notes)}

    def __str__(self) -> str:
        rows = [f"fixed point (input scale {self.input_scale:.6g})",
                f"  {'layer':20} {'conn':6} {'scale':>10} {'w_exp':>5} {'bits':>5} {'clip%':>7} {'w_rmse%':>8} "
                f"{'vth_int':>8} {'du':>5} {'dv':>5}"]
        for q in self.layers:
            rows.append(f"  {q.name[:20]:20} {q.conn:6} {q.scale:>10.4g} {q.weight_exp:>5} {q.effective_bits:>5.1f} "
                        f"{100 * q.clip_fraction:>7.3f} {100 * q.weight_rel_rmse:>8.3f} {q.vth_int:>8} "
                        f"{q.du_int:>5} {q.dv_int:>5}")
            for w in q.warnings:
                rows.append(f"    ! {w}")
        for d in self.non_native:
            rows.append(f"  {d['name'][:20]:20} {d['kind']:6} NOT NATIVE (host process): gate sent as "
                        f"round(gate x {d['out_scale']:g}) ({d['gate_bits']} bits)")
        for n in self.notes:
            rows.append(f"  note: {n}")
        return "\n".join(rows)


def decay_to_int(du: float, dv: float) -> Tuple[int, int]:
    """Lava's 12-bit decays: the current decays by ``(du_int + 1)/4096``, the voltage by ``dv_int/4096``.

    ``du = 0`` (the current never decays) is ``du_int = -1``, as netx's ``iDecay = 0`` loads in lava-dl; the
    lowest 12-bit value, 0, would still take 1/4096 of the current each step.
    """
    du_int = int(np.clip(round(du * 4096) - 1, -1, 4095))
    dv_int = int(np.clip(round(dv * 4096), 0, 4095))
    return du_int, dv_int


def threshold_to_int(vth: float, factor: float, spike_rule: str = ">") -> int:
    """Integer threshold mantissa for ``v > (vth_int << 6)``: ``round(vth * factor)`` for ``>`` neurons.

    For ``>=`` neurons (snnkit IF/LIF/PLIF) it is one unit lower, ``ceil(vth * factor) - 1``, so that a
    potential landing exactly on the threshold still fires (as in PyTorch; ties are common with
    integer weights and sum pooling).
    """
    k = vth * factor
    if abs(k - round(k)) < 1e-6 * max(1.0, abs(k)):
        k = float(round(k))
    return int(math.ceil(k) - 1) if spike_rule == ">=" else int(round(k))


def _grid(a: np.ndarray, mixed: bool, lo: int, hi: int) -> np.ndarray:
    q = 2 * np.round(a / 2) if mixed else np.round(a)
    return np.clip(q, lo, hi)


def quantize_weights(w: np.ndarray, factor: float) -> Tuple[np.ndarray, float, float]:
    """``w * factor`` rounded onto Lava's 8-bit grid; returns ``(ints, clip_fraction, zero_fraction)``.

    Mixed-sign matrices use even integers in [-256, 254] (Lava truncates the lowest bit), single-sign
    ones any integer in [0, 255] / [-255, 0].
    """
    a = np.asarray(w, dtype=np.float64) * factor
    nz = a != 0
    mixed = bool(a.min(initial=0) < 0 < a.max(initial=0))
    if mixed:
        lo, hi = -256, 254
    elif a.max(initial=0) > 0:
        lo, hi = 0, 255
    else:
        lo, hi = -255, 0
    q = _grid(a, mixed, lo, hi)
    clip = float(np.mean((a > hi + (1 if mixed else 0.5)) | (a < lo - (1 if mixed else 0.5)))) if a.size else 0.0
    zero = float(np.mean((q == 0) & nz)) if a.size else 0.0
    return q.astype(np.int32), clip, zero


def _abs_max(w: np.ndarray, percentile: Optional[float]) -> float:
    a = np.abs(np.asarray(w, dtype=np.float64))
    a = a[a > 0]
    if a.size == 0:
        return 0.0
    return float(np.percentile(a, percentile)) if percentile is not None else float(a.max())


def _dense_of(sp) -> np.ndarray:
    """The weight values: a dense array, or a sparse matrix's stored values (its zeros change nothing below)."""
    w = sp.weight
    if hasattr(w, "toarray"):
        w = w.tocsr()
        w.sum_duplicates()
        return np.asarray(w.data, dtype=np.float64)
    return np.asarray(w, dtype=np.float64)


def _row_abs_sum(sp) -> float:
    """Largest total |weight| onto one neuron: one step of all its inputs at once (float units)."""
    w = sp.weight
    if w is None:
        return 1.0
    if hasattr(w, "toarray"):
        return float(np.abs(w).sum(axis=1).max()) if w.shape[0] else 0.0
    w = np.asarray(w)
    if sp.conn == "conv":
        return float(np.abs(w).reshape(w.shape[0], -1).sum(1).max())
    return float(np.abs(w).sum(1).max()) if w.size else 0.0


def quantize_plan(plan, calibration: Any = None, *, input_bits: int = 8, clip_percentile: Optional[float] = None,
                  weight_exp: Optional[int] = None, state_scale: Optional[float] = None, gate_bits: int = 8,
                  warn: bool = True):
    """Return a fixed-point copy of a :class:`~snnkit.hardware.lava.NetworkPlan` with a :class:`QuantReport`.

    ``calibration``: sample inputs ``[T, B, ...]`` (needed when the input is not binary).
    ``input_bits``: bits of the graded input messages. ``clip_percentile``: size each weight range on
    this percentile of ``|w|`` (e.g. 99.9) instead of the maximum. ``weight_exp``: force one weight
    exponent for every Dense/Sparse layer (``None`` chooses per layer). ``state_scale``: force ``lam``
    for every layer (SLAYER/netx use 4096: weights x64, thresholds x64 in ``vth << 6``). ``gate_bits``: bits
    of the graded messages a non-native TCJA host process sends (``spike * round(gate * (2**gate_bits - 1))``).
    """
    if not is_int(gate_bits) or not 1 <= gate_bits <= 16:
        raise ValueError(f"quantize: gate_bits must be an int in [1, 16], got {gate_bits!r}")
    if state_scale is not None and not (isinstance(state_scale, (int, float)) and state_scale > 0):
        raise ValueError(f"quantize: state_scale must be a positive number or None, got {state_scale!r}")
    if not is_int(input_bits) or not 2 <= input_bits <= 24:
        raise ValueError(f"quantize: input_bits must be an int in [2, 24], got {input_bits!r}")
    if clip_percentile is not None and not 50 <= float(clip_percentile) <= 100:
        raise ValueError(f"quantize: clip_percentile must be in [50, 100] or None, got {clip_percentile!r}")
    p = copy.deepcopy(plan)
    p.mode = "fixed_pt"
    # --- input scale
    binary = True  # the raw inputs (before a first neuron layer's input scale) are spikes
    integer_input = False
    sigma_in = 1.0
    raw_max = 1.0
    first = p.stages[0]
    # A first neuron layer reading the input directly (no weights) gets the input as integer messages:
    # spikes too are sent as graded values, a whole number of units each, so its threshold keeps its
    # precision (one unit per spike would make lam = 64: v_threshold 1.3 -> 1). With LIF/PLIF
    # decay_input its 1/tau also scales them: {0, 1/tau} is not binary at all.
    direct = first.conn == "none"
    scale0 = float(first.input_scale) if direct else 1.0
    c: Optional[np.ndarray] = None
    if calibration is not None:
        from .lava import _as_input

        c = _as_input(calibration, p.input_shape, "quantize", empty_ok=True)
        if c.size == 0:  # np.all of nothing is True: it would plan for binary inputs without having seen any
            raise ValueError(f"quantize: calibration holds no samples (shape {tuple(c.shape)}); give inputs "
                             "[T, B, ...] with B >= 1, from the model's own dataset")
        binary = bool(np.all((c == 0) | (c == 1)))
        if not binary:
            raw_max = float(np.abs(c).max())
    if not binary or direct:
        c = (c if c is not None else np.array([0.0, 1.0])) * scale0
        xmax = float(np.abs(c).max())
        limit = (2 ** input_bits - 1) if c.min() >= 0 else (2 ** (input_bits - 1) - 1)
        sigma_in = limit / xmax if xmax > 0 else 1.0
        # Integer data (event counts) are sent exactly at a whole number of units per count.
        integer_input = bool(np.all(c == np.round(c))) and xmax <= limit
        if integer_input:
            sigma_in = float(math.floor(sigma_in))
    p.input_binary = binary
    layers: List[LayerQuant] = []
    non_native: List[Dict[str, Any]] = []
    for sp in p.stages:
        msgs: List[str] = []
        sigma = sigma_in if sp.index == 0 else 1.0
        x_max = raw_max if sp.index == 0 else 1.0
        if sp.pre is not None:  # graded input from a host op: spike * round(gate * out_scale), gate in (0, 1)
            sp.pre.out_scale = float(2 ** gate_bits - 1)
            sigma, x_max = sp.pre.out_scale, 1.0
        vth = float(sp.vth)
        lam_max = 64.0 * VTH_MAX / vth if vth > 0 else math.inf
        row = _row_abs_sum(sp) if sp.conn != "none" else 1.0
        state = max(2.0 * vth, row * x_max * (1.0 if sp.conn != "none" else sp.input_scale))
        lam_max = min(lam_max, (UV_MAX / 2) / state) if state > 0 else lam_max
        vb = float(np.abs(np.asarray(sp.bias_mant if sp.bias_mant is not None else 0.0)).max(initial=0))
        if vb > 0:  # bias_mant (13-bit signed) << bias_exp (at most 7)
            lam_max = min(lam_max, BIAS_MANT_MAX * 2 ** BIAS_EXP_MAX / vb)
        clip = zero = rmse = 0.0
        w_exp = 0
        int_max = 0
        if sp.conn == "none":
            # a unit of input is sigma integer units, added as a_in << 6: lam = 64 * sigma
            if state_scale is not None:
                lam = float(state_scale)
                if sp.index == 0:
                    sigma_in = lam / 64.0
            elif sp.index == 0:
                lam = min(64.0 * sigma_in, lam_max)
                sigma_in = lam / 64.0
            elif sp.pre is not None:  # the host op's integers go straight into a_in
                lam = min(64.0 * sigma, lam_max)
                sp.pre.out_scale = lam / 64.0
            else:
                lam = 64.0  # spikes go straight into a_in
            wmax = 1.0
            step = 64.0 / lam
        else:
            w = _dense_of(sp)
            wmax = _abs_max(w, clip_percentile)
            mixed = bool(w.min(initial=0) < 0 < w.max(initial=0))
            M = 254.0 if mixed else 255.0
            if wmax == 0:
                wmax = 1.0
            if sp.index == 0 and integer_input and state_scale is None and math.isfinite(lam_max):
                # Exact integer input needs no more units per count than fill the weights' 8 bits at lam_max;
                # more only takes weight levels (a Conv has no weight_exp to give them back).
                sigma_in = sigma = float(max(1, min(sigma_in, math.floor(lam_max * wmax / (64.0 * M)))))
            lo, hi = WEIGHT_EXP_RANGE
            if sp.conn == "conv":
                w_exp = 0  # Lava's fixed-point Conv ignores weight_exp
            elif weight_exp is not None:
                w_exp = int(weight_exp)
            elif state_scale is not None:
                w_exp = 0
            else:
                e_star = math.floor(math.log2(lam_max * wmax / (64.0 * sigma * M))) if math.isfinite(lam_max) else hi
                w_exp = int(np.clip(e_star, lo, hi))
            lam = min(64.0 * 2.0 ** w_exp * sigma * M / wmax, lam_max) if state_scale is None else float(state_scale)
            factor = lam / (64.0 * 2.0 ** w_exp * sigma)
            step = 1.0 / factor
            if hasattr(sp.weight, "toarray"):
                wq = sp.weight.tocsr().copy().astype(np.float64)
                wq.sum_duplicates()
                ints, clip, zero = quantize_weights(wq.data, factor)  # w holds the same values, same order
                wq.data = ints.astype(np.float64)
                wq = wq.astype(np.int32)
                wq.eliminate_zeros()
                deq = ints * step
                int_max = int(np.abs(ints).max(initial=0))
                sp.weight = wq
            else:
                ints, clip, zero = quantize_weights(w, factor)
                deq = ints * step
                int_max = int(np.abs(ints).max(initial=0))
                sp.weight = ints
            nrm = float(np.linalg.norm(w))
            rmse = float(np.linalg.norm(deq - w) / nrm) if nrm > 0 else 0.0
            if clip > 0:
                msgs.append(f"{100 * clip:.3f}% of the weights overflow the 8-bit range and were clipped")
            if state_scale is None and lam < 64.0 * 2.0 ** w_exp * sigma * M / wmax * 0.999:
                msgs.append(f"the weights use only {int_max} of {int(M)} integer levels (threshold/state range "
                            "limits the scale)")
        sp.weight_exp = w_exp
        # --- neuron parameters
        vth_int = threshold_to_int(vth, lam / 64.0, sp.spike_rule)
        if vth_int > VTH_MAX:
            msgs.append(f"threshold {vth_int} exceeds 17 bits; clipped")
            vth_int = VTH_MAX
        du_int, dv_int = decay_to_int(float(sp.du), float(sp.dv))
        b = np.asarray(sp.bias_mant if sp.bias_mant is not None else np.zeros(sp.size), dtype=np.float64) * lam
        bmax = float(np.abs(b).max(initial=0))
        b_exp = 0
        while b_exp < BIAS_EXP_MAX and bmax / 2 ** b_exp > BIAS_MANT_MAX:
            b_exp += 1
        mant = np.round(b / 2 ** b_exp)
        b_clip = float(np.mean(np.abs(mant) > BIAS_MANT_MAX)) if mant.size else 0.0
        if b_clip > 0:
            msgs.append(f"{100 * b_clip:.3f}% of the biases overflow 13 bits x 2^7 and were clipped")
        sp.bias_mant = np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int32)
        sp.bias_exp = np.full(sp.size, b_exp, dtype=np.int32)
        cb_exp = None
        if sp.ubias is not None:
            ub = np.asarray(sp.ubias, dtype=np.float64)
            ubmax = float(np.abs(ub).max(initial=0)) or 1.0
            Mb = 254.0 if (ub.min() < 0 < ub.max()) else 255.0
            cb_exp = int(np.clip(math.ceil(math.log2(ubmax * lam / (64.0 * Mb))), *WEIGHT_EXP_RANGE))
            ints, bclip, _ = quantize_weights(ub, lam / (64.0 * 2.0 ** cb_exp))
            if bclip > 0:
                msgs.append(f"{100 * bclip:.3f}% of the current biases were clipped")
            sp.ubias = ints
            sp.ubias_exp = cb_exp
        u_bound = lam * row * x_max / max(float(sp.du), 1.0 / 4096)
        if u_bound > UV_MAX:
            msgs.append(f"the current u can reach ~2^{math.log2(u_bound):.1f} if every input fires for many steps; "
                        "Lava wraps u at 2^23")
        sp.du, sp.dv, sp.vth = du_int, dv_int, vth_int
        sp.fixed = True
        sp.scale = lam
        du_eff = (du_int + 1) / 4096.0
        dv_eff = dv_int / 4096.0
        q = LayerQuant(
            name=sp.name, conn=sp.conn, scale=lam, weight_exp=w_exp, weight_step=step, weight_max=wmax,
            weight_int_max=int_max, effective_bits=float(math.log2(int_max + 1)) if int_max else 0.0,
            clip_fraction=clip, zero_fraction=zero, weight_rel_rmse=rmse, vth=vth, vth_int=vth_int,
            vth_rel_error=abs(vth_int * 64.0 / lam - vth) / vth if vth else 0.0,
            du=float(plan.stages[sp.index].du), du_int=du_int, du_effective=du_eff,
            dv=float(plan.stages[sp.index].dv), dv_int=dv_int, dv_effective=dv_eff,
            bias_exp=b_exp, bias_clip_fraction=b_clip, current_bias_exp=cb_exp,
            u_bound_bits=float(math.log2(u_bound)) if u_bound > 0 else 0.0, warnings=msgs,
        )
        if warn:
            for m in msgs:
                if "u can reach" in m:
                    continue  # a worst-case bound, reported but not worth a warning
                warnings.warn(f"quantize: layer {sp.name!r}: {m}", QuantizationWarning, stacklevel=2)
        layers.append(q)
        if sp.pre is not None:
            non_native.append({
                "name": sp.pre.name, "kind": sp.pre.kind, "native": False, "feeds": sp.name,
                "gate_bits": gate_bits, "out_scale": sp.pre.out_scale, "gate_step": 1.0 / sp.pre.out_scale,
                "note": "runs on the host CPU (float64 gate); only its graded output message is quantized",
            })
    p.input_scale = sigma_in
    notes = []
    if integer_input:
        notes.append(f"integer input: sent exactly at {sigma_in:g} units per count; inputs that are not whole "
                     "numbers are rounded to the nearest unit")
    if non_native:
        notes.append(p.non_native_note())
    p.quant_report = QuantReport(input_scale=sigma_in, input_bits=None if (binary and not direct) else input_bits, layers=layers,
                                 non_native=non_native, notes=notes)
    return p
