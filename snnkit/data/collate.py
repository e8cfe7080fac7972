"""Time-major batches: ``[T, B, C, H, W]`` from ``[T_i, C, H, W]`` samples, padded or cut, and DataLoaders for them."""
from __future__ import annotations

import bisect
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch.utils.data import ConcatDataset, DataLoader, RandomSampler, Sampler, SequentialSampler, Subset
from ..functional.validation import is_int

__all__ = ["collate_time_major", "TimeMajorCollate", "EpochShuffle", "EpochSampler", "EpochKeyedSubset", "EpochKeyedConcat",
           "make_loader"]

Tensor = torch.Tensor
Length = Union[None, int, str]


def _check_length(length: Length) -> Length:
    if length is None or length in ("max", "min"):
        return length
    if not is_int(length) or length < 1:
        raise ValueError(f"length must be None (all samples equally long), a positive int (pad with empty frames or "
                         f"cut to that many), 'max' (pad to the longest) or 'min' (cut to the shortest), got {length!r}")
    return length


def collate_time_major(batch: Sequence[Tuple[Any, Any]], length: Length = None,
                       return_lengths: bool = False) -> Tuple[Tensor, ...]:
    """Stack ``(x[T_i, ...], label)`` samples into ``(x[T, B, ...], labels[B])`` (plus the original T_i if asked).

    ``length``: None requires equal T_i; an int pads with zero frames at the end or cuts the
    last frames; ``'max'``/``'min'`` pad/cut to the longest/shortest sample in the batch.
    """
    length = _check_length(length)
    if len(batch) == 0:
        raise ValueError("collate_time_major: the batch is empty")
    xs: List[Tensor] = []
    for i, item in enumerate(batch):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"collate_time_major: sample {i} must be (frames, label), got {type(item).__name__}")
        x = torch.as_tensor(item[0])
        if x.ndim < 1:
            raise ValueError(f"collate_time_major: sample {i} frames must be [T, ...], got a scalar")
        xs.append(x)
    lengths = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
    rest = xs[0].shape[1:]
    for i, x in enumerate(xs):
        if x.shape[1:] != rest:
            raise ValueError(f"collate_time_major: sample {i} has frames of shape {tuple(x.shape[1:])}, sample 0 has "
                             f"{tuple(rest)}; resize them to one grid (load(..., size=(H, W)))")
    if length is None:
        if not bool((lengths == lengths[0]).all()):
            raise ValueError(f"collate_time_major: samples have different numbers of frames {sorted(set(lengths.tolist()))}; "
                             "pass length=<int>, 'max' or 'min' to pad or cut (frames by time_window/event_count vary)")
        T = int(lengths[0])
    elif length == "max":
        T = int(lengths.max())
    elif length == "min":
        T = int(lengths.min())
    else:
        T = int(length)
    if bool((lengths == T).all()):
        out = torch.stack(xs, dim=1)
    else:
        out = torch.zeros((T, len(xs), *rest), dtype=xs[0].dtype)
        for i, x in enumerate(xs):
            n = min(T, x.shape[0])
            out[:n, i] = x[:n]
    labels = torch.as_tensor([int(item[1]) for item in batch], dtype=torch.long)
    return (out, labels, lengths) if return_lengths else (out, labels)


class TimeMajorCollate:
    """Picklable ``collate_fn`` for DataLoader workers: :func:`collate_time_major` with fixed options."""

    def __init__(self, length: Length = None, return_lengths: bool = False) -> None:
        self.length, self.return_lengths = _check_length(length), bool(return_lengths)

    def __call__(self, batch: Sequence[Tuple[Any, Any]]) -> Tuple[Tensor, ...]:
        return collate_time_major(batch, self.length, self.return_lengths)

    def __repr__(self) -> str:
        return f"TimeMajorCollate(length={self.length!r}, return_lengths={self.return_lengths})"


class EpochShuffle(Sampler):
    """PyTorch's ``RandomSampler`` on ``torch.Generator().manual_seed(seed)``, first run on past ``start_epoch`` epochs.

    An uninterrupted run shuffles exactly as ``RandomSampler`` with that generator (and as snnkit
    did before); a loader made again at ``start_epoch=k`` (a resumed run) replays the k epochs it
    skips, so its epoch k gets the order the uninterrupted run had, not epoch 0's.
    """

    def __init__(self, n: int, seed: int = 0, start_epoch: int = 0) -> None:
        self.n = int(n)
        self.sampler = RandomSampler(range(self.n), generator=torch.Generator().manual_seed(int(seed)))
        for _ in range(int(start_epoch)):
            for _ in self.sampler:  # the generator draws exactly as in those epochs
                pass

    def __iter__(self) -> Iterator[int]:
        return iter(self.sampler)

    def __len__(self) -> int:
        return self.n


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys from a base sampler, counting epochs, so augmentation differs each epoch."""

    def __init__(self, base: Sampler, start_epoch: int = 0) -> None:
        self.base, self.epoch = base, int(start_epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        for i in self.base:
            yield (int(i), epoch)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]


class EpochKeyedSubset(Subset):
    """A ``Subset`` passing ``(index, epoch)`` keys through, so augmentation draws stay new every epoch under it."""

    supports_epoch_keys = True

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            index, epoch = key
            return self.dataset[(self.indices[int(index)], epoch)]
        return self.dataset[self.indices[key]]

    def __getitems__(self, keys: List[Any]) -> List[Any]:
        """One sample per key (torch's Subset would index its list with the ``(index, epoch)`` tuple)."""
        return [self[k] for k in keys]


class EpochKeyedConcat(ConcatDataset):
    """A ``ConcatDataset`` passing ``(index, epoch)`` keys to the dataset an index falls in (see EpochKeyedSubset)."""

    supports_epoch_keys = True

    def __getitem__(self, key: Any) -> Any:
        index, epoch = key if isinstance(key, tuple) else (key, None)
        index = int(index) + (len(self) if int(index) < 0 else 0)
        part = bisect.bisect_right(self.cumulative_sizes, index)
        local = index - (self.cumulative_sizes[part - 1] if part else 0)
        return self.datasets[part][local if epoch is None else (local, epoch)]

    def __getitems__(self, keys: List[Any]) -> List[Any]:
        return [self[k] for k in keys]


def _epoch_keyed(dataset: Any) -> Optional[Any]:
    """``dataset`` made to take ``(index, epoch)`` keys, looking through ``Subset`` and ``ConcatDataset`` wrappers;
    None if it (or any part of a concatenation) cannot."""
    if getattr(dataset, "supports_epoch_keys", False):
        return dataset
    if isinstance(dataset, Subset):
        inner = _epoch_keyed(dataset.dataset)
        return None if inner is None else EpochKeyedSubset(inner, dataset.indices)
    if isinstance(dataset, ConcatDataset):
        parts = [_epoch_keyed(d) for d in dataset.datasets]
        return None if any(p is None for p in parts) else EpochKeyedConcat(parts)
    return None


def make_loader(dataset: Any, batch_size: int = 32, shuffle: bool = False, *, length: Length = None,
                num_workers: int = 0, pin_memory: Optional[bool] = None, drop_last: bool = False, seed: int = 0,
                return_lengths: bool = False, start_epoch: int = 0, **kwargs: Any) -> DataLoader:
    """A DataLoader of time-major batches ``(x[T, B, C, H, W], labels[B])``.

    Shuffling draws from ``torch.Generator().manual_seed(seed)`` as ``RandomSampler`` does, run on past
    ``start_epoch`` epochs (so a resumed run gets the order of an uninterrupted one); ``pin_memory`` defaults to
    True when CUDA is available; workers stay alive between epochs when ``num_workers > 0``.
    For snnkit's frame datasets each epoch gets a fresh, reproducible augmentation draw.
    """
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"make_loader: batch_size must be a positive integer, got {batch_size!r}")
    if not is_int(num_workers) or num_workers < 0:
        raise ValueError(f"make_loader: num_workers must be a non-negative integer, got {num_workers!r}")
    base: Sampler = EpochShuffle(len(dataset), int(seed), start_epoch) if shuffle else SequentialSampler(dataset)
    keyed = _epoch_keyed(dataset)
    sampler: Sampler = base if keyed is None else EpochSampler(base, start_epoch)
    dataset = dataset if keyed is None else keyed
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if num_workers > 0:
        kwargs.setdefault("persistent_workers", True)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, pin_memory=pin_memory,
                      drop_last=drop_last, collate_fn=TimeMajorCollate(length, return_lengths), **kwargs)
