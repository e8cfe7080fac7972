"""examples/rwkv_generate.py: streams every sampled byte (an invalid one used to silence the rest) and refuses bad
files and options with one argparse line."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

import snnkit.baselines.rwkv as rwkv

from ._threads import one_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "examples" / "rwkv_generate.py")


def _run(monkeypatch, *argv: str) -> None:
    monkeypatch.setattr("sys.argv", ["rwkv_generate.py", *argv])
    runpy.run_path(SCRIPT, run_name="__main__")


def test_demo_prints_all_sampled_bytes(monkeypatch, capsys):
    sampled = []
    real = rwkv.sample_logits

    def record(*args, **kwargs):
        nxt = real(*args, **kwargs)
        sampled.append(int(nxt))
        return nxt

    monkeypatch.setattr(rwkv, "sample_logits", record)
    _run(monkeypatch, "--demo", "6", "--prompt", "Go", "--max-new-tokens", "24")
    out = capsys.readouterr().out
    ids = sampled[:-1] if sampled[-1] == 0 else sampled      # id 0 ends a World document: not printed
    assert len(ids) >= 10 and 0 not in ids
    expected = bytes(i - 1 for i in ids).decode("utf-8", errors="replace")   # the demo vocabulary: id i + 1 = byte i
    assert "\ufffd" in expected[:-4]                         # an invalid byte early on: the case that broke
    assert out == "Go" + expected


@pytest.mark.parametrize("argv, message", [
    (["--model", "{tmp}/nope.pth", "--tokenizer", "{tmp}/v.txt"], "checkpoint '{tmp}/nope.pth' does not exist"),
    (["--model", "{tmp}/junk.pth", "--tokenizer", "{tmp}/v.txt"], "could not be read as a torch state dict"),
    (["--demo", "4", "--top-p", "2"], "--top-p must be in (0, 1], got 2.0"),
    (["--demo", "4", "--temperature", "-1"], "--temperature must be >= 0"),
    (["--demo", "4", "--max-new-tokens", "-5"], "--max-new-tokens: must be an integer >= 0"),
    (["--demo", "4", "--threads", "0"], "--threads: must be an integer >= 1"),
])
def test_bad_files_and_options_are_one_line(monkeypatch, capsys, tmp_path, argv, message):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exc:
        _run(monkeypatch, *[a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message.format(tmp=tmp_path) in err and "Traceback" not in err


def test_missing_tokenizer_is_one_line(monkeypatch, capsys, tmp_path):
    model = rwkv.RWKV(rwkv.RWKVConfig(version=4, vocab_size=16, n_layer=1, n_embd=16))
    torch.save(model.state_dict(), tmp_path / "m.pth")
    with pytest.raises(SystemExit) as exc:
        _run(monkeypatch, "--model", str(tmp_path / "m.pth"), "--tokenizer", str(tmp_path / "nope.txt"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nope.txt" in err and "Traceback" not in err


def test_demo_leaves_no_files_and_refuses_a_model_or_tokenizer(monkeypatch, capsys, tmp_path):
    """--demo wrote its random model and vocabulary into a tempfile.mkdtemp() folder that was never removed (one per
    run); and it silently ignored --model / --tokenizer given beside it."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _run(monkeypatch, "--demo", "5", "--max-new-tokens", "2")
    assert capsys.readouterr().out.startswith("\nIn a shocking finding") and list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exc:
        _run(monkeypatch, "--demo", "6", "--tokenizer", "rwkv_vocab_v20230424.txt")
    assert exc.value.code == 2 and "--demo builds its own random model" in capsys.readouterr().err
