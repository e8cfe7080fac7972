"""Data-parallel helpers for ``torchrun`` launches (gloo on CPU, NCCL on GPU)."""
from __future__ import annotations

import math
import os
from typing import Any, List

import torch
import torch.distributed as dist


def launched_with_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup() -> None:
    """Join the process group described by torchrun's environment (once)."""
    if launched_with_torchrun() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def teardown(wait: bool = True) -> None:
    """Leave the process group; with ``wait`` all ranks meet at a barrier first (skip it after a failure: the
    other ranks may never arrive)."""
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def launch_rank() -> int:
    """This process's rank: the process group's, or before it is joined torchrun's ``RANK`` (0 without torchrun)."""
    return rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: List[float], device: torch.device) -> List[float]:
    """Sum a few scalars over all ranks (identity without a process group)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` without a process group)."""
    if not dist.is_initialized():
        return [obj]
    out: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank (nothing without a process group)."""
    if dist.is_initialized():
        for buf in module.buffers():
            dist.broadcast(buf.data, src=0)


def epoch_indices(n: int, seed: int, epoch: int, shuffle: bool, pad: bool) -> List[int]:
    """This rank's sample indices for ``epoch``: a seeded permutation split round-robin.

    With ``pad`` (training) every rank gets the same count, wrapping around as often as needed
    (as ``DistributedSampler``: fewer samples than ranks still give every rank one, so no rank
    skips the others' gradient all-reduce); without it (evaluation) each sample is seen exactly
    once across ranks.
    """
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen).tolist()
    else:
        order = list(range(n))
    ws, r = world_size(), rank()
    if pad and n % ws:
        missing = ws - n % ws
        order += (order * math.ceil(missing / n))[:missing]
    return order[r::ws]
