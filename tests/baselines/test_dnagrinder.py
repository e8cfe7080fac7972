"""dnaGrinder-style genomic model: ALiBi attention, DNA BPE, masking, warm-up, pretraining, fine-tuning."""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("tokenizers", reason="DNATokenizer needs the 'tokenizers' package")

from snnkit.baselines.dnagrinder import (DNACollate, DNAGrinder, DNAGrinderConfig,  # noqa: E402
                                         DNAGrinderForMaskedLM, DNAGrinderForSequenceClassification, DNATokenizer,
                                         SequenceLengthWarmup, alibi_bias, alibi_slopes, evaluate_classifier,
                                         mask_tokens, pretrain_mlm)
from snnkit.data.genomics import SequenceDataset  # noqa: E402
from snnkit.train import Trainer, TrainConfig  # noqa: E402
from ._threads import one_thread  # noqa: F401,E402  (autouse fixture)


def random_dna(n: int, length: int, seed: int) -> list:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer() -> DNATokenizer:
    return DNATokenizer.train(random_dna(300, 120, 0), vocab_size=64)


def test_alibi_slopes_and_bias():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    s6 = alibi_slopes(6)
    assert s6.shape == (6,) and (s6 > 0).all() and len(set(s6.tolist())) == 6
    b = alibi_bias(alibi_slopes(4), 5)
    assert b.shape == (4, 5, 5)
    torch.testing.assert_close(b, b.transpose(1, 2))
    assert (b.diagonal(dim1=1, dim2=2) == 0).all()
    assert b[0, 0, 4].item() == pytest.approx(-4 * 2.0 ** -2)


def test_attention_is_softmax_with_alibi_bias():
    cfg = DNAGrinderConfig(vocab_size=20, d_model=16, n_layer=1, n_head=4, dropout=0.0)
    enc = DNAGrinder(cfg).eval()
    attn = enc.layers[0].attn
    x = torch.randn(2, 7, 16)
    ids = torch.randint(5, 20, (2, 7))
    ids[1, 5:] = cfg.pad_id
    bias = enc.attention_bias(ids, None, x.dtype)
    q, k, v = attn.qkv(x).view(2, 7, 3, 4, 4).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / math.sqrt(4) + bias
    ref = attn.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 16))
    torch.testing.assert_close(attn(x, bias), ref, rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_predictions():
    cfg = DNAGrinderConfig(vocab_size=30, d_model=32, n_layer=2, n_head=4, dropout=0.0)
    model = DNAGrinderForSequenceClassification(cfg, num_labels=3).eval()
    short = torch.tensor([[2, 7, 8, 9, 3]])
    batch = torch.tensor([[2, 7, 8, 9, 3, 0, 0, 0], [2, 10, 11, 12, 13, 14, 15, 3]])
    with torch.no_grad():
        torch.testing.assert_close(model(batch)[0], model(short)[0], rtol=1e-5, atol=1e-5)
        assert model(torch.randint(5, 30, (1, 300))).shape == (1, 3)   # ALiBi: no length limit


def test_tokenizer_is_nonoverlapping_bpe_on_dna(tokenizer: DNATokenizer, tmp_path: Path):
    assert tokenizer.vocab_size == 64
    pieces = [tokenizer._id2tok[i] for i in range(5, tokenizer.vocab_size)]
    assert all(set(p) <= set("ACGTN") for p in pieces) and max(map(len, pieces)) > 2
    seq = random_dna(1, 500, 9)[0] + "NNNN" + "acgt"
    ids = tokenizer.encode(seq)
    assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id
    assert tokenizer.decode(ids) == seq.upper()           # tokens tile the sequence: non-overlapping
    assert len(ids) < len(seq) / 1.5                      # merges compress
    assert tokenizer.unk_id in tokenizer.encode("ACGTRX")
    assert len(tokenizer.encode(seq, max_length=10)) == 10
    batch = tokenizer.encode_batch(["ACGT", "ACGTACGTACGTTTGA"])
    assert batch.shape[0] == 2 and (batch[0] == tokenizer.pad_id).any()
    path = tokenizer.save(tmp_path / "dna.json")
    assert DNATokenizer.load(path).encode(seq) == ids
    with pytest.raises(ValueError, match="vocab_size"):
        DNATokenizer.train(["ACGT"], vocab_size=6)
    with pytest.raises(ValueError, match="no sequences"):
        DNATokenizer.train([], vocab_size=32)


def test_dynamic_masking_80_10_10():
    ids = torch.randint(5, 100, (64, 128))
    ids[:, 0], ids[:, -1], ids[:8, 100:] = 2, 3, 0
    g = torch.Generator().manual_seed(0)
    inputs, labels = mask_tokens(ids, mask_id=4, vocab_size=100, special_ids=range(5), generator=g)
    chosen = labels != -100
    normal = ids >= 5
    assert not (chosen & ~normal).any()                         # never special or padding
    assert abs(chosen.sum().item() / normal.sum().item() - 0.15) < 0.01
    frac_mask = (inputs[chosen] == 4).float().mean().item()
    frac_same = (inputs[chosen] == ids[chosen]).float().mean().item()
    assert abs(frac_mask - 0.8) < 0.03 and abs(frac_same - 0.1) < 0.03
    assert (inputs[chosen] >= 4).all() and torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    again = mask_tokens(ids, 4, 100, range(5), generator=torch.Generator().manual_seed(0))
    other = mask_tokens(ids, 4, 100, range(5), generator=torch.Generator().manual_seed(1))
    assert torch.equal(again[1], labels) and not torch.equal(other[1], labels)   # dynamic: new masks each call
    one = mask_tokens(torch.tensor([[2, 9, 3]]), 4, 100, range(5), mlm_probability=0.01, generator=g)[1]
    assert (one != -100).sum() == 1
    with pytest.raises(ValueError, match="only special"):
        mask_tokens(torch.tensor([[2, 3, 0]]), 4, 100, range(5))
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(ids, 4, 100, range(5), mlm_probability=1.5)


def test_sequence_length_warmup():
    w = SequenceLengthWarmup(start=16, end=128, warmup_steps=100, multiple=8)
    lengths = [w(s) for s in range(0, 150, 10)]
    assert lengths[0] == 16 and lengths[-1] == 128 and lengths == sorted(lengths)
    assert all(x % 8 == 0 for x in lengths)
    assert SequenceLengthWarmup(8, 32, 0)(0) == 32
    with pytest.raises(ValueError):
        SequenceLengthWarmup(start=64, end=32)


def test_pretraining_follows_warmup_and_learns(tokenizer: DNATokenizer):
    torch.manual_seed(0)
    seqs = ["ACGTTGCA" * 30] * 4 + random_dna(4, 240, 3)   # a learnable repeat plus noise
    model = DNAGrinderForMaskedLM(DNAGrinderConfig(vocab_size=tokenizer.vocab_size, d_model=32, n_layer=1,
                                                   n_head=2, dropout=0.0))
    logs = pretrain_mlm(model, tokenizer, seqs, steps=40, batch_size=8, lr=3e-3,
                        warmup=SequenceLengthWarmup(start=8, end=40, warmup_steps=20),
                        generator=torch.Generator().manual_seed(0))
    assert logs[0]["seq_len"] <= 8 and max(r["seq_len"] for r in logs) <= 40 and logs[-1]["seq_len"] > 30
    first = sum(r["loss"] for r in logs[:5]) / 5
    last = sum(r["loss"] for r in logs[-5:]) / 5
    assert last < 0.9 * first
    clf = DNAGrinderForSequenceClassification.from_pretrained(model, num_labels=2)
    torch.testing.assert_close(clf.encoder.tok_emb.weight, model.encoder.tok_emb.weight)


def motif_task(n: int, seed: int) -> SequenceDataset:
    """Label 1: a GATA..TTATCA-style motif planted at a random position; label 0: background without it."""
    rng = random.Random(seed)
    motif = "GATAAGGCCTTATC"
    seqs, labels = [], []
    for i in range(n):
        s = "".join(rng.choice("ACGT") for _ in range(80))
        while motif in s:
            s = "".join(rng.choice("ACGT") for _ in range(80))
        if i % 2:
            p = rng.randrange(0, 80 - len(motif))
            s = s[:p] + motif + s[p + len(motif):]
        seqs.append(s)
        labels.append(i % 2)
    return SequenceDataset(seqs, labels)


def test_finetuning_beats_trivial_baseline_on_motif_task(tokenizer: DNATokenizer, tmp_path: Path):
    torch.manual_seed(0)
    train, test = motif_task(512, 1), motif_task(200, 2)
    cfg = DNAGrinderConfig(vocab_size=tokenizer.vocab_size, d_model=48, n_layer=2, n_head=4, dropout=0.0)
    model = DNAGrinderForSequenceClassification(cfg, num_labels=2)
    trainer = Trainer(model, train, test, TrainConfig(epochs=6, batch_size=32, lr=2e-3, optimizer="adamw",
                                                      loss="ce", input_layout="B", scheduler="none",
                                                      out_dir=str(tmp_path / "run"), tensorboard=False,
                                                      progress=False, device="cpu"),
                      collate_fn=DNACollate(tokenizer))
    trainer.fit()
    res = evaluate_classifier(model, test, tokenizer)
    majority = max(sum(test.labels), len(test) - sum(test.labels)) / len(test)   # trivial baseline: 0.5, MCC 0
    assert res["accuracy"] >= majority + 0.25, res
    assert res["mcc"] > 0.5, res


def test_bad_input():
    cfg = DNAGrinderConfig(vocab_size=20, d_model=16, n_layer=1, n_head=2)
    enc = DNAGrinder(cfg)
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        enc(torch.tensor([[1, 25]]))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        enc(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="attention_mask"):
        enc(torch.tensor([[1, 2]]), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="multiple of n_head"):
        DNAGrinderConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="pooling"):
        DNAGrinderForSequenceClassification(cfg, pooling="max")
    with pytest.raises(ValueError, match="empty"):
        evaluate_classifier(DNAGrinderForSequenceClassification(cfg), [], None)
    assert F.softmax(DNAGrinderForSequenceClassification(cfg)(torch.tensor([[2, 5, 3]])), -1).shape == (1, 2)


def test_tokenizer_save_is_atomic(tokenizer, tmp_path, monkeypatch):
    path = tokenizer.save(tmp_path / "dna.json")
    before = path.read_bytes()

    class Broken:                       # the tokenizers library writes part of the file, then fails
        def save(self, p):
            Path(p).write_text('{"trunc')
            raise OSError("disk full")

    monkeypatch.setattr(tokenizer, "tok", Broken())
    with pytest.raises(OSError, match="disk full"):
        tokenizer.save(path)
    assert path.read_bytes() == before and [f.name for f in tmp_path.iterdir()] == ["dna.json"]
