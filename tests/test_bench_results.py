"""Benchmarks write the committed benchmarks/results/NAME.json only for a run with every option at its default."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))



def _bench_common():
    """benchmarks/_common.py, imported from its folder (benchmarks/ is not a package)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _common
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return _common

def _load(name: str):
    from tests.conftest import load_script

    return load_script(ROOT / "benchmarks" / f"{name}.py", f"bench_{name}")


def test_results_file_rules(tmp_path, capsys) -> None:
    _common = _bench_common()
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint")
    _common.add_results_option(ap, "x")
    assert _common.results_file(ap, ap.parse_args([]), "x").path == _common.RESULTS / "x.json"
    rf = _common.results_file(ap, ap.parse_args(["--quick", "--checkpoint", "c.pt"]), "x")
    assert rf.path is None and rf.changed == ["--quick", "--checkpoint"]
    assert rf.save({"a": 1}) is None and "results not written: --quick, --checkpoint differ" in capsys.readouterr().out
    alone = _common.results_file(ap, ap.parse_args(["--quick"]), "x")  # one option: "--quick differs", not "differ"
    assert alone.save({"a": 1}) is None and "results not written: --quick differs from" in capsys.readouterr().out
    help_text = ap.format_help()  # the help names no option the script may not have (tcja_speed has no --quick)
    assert "any option changed" in help_text and "another checkpoint" not in help_text
    rf = _common.results_file(ap, ap.parse_args(["--quick", "--results", str(tmp_path / "q.json")]), "x")
    assert rf.save({"a": 1}) == tmp_path / "q.json"
    assert json.loads((tmp_path / "q.json").read_text()) == {"args": {"quick": True, "checkpoint": None}, "a": 1,
                                                             "non_default_options": ["--quick"]}
    with pytest.raises(SystemExit):  # a directory is refused before the run, not by the write at its end
        _common.results_file(ap, ap.parse_args(["--results", str(tmp_path)]), "x")
    assert "that is a directory; give a file name" in capsys.readouterr().err


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != "tcja_seeds"])  # tcja_seeds --extend adds to its file
def test_every_benchmark_takes_results_option(script) -> None:
    text = (ROOT / "benchmarks" / f"{script}.py").read_text()
    # the smartwatch follow-up tests take tcja_watch's options, --results included (follow_up_args)
    shared = "follow_up_args(__doc__, NAME, argv)" in text
    assert shared or ("add_results_option(ap, " in text and "results_file(ap, args, " in text)
    assert "write_json(" not in text


def test_lava_speed_with_a_checkpoint_leaves_the_committed_results_alone(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("lava", reason="lava-nc not installed")
    import snnkit
    from snnkit.train.checkpoint import save_checkpoint
    from tests.hardware.test_lava_tcja import _tcja_net

    net = _tcja_net("none")
    ckpt = save_checkpoint(tmp_path / "best.pt", {
        "model": net.state_dict(), "arch": "tcja_snn", "model_config": dataclasses.asdict(net.config),
        "config": {}, "snnkit_version": snnkit.__version__})
    mod = _load("lava_speed")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path / "results")
    mod.main(["--quick", "--checkpoint", str(ckpt)])
    assert not (tmp_path / "results").exists()
    assert "results not written: --checkpoint, --quick differ" in capsys.readouterr().out


@pytest.mark.parametrize("script, argv, message", [
    ("neuron_speed", ["--repeat", "0"], "argument --repeat: must be an integer >= 1, got 0"),
    ("neuron_speed", ["--device", "mps"], "argument --device: invalid choice: 'mps'"),
    ("data_speed", ["--repeat", "-1"], "argument --repeat: must be an integer >= 1"),
    ("wkv_speed", ["--model", "tinny"], "argument --model: invalid choice: 'tinny'"),
    ("wkv_speed", ["--threads", "-2"], "argument --threads: must be an integer >= 0"),
    ("rwkv_speed", ["--prefill", "8"], "argument --prefill: must be an integer >= 9"),
    ("rwkv_speed", ["--mem-gib", "0"], "argument --mem-gib: must be a finite number > 0"),
    ("lm_speed", ["--gen-tokens", "0"], "argument --gen-tokens: must be an integer >= 1"),
    ("lm_speed", ["--lengths", "128", "0"], "argument --lengths: must be an integer >= 1"),
    ("tcja_speed", ["--repeat", "0"], "argument --repeat: must be an integer >= 1"),
    ("energy_report", ["--samples", "0"], "argument --samples: must be an integer >= 1"),
    ("lava_speed", ["--samples", "0"], "argument --samples: must be an integer >= 1"),
    ("spikegpt_energy", ["--eval-batch", "0"], "argument --eval-batch: must be an integer >= 1"),
    ("spikegpt_energy", ["--text", "no/such.txt"], "--text no/such.txt: no such file"),
    ("energy_report", ["--checkpoint", "no/such.pt"], "--checkpoint no/such.pt: no such file"),
    ("lava_speed", ["--checkpoint", "no/such.pt"], "--checkpoint no/such.pt: no such file"),
    ("lava_speed", ["--epochs", "-1"], "argument --epochs: must be an integer >= 0"),
])
def test_bad_option_is_refused_by_name_before_any_work(script, argv, message, tmp_path, monkeypatch, capsys) -> None:
    """A zero/negative count used to crash deep inside (``no median for empty data``, an empty batch) or, for
    ``--gen-tokens 0``, report 0 tokens/s; now argparse names the flag before anything runs."""
    argv = [*argv, "--results", str(tmp_path / "r.json")]   # never the committed file, whatever happens
    mod = _load(script)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])  # rwkv_speed.main() reads sys.argv
    with pytest.raises(SystemExit) as exc:
        mod.main() if script == "rwkv_speed" else mod.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_timeit_refuses_zero_repeats() -> None:
    _common = _bench_common()
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        _common.timeit(lambda: None, repeat=0)
    assert _common.timeit(lambda: None, repeat=1, warmup=0) >= 0.0


def test_neuron_speed_checks_spikes_and_input_gradients_against_the_reference(monkeypatch) -> None:
    """The benchmark times fwd+bwd, so both halves are checked: snnTorch and SpikingJelly (independent code) agree
    with snnkit's reference loop, and a contender with a different backward (reset detached) is flagged."""
    from snnkit import functional as F

    mod = _load("neuron_speed")
    contenders = mod.make_contenders("cpu")
    contenders["detached_reset"] = lambda x: F.lif_multistep(x, tau=mod.TAU, decay_input=False, surrogate="atan",
                                                             detach_reset=True, backend="reference")[0]
    monkeypatch.setattr(mod, "make_contenders", lambda device: contenders)
    rows = {r["impl"]: r for r in mod.run([(6, 3, 40)], "cpu", repeat=1, peak=False)["rows"]}
    for name in ("snnkit_cpu", "snnkit_reference", "snntorch", "spikingjelly"):
        if name in rows:
            assert rows[name]["spikes_equal_ref"] and rows[name]["grad_close_ref"], name
    assert rows["detached_reset"]["spikes_equal_ref"]                       # same forward ...
    assert not rows["detached_reset"]["grad_close_ref"] and rows["detached_reset"]["grad_max_abs_diff_ref"] > 1e-3


@pytest.mark.parametrize("script, result", [("wkv_speed", "wkv_speed_cpu"), ("tcja_speed", "tcja_speed"),
                                            ("rwkv_speed", "rwkv_speed"), ("lm_speed", "lm_speed"),
                                            ("spikegpt_energy", "spikegpt_energy")])
def test_default_run_uses_the_thread_count_of_the_committed_results(script, result, monkeypatch) -> None:
    """Only a run with every option at its default rewrites results/NAME.json (make bench does that), so the default
    --threads must be the one the committed file was measured with; wkv/tcja/rwkv_speed defaulted to torch's own
    count (2 here) while their committed files and the quoted figures are 1-thread runs."""
    import json

    class Parsed(Exception):
        pass

    def capture(ap, args, name):
        raise Parsed(args)

    mod = _load(script)
    monkeypatch.setattr(mod, "results_file", capture)
    monkeypatch.setattr(sys, "argv", [f"{script}.py"])
    with pytest.raises(Parsed) as exc:
        mod.main() if script == "rwkv_speed" else mod.main([])
    committed = json.loads((ROOT / "benchmarks" / "results" / f"{result}.json").read_text())
    assert exc.value.args[0].threads == committed["machine"]["torch_threads"]


def test_spikegpt_energy_refuses_a_text_too_short_to_count_on(tmp_path) -> None:
    """A short --text crashed with "shape '[8, 129]' is invalid for input of size 350" after the tokenizer; it now
    says what is too short, before any training."""
    text = tmp_path / "short.txt"
    text.write_text("hello world, this is a short text. " * 200)
    mod = _load("spikegpt_energy")
    with pytest.raises(SystemExit, match=r"too short: its held-out 5 % has 350 characters .* needs 1032 held-out"):
        mod.main(["--text", str(text), "--results", str(tmp_path / "r.json")])
    assert not (tmp_path / "r.json").exists()


def test_saved_results_record_the_options_they_were_run_with(tmp_path) -> None:
    """A results JSON named neither its options nor whether it was the default run, so a --quick or
    --checkpoint run written with --results could not be told from the reference run."""
    _common = _bench_common()
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=4)
    _common.add_results_option(ap, "x")
    rf = _common.results_file(ap, ap.parse_args(["--samples", "2", "--results", str(tmp_path / "r.json")]), "x")
    saved = json.loads(rf.save({"rows": []}).read_text())
    assert saved == {"args": {"quick": False, "samples": 2}, "rows": [], "non_default_options": ["--samples"]}


def _default_options(script: str, monkeypatch):
    """The ResultsFile of a plain ``python benchmarks/SCRIPT.py`` (what make bench runs), captured before any work."""
    class Parsed(Exception):
        pass

    mod = _load(script)
    real = mod.results_file

    def capture(ap, args, name):
        raise Parsed(real(ap, args, name))

    monkeypatch.setattr(mod, "results_file", capture)
    monkeypatch.setattr(sys, "argv", [f"{script}.py"])
    with pytest.raises(Parsed) as exc:
        mod.main() if script == "rwkv_speed" else mod.main([])
    return exc.value.args[0]


@pytest.mark.parametrize("script, result", [("lava_speed", "lava_speed"), ("neuron_speed", "neuron_speed_cpu")])
def test_committed_results_are_what_the_default_run_produces(script, result, monkeypatch) -> None:
    """make bench runs each script with its defaults; lava_speed.json had been measured on a checkpoint trained by
    hand in /tmp, which no command here produces. The committed file must record the default run's options."""
    committed = json.loads((ROOT / "benchmarks" / "results" / f"{result}.json").read_text())
    rf = _default_options(script, monkeypatch)
    assert rf.changed == [] and rf.path == ROOT / "benchmarks" / "results" / f"{result}.json"
    assert committed["non_default_options"] == [] and committed["args"] == json.loads(json.dumps(rf.args))
    if script == "lava_speed":   # its network is trained by the run itself, with the recipe it records
        assert committed["model"] == f"digits_dvs trained here ({rf.args['epochs']} epochs, seed {rf.args['seed']})"
        assert committed["model_recipe"]["epochs"] == rf.args["epochs"] == 8
        assert committed["model_recipe"]["train_samples"] == 1437


def test_neuron_speed_peak_rss_repeats_and_matches_what_autograd_keeps() -> None:
    """Peak RSS was one sample per row and glibc's moving mmap threshold made it depend on allocation history
    (SpikingJelly [16, 32, 8192] gave 100-189 MiB run to run). Now: repeated runs agree, and the growth lies
    between what autograd saves plus the input gradient and that plus two more tensors of the input's size."""
    import torch

    pytest.importorskip("spikingjelly")
    mod = _load("neuron_speed")
    shape = (8, 16, 4096)
    x_mib = torch.Size(shape).numel() * 4 / 2**20
    saved = mod.saved_bytes(mod.make_contenders("cpu")["spikingjelly"], torch.randn(shape)) / 2**20
    pk = mod.peak_rss_mib("spikingjelly", shape, runs=3)
    assert pk is not None and pk["max"] - pk["min"] < 0.5
    assert saved + x_mib - 0.5 <= pk["median"] <= saved + 3 * x_mib


def test_energy_report_accuracy_breaks_vote_ties_as_snnkit_evaluate() -> None:
    """Both classes get the same 54 votes over 16 steps, in different orders; the float32 mean puts class 1 a
    rounding step ahead (0.41875002 > 0.41874999), so a plain argmax said 1. snnkit evaluate/energy/simulate say
    class 0 (the first on a tie); the benchmark's recorded accuracy must count alike."""
    import torch

    mod = _load("energy_report")
    a = [4, 0, 0, 8, 3, 1, 1, 7, 10, 8, 3, 0, 9, 5, 8, 0]
    b = [3, 8, 4, 0, 1, 0, 9, 0, 10, 0, 5, 1, 3, 7, 8, 8]
    assert sorted(a) == sorted(b)
    out = (torch.stack([torch.tensor(a), torch.tensor(b)], -1).float() / 10)[:, None, :]  # [T=16, B=1, K=2] votes
    assert out.mean(0).argmax(-1).item() == 1  # the float rounding's pick
    assert mod.accuracy(out, torch.tensor([0])) == 1.0
    assert mod.accuracy(out, torch.tensor([1])) == 0.0
