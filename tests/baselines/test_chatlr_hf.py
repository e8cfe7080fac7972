"""ChatLR through a local Hugging Face causal LM loaded from a directory: a tiny GPT-2 and a byte-level
BPE tokenizer, both built here (no download), saved with ``save_pretrained`` and read back by
:class:`HFText2API` with ``local_files_only=True`` while every network connection is refused."""
from __future__ import annotations

import socket

import pytest
import torch

from snnkit.baselines.chatlr import (ApiCall, ChatLR, HFText2API, build_movielens_db, evaluate_retrieval, execute,
                                     generate_questions)

from ._util import movielens_or_skip, one_thread  # noqa: F401

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def con():
    return build_movielens_db(movielens_or_skip())


@pytest.fixture()
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 and no sockets: anything that tries the hub fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _tokenizer(corpus):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                                bos_token="<|endoftext|>", unk_token="<|endoftext|>")


def _save_tiny_lm(path, questions):
    """A 1-layer GPT-2 taught (a few hundred steps) to answer ``questions``' prompts with their gold calls."""
    torch.manual_seed(0)
    probe = HFText2API((None, None), examples=[])
    prompts = [probe.prompt(q.text) for q in questions]
    targets = [f" {q.call}" for q in questions]
    tok = _tokenizer(prompts + targets)
    cfg = transformers.GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=32, n_layer=1, n_head=2,
                                  bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    lm = transformers.GPT2LMHeadModel(cfg)
    batch = []
    for p, t in zip(prompts, targets):
        a = tok(p)["input_ids"]
        b = tok(t)["input_ids"] + [tok.eos_token_id]
        batch.append((torch.tensor([a + b]), torch.tensor([[-100] * len(a) + b])))
    opt = torch.optim.Adam(lm.parameters(), lr=3e-3)
    lm.train()
    for step in range(400):
        ids, labels = batch[step % len(batch)]
        loss = lm(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.eval()
    lm.save_pretrained(path)
    tok.save_pretrained(path)
    return loss.item()


def test_chatlr_end_to_end_from_a_saved_local_model(tmp_path, con, offline) -> None:
    qs = generate_questions(con, 40, split="test", seed=3)
    qs = [q for q in qs if "'" not in q.text][:2]
    assert len(qs) == 2
    final_loss = _save_tiny_lm(tmp_path / "tiny-gpt2", qs)
    assert final_loss < 0.1, final_loss
    assert (tmp_path / "tiny-gpt2" / "config.json").is_file() and (tmp_path / "tiny-gpt2" / "tokenizer.json").is_file()

    hf = HFText2API(tmp_path / "tiny-gpt2", max_new_tokens=48)      # a path: from_pretrained(local_files_only=True)
    assert isinstance(hf.model, transformers.GPT2LMHeadModel) and hf.tokenizer.eos_token_id is not None
    chat = ChatLR(con, hf)
    for q in qs:
        assert hf.generate(q.text).strip() == str(q.call)
        call, rows = chat.retrieve(q.text)
        assert call == q.call, (call, q.call)
        assert rows == execute(con, q.call) and len(rows) > 0
        assert chat.context(q.text).startswith(str(q.call))
    assert evaluate_retrieval(hf, qs, con) == {"api_accuracy": 1.0, "call_accuracy": 1.0, "retrieval_accuracy": 1.0}
    # a question the model was not taught: still an ApiCall (parsed, or marked unparsed), never an exception
    other = ChatLR(con, HFText2API(str(tmp_path / "tiny-gpt2"), max_new_tokens=8)).retrieve("Which movies came out in 1995?")
    assert isinstance(other[0], ApiCall)


def test_missing_local_model_does_not_download(tmp_path, offline) -> None:
    with pytest.raises(OSError):
        HFText2API(tmp_path / "no-such-model")
