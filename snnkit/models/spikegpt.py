"""SpikeGPT (Zhu et al., arXiv 2302.13939): an RWKV-4 language model with binary spiking activations.

Read from ridgerchu/SpikeGPT (``src/model.py`` for training, ``src/model_run.py`` for the
recurrent mode), written again on snnkit's operators:

* **binary embedding**: ``s = H(emb[token])`` (Heaviside forward, ATan surrogate backward);
* **blocks** (pre-LN residual; ``ln0`` normalises the input of block 0)::

      x = x + LIF(SRWKV(LN1(x)))      SRWKV = W_o(sigmoid(r) * wkv(w, u, k, v))
      x = x + LIF(SRFFN(LN2(x)))      SRFFN = sigmoid(W_r x_r) * W_v relu(W_k x_k)^2, hidden 4d
      x = dropout(x)

  where ``k, v, r`` (and ``x_k, x_r``) are linear maps of the token-shifted mixes
  ``x * mix + x_prev * (1 - mix)`` with learned ``mix`` per channel, and ``wkv`` is
  RWKV-4's operator (:mod:`snnkit.kernels.wkv`, ``w = -exp(time_decay)``, ``u = time_first``).
  So spikes happen at three places: the embedding and the two LIF layers of every block,
  which fire over the *token* axis (tau 2, v_th 1, hard reset to 0; SpikingJelly's
  ``MultiStepLIFNode`` defaults, run by :func:`snnkit.functional.lif_multistep`);
  the residual stream itself is a sum of spikes and the normalised embedding.
* **head**: ``logits = W_head LN_out(x)``.

Internally everything is time-major ``[T, B, C]`` (the token axis is the LIF time axis).
``forward(tokens[B, T])`` runs a whole context in parallel (WKV through the fused CPU
kernel or the chunked form); ``step(token[B], state)`` runs one token from a
:class:`SpikeGPTState` (per layer: both token-shift inputs, WKV ``(a, b, p)`` and both LIF
membranes), and gives the same logits and spikes as ``forward``. Parameter names and
shapes are the original's, so its ``.pth`` files load with :meth:`SpikeGPT.load_weights`.

Differences from the original code, on purpose: the recurrent mode is the parallel model
run one token at a time (``model_run.py`` halves ``x`` every 6 layers and scales the
output weights to match, a float16 overflow guard that changes what the LIF layers see, so
its spikes can differ from training's); the original's inference binarises the embedding
only for its 77-character model (``binary_embedding=False`` reproduces that for the
216M weights); the ``RWKV-ffnPre`` variant and the unused ``head_qk`` are left out;
there is no ``T_MAX`` limit (the CUDA kernel's 1024) in either mode.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import functional as SF
from .._fastpath import fast_step_ok
from .._io import torch_load
from ..kernels import wkv as _wkv
from ..kernels.cpu.ops import lif_step as _lif_step
from ..surrogate import ATan, heaviside, spike
from ..train.checkpoint import check_state_dict
from ..functional.validation import is_int

Tensor = torch.Tensor
__all__ = ["SpikeGPTConfig", "SpikeGPT", "SpikeGPTState", "LayerState", "CONFIGS", "get_config", "param_count"]


@dataclass
class SpikeGPTConfig:
    """A SpikeGPT network; plain data (``dataclasses.asdict`` -> JSON)."""

    name: str = "custom"
    vocab_size: int = 77
    n_layer: int = 12
    n_embd: int = 512
    ctx_len: int = 1024
    ffn_mult: int = 4            # SRFFN hidden size = ffn_mult * n_embd
    binary_embedding: bool = True
    tau: float = 2.0             # LIF over the token axis
    v_threshold: float = 1.0
    v_reset: float = 0.0
    surrogate_alpha: float = 2.0  # ATan, for the LIF layers and the binary embedding
    dropout: float = 0.03        # after every block, as in the original (training only)
    wkv_backend: str = "auto"    # see snnkit.kernels.wkv
    lif_backend: str = "auto"    # see snnkit.functional.lif_multistep
    notes: str = ""

    def __post_init__(self) -> None:
        for key in ("vocab_size", "n_layer", "n_embd", "ctx_len", "ffn_mult"):
            val = getattr(self, key)
            if not is_int(val) or val < 1:
                raise ValueError(f"SpikeGPTConfig.{key} must be a positive integer, got {val!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SpikeGPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not self.tau >= 1.0:
            raise ValueError(f"SpikeGPTConfig.tau must be >= 1, got {self.tau!r}")
        if self.wkv_backend not in _wkv.BACKENDS:
            raise ValueError(f"SpikeGPTConfig.wkv_backend must be one of {_wkv.BACKENDS}, got {self.wkv_backend!r}")
        if self.lif_backend not in SF.BACKENDS:
            raise ValueError(f"SpikeGPTConfig.lif_backend must be one of {SF.BACKENDS}, got {self.lif_backend!r}")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "SpikeGPTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"SpikeGPTConfig: unknown keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)


CONFIGS: Dict[str, SpikeGPTConfig] = {
    "tiny": SpikeGPTConfig(name="tiny", vocab_size=96, n_layer=2, n_embd=64, ctx_len=128,
                           notes="for tests and the offline demo (character level)"),
    "45m": SpikeGPTConfig(
        name="45m", vocab_size=6064, n_layer=12, n_embd=512, ctx_len=1024,
        notes="the paper's enwik8 model (12 layers x 512, T=1024; reported as 45M/46M). vocab_size is "
              "the number of distinct characters of enwik8 read as UTF-8 (RWKV-LM's enwik8 runs); the "
              "parameter count depends on it: 47.2M here, 41.0M with the 77-character BookCorpus vocabulary"),
    "216m": SpikeGPTConfig(
        name="216m", vocab_size=50277, n_layer=18, n_embd=768, ctx_len=1024,
        notes="the released OpenWebText2 model (huggingface ridger/SpikeGPT-OpenWebText-216M), "
              "GPT-NeoX 20B tokenizer (20B_tokenizer.json); the original's run.py reads these weights "
              "without binarising the embedding (binary_embedding=False)"),
}


def get_config(name: Union[str, SpikeGPTConfig], **overrides: Any) -> SpikeGPTConfig:
    """A copy of a named config (``"tiny"``, ``"45m"``, ``"216m"``) with ``overrides`` applied."""
    if isinstance(name, SpikeGPTConfig):
        base = name
    elif name in CONFIGS:
        base = CONFIGS[name]
    else:
        raise ValueError(f"unknown SpikeGPT config {name!r}; expected one of {sorted(CONFIGS)} or a SpikeGPTConfig")
    return dataclasses.replace(base, **overrides)


def param_count(config: SpikeGPTConfig) -> int:
    """Number of parameters of ``SpikeGPT(config)``, without building it.

    Per layer: two LayerNorms (4C), time mixing (decay, first, three mixes: 5C; k, v, r, o:
    4C^2), channel mixing (two mixes: 2C; key C*H, value H*C, receptance C^2); plus the
    embedding and head (2VC), ``ln0`` of block 0 and ``ln_out`` (4C).
    """
    C, V, H, L = config.n_embd, config.vocab_size, config.ffn_mult * config.n_embd, config.n_layer
    per_layer = 4 * C + 5 * C + 4 * C * C + 2 * C + 2 * C * H + C * C
    return 2 * V * C + 4 * C + L * per_layer


# ---------------------------------------------------------------------------- state
class LayerState(NamedTuple):
    """What one block carries from token to token (each ``[B, C]``)."""

    att_shift: Tensor  # LN1 output of the previous token (token shift of SRWKV)
    ffn_shift: Tensor  # LN2 output of the previous token (token shift of SRFFN)
    wkv_a: Tensor      # WKV numerator, scaled by exp(-wkv_p)
    wkv_b: Tensor      # WKV denominator, scaled by exp(-wkv_p)
    wkv_p: Tensor      # largest exponent in the WKV sums
    lif_att: Tensor    # membrane potential of the LIF after SRWKV
    lif_ffn: Tensor    # membrane potential of the LIF after SRFFN


SpikeGPTState = List[LayerState]


# ---------------------------------------------------------------------------- layers
class BinaryEmbedding(nn.Module):
    """Spikes from the embedding: ``H(emb)`` with an ATan surrogate (identity when ``binary=False``)."""

    def __init__(self, binary: bool, alpha: float) -> None:
        super().__init__()
        self.binary = binary
        self.surrogate = ATan(alpha=alpha)

    def forward(self, x: Tensor) -> Tensor:
        return spike(x, self.surrogate) if self.binary else x


class TokenLIF(nn.Module):
    """LIF over the token axis of ``x[T, B, C]`` from membrane ``v0[B, C]``; returns ``(spikes, v_T)``.

    A module (without parameters) so that forward hooks see its spikes (counters, tests).
    """

    def __init__(self, config: SpikeGPTConfig) -> None:
        super().__init__()
        self.tau, self.v_threshold, self.v_reset = config.tau, config.v_threshold, config.v_reset
        self.surrogate = ATan(alpha=config.surrogate_alpha)
        self.backend = config.lif_backend

    def forward(self, x: Tensor, v0: Tensor) -> Tuple[Tensor, Tensor]:
        return SF.lif_multistep(x, v0, tau=self.tau, v_threshold=self.v_threshold, v_reset=self.v_reset,
                                surrogate=self.surrogate, backend=self.backend)

    def step(self, x: Tensor, v: Tensor) -> Tuple[Tensor, Tensor]:
        """One token, ``x [B, C]`` (no gradient): the charge, fire and hard reset of :meth:`forward`.

        The fused kernel's forward when it runs here (one call), else the same arithmetic in plain ops.
        """
        if self.backend != "reference":
            out = _lif_step(x, v, self.tau, self.v_threshold, self.v_reset)
            if out is not None:
                return out
        h = v + (x - ((v - self.v_reset) if self.v_reset else v)) / self.tau  # v - 0.0 is v: one op fewer
        fire = h >= self.v_threshold
        return fire.to(h.dtype), h.masked_fill_(fire, self.v_reset)  # h is this call's own temporary


def _shift(x: Tensor, prev: Tensor) -> Tensor:
    """Token shift of ``x[T, B, C]``: the previous token's features (``prev`` before the first)."""
    return torch.cat([prev[None], x[:-1]], dim=0)


def _mix(x: Tensor, xx: Tensor, mix: Tensor) -> Tensor:
    return x * mix + xx * (1 - mix)


def _ln(x: Tensor, ln: nn.Module) -> Tensor:
    """``ln(x)`` without the module call (the recurrent step runs hundreds of small ops per token)."""
    P = ln._parameters
    return F.layer_norm(x, ln.normalized_shape, P["weight"], P["bias"], ln.eps)


def _weight(mod: nn.Module, name: str) -> Tensor:
    """``mod.<name>.weight`` by dictionary look-ups (``nn.Module.__getattr__`` is Python code)."""
    return mod._modules[name]._parameters["weight"]  # type: ignore[index, union-attr]


def _mm(x: Tensor, weight: Tensor) -> Tensor:
    """``F.linear(x, weight)`` for ``x [B, C]`` as one ``mm`` (the same kernel; fewer dispatch layers)."""
    return torch.mm(x, weight.t())


def _mixes(x: Tensor, xx: Tensor, *mixes: Tensor) -> Tuple[Tensor, ...]:
    """``_mix(x, xx, m)`` for one token ``x [B, C]`` and each ``[1, 1, C]`` mix, as one ``[n, B, C]`` tensor."""
    m = torch.stack(mixes).view(len(mixes), 1, -1)
    return (x * m + xx * torch.rsub(m, 1)).unbind(0)  # rsub: 1 - m without Tensor.__rsub__'s Python wrapper


class SRWKV(nn.Module):
    """Spiking RWKV time mixing: ``W_o(sigmoid(r) * wkv)`` on token-shifted mixes."""

    def __init__(self, config: SpikeGPTConfig, layer_id: int) -> None:
        super().__init__()
        C = config.n_embd
        self.backend = config.wkv_backend
        self.time_decay = nn.Parameter(torch.empty(C))
        self.time_first = nn.Parameter(torch.empty(C))
        self.time_mix_k = nn.Parameter(torch.empty(1, 1, C))
        self.time_mix_v = nn.Parameter(torch.empty(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.empty(1, 1, C))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def forward(self, x: Tensor, shift: Tensor, wkv_state: _wkv.State) -> Tuple[Tensor, _wkv.State]:
        xx = _shift(x, shift)
        k = self.key(_mix(x, xx, self.time_mix_k))
        v = self.value(_mix(x, xx, self.time_mix_v))
        r = self.receptance(_mix(x, xx, self.time_mix_r))
        y, wkv_state = _wkv.wkv(-torch.exp(self.time_decay), self.time_first, k, v, wkv_state, backend=self.backend)
        return self.output(torch.sigmoid(r) * y), wkv_state

    def step(self, x: Tensor, shift: Tensor, wkv_state: _wkv.State) -> Tuple[Tensor, _wkv.State]:
        """One token, ``x [B, C]``: :meth:`forward` at T = 1 with the same formulas, fewer ops."""
        P = self._parameters
        xk, xv, xr = _mixes(x, shift, P["time_mix_k"], P["time_mix_v"], P["time_mix_r"])
        k, v, r = _mm(xk, _weight(self, "key")), _mm(xv, _weight(self, "value")), _mm(xr, _weight(self, "receptance"))
        w, u = -torch.exp(P["time_decay"]), P["time_first"]
        impl = _wkv._resolve(self.backend, k)
        if impl in ("cpu", "reference") and k.dtype in (torch.float32, torch.float64) and \
                all(t.dtype == k.dtype for t in (w, u, v, *wkv_state)):
            y, wkv_state = _wkv.wkv_step(w, u, k, v, wkv_state, fused=impl == "cpu")
        else:  # float16/bfloat16 or another backend: wkv() casts and dispatches as in forward
            y, wkv_state = _wkv.wkv(w, u, k[None], v[None], wkv_state, backend=self.backend)
            y = y[0]
        return _mm(torch.sigmoid(r) * y, _weight(self, "output")), wkv_state


class SRFFN(nn.Module):
    """Spiking receptance feed-forward: ``sigmoid(W_r x_r) * W_v relu(W_k x_k)^2``."""

    def __init__(self, config: SpikeGPTConfig, layer_id: int) -> None:
        super().__init__()
        C, H = config.n_embd, config.ffn_mult * config.n_embd
        self.time_mix_k = nn.Parameter(torch.empty(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.empty(1, 1, C))
        self.key = nn.Linear(C, H, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(H, C, bias=False)

    def forward(self, x: Tensor, shift: Tensor) -> Tensor:
        xx = _shift(x, shift)
        k = torch.square(torch.relu(self.key(_mix(x, xx, self.time_mix_k))))
        return torch.sigmoid(self.receptance(_mix(x, xx, self.time_mix_r))) * self.value(k)

    def step(self, x: Tensor, shift: Tensor) -> Tensor:
        """One token, ``x [B, C]``: :meth:`forward` at T = 1 with the same formulas, fewer ops."""
        P = self._parameters
        xk, xr = _mixes(x, shift, P["time_mix_k"], P["time_mix_r"])
        k = torch.square(torch.relu(_mm(xk, _weight(self, "key"))))
        r = _mm(xr, _weight(self, "receptance"))
        return torch.sigmoid(r) * _mm(k, _weight(self, "value"))


class Block(nn.Module):
    """Pre-LN residual block: ``x += LIF(SRWKV(LN1(x)))``, ``x += LIF(SRFFN(LN2(x)))``, dropout."""

    def __init__(self, config: SpikeGPTConfig, layer_id: int) -> None:
        super().__init__()
        C = config.n_embd
        self.layer_id = layer_id
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(C)
        self.ln1 = nn.LayerNorm(C)
        self.ln2 = nn.LayerNorm(C)
        self.att = SRWKV(config, layer_id)
        self.ffn = SRFFN(config, layer_id)
        self.lif1 = TokenLIF(config)
        self.lif2 = TokenLIF(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, state: LayerState) -> Tuple[Tensor, LayerState]:
        if self.layer_id == 0:
            x = self.ln0(x)
        h = self.ln1(x)
        a, wkv_state = self.att(h, state.att_shift, (state.wkv_a, state.wkv_b, state.wkv_p))
        s1, v1 = self.lif1(a, state.lif_att)
        x = x + s1
        h2 = self.ln2(x)
        s2, v2 = self.lif2(self.ffn(h2, state.ffn_shift), state.lif_ffn)
        x = self.drop(x + s2)
        return x, LayerState(h[-1], h2[-1], *wkv_state, v1, v2)

    def step(self, x: Tensor, state: LayerState) -> Tuple[Tensor, LayerState]:
        """One token, ``x [B, C]``, in eval mode without gradients: :meth:`forward` at T = 1."""
        M = self._modules
        if self.layer_id == 0:
            x = _ln(x, M["ln0"])
        h = _ln(x, M["ln1"])
        a, wkv_state = M["att"].step(h, state.att_shift, (state.wkv_a, state.wkv_b, state.wkv_p))
        s1, v1 = M["lif1"].step(a, state.lif_att)
        x = x + s1
        h2 = _ln(x, M["ln2"])
        s2, v2 = M["lif2"].step(M["ffn"].step(h2, state.ffn_shift), state.lif_ffn)
        return x + s2, LayerState(h, h2, *wkv_state, v1, v2)


# ---------------------------------------------------------------------------- model
_STEP_TYPES = (nn.Embedding, BinaryEmbedding, nn.ModuleList, Block, nn.LayerNorm, SRWKV, SRFFN, nn.Linear, TokenLIF,
               nn.Dropout)  # what the fast step reads weights from


class SpikeGPT(nn.Module):
    """SpikeGPT language model: ``forward(tokens[B, T]) -> logits[B, T, V]``, ``step(token[B], state)``."""

    def __init__(self, config: Union[str, SpikeGPTConfig] = "tiny") -> None:
        super().__init__()
        self.config = get_config(config) if isinstance(config, str) else config
        c = self.config
        self.emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.spike_emb = BinaryEmbedding(c.binary_embedding, c.surrogate_alpha)
        self.blocks = nn.ModuleList([Block(c, i) for i in range(c.n_layer)])
        self.ln_out = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.reset_parameters()

    # ------------------------------------------------------------------ init
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The original's initialisation (RWKV-LM v4 ``RWKV_Init`` and the time-parameter schedules).

        Linear layers are orthogonal with gain ``sqrt(out/in)`` for expanding maps; the
        time-mixing key/receptance/output and channel-mixing value/receptance start at 0;
        the embedding is orthogonal with gain ``1e-4 * sqrt(max(V, C))``, the head 0.5. (The
        published SpikeGPT ``train.py`` skips ``RWKV_Init``: it never sets ``RWKV_LOAD_MODEL``;
        see docs/spikegpt.md.)
        """
        c = self.config
        C, L = c.n_embd, c.n_layer
        for i, blk in enumerate(self.blocks):
            r01 = i / max(L - 1, 1)       # 0 at the first layer, 1 at the last
            r10 = 1.0 - i / L             # 1 at the first layer, ~0 at the last
            h = torch.arange(C, dtype=torch.float64)
            ramp = (h / C)[None, None]
            blk.att.time_decay.copy_(-5 + 8 * (h / max(C - 1, 1)) ** (0.7 + 1.3 * r01))
            zigzag = ((h + 1) % 3 - 1) * 0.5
            blk.att.time_first.copy_(math.log(0.3) + zigzag)
            blk.att.time_mix_k.copy_(ramp ** r10)
            blk.att.time_mix_v.copy_(ramp ** r10 + 0.3 * r01)
            blk.att.time_mix_r.copy_(ramp ** (0.5 * r10))
            blk.ffn.time_mix_k.copy_(ramp ** r10)
            blk.ffn.time_mix_r.copy_(ramp ** r10)
            for lin in (blk.att.key, blk.att.receptance, blk.att.output, blk.ffn.value, blk.ffn.receptance):
                nn.init.zeros_(lin.weight)
            for lin in (blk.att.value, blk.ffn.key):
                out_f, in_f = lin.weight.shape
                nn.init.orthogonal_(lin.weight, gain=math.sqrt(out_f / in_f) if out_f > in_f else 1.0)
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                m.reset_parameters()
        nn.init.orthogonal_(self.emb.weight, gain=1e-4 * math.sqrt(max(c.vocab_size, C)))
        nn.init.orthogonal_(self.head.weight, gain=0.5 * (math.sqrt(c.vocab_size / C) if c.vocab_size > C else 1.0))

    # ------------------------------------------------------------------ state
    def initial_state(self, batch_size: int, device: Optional[torch.device] = None,
                      dtype: Optional[torch.dtype] = None) -> SpikeGPTState:
        """A fresh state: zero token shifts and membranes, empty WKV sums."""
        p = self.head.weight
        device = p.device if device is None else device
        dtype = p.dtype if dtype is None else dtype
        C = self.config.n_embd
        out = []
        for _ in self.blocks:
            z = torch.zeros(batch_size, C, device=device, dtype=dtype)
            a, b, pp = _wkv.initial_state(batch_size, C, dtype, device)
            out.append(LayerState(z, z.clone(), a, b, pp, torch.full_like(z, self.config.v_reset), torch.full_like(z, self.config.v_reset)))
        return out

    def _check_state(self, state: Any, batch: int) -> None:
        if not isinstance(state, (list, tuple)) or len(state) != len(self.blocks):
            raise ValueError(f"SpikeGPT: state must be a list of {len(self.blocks)} LayerState (one per layer, "
                             f"from initial_state() or a previous call), got {type(state).__name__}"
                             + (f" of length {len(state)}" if isinstance(state, (list, tuple)) else ""))
        for i, ls in enumerate(state):
            if not isinstance(ls, LayerState):
                raise TypeError(f"SpikeGPT: state[{i}] must be a LayerState, got {type(ls).__name__}")
            if tuple(ls.att_shift.shape) != (batch, self.config.n_embd):
                raise ValueError(f"SpikeGPT: state[{i}] is for batch/width {tuple(ls.att_shift.shape)}, "
                                 f"but the tokens need ({batch}, {self.config.n_embd})")

    def _check_tokens(self, tokens: Any, ndim: int, what: str) -> None:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"SpikeGPT.{what}: tokens must be a torch.Tensor of token ids, got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"SpikeGPT.{what}: tokens must be integer token ids, got dtype {tokens.dtype}")
        shape = "[B, T]" if ndim == 2 else "[B]"
        if tokens.ndim != ndim or tokens.numel() == 0:
            raise ValueError(f"SpikeGPT.{what}: tokens must be a non-empty {shape} tensor, got shape {tuple(tokens.shape)}")
        ids = tokens.tolist() if ndim == 1 else None  # one token per sequence: cheaper than two reductions
        lo, hi = (min(ids), max(ids)) if ids is not None else (int(tokens.min()), int(tokens.max()))
        if lo < 0 or hi >= self.config.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"SpikeGPT.{what}: token id {bad} is outside the vocabulary [0, {self.config.vocab_size})")

    # ------------------------------------------------------------------ running
    def forward_state(self, tokens: Tensor, state: Optional[SpikeGPTState] = None) -> Tuple[Tensor, SpikeGPTState]:
        """Run ``tokens[B, T]`` from ``state`` (``None``: fresh); returns ``(logits[B, T, V], new state)``."""
        self._check_tokens(tokens, 2, "forward")
        B, T = tokens.shape
        if T > self.config.ctx_len:
            raise ValueError(f"SpikeGPT.forward: context of {T} tokens is longer than ctx_len={self.config.ctx_len} "
                             "of this config; split it (forward_state carries the state) or use step()")
        state = self.initial_state(B, tokens.device) if state is None else state
        self._check_state(state, B)
        x = self.spike_emb(self.emb(tokens.t()))  # [T, B, C]: the token axis is the neurons' time axis
        new_state = []
        for blk, st in zip(self.blocks, state):
            x, st = blk(x, st)
            new_state.append(st)
        logits = self.head(self.ln_out(x))
        return logits.transpose(0, 1), new_state

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits ``[B, T, V]`` for ``tokens[B, T]`` (``T <= ctx_len``), from a fresh state."""
        return self.forward_state(tokens)[0]

    def step(self, token: Tensor, state: Optional[SpikeGPTState] = None) -> Tuple[Tensor, SpikeGPTState]:
        """One token per sequence: ``token[B]`` -> ``(logits[B, V], state)`` (recurrent mode, no length limit).

        In eval mode without gradients (generation) each block runs its ``step`` on ``[B, C]``
        rows: the formulas of :meth:`step_reference` without module calls, dispatchers and time
        axes. Training mode (dropout), autograd (surrogate gradients), a forward hook or a
        replaced submodule take :meth:`step_reference`.
        """
        self._check_tokens(token, 1, "step")
        state = self.initial_state(token.shape[0], token.device) if state is None else state
        self._check_state(state, token.shape[0])
        if not (self.training or torch.is_grad_enabled()) and fast_step_ok(self, _STEP_TYPES):
            M = self._modules
            x = F.embedding(token, _weight(self, "emb"))
            if M["spike_emb"].binary:
                x = heaviside(x)
            new_state = []
            for blk, st in zip(M["blocks"], state):
                x, st = blk.step(x, st)
                new_state.append(st)
            return _mm(_ln(x, M["ln_out"]), _weight(self, "head")), new_state
        return self._step_modules(token, state)

    def step_reference(self, token: Tensor, state: Optional[SpikeGPTState] = None) -> Tuple[Tensor, SpikeGPTState]:
        """:meth:`step` through the modules' sequence code (``forward`` at T = 1): the readable reference."""
        self._check_tokens(token, 1, "step")
        state = self.initial_state(token.shape[0], token.device) if state is None else state
        self._check_state(state, token.shape[0])
        return self._step_modules(token, state)

    def _step_modules(self, token: Tensor, state: SpikeGPTState) -> Tuple[Tensor, SpikeGPTState]:
        x = self.spike_emb(self.emb(token[None]))  # [1, B, C]
        new_state = []
        for blk, st in zip(self.blocks, state):
            x, st = blk(x, st)
            new_state.append(st)
        return self.head(self.ln_out(x[0])), new_state

    # ------------------------------------------------------------------ weights
    def load_weights(self, source: Union[str, Path, Dict[str, Tensor]]) -> "SpikeGPT":
        """Load a state dict, an original SpikeGPT ``.pth`` or a snnkit checkpoint (also from ``train_lm``).

        Raises ValueError naming missing, unexpected and mis-shaped entries when the
        weights come from another configuration.
        """
        name = "state dict"
        if isinstance(source, (str, Path)):
            name = str(source)
            if not Path(source).is_file():
                raise FileNotFoundError(f"SpikeGPT.load_weights: {name!r} does not exist")
            source = torch_load(source)
        if not isinstance(source, dict):
            raise TypeError(f"SpikeGPT.load_weights: expected a state dict or a path, got {type(source).__name__}")
        sd = source["model"] if "model" in source and isinstance(source["model"], dict) else source
        if sd and all(k.startswith("model.") for k in sd):  # saved by train_lm (the model inside LMWrapper)
            sd = {k[len("model."):]: v for k, v in sd.items()}
        check_state_dict(self, sd, name)
        self.load_state_dict(sd)
        return self
