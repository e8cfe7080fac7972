"""Next-token sampling for the language models (SpikeGPT, RWKV): greedy, temperature and nucleus (top-p).

One rule for every generator in snnkit, the one of the papers' own code (ridgerchu/SpikeGPT's
``sample_logits``, BlinkDL's ChatRWKV and the ``rwkv`` pip package's ``PIPELINE.sample_logits``):
the nucleus is chosen on the model's distribution at temperature 1, then the kept probabilities
are raised to ``1 / temperature`` and renormalised. (Hugging Face applies the temperature first,
which keeps a different set of tokens for the same ``top_p``.)
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = ["sample_logits", "nucleus_probs"]


def _check(logits: Tensor, temperature: float, top_p: float) -> None:
    """Refuse what has no sampling meaning, naming the argument."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"sample_logits: temperature must be a finite number >= 0, got {temperature!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"sample_logits: top_p must be in (0, 1], got {top_p!r}")
    if not isinstance(logits, Tensor) or logits.dim() != 2 or not logits.is_floating_point() or logits.shape[-1] == 0:
        got = f"{tuple(logits.shape)} {logits.dtype}" if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"sample_logits: logits must be a floating tensor [B, V] with V >= 1, got {got}")


def nucleus_probs(logits: Tensor, temperature: float = 1.0, top_p: float = 1.0) -> Tensor:
    """The distribution ``sample_logits`` draws from (``[B, V]`` float32, rows sum to 1); ``temperature > 0``.

    Kept: every token whose probability (temperature 1) is at least that of the token at which the
    sorted cumulative mass first reaches ``top_p`` (ties kept, at least one token), as ChatRWKV.
    The power ``p ** (1 / T)`` is taken in log space, so a tiny temperature gives the argmax, not 0/0.
    """
    _check(logits, temperature, top_p)
    if temperature == 0:
        raise ValueError("nucleus_probs: temperature 0 is greedy decoding and has no distribution")
    return _nucleus(logits, temperature, top_p)


def _nucleus(logits: Tensor, temperature: float, top_p: float) -> Tensor:
    """:func:`nucleus_probs` on arguments already checked (``temperature > 0``)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    if top_p < 1:
        p = logp.exp()
        sp = p.sort(dim=-1, descending=True).values
        n_keep = (sp.cumsum(-1) - sp < top_p).sum(-1, keepdim=True)  # >= 1: the first token has mass 0 before it
        cutoff = sp.gather(-1, n_keep - 1)
        logp = logp.masked_fill(p < cutoff, float("-inf"))
    return torch.softmax((logp - logp.max(-1, keepdim=True).values) / temperature, dim=-1)


def sample_logits(logits: Tensor, temperature: float = 1.0, top_p: float = 1.0,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    """One token id per row of ``logits [B, V]``: the argmax for ``temperature == 0``, else a draw from
    :func:`nucleus_probs` (top-p at temperature 1, then the temperature)."""
    _check(logits, temperature, top_p)
    if temperature == 0:
        return logits.argmax(-1)
    return torch.multinomial(_nucleus(logits, temperature, top_p), 1, generator=generator)[:, 0]
