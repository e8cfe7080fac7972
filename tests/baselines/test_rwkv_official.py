"""snnkit's RWKV against BlinkDL's ``rwkv`` pip package on the same random-weight checkpoints.

The checkpoints are written in RWKV-LM's layout (``_official.py``) and saved as ``.pth``; the pip
package detects the version from the keys (v4, v5.2, v6.0) and runs them with
``strategy='cpu fp32'``. Skipped with a reason when the package is not installed
(``pip install rwkv``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("RWKV_JIT_ON", "0")   # read by rwkv.model at import time
os.environ.setdefault("RWKV_CUDA_ON", "0")
rwkv_model = pytest.importorskip("rwkv.model", reason="the 'rwkv' pip package is not installed (pip install rwkv)")

from snnkit.baselines.rwkv import RWKV, WorldTokenizer  # noqa: E402

from ._official import official_state_dict  # noqa: E402
from ._threads import one_thread  # noqa: F401,E402  (autouse fixture)

PIP_VERSION = {4: 4, 5: 5.2, 6: 6.0}
ATOL = 1e-4   # float32; the observed differences are ~2e-6 on logits of magnitude ~5


def _both(version: int, tmp_path: Path, dtype: torch.dtype = torch.float32):
    sd = official_state_dict(version, dtype=dtype)
    path = tmp_path / f"rwkv-v{version}.pth"
    torch.save(sd, path)
    theirs = rwkv_model.RWKV(str(path), "cpu fp32", verbose=False)
    ours = RWKV.load(path)
    assert theirs.version == PIP_VERSION[version]
    return theirs, ours


@pytest.mark.parametrize("version", [4, 5, 6])
def test_logits_match_pip_package(version, tmp_path: Path):
    theirs, ours = _both(version, tmp_path)
    toks = torch.randint(0, 60, (1, 33), generator=torch.Generator().manual_seed(version))
    with torch.no_grad():
        ref, ref_state = theirs.forward(toks[0].tolist(), None, full_output=True)
        out, state = ours(toks, return_state=True)
    assert ref.shape == out[0].shape
    torch.testing.assert_close(out[0], ref, rtol=0, atol=ATOL)
    # the recurrent state has the pip package's layout: its flat list is ours flattened
    flat = [t[0] for layer in state for t in layer]
    assert len(flat) == len(ref_state)
    for mine, their in zip(flat, ref_state):
        torch.testing.assert_close(mine.reshape(their.shape), their.float(), rtol=1e-4, atol=ATOL)

    # token by token (their RNN mode) against our step()
    st_t, st_o = None, None
    with torch.no_grad():
        for t in range(12):
            a, st_t = theirs.forward([int(toks[0, t])], st_t)
            b, st_o = ours.step(toks[:, t], st_o)
            torch.testing.assert_close(b[0], a, rtol=0, atol=ATOL)


@pytest.mark.parametrize("version", [4, 6])
def test_bf16_checkpoint_is_computed_in_float32(version, tmp_path: Path):
    """A bf16 checkpoint gives the pip package's logits for the same weights upcast to float32.

    (The pip package itself, handed the bf16 file, applies ``ln0`` to the embedding in bf16
    before converting, which moves its logits by ~1e-2; snnkit converts first.)
    """
    sd = official_state_dict(version, dtype=torch.bfloat16)
    torch.save(sd, tmp_path / "bf16.pth")
    torch.save({k: v.float() for k, v in sd.items()}, tmp_path / "fp32.pth")
    theirs = rwkv_model.RWKV(str(tmp_path / "fp32.pth"), "cpu fp32", verbose=False)
    ours = RWKV.load(tmp_path / "bf16.pth")
    assert all(p.dtype == torch.float32 for p in ours.parameters())
    toks = torch.randint(0, 60, (1, 17), generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        ref, _ = theirs.forward(toks[0].tolist(), None, full_output=True)
        out = ours(toks)[0]
    torch.testing.assert_close(out, ref, rtol=0, atol=ATOL)


def test_world_tokenizer_matches_pip_trie_tokenizer(tmp_path: Path):
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

    vocab = Path(rwkv_model.__file__).with_name("rwkv_vocab_v20230424.txt")
    if not vocab.is_file():
        pytest.skip(f"the rwkv package ships no World vocab at {vocab}")
    assert WorldTokenizer.from_file(vocab).vocab_size == 65530
    # every single byte plus a quarter of the real multi-byte tokens (the pip trie takes seconds to build)
    lines = vocab.read_text(encoding="utf-8").splitlines(keepends=True)
    sub = tmp_path / "vocab_subset.txt"
    sub.write_text("".join(ln for i, ln in enumerate(lines) if i < 256 or i % 4 == 0), encoding="utf-8")
    ours, theirs = WorldTokenizer.from_file(sub), TRIE_TOKENIZER(str(sub))
    text = ("RWKV is an RNN with transformer-level LLM performance.\n\tIt can be directly trained like a GPT "
            "(parallelizable). 你好，世界! Ünïcödé — emoji 🙂 and code: def f(x): return x**2  # done\n\n")
    ids = ours.encode(text)
    assert ids == theirs.encode(text) and len(ids) < len(text.encode("utf-8"))
    assert ours.decode(ids) == text == theirs.decode(ids)


def test_world_vocab_by_bare_name_is_read_from_the_rwkv_package(tmp_path: Path, monkeypatch):
    """`--tokenizer rwkv_vocab_v20230424.txt`, as docs/baselines-sequence.md and examples/rwkv_generate.py write it,
    finds the copy the rwkv pip package ships (it was "vocab file ... does not exist" outside that folder); a file of
    that name in the current directory still wins, and without the package the error says where to get it."""
    from snnkit.baselines.rwkv import load_tokenizer

    vocab = Path(rwkv_model.__file__).with_name("rwkv_vocab_v20230424.txt")
    if not vocab.is_file():
        pytest.skip(f"the rwkv package ships no World vocab at {vocab}")
    monkeypatch.chdir(tmp_path)
    text = "The Eiffel tower is in the city of Paris. 你好"
    # the package's file read by its path (test above: that equals the pip package's own TRIE_TOKENIZER)
    assert load_tokenizer("rwkv_vocab_v20230424.txt").encode(text) == WorldTokenizer.from_file(vocab).encode(text)
    (tmp_path / "rwkv_vocab_v20230424.txt").write_text("1 'a' 1\n", encoding="utf-8")  # a local file is preferred
    assert load_tokenizer("rwkv_vocab_v20230424.txt").vocab_size == 2
    (tmp_path / "rwkv_vocab_v20230424.txt").unlink()
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rwkv" else find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match="the rwkv pip package ships it .pip install rwkv==0.8.32"):
        load_tokenizer("rwkv_vocab_v20230424.txt")
    with pytest.raises(FileNotFoundError, match="vocab file 'other.txt' does not exist"):
        load_tokenizer("other.txt")
