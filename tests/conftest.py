"""Shared test helpers."""
from __future__ import annotations

import pytest
import torch

import snnkit.kernels.cpu as cpu_kernels

CPU_BACKENDS = ["reference"] + (["cpu"] if cpu_kernels.available() else [])


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
