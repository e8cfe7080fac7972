"""RWKV-4, Eagle (RWKV-5.2) and Finch (RWKV-6) language models, loading BlinkDL's checkpoints unchanged.

One readable file in the style of RWKV-LM (Peng et al., arXiv 2305.13048 for RWKV-4;
arXiv 2404.05892 for Eagle and Finch). Parameter names and shapes are exactly those of
``BlinkDL/RWKV-LM`` (``RWKV-v4neo``, ``RWKV-v5`` ``x052`` and ``x060``), so
``RWKV.from_state_dict(torch.load("RWKV-x060-World-1B6-....pth"))`` works without
conversion and ``model.state_dict()`` is a checkpoint the ``rwkv`` pip package loads.

Every block is pre-LN: ``x += att(ln1(x)); x += ffn(ln2(x))`` with an extra ``ln0`` after the
embedding (stored in block 0), then ``ln_out`` and ``head``. Per version:

* **RWKV-4** time mixing: token shift with learned mixes ``time_mix_{k,v,r}``; WKV with a
  per-channel decay ``w = -exp(time_decay)`` and bonus ``u = time_first``
  (:func:`snnkit.kernels.wkv.wkv`); output ``W_o(sigmoid(r) * wkv)``.
* **Eagle (5.2)**: heads of size ``N`` with a matrix-valued state ``S [N, N]`` per head::

      y_t = r_t (diag(u) k_t^T v_t + S_{t-1}),    S_t = diag(w) S_{t-1} + k_t^T v_t

  with a static decay ``w = exp(-exp(time_decay))`` (``[H, N]``) and ``u = time_faaaa``,
  then GroupNorm over each head (``ln_x``) and a SiLU gate: ``W_o(ln_x(y) * silu(W_g x_g))``.
* **Finch (6)**: the same WKV with a *data-dependent* decay
  ``w_t = exp(-exp(time_decay + tanh(x_w W_1) W_2))`` (LoRA ``time_decay_w1/w2``) and
  data-dependent token shift (ddlerp): ``x_* = x + (x_{t-1} - x) (time_maa_* + m_*)`` where
  the ``m_*`` come from a LoRA ``tanh((x + (x_{t-1} - x) time_maa_x) W_1) W_2``
  (``time_maa_w1/w2``).
* Channel mixing (all versions): ``sigmoid(W_r x_r) * W_v relu(W_k x_k)^2`` with token shift
  (``time_mix_{k,r}`` in v4/v5, ``time_maa_{k,r}`` in v6).

Shapes: ``forward(tokens [B, T]) -> logits [B, T, V]`` (batch-major, like every language
model); ``step(token [B], state) -> (logits [B, V], state)``. The state is a list with one tuple
per layer: ``(att_x, a, b, p, ffn_x)`` for RWKV-4 (``a, b, p`` as in
:mod:`snnkit.kernels.wkv`) and ``(att_x, S [B, H, N, N], ffn_x)`` for v5/v6, the same order as the
``rwkv`` pip package's flat state list.

The Eagle/Finch WKV has a readable reference loop (:func:`wkv_heads_reference`, the
specification) and a chunked form (:func:`wkv_heads_chunked`) used for training: exact
pairwise decays inside chunks, a short loop carrying the state between chunks. Every
exponent it evaluates is <= 0 and decay sums are formed without cancellation, so long
sequences stay finite in float32 whatever the decays.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.text import BPETokenizer
from ..kernels import wkv as _wkv4
from .._fastpath import fast_step_ok
from ..functional.validation import is_int
from ..sampling import sample_logits

Tensor = torch.Tensor
LayerState = Tuple[Tensor, ...]
State = List[LayerState]

__all__ = [
    "RWKV", "RWKVConfig", "VERSIONS", "BACKENDS", "detect_version", "config_from_state_dict",
    "wkv_heads", "wkv_heads_reference", "wkv_heads_chunked", "sample_logits",
    "WorldTokenizer", "BPETokenizer", "load_tokenizer",
]

VERSIONS = (4, 5, 6)
BACKENDS = ("auto", "reference", "chunked", "cpu")
_LOW = (torch.float16, torch.bfloat16)


# =============================================================================== config
@dataclass
class RWKVConfig:
    """Architecture of an RWKV model. ``0`` for ``dim_att``/``dim_ffn`` means BlinkDL's default.

    ``dim_ffn`` defaults to ``4 * n_embd`` (v4) or ``int(3.5 * n_embd) // 32 * 32`` (v5, v6).
    ``head_size`` (v5, v6) splits ``dim_att`` into ``dim_att // head_size`` heads;
    ``ln_x`` is a GroupNorm with ``eps = 1e-5 * head_size_divisor**2`` (RWKV-LM's ``x060``; the
    same as ``x052``'s ``ln_x(x / head_size_divisor)``). ``mix_lora``/``decay_lora`` are Finch's
    LoRA ranks (``D_MIX_LORA``, ``D_DECAY_LORA``). ``wkv_backend`` is used by ``forward``:
    ``auto``, ``reference``, ``chunked`` or (RWKV-4 only) ``cpu``; ``step`` always runs the
    recurrence. ``chunk_size``: tokens per chunk of the Eagle/Finch chunked WKV (8 was fastest
    for fwd+bwd on CPU, against 4 and 16; GPUs may prefer larger).
    """

    version: int = 6
    vocab_size: int = 65536
    n_layer: int = 12
    n_embd: int = 768
    dim_att: int = 0
    dim_ffn: int = 0
    head_size: int = 64
    head_size_divisor: int = 8
    mix_lora: int = 32
    decay_lora: int = 64
    wkv_backend: str = "auto"
    chunk_size: int = 8

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"RWKVConfig.version must be one of {VERSIONS}, got {self.version!r}")
        if not self.dim_att:
            self.dim_att = self.n_embd
        if not self.dim_ffn:
            self.dim_ffn = 4 * self.n_embd if self.version == 4 else int(self.n_embd * 3.5) // 32 * 32
        for key in ("vocab_size", "n_layer", "n_embd", "dim_att", "dim_ffn", "head_size", "head_size_divisor",
                    "mix_lora", "decay_lora", "chunk_size"):
            val = getattr(self, key)
            if not is_int(val) or val < 1:
                raise ValueError(f"RWKVConfig.{key} must be a positive integer, got {val!r}")
        if self.version in (5, 6) and self.dim_att % self.head_size:
            raise ValueError(f"RWKVConfig: dim_att={self.dim_att} must be a multiple of head_size={self.head_size}")
        if self.wkv_backend not in BACKENDS:
            raise ValueError(f"RWKVConfig.wkv_backend must be one of {BACKENDS}, got {self.wkv_backend!r}")
        if self.wkv_backend == "cpu" and self.version != 4:
            raise ValueError(f"RWKVConfig.wkv_backend='cpu' (the fused RWKV-4 kernel) needs version 4, got version "
                             f"{self.version}; use 'auto', 'chunked' or 'reference'")

    @property
    def n_head(self) -> int:
        return self.dim_att // self.head_size

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RWKVConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"RWKVConfig: unknown keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)


# =============================================================================== Eagle/Finch WKV
def _check_heads(r: Tensor, k: Tensor, v: Tensor, logw: Tensor, u: Tensor, state: Optional[Tensor]) -> None:
    if r.ndim != 4:
        raise ValueError(f"wkv_heads: r must be [B, T, H, N], got shape {tuple(r.shape)}")
    for name, t in (("k", k), ("v", v)):
        if t.shape != r.shape:
            raise ValueError(f"wkv_heads: {name} must have r's shape {tuple(r.shape)}, got {tuple(t.shape)}")
    B, T, H, N = r.shape
    try:
        torch.broadcast_shapes(logw.shape, r.shape)
    except RuntimeError:
        raise ValueError(f"wkv_heads: logw must broadcast to [B, T, H, N] = {list(r.shape)}, "
                         f"got {tuple(logw.shape)}") from None
    if tuple(u.shape) != (H, N):
        raise ValueError(f"wkv_heads: u must be [H, N] = [{H}, {N}], got {tuple(u.shape)}")
    if state is not None and tuple(state.shape) != (B, H, N, N):
        raise ValueError(f"wkv_heads: state must be [B, H, N, N] = [{B}, {H}, {N}, {N}], got {tuple(state.shape)}")


def wkv_heads_reference(r: Tensor, k: Tensor, v: Tensor, logw: Tensor, u: Tensor,
                        state: Tensor) -> Tuple[Tensor, Tensor]:
    """The specification: one token at a time. ``S`` is ``[B, H, N_key, N_value]``."""
    B, T, H, N = r.shape
    logw = logw.expand(B, T, H, N)
    S, ys = state, []
    for t in range(T):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]                    # k_t^T v_t   [B, H, N, N]
        ys.append(torch.einsum("bhn,bhnm->bhm", r[:, t], u[..., None] * kv + S))
        S = torch.exp(logw[:, t])[..., None] * S + kv                      # decay along the key axis
    y = torch.stack(ys, 1) if ys else r.new_zeros(r.shape)
    return y, S


def wkv_heads_chunked(r: Tensor, k: Tensor, v: Tensor, logw: Tensor, u: Tensor, state: Tensor,
                      chunk_size: int = 8, max_elements: int = 1 << 24) -> Tuple[Tensor, Tensor]:
    """Chunk-parallel Eagle/Finch WKV (exact; autograd for the backward).

    In a chunk of ``L`` tokens the output is ``y_t = r_t S_in e^{b_t} + sum_{i<t} (r_t e^{D_ti} k_i) v_i
    + (r_t u k_t) v_t`` with ``D_ti = sum_{i<j<t} log w_j`` formed pairwise (memory
    ``O(B H L^2 N)`` per chunk, processed in groups of at most ``max_elements``), ``b_t`` the decay
    since the chunk start; the state leaving the chunk is ``e^{a_L} S_in + sum_i (k_i e^{c_i})^T v_i``
    with ``c_i = sum_{j>i} log w_j``. All sums run over non-positive terms (no cancellation), all
    exponents are <= 0.
    """
    B, T, H, N = r.shape
    if T == 0:  # nothing to read: the state passes through (as in the reference loop)
        return r.new_zeros(r.shape), state
    L = max(1, min(chunk_size, T))
    n = -(-T // L)
    pad = n * L - T
    logw = logw.expand(B, T, H, N)
    if pad:  # padding tokens: r = k = v = 0 add nothing, log w = 0 leaves the state as it is
        r, k, v, logw = (F.pad(x, (0, 0, 0, 0, 0, pad)) for x in (r, k, v, logw))

    def split(x: Tensor) -> Tensor:  # [B, n*L, H, N] -> [B, H, n, L, N]
        return x.reshape(B, n, L, H, N).permute(0, 3, 1, 2, 4)

    r, k, v, lw = split(r), split(k), split(v), split(logw)
    a = lw.cumsum(3)                                           # inclusive: sum_{j<=t}
    b = F.pad(a[..., :-1, :], (0, 0, 1, 0))                    # exclusive: sum_{j<t}
    c = F.pad(lw.flip(3).cumsum(3).flip(3)[..., 1:, :], (0, 0, 0, 1))   # sum_{j>i}

    # 1. the state entering each chunk (the only sequential part: n steps)
    dS = (k * torch.exp(c)).transpose(-1, -2) @ v              # [B, H, n, N, N]
    decay = torch.exp(a[..., -1, :])[..., None]                # [B, H, n, N, 1]
    S, ins = state, []
    for ci in range(n):
        ins.append(S)
        S = decay[:, :, ci] * S + dS[:, :, ci]
    S_in = torch.stack(ins, 2)                                 # [B, H, n, N, N]
    y = (r * torch.exp(b)) @ S_in

    # 2. inside chunks: pairwise decays D[t, i] = sum_{i<j<t} log w_j (cumsum over t, no cancellation)
    idx = torch.arange(L, device=r.device)
    below = (idx[:, None] - 1 > idx[None, :])[:, :, None]     # j = t-1 lies strictly after i
    lower = (idx[:, None] > idx[None, :])[:, :, None]          # i < t
    lw_prev = F.pad(lw[..., :-1, :], (0, 0, 1, 0))             # log w_{t-1} at row t
    uu = u[None, :, None, None, :].to(r.dtype)
    group = max(1, max_elements // max(1, B * H * L * L * N))
    outs = []
    for c0 in range(0, n, group):
        sl = slice(c0, c0 + group)
        Z = torch.where(below, lw_prev[:, :, sl, :, None, :], 0.0)      # [B, H, g, L(t), L(i), N]
        D = torch.exp(torch.where(lower, Z.cumsum(3), float("-inf")))
        A = (r[:, :, sl, :, None, :] * k[:, :, sl, None, :, :] * D).sum(-1)     # [B, H, g, L, L]
        A = A + torch.diag_embed((r[:, :, sl] * uu * k[:, :, sl]).sum(-1))
        outs.append(A @ v[:, :, sl])
    y = y + torch.cat(outs, 2)
    y = y.permute(0, 2, 3, 1, 4).reshape(B, n * L, H, N)[:, :T]
    return y, S


def wkv_heads(r: Tensor, k: Tensor, v: Tensor, logw: Tensor, u: Tensor, state: Optional[Tensor] = None,
              backend: str = "auto", chunk_size: int = 8) -> Tuple[Tensor, Tensor]:
    """Eagle/Finch WKV over ``r, k, v [B, T, H, N]``; returns ``(y [B, T, H, N], S [B, H, N, N])``.

    ``logw`` is the log of the per-token decay (``-exp(time_decay)``, <= 0), broadcastable to
    ``[B, T, H, N]`` (``[1, 1, H, N]`` for Eagle's static decay); ``u`` (``time_faaaa``) is
    ``[H, N]``. ``state=None`` starts from zeros. ``backend``: ``reference`` (the loop),
    ``chunked`` or ``auto`` (chunked when ``T > 1``). Computed in float32 (float64 stays float64);
    ``y`` comes back in ``r``'s dtype.
    """
    if backend not in ("auto", "reference", "chunked"):
        raise ValueError(f"wkv_heads: backend must be 'auto', 'reference' or 'chunked', got {backend!r}")
    _check_heads(r, k, v, logw, u, state)
    out_dtype = r.dtype
    dt = torch.float64 if out_dtype == torch.float64 else torch.float32
    B, T, H, N = r.shape
    S = r.new_zeros(B, H, N, N, dtype=dt) if state is None else state.to(dt)
    r, k, v, logw, u = (t.to(dt) for t in (r, k, v, logw, u))
    if backend == "reference" or (backend == "auto" and T <= 1):
        y, S = wkv_heads_reference(r, k, v, logw, u, S)
    else:
        y, S = wkv_heads_chunked(r, k, v, logw, u, S, chunk_size)
    return y.to(out_dtype), S


# =============================================================================== layers
def _shift(x: Tensor, prev: Optional[Tensor]) -> Tensor:
    """``x_{t-1}`` for every t of ``x [B, T, C]``; ``prev`` (``[B, C]``) is the token before, zeros if None."""
    first = x.new_zeros(x.shape[0], 1, x.shape[2]) if prev is None else prev[:, None].to(x.dtype)
    return torch.cat([first, x[:, :-1]], 1)


def _ln(x: Tensor, ln: nn.LayerNorm) -> Tensor:
    """``ln(x)`` without the module call (the recurrent step runs hundreds of small ops per token)."""
    P = ln._parameters
    return F.layer_norm(x, ln.normalized_shape, P["weight"], P["bias"], ln.eps)


def _f32(t: Tensor) -> Tensor:
    """``t.float()`` without a dispatch when ``t`` is float32 already (most calls of the step)."""
    return t if t.dtype == torch.float32 else t.float()


def _as(t: Tensor, like: Tensor) -> Tensor:
    """``t.to(like.dtype)``, skipping the dispatch when the dtypes match."""
    return t if t.dtype == like.dtype else t.to(like.dtype)


def _mm(x: Tensor, weight: Tensor) -> Tensor:
    """``F.linear(x, weight)`` for ``x [B, C]`` as one ``mm`` (the same kernel; fewer dispatch layers)."""
    return torch.mm(x, weight.t())


def _weight(mod: nn.Module, name: str) -> Tensor:
    """``mod.<name>.weight`` by dictionary look-ups (``nn.Module.__getattr__`` is Python code, called ~20 times a layer)."""
    return mod._modules[name]._parameters["weight"]  # type: ignore[index, union-attr]


def _mixes(x: Tensor, prev: Tensor, *mixes: Tensor) -> Tuple[Tensor, ...]:
    """``x * m + prev * (1 - m)`` for one token ``x [B, C]`` and each ``[1, 1, C]`` mix ``m``, formed as one
    ``[n, B, C]`` tensor (the forward's formula, so the same bits, in a third of the ops)."""
    m = torch.stack(mixes).view(len(mixes), 1, -1)
    return (x * m + prev * torch.rsub(m, 1)).unbind(0)


def _vec(p: Tensor) -> Tensor:
    """A ``[1, 1, C]`` mix parameter as ``[C]`` (broadcasts against ``[B, C]`` rows)."""
    return p.view(-1)


def _up(t: Tensor) -> Tensor:
    """``t`` in the Eagle/Finch WKV's precision: float32, or float64 for a float64 model (as :func:`wkv_heads`)."""
    return t if t.dtype == torch.float64 or t.dtype == torch.float32 else t.float()


def _add_head_projections(mod: nn.Module, cfg: Any, C: int, A: int, H: int) -> None:
    """Eagle/Finch time-mix projections (BlinkDL's names, in their order) and the per-head GroupNorm ``ln_x``."""
    mod.receptance = nn.Linear(C, A, bias=False)
    mod.key = nn.Linear(C, A, bias=False)
    mod.value = nn.Linear(C, A, bias=False)
    mod.output = nn.Linear(A, C, bias=False)
    mod.gate = nn.Linear(C, A, bias=False)
    mod.ln_x = nn.GroupNorm(H, A, eps=1e-5 * cfg.head_size_divisor ** 2)


def _ddd(n_embd: int) -> Tensor:
    return (torch.arange(n_embd, dtype=torch.float32) / n_embd).view(1, 1, n_embd)


class TimeMix4(nn.Module):
    """RWKV-4 time mixing (RWKV-LM ``RWKV-v4neo`` ``RWKV_TimeMix``)."""

    def __init__(self, cfg: RWKVConfig, layer_id: int):
        super().__init__()
        C, A = cfg.n_embd, cfg.dim_att
        self.cfg, self.layer_id = cfg, layer_id
        self.time_decay = nn.Parameter(torch.zeros(A))
        self.time_first = nn.Parameter(torch.zeros(A))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_v = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, C))
        self.key = nn.Linear(C, A, bias=False)
        self.value = nn.Linear(C, A, bias=False)
        self.receptance = nn.Linear(C, A, bias=False)
        self.output = nn.Linear(A, C, bias=False)

    @torch.no_grad()
    def init_time(self, generator: Optional[torch.Generator] = None) -> None:
        cfg, A = self.cfg, self.cfg.dim_att
        r01 = self.layer_id / max(1, cfg.n_layer - 1)
        r10 = 1.0 - self.layer_id / cfg.n_layer
        ddd = _ddd(cfg.n_embd)
        h = torch.arange(A, dtype=torch.float32)
        self.time_decay.copy_(-5 + 8 * (h / max(1, A - 1)) ** (0.7 + 1.3 * r01))
        self.time_first.copy_(math.log(0.3) + ((h + 1) % 3 - 1) * 0.5)
        self.time_mix_k.copy_(ddd ** r10)
        self.time_mix_v.copy_(ddd ** r10 + 0.3 * r01)
        self.time_mix_r.copy_(ddd ** (0.5 * r10))

    def forward(self, x: Tensor, state: Optional[Tuple[Tensor, ...]], backend: str) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        prev, wstate = (None, None) if state is None else (state[0], tuple(state[1:4]))
        xx = _shift(x, prev)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v = self.key(xk), self.value(xv)
        r = torch.sigmoid(self.receptance(xr))
        w = -torch.exp(self.time_decay.float())
        kt, vt = k.float().transpose(0, 1).contiguous(), v.float().transpose(0, 1).contiguous()
        if x.shape[1] == 1 and backend == "reference":  # one recurrent step: skip the dispatcher's checks
            st = wstate if wstate is not None else _wkv4.initial_state(x.shape[0], kt.shape[2], device=x.device)
            y, (a, b, p) = _wkv4.wkv_reference(w, self.time_first.float(), kt, vt, st)  # type: ignore[arg-type]
        else:
            y, (a, b, p) = _wkv4.wkv(w, self.time_first.float(), kt, vt, wstate, backend=backend)  # type: ignore[arg-type]
        out = self.output(r * y.transpose(0, 1).to(x.dtype))
        return out, (x[:, -1], a, b, p)

    def step(self, x: Tensor, state: Tuple[Tensor, ...]) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """One token, ``x [B, C]`` (ln1 output): :meth:`forward` at T = 1 with the same formulas, fewer ops."""
        prev, a, b, p = state
        P = self._parameters
        xk, xv, xr = _mixes(x, prev, P["time_mix_k"], P["time_mix_v"], P["time_mix_r"])
        k, v = _f32(_mm(xk, _weight(self, "key"))), _f32(_mm(xv, _weight(self, "value")))
        r = torch.sigmoid(_mm(xr, _weight(self, "receptance")))
        # the formulas of wkv_reference (as step_reference and the rwkv package: the same bits; the fused
        # kernel's exp differs in the last place and was no faster at benchmark size)
        y, (a, b, p) = _wkv4.wkv_step(-torch.exp(_f32(P["time_decay"])), _f32(P["time_first"]), k, v, (a, b, p),
                                      fused=False)
        out = _mm(r * _as(y, x), _weight(self, "output"))
        return out, (x, a, b, p)


class TimeMix5(nn.Module):
    """Eagle time mixing (RWKV-LM ``RWKV-v5`` ``RWKV_Tmix_x052``)."""

    def __init__(self, cfg: RWKVConfig, layer_id: int):
        super().__init__()
        C, A, H, N = cfg.n_embd, cfg.dim_att, cfg.n_head, cfg.head_size
        self.cfg, self.layer_id = cfg, layer_id
        for name in ("time_mix_k", "time_mix_v", "time_mix_r", "time_mix_g"):
            setattr(self, name, nn.Parameter(torch.zeros(1, 1, C)))
        self.time_decay = nn.Parameter(torch.zeros(H, N))
        self.time_faaaa = nn.Parameter(torch.zeros(H, N))
        _add_head_projections(self, cfg, C, A, H)

    @torch.no_grad()
    def init_time(self, generator: Optional[torch.Generator] = None) -> None:
        cfg, A = self.cfg, self.cfg.dim_att
        r01 = self.layer_id / max(1, cfg.n_layer - 1)
        r10 = 1.0 - self.layer_id / cfg.n_layer
        ddd = _ddd(cfg.n_embd)
        self.time_mix_k.copy_(ddd ** r10)
        self.time_mix_v.copy_(ddd ** r10 + 0.3 * r01)
        self.time_mix_r.copy_(ddd ** (0.5 * r10))
        self.time_mix_g.copy_(ddd ** (0.5 * r10))
        _init_decay_bonus(self.time_decay, self.time_faaaa, A, r01)

    def mix(self, x: Tensor, xx: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Token shift and projections: ``r, k, v, g`` and the log decay."""
        m = [getattr(self, f"time_mix_{c}") for c in "kvrg"]
        xk, xv, xr, xg = (x * mi + xx * (1 - mi) for mi in m)
        logw = -torch.exp(_up(self.time_decay))[None, None]
        return self.receptance(xr), self.key(xk), self.value(xv), F.silu(self.gate(xg)), logw

    def forward(self, x: Tensor, state: Optional[Tuple[Tensor, ...]], backend: str) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        prev, S = (None, None) if state is None else state[:2]
        r, k, v, g, logw = self.mix(x, _shift(x, prev))
        return self._finish(x, r, k, v, g, logw, S, backend)

    def _finish(self, x: Tensor, r: Tensor, k: Tensor, v: Tensor, g: Tensor, logw: Tensor,
                S: Optional[Tensor], backend: str) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        B, T, _ = x.shape
        H, N = self.cfg.n_head, self.cfg.head_size
        if T == 1 and backend == "reference":  # one recurrent step, as matrix products
            if S is None:
                S = x.new_zeros(B, H, N, N, dtype=_up(x).dtype)
            kv = _up(k).view(B, H, N, 1) @ _up(v).view(B, H, 1, N)
            y = _up(r).view(B, H, 1, N) @ (_up(self.time_faaaa)[..., None] * kv + S)
            S = torch.exp(logw).reshape(-1, H, N, 1) * S + kv
        else:
            y, S = wkv_heads(r.view(B, T, H, N), k.view(B, T, H, N), v.view(B, T, H, N), logw, self.time_faaaa, S,
                             backend=backend, chunk_size=self.cfg.chunk_size)
        ln = self.ln_x  # GroupNorm per head, in float32 whatever the weights' dtype
        y = F.group_norm(y.reshape(B * T, H * N).float(), H, ln.weight.float(), ln.bias.float(), ln.eps)
        y = y.view(B, T, H * N).to(x.dtype)
        return self.output(y * g), (x[:, -1], S)

    def step_mix(self, x: Tensor, prev: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """:meth:`mix` for one token ``x [B, C]``: ``r, k, v, g [B, A]`` and the log decay (``[H, N]``)."""
        P = self._parameters
        xk, xv, xr, xg = _mixes(x, prev, P["time_mix_k"], P["time_mix_v"], P["time_mix_r"], P["time_mix_g"])
        r, k, v = _mm(xr, _weight(self, "receptance")), _mm(xk, _weight(self, "key")), _mm(xv, _weight(self, "value"))
        g = F.silu(_mm(xg, _weight(self, "gate")))
        return r, k, v, g, -torch.exp(_up(P["time_decay"]))

    def step(self, x: Tensor, state: Tuple[Tensor, ...]) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """One token, ``x [B, C]`` (ln1 output): :meth:`forward` at T = 1 with the same formulas, fewer ops."""
        prev, S = state
        r, k, v, g, logw = self.step_mix(x, prev)
        B, H, N = x.shape[0], self.cfg.n_head, self.cfg.head_size
        kv = _up(k).view(B, H, N, 1) * _up(v).view(B, H, 1, N)          # k^T v: an outer product per head
        u = _up(self._parameters["time_faaaa"])[..., None]
        y = torch.bmm(_up(r).view(B * H, 1, N), (u * kv + S).view(B * H, N, N))
        S = torch.exp(logw).view(-1, H, N, 1) * S + kv
        ln = self._modules["ln_x"]  # GroupNorm per head, in float32 as in forward
        y = F.group_norm(_f32(y.view(B, H * N)), H, _f32(ln._parameters["weight"]), _f32(ln._parameters["bias"]), ln.eps)
        y = _as(y, x)
        return _mm(y * g, _weight(self, "output")), (x, S)


class TimeMix6(TimeMix5):
    """Finch time mixing (RWKV-LM ``RWKV-v5`` ``RWKV_Tmix_x060``): ddlerp token shift, LoRA decay."""

    def __init__(self, cfg: RWKVConfig, layer_id: int):
        nn.Module.__init__(self)
        C, A, H, N = cfg.n_embd, cfg.dim_att, cfg.n_head, cfg.head_size
        self.cfg, self.layer_id = cfg, layer_id
        for name in ("time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"):
            setattr(self, name, nn.Parameter(torch.zeros(1, 1, C)))
        self.time_maa_w1 = nn.Parameter(torch.zeros(C, cfg.mix_lora * 5))
        self.time_maa_w2 = nn.Parameter(torch.zeros(5, cfg.mix_lora, C))
        self.time_decay = nn.Parameter(torch.zeros(1, 1, A))
        self.time_decay_w1 = nn.Parameter(torch.zeros(C, cfg.decay_lora))
        self.time_decay_w2 = nn.Parameter(torch.zeros(cfg.decay_lora, A))
        self.time_faaaa = nn.Parameter(torch.zeros(H, N))
        _add_head_projections(self, cfg, C, A, H)

    @torch.no_grad()
    def init_time(self, generator: Optional[torch.Generator] = None) -> None:
        cfg, A = self.cfg, self.cfg.dim_att
        r01 = self.layer_id / max(1, cfg.n_layer - 1)
        r10 = 1.0 - self.layer_id / cfg.n_layer
        ddd = _ddd(cfg.n_embd)
        for name, p in (("x", r10), ("w", r10), ("k", r10), ("r", 0.5 * r10), ("g", 0.5 * r10)):
            getattr(self, f"time_maa_{name}").copy_(1.0 - ddd ** p)
        self.time_maa_v.copy_(1.0 - (ddd ** r10 + 0.3 * r01))
        self.time_maa_w2.uniform_(-0.01, 0.01, generator=generator)
        self.time_decay_w2.uniform_(-0.01, 0.01, generator=generator)
        self.time_maa_w1.zero_()
        self.time_decay_w1.zero_()
        td = torch.zeros(cfg.n_head, cfg.head_size)
        _init_decay_bonus(td, self.time_faaaa, A, r01)
        self.time_decay.copy_(td.view(1, 1, A))

    def mix(self, x: Tensor, xx: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        B, T, C = x.shape
        dx = xx - x
        xxx = x + dx * self.time_maa_x
        xxx = torch.tanh(xxx @ self.time_maa_w1).view(B * T, 5, -1).transpose(0, 1)
        mw, mk, mv, mr, mg = torch.bmm(xxx, self.time_maa_w2).view(5, B, T, C).unbind(0)
        xw = x + dx * (self.time_maa_w + mw)
        xk = x + dx * (self.time_maa_k + mk)
        xv = x + dx * (self.time_maa_v + mv)
        xr = x + dx * (self.time_maa_r + mr)
        xg = x + dx * (self.time_maa_g + mg)
        w = self.time_decay + torch.tanh(xw @ self.time_decay_w1) @ self.time_decay_w2
        logw = -torch.exp(_up(w)).view(B, T, self.cfg.n_head, self.cfg.head_size)
        return self.receptance(xr), self.key(xk), self.value(xv), F.silu(self.gate(xg)), logw

    def step_mix(self, x: Tensor, prev: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """:meth:`mix` for one token ``x [B, C]``: ``r, k, v, g [B, A]`` and the log decay ``[B, A]``.

        The five ddlerp mixes ``x + dx (time_maa_* + m_*)`` are formed as one ``[5, B, C]`` tensor.
        """
        P = self._parameters
        B, C = x.shape
        dx = prev - x
        xxx = torch.tanh((x + dx * _vec(P["time_maa_x"])) @ P["time_maa_w1"]).view(B, 5, -1)
        m5 = torch.bmm(xxx.transpose(0, 1), P["time_maa_w2"])                       # [5, B, C]: m_w, m_k, m_v, m_r, m_g
        maa = torch.stack([P[f"time_maa_{c}"] for c in "wkvrg"]).view(5, 1, C)
        xw, xk, xv, xr, xg = (x + dx * (maa + m5)).unbind(0)
        w = _vec(P["time_decay"]) + torch.tanh(xw @ P["time_decay_w1"]) @ P["time_decay_w2"]
        return (_mm(xr, _weight(self, "receptance")), _mm(xk, _weight(self, "key")), _mm(xv, _weight(self, "value")),
                F.silu(_mm(xg, _weight(self, "gate"))), -torch.exp(_up(w)))


def _init_decay_bonus(time_decay: Tensor, time_faaaa: Tensor, A: int, r01: float) -> None:
    n = torch.arange(A, dtype=torch.float32)
    decay = -6 + 5 * (n / max(1, A - 1)) ** (0.7 + 1.3 * r01)
    bonus = r01 * (1 - n / max(1, A - 1)) + ((n + 1) % 3 - 1) * 0.1
    time_decay.copy_(decay.view_as(time_decay))
    time_faaaa.copy_(bonus.view_as(time_faaaa))


class ChannelMix(nn.Module):
    """Channel mixing: ``time_mix_{k,r}`` (v4, v5) or ``time_maa_{k,r}`` (v6, ``maa = 1 - mix``)."""

    def __init__(self, cfg: RWKVConfig, layer_id: int):
        super().__init__()
        C = cfg.n_embd
        self.cfg, self.layer_id = cfg, layer_id
        self.maa = cfg.version == 6
        prefix = "time_maa" if self.maa else "time_mix"
        self._k, self._r = f"{prefix}_k", f"{prefix}_r"
        setattr(self, self._k, nn.Parameter(torch.zeros(1, 1, C)))
        setattr(self, self._r, nn.Parameter(torch.zeros(1, 1, C)))
        self.key = nn.Linear(C, cfg.dim_ffn, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(cfg.dim_ffn, C, bias=False)

    @torch.no_grad()
    def init_time(self, generator: Optional[torch.Generator] = None) -> None:
        r10 = 1.0 - self.layer_id / self.cfg.n_layer
        ddd = _ddd(self.cfg.n_embd)
        mix = ddd ** (r10 ** 3) if self.maa else ddd ** r10
        for name in (self._k, self._r):
            getattr(self, name).copy_(1.0 - mix if self.maa else mix)

    def forward(self, x: Tensor, prev: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        xx = _shift(x, prev)
        mk, mr = getattr(self, self._k), getattr(self, self._r)
        if self.maa:
            xk, xr = x + (xx - x) * mk, x + (xx - x) * mr
        else:
            xk, xr = x * mk + xx * (1 - mk), x * mr + xx * (1 - mr)
        kv = self.value(torch.relu(self.key(xk)) ** 2)
        return torch.sigmoid(self.receptance(xr)) * kv, x[:, -1]

    def step(self, x: Tensor, prev: Tensor) -> Tensor:
        """One token, ``x [B, C]`` (ln2 output): :meth:`forward` at T = 1 with the same formulas, fewer ops."""
        mixes = self._parameters[self._k], self._parameters[self._r]
        if self.maa:
            mk, mr = _vec(mixes[0]), _vec(mixes[1])
            dx = prev - x
            xk, xr = x + dx * mk, x + dx * mr
        else:
            xk, xr = _mixes(x, prev, *mixes)
        kv = _mm(torch.relu(_mm(xk, _weight(self, "key"))) ** 2, _weight(self, "value"))
        return torch.sigmoid(_mm(xr, _weight(self, "receptance"))) * kv


class Block(nn.Module):
    """Pre-LN block; block 0 also holds ``ln0`` (applied to the embedding)."""

    def __init__(self, cfg: RWKVConfig, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(cfg.n_embd)
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.att = {4: TimeMix4, 5: TimeMix5, 6: TimeMix6}[cfg.version](cfg, layer_id)
        self.ffn = ChannelMix(cfg, layer_id)

    def forward(self, x: Tensor, state: Optional[LayerState], backend: str) -> Tuple[Tensor, LayerState]:
        if self.layer_id == 0:
            x = self.ln0(x)
        att_state = None if state is None else state[:-1]
        dx, att_state = self.att(self.ln1(x), att_state, backend)
        x = x + dx
        dx, ffn_x = self.ffn(self.ln2(x), None if state is None else state[-1])
        return x + dx, (*att_state, ffn_x)

    def step(self, x: Tensor, state: LayerState) -> Tuple[Tensor, LayerState]:
        """One token, ``x [B, C]``, from this layer's ``state``: :meth:`forward` at T = 1."""
        M = self._modules
        if self.layer_id == 0:
            x = _ln(x, M["ln0"])
        dx, att_state = M["att"].step(_ln(x, M["ln1"]), state[:-1])
        x = x + dx
        h = _ln(x, M["ln2"])
        return x + M["ffn"].step(h, state[-1]), (*att_state, h)


# =============================================================================== model
_STEP_TYPES = (nn.Embedding, nn.LayerNorm, nn.GroupNorm, nn.Linear, nn.ModuleList, Block, TimeMix4, TimeMix5,
               TimeMix6, ChannelMix)  # what the fast step reads weights from


class RWKV(nn.Module):
    """An RWKV-4 / Eagle / Finch language model with BlinkDL's parameter names.

    ``forward(tokens [B, T])`` -> logits ``[B, T, V]`` (parallel: chunked WKV), optionally
    continuing from and returning a recurrent ``state``; ``step(token [B], state)`` -> ``(logits
    [B, V], state)`` (the recurrence, one token); ``generate`` samples with temperature/top-p.
    """

    def __init__(self, config: RWKVConfig, init_weights: bool = True):
        super().__init__()
        if not isinstance(config, RWKVConfig):
            raise TypeError(f"RWKV: config must be an RWKVConfig, got {type(config).__name__}")
        self.config = config
        # _weight skips nn.Embedding's own normal_ init (replaced below; on the meta device it would
        # import torch._dynamo, seconds of start-up)
        self.emb = nn.Embedding(config.vocab_size, config.n_embd, _weight=torch.empty(config.vocab_size, config.n_embd))
        self.blocks = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        self.ln_out = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if init_weights:
            self.reset_parameters()

    @property
    def version(self) -> int:
        return self.config.version

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """BlinkDL's initialisation (RWKV-LM ``generate_init_weight``): small embedding, orthogonal
        projections, zeroed output matrices, the "fancy" decay and mix schedules.

        Eagle/Finch follow ``RWKV-v5``: orthogonal with gain 1 (0.1 for ``att.key``/``att.gate``),
        zero ``att.output``/``ffn.value``/``ffn.receptance``, ``ln_x.weight = ((i + 1) / n_layer) ** 0.7``.
        RWKV-4 follows ``RWKV-v4neo``: gain ``sqrt(out / in)`` when ``out > in``, and also zero
        ``att.key``/``att.receptance``. The embedding is uniform in +-1e-4 for every version.
        """
        cfg = self.config
        self.emb.weight.uniform_(-1e-4, 1e-4, generator=generator)
        gain = 0.5 * math.sqrt(cfg.vocab_size / cfg.n_embd) if cfg.vocab_size > cfg.n_embd else 0.5
        nn.init.orthogonal_(self.head.weight, gain=gain, generator=generator)
        zero = {"output", "ffn.value", "ffn.receptance"} | ({"key", "receptance"} if cfg.version == 4 else set())
        for blk in self.blocks:
            blk.att.init_time(generator)
            blk.ffn.init_time(generator)
            for name, lin in list(blk.att.named_children()) + [(f"ffn.{n}", m) for n, m in blk.ffn.named_children()]:
                if not isinstance(lin, nn.Linear):
                    continue
                if name in zero:
                    lin.weight.zero_()
                    continue
                if cfg.version == 4:
                    o, i = lin.weight.shape
                    g = math.sqrt(o / i) if o > i else 1.0
                else:
                    g = 0.1 if name in ("key", "gate") else 1.0
                nn.init.orthogonal_(lin.weight, gain=g, generator=generator)
            for ln in (blk.ln1, blk.ln2) + ((blk.ln0,) if blk.layer_id == 0 else ()):
                ln.reset_parameters()
            if hasattr(blk.att, "ln_x"):
                blk.att.ln_x.reset_parameters()
                blk.att.ln_x.weight.fill_(((blk.layer_id + 1) / cfg.n_layer) ** 0.7)
        self.ln_out.reset_parameters()

    # ---------------------------------------------------------------- state
    def initial_state(self, batch_size: int, device: Optional[torch.device] = None,
                      dtype: Optional[torch.dtype] = None) -> State:
        """A fresh state for ``batch_size`` sequences (what ``state=None`` means)."""
        batch = batch_size
        cfg = self.config
        device = device or self.emb.weight.device
        dtype = dtype or self.emb.weight.dtype
        state: State = []
        for _ in range(cfg.n_layer):
            x0 = torch.zeros(batch, cfg.n_embd, device=device, dtype=dtype)
            if cfg.version == 4:
                a, b, p = _wkv4.initial_state(batch, cfg.dim_att, torch.float32, device)
                state.append((x0, a, b, p, x0.clone()))
            else:
                S = torch.zeros(batch, cfg.n_head, cfg.head_size, cfg.head_size, device=device,
                                dtype=torch.float64 if dtype == torch.float64 else torch.float32)
                state.append((x0, S, x0.clone()))
        return state

    def _check_state(self, state: Any, batch: int) -> None:
        cfg = self.config
        per = 5 if cfg.version == 4 else 3
        if not isinstance(state, (list, tuple)) or len(state) != cfg.n_layer:
            got = f"a {type(state).__name__} of length {len(state)}" if isinstance(state, (list, tuple)) else type(state).__name__
            raise ValueError(f"RWKV: state must be a list of {cfg.n_layer} per-layer tuples (from initial_state/forward_state/step), got {got}")
        for i, s in enumerate(state):
            if not isinstance(s, (list, tuple)) or len(s) != per:
                raise ValueError(f"RWKV: state[{i}] must be a tuple of {per} tensors for RWKV-{cfg.version}")
            if s[0].shape[0] != batch:
                raise ValueError(f"RWKV: state is for batch {s[0].shape[0]} but tokens have batch {batch}")

    def _check_tokens(self, tokens: Any, ndim: int, what: str) -> Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"RWKV.{what}: tokens must be a torch.Tensor of token ids, got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise TypeError(f"RWKV.{what}: tokens must be an integer tensor, got dtype {tokens.dtype}")
        if tokens.ndim != ndim:
            shape = "[B, T]" if ndim == 2 else "[B]"
            raise ValueError(f"RWKV.{what}: tokens must be {shape}, got shape {tuple(tokens.shape)}")
        if tokens.numel():
            ids = tokens.tolist() if ndim == 1 else None  # one token per sequence: cheaper than two reductions
            lo, hi = (min(ids), max(ids)) if ids is not None else (int(tokens.min()), int(tokens.max()))
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(f"RWKV.{what}: token ids must be in [0, {self.config.vocab_size}), got range "
                                 f"[{lo}, {hi}]")
        return tokens.long()

    # ---------------------------------------------------------------- running
    def forward(self, tokens: Tensor, state: Optional[State] = None, return_state: bool = False,
                backend: Optional[str] = None) -> Union[Tensor, Tuple[Tensor, State]]:
        """Logits ``[B, T, V]`` for ``tokens [B, T]``; with ``return_state`` also the state after the last token."""
        tokens = self._check_tokens(tokens, 2, "forward")
        if tokens.shape[1] == 0:
            raise ValueError("RWKV.forward: tokens must hold at least one token per sequence, got T = 0")
        if state is not None:
            self._check_state(state, tokens.shape[0])
        backend = backend or self.config.wkv_backend
        if backend not in BACKENDS:
            raise ValueError(f"RWKV.forward: backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "cpu" and self.version != 4:
            raise ValueError(f"RWKV.forward: backend 'cpu' is the fused RWKV-4 kernel; RWKV-{self.version} uses "
                             "'auto', 'chunked' or 'reference'")
        x = self.emb(tokens)
        new_state: State = []
        for i, blk in enumerate(self.blocks):
            x, s = blk(x, None if state is None else state[i], backend)
            new_state.append(s)
        logits = self.head(self.ln_out(x))
        return (logits, new_state) if return_state else logits

    def forward_state(self, tokens: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        """``(logits [B, T, V], state after the last token)`` from ``state`` (``None``: fresh), as in SpikeGPT."""
        return self.forward(tokens, state, return_state=True)  # type: ignore[return-value]

    def step(self, token: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        """One token per sequence through the recurrence: ``token [B]`` -> ``(logits [B, V], state)``.

        Runs each layer's ``step`` on ``[B, C]`` rows (the formulas of :meth:`step_reference`
        without the sequence machinery: no module calls, token shifts or time-axis reshapes).
        With a forward or backward hook on a submodule, or a submodule of another type than this file's (a
        wrapped projection), it runs :meth:`step_reference`, which calls the modules.
        """
        token = self._check_tokens(token, 1, "step")
        if state is not None:
            self._check_state(state, token.shape[0])
        if not fast_step_ok(self, _STEP_TYPES):
            return self._step_blocks(token, state)
        if state is None:
            state = self.initial_state(token.shape[0], token.device)
        M = self._modules
        x = F.embedding(token, _weight(self, "emb"))
        new_state: State = []
        for blk, st in zip(M["blocks"], state):
            x, st = blk.step(x, st)
            new_state.append(st)
        return _mm(_ln(x, M["ln_out"]), _weight(self, "head")), new_state

    def step_reference(self, token: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        """:meth:`step` through the modules' sequence code (``forward`` at T = 1): the readable reference."""
        token = self._check_tokens(token, 1, "step")
        if state is not None:
            self._check_state(state, token.shape[0])
        return self._step_blocks(token, state)

    def _step_blocks(self, token: Tensor, state: Optional[State]) -> Tuple[Tensor, State]:
        x = self.emb(token[:, None])
        new_state: State = []
        for i, blk in enumerate(self.blocks):
            x, s = blk(x, None if state is None else state[i], "reference")
            new_state.append(s)
        return self.head(self.ln_out(x))[:, 0], new_state

    @torch.no_grad()
    def generate(self, prompt: Union[Tensor, Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
                 top_p: float = 1.0, generator: Optional[torch.Generator] = None,
                 stop_token: Optional[int] = None) -> Tensor:
        """Feed ``prompt`` (``[T]`` or ``[B, T]``) in parallel, then sample ``max_new_tokens`` tokens with
        the recurrence; returns the new tokens ``[B, max_new_tokens]`` (``[max_new_tokens]`` for a 1-D prompt)."""
        p = torch.as_tensor(prompt, dtype=torch.long, device=self.emb.weight.device)
        squeeze = p.ndim == 1
        p = p[None] if squeeze else p
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"RWKV.generate: max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
        logits, state = self.forward(p, return_state=True)  # type: ignore[misc]
        logits = logits[:, -1]
        out: List[Tensor] = []
        for _ in range(max_new_tokens):
            tok = sample_logits(logits, temperature, top_p, generator)
            out.append(tok)
            if stop_token is not None and bool((tok == stop_token).all()):
                break
            logits, state = self.step(tok, state)
        res = torch.stack(out, 1) if out else p.new_zeros(p.shape[0], 0)
        return res[0] if squeeze else res

    # ---------------------------------------------------------------- BlinkDL checkpoints
    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor], dtype: torch.dtype = torch.float32,
                        **overrides: Any) -> "RWKV":
        """Build a model from a BlinkDL RWKV-LM state dict (v4, v5.2 or v6), weights unchanged.

        The version comes from the key names, every dimension from the shapes; fp16/bf16 weights
        are converted to ``dtype``. ``overrides`` set run-time options (``wkv_backend``,
        ``chunk_size``, ``head_size_divisor``). Raises ValueError naming missing, unexpected or
        mis-shaped keys.
        """
        sd = _clean_state_dict(state_dict)
        cfg = config_from_state_dict(sd)
        allowed = {"wkv_backend", "chunk_size", "head_size_divisor"}
        bad = sorted(set(overrides) - allowed)
        if bad:
            raise ValueError(f"RWKV.from_state_dict: unknown options {bad}; allowed: {sorted(allowed)}")
        if overrides:
            cfg = RWKVConfig.from_dict({**cfg.to_dict(), **overrides})
        with torch.device("meta"):
            model = cls(cfg, init_weights=False)
        own = model.state_dict()
        missing = sorted(set(own) - set(sd))
        unexpected = sorted(set(sd) - set(own))
        if missing or unexpected:
            raise ValueError(f"RWKV.from_state_dict: the state dict does not match an RWKV-{cfg.version} layout "
                             f"(n_layer={cfg.n_layer}, n_embd={cfg.n_embd}): missing keys {_brief(missing)}, "
                             f"unexpected keys {_brief(unexpected)}")
        not_float = sorted(k for k in own if not sd[k].is_floating_point())
        if not_float:
            raise ValueError(f"RWKV.from_state_dict: weights must be floating point (fp32/fp16/bf16); "
                             f"{_brief([f'{k} ({sd[k].dtype})' for k in not_float])} are not (a quantised or "
                             "corrupt checkpoint?)")
        converted: Dict[str, Tensor] = {}
        bad_shapes = []
        for key, ref in own.items():
            t = sd[key]
            if tuple(t.shape) != tuple(ref.shape):
                if t.numel() == ref.numel() and [d for d in t.shape if d != 1] == [d for d in ref.shape if d != 1]:
                    t = t.reshape(ref.shape)  # e.g. time_mix stored [C] instead of [1, 1, C]
                else:
                    bad_shapes.append(f"{key}: got {tuple(t.shape)}, expected {tuple(ref.shape)}")
                    continue
            converted[key] = t.detach().to(dtype=dtype, device="cpu", copy=True)  # not tied to an mmap
        if bad_shapes:
            raise ValueError(f"RWKV.from_state_dict: mismatched dimensions for RWKV-{cfg.version} "
                             f"(n_embd={cfg.n_embd}, dim_att={cfg.dim_att}, dim_ffn={cfg.dim_ffn}, "
                             f"vocab={cfg.vocab_size}): " + "; ".join(bad_shapes[:8])
                             + (f"; ... ({len(bad_shapes)} in all)" if len(bad_shapes) > 8 else ""))
        model.load_state_dict(converted, assign=True)
        return model

    @classmethod
    def load(cls, path: Union[str, Path], dtype: torch.dtype = torch.float32, **overrides: Any) -> "RWKV":
        """Load a BlinkDL ``.pth`` checkpoint file (see :meth:`from_state_dict`)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"RWKV.load: checkpoint {str(path)!r} does not exist")
        try:
            try:  # mmap keeps a large checkpoint out of RAM until each tensor is converted
                sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # files from the legacy (pre-zip) torch.save format cannot be mapped
                sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
            raise ValueError(f"RWKV.load: {str(path)!r} could not be read as a torch state dict: {err}") from None
        return cls.from_state_dict(sd, dtype=dtype, **overrides)


# =============================================================================== layout detection
_LAYER_KEY = re.compile(r"^blocks\.(\d+)\.")


def _brief(keys: Sequence[str], n: int = 12) -> str:
    if not keys:
        return "[]"
    shown = ", ".join(keys[:n])
    return f"[{shown}{f', ... ({len(keys)} in all)' if len(keys) > n else ''}]"


def _clean_state_dict(state_dict: Any) -> Dict[str, Tensor]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"RWKV.from_state_dict: expected a mapping of parameter names to tensors, got "
                        f"{type(state_dict).__name__}")
    for wrapper in ("state_dict", "model"):  # a training checkpoint holding the weights under one key
        inner = state_dict.get(wrapper)
        if isinstance(inner, Mapping) and "emb.weight" not in state_dict:
            state_dict = inner
            break
    sd: Dict[str, Tensor] = {}
    for key, val in state_dict.items():
        if not isinstance(key, str) or not isinstance(val, torch.Tensor):
            raise TypeError(f"RWKV.from_state_dict: entry {key!r} is a {type(val).__name__}, expected a tensor "
                            f"under a string key")
        if key.startswith("module."):  # saved from DDP/DeepSpeed wrappers
            key = key[len("module."):]
        sd[key] = val
    return sd


def detect_version(state_dict: Mapping[str, Tensor]) -> int:
    """4, 5 (Eagle, RWKV-5.2) or 6 (Finch) from the key names and shapes of a BlinkDL state dict."""
    keys = set(state_dict)
    att = {k.split(".", 3)[3] for k in keys if k.startswith("blocks.0.att.")}
    if not {"emb.weight", "head.weight", "ln_out.weight"} <= keys or not att:
        raise ValueError("RWKV: not an RWKV-LM state dict: expected 'emb.weight', 'head.weight', 'ln_out.weight' and "
                         f"'blocks.0.att.*' keys; missing {_brief(sorted({'emb.weight', 'head.weight', 'ln_out.weight'} - keys))}"
                         f", got keys {_brief(sorted(keys))}")
    if {"r_k", "w0", "a0"} & att:
        raise ValueError("RWKV: this is an RWKV-7 ('Goose') state dict (blocks.0.att.r_k/w0/a0); snnkit loads "
                         "RWKV-4, Eagle (5.2) and Finch (6)")
    if "time_maa_x" in att:
        if "time_decay_w1" not in att:
            raise ValueError("RWKV: a Finch-like state dict with time_maa_x but no time_decay_w1 (an experimental "
                             f"x060 variant?); blocks.0.att keys: {_brief(sorted(att))}")
        return 6
    if "ln_x.weight" in att:
        td = state_dict.get("blocks.0.att.time_decay")
        if "time_faaaa" in att and "gate.weight" in att and td is not None and td.ndim == 2 and td.shape[1] > 1:
            return 5
        raise ValueError("RWKV: an RWKV-5 pre-release layout (5.0/5.1: time_first instead of time_faaaa, no gate or a "
                         "per-head scalar time_decay); snnkit loads the released Eagle (5.2) layout with "
                         f"time_faaaa [H, N], time_decay [H, N] and gate.weight; blocks.0.att keys: {_brief(sorted(att))}")
    tf = state_dict.get("blocks.0.att.time_first")
    if tf is not None and {"time_decay", "time_mix_k", "key.weight"} <= att:
        return 4
    raise ValueError("RWKV: unknown state dict layout. Expected RWKV-4 (blocks.N.att.time_first, time_decay, "
                     "time_mix_k/v/r), Eagle (time_faaaa, time_decay [H, N], ln_x, gate) or Finch (time_maa_x, "
                     f"time_maa_w1/w2, time_decay_w1/w2); blocks.0.att keys found: {_brief(sorted(att))}")


def config_from_state_dict(state_dict: Mapping[str, Tensor]) -> RWKVConfig:
    """The :class:`RWKVConfig` of a BlinkDL state dict (version from key names, sizes from shapes)."""
    sd = _clean_state_dict(state_dict)
    version = detect_version(sd)
    emb = sd["emb.weight"]
    if emb.ndim != 2:
        raise ValueError(f"RWKV: emb.weight must be [vocab, n_embd], got {tuple(emb.shape)}")
    vocab, C = emb.shape
    layers = {int(m.group(1)) for k in sd for m in [_LAYER_KEY.match(k)] if m}
    n_layer = max(layers) + 1
    if layers != set(range(n_layer)):
        raise ValueError(f"RWKV: blocks are not numbered 0..{n_layer - 1}: missing {sorted(set(range(n_layer)) - layers)}")

    def shape(key: str, ndim: int) -> Tuple[int, ...]:
        if key not in sd:
            raise ValueError(f"RWKV: the RWKV-{version} layout needs key {key!r}, which is missing")
        t = sd[key]
        if t.ndim != ndim:
            raise ValueError(f"RWKV: {key} must have {ndim} dimensions, got shape {tuple(t.shape)}")
        return tuple(t.shape)

    A, C_in = shape("blocks.0.att.key.weight", 2)
    F_, _ = shape("blocks.0.ffn.key.weight", 2)
    if C_in != C:
        raise ValueError(f"RWKV: mismatched dimensions: emb.weight has n_embd={C} but blocks.0.att.key.weight is "
                         f"{(A, C_in)} (expected [dim_att, {C}])")
    kw: Dict[str, Any] = dict(version=version, vocab_size=vocab, n_layer=n_layer, n_embd=C, dim_att=A, dim_ffn=F_)
    if version in (5, 6):
        H, N = shape("blocks.0.att.time_faaaa", 2)
        if H * N != A:
            raise ValueError(f"RWKV: mismatched dimensions: time_faaaa is [H, N] = [{H}, {N}] but dim_att={A} "
                             f"(from att.key.weight) is not H * N = {H * N}")
        kw["head_size"] = N
    if version == 6:
        _, lm = shape("blocks.0.att.time_maa_w1", 2)
        if lm % 5:
            raise ValueError(f"RWKV: time_maa_w1 must be [n_embd, 5 * D_MIX_LORA], got second dimension {lm}")
        kw["mix_lora"] = lm // 5
        kw["decay_lora"] = shape("blocks.0.att.time_decay_w1", 2)[1]
    return RWKVConfig(**kw)


# =============================================================================== tokenisers
class WorldTokenizer:
    """The RWKV World tokenizer: greedy longest match over a byte-level vocabulary.

    The vocab file (``rwkv_vocab_v20230424.txt``) has one token per line, ``id repr length``,
    where ``repr`` is a Python ``str`` (UTF-8 encoded) or ``bytes`` literal and ``length`` its
    byte length, e.g. ``257 '\\t\\t' 2`` or ``250 b'\\xf9' 1``. Encoding walks a byte trie and
    takes the longest vocabulary entry at each position (as ChatRWKV's ``TRIE_TOKENIZER``).
    """

    def __init__(self, vocab: Mapping[int, bytes]):
        if not vocab:
            raise ValueError("WorldTokenizer: the vocabulary is empty")
        self.idx2token: Dict[int, bytes] = dict(vocab)
        self.token2idx: Dict[bytes, int] = {}
        self._next: List[Dict[int, int]] = [{}]
        self._val: List[Optional[int]] = [None]
        for idx, tok in self.idx2token.items():
            if not isinstance(tok, bytes) or not tok:
                raise ValueError(f"WorldTokenizer: token {idx} must be non-empty bytes, got {tok!r}")
            if tok in self.token2idx:
                raise ValueError(f"WorldTokenizer: token {tok!r} appears twice (ids {self.token2idx[tok]} and {idx})")
            self.token2idx[tok] = idx
            node = 0
            for byte in tok:
                nxt = self._next[node].get(byte)
                if nxt is None:
                    nxt = len(self._next)
                    self._next[node][byte] = nxt
                    self._next.append({})
                    self._val.append(None)
                node = nxt
            self._val[node] = idx

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "WorldTokenizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"WorldTokenizer: vocab file {str(path)!r} does not exist")
        vocab: Dict[int, bytes] = {}
        with open(path, encoding="utf-8") as fh:
            for no, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                try:
                    first, last = line.index(" "), line.rindex(" ")
                    idx = int(line[:first])
                    tok = ast.literal_eval(line[first:last].strip())
                    length = int(line[last:])
                except (ValueError, SyntaxError) as err:
                    raise ValueError(f"WorldTokenizer: {str(path)!r} line {no} is not 'id repr length': {line[:80]!r} "
                                     f"({err})") from None
                if isinstance(tok, str):
                    tok = tok.encode("utf-8")
                if not isinstance(tok, bytes):
                    raise ValueError(f"WorldTokenizer: {str(path)!r} line {no}: token must be a str or bytes literal, "
                                     f"got {type(tok).__name__}")
                if len(tok) != length:
                    raise ValueError(f"WorldTokenizer: {str(path)!r} line {no}: token {tok!r} has {len(tok)} bytes but "
                                     f"the line says {length}")
                if idx in vocab:
                    raise ValueError(f"WorldTokenizer: {str(path)!r} line {no}: id {idx} appears twice")
                vocab[idx] = tok
        if not vocab:
            raise ValueError(f"WorldTokenizer: vocab file {str(path)!r} holds no tokens")
        return cls(vocab)

    @property
    def vocab_size(self) -> int:
        """One more than the largest id (id 0 is RWKV's end-of-text and is not in the file)."""
        return max(self.idx2token) + 1

    def encode_bytes(self, data: bytes) -> List[int]:
        out: List[int] = []
        i, n = 0, len(data)
        nxt, val = self._next, self._val
        while i < n:
            node, j, best, best_end = 0, i, None, i
            while j < n:
                child = nxt[node].get(data[j])
                if child is None:
                    break
                node, j = child, j + 1
                if val[node] is not None:
                    best, best_end = val[node], j
            if best is None:
                raise ValueError(f"WorldTokenizer: byte 0x{data[i]:02x} at offset {i} is not in the vocabulary")
            out.append(best)
            i = best_end
        return out

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        try:
            return b"".join(self.idx2token[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(f"WorldTokenizer: token id {err.args[0]} is not in the vocabulary") from None

    def encode(self, text: str) -> List[int]:
        return self.encode_bytes(text.encode("utf-8"))

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        return self.decode_bytes(ids).decode("utf-8", errors=errors)


WORLD_VOCAB = "rwkv_vocab_v20230424.txt"  # the World models' vocabulary, shipped in the ``rwkv`` pip package


def world_vocab_path(path: Union[str, Path]) -> Path:
    """Where to read a World vocab file: ``path`` itself, or for a bare file name that is not in the current
    directory (``rwkv_vocab_v20230424.txt``) the copy the installed ``rwkv`` pip package ships (located, not
    imported). A missing ``rwkv_vocab_v20230424.txt`` raises FileNotFoundError saying how to get it."""
    import importlib.util

    path = Path(path)
    if path.is_file() or path.parent != Path("."):
        return path
    try:
        spec = importlib.util.find_spec("rwkv")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and (Path(spec.origin).parent / path.name).is_file():
        return Path(spec.origin).parent / path.name
    if path.name == WORLD_VOCAB:
        raise FileNotFoundError(f"World vocab {str(path)!r} does not exist; the rwkv pip package ships it "
                                f"(pip install rwkv==0.8.32, then {WORLD_VOCAB} by name finds it), or give its path")
    return path


def load_tokenizer(path: Union[str, Path]) -> Union[WorldTokenizer, BPETokenizer]:
    """A ``tokenizer.json`` (GPT-NeoX's ``20B_tokenizer.json`` for RWKV-4 Pile/Raven models) ->
    :class:`snnkit.data.text.BPETokenizer` (Hugging Face ``tokenizers``); anything else is read as
    a World vocab file (:class:`WorldTokenizer`). A bare file name that is not in the current directory, such as
    ``rwkv_vocab_v20230424.txt``, is read from the installed ``rwkv`` pip package, which ships it."""
    path = Path(path)
    if path.suffix == ".json":
        return BPETokenizer.load(path)
    return WorldTokenizer.from_file(world_vocab_path(path))
