"""Packed sparse weights in .lava files: lossless, much smaller, and old (unpacked) files still load."""
from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn as nn

from snnkit import layers as L

pytest.importorskip("lava", reason="lava-nc not installed")

import snnkit  # noqa: E402
from snnkit.hardware import load_lava, to_lava  # noqa: E402
from snnkit.hardware.lava import LAVA_FORMAT  # noqa: E402
from snnkit.hardware.packing import PackedCSR, pack_csr, pack_plan, unpack_csr  # noqa: E402


def _same_csr(a, b) -> None:
    assert type(b) is sp.csr_matrix and a.shape == b.shape and a.dtype == b.dtype
    for f in ("data", "indices", "indptr"):
        got, want = getattr(b, f), getattr(a, f)
        assert got.dtype == want.dtype and np.array_equal(got, want), f


@pytest.mark.parametrize("case", ["float_repeats", "int32", "unsorted", "empty_rows", "empty", "many_values"])
def test_pack_csr_round_trip_is_exact(case) -> None:
    rng = np.random.default_rng(0)
    if case == "empty":
        m = sp.csr_matrix((7, 5), dtype=np.float64)
    elif case == "many_values":     # > 65536 distinct values: 32-bit codes
        m = sp.random(400, 400, density=0.5, format="csr", random_state=1)
    else:
        dense = rng.choice([0.0, 0.25, -0.75, 1e-300, np.pi], size=(40, 60), p=[0.7, 0.1, 0.1, 0.05, 0.05])
        if case == "empty_rows":
            dense[::3] = 0
        m = sp.csr_matrix(dense)
        if case == "int32":
            m = sp.csr_matrix(np.round(dense * 100).astype(np.int32))
        if case == "unsorted":      # a row's column indices out of order must come back out of order
            m.indices[: m.indptr[1]] = m.indices[: m.indptr[1]][::-1].copy()
            assert not m.has_sorted_indices
    p = pack_csr(m)
    assert isinstance(p, PackedCSR)
    _same_csr(m, unpack_csr(p))


def _pooled_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), L.LIF(), nn.AvgPool2d(2), nn.Conv2d(8, 8, 3, padding=1), L.LIF(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10), L.LIF())
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(3)
    return net


def test_saved_network_is_small_and_simulates_identically(tmp_path) -> None:
    lnet = to_lava(_pooled_net(), (2, 16, 16), conv="sparse")
    sparse = [s.weight for s in lnet.plan.stages if sp.issparse(s.weight)]
    raw = sum(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes for w in sparse)
    assert len(sparse) == 3 and raw > 300_000
    path = lnet.save(tmp_path / "net.lava")
    # the pooled convolutions repeat few values over a regular pattern: the file is far below their raw size
    graph_bytes = io.BytesIO()
    torch.save(lnet.plan.graph, graph_bytes)
    assert path.stat().st_size - len(graph_bytes.getvalue()) < raw / 5
    assert all(sp.issparse(s.weight) for s in lnet.plan.stages if s.conn == "sparse")   # saving did not pack in place
    back = load_lava(path)
    for a, b in zip(lnet.plan.stages, back.plan.stages):
        if sp.issparse(a.weight):
            _same_csr(a.weight.tocsr(), b.weight)
    x = (np.random.default_rng(1).random((6, 3, 2, 16, 16)) < 0.3).astype(np.float64)
    want, got = lnet.simulate(x), back.simulate(x)
    assert all(np.array_equal(want[k], got[k]) for k in want) and any(want[k].any() for k in want)


def test_files_written_before_packing_still_load(tmp_path) -> None:
    lnet = to_lava(_pooled_net(), (2, 16, 16), conv="sparse")
    old = {"format": LAVA_FORMAT, "version": 1, "snnkit_version": snnkit.__version__, "mode": lnet.mode,
           "plan": lnet.plan, "meta": {"T": 6}}
    torch.save(old, tmp_path / "v1.lava")
    back = load_lava(tmp_path / "v1.lava")
    assert back.meta == {"T": 6}
    packed = pack_plan(lnet.plan)
    assert any(isinstance(s.weight, PackedCSR) for s in packed.stages)
    for a, b in zip(lnet.plan.stages, back.plan.stages):
        if sp.issparse(a.weight):
            _same_csr(a.weight.tocsr(), b.weight)
