"""CIFAR10-DVS in tonic's native ``.aedat4`` copy: files written here byte by byte in the AEDAT 4.0 format
(iniVation DV: magic line, flatbuffers IOHeader with an XML stream description, size-prefixed ``EVTS``
flatbuffer packets, uncompressed / LZ4 frame / Zstd), read by the ``aedat`` package through tonic and snnkit."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
import pytest
import torch

import snnkit.data as D
from snnkit.data.neuromorphic import CIFAR10_CLASSES, SampleError, read_aedat4

from .native import random_events, write_aedat2_cifar

tonic = pytest.importorskip("tonic")
aedat = pytest.importorskip("aedat", reason="reading .aedat4 needs the aedat package (pip install aedat)")

NONE, LZ4, ZSTD = 0, 1, 3                       # Ioheader.compression (flatbuffers/ioheader.fbs)
_EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("_pad", "V3")])   # struct Event, 16 bytes


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


# --------------------------------------------------------------------------- an AEDAT 4.0 writer


def _event_packet(ev: np.ndarray) -> bytes:
    """Size-prefixed flatbuffer ``EventPacket { elements: [Event] }`` with file identifier ``EVTS``.

    Layout (byte offsets from the size prefix): 0 size, 4 root uoffset, 8 "EVTS", 12 vtable
    (6 bytes: vtable size, table size, field 0 at +4), 20 table (soffset to vtable, uoffset to
    the vector), 28 vector length, 32 the 16-byte, 8-aligned Event structs.
    """
    body = np.zeros(len(ev), dtype=_EVENT)
    body["t"], body["x"], body["y"], body["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
    buf = (struct.pack("<I", 20 - 4) + b"EVTS" + struct.pack("<HHH", 6, 8, 4) + b"\0\0"
           + struct.pack("<iI", 20 - 12, 28 - 24) + struct.pack("<I", len(ev)) + body.tobytes())
    return struct.pack("<I", len(buf)) + buf


def _ioheader(compression: int, description: str, data_table: int) -> bytes:
    """Flatbuffer ``Ioheader { compression: int32; file_data_position: int64; description: string }`` ("IOHE")."""
    s = description.encode()
    s = struct.pack("<I", len(s)) + s + b"\0"
    s += b"\0" * (-len(s) % 4)
    return (struct.pack("<I", 20) + b"IOHE" + struct.pack("<HHHHH", 10, 20, 4, 12, 8) + b"\0\0"
            + struct.pack("<iiIq", 20 - 8, compression, 40 - 28, data_table) + s)


def _description(streams: Dict[int, Tuple[int, int]]) -> str:
    """DV's XML: one ``outInfo/<id>`` node per output stream (type EVTS, sensor sizeX/sizeY)."""
    def node(i: int, w: int, h: int) -> str:
        p = f"/mainloop/output_file/outInfo/{i}/"
        return (f'<node name="{i}" path="{p}"><attr key="compression" type="string">LZ4</attr>'
                f'<attr key="originalModuleName" type="string">capture</attr>'
                f'<attr key="originalOutputName" type="string">events</attr>'
                f'<attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>'
                f'<attr key="typeIdentifier" type="string">EVTS</attr>'
                f'<node name="info" path="{p}info/"><attr key="sizeX" type="int">{w}</attr>'
                f'<attr key="sizeY" type="int">{h}</attr><attr key="source" type="string">DVS128</attr></node></node>')

    nodes = "".join(node(i, w, h) for i, (w, h) in streams.items())
    return f'<dv version="2.0"><node name="outInfo" path="/mainloop/output_file/outInfo/">{nodes}</node></dv>'


def write_aedat4(path: Path, packets: Sequence[Tuple[int, np.ndarray]], compression: int = NONE,
                 streams: Dict[int, Tuple[int, int]] = {0: (128, 128)}, data_table: bool = False) -> Path:
    """``packets``: (stream id, events) in file order. ``data_table`` appends a (dummy) FileDataTable and
    points the header's file_data_position at it, as DV does for seekable files."""
    if compression == LZ4:
        import lz4.frame
        pack = lz4.frame.compress
    elif compression == ZSTD:
        import zstandard
        pack = zstandard.ZstdCompressor().compress
    else:
        pack = bytes
    body = b"".join(struct.pack("<iI", sid, len(c)) + c for sid, ev in packets for c in [pack(_event_packet(ev))])
    magic = b"#!AER-DAT4.0\r\n"
    head = _ioheader(compression, _description(streams), -1)
    if data_table:
        head = _ioheader(compression, _description(streams), len(magic) + 4 + len(head) + len(body))
        body += b"\x0c\x00\x00\x00FTBL-not-parsed"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(magic + struct.pack("<I", len(head)) + head + body)
    return path


def _split(ev: np.ndarray, n: int):
    return [(0, c) for c in np.array_split(ev, n)]


def _need(compression: int) -> None:
    if compression == LZ4:
        pytest.importorskip("lz4", reason="writing LZ4 test files needs pip install lz4")
    if compression == ZSTD:
        pytest.importorskip("zstandard", reason="writing Zstd test files needs pip install zstandard")


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("compression", [NONE, LZ4, ZSTD], ids=["none", "lz4", "zstd"])
@pytest.mark.parametrize("data_table", [False, True], ids=["stream", "seekable"])
def test_aedat_and_tonic_read_the_files(tmp_path, compression, data_table) -> None:
    _need(compression)
    ev = random_events(np.random.default_rng(compression), 300, 128, 128)
    other = random_events(np.random.default_rng(99), 7, 128, 128)
    # packets of a second event stream (id 1) interleaved: tonic (and snnkit) read the lowest id only
    packets = [(0, ev[:100]), (1, other), (0, ev[100:250]), (0, ev[250:])]
    f = write_aedat4(tmp_path / "airplane" / "a.aedat4", packets, compression, {0: (128, 128), 1: (128, 128)}, data_table)
    dec = aedat.Decoder(str(f))
    assert {k: (s["type"], s["width"], s["height"]) for k, s in dec.id_to_stream().items()} == \
        {0: ("events", 128, 128), 1: ("events", 128, 128)}
    assert [(p["stream_id"], len(p["events"])) for p in dec] == [(0, 100), (1, 7), (0, 150), (0, 50)]
    tev = tonic.io.read_aedat4(str(f))
    np.testing.assert_array_equal(tev["t"], ev["t"])
    got = read_aedat4(f)
    np.testing.assert_array_equal(got, ev)


def test_load_aedat4_copy_frames_and_labels(tmp_path, monkeypatch) -> None:
    """The same recordings as .aedat4 (tonic's copy, 4 packets each, LZ4 when available) and as the
    original AER-DAT 2.0 give the same split, labels and frames."""
    comp = LZ4 if _has("lz4") else NONE
    rng = np.random.default_rng(0)
    a4, a2 = tmp_path / "a4", tmp_path / "a2"
    truth = {}
    for label, c in enumerate(CIFAR10_CLASSES):
        for i in range(2):
            ev = random_events(rng, 200 + 10 * label + i, 128, 128)
            truth[f"{c}/cifar10_{c}_{i}"] = (ev, label)
            write_aedat4(a4 / "CIFAR10DVS" / c / f"cifar10_{c}_{i}.aedat4", _split(ev, 4), comp)
            write_aedat2_cifar(a2 / "CIFAR10DVS" / c / f"cifar10_{c}_{i}.aedat", ev)
    train, test = D.load("cifar10_dvs", root=a4, frames=4, progress=False, train_ratio=0.5, cache_dir=tmp_path / "c4")
    train2, test2 = D.load("cifar10_dvs", root=a2, frames=4, progress=False, train_ratio=0.5, cache_dir=tmp_path / "c2")
    assert (len(train), len(test)) == (10, 10) and np.bincount(test.targets).tolist() == [1] * 10
    assert [n.rsplit(".", 1)[0] for n in train.names] == [n.rsplit(".", 1)[0] for n in train2.names]
    for ds, ds2 in ((train, train2), (test, test2)):
        for k in range(len(ds)):
            x, y = ds[k]
            x2, y2 = ds2[k]
            ev, label = truth[ds.names[k].rsplit(".", 1)[0]]
            assert y == y2 == label
            assert x.shape == (4, 2, 128, 128) and float(x.sum()) == len(ev)
            assert torch.equal(torch.as_tensor(x), torch.as_tensor(x2))
    # the raw events of one sample: x, y, t, p as written
    np.testing.assert_array_equal(read_aedat4(a4 / "CIFAR10DVS" / train.names[0]),
                                  truth[train.names[0].rsplit(".", 1)[0]][0])
    # tonic's own CIFAR10DVS dataset over the same folder agrees on files and labels
    monkeypatch.setattr(tonic.datasets.CIFAR10DVS, "_check_exists", lambda self: True)
    monkeypatch.setattr(tonic.datasets.CIFAR10DVS, "folder_name", "CIFAR10DVS")
    tds = tonic.datasets.CIFAR10DVS(save_to=str(a4))
    assert len(tds) == 20
    tev, tlabel = tds[0]
    ev, label = truth[Path(tds.data[0]).parent.name + "/" + Path(tds.data[0]).stem]
    assert tlabel == label
    for f in "xytp":
        np.testing.assert_array_equal(tev[f].astype(np.int64), ev[f].astype(np.int64))


def _has(mod: str) -> bool:
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def test_corrupt_aedat4_files_are_reported_by_name(tmp_path) -> None:
    ev = random_events(np.random.default_rng(1), 50, 128, 128)
    ok = write_aedat4(tmp_path / "ok.aedat4", _split(ev, 2))
    raw = ok.read_bytes()
    cases = {
        "wrongmagic.aedat4": (b"#!AER-DAT3.1\r\n" + raw[14:], "not an AEDAT4 file"),
        "empty.aedat4": (b"", "not an AEDAT4 file"),
        "truncated.aedat4": (raw[:-40], "not a readable AEDAT4 file"),
        "header_only.aedat4": (None, "no event packets"),
    }
    write_aedat4(tmp_path / "header_only.aedat4", [])
    for name, (data, msg) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=msg):
            read_aedat4(tmp_path / name)
    # out-of-sensor events (a 346x260 DAVIS recording is not CIFAR10-DVS) are caught by the loader, by name
    root = tmp_path / "d"
    rng = np.random.default_rng(2)
    for c in CIFAR10_CLASSES:
        write_aedat4(root / "CIFAR10DVS" / c / f"cifar10_{c}_0.aedat4", _split(random_events(rng, 50, 128, 128), 2))
    write_aedat4(root / "CIFAR10DVS" / "cat" / "cifar10_cat_0.aedat4", _split(random_events(rng, 50, 346, 260), 2),
                 streams={0: (346, 260)})
    train, test = D.load("cifar10_dvs", root=root, progress=False)
    ds = train if "cat/cifar10_cat_0.aedat4" in train.names else test
    with pytest.raises(SampleError, match=r"cat/cifar10_cat_0.aedat4.*x ranges over"):
        ds.read(ds.names.index("cat/cifar10_cat_0.aedat4"))
