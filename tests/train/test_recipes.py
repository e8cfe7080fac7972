"""TCJA training recipe and ``snnkit train``: data wiring, checkpoints that rebuild, bad input."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from snnkit import cli
from snnkit.models import tcja_snn
from snnkit.train.recipes import load_tcja, tcja_trainer


def _tiny_cfg() -> tcja_snn.TCJASNNConfig:
    return tcja_snn.get_config("digits_dvs", input_size=[16, 16], sensor_size=[16, 16], stages=[[4], [8]],
                               tcja_stages=[0, 1], hidden=[16], T=4, epochs=2, batch_size=8)


def _fake_frames(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset((torch.rand(n, 4, 2, 16, 16, generator=g) < 0.2).float(), torch.arange(n) % 10)


def test_recipe_trains_and_checkpoint_rebuilds_the_model(tmp_path: Path) -> None:
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=(_fake_frames(24, 0), _fake_frames(10, 1)),
                      progress=False, tensorboard=False)
    hist = tr.fit()
    assert len(hist) == 2 and 0.0 <= hist[-1]["test_acc"] <= 1.0
    model, ckpt = load_tcja(tmp_path / "last.pt")
    assert ckpt["arch"] == "tcja_snn" and ckpt["model_config"]["T"] == 4
    x = _fake_frames(3, 2).tensors[0].transpose(0, 1)
    torch.testing.assert_close(model(x), tr.model.eval()(x))


def test_checkpoint_of_another_config_is_refused(tmp_path: Path) -> None:
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=(_fake_frames(16, 0), _fake_frames(8, 1)),
                      progress=False, tensorboard=False, epochs=1)
    tr.fit()
    other = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=(_fake_frames(16, 0), _fake_frames(8, 1)),
                         progress=False, tensorboard=False, attention="none", epochs=2)
    with pytest.raises(ValueError, match="run with other settings: attention: checkpoint 'tcja' vs this run 'none'; "
                                         "T_max: checkpoint 1 vs this run 2. Resuming continues that run.*"
                                         "to train a run longer on the same schedule, keep its T_max: --t-max"):
        other.fit(resume=True)


def test_unknown_config_and_missing_dataset_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist_dvs'.*digits_dvs"):
        tcja_trainer("mnist_dvs", out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="dvs128_gesture"):
        tcja_trainer("dvs128_gesture", root=tmp_path / "nowhere", out_dir=tmp_path, progress=False)


def test_cli_train_rejects_unknown_model() -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "resnet"])


def test_recipe_overrides_reach_the_model(tmp_path: Path) -> None:
    data = (_fake_frames(8, 0), _fake_frames(4, 1))
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False, tcja_init_gain=3.0,
                      lr=0.02)
    blocks = [m for m in tr.model.modules() if isinstance(m, tcja_snn.TCJA)]
    assert blocks and all(b.init_gain == 3.0 for b in blocks)
    assert tr.model_config["tcja_init_gain"] == 3.0 and tr.model_config["lr"] == 0.02
    with pytest.raises(ValueError, match="tcja_init_gain"):
        tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tcja_init_gain=-2.0)


def test_print_config_writes_a_file_that_reads_back_equal(tmp_path: Path, capsys) -> None:
    assert cli.main(["train", "tcja", "--config", "dvs128_gesture", "--attention", "none", "--epochs", "7",
                     "--print-config"]) == 0
    path = tmp_path / "gesture.yaml"
    path.write_text(capsys.readouterr().out)
    want = tcja_snn.get_config("dvs128_gesture", attention="none", epochs=7, T_max=7)
    assert tcja_snn.load_config(path) == want
    assert tcja_snn.resolve_config(str(path)) == want and tcja_snn.resolve_config(path, lr=0.5).lr == 0.5


def test_config_file_with_base_reaches_the_model(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    path.write_text('{"base": "digits_dvs", "input_size": [16, 16], "sensor_size": [16, 16], "stages": [[4], [8]], '
                    '"tcja_stages": [0, 1], "hidden": [16], "T": 4, "epochs": 1, "batch_size": 8, "attention": "c_xa"}')
    tr = tcja_trainer(str(path), out_dir=tmp_path / "run", data=(_fake_frames(8, 0), _fake_frames(4, 1)),
                      progress=False, tensorboard=False)
    assert tr.model_config["stages"] == [[4], [8]] and tr.model_config["attention"] == "c_xa"
    assert [m.mode for m in tr.model.modules() if isinstance(m, tcja_snn.TCJA)] == ["c_xa", "c_xa"]
    assert tr.model_config["T_max"] == 1 and tr.scheduler.T_max == 1  # epochs alone moves T_max, as --epochs does
    assert len(tr.fit()) == 1


def test_config_file_with_base_keeps_an_explicit_T_max(tmp_path: Path) -> None:
    path = tmp_path / "paper_schedule.yaml"
    path.write_text("base: dvs128_gesture\nepochs: 200\nT_max: 1024\n")
    cfg = tcja_snn.resolve_config(str(path))
    assert (cfg.epochs, cfg.T_max) == (200, 1024)
    assert tcja_snn.resolve_config(str(path), epochs=50).T_max == 50  # the command line wins over the file


@pytest.mark.parametrize("text, message", [
    ('{"base": "mnist_dvs"}', r"small.json': get_config: unknown dataset 'mnist_dvs'"),
    ('{"base": "digits_dvs", "chanels": 3}', r"small.json': config 'digits_dvs': unknown field 'chanels' \(did you mean 'in_channels'\?\)"),
    ('{"name": "digits_dvs", "stages": "wide"}', r"small.json': .*stages must be a non-empty list.*got 'wide'"),
    ('{"base": "digits_dvs", "attention": "spatial"}', r"small.json': .*attention"),
    ('[1, 2]', "must hold a mapping"),
    ('{"base": "digits_dvs", "lr": "3e-3"}', r"lr must be a positive number, got '3e-3' \(text, not a number"),
    ('{"base": "digits_dvs", "stages": 5}', "stages must be a non-empty list of non-empty lists"),
    ('{"base": "digits_dvs", "input_size": 5}', r"input_size must be \[H, W\] of positive ints"),
    ('{"base": "digits_dvs", "tcja_kernels": [1, 2]}', "tcja_kernels must be a list of .kernel_t, kernel_c. pairs"),
    ('{"base": "digits_dvs", "epochs": -3}', "epochs must be a positive int, got -3"),
    ('{"base": "digits_dvs", "detach_reset": "yes"}', "detach_reset must be true or false"),
    ('{"base": ', "is not valid JSON"),
])
def test_bad_config_files_are_named_in_the_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "small.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        tcja_snn.load_config(path)


def test_config_file_naming_an_unknown_dataset_fails_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    cfg = tcja_snn.get_config("digits_dvs")
    path = tmp_path / "mine.yaml"
    import dataclasses

    import yaml

    path.write_text(yaml.safe_dump({**dataclasses.asdict(cfg), "name": "mnist_dvs"}))
    assert cli.main(["train", "tcja", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'mnist_dvs' (did you mean 'digits_dvs'?)" in err and f"config file {str(path)!r}" in err
    assert not (tmp_path / "run").exists()
    path.write_text("base: digits_dvs\nname: cifar10_dvs\n")   # a known dataset the fields do not fit
    assert cli.main(["train", "tcja", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert f"config file {str(path)!r}: config 'cifar10_dvs' does not fit the cifar10_dvs dataset: sensor_size" in \
        capsys.readouterr().err
    assert cli.main(["train", "tcja", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "config file" in capsys.readouterr().err
    assert cli.main(["train", "spikegpt", "--print-config"]) == 2


def test_yaml_config_file_with_base_and_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("base: digits_dvs\nname: n_mnist\nlr: 3.0e-3\n")
    cfg = tcja_snn.load_config(path)
    assert cfg.name == "n_mnist" and cfg.lr == 0.003 and cfg.stages == tcja_snn.get_config("digits_dvs").stages
    path.write_text("base: digits_dvs\nlr: 3e-3\n")  # YAML 1.1 reads this as text
    with pytest.raises(ValueError, match="mine.yaml': .*lr must be a positive number.*write 3.0e-3 or 0.003"):
        tcja_snn.load_config(path)
    path.write_text('base: digits_dvs\nT: "8"\n')  # quoted: text, and the 3e-3 hint would not apply
    with pytest.raises(ValueError, match=r"T must be a positive int, got '8' \(text, not a number: remove the quotes\)"):
        tcja_snn.load_config(path)


def test_every_config_field_has_a_type_check() -> None:
    import dataclasses

    assert set(tcja_snn._FIELD_CHECKS) == {f.name for f in dataclasses.fields(tcja_snn.TCJASNNConfig)}
    for name in tcja_snn.CONFIGS:  # the shipped configs pass them
        tcja_snn.get_config(name).validate()


def test_unreadable_config_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(IsADirectoryError, match="dir.yaml' is a directory"):
        tcja_snn.load_config(tmp_path / "dir.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"base: digits_dvs\nnotes: caf\xe9\n")
    with pytest.raises(ValueError, match="latin.yaml' is not UTF-8 text"):
        tcja_snn.load_config(tmp_path / "latin.yaml")



def test_cosine_schedule_follows_the_config_T_max_not_epochs(tmp_path: Path) -> None:
    """The paper anneals over T_max=1024 epochs whatever the run length: lr after epoch 1 is the cosine of 1/T_max."""
    cfg = tcja_snn.resolve_config(_tiny_cfg(), T_max=10, epochs=1)
    tr = tcja_trainer(cfg, out_dir=tmp_path, data=(_fake_frames(8, 0), _fake_frames(4, 1)), progress=False,
                      tensorboard=False)
    assert tr.scheduler.T_max == 10
    tr.fit()
    lr0 = cfg.lr
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(lr0 * (1 + math.cos(math.pi / 10)) / 2)
    # an epochs override alone also moves T_max (a shorter run anneals fully)
    assert tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=(_fake_frames(8, 0), None), progress=False,
                        epochs=3).scheduler.T_max == 3


def test_step_schedule_as_the_scripts_steplr(tmp_path: Path, capsys) -> None:
    """scheduler: step is the scripts' -lr_scheduler StepLR: the rate times step_gamma every step_size epochs."""
    import yaml

    cfg = tcja_snn.resolve_config(_tiny_cfg(), scheduler="step", step_size=2, step_gamma=0.5, epochs=5)
    tr = tcja_trainer(cfg, out_dir=tmp_path, data=(_fake_frames(8, 0), None), progress=False, tensorboard=False)
    assert isinstance(tr.scheduler, torch.optim.lr_scheduler.StepLR)
    lrs = []
    for _ in range(cfg.epochs):
        lrs.append(tr.optimizer.param_groups[0]["lr"])
        tr.optimizer.step()   # no gradients: changes nothing, keeps PyTorch's step-order check quiet
        tr.scheduler.step()
    assert lrs == pytest.approx([cfg.lr, cfg.lr, cfg.lr / 2, cfg.lr / 2, cfg.lr / 4])  # by hand
    # a step (or constant) schedule does not read T_max: a run resumes for more epochs without --t-max
    tcja_trainer(cfg, out_dir=tmp_path / "run", data=(_fake_frames(8, 0), None), progress=False, tensorboard=False,
                 epochs=2).fit()
    more = tcja_trainer(cfg, out_dir=tmp_path / "run", data=(_fake_frames(8, 0), None), progress=False,
                        tensorboard=False, epochs=3)
    assert len(more.fit(resume=True)) == 3
    assert more.optimizer.param_groups[0]["lr"] == pytest.approx(cfg.lr / 2)   # epochs 1, 2 at lr; 3 at lr / 2
    assert cli.main(["train", "tcja", "--scheduler", "step", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert (printed["scheduler"], printed["step_size"], printed["step_gamma"]) == ("step", 32, 0.1)


def test_cli_train_passes_workers_device_and_amp(tmp_path: Path, monkeypatch) -> None:
    seen = {}

    class Stop(Exception):
        pass

    def fake(cfg, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr("snnkit.train.recipes.tcja_trainer", fake)
    with pytest.raises(Stop):
        cli.main(["train", "tcja", "--workers", "3", "--device", "cpu", "--amp", "bf16", "--out", str(tmp_path)])
    assert (seen["num_workers"], seen["device"], seen["amp"]) == (3, "cpu", "bf16")


@pytest.mark.parametrize("kw, message", [
    (dict(device="cuda:0"), "CUDA is not available") if not torch.cuda.is_available() else (dict(device="tpu"), "device"),
    (dict(device="gpu"), "TrainConfig.device must be 'auto' or a torch device"),
    (dict(num_workers=-1), "num_workers must be a non-negative integer"),
    (dict(amp="fp8"), "TrainConfig.amp must be one of"),
])
def test_bad_device_workers_amp_fail_before_loading_data(tmp_path: Path, kw, message, monkeypatch) -> None:
    monkeypatch.setattr("snnkit.data.load", lambda *a, **k: pytest.fail("data loaded before the check"))
    with pytest.raises(ValueError, match=message):
        tcja_trainer("digits_dvs", out_dir=tmp_path, **kw)


@pytest.mark.parametrize("config, override, want", [
    ("cifar10_dvs", None, True),    # the original CIFAR10-DVS script flips and rolls its training frames
    ("cifar10_dvs", False, False),
    ("dvs128_gesture", None, False),  # the Gesture script does not
    ("dvs128_gesture", True, True),
])
def test_training_augmentation_follows_the_config(tmp_path: Path, monkeypatch, config, override, want) -> None:
    seen = {}

    def fake_data(cfg, root, **kw):
        seen.update(kw)
        raise FileNotFoundError("stop here")

    monkeypatch.setattr("snnkit.train.recipes.tcja_data", fake_data)
    with pytest.raises(FileNotFoundError, match="stop here"):
        tcja_trainer(config, out_dir=tmp_path, augment=override)
    assert seen["augment"] is want


def test_cli_no_augment_reaches_the_config(capsys) -> None:
    import yaml

    assert cli.main(["train", "tcja", "--config", "cifar10_dvs", "--no-augment", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["augment"] is False
    assert cli.main(["train", "tcja", "--config", "cifar10_dvs", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["augment"] is True


def test_checkpoint_from_before_a_new_config_field_still_resumes(tmp_path: Path) -> None:
    """Checkpoints written before `augment` existed lack it: read as the default (False), they resume."""
    data = (_fake_frames(16, 0), _fake_frames(8, 1))
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False)
    tr.fit(stop_after=1)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=False)
    del ckpt["model_config"]["augment"]
    torch.save(ckpt, tmp_path / "last.pt")
    again = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False)
    assert len(again.fit(resume=True)) == 2
    other = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False, augment=True)
    torch.save(ckpt, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="augment: checkpoint False vs this run True"):
        other.fit(resume=True)



@pytest.mark.parametrize("loss, resumes", [("mse", True), ("tet", False)])
def test_checkpoint_without_tet_lamb(tmp_path: Path, loss: str, resumes: bool) -> None:
    """A checkpoint lacking `tet_lamb` trained with the TET loss's then fixed lamb 1e-3: a run with tet_lamb 0 (the
    plain configs') resumes from it unless its loss reads tet_lamb, which is then named."""
    data = (_fake_frames(16, 0), _fake_frames(8, 1))
    cfg = dataclasses.replace(_tiny_cfg(), loss=loss, tet_lamb=0.0)
    tcja_trainer(cfg, out_dir=tmp_path, data=data, progress=False, tensorboard=False).fit(stop_after=1)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ckpt["model_config"]["tet_lamb"] == 0.0
    del ckpt["model_config"]["tet_lamb"]
    torch.save(ckpt, tmp_path / "last.pt")
    again = tcja_trainer(cfg, out_dir=tmp_path, data=data, progress=False, tensorboard=False)
    if resumes:
        assert len(again.fit(resume=True)) == 2
    else:
        with pytest.raises(ValueError, match="tet_lamb: checkpoint 0.001 vs this run 0.0"):
            again.fit(resume=True)

def test_config_of_a_checkpoint_trains_again(tmp_path: Path, capsys) -> None:
    """--config run/best.pt: the config that run trained with (to train it again, changed); other files refused."""
    import yaml

    data = (_fake_frames(16, 0), _fake_frames(8, 1))
    tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False).fit()
    assert tcja_snn.resolve_config(str(tmp_path / "best.pt")) == dataclasses.replace(_tiny_cfg(), surrogate_alpha=2.0)
    assert cli.main(["train", "tcja", "--config", str(tmp_path / "best.pt"), "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["stages"] == [[4], [8]]
    torch.save({"arch": "spikegpt", "model_config": {}}, tmp_path / "lm.pt")
    with pytest.raises(ValueError, match=r"lm.pt' is not a TCJA-SNN checkpoint written by snnkit train tcja \(arch "
                                         r"'spikegpt'\)"):
        tcja_snn.resolve_config(str(tmp_path / "lm.pt"))
    with pytest.raises(FileNotFoundError, match="none.pt' does not exist"):
        tcja_snn.resolve_config(tmp_path / "none.pt")


def test_checkpoint_records_the_surrogate_alpha_the_network_uses(tmp_path: Path) -> None:
    """surrogate_alpha: null means the surrogate's own alpha; checkpoints record it (ATan's 2.0, the field's old
    default), so a run resumes from one written either way, and another alpha is refused."""
    data = (_fake_frames(16, 0), _fake_frames(8, 1))
    assert _tiny_cfg().surrogate_alpha is None and _tiny_cfg().surrogate == "atan"
    tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False).fit(stop_after=1)
    assert torch.load(tmp_path / "last.pt", weights_only=False)["model_config"]["surrogate_alpha"] == 2.0
    again = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False)
    assert len(again.fit(resume=True)) == 2
    other = tcja_trainer(dataclasses.replace(_tiny_cfg(), surrogate_alpha=3.0), out_dir=tmp_path, data=data,
                         progress=False, tensorboard=False)
    with pytest.raises(ValueError, match="surrogate_alpha: checkpoint 2.0 vs this run 3.0"):
        other.fit(resume=True)


def test_cifar10_dvs_split_is_the_scripts_whatever_the_seed(tmp_path: Path, monkeypatch) -> None:
    """TCJA's scripts train on the first 90 % of each class's sorted files; the run's seed must not move that."""
    from snnkit import data as D
    from snnkit.train.recipes import tcja_data
    from tests.data.native import make_cifar10_dvs

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    root = make_cifar10_dvs(tmp_path / "data", per_class=10, n_events=40)
    cfg = tcja_snn.get_config("cifar10_dvs", T=2)
    names = {s: tcja_data(cfg, root, seed=s, progress=False)[1].names for s in (0, 1)}
    assert names[0] == names[1]
    # by hand: of cifar10_<class>_0 ... _9 sorted as text, 9 train and the last one ('_9') is the test sample
    assert sorted(n.split("/")[-1] for n in names[0]) == sorted(f"cifar10_{c}_9.aedat" for c in
                                                                 D.neuromorphic.CIFAR10_CLASSES)
    shuffled = tcja_data(tcja_snn.resolve_config(cfg, split_seed=3), root, progress=False)[1].names
    assert shuffled != names[0]
    # `snnkit data prepare` builds the same cache by default
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--frames", "2", "--no-progress"]) == 0
    assert len(list((tmp_path / "cache").glob("cifar10_dvs-test-*.h5"))) == 2  # the scripts' order + split_seed 3


def test_max_train_draws_from_every_class() -> None:
    from snnkit.train.recipes import subset_indices

    labels = torch.arange(1000) // 100  # listed class by class, as the datasets are
    idx = subset_indices(1000, 50, seed=0)
    assert idx == sorted(torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:50].tolist())
    assert len(set(labels[idx].tolist())) >= 8  # the first 50 would all be class 0
    assert subset_indices(1000, 50, seed=1) != idx
    with pytest.raises(ValueError, match="max_train must be a positive integer"):
        subset_indices(10, 0, seed=0)


def test_config_files_refuse_duplicate_keys_and_attention_without_a_block(tmp_path, capsys) -> None:
    """A key written twice kept only its last value, and attention with no TCJA stage trained no block."""
    from snnkit.train.config import read_config

    cases = {"dup.yaml": ("base: digits_dvs\nlr: 0.001\nepochs: 3\nlr: 0.01\n", "key 'lr' is given twice"),
             "dup.json": ('{"base": "digits_dvs", "lr": 0.1, "lr": 0.2}', "key 'lr' is given twice"),
             "none.yaml": ("base: digits_dvs\nattention: t_xa\ntcja_stages: []\ntcja_kernels: []\n",
                           "tcja_stages must be at least one stage with attention 't_xa'")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        assert cli.main(["train", "tcja", "--config", str(tmp_path / name), "--print-config"]) == 2
        err = capsys.readouterr().err
        assert message in err and name in err, err
    # YAML merge keys may still be overridden, and the same key in two mappings is fine
    (tmp_path / "merge.yaml").write_text("a: &x {lr: 1, epochs: 2}\nb:\n  <<: *x\n  lr: 3\n")
    assert read_config(tmp_path / "merge.yaml") == {"a": {"lr": 1, "epochs": 2}, "b": {"lr": 3, "epochs": 2}}
    (tmp_path / "ok.yaml").write_text("base: digits_dvs\nattention: none\ntcja_stages: []\ntcja_kernels: []\n")
    assert cli.main(["train", "tcja", "--config", str(tmp_path / "ok.yaml"), "--print-config"]) == 0
