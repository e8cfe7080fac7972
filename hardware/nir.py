"""NIR (Neuromorphic Intermediate Representation, ``nir`` 1.0) export and import.

NIR neurons are continuous-time (``tau dv/dt = (v_leak - v) + R I``). snnkit's neurons are
discrete, so every time constant is written for a simulation step ``dt`` (default ``1e-4``, the
convention snnTorch uses for both export and import): a per-step decay ``k`` becomes
``tau = dt / k``. With forward-Euler steps of ``dt`` the NIR equations reproduce snnkit exactly:

=====================  ======================================================================
snnkit                 NIR
=====================  ======================================================================
``LIF(tau, decay_input)``  ``LIF(tau = tau*dt, r = 1 if decay_input else tau, v_leak = 0,``
                       ``v_threshold, v_reset = 0)``  (``v += (dt/tau_nir)(v_leak - v + r x)``)
``PLIF``               as ``LIF`` with ``tau = 1/sigmoid(w)``
``CubaLIF(du, dv, vth, bias)``  ``CubaLIF(tau_syn = dt/du, tau_mem = dt/dv, r = 1/dv,``
                       ``w_in = 1/du, v_leak = bias/dv, v_threshold, v_reset = 0)``
``IF``                 ``IF(r = 1, v_threshold, v_reset = 0)`` (per step, as snnTorch/Sinabs)
``nn.Linear``          ``Affine`` (``Linear`` without bias); BatchNorm folded in
``nn.Conv2d``          ``Conv2d``; ``SumPool2d``/``AvgPool2d``; ``Flatten(start_dim=0)``
``VotingLayer``        ``Linear`` with the averaging matrix (readout)
=====================  ======================================================================

NIR fires on ``v > v_threshold``; snnkit's IF/LIF/PLIF on ``v >= v_threshold``: their threshold is
written as the float32 just below it, and a NIR LIF/IF threshold is read as the float32 just above it
(exact in float32, where ties are common; float32 thresholds round-trip unchanged).
Parameters are per-neuron arrays of the layer's shape (scalars break NIR's type inference).
``CubaLIF`` with ``du = 0`` or ``dv = 0`` (no decay) has no finite NIR time constant and is
refused. The graph is a chain ``input -> ... -> output``; node names are the module paths with
``.`` replaced by ``_``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .graph import Conv2d, Dense, Flatten, LayerGraph, Neuron, Pool2d, trace

__all__ = ["export_nir", "import_nir", "DT"]

DT = 1e-4


def _full(shape: Sequence[int], value: float) -> np.ndarray:
    return np.full(tuple(int(s) for s in shape), float(value), dtype=np.float64)


def _f32_step(t: float, direction: float) -> float:
    """The float32 neighbour of ``float32(t)`` towards ``direction`` (as a float64 number)."""
    return float(np.nextafter(np.float32(t), np.float32(direction)))


def _nir_threshold(n: Neuron) -> float:
    """NIR fires on ``v > v_threshold``: for ``>=`` neurons (IF/LIF/PLIF) write the float32 just below ``vth``,
    so a potential landing exactly on the threshold still fires in a float32 NIR consumer (snnTorch...)."""
    return _f32_step(n.vth, -np.inf) if n.spike_rule == ">=" else float(n.vth)


def _ge_threshold(t: float) -> float:
    """The ``v >= vth`` threshold of an snnkit IF/LIF for NIR's ``v > t``: the float32 just above ``float32(t)``."""
    return _f32_step(t, np.inf)


def _neuron_node(n: Neuron, dt: float):
    import nir

    shape = n.out_shape
    vth = _full(shape, _nir_threshold(n))
    zero = _full(shape, 0.0)
    if n.source in ("LIF", "PLIF"):
        # v = (1 - k) v + input_scale * x  ==  Euler step of NIR's LIF with dt/tau = k and r = input_scale / k
        # (r = 1 with decay_input; r = tau without it, or when 1/tau was already folded into the weights)
        k = float(n.dv)
        return nir.LIF(tau=_full(shape, dt / k), r=_full(shape, n.input_scale / k), v_leak=zero, v_threshold=vth,
                       v_reset=zero)
    if n.source == "IF":
        return nir.IF(r=_full(shape, n.input_scale), v_threshold=vth, v_reset=zero)
    du, dv, bias = n.du, n.dv, n.bias
    if du <= 0 or dv <= 0:
        raise ValueError(f"export_nir: CubaLIF {n.name!r} has du={du}, dv={dv}; NIR's CubaLIF needs finite time "
                         "constants (du > 0 and dv > 0)")
    return nir.CubaLIF(tau_syn=_full(shape, dt / du), tau_mem=_full(shape, dt / dv), r=_full(shape, 1.0 / dv),
                       v_leak=_full(shape, bias / dv), v_threshold=vth, v_reset=zero, w_in=_full(shape, 1.0 / du))


def _op_node(layer, dt: float):
    import nir

    if isinstance(layer, Dense):
        if layer.bias is None:
            return nir.Linear(weight=layer.weight.copy())
        return nir.Affine(weight=layer.weight.copy(), bias=layer.bias.copy())
    if isinstance(layer, Conv2d):
        bias = layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])
        node = nir.Conv2d(input_shape=tuple(layer.in_shape[1:]), weight=layer.weight.copy(), stride=tuple(layer.stride),
                          padding=tuple(layer.padding), dilation=tuple(layer.dilation), groups=int(layer.groups),
                          bias=bias.copy())
        # nir 1.0 infers (weight.shape[1], H, W) -> wrong with groups > 1 -- and uses kH for both sides of the
        # kernel; set the traced types so grouped and non-square convolutions pass NIRGraph's type check
        node.input_type = {"input": np.array(layer.in_shape)}
        node.output_type = {"output": np.array(layer.out_shape)}
        return node
    if isinstance(layer, Pool2d):
        cls = nir.SumPool2d if layer.mode == "sum" else nir.AvgPool2d
        node = cls(kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride),
                   padding=np.array(layer.padding))
        node.input_type = {"input": np.array(layer.in_shape)}
        node.output_type = {"output": np.array(layer.out_shape)}
        return node
    if isinstance(layer, Flatten):
        return nir.Flatten(input_type={"input": np.array(layer.in_shape)}, start_dim=0, end_dim=-1)
    if isinstance(layer, Neuron):
        return _neuron_node(layer, dt)
    raise TypeError(f"export_nir: unexpected layer {type(layer).__name__}")  # pragma: no cover


def _readout_nodes(graph: LayerGraph, shape: Tuple[int, ...]) -> List[Tuple[str, Any, Tuple[int, ...]]]:
    import nir

    from snnkit import layers as L

    out = []
    for name, mod in graph.readout:
        if isinstance(mod, (nn.Identity, nn.Dropout)) or type(mod).__name__ == "TemporalDropout":
            continue
        if isinstance(mod, nn.Linear):
            w = mod.weight.detach().double().numpy().copy()
            node = (nir.Affine(weight=w, bias=mod.bias.detach().double().numpy().copy()) if mod.bias is not None
                    else nir.Linear(weight=w))
            shape = (mod.out_features,)
        elif isinstance(mod, L.VotingLayer):
            n = shape[-1]
            k = mod.voting_size
            w = np.kron(np.eye(n // k), np.full((1, k), 1.0 / k))
            node = nir.Linear(weight=w)
            shape = (n // k,)
        elif isinstance(mod, (nn.AvgPool2d, L.SumPool2d)):
            from .graph import _pool

            pool = _pool(name, mod, tuple(shape), "sum" if isinstance(mod, L.SumPool2d) else "avg")
            node = _op_node(pool, DT)
            shape = tuple(pool.out_shape)
        elif isinstance(mod, (nn.Flatten, L.Flatten)):
            node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            shape = (int(np.prod(shape)),)
        else:
            raise ValueError(f"export_nir: readout module {name!r} ({type(mod).__name__}) has no NIR node")
        out.append((name, node, shape))
    return out


def export_nir(
    model: Union[nn.Module, LayerGraph],
    input_shape: Optional[Sequence[int]] = None,
    *,
    dt: float = DT,
    path: Union[str, Path, None] = None,
):
    """Export ``model`` as a ``nir.NIRGraph`` (and write it to ``path`` with ``nir.write``, atomically, if given).

    ``input_shape`` (one sample, no time/batch axis) is inferred from a first Linear layer when
    omitted. ``dt`` is the step the time constants are expressed for (snnTorch uses ``1e-4``).
    """
    import nir

    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"export_nir: dt must be a positive number of seconds per step, got {dt!r}")
    if isinstance(model, LayerGraph):
        graph = model
    else:
        if input_shape is None:
            from .netx import _infer_input_shape

            try:
                input_shape = _infer_input_shape(model)
            except ValueError:
                raise ValueError("export_nir: input_shape is required for models that start with a convolution "
                                 "(one sample, no time/batch axis)") from None
        graph = trace(model, input_shape, fold=False)  # keep LIF's 1/tau input scale in the neuron (r)
    host = graph.non_native()
    if host:
        raise ValueError(f"export_nir: layer {host[0].name!r} ({host[0].kind.upper()}) is not native to Loihi and "
                         "NIR 1.0 has no node for it; use snnkit.hardware.to_lava (snnkit export --to lava), "
                         "which runs it as a custom host process, or train the network without it (--attention none)")
    for n in graph.neurons():
        if n.input_scale != 1.0 and n.source not in ("LIF", "PLIF"):  # pragma: no cover - only LIF/PLIF scale
            raise ValueError(f"export_nir: neuron {n.name!r} has an input scale {n.input_scale}")
    nodes: Dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(graph.input_shape)})}
    names = ["input"]
    used = {"input", "output"}

    def add(name: str, node: Any) -> None:
        key = name.replace(".", "_").replace("+", "_") or "node"
        base, i = key, 1
        while key in used:
            key = f"{base}_{i}"
            i += 1
        used.add(key)
        nodes[key] = node
        names.append(key)

    for layer in graph.layers[1:]:
        add(layer.name.split("+")[0], _op_node(layer, dt))
    shape = tuple(graph.layers[-1].out_shape)
    for name, node, shape in _readout_nodes(graph, shape):
        add(name, node)
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    names.append("output")
    edges = [(names[i], names[i + 1]) for i in range(len(names) - 1)]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "snnkit", "dt": dt})
    if path is not None:
        from snnkit._io import atomic_write

        atomic_write(path, lambda tmp: nir.write(tmp, g))
    return g


# --------------------------------------------------------------------------- import


def _uniform(arr: Any, what: str, node: str) -> float:
    a = np.asarray(arr, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"import_nir: node {node!r} has an empty {what}")
    if not np.allclose(a, a[0], rtol=1e-9, atol=0):
        raise ValueError(f"import_nir: node {node!r} has per-neuron {what} values ({a.min():.6g}..{a.max():.6g}); "
                         "snnkit neurons take one value per layer")
    return float(a[0])


def _find_cycle(succ: Dict[str, List[str]], first: str) -> List[str]:
    """One directed cycle of the edge map as ``[a, b, ..., a]`` (searched from ``first`` on), or ``[]``."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    for root in [first, *succ]:
        if state.get(root):
            continue
        path, stack = [root], [iter(succ.get(root, []))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(succ.get(nxt, [])))
    return []


def _chain(graph) -> List[str]:
    import nir

    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"import_nir: expected exactly one Input node, found {len(inputs)}")
    succ: Dict[str, List[str]] = {}
    pred: Dict[str, int] = {}
    for edge in graph.edges:
        if len(edge) != 2 or any(k not in graph.nodes for k in edge):
            raise ValueError(f"import_nir: edge {tuple(edge)!r} names a node the graph does not have "
                             f"(nodes: {sorted(graph.nodes)})")
        a, b = edge
        succ.setdefault(a, []).append(b)
        pred[b] = pred.get(b, 0) + 1
    loop = _find_cycle(succ, inputs[0])
    if loop:
        raise ValueError(f"import_nir: the graph is recurrent ({' -> '.join(map(repr, loop))}), as snnTorch's RLeaky/"
                         "RSynaptic export; snnkit networks are feed-forward chains input -> ... -> output")
    order, cur, seen = [], inputs[0], set()
    while True:
        if cur in seen:
            raise ValueError(f"import_nir: the graph has a cycle at {cur!r} (recurrent graphs are not supported)")
        seen.add(cur)
        order.append(cur)
        nxt = succ.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1 or pred.get(nxt[0], 0) > 1:
            raise ValueError(f"import_nir: the graph branches at {cur!r}; only chains input -> ... -> output are "
                             "supported")
        cur = nxt[0]
    if len(order) != len(graph.nodes):
        raise ValueError(f"import_nir: {len(graph.nodes) - len(order)} node(s) are not on the input->output chain")
    return order


def _pair_of(v: Any) -> Tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _fold_scale(mods: List[nn.Module], scale: float, node: str) -> None:
    """Multiply the last Linear/Conv (and its bias) by ``scale``: an input scale of the following neuron."""
    if scale == 1.0:
        return
    from snnkit import layers as L

    for m in reversed(mods):
        inner = m.module if isinstance(m, L.TimeDistributed) else m
        if isinstance(inner, (nn.Linear, nn.Conv2d)):
            with torch.no_grad():
                inner.weight.mul_(scale)
                if inner.bias is not None:
                    inner.bias.mul_(scale)
            return
        if isinstance(inner, (L.Flatten, L.SumPool2d, nn.AvgPool2d)):
            continue
        break
    raise ValueError(f"import_nir: neuron {node!r} scales its input by {scale:.6g} (r / w_in), but no Linear/Conv "
                     "precedes it to fold the scale into")


def _read_nir_file(path: Path) -> Any:
    """``nir.read(path)`` with clear errors naming the file: missing, not HDF5, HDF5 but not a NIR graph."""
    import h5py
    import nir

    if not path.is_file():
        raise FileNotFoundError(f"import_nir: no such file: {str(path)!r}")
    try:
        with h5py.File(path, "r") as f:
            keys = sorted(f.keys())
    except OSError as err:
        raise ValueError(f"import_nir: {str(path)!r} is not a readable HDF5 file (corrupt or another format): {err}") from None
    if "node" not in keys:
        hint = " (a lava-dl netx file: read it with load_netx)" if "layer" in keys else ""
        raise ValueError(f"import_nir: {str(path)!r} is HDF5 but not a NIR graph: it has no 'node' group "
                         f"(top-level keys: {keys}){hint}")
    try:
        return nir.read(str(path))
    except Exception as err:  # noqa: BLE001 - nir reports a damaged graph with KeyError, TypeError, ...
        try:  # nir 1.0's type inference rejects valid grouped / non-square convolutions; import_nir needs no types
            return nir.read(str(path), type_check=False)
        except Exception:  # noqa: BLE001
            pass
        raise ValueError(f"import_nir: {str(path)!r} is not a NIR graph nir {nir.__version__} can read "
                         f"({type(err).__name__}: {err})") from None


def _graph_dt(graph: Any) -> float:
    """The step a graph's time constants are for: its ``metadata["dt"]`` (``export_nir`` writes it), else ``DT``."""
    meta = getattr(graph, "metadata", None)
    v = meta.get("dt") if isinstance(meta, dict) else None
    try:
        v = float(np.asarray(v).reshape(-1)[0]) if v is not None and np.asarray(v).size == 1 else None
    except (TypeError, ValueError):
        v = None
    return v if v is not None and np.isfinite(v) and v > 0 else DT


def import_nir(graph: Any, *, dt: Optional[float] = None, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Build an snnkit ``nn.Sequential`` (multi-step, ``x[T, B, ...]``) from a NIR graph (or a file path).

    ``dt`` is the simulation step the time constants are divided by; by default the graph's
    ``metadata["dt"]`` (written by :func:`export_nir`), else ``1e-4`` (snnTorch's and SpikingJelly's default).
    LIF nodes become ``snnkit.LIF`` (``tau = tau_nir/dt``; ``r`` other than 1 or ``tau`` is folded
    into the preceding weights; a ``v_leak`` different from ``v_reset`` gives a ``CubaLIF`` with
    ``du = 1``), CubaLIF nodes ``snnkit.CubaLIF`` (``du = dt/tau_syn``, ``dv = dt/tau_mem``, input
    scale ``dv * r * du * w_in`` folded into the preceding weights, ``bias = dv * v_leak``), IF nodes
    ``snnkit.IF`` (``r`` is a per-step input scale folded into the weights, except ``r = 1/dt``:
    SpikingJelly's continuous-time ``dv/dt = R I``, one unit per step). Raises ``ValueError`` naming
    the node for anything without an snnkit equivalent; for a path, ``FileNotFoundError`` (missing) or
    ``ValueError`` (corrupt, not HDF5, not a NIR graph) naming the file.
    """
    import nir

    import snnkit
    from snnkit import layers as L

    if isinstance(graph, (str, Path)):
        graph = _read_nir_file(Path(graph))
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"import_nir: graph must be a nir.NIRGraph or a path to a NIR file, got {type(graph).__name__}")
    if dt is None:
        dt = _graph_dt(graph)
    elif isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"import_nir: dt must be a positive number of seconds per step, got {dt!r}")
    mods: List[nn.Module] = []
    for key in _chain(graph):
        node = graph.nodes[key]
        if isinstance(node, (nir.Input, nir.Output)) or type(node).__name__ == "Identity":
            continue
        if isinstance(node, nir.Affine):
            w, b = np.asarray(node.weight), np.asarray(node.bias)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(w))
                lin.bias.copy_(torch.as_tensor(b.reshape(-1)))
            mods.append(lin)
        elif isinstance(node, nir.Linear):
            w = np.asarray(node.weight)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(w))
            mods.append(lin)
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight)
            pad = node.padding if isinstance(node.padding, str) else _pair_of(node.padding)
            conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=_pair_of(node.stride),
                             padding=pad, dilation=_pair_of(node.dilation), groups=int(node.groups), bias=True)
            with torch.no_grad():
                conv.weight.copy_(torch.as_tensor(w))
                conv.bias.copy_(torch.as_tensor(np.asarray(node.bias).reshape(-1)))
            mods.append(L.TimeDistributed(conv))
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            # one int or a pair each: SpikingJelly writes nn.AvgPool2d(2)'s kernel_size as the int 2
            cls = L.SumPool2d if isinstance(node, nir.SumPool2d) else L.AvgPool2d
            mods.append(cls(_pair_of(node.kernel_size), _pair_of(node.stride), _pair_of(node.padding)))
        elif isinstance(node, nir.Flatten):
            if (node.start_dim, node.end_dim) not in ((0, -1), (1, -1)):
                raise ValueError(f"import_nir: Flatten {key!r} with start_dim={node.start_dim}, end_dim={node.end_dim}; "
                                 "only whole-sample flattening is supported")
            mods.append(L.Flatten())
        elif isinstance(node, nir.Scale):
            _fold_scale(mods, _uniform(node.scale, "scale", key), key)
        elif isinstance(node, nir.IF):
            r = _uniform(node.r, "r", key)
            # r = 1/dt is the continuous-time form (dv/dt = R I, one Euler step of dt: v += I) that
            # SpikingJelly writes; any other r is a per-step input scale (snnTorch, Sinabs, export_nir)
            _fold_scale(mods, 1.0 if np.isclose(r * dt, 1.0, rtol=1e-9, atol=0) else r, key)
            mods.append(snnkit.IF(v_threshold=_ge_threshold(_uniform(node.v_threshold, "v_threshold", key)),
                                  v_reset=_uniform(node.v_reset, "v_reset", key)))
        elif isinstance(node, nir.LIF):
            k = dt / _uniform(node.tau, "tau", key)
            r = _uniform(node.r, "r", key)
            vl, vr = _uniform(node.v_leak, "v_leak", key), _uniform(node.v_reset, "v_reset", key)
            vth = _uniform(node.v_threshold, "v_threshold", key)
            if not 0 < k <= 1:
                raise ValueError(f"import_nir: LIF {key!r} has tau={_uniform(node.tau, 'tau', key)} < dt={dt}; "
                                 "pass the dt the graph was exported with")
            if vl == vr:
                ge = _ge_threshold(vth)  # snnkit's LIF fires on v >= vth, NIR's on v > vth
                if np.isclose(r * k, 1.0, rtol=1e-12, atol=0):
                    mods.append(snnkit.LIF(tau=1.0 / k, decay_input=False, v_threshold=ge, v_reset=vr))
                else:
                    _fold_scale(mods, r, key)
                    mods.append(snnkit.LIF(tau=1.0 / k, decay_input=True, v_threshold=ge, v_reset=vr))
            else:
                if vr != 0.0:
                    raise ValueError(f"import_nir: LIF {key!r} has v_leak={vl} != v_reset={vr} != 0; no snnkit neuron "
                                     "leaks to one potential and resets to another")
                _fold_scale(mods, k * r, key)
                mods.append(snnkit.CubaLIF(du=1.0, dv=k, v_threshold=vth, bias=k * vl))
        elif isinstance(node, nir.CubaLIF):
            du = dt / _uniform(node.tau_syn, "tau_syn", key)
            dv = dt / _uniform(node.tau_mem, "tau_mem", key)
            if not (0 < du <= 1 and 0 < dv <= 1):
                raise ValueError(f"import_nir: CubaLIF {key!r} gives du={du:.6g}, dv={dv:.6g} outside (0, 1] at "
                                 f"dt={dt}; pass the dt the graph was exported with")
            r, w_in = _uniform(node.r, "r", key), _uniform(node.w_in, "w_in", key)
            if _uniform(node.v_reset, "v_reset", key) != 0.0:
                raise ValueError(f"import_nir: CubaLIF {key!r} resets to {node.v_reset.reshape(-1)[0]}; snnkit's "
                                 "CubaLIF (Lava's LIF) resets to 0")
            _fold_scale(mods, dv * r * du * w_in, key)
            mods.append(snnkit.CubaLIF(du=du, dv=dv, v_threshold=_uniform(node.v_threshold, "v_threshold", key),
                                       bias=dv * _uniform(node.v_leak, "v_leak", key)))
        else:
            raise ValueError(f"import_nir: node {key!r} ({type(node).__name__}) has no snnkit equivalent")
    return nn.Sequential(*mods).to(dtype)
