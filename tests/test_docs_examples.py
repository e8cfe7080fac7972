"""The Python examples in docs/index.md, docs/getting-started.md and docs/api.md run as written.

Each page's blocks run in order in one namespace (later blocks use names set by earlier ones,
as a reader typing them in would); the shapes their comments promise are then checked. Blocks
that need downloaded data, weights or Lava (other pages) are not run here. api.md's signature
blocks are checked by tests/test_api_docs.py; its example blocks run here after the imports
the page states once (``from snnkit import layers`` / ``encoding``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

import snnkit.kernels.cpu as cpu_kernels

DOCS = Path(__file__).resolve().parents[1] / "docs"
_SIGNATURE = re.compile(r"^(?:class\s+)?[A-Za-z_][\w.]*\(")


def python_blocks(page: str) -> List[str]:
    """The ```python blocks of a docs page, in order."""
    return re.findall(r"^```python\n(.*?)^```", (DOCS / page).read_text(encoding="utf-8"), re.M | re.S)


def run_blocks(blocks: List[str], namespace: Dict[str, Any], page: str) -> Dict[str, Any]:
    """Exec each block in `namespace`, naming the page and block on failure."""
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/{page} block {i}", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as err:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"docs/{page}: python block {i} fails: {type(err).__name__}: {err}\n{code}") from err
    return namespace


def test_index_example_runs(capsys: pytest.CaptureFixture) -> None:
    """index.md's first network: spikes [8, 4, 10] of 0/1, state cleared by snnkit.reset."""
    blocks = python_blocks("index.md")
    assert len(blocks) == 1
    ns = run_blocks(blocks, {}, "index.md")
    assert ns["spikes"].shape == (8, 4, 10)
    assert set(ns["spikes"].unique().tolist()) <= {0.0, 1.0}
    assert all(m.v is None for m in ns["net"] if hasattr(m, "v"))


def test_getting_started_examples_run(capsys: pytest.CaptureFixture) -> None:
    """getting-started.md's blocks, in order: shapes and printed values are the ones the comments give."""
    if not cpu_kernels.available():
        pytest.skip(f"the page's backend='cpu' block needs the CPU kernels: {cpu_kernels.error()}")
    blocks = python_blocks("getting-started.md")
    assert len(blocks) == 5
    ns = run_blocks(blocks, {}, "getting-started.md")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "torch.Size([4, 32])"  # print(lif.v.shape) after lif(torch.rand(T, B, 32))
    assert printed[1] == "True None"  # print(k.available(), k.error())
    assert ns["out"].shape == (8, 4, 10) and ns["rate"].shape == (4, 10)
    assert ns["s"].shape == (8, 4, 8, 8) and ns["v"].shape == (4, 8, 8)  # functional on x[T, B, 8, 8]
    assert all(m.step_mode == "m" for m in ns["net"] if hasattr(m, "step_mode"))


def test_api_examples_run() -> None:
    """api.md's example blocks (not its signature blocks) run; the shapes in their comments hold."""
    blocks = [b for b in python_blocks("api.md") if not _SIGNATURE.match(b)]
    names = [b.split("\n", 1)[0] for b in blocks]
    assert len(blocks) == 5, names
    import snnkit
    from snnkit import encoding, layers

    x = torch.rand(12, 2, 3)  # the x[T, B, ...] the chunking example splits
    ns = run_blocks(blocks, {"torch": torch, "nn": torch.nn, "snnkit": snnkit, "x": x}, "api.md")
    assert ns["layers"] is layers and ns["encoding"] is encoding
    assert ns["v"].shape == (2, 3)
    assert ns["scores"].shape == (4, 10)
    assert ns["spikes"].shape == (8, 4, 64)
