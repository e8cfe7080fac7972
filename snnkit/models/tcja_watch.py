"""TCJA-SNN on smartwatch IMU windows (:mod:`snnkit.data.imu_watch`): the network of docs/tcja.md's pre-registered test.

Real recorded temporal data, offline: 2 s windows of a 6-axis wrist IMU fed as ``[T=20, 6, 1, 5]``
frames. Both variants (``tcja``, ``none``) are two conv(1x3)-BN-neuron units, a TCJA block after
each in ``tcja``, then the TCJA-SNN builder's head (dropout, FC128-neuron, FC70-neuron, vote 10);
neuron, loss, optimiser, lr, schedule, epochs and batch size are the ``digits_dvs`` config's.
``benchmarks/tcja_watch.py`` runs the 20-seed test; ``make demo`` trains one seed of each.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["VARIANTS", "T", "CHANNELS", "WIDTH", "N_CLASSES", "watch_config", "WatchNet", "watch_trainer", "train_one"]

VARIANTS = ("tcja", "none")
T, CHANNELS, WIDTH, N_CLASSES = 20, 32, 5, 7


def watch_config(attention: str) -> Any:
    """The ``digits_dvs`` config with this data's T, classes and channels: the recipe both variants train with."""
    from .tcja_snn import get_config

    return get_config("digits_dvs", attention=attention, T=T, num_classes=N_CLASSES, in_channels=6)


class WatchNet(nn.Module):
    """The pre-registered network: two conv(1x3)-BN-neuron units (TCJA after each in ``tcja``), the builder's head."""

    def __init__(self, attention: str, channels: int = CHANNELS) -> None:
        super().__init__()
        from ..attention.tcja import TCJA
        from ..layers import Flatten, SpikingConv2d, TemporalDropout, TimeDistributed, VotingLayer
        from .tcja_snn import _neuron_factory

        if attention not in VARIANTS:
            raise ValueError(f"WatchNet: attention must be one of {VARIANTS}, got {attention!r}")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"WatchNet: channels must be a positive int, got {channels!r}")
        self.config = cfg = watch_config(attention)
        if cfg.loss != "mse":
            raise ValueError(f"WatchNet: the digits_dvs config's loss is {cfg.loss!r}; this network implements 'mse'")
        neuron = _neuron_factory(cfg)
        feats: List[nn.Module] = []
        c_in = cfg.in_channels
        for kt, kc in ([4, 4], [4, 4]):
            feats.append(SpikingConv2d(c_in, channels, (1, 3), padding=(0, 1), neuron=neuron, bn=True, bias=False))
            c_in = channels
            if attention == "tcja":
                feats.append(TCJA(cfg.T, channels, kernel_t=kt, kernel_c=kc, mode="tcja", init_gain=cfg.tcja_init_gain))
        self.features = nn.Sequential(*feats)
        head: List[nn.Module] = [Flatten()]  # as TCJASNN's classifier: [dropout, linear, neuron] per layer, vote
        n_in = channels * WIDTH
        for n_out in list(cfg.hidden) + [cfg.out_features]:
            if cfg.dropout > 0:
                head.append(TemporalDropout(cfg.dropout))
            head += [TimeDistributed(nn.Linear(n_in, n_out, bias=cfg.fc_bias)), neuron()]
            n_in = n_out
        head.append(VotingLayer(cfg.voting))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[T, B, 6, 1, 5]`` -> per-step class scores ``[T, B, 7]``; states reset first (one batch = one run)."""
        from ..base import reset

        if x.ndim != 5 or tuple(x.shape[2:]) != (6, 1, WIDTH) or x.shape[0] != T:
            raise ValueError(f"WatchNet: x must be [{T}, B, 6, 1, {WIDTH}], got {tuple(x.shape)}")
        reset(self)
        return self.classifier(self.features(x))

    def loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The digits_dvs loss: MSE between the firing rate over T and the one-hot label."""
        return F.mse_loss(out.mean(0), F.one_hot(labels, self.config.num_classes).to(out.dtype))


def watch_trainer(variant: str, seed: int, out_dir: "str | Path", epochs: Optional[int] = None,
                  channels: int = CHANNELS, label: Optional[str] = None, progress: bool = False,
                  shuffle_steps: bool = False) -> Any:
    """A :class:`~snnkit.train.Trainer` for one variant (conv width ``channels``) and seed, seeded as ``tcja_trainer``.

    ``epochs`` shorter than the config's anneals the cosine over the run (as an ``--epochs`` override does);
    ``shuffle_steps`` trains and tests on windows whose steps are permuted (``load_watch(shuffle_steps=True)``).
    """
    from ..data.imu_watch import load_watch
    from ..train.config import TrainConfig
    from ..train.trainer import Trainer

    cfg = watch_config(variant)
    n_epochs = epochs or cfg.epochs
    t_max = n_epochs if epochs else cfg.T_max
    train, test = load_watch(T=cfg.T, shuffle_steps=shuffle_steps)
    tc = TrainConfig(epochs=n_epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
                     scheduler=cfg.scheduler, T_max=t_max, step_size=cfg.step_size, gamma=cfg.step_gamma, seed=seed,
                     out_dir=str(out_dir), progress=progress, tensorboard=False,
                     input_layout="BT", device="cpu", amp="off", drop_last=cfg.drop_last, mixup=cfg.mixup)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WatchNet(variant, channels)
    return Trainer(model, train, test, tc, arch="tcja_watch", loss_fn=model.loss, label=f"watch {label or variant}")


def train_one(variant: str, seed: int, epochs: Optional[int], out: str, channels: int = CHANNELS,
              label: Optional[str] = None, shuffle_steps: bool = False) -> Dict[str, Any]:
    """Train one variant with one seed in this (child) process on one thread; the run is recorded under ``label``
    (default: the variant), its checkpoints in ``out/<label>_<seed>``."""
    name = label or variant
    torch.set_num_threads(1)
    t0 = time.time()
    tr = watch_trainer(variant, seed, Path(out) / f"{name}_{seed}", epochs, channels, label,
                       shuffle_steps=shuffle_steps)
    hist = tr.fit()
    return {"attention": name, "seed": seed, "final": hist[-1]["test_acc"], "best": tr.best,
            "curve": [h["test_acc"] for h in hist], "train_acc_final": hist[-1].get("train_acc"),
            "seconds": time.time() - t0}
