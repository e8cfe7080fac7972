"""snnkit.data.imu_watch on the real seglearn smartwatch file, each step against a slow hand-written version."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

iw = pytest.importorskip("snnkit.data.imu_watch")
if importlib.util.find_spec("seglearn") is None:
    pytest.skip(f"seglearn not installed ({iw.PIP_COMMAND})", allow_module_level=True)


@pytest.fixture(scope="module")
def raw():
    return iw.load_watch_raw()


@pytest.fixture(scope="module")
def splits():
    return iw.load_watch()


def _slow_windows(raw, width=100, stride=50):
    """Plain loops: every complete window of every series, channels first, with its label and subject."""
    out = []
    for x, y, s in zip(raw["X"], raw["y"], raw["subject"]):
        start = 0
        while start + width <= len(x):
            out.append(([[x[start + k][c] for k in range(width)] for c in range(6)], int(y), int(s)))
            start += stride
    return out


def test_file_counts_and_balance(raw) -> None:
    # the published set: 140 series of 947-2618 samples, 7 classes x 20 series, 10 subjects x 14 series
    assert len(raw["X"]) == 140
    lengths = [len(x) for x in raw["X"]]
    assert (min(lengths), max(lengths)) == (947, 2618)
    assert np.bincount(raw["y"]).tolist() == [20] * 7
    assert sorted(np.unique(raw["subject"]).tolist()) == list(range(1, 11))
    assert np.bincount(raw["subject"])[1:].tolist() == [14] * 10
    assert raw["classes"] == iw.CLASSES and raw["channels"] == iw.CHANNELS


def test_windows_equal_slow_version(raw) -> None:
    w, y, s, src = iw.make_windows(raw["X"], raw["y"], raw["subject"], 100, 50)
    slow = _slow_windows(raw)
    assert len(w) == len(slow) == sum((n - 100) // 50 + 1 for n in map(len, raw["X"]))
    assert w.shape == (len(slow), 6, 100)
    np.testing.assert_array_equal(w, np.array([a for a, _, _ in slow]))
    assert y.tolist() == [b for _, b, _ in slow] and s.tolist() == [c for _, _, c in slow]
    assert (np.diff(src) >= 0).all() and len(np.unique(src)) == 140


def test_window_starts_drop_the_tail() -> None:
    assert iw.window_starts(250, 100, 50).tolist() == [0, 50, 100, 150]
    assert iw.window_starts(249, 100, 50).tolist() == [0, 50, 100]
    assert iw.window_starts(99, 100, 50).tolist() == []
    with pytest.raises(ValueError, match="stride"):
        iw.window_starts(200, 100, 0)


def test_split_by_subject_no_leakage(splits, raw) -> None:
    train, test = splits
    assert sorted(set(train.subject.tolist())) == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(set(test.subject.tolist())) == [8, 9, 10]
    assert not set(train.series.tolist()) & set(test.series.tolist())  # no series on both sides
    slow = _slow_windows(raw)
    assert len(train) == sum(s <= 7 for _, _, s in slow) == 3193
    assert len(test) == sum(s >= 8 for _, _, s in slow) == 1484
    # every class in both splits, counted by the slow version
    for split, keep in ((train, lambda s: s <= 7), (test, lambda s: s >= 8)):
        want = np.bincount([y for _, y, s in slow if keep(s)], minlength=7)
        assert np.bincount(split.y.numpy(), minlength=7).tolist() == want.tolist()
        assert want.min() > 0


def test_frames_are_standardised_windows(splits, raw) -> None:
    train, test = splits
    assert train.x.shape == (3193, 20, 6, 1, 5) and train.x.dtype.is_floating_point
    slow = _slow_windows(raw)
    tr = np.array([a for a, _, s in slow if s <= 7], dtype=np.float64)
    te = np.array([a for a, _, s in slow if s >= 8], dtype=np.float64)
    # statistics of the training windows only, per channel, computed by hand
    n = tr.shape[0] * tr.shape[2]
    mean = [sum(tr[:, c, :].ravel()) / n for c in range(6)]
    std = [np.sqrt(sum((v - mean[c]) ** 2 for v in tr[:, c, :].ravel()) / n) for c in range(6)]
    for split, wins in ((train, tr), (test, te)):
        for i in (0, 17, len(wins) - 1):
            for t in (0, 7, 19):
                for c in range(6):
                    for k in range(5):  # step t holds samples 5t..5t+4 of each channel
                        want = (wins[i, c, 5 * t + k] - mean[c]) / std[c]
                        assert split.x[i, t, c, 0, k].item() == pytest.approx(want, rel=1e-5, abs=1e-5)
    flat = train.x.double().permute(2, 0, 1, 3, 4).reshape(6, -1)
    np.testing.assert_allclose(flat.mean(1).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(1, unbiased=False).numpy(), 1, atol=1e-5)
    assert abs(test.x.double().mean().item()) > 1e-4  # the test split is not re-standardised on itself


def test_to_frames_refuses_bad_length() -> None:
    with pytest.raises(ValueError, match="multiple of T=20"):
        iw.to_frames(np.zeros((2, 6, 101)), 20)


def test_missing_seglearn_names_the_pip_command(monkeypatch) -> None:
    monkeypatch.setattr(iw.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps seglearn==1.2.5"):
        iw.watch_path()


def test_bad_subject_split() -> None:
    with pytest.raises(ValueError, match="n_test"):
        iw.subject_split(np.array([1, 2, 3]), 3)
