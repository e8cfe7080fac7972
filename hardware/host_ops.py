"""Arithmetic and operation counts of the layers Loihi cannot run natively (TCJA), shared by the
custom Lava process (``hardware/procs/tcja.py``), the numpy simulation and the reports.

TCJA (``snnkit.attention.tcja``) on one sample's spikes ``x[T, C, H, W]``::

    z = mean_{H,W} x                       # [T, C]
    A_t = conv1d_T(z; weight_t)            # slides along T (C in/out channels)
    A_c = conv1d_C(z; weight_c)            # slides along C (T in/out channels)
    gate = sigmoid(A_t * A_c)              # [T, C], in (0, 1)
    y = x * gate                           # graded (real-valued) output

The gate at step ``t`` depends on all ``T`` steps of the sample, so a streaming implementation
buffers the sample and emits ``y`` over the following ``T`` steps (a latency of ``T`` steps).

``floating_pt``: ``y`` is sent as float64 graded messages. ``fixed_pt``: the gate is computed on
the host in float64 from the (exact, integer) spike counts and quantized to an unsigned integer
``round(gate * out_scale)`` (``out_scale = 2**gate_bits - 1``), so ``y`` is an integer graded spike
of at most ``gate_bits`` bits; the next layer's weights absorb ``1 / out_scale``.

The gate is computed in numpy float64 with the arithmetic of :func:`snnkit.attention.tcja.tcja_gate`,
one sample at a time (no torch: the Lava process runs in a forked worker, where torch's OpenMP
thread pool deadlocks once the parent process has used it).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

__all__ = ["tcja_gate", "quantize_gate", "gate_output", "tcja_apply", "tcja_apply_whc", "tcja_op_counts",
           "host_ops_report", "NON_NATIVE_NOTE"]

NON_NATIVE_NOTE = ("not native to Loihi: runs as a custom Lava process on the host CPU (it multiplies run-time "
                   "activations, which Loihi synapses cannot); its operations are counted as host ops, "
                   "not synaptic ops")


def _conv_same(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``conv1d(z[N, Cin, L], w[Cout, Cin, k], padding='same')`` with torch's split for even kernels."""
    k = w.shape[-1]
    left = (k - 1) // 2
    zp = np.pad(z, ((0, 0), (0, 0), (left, k - 1 - left)))
    win = np.lib.stride_tricks.sliding_window_view(zp, k, axis=-1)  # [N, Cin, L, k]
    return np.einsum("oij,nilj->nol", w, win)


def tcja_gate(layer: Any, x: np.ndarray) -> np.ndarray:
    """The gate ``[T, N, C]`` for spikes ``x[T, N, C, H, W]`` (float64 numpy; every sample independent).

    The same arithmetic as :func:`snnkit.attention.tcja.tcja_gate`, written in numpy because the
    Lava process runs in a forked worker, where torch's thread pool can deadlock. For spike
    inputs the spatial mean is exact; the convolutions may round differently from torch's in the
    last bit (~1e-16 relative).
    """
    x = np.asarray(x, dtype=np.float64)
    z = x.mean(axis=(3, 4))  # [T, N, C]
    gate = None
    if layer.weight_t is not None:  # channels C, sequence T
        gate = _conv_same(z.transpose(1, 2, 0), np.asarray(layer.weight_t, dtype=np.float64)).transpose(2, 0, 1)
    if layer.weight_c is not None:  # channels T, sequence C
        a_c = _conv_same(z.transpose(1, 0, 2), np.asarray(layer.weight_c, dtype=np.float64)).transpose(1, 0, 2)
        gate = a_c if gate is None else gate * a_c
    assert gate is not None
    return 1.0 / (1.0 + np.exp(-gate))


def quantize_gate(gate: np.ndarray, out_scale: float) -> np.ndarray:
    """Fixed point: the gate as unsigned integers ``round(gate * out_scale)``."""
    return np.round(gate * float(out_scale)).astype(np.int64)


def gate_output(x: np.ndarray, gate: np.ndarray, out_scale: Optional[float] = None) -> np.ndarray:
    """``x[T, N, C, H, W] * gate[T, N, C]`` (float), or ``x * round(gate * out_scale)`` (integers)."""
    if out_scale is None:
        return np.asarray(x, dtype=np.float64) * gate[..., None, None]
    return np.asarray(x).astype(np.int64) * quantize_gate(gate, out_scale)[..., None, None]


def tcja_apply(layer: Any, x: np.ndarray, out_scale: Optional[float] = None) -> np.ndarray:
    """Gated output for ``x[T, N, C, H, W]`` (torch layout): float ``x * gate``, or with ``out_scale``
    (fixed point) the integers ``x * round(gate * out_scale)``."""
    x = np.asarray(x)
    if x.shape[0] != layer.T:
        raise ValueError(f"TCJA {layer.name!r} was built for T={layer.T} time steps, but the input has T={x.shape[0]}")
    return gate_output(x, tcja_gate(layer, x), out_scale)


def tcja_apply_whc(layer: Any, buf: np.ndarray, out_scale: Optional[float] = None):
    """One buffered sample in Lava's layout ``buf[T, W, H, C]`` -> ``(gated output [T, W, H, C], gate [T, C])``."""
    x = np.asarray(buf).transpose(0, 3, 2, 1)[:, None]  # [T, 1, C, H, W]
    gate = tcja_gate(layer, x)
    y = gate_output(x, gate, out_scale)[:, 0]  # [T, C, H, W]
    return y.transpose(0, 3, 2, 1), gate[:, 0]


def tcja_op_counts(layer: Any, B: int, spikes_in: Optional[int] = None) -> Dict[str, Any]:
    """Host operations of a TCJA layer for ``B`` samples, in the convention of ``count_ops(backend="hooks")``.

    ``macs``: the ``1/(H*W)`` scale of the mean (``T*C``), the two 1-D convolutions (torch's
    ``padding='same'`` zeros included: ``T*C*C*kernel_t`` and ``T*C*T*kernel_c``), the fusion product
    (``T*C``) and the gating ``x * gate`` (one per input spike); ``adds``: the spatial sums (one
    per input spike); ``activations``: the sigmoids (``T*C``). ``spikes_in`` is the number of input
    spikes over the ``B`` samples; without it every input element counts (a dense upper bound).
    ``detail`` breaks ``macs``/``adds`` down by part.
    """
    T = int(layer.T)
    C, H, W = (int(s) for s in layer.in_shape)
    n_in = int(spikes_in) if spikes_in is not None else B * T * C * H * W
    detail = {"squeeze_adds": n_in, "squeeze_scale": B * T * C}
    if layer.weight_t is not None:
        detail["conv_t"] = B * T * C * C * int(np.shape(layer.weight_t)[-1])
    if layer.weight_c is not None:
        detail["conv_c"] = B * T * C * T * int(np.shape(layer.weight_c)[-1])
    if layer.weight_t is not None and layer.weight_c is not None:
        detail["fusion"] = B * T * C
    detail["gating"] = n_in
    macs = sum(v for k, v in detail.items() if k != "squeeze_adds")
    d = {
        "kind": "tcja", "native": False, "runs_on": "host CPU (custom Lava process)", "latency_steps": T,
        "macs": macs, "adds": n_in, "activations": B * T * C, "spikes_in": n_in if spikes_in is not None else None,
        "elements": B * T * C * H * W, "detail": detail,
    }
    d["host_ops"] = d["macs"] + d["adds"] + d["activations"]
    return d


def host_ops_report(plan: Any, B: int, spikes: Optional[Dict[str, np.ndarray]] = None,
                    energy_model: Optional[str] = "horowitz45") -> Dict[str, Any]:
    """Per non-native layer of a :class:`~snnkit.hardware.lava.NetworkPlan`: host op counts for ``B`` samples.

    ``spikes`` (per neuron layer ``[T, B, ...]``, e.g. ``LavaResult.spikes``) adds the input spike
    counts. With ``energy_model`` (a conventional-processor model of :mod:`snnkit.hardware.energy`)
    each layer gets ``energy_j = E_MAC * macs + E_AC * adds`` (sigmoids not priced: no published
    per-op figure), marked as an estimate for a host CPU, not for Loihi.
    """
    out: Dict[str, Any] = {}
    prev = None
    for sp in plan.stages:
        if sp.pre is not None:
            n_in = None if (spikes is None or prev is None) else int(np.count_nonzero(spikes[prev]))
            d = tcja_op_counts(sp.pre.layer, B, n_in)
            d["feeds"] = sp.name
            if energy_model:
                from .energy import ENERGY_MODELS

                c = ENERGY_MODELS[energy_model]
                d["energy_j"] = (d["macs"] * c["mac_pj"] + d["adds"] * c["ac_pj"]) * 1e-12
                d["energy_model"] = f"{energy_model}: {c['source']} (host CPU estimate; sigmoids not priced)"
            out[sp.pre.name] = d
        prev = sp.name
    return out
