"""CubaLIF reproduces Lava's own ``LIF`` process (floating_pt) exactly: spikes and voltages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit import functional as F
from tests.conftest import CPU_BACKENDS

pytest.importorskip("lava", reason="lava-nc not installed")


def _run_lava(x: np.ndarray, du: float, dv: float, vth: float, bias: float):
    from snnkit.hardware import import_lava

    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    n, steps = x.shape
    src = RingBuffer(data=x)
    lif = LIF(shape=(n,), du=du, dv=dv, vth=vth, bias_mant=bias)
    src.s_out.connect(lif.a_in)
    mon_s, mon_v, mon_u = Monitor(), Monitor(), Monitor()
    mon_s.probe(lif.s_out, steps)
    mon_v.probe(lif.v, steps)
    mon_u.probe(lif.u, steps)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        s = mon_s.get_data()[lif.name]["s_out"]
        v = mon_v.get_data()[lif.name]["v"]
        u = mon_u.get_data()[lif.name]["u"]
    finally:
        lif.stop()
    return s, u, v


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("du,dv,bias", [(0.3, 0.2, 0.05), (1.0, 0.1, 0.0), (0.05, 0.5, -0.02)])
def test_cuba_lif_equals_lava_lif(backend: str, du: float, dv: float, bias: float) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0.3, 0.6, size=(24, 40))  # [neurons, time] as Lava's RingBuffer wants
    s_lava, u_lava, v_lava = _run_lava(x, du, dv, 1.0, bias)
    xt = torch.tensor(x.T, dtype=torch.float64).unsqueeze(1)  # [T, 1, N]
    s, (u, v) = F.cuba_lif_multistep(xt, du=du, dv=dv, v_threshold=1.0, bias=bias, backend=backend)
    assert s_lava.sum() > 10, "test input should make the neurons spike"
    np.testing.assert_array_equal(s[:, 0].numpy(), s_lava)
    np.testing.assert_array_equal(v[0].numpy(), v_lava[-1])
    np.testing.assert_array_equal(u[0].numpy(), u_lava[-1])
