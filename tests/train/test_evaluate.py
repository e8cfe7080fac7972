"""Classifier evaluation: confusion matrix against a loop, scores by hand, and `snnkit evaluate` on TCJA checkpoints."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from snnkit import cli
from snnkit.train.evaluate import ClassificationReport, classification_report, confusion_matrix
from snnkit.train.recipes import evaluate_tcja, tcja_trainer
from tests.train.test_recipes import _fake_frames, _tiny_cfg


def test_confusion_matrix_equals_a_counting_loop() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randint(0, 7, (500,), generator=g), torch.randint(0, 7, (500,), generator=g)
    ref = [[0] * 7 for _ in range(7)]
    for p, t in zip(pred.tolist(), target.tolist()):
        ref[t][p] += 1
    assert confusion_matrix(pred, target, 7).tolist() == ref


def test_confusion_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 2\), got values in \[0, 5\]"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 5]), 2)


def test_report_scores_by_hand() -> None:
    # class a: 3 of 4 right, class b: 2 of 2, class c: no samples (one sample of a was predicted as c)
    rep = ClassificationReport([[3, 0, 1], [0, 2, 0], [0, 0, 0]], loss=0.5, classes=["a", "b", "c"])
    assert (rep.n, rep.correct, rep.support) == (6, 5, [4, 2, 0])
    assert rep.accuracy == pytest.approx(5 / 6)
    assert rep.per_class[:2] == [0.75, 1.0] and math.isnan(rep.per_class[2])
    assert rep.balanced_accuracy == pytest.approx((0.75 + 1.0) / 2)
    assert rep.format().splitlines() == [
        "accuracy 83.33 % (5/6)   balanced accuracy 87.50 %   loss 0.5000",
        "per-class accuracy:",
        "  a   75.0%  (3/4)",
        "  b  100.0%  (2/2)",
        "  c     -    (0/0)",
        "confusion matrix (rows: true class, columns: predicted class):",
        "      a   b   c",
        "  a   3   0   1",
        "  b   0   2   0",
        "  c   0   0   0",
    ]
    with pytest.raises(ValueError, match="2 class names for a 3-class"):
        ClassificationReport([[1, 0, 0], [0, 1, 0], [0, 0, 1]], classes=["a", "b"])


def test_many_classes_list_only_the_worst() -> None:
    k = 30
    cm = [[10 if i == j else 0 for j in range(k)] for i in range(k)]
    cm[7][7], cm[7][3] = 4, 6  # class 7: 40 %
    cm[2][2], cm[2][0] = 9, 1  # class 2: 90 %
    lines = ClassificationReport(cm).format(worst=2).splitlines()
    assert lines[1] == "the 2 classes with the lowest accuracy (all 30 in --json):"
    assert lines[2:] == ["   7   40.0%  (4/10)", "   2   90.0%  (9/10)"]


def test_report_json_round_trips(tmp_path: Path) -> None:
    rep = ClassificationReport([[1, 1], [0, 2]], loss=0.25, meta={"split": "test"})
    path = rep.save_json(tmp_path / "r" / "report.json")
    data = json.loads(path.read_text())
    assert data["accuracy"] == 0.75 and data["confusion"] == [[1, 1], [0, 2]] and data["split"] == "test"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def _trained(tmp_path: Path):
    data = (_fake_frames(24, 0), _fake_frames(20, 1))
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, data=data, progress=False, tensorboard=False, lr=0.02)
    hist = tr.fit()
    return tr, hist, data


def test_checkpoint_report_equals_the_trainer_and_a_per_sample_loop(tmp_path: Path) -> None:
    tr, hist, data = _trained(tmp_path)
    rep = evaluate_tcja(tmp_path / "last.pt", data=data, progress=False, batch_size=7)
    model = tr.model.eval()
    preds = [int(model(x[:, None]).mean(0).argmax()) for x, _ in data[1]]  # one sample at a time, [T, 1, ...]
    labels = data[1].tensors[1].tolist()
    assert rep.correct == sum(p == y for p, y in zip(preds, labels))
    assert rep.accuracy == pytest.approx(hist[-1]["test_acc"]) and rep.loss == pytest.approx(hist[-1]["test_loss"])
    assert rep.meta["logged_test_acc"] == hist[-1]["test_acc"] and rep.meta["epoch"] == 2
    assert rep.classes == [str(i) for i in range(10)] and rep.n == 20
    with pytest.raises(ValueError, match="split must be 'test' or 'train'"):
        evaluate_tcja(tmp_path / "last.pt", data=data, split="valid")


def test_model_with_other_class_count_is_refused() -> None:
    ds = torch.utils.data.TensorDataset(torch.rand(4, 2, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="scores 3 classes, expected 10"):
        classification_report(torch.nn.Identity(), ds, 10, input_layout="B")


def test_cli_evaluates_a_tcja_checkpoint(tmp_path: Path, capsys, monkeypatch) -> None:
    tr, hist, data = _trained(tmp_path)
    monkeypatch.setattr("snnkit.train.recipes.tcja_data", lambda cfg, root, **kw: data)
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "best.pt"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    best = max(r["test_acc"] for r in hist)
    assert f"training logged {100 * best:.2f} % after this epoch" in out
    assert f"accuracy {100 * best:.2f} %" in out and "confusion matrix" in out
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == pytest.approx(best)


def test_cli_evaluate_no_progress_reaches_the_evaluation(tmp_path: Path, monkeypatch) -> None:
    """--no-progress (as train's, for logs written to a file) turns the bar off; without it the bar is drawn."""
    seen = []
    monkeypatch.setattr("snnkit.train.recipes.evaluate_tcja", lambda *a, **kw: seen.append(kw["progress"]) or 1 / 0)
    monkeypatch.setattr(cli, "checkpoint_arch", lambda path: "tcja_snn")
    for flags in ([], ["--no-progress"]):
        with pytest.raises(ZeroDivisionError):
            cli.main(["evaluate", "--checkpoint", str(tmp_path / "best.pt"), *flags])
    assert seen == [True, False]


@pytest.mark.parametrize("flags, message", [
    (["--data", "shakespeare"], "--data, --tokenizer and --max-tokens are for SpikeGPT/RWKV"),
    (["--split", "valid"], "'test' or 'train' split"),
])
def test_cli_evaluate_refuses_options_of_the_other_model(tmp_path: Path, flags, message, cli_error) -> None:
    _trained(tmp_path)
    assert message in cli_error(["evaluate", "--checkpoint", str(tmp_path / "last.pt"), *flags])


def test_cli_evaluate_refuses_tcja_options_for_a_language_model(tmp_path: Path, cli_error) -> None:
    torch.save({"model": {}, "snnkit_version": "0", "arch": "spikegpt"}, tmp_path / "lm.pt")
    assert "--root, --json and --workers are for TCJA-SNN checkpoints" in cli_error(
        ["evaluate", "--checkpoint", str(tmp_path / "lm.pt"), "--root", str(tmp_path)])
    # --workers was accepted and silently ignored (the text evaluation has no DataLoader)
    assert "--root, --json and --workers are for TCJA-SNN checkpoints" in cli_error(
        ["evaluate", "--checkpoint", str(tmp_path / "lm.pt"), "--workers", "2"])


def test_evaluation_reads_the_dataset_folder_the_run_trained_on(tmp_path: Path, monkeypatch, capsys) -> None:
    """A checkpoint remembers its run's --root and --cache-dir: `snnkit evaluate` and `snnkit simulate` need no
    --root; a remembered folder that is gone is named; --root still overrides it."""
    from snnkit.models import tcja_snn
    from tests.data.native import make_cifar10_dvs

    monkeypatch.delenv("SNNKIT_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))    # a rebuilt cache would land here
    root = make_cifar10_dvs(tmp_path / "data", per_class=10, n_events=40)
    cache = tmp_path / "cache"
    cfg = tcja_snn.get_config("cifar10_dvs", T=2, stages=[[4], [4]], tcja_stages=[0, 1], resize=8, epochs=1,
                              batch_size=8)
    out = tmp_path / "run"
    tcja_trainer(cfg, root=root, cache_dir=cache, out_dir=out, progress=False, tensorboard=False).fit()
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["data_source"] == {"root": str(root.resolve()), "cache_dir": str(cache.resolve()), "on_error": "raise",
                                  "max_train": None}
    built = sorted(p.name for p in cache.glob("*.h5"))
    assert len(built) == 2
    rep = evaluate_tcja(out / "last.pt", progress=False)
    assert rep.n == 10 and rep.accuracy == pytest.approx(ckpt["history"][-1]["test_acc"])
    assert sorted(p.name for p in cache.glob("*.h5")) == built and not (tmp_path / "home").exists()  # cache reused
    from hardware.cli import dataset_splits   # simulate / export / energy --checkpoint read the data through it

    assert len(dataset_splits("cifar10_dvs", tcja_snn.TCJASNNConfig.from_dict(ckpt["model_config"]), ckpt)[1]) == 10
    moved = root.rename(tmp_path / "elsewhere")
    assert cli.main(["evaluate", "--checkpoint", str(out / "last.pt")]) == 2
    assert f"the run trained on the dataset folder {str(root.resolve())!r}, which is not there any more: give " \
           "the dataset's folder with --root" in capsys.readouterr().err
    assert evaluate_tcja(out / "last.pt", root=moved, progress=False).n == 10
    # evaluating the test split framed the moved copy's test files only (the cache key names the files)
    assert len(list(cache.glob("cifar10_dvs-test-*.h5"))) == 2 and len(list(cache.glob("cifar10_dvs-train-*.h5"))) == 1


def test_a_copy_with_an_unreadable_file_trains_with_on_error_skip(tmp_path: Path, monkeypatch, capsys) -> None:
    """`data prepare --on-error skip` built a cache that `train tcja` (no such option) could never use."""
    from tests.data.native import make_cifar10_dvs

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    root = make_cifar10_dvs(tmp_path / "data", per_class=10, n_events=40)
    bad = root / "CIFAR10DVS" / "cat" / "cifar10_cat_3.aedat"
    bad.write_bytes(bad.read_bytes()[:-3])                # truncated mid-event
    assert cli.main(["data", "prepare", "cifar10_dvs", "--root", str(root), "--frames", "2", "--on-error", "skip",
                     "--no-progress"]) == 0
    built = sorted((tmp_path / "cache").glob("*.h5"))
    config = tmp_path / "small.yaml"
    config.write_text("base: cifar10_dvs\nT: 2\nstages: [[4], [4]]\ntcja_stages: [0, 1]\nresize: 8\nepochs: 1\n")
    run = ["train", "tcja", "--config", str(config), "--root", str(root), "--no-progress", "--threads", "1"]
    assert cli.main(run + ["--out", str(tmp_path / "a")]) == 2
    assert "cifar10_cat_3.aedat" in capsys.readouterr().err
    assert cli.main(run + ["--out", str(tmp_path / "b"), "--on-error", "skip"]) == 0
    assert "cifar10_dvs/train: 1 unreadable sample(s) left out (on_error='skip'): cat/cifar10_cat_3.aedat" in \
        capsys.readouterr().err
    assert sorted((tmp_path / "cache").glob("*.h5")) == built      # prepare's cache, not a new one
    # the run's --root and on_error: the test split (the unreadable file is a training one) from prepare's cache
    assert evaluate_tcja(tmp_path / "b" / "last.pt", progress=False).n == 10
    assert sorted((tmp_path / "cache").glob("*.h5")) == built


def _first_max(rows) -> list:
    """The index of the first largest entry of each row, by a plain loop (the reference)."""
    return [max(range(len(r)), key=lambda i: (r[i], -i)) for r in rows]


def test_tied_vote_counts_predict_the_first_class_in_float32_and_float64() -> None:
    """Votes of binary spikes (k/10 per step) tie often; a plain argmax broke the tie by float rounding, so float32
    (training, snnkit evaluate) and float64 (snnkit simulate, Lava) runs of the same spikes predicted different classes
    (4 of 360 test digits on a 3-epoch digits_dvs network: evaluate 32.50 %, the same spikes in float64 33.33 %)."""
    from snnkit.hardware.compare import predict as _predict   # what snnkit simulate predicts with
    from snnkit.layers import vote
    from snnkit.train.evaluate import predicted_class

    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(8, 1000, 100, generator=g) < 0.15)          # [T, B, 10 classes x 10 voters]
    ref = _first_max(spikes.long().sum(0).view(1000, 10, 10).sum(-1).tolist())   # exact integer vote counts
    s32, s64 = vote(spikes.float(), 10).mean(0), vote(spikes.double(), 10)
    assert (s32.argmax(-1).tolist() != ref) and (s64.sum(0).argmax(-1).tolist() != ref)  # what the fix is for
    assert predicted_class(s32).tolist() == ref                       # training / snnkit evaluate (float32 rates)
    assert _predict(s64).tolist() == ref                               # snnkit simulate (float64, summed over T)
    model = torch.nn.Identity()                                        # classification_report on the same outputs
    data = torch.utils.data.TensorDataset(vote(spikes.float(), 10).transpose(0, 1), torch.tensor(ref))
    rep = classification_report(model, data, 10, batch_size=250, device="cpu")
    assert rep.accuracy == 1.0
    assert predicted_class(torch.zeros(2, 5)).tolist() == [0, 0]      # a silent output: class 0, as before
    assert predicted_class(torch.tensor([[0.1, 0.3, 0.2]])).tolist() == [1]


def test_predicted_class_with_infinite_scores_is_the_argmax() -> None:
    """Log-probabilities hold -inf where a probability underflowed, and large negative values; the tie tolerance used
    to scale with the row's max |score|, so one infinite score made every class tie ([-inf, 1, 2] -> class 0,
    [0, inf, 3] -> 0) and a log-probability of -1000 made 0.005 apart a tie. Reference: torch.argmax, which has no
    tie to break on these rows."""
    from snnkit.train.evaluate import predicted_class

    inf = float("inf")
    rows = torch.tensor([[-inf, 1.0, 2.0], [0.0, inf, 3.0], [-inf, -inf, -5.0], [2.0, -inf, 2.5]])
    assert predicted_class(rows).tolist() == rows.argmax(-1).tolist() == [2, 1, 2, 2]
    logp = torch.tensor([[0.0, 200.0, 50.0]]).softmax(-1).log()  # [-inf, 0, -150]
    assert predicted_class(logp).tolist() == [1]
    assert predicted_class(torch.tensor([[-inf, 0.3, 0.3 + 1e-7]], dtype=torch.float64)).tolist() == [1]  # still a tie
    assert predicted_class(torch.full((1, 3), -inf)).tolist() == [0]  # all equal: the first class
    # a far-off class must not widen the tie: log_softmax([-1000, 0, 0.005]) = [-1000.69, -0.6956, -0.6906] has a
    # clear top (class 2, 0.005 ahead), which a tolerance of 1e-5 x 1000.69 = 0.01 called a tie with class 1
    for dtype in (torch.float32, torch.float64):
        lp = torch.tensor([[-1000.0, 0.0, 0.005]], dtype=dtype).log_softmax(-1)
        assert predicted_class(lp).tolist() == lp.argmax(-1).tolist() == [2]


def test_train_split_of_a_max_train_run_is_the_samples_it_trained_on(tmp_path: Path, monkeypatch, capsys) -> None:
    """`snnkit evaluate --split train` of a `--max-train 10` run scored all 24 training samples (14 never trained on)
    and printed 'train split, 24 samples': the checkpoint now records max_train and the subset is rebuilt."""
    data = (_fake_frames(24, 0), _fake_frames(20, 1))
    monkeypatch.setattr("snnkit.train.recipes.tcja_data", lambda cfg, root, **kw: data)
    monkeypatch.setattr("snnkit.train.recipes.check_dataset_fits", lambda cfg: None)
    tr = tcja_trainer(_tiny_cfg(), out_dir=tmp_path, max_train=10, seed=3, progress=False, tensorboard=False)
    tr.fit()
    trained_on = tr.train_set                                           # the Subset the Trainer drew
    assert len(trained_on) == 10
    ref = classification_report(tr.model.eval(), trained_on, 10, batch_size=4, device="cpu")
    rep = evaluate_tcja(tmp_path / "last.pt", split="train", progress=False, batch_size=7)
    assert (rep.n, rep.confusion) == (10, ref.confusion)
    assert (rep.meta["split_size"], rep.meta["max_train"]) == (24, 10)
    assert evaluate_tcja(tmp_path / "last.pt", split="test", progress=False).n == 20   # the test split is whole
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "last.pt"), "--split", "train", "--no-progress"]) == 0
    assert "train split, 10 samples (the 10 of its 24 the run trained on: --max-train 10)" in capsys.readouterr().out
