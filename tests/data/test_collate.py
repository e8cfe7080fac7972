"""Time-major collation, loaders and training-only augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import snnkit.data as D
from snnkit.data import collate_time_major, make_loader, paper_augment

from .native import random_events, write_atis_bin


def _batch(lengths):
    return [(torch.full((n, 2, 3, 4), float(i + 1)), i) for i, n in enumerate(lengths)]


def test_collate_shapes_pad_and_cut() -> None:
    x, y = collate_time_major(_batch([5, 5, 5]))
    assert x.shape == (5, 3, 2, 3, 4) and y.tolist() == [0, 1, 2] and (x[:, 1] == 2).all()
    with pytest.raises(ValueError, match=r"different numbers of frames \[3, 5\].*length="):
        collate_time_major(_batch([5, 3]))
    x, y, n = collate_time_major(_batch([5, 3]), length="max", return_lengths=True)
    assert x.shape[0] == 5 and (x[3:, 1] == 0).all() and (x[:3, 1] == 2).all() and n.tolist() == [5, 3]
    assert collate_time_major(_batch([5, 3]), length="min")[0].shape[0] == 3
    x, _ = collate_time_major(_batch([5, 3]), length=4)
    assert x.shape[0] == 4 and (x[:, 0] == 1).all() and (x[3, 1] == 0).all()
    with pytest.raises(ValueError, match="length must be"):
        collate_time_major(_batch([2]), length=0)
    with pytest.raises(ValueError, match="frames of shape"):
        collate_time_major([(torch.zeros(2, 1, 3, 3), 0), (torch.zeros(2, 1, 4, 4), 1)])


def test_loader_time_major_and_variable_length(nmnist_root) -> None:
    rng = np.random.default_rng(0)
    for k, f in enumerate(sorted((nmnist_root / "NMNIST" / "Train").glob("*/*.bin"))):
        write_atis_bin(f, random_events(rng, 100, 34, 34, duration=100_000 + 20_000 * k))   # recordings of varying length
    train, _ = D.load("n_mnist", root=nmnist_root, time_window=20_000, progress=False)
    lengths = set(train.lengths().tolist())
    assert len(lengths) > 1                         # time windows give variable T
    xb, yb = next(iter(make_loader(train, 8, length=16)))
    assert xb.shape == (16, 8, 2, 34, 34) and yb.shape == (8,)
    with pytest.raises(ValueError, match="different numbers of frames"):
        next(iter(make_loader(train, 8)))


def test_augment_training_only_reproducible_and_new_each_epoch(nmnist_root) -> None:
    train, test = D.load("n_mnist", root=nmnist_root, frames=4, augment=True, progress=False)
    plain, _ = D.load("n_mnist", root=nmnist_root, frames=4, progress=False)
    assert test.augment is None and train.augment is not None
    assert torch.equal(train[(3, 0)][0], train[(3, 0)][0])          # same (seed, epoch, index): same draw
    draws = [train[(3, e)][0] for e in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])     # epochs differ
    assert all(d.sum() == plain[3][0].sum() for d in draws)        # flip/roll move events, never add or drop
    loader = make_loader(train, 5, shuffle=True, seed=1)
    e0 = [b[0] for b in loader]
    e1 = [b[0] for b in loader]
    again = [b[0] for b in make_loader(train, 5, shuffle=True, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(e0, again))        # reproducible from the seed
    assert not all(torch.equal(a, b) for a, b in zip(e0, e1))       # next epoch: new order and draws


def test_workers_give_the_same_batches(nmnist_root) -> None:
    # frames streamed from the HDF5 file: each worker opens it itself
    train, _ = D.load("n_mnist", root=nmnist_root, frames=4, augment=True, progress=False, in_memory=False)
    ref = [b for b in make_loader(train, 4, shuffle=True, seed=3)]
    got = [b for b in make_loader(train, 4, shuffle=True, seed=3, num_workers=2, persistent_workers=False)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ref, got))


def test_paper_augment_is_flip_and_roll() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    aug = paper_augment()
    seen_flip = False
    for seed in range(20):
        y = aug(x, torch.Generator().manual_seed(seed))
        assert y.shape == x.shape and torch.equal(y.sort(-1).values.sum(), x.sum())
        assert torch.equal(y[0] + 36, y[1])                         # one draw for all T frames
        for flip in (False, True):
            base = x.flip(-1) if flip else x
            for dh in range(-5, 6):
                for dw in range(-5, 6):
                    if torch.equal(torch.roll(base, (dh, dw), (-2, -1)), y):
                        seen_flip |= flip
    assert seen_flip
    with pytest.raises(ValueError, match="augment must be"):
        D.load("digits", augment="mixup")


def test_resumed_loader_shuffles_epoch_k_as_an_uninterrupted_run(nmnist_root) -> None:
    train, _ = D.load("n_mnist", root=nmnist_root, frames=4, augment=True, progress=False)
    loader = make_loader(train, 5, shuffle=True, seed=4)
    run = [[b for b in loader] for _ in range(3)]                   # epochs 0, 1, 2 of one run
    resumed = list(make_loader(train, 5, shuffle=True, seed=4, start_epoch=2))
    assert all(torch.equal(a[1], b[1]) and torch.equal(a[0], b[0]) for a, b in zip(run[2], resumed))
    assert not torch.equal(torch.cat([b[1] for b in run[0]]), torch.cat([b[1] for b in run[2]]))
    # a dataset without epoch keys (no augmentation draws) is shuffled per epoch the same way
    plain = torch.utils.data.TensorDataset(torch.arange(20.0)[:, None], torch.arange(20))
    order = [torch.cat([y for _, y in make_loader(plain, 4, shuffle=True, seed=4, start_epoch=e)]) for e in (0, 1)]
    going = make_loader(plain, 4, shuffle=True, seed=4)
    assert [torch.cat([y for _, y in going]).tolist() for _ in (0, 1)] == [o.tolist() for o in order]
    assert sorted(order[1].tolist()) == list(range(20)) and order[0].tolist() != order[1].tolist()


def test_shuffle_order_is_randomsampler_on_the_seeded_generator() -> None:
    """An uninterrupted run's order is RandomSampler's on Generator(seed), epoch after epoch, as before the resume
    fix: the benchmarks' committed trained networks (energy_report, lava_speed) depend on it."""
    plain = torch.utils.data.TensorDataset(torch.arange(23.0)[:, None], torch.arange(23))
    ref = torch.utils.data.RandomSampler(plain, generator=torch.Generator().manual_seed(9))
    going = make_loader(plain, 5, shuffle=True, seed=9)
    for epoch in range(3):
        assert torch.cat([y for _, y in going]).tolist() == list(ref), epoch
