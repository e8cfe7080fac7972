"""PathFormer (arXiv 2402.07268, code: github.com/zehao-dong/pathformer): pathway-aware gene attention.

PathFormer classifies disease from a sample's gene expression laid out on a signalling
network and ranks genes as biomarkers. Its two parts, as in the paper and the repository's
``models/pathformer_topk.py``:

* **KD-Sortpool** - a learnable score per gene (``W``, ``P = softmax(|W|)`` in the repo) picks
  the top-K genes independently of the sample, so one ranking holds for a whole cohort and can
  be compared across cohorts; the selected genes' features are multiplied by their scores so the
  scores are trained by the classification loss. A prior gene-disease association ``e`` (the
  paper uses DisGeNET) can add ``-sum_v P_v e_v`` to the loss.
* **PathFormer encoder** - Transformer layers over the selected genes whose attention is made
  pathway-aware: the repo computes queries and keys from a graph-wide MLP and feeds adjacency rows
  in the node input; here (see the docs for why) each head adds a learned bias per shortest-path
  distance on the signalling graph (``b[h, spd(i, j)]``, distances clipped at ``max_dist``) and
  the input is ``expression * weight`` projected plus a learned gene embedding. The readout
  flattens the gene states (repo: ``readout(K * d_model)``), here a per-gene linear map summed
  over genes, which equals a linear layer on the flattened states and keeps working when K shrinks.

Selection schedule: training starts with all genes and prunes to ``k`` over the first half
(:func:`train_pathformer`), keeping those with the highest score; the repo picks a fixed top-K
of randomly initialised scores, which leaves genes outside the first pick without a gradient.

Evaluation: accuracy / macro-F1 on held-out samples; biomarker ranking by score; reproducibility
across cohorts = overlap of the top-k genes and Spearman correlation of the scores of two models
trained on different data sets (:func:`reproducibility`); with simulated data also precision@k
against the planted biomarkers. Baselines: majority class, L2 logistic regression; rankings by
|t-statistic| (fold-change style) and by |logistic coefficient|.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics

__all__ = ["shortest_path_distances", "PathwayAttention", "PathFormer", "train_pathformer", "predict",
           "evaluate_classification", "reproducibility", "t_statistic_ranking", "logistic_baseline", "standardize"]


def shortest_path_distances(adj: np.ndarray, max_dist: int) -> np.ndarray:
    """Hop distances on the undirected graph, clipped to ``max_dist + 1`` (= farther or unreachable)."""
    A = (np.asarray(adj) != 0)
    A = A | A.T
    n = len(A)
    D = np.full((n, n), max_dist + 1, dtype=np.int64)
    np.fill_diagonal(D, 0)
    reach = np.eye(n, dtype=bool)
    frontier = np.eye(n, dtype=bool)
    Af = A.astype(np.float32)
    for d in range(1, max_dist + 1):
        frontier = ((frontier.astype(np.float32) @ Af) > 0) & ~reach
        D[frontier] = d
        reach |= frontier
        if not frontier.any():
            break
    return D


class PathwayAttention(nn.Module):
    """Multi-head self-attention over genes with a learned bias per (head, shortest-path distance)."""

    def __init__(self, d_model: int, heads: int, max_dist: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"PathwayAttention: d_model={d_model} must be divisible by heads={heads}")
        self.h, self.dk = heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dist_bias = nn.Embedding(max_dist + 2, heads)
        nn.init.zeros_(self.dist_bias.weight)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, spd: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        B, K, d = x.shape
        q, k, v = self.qkv(x).view(B, K, 3, self.h, self.dk).permute(2, 0, 3, 1, 4)
        bias = self.dist_bias(spd).permute(2, 0, 1)                       # [h, K, K]
        att = (q @ k.transpose(-1, -2) / math.sqrt(self.dk) + bias[None]).softmax(-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(B, K, d)
        return self.out(y), att


class _Block(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, max_dist: int, dropout: float) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.att = PathwayAttention(d_model, heads, max_dist, dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, spd):
        y, att = self.att(self.n1(x), spd)
        x = x + self.drop(y)
        return x + self.drop(self.ff(self.n2(x))), att


class PathFormer(nn.Module):
    """Gene-selection + pathway-aware Transformer classifier (see the module docstring).

    ``adjacency``: ``[G, G]`` signalling graph over the G genes of the expression matrix (order
    matters); ``forward(x)`` takes ``x`` ``[B, G]`` (standardised expression) and returns logits
    ``[B, n_classes]``. ``prior`` (``[G]``, optional) is a gene-disease association score.
    """

    def __init__(self, adjacency: np.ndarray, n_classes: int = 2, d_model: int = 16, heads: int = 2, layers: int = 2,
                 d_ff: int = 32, readout_hidden: int = 64, max_dist: int = 4, dropout: float = 0.2,
                 prior: Optional[np.ndarray] = None) -> None:
        super().__init__()
        A = np.asarray(adjacency, dtype=np.float32)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 2:
            raise ValueError(f"PathFormer: adjacency must be a square [G, G] matrix with G >= 2, got shape {A.shape}")
        if not (A != 0).any():
            raise ValueError("PathFormer: adjacency has no edges; the pathway-aware attention needs the signalling graph "
                             "(load one with snnkit.data.graphs.load_pathway_edges)")
        if n_classes < 2:
            raise ValueError(f"PathFormer: n_classes must be >= 2, got {n_classes}")
        G = A.shape[0]
        self.n_genes, self.n_classes, self.max_dist = G, int(n_classes), int(max_dist)
        self.register_buffer("spd", torch.as_tensor(shortest_path_distances(A, max_dist)))
        self.register_buffer("selected", torch.arange(G))
        self.register_buffer("pruned_order", torch.zeros(0, dtype=torch.long))   # genes in the order they were pruned
        if prior is not None:
            pr = torch.as_tensor(np.asarray(prior, dtype=np.float32))
            if pr.shape != (G,):
                raise ValueError(f"PathFormer: prior must have one score per gene ({G}), got shape {tuple(pr.shape)}")
            self.register_buffer("prior", pr)
        else:
            self.prior = None
        self.gene_score = nn.Parameter(torch.zeros(G))
        self.gene_emb = nn.Embedding(G, d_model)
        nn.init.normal_(self.gene_emb.weight, std=0.1)
        self.expr_proj = nn.Linear(1, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, heads, d_ff, max_dist, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.read_w = nn.Parameter(torch.randn(G, d_model, readout_hidden) / math.sqrt(d_model * 50))
        self.read_b = nn.Parameter(torch.zeros(readout_hidden))
        self.read_out = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(readout_hidden, n_classes))

    @property
    def k(self) -> int:
        return int(self.selected.numel())

    def gene_weights(self) -> torch.Tensor:
        """``P`` over the selected genes (softmax of their scores), length ``k``."""
        return torch.softmax(self.gene_score[self.selected], 0)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"PathFormer: x must be a torch.Tensor [B, G], got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"PathFormer: x must be float expression values, got dtype {x.dtype}")
        if x.ndim != 2 or x.shape[1] != self.n_genes:
            raise ValueError(f"PathFormer: x must be [B, {self.n_genes}] (one column per gene of the adjacency), "
                             f"got shape {tuple(x.shape)}")
        sel = self.selected
        w = self.gene_weights() * self.k                                        # mean weight 1
        h = self.expr_proj((x[:, sel] * w).unsqueeze(-1)) + self.gene_emb(sel)[None]
        spd = self.spd[sel][:, sel]
        atts = []
        for blk in self.blocks:
            h, a = blk(h, spd)
            atts.append(a)
        h = self.norm(h)
        hidden = torch.einsum("bkd,kdh->bh", h, self.read_w[sel]) + self.read_b
        logits = self.read_out(hidden)
        return (logits, atts) if return_attention else logits

    def fold_change_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``-sum_v P_v |mean(x_v | y=1) - mean(x_v | y=0)|`` over the selected genes of a batch.

        The repository's ``log2fc_back`` regulariser ties the scores to the fold change between
        disease and control samples; this is its signed-effect-safe form on standardised data
        (per-gene absolute mean difference rather than the fold change of the weighted sum, which
        cancels when effects have both signs). Zero when the batch lacks one of the classes;
        for more than two classes, class 1 vs the rest.
        """
        pos, neg = y == 1, y != 1
        if not bool(pos.any()) or not bool(neg.any()):
            return torch.zeros((), device=x.device)
        xs = x[:, self.selected]
        diff = (xs[pos].mean(0) - xs[neg].mean(0)).abs()
        return -(self.gene_weights() * diff).sum()

    def prior_loss(self) -> torch.Tensor:
        """``-sum_v P_v e_v`` over the selected genes (0 without a prior)."""
        if self.prior is None:
            return torch.zeros((), device=self.gene_score.device)
        return -(self.gene_weights() * self.prior[self.selected]).sum()

    @torch.no_grad()
    def prune(self, k: int) -> None:
        """Keep the ``k`` selected genes with the highest scores."""
        if not 1 <= k <= self.k:
            raise ValueError(f"PathFormer.prune: k must be in [1, {self.k}] (currently selected), got {k}")
        order = torch.argsort(self.gene_score[self.selected], descending=True)
        keep, drop = self.selected[order[:k]], self.selected[order[k:]]
        self.pruned_order = torch.cat([drop.flip(0), self.pruned_order])     # latest-pruned first
        self.selected = torch.sort(keep).values

    @torch.no_grad()
    def gene_ranking(self) -> np.ndarray:
        """All gene indices, best first: selected genes by score, then pruned genes, latest-pruned first."""
        sel = self.selected[torch.argsort(self.gene_score[self.selected], descending=True)]
        return torch.cat([sel, self.pruned_order]).cpu().numpy()

    @torch.no_grad()
    def gene_importance(self) -> np.ndarray:
        """A score per gene consistent with :meth:`gene_ranking` (higher = more important)."""
        r = self.gene_ranking()
        imp = np.empty(self.n_genes)
        imp[r] = np.arange(self.n_genes, 0, -1)
        return imp


def standardize(train: np.ndarray, *others: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Z-score genes with the training mean/std (applied to ``others`` too)."""
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return tuple(((a - mu) / sd).astype(np.float32) for a in (train,) + others)


def train_pathformer(model: PathFormer, X: np.ndarray, y: np.ndarray, *, epochs: int = 40, k: Optional[int] = None,
                     batch_size: int = 16, lr: float = 2e-3, score_lr: float = 0.02, prior_weight: float = 0.0,
                     fc_weight: float = 1.0, weight_decay: float = 1e-3, seed: int = 0) -> List[Dict[str, float]]:
    """Cross-entropy training; the gene selection shrinks from all genes to ``k`` over the first half.

    ``X`` ``[N, G]`` standardised expression, ``y`` ``[N]`` class ids. Gene scores get their own
    learning rate ``score_lr``; ``fc_weight`` weighs :meth:`PathFormer.fold_change_loss` and
    ``prior_weight`` :meth:`PathFormer.prior_loss`.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != model.n_genes:
        raise ValueError(f"train_pathformer: X must be [N, {model.n_genes}], got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"train_pathformer: {len(y)} labels for {len(X)} samples")
    if y.min() < 0 or y.max() >= model.n_classes:
        raise ValueError(f"train_pathformer: labels must be in [0, {model.n_classes}), got [{y.min()}, {y.max()}]")
    k = model.k if k is None else int(k)
    if not 1 <= k <= model.k:
        raise ValueError(f"train_pathformer: k must be in [1, {model.k}], got {k}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    rest = [p for n, p in model.named_parameters() if n != "gene_score"]
    opt = torch.optim.AdamW([{"params": rest, "lr": lr, "weight_decay": weight_decay},
                             {"params": [model.gene_score], "lr": score_lr, "weight_decay": 0.0}])
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.long)
    start_k = model.k
    prune_epochs = max(1, epochs // 2)
    logs = []
    for ep in range(epochs):
        if model.k > k and ep > 0:
            target = int(round(start_k - (start_k - k) * min(1.0, ep / prune_epochs)))
            if target < model.k:
                model.prune(max(target, k))
        model.train()
        perm = rng.permutation(len(X))
        tot = correct = 0.0
        for s in range(0, len(perm), batch_size):
            b = torch.as_tensor(perm[s:s + batch_size])
            if len(b) < 2:
                continue
            logits = model(Xt[b])
            loss = F.cross_entropy(logits, yt[b])
            obj = loss + (prior_weight * model.prior_loss() if prior_weight else 0.0)
            if fc_weight:
                obj = obj + fc_weight * model.fold_change_loss(Xt[b], yt[b])
            opt.zero_grad()
            obj.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
            correct += float((logits.argmax(1) == yt[b]).sum())
        logs.append({"epoch": ep + 1, "loss": tot / len(X), "train_acc": correct / len(X), "k": model.k})
    if model.k > k:
        model.prune(k)
    return logs


@torch.no_grad()
def predict(model: PathFormer, X: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.as_tensor(np.asarray(X, dtype=np.float32))).softmax(-1).numpy()


def evaluate_classification(prob: np.ndarray, y: np.ndarray) -> Dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = np.asarray(prob).argmax(1)
    out = {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro"))}
    if np.asarray(prob).shape[1] == 2:
        out["auc"] = metrics.auc(y, np.asarray(prob)[:, 1])
    return out


def t_statistic_ranking(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Genes by |Welch t| between class 1 and class 0 (a fold-change style ranking), best first."""
    a, b = X[y == 1], X[y == 0]
    t = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / max(len(a), 1) + b.var(0) / max(len(b), 1) + 1e-12)
    return np.argsort(-np.abs(t), kind="mergesort")


def logistic_baseline(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, C: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """L2 logistic regression: ``(test probabilities, genes by |coefficient| best first)``."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=2000).fit(Xtr, ytr)
    coef = np.abs(clf.coef_).sum(0)
    return clf.predict_proba(Xte), np.argsort(-coef, kind="mergesort")


def reproducibility(rank_a: Sequence[int], rank_b: Sequence[int], ks: Sequence[int] = (5, 10, 20),
                    truth: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Agreement of two gene rankings (best first): overlap@k, Jaccard@k, Spearman of the rank
    positions; with ``truth`` (planted biomarkers) also precision@|truth| of each ranking."""
    ra, rb = np.asarray(rank_a), np.asarray(rank_b)
    if sorted(ra.tolist()) != sorted(rb.tolist()):
        raise ValueError("reproducibility: the two rankings must be permutations of the same genes")
    out = dict(metrics.rank_overlap(ra, rb, ks))
    for k in ks:
        if k <= len(ra):
            out[f"jaccard@{k}"] = metrics.jaccard(ra[:k], rb[:k])
    pos_a = np.empty(len(ra))
    pos_a[ra] = np.arange(len(ra))
    pos_b = np.empty(len(rb))
    pos_b[rb] = np.arange(len(rb))
    out["spearman"] = metrics.spearman(pos_a, pos_b)
    if truth is not None:
        t = set(int(v) for v in truth)
        out["precision_a"] = len(t & set(ra[:len(t)].tolist())) / len(t)
        out["precision_b"] = len(t & set(rb[:len(t)].tolist())) / len(t)
    return out
