"""`snnkit train spikegpt`, `snnkit evaluate`, `snnkit generate` on a small text file."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch

from snnkit import cli
from tests._lm_cli import TRAIN_ARGS, restore_threads, write_corpus  # noqa: F401 (autouse fixture)

TRAIN = [*TRAIN_ARGS, "--max-tokens", "400"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny model trained for one epoch, then resumed for a second."""
    tmp = tmp_path_factory.mktemp("sg")
    corpus = write_corpus(tmp)
    out = tmp / "run"
    assert cli.main(["train", "spikegpt", "--config", "tiny", "--data", str(corpus), "--epochs", "1", "--t-max", "2",
                     "--out", str(out), *TRAIN]) == 0
    assert (out / "last.pt").is_file() and (out / "tokenizer.json").is_file()
    assert cli.main(["train", "spikegpt", "--data", str(corpus), "--epochs", "2", "--t-max", "2", "--out", str(out),
                     "--resume", *TRAIN]) == 0
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert float(rows[1]["lr"]) > 0  # the second epoch trains (a schedule of 1 epoch would end at lr 0)
    return out


def test_train_resume_reports_bpc(run: Path) -> None:
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 2 and ckpt["arch"] == "spikegpt"
    assert ckpt["model_config"]["ctx_len"] == 16
    assert [row["epoch"] for row in ckpt["history"]] == [1, 2]
    assert all("test_loss" in row for row in ckpt["history"])


def test_train_prints_validation_bpc(tmp_path: Path, capsys) -> None:
    corpus = write_corpus(tmp_path)
    cli.main(["train", "spikegpt", "--data", str(corpus), "--epochs", "1", "--out", str(tmp_path / "o"),
              "--max-tokens", "100", "--ctx", "16", "--threads", "1"])
    assert re.search(r"epoch 1/1: .*valid bpc \d+\.\d+", capsys.readouterr().out)


def test_evaluate_prints_bpc(run: Path, capsys) -> None:
    corpus = run.parent / "corpus.txt"
    assert cli.main(["evaluate", "--checkpoint", str(run / "last.pt"), "--data", str(corpus), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"loss (\d+\.\d+) nats/token\s+bits per character (\d+\.\d+)\s+perplexity (\d+\.\d+)", out)
    assert m, out
    loss, bpc, ppl = map(float, m.groups())
    assert bpc == pytest.approx(loss / 0.6931471805599453, abs=2e-3)
    assert ppl == pytest.approx(2.718281828459045 ** loss, rel=1e-3)
    assert 0 < bpc < 8


def test_generate_is_deterministic_with_a_seed(run: Path, capsys) -> None:
    argv = ["generate", "--checkpoint", str(run / "last.pt"), "--prompt", "First", "--tokens", "25",
            "--seed", "3", "--threads", "1"]
    cli.main(argv)
    a = capsys.readouterr().out
    cli.main(argv)
    b = capsys.readouterr().out
    assert a == b
    assert a.startswith("First") and len(a.rstrip("\n")) == len("First") + 25  # char tokenizer: one char per token


def test_generate_rejects_characters_outside_the_vocabulary(run: Path, cli_error) -> None:
    err = cli_error(["generate", "--checkpoint", str(run / "last.pt"), "--prompt", "\u00e9\u00e9", "--tokens", "2"])
    assert re.search("prompt", err), err


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"   \n\n  ", "whitespace"),
    (b"good text \xff\xfe bad bytes", "not valid utf-8"),
])
def test_bad_corpus_is_a_clear_error(tmp_path: Path, content: bytes, message: str, cli_error) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    assert re.search(f"(?i){message}", cli_error(["train", "spikegpt", "--data", str(f), "--out", str(tmp_path / "o")]))


def test_unknown_config_missing_file_and_short_text(tmp_path: Path, cli_error) -> None:
    err = cli_error(["train", "spikegpt", "--config", "huge", "--data", "shakespeare"])
    assert re.search("unknown SpikeGPT config 'huge'", err), err
    assert re.search("does not exist", cli_error(["train", "spikegpt", "--data", str(tmp_path / "nope.txt")]))
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be, " * 5, encoding="utf-8")
    err = cli_error(["train", "spikegpt", "--data", str(short), "--out", str(tmp_path / "o")])
    assert re.search("too few for one window", err), err
    assert re.search("--data is required", cli_error(["train", "spikegpt"]))


def test_evaluate_rejects_a_missing_or_foreign_checkpoint(tmp_path: Path, cli_error) -> None:
    err = cli_error(["evaluate", "--checkpoint", str(tmp_path / "x.pt"), "--data", "shakespeare"])
    assert re.search("does not exist", err), err
    torch.save({"model": {}, "snnkit_version": "0", "arch": "tcja_snn"}, tmp_path / "t.pt")
    err = cli_error(["evaluate", "--checkpoint", str(tmp_path / "t.pt"), "--data", "shakespeare"])
    assert "--data, --tokenizer and --max-tokens are for SpikeGPT/RWKV checkpoints" in err, err  # a TCJA-SNN one
    torch.save({"model": {}, "snnkit_version": "0", "arch": "tcja_vae"}, tmp_path / "v.pt")
    err = cli_error(["evaluate", "--checkpoint", str(tmp_path / "v.pt"), "--data", "shakespeare"])
    assert "is a TCJA VAE (snnkit generate-images --checkpoint samples and scores it)" in err, err


def test_seeded_runs_start_from_the_same_weights(tmp_path: Path) -> None:
    """--seed fixes SpikeGPT's initial weights too (only RWKV's were seeded): two runs end identical."""
    corpus = write_corpus(tmp_path)
    for out in ("a", "b"):
        assert cli.main(["train", "spikegpt", "--data", str(corpus), "--epochs", "1", "--seed", "3", "--out",
                         str(tmp_path / out), "--max-tokens", "100", *TRAIN_ARGS]) == 0
    a, b = (torch.load(tmp_path / o / "last.pt", weights_only=False)["model"] for o in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_language_model_options_that_cannot_apply_are_refused(run: Path, tmp_path: Path, capsys, cli_error) -> None:
    corpus = run.parent / "corpus.txt"
    ckpt = str(run / "last.pt")
    assert "--version picks the RWKV generation" in cli_error(
        ["train", "spikegpt", "--data", str(corpus), "--version", "6", "--out", str(tmp_path / "v")])
    # --lr 0 was read as "not given" and trained at the default 6e-4; it is refused like a negative one
    for lr in ("0", "-1"):   # refused by the parser, naming the flag
        with pytest.raises(SystemExit, match="2"):
            cli.main(["train", "spikegpt", "--data", str(corpus), "--lr", lr, "--out", str(tmp_path / "lr")])
        assert "argument --lr: must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "lr" / "last.pt").exists()
    assert "--vocab-size sizes the vocabulary --tokenizer bpe learns" in cli_error(
        ["train", "spikegpt", "--data", str(corpus), "--vocab-size", "10", "--out", str(tmp_path / "w")])
    for bad in ("nan", "-1"):
        assert "need a finite --temperature >= 0" in cli_error(
            ["generate", "--checkpoint", ckpt, "--prompt", "Fir", "--temperature", bad])
    with pytest.raises(SystemExit, match="2"):
        cli.main(["generate", "--checkpoint", ckpt, "--prompt", "Fir", "--device", "bogus"])
    assert "argument --device: 'bogus' is not a device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert "CUDA is not available" in cli_error(["evaluate", "--checkpoint", ckpt, "--data", str(corpus),
                                                     "--device", "cuda"])
    for flag, val in (("--batch-size", "0"), ("--max-tokens", "1")):
        with pytest.raises(SystemExit):
            cli.main(["evaluate", "--checkpoint", ckpt, "--data", str(corpus), flag, val])
        assert f"argument {flag}: must be an integer >=" in capsys.readouterr().err
    # a temperature so small that logits / T overflow: greedy-like, not a crash
    capsys.readouterr()
    assert cli.main(["generate", "--checkpoint", ckpt, "--prompt", "Fir", "--tokens", "5", "--temperature", "1e-38",
                     "--seed", "0"]) == 0
    tiny = capsys.readouterr().out
    assert cli.main(["generate", "--checkpoint", ckpt, "--prompt", "Fir", "--tokens", "5", "--temperature", "0"]) == 0
    assert tiny == capsys.readouterr().out   # the same continuation as greedy decoding


def test_resume_refuses_another_corpus_or_tokenizer(tmp_path: Path, cli_error) -> None:
    corpus = write_corpus(tmp_path)
    out = tmp_path / "run"
    base = ["train", "spikegpt", "--epochs", "1", "--out", str(out), "--max-tokens", "100", "--t-max", "2",
            *TRAIN_ARGS]
    assert cli.main([*base, "--data", str(corpus)]) == 0
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text()[::-1], encoding="utf-8")    # the same characters, other text
    more = [*base[:3], "2", *base[4:], "--resume"]
    assert "--resume: the run in" in cli_error([*more, "--data", str(other)])
    assert "--resume: the run trained with --tokenizer 'char', not 'bpe'" in cli_error(
        [*more, "--data", str(corpus), "--tokenizer", "bpe"])
    assert cli.main([*more, "--data", str(corpus)]) == 0


def test_an_unreadable_checkpoint_is_one_clear_line(run: Path, tmp_path: Path, cli_error) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes((run / "last.pt").read_bytes()[:2000])   # truncated
    err = cli_error(["generate", "--checkpoint", str(broken), "--prompt", "Fir"])
    assert "could not be read" in err and "nor is it a BlinkDL" not in err and err.count("could not be read") == 1


@pytest.mark.slow
def test_torchrun_training_prints_once(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node=2 -m snnkit.cli train spikegpt` (gloo): the model line, each epoch's line and the
    done line come from rank 0 alone, as `snnkit train tcja` prints (every rank printed them)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    corpus = write_corpus(tmp_path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29521", "-m",
           "snnkit.cli", "train", "spikegpt", "--data", str(corpus), "--epochs", "2", "--max-tokens", "200",
           "--out", str(tmp_path / "o"), "--device", "cpu", *TRAIN_ARGS]
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line in ("SpikeGPT tiny: 2 layers", "epoch 1/2: train loss", "epoch 2/2: train loss", "done: 2 epochs"):
        assert proc.stdout.count(line) == 1, proc.stdout
    assert (tmp_path / "o" / "tokenizer.json").is_file()
    assert torch.load(tmp_path / "o" / "last.pt", weights_only=False)["ranks"] == 2
