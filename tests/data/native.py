"""Writers for small files in each dataset's real native format (the formats tonic's readers parse)."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from snnkit.data.events import make_events


def random_events(rng: np.random.Generator, n: int, w: int, h: int, duration: int = 300_000, t0: int = 0) -> np.ndarray:
    """n events uniform on a w x h sensor, time-sorted, both polarities."""
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(t0, t0 + duration, n)),
                       rng.integers(0, 2, n))


def write_atis_bin(path: Path, ev: np.ndarray) -> Path:
    """N-MNIST / N-Caltech101 ATIS .bin: 5 bytes per event (x, y, p<<7 | t[22:16], t[15:8], t[7:0])."""
    t = ev["t"].astype(np.int64)
    assert t.max(initial=0) < 2 ** 23
    raw = np.empty((len(ev), 5), dtype=np.uint8)
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (ev["p"].astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())
    return path


def write_aedat2_cifar(path: Path, ev: np.ndarray) -> Path:
    """CIFAR10-DVS original AER-DAT 2.0: big-endian (address, timestamp); address stores the sensor's raw
    orientation, which SpikingJelly (and snnkit) turn with x = 127 - raw_y, y = 127 - raw_x, p = 1 - raw_p."""
    raw_x = 127 - ev["y"].astype(np.int64)
    raw_y = 127 - ev["x"].astype(np.int64)
    raw_p = 1 - ev["p"].astype(np.int64)
    data = np.empty((len(ev), 2), dtype=">u4")
    data[:, 0] = (raw_y << 8) | (raw_x << 1) | raw_p
    data[:, 1] = ev["t"]
    path.parent.mkdir(parents=True, exist_ok=True)
    head = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"
    path.write_bytes(head + data.tobytes())
    return path


def write_aedat3(path: Path, ev: np.ndarray, packet: int = 1000, special: Optional[np.ndarray] = None) -> Path:
    """DVS128 Gesture AEDAT 3.1: ASCII header, then packets of 28-byte headers + 8-byte polarity events
    (data = x << 17 | y << 2 | p << 1 | valid, little endian); ``special`` adds a type-0 packet first."""
    out = [b"#!AER-DAT3.1\r\n", b"#Format: RAW\r\n", b"#Source 1: DVS128\r\n", b"#!END-HEADER\r\n"]

    def pkt(kind: int, data: np.ndarray, ts: np.ndarray) -> bytes:
        n = len(data)
        body = np.empty((n, 2), dtype="<u4")
        body[:, 0], body[:, 1] = data, ts
        return struct.pack("<hhiiiiii", kind, 1, 8, 4, 0, n, n, n) + body.tobytes()

    if special is not None:
        out.append(pkt(0, np.zeros(len(special), dtype=np.int64), special))
    for a in range(0, len(ev), packet):
        e = ev[a:a + packet]
        data = (e["x"].astype(np.int64) << 17) | (e["y"].astype(np.int64) << 2) | (e["p"].astype(np.int64) << 1) | 1
        out.append(pkt(1, data, e["t"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(out))
    return path


def write_gesture_npy(path: Path, ev: np.ndarray) -> Path:
    """tonic's preprocessed DVS Gesture sample: [N, 4] columns x, y, p, t in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack([ev["x"], ev["y"], ev["p"], ev["t"] // 1000], axis=1).astype(np.int64))
    return path


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """An idx file (uint8) as Fashion-MNIST ships: magic 0x0000080N, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = head + array.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_nmnist(root: Path, per_class: int = 2, seed: int = 0, n_events: int = 300) -> Path:
    """ROOT/NMNIST/{Train,Test}/<digit>/*.bin with ``per_class`` random recordings each."""
    rng = np.random.default_rng(seed)
    for split in ("Train", "Test"):
        for d in range(10):
            for k in range(per_class):
                write_atis_bin(root / "NMNIST" / split / str(d) / f"{k:05d}.bin", random_events(rng, n_events, 34, 34))
    return root


def make_cifar10_dvs(root: Path, per_class: int = 10, seed: int = 0, n_events: int = 200) -> Path:
    """ROOT/CIFAR10DVS/<class>/cifar10_<class>_<i>.aedat (AER-DAT 2.0)."""
    from snnkit.data.neuromorphic import CIFAR10_CLASSES

    rng = np.random.default_rng(seed)
    for c in CIFAR10_CLASSES:
        for i in range(per_class):
            write_aedat2_cifar(root / "CIFAR10DVS" / c / f"cifar10_{c}_{i}.aedat", random_events(rng, n_events, 128, 128))
    return root


def make_caltech(root: Path, classes: Sequence[str] = ("accordion", "BACKGROUND_Google", "yin_yang"), per_class: int = 10,
                 seed: int = 0, n_events: int = 200) -> Path:
    """ROOT/NCALTECH101/Caltech101/<class>/image_NNNN.bin."""
    rng = np.random.default_rng(seed)
    for c in classes:
        for i in range(per_class):
            write_atis_bin(root / "NCALTECH101" / "Caltech101" / c / f"image_{i + 1:04d}.bin",
                           random_events(rng, n_events, 240, 180))
    return root


def make_gesture_tonic(root: Path, users_train: Sequence[int] = (1, 2), users_test: Sequence[int] = (24,), seed: int = 0,
                       n_events: int = 500) -> Path:
    """ROOT/DVSGesture/ibmGesture{Train,Test}/userNN_<light>/<class>.npy (tonic's preprocessed copy)."""
    rng = np.random.default_rng(seed)
    for folder, users in (("ibmGestureTrain", users_train), ("ibmGestureTest", users_test)):
        for u in users:
            for c in range(11):
                write_gesture_npy(root / "DVSGesture" / folder / f"user{u:02d}_fluorescent" / f"{c}.npy",
                                  random_events(rng, n_events, 128, 128, duration=2_000_000))
    return root


def make_gesture_ibm(root: Path, train: Sequence[str] = ("user01_fluorescent", "user02_led"),
                     test: Sequence[str] = ("user24_lab",), seed: int = 0) -> Path:
    """ROOT/DvsGesture/: AEDAT 3.1 recordings, *_labels.csv (class,startTime_usec,endTime_usec), trials lists."""
    rng = np.random.default_rng(seed)
    d = root / "DvsGesture"
    d.mkdir(parents=True, exist_ok=True)
    for name in (*train, *test):
        ev = random_events(rng, 6000, 128, 128, duration=11 * 1_000_000, t0=1_000_000)
        write_aedat3(d / f"{name}.aedat", ev, packet=700, special=np.array([5, 6], dtype=np.int64))
        rows = ["class,startTime_usec,endTime_usec"]
        for c in range(11):
            rows.append(f"{c + 1},{1_000_000 + c * 1_000_000},{1_000_000 + c * 1_000_000 + 900_000}")
        (d / f"{name}_labels.csv").write_text("\n".join(rows) + "\n")
    (d / "trials_to_train.txt").write_text("".join(f"{n}.aedat\n" for n in train))
    (d / "trials_to_test.txt").write_text("".join(f"{n}.aedat\n" for n in test) + "\n")
    return root
