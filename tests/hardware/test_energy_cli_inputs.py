"""``snnkit energy`` on a .pt file of samples, its errors for unknown datasets, its note for networks the
Lava export refuses, and the table's graded-synops column and spiking-neuron total."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.cli import main
from snnkit.hardware import count_ops
from snnkit.hardware.graph import trace
from snnkit.hardware.report import ops_table

T, HW = 4, 16
SHAPE = (2, HW, HW)


def _checkpoint(path: Path, **overrides: Any) -> tuple:
    """A small digits_dvs TCJA-SNN (``overrides`` on its config) saved as a Trainer checkpoint: ``(path, model)``."""
    from snnkit.models import build_model, get_config
    from snnkit.train.checkpoint import save_checkpoint

    cfg = get_config("digits_dvs", T=T, input_size=[HW, HW], stages=[[4], [6]], tcja_stages=[1],
                     tcja_kernels=[[4, 4]], hidden=[8], voting=2, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_model(cfg)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.fill_(0.8)  # enough spikes in every layer for the counts to depend on the input
    save_checkpoint(path, {"model": net.state_dict(), "arch": "tcja_snn", "model_config": dataclasses.asdict(cfg),
                           "config": {}, "snnkit_version": snnkit.__version__})
    return path, net.eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("energy_inputs")
    ckpt, net = _checkpoint(d / "best.pt")
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(5, T, *SHAPE, generator=g) < 0.3).float() * 2  # [N, T, C, H, W] event counts
    y = torch.tensor([0, 1, 2, 3, 4])
    torch.save((x, y), d / "samples.pt")
    torch.save({"x": x, "y": y}, d / "samples_dict.pt")
    return d, ckpt, net, x, y


def _energy(ckpt: Path, data: str, out: Path, *extra: str) -> Dict[str, Any]:
    assert main(["energy", "--checkpoint", str(ckpt), "--data", data, "--no-plots", "--out", str(out), *extra]) == 0
    return json.loads((out / "ops.json").read_text())


def test_energy_counts_the_samples_of_a_pt_file(files, tmp_path, capsys) -> None:
    d, ckpt, net, x, y = files
    got = _energy(ckpt, str(d / "samples.pt"), tmp_path / "e", "--samples", "3", "--batch-size", "2")
    want = count_ops(net, x[:3].transpose(0, 1), backend="hooks")  # the first 3 samples, counted directly
    assert got["meta"]["samples"] == 3 and got["meta"]["data"].startswith("samples.pt")
    for k in ("spikes", "synops", "macs", "graded_synops", "neuron_updates", "acs"):
        assert got["counts"]["totals"][k] == want.totals[k], k
    assert want.totals["spikes"] > 0
    pred = want.output.mean(0).argmax(-1)
    assert got["meta"]["accuracy_on_these_samples"] == pytest.approx(float((pred == y[:3]).float().mean()))
    # the dict layout, and more --samples than the file holds: all of its samples, with a note
    got = _energy(ckpt, str(d / "samples_dict.pt"), tmp_path / "e2", "--samples", "64")
    assert got["meta"]["samples"] == 5 and "samples_dict.pt holds only 5 samples" in got["meta"]["notes"]
    assert got["counts"]["totals"]["synops"] == count_ops(net, x.transpose(0, 1), backend="hooks").totals["synops"]
    assert "holds only 5 samples" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (lambda x, y: (x[:, :2], y), "x has shape (5, 2, 2, 16, 16) but the model needs [N, T=4, 2, 16, 16]"),
    (lambda x, y: (x, torch.tensor([0, 42, 1, 0, 1])), "1 label(s) outside 0..9"),
    (lambda x, y: {"X": x}, "holds a dict without an 'x' entry"),
], ids=["wrong-T", "label-42", "dict-without-x"])
def test_energy_checks_a_pt_file_as_simulate_does(files, tmp_path, cli_error, content, message) -> None:
    d, ckpt, net, x, y = files
    torch.save(content(x, y), tmp_path / "bad.pt")
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "e")])
    assert err.startswith(f"snnkit energy: --data '{tmp_path / 'bad.pt'}'") and message in err, err
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", str(tmp_path / "none.pt"), "--out", str(tmp_path / "e")])
    assert "does not exist (expected a dataset name or a .pt file" in err, err
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", str(d / "samples.pt"), "--split", "train",
                     "--out", str(tmp_path / "e")])
    assert "is a file of samples, which has no --split or --root" in err, err
    assert not (tmp_path / "e").exists()


def test_unknown_dataset_lists_the_names_without_a_root_hint(files, tmp_path, cli_error) -> None:
    from snnkit.data import list_datasets

    d, ckpt, *_ = files
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", "nosuch", "--out", str(tmp_path / "e")])
    assert err.startswith("snnkit energy: --data 'nosuch': unknown dataset 'nosuch'"), err
    assert f"available: {', '.join(list_datasets())}" in err and ".pt file of samples" in err, err
    assert "--root" not in err, err
    # a known dataset whose folder is missing keeps the --root hint
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", "dvs128_gesture", "--root", str(tmp_path / "no"),
                     "--out", str(tmp_path / "e")])
    assert "could not load --data 'dvs128_gesture'" in err and "Give the dataset's folder with --root" in err, err


@pytest.mark.parametrize("overrides, module", [({"pool": "max"}, "features.1"), ({"v_reset": None}, "features.0.neuron")],
                         ids=["max-pool", "soft-reset"])
def test_loihi_price_of_an_unexportable_network_says_so(files, tmp_path, capsys, overrides, module) -> None:
    d, *_ = files
    ckpt, net = _checkpoint(tmp_path / "c.pt", **overrides)
    with pytest.raises(ValueError) as refusal:  # what snnkit export --to lava refuses it with
        trace(net, SHAPE)
    reason = str(refusal.value)
    assert f"cannot map module '{module}'" in reason
    got = _energy(ckpt, str(d / "samples.pt"), tmp_path / "e", "--energy-model", "loihi")
    err = capsys.readouterr().err
    line = next(n for n in got["meta"]["notes"] if "cannot be exported to Loihi" in n)
    assert reason in line and "the loihi figure prices it as if it could be mapped" in line, line
    assert f"NOTE: {line}" in err.splitlines(), err
    assert got["energy"]["loihi"]["per_sample_j"] > 0  # priced, not refused
    got = _energy(ckpt, str(d / "samples.pt"), tmp_path / "e2", "--energy-model", "horowitz45")
    assert not [n for n in got["meta"]["notes"] if "Loihi" in n]  # no event-driven figure: nothing to warn about


def test_no_loihi_note_for_a_network_the_export_maps(files, tmp_path) -> None:
    d, ckpt, net, *_ = files
    trace(net, SHAPE)  # accepted
    got = _energy(ckpt, str(d / "samples.pt"), tmp_path / "e", "--energy-model", "loihi")
    assert not [n for n in got["meta"]["notes"] if "Loihi" in n], got["meta"]["notes"]


def _columns(table: Any) -> Dict[str, list]:
    return {str(c.header): [str(v) for v in c.cells] for c in table.columns}


def test_table_shows_graded_synops_and_counts_spiking_neurons_in_its_total() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), snnkit.LIF(tau=2.0), L.AvgPool2d(2),
                        L.Flatten(), L.TimeDistributed(nn.Linear(64, 6)), snnkit.IF())
    with torch.no_grad():
        net[0].module.weight.mul_(4)
    x = torch.rand(3, 2, 2, 8, 8)  # [T, B, C, H, W], real-valued: the conv gets graded synops
    ops = count_ops(net, x, backend="hooks")
    cols = _columns(ops_table(ops))
    names, tot = list(ops.layers), ops.totals
    assert tot["graded_synops"] > 0 and cols["layer"][-1] == "[bold]total[/bold]"
    for name, cell in zip(names, cols["graded synops"]):
        assert float(cell) == pytest.approx(ops.layers[name].graded_synops / 2, rel=1e-3), name
    assert float(cols["graded synops"][-1]) == pytest.approx(tot["graded_synops"] / 2, rel=1e-3)
    # spiking neurons: LIF after a 4-channel 8x8 conv (256) + IF after Linear(64, 6) (6); not the pool's 64
    assert int(cols["neurons"][-1]) == 256 + 6 == tot["neuron_updates"] // (ops.T * ops.B)
    assert sum(int(v) for v in cols["neurons"][:-1]) > 262  # the per-layer cells still give every layer's outputs
    assert float(cols["rate"][-1]) == pytest.approx(tot["spikes"] / (262 * ops.T * ops.B), abs=5e-5)
    # binary input and no pooling: nothing is graded, and the column is left out
    net2 = nn.Sequential(L.TimeDistributed(nn.Linear(10, 5)), snnkit.IF())
    ops2 = count_ops(net2, (torch.rand(3, 2, 10) < 0.5).float(), backend="hooks")
    assert ops2.totals["graded_synops"] == 0 and "graded synops" not in _columns(ops_table(ops2))


def test_frame_cache_built_for_energy_shows_progress(tmp_path, monkeypatch, capsys) -> None:
    """A dataset whose frame cache must be built first (minutes for a full copy) shows a bar on stderr, not silence."""
    from tests.data.native import make_nmnist

    ckpt, _ = _checkpoint(tmp_path / "best.pt")
    root = make_nmnist(tmp_path / "data", per_class=1, n_events=50)
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    argv = ["energy", "--checkpoint", str(ckpt), "--data", "n_mnist", "--root", str(root), "--samples", "2",
            "--no-plots", "--energy-model", "loihi", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "n_mnist/test frames" in first.err and "frames" not in first.out
    assert main(argv) == 0   # the cache is there now: nothing to show
    assert "frames" not in capsys.readouterr().err
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache2"))   # a new cache to build, without a bar
    assert main(argv + ["--no-progress"]) == 0
    assert "frames" not in capsys.readouterr().err
    assert any((tmp_path / "cache2").rglob("*.h5"))


@pytest.mark.parametrize("flags", [["--split", "train"], ["--root", "somewhere"]])
def test_random_inputs_refuse_the_split_and_root_they_would_ignore(files, tmp_path, cli_error, flags) -> None:
    """--data random draws from --seed alone: a --split or --root was accepted and silently ignored."""
    ckpt = files[1]
    err = cli_error(["energy", "--checkpoint", str(ckpt), "--data", "random", *flags, "--out", str(tmp_path / "e")])
    assert "--data random draws Bernoulli(0.05) spikes from --seed; it has no --split or --root" in err, err


def test_first_line_says_which_samples_were_counted_and_their_accuracy(files, tmp_path, capsys) -> None:
    """The printed report named neither the data, the split nor the sample count (only the JSON did)."""
    d, ckpt, net, x, y = files
    got = _energy(ckpt, str(d / "samples.pt"), tmp_path / "e", "--samples", "4", "--energy-model", "loihi")
    pred = net(x[:4].transpose(0, 1)).mean(0).argmax(-1)               # no tied scores on these samples
    acc = 100 * float((pred == y[:4]).float().mean())
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"snnkit energy: {got['meta']['config']} (checkpoint, epoch None), samples.pt (samples 0..3): "
                     f"4 samples, T=4; accuracy on these samples {acc:.2f}%"), first
    assert main(["energy", "--checkpoint", str(ckpt), "--data", "random", "--samples", "2", "--no-plots",
                 "--out", str(tmp_path / "r")]) == 0
    assert "random Bernoulli(0.05) spikes (seed 0): 2 samples, T=4" in capsys.readouterr().out.splitlines()[0]
