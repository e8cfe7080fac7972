"""Shared test helpers."""
from __future__ import annotations

from typing import Any

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


def count_block_steps(monkeypatch: Any, module: Any) -> list:
    """Count calls of ``module.Block.step`` (a model's fast recurrent path), so that a test knows which path ran."""
    calls: list = []
    orig = module.Block.step
    monkeypatch.setattr(module.Block, "step", lambda self, x, st: calls.append(1) or orig(self, x, st))
    return calls


def load_script(path: Any, name: str) -> Any:
    """Import a script that is not in a package (a benchmark, an example) as module ``name``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
