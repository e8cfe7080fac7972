"""Shared pieces of the language-model CLI tests: a small corpus and thread-count restoring."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 30
TRAIN_ARGS = ["--ctx", "16", "--batch-size", "8", "--threads", "1"]


def write_corpus(folder: Path) -> Path:
    """The test corpus as ``folder/corpus.txt``."""
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    return corpus


@pytest.fixture(autouse=True)
def restore_threads():
    """``--threads`` changes torch's global thread count; put it back after each test."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
