"""A spiking variational autoencoder with TCJA blocks, for small grey-scale images.

The paper (Zhu et al., arXiv 2206.10177, TNNLS version) applies TCJA to image generation by
inserting it into a fully spiking VAE (FSVAE, Kamata et al. 2022); ridgerchu/TCJA ships no VAE
code. FSVAE's latent is a Bernoulli spike train with an autoregressive SNN prior and an MMD loss;
here the latent is the textbook Gaussian so the loss is reconstruction + closed-form KL and
sampling needs no prior network. Choices:

* encoding: the image is repeated at every one of ``T`` steps (direct encoding; the first
  conv-BN-LIF unit turns it into spikes);
* encoder: per entry of ``channels`` a stride-2 conv3x3-BN-LIF unit followed by TCJA
  (``attention`` as in the classifiers: ``"tcja"``, ``"t_xa"``, ``"c_xa"`` or ``"none"``);
  then a linear layer on the flattened spikes gives ``2 * latent_dim`` values per step, whose
  mean over T is ``(mu, logvar)``;
* latent: ``z = mu + exp(logvar / 2) * eps`` (reparameterised, ``eps`` from an explicit generator);
* decoder: ``z`` is fed at every step to linear-BN-LIF, reshaped to the encoder's last feature
  map, then per stage (reversed) nearest upsampling to the encoder's size at that level and a
  conv3x3-BN-LIF unit with TCJA; a final non-spiking conv3x3 gives per-step logits whose plain
  mean over T is the image logit (FSVAE instead sums the steps with leak 0.8,
  ``sum_t 0.8**(T-1-t) x_t``, applies tanh and fits [-1, 1] images with MSE);
* loss per sample: Bernoulli log-likelihood (BCE with logits, summed over pixels)
  + ``beta * KL(N(mu, sigma) || N(0, 1))``, averaged over the batch.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._io import atomic_write, torch_load
from .. import surrogate as _sg
from ..attention.tcja import TCJA
from ..base import reset
from ..layers import Flatten, SpikingConv2d, SpikingLinear, TimeDistributed
from ..neurons import LIF
from ..functional.validation import is_int
from ..train.checkpoint import load_fitting_state

Tensor = torch.Tensor
__all__ = ["TCJAVAEConfig", "TCJAVAE", "kl_divergence", "vae_loss", "train_vae", "sample", "reconstruct",
           "save_grid_png", "save_vae", "load_vae"]
ARCH = "tcja_vae"  # the checkpoint's "arch", as snnkit.train writes "tcja_snn"


@dataclass
class TCJAVAEConfig:
    """Architecture and training recipe of :class:`TCJAVAE` (plain data, JSON-serialisable)."""

    image_size: List[int] = field(default_factory=lambda: [8, 8])  # H, W
    in_channels: int = 1
    T: int = 8
    channels: List[int] = field(default_factory=lambda: [16, 32])  # one stride-2 stage each
    latent_dim: int = 8
    attention: str = "tcja"
    kernel_t: int = 2
    kernel_c: int = 4
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: Optional[float] = 0.0
    detach_reset: bool = True
    surrogate: str = "atan"
    beta: float = 1.0  # KL weight
    lr: float = 2e-3
    epochs: int = 30
    batch_size: int = 64

    def sizes(self) -> List[Tuple[int, int]]:
        """Feature-map sizes: the image, then after each stride-2 stage (``ceil(h / 2)``)."""
        h, w = self.image_size
        out = [(h, w)]
        for _ in self.channels:
            h, w = (h + 1) // 2, (w + 1) // 2
            out.append((h, w))
        return out

    def validate(self) -> "TCJAVAEConfig":
        if self.attention not in ("tcja", "none", "t_xa", "c_xa"):
            raise ValueError(f"TCJAVAEConfig: attention must be 'tcja', 'none', 't_xa' or 'c_xa', "
                             f"got {self.attention!r}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(f"TCJAVAEConfig: image_size must be [H, W] of positive ints, got {self.image_size!r}")
        for arg in ("in_channels", "T", "latent_dim", "epochs", "batch_size"):
            val = getattr(self, arg)
            if not is_int(val) or val < 1:
                raise ValueError(f"TCJAVAEConfig: {arg} must be a positive int, got {val!r}")
        for arg, low_ok in (("beta", True), ("lr", False)):  # beta < 0 would maximise the KL; lr 0 trains nothing
            val = getattr(self, arg)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) \
                    or val < 0 or (val == 0 and not low_ok):
                raise ValueError(f"TCJAVAEConfig: {arg} must be a finite number {'>=' if low_ok else '>'} 0, "
                                 f"got {val!r}")
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"TCJAVAEConfig: channels must be a non-empty list of positive ints, "
                             f"got {self.channels!r}")
        return self


class TCJAVAE(nn.Module):
    """Spiking VAE with TCJA: ``forward(x[B, C, H, W], generator) -> (logits, mu, logvar)``."""

    def __init__(self, config: Optional[TCJAVAEConfig] = None) -> None:
        super().__init__()
        self.config = cfg = (config or TCJAVAEConfig()).validate()
        sg = _sg.get(cfg.surrogate)
        neuron: Callable[[], nn.Module] = lambda: LIF(tau=cfg.tau, v_threshold=cfg.v_threshold,  # noqa: E731
                                                      v_reset=cfg.v_reset, detach_reset=cfg.detach_reset, surrogate=sg)
        att = lambda c: [] if cfg.attention == "none" else [  # noqa: E731
            TCJA(cfg.T, c, kernel_t=cfg.kernel_t, kernel_c=cfg.kernel_c, mode=cfg.attention)]
        sizes = cfg.sizes()
        c_last, (h, w) = cfg.channels[-1], sizes[-1]

        enc: List[nn.Module] = []
        c_in = cfg.in_channels
        for c in cfg.channels:
            enc += [SpikingConv2d(c_in, c, 3, stride=2, padding=1, neuron=neuron)] + att(c)
            c_in = c
        enc += [Flatten(), TimeDistributed(nn.Linear(c_last * h * w, 2 * cfg.latent_dim))]
        self.encoder = nn.Sequential(*enc)

        self.dec_in = SpikingLinear(cfg.latent_dim, c_last * h * w, neuron=neuron, bn=True)
        dec: List[nn.Module] = []
        outs = list(reversed(cfg.channels[:-1])) + [cfg.channels[0]]
        c_in = c_last
        for size, c in zip(reversed(sizes[:-1]), outs):
            dec += [TimeDistributed(nn.Upsample(size=size, mode="nearest")),
                    SpikingConv2d(c_in, c, 3, padding=1, neuron=neuron)] + att(c)
            c_in = c
        dec.append(TimeDistributed(nn.Conv2d(c_in, cfg.in_channels, 3, padding=1)))
        self.decoder = nn.Sequential(*dec)

    def _check_images(self, x: Tensor) -> None:
        cfg = self.config
        want = (cfg.in_channels, *cfg.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != want:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"TCJAVAE: images must be [B, {want[0]}, {want[1]}, {want[2]}], got {got}")

    def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Images ``[B, C, H, W]`` in [0, 1] -> ``(mu, logvar)``, each ``[B, latent_dim]``."""
        self._check_images(x)
        reset(self)
        seq = x.unsqueeze(0).expand(self.config.T, *x.shape)
        mu, logvar = self.encoder(seq).mean(0).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Latents ``[B, latent_dim]`` -> image logits ``[B, C, H, W]`` (mean over T of the readout)."""
        cfg = self.config
        reset(self.dec_in)
        reset(self.decoder)
        c, (h, w) = cfg.channels[-1], cfg.sizes()[-1]
        s = self.dec_in(z.unsqueeze(0).expand(cfg.T, *z.shape))
        return self.decoder(s.reshape(cfg.T, z.shape[0], c, h, w)).mean(0)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, generator)), mu, logvar


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample: ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))``."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0) -> Dict[str, Tensor]:
    """``{"loss", "recon", "kl"}`` averaged over the batch; ``recon`` is BCE summed over pixels."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1).mean()
    kl = kl_divergence(mu, logvar).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def as_images(images: Tensor) -> Tensor:
    """``images`` as float ``[N, C, H, W]`` after checking the shape and the [0, 1] range (ValueError otherwise)."""
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor [N, H, W] or [N, C, H, W], got {got}")
    if images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        raise ValueError(f"images of shape {tuple(images.shape)} look channels-last [N, H, W, C]: this takes "
                         "[N, C, H, W]; pass images.permute(0, 3, 1, 2) (a numpy array: .transpose(0, 3, 1, 2))")
    images = images.float()
    if not torch.isfinite(images).all():
        raise ValueError(f"images hold {int((~torch.isfinite(images)).sum())} NaN or infinite values")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"images must be scaled to [0, 1], got values in [{float(images.min())}, "
                         f"{float(images.max())}] (scikit-learn's 8x8 digits: divide by 16)")
    return images.unsqueeze(1) if images.ndim == 3 else images


def train_vae(
    images: Tensor, config: Optional[TCJAVAEConfig] = None, *, epochs: Optional[int] = None, seed: int = 0,
    log: Optional[Callable[[int, Dict[str, float]], None]] = None,
) -> Tuple[TCJAVAE, List[Dict[str, float]]]:
    """Train a :class:`TCJAVAE` on ``images`` (``[N, H, W]`` or ``[N, C, H, W]``, values in [0, 1]).

    Adam with ``config.lr``; shuffled mini-batches and the latent noise come from a generator
    seeded with ``seed``, which also seeds the weight initialisation (without touching the
    global RNG). The decoder's readout bias starts at the logit of the mean pixel. Returns the
    model (in eval mode) and per-epoch means of ``loss``, ``recon`` and ``kl``;
    ``log(epoch, means)`` is called after each epoch. On a CPU shared with other processes,
    ``torch.set_num_threads(1)`` is often several times faster for these small layers.
    """
    if epochs is not None and (not is_int(epochs) or epochs < 1):   # 0 returned an untrained model, silently
        raise ValueError(f"train_vae: epochs must be a positive int or None (config.epochs), got {epochs!r}")
    x = as_images(images)
    if config is None:
        config = TCJAVAEConfig(image_size=list(x.shape[-2:]), in_channels=x.shape[1])
    config.validate()
    if list(x.shape[1:]) != [config.in_channels, *config.image_size]:
        raise ValueError(f"train_vae: images have shape {tuple(x.shape[1:])} per sample but config expects "
                         f"{(config.in_channels, *config.image_size)}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TCJAVAE(config)
    with torch.no_grad():  # start the readout at the data's mean pixel: the decoder then learns the shapes
        p = x.mean().clamp(1e-3, 1 - 1e-3)
        model.decoder[-1].module.bias.fill_(float(torch.log(p / (1 - p))))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: List[Dict[str, float]] = []
    model.train()
    for epoch in range(config.epochs if epochs is None else epochs):
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), config.batch_size):
            batch = x[order[i:i + config.batch_size]]
            logits, mu, logvar = model(batch, generator=gen)
            parts = vae_loss(logits, batch, mu, logvar, config.beta)
            opt.zero_grad()
            parts["loss"].backward()
            opt.step()
            for k in sums:
                sums[k] += parts[k].detach().item() * len(batch)
        means = {k: v / len(x) for k, v in sums.items()}
        history.append(means)
        if log is not None:
            log(epoch, means)
    return model.eval(), history


def _in_eval_mode(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Run ``fn(model, ...)`` without gradients in eval mode, then restore the modes (train mode overwrote BN stats)."""
    @functools.wraps(fn)
    def wrapped(model: TCJAVAE, *args: Any, **kwargs: Any) -> Tensor:
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            with torch.no_grad():
                return fn(model, *args, **kwargs)
        finally:
            for m, mode in modes:
                m.training = mode
    return wrapped


@_in_eval_mode
def sample(model: TCJAVAE, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """``n`` new images ``[n, C, H, W]`` (pixel probabilities in [0, 1]) decoded from ``z ~ N(0, I)``, in eval mode."""
    if not is_int(n) or n < 1:
        raise ValueError(f"sample: n must be a positive int, got {n!r}")
    p = next(model.parameters())
    z = torch.randn(n, model.config.latent_dim, generator=generator, dtype=p.dtype).to(p.device)
    return torch.sigmoid(model.decode(z))


def save_vae(model: TCJAVAE, path: "str | os.PathLike[str]", **meta: Any) -> "os.PathLike[str]":
    """Write ``model``'s weights and config (and ``meta``: history, seed, ...) to ``path`` atomically."""
    ckpt = {"arch": ARCH, "model_config": dataclasses.asdict(model.config), "model": model.state_dict(), **meta}
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_vae(path: "str | os.PathLike[str]") -> Tuple[TCJAVAE, Dict[str, Any]]:
    """``(model in eval mode, checkpoint dict)`` from a file :func:`save_vae` wrote; ValueError for any other file."""
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise FileNotFoundError(f"TCJA VAE checkpoint {where!r} does not exist")
    try:
        ckpt = torch_load(where)
    except Exception as err:  # torch raises several types for a file that is no checkpoint
        raise ValueError(f"{where!r} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    arch = ckpt.get("arch") if isinstance(ckpt, dict) else None
    if arch != ARCH:
        raise ValueError(f"{where!r} is not a TCJA VAE checkpoint (arch {arch!r}; `snnkit generate-images` writes "
                         f"OUT/vae.pt with arch {ARCH!r})")
    if not isinstance(ckpt.get("model_config"), dict) or not isinstance(ckpt.get("model"), dict):
        raise ValueError(f"{where!r} is a damaged TCJA VAE checkpoint: it lacks its 'model_config' or 'model' entry")
    fields = {f.name for f in dataclasses.fields(TCJAVAEConfig)}
    unknown = sorted(set(ckpt["model_config"]) - fields)
    if unknown:
        raise ValueError(f"{where!r}: config fields {unknown} unknown to this snnkit (written by a newer version?)")
    model = TCJAVAE(TCJAVAEConfig(**ckpt["model_config"]))
    load_fitting_state(model, ckpt["model"], repr(where))
    return model.eval(), ckpt


@_in_eval_mode
def reconstruct(model: TCJAVAE, images: Tensor) -> Tensor:
    """Reconstructions (decoded posterior means, in eval mode) of ``images`` in [0, 1]."""
    x = as_images(images)
    mu, _ = model.encode(x)
    return torch.sigmoid(model.decode(mu))


def save_grid_png(images: Tensor, path: "str | os.PathLike[str]", nrow: Optional[int] = None, pad: int = 1,
                  scale: int = 1) -> str:
    """Save ``images`` (``[N, H, W]`` or ``[N, 1|3, H, W]`` in [0, 1]) as one PNG grid; atomic (temp file + rename).

    ``nrow`` images per row (as torchvision's ``make_grid``; default ``ceil(sqrt(N))``), filled row by
    row; ``pad`` white pixels around every image; values are written unchanged (out-of-range ones are
    refused, not clamped). ``scale`` enlarges every pixel to ``scale x scale`` (nearest), so 8x8 digits
    stay visible.
    """
    import matplotlib.image as mpimg  # imsave renders off-screen; no GUI backend is touched

    if not isinstance(images, torch.Tensor):
        raise ValueError(f"save_grid_png: images must be a torch tensor, got {type(images).__name__}")
    # nrow 0 fell back to the default grid width; a negative nrow or pad crashed inside torch
    for arg, val, low in (("nrow", nrow, 1), ("pad", pad, 0), ("scale", scale, 1)):
        if (val is not None or arg != "nrow") and (not is_int(val) or val < low):
            raise ValueError(f"save_grid_png: {arg} must be an int >= {low}{' or None' if arg == 'nrow' else ''}, "
                             f"got {val!r}")
    x = as_images(images.detach().cpu())
    n, c, h, w = x.shape
    if c not in (1, 3) or n == 0:
        raise ValueError(f"save_grid_png: images must have 1 or 3 channels and N >= 1, got shape {tuple(x.shape)}")
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[i]
    grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    arr = grid[0].numpy() if c == 1 else grid.permute(1, 2, 0).numpy()
    path = os.fspath(path)
    atomic_write(path, lambda tmp: mpimg.imsave(tmp, arr, cmap="gray", vmin=0.0, vmax=1.0, format="png"))
    return path
