"""SMILE (arXiv 2510.12604): semantic IDs from RQ-OPQ for cold-start items in a CTR model.

The paper quantises item content and collaborative information into semantic IDs with
residual quantisation (RQ) followed by optimised product quantisation (OPQ), then aligns them
in two steps: RQ codes carry collaborative signal *shared* across similar items, OPQ codes the
*differentiating* detail of each item. The item representation in the CTR model fuses the item
ID embedding with the semantic-ID embeddings, so a cold item (few or no interactions, an
untrained ID embedding) still gets a useful representation through codes it shares with warm
items.

What is built here (the paper has no code; choices in ``docs/baselines-recsys.md``):

1. Collaborative vectors ``c_i`` of warm items: item embeddings of a matrix factorisation fit
   on the training ratings (:func:`collaborative_vectors`).
2. Alignment before RQ: a ridge map ``W`` from content ``x_i`` to ``c_i`` fit on warm items;
   every item, cold included, gets ``a_i = x_i W`` (content expressed in collaborative space).
3. RQ (:func:`residual_quantize`): ``L`` levels of k-means on ``a_i`` and its residuals ->
   coarse codes shared by collaboratively similar items.
4. OPQ (:class:`OPQ`): a learned rotation plus product quantisation of the content ``x_i``
   (alternating PQ k-means and orthogonal Procrustes, Ge et al. 2013) -> fine codes.
5. :class:`SMILECTR`: user fields and item ID embeddings; item vector
   ``e_id + sigmoid(g) * sum_l E_rq[l][code_l] + sum_m E_opq[m][code_m]`` (``g`` a learned gate
   per item-ID-frequency bucket), an MLP + dot-product head -> click logit. The alignment loss
   (``align_weight``) pulls the RQ part towards the (detached) ID embedding of warm items, so
   the shared codes learn collaborative signal, and an in-batch contrastive term on the OPQ part
   keeps items apart (``contrast_weight``). ``use_semantic_ids=False`` is the same model without
   semantic IDs: the comparison the paper makes.

Evaluation (:func:`cold_start_split`, :func:`evaluate_ctr`): a share of items is made cold
(at most ``shots`` training ratings kept); AUC and GAUC (grouped by user) on held-out ratings of
cold and of warm items, label ``rating >= 4``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics

__all__ = ["kmeans", "residual_quantize", "OPQ", "SemanticIDs", "build_semantic_ids", "collaborative_vectors",
           "SMILECTR", "CTRData", "cold_start_split", "train_ctr", "predict_ctr", "evaluate_ctr"]


# ----------------------------------------------------------------------------------------------
# quantisers


def kmeans(X: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding; returns ``(centroids [k, d], assignment [N])``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"kmeans: X must be a non-empty 2-D array, got shape {X.shape}")
    if not 1 <= k:
        raise ValueError(f"kmeans: k must be >= 1, got {k}")
    k = min(k, len(X))
    rng = np.random.default_rng(seed)
    C = np.empty((k, X.shape[1]))
    C[0] = X[rng.integers(len(X))]
    d2 = ((X - C[0]) ** 2).sum(1)
    for j in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(X), 1.0 / len(X))
        C[j] = X[rng.choice(len(X), p=p)]
        d2 = np.minimum(d2, ((X - C[j]) ** 2).sum(1))
    a = np.zeros(len(X), dtype=np.int64)
    for _ in range(iters):
        dist = (X ** 2).sum(1)[:, None] - 2 * X @ C.T + (C ** 2).sum(1)[None, :]
        a_new = dist.argmin(1)
        for j in range(k):
            m = a_new == j
            C[j] = X[m].mean(0) if m.any() else X[rng.integers(len(X))]
        if np.array_equal(a_new, a):
            break
        a = a_new
    dist = (X ** 2).sum(1)[:, None] - 2 * X @ C.T + (C ** 2).sum(1)[None, :]
    return C, dist.argmin(1)


def residual_quantize(X: np.ndarray, levels: int = 2, k: int = 16, seed: int = 0,
                      iters: int = 25) -> Tuple[np.ndarray, List[np.ndarray], np.ndarray]:
    """RQ: k-means on ``X``, then on the residual, ``levels`` times.

    Returns ``(codes [N, levels], codebooks, residual)``; ``X ~ sum_l codebooks[l][codes[:, l]] + residual``.
    """
    if levels < 1:
        raise ValueError(f"residual_quantize: levels must be >= 1, got {levels}")
    R = np.asarray(X, dtype=np.float64).copy()
    codes, books = [], []
    for lvl in range(levels):
        C, a = kmeans(R, k, iters, seed + lvl)
        codes.append(a)
        books.append(C)
        R = R - C[a]
    return np.stack(codes, 1), books, R


class OPQ:
    """Optimised product quantisation: rotation ``R`` (orthogonal) then PQ with ``m`` sub-spaces.

    ``fit`` alternates PQ k-means on ``X R`` and the Procrustes update of ``R``
    (the non-parametric OPQ of Ge et al., CVPR 2013). ``encode`` gives ``[N, m]`` codes.
    """

    def __init__(self, m: int = 4, k: int = 16, outer: int = 6, iters: int = 15, seed: int = 0) -> None:
        if m < 1 or k < 1:
            raise ValueError(f"OPQ: m and k must be >= 1, got m={m}, k={k}")
        self.m, self.k, self.outer, self.iters, self.seed = m, k, outer, iters, seed
        self.R: Optional[np.ndarray] = None
        self.books: List[np.ndarray] = []

    def _split(self, d: int) -> List[slice]:
        edges = np.linspace(0, d, self.m + 1).round().astype(int)
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]

    def fit(self, X: np.ndarray) -> "OPQ":
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < self.m:
            raise ValueError(f"OPQ.fit: X must be 2-D with at least m={self.m} columns, got shape {X.shape}")
        d = X.shape[1]
        self.R = np.eye(d)
        for it in range(self.outer):
            Y = X @ self.R
            rec = np.zeros_like(Y)
            self.books = []
            for j, sl in enumerate(self._split(d)):
                C, a = kmeans(Y[:, sl], self.k, self.iters, self.seed + 97 * it + j)
                self.books.append(C)
                rec[:, sl] = C[a]
            U, _, Vt = np.linalg.svd(X.T @ rec)
            self.R = U @ Vt
        return self

    def encode(self, X: np.ndarray) -> np.ndarray:
        if self.R is None:
            raise ValueError("OPQ.encode: call fit first")
        Y = np.asarray(X, dtype=np.float64) @ self.R
        codes = []
        for C, sl in zip(self.books, self._split(Y.shape[1])):
            Z = Y[:, sl]
            dist = (Z ** 2).sum(1)[:, None] - 2 * Z @ C.T + (C ** 2).sum(1)[None, :]
            codes.append(dist.argmin(1))
        return np.stack(codes, 1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        parts = [C[codes[:, j]] for j, C in enumerate(self.books)]
        return np.concatenate(parts, 1) @ self.R.T


@dataclass
class SemanticIDs:
    """Per-item codes: ``rq`` ``[n_items, L]`` and ``opq`` ``[n_items, M]`` with their codebook sizes."""

    rq: np.ndarray
    opq: np.ndarray
    rq_sizes: List[int]
    opq_sizes: List[int]
    info: Dict[str, float] = field(default_factory=dict)

    def collisions(self) -> float:
        """Share of items whose full code (RQ + OPQ) is shared with another item."""
        full = np.concatenate([self.rq, self.opq], 1)
        _, inv, cnt = np.unique(full, axis=0, return_inverse=True, return_counts=True)
        return float((cnt[inv.ravel()] > 1).mean())


def collaborative_vectors(user: np.ndarray, item: np.ndarray, label: np.ndarray, n_users: int, n_items: int,
                          dim: int = 16, epochs: int = 30, lr: float = 0.05, reg: float = 1e-3,
                          seed: int = 0) -> np.ndarray:
    """Item vectors of a logistic matrix factorisation fit on (user, item, label) triples."""
    g = torch.Generator().manual_seed(seed)
    P = (0.1 * torch.randn(n_users, dim, generator=g)).requires_grad_()
    Q = (0.1 * torch.randn(n_items, dim, generator=g)).requires_grad_()
    bi = torch.zeros(n_items, requires_grad=True)
    u, i = torch.as_tensor(user), torch.as_tensor(item)
    y = torch.as_tensor(label, dtype=torch.float32)
    opt = torch.optim.Adam([P, Q, bi], lr=lr)
    for _ in range(epochs):
        logit = (P[u] * Q[i]).sum(1) + bi[i]
        loss = F.binary_cross_entropy_with_logits(logit, y) + reg * (P[u].pow(2).sum(1) + Q[i].pow(2).sum(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([Q, bi[:, None]], 1).detach().numpy()


def build_semantic_ids(content: np.ndarray, collab: Optional[np.ndarray] = None, warm: Optional[np.ndarray] = None,
                       rq_levels: int = 2, rq_k: int = 16, opq_m: int = 4, opq_k: int = 16, ridge: float = 1.0,
                       seed: int = 0) -> SemanticIDs:
    """RQ-OPQ semantic IDs of items from ``content`` ``[n_items, d]``.

    With ``collab`` (``[n_items, c]``, rows of ``warm`` items used), RQ runs on the content mapped
    into collaborative space by a ridge fit on warm items (see the module docstring); without it
    RQ runs on the standardised content. OPQ always runs on the standardised content.
    """
    X = np.asarray(content, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"build_semantic_ids: content must be [n_items, d], got shape {X.shape}")
    Xs = (X - X.mean(0)) / (X.std(0) + 1e-8)
    info: Dict[str, float] = {}
    if collab is not None:
        Cb = np.asarray(collab, dtype=np.float64)
        if len(Cb) != len(X):
            raise ValueError(f"build_semantic_ids: collab has {len(Cb)} rows but content has {len(X)} items")
        w = np.ones(len(X), dtype=bool) if warm is None else np.asarray(warm, dtype=bool)
        if w.sum() < 2:
            raise ValueError("build_semantic_ids: need at least 2 warm items to align content with collaborative vectors")
        A = np.c_[Xs, np.ones(len(Xs))]
        W = np.linalg.solve(A[w].T @ A[w] + ridge * np.eye(A.shape[1]), A[w].T @ Cb[w])
        Z = A @ W
        resid = Cb[w] - Z[w]
        info["align_r2"] = float(1 - (resid ** 2).sum() / (((Cb[w] - Cb[w].mean(0)) ** 2).sum() + 1e-12))
        Z = (Z - Z.mean(0)) / (Z.std(0) + 1e-8)
    else:
        Z = Xs
    rq, books, res = residual_quantize(Z, rq_levels, rq_k, seed)
    info["rq_residual_share"] = float((res ** 2).sum() / ((Z - Z.mean(0)) ** 2).sum())
    opq = OPQ(opq_m, opq_k, seed=seed + 1000).fit(Xs)
    codes = opq.encode(Xs)
    info["opq_residual_share"] = float(((Xs - opq.decode(codes)) ** 2).sum() / (Xs ** 2).sum())
    return SemanticIDs(rq, codes, [len(b) for b in books], [len(b) for b in opq.books], info)


# ----------------------------------------------------------------------------------------------
# CTR model


class SMILECTR(nn.Module):
    """CTR model whose item representation fuses ID and semantic-ID embeddings.

    ``forward(user_x, item)`` with ``user_x`` ``[B, U]`` (user field indices, sizes ``user_dims``)
    and ``item`` ``[B]`` item indices -> logits ``[B]``. ``item_side`` (``[n_items, s]`` float,
    optional) are side features given to both variants.
    """

    def __init__(self, user_dims: Sequence[int], n_items: int, sids: Optional[SemanticIDs] = None, dim: int = 16,
                 hidden: Sequence[int] = (64,), item_side: Optional[np.ndarray] = None,
                 use_semantic_ids: bool = True, freq_buckets: Optional[np.ndarray] = None) -> None:
        super().__init__()
        if use_semantic_ids and sids is None:
            raise ValueError("SMILECTR: use_semantic_ids=True needs sids (from build_semantic_ids)")
        if sids is not None and (len(sids.rq) != n_items or len(sids.opq) != n_items):
            raise ValueError(f"SMILECTR: semantic IDs cover {len(sids.rq)} items but n_items is {n_items}")
        self.user_dims, self.n_items, self.dim = [int(d) for d in user_dims], int(n_items), int(dim)
        self.use_sid = bool(use_semantic_ids)
        self.user_emb = nn.ModuleList(nn.Embedding(d, dim) for d in self.user_dims)
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.normal_(self.item_emb.weight, std=0.01)
        for e in self.user_emb:
            nn.init.normal_(e.weight, std=0.01)
        side_dim = 0
        if item_side is not None:
            side = torch.as_tensor(np.asarray(item_side, dtype=np.float32))
            if side.ndim != 2 or len(side) != n_items:
                raise ValueError(f"SMILECTR: item_side must be [n_items={n_items}, s], got {tuple(side.shape)}")
            self.register_buffer("item_side", side)
            self.side_proj = nn.Linear(side.shape[1], dim)
            side_dim = dim
        else:
            self.item_side = None
        if self.use_sid:
            self.register_buffer("rq_codes", torch.as_tensor(sids.rq, dtype=torch.long))
            self.register_buffer("opq_codes", torch.as_tensor(sids.opq, dtype=torch.long))
            self.rq_emb = nn.ModuleList(nn.Embedding(k, dim) for k in sids.rq_sizes)
            self.opq_emb = nn.ModuleList(nn.Embedding(k, dim) for k in sids.opq_sizes)
            for e in list(self.rq_emb) + list(self.opq_emb):
                nn.init.normal_(e.weight, std=0.01)
            fb = np.zeros(n_items, dtype=np.int64) if freq_buckets is None else np.asarray(freq_buckets, dtype=np.int64)
            self.register_buffer("freq_bucket", torch.as_tensor(fb))
            self.fusion_gate = nn.Embedding(int(fb.max()) + 1, 1)
            nn.init.zeros_(self.fusion_gate.weight)
        u_in = dim * len(self.user_dims)
        i_in = dim + side_dim
        layers: List[nn.Module] = []
        width = u_in + i_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.user_proj = nn.Linear(u_in, dim)

    def sid_parts(self, item: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        rq = sum(e(self.rq_codes[item, l]) for l, e in enumerate(self.rq_emb))
        opq = sum(e(self.opq_codes[item, m]) for m, e in enumerate(self.opq_emb))
        return rq, opq

    def item_vector(self, item: torch.Tensor) -> torch.Tensor:
        v = self.item_emb(item)
        if self.use_sid:
            rq, opq = self.sid_parts(item)
            v = v + torch.sigmoid(self.fusion_gate(self.freq_bucket[item])) * rq + opq
        return v

    def check(self, user_x: torch.Tensor, item: torch.Tensor) -> None:
        if not isinstance(user_x, torch.Tensor) or not isinstance(item, torch.Tensor):
            raise TypeError("SMILECTR: user_x and item must be torch tensors")
        if user_x.ndim != 2 or user_x.shape[1] != len(self.user_dims):
            raise ValueError(f"SMILECTR: user_x must be [B, {len(self.user_dims)}] (one column per user field), "
                             f"got {tuple(user_x.shape)}")
        if item.shape != user_x.shape[:1]:
            raise ValueError(f"SMILECTR: item must be [B={user_x.shape[0]}], got {tuple(item.shape)}")
        if item.numel() and (int(item.min()) < 0 or int(item.max()) >= self.n_items):
            raise ValueError(f"SMILECTR: item indices must be in [0, {self.n_items}), got [{int(item.min())}, {int(item.max())}]")
        for j, d in enumerate(self.user_dims):
            col = user_x[:, j]
            if col.numel() and (int(col.min()) < 0 or int(col.max()) >= d):
                raise ValueError(f"SMILECTR: user field {j} must be in [0, {d}), got [{int(col.min())}, {int(col.max())}]")

    def forward(self, user_x: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        self.check(user_x, item)
        u = torch.cat([e(user_x[:, j]) for j, e in enumerate(self.user_emb)], 1)
        iv = self.item_vector(item)
        parts = [u, iv]
        if self.item_side is not None:
            parts.append(self.side_proj(self.item_side[item]))
        deep = self.mlp(torch.cat(parts, 1)).squeeze(1)
        return deep + (self.user_proj(u) * iv).sum(1)

    def alignment_loss(self, item: torch.Tensor, warm: torch.Tensor, temperature: float = 0.2) -> Tuple[torch.Tensor, torch.Tensor]:
        """(RQ-to-ID cosine alignment on warm items, in-batch InfoNCE of the OPQ part vs the ID embedding)."""
        if not self.use_sid:
            z = torch.zeros((), device=item.device)
            return z, z
        rq, opq = self.sid_parts(item)
        idv = self.item_emb(item).detach()
        w = warm[item]
        align = (1 - F.cosine_similarity(rq[w], idv[w], dim=1)).mean() if w.any() else rq.sum() * 0
        uniq = torch.unique(item[w]) if w.any() else item[:0]
        if len(uniq) > 1:
            _, o = self.sid_parts(uniq)
            logits = F.normalize(o, dim=1) @ F.normalize(self.item_emb(uniq).detach(), dim=1).T / temperature
            contrast = F.cross_entropy(logits, torch.arange(len(uniq), device=item.device))
        else:
            contrast = opq.sum() * 0
        return align, contrast


# ----------------------------------------------------------------------------------------------
# data, training, evaluation


@dataclass
class CTRData:
    """Ratings as clicks (``label = rating >= 4``) with a cold-start item split."""

    user_x: np.ndarray
    item: np.ndarray
    label: np.ndarray
    user: np.ndarray
    train: np.ndarray
    test: np.ndarray
    cold_items: np.ndarray
    user_dims: List[int]
    n_items: int
    content: np.ndarray
    item_side: np.ndarray
    train_count: np.ndarray
    description: str = ""

    @property
    def warm_items(self) -> np.ndarray:
        w = np.ones(self.n_items, dtype=bool)
        w[self.cold_items] = False
        return w


def cold_start_split(ml=None, *, cold_frac: float = 0.2, shots: int = 0, test_frac: float = 0.2, seed: int = 0,
                     n_users: Optional[int] = None, root=None, min_item_ratings: int = 5) -> CTRData:
    """MovieLens-100k CTR data where ``cold_frac`` of items (with >= ``min_item_ratings``) are cold.

    A cold item keeps at most ``shots`` ratings in training, the rest are test; other ratings
    are split per user (``test_frac`` held out). Content: genres, release year and title words
    (:func:`snnkit.data.recsys.item_content_matrix`); ``item_side`` is the genre multi-hot.
    """
    from ..data.recsys import item_content_matrix, load_movielens100k, split_per_user
    from .rankdfm import _age_bucket

    if not 0.0 < cold_frac < 1.0:
        raise ValueError(f"cold_start_split: cold_frac must be in (0, 1), got {cold_frac!r}")
    if shots < 0:
        raise ValueError(f"cold_start_split: shots must be >= 0, got {shots}")
    if ml is None:
        ml = load_movielens100k(root)
    if n_users is not None:
        ml = ml.subset_users(n_users, seed)
    rng = np.random.default_rng(seed)
    cnt = np.bincount(ml.item, minlength=ml.n_items)
    eligible = np.flatnonzero(cnt >= min_item_ratings)
    cold = np.sort(rng.choice(eligible, int(round(cold_frac * len(eligible))), replace=False))
    train, test = split_per_user(ml, test_frac, seed)
    is_cold = np.zeros(ml.n_items, dtype=bool)
    is_cold[cold] = True
    rows_cold = is_cold[ml.item]
    train[rows_cold], test[rows_cold] = False, True
    if shots:
        for it in cold:
            r = np.flatnonzero(ml.item == it)
            keep = rng.choice(r, min(shots, len(r) - 1), replace=False) if len(r) > 1 else r[:0]
            train[keep], test[keep] = True, False
    ageb = np.array([_age_bucket(int(a)) for a in ml.ages])
    user_x = np.stack([ml.user, ageb[ml.user], ml.genders[ml.user], ml.occupations[ml.user]], 1).astype(np.int64)
    label = (ml.rating >= 4).astype(np.float32)
    train_count = np.bincount(ml.item[train], minlength=ml.n_items)
    return CTRData(user_x, ml.item.copy(), label, ml.user.copy(), train, test, cold,
                   [ml.n_users, 7, 2, len(ml.occupation_names)], ml.n_items, item_content_matrix(ml, dim=32, seed=seed),
                   ml.genres.copy(), train_count,
                   f"MovieLens-100k CTR (click = rating >= 4): {ml.n_users} users, {len(cold)} cold items "
                   f"({shots} training ratings each), {int(train.sum())} train / {int(test.sum())} test ratings")


def frequency_buckets(train_count: np.ndarray) -> np.ndarray:
    """0: unseen, 1: 1-4, 2: 5-19, 3: 20-99, 4: 100+ training interactions."""
    return np.searchsorted([1, 5, 20, 100], train_count, side="right")


def train_ctr(model: SMILECTR, data: CTRData, *, epochs: int = 5, batch_size: int = 512, lr: float = 3e-3,
              weight_decay: float = 1e-6, align_weight: float = 0.1, contrast_weight: float = 0.05,
              seed: int = 0) -> List[Dict[str, float]]:
    """BCE on training ratings plus the semantic-ID alignment terms (when the model uses them)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    rows = np.flatnonzero(data.train)
    if len(rows) == 0:
        raise ValueError("train_ctr: the training split is empty")
    UX, IT = torch.as_tensor(data.user_x), torch.as_tensor(data.item)
    Y = torch.as_tensor(data.label)
    warm = torch.as_tensor(data.train_count > 0)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    logs = []
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(rows)
        tot = 0.0
        for s in range(0, len(perm), batch_size):
            b = torch.as_tensor(perm[s:s + batch_size])
            logit = model(UX[b], IT[b])
            loss = F.binary_cross_entropy_with_logits(logit, Y[b])
            obj = loss
            if model.use_sid and (align_weight or contrast_weight):
                a, c = model.alignment_loss(IT[b], warm)
                obj = obj + align_weight * a + contrast_weight * c
            opt.zero_grad()
            obj.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
        logs.append({"epoch": ep + 1, "bce": tot / len(rows)})
    return logs


@torch.no_grad()
def predict_ctr(model: SMILECTR, data: CTRData, mask: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    model.eval()
    rows = np.flatnonzero(mask)
    UX, IT = torch.as_tensor(data.user_x[rows]), torch.as_tensor(data.item[rows])
    return torch.cat([model(UX[s:s + batch_size], IT[s:s + batch_size]) for s in range(0, len(rows), batch_size)]).numpy() \
        if len(rows) else np.zeros(0)


def evaluate_ctr(model: SMILECTR, data: CTRData) -> Dict[str, float]:
    """AUC and GAUC (by user) on test ratings of cold items, of warm items and of all items."""
    out: Dict[str, float] = {}
    cold_row = ~data.warm_items[data.item]
    for name, m in (("cold", data.test & cold_row), ("warm", data.test & ~cold_row), ("all", data.test)):
        s = predict_ctr(model, data, m)
        out[f"{name}_auc"] = metrics.auc(data.label[m], s)
        out[f"{name}_gauc"] = metrics.gauc(data.user[m], data.label[m], s)
        out[f"{name}_n"] = int(m.sum())
    return out
