"""What keeps a user's runs safe: resume checks every setting, new runs do not overwrite old ones, Ctrl-C,
config fields checked against the dataset before loading it, files readable like any other."""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest
import torch

from snnkit import cli
from snnkit._io import atomic_write_text
from snnkit.models import tcja_snn
from snnkit.train import TrainConfig, Trainer
from snnkit.train.recipes import check_classes_found, check_dataset_fits, tcja_trainer
from tests.train._tiny import TinySNN, dataset


def _trainer(out: Path, train_n: int = 96, model_seed: int = 0, **kw) -> Trainer:
    base = dict(epochs=3, batch_size=16, lr=2e-2, out_dir=str(out), progress=False, tensorboard=False, seed=3)
    torch.manual_seed(model_seed)
    return Trainer(TinySNN(), dataset(n=train_n), dataset(n=30, seed=1), TrainConfig(**{**base, **kw}))


@pytest.mark.parametrize("change, message", [
    ({"seed": 4}, "seed: checkpoint 3 vs this run 4"),
    ({"train_n": 50}, "samples train: checkpoint 96 vs this run 50"),
    ({"amp": "bf16"}, "amp: checkpoint 'auto' vs this run 'bf16'"),
    ({"mixup": 0.5}, "mixup: checkpoint 0.0 vs this run 0.5"),
])
def test_resume_refuses_other_training_settings(tmp_path: Path, change, message) -> None:
    _trainer(tmp_path).fit(stop_after=1)
    with pytest.raises(ValueError, match=f"other settings: {message}"):
        _trainer(tmp_path, **change).fit(resume=True)


def test_the_python_api_refuses_a_new_run_over_an_old_one(tmp_path: Path) -> None:
    """Trainer.fit, like `snnkit train`, does not replace another run's checkpoints and mix its logs."""
    _trainer(tmp_path).fit(stop_after=1)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(ValueError, match="already holds a run .*fit\\(resume=True\\) continues it, fit\\(overwrite=True\\)"):
        _trainer(tmp_path).fit()
    assert (tmp_path / "last.pt").read_bytes() == before
    again = _trainer(tmp_path, epochs=1)
    again.fit(overwrite=True)
    assert again.epoch == 1 and (tmp_path / "last.pt").read_bytes() != before


def test_resume_refuses_another_number_of_ranks(tmp_path: Path) -> None:
    """A torchrun run resumed in one process (or on other ranks) has another global batch and other shards."""
    from snnkit.train.checkpoint import save_checkpoint

    _trainer(tmp_path).fit(stop_after=1)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ckpt["ranks"] == 1
    save_checkpoint(tmp_path / "last.pt", {**ckpt, "ranks": 2})   # as a 2-rank torchrun run writes it
    with pytest.raises(ValueError, match="other settings: ranks: checkpoint 2 vs this run 1"):
        _trainer(tmp_path).fit(resume=True)


def test_a_finished_run_trains_longer_on_the_same_schedule(tmp_path: Path) -> None:
    """epochs may grow on resume; with T_max kept, the result is the longer uninterrupted run's."""
    full = _trainer(tmp_path / "full", epochs=3, T_max=3)
    full.fit()
    short = _trainer(tmp_path / "part", epochs=2, T_max=3)
    short.fit()
    longer = _trainer(tmp_path / "part", model_seed=9, epochs=3, T_max=3)
    longer.fit(resume=True)
    assert (longer.first_epoch, longer.epoch) == (2, 3)
    assert [r["train_loss"] for r in longer.history] == [r["train_loss"] for r in full.history]
    assert all(torch.equal(v, longer.model.state_dict()[k]) for k, v in full.model.state_dict().items())
    again = _trainer(tmp_path / "part", epochs=3, T_max=3)
    again.fit(resume=True)
    assert cli.done_line(again, again.history).startswith(f"nothing to train: {tmp_path / 'part'}/last.pt already "
                                                          "finished epoch 3 of 3")
    assert cli.done_line(longer, longer.history).startswith("done: 1 epoch trained (epoch 3 of 3); last test accuracy")


def test_resume_with_another_thread_count_warns(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _trainer(tmp_path).fit(stop_after=1)
        torch.set_num_threads(2)
        with pytest.warns(UserWarning, match="written with 1 torch threads, this run uses 2"):
            _trainer(tmp_path).fit(resume=True, stop_after=1)
    finally:
        torch.set_num_threads(threads)


def test_new_run_refuses_a_folder_holding_one(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    for name in ("last.pt", "best.pt", "metrics.csv", "tensorboard/events", "notes.txt"):
        (run / name).write_text("x")
    assert cli.main(["train", "tcja", "--out", str(run)]) == 2
    assert "already holds a run (last.pt): --resume continues it, --overwrite replaces it" in capsys.readouterr().err
    cli.check_output_folder(run, resume=True, overwrite=False)  # resuming is what the folder is for
    assert (run / "last.pt").exists()
    with pytest.raises(ValueError, match="--resume continues the run in --out and --overwrite replaces it"):
        cli.check_output_folder(run, resume=True, overwrite=True)
    # --overwrite with a mistyped --root: refused before the old run is touched
    assert cli.main(["train", "tcja", "--config", "cifar10_dvs", "--root", str(tmp_path / "typo"), "--out", str(run),
                     "--overwrite"]) == 2
    assert "typo" in capsys.readouterr().err and (run / "last.pt").exists() and (run / "best.pt").exists()
    cli.check_output_folder(run, resume=False, overwrite=True)
    cli.clear_run(run)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # only the run's own files go


def test_ctrl_c_is_one_line_with_the_resume_hint(tmp_path, monkeypatch, capsys) -> None:
    def interrupted(args):
        raise KeyboardInterrupt

    (tmp_path / "last.pt").write_bytes(b"")   # an epoch had finished
    rc, err = _train_with(interrupted, monkeypatch, capsys, "--out", str(tmp_path))
    assert rc == 130
    assert "snnkit train: interrupted" in err and "--resume continues" in err and "Traceback" not in err


def test_sigterm_in_a_subcommand_is_one_line_exit_143_with_the_resume_hint(tmp_path, monkeypatch, capsys) -> None:
    import os
    import signal

    seen = {}

    def terminated(args):
        seen["handler"] = signal.getsignal(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)   # delivered to this (main) thread: raises here
        raise AssertionError("SIGTERM should have stopped the command")

    before = signal.getsignal(signal.SIGTERM)
    (tmp_path / "last.pt").write_bytes(b"")
    rc, err = _train_with(terminated, monkeypatch, capsys, "--out", str(tmp_path))
    assert rc == 143
    assert "snnkit train: terminated (SIGTERM)" in err and "--resume continues" in err and "Traceback" not in err
    assert seen["handler"] is not before and signal.getsignal(signal.SIGTERM) is before   # restored after


def test_a_sigterm_python_drops_in_a_callback_is_delivered_again() -> None:
    """A SIGTERM whose handler runs inside a weakref callback (an import's module-lock callback, as in a flaky CI
    run: 'Exception ignored in ... cb ... Terminated', exit 0) raised Terminated where Python only prints it; the
    build then ran on to the end. It is now signalled again and stops the work that follows."""
    import sys
    import time
    import weakref

    class Obj:
        pass

    def dropped(_ref):
        raise cli.Terminated()   # what the handler raises when it runs inside this callback

    obj = Obj()
    ref = weakref.ref(obj, dropped)
    hook = sys.unraisablehook
    with pytest.raises(cli.Terminated):
        with cli.sigterm_as_interrupt():
            del obj              # the callback runs; Python drops its exception
            for _ in range(2000):
                time.sleep(0.001)   # the work that must not go on
    assert ref() is None and sys.unraisablehook is hook


def test_out_and_resume_are_checked_before_any_data_is_loaded(tmp_path, monkeypatch, capsys) -> None:
    from snnkit.train import recipes

    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    monkeypatch.setattr(recipes, "tcja_data", lambda *a, **k: pytest.fail("data loaded before --out was checked"))
    afile = tmp_path / "afile"
    afile.write_text("")
    for out, resume, message in [(afile, False, f"--out {str(afile)!r} is a file, not a folder"),
                                 (afile / "sub", False, f"cannot be created: {str(afile)!r} is a file"),
                                 (tmp_path / "new", True, "holds no checkpoint (last.pt) to continue (it does not exist)"),
                                 (tmp_path, True, "(the run there stopped before its first epoch ended); run the same "
                                                  "command without --resume")]:
        argv = ["train", "tcja", "--epochs", "1", "--out", str(out)] + (["--resume"] if resume else [])
        assert cli.main(argv) == 2
        assert message in capsys.readouterr().err
    assert cli.main(["generate-images", "--epochs", "1", "--out", str(afile / "sub")]) == 2
    assert f"cannot be created: {str(afile)!r} is a file" in capsys.readouterr().err


def test_interrupt_before_the_first_checkpoint_says_there_is_none(tmp_path, monkeypatch, capsys) -> None:
    def interrupted(args):
        raise KeyboardInterrupt

    rc, err = _train_with(interrupted, monkeypatch, capsys, "--out", str(tmp_path / "run"))
    assert rc == 130 and "no epoch had finished, so there is no checkpoint" in err and "--resume continues" not in err


def _train_with(func, monkeypatch, capsys, *extra):
    """(exit code, stderr) of ``snnkit train tcja --epochs 1`` with ``func`` as the command."""
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), func))
    rc = cli.main(["train", "tcja", "--epochs", "1", *extra])
    return rc, capsys.readouterr().err


def _with_func(parser, func):
    parser._subparsers._group_actions[0].choices["train"].set_defaults(func=func)
    return parser


@pytest.mark.parametrize("argv, message", [
    (["train", "tcja", "--threads", "0"], "argument --threads: must be an integer >= 1, got 0"),
    (["train", "tcja", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
    (["evaluate", "--checkpoint", "x.pt", "--workers", "-1"], "argument --workers: must be an integer >= 0, got -1"),
    (["generate-images", "--threads", "two"], "argument --threads: must be an integer, got 'two'"),
])
def test_bad_numbers_are_refused_by_the_parser(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_train_tcja_refuses_spikegpt_options(capsys) -> None:
    assert cli.main(["train", "tcja", "--ctx", "64", "--tokenizer", "bpe", "--print-config"]) == 2
    assert "--tokenizer, --ctx: options of `snnkit train spikegpt|rwkv`, not of `snnkit train tcja`" in \
        capsys.readouterr().err


@pytest.mark.parametrize("model", ["spikegpt", "rwkv"])
def test_train_spikegpt_refuses_tcja_options(model, capsys, monkeypatch) -> None:
    """Options only `snnkit train tcja` reads were silently ignored by the language models."""
    monkeypatch.setattr("snnkit.models.spikegpt_cli.cmd_train", lambda args: pytest.fail("trained anyway"))
    assert cli.main(["train", model, "--attention", "none", "--no-augment", "--scheduler", "step"]) == 2
    assert (f"--scheduler, --attention, --augment: options of `snnkit train tcja`, not of `snnkit train {model}`"
            in capsys.readouterr().err)


@pytest.mark.parametrize("field, value, message", [
    ("scheduler", "banana", "scheduler must be 'cosine', 'step' or 'none', got 'banana'"),
    ("step_gamma", 1.5, r"step_gamma must be a number in \(0, 1\], got 1.5"),
    ("step_size", 0, "step_size must be a positive int, got 0"),
    ("optimizer", "rmsprop", "optimizer must be 'adam' or 'sgd', got 'rmsprop'"),
    ("surrogate", "sigmoidd", "surrogate must be one of .*got 'sigmoidd'"),
    ("tau", 0.5, "tau must be >= 1"),
])
def test_recipe_fields_are_checked_with_the_config(field, value, message) -> None:
    with pytest.raises(ValueError, match=f"TCJASNNConfig\\(digits_dvs\\): {message}"):
        tcja_snn.get_config("digits_dvs", **{field: value})


@pytest.mark.parametrize("change, message", [
    ({"name": "mnist"}, "config field name 'mnist' must name the dataset to train on: unknown dataset 'mnist'"),
    ({"num_classes": 5}, "does not fit the digits_dvs dataset: num_classes 5 \\(the dataset has 10\\)"),
    ({"sensor_size": [64, 64], "in_channels": 1},
     "in_channels 1 \\(the dataset has 2\\); sensor_size \\[64, 64\\] \\(the dataset has \\[34, 34\\]\\)"),
])
def test_config_must_fit_its_dataset_before_any_data_is_read(tmp_path: Path, monkeypatch, change, message) -> None:
    monkeypatch.setattr("snnkit.train.recipes.tcja_data", lambda *a, **k: pytest.fail("data loaded"))
    cfg = tcja_snn.get_config("digits_dvs", **change)
    with pytest.raises(ValueError, match=message):
        tcja_trainer(cfg, out_dir=tmp_path)
    check_dataset_fits(tcja_snn.get_config("ncaltech101"))  # H x W against the dataset's W x H


def test_a_dataset_copy_with_missing_classes_is_refused(tmp_path: Path, monkeypatch) -> None:
    from tests.data.native import make_caltech
    from snnkit.train.recipes import tcja_data

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_caltech(tmp_path / "ncal", per_class=10)  # 3 of the 101 class folders
    cfg = tcja_snn.get_config("ncaltech101", T=4)
    with pytest.raises(FileNotFoundError, match="n_caltech101: .* 98 missing or without .bin files"):
        tcja_data(cfg, root, progress=False)              # refused by the loader already
    import snnkit.data as D

    train, _ = D.load("n_caltech101", root, frames=4, classes=["accordion", "BACKGROUND_Google", "yin_yang"],
                      progress=False)                     # a subset chosen on purpose: the config must say so
    with pytest.raises(ValueError, match="ncaltech101: found 3 classes in the dataset folder, the config expects 101"):
        check_classes_found(cfg, train)
    check_classes_found(tcja_snn.get_config("ncaltech101", num_classes=3), train)


def test_empty_test_split_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="test_set is empty"):
        Trainer(TinySNN(), dataset(), dataset(n=0), TrainConfig(out_dir=str(tmp_path), progress=False))


def test_a_run_that_fails_at_its_first_batch_leaves_no_log(tmp_path: Path) -> None:
    class Broken(TinySNN):
        def forward(self, x):
            raise RuntimeError("broken")

    tr = Trainer(Broken(), dataset(), None, TrainConfig(out_dir=str(tmp_path / "run"), progress=False))
    with pytest.raises(RuntimeError, match="broken"):
        tr.fit()
    assert not (tmp_path / "run").exists()


def test_fp16_on_cpu_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="amp fp16 on the CPU runs several times slower"):
        Trainer(TinySNN(), dataset(), None, TrainConfig(out_dir=str(tmp_path), device="cpu", amp="fp16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(TinySNN(), dataset(), None, TrainConfig(out_dir=str(tmp_path), device="cpu", amp="bf16"))


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone gives 0600: unreadable to the group
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        atomic_write_text(tmp_path, "x")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names the fsynced files through Linux's /proc")
def test_atomic_writes_reach_the_disk_before_the_rename(tmp_path: Path, monkeypatch) -> None:
    """The temporary file is fsynced before os.replace names it (else a power loss can leave an empty checkpoint),
    then the folder, so that the rename itself is on disk."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    path = atomic_write_text(tmp_path / "ckpt.txt", "x")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert os.path.basename(events[0][1]).startswith(".ckpt.txt.") and events[1][1] == str(path)
    assert events[2][1] == str(tmp_path) and path.read_text() == "x"


def test_checkpoints_that_cannot_be_rebuilt_are_named(tmp_path: Path, capsys) -> None:
    from snnkit.train.recipes import load_tcja

    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "tensor.pt")]) == 2
    assert "A bare model.state_dict() does not say which network it belongs to" in capsys.readouterr().err
    data = (torch.utils.data.TensorDataset(torch.rand(8, 4, 2, 16, 16), torch.arange(8) % 10), None)
    cfg = tcja_snn.get_config("digits_dvs", input_size=[16, 16], sensor_size=[16, 16], stages=[[4], [8]],
                              tcja_stages=[0, 1], hidden=[16], T=4, epochs=1, batch_size=8)
    tcja_trainer(cfg, out_dir=tmp_path, data=data, progress=False, tensorboard=False).fit()
    ckpt = torch.load(tmp_path / "last.pt", weights_only=False)
    ckpt["model_config"]["from_the_future"] = 1
    torch.save(ckpt, tmp_path / "future.pt")
    with pytest.raises(ValueError, match=r"future.pt': its network config cannot be rebuilt .*'from_the_future'"):
        load_tcja(tmp_path / "future.pt")


def test_resume_with_more_epochs_needs_the_same_schedule_length(tmp_path: Path) -> None:
    """Without T_max the cosine spans `epochs`: more epochs on resume would run at the old schedule's end (lr 0)."""
    _trainer(tmp_path, epochs=2).fit()
    with pytest.raises(ValueError, match="T_max: checkpoint 2 vs this run 3.*keep its T_max: --t-max"):
        _trainer(tmp_path, epochs=3).fit(resume=True)
    longer = _trainer(tmp_path, epochs=3, T_max=2)
    with pytest.warns(UserWarning, match="3 epochs run past the cosine schedule's T_max 2: the learning rate reaches 0 "
                                         "at epoch 2 and rises again"):
        longer.fit(resume=True)
    assert longer.epoch == 3


def test_past_t_max_warning_names_the_schedules_floor(tmp_path: Path) -> None:
    """A cosine that ends at lr_min (SpikeGPT's recipe: 1e-5) bottoms out there, not at 0 as the warning said."""
    run = _trainer(tmp_path, epochs=2, T_max=1, lr_min=1e-5)
    with pytest.warns(UserWarning, match="2 epochs run past the cosine schedule's T_max 1: the learning rate reaches "
                                         "1e-05 at epoch 1 and rises again"):
        run.fit()
    assert [round(r["lr"], 9) for r in run.history] == [2e-2, 1e-5]  # epoch 2 ran at the floor, not at 0


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc, where no file can be created")
def test_a_failed_atomic_write_names_the_file_not_its_temporary() -> None:
    with pytest.raises(OSError) as err:
        atomic_write_text("/proc/snnkit-test.txt", "x")
    assert str(err.value).endswith("'/proc/snnkit-test.txt'") and ".tmp" not in str(err.value), err.value


def test_train_reads_the_cache_that_data_prepare_built(tmp_path, monkeypatch, capsys) -> None:
    """`snnkit data prepare --cache-dir D` then `snnkit train tcja --cache-dir D`: the prepared frames are read,
    nothing is framed again (digits_dvs, whose frames come from the simulator)."""
    import snnkit.data.digits_dvs as dd

    cache = tmp_path / "cache"
    assert cli.main(["data", "prepare", "digits_dvs", "--cache-dir", str(cache), "--no-progress"]) == 0
    built = {p.name: p.stat().st_ino for p in cache.glob("*.h5")}
    assert len(built) == 2
    monkeypatch.setattr(dd, "simulate_batch", lambda *a, **k: pytest.fail("frames were built again"))
    seen = {}
    from snnkit.train import recipes

    real = recipes.tcja_data

    def spy(*a, **k):
        train, test = real(*a, **k)
        seen["paths"] = (train.path, test.path)
        raise KeyboardInterrupt   # stop before training: only the data matters here

    monkeypatch.setattr(recipes, "tcja_data", spy)
    assert cli.main(["train", "tcja", "--config", "digits_dvs", "--epochs", "1", "--cache-dir", str(cache),
                     "--out", str(tmp_path / "run")]) == 130
    assert {p.name for p in seen["paths"]} == set(built)
    assert {p.name: p.stat().st_ino for p in cache.glob("*.h5")} == built


def test_no_progress_keeps_the_epoch_lines_and_max_train_beyond_the_set_warns(tmp_path, capsys) -> None:
    """Batch logs: --no-progress draws no bars but still prints each epoch's line; --max-train past the set says so."""
    argv = ["train", "tcja", "--config", "digits_dvs", "--epochs", "1", "--max-train", "64", "--out", str(tmp_path / "a"),
            "--threads", "1"]
    assert cli.main(argv + ["--no-progress"]) == 0
    err = capsys.readouterr()
    text = err.out + err.err
    assert "epoch 1/1: train loss" in text and "it/s" not in text and "%|" not in text, text
    with pytest.warns(UserWarning, match="max_train=5000 is not below the 1437 training samples: all are used"):
        tcja_trainer("digits_dvs", out_dir=tmp_path / "b", max_train=5000, progress=False)


def test_checkpoints_and_pth_files_are_read_without_running_code(tmp_path: Path, cli_error) -> None:
    """A pickle that runs a command when loaded: every reader refuses it and nothing runs (torch.load with
    weights_only=False would have run it before any check)."""
    from snnkit.models.spikegpt import SpikeGPT, get_config as lm_config
    from snnkit.models.tcja_vae import load_vae
    from snnkit.train.checkpoint import load_checkpoint

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.ones(1)}, "snnkit_version": "0", "arch": "tcja_snn", "x": Payload()}, evil)
    for read in (load_checkpoint, load_vae, tcja_snn.config_of_checkpoint,
                 lambda p: SpikeGPT(lm_config("tiny")).load_weights(p)):
        with pytest.raises(ValueError, match=r"holds Python objects beyond tensors.*unsupported GLOBAL posix.system"):
            read(evil)
    assert "holds Python objects beyond tensors" in cli_error(["evaluate", "--checkpoint", str(evil)])
    assert not marker.exists()
    # snnkit's own checkpoints (numpy's RNG state included) still load
    data = (torch.utils.data.TensorDataset(torch.rand(8, 4, 2, 16, 16), torch.arange(8) % 10), None)
    cfg = tcja_snn.get_config("digits_dvs", input_size=[16, 16], sensor_size=[16, 16], stages=[[4], [8]],
                              tcja_stages=[0, 1], hidden=[16], T=4, epochs=1, batch_size=8)
    tcja_trainer(cfg, out_dir=tmp_path / "run", data=data, progress=False, tensorboard=False).fit()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["rng"]["numpy"][0] == "MT19937"


def test_a_diverged_run_ends_with_its_message_not_a_traceback(tmp_path, monkeypatch, capsys) -> None:
    def diverging(args):
        nan_loss = lambda out, y: torch.nn.functional.cross_entropy(out.mean(0), y) * float("nan")  # noqa: E731
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=1, batch_size=16, out_dir=str(tmp_path), progress=False, tensorboard=False)
        Trainer(TinySNN(), dataset(n=32), None, cfg, loss_fn=nan_loss).fit()

    rc, err = _train_with(diverging, monkeypatch, capsys)
    assert rc == 2 and "snnkit train: error: training diverged in epoch 1: parameters fc1.weight" in err
    assert "no checkpoint was written" in err and "Traceback" not in err


@pytest.mark.parametrize("rank, drawn", [("0", True), ("1", False)])
def test_only_rank_0_draws_the_frame_cache_bar(rank, drawn, monkeypatch, tmp_path) -> None:
    """Under torchrun every rank loads the data before the process group exists: each drew its own frame-cache bar."""
    from snnkit.train import recipes

    seen = {}

    def spy(*a, **k):
        seen["progress"] = k["progress"]
        raise KeyboardInterrupt   # stop before any data is read

    monkeypatch.setattr(recipes, "tcja_data", spy)
    monkeypatch.setenv("RANK", rank)
    with pytest.raises(KeyboardInterrupt):
        recipes.tcja_trainer("digits_dvs", out_dir=tmp_path)
    assert seen == {"progress": drawn}
