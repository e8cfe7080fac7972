"""A sample handed out by a dataset is the caller's: editing it in place never changes what the dataset gives next."""
from __future__ import annotations

import numpy as np
import torch

import snnkit.data as D
from snnkit.data import cache as C
from snnkit.data.static import StaticFrames

from .native import make_gesture_ibm, make_nmnist


def test_event_files_give_a_fresh_array_each_read(tmp_path) -> None:
    root = make_nmnist(tmp_path / "data", per_class=1)
    train, _ = D.load("n_mnist", root=root)
    ev, _ = train[0]
    t = ev["t"].copy()
    ev["t"] -= 5                       # e.g. a user transform that edits in place
    ev["x"][:] = 0
    again, _ = train[0]
    assert np.array_equal(again["t"], t) and again["x"].max() > 0
    gesture, _ = D.load("dvs128_gesture", root=make_gesture_ibm(tmp_path / "g"))
    ev, _ = gesture[0]
    t = ev["t"].copy()
    ev["t"][:] = 0
    assert np.array_equal(gesture[0][0]["t"], t)


def test_static_frames_are_not_views_of_the_images() -> None:
    images = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    for frames in (None, 3):
        train = StaticFrames(images, np.arange(4), list("abcd"), frames=frames)
        x, _ = train[0]
        ref = x.clone()
        x += 1.0                       # fails on an expanded view (T > 1) or edits the stored image (T = 1)
        assert torch.equal(train[0][0], ref)


def test_in_memory_float32_cache_is_not_edited_through_a_sample(tmp_path) -> None:
    fr = [np.full((2, 1, 2, 2), 70000.0), np.full((1, 1, 2, 2), 3.0)]   # 70000 does not fit uint16: stored float32
    path = C.write_cache(tmp_path / "x.h5", {"a": 1}, iter([("a", 0, fr[0]), ("b", 1, fr[1])]), 2, (1, 2, 2),
                         progress=False)
    for in_memory in (True, False):
        ds = C.FrameDataset(path, ["n", "y"], in_memory=in_memory)
        x, _ = ds[0]
        x.zero_()
        assert ds[0][0].max().item() == 70000.0
