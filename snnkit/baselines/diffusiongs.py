"""DiffusionGS (arXiv 2508.17754): query-conditioned diffusion over a user's behaviour sequence.

The paper treats interest extraction in personalised search as conditional denoising: the
user's history is noised (DDPM forward process) and a stack of User-aware Denoising Layers
(UDL), conditioned on the query (the intent anchor) and the diffusion step, reconstructs it;
the UDL adds the user profile to the attention over past actions. The denoised, query-aligned
sequence is pooled against each candidate to rank it.

What is built here (no code was published; choices in ``docs/baselines-recsys.md``):

* tokens ``x_t = f([id_emb; genre_emb; decade_emb]) + time_gap_emb + pos_emb`` for each past
  action (as the paper: item ID + side information, time and position embeddings);
* DDPM forward ``x_t = sqrt(abar_t) h0 + sqrt(1 - abar_t) eps`` (linear beta schedule, ``steps``);
* :class:`UserAwareDenoisingLayer`: pre-LN attention + FFN whose LayerNorms are modulated
  (scale/shift) by ``cond = step_emb + query_emb``; queries get a user-profile term
  (``W_q h + W_uq u``) and every key gets a user prior bias ``<W_uk u, k_j>``, so the attention
  distribution over past actions depends on the user; the query is also a key/value token;
* x0-parameterised denoiser, loss ``||h0_hat - sg(h0)||^2`` on real positions, plus a listwise
  softmax ranking loss over ``[positive, negatives]`` computed from the denoised sequence;
* inference: start at ``t_start`` from the noise-free mean ``sqrt(abar) h0`` and run
  deterministic DDIM steps (``infer_steps``) to ``t = 0`` -> the ranking is deterministic.

:class:`SequenceRanker` is the non-generative comparison (same tokens and head, mean pooling or
query/candidate target attention, no diffusion). Data (:func:`movielens_search`): MovieLens-100k
as personalised search - the query is a genre of the next well-rated movie (rating >= 4), the
candidates that movie plus movies of the same genre the user has not rated, the history the
user's earlier ratings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics

__all__ = ["SearchData", "movielens_search", "ItemTokenizer", "UserAwareDenoisingLayer", "DiffusionGS",
           "SequenceRanker", "train_ranker", "rank_scores", "evaluate_search", "popularity_ranker"]


# ----------------------------------------------------------------------------------------------
# data


@dataclass
class SearchData:
    """Search requests: history ``[N, L]`` item ids + 1 (0 = padding), ``gaps`` ``[N, L]`` time-gap
    buckets, ``query`` ``[N]`` (genre id), ``user_x`` ``[N, 4]`` profile fields, ``cands`` ``[N, C]``
    (column 0 the clicked item), ``train``/``test`` masks; item side tables ``item_genres``
    ``[n_items, G]`` and ``item_decade`` ``[n_items]``."""

    history: np.ndarray
    gaps: np.ndarray
    query: np.ndarray
    user: np.ndarray
    user_x: np.ndarray
    cands: np.ndarray
    train: np.ndarray
    test: np.ndarray
    item_genres: np.ndarray
    item_decade: np.ndarray
    user_dims: List[int]
    n_items: int
    n_queries: int
    n_gap_buckets: int = 8
    description: str = ""


def _gap_bucket(seconds: np.ndarray) -> np.ndarray:
    """0: padding; 1: <1 min, 2: <1 h, 3: <1 day, 4: <1 week, 5: <30 days, 6: <1 year, 7: older."""
    edges = [60, 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400]
    return np.searchsorted(edges, np.maximum(seconds, 0), side="right") + 1


def movielens_search(ml=None, *, max_len: int = 20, n_cands: int = 20, min_history: int = 5,
                     per_user: int = 8, n_test: int = 1, seed: int = 0, n_users: Optional[int] = None,
                     negatives: str = "popularity", root=None) -> SearchData:
    """Personalised search requests from MovieLens-100k (see the module docstring).

    For each user, requests are made at the ratings >= 4 that have at least ``min_history``
    earlier ratings; the last ``n_test`` per user are test, up to ``per_user`` earlier ones train.
    Negatives are ``n_cands - 1`` movies of the query genre the user never rated (seeded), drawn
    uniformly (``negatives="uniform"``) or in proportion to their number of ratings
    (``"popularity"``, the default: then item popularity alone cannot tell the positive apart and
    the ranking has to come from the user's history, query and profile).
    """
    if negatives not in ("uniform", "popularity"):
        raise ValueError(f"movielens_search: negatives must be 'uniform' or 'popularity', got {negatives!r}")
    from ..data.recsys import load_movielens100k, user_histories
    from .rankdfm import _age_bucket, _decade

    if n_cands < 2:
        raise ValueError(f"movielens_search: n_cands must be >= 2 (a positive and a negative), got {n_cands}")
    if ml is None:
        ml = load_movielens100k(root)
    if n_users is not None:
        ml = ml.subset_users(n_users, seed)
    rng = np.random.default_rng(seed)
    n_genres = ml.genres.shape[1]
    by_genre = [np.flatnonzero(ml.genres[:, g]) for g in range(n_genres)]
    rated_sets = [set() for _ in range(ml.n_users)]
    for u, i in zip(ml.user, ml.item):
        rated_sets[u].add(int(i))
    ageb = np.array([_age_bucket(int(a)) for a in ml.ages])
    popularity = np.bincount(ml.item, minlength=ml.n_items).astype(np.float64) + 1.0
    H, G, Q, U, C, TE = [], [], [], [], [], []
    for u, rows in enumerate(user_histories(ml)):
        pos_idx = [t for t in range(min_history, len(rows)) if ml.rating[rows[t]] >= 4]
        chosen = pos_idx[-(per_user + n_test):]
        for j, t in enumerate(chosen):
            target = int(ml.item[rows[t]])
            genres = np.flatnonzero(ml.genres[target])
            genres = genres[[len(by_genre[g]) >= n_cands * 2 for g in genres]]
            if len(genres) == 0:
                continue
            g = int(rng.choice(genres))
            pool = np.array([c for c in by_genre[g] if int(c) not in rated_sets[u]])
            if len(pool) < n_cands - 1:
                continue
            pw = popularity[pool] / popularity[pool].sum() if negatives == "popularity" else None
            negs = [int(c) for c in rng.choice(pool, n_cands - 1, replace=False, p=pw)]
            past = rows[max(0, t - max_len):t]
            h = np.zeros(max_len, dtype=np.int64)
            gp = np.zeros(max_len, dtype=np.int64)
            h[max_len - len(past):] = ml.item[past] + 1
            gp[max_len - len(past):] = _gap_bucket(ml.timestamp[rows[t]] - ml.timestamp[past])
            H.append(h), G.append(gp), Q.append(g), U.append(u), C.append([target] + negs)
            TE.append(j >= len(chosen) - n_test)
    if not H:
        raise ValueError("movielens_search: no request could be built (too few ratings per user?)")
    user = np.array(U)
    test = np.array(TE)
    user_x = np.stack([user, ageb[user], ml.genders[user], ml.occupations[user]], 1).astype(np.int64)
    dec = np.array([_decade(int(y)) for y in ml.years])
    return SearchData(np.stack(H), np.stack(G), np.array(Q), user, user_x, np.array(C, dtype=np.int64), ~test, test,
                      ml.genres.astype(np.float32), dec, [ml.n_users, 7, 2, len(ml.occupation_names)], ml.n_items,
                      n_genres, 8,
                      f"MovieLens-100k personalised search: {len(U)} requests ({int((~test).sum())} train / "
                      f"{int(test.sum())} test) of {ml.n_users} users; query = a genre of the next movie rated >= 4, "
                      f"{n_cands} candidates of that genre, history up to {max_len} earlier ratings")


# ----------------------------------------------------------------------------------------------
# shared parts


class ItemTokenizer(nn.Module):
    """Item token ``f([id; genres; decade])`` and the history tokens with time-gap and position embeddings."""

    def __init__(self, n_items: int, item_genres: np.ndarray, item_decade: np.ndarray, dim: int, max_len: int,
                 n_gap_buckets: int = 8) -> None:
        super().__init__()
        self.n_items, self.dim, self.max_len = int(n_items), int(dim), int(max_len)
        self.id_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.register_buffer("genres", torch.cat([torch.zeros(1, item_genres.shape[1]),
                                                  torch.as_tensor(item_genres, dtype=torch.float32)]))
        self.register_buffer("decade", torch.cat([torch.zeros(1, dtype=torch.long), torch.as_tensor(item_decade, dtype=torch.long)]))
        self.genre_proj = nn.Linear(item_genres.shape[1], dim, bias=False)
        self.decade_emb = nn.Embedding(int(self.decade.max()) + 1, dim)
        self.fuse = nn.Sequential(nn.Linear(3 * dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.gap_emb = nn.Embedding(n_gap_buckets, dim)
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.id_emb.weight, std=0.02)

    def item(self, ids_plus_one: torch.Tensor) -> torch.Tensor:
        parts = [self.id_emb(ids_plus_one), self.genre_proj(self.genres[ids_plus_one]), self.decade_emb(self.decade[ids_plus_one])]
        return self.fuse(torch.cat(parts, -1))

    def history(self, hist: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(hist.shape[1], device=hist.device) + (self.max_len - hist.shape[1])
        return self.item(hist) + self.gap_emb(gaps) + self.pos_emb(pos)[None]


class _Base(nn.Module):
    """Inputs, checks and the scoring head shared by DiffusionGS and SequenceRanker."""

    def __init__(self, data_spec: Dict[str, object], dim: int = 32) -> None:
        super().__init__()
        self.dim = int(dim)
        self.max_len = int(data_spec["max_len"])
        self.user_dims = [int(d) for d in data_spec["user_dims"]]
        self.n_items, self.n_queries = int(data_spec["n_items"]), int(data_spec["n_queries"])
        self.tok = ItemTokenizer(self.n_items, np.asarray(data_spec["item_genres"]), np.asarray(data_spec["item_decade"]),
                                 dim, self.max_len, int(data_spec.get("n_gap_buckets", 8)))
        self.query_emb = nn.Embedding(self.n_queries, dim)
        self.user_emb = nn.ModuleList(nn.Embedding(d, dim) for d in self.user_dims)
        self.user_proj = nn.Linear(dim * len(self.user_dims), dim)
        self.att = nn.Sequential(nn.Linear(4 * dim, 32), nn.ReLU(), nn.Linear(32, 1))
        self.head = nn.Sequential(nn.Linear(5 * dim, 64), nn.ReLU(), nn.Linear(64, 1))

    @staticmethod
    def spec(data: SearchData) -> Dict[str, object]:
        return {"max_len": data.history.shape[1], "user_dims": data.user_dims, "n_items": data.n_items,
                "n_queries": data.n_queries, "item_genres": data.item_genres, "item_decade": data.item_decade,
                "n_gap_buckets": data.n_gap_buckets}

    def check(self, hist, gaps, query, user_x, cands) -> None:
        for name, t in (("history", hist), ("gaps", gaps), ("query", query), ("user_x", user_x), ("cands", cands)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{type(self).__name__}: {name} must be a torch.Tensor, got {type(t).__name__}")
            if t.is_floating_point():
                raise TypeError(f"{type(self).__name__}: {name} must hold integer ids, got dtype {t.dtype}")
        B = hist.shape[0]
        if hist.ndim != 2 or hist.shape[1] > self.max_len or hist.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: history must be [B, L] with 1 <= L <= {self.max_len}, got {tuple(hist.shape)}")
        if gaps.shape != hist.shape:
            raise ValueError(f"{type(self).__name__}: gaps must have the shape of history {tuple(hist.shape)}, got {tuple(gaps.shape)}")
        if query.shape != (B,):
            raise ValueError(f"{type(self).__name__}: query must be [B={B}], got {tuple(query.shape)}")
        if user_x.shape != (B, len(self.user_dims)):
            raise ValueError(f"{type(self).__name__}: user_x must be [B={B}, {len(self.user_dims)}], got {tuple(user_x.shape)}")
        if cands.ndim != 2 or cands.shape[0] != B or cands.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: cands must be [B={B}, C>=1], got {tuple(cands.shape)}")
        if B and bool((hist != 0).sum(1).eq(0).any()):
            empty = int((hist != 0).sum(1).eq(0).nonzero()[0])
            raise ValueError(f"{type(self).__name__}: history row {empty} is empty (all padding); every request needs at "
                             "least one past action (drop it or use a non-personalised ranker for new users)")
        for name, t, hi in (("history", hist, self.n_items + 1), ("cands", cands, self.n_items),
                            ("query", query, self.n_queries)):
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= hi):
                raise ValueError(f"{type(self).__name__}: {name} ids must be in [0, {hi}), got [{int(t.min())}, {int(t.max())}]")
        for j, d in enumerate(self.user_dims):
            if B and (int(user_x[:, j].min()) < 0 or int(user_x[:, j].max()) >= d):
                raise ValueError(f"{type(self).__name__}: user field {j} must be in [0, {d})")

    def user_vec(self, user_x: torch.Tensor) -> torch.Tensor:
        return self.user_proj(torch.cat([e(user_x[:, j]) for j, e in enumerate(self.user_emb)], 1))

    def score(self, seq: torch.Tensor, mask: torch.Tensor, q: torch.Tensor, u: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """Target attention of each candidate over ``seq`` ``[B, L, d]`` -> scores ``[B, C]``."""
        c = self.tok.item(cands + 1)                                              # [B, C, d]
        B, L, d = seq.shape
        C = c.shape[1]
        s = seq[:, None].expand(B, C, L, d)
        tq = (c + q[:, None])[:, :, None].expand(B, C, L, d)
        a = self.att(torch.cat([s, tq, s * tq, s - tq], -1)).squeeze(-1)         # [B, C, L]
        a = a.masked_fill(~mask[:, None], -1e9).softmax(-1)
        interest = (a[..., None] * s).sum(2)                                      # [B, C, d]
        feats = torch.cat([interest, c, interest * c, q[:, None].expand_as(c), u[:, None].expand_as(c)], -1)
        return self.head(feats).squeeze(-1)


# ----------------------------------------------------------------------------------------------
# DiffusionGS


class UserAwareDenoisingLayer(nn.Module):
    """UDL: attention over [query token; history] with user-aware queries and a user prior on keys,
    LayerNorms modulated by the diffusion condition (step + query), then an FFN."""

    def __init__(self, dim: int, heads: int = 2, ff: int = 2) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"UserAwareDenoisingLayer: dim={dim} must be divisible by heads={heads}")
        self.dim, self.heads = dim, heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ada = nn.Linear(dim, 4 * dim)
        nn.init.zeros_(self.ada.weight), nn.init.zeros_(self.ada.bias)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.user_q = nn.Linear(dim, dim, bias=False)
        self.user_k = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ff * dim), nn.GELU(), nn.Linear(ff * dim, dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, qtok: torch.Tensor, user: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        B, L, d = x.shape
        h_ = self.heads
        dh = d // h_
        s1, b1, s2, b2 = self.ada(cond).chunk(4, -1)
        h = self.norm1(x) * (1 + s1[:, None]) + b1[:, None]
        kv_in = torch.cat([qtok[:, None], h], 1)                                  # query token first
        q = self.qkv(h)[..., :d] + self.user_q(user)[:, None]
        _, k, v = self.qkv(kv_in).split(d, -1)
        q = q.view(B, L, h_, dh).transpose(1, 2)
        k = k.view(B, L + 1, h_, dh).transpose(1, 2)
        v = v.view(B, L + 1, h_, dh).transpose(1, 2)
        prior = (self.user_k(user).view(B, h_, 1, dh) * k).sum(-1) / math.sqrt(dh)  # [B, h, L+1]
        logits = q @ k.transpose(-1, -2) / math.sqrt(dh) + prior[:, :, None, :]
        keymask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), mask], 1)
        attn = logits.masked_fill(~keymask[:, None, None, :], -1e9).softmax(-1)
        x = x + self.out((attn @ v).transpose(1, 2).reshape(B, L, d))
        x = x + self.ffn(self.norm2(x) * (1 + s2[:, None]) + b2[:, None])
        return x, attn


def _step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    ang = t.float()[:, None] * freqs[None]
    return torch.cat([ang.sin(), ang.cos()], -1)


class DiffusionGS(_Base):
    """Query-conditioned diffusion ranker (see the module docstring).

    ``forward(history, gaps, query, user_x, cands)`` -> scores ``[B, C]`` (deterministic DDIM
    denoising from ``t_start``); :meth:`losses` gives ``(ranking, diffusion)`` losses for training.
    """

    def __init__(self, data_spec: Dict[str, object], dim: int = 32, layers: int = 2, heads: int = 2,
                 steps: int = 50, t_start: int = 10, infer_steps: int = 2, beta: Tuple[float, float] = (1e-4, 0.05)) -> None:
        super().__init__(data_spec, dim)
        if not 1 <= t_start <= steps:
            raise ValueError(f"DiffusionGS: t_start must be in [1, steps={steps}], got {t_start}")
        if not 1 <= infer_steps <= t_start:
            raise ValueError(f"DiffusionGS: infer_steps must be in [1, t_start={t_start}], got {infer_steps}")
        self.steps, self.t_start, self.infer_steps = int(steps), int(t_start), int(infer_steps)
        betas = torch.linspace(beta[0], beta[1], steps, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0)
        self.register_buffer("abar", torch.cat([torch.ones(1, dtype=torch.float64), abar]).float())  # abar[0] = 1
        self.step_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.layers = nn.ModuleList(UserAwareDenoisingLayer(dim, heads) for _ in range(layers))
        self.final = nn.LayerNorm(dim)
        self.to_x0 = nn.Linear(dim, dim)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, q: torch.Tensor, u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict ``h0`` from ``x_t`` at steps ``t`` ``[B]``, conditioned on query ``q`` and user ``u``."""
        cond = self.step_mlp(_step_embedding(t, self.dim)) + q
        h = x_t
        for layer in self.layers:
            h, _ = layer(h, cond, q, u, mask)
        return x_t + self.to_x0(self.final(h))

    def _encode(self, hist, gaps, query, user_x):
        self.check(hist, gaps, query, user_x, torch.zeros(hist.shape[0], 1, dtype=torch.long, device=hist.device))
        mask = hist != 0
        return self.tok.history(hist, gaps), mask, self.query_emb(query), self.user_vec(user_x)

    @torch.no_grad()
    def _ddim(self, h0: torch.Tensor, q, u, mask) -> torch.Tensor:
        ts = torch.linspace(self.t_start, 0, self.infer_steps + 1).round().long().tolist()
        x = self.abar[ts[0]].sqrt() * h0
        x0 = h0
        for t, t_next in zip(ts[:-1], ts[1:]):
            tt = torch.full((h0.shape[0],), t, dtype=torch.long, device=h0.device)
            x0 = self.denoise(x, tt, q, u, mask)
            ab, abn = self.abar[t], self.abar[t_next]
            eps = (x - ab.sqrt() * x0) / (1 - ab).clamp_min(1e-8).sqrt()
            x = abn.sqrt() * x0 + (1 - abn).sqrt() * eps
        return x0

    def forward(self, hist, gaps, query, user_x, cands) -> torch.Tensor:
        self.check(hist, gaps, query, user_x, cands)
        h0, mask, q, u = self._encode(hist, gaps, query, user_x)
        if self.training:
            seq = self.denoise(h0, torch.zeros(h0.shape[0], dtype=torch.long, device=h0.device), q, u, mask)
        else:
            seq = self._ddim(h0, q, u, mask)
        return self.score(seq, mask, q, u, cands)

    def losses(self, hist, gaps, query, user_x, cands, generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(ranking CE with the positive in column 0, x0 reconstruction MSE)`` at random steps <= ``t_start``."""
        self.check(hist, gaps, query, user_x, cands)
        h0, mask, q, u = self._encode(hist, gaps, query, user_x)
        B = h0.shape[0]
        t = torch.randint(1, self.t_start + 1, (B,), generator=generator).to(h0.device)
        eps = torch.randn(h0.shape, generator=generator).to(h0.device)
        ab = self.abar[t][:, None, None]
        x_t = ab.sqrt() * h0 + (1 - ab).sqrt() * eps
        h0_hat = self.denoise(x_t, t, q, u, mask)
        m = mask[..., None].float()
        diff = ((h0_hat - h0.detach()) ** 2 * m).sum() / (m.sum() * self.dim).clamp_min(1.0)
        scores = self.score(h0_hat, mask, q, u, cands)
        rank = F.cross_entropy(scores, torch.zeros(B, dtype=torch.long, device=scores.device))
        return rank, diff


class SequenceRanker(_Base):
    """Non-generative comparison: the same tokens and head; ``pooling="attention"`` (query/candidate
    target attention over the raw history) or ``"mean"`` (mean of the history tokens)."""

    def __init__(self, data_spec: Dict[str, object], dim: int = 32, pooling: str = "attention") -> None:
        super().__init__(data_spec, dim)
        if pooling not in ("attention", "mean"):
            raise ValueError(f"SequenceRanker: pooling must be 'attention' or 'mean', got {pooling!r}")
        self.pooling = pooling

    def forward(self, hist, gaps, query, user_x, cands) -> torch.Tensor:
        self.check(hist, gaps, query, user_x, cands)
        mask = hist != 0
        seq = self.tok.history(hist, gaps)
        q, u = self.query_emb(query), self.user_vec(user_x)
        if self.pooling == "mean":
            m = mask[..., None].float()
            pooled = (seq * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
            return self.score(pooled, torch.ones(seq.shape[0], 1, dtype=torch.bool, device=seq.device), q, u, cands)
        return self.score(seq, mask, q, u, cands)

    def losses(self, hist, gaps, query, user_x, cands, generator=None) -> Tuple[torch.Tensor, torch.Tensor]:
        s = self(hist, gaps, query, user_x, cands)
        return F.cross_entropy(s, torch.zeros(s.shape[0], dtype=torch.long, device=s.device)), torch.zeros((), device=s.device)


# ----------------------------------------------------------------------------------------------
# training and evaluation


def _batch(data: SearchData, idx: np.ndarray):
    return tuple(torch.as_tensor(a[idx]) for a in (data.history, data.gaps, data.query, data.user_x, data.cands))


def train_ranker(model: nn.Module, data: SearchData, *, epochs: int = 5, batch_size: int = 128, lr: float = 2e-3,
                 diffusion_weight: float = 1.0, seed: int = 0, weight_decay: float = 1e-5) -> List[Dict[str, float]]:
    """Listwise softmax ranking loss (+ ``diffusion_weight`` x denoising loss for DiffusionGS)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rows = np.flatnonzero(data.train)
    if len(rows) == 0:
        raise ValueError("train_ranker: no training requests")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    logs = []
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(rows)
        tr = td = 0.0
        for s in range(0, len(perm), batch_size):
            b = perm[s:s + batch_size]
            rank, diff = model.losses(*_batch(data, b), generator=gen)
            loss = rank + diffusion_weight * diff
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            tr += float(rank.detach()) * len(b)
            td += float(diff.detach()) * len(b)
        logs.append({"epoch": ep + 1, "rank_loss": tr / len(rows), "diffusion_loss": td / len(rows)})
    return logs


@torch.no_grad()
def rank_scores(model: nn.Module, data: SearchData, mask: Optional[np.ndarray] = None, batch_size: int = 256) -> np.ndarray:
    """Scores ``[n, C]`` of the candidates of the requests in ``mask`` (default: test)."""
    model.eval()
    rows = np.flatnonzero(data.test if mask is None else mask)
    return torch.cat([model(*_batch(data, rows[s:s + batch_size])) for s in range(0, len(rows), batch_size)]).numpy()


def evaluate_search(scores: np.ndarray, k: int = 10) -> Dict[str, float]:
    """AUC (pooled), GAUC (per request), NDCG@k, HR@k and MRR with the positive in column 0."""
    scores = metrics._scores("evaluate_search", scores).reshape(np.shape(scores))
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"evaluate_search: scores must be [requests, candidates >= 2], got shape {scores.shape}")
    n, C = scores.shape
    labels = np.zeros_like(scores)
    labels[:, 0] = 1
    if k < 1:
        raise ValueError(f"evaluate_search: k must be >= 1, got {k}")
    # the positive's rank is uniform over g+1 .. g+t+1 (g negatives above it, t tied with it): NDCG, HR
    # and MRR are their expected values over the orders of the tie, as AUC counts a tie as one half (a
    # mid-rank g + t/2 + 1 gave a constant scorer HR@10 = 0 and MRR 0.095 on 20 candidates, not 0.5 / 0.18)
    g = (scores[:, 1:] > scores[:, :1]).sum(1)
    t = (scores[:, 1:] == scores[:, :1]).sum(1)
    r = np.arange(1, C + 1)

    def over_tie(per_rank: np.ndarray) -> float:
        """Mean over requests of ``per_rank`` averaged over the positive's possible ranks g+1 .. g+t+1."""
        c = np.r_[0.0, np.cumsum(per_rank)]
        return float(((c[g + t + 1] - c[g]) / (t + 1)).mean())

    groups = np.repeat(np.arange(n), C)
    return {"auc": metrics.auc(labels.ravel(), scores.ravel()), "gauc": metrics.gauc(groups, labels.ravel(), scores.ravel()),
            f"ndcg@{k}": over_tie(np.where(r <= k, 1.0 / np.log2(r + 1), 0.0)), f"hr@{k}": over_tie(r <= k),
            "mrr": over_tie(1.0 / r)}


def popularity_ranker(data: SearchData, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Non-personalised baseline: candidates scored by how often they appear in training histories."""
    cnt = np.bincount(data.history[data.train].ravel(), minlength=data.n_items + 1)[1:].astype(np.float64)
    rows = np.flatnonzero(data.test if mask is None else mask)
    return cnt[data.cands[rows]]
