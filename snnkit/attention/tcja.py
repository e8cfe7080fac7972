"""Temporal-Channel Joint Attention (TCJA, Zhu et al., arXiv 2206.10177, TNNLS 2024).

For a spike tensor ``x[T, B, C, H, W]``:

1. squeeze: ``Z = mean_{H,W} x`` -> ``[T, B, C]`` (one ``T x C`` average matrix per sample);
2. temporal-wise cross attention (T-XA): a 1-D convolution with ``C`` in/out channels that
   slides along the time axis (kernel ``kernel_t``), so every output mixes all channels of
   ``kernel_t`` neighbouring time steps;
3. channel-wise cross attention (C-XA): a 1-D convolution with ``T`` in/out channels that
   slides along the channel axis (kernel ``kernel_c``), mixing all time steps of
   ``kernel_c`` neighbouring channels;
4. Cross Convolutional Fusion (CCF): ``gate = sigmoid(T-XA * C-XA)`` (element-wise), and
   ``y = x * gate`` broadcast over ``H, W``.

Both convolutions have no bias and torch's ``padding="same"``; for an even kernel torch pads
``(k-1)//2`` zeros before and the rest after, exactly as the original code does. The block
needs the whole sequence at once, so it works in multi-step mode only.

Naming against the original code (ridgerchu/TCJA ``src/layers.py``): its ``TCJA(kernel_size_t,
kernel_size_c, T, channel)`` builds ``conv`` = ``Conv1d(T, T, kernel_size_t)`` (slides along C)
and ``conv_c`` = ``Conv1d(channel, channel, kernel_size_c)`` (slides along T). Its ablation
classes call the latter ``TLA`` (temporal) and the former ``CLA`` (channel). Here a kernel is
named after the axis it slides along, so the original ``TCJA(a, b, T, C)`` is
``TCJA(T, C, kernel_t=b, kernel_c=a)`` with ``weight_t = conv_c.weight``, ``weight_c = conv.weight``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from ..functional.validation import is_int

Tensor = torch.Tensor
__all__ = ["tcja", "tcja_gate", "TCJA", "convert_original_state_dict", "MODES", "DEFAULT_KERNEL_T", "DEFAULT_KERNEL_C"]

MODES = ("tcja", "t_xa", "c_xa")  # both branches fused / temporal branch only / channel branch only
DEFAULT_KERNEL_T = 4  # the kernels of every block in the paper's DVS128 Gesture network
DEFAULT_KERNEL_C = 4


def _check_input(x: object, name: str) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 5:
        raise ValueError(f"{name}: x must be a multi-step spike tensor [T, B, C, H, W] (5 dims), got shape "
                         f"{tuple(x.shape)} ({x.ndim} dims); TCJA needs all time steps at once (step_mode 'm')")
    return x


def _check_weight(w: Optional[Tensor], arg: str, size: int, axis: str, x_shape: tuple, name: str) -> None:
    if w is None:
        return
    if not isinstance(w, torch.Tensor) or w.ndim != 3 or w.shape[0] != w.shape[1]:
        got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"{name}: {arg} must be a Conv1d weight [n, n, k], got {got}")
    if w.shape[0] != size:
        raise ValueError(f"{name}: {arg} has {w.shape[0]} channels, so it needs {axis}={w.shape[0]}, but x of "
                         f"shape {tuple(x_shape)} [T, B, C, H, W] has {axis}={size}")


def _conv_same(z: Tensor, w: Tensor) -> Tensor:
    """``conv1d(z, w, padding="same")`` with torch's split for even kernels, padded explicitly (no warning)."""
    k = w.shape[-1]
    return F.conv1d(F.pad(z, ((k - 1) // 2, k - 1 - (k - 1) // 2)), w.to(z.dtype))


def tcja_gate(x: Tensor, weight_t: Optional[Tensor], weight_c: Optional[Tensor]) -> Tensor:
    """The attention gate ``[T, B, C]`` in ``(0, 1)`` for ``x[T, B, C, H, W]``.

    ``weight_t[C, C, kernel_t]`` is the temporal-wise conv (slides along T), ``weight_c[T, T,
    kernel_c]`` the channel-wise conv (slides along C). With both the gate is
    ``sigmoid(A_t * A_c)`` (CCF); pass ``None`` for one of them to get the single-branch
    ablation ``sigmoid(A)``.
    """
    _check_input(x, "tcja")
    if weight_t is None and weight_c is None:
        raise ValueError("tcja: at least one of weight_t (temporal) and weight_c (channel) must be given")
    T, _, C = x.shape[:3]
    _check_weight(weight_t, "weight_t", C, "C", x.shape, "tcja")
    _check_weight(weight_c, "weight_c", T, "T", x.shape, "tcja")
    z = x.mean(dim=(3, 4))  # [T, B, C]
    gate: Optional[Tensor] = None
    if weight_t is not None:  # channels C, sequence T: [B, C, T]
        gate = _conv_same(z.permute(1, 2, 0), weight_t).permute(2, 0, 1)
    if weight_c is not None:  # channels T, sequence C: [B, T, C]
        a_c = _conv_same(z.transpose(0, 1), weight_c).transpose(0, 1)
        gate = a_c if gate is None else gate * a_c
    assert gate is not None
    return torch.sigmoid(gate)


def tcja(x: Tensor, weight_t: Optional[Tensor], weight_c: Optional[Tensor]) -> Tensor:
    """Apply TCJA to ``x[T, B, C, H, W]``: ``x * tcja_gate(x, weight_t, weight_c)[..., None, None]``."""
    return x * tcja_gate(x, weight_t, weight_c)[..., None, None]


class TCJA(nn.Module):
    """TCJA block for ``x[T, B, C, H, W]`` with the sizes ``T`` and ``channels`` fixed at construction.

    ``mode`` selects the full block (``"tcja"``) or one branch for ablations: ``"t_xa"``
    (temporal-wise only) or ``"c_xa"`` (channel-wise only). Parameters:
    ``channels^2 * kernel_t + T^2 * kernel_c`` for the full block.

    ``init_gain`` multiplies PyTorch's default ``Conv1d`` initialisation, which the original
    code uses (``1.0``). On spike-rate inputs (means ~0.1) each branch then starts with outputs
    of ~0.1, so the fused product ``A_t * A_c`` is ~0.01 and the gate starts as an almost
    constant ``sigmoid(0) = 0.5`` for every sample; the single-branch ablations have no such
    product. A gain of ~10 starts the product at order 1 (see ``docs/tcja.md`` for the effect).
    """

    def __init__(self, T: int, channels: int, kernel_t: int = DEFAULT_KERNEL_T, kernel_c: int = DEFAULT_KERNEL_C,
                 mode: str = "tcja", init_gain: float = 1.0) -> None:
        super().__init__()
        if isinstance(init_gain, bool) or not isinstance(init_gain, (int, float)) or not init_gain > 0:
            raise ValueError(f"TCJA: init_gain must be a positive number, got {init_gain!r}")
        for arg, val in (("T", T), ("channels", channels), ("kernel_t", kernel_t), ("kernel_c", kernel_c)):
            if not is_int(val) or val < 1:
                raise ValueError(f"TCJA: {arg} must be a positive int, got {val!r}")
        if mode not in MODES:
            raise ValueError(f"TCJA: mode must be one of {MODES}, got {mode!r}")
        self.T, self.channels, self.kernel_t, self.kernel_c, self.mode = T, channels, kernel_t, kernel_c, mode
        self.conv_t = nn.Conv1d(channels, channels, kernel_t, padding="same", bias=False) if mode != "c_xa" else None
        self.conv_c = nn.Conv1d(T, T, kernel_c, padding="same", bias=False) if mode != "t_xa" else None
        self.init_gain = float(init_gain)
        if self.init_gain != 1.0:
            with torch.no_grad():
                for conv in (self.conv_t, self.conv_c):
                    if conv is not None:
                        conv.weight.mul_(self.init_gain)

    def _weights(self) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        return (None if self.conv_t is None else self.conv_t.weight,
                None if self.conv_c is None else self.conv_c.weight)

    def _check(self, x: Tensor) -> None:
        _check_input(x, "TCJA")
        if x.shape[0] != self.T or x.shape[2] != self.channels:
            raise ValueError(f"TCJA: built for T={self.T}, channels={self.channels}, but x [T, B, C, H, W] has shape "
                             f"{tuple(x.shape)} (T={x.shape[0]}, C={x.shape[2]})")

    def gate(self, x: Tensor) -> Tensor:
        """The attention gate ``[T, B, C]`` this block multiplies ``x`` with."""
        self._check(x)
        return tcja_gate(x, *self._weights())

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return tcja(x, *self._weights())

    def extra_repr(self) -> str:
        gain = f", init_gain={self.init_gain:g}" if self.init_gain != 1.0 else ""
        return (f"T={self.T}, channels={self.channels}, kernel_t={self.kernel_t}, kernel_c={self.kernel_c}, "
                f"mode={self.mode!r}{gain}")


def convert_original_state_dict(state_dict: dict) -> dict:
    """Rename a ridgerchu/TCJA ``TCJA`` block's keys to this module's.

    The original ``conv`` (T channels, slides along C) is our ``conv_c``; its ``conv_c``
    (C channels, slides along T) is our ``conv_t``. Only a TCJA block's keys (ending in
    ``conv.weight`` / ``conv_c.weight``) may be passed; a whole original network's checkpoint
    loads with :func:`snnkit.models.tcja_original.load_original_checkpoint`.
    """
    out = {}
    for key, val in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        head, _, mod = prefix.rpartition(".")
        new = {"conv": "conv_c", "conv_c": "conv_t"}.get(mod)
        if new is None or leaf != "weight":
            raise ValueError(f"convert_original_state_dict: expected keys '<prefix>conv.weight' or "
                             f"'<prefix>conv_c.weight' of an original TCJA block, got {key!r}")
        out[(head + "." if head else "") + new + ".weight"] = val
    return out
