"""`snnkit train rwkv`, and `snnkit evaluate` / `snnkit generate` on RWKV checkpoints (snnkit and BlinkDL .pth)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from snnkit import cli
from tests._lm_cli import TRAIN_ARGS, restore_threads, write_corpus  # noqa: F401 (autouse fixture)
from tests.baselines._official import official_state_dict

TRAIN = [*TRAIN_ARGS, "--max-tokens", "300"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rwkv")
    corpus = write_corpus(tmp)
    out = tmp / "run"
    assert cli.main(["train", "rwkv", "--version", "4", "--config", "tiny", "--data", str(corpus), "--epochs", "1",
                     "--out", str(out), *TRAIN]) == 0
    return out


def test_train_writes_an_rwkv_checkpoint(run: Path) -> None:
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["arch"] == "rwkv" and ckpt["model_config"]["version"] == 4
    assert ckpt["model_config"]["ctx_len"] == 16 and ckpt["model_config"]["n_layer"] == 2
    assert (run / "tokenizer.json").is_file()
    # RWKV-LM's train.py optimiser (betas 0.9/0.99, adam_eps 1e-8, lr_final 1e-5), not SpikeGPT's eps 4e-9
    assert (ckpt["config"]["betas"], ckpt["config"]["eps"], ckpt["config"]["lr_min"]) == ([0.9, 0.99], 1e-8, 1e-5)


def test_evaluate_prints_bpc(run: Path, capsys) -> None:
    assert cli.main(["evaluate", "--checkpoint", str(run / "last.pt"), "--data", str(run.parent / "corpus.txt"),
                     "--threads", "1"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"loss (\d+\.\d+) nats/token\s+bits per character (\d+\.\d+)", out)
    assert m, out
    loss, bpc = map(float, m.groups())
    assert bpc == pytest.approx(loss / 0.6931471805599453, abs=2e-3)
    assert 0 < bpc < 8


def test_generate_is_deterministic_with_a_seed(run: Path, capsys) -> None:
    argv = ["generate", "--checkpoint", str(run / "last.pt"), "--prompt", "First", "--tokens", "20",
            "--seed", "3", "--threads", "1"]
    cli.main(argv)
    a = capsys.readouterr().out
    cli.main(argv)
    assert a == capsys.readouterr().out
    assert a.startswith("First") and len(a.rstrip("\n")) == len("First") + 20


def _world_vocab(path: Path) -> None:
    """ids 1..59: the bytes of printable ASCII ' '..'Z' (a World-format vocab file)."""
    lines = [f"{i} {chr(31 + i)!r} 1" for i in range(1, 60)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("version", [4, 6])
def test_blinkdl_pth_with_world_vocab(tmp_path: Path, capsys, version: int) -> None:
    pth = tmp_path / "model.pth"
    torch.save(official_state_dict(version, vocab=60, n_layer=2, n_embd=32, head_size=16), pth)
    vocab = tmp_path / "vocab.txt"
    _world_vocab(vocab)
    argv = ["generate", "--checkpoint", str(pth), "--tokenizer", str(vocab), "--prompt", "HELLO", "--tokens", "12",
            "--seed", "1", "--threads", "1", "--temperature", "1.0", "--top-p", "1"]
    assert cli.main(argv) == 0
    first = capsys.readouterr()
    a = first.out
    # RWKV-4's names and shapes are SpikeGPT's too: reading a bare .pth as RWKV-4 is said, not silent
    assert ("a SpikeGPT state dict looks the same" in first.err) == (version == 4)
    cli.main(argv)
    assert a == capsys.readouterr().out and a.startswith("HELLO")
    corpus = tmp_path / "c.txt"
    corpus.write_text("HELLO WORLD, THIS IS A TEST. " * 20, encoding="utf-8")
    assert cli.main(["evaluate", "--checkpoint", str(pth), "--tokenizer", str(vocab), "--data", str(corpus),
                     "--split", "all", "--threads", "1"]) == 0
    assert "bits per character" in capsys.readouterr().out


def test_blinkdl_pth_needs_a_tokenizer(tmp_path: Path, cli_error) -> None:
    pth = tmp_path / "model.pth"
    torch.save(official_state_dict(4, vocab=60, n_layer=1, n_embd=32), pth)
    err = cli_error(["generate", "--checkpoint", str(pth), "--prompt", "HI", "--tokens", "2"])
    assert re.search("--tokenizer", err), err


def test_checkpoint_whose_weights_do_not_fit_its_config_is_one_clear_line(run: Path, tmp_path: Path,
                                                                          cli_error) -> None:
    """An RWKV checkpoint whose model_config disagrees with its weights: an error line, not a RuntimeError traceback."""
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
    ckpt["model_config"]["n_layer"] = 3                 # weights of 2 layers
    (tmp_path / "tokenizer.json").write_bytes((run / "tokenizer.json").read_bytes())
    torch.save(ckpt, tmp_path / "last.pt")
    for argv in (["generate", "--prompt", "Fir", "--tokens", "2"], ["evaluate", "--data", str(run.parent / "corpus.txt")]):
        err = cli_error([*argv, "--checkpoint", str(tmp_path / "last.pt")])
        assert "its weights do not fit its model_config" in err and "blocks.2.ln1.weight" in err, err
        assert "Traceback" not in err and err.count("\n") <= 2, err


def test_blinkdl_world_pth_with_the_packaged_vocab_by_name(tmp_path: Path, capsys, monkeypatch) -> None:
    """`--tokenizer rwkv_vocab_v20230424.txt` (docs/baselines-sequence.md) is the rwkv pip package's copy; it was
    'vocab file ... does not exist' outside that package's folder."""
    from snnkit.baselines.rwkv import WorldTokenizer, world_vocab_path

    packaged = world_vocab_path("rwkv_vocab_v20230424.txt")
    if not packaged.is_absolute():
        pytest.skip("the rwkv pip package (which ships the World vocab) is not installed")
    pth = tmp_path / "world.pth"
    torch.save(official_state_dict(6, vocab=65536, n_layer=1, n_embd=32, head_size=16), pth)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate", "--checkpoint", str(pth), "--tokenizer", "rwkv_vocab_v20230424.txt", "--prompt",
                     "The Eiffel tower", "--tokens", "3", "--seed", "0", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The Eiffel tower") and WorldTokenizer.from_file(packaged).vocab_size == 65530
