"""Audit fixes of the dataset layer: honest on_error, epoch keys through Subset, cache keys, option checks."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import snnkit.data as D
from snnkit.data.cache import cache_key
from snnkit.data.events import Framing


def _break_one(root: Path) -> Path:
    """Truncate one N-MNIST training file (not a whole number of 5-byte events)."""
    bad = root / "NMNIST" / "Train" / "3" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:7])
    return bad


@pytest.mark.parametrize("kwargs", [{"frames": 4, "cache": False}, {}])
def test_skip_without_frame_cache_is_refused(nmnist_root, kwargs) -> None:
    _break_one(nmnist_root)
    with pytest.raises(ValueError, match="on_error='skip' needs the frame cache"):
        D.load("n_mnist", nmnist_root, on_error="skip", progress=False, **kwargs)


def test_skip_with_frame_cache_still_skips(nmnist_root, tmp_path) -> None:
    _break_one(nmnist_root)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        train, test = D.load("n_mnist", nmnist_root, frames=4, on_error="skip", progress=False, cache_dir=tmp_path)
    assert train.skipped == ["Train/3/00000.bin"] and len(train) == 19 and len(test) == 20


def _draws(loader) -> list:
    return [x.clone() for x, _ in loader]


def test_make_loader_on_subset_gives_new_draws_each_epoch(nmnist_root, tmp_path) -> None:
    train, _ = D.load("n_mnist", nmnist_root, frames=4, augment=True, progress=False, cache_dir=tmp_path)
    idx = [5, 1, 17, 8]
    sub = torch.utils.data.Subset(torch.utils.data.Subset(train, list(range(20))), idx)
    loader = D.make_loader(sub, batch_size=4)
    e0, e1 = _draws(loader), _draws(loader)
    assert not torch.equal(e0[0], e1[0])
    for epoch, got in ((0, e0[0]), (1, e1[0])):   # the same draws as the unwrapped dataset's for those indices
        want = torch.stack([train[(i, epoch)][0] for i in idx], dim=1)
        assert torch.equal(got, want)


# Pinned keys: only a FRAMES_VERSION (or CACHE_FORMAT) raise or another tonic may move them. Under FRAMES_VERSION 1
# (unkeyed) they were f10be8bc1434... and d266aa1dd133...; under 2 without the tonic version 215e27c4b8c1... and ade132f7a3d7...
FRAMES_KEY = "4162f4d64ccde5af0723fdbb0e8a000c792c7c69221c205009043be2fd7a0509"
TIME_KEY = "f516afc8a7435a6d6546d3d5ac7e6bf94fb4ad1c66e3dfae17ac8e6d6ce2fb8d"


def _key(f: Framing) -> str:
    return cache_key({"dataset": "n_mnist", "split": "train", "framing": f.to_dict(), "sensor_size": [34, 34, 2],
                      "source": {"x": 1}, "on_error": "raise"})


def test_frames_by_number_keeps_its_cache_key(monkeypatch) -> None:
    import snnkit.data.cache as C

    assert (C.FRAMES_VERSION, C.CACHE_FORMAT) == (2, 1)   # the versions these keys were computed under
    monkeypatch.setattr(C, "reader_versions", lambda: {"tonic": "1.7.0"})   # and this tonic
    assert _key(Framing(n_bins=4)) == FRAMES_KEY
    assert _key(Framing(n_bins=10, split_by="time", convention="tonic", size=(17, 17))) == TIME_KEY


def test_cache_key_ignores_spelling_and_irrelevant_split_by() -> None:
    assert _key(Framing(time_window=50000)) == _key(Framing(time_window=50000.0))
    assert _key(Framing(time_window=50000, split_by="time")) == _key(Framing(time_window=50000.0))
    assert _key(Framing(event_count=300.0)) == _key(Framing(event_count=300, split_by="time"))
    assert _key(Framing(time_window=50000)) != _key(Framing(time_window=50001))


@pytest.mark.parametrize("kwargs, match", [
    ({"convention": "banana"}, "convention must be one of"),
    ({"split_by": "bogus"}, "split_by must be one of"),
    ({"split_by": "time"}, "split_by='time' only shape event frames"),
    ({"convention": "tonic"}, "convention='tonic' only shape event frames"),
    ({"include_incomplete": True}, "include_incomplete=True only shape event frames"),
])
def test_framing_options_are_never_silently_ignored(nmnist_root, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        D.load("digits", **kwargs)
    with pytest.raises(ValueError, match=match):
        D.load("n_mnist", nmnist_root, **kwargs)   # no framing asked: raw events


def test_int_size_gets_the_size_message(nmnist_root) -> None:
    with pytest.raises(ValueError, match=r"size must be \(H, W\) with two positive integers, got 64"):
        D.load("n_mnist", nmnist_root, frames=4, size=64)


def _overwrite_first_chunk(path: Path) -> None:
    """Overwrite the stored bytes of the first chunk of ``frames`` (as a disk or copy error would)."""
    import h5py

    with h5py.File(path, "r") as f:
        info = f["frames"].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)


@pytest.mark.parametrize("in_memory", [True, False])
def test_corrupt_cache_is_named_with_the_fix(nmnist_root, tmp_path, in_memory) -> None:
    from snnkit.data.cache import CorruptCacheError

    train, _ = D.load("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path)
    _overwrite_first_chunk(train.path)
    with pytest.raises(CorruptCacheError, match="snnkit data cache clear n_mnist") as err:
        ds, _ = D.load("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path, in_memory=in_memory)
        ds[0]
    assert str(train.path) in str(err.value) and "\n" not in str(err.value)


def test_prepare_rebuilds_a_corrupt_cache(nmnist_root, tmp_path) -> None:
    good, _ = D.load("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path)
    want = good[0][0].clone()
    _overwrite_first_chunk(good.path)
    with pytest.warns(RuntimeWarning, match="corrupt.*building it again"):
        paths = D.prepare("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path)
    assert paths[0] == good.path
    again, _ = D.load("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path)
    assert torch.equal(again[0][0], want)


def test_prepare_refuses_an_unwritable_cache_dir_before_work(nmnist_root, tmp_path, capsys, monkeypatch) -> None:
    from snnkit import _io, cli

    def unwritable(folder):   # root can write anywhere, so the probe is what we replace
        raise OSError(f"{str(folder)!r} is not writable: no file can be created in {str(folder)!r} (Permission denied)")

    # import every subcommand's module first: one imported under the patch (snnkit.hardware.cli binds
    # check_writable_folder by name) kept the fake for the rest of the session, and every later export/simulate/
    # energy test in that process failed with 'not writable'
    cli.build_parser()
    monkeypatch.setattr(_io, "check_writable_folder", unwritable)
    rc = cli.main(["data", "prepare", "n_mnist", "--root", str(nmnist_root), "--cache-dir", str(tmp_path / "ro"),
                   "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--cache-dir" in err and "$SNNKIT_DATA" in err and "\n" not in err
    assert not (tmp_path / "ro").exists()


def test_cache_clear_on_unwritable_folder_is_one_line(nmnist_root, tmp_path, capsys, monkeypatch) -> None:
    from snnkit import cli
    from snnkit.data import housekeeping

    D.load("n_mnist", nmnist_root, frames=4, progress=False, cache_dir=tmp_path)

    def denied(paths):
        raise PermissionError(13, "Permission denied", str(paths[0]))

    monkeypatch.setattr(housekeeping, "remove_files", denied)
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(tmp_path), "--yes"]) == 1
    err = capsys.readouterr().err.strip()
    assert "not writable" in err and "--cache-dir" in err and "\n" not in err


def test_empty_test_split_warns_why(tmp_path, capsys) -> None:
    from snnkit import cli

    from .native import make_cifar10_dvs

    root = make_cifar10_dvs(tmp_path / "c10", per_class=3, n_events=50)   # ceil(0.9 * 3) = 3: all in train
    with pytest.warns(RuntimeWarning, match=r"cifar10_dvs: the test split is empty: .* needs 10\+ files"):
        D.load("cifar10_dvs", root, frames=2, progress=False, cache_dir=tmp_path / "c")
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--cache-dir", str(tmp_path / "c"),
                     "--no-progress"]) == 0
    assert "warning: cifar10_dvs: the test split is empty" in capsys.readouterr().err


@pytest.mark.parametrize("extra, match", [(["--size", "4", "4"], "--size: framing option of event datasets'"),
                                          (["--convention", "tonic"], "--convention: framing option"),
                                          (["--split-by", "time"], "--split-by: framing option"),
                                          (["--frames", "3", "--include-incomplete"],   # --frames: silently ignored
                                           "--frames, --include-incomplete: framing options")])
def test_prepare_static_refuses_framing_options(capsys, extra, match) -> None:
    """In the flags' names (the library's errors said size=, convention='tonic', split_by='time')."""
    from snnkit import cli

    assert cli.main(["data", "prepare", "digits", *extra]) == 2
    assert match in capsys.readouterr().err


def test_cache_list_tells_roots_apart(tmp_path, capsys) -> None:
    from snnkit import cli

    from .native import make_nmnist

    roots = [make_nmnist(tmp_path / name, per_class=1) for name in ("a", "b")]
    for r in roots:
        D.load("n_mnist", r, frames=4, progress=False, cache_dir=tmp_path / "c")
    assert cli.main(["data", "cache", "list", "--cache-dir", str(tmp_path / "c")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("n_mnist")]
    assert sorted(r[-2] for r in rows) == sorted(str(r.resolve() / "NMNIST") for r in roots for _ in range(2))


def test_cache_list_source_of_digits_dvs_shows_settings_and_split() -> None:
    from snnkit.data.housekeeping import _describe_source

    sim = D.DVSSimParams(threshold=0.4).to_dict()
    record = {"source": {"simulator": sim, "indices_sha": "abcdef0123456789"}, "on_error": "skip"}
    assert _describe_source(record) == "threshold=0.4 split=abcdef01 +skip"
    record = {"source": {"simulator": D.DVSSimParams().to_dict(), "indices_sha": "12345678ff"}, "on_error": "raise"}
    assert _describe_source(record) == "split=12345678"


def test_make_loader_on_a_concatenation_gives_new_draws_each_epoch(nmnist_root, tmp_path) -> None:
    """ConcatDataset of (Subsets of) augmented sets: each index keeps its part's (index, epoch) draws."""
    train, _ = D.load("n_mnist", nmnist_root, frames=4, augment=True, progress=False, cache_dir=tmp_path)
    both = torch.utils.data.ConcatDataset([torch.utils.data.Subset(train, [3, 4]), train])
    loader = D.make_loader(torch.utils.data.Subset(both, [0, 1, 2, 21]), batch_size=4)
    e0, e1 = _draws(loader), _draws(loader)
    assert not torch.equal(e0[0], e1[0])
    for epoch, got in ((0, e0[0]), (1, e1[0])):   # global 0, 1 -> train 3, 4; 2 -> train 0; 21 -> train 19
        want = torch.stack([train[(i, epoch)][0] for i in (3, 4, 0, 19)], dim=1)
        assert torch.equal(got, want)
