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


@pytest.fixture
def cli_error(capsys, monkeypatch):
    """Run the snnkit command on bad input: it must exit with code 2; returns what it printed to stderr."""
    from snnkit import cli

    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)

    def run(argv):
        rc = cli.main(argv)
        err = capsys.readouterr().err
        assert rc == 2, (rc, err)
        return err

    return run

