"""Event datasets from small files written in each real native format: tonic reads them, snnkit loads them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnkit.data as D
from snnkit.data.housekeeping import LOCK_NAME
from snnkit.data.neuromorphic import (CIFAR10_CLASSES, SampleError, read_aedat2_dvs128, read_aedat3_polarity,
                                      read_atis_bin, read_gesture_npy)

from .native import (make_caltech, make_cifar10_dvs, make_gesture_ibm, make_gesture_tonic, make_nmnist, random_events,
                     write_aedat2_cifar, write_aedat3, write_atis_bin)

tonic = pytest.importorskip("tonic")


def _tonic_dataset(cls, root: Path, monkeypatch, **kw):
    """A tonic dataset over our files (its download check patched out: no network here)."""
    monkeypatch.setattr(cls, "_check_exists", lambda self: True)
    return cls(save_to=str(root), **kw)


# --------------------------------------------------------------------------- tonic reads the files we write


def test_atis_bin_roundtrip_and_tonic_nmnist(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    ev = random_events(rng, 500, 34, 34)
    write_atis_bin(tmp_path / "NMNIST" / "Train" / "3" / "00001.bin", ev)
    ds = _tonic_dataset(tonic.datasets.NMNIST, tmp_path, monkeypatch, train=True)
    tev, label = ds[0]
    assert label == 3
    for f in "xytp":
        np.testing.assert_array_equal(tev[f], ev[f])
    np.testing.assert_array_equal(read_atis_bin(ds.data[0]), ev)


def test_caltech_files_read_by_tonic(tmp_path, monkeypatch) -> None:
    make_caltech(tmp_path, classes=("ant",), per_class=1)
    ds = _tonic_dataset(tonic.datasets.NCALTECH101, tmp_path, monkeypatch)
    tev, label = ds[0]
    ours = read_atis_bin(ds.data[0])
    assert label == "ant" and len(tev) == len(ours) == 200
    np.testing.assert_array_equal(tev["x"], ours["x"] - ours["x"].min())   # tonic shifts to the bounding box


def test_gesture_npy_read_by_tonic(tmp_path, monkeypatch) -> None:
    make_gesture_tonic(tmp_path, users_train=(1,), users_test=())
    ds = _tonic_dataset(tonic.datasets.DVSGesture, tmp_path, monkeypatch, train=True)
    assert len(ds) == 11
    tev, label = ds[3]
    ours = read_gesture_npy(ds.data[3])
    assert int(Path(ds.data[3]).stem) == label
    for f in "xytp":
        np.testing.assert_array_equal(tev[f].astype(np.int64), ours[f])


def test_aedat_files_read_by_tonic_io(tmp_path) -> None:
    from tonic.io import get_aer_events_from_file, read_aedat_header_from_file

    rng = np.random.default_rng(1)
    ev = random_events(rng, 300, 128, 128)
    p2 = write_aedat2_cifar(tmp_path / "a.aedat", ev)
    version, start, _ = read_aedat_header_from_file(str(p2))
    assert version == 2.0 and len(get_aer_events_from_file(str(p2), version, start)) == 300
    np.testing.assert_array_equal(read_aedat2_dvs128(p2), ev)
    p3 = write_aedat3(tmp_path / "b.aedat", ev, packet=128, special=np.array([1, 2, 3]))
    version, start, _ = read_aedat_header_from_file(str(p3))
    assert version == 3.1 and len(get_aer_events_from_file(str(p3), version, start)) == 303   # tonic keeps special events
    np.testing.assert_array_equal(read_aedat3_polarity(p3), ev)                               # snnkit drops them


# --------------------------------------------------------------------------- load(): shapes, labels, splits


def test_n_mnist_load(tmp_path) -> None:
    root = make_nmnist(tmp_path / "d", per_class=2)
    train, test = D.load("n_mnist", root=root, frames=6, progress=False)
    assert (len(train), len(test)) == (20, 20)
    x, y = train[0]
    assert x.shape == (6, 2, 34, 34) and y == 0 and x.sum() == 300
    assert train.classes[3] == "3 - three" and sorted(set(train.targets.tolist())) == list(range(10))
    # root may also be the dataset folder itself
    t2, _ = D.load("n_mnist", root=root / "NMNIST", frames=6, progress=False)
    assert len(t2) == 20


def test_cifar10_dvs_split(tmp_path) -> None:
    root = make_cifar10_dvs(tmp_path / "d", per_class=10)
    train, test = D.load("cifar10_dvs", root=root, frames=4, progress=False, size=(64, 64))
    assert (len(train), len(test)) == (90, 10)
    assert np.bincount(test.targets).tolist() == [1] * 10 and train.classes == CIFAR10_CLASSES
    assert train[0][0].shape == (4, 2, 64, 64)
    assert not set(train.names) & set(test.names)
    assert test.names[0] == "airplane/cifar10_airplane_9.aedat"   # default: sorted file order, the last 10% to test
    again, _ = D.load("cifar10_dvs", root=root, seed=1)
    assert again.names == train.names                    # seed (augmentation draws) does not move the split
    other, other_test = D.load("cifar10_dvs", root=root, split_seed=1)
    assert other.names != train.names and len(other_test) == 10
    r80, t80 = D.load("cifar10_dvs", root=root, train_ratio=0.8)
    assert (len(r80), len(t80)) == (80, 20)


def test_n_caltech101(tmp_path) -> None:
    root = make_caltech(tmp_path / "d", per_class=10)
    train, test = D.load("n_caltech101", root=root, frames=14, progress=False,
                         classes=["yin_yang", "accordion", "BACKGROUND_Google"])   # 3 of the 101, chosen on purpose
    assert train.classes == ["BACKGROUND_Google", "accordion", "yin_yang"]
    assert (len(train), len(test)) == (27, 3)
    assert train[0][0].shape == (14, 2, 180, 240)


@pytest.mark.parametrize("layout", ["tonic", "ibm"])
def test_dvs128_gesture_layouts(tmp_path, layout) -> None:
    root = make_gesture_tonic(tmp_path / "d") if layout == "tonic" else make_gesture_ibm(tmp_path / "d")
    train, test = D.load("dvs128_gesture", root=root, frames=20, split_by="number", progress=False)
    assert (len(train), len(test)) == (22, 11)
    assert train.targets.tolist() == list(range(11)) * 2 and len(train.classes) == 11
    x, _ = train[4]
    assert x.shape == (20, 2, 128, 128)
    if layout == "ibm":
        ev, label = D.load("dvs128_gesture", root=root)[0][4]   # one labelled window of the recording
        assert label == 4 and ev["t"].min() >= 5_000_000 and ev["t"].max() < 5_900_000
        assert x.sum() == len(ev)


# --------------------------------------------------------------------------- bad input


def test_missing_root_and_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dvs128_gesture: root directory .* does not exist(.|\n)*trials_to_train.txt(.|\n)*research.ibm.com"):
        D.load("dvs128_gesture", root=tmp_path / "nope", frames=20)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"root directory .*afile' is a file, not a folder"):
        D.load("dvs128_gesture", root=tmp_path / "afile", frames=20)
    with pytest.raises(ValueError, match=r"n_mnist: no dataset folder given(.|\n)*Train/0/"):
        D.load("n_mnist", frames=5)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"cifar10_dvs: no class folders(.|\n)*figshare"):
        D.load("cifar10_dvs", root=tmp_path / "empty")
    root = make_nmnist(tmp_path / "d", per_class=1)
    for f in (root / "NMNIST" / "Test" / "7").iterdir():
        f.unlink()
    (root / "NMNIST" / "Test" / "7").rmdir()
    with pytest.raises(FileNotFoundError, match=r"n_mnist: .*Test/7 is missing"):
        D.load("n_mnist", root=root)


def test_unknown_name_and_options() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'nmnist' \(did you mean 'n_mnist'\?\); available: cifar10_dvs"):
        D.load("nmnist")
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['train_ratio'\]"):
        D.load("n_mnist", root="/tmp", train_ratio=0.5)


def test_corrupt_sample_is_reported_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_nmnist(tmp_path / "d", per_class=2)
    bad = root / "NMNIST" / "Train" / "4" / "00001.bin"
    bad.write_bytes(bad.read_bytes()[:-2])                  # truncated mid-event
    with pytest.raises(SampleError, match=r"n_mnist: sample 'Train/4/00001.bin' .* truncated"):
        D.load("n_mnist", root=root, frames=5, progress=False)
    left = [p.name for p in (tmp_path / "cache").glob("*") if p.name != LOCK_NAME]
    assert left == []                                        # nothing half-written is left or kept
    with pytest.warns(RuntimeWarning, match=r"n_mnist/train: 1 unreadable sample\(s\) left out .*Train/4/00001.bin"):
        train, test = D.load("n_mnist", root=root, frames=5, progress=False, on_error="skip")
    assert len(train) == 19 and train.skipped == ["Train/4/00001.bin"] and len(test) == 20
    # without a cache the error surfaces when the sample is read, still by name
    train, _ = D.load("n_mnist", root=root, frames=5, cache=False)
    with pytest.raises(SampleError, match="Train/4/00001.bin"):
        train[9]


def test_corrupt_files_of_each_format(tmp_path) -> None:
    (tmp_path / "x.aedat").write_bytes(b"\x00\x01garbage without a header")
    with pytest.raises(ValueError, match="not an AEDAT file"):
        read_aedat2_dvs128(tmp_path / "x.aedat")
    ev = random_events(np.random.default_rng(0), 50, 128, 128)
    p = write_aedat2_cifar(tmp_path / "t.aedat", ev)
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_aedat2_dvs128(p)
    p3 = write_aedat3(tmp_path / "t3.aedat", ev, packet=20)
    p3.write_bytes(p3.read_bytes()[:-9])
    with pytest.raises(ValueError, match="truncated"):
        read_aedat3_polarity(p3)
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_atis_bin(tmp_path / "e.bin")
    np.save(tmp_path / "g.npy", np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        read_gesture_npy(tmp_path / "g.npy")
    (tmp_path / "h.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a readable .npy"):
        read_gesture_npy(tmp_path / "h.npy")


def test_wrong_sensor_size_is_reported(tmp_path) -> None:
    root = make_nmnist(tmp_path / "d", per_class=1)
    ev = random_events(np.random.default_rng(0), 100, 34, 34)
    ev["x"][10] = 120                                        # not an N-MNIST recording
    write_atis_bin(root / "NMNIST" / "Test" / "2" / "00000.bin", ev)
    with pytest.raises(SampleError, match=r"Test/2/00000.bin.*x ranges over \[0, 120\].*sensor_size=\(34, 34, 2\)"):
        D.load("n_mnist", root=root, frames=5, progress=False)


def test_aedat4_needs_the_aedat_package(tmp_path, monkeypatch) -> None:
    import builtins

    root = make_cifar10_dvs(tmp_path / "d", per_class=1)
    for f in (root / "CIFAR10DVS").glob("*/*.aedat"):      # tonic's copy only (one copy may not mix both formats)
        f.rename(f.with_suffix(".aedat4"))
    real_import = builtins.__import__

    def no_aedat(name, *a, **k):
        if name == "aedat":
            raise ImportError("no aedat")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_aedat)
    with pytest.raises(ModuleNotFoundError, match="pip install aedat"):
        D.load("cifar10_dvs", root=root)


def test_aedat3_timestamp_overflow_and_special_packets_as_spikingjelly(tmp_path) -> None:
    """Packets with eventTSOverflow 0, 1, 2 (t += overflow << 31) and type-0 special packets between them:
    snnkit's reader gives what SpikingJelly's ``load_aedat_v3`` (the DVS128 Gesture reference) gives."""
    import struct

    from .test_framing import load_sj_utils

    rng = np.random.default_rng(3)
    out = [b"#!AER-DAT3.1\r\n", b"#Format: RAW\r\n", b"#Source 1: DVS128\r\n", b"#!END-HEADER\r\n"]

    def pkt(kind: int, data: np.ndarray, ts: np.ndarray, overflow: int) -> bytes:
        body = np.empty((len(data), 2), dtype="<u4")
        body[:, 0], body[:, 1] = data, ts
        return struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, len(data), len(data), len(data)) + body.tobytes()

    for overflow in (0, 1, 1, 2):
        n = 40
        x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
        out.append(pkt(1, (x << 17) | (y << 2) | (p << 1) | 1, np.sort(rng.integers(0, 2 ** 31, n)), overflow))
        out.append(pkt(0, np.zeros(2, dtype=np.int64), np.array([7, 8]), overflow))
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(b"".join(out))
    ref = load_sj_utils().load_aedat_v3(path)
    ev = read_aedat3_polarity(path)
    assert len(ev) == 160 and ev["t"].max() >= 2 ** 32
    for k in "txyp":
        np.testing.assert_array_equal(ev[k], ref[k].astype(np.int64))
