"""Energy reports: rich tables, atomic JSON / CSV / PNG files, and the `snnkit energy` command."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import snnkit
from snnkit import layers as L
from snnkit.hardware import count_ops
from snnkit.hardware.energy import compare_snn_ann, energy
from snnkit.hardware.report import (layer_rows, ops_table, print_comparison, print_ops, save_report, step_rows,
                                    write_csv, write_json)


def _net_and_counts():
    torch.manual_seed(0)
    net = nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), snnkit.LIF(tau=2.0), L.AvgPool2d(2),
                        L.Flatten(), L.TimeDistributed(nn.Linear(64, 6)), snnkit.IF(), L.TimeDistributed(nn.LayerNorm(6)))
    with torch.no_grad():
        net[0].module.weight.mul_(4)
    x = torch.rand(3, 2, 2, 8, 8)
    return net, x, count_ops(net, x, backend="hooks")


def test_rows_tables_and_files(tmp_path: Path) -> None:
    from rich.console import Console

    net, x, ops = _net_and_counts()
    ens = [energy(ops, "horowitz45"), energy(ops, "loihi")]
    rows = layer_rows(ops, ens)
    assert [r["layer"] for r in rows] == list(ops.layers) + ["6.module"]  # LayerNorm has no rule: listed as unknown
    assert rows[-1]["kind"] == "unknown" and "NOT COUNTED" in rows[-1]["note"]
    assert len(step_rows(ops)) == len(ops.layers) * ops.T
    buf = io.StringIO()
    con = Console(file=buf, width=200)
    print_ops(ops, ens, console=con)
    text = buf.getvalue()
    assert "0.module" in text and "horowitz45" in text and "total" in text
    assert ops_table(ops).row_count == len(ops.layers) + len(ops.unknown) + 1
    cmp = compare_snn_ann(net, inputs_snn=x, energy_models=("horowitz45",))
    print_comparison(cmp, console=con)
    files = save_report(tmp_path / "rep", ops, ens, comparison=cmp, extra={"run": "test"})
    assert set(files) == {"json", "layers_csv", "steps_csv", "comparison_json", "comparison_csv", "firing_rate_png",
                          "steps_png", "ops_energy_png", "comparison_png"}
    d = json.loads(Path(files["json"]).read_text())
    assert d["meta"] == {"run": "test"} and set(d["energy"]) == {"horowitz45", "loihi"}
    assert d["counts"]["totals"]["macs"] == ops.totals["macs"] and "snn_vs_ann" in d
    with open(files["layers_csv"]) as fh:
        csv_rows = list(csv.DictReader(fh))
    assert csv_rows[0]["layer"] == "0.module" and int(csv_rows[0]["macs"]) == ops.layers["0.module"].macs
    for k in ("firing_rate_png", "steps_png", "ops_energy_png", "comparison_png"):
        assert Path(files[k]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "rep").iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers


def test_atomic_writers(tmp_path: Path) -> None:
    p = write_json(tmp_path / "a" / "x.json", {"v": float("nan"), "t": (1, 2)})
    assert json.loads(p.read_text()) == {"v": None, "t": [1, 2]}
    write_csv(tmp_path / "x.csv", [{"a": 1, "b": None}, {"a": 2, "c": "z"}])
    assert (tmp_path / "x.csv").read_text().splitlines() == ["a,b,c", "1,,", "2,,z"]

    class Boom:
        def to_dict(self):
            raise RuntimeError("boom")

    write_json(tmp_path / "keep.json", {"ok": 1})
    with pytest.raises(RuntimeError):
        write_json(tmp_path / "keep.json", Boom())
    assert json.loads((tmp_path / "keep.json").read_text()) == {"ok": 1}


def test_snnkit_energy_command(tmp_path: Path, capsys, cli_error) -> None:
    from snnkit.cli import main

    out = tmp_path / "energy"
    rc = main(["energy", "--model", "digits_dvs", "--data", "random", "--samples", "3", "--batch-size", "2",
               "--ann", "--energy-model", "horowitz45", "--energy-model", "loihi", "--energy-model", "loihi",
               "--out", str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "SNN vs ANN" in captured.out and "random" in captured.err
    d = json.loads((out / "ops.json").read_text())
    assert d["meta"]["samples"] == 3 and d["meta"]["data"] == "random" and d["counts"]["T"] == 8
    assert set(d["energy"]) == {"horowitz45", "loihi"} and d["snn_vs_ann"]["ann"]["time_steps"] == 1
    assert d["meta"]["energy_models"] == ["horowitz45", "loihi"]  # the repeated model is priced once
    assert (out / "snn_vs_ann.png").is_file() and (out / "layers.csv").is_file()
    with pytest.raises(SystemExit):  # argparse: invalid choice
        main(["energy", "--model", "digits_dvs", "--energy-model", "gpu", "--out", str(out)])
    assert "does not exist" in cli_error(["energy", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)])


def test_snnkit_energy_refuses_an_out_that_is_a_file(tmp_path: Path, cli_error) -> None:
    (tmp_path / "report").write_text("x")
    err = cli_error(["energy", "--model", "digits_dvs", "--data", "random", "--samples", "1",
                     "--out", str(tmp_path / "report")])
    assert f"snnkit energy: --out '{tmp_path / 'report'}' is a file, not a folder" in err, err


def test_snnkit_energy_refuses_missing_data_and_ignored_options(tmp_path: Path, cli_error) -> None:
    out = str(tmp_path / "energy")
    err = cli_error(["energy", "--model", "dvs128_gesture", "--root", str(tmp_path / "nothing"), "--samples", "1",
                     "--out", out])
    assert "could not load the network's dataset 'dvs128_gesture'" in err, err
    assert "Give the dataset's folder with --root" in err and "--data random" in err, err
    assert not (tmp_path / "energy").exists()  # nothing counted on random inputs
    (tmp_path / "a-dir").mkdir()
    assert "is a directory; give the .pt file" in cli_error(["energy", "--checkpoint", str(tmp_path / "a-dir"),
                                                              "--out", out])
    err = cli_error(["energy", "--checkpoint", str(tmp_path / "c.pt"), "--attention", "none", "--out", out])
    assert "--attention applies to --model" in err, err
