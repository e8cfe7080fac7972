"""The snnkit command on bad input: one clear line and exit code 2, no traceback; `generate-images` end to end."""
from __future__ import annotations

import re

import numpy as np
import pytest

from snnkit import cli


def _npy(path, array):
    np.save(path, array)
    return str(path)


def test_unknown_tcja_config_is_one_line_with_exit_code_2(capsys, monkeypatch) -> None:
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    assert cli.main(["train", "tcja", "--config", "mnist_dvs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnkit train: error: ") and "unknown dataset 'mnist_dvs'" in err and "digits_dvs" in err
    assert "Traceback" not in err


def test_missing_dataset_root_names_the_dataset(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    assert cli.main(["train", "tcja", "--config", "dvs128_gesture", "--root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "dvs128_gesture" in err and "does not exist" in err and "Expected layout" in err


def test_traceback_env_reraises(monkeypatch) -> None:
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    with pytest.raises(ValueError, match="unknown dataset 'mnist_dvs'"):
        cli.main(["train", "tcja", "--config", "mnist_dvs"])


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"not a numpy file", "is not a readable .npy array"),
    (np.full((5,), 0.5), r"\[N, H, W\] or \[N, C, H, W\], got \(5,\)"),
    (np.full((4, 8, 8), 2.0), r"scaled to \[0, 1\]"),
    (np.full((1, 8, 8), 0.5), "holds 1 image"),
    (np.full((4, 2, 8, 8), 0.5), r"holds 4 image\(s\) of 2 channel\(s\)"),
    (b"", "is not a readable .npy array"),
    (np.array([[[0.5, np.nan]]] * 3), "3 NaN or infinite values"),
    (np.array([["a", "b"]]), "real-valued array"),
])
def test_generate_images_rejects_bad_images(tmp_path, capsys, monkeypatch, content, message) -> None:
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    path = tmp_path / "images.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    assert cli.main(["generate-images", "--images", str(path), "--epochs", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnkit generate-images: error: --images ")
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_generate_images_writes_grids_and_reports_loss(tmp_path, capsys, one_thread) -> None:
    rng = np.random.default_rng(0)
    images = _npy(tmp_path / "images.npy", (rng.random((24, 8, 8)) > 0.5).astype(np.float32))
    out = tmp_path / "out"
    assert cli.main(["generate-images", "--images", images, "--epochs", "2", "--n", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "epoch 2/2" in text and "held-out reconstruction loss (BCE per image, 2 images)" in text
    import matplotlib.image as mpimg

    samples, recon = mpimg.imread(out / "samples.png"), mpimg.imread(out / "reconstructions.png")
    # 4 samples: a 2x2 grid of 8x8 digits with 1-pixel gaps, every pixel 6x6 -> (2*9+1)*6 = 114 square
    assert samples.shape[:2] == (114, 114)
    # the 2 held-out images in the top row, their 2 reconstructions below: (2*9+1)*6 square (they shared one row of
    # 8 slots before, originals and reconstructions side by side)
    assert recon.shape[:2] == (114, 114)
    assert sorted(p.name for p in out.iterdir()) == ["reconstructions.png", "samples.png", "vae.pt"]
    loss = float(text.split("2 images): ")[1].split()[0])
    # by hand: the seed-0 held-out split, decoded posterior means, BCE summed over the 64 pixels, mean over images
    import torch

    from snnkit.models import tcja_vae as V

    model, _ = V.load_vae(out / "vae.pt")
    x = torch.tensor(np.load(images)).unsqueeze(1)[torch.randperm(24, generator=torch.Generator().manual_seed(0))[:2]]
    with torch.no_grad():
        p = torch.sigmoid(model.decode(model.encode(x)[0])).double()
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3)).mean()
    assert abs(float(bce) - loss) <= 0.005 + 1e-9, (float(bce), loss)
    for col in range(2):  # top row: the images as given; bottom row: their reconstructions (PNG grey, 8-bit)
        cols = slice(6 * (1 + 9 * col), 6 * (9 + 9 * col), 6)  # one pixel of each 6x6 block
        assert np.array_equal(recon[6:54:6, cols, 0], x[col, 0].numpy())
        assert np.abs(recon[60:108:6, cols, 0] - p[col, 0].numpy()).max() < 1 / 255 + 1e-6
    # the saved VAE, loaded: the same held-out images (the run's seed 0 split, whatever --seed says), the same loss,
    # the same reconstructions; new samples drawn with --seed
    again = tmp_path / "again"
    assert cli.main(["generate-images", "--checkpoint", str(out / "vae.pt"), "--n", "4",   # its own --images
                     "--seed", "5", "--out", str(again)]) == 0
    text = capsys.readouterr().out
    assert "loaded" in text and "trained 2 epochs, seed 0" in text and "epoch 1/" not in text
    assert float(text.split("2 images): ")[1].split()[0]) == loss
    assert (mpimg.imread(again / "reconstructions.png") == recon).all()
    V.save_grid_png(V.sample(model, 4, generator=torch.Generator().manual_seed(5)), tmp_path / "want.png", scale=6)
    assert (mpimg.imread(again / "samples.png") == mpimg.imread(tmp_path / "want.png")).all()
    assert sorted(p.name for p in again.iterdir()) == ["reconstructions.png", "samples.png"]
    # training again into a folder that holds a VAE: refused, unless --overwrite
    assert cli.main(["generate-images", "--images", images, "--epochs", "1", "--n", "4", "--out", str(out)]) == 2
    assert "already holds a trained VAE (vae.pt): --checkpoint" in capsys.readouterr().err
    assert cli.main(["generate-images", "--images", images, "--epochs", "1", "--n", "4", "--out", str(out),
                     "--overwrite"]) == 0
    assert "epoch 1/1" in capsys.readouterr().out and len(V.load_vae(out / "vae.pt")[1]["history"]) == 1


def test_generate_images_samples_depend_on_the_seed_alone(tmp_path, capsys, monkeypatch, one_thread) -> None:
    """Training drew its samples from the generator the held-out split had already advanced, so
    `--checkpoint OUT/vae.pt --seed S` could not redraw the samples.png of a run with --seed S."""
    import torch

    from snnkit.models import tcja_vae as V

    states = []
    real = V.sample

    def spy(model, n, generator=None):
        states.append(generator.get_state().clone())
        return real(model, n, generator)

    monkeypatch.setattr(V, "sample", spy)
    images = _npy(tmp_path / "images.npy", (np.random.default_rng(0).random((12, 8, 8)) > 0.5).astype(np.float32))
    out = tmp_path / "out"
    assert cli.main(["generate-images", "--images", images, "--epochs", "1", "--n", "2", "--seed", "3",
                     "--out", str(out)]) == 0
    assert cli.main(["generate-images", "--checkpoint", str(out / "vae.pt"), "--n", "2", "--seed", "3",
                     "--out", str(tmp_path / "again")]) == 0
    want = torch.Generator().manual_seed(3).get_state()
    assert len(states) == 2 and all(torch.equal(s, want) for s in states)


def test_generate_images_checkpoint_errors(tmp_path, capsys, monkeypatch) -> None:
    import torch

    from snnkit.models import tcja_vae as V

    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    images = _npy(tmp_path / "images.npy", np.full((4, 8, 8), 0.5))
    other = tmp_path / "other.pt"
    torch.save({"arch": "tcja_snn", "model": {}}, other)
    V.save_vae(V.TCJAVAE(V.TCJAVAEConfig(image_size=[6, 6])), tmp_path / "small.pt", seed=0)
    # damaged files crashed with KeyError / RuntimeError tracebacks
    ckpt = torch.load(tmp_path / "small.pt", weights_only=False)
    torch.save({**ckpt, "model_config": {**ckpt["model_config"], "latent_dim": 4}}, tmp_path / "unfit.pt")
    torch.save({k: v for k, v in ckpt.items() if k != "model_config"}, tmp_path / "noconfig.pt")
    for flags, message in ((["--checkpoint", str(other)], "is not a TCJA VAE checkpoint (arch 'tcja_snn'"),
                           (["--checkpoint", str(tmp_path / "none.pt")], "none.pt' does not exist"),
                           (["--checkpoint", str(tmp_path / "small.pt")], "was trained on images (1, 6, 6), these "
                                                                          "are (1, 8, 8)"),
                           (["--checkpoint", str(tmp_path / "unfit.pt")], "unfit.pt': its weights do not fit its "
                                                                          "model_config (Error(s) in loading"),
                           (["--checkpoint", str(tmp_path / "noconfig.pt")], "lacks its 'model_config' or 'model'"),
                           (["--checkpoint", str(other), "--epochs", "3"], "--epochs, --attention and --overwrite describe training")):
        assert cli.main(["generate-images", "--images", images, "--out", str(tmp_path / "out"), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--n", "-2"]])
def test_generate_images_checks_counts_before_training(tmp_path, capsys, monkeypatch, flags) -> None:
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    images = _npy(tmp_path / "images.npy", np.full((4, 8, 8), 0.5))
    assert cli.main(["generate-images", "--images", images, "--out", str(tmp_path / "out"), *flags]) == 2
    assert "--epochs and --n must be >= 1" in capsys.readouterr().err and not (tmp_path / "out").exists()



def test_a_quoted_tilde_in_a_path_option_is_the_home_folder(tmp_path, monkeypatch, capsys, one_thread) -> None:
    """`--out '~/x'` (quoted, so the shell left it) wrote a folder named '~'; --root and --cache-dir expanded it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    images = _npy(tmp_path / "images.npy", (np.random.default_rng(0).random((12, 8, 8)) > 0.5).astype(np.float32))
    assert cli.main(["generate-images", "--images", images, "--epochs", "1", "--n", "4", "--out", "~/vae"]) == 0
    assert (tmp_path / "home" / "vae" / "vae.pt").is_file() and not (tmp_path / "~").exists()
    capsys.readouterr()
    assert cli.main(["generate-images", "--checkpoint", "~/vae/vae.pt", "--n", "4", "--out", "~/again"]) == 0
    assert (tmp_path / "home" / "again" / "samples.png").is_file()


@pytest.mark.parametrize("argv, message", [
    # each of these reached the library and came back naming its argument (frames, n_bins, random_state, lr, ...)
    (["data", "prepare", "digits_dvs", "--frames", "0"], "argument --frames: must be an integer >= 1, got 0"),
    (["data", "prepare", "digits_dvs", "--frames", "4", "--time-window", "5"],
     "argument --time-window: not allowed with argument --frames"),
    (["data", "prepare", "digits_dvs", "--event-count", "0"], "argument --event-count: must be an integer >= 1"),
    (["data", "prepare", "digits_dvs", "--time-window", "-5"], "argument --time-window: must be a finite number > 0"),
    (["data", "prepare", "digits_dvs", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
    (["data", "prepare", "digits_dvs", "--size", "0", "4"], "argument --size: must be an integer >= 1, got 0"),
    (["train", "tcja", "--lr", "-1"], "argument --lr: must be a finite number > 0, got -1"),
    (["train", "spikegpt", "--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    (["train", "tcja", "--mixup", "-0.5"], "argument --mixup: must be a finite number >= 0, got -0.5"),
    (["train", "tcja", "--tcja-init-gain", "0"], "argument --tcja-init-gain: must be a finite number > 0, got 0"),
    (["train", "tcja", "--device", "bogus"], "argument --device: 'bogus' is not a device"),
    (["evaluate", "--checkpoint", "x.pt", "--device", "bogus"], "argument --device: 'bogus' is not a device"),
])
def test_bad_option_values_name_the_flag_not_the_library_argument(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert message in err.splitlines()[-1] and "Traceback" not in err   # the usage, then the one error line


class _ClosedPipe:
    """A stdout whose reader has quit: every write fails as on a closed pipe."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass


def test_a_closed_stdout_pipe_is_exit_code_141_without_a_message(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert cli.main(["data", "list"]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """`snnkit ... | head`: once the reader has quit, the command stops with 141 (128 + SIGPIPE, as a tool killed by
    it) and writes nothing to stderr; it printed 'snnkit data: error: [Errno 32] Broken pipe' and exit code 2."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "snnkit.cli", "data", "list"], cwd=root,
                            env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader is gone before the first line is written (the command still imports)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


@pytest.mark.parametrize("flags, origin", [(["--scheduler", "none"], "'none' (--scheduler)"),
                                           (["--scheduler", "step"], "'step' (--scheduler)")])
def test_train_refuses_t_max_that_its_schedule_ignores(flags, origin, cli_error, tmp_path) -> None:
    """--t-max with a step or no schedule was accepted and silently had no effect on the learning rate."""
    err = cli_error(["train", "tcja", "--t-max", "5", *flags, "--print-config"])
    assert f"--t-max sets the length of the cosine schedule; this run's schedule is {origin}" in err, err
    assert cli.main(["train", "tcja", "--t-max", "5", "--scheduler", "cosine", "--print-config"]) == 0
    # the same from a config file's schedule
    cfg = tmp_path / "step.yaml"
    cfg.write_text("base: digits_dvs\nscheduler: step\n")
    assert "this run's schedule is 'step' (from its config)" in cli_error(
        ["train", "tcja", "--config", str(cfg), "--t-max", "5", "--print-config"])
