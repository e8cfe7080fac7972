"""FASTA reading rules and the offline janggu Oct4/MafK peaks."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from snnkit.data.genomics import (FastaRecord, janggu_resources, load_fasta_classes, load_oct4_mafk, parse_fasta,
                                  read_fasta, write_fasta)

from ._threads import one_thread  # noqa: F401  (autouse fixture)


def write(tmp_path: Path, text: str, name: str = "x.fa") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_records_multiline_lowercase_and_descriptions(tmp_path: Path):
    p = write(tmp_path, ">chr1:1-10 first peak\nACGTa\ncg tT\n\n>second\nNNAC\n;comment\nGT\n")
    recs = read_fasta(p)
    assert recs == [FastaRecord("chr1:1-10", "first peak", "ACGTACGTT"), FastaRecord("second", "", "NNACGT")]
    assert len(recs[0]) == 9
    assert read_fasta(p, uppercase=False)[0].sequence == "ACGTacgtT"


def test_ambiguity_codes_follow_the_option(tmp_path: Path):
    p = write(tmp_path, ">a\nACRYN\n>b\nACGT\n>c\nkk\n")
    assert [r.sequence for r in read_fasta(p)] == ["ACNNN", "ACGT", "NN"]
    assert [r.sequence for r in read_fasta(p, ambiguous="keep")] == ["ACRYN", "ACGT", "KK"]
    assert [r.name for r in read_fasta(p, ambiguous="skip")] == ["b"]
    with pytest.raises(ValueError, match=r"ambiguous base 'R' in record 'a' at position 3 \(line 2\)"):
        read_fasta(p, ambiguous="reject")
    with pytest.raises(ValueError, match="ambiguous must be one of"):
        read_fasta(p, ambiguous="drop")


def test_invalid_characters_name_record_and_position(tmp_path: Path):
    p = write(tmp_path, ">ok\nACGT\n>bad one\nACGTAC\nGG-T\n")
    with pytest.raises(ValueError, match=r"invalid character '-' in record 'bad' at position 9 \(line 5\)"):
        read_fasta(p)
    with pytest.raises(ValueError, match=r"invalid character 'U'"):
        list(parse_fasta([">r", "ACGU"]))
    with pytest.raises(ValueError, match=r"'7' in record 'r' at position 2"):
        list(parse_fasta([">r", "A7"]))


def test_empty_and_malformed_files(tmp_path: Path):
    with pytest.raises(ValueError, match="is empty"):
        read_fasta(write(tmp_path, "", "empty.fa"))
    with pytest.raises(ValueError, match="is empty"):
        read_fasta(write(tmp_path, "\n  \n", "blank.fa"))
    with pytest.raises(ValueError, match="before the first '>' header"):
        read_fasta(write(tmp_path, "ACGT\n>r\nAC\n", "nohead.fa"))
    with pytest.raises(ValueError, match=r"record 'r2' \(line 3\) has an empty sequence"):
        read_fasta(write(tmp_path, ">r1\nAC\n>r2\n>r3\nGG\n", "emptyrec.fa"))
    with pytest.raises(FileNotFoundError):
        read_fasta(tmp_path / "missing.fa")


def test_gzip_and_write_roundtrip(tmp_path: Path):
    recs = [("s1", "ACGT" * 40), ("s2", "GGNNA")]
    p = write_fasta(tmp_path / "out.fa", recs, width=50)
    assert max(len(line) for line in p.read_text().splitlines()) == 50
    gz = tmp_path / "out.fa.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert [(r.name, r.sequence) for r in read_fasta(gz)] == recs


def test_load_fasta_classes(tmp_path: Path):
    a = write(tmp_path, ">x\nAC\n>y\nGG\n", "pos.fa")
    b = write(tmp_path, ">z\nTT\n", "neg.fa")
    ds = load_fasta_classes([a, b])
    assert len(ds) == 3 and ds[2] == ("TT", 1) and ds.classes == ["pos", "neg"]
    assert ds.label_tensor().tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="no usable records"):
        load_fasta_classes([write(tmp_path, ">n\nNN\n", "n.fa")], ambiguous="skip")


@pytest.fixture(scope="module")
def janggu_dir() -> Path:
    try:
        return janggu_resources()
    except FileNotFoundError as err:
        pytest.skip(f"janggu 0.10.2 resources not obtainable here: {err}")


def test_oct4_vs_mafk_peaks(janggu_dir: Path):
    train, test = load_oct4_mafk()
    assert (len(train), len(test)) == (3897 + 3900, 200)
    assert sum(train.labels) == 3897 and sum(test.labels) == 100     # Oct4 = 1, MafK = 0
    assert {len(s) for s in train.sequences} == {200}
    assert set("".join(train.sequences[:200])) <= set("ACGTN")
    assert not set(train.names) & set(test.names)
    assert train.classes == ["MafK", "Oct4"]
