"""Dataset-copy checks and messages from the data-loader audit: each test fails on the code before the fix."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnkit.data as D
from snnkit.data.neuromorphic import read_gesture_npy

tonic = pytest.importorskip("tonic")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gesture_npy_fractional_ms_times_as_tonic(tmp_path: Path, monkeypatch, dtype) -> None:
    t_ms = np.array([14.257, 16.0955, 34.854, 55.8195, 0.5, 1200.75], dtype=dtype)
    raw = np.stack([np.arange(6), np.arange(6) * 2, np.array([0, 1, 0, 1, 1, 0]), t_ms], axis=1).astype(dtype)
    path = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led" / "3.npy"
    path.parent.mkdir(parents=True)
    np.save(path, raw)
    monkeypatch.setattr(tonic.datasets.DVSGesture, "_check_exists", lambda self: True)
    tev, label = tonic.datasets.DVSGesture(save_to=str(tmp_path), train=True)[0]
    ours = read_gesture_npy(path)
    np.testing.assert_array_equal(ours["t"], tev["t"].astype(np.int64))
    assert ours["t"][4] == 500 and ours["t"][5] == 1_200_750          # exact in binary: 0.5 ms, 1200.75 ms
    assert ours["t"][0] in (14_256, 14_257)                           # not cut to 14_000 before the x1000
