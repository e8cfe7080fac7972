"""A dnaGrinder-style genomic foundation model (Zhao, Zhang & Zhang, 2024, arXiv 2409.15697).

The ingredients the paper names, in one file:

* **BPE on DNA** (:class:`DNATokenizer`): byte-pair merges learned on A/C/G/T (plus ``N``)
  with a fixed alphabet, so sequences are cut into *non-overlapping* variable-length tokens
  (the paper uses a 4096-token vocabulary). Runs of ``N`` are split off before merging, so no
  token mixes bases and unknowns. Needs the ``tokenizers`` package.
* **Encoder-only transformer** (:class:`DNAGrinder`): pre-LN blocks, SwiGLU feed-forward,
  no position embeddings; **ALiBi** (Press et al., 2022) adds ``-slope_h * |i - j|`` to the
  attention scores of head ``h`` (symmetric, as in MosaicBERT/DNABERT-2), so the model runs on
  sequences longer than it was trained on. Attention is
  ``torch.nn.functional.scaled_dot_product_attention`` with the ALiBi bias (and key padding)
  as ``attn_mask``: PyTorch picks its memory-efficient kernel where one supports a bias.
* **Masked-LM pretraining** (:class:`DNAGrinderForMaskedLM`, :func:`pretrain_mlm`) with
  **dynamic masking** (:func:`mask_tokens`: a fresh 15 % of tokens per batch, 80 % -> ``[MASK]``,
  10 % -> a random token, 10 % unchanged) and **sequence-length warm-up**
  (:class:`SequenceLengthWarmup`: training windows grow linearly from ``start`` to ``end``
  tokens over ``warmup_steps``).
* **Fine-tuning for sequence classification** (:class:`DNAGrinderForSequenceClassification`,
  mean pooling over non-pad tokens or the ``[CLS]`` token), trained with
  :class:`snnkit.train.Trainer` through :class:`DNACollate`; :func:`evaluate_classifier`
  reports accuracy and Matthews' correlation coefficient (MCC).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from .._io import atomic_write
from ..functional.validation import is_int

Tensor = torch.Tensor

__all__ = [
    "DNATokenizer", "SPECIAL_TOKENS", "DNAGrinderConfig", "DNAGrinder", "DNAGrinderForMaskedLM",
    "DNAGrinderForSequenceClassification", "alibi_slopes", "alibi_bias", "mask_tokens",
    "SequenceLengthWarmup", "pretrain_mlm", "DNACollate", "evaluate_classifier",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")   # ids 0..4


# =============================================================================== tokenizer
def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("DNATokenizer needs the 'tokenizers' package: pip install tokenizers") from None
    return tokenizers


def _pieces(sequences: Iterable[str], size: int) -> Iterator[str]:
    for s in sequences:
        s = s.upper()
        for i in range(0, len(s), size):
            yield s[i:i + size]


class DNATokenizer:
    """Non-overlapping BPE tokens over DNA; ``[PAD] [UNK] [CLS] [SEP] [MASK]`` are ids 0-4.

    ``DNATokenizer.train(sequences, vocab_size=4096)`` learns merges (sequences are cut into
    pieces of ``piece_length`` bases first, which bounds memory and time on whole genomes);
    ``encode`` gives ``[CLS] tokens [SEP]``; any letter outside A/C/G/T/N becomes ``[UNK]``.
    """

    def __init__(self, tokenizer: Any):
        self.tok = tokenizer
        vocab = tokenizer.get_vocab()
        for i, s in enumerate(SPECIAL_TOKENS):
            if vocab.get(s) != i:
                raise ValueError(f"DNATokenizer: special token {s!r} must have id {i}, got {vocab.get(s)!r}")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)
        self.special_ids = frozenset(range(len(SPECIAL_TOKENS)))
        self._id2tok = {i: t for t, i in vocab.items()}

    @classmethod
    def train(cls, sequences: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2,
              piece_length: int = 2000) -> "DNATokenizer":
        if not isinstance(vocab_size, int) or vocab_size < len(SPECIAL_TOKENS) + 5:
            raise ValueError(f"DNATokenizer.train: vocab_size must be an integer >= {len(SPECIAL_TOKENS) + 5} "
                             f"(5 special tokens + A, C, G, T, N), got {vocab_size!r}")
        tk = _tokenizers()
        tok = tk.Tokenizer(tk.models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = tk.pre_tokenizers.Split(tk.Regex("N+"), behavior="isolated")
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                         special_tokens=list(SPECIAL_TOKENS), initial_alphabet=list("ACGTN"),
                                         limit_alphabet=5, show_progress=False)
        count = 0

        def it() -> Iterator[str]:
            nonlocal count
            for p in _pieces(sequences, piece_length):
                count += 1
                yield p

        tok.train_from_iterator(it(), trainer)
        if count == 0:
            raise ValueError("DNATokenizer.train: no sequences to learn from")
        return cls(tok)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "DNATokenizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DNATokenizer.load: {str(path)!r} does not exist")
        return cls(_tokenizers().Tokenizer.from_file(str(path)))

    def save(self, path: Union[str, Path]) -> Path:
        """Write the tokenizer's JSON atomically (a failed save leaves an existing file as it was)."""
        return atomic_write(path, lambda tmp: self.tok.save(str(tmp)))

    @property
    def vocab_size(self) -> int:
        return int(self.tok.get_vocab_size())

    def tokenize(self, sequence: str) -> List[int]:
        """Token ids of ``sequence`` without special tokens (long sequences are encoded in 10 kb pieces)."""
        s = sequence.upper()
        ids: List[int] = []
        for i in range(0, len(s), 10000):
            ids += self.tok.encode(s[i:i + 10000], add_special_tokens=False).ids
        return ids

    def encode(self, sequence: str, max_length: Optional[int] = None) -> List[int]:
        """``[CLS] tokens [SEP]``, truncated to ``max_length`` tokens in all."""
        ids = self.tokenize(sequence)
        if max_length is not None:
            if max_length < 3:
                raise ValueError(f"DNATokenizer.encode: max_length must be >= 3, got {max_length}")
            ids = ids[:max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]

    def encode_batch(self, sequences: Sequence[str], max_length: Optional[int] = None) -> Tensor:
        """Padded ``[B, T]`` ids (``T`` the longest encoding, at most ``max_length``)."""
        enc = [self.encode(s, max_length) for s in sequences]
        T = max(len(e) for e in enc)
        out = torch.full((len(enc), T), self.pad_id, dtype=torch.long)
        for i, e in enumerate(enc):
            out[i, :len(e)] = torch.tensor(e)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The bases of ``ids`` (special tokens dropped)."""
        return "".join(self._id2tok[int(i)] for i in ids if int(i) not in self.special_ids)


# =============================================================================== model
@dataclass
class DNAGrinderConfig:
    """Encoder size. ``d_ff = 0`` means the SwiGLU width ``int(8 * d_model / 3)`` rounded up to 64."""

    vocab_size: int = 4096
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 0
    dropout: float = 0.1
    attn_dropout: float = 0.0
    norm_eps: float = 1e-5
    pad_id: int = 0

    def __post_init__(self) -> None:
        if not self.d_ff:
            self.d_ff = -(-int(8 * self.d_model / 3) // 64) * 64
        for key in ("vocab_size", "d_model", "n_layer", "n_head", "d_ff"):
            val = getattr(self, key)
            if not is_int(val) or val < 1:
                raise ValueError(f"DNAGrinderConfig.{key} must be a positive integer, got {val!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"DNAGrinderConfig: d_model={self.d_model} must be a multiple of n_head={self.n_head}")
        for key in ("dropout", "attn_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"DNAGrinderConfig.{key} must be in [0, 1), got {getattr(self, key)!r}")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DNAGrinderConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"DNAGrinderConfig: unknown keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)


def alibi_slopes(n_head: int) -> Tensor:
    """ALiBi's head slopes: the geometric sequence ``2^(-8 i / n)`` (Press et al.), interleaved for
    head counts that are not powers of two."""
    def pow2(n: int) -> List[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if n_head & (n_head - 1) == 0:
        return torch.tensor(pow2(n_head))
    closest = 2 ** int(math.floor(math.log2(n_head)))
    return torch.tensor(pow2(closest) + pow2(2 * closest)[0::2][: n_head - closest])


def alibi_bias(slopes: Tensor, length: int, device: Optional[torch.device] = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """Symmetric ALiBi bias ``[H, T, T]``: ``-slope_h * |i - j|``."""
    pos = torch.arange(length, device=device, dtype=torch.float32)
    dist = (pos[None, :] - pos[:, None]).abs()
    return (-slopes.to(device=device, dtype=torch.float32)[:, None, None] * dist).to(dtype)


class SelfAttention(nn.Module):
    def __init__(self, cfg: DNAGrinderConfig):
        super().__init__()
        self.n_head, self.p = cfg.n_head, cfg.attn_dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.p if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    def __init__(self, cfg: DNAGrinderConfig):
        super().__init__()
        self.w12 = nn.Linear(cfg.d_model, 2 * cfg.d_ff)
        self.w3 = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.w12(x).chunk(2, -1)
        return self.w3(F.silu(a) * b)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: DNAGrinderConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = SwiGLU(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), bias))
        return x + self.drop(self.mlp(self.ln2(x)))


class DNAGrinder(nn.Module):
    """The encoder: ``ids [B, T]`` (+ optional ``attention_mask [B, T]``, True = real token) -> ``[B, T, d_model]``.

    Without a mask, positions holding ``pad_id`` are masked out as keys.
    """

    def __init__(self, config: DNAGrinderConfig):
        super().__init__()
        if not isinstance(config, DNAGrinderConfig):
            raise TypeError(f"DNAGrinder: config must be a DNAGrinderConfig, got {type(config).__name__}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.emb_ln = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([EncoderLayer(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.register_buffer("slopes", alibi_slopes(config.n_head), persistent=False)
        self.apply(_init)

    def attention_bias(self, ids: Tensor, attention_mask: Optional[Tensor], dtype: torch.dtype) -> Tensor:
        """ALiBi ``[1, H, T, T]``, plus ``-inf`` on padded keys (then ``[B, H, T, T]``)."""
        bias = alibi_bias(self.slopes, ids.shape[1], ids.device, dtype)[None]
        mask = attention_mask if attention_mask is not None else ids != self.config.pad_id
        if not bool(mask.all()):
            bias = bias.masked_fill(~mask.bool()[:, None, None, :], float("-inf"))
        return bias

    def forward(self, ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dtype.is_floating_point or ids.ndim != 2:
            got = f"{tuple(ids.shape)} {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(f"DNAGrinder: ids must be an integer tensor [B, T], got {got}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            raise ValueError(f"DNAGrinder: token ids must be in [0, {self.config.vocab_size}), got range "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        if attention_mask is not None and attention_mask.shape != ids.shape:
            raise ValueError(f"DNAGrinder: attention_mask must have ids' shape {tuple(ids.shape)}, got "
                             f"{tuple(attention_mask.shape)}")
        x = self.drop(self.emb_ln(self.tok_emb(ids)))
        bias = self.attention_bias(ids, attention_mask, x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        return self.ln_f(x)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)


class DNAGrinderForMaskedLM(nn.Module):
    """Encoder + BERT-style MLM head (dense, GELU, LayerNorm, decoder tied to the embedding)."""

    def __init__(self, config: DNAGrinderConfig):
        super().__init__()
        self.config = config
        self.encoder = DNAGrinder(config)
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.ln = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        _init(self.dense)

    def forward(self, ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        h = self.ln(F.gelu(self.dense(self.encoder(ids, attention_mask))))
        return h @ self.encoder.tok_emb.weight.t() + self.bias

    def mlm_loss(self, ids: Tensor, labels: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        """Cross-entropy on the positions where ``labels != -100``."""
        logits = self(ids, attention_mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)


class DNAGrinderForSequenceClassification(nn.Module):
    """Encoder + pooling (``"mean"`` over real tokens, or ``"cls"``) + dropout + linear: ``[B, num_labels]``."""

    def __init__(self, config: DNAGrinderConfig, num_labels: int = 2, pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"DNAGrinderForSequenceClassification: pooling must be 'mean' or 'cls', got {pooling!r}")
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"DNAGrinderForSequenceClassification: num_labels must be an integer >= 2, got {num_labels!r}")
        self.config, self.pooling = config, pooling
        self.encoder = DNAGrinder(config)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.d_model, num_labels)
        _init(self.classifier)

    @classmethod
    def from_pretrained(cls, mlm: DNAGrinderForMaskedLM, num_labels: int = 2, pooling: str = "mean",
                        dropout: Optional[float] = None) -> "DNAGrinderForSequenceClassification":
        """A classifier whose encoder starts from a pretrained MLM's encoder."""
        cfg = DNAGrinderConfig.from_dict({**mlm.config.to_dict(), **({} if dropout is None else {"dropout": dropout})})
        model = cls(cfg, num_labels, pooling)
        model.encoder.load_state_dict(mlm.encoder.state_dict())
        return model

    def forward(self, ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
        h = self.encoder(ids, attention_mask)
        if self.pooling == "cls":
            pooled = h[:, 0]
        else:
            m = (attention_mask if attention_mask is not None else ids != self.config.pad_id).to(h.dtype)[..., None]
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.classifier(self.drop(pooled))


# =============================================================================== pretraining
def mask_tokens(ids: Tensor, mask_id: int, vocab_size: int, special_ids: Iterable[int], mlm_probability: float = 0.15,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Dynamic BERT masking: returns ``(inputs, labels)``; call it per batch so every epoch sees new masks.

    Each non-special token is chosen with probability ``mlm_probability``; a chosen token becomes
    ``[MASK]`` (80 %), a random non-special token (10 %) or stays (10 %). ``labels`` hold the
    original id at chosen positions and -100 elsewhere. At least one token per batch is chosen.
    """
    if not 0 < mlm_probability < 1:
        raise ValueError(f"mask_tokens: mlm_probability must be in (0, 1), got {mlm_probability!r}")
    special = torch.tensor(sorted(set(special_ids)), dtype=ids.dtype, device=ids.device)
    normal = ~torch.isin(ids, special)
    if not bool(normal.any()):
        raise ValueError("mask_tokens: the batch holds only special/padding tokens; nothing to mask")
    rand = lambda: torch.rand(ids.shape, generator=generator).to(ids.device)  # noqa: E731
    chosen = (rand() < mlm_probability) & normal
    if not bool(chosen.any()):  # force one, so the loss is defined
        flat = normal.flatten().nonzero()[:, 0]
        pick = flat[torch.randint(len(flat), (1,), generator=generator).to(flat.device)]
        chosen.view(-1)[pick] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    u = rand()
    inputs = ids.clone()
    inputs[chosen & (u < 0.8)] = mask_id
    n_special = int(special.max()) + 1 if special.numel() else 0
    rnd = torch.randint(n_special, vocab_size, ids.shape, generator=generator).to(ids.device)
    swap = chosen & (u >= 0.8) & (u < 0.9)
    inputs[swap] = rnd[swap]
    return inputs, labels


@dataclass
class SequenceLengthWarmup:
    """Training window length (tokens) at a step: linear from ``start`` to ``end`` over ``warmup_steps``,
    rounded down to a multiple of ``multiple`` (never below ``start``)."""

    start: int = 64
    end: int = 512
    warmup_steps: int = 1000
    multiple: int = 8

    def __post_init__(self) -> None:
        if not (isinstance(self.start, int) and isinstance(self.end, int) and 3 <= self.start <= self.end):
            raise ValueError(f"SequenceLengthWarmup: need integers 3 <= start <= end, got start={self.start!r}, "
                             f"end={self.end!r}")
        if self.warmup_steps < 0 or self.multiple < 1:
            raise ValueError(f"SequenceLengthWarmup: warmup_steps must be >= 0 and multiple >= 1, got "
                             f"{self.warmup_steps!r}, {self.multiple!r}")

    def __call__(self, step: int) -> int:
        if self.warmup_steps == 0 or step >= self.warmup_steps:
            return self.end
        length = self.start + (self.end - self.start) * step / self.warmup_steps
        return int(max(self.start, min(self.end, int(length) // self.multiple * self.multiple)))


def pretrain_mlm(model: DNAGrinderForMaskedLM, tokenizer: DNATokenizer, sequences: Sequence[str], steps: int,
                 batch_size: int = 8, lr: float = 5e-4, weight_decay: float = 0.01,
                 warmup: Optional[SequenceLengthWarmup] = None, mlm_probability: float = 0.15,
                 lr_warmup: float = 0.06, grad_clip: float = 1.0, generator: Optional[torch.Generator] = None,
                 callback: Optional[Callable[[Dict[str, float]], None]] = None) -> List[Dict[str, float]]:
    """Masked-LM pretraining with sequence-length warm-up and dynamic masking; returns per-step logs.

    Every step draws ``batch_size`` random windows (of ``warmup(step) - 2`` tokens plus
    ``[CLS]``/``[SEP]``) from the tokenised ``sequences``, masks them afresh and takes one AdamW
    step (linear LR warm-up over ``lr_warmup * steps``, then linear decay).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"pretrain_mlm: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    warmup = warmup or SequenceLengthWarmup(start=64, end=512, warmup_steps=max(1, steps // 2))
    tokens = [torch.tensor(t, dtype=torch.long) for t in (tokenizer.tokenize(s) for s in sequences) if len(t) > 0]
    if not tokens:
        raise ValueError("pretrain_mlm: no non-empty sequences to pretrain on")
    lengths = torch.tensor([len(t) for t in tokens], dtype=torch.float64)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_warm = max(1, int(lr_warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / n_warm, max(0.0, (steps - s) / max(1, steps - n_warm))))
    logs: List[Dict[str, float]] = []
    model.train()
    for step in range(steps):
        L = warmup(step) - 2
        idx = torch.multinomial(lengths, batch_size, replacement=True, generator=generator)  # length-weighted
        batch = []
        for i in idx.tolist():
            t = tokens[i]
            s = int(torch.randint(0, max(1, len(t) - L + 1), (1,), generator=generator))
            batch.append(torch.cat([torch.tensor([tokenizer.cls_id]), t[s:s + L], torch.tensor([tokenizer.sep_id])]))
        T = max(len(b) for b in batch)
        ids = torch.full((len(batch), T), tokenizer.pad_id, dtype=torch.long)
        for j, b in enumerate(batch):
            ids[j, :len(b)] = b
        inputs, labels = mask_tokens(ids, tokenizer.mask_id, tokenizer.vocab_size, tokenizer.special_ids,
                                     mlm_probability, generator)
        loss = model.mlm_loss(inputs.to(device), labels.to(device), (ids != tokenizer.pad_id).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        sched.step()
        row = {"step": step + 1, "seq_len": T, "loss": loss.item(), "lr": opt.param_groups[0]["lr"]}
        logs.append(row)
        if callback is not None:
            callback(row)
    return logs


# =============================================================================== fine-tuning
class DNACollate:
    """``[(sequence, label), ...]`` -> ``(ids [B, T], labels [B])`` for :class:`snnkit.train.Trainer`
    (``TrainConfig(input_layout="B", loss="ce")``)."""

    def __init__(self, tokenizer: DNATokenizer, max_length: Optional[int] = None):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, batch: Sequence[Tuple[str, int]]) -> Tuple[Tensor, Tensor]:
        seqs, labels = zip(*batch)
        return self.tokenizer.encode_batch(list(seqs), self.max_length), torch.tensor(labels, dtype=torch.long)


@torch.no_grad()
def evaluate_classifier(model: nn.Module, dataset: Any, tokenizer: DNATokenizer, batch_size: int = 64,
                        max_length: Optional[int] = None) -> Dict[str, float]:
    """Accuracy and Matthews' correlation coefficient of ``model`` on ``dataset`` (items ``(sequence, label)``)."""
    from sklearn.metrics import matthews_corrcoef

    if len(dataset) == 0:
        raise ValueError("evaluate_classifier: dataset is empty")
    model.eval()
    device = next(model.parameters()).device
    collate = DNACollate(tokenizer, max_length)
    preds: List[int] = []
    ys: List[int] = []
    for i in range(0, len(dataset), batch_size):
        ids, y = collate([dataset[j] for j in range(i, min(len(dataset), i + batch_size))])
        preds += model(ids.to(device)).argmax(-1).cpu().tolist()
        ys += y.tolist()
    acc = sum(int(p == y) for p, y in zip(preds, ys)) / len(ys)
    return {"accuracy": acc, "mcc": float(matthews_corrcoef(ys, preds)), "n": float(len(ys))}
