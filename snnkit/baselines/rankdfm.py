"""RankDFM (arXiv 2304.02434): DeepFM pre-ranking with pairwise training and learnable field selection.

The paper's three parts, as built here:

* **DeepFM backbone** over categorical *fields* (query, document and context features): a
  first-order term, the FM second-order term ``0.5 * ((sum_f e_f)^2 - sum_f e_f^2)`` summed over
  the embedding dimension, and an MLP over the concatenated field embeddings; the score is
  their sum (one logit per (query, document)).
* **Pairwise training**: documents of one query with different relevance form pairs
  ``(pos, neg)``; the loss is ``-log sigmoid(s_pos - s_neg)`` (BPR / RankNet with a known
  preference) or a margin hinge.
* **Learnable feature selection**: each field ``f`` has a keep-logit ``a_f``; its embedding
  (and first-order weight) is multiplied by a gate ``g_f``. In training ``g_f`` is a relaxed
  Bernoulli (concrete) sample with keep probability ``sigmoid(a_f)``, as in FSCD (Ma et al.,
  SIGIR 2021, the learnable selection that pre-ranking papers such as RankDFM build on); in
  evaluation ``g_f = sigmoid(a_f)``. The penalty ``sum_f cost_f * sigmoid(a_f)`` pushes
  unneeded fields towards zero; :meth:`RankDFM.prune` then builds a smaller model without them
  (gates folded into the kept weights), which is what makes inference cheaper.

The paper gives no code; choices are listed in ``docs/baselines-recsys.md``.
Data: :func:`movielens_ranking` turns MovieLens-100k into queries (users), documents (rated
movies) and graded relevance (rating - 1).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics

__all__ = ["RankDFM", "pairwise_loss", "RankingData", "movielens_ranking", "train_rankdfm", "evaluate_ranking",
           "popularity_scores", "time_inference", "score", "sample_pairs", "FIELDS"]

#: Field names built by :func:`movielens_ranking` (query side, document side, context).
FIELDS = ("user_id", "age", "gender", "occupation", "zip_region",
          "item_id", "decade", "genre1", "genre2", "genre3",
          "weekday", "hour")


class RankDFM(nn.Module):
    """DeepFM scorer with learnable field gates.

    ``fields`` maps each field name to its vocabulary size (an ordered mapping or a sequence of
    ``(name, size)``); ``forward(x)`` takes ``x`` of shape ``[..., F]`` (int64 indices, one column
    per field in that order) and returns scores of shape ``[...]``.
    """

    def __init__(self, fields: Union[Mapping[str, int], Sequence[Tuple[str, int]]], embed_dim: int = 8,
                 hidden: Sequence[int] = (64, 32), dropout: float = 0.1, gates: bool = True,
                 temperature: float = 0.5) -> None:
        super().__init__()
        items = list(fields.items()) if isinstance(fields, Mapping) else [tuple(f) for f in fields]
        if not items:
            raise ValueError("RankDFM: fields is empty; give at least one (name, vocabulary size)")
        for name, size in items:
            if not isinstance(name, str):
                raise TypeError(f"RankDFM: field names must be str, got {name!r}")
            if not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"RankDFM: field {name!r} needs a positive integer vocabulary size, got {size!r}")
        names = [n for n, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"RankDFM: duplicate field names in {names}")
        self.field_names: List[str] = names
        self.field_dims: List[int] = [int(s) for _, s in items]
        self.embed_dim, self.hidden, self.dropout_p = int(embed_dim), tuple(int(h) for h in hidden), float(dropout)
        self.temperature = float(temperature)
        offsets = np.r_[0, np.cumsum(self.field_dims)[:-1]]
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long), persistent=False)
        total = int(sum(self.field_dims))
        self.embedding = nn.Embedding(total, self.embed_dim)
        self.linear = nn.Embedding(total, 1)
        self.bias = nn.Parameter(torch.zeros(()))
        nn.init.normal_(self.embedding.weight, std=0.05)
        nn.init.zeros_(self.linear.weight)
        layers: List[nn.Module] = []
        width = len(names) * self.embed_dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(self.dropout_p)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        # keep-logits start at 3 (keep probability 0.95): every field in, selection is learned
        self.gate_logits = nn.Parameter(torch.full((len(names),), 3.0)) if gates else None

    @property
    def num_fields(self) -> int:
        return len(self.field_names)

    def config(self) -> Dict[str, object]:
        return {"fields": list(zip(self.field_names, self.field_dims)), "embed_dim": self.embed_dim,
                "hidden": list(self.hidden), "dropout": self.dropout_p, "gates": self.gate_logits is not None,
                "temperature": self.temperature}

    def check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"RankDFM: x must be a torch.Tensor of field indices, got {type(x).__name__}")
        if x.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"RankDFM: x must hold integer field indices, got dtype {x.dtype}")
        if x.ndim < 1 or x.shape[-1] != self.num_fields:
            raise ValueError(f"RankDFM: x must have {self.num_fields} columns (fields {self.field_names}), "
                             f"got shape {tuple(x.shape)}")
        if x.numel():
            lo = x.amin(dim=tuple(range(x.ndim - 1)))
            hi = x.amax(dim=tuple(range(x.ndim - 1)))
            dims = torch.as_tensor(self.field_dims, device=x.device)
            bad = ((lo < 0) | (hi >= dims)).nonzero().flatten().tolist()
            if bad:
                f = bad[0]
                raise ValueError(f"RankDFM: field {self.field_names[f]!r} has indices in [{int(lo[f])}, {int(hi[f])}] "
                                 f"but its vocabulary size is {self.field_dims[f]}")

    def keep_probabilities(self) -> torch.Tensor:
        """``sigmoid(a_f)`` per field (ones when the model has no gates)."""
        if self.gate_logits is None:
            return torch.ones(self.num_fields, device=self.embedding.weight.device)
        return torch.sigmoid(self.gate_logits)

    def gates(self) -> torch.Tensor:
        """The gates used by this forward pass: a concrete sample in training, the keep probability in eval."""
        if self.gate_logits is None:
            return torch.ones(self.num_fields, device=self.embedding.weight.device)
        if self.training:
            u = torch.rand_like(self.gate_logits).clamp(1e-6, 1 - 1e-6)
            return torch.sigmoid((self.gate_logits + torch.log(u) - torch.log1p(-u)) / self.temperature)
        return torch.sigmoid(self.gate_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        lead = x.shape[:-1]
        idx = x.reshape(-1, self.num_fields).long() + self.offsets
        g = self.gates()
        emb = self.embedding(idx) * g[None, :, None]                     # [N, F, k]
        first = (self.linear(idx).squeeze(-1) * g[None, :]).sum(-1)      # [N]
        s = emb.sum(1)
        fm = 0.5 * (s.pow(2) - emb.pow(2).sum(1)).sum(-1)                # [N]
        deep = self.mlp(emb.flatten(1)).squeeze(-1)
        return (self.bias + first + fm + deep).reshape(lead)

    def sparsity_penalty(self, costs: Optional[Sequence[float]] = None) -> torch.Tensor:
        """``sum_f cost_f * sigmoid(a_f)``: the selection regulariser (0 without gates)."""
        if self.gate_logits is None:
            return torch.zeros((), device=self.embedding.weight.device)
        p = torch.sigmoid(self.gate_logits)
        if costs is None:
            return p.sum()
        c = torch.as_tensor(costs, dtype=p.dtype, device=p.device)
        if c.shape != p.shape:
            raise ValueError(f"RankDFM.sparsity_penalty: costs needs {self.num_fields} entries, got {tuple(c.shape)}")
        return (c * p).sum()

    def selected_fields(self, threshold: float = 0.5) -> List[str]:
        p = self.keep_probabilities().detach().cpu().numpy()
        return [n for n, v in zip(self.field_names, p) if v >= threshold]

    def field_ranking(self) -> List[Tuple[str, float]]:
        """Fields ordered by keep probability, highest first."""
        p = self.keep_probabilities().detach().cpu().numpy()
        return sorted(zip(self.field_names, [float(v) for v in p]), key=lambda t: -t[1])

    def columns(self, source_fields: Sequence[str]) -> List[int]:
        """Column indices of this model's fields inside a matrix whose columns are ``source_fields``."""
        missing = [f for f in self.field_names if f not in source_fields]
        if missing:
            raise ValueError(f"RankDFM.columns: fields {missing} are not among the source fields {list(source_fields)}")
        return [list(source_fields).index(f) for f in self.field_names]

    @torch.no_grad()
    def prune(self, keep: Optional[Sequence[str]] = None, threshold: float = 0.5, top_k: Optional[int] = None) -> "RankDFM":
        """A new model with only the kept fields; gates are folded into the kept weights.

        Fields are chosen by name (``keep``), by the ``top_k`` highest keep probabilities, or by
        ``keep probability >= threshold`` (the default). The result has no gates and gives the
        same scores as this model in eval mode up to the contribution of the dropped fields.
        """
        if keep is not None:
            unknown = [f for f in keep if f not in self.field_names]
            if unknown:
                raise ValueError(f"RankDFM.prune: unknown fields {unknown}; model fields are {self.field_names}")
            kept = [f for f in self.field_names if f in set(keep)]
        elif top_k is not None:
            if not 1 <= top_k <= self.num_fields:
                raise ValueError(f"RankDFM.prune: top_k must be in [1, {self.num_fields}], got {top_k}")
            kept = [n for n, _ in self.field_ranking()[:top_k]]
            kept = [f for f in self.field_names if f in kept]
        else:
            kept = self.selected_fields(threshold)
        if not kept:
            raise ValueError(f"RankDFM.prune: no field has keep probability >= {threshold}; "
                             f"ranking: {self.field_ranking()}")
        ids = [self.field_names.index(f) for f in kept]
        g = self.keep_probabilities()
        new = RankDFM([(f, self.field_dims[i]) for f, i in zip(kept, ids)], self.embed_dim, self.hidden,
                      self.dropout_p, gates=False, temperature=self.temperature).to(self.embedding.weight.device)
        offs = self.offsets.tolist()
        for j, i in enumerate(ids):
            src = slice(offs[i], offs[i] + self.field_dims[i])
            dst = slice(int(new.offsets[j]), int(new.offsets[j]) + self.field_dims[i])
            new.embedding.weight[dst] = self.embedding.weight[src] * g[i]
            new.linear.weight[dst] = self.linear.weight[src] * g[i]
        new.bias.copy_(self.bias)
        old_layers = [m for m in self.mlp if isinstance(m, nn.Linear)]
        new_layers = [m for m in new.mlp if isinstance(m, nn.Linear)]
        cols = torch.cat([torch.arange(i * self.embed_dim, (i + 1) * self.embed_dim) for i in ids])
        new_layers[0].weight.copy_(old_layers[0].weight[:, cols])
        new_layers[0].bias.copy_(old_layers[0].bias)
        for a, b in zip(old_layers[1:], new_layers[1:]):
            b.load_state_dict(a.state_dict())
        return new.train(self.training)


def pairwise_loss(s_pos: torch.Tensor, s_neg: torch.Tensor, kind: str = "bpr", margin: float = 1.0,
                  weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Pairwise ranking loss of preferred (``s_pos``) over less relevant (``s_neg``) documents.

    ``kind``: ``"bpr"`` (= RankNet with a known preference) ``-log sigmoid(s_pos - s_neg)``, or
    ``"hinge"`` ``max(0, margin - (s_pos - s_neg))``. ``weight`` scales each pair (e.g. by the
    relevance gap).
    """
    if s_pos.shape != s_neg.shape:
        raise ValueError(f"pairwise_loss: s_pos {tuple(s_pos.shape)} and s_neg {tuple(s_neg.shape)} differ in shape")
    d = s_pos - s_neg
    if kind in ("bpr", "ranknet"):
        loss = F.softplus(-d)
    elif kind == "hinge":
        loss = F.relu(margin - d)
    else:
        raise ValueError(f"pairwise_loss: kind must be 'bpr', 'ranknet' or 'hinge', got {kind!r}")
    if weight is not None:
        loss = loss * weight
    return loss.mean()


# ----------------------------------------------------------------------------------------------
# data


@dataclass
class RankingData:
    """Documents under queries: ``x`` ``[N, F]`` field indices, ``query`` ``[N]``, ``relevance`` ``[N]``.

    ``train``/``test`` are boolean masks over the N rows; ``item`` is the document id of each row.
    """

    x: np.ndarray
    query: np.ndarray
    relevance: np.ndarray
    item: np.ndarray
    train: np.ndarray
    test: np.ndarray
    fields: List[Tuple[str, int]]
    n_items: int
    description: str = ""
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def field_names(self) -> List[str]:
        return [f for f, _ in self.fields]


def _decade(year: int) -> int:
    return 0 if year <= 0 else int(np.clip((year - 1920) // 10 + 1, 1, 9))


def _age_bucket(age: int) -> int:
    return int(np.searchsorted([18, 25, 35, 45, 50, 56], age, side="right"))


def _zip_region(z: str) -> int:
    return int(z[0]) + 1 if z and z[0].isdigit() else 0


def movielens_ranking(ml=None, *, n_users: Optional[int] = None, test_frac: float = 0.2, seed: int = 0,
                      root=None) -> RankingData:
    """MovieLens-100k as query/document ranking: users are queries, rated movies their documents.

    Relevance is ``rating - 1`` (0..4). Fields (:data:`FIELDS`): user id, age bucket, gender,
    occupation, first zip digit; movie id, release decade, first three genres; weekday and hour
    of the rating (context fields, there to give the selection something to drop). Each user's
    ratings are split ``1 - test_frac`` / ``test_frac`` at random (seeded).
    """
    from ..data.recsys import load_movielens100k, split_per_user

    if ml is None:
        ml = load_movielens100k(root)
    if n_users is not None:
        ml = ml.subset_users(n_users, seed)
    genre_lists = [np.flatnonzero(ml.genres[i]) for i in range(ml.n_items)]
    genre_cols = np.zeros((ml.n_items, 3), dtype=np.int64)
    for i, g in enumerate(genre_lists):
        for j, v in enumerate(g[:3]):
            genre_cols[i, j] = v + 1
    dec = np.array([_decade(int(y)) for y in ml.years])
    ageb = np.array([_age_bucket(int(a)) for a in ml.ages])
    zipr = np.array([_zip_region(z) for z in ml.zips])
    u, it = ml.user, ml.item
    ts = ml.timestamp
    weekday = ((ts // 86400) + 4) % 7          # 1970-01-01 was a Thursday
    hour = (ts // 3600) % 24
    x = np.stack([u, ageb[u], ml.genders[u], ml.occupations[u], zipr[u], it, dec[it],
                  genre_cols[it, 0], genre_cols[it, 1], genre_cols[it, 2], weekday, hour], axis=1).astype(np.int64)
    dims = [ml.n_users, 7, 2, len(ml.occupation_names), 11, ml.n_items, 10, 20, 20, 20, 7, 24]
    train, test = split_per_user(ml, test_frac, seed)
    return RankingData(x, u.copy(), ml.rating - 1.0, it.copy(), train, test, list(zip(FIELDS, dims)), ml.n_items,
                       f"MovieLens-100k ranking: {ml.n_users} users as queries, {int(train.sum())} train / "
                       f"{int(test.sum())} test rated movies, relevance = rating - 1")


def sample_pairs(query: np.ndarray, relevance: np.ndarray, rows: np.ndarray, rng: np.random.Generator,
                 per_row: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """For each row, ``per_row`` partners of the same query with different relevance -> (pos, neg) rows."""
    pos, neg = [], []
    q = query[rows]
    order = np.argsort(q, kind="mergesort")
    rows_s, q_s = rows[order], q[order]
    cuts = np.flatnonzero(np.r_[True, q_s[1:] != q_s[:-1], True])
    for a, b in zip(cuts[:-1], cuts[1:]):
        grp = rows_s[a:b]
        rel = relevance[grp]
        if len(grp) < 2 or rel.min() == rel.max():
            continue
        for _ in range(per_row):
            j = rng.integers(0, len(grp), size=len(grp))
            i = np.arange(len(grp))
            ok = rel[i] != rel[j]
            hi = np.where(rel[i] > rel[j], grp[i], grp[j])[ok]
            lo = np.where(rel[i] > rel[j], grp[j], grp[i])[ok]
            pos.append(hi)
            neg.append(lo)
    if not pos:
        raise ValueError("sample_pairs: no query has documents with different relevance; nothing to train on")
    return np.concatenate(pos), np.concatenate(neg)


def train_rankdfm(model: RankDFM, data: RankingData, *, epochs: int = 5, batch_size: int = 1024, lr: float = 3e-3,
                  weight_decay: float = 0.0, sparsity: float = 0.0, costs: Optional[Sequence[float]] = None,
                  loss: str = "bpr", columns: Optional[Sequence[int]] = None, seed: int = 0,
                  gate_lr: float = 0.05, verbose: bool = False) -> List[Dict[str, float]]:
    """Pairwise training on ``data.train``; ``sparsity`` weighs :meth:`RankDFM.sparsity_penalty`.

    ``columns`` selects the model's columns from ``data.x`` (for a pruned model use
    ``model.columns(data.field_names)``). The gate logits get their own learning rate
    ``gate_lr`` (they must travel several units in few steps). Returns per-epoch logs.
    """
    if columns is None:
        if model.num_fields != data.x.shape[1]:
            raise ValueError(f"train_rankdfm: model has {model.num_fields} fields but data has {data.x.shape[1]} columns; "
                             "pass columns=model.columns(data.field_names) for a pruned model")
        columns = list(range(data.x.shape[1]))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    X = torch.as_tensor(data.x[:, list(columns)])
    gate = [model.gate_logits] if model.gate_logits is not None else []
    rest = [p for n, p in model.named_parameters() if n != "gate_logits"]
    groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay}]
    if gate:
        groups.append({"params": gate, "lr": gate_lr, "weight_decay": 0.0})
    opt = torch.optim.Adam(groups)
    rows = np.flatnonzero(data.train)
    logs = []
    for ep in range(epochs):
        model.train()
        pos, neg = sample_pairs(data.query, data.relevance, rows, rng)
        perm = rng.permutation(len(pos))
        total, n = 0.0, 0
        for s in range(0, len(perm), batch_size):
            b = perm[s:s + batch_size]
            sp, sn = model(X[pos[b]]), model(X[neg[b]])
            lo = pairwise_loss(sp, sn, loss)
            obj = lo + (sparsity * model.sparsity_penalty(costs) if sparsity else 0.0)
            opt.zero_grad()
            obj.backward()
            opt.step()
            total += float(lo.detach()) * len(b)
            n += len(b)
        logs.append({"epoch": ep + 1, "loss": total / n, "kept": len(model.selected_fields())})
        if verbose:
            print(f"epoch {ep + 1}: pair loss {total / n:.4f}, fields kept {model.selected_fields()}")
    return logs


@torch.no_grad()
def score(model: RankDFM, x: np.ndarray, columns: Optional[Sequence[int]] = None, batch_size: int = 8192) -> np.ndarray:
    model.eval()
    X = torch.as_tensor(x if columns is None else x[:, list(columns)])
    return torch.cat([model(X[s:s + batch_size]) for s in range(0, len(X), batch_size)]).numpy()


def evaluate_ranking(scores: np.ndarray, data: RankingData, mask: Optional[np.ndarray] = None, k: int = 10) -> Dict[str, float]:
    """NDCG@k, within-query pair AUC and global AUC (relevant = rating >= 4) on ``mask`` (default: test)."""
    m = data.test if mask is None else mask
    q, rel, s = data.query[m], data.relevance[m], np.asarray(scores)[m] if len(scores) == len(m) else np.asarray(scores)
    return {f"ndcg@{k}": metrics.mean_ndcg(q, rel, s, k), "pair_auc": metrics.pairwise_accuracy(q, rel, s),
            "auc": metrics.auc(rel >= 3, s), "gauc": metrics.gauc(q, rel >= 3, s)}


def popularity_scores(data: RankingData, kind: str = "mean_rating", shrink: float = 10.0) -> np.ndarray:
    """Non-personalised baselines per row: the item's shrunk mean training relevance or its training count."""
    tr = data.train
    cnt = np.bincount(data.item[tr], minlength=data.n_items).astype(np.float64)
    if kind == "count":
        return cnt[data.item]
    if kind != "mean_rating":
        raise ValueError(f"popularity_scores: kind must be 'mean_rating' or 'count', got {kind!r}")
    tot = np.bincount(data.item[tr], weights=data.relevance[tr], minlength=data.n_items)
    mu = data.relevance[tr].mean()
    return ((tot + shrink * mu) / (cnt + shrink))[data.item]


@torch.no_grad()
def time_inference(model: RankDFM, x: torch.Tensor, repeats: int = 20, warmup: int = 3) -> float:
    """Median seconds of one eval forward over ``x`` (candidates scored in one batch)."""
    model.eval()
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
