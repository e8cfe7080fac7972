"""The temporal-order control: per-window step permutation of the smartwatch frames, its plumbing, the Welch rule."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

stats = pytest.importorskip("scipy.stats")
if importlib.util.find_spec("seglearn") is None:
    pytest.skip("seglearn not installed (pip install --no-deps seglearn==1.2.5)", allow_module_level=True)
ROOT = Path(__file__).resolve().parent.parent


def _module():
    from tests.conftest import load_script

    return load_script(ROOT / "benchmarks" / "tcja_watch_shuffled.py", "tcja_watch_shuffled")


@pytest.fixture(scope="module")
def data():
    from snnkit.data.imu_watch import load_watch

    return load_watch(), load_watch(shuffle_steps=True)


def test_default_path_unchanged(data) -> None:
    """load_watch() without the option still cuts step t from samples 5t..5t+4 (to_frames read by hand)."""
    from snnkit.data.imu_watch import load_watch_raw, make_windows, standardize, subject_split

    (tr, te), _ = data
    raw = load_watch_raw()
    wins, _, sub, _ = make_windows(raw["X"], raw["y"], raw["subject"], 100, 50)
    m = np.isin(sub, subject_split(raw["subject"], 3)[0])
    xtr, xte, _, _ = standardize(wins[m], wins[~m])
    for ds, x in ((tr, xtr), (te, xte)):
        for i in (0, 7, len(x) - 1):
            for t in (0, 3, 19):
                assert np.array_equal(ds.x[i, t, :, 0, :].numpy(), x[i, :, 5 * t:5 * t + 5].astype(np.float32))


def test_shuffle_is_a_per_window_permutation_of_the_steps(data) -> None:
    """Shuffled step t of window k is ordered step perm[t], perm = PCG64([SHUFFLE_SEED, global index]) (loop)."""
    from snnkit.data.imu_watch import SHUFFLE_SEED

    (otr, ote), (str_, ste) = data
    n_tr = len(otr)
    # all windows are in make_windows' order (series by series, a series' windows consecutive, one subject each),
    # and train / test are masked subsequences of it: a stable sort by series index recovers each one's global index
    series = np.concatenate([otr.series, ote.series])
    glob = np.empty(len(series), dtype=np.int64)
    glob[np.argsort(series, kind="stable")] = np.arange(len(series))
    perms = []
    for ds_o, ds_s, offset in ((otr, str_, 0), (ote, ste, n_tr)):
        assert ds_s.x.shape == ds_o.x.shape and torch.equal(ds_s.y, ds_o.y)
        for k in range(len(ds_o)):
            perm = np.random.default_rng([SHUFFLE_SEED, int(glob[offset + k])]).permutation(20)
            perms.append(tuple(perm))
            assert torch.equal(ds_s.x[k], ds_o.x[k][torch.from_numpy(perm)])
        # content kept: each window's multiset of steps unchanged
        a = ds_o.x.reshape(len(ds_o), 20, -1).numpy()
        b = ds_s.x.reshape(len(ds_s), 20, -1).numpy()
        assert np.array_equal(np.sort(a, axis=1), np.sort(b, axis=1))
        assert (a != b).any(axis=(1, 2)).mean() > 0.99  # order actually changed
    assert len(set(perms)) == len(perms)  # every window has its own permutation


def test_shuffle_is_deterministic_and_checked(data) -> None:
    from snnkit.data.imu_watch import load_watch, shuffle_frames, step_permutation

    _, (str_, ste) = data
    tr2, te2 = load_watch(shuffle_steps=True)
    assert torch.equal(tr2.x, str_.x) and torch.equal(te2.x, ste.x)
    assert sorted(step_permutation(3, 20)) == list(range(20))
    assert not np.array_equal(step_permutation(3, 20), step_permutation(4, 20))
    f = np.arange(2 * 4 * 3).reshape(2, 4, 3)
    out = shuffle_frames(f, [5, 9])
    for i, w in enumerate((5, 9)):
        assert np.array_equal(out[i], f[i][step_permutation(w, 4)])
    with pytest.raises(ValueError, match="window ids"):
        shuffle_frames(f, [1])
    with pytest.raises(ValueError, match="window must be a non-negative int"):
        step_permutation(-1, 20)
    with pytest.raises(ValueError, match="T must be a positive int"):
        step_permutation(0, 0)


def test_trainer_trains_and_tests_on_shuffled_windows(data) -> None:
    from snnkit.models.tcja_watch import watch_trainer

    (otr, ote), (str_, ste) = data
    tr = watch_trainer("none", 0, "/nonexistent-never-written", epochs=1, shuffle_steps=True)
    assert torch.equal(tr.train_set.x, str_.x) and torch.equal(tr.test_set.x, ste.x)
    tr = watch_trainer("none", 0, "/nonexistent-never-written", epochs=1)
    assert torch.equal(tr.train_set.x, otr.x) and torch.equal(tr.test_set.x, ote.x)


def _runs(tcja, none):
    return ([{"attention": "tcja", "seed": s, "final": a} for s, a in enumerate(tcja)]
            + [{"attention": "none", "seed": s, "final": a} for s, a in enumerate(none)])


def test_welch_matches_scipy_and_summary() -> None:
    m = _module()
    ref = _runs([0.80, 0.75, 0.90, 0.70, 0.85], [0.76, 0.70, 0.85, 0.66, 0.80])   # d = 4, 5, 5, 4, 5
    shuf = _runs([0.70, 0.65, 0.80, 0.60], [0.69, 0.66, 0.78, 0.59])              # d = 1, -1, 2, 1
    s = m.summarise(shuf, ref)
    d_o, d_s = [4, 5, 5, 4, 5], [1, -1, 2, 1]
    r = stats.ttest_ind(d_o, d_s, equal_var=False)
    w = s["ordered_minus_shuffled"]
    assert w["difference"] == pytest.approx(4.6 - 0.75)
    assert w["t"] == pytest.approx(r.statistic) and w["p"] == pytest.approx(r.pvalue)
    assert w["se"] == pytest.approx(np.sqrt(np.var(d_o, ddof=1) / 5 + np.var(d_s, ddof=1) / 4))
    assert s["G_ordered"] == pytest.approx(4.6) and s["G_shuffled"] == pytest.approx(0.75)
    assert s["drop_ordered_to_shuffled"]["tcja"] == pytest.approx(80.0 - 68.75)
    assert s["drop_ordered_to_shuffled"]["none"] == pytest.approx(75.4 - 68.0)


def test_decision_rule_edges() -> None:
    m = _module()
    ok = {"ordered_minus_shuffled": {"difference": 1.0, "p": 0.0499}}
    assert m.decide(ok, True) == "TCJA's gain depends on temporal order"
    for w in ({"difference": 0.999, "p": 1e-6}, {"difference": 5.0, "p": 0.05}, {"difference": -3.0, "p": 1e-6}):
        assert m.decide({"ordered_minus_shuffled": w}, True).startswith("TCJA's gain is not shown")
    assert m.decide(ok, False) == "incomplete: no outcome"
    assert m.decide({"ordered_minus_shuffled": {"n": [20, 1]}}, True) == "incomplete: no outcome"
    # zero spread in both sets: t infinite, p 0 when the means differ, p 1 when equal
    assert m.welch([2, 2, 2], [1, 1, 1])["p"] == 0.0 and m.welch([1, 1], [1, 1])["p"] == 1.0


def test_reference_is_the_committed_complete_run() -> None:
    m = _module()
    ref, sha = m.reference()
    assert ref["complete"] and sha == hashlib.sha256((ROOT / "benchmarks/results/tcja_watch.json").read_bytes()).hexdigest()
