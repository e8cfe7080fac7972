"""The HDF5 frame cache: keyed by every setting, never read stale or half-written."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import snnkit.data as D
from snnkit.data import cache as C
from snnkit.data import housekeeping as H

from .native import random_events, write_atis_bin


def _paths(root: Path, cache: Path, **kw) -> Path:
    train, _ = D.load("n_mnist", root=root, cache_dir=cache, progress=False, **kw)
    return train.path


def test_key_covers_every_framing_setting(nmnist_root, tmp_path) -> None:
    cache = tmp_path / "c"
    base = _paths(nmnist_root, cache, frames=5)
    variants = [dict(frames=6), dict(frames=5, split_by="time"), dict(frames=5, convention="tonic"),
                dict(frames=5, size=(17, 17)), dict(time_window=10_000), dict(event_count=50),
                dict(time_window=10_000, convention="tonic", include_incomplete=True), dict(frames=5, on_error="skip")]
    paths = {base} | {_paths(nmnist_root, cache, **v) for v in variants}
    assert len(paths) == len(variants) + 1
    assert _paths(nmnist_root, cache, frames=5) == base     # same settings: same file, reused
    # the test split has its own file
    _, test = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=5, progress=False)
    assert test.path != base and "-test-" in test.path.name


def test_simulator_parameters_are_in_the_key() -> None:
    from snnkit.data import _record
    from snnkit.data.digits_dvs import DigitsDVS, DVSSimParams

    f = D.Framing(n_bins=8)
    a = C.cache_path("/c", "digits_dvs", "train", _record(DigitsDVS([0, 1], DVSSimParams(), "train"), f, "raise"))
    b = C.cache_path("/c", "digits_dvs", "train", _record(DigitsDVS([0, 1], DVSSimParams(threshold=0.4), "train"), f, "raise"))
    c = C.cache_path("/c", "digits_dvs", "train", _record(DigitsDVS([0, 2], DVSSimParams(), "train"), f, "raise"))
    assert len({a, b, c}) == 3


def test_changed_source_file_is_never_read_stale(nmnist_root, tmp_path) -> None:
    cache = tmp_path / "c"
    train, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    before = train[0][0].sum().item()
    f = nmnist_root / "NMNIST" / "Train" / "0" / "00000.bin"
    write_atis_bin(f, random_events(np.random.default_rng(9), 77, 34, 34))
    os.utime(f, ns=(1, 1_000_000_000))          # even with an old timestamp, the size changed
    train2, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert train2.path != train.path and before == 300 and train2[0][0].sum().item() == 77
    # same size, new mtime: also a new key
    write_atis_bin(f, random_events(np.random.default_rng(10), 77, 34, 34))
    train3, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert train3.path not in (train.path, train2.path)


def test_interrupted_build_leaves_nothing_and_is_redone(nmnist_root, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "c"
    real = D.Framing.__call__
    calls = {"n": 0}

    def flaky(self, ev, sensor_size):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(self, ev, sensor_size)

    monkeypatch.setattr(D.Framing, "__call__", flaky)
    with pytest.raises(KeyboardInterrupt):
        D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert [p for p in cache.iterdir() if p.name != H.LOCK_NAME] == []   # neither the final name nor the temporary file
    monkeypatch.setattr(D.Framing, "__call__", real)
    train, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert len(train) == 20


def test_incomplete_or_foreign_file_under_the_final_name_is_rebuilt(nmnist_root, tmp_path) -> None:
    cache = tmp_path / "c"
    train, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    path = train.path
    with h5py.File(path, "a") as f:               # e.g. a file copied from elsewhere with another key
        f.attrs["complete"] = False
    assert not C.is_valid(path, train.record)
    D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    with h5py.File(path, "r") as f:
        assert f.attrs["complete"]
    path.write_bytes(b"garbage")                  # a truncated / corrupted cache file
    again, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert again[0][0].sum().item() == 300


def test_cache_dir_default_env_and_argument(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SNNKIT_DATA", raising=False)
    assert C.default_cache_dir() == Path.home() / ".cache" / "snnkit" / "data"
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "env"))
    assert C.default_cache_dir() == tmp_path / "env"
    assert C.default_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_env_var_is_used_by_load(nmnist_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "env"))
    train, _ = D.load("n_mnist", root=nmnist_root, frames=3, progress=False)
    assert train.path.parent == tmp_path / "env"


def test_values_that_do_not_fit_uint16_are_stored_exactly(tmp_path) -> None:
    fr = [np.zeros((2, 1, 2, 2)), np.full((1, 1, 2, 2), 70000.0), np.full((1, 1, 2, 2), 0.5)]
    path = C.write_cache(tmp_path / "x.h5", {"a": 1}, iter([("a", 0, fr[0]), ("b", 1, fr[1]), ("c", 1, fr[2])]), 3,
                         (1, 2, 2), progress=False)
    ds = C.FrameDataset(path, ["n", "y"], in_memory=False)
    assert [ds[i][0].max().item() for i in range(3)] == [0.0, 70000.0, 0.5]
    assert ds.lengths().tolist() == [2, 1, 1]
    with pytest.raises(IndexError, match="out of range"):
        ds[3]


def test_uncached_frames_equal_cached(nmnist_root, tmp_path) -> None:
    cached, _ = D.load("n_mnist", root=nmnist_root, cache_dir=tmp_path / "c", frames=5, split_by="time", progress=False)
    live, _ = D.load("n_mnist", root=nmnist_root, frames=5, split_by="time", cache=False)
    assert len(live) == len(cached) and live.classes == cached.classes
    for i in (0, 7, 19):
        assert np.array_equal(live[i][0].numpy(), cached[i][0].numpy()) and live[i][1] == cached[i][1]


def test_frames_version_is_in_the_key_so_a_reader_fix_misses_old_caches(nmnist_root, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "c"
    old, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert old[0][0].sum().item() == 300
    # a reader/framing fix: the frames change and FRAMES_VERSION is raised with it
    real = D.Framing.__call__
    monkeypatch.setattr(D.Framing, "__call__", lambda self, ev, s: real(self, ev, s) * 2)
    monkeypatch.setattr(C, "FRAMES_VERSION", C.FRAMES_VERSION + 1)
    new, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert new.path != old.path and new[0][0].sum().item() == 600
    assert old.path.exists() and not C.is_valid(old.path, old.record)
    # an old-version file under the new name (e.g. copied in) is rejected by its stored key, and rebuilt
    new.path.unlink()
    old.path.rename(new.path)
    again, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert again.path == new.path and again[0][0].sum().item() == 600


def test_the_tonic_version_is_in_the_key(nmnist_root, tmp_path, monkeypatch) -> None:
    """tonic.io parses the native formats: another tonic version builds its own cache instead of reading ours."""
    cache = tmp_path / "c"
    old, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert C.reader_versions()["tonic"] is not None     # installed with the test extra
    monkeypatch.setattr(C, "reader_versions", lambda: {"tonic": "0.0.1"})
    new, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert new.path != old.path and not C.is_valid(old.path, old.record)


def test_full_disk_is_refused_before_hdf5_writes_with_a_clear_error(tmp_path, monkeypatch) -> None:
    import errno
    from collections import namedtuple

    # HDF5 itself hitting ENOSPC leaves a file whose close/free segfaults (h5py #914): the writer must stop first
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(C.shutil, "disk_usage", lambda p: usage(1 << 40, 0, C.SPACE_MARGIN + 1000))
    frames = [("a", 0, np.ones((4, 2, 8, 8))), ("b", 1, np.ones((4, 2, 8, 8)))]   # 1024 values: 2 KiB as uint16
    with pytest.raises(OSError, match=r"no room to write the frame cache x\.h5 .*SNNKIT_DATA") as e:
        C.write_cache(tmp_path / "x.h5", {"a": 1}, iter(frames), 2, (2, 8, 8), progress=False)
    assert e.value.errno == errno.ENOSPC
    assert [p.name for p in tmp_path.iterdir() if p.name != H.LOCK_NAME] == []    # no final file, no temporary
    monkeypatch.setattr(C.shutil, "disk_usage", lambda p: usage(1 << 40, 0, C.SPACE_MARGIN + 2048))
    path = C.write_cache(tmp_path / "x.h5", {"a": 1}, iter(frames), 2, (2, 8, 8), progress=False)
    assert C.FrameDataset(path, ["n", "y"])[1][0].sum().item() == 512


def test_concurrent_loads_build_a_cache_once_and_the_other_reads_it(nmnist_root, tmp_path, monkeypatch) -> None:
    import threading

    cache = tmp_path / "c"
    checked = threading.Semaphore(0)      # released on each validity check of a train cache
    real_valid, real_frame = D.is_valid, D.Framing.__call__
    framed = {"n": 0}

    def is_valid(path, record):
        if "-train-" in Path(path).name:
            checked.release()
        return real_valid(path, record)

    def frame(self, ev, sensor_size):
        if framed["n"] == 0:              # the first builder waits until the second load has looked for the cache
            assert checked.acquire(timeout=30) and checked.acquire(timeout=30)
        framed["n"] += 1
        return real_frame(self, ev, sensor_size)

    monkeypatch.setattr(D, "is_valid", is_valid)
    monkeypatch.setattr(D.Framing, "__call__", frame)
    out: list = []
    loads = [threading.Thread(target=lambda: out.append(D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4,
                                                             progress=False, splits=("train",))[0])) for _ in range(2)]
    for t in loads:
        t.start()
    for t in loads:
        t.join()
    assert len(out) == 2 and out[0].path == out[1].path
    assert framed["n"] == 20              # the 20 training samples framed once, not once per load
    assert [p.name for p in cache.iterdir() if p.name != H.LOCK_NAME] == [out[0].path.name]   # no lock file left
    assert all(ds[0][0].sum().item() == 300 for ds in out)


@pytest.mark.parametrize("where", ["frames", "labels"])
def test_overwritten_bytes_are_detected_never_read_as_frames(tmp_path, where) -> None:
    rng = np.random.default_rng(0)
    frames = [(f"s{i}", i % 3, rng.poisson(1.0, (4, 2, 8, 8))) for i in range(6)]
    path = C.write_cache(tmp_path / "x.h5", {"a": 1}, iter(frames), 6, (2, 8, 8), progress=False, chunk_frames=4)
    with h5py.File(path, "r") as f:   # where the dataset's bytes lie in the file
        dset = f[where]
        chunk = dset.id.get_chunk_info(0) if dset.chunks else None
        start, size = (chunk.byte_offset, chunk.size) if chunk else (dset.id.get_offset(), dset.id.get_storage_size())
    raw = bytearray(path.read_bytes())
    raw[start + size // 2] ^= 0x55                # one byte of the stored data changed (a disk or copy error)
    path.write_bytes(bytes(raw))
    with pytest.raises(C.CorruptCacheError, match=r"x\.h5.* is corrupt"):
        C.verify_cache(path)
    with pytest.raises(C.CorruptCacheError, match=r"x\.h5.* is corrupt"):
        ds = C.FrameDataset(path, ["a", "b", "c"], in_memory=False)
        [ds[i] for i in range(len(ds))]


def test_undecodable_names_are_a_corrupt_cache(tmp_path) -> None:
    path = C.write_cache(tmp_path / "x.h5", {"a": 1}, iter([("a", 0, np.ones((1, 1, 2, 2)))]), 1, (1, 2, 2),
                         progress=False)
    with h5py.File(path, "a") as f:
        del f["names"]
        f.create_dataset("names", data=np.array([b"\xe0\x80"], dtype=object), dtype=h5py.string_dtype("ascii"))
    with pytest.raises(C.CorruptCacheError, match="is corrupt"):
        C.FrameDataset(path, ["n"])
    with pytest.raises(C.CorruptCacheError, match="is corrupt"):
        C.verify_cache(path)


def test_relative_cache_dir_survives_a_chdir_and_a_removed_file_is_called_missing(nmnist_root, tmp_path,
                                                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    train, _ = D.load("n_mnist", root=nmnist_root, cache_dir="rel", frames=4, progress=False, in_memory=False)
    assert train.path == tmp_path / "rel" / train.path.name
    monkeypatch.chdir(nmnist_root)               # e.g. a script that moves into its run folder after loading
    assert train[0][0].sum().item() == 300       # streamed from disk by its full name
    again, _ = D.load("n_mnist", root=nmnist_root, cache_dir=tmp_path / "rel", frames=4, progress=False,
                      in_memory=False)
    again.path.unlink()                          # e.g. snnkit data cache clear while a run still reads it
    with pytest.raises(C.CorruptCacheError, match="is missing: it was removed after the dataset was loaded"):
        again[0]
