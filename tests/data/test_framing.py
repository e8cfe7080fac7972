"""Framing: bin edges against tonic's ToFrame and SpikingJelly's integrate functions, edge cases, resizing."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from snnkit.data import Framing, make_events, resize_events, to_frames
from snnkit.data.events import bin_index

from .native import random_events

S = (7, 5, 2)  # W, H, P: non-square catches x/y mix-ups


def load_sj_utils():
    """spikingjelly.datasets.utils without its package __init__ (which needs torchvision, absent on CPU installs)."""
    sj = pytest.importorskip("spikingjelly")
    path = Path(sj.__file__).parent / "datasets" / "utils.py"
    stubbed = "torchvision" not in sys.modules
    if stubbed:
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, tv.transforms
    try:
        spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"spikingjelly.datasets.utils not importable here: {e}")
    finally:
        if stubbed:
            sys.modules.pop("torchvision", None)
            sys.modules.pop("torchvision.transforms", None)
    return mod


def cases(n_cases: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n = int(rng.integers(1, 300))
        t = np.sort(rng.integers(0, int(rng.integers(1, 3000)), n))
        yield make_events(rng.integers(0, S[0], n), rng.integers(0, S[1], n), t, rng.integers(0, 2, n))


def test_tonic_convention_matches_tonic_toframe() -> None:
    ToFrame = pytest.importorskip("tonic.transforms").ToFrame
    for ev in cases():
        for m in (1, 3, 20):
            np.testing.assert_array_equal(to_frames(ev, S, m, split_by="number", convention="tonic"),
                                          ToFrame(S, n_event_bins=m)(ev.copy()))
            np.testing.assert_array_equal(to_frames(ev, S, m, split_by="time", convention="tonic"),
                                          ToFrame(S, n_time_bins=m)(ev.copy()))
        for w in (50, 700, 5000):
            for inc in (False, True):
                np.testing.assert_array_equal(to_frames(ev, S, time_window=w, convention="tonic", include_incomplete=inc),
                                              ToFrame(S, time_window=w, include_incomplete=inc)(ev.copy()))
        for c in (1, 40, 500):
            for inc in (False, True):
                np.testing.assert_array_equal(to_frames(ev, S, event_count=c, convention="tonic", include_incomplete=inc),
                                              ToFrame(S, event_count=c, include_incomplete=inc)(ev.copy()))


def test_spikingjelly_convention_matches_spikingjelly() -> None:
    u = load_sj_utils()
    compared = {"number": 0, "time": 0, "duration": 0}
    for ev in cases():
        d = {k: ev[k] for k in "txyp"}
        for m in (1, 3, 20):
            for split_by in ("number", "time"):
                try:
                    ref = u.integrate_events_by_fixed_frames_number(d, split_by, m, S[1], S[0])
                except IndexError:  # SpikingJelly fails on an empty time bin; snnkit gives an empty frame
                    continue
                np.testing.assert_array_equal(to_frames(ev, S, m, split_by=split_by), ref)
                compared[split_by] += 1
        for w in (50, 700, 5000):
            try:
                ref = u.integrate_events_by_fixed_duration(d, w, S[1], S[0])
            except IndexError:
                continue
            np.testing.assert_array_equal(to_frames(ev, S, time_window=w), ref)
            compared["duration"] += 1
    assert min(compared.values()) >= 20, compared


def test_bin_edges_documented_example() -> None:
    # 10 events, 3 bins by number: SpikingJelly 3/3/4 (last bin takes the remainder), tonic 3/3/3 (one dropped)
    ev = make_events(np.zeros(10), np.zeros(10), np.arange(10) * 100, np.ones(10))
    assert to_frames(ev, S, 3).sum(axis=(1, 2, 3)).tolist() == [3, 3, 4]
    assert to_frames(ev, S, 3, convention="tonic").sum(axis=(1, 2, 3)).tolist() == [3, 3, 3]
    # by time: dt = 900 // 3 = 300; the last event (t=900 = t0 + 3*dt) is outside the last bin's edge
    assert to_frames(ev, S, 3, split_by="time").sum(axis=(1, 2, 3)).tolist() == [3, 3, 4]
    assert to_frames(ev, S, 3, split_by="time", convention="tonic").sum(axis=(1, 2, 3)).tolist() == [3, 3, 3]


def test_empty_events() -> None:
    ev = make_events([], [], [], [])
    for conv in ("spikingjelly", "tonic"):
        assert to_frames(ev, S, 4, convention=conv).shape == (4, 2, 5, 7)
        assert to_frames(ev, S, 4, split_by="time", convention=conv).shape == (4, 2, 5, 7)
        assert to_frames(ev, S, time_window=100, convention=conv).shape == (1, 2, 5, 7)
        assert to_frames(ev, S, event_count=10, convention=conv).shape == (1, 2, 5, 7)
        assert to_frames(ev, S, 4, convention=conv).sum() == 0


def test_single_event() -> None:
    ev = make_events([3], [2], [1234], [1])
    for split_by in ("number", "time"):
        f = to_frames(ev, S, 5, split_by=split_by)
        assert f.shape == (5, 2, 5, 7) and f[4, 1, 2, 3] == 1 and f.sum() == 1   # SpikingJelly: the last bin
        assert to_frames(ev, S, 5, split_by=split_by, convention="tonic").sum() == 0  # tonic: bin width 0, dropped
        assert to_frames(ev, S, 1, split_by=split_by, convention="tonic").sum() == (1 if split_by == "number" else 0)
    assert to_frames(ev, S, time_window=10).shape == (1, 2, 5, 7)
    assert to_frames(ev, S, time_window=10).sum() == 1
    assert to_frames(ev, S, event_count=10, convention="tonic").sum() == 1   # N < C: one frame with all events


def test_empty_middle_bins_and_events_after_last_edge() -> None:
    # two bursts far apart: middle time bins are empty (SpikingJelly itself raises here)
    t = np.r_[np.arange(5), 10_000 + np.arange(5)]
    ev = make_events(np.arange(10) % 7, np.zeros(10), t, np.zeros(10))
    f = to_frames(ev, S, 10, split_by="time")
    per = f.sum(axis=(1, 2, 3))
    assert per.tolist() == [5, 0, 0, 0, 0, 0, 0, 0, 0, 5] and f.sum() == 10
    g = to_frames(ev, S, 10, split_by="time", convention="tonic")
    # tonic: dt = 10004 // 10 = 1000, so the second burst (t >= t0 + 10*dt) falls past the last edge and is dropped
    assert g.sum(axis=(1, 2, 3)).tolist() == [5, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    # fixed window: the last event exactly on an edge
    ev2 = make_events([0, 1, 2], [0, 0, 0], [0, 100, 200], [1, 1, 1])
    assert to_frames(ev2, S, time_window=100).sum(axis=(1, 2, 3)).tolist() == [1, 2]
    assert to_frames(ev2, S, time_window=100, convention="tonic").sum(axis=(1, 2, 3)).tolist() == [1, 1]
    assert to_frames(ev2, S, time_window=100, convention="tonic", include_incomplete=True).sum(axis=(1, 2, 3)).tolist() == [1, 1]


def test_event_count_remainder() -> None:
    ev = make_events(np.zeros(10), np.zeros(10), np.arange(10), np.zeros(10))
    assert to_frames(ev, S, event_count=4).sum(axis=(1, 2, 3)).tolist() == [4, 4, 2]
    assert to_frames(ev, S, event_count=4, convention="tonic").sum(axis=(1, 2, 3)).tolist() == [4, 4]
    assert to_frames(ev, S, event_count=4, convention="tonic", include_incomplete=True).sum(axis=(1, 2, 3)).tolist() == [4, 4, 2]


def test_unsorted_time_uses_each_events_timestamp() -> None:
    rng = np.random.default_rng(1)
    ev = random_events(rng, 200, 7, 5, 1000)
    perm = ev[rng.permutation(len(ev))]
    np.testing.assert_array_equal(to_frames(perm, S, 4, split_by="time"), to_frames(ev, S, 4, split_by="time"))


def test_polarity_and_channels() -> None:
    ev = make_events([0, 1, 2], [0, 0, 0], [0, 1, 2], [-1, 1, -1])
    f = to_frames(ev, S, 1)
    assert f[0, 0].sum() == 2 and f[0, 1].sum() == 1
    ev_bool = make_events([0, 1], [0, 0], [0, 1], [True, False])
    assert to_frames(ev_bool, S, 1)[0, 1, 0, 0] == 1
    merged = to_frames(ev, (7, 5, 1), 1)
    assert merged.shape == (1, 1, 5, 7) and merged.sum() == 3
    with pytest.raises(ValueError, match="polarity"):
        to_frames(make_events([0], [0], [0], [2]), S, 1)


def test_wrong_sensor_size_and_bad_arguments() -> None:
    ev = make_events([0, 7], [0, 1], [0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"x ranges over \[0, 7\].*sensor_size=\(7, 5, 2\)"):
        to_frames(ev, S, 2)
    ok = make_events([0], [0], [0], [0])
    with pytest.raises(ValueError, match="exactly one of n_bins"):
        to_frames(ok, S, 2, time_window=10)
    with pytest.raises(ValueError, match="exactly one of n_bins"):
        to_frames(ok, S)
    with pytest.raises(ValueError, match="n_bins must be a positive integer, got 0"):
        to_frames(ok, S, 0)
    with pytest.raises(ValueError, match="convention must be one of"):
        to_frames(ok, S, 2, convention="snntorch")
    with pytest.raises(ValueError, match="split_by must be one of"):
        to_frames(ok, S, 2, split_by="count")
    with pytest.raises(ValueError, match="sensor_size must be"):
        to_frames(ok, (7, 5), 2)
    with pytest.raises(TypeError, match="structured array"):
        to_frames(np.zeros((3, 4)), S, 2)
    with pytest.raises(ValueError, match="time_window must be a positive number"):
        Framing(time_window=-1)


def test_resize_is_sum_pooling() -> None:
    rng = np.random.default_rng(2)
    ev = random_events(rng, 2000, 128, 128)
    small, sensor = resize_events(ev, (128, 128, 2), (32, 64))
    assert sensor == (64, 32, 2)
    big = to_frames(ev, (128, 128, 2), 3)
    pooled = big.reshape(3, 2, 32, 4, 64, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(to_frames(small, sensor, 3), pooled)
    np.testing.assert_array_equal(Framing(n_bins=3, size=(32, 64))(ev, (128, 128, 2)), pooled)
    with pytest.raises(ValueError, match=r"size must be \(H, W\)"):
        resize_events(ev, (128, 128, 2), (0, 4))


def test_bin_index_counts_frames() -> None:
    ev = make_events(np.zeros(7), np.zeros(7), np.arange(7) * 10, np.zeros(7))
    b, n = bin_index(ev, time_window=25)
    assert n == 3 and b.tolist() == [0, 0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("sensor,n_cases", [((16, 12, 2), 30), ((128, 96, 2), 6)])
def test_slice_path_agrees_with_per_event_bins(sensor, n_cases) -> None:
    """to_frames counts time-ordered frames from slices (one histogram when small, frame by frame when large);
    that must equal binning every event with bin_index."""
    rng = np.random.default_rng(3)
    w, h, _ = sensor
    for _ in range(n_cases):
        n = int(rng.integers(1, 400))
        ev = random_events(rng, n, w, h, duration=int(rng.integers(1, 5000)))
        for kw in (dict(n_bins=int(rng.integers(1, 40)), split_by="number"), dict(n_bins=int(rng.integers(1, 40)), split_by="time"),
                   dict(time_window=float(rng.integers(1, 900))), dict(event_count=int(rng.integers(1, 60)))):
            for conv in ("spikingjelly", "tonic"):
                for inc in (False, True):
                    b, nf = bin_index(ev, convention=conv, include_incomplete=inc, **kw)
                    ref = np.zeros((nf, 2, h, w))
                    k = b >= 0
                    np.add.at(ref, (b[k], ev["p"][k], ev["y"][k], ev["x"][k]), 1)
                    np.testing.assert_array_equal(to_frames(ev, sensor, convention=conv, include_incomplete=inc, **kw), ref)


def test_fractional_time_window_matches_both_libraries() -> None:
    """A time_window that is not a whole number of microseconds (30 fps: 1e6 / 30 us, or --time-window 333.3):
    SpikingJelly bins by ``(t - t0) // W`` and tonic slices at ``start_k = k*W + t0``, ``end_k = start_k + W``;
    in floating point those edges differ from ``t0 + k*W`` by an ulp, which moved events at the edges."""
    ToFrame = pytest.importorskip("tonic.transforms").ToFrame
    u = load_sj_utils()
    rng = np.random.default_rng(7)
    compared = {"sj": 0, "tonic": 0}
    for _ in range(400):
        n, span = int(rng.integers(2, 80)), int(rng.integers(2, 3000))
        ev = make_events(rng.integers(0, S[0], n), rng.integers(0, S[1], n), np.sort(rng.integers(0, span, n)),
                         rng.integers(0, 2, n))
        d = {k: ev[k] for k in "txyp"}
        for w in (span / 3, span / 7, 1000 / 3, 100 / 3, 0.1 * span + 0.05):
            try:
                ref = u.integrate_events_by_fixed_duration(d, w, S[1], S[0])
            except IndexError:   # SpikingJelly: zero-length recording
                ref = None
            if ref is not None:
                np.testing.assert_array_equal(to_frames(ev, S, time_window=w), ref)
                np.testing.assert_array_equal(to_frames(ev[::-1].copy(), S, time_window=w), ref)   # per-event path
                compared["sj"] += 1
            for inc in (False, True):
                np.testing.assert_array_equal(to_frames(ev, S, time_window=w, convention="tonic", include_incomplete=inc),
                                              ToFrame(S, time_window=w, include_incomplete=inc)(ev.copy()))
                compared["tonic"] += 1
    assert min(compared.values()) > 1000, compared


def test_fractional_time_window_keys_a_new_cache() -> None:
    """Caches framed with the old fractional-window edges must not be read back: their key moved; whole windows'
    frames did not change, so neither did their key (the pinned keys in test_audit_fixes)."""
    assert "time_edges" in Framing(time_window=1e6 / 30).to_dict()
    assert Framing(time_window=50000.0).to_dict() == Framing(time_window=50000).to_dict()
    assert "time_edges" not in Framing(time_window=50000.0).to_dict()
