"""Dataset-copy checks and messages from the data-loader audit: each test fails on the code before the fix."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snnkit.data as D
from snnkit.data.neuromorphic import read_gesture_npy

tonic = pytest.importorskip("tonic")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gesture_npy_fractional_ms_times_as_tonic(tmp_path: Path, monkeypatch, dtype) -> None:
    t_ms = np.array([14.257, 16.0955, 34.854, 55.8195, 0.5, 1200.75], dtype=dtype)
    raw = np.stack([np.arange(6), np.arange(6) * 2, np.array([0, 1, 0, 1, 1, 0]), t_ms], axis=1).astype(dtype)
    path = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led" / "3.npy"
    path.parent.mkdir(parents=True)
    np.save(path, raw)
    monkeypatch.setattr(tonic.datasets.DVSGesture, "_check_exists", lambda self: True)
    tev, label = tonic.datasets.DVSGesture(save_to=str(tmp_path), train=True)[0]
    ours = read_gesture_npy(path)
    np.testing.assert_array_equal(ours["t"], tev["t"].astype(np.int64))
    assert ours["t"][4] == 500 and ours["t"][5] == 1_200_750          # exact in binary: 0.5 ms, 1200.75 ms
    assert ours["t"][0] in (14_256, 14_257)                           # not cut to 14_000 before the x1000


def test_gesture_npy_in_another_column_order_is_a_named_skippable_sample_error(tmp_path: Path) -> None:
    from .native import make_gesture_tonic

    root = make_gesture_tonic(tmp_path / "g", users_train=(1,), users_test=(24,))
    bad = root / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "3.npy"
    raw = np.load(bad)
    np.save(bad, raw[:, [0, 1, 3, 2]])              # x, y, t, p: the polarity column now holds times
    with pytest.raises(D.SampleError, match=r"3\.npy.*column 2 \(polarity\) holds values in \[0, \d+\], not 0/1"):
        D.load("dvs128_gesture", root, frames=4, progress=False)
    with pytest.warns(RuntimeWarning, match=r"1 unreadable sample.*user01_fluorescent/3\.npy"):
        train, _ = D.load("dvs128_gesture", root, frames=4, progress=False, on_error="skip")
    assert len(train) == 10 and 3 not in train.targets.tolist()


# --------------------------------------------------------------------------- messages


def test_aedat_empty_and_random_bytes_messages(tmp_path: Path) -> None:
    from snnkit.data.neuromorphic import read_aedat2_dvs128, read_aedat3_polarity

    (tmp_path / "e.aedat").write_bytes(b"")
    (tmp_path / "r.aedat").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (tmp_path / "h.aedat").write_bytes(b"#!AER-DATx.y\r\n" + bytes(16))
    for reader in (read_aedat2_dvs128, read_aedat3_polarity):
        with pytest.raises(ValueError, match=r"^the file is empty \(0 bytes\)$"):
            reader(tmp_path / "e.aedat")
        with pytest.raises(ValueError, match=r"^not an AEDAT file \(no '#!AER-DAT' header line; it starts with b") as e:
            reader(tmp_path / "r.aedat")
        assert "UnboundLocalError" not in str(e.value) and "data_version" not in str(e.value)
        with pytest.raises(ValueError, match=r"^not an AEDAT file \(its '#!AER-DAT' header line .* no readable version\)$") as e:
            reader(tmp_path / "h.aedat")
        assert "Error" not in str(e.value)


def test_gesture_header_only_labels_csv(tmp_path: Path) -> None:
    import warnings

    from .native import make_gesture_ibm

    root = make_gesture_ibm(tmp_path / "d")
    (root / "DvsGesture" / "user02_led_labels.csv").write_text("class,startTime_usec,endTime_usec\r\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # numpy's "loadtxt: input contained no data" must not appear
        with pytest.raises(D.SampleError, match=r"user02_led_labels.csv.*the label file has no labelled rows"):
            D.load("dvs128_gesture", root=root)


# --------------------------------------------------------------------------- on_error="skip"


def test_skip_covers_a_broken_gesture_labels_csv(tmp_path: Path) -> None:
    from .native import make_gesture_ibm

    root = make_gesture_ibm(tmp_path / "d")
    (root / "DvsGesture" / "user02_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n3,oops,7\n")
    with pytest.raises(D.SampleError, match=r"user02_led_labels.csv"):
        D.load("dvs128_gesture", root=root, frames=4, progress=False)                      # raise stays the default
    with pytest.warns(RuntimeWarning, match=r"dvs128_gesture/train: 1 unreadable sample\(s\) left out .*user02_led#\*"):
        train, test = D.load("dvs128_gesture", root=root, frames=4, progress=False, on_error="skip")
    assert len(train) == 11 and train.skipped == ["user02_led#*"] and len(test) == 11 and test.skipped == []
    assert all(n.startswith("user01_fluorescent#") for n in train.names)
    with pytest.warns(RuntimeWarning, match=r"user02_led#\*"):                             # warned again when cached
        again, _ = D.load("dvs128_gesture", root=root, frames=4, progress=False, on_error="skip")
    assert again.path == train.path and again.skipped == ["user02_led#*"]
    with pytest.raises(ValueError, match="on_error='skip' needs the frame cache"):   # unread files could not be skipped
        D.load("dvs128_gesture", root=root, frames=4, on_error="skip", cache=False)


def test_skip_that_leaves_a_split_empty_is_an_error(tmp_path: Path) -> None:
    from snnkit.data.housekeeping import LOCK_NAME

    from .native import make_nmnist

    root = make_nmnist(tmp_path / "d", per_class=1)
    for f in (root / "NMNIST" / "Test").rglob("*.bin"):
        f.write_bytes(b"")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"n_mnist/test: all 10 sample\(s\) of this split were unreadable and left out "
                                         r"\(on_error='skip'\), so nothing is cached for it; first: Test/0/00000.bin"):
        D.load("n_mnist", root=root, frames=4, progress=False, on_error="skip", cache_dir=cache)
    left = sorted(p.name for p in cache.iterdir() if p.name != LOCK_NAME)
    assert len(left) == 1 and left[0].startswith("n_mnist-train-")          # the train cache, no test file, no .tmp


# --------------------------------------------------------------------------- hidden files, cache key


def test_hidden_files_are_not_samples(tmp_path: Path) -> None:
    from .native import make_cifar10_dvs, make_gesture_tonic, make_nmnist

    junk = bytes(range(256)) * 16                                          # 4096 bytes, as an AppleDouble file
    root = make_nmnist(tmp_path / "n", per_class=1)
    (root / "NMNIST" / "Train" / "3" / "._00000.bin").write_bytes(junk)
    (root / "NMNIST" / "Train" / "3" / ".DS_Store").write_bytes(junk)
    train, _ = D.load("n_mnist", root=root, frames=4, progress=False)
    assert len(train) == 10 and not any("/." in n for n in train.names)
    root = make_cifar10_dvs(tmp_path / "c", per_class=2)
    (root / "CIFAR10DVS" / "cat" / "._cifar10_cat_0.aedat").write_bytes(junk)
    train, test = D.load("cifar10_dvs", root=root, frames=4, progress=False)
    assert len(train) + len(test) == 20
    root = make_gesture_tonic(tmp_path / "g", users_train=(1,), users_test=(24,))
    (root / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "._3.npy").write_bytes(junk)
    (root / "DVSGesture" / "ibmGestureTrain" / ".Trashes").mkdir()
    (root / "DVSGesture" / "ibmGestureTrain" / ".Trashes" / "4.npy").write_bytes(junk)
    train, _ = D.load("dvs128_gesture", root=root, frames=4, progress=False)
    assert len(train) == 11 and all(n.startswith("ibmGestureTrain/user01_fluorescent/") for n in train.names)


def test_relative_and_absolute_root_share_one_cache(tmp_path: Path, monkeypatch) -> None:
    from .native import make_nmnist

    make_nmnist(tmp_path / "d", per_class=1)
    monkeypatch.chdir(tmp_path)
    rel, _ = D.load("n_mnist", root="d", frames=4, progress=False, cache_dir=tmp_path / "c")
    absolute, _ = D.load("n_mnist", root=tmp_path / "d", frames=4, progress=False, cache_dir=tmp_path / "c")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    linked, _ = D.load("n_mnist", root=tmp_path / "link" / "NMNIST", frames=4, progress=False, cache_dir=tmp_path / "c")
    assert rel.path == absolute.path == linked.path
    assert len(list((tmp_path / "c").glob("n_mnist-train-*.h5"))) == 1


# --------------------------------------------------------------------------- dataset copies that are wrong or incomplete


def test_cifar10_dvs_refuses_aedat_and_aedat4_copies_together(tmp_path: Path) -> None:
    from .native import make_cifar10_dvs

    root = make_cifar10_dvs(tmp_path / "d", per_class=3)
    base = root / "CIFAR10DVS"
    for f in sorted(base.glob("*/*.aedat")):
        f.with_suffix(".aedat4").write_bytes(b"#!AER-DAT4.0\r\n")       # tonic's copy beside the original
    with pytest.raises(FileNotFoundError, match=r"mixes two copies of the dataset: 30 original .aedat and 30 tonic "
                                                r"\.aedat4 files; e\.g\. airplane/cifar10_airplane_0\.aedat and "
                                                r"airplane/cifar10_airplane_0\.aedat4 are the same recording(.|\n)*"
                                                r"Keep one copy: move the other's files out of"):
        D.load("cifar10_dvs", root=root)
    for f in base.glob("*/*.aedat4"):                                    # different recordings: still two copies
        f.rename(f.with_name(f.stem.replace("cifar10_", "x_") + ".aedat4"))
    with pytest.raises(FileNotFoundError, match=r"30 original .aedat and 30 tonic .aedat4 files\. Loading both"):
        D.load("cifar10_dvs", root=root)
    for f in base.glob("*/*.aedat4"):
        f.unlink()
    train, test = D.load("cifar10_dvs", root=root)
    assert len(train) + len(test) == 30 and all(n.endswith(".aedat") for n in train.names + test.names)


def test_n_caltech101_checks_the_class_folders(tmp_path: Path) -> None:
    from snnkit.data.neuromorphic import NCALTECH101_CLASSES

    from .native import make_caltech, make_nmnist

    assert len(NCALTECH101_CLASSES) == 101 and "Faces" not in NCALTECH101_CLASSES   # N-Caltech101 dropped "Faces"
    nm = make_nmnist(tmp_path / "nm", per_class=3)
    with pytest.raises(FileNotFoundError, match=r"n_caltech101: .*Train does not hold N-Caltech101's class folders "
                                                r"\(101 expected\): 101 missing or without .bin files \(BACKGROUND_Google, "
                                                r"Faces_easy, .* \.\.\.\); 10 not N-Caltech101's \(0, 1, 2, 3, 4, 5, 6, 7 \.\.\.\)"
                                                r"\. Is the copy complete(.|\n)*pass classes="):
        D.load("n_caltech101", root=nm / "NMNIST" / "Train")
    root = make_caltech(tmp_path / "c", classes=NCALTECH101_CLASSES[:-2], per_class=1, n_events=20)   # half-extracted
    with pytest.raises(FileNotFoundError, match=r"2 missing or without .bin files \(wrench, yin_yang\)\. Is the copy"):
        D.load("n_caltech101", root=root)
    make_caltech(tmp_path / "c", classes=NCALTECH101_CLASSES[-2:], per_class=1, n_events=20)
    base = root / "NCALTECH101" / "Caltech101"
    (base / "._accordion").write_bytes(b"x" * 4096)                           # hidden: ignored
    (base / "accordion" / "._image_0001.bin").write_bytes(b"x" * 4096)
    (base / ".cache").mkdir()
    (base / ".cache" / "a.bin").write_bytes(b"x" * 10)
    train, test = D.load("n_caltech101", root=root)
    assert train.classes == NCALTECH101_CLASSES and len(train) == 101 and len(test) == 0
    assert train.targets.tolist() == list(range(101))
    (base / "Faces").mkdir()                                                  # Caltech101's, not N-Caltech101's
    write = (base / "Faces_easy" / "image_0001.bin").read_bytes()
    (base / "Faces" / "image_0001.bin").write_bytes(write)
    with pytest.raises(FileNotFoundError, match=r"1 not N-Caltech101's \(Faces\)"):
        D.load("n_caltech101", root=root)
    (base / "Faces" / "image_0001.bin").unlink()
    (base / "Faces").rmdir()
    # a subset chosen on purpose: labels in N-Caltech101's order, restricted to the chosen classes
    sub, _ = D.load("n_caltech101", root=root, classes=["yin_yang", "ant"])
    assert sub.classes == ["ant", "yin_yang"] and sub.names == ["ant/image_0001.bin", "yin_yang/image_0001.bin"]
    with pytest.raises(ValueError, match=r"classes \['Faces'\] are not N-Caltech101 classes"):
        D.load("n_caltech101", root=root, classes=["Faces"])


def test_n_mnist_refuses_an_empty_class_folder(tmp_path: Path) -> None:
    from .native import make_nmnist

    root = make_nmnist(tmp_path / "d", per_class=1)
    (root / "NMNIST" / "Train" / "7" / "00000.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"n_mnist: class folder .*Train/7 holds no .bin files"):
        D.load("n_mnist", root=root)


# --------------------------------------------------------------------------- one split, whoever builds it


def test_prepared_cache_is_the_one_load_uses_and_seed_keeps_the_test_set(tmp_path: Path, monkeypatch, capsys) -> None:
    from snnkit import cli

    from .native import make_cifar10_dvs

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_cifar10_dvs(tmp_path / "d", per_class=10, n_events=40)
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--frames", "3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    train, test = D.load("cifar10_dvs", root, frames=3, progress=False)          # load's defaults
    assert f"-> {train.path}" in printed and f"-> {test.path}" in printed        # the same files: nothing rebuilt
    assert len(list((tmp_path / "cache").glob("cifar10_dvs-*.h5"))) == 2
    # by hand: files cifar10_<c>_0 .. _9 sorted as text, the first 9 train, '_9' is each class's test sample
    assert test.names == [f"{c}/cifar10_{c}_9.aedat" for c in D.neuromorphic.CIFAR10_CLASSES]
    assert D.prepare("cifar10_dvs", root, frames=3, progress=False) == [train.path, test.path]
    for seed in (1, 7):                                                          # a seed sweep keeps one test set
        _, t = D.load("cifar10_dvs", root, frames=3, augment=True, seed=seed, progress=False)
        assert t.names == test.names and t.path == test.path
    assert D.load("cifar10_dvs", root, split_seed=3)[1].names != test.names     # split_seed alone moves it
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--frames", "3", "--split-seed", "3",
                     "--no-progress"]) == 0
    assert len(list((tmp_path / "cache").glob("cifar10_dvs-test-*.h5"))) == 2
    capsys.readouterr()
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--seed", "3"]) == 2
    assert "--seed applies to digits_dvs (its split); it does not change cifar10_dvs's cache; its split is set by " \
           "--split-seed" in capsys.readouterr().err
    assert cli.main(["data", "prepare", "n_mnist", "--root", str(root), "--split-seed", "3"]) == 2
    assert "--split-seed applies to cifar10_dvs and n_caltech101" in capsys.readouterr().err


# --------------------------------------------------------------------------- CLI messages, static datasets


def test_prepare_cli_speaks_of_its_own_options(capsys) -> None:
    from snnkit import cli

    assert cli.main(["data", "prepare", "n_mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnkit data prepare: n_mnist needs --root, the folder holding your copy") and "root=" not in err
    assert "Train/0/00002.bin" in err
    assert cli.main(["data", "prepare", "digits_dvs", "--root", "/tmp"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnkit data prepare: digits_dvs takes no --root") and "digits_dvs takes no dataset folder (root" not in err


def test_prepare_checks_static_dataset_files(tmp_path: Path, capsys) -> None:
    from snnkit import cli

    from .test_static import _fashion

    assert cli.main(["data", "prepare", "fashion_mnist", "--root", str(tmp_path / "nonexistent")]) == 2
    err = capsys.readouterr().err
    assert "fashion_mnist: root directory" in err and "does not exist" in err
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.prepare("fashion_mnist", tmp_path / "nonexistent")
    _fashion(tmp_path, n_train=30, n_test=10)
    assert cli.main(["data", "prepare", "fashion_mnist", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ("fashion_mnist: a static image dataset, read directly (no frame cache): "
                                       "train 30 samples, test 10 samples\n")
    assert D.prepare("fashion_mnist", tmp_path) == []
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    assert cli.main(["data", "prepare", "fashion_mnist", "--root", str(tmp_path)]) == 2
    assert "missing: train-labels-idx1-ubyte[.gz]" in capsys.readouterr().err


def test_include_incomplete_needs_the_tonic_convention(nmnist_root: Path, capsys) -> None:
    from snnkit import cli

    with pytest.raises(ValueError, match=r"include_incomplete \(--include-incomplete\) applies to convention='tonic'"):
        D.load("n_mnist", nmnist_root, time_window=20_000, include_incomplete=True)
    with pytest.raises(ValueError, match=r"applies to convention='tonic'"):
        D.Framing(event_count=10, convention="spikingjelly", include_incomplete=True)
    assert cli.main(["data", "prepare", "n_mnist", "--root", str(nmnist_root), "--event-count", "100",
                     "--include-incomplete", "--no-progress"]) == 2
    assert "applies to convention='tonic' (--convention tonic) only" in capsys.readouterr().err
    a = D.load("n_mnist", nmnist_root, event_count=100, convention="tonic", include_incomplete=True, cache=False)[0]
    assert a[0][0].shape[0] == -(-300 // 100)                                   # tonic + include_incomplete still works


def test_docs_dataset_table_matches_the_registry() -> None:
    """docs/data.md's dataset table says what `snnkit data list` says: classes, sensor, TCJA T, needs files."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`") and cells[0].strip("`") in D.DATASETS:
            rows[cells[0].strip("`")] = cells
    assert sorted(rows) == D.list_datasets()
    for name, (_, kind, classes, sensor, _, t, needs) in rows.items():
        meta = D.info(name)
        assert int(classes) == meta.n_classes and sensor == ", ".join(map(str, meta.sensor_size)), name
        assert t == str(meta.paper_frames or ""), name
        assert needs == ("no" if meta.offline else "yes"), name


def test_loading_one_split_frames_only_that_split(tmp_path: Path, monkeypatch) -> None:
    """splits=("test",): (None, test), the same samples as a full load, and no training frames built."""
    from tests.data.native import make_cifar10_dvs

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_cifar10_dvs(tmp_path / "data", per_class=10, n_events=40)
    train, test = D.load("cifar10_dvs", root=root, frames=2, progress=False, splits=("test",))
    assert train is None and len(test) == 10
    assert [p.name.split("-")[1] for p in (tmp_path / "cache").glob("*.h5")] == ["test"]
    full = D.load("cifar10_dvs", root=root, frames=2, progress=False)
    assert full[1].names == test.names and np.array_equal(full[1][3][0], test[3][0])
    assert D.load("digits", frames=1, splits=["train"])[1] is None
    with pytest.raises(ValueError, match="splits must name 'train' and/or 'test', got 'test'"):
        D.load("cifar10_dvs", root=root, frames=2, splits="test")
