"""TCJA attention as a custom Lava process (not native to Loihi: it runs on the host CPU).

Lava's compiler imports every ``.py`` file in this folder while it looks for process models, so
this folder holds process/model definitions only - no scripts, no relative imports.

``TCJAProcess`` receives a neuron layer's spikes in Lava's ``(W, H, C)`` layout, one step at a
time. The gate of a sample needs all its ``T`` steps (``snnkit.hardware.host_ops``), so the
process buffers the sample and emits the gated, graded output ``x * gate`` over the next ``T``
steps: sample time ``t`` of the sample that started arriving at step ``s0`` leaves at step
``s0 + T + t``. ``offset`` is the Lava time step at which the first sample's first step arrives
(``depth + 1`` of the source population); samples follow back to back every ``T`` steps. Before
the first sample is complete the process sends zeros.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Optional, Tuple

import numpy as np

from snnkit.hardware.lava_compat import import_lava

import_lava()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from snnkit.hardware.host_ops import tcja_apply_whc  # noqa: E402

__all__ = ["TCJAProcess", "PyTCJAModelFloat", "PyTCJAModelFixed"]


class TCJAProcess(AbstractProcess):
    """Temporal-channel joint attention over one sample of ``T`` steps (a host process, not native to Loihi).

    Parameters
    ----------
    shape: ``(W, H, C)`` of the input and output (Lava's layout of a conv-shaped population).
    T: time steps per sample.
    weight_t: ``[C, C, kernel_t]`` conv sliding along T, or ``None``.
    weight_c: ``[T, T, kernel_c]`` conv sliding along C, or ``None``.
    offset: Lava time step at which the first sample's first input step arrives.
    out_scale: ``0`` for float messages; fixed point: the gate is sent as ``round(gate * out_scale)``.
    """

    def __init__(self, *, shape: Tuple[int, int, int], T: int, weight_t: Optional[np.ndarray],
                 weight_c: Optional[np.ndarray], offset: int = 1, out_scale: float = 0.0,
                 name: Optional[str] = None, log_config=None) -> None:
        if len(shape) != 3:
            raise ValueError(f"TCJAProcess: shape must be (W, H, C), got {shape!r}")
        if weight_t is None and weight_c is None:
            raise ValueError("TCJAProcess: at least one of weight_t and weight_c must be given")
        super().__init__(shape=tuple(int(s) for s in shape), T=int(T), offset=int(offset), out_scale=float(out_scale),
                         has_t=weight_t is not None, has_c=weight_c is not None, name=name, log_config=log_config)
        C = int(shape[2])
        self.s_in = InPort(shape=tuple(shape))
        self.s_out = OutPort(shape=tuple(shape))
        wt = np.zeros((1, 1, 1)) if weight_t is None else np.asarray(weight_t, dtype=np.float64)
        wc = np.zeros((1, 1, 1)) if weight_c is None else np.asarray(weight_c, dtype=np.float64)
        self.weight_t = Var(shape=wt.shape, init=wt)
        self.weight_c = Var(shape=wc.shape, init=wc)
        self.gate = Var(shape=(int(T), C), init=np.zeros((int(T), C)))  # gate of the last complete sample


class _AbstractPyTCJAModel(PyLoihiProcessModel):
    out_scale: Optional[float] = None

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self.T = int(proc_params["T"])
        self.offset = int(proc_params["offset"])
        self.has_t = bool(proc_params["has_t"])
        self.has_c = bool(proc_params["has_c"])
        shape = tuple(proc_params["shape"])
        self.in_buf = np.zeros((self.T,) + shape, dtype=self._buf_dtype)
        self.out_buf = np.zeros((self.T,) + shape, dtype=self._buf_dtype)
        self._layer = None

    def _layer_view(self):
        if self._layer is None:
            W, H, C = self.in_buf.shape[1:]
            self._layer = SimpleNamespace(name=self.proc_params.get("name") or "tcja", T=self.T, in_shape=(C, H, W),
                                          weight_t=np.asarray(self.weight_t) if self.has_t else None,
                                          weight_c=np.asarray(self.weight_c) if self.has_c else None)
        return self._layer

    def run_spk(self) -> None:
        k = (self.time_step - self.offset) % self.T
        self.s_out.send(self.out_buf[k])  # sample b-1, time k
        self.in_buf[k] = self.s_in.recv()  # sample b, time k
        if k == self.T - 1:  # sample b complete: gate it, send it over the next T steps
            y, gate = tcja_apply_whc(self._layer_view(), self.in_buf, self.out_scale)
            self.out_buf = np.asarray(y, dtype=self._buf_dtype)
            self.gate[:] = gate


@implements(proc=TCJAProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyTCJAModelFloat(_AbstractPyTCJAModel):
    """float64 gate and float64 graded messages (reproduces the PyTorch model's TCJA)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    weight_t: np.ndarray = LavaPyType(np.ndarray, float)
    weight_c: np.ndarray = LavaPyType(np.ndarray, float)
    gate: np.ndarray = LavaPyType(np.ndarray, float)
    _buf_dtype = np.float64


@implements(proc=TCJAProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTCJAModelFixed(_AbstractPyTCJAModel):
    """Integer spikes in, integer graded messages ``spike * round(gate * out_scale)`` out (24-bit payload).

    The gate itself is computed on the host in float64 from the exact integer spike counts (this
    process is not on the neuromorphic cores); ``snnkit.hardware.lava.simulate_plan`` does the same.
    """

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weight_t: np.ndarray = LavaPyType(np.ndarray, float)
    weight_c: np.ndarray = LavaPyType(np.ndarray, float)
    gate: np.ndarray = LavaPyType(np.ndarray, float)
    _buf_dtype = np.int64

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self.out_scale = float(proc_params["out_scale"])
        if self.out_scale <= 0:
            raise ValueError("PyTCJAModelFixed: out_scale must be positive in fixed_pt (set by quantize_plan)")
