"""Train, evaluate and sample SpikeGPT language models.

* :func:`train_lm` fits a :class:`~snnkit.models.spikegpt.SpikeGPT` on ``(input, target)``
  windows (:class:`snnkit.data.text.TokenDataset`) with snnkit's shared
  :class:`~snnkit.train.Trainer` (checkpoints, exact resume, AMP, DDP, CSV/TensorBoard logs):
  the model is wrapped so that each token is one "sample" of a cross-entropy classifier,
  which makes the trainer's ``acc`` the next-token accuracy. The original's L2Wrap (a
  gradient nudging the largest logit towards 0, ``1e-4`` per token) is on by default.
* :func:`evaluate_bpc` gives the loss in nats per token and bits per character over a token
  stream, reading it as consecutive windows with the recurrent state carried from one to
  the next (each token sees its whole left context within its part of the stream).
* :func:`generate` streams sampled token ids (temperature, top-p), :func:`generate_text`
  streams decoded text; the prompt is read in parallel, then one :meth:`step` per token.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..functional.validation import is_int
from ..progress import progress as progress_bar
from ..sampling import sample_logits
from ..train import TrainConfig, Trainer
from .spikegpt import SpikeGPT, SpikeGPTState

Tensor = torch.Tensor
__all__ = ["train_lm", "original_recipe", "ORIGINAL_RECIPE", "evaluate_bpc", "generate", "generate_text", "sample_next", "lm_loss", "LMWrapper"]


class _L2Wrap(torch.autograd.Function):
    """Identity on the loss; adds ``factor * max_logit`` to the gradient of each token's largest logit."""

    @staticmethod
    def forward(ctx: Any, loss: Tensor, logits: Tensor, factor: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(logits)
        ctx.factor = factor
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Tensor, Tensor, None]:
        (logits,) = ctx.saved_tensors
        maxx, ids = logits.max(-1, keepdim=True)
        g = torch.zeros_like(logits).scatter_(-1, ids, maxx * (ctx.factor / logits.shape[0]))
        return grad, g, None


def _full(x: Tensor) -> Tensor:
    """float16/bfloat16 logits (AMP) in float32 for the loss; float32/float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def lm_loss(logits: Tensor, targets: Tensor, l2wrap: float = 1e-4) -> Tensor:
    """Mean cross-entropy of ``logits[N, V]`` against ``targets[N]``, with the original's L2Wrap."""
    loss = F.cross_entropy(_full(logits), targets)
    return _L2Wrap.apply(loss, logits, l2wrap) if l2wrap > 0 and logits.requires_grad else loss


class LMWrapper(nn.Module):
    """``tokens[B, T] -> logits[B*T, V]``: a language model seen as a per-token classifier."""

    def __init__(self, model: SpikeGPT) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> Tensor:
        logits = self.model(tokens)
        return logits.reshape(-1, logits.shape[-1])


def _collate(batch: List[Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor]:
    x = torch.stack([b[0] for b in batch])
    y = torch.stack([b[1] for b in batch])
    return x, y.reshape(-1)


# ridgerchu/SpikeGPT train.py and src/trainer.py: Adam (no weight decay on any parameter), lr_init 6e-4
# annealed by a cosine to lr_final 1e-5 over the whole run, no warmup, betas (0.9, 0.99), eps 4e-9,
# gradient-norm clipping 1.0, batch 12 windows of ctx_len 1024 tokens
ORIGINAL_RECIPE: Dict[str, Any] = {"optimizer": "adam", "lr": 6e-4, "lr_min": 1e-5, "betas": (0.9, 0.99), "eps": 4e-9,
                                   "weight_decay": 0.0, "grad_clip": 1.0, "batch_size": 12, "scheduler": "cosine"}


def original_recipe(**overrides: Any) -> TrainConfig:
    """A TrainConfig with the original SpikeGPT training settings, ``overrides`` applied.

    The final rate is ``min(1e-5, lr)``: a smaller ``lr`` (fine-tuning) would otherwise make the
    cosine rise towards the original's fixed ``lr_final``.
    """
    values = {**ORIGINAL_RECIPE, **overrides}
    if "lr_min" not in overrides and isinstance(values["lr"], (int, float)):
        values["lr_min"] = min(ORIGINAL_RECIPE["lr_min"], values["lr"])
    return TrainConfig(**values)


def train_lm(model: SpikeGPT, train_set: Any, valid_set: Any = None, config: Optional[TrainConfig] = None,
             l2wrap: float = 1e-4, resume: Union[bool, str] = False, stop_after: Optional[int] = None) -> Trainer:
    """Train ``model`` on ``(x[T], y[T])`` windows; returns the :class:`Trainer` (``.history``, ``.save``).

    ``config`` defaults to :func:`original_recipe` (the original train.py's optimiser and
    schedule; the cosine runs per epoch here, per token there).
    ``config.loss`` and ``config.input_layout`` are set to ``"ce"`` and ``"B"`` here.
    """
    if not isinstance(model, SpikeGPT):
        raise TypeError(f"train_lm: model must be a SpikeGPT, got {type(model).__name__}")
    config = config or original_recipe(out_dir="runs/spikegpt")
    config = dataclasses.replace(config, loss="ce", input_layout="B")
    x0, _ = train_set[0]
    if x0.shape[0] > model.config.ctx_len:
        raise ValueError(f"train_lm: windows of {x0.shape[0]} tokens exceed the model's ctx_len={model.config.ctx_len}")
    trainer = Trainer(LMWrapper(model), train_set, valid_set, config, collate_fn=_collate, arch="spikegpt",
                      model_config=model.config.to_dict(), loss_fn=lambda out, y: lm_loss(out, y, l2wrap))
    trainer.fit(resume=resume, stop_after=stop_after)
    return trainer


@torch.no_grad()
def evaluate_bpc(model: SpikeGPT, tokens: Union[Tensor, np.ndarray, Sequence[int]], ctx_len: Optional[int] = None,
                 batch_size: int = 8, chars: Optional[int] = None, progress: bool = False) -> Dict[str, float]:
    """Loss of ``model`` on a token stream: nats and bits per token, and bits per character.

    The stream is cut into ``batch_size`` contiguous parts read side by side, each in windows
    of ``ctx_len`` (default: the model's) with the state carried across windows; the fewer
    than ``batch_size`` tokens left over by that cut are read last, from a fresh state. ``chars`` is the number of characters the
    tokens encode (default: one per token, right for character-level tokenizers).
    """
    t = torch.as_tensor(np.asarray(tokens, dtype=np.int64)) if not isinstance(tokens, Tensor) else tokens.long()
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError(f"evaluate_bpc: tokens must be a 1-D stream of at least 2 ids, got shape {tuple(t.shape)}")
    for name, val in (("ctx_len", ctx_len), ("batch_size", batch_size)):
        if val is not None and (not is_int(val) or val < 1):
            raise ValueError(f"evaluate_bpc: {name} must be a positive integer, got {val!r}")
    if chars is not None and (isinstance(chars, bool) or not isinstance(chars, (int, float)) or not chars > 0):
        raise ValueError(f"evaluate_bpc: chars must be a positive number of characters, got {chars!r}")
    ctx_len = ctx_len or model.config.ctx_len
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n_pred = t.numel() - 1
    B = max(1, min(batch_size, n_pred))
    per = n_pred // B
    x = t[: B * per].view(B, per).to(device)
    y = t[1: B * per + 1].view(B, per).to(device)
    total, count = 0.0, 0
    state: Optional[SpikeGPTState] = None
    for s in progress_bar(range(0, per, ctx_len), desc="eval", enabled=progress, leave=False, unit="window"):
        logits, state = model.forward_state(x[:, s: s + ctx_len], state)
        total += F.cross_entropy(_full(logits).reshape(-1, logits.shape[-1]), y[:, s: s + ctx_len].reshape(-1),
                                 reduction="sum").item()
        count += y[:, s: s + ctx_len].numel()
    rest = n_pred - B * per  # the tail that did not fill a row: read it on its own, state carried across windows
    if rest:
        state = None
        for s in range(B * per, n_pred, ctx_len):
            e = min(s + ctx_len, n_pred)
            logits, state = model.forward_state(t[s:e][None].to(device), state)
            total += F.cross_entropy(_full(logits)[0], t[s + 1: e + 1].to(device), reduction="sum").item()
            count += e - s
    model.train(was_training)
    nats = total / count
    n_chars = count if chars is None else chars * count / n_pred
    return {"loss": nats, "bits_per_token": nats / math.log(2), "bpc": total / math.log(2) / n_chars,
            "tokens": float(count)}


sample_next = sample_logits  # the shared rule (snnkit.sampling); the name this module has always exported


@torch.no_grad()
def generate(model: SpikeGPT, prompt: Union[Tensor, Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
             top_p: float = 1.0, generator: Optional[torch.Generator] = None,
             stop: Optional[Callable[[int], bool]] = None) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` sampled ids after ``prompt`` (one sequence), one at a time.

    The prompt is read in parallel in ``ctx_len`` windows, then generation runs in recurrent
    mode (no length limit). ``stop(token_id)`` returning True ends the stream after that token.
    """
    p = torch.as_tensor(prompt, dtype=torch.long).reshape(-1)
    if p.numel() == 0:
        raise ValueError("generate: prompt must hold at least one token")
    if max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        state: Optional[SpikeGPTState] = None
        L = model.config.ctx_len
        for s in range(0, p.numel(), L):
            logits, state = model.forward_state(p[s: s + L][None].to(device), state)
        last = logits[:, -1]
        for _ in range(max_new_tokens):
            tok = sample_next(last, temperature, top_p, generator)
            yield int(tok)
            if stop is not None and stop(int(tok)):
                return
            last, state = model.step(tok.to(device), state)
    finally:
        model.train(was_training)


def generate_text(model: SpikeGPT, tokenizer: Any, prompt: str, max_new_tokens: int = 200, **kwargs: Any) -> Iterator[str]:
    """Stream decoded text after ``prompt``: yields each new piece as soon as it decodes cleanly."""
    ids: List[int] = []
    shown = ""
    for tok in generate(model, tokenizer.encode(prompt), max_new_tokens, **kwargs):
        ids.append(tok)
        text = tokenizer.decode(ids)
        if text.endswith("\ufffd"):  # a multi-byte character still incomplete (byte-level tokenizers)
            continue
        if len(text) > len(shown):
            yield text[len(shown):]
            shown = text
