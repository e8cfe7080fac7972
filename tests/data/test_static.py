"""Static datasets: Fashion-MNIST idx files, scikit-learn digits."""
from __future__ import annotations

import numpy as np
import pytest

import snnkit.data as D
from snnkit.data.static import read_idx

from .native import write_idx


def _fashion(root, gz=True, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{'.gz' if gz else ''}", rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{'.gz' if gz else ''}", np.arange(n) % 10, gz)
    return root


@pytest.mark.parametrize("layout", ["flat_gz", "torchvision_raw"])
def test_fashion_mnist(tmp_path, layout) -> None:
    if layout == "flat_gz":
        _fashion(tmp_path)
    else:
        _fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    train, test = D.load("fashion_mnist", root=tmp_path, frames=4)
    assert (len(train), len(test)) == (30, 10)
    x, y = train[13]
    assert x.shape == (4, 1, 28, 28) and y == 3 and 0 <= x.min() and x.max() <= 1
    assert torch_equal_frames(x)
    assert train.classes[9] == "Ankle boot"
    one, _ = D.load("fashion_mnist", root=tmp_path)
    assert one[0][0].shape == (1, 1, 28, 28)


def torch_equal_frames(x) -> bool:
    return bool((x == x[0:1]).all())


def test_fashion_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"fashion_mnist: no dataset folder given \(root= in Python, --root on the command line\)(.|\n)*t10k-images-idx3-ubyte(.|\n)*zalandoresearch"):
        D.load("fashion_mnist")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load("fashion_mnist", root=tmp_path / "nope")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        D.load("fashion_mnist", root=tmp_path / "afile")
    _fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"holds 3 of the four idx files; missing: t10k-labels-idx1-ubyte\[\.gz\]"):
        D.load("fashion_mnist", root=tmp_path)
    with pytest.raises(ValueError, match="static image dataset"):
        D.load("fashion_mnist", root=tmp_path, time_window=1000)


def test_read_idx_rejects_corrupt_files(tmp_path) -> None:
    p = write_idx(tmp_path / "a", np.zeros((3, 4, 4)), gz=False)
    assert read_idx(p).shape == (3, 4, 4)
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)
    (tmp_path / "b").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "b")
    (tmp_path / "c.gz").write_bytes(b"not gzip")   # neither gzip nor idx, whatever its name says
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "c.gz")
    g = write_idx(tmp_path / "d.gz", np.zeros((3, 4, 4)), gz=True)
    g.write_bytes(g.read_bytes()[:-12])             # a cut-off download
    with pytest.raises(ValueError, match="cannot read idx file"):
        read_idx(g)
    g.write_bytes(g.read_bytes()[:10] + b"\xff" * 40)   # gzip header, corrupt deflate stream
    with pytest.raises(ValueError, match="cannot read idx file"):
        read_idx(g)


def test_static_digits_share_the_digits_dvs_split() -> None:
    train, test = D.load("digits", frames=3)
    assert (len(train), len(test)) == (1437, 360)
    x, y = train[0]
    assert x.shape == (3, 1, 8, 8) and x.max() <= 1
    ev_train, _ = D.load("digits_dvs")
    assert np.array_equal(train.targets, ev_train.targets)


def test_negative_index_is_the_same_sample_and_augmentation_draw() -> None:
    import torch

    train, _ = D.load("digits", frames=2, augment=True)
    n = len(train)
    for epoch in (0, 3):   # FrameDataset's rule: ds[-1] is ds[n - 1], draw included
        assert torch.equal(train[(-1, epoch)][0], train[(n - 1, epoch)][0])
    assert train[-1][1] == train[n - 1][1]
    with pytest.raises(IndexError, match="index 1437 out of range for 1437"):
        train[n]


def test_read_idx_goes_by_content_not_name(tmp_path) -> None:
    """A download saved decompressed under its .gz name (a browser honouring Content-Encoding), or a gzip file
    whose .gz was dropped, is still the idx data: gzip is recognised by its magic bytes 1f 8b."""
    from snnkit.data.static import read_idx

    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", a, gz=False)), a)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "packed", a, gz=True)), a)
