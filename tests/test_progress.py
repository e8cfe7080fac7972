"""Progress bars: live tqdm bars on a terminal only; whole lines, never '\\r' frames, in a log file or pipe."""
from __future__ import annotations

import io
import sys
from pathlib import Path

from snnkit import cli
from snnkit.progress import LineProgress, is_terminal, progress
from tests._lm_cli import TRAIN_ARGS, restore_threads, write_corpus  # noqa: F401 (autouse fixture)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_quarter_and_a_terminal_gets_tqdm() -> None:
    log = io.StringIO()
    bar = progress(range(8), desc="epoch 1/2", file=log, unit="batch")
    for i in bar:
        bar.set_postfix(loss=f"{i:.1f}")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split(" (")[0] for line in lines] == [f"epoch 1/2: {p}%" for p in (25, 50, 75, 100)]
    assert "(8/8 batch)" in lines[-1] and lines[-1].endswith("loss=7.0")  # the postfix after the last step
    term = FakeTerminal()
    assert list(progress(range(8), desc="epoch 1/2", file=term)) == list(range(8))
    assert "\r" in term.getvalue() and "8/8" in term.getvalue()  # tqdm's live bar


def test_disabled_transient_and_manual_bars() -> None:
    log = io.StringIO()
    data = [1, 2, 3]
    assert progress(data, enabled=False, file=log) is data   # off: the iterable itself, nothing drawn
    assert progress(data, leave=False, file=log) is data     # transient bar in a log: its result is printed anyway
    bar = progress(total=10, desc="Lava fixed_pt", file=log, unit="sample")
    for _ in range(5):
        bar.update(2)
    bar.close()
    assert log.getvalue().count("\n") == 4 and "100% (10/10 sample)" in log.getvalue()
    off = progress(total=10, enabled=False, file=log)
    off.update(3), off.close()   # a disabled manual bar takes the same calls
    unknown = LineProgress(iter([1, 2]), desc="frames", file=log)
    assert list(unknown) == [1, 2] and log.getvalue().splitlines()[-1].startswith("frames: (2 it)")
    assert not is_terminal(log) and not is_terminal(object())


def test_cli_training_with_stderr_in_a_file_writes_lines_not_frames(tmp_path: Path, monkeypatch, capsys) -> None:
    """`snnkit train ... 2> log`: no '\\r' animation frames in the log; epoch results and progress lines are there."""
    corpus = write_corpus(tmp_path)
    with open(tmp_path / "err.txt", "w", newline="") as err:   # a real file, as the shell's 2> gives
        monkeypatch.setattr(sys, "stderr", err)
        rc = cli.main(["train", "spikegpt", "--data", str(corpus), "--epochs", "2", "--max-tokens", "200",
                       "--out", str(tmp_path / "o"), *TRAIN_ARGS])
    log = (tmp_path / "err.txt").read_bytes().decode()
    assert rc == 0, log
    assert "\r" not in log and "it/s" not in log, log
    assert "epoch 2/2: 100% (" in log, log
    out = capsys.readouterr().out
    assert "epoch 1/2: train loss" in out and "epoch 2/2: train loss" in out and "valid bpc" in out, out


def test_spikegpt_training_takes_no_progress(tmp_path: Path, monkeypatch, capsys) -> None:
    """`snnkit train spikegpt --no-progress` draws no bars (it was refused as an option of `train tcja` only)."""
    corpus = write_corpus(tmp_path)
    drawn = {}
    for flags in ([], ["--no-progress"]):
        term = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", term)
        assert cli.main(["train", "spikegpt", "--data", str(corpus), "--epochs", "1", "--max-tokens", "100",
                         "--out", str(tmp_path / f"o{len(flags)}"), *TRAIN_ARGS, *flags]) == 0
        drawn[bool(flags)] = term.getvalue()
        assert "epoch 1/1: train loss" in capsys.readouterr().out
    assert "epoch 1/1: 100%" in drawn[False] and drawn[True] == "", drawn


def test_an_iterable_dataset_loader_has_no_total_but_still_gets_a_bar() -> None:
    """A DataLoader over an IterableDataset has __len__ that raises TypeError; tqdm treats that as no total."""
    import torch

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(5))

    loader = torch.utils.data.DataLoader(Stream(), batch_size=None)
    log = io.StringIO()
    assert [int(x) for x in progress(loader, desc="stream", file=log)] == list(range(5))
    assert log.getvalue().startswith("stream") and "\r" not in log.getvalue()
