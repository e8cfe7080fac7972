"""Event datasets from the user's own copy, in its native layout, read with tonic's readers.

DVS128 Gesture (tonic's preprocessed ``.npy`` per gesture, or IBM's original AEDAT 3.1
recordings with label CSVs), CIFAR10-DVS (original AER-DAT 2.0 ``.aedat``, or tonic's
``.aedat4`` copy), N-MNIST and N-Caltech101 (ATIS ``.bin``). File parsing is tonic's
(``tonic.io.read_mnist_file``, ``read_aedat_header_from_file`` + ``get_aer_events_from_file``,
``read_aedat4``); this module finds the files, decodes addresses the way each dataset was
published, checks what it reads (truncated or corrupt files, events outside the sensor) and
reports any failure with the sample's name. :data:`LAYOUTS` and :data:`SOURCES` say where the
files come from and where to put them; ``docs/data.md`` has the same text.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .events import EVENT_DTYPE, _polarity, check_events, make_events

__all__ = ["SampleError", "Record", "EventFiles", "LAYOUTS", "SOURCES", "dvs128_gesture", "cifar10_dvs", "n_mnist",
           "n_caltech101", "per_class_split", "read_atis_bin", "read_aedat2_dvs128", "read_aedat3_polarity",
           "read_gesture_npy", "read_aedat4"]

PathLike = Union[str, os.PathLike]

GESTURE_CLASSES = ["hand clapping", "right hand wave", "left hand wave", "right arm clockwise",
                   "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise", "arm roll",
                   "air drums", "air guitar", "other gestures"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# N-Caltech101's class folders: Caltech101's 101 categories + BACKGROUND_Google, less "Faces" (removed from
# N-Caltech101 as a duplicate of Faces_easy: "100 object classes plus a background class", garrickorchard.com),
# in sorted order, the label order of SpikingJelly's and tonic's folder scans.
NCALTECH101_CLASSES = [
    "BACKGROUND_Google", "Faces_easy", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor", "ant", "barrel",
    "bass", "beaver", "binocular", "bonsai", "brain", "brontosaurus", "buddha", "butterfly", "camera", "cannon",
    "car_side", "ceiling_fan", "cellphone", "chair", "chandelier", "cougar_body", "cougar_face", "crab", "crayfish",
    "crocodile", "crocodile_head", "cup", "dalmatian", "dollar_bill", "dolphin", "dragonfly", "electric_guitar",
    "elephant", "emu", "euphonium", "ewer", "ferry", "flamingo", "flamingo_head", "garfield", "gerenuk", "gramophone",
    "grand_piano", "hawksbill", "headphone", "hedgehog", "helicopter", "ibis", "inline_skate", "joshua_tree",
    "kangaroo", "ketch", "lamp", "laptop", "llama", "lobster", "lotus", "mandolin", "mayfly", "menorah", "metronome",
    "minaret", "nautilus", "octopus", "okapi", "pagoda", "panda", "pigeon", "pizza", "platypus", "pyramid", "revolver",
    "rhino", "rooster", "saxophone", "schooner", "scissors", "scorpion", "sea_horse", "snoopy", "soccer_ball",
    "stapler", "starfish", "stegosaurus", "stop_sign", "strawberry", "sunflower", "tick", "trilobite", "umbrella",
    "watch", "water_lilly", "wheelchair", "wild_cat", "windsor_chair", "wrench", "yin_yang"]
NMNIST_CLASSES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
                  "8 - eight", "9 - nine"]

SOURCES = {
    "dvs128_gesture": "IBM's original release DvsGesture.tar.gz from https://research.ibm.com/interactive/dvsgesture/ "
                      "(what SpikingJelly and the TCJA paper use), or tonic's preprocessed copy: "
                      "python -c \"import tonic; tonic.datasets.DVSGesture(save_to='ROOT'); "
                      "tonic.datasets.DVSGesture(save_to='ROOT', train=False)\"",
    "cifar10_dvs": "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 (one zip per class: unzip each into "
                   "ROOT), or tonic's .aedat4 copy: python -c \"import tonic; tonic.datasets.CIFAR10DVS(save_to='ROOT')\" "
                   "(reading .aedat4 needs pip install aedat)",
    "n_mnist": "https://www.garrickorchard.com/datasets/n-mnist (Train.zip and Test.zip, unzipped into ROOT), or "
               "python -c \"import tonic; tonic.datasets.NMNIST(save_to='ROOT'); tonic.datasets.NMNIST(save_to='ROOT', train=False)\"",
    "n_caltech101": "https://www.garrickorchard.com/datasets/n-caltech101 (Caltech101.zip, unzipped into ROOT), or "
                    "python -c \"import tonic; tonic.datasets.NCALTECH101(save_to='ROOT')\"",
}

LAYOUTS = {
    "dvs128_gesture": """\
ROOT/DvsGesture/                      IBM's original release (ROOT itself may be this folder)
    trials_to_train.txt  trials_to_test.txt
    user01_fluorescent.aedat  user01_fluorescent_labels.csv  ...  (AEDAT 3.1 + class,startTime_usec,endTime_usec)
or
ROOT/DVSGesture/                      tonic's preprocessed copy (ROOT itself may be this folder)
    ibmGestureTrain/user01_fluorescent/0.npy ...   (one gesture per file; the file name is the class 0..10)
    ibmGestureTest/user24_fluorescent/0.npy ...""",
    "cifar10_dvs": """\
ROOT/CIFAR10DVS/                      (ROOT itself may be this folder)
    airplane/cifar10_airplane_0.aedat ... cifar10_airplane_999.aedat   (AER-DAT 2.0; or tonic's .aedat4)
    automobile/  bird/  cat/  deer/  dog/  frog/  horse/  ship/  truck/""",
    "n_mnist": """\
ROOT/NMNIST/                          (ROOT itself may be this folder)
    Train/0/00002.bin ... Train/9/...   (ATIS .bin, 60000 files)
    Test/0/00003.bin ... Test/9/...     (10000 files)""",
    "n_caltech101": """\
ROOT/NCALTECH101/Caltech101/          (ROOT/Caltech101/ or ROOT itself also work)
    accordion/image_0001.bin ...        (ATIS .bin; all 101 class folders, BACKGROUND_Google included)
    airplanes/ ... yin_yang/""",
}


class SampleError(ValueError):
    """A sample that could not be read; the message names the dataset, the sample and the file."""

    def __init__(self, dataset: str, name: str, path: PathLike, reason: str) -> None:
        super().__init__(f"{dataset}: sample {name!r} ({path}) could not be read: {reason}")
        self.dataset, self.name, self.path, self.reason = dataset, name, Path(path), reason


# --------------------------------------------------------------------------- readers (tonic underneath)


def read_atis_bin(path: PathLike) -> np.ndarray:
    """N-MNIST / N-Caltech101 ATIS ``.bin`` (5 bytes per event) via ``tonic.io.read_mnist_file``."""
    from tonic.io import read_mnist_file

    size = os.path.getsize(path)
    if size == 0:
        raise ValueError("the file is empty (0 bytes)")
    if size % 5:
        raise ValueError(f"truncated: {size} bytes is not a whole number of 5-byte ATIS events")
    ev = read_mnist_file(os.fspath(path), dtype=EVENT_DTYPE)
    if len(ev) == 0:
        raise ValueError("the file holds no events (only timestamp-overflow markers)")
    return ev


def _aedat_header(path: PathLike) -> Tuple[float, int]:
    """(version, data start) of an AEDAT file; checks the first line itself so tonic's internals never show."""
    from tonic.io import read_aedat_header_from_file

    with open(path, "rb") as f:
        first = f.readline(64)
    if not first:
        raise ValueError("the file is empty (0 bytes)")
    if not first.startswith(b"#!AER-DAT"):
        raise ValueError(f"not an AEDAT file (no '#!AER-DAT' header line; it starts with {first[:16]!r})")
    try:
        version, start, _ = read_aedat_header_from_file(os.fspath(path))
        return float(version), int(start)
    except Exception:  # noqa: BLE001 - tonic raises NameError/UnboundLocalError/ValueError on a malformed header
        raise ValueError(f"not an AEDAT file (its '#!AER-DAT' header line {first.strip()[:40]!r} has no readable "
                         "version)") from None


def read_aedat2_dvs128(path: PathLike) -> np.ndarray:
    """CIFAR10-DVS original AER-DAT 2.0 file: tonic's reader, addresses decoded and oriented as SpikingJelly does.

    Address bits: polarity bit 0, x bits 1-7, y bits 8-14 (DVS128); like SpikingJelly's
    ``CIFAR10DVS`` the image is turned upright with ``x = 127 - ((a >> 8) & 127)``,
    ``y = 127 - ((a >> 1) & 127)``, and ``p = 1 - (a & 1)``, so frames match SpikingJelly's.
    """
    from tonic.io import get_aer_events_from_file

    version, start = _aedat_header(path)
    if not 2 <= version < 3:
        raise ValueError(f"expected an AER-DAT 2.x file, got version {version}")
    payload = os.path.getsize(path) - start
    if payload <= 0:
        raise ValueError("the file holds a header but no events")
    if payload % 8:
        raise ValueError(f"truncated: {payload} data bytes is not a whole number of 8-byte events")
    raw = get_aer_events_from_file(os.fspath(path), version, start)
    a = raw["address"].astype(np.int64)
    return make_events(127 - ((a >> 8) & 0x7F), 127 - ((a >> 1) & 0x7F), raw["timeStamp"].astype(np.int64), 1 - (a & 1))


def read_aedat3_polarity(path: PathLike) -> np.ndarray:
    """DVS128 Gesture AEDAT 3.1 recording: tonic's packet reader, polarity packets kept, timestamp overflow applied."""
    from tonic.io import get_aer_events_from_file

    version, start = _aedat_header(path)
    if version < 3:
        raise ValueError(f"expected an AEDAT 3.x file, got version {version}")
    # Walk the 28-byte packet headers: tonic reads every packet as 8-byte polarity events, so check
    # that holds, and keep only polarity packets (type 1).
    size = os.path.getsize(path)
    types, counts, overflow = [], [], []
    with open(path, "rb") as f:
        pos = start
        while pos < size:
            f.seek(pos)
            head = f.read(28)
            if len(head) < 28:
                raise ValueError(f"truncated packet header at byte {pos}")
            h = np.frombuffer(head, dtype="<u2", count=2).astype(np.int64)
            w = np.frombuffer(head, dtype="<u4", count=6, offset=4).astype(np.int64)
            ev_size, ts_over, capacity = w[0], w[2], w[3]
            if ev_size != 8:
                raise ValueError(f"packet at byte {pos} has {ev_size}-byte events (type {h[0]}); only 8-byte polarity "
                                 "and special-event packets are supported")
            pos += 28 + capacity * ev_size
            if pos > size:
                raise ValueError(f"truncated: a packet of {capacity} events runs past the end of the file ({size} bytes)")
            types.append(h[0])
            counts.append(capacity)
            overflow.append(ts_over)
    if not counts or sum(counts) == 0:
        raise ValueError("the file holds no events")
    raw = get_aer_events_from_file(os.fspath(path), version, start)
    keep = np.repeat(np.asarray(types) == 1, counts)
    t = raw["timeStamp"].astype(np.int64) + np.repeat(np.asarray(overflow, dtype=np.int64) << 31, counts)
    a = raw["address"].astype(np.int64)[keep]
    return make_events((a >> 17) & 0x1FFF, (a >> 2) & 0x1FFF, t[keep], (a >> 1) & 1)


def read_gesture_npy(path: PathLike) -> np.ndarray:
    """tonic's preprocessed DVS Gesture sample: ``[N, 4]`` columns x, y, p, t (ms), as ``tonic.datasets.DVSGesture`` reads it."""
    try:
        raw = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises several types for corrupt files
        raise ValueError(f"not a readable .npy file ({type(e).__name__}: {e})") from None
    if raw.ndim != 2 or raw.shape[1] != 4 or not np.issubdtype(raw.dtype, np.number):
        raise ValueError(f"expected a numeric [N, 4] array (x, y, p, t in ms), got {raw.dtype} {raw.shape}")
    if len(raw) == 0:
        raise ValueError("the file holds no events")
    pol = raw[:, 2]
    if not np.isin(pol, (-1, 0, 1)).all():   # tonic casts it to bool, so any other value would pass there silently
        raise ValueError(f"column 2 (polarity) holds values in [{pol.min()}, {pol.max()}], not 0/1: tonic's files are "
                         "[N, 4] columns x, y, p, t (ms); is this file in another column order (e.g. x, y, t, p)?")
    t = raw[:, 3].copy()
    t *= 1000          # tonic: ``events[:, 3] *= 1000`` in the file's dtype, then the cast to int64 (fractions of ms kept)
    return make_events(raw[:, 0], raw[:, 1], t.astype(np.int64), raw[:, 2])


def read_aedat4(path: PathLike) -> np.ndarray:
    """tonic's ``.aedat4`` CIFAR10-DVS copy via ``tonic.io.read_aedat4`` (needs the ``aedat`` package).

    AEDAT 4.0 (iniVation DV): ``#!AER-DAT4.0\\r\\n``, a flatbuffers IOHeader (compression: none,
    LZ4 or Zstd; an XML description of the output streams), then packets of size-prefixed
    ``EVTS`` flatbuffers; like tonic, the polarity events of the lowest-numbered event stream
    are read, with x, y, t (us) and ``on`` as the polarity, and no re-orientation.
    """
    from tonic.io import read_aedat4 as _read

    with open(path, "rb") as f:
        magic = f.read(14)
    if magic != b"#!AER-DAT4.0\r\n":
        raise ValueError(f"not an AEDAT4 file (it starts with {magic[:14]!r}, not b'#!AER-DAT4.0\\r\\n')")
    try:
        ev = _read(os.fspath(path))
    except ModuleNotFoundError:
        raise
    except ValueError as e:
        if "at least one array" in str(e):     # np.concatenate of no packets
            raise ValueError("the file holds no event packets") from None
        raise ValueError(f"not a readable AEDAT4 file (ValueError: {e})") from None
    except Exception as e:  # noqa: BLE001 - aedat raises plain Exceptions for corrupt files
        raise ValueError(f"not a readable AEDAT4 file ({type(e).__name__}: {e})") from None
    if len(ev) == 0:
        raise ValueError("the file holds no events")
    names = ev.dtype.names
    return make_events(ev[names[1]], ev[names[2]], ev[names[0]].astype(np.int64), ev[names[3]])


def _need_aedat() -> None:
    try:
        import aedat  # noqa: F401
    except ImportError:
        raise ModuleNotFoundError("cifar10_dvs: reading tonic's .aedat4 files needs the `aedat` package "
                                  "(pip install aedat), which tonic.io.read_aedat4 uses; the original .aedat "
                                  "files need nothing extra") from None


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Record:
    """One sample: a name to report, its file, its label, and an optional time window [start, end) in us."""

    name: str
    path: Path
    label: int
    window: Optional[Tuple[int, int]] = None


class EventFiles(torch.utils.data.Dataset):
    """``(events, label)`` for each record, read with ``reader``; failures raise :class:`SampleError` naming the sample."""

    def __init__(self, name: str, split: str, records: Sequence[Record], reader: Callable[[Path], np.ndarray],
                 sensor_size: Tuple[int, int, int], classes: Sequence[str], root: Path, skipped: Sequence[str] = ()) -> None:
        self.name, self.split = name, split
        self.records = list(records)
        self.skipped = list(skipped)   # samples left out while listing (on_error="skip"), e.g. a broken label file's
        self.reader = reader
        self.sensor_size = sensor_size
        self.classes = list(classes)
        self.root = root
        self.targets = np.asarray([r.label for r in self.records], dtype=np.int64)
        self.names = [r.name for r in self.records]
        self._last: Tuple[Optional[Path], Any] = (None, None)

    def __len__(self) -> int:
        return len(self.records)

    def files(self) -> List[Path]:
        """The distinct source files, in order (the frame cache fingerprints them)."""
        return list(dict.fromkeys(r.path for r in self.records))

    def _read_file(self, path: Path) -> np.ndarray:
        if self._last[0] != path:   # recordings holding several samples are read once for consecutive samples
            self._last = (None, None)
            self._last = (path, self.reader(path))
        return self._last[1]

    def read(self, i: int) -> np.ndarray:
        """Events of sample ``i`` (checked against the sensor size); raises :class:`SampleError`."""
        r = self.records[i]
        try:
            ev = self._read_file(r.path)
            if r.window is not None:   # boolean indexing copies: the cached recording stays untouched
                ev = ev[(ev["t"] >= r.window[0]) & (ev["t"] < r.window[1])]
                if len(ev) == 0:
                    raise ValueError(f"no events in the labelled window [{r.window[0]}, {r.window[1]}) us")
            else:                      # a copy, so a caller editing its sample in place never changes the next read
                ev = ev.copy()
            check_events(ev, self.sensor_size, name="events")
            _polarity(ev["p"], self.sensor_size[2], "events")   # here, so a bad polarity names its sample
        except ModuleNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read one file is reported with that file's name
            reason = str(e) if isinstance(e, (ValueError, OSError)) else f"{type(e).__name__}: {e}"
            raise SampleError(self.name, r.name, r.path, reason) from e
        return ev

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int]:
        return self.read(i), int(self.targets[i])

    def iter_events(self) -> Iterator[Tuple[str, int, Union[np.ndarray, SampleError]]]:
        """(name, label, events or the SampleError) for every sample, in order."""
        for i in range(len(self)):
            try:
                ev: Union[np.ndarray, SampleError] = self.read(i)
            except SampleError as e:
                ev = e
            yield self.records[i].name, int(self.targets[i]), ev
        self._last = (None, None)

    def fingerprint(self) -> Dict[str, Any]:
        from .cache import file_fingerprint

        # the resolved root, so a relative and an absolute path to the same copy share one cache
        root = Path(self.root).resolve()
        files = [root / Path(p).relative_to(self.root) for p in self.files()]
        return {"root": str(root), "files": file_fingerprint(files), "n": len(self),
                "records": _sha("\n".join(f"{r.name}\t{r.label}\t{r.window}" for r in self.records))}

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_last"] = (None, None)
        return state

    def __repr__(self) -> str:
        return f"EventFiles({self.name}/{self.split}: {len(self)} samples, sensor {self.sensor_size}, root {self.root})"


def _sha(s: str) -> str:
    import hashlib

    return hashlib.sha256(s.encode()).hexdigest()


# --------------------------------------------------------------------------- layouts


def _missing(name: str, root: Any, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"{name}: {what}.\nExpected layout:\n{LAYOUTS[name]}\nWhere to get the files: "
                             f"{SOURCES[name].replace('ROOT', str(root))}")


def _check_root(name: str, root: Optional[PathLike]) -> Path:
    if root is None:
        raise ValueError(f"{name}: no dataset folder given (root= in Python, --root on the command line), and this "
                         f"dataset does not ship with snnkit: give the folder holding your copy.\nExpected layout:\n{LAYOUTS[name]}\nWhere to get the files: {SOURCES[name]}")
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise _missing(name, root, f"root directory {str(root)!r} {what}")
    return root


def _first_dir(root: Path, candidates: Sequence[str], test: Callable[[Path], bool]) -> Optional[Path]:
    for c in candidates:
        d = root / c if c else root
        if d.is_dir() and test(d):
            return d
    return None


def _visible(d: Path) -> List[Path]:
    """Entries of ``d`` not hidden: macOS AppleDouble ``._*`` files and other dot-files are never samples."""
    return [p for p in d.iterdir() if not p.name.startswith(".")]


def _files(d: Path, suffixes: Sequence[str]) -> List[Path]:
    return sorted(p for p in _visible(d) if p.is_file() and p.suffix.lower() in suffixes)


def per_class_split(records: Sequence[Record], n_classes: int, train_ratio: float = 0.9,
                    seed: Optional[int] = 0, *, name: str = "per_class_split") -> Tuple[List[Record], List[Record]]:
    """Per-class split: ``ceil(train_ratio * n)`` of each class to train, the rest to test.

    ``seed=None`` keeps each class in sorted file order (SpikingJelly's
    ``split_to_train_test_set(random_split=False)``, what TCJA's scripts used); an int
    permutes each class with ``numpy.random.default_rng(seed)``, classes in label order.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"split_seed must be None (each class's sorted file order) or an integer, got {seed!r}")
    if not 0.0 < float(train_ratio) < 1.0:
        raise ValueError(f"train_ratio must be in (0, 1), got {train_ratio!r}")
    by_class: List[List[Record]] = [[] for _ in range(n_classes)]
    for r in records:
        by_class[r.label].append(r)
    rng = None if seed is None else np.random.default_rng(int(seed))
    train: List[Record] = []
    test: List[Record] = []
    for recs in by_class:
        recs = sorted(recs, key=lambda r: r.name)
        if rng is not None:
            recs = [recs[i] for i in rng.permutation(len(recs))]
        k = math.ceil(len(recs) * float(train_ratio))
        train += recs[:k]
        test += recs[k:]
    _warn_empty_split(name, records, test, train_ratio)
    return train, test


def _warn_empty_split(name: str, records: Sequence[Record], test: Sequence[Record], train_ratio: float) -> None:
    """Warn when the per-class split leaves no test sample: an evaluation on nothing would pass silently."""
    if records and not test:
        need = math.floor(1 / (1 - float(train_ratio)) + 1e-9)
        warnings.warn(f"{name}: the test split is empty: ceil({float(train_ratio):g} n) of each class's n files go to "
                      f"train (SpikingJelly's rule), so a class needs {need}+ files to give a test sample; add files "
                      "or lower train_ratio", RuntimeWarning, stacklevel=3)


def _gesture_labels(csv: Path) -> np.ndarray:
    """``[n, 3]`` rows (class 1..11, start us, end us) of an IBM ``*_labels.csv``; ValueError saying what is wrong."""
    lines = [ln for ln in csv.read_text(errors="replace").splitlines()[1:] if ln.strip()]
    if not lines:
        raise ValueError("the label file has no labelled rows (only a header, or nothing): expected "
                         "'class,startTime_usec,endTime_usec' rows after the header line")
    try:
        rows = np.loadtxt(lines, dtype=np.int64, delimiter=",", ndmin=2)
    except ValueError as e:
        raise ValueError(f"label file is not 'class,startTime_usec,endTime_usec' rows: {e}") from None
    if rows.shape[1] != 3:
        raise ValueError(f"label file is not 'class,startTime_usec,endTime_usec' rows: expected 3 columns, got {rows.shape[1]}")
    for k, cls in enumerate(rows[:, 0]):
        if not 1 <= cls <= 11:
            raise ValueError(f"row {k + 2}: class {cls} is not in 1..11")
    return rows


def dvs128_gesture(root: Optional[PathLike], on_error: str = "raise", **_: Any) -> Tuple[EventFiles, EventFiles]:
    """DVS128 Gesture train/test (the official split by user: 1-23 train, 24-29 test).

    A broken IBM label file raises :class:`SampleError`, or with ``on_error="skip"`` leaves that
    recording's samples out, listed as ``"<recording>#*"`` in ``skipped``.
    """
    name = "dvs128_gesture"
    root = _check_root(name, root)
    sensor = (128, 128, 2)
    orig = _first_dir(root, ["DvsGesture", ""], lambda d: (d / "trials_to_train.txt").is_file())
    if orig is not None:
        out = []
        for split in ("train", "test"):
            lst = orig / f"trials_to_{split}.txt"
            if not lst.is_file():
                raise _missing(name, root, f"{lst} is missing")
            records: List[Record] = []
            skipped: List[str] = []
            for line in lst.read_text().splitlines():
                fname = line.strip()
                if not fname:
                    continue
                aedat = orig / fname
                csv = orig / f"{Path(fname).stem}_labels.csv"
                for f in (aedat, csv):
                    if not f.is_file():
                        raise _missing(name, root, f"{f.name} (listed in {lst.name}) is missing from {orig}")
                try:
                    rows = _gesture_labels(csv)
                except ValueError as e:
                    if on_error != "skip":
                        raise SampleError(name, csv.name, csv, str(e)) from None
                    skipped.append(f"{Path(fname).stem}#*")   # every labelled window of this recording
                    continue
                for k, (cls, t0, t1) in enumerate(rows):
                    records.append(Record(f"{Path(fname).stem}#{k}", aedat, int(cls) - 1, (int(t0), int(t1))))
            out.append(EventFiles(name, split, records, read_aedat3_polarity, sensor, GESTURE_CLASSES, orig, skipped))
        return out[0], out[1]
    base = _first_dir(root, ["DVSGesture", ""], lambda d: (d / "ibmGestureTrain").is_dir() or (d / "ibmGestureTest").is_dir())
    if base is None:
        raise _missing(name, root, f"found neither trials_to_train.txt (IBM's release) nor ibmGestureTrain/ (tonic's copy) under {root}")
    out = []
    for split, folder in (("train", "ibmGestureTrain"), ("test", "ibmGestureTest")):
        d = base / folder
        if not d.is_dir():
            raise _missing(name, root, f"{d} is missing")
        records = []
        for user in sorted(p for p in _visible(d) if p.is_dir()):
            found = []
            for f in _files(user, [".npy"]):
                try:
                    label = int(f.stem)
                except ValueError:
                    raise _missing(name, root, f"{f}: tonic's files are named by class (0.npy .. 10.npy)") from None
                if not 0 <= label <= 10:
                    raise _missing(name, root, f"{f}: class {label} is not in 0..10")
                found.append(Record(f"{folder}/{user.name}/{f.name}", f, label))
            records += sorted(found, key=lambda r: r.label)
        if not records:
            raise _missing(name, root, f"no .npy files in {d}/<user>_<lighting>/")
        out.append(EventFiles(name, split, records, read_gesture_npy, sensor, GESTURE_CLASSES, base))
    return out[0], out[1]


def _one_cifar_copy(root: Path, base: Path, records: Sequence[Record]) -> None:
    """Refuse a folder holding both the original .aedat and tonic's .aedat4 copy: each recording would count twice."""
    by_kind: Dict[str, List[Record]] = {".aedat": [], ".aedat4": []}
    for r in records:
        by_kind[r.path.suffix.lower()].append(r)
    old, new = by_kind[".aedat"], by_kind[".aedat4"]
    if not old or not new:
        return
    stems = {r.name.rsplit(".", 1)[0] for r in new}
    twin = next((r.name.rsplit(".", 1)[0] for r in old if r.name.rsplit(".", 1)[0] in stems), None)
    example = f"; e.g. {twin}.aedat and {twin}.aedat4 are the same recording" if twin else ""
    raise _missing("cifar10_dvs", root, f"{base} mixes two copies of the dataset: {len(old)} original .aedat and "
                   f"{len(new)} tonic .aedat4 files{example}. Loading both would count recordings twice and put "
                   f"copies of test recordings in the training set. Keep one copy: move the other's files out of {root}")


def cifar10_dvs(root: Optional[PathLike], seed: Optional[int] = None, train_ratio: float = 0.9,
                **_: Any) -> Tuple[EventFiles, EventFiles]:
    """CIFAR10-DVS with a per-class 90/10 split (:func:`per_class_split`); it has no official split."""
    name = "cifar10_dvs"
    root = _check_root(name, root)
    base = _first_dir(root, ["CIFAR10DVS", ""], lambda d: any((d / c).is_dir() for c in CIFAR10_CLASSES))
    if base is None:
        raise _missing(name, root, f"no class folders ({', '.join(CIFAR10_CLASSES)}) under {root}")
    records: List[Record] = []
    for label, c in enumerate(CIFAR10_CLASSES):
        d = base / c
        files = _files(d, [".aedat", ".aedat4"]) if d.is_dir() else []
        if not files:
            raise _missing(name, root, f"class folder {d} is missing or holds no .aedat/.aedat4 files")
        records += [Record(f"{c}/{f.name}", f, label) for f in files]
    _one_cifar_copy(root, base, records)
    if any(r.path.suffix.lower() == ".aedat4" for r in records):
        _need_aedat()
    train, test = per_class_split(records, len(CIFAR10_CLASSES), train_ratio, seed, name=name)

    def reader(p: Path) -> np.ndarray:
        return read_aedat4(p) if p.suffix.lower() == ".aedat4" else read_aedat2_dvs128(p)

    return (EventFiles(name, "train", train, reader, (128, 128, 2), CIFAR10_CLASSES, base),
            EventFiles(name, "test", test, reader, (128, 128, 2), CIFAR10_CLASSES, base))


def n_mnist(root: Optional[PathLike], **_: Any) -> Tuple[EventFiles, EventFiles]:
    """N-MNIST with its official Train/Test split (60000/10000)."""
    name = "n_mnist"
    root = _check_root(name, root)
    base = _first_dir(root, ["NMNIST", ""], lambda d: (d / "Train").is_dir() or (d / "Test").is_dir())
    if base is None:
        raise _missing(name, root, f"found no Train/ or Test/ folder under {root}")
    out = []
    for split, folder in (("train", "Train"), ("test", "Test")):
        records: List[Record] = []
        for label in range(10):
            d = base / folder / str(label)
            if not d.is_dir():
                raise _missing(name, root, f"{d} is missing")
            files = _files(d, [".bin"])
            if not files:
                raise _missing(name, root, f"class folder {d} holds no .bin files (an incomplete copy?)")
            records += [Record(f"{folder}/{label}/{f.name}", f, label) for f in files]
        out.append(EventFiles(name, split, records, read_atis_bin, (34, 34, 2), NMNIST_CLASSES, base))
    return out[0], out[1]


def _caltech_classes(root: Path, base: Path, classes: Optional[Sequence[str]]) -> List[str]:
    """The class folders to read: all 101 of N-Caltech101, or the chosen ``classes``; refuse any other folder set.

    A half-extracted copy or another dataset's folder (N-MNIST's Train/ has ten .bin folders) would
    otherwise load with the wrong classes and every label after a gap shifted.
    """
    name = "n_caltech101"
    if classes is not None:
        if isinstance(classes, str) or not classes:
            raise ValueError(f"{name}: classes must be a non-empty list of class folder names, got {classes!r}")
        unknown = [c for c in classes if c not in NCALTECH101_CLASSES]
        if unknown:
            raise ValueError(f"{name}: classes {unknown} are not N-Caltech101 classes; they are: "
                             f"{', '.join(NCALTECH101_CLASSES)}")
    wanted = [c for c in NCALTECH101_CLASSES if classes is None or c in classes]
    found = {p.name for p in _visible(base) if p.is_dir() and _files(p, [".bin"])}
    missing = [c for c in wanted if c not in found]
    unexpected = sorted(found - set(NCALTECH101_CLASSES))
    if missing or unexpected:
        def some(names: List[str]) -> str:
            return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")

        what = [f"{len(missing)} missing or without .bin files ({some(missing)})"] if missing else []
        what += [f"{len(unexpected)} not N-Caltech101's ({some(unexpected)})"] if unexpected else []
        hint = "" if classes is not None else (" To use only some classes on purpose, pass classes=[...] to "
                                               "snnkit.data.load or prepare")
        raise _missing(name, root, f"{base} does not hold N-Caltech101's class folders ({len(wanted)} expected): "
                                   f"{'; '.join(what)}. Is the copy complete and is root the right dataset?{hint}")
    return wanted


def n_caltech101(root: Optional[PathLike], seed: Optional[int] = None, train_ratio: float = 0.9,
                 classes: Optional[Sequence[str]] = None, **_: Any) -> Tuple[EventFiles, EventFiles]:
    """N-Caltech101 on a 240x180 grid (SpikingJelly's H, W = 180, 240) with a per-class 90/10 split.

    All 101 class folders must be there (labels in sorted folder order, as SpikingJelly), unless
    ``classes=[...]`` chooses some on purpose (labels then in that same order, restricted to them).
    """
    name = "n_caltech101"
    root = _check_root(name, root)

    def has_classes(d: Path) -> bool:
        return any(p.is_dir() and _files(p, [".bin"]) for p in _visible(d))

    base = _first_dir(root, ["NCALTECH101/Caltech101", "Caltech101", ""], has_classes)
    if base is None:
        raise _missing(name, root, f"no class folders with .bin files under {root}")
    classes = _caltech_classes(root, base, classes)
    records = [Record(f"{c}/{f.name}", f, k) for k, c in enumerate(classes) for f in _files(base / c, [".bin"])]
    train, test = per_class_split(records, len(classes), train_ratio, seed, name=name)
    return (EventFiles(name, "train", train, read_atis_bin, (240, 180, 2), classes, base),
            EventFiles(name, "test", test, read_atis_bin, (240, 180, 2), classes, base))
