"""Shared test helpers."""
from __future__ import annotations

import pytest
import torch

import snnkit.kernels.cpu as cpu_kernels

CPU_BACKENDS = ["reference"] + (["cpu"] if cpu_kernels.available() else [])


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Tiny ops run much faster on one thread when other processes share the CPU (no OpenMP spin-waits)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
