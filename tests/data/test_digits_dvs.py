"""The offline event dataset: a DVS simulation of scikit-learn's digits in N-MNIST-style saccades."""
from __future__ import annotations

import numpy as np
import pytest

import snnkit.data as D
from snnkit.data.digits_dvs import DVSSimParams, load_digit_images, simulate, simulate_batch


@pytest.fixture(scope="module")
def digits():
    return load_digit_images()


def test_events_structure_and_determinism(digits) -> None:
    images, _ = digits
    ev = simulate(images[7], 7)
    assert ev.dtype.names == ("x", "y", "t", "p") and all(ev.dtype[f].kind == "i" for f in "xytp")
    assert np.array_equal(ev, simulate(images[7], 7))                           # same seed, same events
    assert not np.array_equal(ev, simulate(images[7], 7, DVSSimParams(seed=1)))  # seed matters
    assert not np.array_equal(ev, simulate(images[7], 8))                       # each digit has its own stream
    assert ev["x"].min() >= 0 and ev["x"].max() < 34 and ev["y"].min() >= 0 and ev["y"].max() < 34
    assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0 and ev["t"].max() < 300_000
    assert set(np.unique(ev["p"])) == {0, 1}
    assert 1000 < len(ev) < 20000


def test_batch_equals_single_in_any_order(digits) -> None:
    images, _ = digits
    idx = np.array([11, 3, 500, 1796, 42])
    batch = simulate_batch(images[idx], idx)
    for k, i in enumerate(idx):
        assert np.array_equal(batch[k], simulate(images[i], int(i)))


def test_three_saccades_like_nmnist(digits) -> None:
    images, _ = digits
    ev = simulate(images[0], 0, DVSSimParams(noise_hz=0.0))
    counts = np.histogram(ev["t"], bins=[0, 100_000, 200_000, 300_000])[0]
    assert np.all(counts > 0.15 * len(ev))          # every saccade produces events
    # ON and OFF both come from moving edges, in similar numbers
    assert 0.3 < ev["p"].mean() < 0.7
    # events cluster mid-saccade (smooth velocity profile), not at the turning points
    phase = ev["t"] % 100_000
    assert np.mean((phase > 25_000) & (phase < 75_000)) > 0.6


def test_blank_image_gives_only_noise(digits) -> None:
    ev = simulate(np.zeros((8, 8)), 0, DVSSimParams(noise_hz=0.0))
    assert len(ev) == 0
    ev = simulate(np.zeros((8, 8)), 0)
    assert 0 < len(ev) < 200      # background activity only: 0.2 Hz x 1156 pixels x 0.3 s ~ 70 events


def test_flicker_is_a_whole_scene_dip(digits) -> None:
    """A flicker darkens every pixel by flicker_depth (log) and back: per pixel 2 OFF events, then ON events."""
    from snnkit.data.digits_dvs import _per_sample_randomness

    p = DVSSimParams(noise_hz=0.0, threshold_sigma=0.0, threshold=0.5, flicker_hz=4.0, flicker_depth=1.2)
    idx = next(i for i in range(100) if len(_per_sample_randomness(p, i)[3]) == 1)   # a recording with one flicker
    onset = _per_sample_randomness(p, idx)[3][0]
    ev = simulate(np.zeros((8, 8)), idx, p)        # blank screen: flicker events only
    assert np.all((ev["t"] >= onset - p.dt_us) & (ev["t"] <= onset + p.flicker_us + p.dt_us))
    pix = ev["y"].astype(np.int64) * 34 + ev["x"]
    off, on = np.bincount(pix[ev["p"] == 0], minlength=34 * 34), np.bincount(pix[ev["p"] == 1], minlength=34 * 34)
    assert np.all(off == 2)                        # dip reaches >= 1.0 = 2 thresholds (sampled at dt_us steps)
    assert np.all((on >= 1) & (on <= 2))           # recovery to the start level (2, or 1 after float32 rounding)
    for k in np.unique(pix):                       # darkening comes first, then brightening
        sel = ev[pix == k]
        assert sel["p"][:2].tolist() == [0, 0] and np.all(sel["p"][2:] == 1)
    # flicker off (the default) leaves every recording exactly as without the option
    images, _ = digits
    assert np.array_equal(simulate(images[3], 3, DVSSimParams(flicker_depth=3.0)), simulate(images[3], 3))


def test_flicker_event_count_quoted_in_data_md(digits) -> None:
    """docs/data.md's events per flicker at the default depth (it said 4,600, the count of a dip past two thresholds)."""
    import re
    from pathlib import Path

    from snnkit.data.digits_dvs import _per_sample_randomness

    images, _ = digits
    n = 120
    p = DVSSimParams(flicker_hz=5.0)
    extra = sum(len(a) - len(b) for a, b in zip(simulate_batch(images[:n], range(n), p),
                                                  simulate_batch(images[:n], range(n))))
    flickers = sum(len(_per_sample_randomness(p, i)[3]) for i in range(n))
    per_flicker = extra / flickers
    assert 1.5 * 34 * 34 < per_flicker < 2.5 * 34 * 34       # ~2 of the 4 threshold crossings per pixel at depth 1.0
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text().split())
    quoted = float(re.search(r"each flicker adds about ([\d,]+) events", text).group(1).replace(",", ""))
    assert abs(quoted - per_flicker) < 0.1 * per_flicker, (quoted, per_flicker)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        DVSSimParams(threshold=0)
    with pytest.raises(ValueError, match="sensor"):
        DVSSimParams(sensor=20)
    with pytest.raises(ValueError, match="flicker_hz"):
        DVSSimParams(flicker_hz=-1.0)
    with pytest.raises(ValueError, match="images must be"):
        simulate_batch(np.zeros((8, 8)), [0])


def test_load_shapes_labels_split(digits_dvs_frames, digits) -> None:
    (train, test), _ = digits_dvs_frames
    assert (len(train), len(test)) == (1437, 360)
    assert train.classes == [str(i) for i in range(10)]
    x, y = train[0]
    assert x.shape == (8, 2, 34, 34) and x.dtype.is_floating_point and isinstance(y, int)
    assert not set(train.names) & set(test.names)
    # stratified: every class is ~20% test
    _, labels = load_digit_images()
    frac = np.bincount(test.targets, minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(frac - 0.2) < 0.02)
    # frames are exactly the framed simulator events
    i = int(train.names[5].split("[")[1].rstrip("]"))
    images, _ = digits
    np.testing.assert_array_equal(train[5][0].numpy(), D.to_frames(simulate(images[i], i), (34, 34, 2), 8))


def test_reload_reads_the_cache(digits_dvs_frames, monkeypatch) -> None:
    (train, _), cache = digits_dvs_frames
    inode = train.path.stat().st_ino   # a rebuild renames a new file onto the name (opening one only touches it)
    import snnkit.data.digits_dvs as dd

    monkeypatch.setattr(dd, "simulate_batch", lambda *a, **k: pytest.fail("cache should have been used"))
    t2, _ = D.load("digits_dvs", frames=8, cache_dir=cache, progress=False)
    assert t2.path == train.path and train.path.stat().st_ino == inode
    assert np.array_equal(t2[3][0].numpy(), train[3][0].numpy())


def test_frames_are_learnable(digits_dvs_frames) -> None:
    """A linear classifier on event counts (summed over time, 2x2-pooled) gets docs/data.md's 92.8%: the events carry the digits."""
    from sklearn.linear_model import RidgeClassifier

    (train, test), _ = digits_dvs_frames

    def feats(ds):
        x = np.stack([ds[i][0].sum(0).numpy() for i in range(len(ds))])
        return x.reshape(len(ds), 2, 17, 2, 17, 2).sum(axis=(3, 5)).reshape(len(ds), -1), ds.targets

    xtr, ytr = feats(train)
    xte, yte = feats(test)
    assert abs(RidgeClassifier(alpha=10.0).fit(xtr, ytr).score(xte, yte) - 0.928) < 0.01   # the number docs/data.md gives


def test_raw_events_interface() -> None:
    train, test = D.load("digits_dvs")
    ev, y = train[0]
    assert ev.dtype == D.EVENT_DTYPE and 0 <= y <= 9
    assert train.sensor_size == (34, 34, 2) and len(train) + len(test) == 1797
    with pytest.raises(ValueError, match="digits_dvs takes no dataset folder"):
        D.load("digits_dvs", root="/tmp")
