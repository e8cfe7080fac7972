"""``snnkit export`` / ``snnkit simulate`` on a tiny TCJA-SNN checkpoint and a .pt file of samples."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest
import torch

pytest.importorskip("lava", reason="lava-nc not installed")

from snnkit.cli import build_parser, main  # noqa: E402
from snnkit.hardware import load_lava  # noqa: E402

from .test_lava_tcja import SHAPE, T, _tcja_net  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import snnkit
    from snnkit.train.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("cli")
    net = _tcja_net()
    ckpt = save_checkpoint(d / "best.pt", {
        "model": net.state_dict(), "arch": "tcja_snn", "model_config": dataclasses.asdict(net.config),
        "config": {}, "snnkit_version": snnkit.__version__})
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(4, T, *SHAPE, generator=g) < 0.3).float() * 2  # [N, T, C, H, W]
    y = torch.tensor([0, 1, 0, 1])
    torch.save((x, y), d / "samples.pt")
    return d, ckpt, d / "samples.pt"


def test_subcommands_are_registered() -> None:
    p = build_parser()
    args = p.parse_args(["simulate", "--checkpoint", "c.pt", "--samples", "3"])
    assert args.samples == 3 and args.mode == "both" and callable(args.func)
    args = p.parse_args(["export", "--checkpoint", "c.pt", "--to", "nir", "--out", "x.nir"])
    assert args.to == "nir" and callable(args.func)


def test_export_to_lava_and_refusals(files, capsys, cli_error) -> None:
    d, ckpt, _ = files
    assert main(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", str(d / "net.lava")]) == 0
    net = load_lava(d / "net.lava")
    assert net.meta["T"] == T and net.meta["input_shape"] == list(SHAPE)
    with pytest.raises(IsADirectoryError, match="is a folder; give the .lava file"):
        load_lava(d)
    assert [op.name for op in net.plan.host_ops] == ["features.3", "features.6"]
    assert "not native to Loihi" in capsys.readouterr().out
    for fmt in ("nir", "netx"):
        err = cli_error(["export", "--checkpoint", str(ckpt), "--to", fmt, "--out", str(d / "new" / f"net.{fmt}")])
        assert re.search("not native to Loihi", err), err
        assert not (d / "new").exists()   # a refused network leaves no folders behind either
    # a new folder is made for the file, as for nir (LavaNetwork.save itself refuses a missing folder)
    assert main(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", str(d / "made" / "sub" / "n.lava")]) == 0
    assert load_lava(d / "made" / "sub" / "n.lava").meta["T"] == T
    err = cli_error(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", str(d / "newdir") + "/"])
    assert "newdir/' is a directory; give a file path (e.g." in err and not (d / "newdir").exists()
    err = cli_error(["export", "--checkpoint", str(d / "missing.pt"), "--to", "lava", "--out", str(d / "y.lava")])
    assert re.search("does not exist", err), err


def test_simulate_writes_report_and_plot(files, capsys) -> None:
    d, ckpt, data = files
    out = d / "sim"
    assert main(["simulate", "--checkpoint", str(ckpt), "--data", str(data), "--samples", "6", "--out", str(out),
                 "--no-progress", "--calibration-samples", "4"]) == 0
    text = capsys.readouterr().out
    assert "spike agreement: floating_pt 100.0000%" in text and "energy per sample" in text
    assert "(samples 0..3; 6 asked for, the set has 4)" in text   # fewer samples than asked: said, not silent
    rep = json.loads((out / "simulate.json").read_text())
    assert rep["samples"] == 4 and rep["T"] == T and rep["non_native"] == ["features.3", "features.6"]
    assert rep["native"]["features.3"] is False
    fl, fx = rep["lava"]["floating_pt"], rep["lava"]["fixed_pt"]
    assert fl["spike_agreement"] == 1.0 and fl["class_agreement"] == 1.0
    assert fl["accuracy"] == rep["pytorch"]["accuracy"]
    assert 0.9 < fx["spike_agreement"] <= 1.0 and fx["quantization"]["non_native"][0]["native"] is False
    host = fl["counts"]["non_native"]["features.3"]
    assert host["native"] is False and host["macs"] > 0 and host["max_abs_diff_vs_pytorch"] <= 1e-15
    png = (out / "simulate.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp"))


def test_simulate_refuses_what_it_cannot_do_honestly(files, cli_error) -> None:
    """A conventional-chip energy model (the Lava run's events are not what it computes) and a sample file with no
    samples (it crashed reshaping nothing) are refused before any Lava work."""
    d, ckpt, data = files
    err = cli_error(["simulate", "--checkpoint", str(ckpt), "--energy-model", "horowitz45", "--out", str(d / "h")])
    assert "--energy-model horowitz45 prices a conventional chip" in err and "use snnkit energy --checkpoint" in err
    x, y = torch.load(data)
    torch.save((x[:0], y[:0]), d / "none.pt")
    err = cli_error(["simulate", "--checkpoint", str(ckpt), "--data", str(d / "none.pt"), "--out", str(d / "n")])
    assert "none.pt' holds 0 samples: nothing to run" in err
    assert not (d / "h").exists() and not (d / "n").exists()


def test_random_inputs_do_not_depend_on_the_batch_size_and_silent_outputs_are_found() -> None:
    from types import SimpleNamespace

    from snnkit.hardware.cli import _silent_outputs, random_inputs

    cfg = SimpleNamespace(T=3, input_size=[4, 5], in_channels=2)
    whole = random_inputs(cfg, 5, 5, seed=0)[0]
    assert whole.shape == (3, 5, 2, 4, 5) and 0 < whole.mean() < 0.2
    for bs in (1, 2, 3):
        torch.testing.assert_close(torch.cat(random_inputs(cfg, 5, bs, seed=0), dim=1), whole)
    out = torch.zeros(4, 3, 10)    # [T, B, classes]: sample 1 fires for class 2 once, samples 0 and 2 never
    out[2, 1, 2] = 1.0
    assert _silent_outputs(out) == 2 and _silent_outputs(out[0]) == 3


def test_bad_data_files_and_numbers_are_clean_errors(files, capsys) -> None:
    d, ckpt, _ = files
    for name, content in (("empty.pt", b""), ("text.pt", b"not a torch file")):
        (d / name).write_bytes(content)
        assert main(["simulate", "--checkpoint", str(ckpt), "--data", str(d / name), "--samples", "2",
                         "--out", str(d / "o"), "--no-progress"]) == 2
        assert f"--data '{d / name}' could not be read (corrupt, empty or not a torch file" in capsys.readouterr().err
    for argv, message in (
            (["simulate", "--checkpoint", str(ckpt), "--calibration-samples", "0"], "must be an integer >= 1, got 0"),
            (["simulate", "--checkpoint", str(ckpt), "--energy-model", "bogus"], "invalid choice: 'bogus'"),
            (["energy", "--model", "digits_dvs", "--threads", "-2"], "must be an integer >= 1, got -2")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc, where no file can be created")
def test_unwritable_out_is_refused_before_the_run(files, monkeypatch, cli_error) -> None:
    import snnkit.hardware.lava as lava_module

    d, ckpt, data = files
    monkeypatch.setattr(lava_module, "to_lava", lambda *a, **k: pytest.fail("the network was built before --out was checked"))
    err = cli_error(["simulate", "--checkpoint", str(ckpt), "--data", str(data), "--samples", "2", "--no-progress",
                     "--out", "/proc/snnkit-test/sim"])
    assert "--out '/proc/snnkit-test/sim' is not writable: no file can be created in '/proc'" in err, err
    err = cli_error(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", "/proc/snnkit-test.lava"])
    assert "--out '/proc/snnkit-test.lava': '/proc' is not writable" in err, err
    (d / "a-file").write_text("x")
    err = cli_error(["simulate", "--checkpoint", str(ckpt), "--out", str(d / "a-file" / "sim")])
    assert f"--out '{d / 'a-file' / 'sim'}' cannot be created: '{d / 'a-file'}' is a file, not a folder" in err, err


def test_checkpoint_directory_is_named_as_such(files, cli_error) -> None:
    d, _, _ = files
    for cmd in (["export", "--to", "lava", "--out", str(d / "z.lava")], ["simulate", "--out", str(d / "z")]):
        err = cli_error([*cmd, "--checkpoint", str(d)])
        assert f"checkpoint '{d}' is a directory; give the .pt file" in err, err


def test_an_export_given_as_checkpoint_says_so_and_names_the_fix(files, cli_error) -> None:
    """A .lava / NIR / netx file where a checkpoint belongs was a pickle error ("holds Python objects beyond tensors
    ... load it with torch.load(path, weights_only=False)", "Unsupported operand 72"): now what it is and what to give."""
    import nir
    import numpy as np

    d, ckpt, _ = files
    assert main(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", str(d / "n.lava")]) == 0
    graph = nir.NIRGraph(nodes={"i": nir.Input(np.array([2])), "o": nir.Output(np.array([2]))}, edges=[("i", "o")])
    nir.write(str(d / "g.nir"), graph)
    fix = "not a training checkpoint; give the checkpoint snnkit train wrote (best.pt or last.pt in its --out folder)"
    for f, kind in ((d / "n.lava", "is a Lava network (snnkit export --to lava writes it"),
                    (d / "g.nir", "is an HDF5 file (a NIR graph or lava-dl netx network")):
        for cmd in (["evaluate"], ["simulate", "--out", str(d / "z")], ["export", "--to", "lava", "--out", str(d / "z.lava")],
                    ["energy", "--out", str(d / "z")]):
            err = cli_error([*cmd, "--checkpoint", str(f)])
            assert f"'{f}' {kind}" in err and fix in err and "weights_only" not in err, (cmd, err)
    assert load_lava(d / "n.lava").meta["T"] == T   # the detection reads bytes only: the file still loads


@pytest.mark.parametrize("content, message", [
    (lambda x: (x[:3], torch.tensor([0, 1, 0, 1, 0])), "the labels y have shape (5,) but x has 3 samples"),
    (lambda x: (x, torch.tensor([0, 42, 1, 0])), "1 label(s) outside 0..9 (the network has 10 classes), e.g. 42"),
    (lambda x: (x, torch.tensor([0, -1, 1, 0])), "label(s) outside 0..9"),
    (lambda x: (x, torch.tensor([0.0, 0.5, 1.0, 0.0])), "the labels y must be integer class indices"),
    (lambda x: {"X": x, "y": torch.zeros(4)}, "holds a dict without an 'x' entry (keys: ['X', 'y'])"),
    (lambda x: 5, "x is of type int, not a tensor"),
], ids=["labels-not-N", "label-42", "label-negative", "float-labels", "dict-without-x", "an-int"])
def test_sample_files_with_wrong_labels_or_layout_are_refused(files, tmp_path, cli_error, content, message) -> None:
    d, ckpt, data = files
    x, _ = torch.load(data)
    torch.save(content(x), tmp_path / "bad.pt")
    err = cli_error(["simulate", "--checkpoint", str(ckpt), "--data", str(tmp_path / "bad.pt"), "--samples", "2",
                     "--no-progress", "--out", str(tmp_path / "sim")])
    assert message in err, err


def test_max_pool_checkpoint_is_refused_alike_with_how_to_retrain(tmp_path, cli_error) -> None:
    import snnkit
    from snnkit.models import build_model, get_config
    from snnkit.train.checkpoint import save_checkpoint

    cfg = get_config("digits_dvs", T=T, input_size=list(SHAPE[1:]), stages=[[4], [6]], tcja_stages=[], tcja_kernels=[], hidden=[8], voting=2,
                     attention="none", pool="max")
    ckpt = save_checkpoint(tmp_path / "max.pt", {
        "model": build_model(cfg).state_dict(), "arch": "tcja_snn", "model_config": dataclasses.asdict(cfg),
        "config": {}, "snnkit_version": snnkit.__version__})
    errs = [cli_error(["export", "--checkpoint", str(ckpt), "--to", "lava", "--out", str(tmp_path / "x.lava")]),
            cli_error(["simulate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "sim")])]
    for cmd, err in zip(("export", "simulate"), errs):
        assert err.startswith(f"snnkit {cmd}: cannot map module 'features.1' (MaxPool2d) to Loihi"), err
        assert "train it again with pool: avg (snnkit train tcja --config CHECKPOINT --print-config" in err, err
        assert "SNNKIT_TRACEBACK" not in err, err
    # the hint's first step: the checkpoint's own config (its stages, hidden, ..., not the registered digits_dvs)
    from snnkit.models.tcja_snn import resolve_config

    assert resolve_config(str(ckpt)) == cfg and resolve_config(str(ckpt), pool="avg").stages == [[4], [6]]


def test_plot_gives_each_source_one_colour_in_both_panels(tmp_path, monkeypatch) -> None:
    from matplotlib.figure import Figure

    import snnkit.hardware.cli as hw_cli

    figs = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, tmp, **kw: figs.append(fig) or open(tmp, "wb").close())
    layers = ["a", "b"]
    agreement = {m: {k: 1.0 for k in layers} for m in ("floating_pt", "fixed_pt")}
    rates = {s: {k: 0.1 for k in layers} for s in ("pytorch", "Lava floating_pt", "Lava fixed_pt")}
    hw_cli._plot(tmp_path / "p.png", layers, agreement, rates, [], "t")
    colours = {}
    for ax in figs[0].axes:
        for bars in ax.containers:
            colours.setdefault(bars.get_label().removeprefix("Lava "), set()).add(bars.patches[0].get_facecolor())
    assert set(colours) == {"pytorch", "floating_pt", "fixed_pt"}
    assert all(len(c) == 1 for c in colours.values()), colours  # the same colour in the top and bottom panel
    assert len({c.pop() for c in colours.values()}) == 3  # and a different one per source


def test_export_refuses_options_its_format_ignores_and_help_gives_defaults(files, cli_error) -> None:
    d, ckpt, _ = files
    base = ["export", "--checkpoint", str(ckpt), "--out", str(d / "ignored.x")]
    err = cli_error([*base, "--to", "nir", "--mode", "fixed_pt", "--conv", "native"])
    assert "--mode and --conv apply to --to lava only, not to --to nir" in err, err
    err = cli_error([*base, "--to", "netx", "--data", "digits_dvs"])
    assert "--data applies to --to lava only, not to --to netx" in err, err
    err = cli_error([*base, "--to", "lava", "--calibration-samples", "8"])
    assert "--calibration-samples applies to --to lava --mode fixed_pt only" in err, err
    assert not (d / "ignored.x").exists()
    sub = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["simulate"]._actions}
    assert "(default runs/simulate" in sub["out"].help and "(default 8" in sub["chunk"].help
    assert "'random'" in sub["data"].help


def test_simulate_data_random(files, capsys) -> None:
    d, ckpt, _ = files
    assert main(["simulate", "--checkpoint", str(ckpt), "--data", "random", "--samples", "2", "--mode", "fixed_pt",
                 "--calibration-samples", "3", "--out", str(d / "sim-random"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "random Bernoulli(0.05) spikes (test seed 0): 2 samples" in captured.out
    assert "not real data (--data random)" in captured.err
    rep = json.loads((d / "sim-random" / "simulate.json").read_text())
    assert rep["pytorch"]["accuracy"] is None and rep["lava"]["fixed_pt"]["calibration"].startswith("random")

def _group(pgid: int) -> List[Tuple[int, int, str]]:
    """``(pid, ppid, state)`` of every process (zombies included) in process group ``pgid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except (OSError, IndexError):
            continue  # the process ended while being read
        if int(fields[2]) == pgid:
            out.append((int(stat.parent.name), int(fields[1]), fields[0]))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig, rc_want, line", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_during_simulate_stops_lava_and_exits_130(files, tmp_path, sig, rc_want, line) -> None:
    """One SIGINT to the process group (a terminal's Ctrl-C) while Lava's workers run: exit 130 with one line,
    no worker tracebacks, nothing left behind (it used to hang for good on the dead workers). SIGTERM to the
    main process (`kill`) alike, with exit 143."""
    d, ckpt, data = files
    out = tmp_path / "sim"
    cmd = [sys.executable, "-m", "snnkit.cli", "simulate", "--checkpoint", str(ckpt), "--data", str(data),
           "--samples", "4", "--chunk", "1", "--mode", "floating_pt", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "SNNKIT_TRACEBACK"}
    log_out, log_err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(log_out, "wb") as so, open(log_err, "wb") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, env=env, start_new_session=True,  # SIGINT at default,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a shell
    try:
        deadline = time.monotonic() + 60
        while not ("Lava floating_pt" in log_err.read_text(errors="replace")  # Lava's workers are running
                   and sum(ppid == proc.pid for _, ppid, _ in _group(proc.pid)) >= 4):
            assert proc.poll() is None and time.monotonic() < deadline, log_err.read_text(errors="replace")
            time.sleep(0.05)
        # Ctrl-C reaches the whole group; `kill PID` (docker stop, systemd) the main process only
        (os.killpg if sig == signal.SIGINT else os.kill)(proc.pid, sig)
        t0 = time.monotonic()
        rc = proc.wait(timeout=30)
        while _group(proc.pid) and time.monotonic() - t0 < 40:  # the resource tracker ends after its parent
            time.sleep(0.1)
        left = _group(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # never leave a hung run behind
        except ProcessLookupError:
            pass
        proc.wait()
    err = log_err.read_text(errors="replace")
    assert rc == rc_want, err
    assert left == [], (left, err)
    assert err.count(line) == 1 and err.rstrip().endswith(f"snnkit simulate: {line}"), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "leaked" not in err, err
    assert not out.exists()


def test_the_networks_own_dataset_is_split_as_its_training_run_split_it(tmp_path, monkeypatch) -> None:
    """simulate/export/energy read a checkpoint's dataset with the run's seed and split_seed (no train samples in test)."""
    from types import SimpleNamespace

    from snnkit import data as D
    from snnkit.hardware.cli import dataset_splits, load_samples
    from snnkit.models import get_config
    from snnkit.train.recipes import tcja_data

    from ..data.native import make_cifar10_dvs

    digits = get_config("digits_dvs")
    _, test3 = dataset_splits("digits_dvs", digits, {"config": {"seed": 3}})
    _, test0 = dataset_splits("digits_dvs", digits, None)
    assert test3.names == tcja_data(digits, seed=3, progress=False)[1].names
    assert test0.names == D.load("digits_dvs", frames=digits.T, progress=False)[1].names != test3.names

    # the fake CIFAR10-DVS copy lives in tmp_path: keep its frame caches there too, not in the
    # user's ~/.cache/snnkit/data, where every run of the suite would leave four new files
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_cifar10_dvs(tmp_path / "cf", per_class=10)
    cifar = dataclasses.replace(get_config("cifar10_dvs"), T=3, split_seed=2)
    want = D.load("cifar10_dvs", root=root, frames=3, split_seed=2, progress=False)[1]
    assert want.names != D.load("cifar10_dvs", root=root, frames=3, progress=False)[1].names
    x, y, _ = load_samples("cifar10_dvs", SimpleNamespace(config=cifar), 4, root=str(root), ckpt={"config": {"seed": 5}})
    assert x.shape == (3, 4, 2, 128, 128) and y.tolist() == want.targets[:4].tolist()
    assert torch.equal(x.transpose(0, 1), torch.stack([want[i][0] for i in range(4)]))
    # another dataset than the network's own: its default split, read from --root
    _, other = dataset_splits("cifar10_dvs", dataclasses.replace(digits, T=3, input_size=[128, 128],
                                                                 sensor_size=[128, 128]), None, str(root))
    assert other.names == D.load("cifar10_dvs", root=root, frames=3, progress=False)[1].names


def test_simulate_and_export_take_root(files, cli_error) -> None:
    d, ckpt, _ = files
    args = build_parser().parse_args(["simulate", "--checkpoint", "c.pt", "--data", "n_mnist", "--root", "/data"])
    assert args.root == "/data"
    err = cli_error(["export", "--checkpoint", str(ckpt), "--to", "lava", "--root", "/data", "--out", str(d / "r.lava")])
    assert "--root applies to --to lava --mode fixed_pt only" in err


def test_simulate_refuses_root_with_data_it_would_ignore(files, cli_error) -> None:
    """--root names a dataset's folder: with random spikes or a .pt file it was accepted and silently ignored."""
    d, ckpt, data = files
    for what in ("random", str(data)):
        err = cli_error(["simulate", "--checkpoint", str(ckpt), "--data", what, "--root", str(d), "--samples", "1",
                         "--out", str(d / "sim_root")])
        assert "--root is the folder of a dataset" in err and "drop --root" in err, err
    assert not (d / "sim_root" / "simulate.json").exists()


@pytest.mark.parametrize("flags, shown", [([], True), (["--no-progress"], False)])
def test_export_fixed_point_calibration_bar_follows_no_progress(files, monkeypatch, flags, shown) -> None:
    """The calibration samples' frame cache shows a bar unless --no-progress (as simulate and energy)."""
    import snnkit.hardware.cli as hcli

    d, ckpt, _ = files
    seen = {}

    def fake_load_samples(*args, **kwargs):
        seen["progress"] = kwargs.get("progress")
        raise KeyboardInterrupt  # stop here: only the wiring is under test

    monkeypatch.setattr(hcli, "load_samples", fake_load_samples)
    with pytest.raises(KeyboardInterrupt):
        hcli.run_export(build_parser().parse_args(["export", "--checkpoint", str(ckpt), "--to", "lava", "--mode",
                                                   "fixed_pt", "--out", str(d / "q.lava"), *flags]))
    assert seen == {"progress": shown}
