"""TCJA spiking VAE: shapes, the KL term, a short training run, sampling and the PNG grid."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from snnkit.attention import TCJA
from snnkit.models import (TCJAVAE, TCJAVAEConfig, kl_divergence, reconstruct, sample, save_grid_png, train_vae,
                           vae_loss)

TINY = TCJAVAEConfig(image_size=[8, 8], T=4, channels=[8, 16], latent_dim=4, batch_size=16)


def _bars(n: int, seed: int = 0) -> torch.Tensor:
    """Random-but-structured 8x8 images: one horizontal and one vertical bar at random inner positions."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 8, 8)
    rows = torch.randint(1, 6, (n,), generator=g)
    cols = torch.randint(2, 7, (n,), generator=g)
    for i in range(n):
        x[i, 0, rows[i], :] = 1.0
        x[i, 0, :, cols[i]] = 1.0
    return x


@pytest.mark.parametrize("size", [[8, 8], [9, 7]])
def test_shapes_and_tcja_blocks(size) -> None:
    cfg = dataclasses.replace(TINY, image_size=size)
    model = TCJAVAE(cfg)
    x = torch.rand(5, 1, *size)
    logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(0))
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 4)
    blocks = [m for m in model.modules() if isinstance(m, TCJA)]
    assert len(blocks) == 4 and all(b.T == 4 for b in blocks)  # two in the encoder, two in the decoder
    assert sample(model, 3, torch.Generator().manual_seed(1)).shape == (3, 1, *size)
    none = TCJAVAE(dataclasses.replace(cfg, attention="none"))
    assert not any(isinstance(m, TCJA) for m in none.modules())
    json.dumps(dataclasses.asdict(cfg))
    with pytest.raises(ValueError, match=r"\[B, 1, "):
        model(torch.rand(2, 1, 5, 5))


def test_kl_matches_closed_form() -> None:
    mu = torch.randn(6, 4)
    logvar = torch.randn(6, 4)
    sigma = torch.exp(0.5 * logvar)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, sigma),
                                            torch.distributions.Normal(torch.zeros(4), torch.ones(4))).sum(-1)
    torch.testing.assert_close(kl_divergence(mu, logvar), ref)
    # by hand: 0.5 * (sigma^2 + mu^2 - 1 - log sigma^2) per dimension
    torch.testing.assert_close(kl_divergence(mu, logvar), 0.5 * (sigma**2 + mu**2 - 1 - logvar).sum(-1))
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    x = torch.rand(6, 1, 2, 2)
    logits = torch.randn(6, 1, 2, 2)
    parts = vae_loss(logits, x, mu, logvar, beta=0.5)
    torch.testing.assert_close(parts["loss"], parts["recon"] + 0.5 * ref.mean())


def test_short_training_reduces_loss_and_writes_png(tmp_path, one_thread) -> None:
    x = _bars(64)
    seen = []
    model, hist = train_vae(x, dataclasses.replace(TINY, lr=1e-2, batch_size=8), epochs=20, seed=0,
                            log=lambda e, d: seen.append(e))
    assert seen == list(range(20)) and len(hist) == 20
    assert hist[-1]["loss"] < 0.9 * hist[0]["loss"], hist
    assert hist[-1]["recon"] < hist[0]["recon"] - 3.0, hist
    assert not model.training
    # sampling is reproducible with a generator; values are probabilities
    a = sample(model, 8, torch.Generator().manual_seed(3))
    b = sample(model, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    rec = reconstruct(model, x[:8])
    assert rec.shape == (8, 1, 8, 8)
    # PNG grid: written atomically, readable, right size (3x3 grid of 8x8 with 1px gaps)
    import matplotlib.image as mpimg

    path = save_grid_png(a, tmp_path / "grid.png", nrow=3)
    img = mpimg.imread(path)
    assert img.shape[:2] == (3 * 9 + 1, 3 * 9 + 1)
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]
    assert abs(float(img[1:9, 1:9, 0].mean()) - float(a[0].mean())) < 0.02


def test_input_checks() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide by 16"):
        train_vae(torch.full((4, 8, 8), 16.0), TINY, epochs=1)
    with pytest.raises(ValueError, match="config expects"):
        train_vae(torch.rand(4, 6, 6), TINY, epochs=1)
    with pytest.raises(ValueError, match="attention"):
        TCJAVAE(dataclasses.replace(TINY, attention="spatial"))
    with pytest.raises(ValueError, match="n must be"):
        sample(TCJAVAE(TINY), 0)
    with pytest.raises(ValueError, match="channels"):
        save_grid_png(torch.rand(2, 2, 4, 4), "unused.png")
    with pytest.raises(ValueError, match=r"\(4, 8, 8, 3\) look channels-last.*permute\(0, 3, 1, 2\)"):
        train_vae(torch.rand(4, 8, 8, 3), TINY, epochs=1)   # read as 8 channels of 8 x 3 before
    # a negative beta maximised the KL and lr 0 trained nothing, both silently
    for arg, val in (("beta", -1.0), ("beta", float("nan")), ("lr", 0.0), ("lr", -1e-3)):
        with pytest.raises(ValueError, match=f"{arg} must be a finite number"):
            TCJAVAE(dataclasses.replace(TINY, **{arg: val}))
    TCJAVAE(dataclasses.replace(TINY, beta=0.0))   # a plain autoencoder: allowed
    # nrow 0 fell back to the default grid width, a negative nrow or pad crashed inside torch
    for kw in ({"nrow": 0}, {"nrow": -2}, {"pad": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(kw))} must be an int >="):
            save_grid_png(torch.rand(2, 4, 4), "unused.png", **kw)


def test_grid_png_scale_enlarges_pixels(tmp_path) -> None:
    import matplotlib.image as mpimg

    from snnkit.models.tcja_vae import save_grid_png

    imgs = torch.rand(4, 8, 8)
    small = mpimg.imread(save_grid_png(imgs, tmp_path / "a.png", nrow=2))
    big = mpimg.imread(save_grid_png(imgs, tmp_path / "b.png", nrow=2, scale=3))
    assert big.shape[:2] == (small.shape[0] * 3, small.shape[1] * 3)
    with pytest.raises(ValueError, match="scale"):
        save_grid_png(imgs, tmp_path / "c.png", scale=0)


def test_sample_and_reconstruct_use_running_stats_and_leave_them_alone() -> None:
    """In train mode, sampling normalised with the batch's statistics and overwrote the running ones."""
    model = TCJAVAE(TINY)
    with torch.no_grad():  # non-trivial running statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(3, 1, 8, 8)
    want_s = sample(model.eval(), 4, torch.Generator().manual_seed(2))
    want_r = reconstruct(model, x)
    model.train()
    got_s = sample(model, 4, torch.Generator().manual_seed(2))
    got_r = reconstruct(model, x)
    assert model.training and all(m.training for m in model.modules())   # the caller's mode is restored
    torch.testing.assert_close(got_s, want_s)
    torch.testing.assert_close(got_r, want_r)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    # eval mode by hand: z from the same generator, decoded, sigmoid
    z = torch.randn(4, TINY.latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(want_s, torch.sigmoid(model.eval().decode(z)))


def test_grid_png_layout_by_hand(tmp_path) -> None:
    """5 images, nrow 2: 2 per row, 3 rows, filled row by row, 1-pixel white gaps, values unchanged."""
    import matplotlib.image as mpimg

    imgs = torch.stack([torch.full((2, 3), v) for v in (0.0, 0.2, 0.4, 0.6, 0.8)])
    got = mpimg.imread(save_grid_png(imgs, tmp_path / "g.png", nrow=2))[..., 0]
    want = torch.ones(3 * 3 + 1, 2 * 4 + 1)
    for i, v in enumerate((0.0, 0.2, 0.4, 0.6, 0.8)):
        r, c = divmod(i, 2)
        want[1 + 3 * r: 3 + 3 * r, 1 + 4 * c: 4 + 4 * c] = v
    assert got.shape == want.shape
    assert abs(got - want.numpy()).max() <= 0.5 / 255 + 1e-6   # 8-bit PNG rounding


def test_more_input_checks() -> None:
    for epochs in (0, -1, 1.5, True):   # epochs=0 returned an untrained model with an empty history
        with pytest.raises(ValueError, match="epochs must be a positive int"):
            train_vae(torch.rand(4, 8, 8), TINY, epochs=epochs)
    with pytest.raises(ValueError, match="images must be a torch tensor, got list"):
        save_grid_png([[0.0]], "unused.png")   # AttributeError: 'list' object has no attribute 'detach'
    for scale in (None, 1.5, True):
        with pytest.raises(ValueError, match="scale must be an int >= 1"):
            save_grid_png(torch.rand(2, 4, 4), "unused.png", scale=scale)
