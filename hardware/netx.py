"""Write and read lava-dl netx HDF5 network files (without lava-dl; with h5py).

Layout written (what ``lava.lib.dl.netx.hdf5.Network`` reads)::

    layer/0   type=b"input"  shape=(C, H, W) or (N,)
    layer/i   type=b"flatten" shape=(N, 1, 1)                       (before a Dense on a 3-D input)
    layer/i   type=b"dense"  shape=(N,) inFeatures outFeatures weight[out, in] [bias[out]]
              neuron/{type=b"CUBA", iDecay, vDecay, vThMant, refDelay, gradedSpike}
    layer/i   type=b"conv"   shape=(C, H, W) inChannels outChannels kernelSize stride padding
              dilation groups weight[out, in/groups, kH, kW] [bias[out]] neuron/{...}

Spatial pairs are in (H, W) order and shapes in (C, H, W): netx reverses them into Lava's
(W, H, C). Weights are stored as they act in torch (cross-correlation); netx flips the kernels
for Lava's true convolution. ``type`` is a ``(1,)`` dataset of ``S10`` bytes as SLAYER writes it.

Scales follow SLAYER/netx: netx builds ``LIF(du=iDecay-1, dv=vDecay, vth=vThMant, bias_exp=6)``
with integer weights ``w`` (``u += w << 6``), so one float unit of state is ``64 * s`` integer
units where ``s`` is the layer's *weight scale* (integer weight units per float weight):
``weight = round(w * s)`` (even integers in [-256, 254]), ``vThMant = round(vth * s)``,
``bias = round(b * s)``, ``iDecay = round(du * 4096)``, ``vDecay = round(dv * 4096)``. SLAYER
always uses ``s = 64``; ``scale="auto"`` (default) picks per layer the largest ``s`` that puts
the largest weight on 254 (more precision); ``scale=64`` reproduces SLAYER's files. The scale is
kept in the attribute ``snnkit_weight_scale`` of each layer group (netx ignores attributes) so
:func:`load_netx` restores float weights; files without it are read with SLAYER's 64.

Files are written to a temporary file in the same folder and renamed into place.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from snnkit._io import atomic_write

from .graph import Flatten, LayerGraph, trace
from .lava import plan_network
from .quantize import decay_to_int, quantize_weights, threshold_to_int

__all__ = ["export_netx", "load_netx", "read_netx", "netx_plan", "DroppedReadoutWarning"]

PathLike = Union[str, os.PathLike]
SLAYER_SCALE = 64.0
_TYPES = ("input", "dense", "conv", "flatten")


class DroppedReadoutWarning(UserWarning):
    """``export_netx`` left out the host readout (Linear, VotingLayer...) after the last neuron layer."""


def _warn_dropped_readout(graph: LayerGraph, last: Any) -> None:
    """Warn that ``graph.readout`` is not in the netx file and must be applied on the host."""
    if not graph.readout:
        return
    import warnings

    mods = ", ".join(f"{name!r} ({type(mod).__name__})" for name, mod in graph.readout)
    warnings.warn(f"export_netx: the readout after the last neuron layer is not part of a netx file and was dropped: "
                  f"{mods}. The file outputs the spikes of {last.name!r} ({last.size} neurons); apply the readout "
                  "on the host to those spikes", DroppedReadoutWarning, stacklevel=3)


def _infer_input_shape(model: nn.Module) -> Tuple[int, ...]:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, nn.Conv2d):
            break
    raise ValueError("export_netx: input_shape is required for models that start with a convolution "
                     "(one sample, no time/batch axis, e.g. (2, 32, 32))")


def _put_type(g: Any, name: str) -> None:
    g.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def export_netx(
    model: Union[nn.Module, LayerGraph],
    path: PathLike,
    input_shape: Optional[Sequence[int]] = None,
    *,
    scale: Union[str, float] = "auto",
) -> Path:
    """Write ``model`` as a lava-dl netx HDF5 file at ``path`` (atomically); returns the path.

    Every neuron layer must be fed by exactly one Linear (optionally after Flatten), Conv2d or
    pooling layer (written as a depthwise all-ones conv); biases must act on the membrane (a
    Linear/Conv bias is fine when the neuron's ``du == 1``). Host-side readout layers after the last
    neuron are not part of a netx file: they are dropped with a :class:`DroppedReadoutWarning` naming
    them (apply them on the host to the file's output spikes). Raises ``ValueError`` before writing anything.
    """
    import h5py

    if isinstance(model, LayerGraph):
        graph = model
    else:
        if not isinstance(model, nn.Module):
            raise TypeError(f"export_netx: model must be a torch.nn.Module or LayerGraph, got {type(model).__name__}")
        graph = trace(model, input_shape if input_shape is not None else _infer_input_shape(model))
    if not (scale == "auto" or (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0)):
        raise ValueError(f"export_netx: scale must be 'auto' or a positive number (SLAYER uses 64), got {scale!r}")
    host = graph.non_native()
    if host:
        raise ValueError(f"export_netx: layer {host[0].name!r} ({host[0].kind.upper()}) is not native to Loihi and "
                         "netx has no layer type for it; use snnkit.hardware.to_lava (snnkit export --to lava), "
                         "which runs it as a custom host process, or train the network without it (--attention none)")
    plan = plan_network(graph, bias="auto", conv="native", lava_conv_limits=False)
    stages = graph.stages()
    layers: List[Dict[str, Any]] = []
    for sp, st in zip(plan.stages, stages):
        where = f"neuron layer {sp.name!r}"
        if sp.conn == "none":
            raise ValueError(f"export_netx: {where} has no Dense/Conv in front of it; netx needs one per neuron layer")
        if sp.conn == "sparse":
            kinds = "+".join(type(s).__name__ for s in st.synapses) or "scaling"
            raise ValueError(f"export_netx: {where} is fed by {kinds}; netx layers are one Dense (after an optional "
                             "Flatten) or one Conv, so pooling between layers has no netx form. Export to Lava (--to lava, "
                             "to_lava) or NIR (--to nir) instead")
        if sp.ubias is not None:
            raise ValueError(f"export_netx: {where} has a Linear/Conv bias in front of a neuron with du={sp.du} < 1; "
                             "netx only has membrane biases (bias_mant). Train with bias=False or du=1")
        w = np.asarray(sp.weight, dtype=np.float64)
        wmax = float(np.abs(w).max(initial=0)) or 1.0
        mixed = bool(w.min(initial=0) < 0 < w.max(initial=0))
        s = (254.0 if mixed else 255.0) / wmax if scale == "auto" else float(scale)
        ints, clip, _ = quantize_weights(w, s)
        if clip > 0:
            import warnings

            from .quantize import QuantizationWarning

            warnings.warn(f"export_netx: {100 * clip:.3f}% of the weights of {where} overflow 8 bits at scale {s} "
                          "and were clipped", QuantizationWarning, stacklevel=2)
        _, dv_int = decay_to_int(sp.du, sp.dv)
        vth = threshold_to_int(sp.vth, s, sp.spike_rule)
        if vth > 2 ** 17 - 1:
            raise ValueError(f"export_netx: {where}: threshold {sp.vth} x scale {s:.4g} = {vth} exceeds 17 bits; "
                             "use a smaller scale")
        bias = np.round(np.asarray(sp.bias_mant, dtype=np.float64) * s)
        if np.abs(bias).max(initial=0) > 2 ** 12 - 1:
            raise ValueError(f"export_netx: {where}: biases x scale exceed netx's 13-bit bias_mant (bias_exp is fixed "
                             "at 6); use a smaller scale")
        if sp.conn == "conv" and np.any(bias != 0):
            per_ch = bias.reshape(sp.shape[0], -1)
            if np.any(per_ch != per_ch[:, :1]):  # pragma: no cover - conv biases are per channel
                raise ValueError(f"export_netx: {where}: conv biases must be constant per channel")
            bias = per_ch[:, 0]
        flatten_first = bool(st.synapses) and isinstance(st.synapses[0], Flatten)
        # netx builds Lava's LIF(du=iDecay-1), whose current decays by (du + 1)/4096: iDecay = round(du * 4096)
        # exactly, down to 0 (no current decay, as SLAYER writes it; decay_to_int's du_int >= 0 would give 1/4096)
        i_decay = int(np.clip(round(sp.du * 4096), 0, 4096))
        layers.append(dict(sp=sp, ints=ints, scale=s, du=i_decay, dv=dv_int, vth=vth,
                           bias=bias if np.any(bias != 0) else None, flatten=flatten_first and len(sp.in_shape) > 1))
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValueError(f"export_netx: path {str(path)!r} is a directory")
    if not path.parent.exists():
        raise FileNotFoundError(f"export_netx: folder {str(path.parent)!r} does not exist")
    _warn_dropped_readout(graph, plan.stages[-1])

    def _write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            import snnkit

            f.attrs["format"] = "lava-dl netx"
            f.attrs["writer"] = f"snnkit {snnkit.__version__}"
            root = f.create_group("layer")
            idx = 0
            g = root.create_group(str(idx))
            _put_type(g, "input")
            g.create_dataset("shape", data=np.array(plan.input_shape, dtype=np.int64))
            for L in layers:
                sp = L["sp"]
                if L["flatten"]:
                    idx += 1
                    g = root.create_group(str(idx))
                    _put_type(g, "flatten")
                    g.create_dataset("shape", data=np.array([int(np.prod(sp.in_shape)), 1, 1], dtype=np.int64))
                idx += 1
                g = root.create_group(str(idx))
                g.attrs["snnkit_weight_scale"] = L["scale"]
                g.attrs["snnkit_name"] = sp.name
                g.attrs["snnkit_source"] = sp.source
                if sp.conn == "dense":
                    _put_type(g, "dense")
                    g.create_dataset("shape", data=np.array([sp.size], dtype=np.int64))
                    g.create_dataset("inFeatures", data=int(L["ints"].shape[1]))
                    g.create_dataset("outFeatures", data=int(L["ints"].shape[0]))
                else:
                    _put_type(g, "conv")
                    g.create_dataset("shape", data=np.array(sp.shape, dtype=np.int64))
                    g.create_dataset("inChannels", data=int(sp.in_shape[0]))
                    g.create_dataset("outChannels", data=int(sp.shape[0]))
                    g.create_dataset("kernelSize", data=np.array(L["ints"].shape[2:], dtype=np.int64))
                    g.create_dataset("stride", data=np.array(sp.stride, dtype=np.int64))
                    g.create_dataset("padding", data=np.array(sp.padding, dtype=np.int64))
                    g.create_dataset("dilation", data=np.array(sp.dilation, dtype=np.int64))
                    g.create_dataset("groups", data=int(sp.groups))
                g.create_dataset("weight", data=L["ints"].astype(np.float32))
                if L["bias"] is not None:
                    g.create_dataset("bias", data=L["bias"].astype(np.float32))
                n = g.create_group("neuron")
                n.create_dataset("type", (1,), "S10", [b"CUBA"])
                n.create_dataset("iDecay", data=int(L["du"]))
                n.create_dataset("vDecay", data=int(L["dv"]))
                n.create_dataset("vThMant", data=int(L["vth"]))
                n.create_dataset("refDelay", data=1)
                n.create_dataset("gradedSpike", data=False)

    return atomic_write(path, _write)


# --------------------------------------------------------------------------- reading


def _str(ds: Any) -> str:
    v = ds[()]
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise ValueError(f"expected one string, got an array of shape {v.shape}")
        v = v.reshape(-1)[0]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("ascii", "replace")
    return str(v)


def _int(g: Any, key: str, where: str) -> int:
    if key not in g:
        raise ValueError(f"load_netx: {where} has no {key!r}")
    v = np.asarray(g[key][()]).reshape(-1)
    if v.size != 1:
        raise ValueError(f"load_netx: {where}/{key} must be one number, got shape {v.shape}")
    return int(v[0])


def _pair(g: Any, key: str, default: int) -> Tuple[int, int]:
    if key not in g:
        return (default, default)
    v = np.asarray(g[key][()]).reshape(-1)
    return (int(v[0]), int(v[0])) if v.size == 1 else (int(v[0]), int(v[1]))


def read_netx(path: PathLike) -> List[Dict[str, Any]]:
    """Read a netx HDF5 file into a list of plain layer dicts (validating the structure).

    Dense weights are returned as ``[out, in]`` (a 1-D weight split by the layer's ``shape``, as netx does).
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_netx: no such file: {str(path)!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"load_netx: {str(path)!r} is not a readable HDF5 file (corrupt or another format): {err}") from None
    layers: List[Dict[str, Any]] = []
    with f:
        if "layer" not in f or not isinstance(f["layer"], h5py.Group):
            raise ValueError(f"load_netx: {str(path)!r} is HDF5 but not a netx network: it has no 'layer' group "
                             f"(top-level keys: {sorted(f.keys())})")
        root = f["layer"]
        keys = list(root.keys())
        if not keys:
            raise ValueError(f"load_netx: {str(path)!r} has an empty 'layer' group")
        if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
            raise ValueError(f"load_netx: layer groups must be named '0'..'{len(keys) - 1}', got {sorted(keys)}")
        for i in range(len(keys)):
            g = root[str(i)]
            where = f"layer/{i}"
            if "type" not in g:
                raise ValueError(f"load_netx: {where} has no 'type'")
            try:
                kind = _str(g["type"])
            except (ValueError, TypeError) as err:
                raise ValueError(f"load_netx: {where}/type is not a string: {err}") from None
            if kind not in _TYPES:
                raise ValueError(f"load_netx: {where} has type {kind!r}; snnkit reads {list(_TYPES)} "
                                 "(lava-dl's netx itself cannot run pool/average/concat layers either)")
            d: Dict[str, Any] = {"type": kind, "index": i}
            if "shape" in g:
                d["shape"] = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1))
            d["scale"] = float(g.attrs.get("snnkit_weight_scale", SLAYER_SCALE))
            name = g.attrs.get("snnkit_name", None)
            d["name"] = name.decode() if isinstance(name, bytes) else name
            if kind in ("dense", "conv"):
                if "weight" not in g or not isinstance(g["weight"], h5py.Dataset):
                    raise ValueError(f"load_netx: {where} ({kind}) has no 'weight' dataset")
                w = np.asarray(g["weight"][()], dtype=np.float64)
                if not np.all(np.isfinite(w)):
                    raise ValueError(f"load_netx: {where}/weight contains NaN or infinity")
                d["weight"] = w
                if "bias" in g:
                    d["bias"] = np.asarray(g["bias"][()], dtype=np.float64).reshape(-1)
                if "delay" in g:
                    raise ValueError(f"load_netx: {where} has synaptic delays, which snnkit models do not have")
                if kind == "conv":
                    d.update(stride=_pair(g, "stride", 1), padding=_pair(g, "padding", 0),
                             dilation=_pair(g, "dilation", 1), groups=_int(g, "groups", where) if "groups" in g else 1)
                if "neuron" not in g:
                    raise ValueError(f"load_netx: {where} ({kind}) has no 'neuron' group (a non-spiking integrator); "
                                     "snnkit reads CUBA neuron layers only")
                ng = g["neuron"]
                ntype = _str(ng["type"]) if "type" in ng else "?"
                if ntype not in ("CUBA", "LOIHI"):
                    raise ValueError(f"load_netx: {where} has neuron type {ntype!r}; snnkit reads CUBA/LOIHI (LIF) "
                                     "neurons only")
                d["neuron"] = {k: _int(ng, k, f"{where}/neuron") for k in ("iDecay", "vDecay", "vThMant")}
            elif kind == "input" and "neuron" in g:
                # netx runs it as a layer of LIF neurons fed by the input; dropping it would change the network
                raise ValueError(f"load_netx: {where} is an input layer with neurons (a spiking input block, as "
                                 "lava-dl SLAYER's block.*.Input writes); snnkit reads input layers without a "
                                 "'neuron' group only")
            layers.append(d)
        if layers[0]["type"] not in ("input", "dense"):
            # netx allows a file without input layer (SLAYER writes none before a first Dense, whose weight
            # gives the input size); a first conv needs the input layer's shape for its height and width
            raise ValueError(f"load_netx: layer/0 must be the input layer (type 'input' with a shape) or a dense "
                             f"layer, got {layers[0]['type']!r}")
        for d in layers:
            if d["type"] == "dense":
                d["weight"] = _dense_matrix(d["weight"], d.get("shape"), f"layer/{d['index']}")
    return layers


def _dense_matrix(w: np.ndarray, shape: Optional[Tuple[int, ...]], where: str) -> np.ndarray:
    """A dense layer's weight as ``[out, in]``: a 1-D weight is split by the layer's ``shape``, as netx does."""
    if w.ndim == 2:
        return w
    if w.ndim == 1:
        n_out = int(np.prod(shape)) if shape else 0
        if n_out <= 0 or w.size % n_out:
            raise ValueError(f"load_netx: {where}: a 1-D weight of {w.size} values needs the layer's 'shape' (its "
                             f"number of neurons) to divide it, got shape {shape}")
        return w.reshape(n_out, -1)
    return w.reshape(w.shape[0], -1)


def load_netx(path: PathLike, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Read a netx HDF5 file into an snnkit ``nn.Sequential`` (multi-step, ``x[T, B, ...]``).

    Dense layers become ``nn.Linear``, conv layers ``TimeDistributed(nn.Conv2d)``, flatten
    ``snnkit.layers.Flatten`` and each CUBA neuron an ``snnkit.CubaLIF`` with
    ``du = iDecay/4096, dv = vDecay/4096``; weights, thresholds and biases are divided by the
    layer's weight scale (``snnkit_weight_scale``, or SLAYER's 64). The input shape (one sample)
    is stored on the returned model as ``model.input_shape``: the input layer's, or for a file that
    starts with a dense layer (SLAYER writes no input layer there) that layer's input size. Raises ``FileNotFoundError`` for a
    missing file and ``ValueError`` for a corrupt or foreign one.
    """
    import snnkit
    from snnkit import layers as L

    specs = read_netx(path)
    if specs[0]["type"] == "input":
        shape = specs[0].get("shape")
        if not shape:
            raise ValueError("load_netx: the input layer has no shape")
        body = specs[1:]
    else:  # a first dense layer without input layer (as SLAYER writes): its weight gives the input size
        shape, body = (int(specs[0]["weight"].shape[1]),), specs
    cur: Tuple[int, ...] = tuple(shape)
    mods: List[nn.Module] = []
    for d in body:
        where = f"layer/{d['index']}"
        kind = d["type"]
        if kind == "input":
            raise ValueError(f"load_netx: {where}: a second input layer")
        if kind == "flatten":
            mods.append(L.Flatten())
            cur = (int(np.prod(cur)),)
            continue
        s = d["scale"]
        w = d["weight"] / s
        if kind == "dense":
            n_in = int(np.prod(cur))
            if w.shape[1] != n_in:
                raise ValueError(f"load_netx: {where}: weight has {w.shape[1]} inputs but the incoming shape is {cur}")
            if len(cur) > 1:
                mods.append(L.Flatten())
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(w))
            mods.append(lin)
            cur = (w.shape[0],)
        else:
            if w.ndim == 5:  # SLAYER's (out, in, kH, kW, 1)
                w = w.reshape(w.shape[:4])
            if w.ndim != 4 or len(cur) != 3:
                raise ValueError(f"load_netx: {where}: conv weight of shape {d['weight'].shape} on input shape {cur}")
            g = int(d["groups"])
            if w.shape[1] * g != cur[0]:
                raise ValueError(f"load_netx: {where}: conv weight {w.shape} with groups={g} does not fit {cur[0]} "
                                 "input channels")
            conv = nn.Conv2d(w.shape[1] * g, w.shape[0], tuple(w.shape[2:]), stride=d["stride"], padding=d["padding"],
                             dilation=d["dilation"], groups=g, bias=False)
            with torch.no_grad():
                conv.weight.copy_(torch.as_tensor(w))
            mods.append(L.TimeDistributed(conv))
            C, H, W = cur
            oh = (H + 2 * d["padding"][0] - d["dilation"][0] * (w.shape[2] - 1) - 1) // d["stride"][0] + 1
            ow = (W + 2 * d["padding"][1] - d["dilation"][1] * (w.shape[3] - 1) - 1) // d["stride"][1] + 1
            cur = (w.shape[0], oh, ow)
        nd = d["neuron"]
        bias = d.get("bias")
        b = 0.0
        if bias is not None and np.any(bias != 0):
            if bias.size == 1 or np.all(bias == bias.reshape(-1)[0]):
                b = float(bias.reshape(-1)[0]) / s
            else:
                # per-neuron bias: a bias on the membrane equals a bias on the input when du == 1
                if nd["iDecay"] != 4096:
                    raise ValueError(f"load_netx: {where}: per-neuron biases with iDecay={nd['iDecay']} (du < 1) have "
                                     "no snnkit equivalent (CubaLIF has one membrane bias per layer)")
                last = mods[-1].module if isinstance(mods[-1], L.TimeDistributed) else mods[-1]
                bb = bias / s
                if isinstance(last, nn.Conv2d):
                    if bb.size != last.out_channels:
                        raise ValueError(f"load_netx: {where}: conv bias must have one value per channel, got {bb.size}")
                    new = nn.Conv2d(last.in_channels, last.out_channels, last.kernel_size, last.stride, last.padding,
                                    last.dilation, last.groups, bias=True)
                    with torch.no_grad():
                        new.weight.copy_(last.weight)
                        new.bias.copy_(torch.as_tensor(bb))
                    mods[-1] = L.TimeDistributed(new)
                else:
                    new = nn.Linear(last.in_features, last.out_features, bias=True)
                    with torch.no_grad():
                        new.weight.copy_(last.weight)
                        new.bias.copy_(torch.as_tensor(bb))
                    mods[-1] = new
        du = min(max(nd["iDecay"], 0), 4096) / 4096.0
        dv = min(max(nd["vDecay"], 0), 4096) / 4096.0
        mods.append(snnkit.CubaLIF(du=du, dv=dv, v_threshold=nd["vThMant"] / s, bias=b))
    model = nn.Sequential(*mods).to(dtype)
    model.input_shape = tuple(shape)  # type: ignore[attr-defined]
    return model


def netx_plan(path: PathLike):
    """A fixed-point :class:`~snnkit.hardware.lava.NetworkPlan` with exactly the integers netx builds from ``path``.

    ``LavaNetwork(netx_plan(path)).run(x)`` runs a netx file in Lava without lava-dl, and
    :func:`~snnkit.hardware.lava.simulate_plan` reproduces it in numpy. Inputs are unary spikes.
    """
    from .lava import LavaNetwork  # noqa: F401  (documented entry point)
    from .lava import plan_network

    specs = read_netx(path)
    model = load_netx(path, dtype=torch.float64)
    plan = plan_network(trace(model, model.input_shape), bias="auto", conv="native", lava_conv_limits=False)
    weighted = [d for d in specs if d["type"] in ("dense", "conv")]
    if len(weighted) != len(plan.stages):  # pragma: no cover - load_netx builds one stage per layer
        raise ValueError("netx_plan: could not match the file's layers to neuron layers")
    for sp, d in zip(plan.stages, weighted):
        w = np.round(d["weight"]).astype(np.int64)
        if d["type"] == "conv" and w.ndim == 5:
            w = w.reshape(w.shape[:4])
        sp.weight = w.reshape(w.shape[0], -1).astype(np.int32) if d["type"] == "dense" else w.astype(np.int32)
        sp.weight_exp = 0
        nd = d["neuron"]
        sp.du, sp.dv, sp.vth = int(nd["iDecay"]) - 1, int(nd["vDecay"]), int(nd["vThMant"])
        b = np.round(d.get("bias", np.zeros(1))).astype(np.int64).reshape(-1)
        if d["type"] == "conv" and b.size == sp.shape[0]:
            b = np.repeat(b, int(np.prod(sp.shape[1:])))
        sp.bias_mant = np.broadcast_to(b, (sp.size,)).astype(np.int32).copy()
        sp.bias_exp = np.full(sp.size, 6, dtype=np.int32)
        sp.ubias = None
        sp.fixed = True
        sp.scale = 64.0 * d["scale"]
    plan.mode = "fixed_pt"
    plan.input_scale = 1.0
    plan.input_binary = True
    return plan
