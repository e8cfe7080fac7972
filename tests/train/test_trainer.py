"""Trainer: learns, logs, checkpoints atomically, resumes bit for bit, refuses foreign checkpoints, DDP."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnkit.train import TrainConfig, Trainer, load_checkpoint
from tests.train._tiny import TinySNN, dataset

ROOT = Path(__file__).resolve().parents[2]


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=16, lr=2e-2, out_dir=str(tmp_path), progress=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _model(seed: int = 0) -> TinySNN:
    torch.manual_seed(seed)
    return TinySNN()


def test_trains_logs_and_checkpoints(tmp_path: Path) -> None:
    tr = Trainer(_model(), dataset(), dataset(n=60, seed=1), _cfg(tmp_path, epochs=6, tensorboard=True))
    hist = tr.fit()
    assert hist[-1]["test_acc"] > 0.8  # chance is 1/3
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    assert any((tmp_path / "tensorboard").iterdir())
    assert not list(tmp_path.glob("*.tmp"))
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 6 and ckpt["config"]["lr"] == 2e-2 and "rng" in ckpt


def test_resume_is_bit_for_bit(tmp_path: Path) -> None:
    full = Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(tmp_path / "a", tensorboard=False))
    full.fit()
    part = Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(tmp_path / "b", tensorboard=False))
    part.fit(stop_after=1)
    assert part.epoch == 1
    resumed = Trainer(_model(seed=99), dataset(), dataset(n=30, seed=1), _cfg(tmp_path / "b", tensorboard=False))
    resumed.fit(resume=True)
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]


def test_a_run_stopped_between_its_two_checkpoints_keeps_best_pt_right(tmp_path: Path, monkeypatch) -> None:
    """Stopped right after the first checkpoint write of an improving epoch, then resumed: best.pt still ends as
    the best epoch's (with last.pt written first, the resumed run had nothing left to train and best.pt stayed at
    the epoch before)."""
    def trainer(out: Path) -> Trainer:
        return Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(out, epochs=6, tensorboard=False))

    ref = trainer(tmp_path / "ref").fit()
    accs = [r["test_acc"] for r in ref]
    stop = accs.index(max(accs)) + 1   # the best epoch: no later one rewrites best.pt
    assert stop >= 2
    real_save = Trainer.save

    def save_then_stop(self, path):
        out = real_save(self, path)
        if self.epoch == stop:
            raise KeyboardInterrupt   # SIGINT between the two writes
        return out

    monkeypatch.setattr(Trainer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        trainer(tmp_path / "run").fit()
    monkeypatch.setattr(Trainer, "save", real_save)
    hist = trainer(tmp_path / "run").fit(resume=True)
    assert [r["test_acc"] for r in hist] == accs
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == accs.index(max(accs)) + 1


def test_resumed_run_replaces_tensorboard_points_of_the_interrupted_one(tmp_path: Path) -> None:
    """A run stopped after logging an epoch but before its checkpoint logs that epoch again on resume: TensorBoard
    shows it once (the writer purges the earlier run's events from there on), as metrics.csv does."""
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def trainer() -> Trainer:
        return Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(tmp_path, epochs=3, tensorboard=True))

    trainer().fit(stop_after=2)
    shutil.copy(tmp_path / "last.pt", tmp_path / "epoch2.pt")
    trainer().fit(resume=True)                              # logs epoch 3 ...
    shutil.copy(tmp_path / "epoch2.pt", tmp_path / "last.pt")  # ... but its checkpoint never reached the disk
    hist = trainer().fit(resume=True)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    points = [(e.step, e.value) for e in acc.Scalars("train_loss")]
    assert [step for step, _ in points] == [1, 2, 3]
    assert [v for _, v in points] == pytest.approx([r["train_loss"] for r in hist])
    assert [int(r["epoch"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))] == [1, 2, 3]


def test_progress_bar_does_not_change_the_result(tmp_path: Path) -> None:
    """Seeded training is the same with and without a progress bar (tqdm must not draw from the RNG)."""
    runs = []
    for progress in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Dropout(0.3), TinySNN())   # dropout reads the global RNG
        tr = Trainer(model, dataset(), dataset(n=30, seed=1), _cfg(tmp_path / str(progress), epochs=2,
                                                                      progress=progress, tensorboard=False))
        runs.append((tr.fit(), tr.model.state_dict()))
    (h0, s0), (h1, s1) = runs
    assert [r["train_loss"] for r in h0] == [r["train_loss"] for r in h1]
    assert all(torch.equal(s0[k], s1[k]) for k in s0)


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    tr = Trainer(_model(), dataset(), None, _cfg(tmp_path, epochs=1, tensorboard=False), arch="tiny")
    tr.fit()
    other = TinySNN(hidden=10)
    with pytest.raises(ValueError, match="different architecture.*shape mismatch"):
        load_checkpoint(tmp_path / "last.pt", other)
    with pytest.raises(ValueError, match="holds a 'tiny' model, expected 'tcja'"):
        load_checkpoint(tmp_path / "last.pt", arch="tcja")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict({"epochs": 2, "epoch": 3})


@pytest.mark.parametrize("kw, message", [
    (dict(scheduler="step", step_size=0), "step_size must be a positive integer, got 0"),  # ZeroDivisionError, epoch 1
    (dict(seed=-1, mixup=0.5), "seed must be a non-negative integer, got -1"),  # numpy's SeedSequence, first batch
    (dict(seed=1.5), "seed must be a non-negative integer, got 1.5"),
    (dict(grad_clip=float("nan")), "grad_clip must be a finite number >= 0"),  # trained unclipped, silently
    (dict(grad_clip=-1.0), "grad_clip must be a finite number >= 0"),
    (dict(gamma=0.0, scheduler="step"), "gamma must be a finite number > 0"),
    (dict(weight_decay=-1e-4), "weight_decay must be a finite number >= 0"),
    (dict(momentum=float("inf"), optimizer="sgd"), "momentum must be a finite number >= 0"),
])
def test_bad_numbers_are_refused_when_the_config_is_made(tmp_path: Path, kw, message) -> None:
    """Each of these was accepted and then failed late (after an epoch, at the first batch) or changed nothing."""
    with pytest.raises(ValueError, match=f"TrainConfig.{message}"):
        Trainer(TinySNN(), dataset(n=16), None, _cfg(tmp_path, epochs=1, batch_size=16, tensorboard=False, **kw)).fit()


def test_config_round_trips_json_and_yaml(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=7, lr=0.01, scheduler="step")
    for name in ("c.json", "c.yaml"):
        assert TrainConfig.load(cfg.save(tmp_path / name)) == cfg


@pytest.mark.slow
def test_ddp_two_processes_equals_one_process_with_double_batch(tmp_path: Path) -> None:
    """2 gloo ranks x batch 8 average gradients exactly like 1 process x batch 16."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           str(ROOT / "tests/train/ddp_worker.py"), str(tmp_path / "ddp"), "8"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp" / "final_weights.pt")
    torch.manual_seed(0)
    model = TinySNN()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=2e-2, out_dir=str(tmp_path / "single"), tensorboard=False,
                      progress=False, seed=3)
    Trainer(model, dataset(), dataset(n=30, seed=1), cfg).fit()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ddp[k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_config_differences_names_only_the_changed_entries() -> None:
    from snnkit.train.checkpoint import config_differences

    saved = {"T": 8, "attention": "tcja", "stages": [[16], [32]], "old_only": 1, "notes": "old text"}
    wanted = {"T": 8, "attention": "none", "stages": [[16], [64]], "new_only": 2, "notes": "new text"}
    assert config_differences(saved, wanted) == (
        "attention: checkpoint 'tcja' vs this run 'none'; stages: checkpoint [[16], [32]] vs this run [[16], [64]]; "
        "old_only: checkpoint 1 vs this run absent; new_only: checkpoint absent vs this run 2")
    assert config_differences({"a": 1, "b": 1}, {"a": 2, "b": 2}, limit=1) == "a: checkpoint 1 vs this run 2 ..."
    assert config_differences(None, {"a": 1}) == "model config None vs this run {'a': 1}"
    assert config_differences({"T": 8, "notes": "16 seeds"}, {"T": 8, "notes": "40 seeds"}) == ""  # notes: free text


def test_resume_ignores_edited_notes(tmp_path: Path) -> None:
    """A config whose description changed between releases still resumes (notes do not change the run)."""
    cfg = _cfg(tmp_path, epochs=2, tensorboard=False)
    Trainer(_model(), dataset(), None, cfg, model_config={"hidden": 24, "notes": "old"}).fit(stop_after=1)
    tr = Trainer(_model(), dataset(), None, cfg, model_config={"hidden": 24, "notes": "new"})
    assert len(tr.fit(resume=True)) == 2
    other = Trainer(_model(), dataset(), None, cfg, model_config={"hidden": 25, "notes": "new"})
    with pytest.raises(ValueError, match="other settings: hidden: checkpoint 24 vs this run 25. Resuming"):
        other.fit(resume=True)


def test_format_epoch_by_hand() -> None:
    from snnkit.train.metrics import format_epoch

    row = {"epoch": 3, "train_loss": 0.07126, "train_acc": 0.8531, "lr": 0.0027, "test_loss": 0.065,
           "test_acc": 0.881, "seconds": 5.06}
    assert format_epoch(row, 15, 0.9) == ("epoch 3/15: train loss 0.0713 acc 85.3% | test loss 0.0650 acc 88.1% "
                                          "(best 90.0%) | lr 2.70e-03 | 5.1 s")
    assert format_epoch({"epoch": 1, "train_loss": 2.0, "lr": 1e-3, "seconds": 0.04}, 2, float("-inf")) == (
        "epoch 1/2: train loss 2.0000 | lr 1.00e-03 | 0.0 s")


@pytest.mark.parametrize("progress", [True, False])
def test_one_line_per_epoch_only_with_progress(tmp_path: Path, capsys, progress: bool) -> None:
    tr = Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(tmp_path, epochs=2, progress=progress,
                                                                  tensorboard=False))
    hist = tr.fit()
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch ")]
    if progress:
        from snnkit.train.metrics import format_epoch

        assert lines == [format_epoch(hist[0], 2, hist[0]["test_acc"]),
                         format_epoch(hist[1], 2, max(h["test_acc"] for h in hist))]
    else:
        assert lines == []


def test_label_prefixes_the_epoch_lines(tmp_path: Path, capsys) -> None:
    tr = Trainer(_model(), dataset(), None, _cfg(tmp_path, epochs=1, progress=True, tensorboard=False), label="run A")
    tr.fit()
    assert [l for l in capsys.readouterr().out.splitlines() if "epoch 1/1" in l][0].startswith("[run A] epoch 1/1: ")


@pytest.mark.parametrize("workers", [0, 2])
def test_augmentation_draws_change_every_epoch(tmp_path: Path, workers: int) -> None:
    """Each epoch feeds sample i as FrameDataset[(i, epoch)] (the dataset's own epoch-keyed draw), through a Subset."""
    from snnkit import data as D
    from snnkit.train import distributed as dist
    from tests.data.native import make_nmnist

    root = make_nmnist(tmp_path / "data", per_class=2)
    frames, _ = D.load("n_mnist", root=root, frames=4, augment=True, progress=False, cache_dir=tmp_path / "cache",
                       in_memory=False)
    train = torch.utils.data.Subset(frames, range(12))  # as --max-train wraps it
    fed = []

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(1, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [T, B, 2, H, W]
            fed.append(x.transpose(0, 1).clone())
            return self.lin(x[:, :, :1, :1, :1].flatten(2))

    cfg = _cfg(tmp_path / "run", epochs=3, batch_size=12, scheduler="none", tensorboard=False, num_workers=workers)
    Trainer(Probe(), train, None, cfg).fit()
    for epoch, batch in enumerate(fed):
        order = dist.epoch_indices(12, cfg.seed, epoch, shuffle=True, pad=True)
        want = torch.stack([frames[(i, epoch)][0] for i in order])
        torch.testing.assert_close(batch, want, rtol=0, atol=0)
    assert not torch.equal(frames[(0, 0)][0], frames[(0, 1)][0])  # the draws do differ between epochs


def test_summary_line_names_the_run(tmp_path: Path) -> None:
    train, test = dataset(40, seed=0), dataset(10, seed=1)
    model = _model()
    n = sum(p.numel() for p in model.parameters())
    tr = Trainer(model, train, test, _cfg(tmp_path, epochs=1, device="cpu", amp="bf16"), label="tiny")
    assert tr.summary() == (f"[tiny] {n:,} parameters; train 40, test 10 samples; 1 epoch of batch 16; adam lr 0.02, "
                            f"cosine schedule; cpu (amp bf16, 0 workers); outputs in {tmp_path}")


@pytest.mark.parametrize("drop_last, steps", [(False, 3), (True, 2)])
def test_drop_last_leaves_out_the_partial_training_batch(tmp_path: Path, drop_last: bool, steps: int) -> None:
    sizes = []

    class Count(TinySNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            sizes.append(x.shape[1]) if self.training else None
            return super().forward(x)

    torch.manual_seed(0)
    cfg = _cfg(tmp_path, epochs=1, batch_size=16, drop_last=drop_last, tensorboard=False)
    Trainer(Count(), dataset(40, seed=0), None, cfg).fit()
    assert sizes == [16, 16, 8][:steps]  # 40 samples: 16 + 16 + 8


def test_deterministic_sets_cudnn_flags(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    Trainer(_model(), dataset(8), None, _cfg(tmp_path))
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


@pytest.mark.slow
def test_ddp_evaluates_a_test_set_smaller_than_the_ranks(tmp_path: Path) -> None:
    """2 gloo ranks, a BatchNorm model and one test sample: rank 1 has no evaluation batch. Evaluating through the
    DDP wrapper hung (its forward broadcast the buffers, a collective rank 1 never joined); the logged accuracy is
    rank 0's model scored on that sample in one process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29518",
           str(ROOT / "tests/train/ddp_eval_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from tests.train.ddp_eval_worker import BNNet, test_set

    ckpt = load_checkpoint(tmp_path / "last.pt")
    model = BNNet()
    model.load_state_dict(ckpt["model"])
    x, y = test_set()[0]
    with torch.no_grad():
        pred = int(model.eval()(x[:, None]).mean(0).argmax(-1))
    assert [r["test_acc"] for r in ckpt["history"]][-1] == float(pred == int(y))
    assert len(ckpt["history"]) == 2


def test_a_second_fit_continues_like_one_uninterrupted_run(tmp_path: Path) -> None:
    """fit(stop_after=1) then fit() on the same trainer equals one fit(): the second call does not re-seed the RNG
    (it did, so the dropout masks of the later epochs repeated the first epoch's)."""
    def trainer(out: Path) -> Trainer:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Dropout(0.3), TinySNN())
        return Trainer(model, dataset(), dataset(n=30, seed=1), _cfg(out, tensorboard=False))

    full, split = trainer(tmp_path / "a"), trainer(tmp_path / "b")
    full.fit()
    split.fit(stop_after=1)
    split.fit()
    assert [r["train_loss"] for r in split.history] == [r["train_loss"] for r in full.history]
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), split.model.state_dict().values()))


def test_the_seed_fixes_numpy_and_python_draws_too(tmp_path: Path) -> None:
    """A dataset augmenting with numpy's or Python's global RNG gives the same run twice for one seed (fit seeded
    only torch: the second run went on from the first one's numpy and Python streams)."""
    import random

    import numpy as np

    class Noisy(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.base = dataset(48)

        def __len__(self) -> int:
            return len(self.base)

        def __getitem__(self, i: int):
            x, y = self.base[i]
            return x * float(np.random.uniform(0.5, 1.5)) * random.uniform(0.5, 1.5), y

    runs = []
    for name in ("a", "b"):
        np.random.seed(len(runs))   # whatever state the caller left
        random.seed(len(runs))
        fed = []

        class Probe(TinySNN):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                fed.append(x.clone())
                return super().forward(x)

        torch.manual_seed(0)
        Trainer(Probe(), Noisy(), None, _cfg(tmp_path / name, epochs=2, tensorboard=False)).fit()
        runs.append(torch.cat(fed, 1))
    assert torch.equal(runs[0], runs[1])


def test_a_diverged_run_stops_with_a_clear_message_and_keeps_its_last_good_checkpoint(tmp_path: Path) -> None:
    """A NaN loss makes the weights NaN: training stops at that epoch instead of writing them over last.pt."""
    holder = {}

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = torch.nn.functional.cross_entropy(out.mean(0), y)
        return ce * float("nan") if holder["tr"].epoch == 1 else ce

    holder["tr"] = tr = Trainer(_model(), dataset(), dataset(n=30, seed=1), _cfg(tmp_path, tensorboard=False),
                                loss_fn=loss)
    with pytest.raises(FloatingPointError, match="training diverged in epoch 2: parameters fc1.weight, .* hold NaN "
                                                 "or inf \\(train loss nan\\); last.pt keeps epoch 1: lower the lr"):
        tr.fit()
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert [int(r["epoch"]) for r in csv.DictReader(open(tmp_path / "metrics.csv"))] == [1]


@pytest.mark.slow
def test_ddp_resume_restores_every_ranks_rng(tmp_path: Path) -> None:
    """2 gloo ranks whose RNG streams part (a model sampling in evaluation, 16/15 test samples): stopped after
    epoch 1 and resumed, the run ends with the uninterrupted run's weights. Checkpoints held rank 0's RNG state
    only and resume gave it to rank 1 too, so rank 1's later dropout masks and spikes changed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29519",
           str(ROOT / "tests/train/ddp_resume_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = torch.load(tmp_path / "weights.pt")
    for k, v in weights["full"].items():
        assert torch.equal(weights["resumed"][k], v), k
    assert len(load_checkpoint(tmp_path / "split" / "last.pt")["rank_rngs"]) == 2


def test_resume_across_devices_with_amp_auto(tmp_path: Path, monkeypatch) -> None:
    """amp 'auto' means off on the CPU and fp16 on CUDA: a CPU run resumed where it means fp16 (simulated here
    with a CPU GradScaler) used to fail in GradScaler.load_state_dict on the disabled scaler's empty state; it
    now starts the scaler afresh and says the run is not bit for bit. The other way round loads as before."""
    cfg = _cfg(tmp_path, epochs=3, tensorboard=False)
    Trainer(_model(), dataset(n=48), None, cfg).fit(stop_after=1)
    with monkeypatch.context() as m:
        m.setattr(Trainer, "_amp_dtype", lambda self: torch.float16)
        with pytest.warns(UserWarning) as record:
            tr = Trainer(_model(), dataset(n=48), None, cfg)
            assert tr.scaler.is_enabled()
            assert len(tr.fit(resume=True, stop_after=1)) == 2
        assert any("without fp16 loss scaling and this run trains with it" in str(w.message) for w in record)
        assert load_checkpoint(tmp_path / "last.pt")["scaler"]["scale"] > 0
    with pytest.warns(UserWarning, match="with fp16 loss scaling and this run trains without it"):
        assert len(Trainer(_model(), dataset(n=48), None, cfg).fit(resume=True)) == 3


@pytest.mark.parametrize("n, ranks", [(1, 3), (2, 5), (1, 4), (5, 2), (7, 3), (12, 4)])
def test_training_shards_match_distributed_sampler(n: int, ranks: int, monkeypatch) -> None:
    """Every rank's padded training shard is torch's DistributedSampler's (unshuffled, so both start from
    range(n)). With fewer samples than ranks - 1 the padding wrapped around once only: 1 sample on 3 ranks gave
    rank 2 no batch, so it skipped the gradient all-reduce the others waited in."""
    from torch.utils.data.distributed import DistributedSampler

    from snnkit.train import distributed as dist

    monkeypatch.setattr(dist, "world_size", lambda: ranks)
    for r in range(ranks):
        monkeypatch.setattr(dist, "rank", lambda r=r: r)
        ref = list(DistributedSampler(range(n), num_replicas=ranks, rank=r, shuffle=False))
        assert dist.epoch_indices(n, 0, 0, shuffle=False, pad=True) == ref
        assert len(dist.epoch_indices(n, 3, 1, shuffle=True, pad=True)) == len(ref)


def test_evaluation_runs_in_full_precision_whatever_the_amp(tmp_path: Path) -> None:
    """amp autocasts the training steps only, as the TCJA scripts (their test loop has no autocast): the logged test
    accuracy equals `snnkit evaluate`'s (classification_report, fp32, same batches). Under bf16 autocast evaluation
    scored 74/300 where fp32 scores 73."""
    from snnkit.train.evaluate import classification_report

    torch.manual_seed(0)
    model = TinySNN()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(6)  # a net that spikes (the untrained one is silent, every precision scores alike)
    test = dataset(n=300, seed=1)
    ref = classification_report(model, test, 3, batch_size=32, device="cpu", input_layout="BT").accuracy
    assert ref == 73 / 300
    for amp in ("off", "bf16"):
        tr = Trainer(model, dataset(n=8), test, _cfg(tmp_path / amp, amp=amp, batch_size=32, loss="ce",
                                                     tensorboard=False))
        assert tr.evaluate()["acc"] == ref, amp


def test_eval_every_still_evaluates_the_final_epoch(tmp_path: Path) -> None:
    """eval_every=2 over 5 epochs evaluates epochs 2, 4 and 5 (the final one was skipped: 'last test accuracy nan')."""
    hist = Trainer(_model(), dataset(), dataset(n=30, seed=1),
                   _cfg(tmp_path, epochs=5, eval_every=2, tensorboard=False)).fit()
    assert [r["epoch"] for r in hist if "test_acc" in r] == [2, 4, 5]
    assert 0.0 <= hist[-1]["test_acc"] <= 1.0
