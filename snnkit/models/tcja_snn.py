"""TCJA-SNN classification networks (Zhu et al., arXiv 2206.10177) as configurable builders.

One dataclass, :class:`TCJASNNConfig`, describes a network and how the paper trains it; the
registry :data:`CONFIGS` holds the paper's networks (``dvs128_gesture``, ``cifar10_dvs``,
``ncaltech101``, ``fashion_mnist``; ``cifar10_dvs_tet`` and ``ncaltech101_tet``, the TCJA-TET-SNN
networks of ``src/tet``) and a small ``digits_dvs`` net for snnkit's offline demo data. A
config's ``name`` is the dataset it trains on (``cifar10_dvs_tet`` has ``name="cifar10_dvs"``). ``build_model(config)`` (or ``TCJASNN(config)``) builds it.

Network: ``stages`` of conv3x3(pad 1)-BN-neuron units, each stage closed by a 2x2 pool; a TCJA
block after the last unit of each stage in ``tcja_stages`` (the last two by default, as in the
paper); then flatten, ``[dropout, linear, neuron]`` per hidden layer, ``[dropout] linear
[neuron]`` to ``num_classes * voting`` outputs, and a voting layer averaging groups of
``voting`` outputs. ``forward`` returns the per-step class scores ``[T, B, num_classes]``
(time-major); the prediction is ``out.mean(0)`` (firing rate), which :meth:`TCJASNN.loss`
compares with the label. Static images ``[B, C, H, W]`` are repeated over ``T`` (direct encoding).

Sources: the DVS128 Gesture, N-Caltech101 and CIFAR10-DVS networks, kernels, neurons and
optimiser are read from ridgerchu/TCJA (``src/dvs128.py``, ``src/caltech101.py``,
``src/cifar10dvs.py``); Fashion-MNIST has no script there and follows the PLIF network
(Fang et al. 2021) that the paper's static-image experiments build on. Where the repo
contradicts itself, the paper and the intent of the code win (see each config's ``notes``).
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import surrogate as _sg
from .._io import torch_load
from ..base import reset
from ..layers import (AvgPool2d, Flatten, MaxPool2d, SpikingConv2d, TemporalDropout, TimeDistributed,
                      VotingLayer)
from ..neurons import LIF, PLIF
from ..attention.tcja import TCJA
from ..functional.validation import is_int

Tensor = torch.Tensor
__all__ = ["TCJASNNConfig", "TCJASNN", "CONFIGS", "ATTENTIONS", "get_config", "build_model",
           "make_optimizer", "make_scheduler", "count_parameters", "PAPER_CONFIGS", "config_of_checkpoint"]

ATTENTIONS = ("tcja", "none", "t_xa", "c_xa")
SCHEDULERS = ("cosine", "step", "none")
LOSSES = ("mse", "ce", "tet")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_number_text(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _pos_int(v: Any) -> bool:
    return is_int(v) and v > 0


def _int_list(v: Any, n: Optional[int] = None, positive: bool = True) -> bool:
    return isinstance(v, (list, tuple)) and (n is None or len(v) == n) and all(_pos_int(x) if positive else is_int(x)
                                                                                for x in v)


# field -> (check, what it must be): the types a JSON/YAML config file can get wrong
_FIELD_CHECKS: Dict[str, Any] = {
    **{k: (lambda v: isinstance(v, str), "a string") for k in
       ("name", "pool", "attention", "neuron", "surrogate", "loss", "optimizer", "scheduler", "conv_init", "notes")},
    **{k: (_pos_int, "a positive int") for k in
       ("num_classes", "in_channels", "T", "voting", "T_max", "step_size", "epochs", "batch_size")},
    **{k: (lambda v: _is_num(v) and v > 0, "a positive number") for k in
       ("lr", "tau", "v_threshold", "tcja_init_gain")},
    "step_gamma": (lambda v: _is_num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "surrogate_alpha": (lambda v: v is None or (_is_num(v) and v > 0), "a positive number or null (the surrogate's default)"),
    **{k: (lambda v: isinstance(v, bool), "true or false") for k in
       ("conv_bias", "fc_bias", "output_neuron", "decay_input", "detach_reset", "augment", "drop_last")},
    "dropout": (lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "tet_lamb": (lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1) (0: per-step cross-entropy alone)"),
    "mixup": (lambda v: _is_num(v) and v >= 0, "a number >= 0 (0: off)"),
    "v_reset": (lambda v: v is None or _is_num(v), "a number or null (soft reset)"),
    "resize": (lambda v: v is None or _pos_int(v), "a positive int or null"),
    "split_seed": (lambda v: v is None or (is_int(v) and v >= 0), "a non-negative int or null (the scripts' order)"),
    "input_size": (lambda v: _int_list(v, 2), "[H, W] of positive ints"),
    "sensor_size": (lambda v: _int_list(v, 2), "[H, W] of positive ints"),
    "stages": (lambda v: isinstance(v, (list, tuple)) and bool(v) and all(_int_list(s) and s for s in v),
               "a non-empty list of non-empty lists of positive ints"),
    "tcja_stages": (lambda v: _int_list(v, positive=False), "a list of stage indices"),
    "tcja_kernels": (lambda v: isinstance(v, (list, tuple)) and all(_int_list(k, 2) for k in v),
                     "a list of [kernel_t, kernel_c] pairs of positive ints"),
    "hidden": (lambda v: _int_list(v), "a list of positive ints"),
}


@dataclass
class TCJASNNConfig:
    """A TCJA-SNN network and its training recipe; plain data (``dataclasses.asdict`` -> JSON)."""

    name: str = "custom"
    # data: frames [T, B, in_channels, H, W]; events framed by number (SpikingJelly split_by='number')
    num_classes: int = 10
    in_channels: int = 2
    input_size: List[int] = field(default_factory=lambda: [128, 128])  # H, W fed to the network
    sensor_size: List[int] = field(default_factory=lambda: [128, 128])  # H, W of the recording
    T: int = 20
    # convolutional trunk
    stages: List[List[int]] = field(default_factory=lambda: [[128]] * 5)  # conv out channels per stage
    pool: str = "max"  # "max" or "avg", 2x2 stride 2 after each stage
    resize: Optional[int] = None  # adaptive average pooling to resize x resize before the trunk
    conv_bias: bool = False
    conv_init: str = "default"  # "default" (PyTorch's) or "kaiming" (kaiming_normal_, fan_out, relu: TET's VGG-SNN)
    # attention
    attention: str = "tcja"  # "tcja", "none", "t_xa" (temporal branch only), "c_xa" (channel branch only)
    tcja_stages: List[int] = field(default_factory=lambda: [-2, -1])  # stages followed by TCJA
    tcja_kernels: List[List[int]] = field(default_factory=lambda: [[4, 4], [4, 4]])  # [kernel_t, kernel_c] each
    tcja_init_gain: float = 1.0  # x PyTorch's default Conv1d init of the TCJA convolutions (1.0 = the original)
    # classifier
    hidden: List[int] = field(default_factory=lambda: [512])
    dropout: float = 0.5  # one mask per sample for all time steps, before each linear layer
    fc_bias: bool = False
    output_neuron: bool = True  # spiking output layer (firing rates) or a linear readout
    voting: int = 10  # output neurons per class
    # neurons
    neuron: str = "lif"  # "lif" or "plif"
    tau: float = 2.0  # LIF tau, PLIF init_tau
    decay_input: bool = True
    v_threshold: float = 1.0
    v_reset: Optional[float] = 0.0
    detach_reset: bool = True
    surrogate: str = "atan"
    surrogate_alpha: Optional[float] = None  # the surrogate's alpha; None: its default (atan 2.0)
    # training recipe
    loss: str = "mse"  # "mse" (firing rate vs one-hot), "ce" (on the mean output), "tet" (per step)
    # TET loss: (1 - tet_lamb) x per-step CE + tet_lamb x MSE(out, 1); src/tet's TET_loss (lamb 1e-3), while
    # SpikingJelly's temporal_efficient_training_cross_entropy (src/cifar10dvs.py, src/caltech101.py -loss tmt) is 0
    tet_lamb: float = 1e-3
    optimizer: str = "adam"
    lr: float = 1e-3
    scheduler: str = "cosine"  # "cosine" (CosineAnnealingLR, T_max), "step" (StepLR, step_size, step_gamma) or "none"
    T_max: int = 1024
    step_size: int = 32  # StepLR: multiply the rate by step_gamma every step_size epochs (the scripts' -step_size 32)
    step_gamma: float = 0.1  # (the scripts' -gamma 0.1)
    epochs: int = 1024
    batch_size: int = 16
    augment: bool = False  # training frames: random left-right flip + roll by up to 5 px (the CIFAR10-DVS script)
    drop_last: bool = True  # leave out each epoch's last partial training batch (the scripts' drop_last=True)
    mixup: float = 0.0  # Beta(alpha, alpha) batch mixup while training: 0 off (the scripts' default), -mixup is 0.5
    split_seed: Optional[int] = None  # per-class 90/10 split (cifar10_dvs, ncaltech101): None = the scripts' file order
    notes: str = ""

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TCJASNNConfig":
        """Inverse of ``dataclasses.asdict``; unknown keys raise ``ValueError``."""
        _refuse_unknown_fields(d, "TCJASNNConfig")
        return cls(**d)

    @property
    def out_features(self) -> int:
        return self.num_classes * self.voting

    def tcja_positions(self) -> List[int]:
        """Indices (0-based, ascending) of the stages followed by a TCJA block."""
        n = len(self.stages)
        return sorted({i % n for i in self.tcja_stages}) if self.attention != "none" else []

    def feature_size(self) -> List[int]:
        """``[C, H, W]`` after the trunk."""
        h, w = (self.resize, self.resize) if self.resize else self.input_size
        for _ in self.stages:
            h, w = h // 2, w // 2
        return [self.stages[-1][-1], h, w]

    def validate(self) -> "TCJASNNConfig":
        def bad(arg: str, val: Any, want: str) -> ValueError:
            hint = ""
            if isinstance(val, str) and _is_number_text(val):
                hint = (" (text, not a number: YAML reads 3e-3 as text, write 3.0e-3 or 0.003)"
                        if re.fullmatch(r"\s*[-+]?\d+[eE][-+]?\d+\s*", val) else " (text, not a number: remove the quotes)")
            return ValueError(f"TCJASNNConfig({self.name}): {arg} must be {want}, got {val!r}{hint}")

        for arg, (check, want) in _FIELD_CHECKS.items():  # types first, so later checks can rely on them
            if not check(getattr(self, arg)):
                raise bad(arg, getattr(self, arg), want)
        if self.attention not in ATTENTIONS:
            raise bad("attention", self.attention, f"one of {ATTENTIONS}")
        if self.loss not in LOSSES:
            raise bad("loss", self.loss, f"one of {LOSSES}")
        if self.pool not in ("max", "avg"):
            raise bad("pool", self.pool, "'max' or 'avg'")
        if self.neuron not in ("lif", "plif"):
            raise bad("neuron", self.neuron, "'lif' or 'plif'")
        if self.optimizer not in ("adam", "sgd"):
            raise bad("optimizer", self.optimizer, "'adam' or 'sgd'")
        if self.scheduler not in SCHEDULERS:
            raise bad("scheduler", self.scheduler, "'cosine', 'step' or 'none'")
        if self.surrogate not in _sg.NAMES:
            raise bad("surrogate", self.surrogate, f"one of {_sg.NAMES}")
        fields = [f.name for f in dataclasses.fields(_sg.get(self.surrogate))]
        if self.surrogate_alpha is not None and "alpha" not in fields:
            raise bad("surrogate_alpha", self.surrogate_alpha, f"null: surrogate {self.surrogate!r} has no alpha "
                      f"(its parameters: {', '.join(fields)}, at their defaults)")
        if self.conv_init not in ("default", "kaiming"):
            raise bad("conv_init", self.conv_init, "'default' or 'kaiming'")
        if self.tau < 1 or (self.neuron == "plif" and self.tau == 1):
            raise bad("tau", self.tau, ">= 1 (LIF) or > 1 (PLIF's initial tau): 1/tau is the leak per step")
        n = len(self.stages)
        if any(not -n <= i < n for i in self.tcja_stages):
            raise bad("tcja_stages", self.tcja_stages, f"stage indices in [-{n}, {n})")
        if len(set(i % n for i in self.tcja_stages)) != len(self.tcja_stages):
            raise bad("tcja_stages", self.tcja_stages, "distinct stages")
        if self.attention != "none" and not self.tcja_stages:
            raise bad("tcja_stages", self.tcja_stages, f"at least one stage with attention {self.attention!r} "
                      "(a network without the block is attention: none)")
        if len(self.tcja_kernels) != len(self.tcja_stages):
            raise bad("tcja_kernels", self.tcja_kernels, f"{len(self.tcja_stages)} pairs [kernel_t, kernel_c]")
        c, h, w = self.feature_size()
        if h < 1 or w < 1:
            raise bad("input_size", self.input_size, f"large enough for {n} 2x2 poolings")
        return self


def _neuron_factory(cfg: TCJASNNConfig) -> Callable[[], nn.Module]:
    sg = _sg.get(cfg.surrogate, **({} if cfg.surrogate_alpha is None else {"alpha": cfg.surrogate_alpha}))
    kw = dict(decay_input=cfg.decay_input, v_threshold=cfg.v_threshold, v_reset=cfg.v_reset,
              detach_reset=cfg.detach_reset, surrogate=sg, step_mode="m")
    if cfg.neuron == "plif":
        return lambda: PLIF(init_tau=cfg.tau, **kw)
    return lambda: LIF(tau=cfg.tau, **kw)


class TCJASNN(nn.Module):
    """The network of a :class:`TCJASNNConfig`; ``forward(x[T, B, C, H, W]) -> [T, B, num_classes]``."""

    def __init__(self, config: TCJASNNConfig) -> None:
        super().__init__()
        if not isinstance(config, TCJASNNConfig):
            raise TypeError(f"TCJASNN: config must be a TCJASNNConfig, got {type(config).__name__}")
        self.config = cfg = config.validate()
        neuron = _neuron_factory(cfg)
        kernels = {i % len(cfg.stages): k for i, k in zip(cfg.tcja_stages, cfg.tcja_kernels)}
        pool = MaxPool2d if cfg.pool == "max" else AvgPool2d

        feats: List[nn.Module] = []
        if cfg.resize:
            feats.append(TimeDistributed(nn.AdaptiveAvgPool2d(cfg.resize)))
        c_in = cfg.in_channels
        for i, stage in enumerate(cfg.stages):
            for c_out in stage:
                feats.append(SpikingConv2d(c_in, c_out, 3, padding=1, neuron=neuron, bn=True, bias=cfg.conv_bias))
                c_in = c_out
            if i in cfg.tcja_positions():
                kt, kc = kernels[i]
                feats.append(TCJA(cfg.T, c_in, kernel_t=kt, kernel_c=kc, mode=cfg.attention,
                                  init_gain=cfg.tcja_init_gain))
            feats.append(pool(2, 2))
        self.features = nn.Sequential(*feats)

        c, h, w = cfg.feature_size()
        head: List[nn.Module] = [Flatten()]
        n_in = c * h * w
        sizes = list(cfg.hidden) + [cfg.out_features]
        for j, n_out in enumerate(sizes):
            if cfg.dropout > 0:
                head.append(TemporalDropout(cfg.dropout))
            head.append(TimeDistributed(nn.Linear(n_in, n_out, bias=cfg.fc_bias)))
            if j < len(sizes) - 1 or cfg.output_neuron:
                head.append(neuron())
            n_in = n_out
        if cfg.voting > 1:
            head.append(VotingLayer(cfg.voting))
        self.classifier = nn.Sequential(*head)
        if cfg.conv_init == "kaiming":  # TET's VGG-SNN: every Conv2d weight (not the TCJA's Conv1d, not the bias)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        """``x[T, B, C, H, W]`` frames (or static ``x[B, C, H, W]``, repeated T times) -> ``[T, B, classes]``.

        Neuron states and dropout masks are reset first: every call is one independent batch.
        """
        cfg = self.config
        name = f"TCJASNN({cfg.name})"
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{name}: x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim not in (4, 5) or x.shape[-3] != cfg.in_channels:
            raise ValueError(f"{name}: x must be [T, B, {cfg.in_channels}, H, W] frames "
                             f"or [B, {cfg.in_channels}, H, W] images, got shape {tuple(x.shape)}")
        if x.ndim == 4:
            x = x.unsqueeze(0).expand(cfg.T, *x.shape)
        if cfg.tcja_positions() and x.shape[0] != cfg.T:
            raise ValueError(f"{name}: x has T={x.shape[0]} time steps but config.T={cfg.T} (the TCJA blocks are sized "
                             "for it)")
        reset(self)
        return self.classifier(self.features(x))

    def loss(self, out: Tensor, labels: Tensor) -> Tensor:
        """The training loss of ``config.loss`` for per-step outputs ``out[T, B, classes]`` and integer labels."""
        kind = self.config.loss
        if kind == "mse":
            return F.mse_loss(out.mean(0), F.one_hot(labels, self.config.num_classes).to(out.dtype))
        if kind == "ce":
            return F.cross_entropy(out.mean(0), labels)
        # TET (Deng et al. 2022): src/tet/functions.py TET_loss with means=1.0 and lamb=config.tet_lamb
        lamb = self.config.tet_lamb
        per_step = torch.stack([F.cross_entropy(o, labels) for o in out]).mean()
        return (1 - lamb) * per_step + lamb * F.mse_loss(out, torch.ones_like(out))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Class indices ``[B]`` from the mean output over time (the first class on a tie)."""
        from ..train.trainer import predicted_class

        return predicted_class(self(x).mean(0))


def build_model(config: "TCJASNNConfig | str") -> TCJASNN:
    """Build a network from a config or a registered name (see :data:`CONFIGS`)."""
    return TCJASNN(get_config(config) if isinstance(config, str) else config)


def make_optimizer(model: nn.Module, config: TCJASNNConfig) -> torch.optim.Optimizer:
    """The optimiser of ``config`` (Adam or SGD with momentum 0.9, as the repo's scripts)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    raise ValueError(f"make_optimizer: config.optimizer must be 'adam' or 'sgd', got {config.optimizer!r}")


def make_scheduler(optimizer: torch.optim.Optimizer, config: TCJASNNConfig) -> Optional[Any]:
    """Cosine annealing over ``T_max`` epochs, StepLR (x ``step_gamma`` every ``step_size`` epochs), both stepped
    once per epoch as the scripts' ``-lr_scheduler CosALR | StepLR``, or ``None`` for ``scheduler='none'``."""
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.T_max)
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.step_gamma)
    if config.scheduler == "none":
        return None
    raise ValueError(f"make_scheduler: config.scheduler must be one of {SCHEDULERS}, got {config.scheduler!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- registry


def _dvs128_gesture() -> TCJASNNConfig:
    return TCJASNNConfig(
        name="dvs128_gesture", num_classes=11, in_channels=2, input_size=[128, 128], sensor_size=[128, 128], T=20,
        stages=[[128]] * 5, pool="max", tcja_stages=[3, 4], tcja_kernels=[[4, 4], [4, 4]],
        hidden=[512], dropout=0.5, voting=10, loss="mse", T_max=1024, epochs=1024, batch_size=16,
        notes="src/dvs128.py CextNet (channels=128): {c128k3-BN-LIF-MP2}x5 with TCJA(4,4,T=20) in the last two "
              "stages, DP-FC512-LIF-DP-FC110-LIF-vote10; README: -T 20 -b 16 -lr 1e-3 Adam CosALR T_max 1024, "
              "1024 epochs, AMP. The script's -T default (16) and -channels are ignored by its hard-coded TCJA.")


def _cifar10_dvs() -> TCJASNNConfig:
    return TCJASNNConfig(
        name="cifar10_dvs", num_classes=10, in_channels=2, input_size=[128, 128], sensor_size=[128, 128], T=10,
        stages=[[64, 128], [256, 256], [512, 512], [512, 512]], pool="avg", resize=48, conv_bias=True,
        tcja_stages=[2, 3], tcja_kernels=[[4, 4], [4, 4]], hidden=[], dropout=0.0, fc_bias=True,
        output_neuron=False, voting=1, surrogate="piecewise_quadratic", surrogate_alpha=1.0,
        loss="mse", tet_lamb=0.0, T_max=1024, epochs=1024, batch_size=16, augment=True,
        notes="src/cifar10dvs.py VGGNet (TET's VGG-11 on 48x48): TCJA(4,4,T=10) after the last conv of the last two "
              "stages, linear readout FC10 averaged over T, PiecewiseQuadratic surrogate, conv bias; T=10 as the "
              "hard-coded TCJA (the README's -T 20 crashes it). Loss: MSE vs one-hot as intended (the script "
              "overwrites the one-hot target with the integer label). Train augmentation: random h-flip and roll "
              "by +-5 px; 90/10 split per class. loss: tet is the script's -loss tmt (SpikingJelly's per-step CE, "
              "tet_lamb 0).")


def _ncaltech101() -> TCJASNNConfig:
    return TCJASNNConfig(
        name="ncaltech101", num_classes=101, in_channels=2, input_size=[180, 240], sensor_size=[180, 240], T=14,
        stages=[[64], [128], [256], [256], [512]], pool="max", tcja_stages=[3, 4], tcja_kernels=[[4, 4], [4, 2]],
        hidden=[1024], dropout=0.5, voting=1, loss="mse", tet_lamb=0.0, T_max=1024, epochs=1024, batch_size=16,
        notes="src/caltech101.py CextNet: c64-MP-c128-MP-c256-MP-c256-TCJA(4,4)-MP-c512-TCJA(2,4)-MP (original "
              "argument order; ours kernel_t=4, kernel_c=2 for the last), DP-FC1024-LIF-DP-FC101-LIF, no voting "
              "(its VotingLayer is built but unused); README: -T 14 -loss mse; 90/10 split per class. loss: tet is the "
              "script's -loss tmt (SpikingJelly's per-step CE, tet_lamb 0).")


# TET's neuron (src/tet/models/layers.py LIFSpike: mem = 0.5 mem + x, spike where mem > 1, mem = (1 - spike) mem
# with the gradient through the reset; ZIF surrogate (1/g^2) max(0, g - |x|) with g = 1, which is piecewise_quadratic
# with alpha = 1/g), conv bias, Kaiming init and a non-spiking readout trained with the TET loss
_TET = dict(neuron="lif", tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
            surrogate="piecewise_quadratic", surrogate_alpha=1.0, conv_bias=True, conv_init="kaiming", fc_bias=True,
            output_neuron=False, voting=1, loss="tet", tet_lamb=1e-3, optimizer="adam", lr=1e-3, T_max=1024,
            epochs=1024)


def _cifar10_dvs_tet() -> TCJASNNConfig:
    return dataclasses.replace(
        _cifar10_dvs(), tcja_stages=[0], tcja_kernels=[[2, 2]], batch_size=64, drop_last=False, **_TET,
        notes="TCJA-TET-SNN, src/tet/cifar10dvs.py VGGSNN_TCJA (src/tet/models/VGG_models.py): TET's VGG-SNN on "
              "48x48, {c64-c128-TCJA(2,2,T=10)}-AP-{c256-c256}-AP-{c512-c512}-AP-{c512-c512}-AP, FC10 readout "
              "averaged over T, TET's LIF and ZIF surrogate, Kaiming init; Adam 1e-3, cosine T_max 1024 over 1024 "
              "epochs, -b 64 (the script's default), TET loss (means 1.0, lamb 1e-3); training frames flipped and "
              "rolled by +-5 px, test frames not. Differences: the script reads TET's own preprocessed .pt frames "
              "and resizes them to 48x48 with PIL before the flip/roll; here SpikingJelly number-split frames are "
              "flipped/rolled at 128x128 and average-pooled to 48x48 in the network (as src/cifar10dvs.py); the "
              "script's train/test folders come from TET's preprocessing, here 90/10 per class in file order. The "
              "script starts its cosine schedule 514 epochs in; this config starts at 0. The scripts train in "
              "float32: --amp off matches them on CUDA.")


def _ncaltech101_tet() -> TCJASNNConfig:
    return dataclasses.replace(
        _ncaltech101(), tcja_kernels=[[4, 4], [4, 4]], **_TET,
        notes="TCJA-TET-SNN, src/tet/n-caltech101.py VGGSNN_TCJA_NCAL: c64-MP-c128-MP-c256-MP-c256-TCJA(4,4,T=14)-"
              "MP-c512-TCJA(4,4)-MP, DP-FC1024-LIF-DP-FC101 readout averaged over T, TET's LIF and ZIF surrogate, "
              "Kaiming init; Adam 1e-3, cosine T_max 1024 over 1024 epochs, --b 16 --T 14 (its TCJA is sized for "
              "T=14; the script's default --T 16 crashes it), TET loss, 90/10 split per class. Dropout: one mask per "
              "sample for all time steps, as intended; the script's MultiStepDropout on batch-major data shares "
              "its masks across the batch (the first also across time steps) and, never reset, keeps them for the "
              "whole run. The script trains in float32: --amp off matches it on CUDA.")


def _fashion_mnist() -> TCJASNNConfig:
    return TCJASNNConfig(
        name="fashion_mnist", num_classes=10, in_channels=1, input_size=[28, 28], sensor_size=[28, 28], T=8,
        stages=[[128], [128]], pool="max", tcja_stages=[0, 1], tcja_kernels=[[4, 4], [4, 4]],
        hidden=[2048], dropout=0.5, voting=10, loss="mse", T_max=1024, epochs=1024, batch_size=16,
        notes="No script in the repo: the PLIF Fashion-MNIST network {c128k3-BN-LIF-MP2}x2-DP-FC2048-LIF-DP-FC100-"
              "LIF-vote10 with LIF neurons and TCJA in both (= the last two) stages; static image repeated T=8 "
              "times (direct encoding, the first conv-BN-LIF is the encoder).")


def _digits_dvs() -> TCJASNNConfig:
    return TCJASNNConfig(
        name="digits_dvs", num_classes=10, in_channels=2, input_size=[34, 34], sensor_size=[34, 34], T=8,
        stages=[[16], [32], [32]], pool="avg", tcja_stages=[1, 2], tcja_kernels=[[4, 4], [4, 4]],
        hidden=[128], dropout=0.2, voting=10, loss="mse", lr=3e-3, T_max=15, epochs=15, batch_size=32,
        tcja_init_gain=10.0, drop_last=False,
        notes="snnkit's offline demo (scikit-learn digits turned into DVS events, 34x34x2): the Gesture network "
              "shrunk to three small stages so that a few epochs train in minutes on 2 CPU cores. Average pooling "
              "(not the Gesture net's max pooling) so that the trained net exports to Loihi/Lava: avg pooling is "
              "a sum pooling with weights 1/4, max pooling has no Loihi mapping. TCJA convs start at 10x PyTorch's "
              "default init: at 1x the fused gate starts as a constant 0.5 and the net learns more slowly in the "
              "first epochs; after 15 epochs the final accuracy is the same within seed noise, with or without "
              "TCJA (40 seeds: docs/tcja.md, benchmarks/tcja_seeds.py).")


CONFIGS: Dict[str, Callable[[], TCJASNNConfig]] = {
    "dvs128_gesture": _dvs128_gesture,
    "cifar10_dvs": _cifar10_dvs,
    "ncaltech101": _ncaltech101,
    "fashion_mnist": _fashion_mnist,
    "digits_dvs": _digits_dvs,
    "cifar10_dvs_tet": _cifar10_dvs_tet,
    "ncaltech101_tet": _ncaltech101_tet,
}
PAPER_CONFIGS = ("dvs128_gesture", "cifar10_dvs", "ncaltech101", "fashion_mnist", "cifar10_dvs_tet", "ncaltech101_tet")


CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


def load_config(path: "str | os.PathLike[str]") -> TCJASNNConfig:
    """A config from a JSON/YAML file: ``base: NAME`` plus the fields to change, or every field (``name`` = dataset).

    ``snnkit train tcja --config NAME --print-config`` writes a complete file to start from. In a
    ``base`` file, ``epochs`` without ``T_max`` also sets ``T_max``, as an ``--epochs`` override does.
    """
    from ..train.config import read_config

    data = read_config(path)
    where = f"config file {os.fspath(path)!r}"
    try:
        if "base" in data:
            base = data.pop("base")
            return get_config(base, **_schedule_follows_epochs(data))
        return TCJASNNConfig.from_dict(data).validate()
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None


def resolve_config(config: "str | os.PathLike[str] | TCJASNNConfig", **overrides: Any) -> TCJASNNConfig:
    """A registered name, a config file (see :func:`load_config`) or a config, with non-None ``overrides`` applied.

    An ``epochs`` override also sets the cosine schedule's ``T_max`` unless that is given too.
    """
    if isinstance(config, TCJASNNConfig):
        cfg = config
    elif isinstance(config, str) and config in CONFIGS:
        cfg = get_config(config)
    elif isinstance(config, (str, os.PathLike)) and os.fspath(config).endswith(".pt"):
        cfg = config_of_checkpoint(config)
    elif isinstance(config, os.PathLike) or (isinstance(config, str) and config.endswith(CONFIG_SUFFIXES)):
        cfg = load_config(config)
    else:
        raise ValueError(f"unknown dataset {config!r}: valid config names are {', '.join(CONFIGS)}; "
                         f"or give a {'/'.join(CONFIG_SUFFIXES)} config file or a .pt checkpoint")
    changes = _schedule_follows_epochs({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(cfg, **changes).validate() if changes else cfg


def config_of_checkpoint(path: "str | os.PathLike[str]") -> TCJASNNConfig:
    """The config a ``snnkit train tcja`` checkpoint trained with (``--config run/best.pt``: train it again, changed)."""
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise FileNotFoundError(f"checkpoint {where!r} does not exist")
    try:
        ckpt = torch_load(where)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
        raise ValueError(f"checkpoint {where!r} could not be read ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("arch") != "tcja_snn" or not isinstance(ckpt.get("model_config"), dict):
        arch = ckpt.get("arch") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{where!r} is not a TCJA-SNN checkpoint written by snnkit train tcja (arch {arch!r})")
    try:
        return TCJASNNConfig.from_dict(ckpt["model_config"]).validate()
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {where!r}: {err}") from None


def _schedule_follows_epochs(changes: Dict[str, Any]) -> Dict[str, Any]:
    """A change of ``epochs`` alone also sets the cosine ``T_max``: a shorter run anneals fully.

    A bad ``epochs`` is left for validation to name (not reported as a bad ``T_max``)."""
    if _pos_int(changes.get("epochs")) and "T_max" not in changes:
        changes = {**changes, "T_max": changes["epochs"]}
    return changes


def get_config(name: str, /, **overrides: Any) -> TCJASNNConfig:
    """A fresh copy of a registered config, with ``overrides`` applied (e.g. ``attention="none"``)."""
    if not isinstance(name, str) or name not in CONFIGS:
        raise ValueError(f"get_config: unknown dataset {name!r}; valid names: {', '.join(CONFIGS)}")
    _refuse_unknown_fields(overrides, f"config {name!r}")
    return dataclasses.replace(CONFIGS[name](), **overrides).validate()


def _refuse_unknown_fields(d: Dict[str, Any], what: str) -> None:
    """``ValueError`` naming each unknown field, with the closest valid name, and listing the valid ones."""
    import difflib

    names = [f.name for f in dataclasses.fields(TCJASNNConfig)]
    unknown = [k for k in d if k not in names]
    if unknown:
        guesses = [f"{k!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(str(k), names, n=1))
                               else "") for k in unknown]
        raise ValueError(f"{what}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(guesses)}; "
                         f"valid fields: {', '.join(names)}")
