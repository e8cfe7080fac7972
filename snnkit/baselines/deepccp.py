"""DeepCCP (arXiv 2009.02647): citation-count prediction from the early citation cascade.

DeepCCP reads the citation network a paper gathers in its first years - who cites it, who of
those cite each other, and when - as an information cascade, and predicts the citation count
after a longer period. It uses only structure and timing (no text or metadata): graph
convolutions over the cascade graph at successive time slices, a recurrent network over the
slices, and a regression head trained on log counts.

What is built here (choices in ``docs/baselines-recsys.md``):

* :func:`batch_cascades`: the observed cascade (:func:`snnkit.data.graphs.observe`) split into
  ``slices`` equal time slices up to ``t_obs``; per slice the adjacency of the nodes published
  so far (citations made symmetric for the GCN, self loops added) and node features (root flag,
  in/out degree within the slice, age of the node at the slice end, arrival time);
* :class:`DeepCCP`: two GCN layers (``D^-1/2 (A + I) D^-1/2 H W``) shared by all slices, sum and
  mean pooling plus ``log2(1 + count)`` per slice, a GRU over the slices and an MLP; the output
  is ``log2(1 + early count) + delta`` (the final count can only grow), trained with MSE on
  ``log2(1 + final count)``, i.e. the MSLE the cascade literature reports;
* baselines: the early count itself and a ridge regression on ``log2(1 + count)`` at every
  slice end (:func:`baseline_predictions`); metrics MSLE, Pearson and Spearman correlation of
  the log counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics
from ..data.graphs import Cascade, observe

__all__ = ["CascadeBatch", "batch_cascades", "DeepCCP", "train_deepccp", "predict_counts", "baseline_predictions",
           "evaluate_counts", "slice_counts", "N_NODE_FEATURES"]

N_NODE_FEATURES = 6


@dataclass
class CascadeBatch:
    """Padded tensors: ``adj`` ``[B, S, N, N]`` (normalised), ``x`` ``[B, S, N, F]``, ``node_mask``
    ``[B, S, N]``, ``counts`` ``[B, S]`` (citations by each slice end), ``target`` ``[B]`` (final count or nan)."""

    adj: torch.Tensor
    x: torch.Tensor
    node_mask: torch.Tensor
    counts: torch.Tensor
    target: torch.Tensor


def slice_counts(c: Cascade, t_obs: float, slices: int) -> np.ndarray:
    ends = t_obs * np.arange(1, slices + 1) / slices
    return np.array([c.count_at(e) for e in ends], dtype=np.float64)


def batch_cascades(cascades: Sequence[Cascade], t_obs: float, slices: int = 4, max_nodes: int = 200) -> CascadeBatch:
    """Observe each cascade until ``t_obs`` and build the per-slice graphs (see the module docstring).

    Cascades with more than ``max_nodes`` observed nodes keep their earliest ``max_nodes`` in
    the graphs; the exact counts still enter through ``counts``.
    """
    if not cascades:
        raise ValueError("batch_cascades: no cascades given")
    if not t_obs > 0:
        raise ValueError(f"batch_cascades: t_obs must be > 0, got {t_obs!r}")
    if slices < 1:
        raise ValueError(f"batch_cascades: slices must be >= 1, got {slices}")
    for k, c in enumerate(cascades):
        if not isinstance(c, Cascade):
            raise TypeError(f"batch_cascades: item {k} is a {type(c).__name__}, expected snnkit.data.graphs.Cascade")
    obs = [observe(c, t_obs) for c in cascades]
    N = min(max(o.n_nodes for o in obs), max_nodes)
    B, S = len(obs), slices
    adj = torch.zeros(B, S, N, N)
    x = torch.zeros(B, S, N, N_NODE_FEATURES)
    mask = torch.zeros(B, S, N, dtype=torch.bool)
    counts = torch.zeros(B, S)
    ends = t_obs * np.arange(1, S + 1) / S
    for b, o in enumerate(obs):
        n = min(o.n_nodes, N)
        t = torch.as_tensor(o.times[:n], dtype=torch.float32)
        e = o.edges[(o.edges[:, 0] < n) & (o.edges[:, 1] < n)] if len(o.edges) else o.edges
        A = torch.zeros(n, n)
        if len(e):
            A[torch.as_tensor(e[:, 0]), torch.as_tensor(e[:, 1])] = 1.0
        for s, end in enumerate(ends):
            m = t <= float(end)
            mf = m.float()
            As = A * mf[:, None] * mf[None, :]
            sym = ((As + As.T) > 0).float() + torch.diag(mf)
            deg = sym.sum(1).clamp_min(1.0)
            adj[b, s, :n, :n] = sym / torch.sqrt(deg[:, None] * deg[None, :])
            x[b, s, :n, 0] = torch.zeros(n).index_fill_(0, torch.tensor([0]), 1.0)
            x[b, s, :n, 1] = torch.log2(1 + As.sum(0))                     # citations received inside the cascade
            x[b, s, :n, 2] = torch.log2(1 + As.sum(1))                     # references to cascade members
            x[b, s, :n, 3] = (float(end) - t).clamp_min(0) / t_obs * mf    # age at the slice end
            x[b, s, :n, 4] = t / t_obs * mf                                # arrival time
            x[b, s, :n, 5] = mf
            x[b, s, :n] *= mf[:, None]
            mask[b, s, :n] = m
            counts[b, s] = float(o.count_at(float(end)))
    target = torch.as_tensor([c.label if c.label is not None else float("nan") for c in cascades], dtype=torch.float32)
    return CascadeBatch(adj, x, mask, counts, target)


class DeepCCP(nn.Module):
    """GCN over each time slice of the cascade, GRU over slices, MLP -> ``log2(1 + final count)``."""

    def __init__(self, hidden: int = 32, gcn_layers: int = 2, gru_hidden: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        if gcn_layers < 1:
            raise ValueError(f"DeepCCP: gcn_layers must be >= 1, got {gcn_layers}")
        dims = [N_NODE_FEATURES] + [hidden] * gcn_layers
        self.gcn = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.gru = nn.GRU(2 * hidden + 1, gru_hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(gru_hidden + 1, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, batch: CascadeBatch) -> torch.Tensor:
        if not isinstance(batch, CascadeBatch):
            raise TypeError(f"DeepCCP: expected a CascadeBatch (from batch_cascades), got {type(batch).__name__}")
        x, adj, m = batch.x, batch.adj, batch.node_mask
        if x.shape[-1] != N_NODE_FEATURES:
            raise ValueError(f"DeepCCP: node features must have {N_NODE_FEATURES} columns, got {x.shape[-1]}")
        if adj.shape[:3] != x.shape[:3] or adj.shape[-1] != adj.shape[-2]:
            raise ValueError(f"DeepCCP: adjacency {tuple(adj.shape)} does not match node features {tuple(x.shape)}")
        h = x
        for layer in self.gcn:
            h = F.relu(adj @ layer(h))
        mf = m.unsqueeze(-1).float()
        h = h * mf
        pooled_sum = torch.log1p(h.sum(2))
        pooled_mean = h.sum(2) / mf.sum(2).clamp_min(1.0)
        lc = torch.log2(1 + batch.counts).unsqueeze(-1)
        seq, _ = self.gru(torch.cat([pooled_sum, pooled_mean, lc], -1))
        delta = self.head(torch.cat([seq[:, -1], lc[:, -1]], -1)).squeeze(-1)
        return lc[:, -1, 0] + delta

    def predict_counts(self, batch: CascadeBatch) -> torch.Tensor:
        return (2 ** self(batch) - 1).clamp_min(0)


def train_deepccp(model: DeepCCP, cascades: Sequence[Cascade], t_obs: float, *, slices: int = 4, epochs: int = 30,
                  batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 1e-5, max_nodes: int = 200,
                  seed: int = 0) -> List[Dict[str, float]]:
    """MSE on ``log2(1 + final count)`` (= MSLE) over ``cascades``; batches are built once."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if len(cascades) == 0:
        raise ValueError("train_deepccp: no training cascades")
    order = rng.permutation(len(cascades))
    batches = [batch_cascades([cascades[i] for i in order[s:s + batch_size]], t_obs, slices, max_nodes)
               for s in range(0, len(order), batch_size)]
    if any(torch.isnan(b.target).any() for b in batches):
        raise ValueError("train_deepccp: some cascades have no label (final count)")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    logs = []
    for ep in range(epochs):
        model.train()
        tot = 0.0
        for k in rng.permutation(len(batches)):
            b = batches[k]
            loss = F.mse_loss(model(b), torch.log2(1 + b.target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b.target)
        logs.append({"epoch": ep + 1, "msle": tot / len(cascades)})
    return logs


@torch.no_grad()
def predict_counts(model: DeepCCP, cascades: Sequence[Cascade], t_obs: float, slices: int = 4, batch_size: int = 256,
                   max_nodes: int = 200) -> np.ndarray:
    model.eval()
    out = [model.predict_counts(batch_cascades(cascades[s:s + batch_size], t_obs, slices, max_nodes))
           for s in range(0, len(cascades), batch_size)]
    return torch.cat(out).numpy().astype(np.float64)


def baseline_predictions(train: Sequence[Cascade], test: Sequence[Cascade], t_obs: float, slices: int = 4,
                         alpha: float = 1.0) -> Dict[str, np.ndarray]:
    """``early_count`` (the count at ``t_obs``) and ``linear`` (ridge on log2 slice counts) for ``test``."""
    from sklearn.linear_model import Ridge

    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"baseline_predictions: need training and test cascades, got {len(train)} and {len(test)}")
    if any(c.label is None for c in train):
        raise ValueError("baseline_predictions: some training cascades have no label (final count)")
    Xtr = np.log2(1 + np.stack([slice_counts(c, t_obs, slices) for c in train]))
    Xte = np.log2(1 + np.stack([slice_counts(c, t_obs, slices) for c in test]))
    ytr = np.log2(1 + np.array([c.label for c in train]))
    reg = Ridge(alpha=alpha).fit(Xtr, ytr)
    lin = np.clip(2 ** reg.predict(Xte) - 1, 0, None)
    return {"early_count": np.array([c.count_at(t_obs) for c in test], dtype=np.float64), "linear": lin}


def evaluate_counts(pred: np.ndarray, cascades: Sequence[Cascade]) -> Dict[str, float]:
    y = np.array([c.label for c in cascades], dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    return {"msle": metrics.msle(y, p), "pearson_log": metrics.pearson(np.log2(1 + y), np.log2(1 + np.clip(p, 0, None))),
            "spearman": metrics.spearman(y, p)}
