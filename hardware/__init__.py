"""snnkit.hardware: the path from a trained snnkit model to Loihi-style simulation in Lava.

Public API (imported lazily: ``import snnkit.hardware`` imports neither lava nor h5py/nir)::

    trace(model, input_shape)            -> LayerGraph        (graph.py)
    to_lava(model, input_shape, mode)    -> LavaNetwork; .run(x) -> LavaResult; .simulate(x); .save(path)
    load_lava(path)                      -> LavaNetwork (written by .save / ``snnkit export --to lava``)
    host_ops_report(plan, B)             -> host (CPU) op counts of non-native layers (TCJA)
    compare(model, inputs, mode=...)     -> CompareReport (.to_dict(): spike_agreement, per_layer,
                                            first_divergence, class_agreement, ...)
    quantize_plan(plan, calibration)     -> fixed-point plan with a QuantReport
    export_netx(model, path) / load_netx(path) / netx_plan(path)
    export_nir(model) / import_nir(graph)
    count_ops(model, inputs) / count_lava(result) -> OpsReport
    energy(counts, model="loihi")        -> EnergyReport

Lava itself is imported only inside the functions that run it, through
:func:`lava_compat.import_lava` (which makes lava-nc 0.10 importable on Python 3.11).
"""
from __future__ import annotations

import importlib
from typing import Any

from .lava_compat import import_lava

# ``compare`` and ``energy`` are both submodules and functions. Importing the (lava-free) submodules
# now and binding the functions afterwards keeps ``snnkit.hardware.compare`` the function even after
# ``from snnkit.hardware.compare import CompareReport`` (an already-imported submodule is not re-bound).
from . import compare as _compare_module  # noqa: E402
from . import energy as _energy_module  # noqa: E402

compare = _compare_module.compare
energy = _energy_module.energy

_EXPORTS = {
    "trace": "graph",
    "LayerGraph": "graph",
    "to_lava": "lava",
    "LavaNetwork": "lava",
    "LavaResult": "lava",
    "simulate_plan": "lava",
    "load_lava": "lava",
    "host_ops_report": "host_ops",
    "compare": "compare",
    "CompareReport": "compare",
    "quantize_plan": "quantize",
    "QuantReport": "quantize",
    "QuantizationWarning": "quantize",
    "export_netx": "netx",
    "load_netx": "netx",
    "read_netx": "netx",
    "netx_plan": "netx",
    "DroppedReadoutWarning": "netx",
    "export_nir": "nir",
    "import_nir": "nir",
    "count_ops": "counters",
    "count_lava": "counters",
    "OpsReport": "counters",
    "count_module_ops": "counters",
    "compare_snn_ann": "energy",
    "ann_counterpart": "energy",
    "SnnAnnComparison": "energy",
    "energy": "energy",
    "register_energy_model": "energy",
    "unregister_energy_model": "energy",
    "get_energy_model": "energy",
    "COST_KEYS": "energy",
    "EnergyReport": "energy",
    "ENERGY_MODELS": "energy",
}

__all__ = ["import_lava", *_EXPORTS]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'snnkit.hardware' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))
