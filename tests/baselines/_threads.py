"""Tiny models gain nothing from intra-op threads; on a shared CPU extra threads only wait for
each other (10-20x slower under load). Test modules import ``one_thread`` (an autouse fixture)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
