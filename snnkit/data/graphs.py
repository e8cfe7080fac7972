"""Graph data for the DeepCCP and PathFormer baselines: citation cascades and omics on pathways.

No citation cascades or expression/pathway data ship in any package, so each family has

* a **simulator with known ground truth**, for offline use and tests:
  :func:`simulate_cascades` (a self-exciting citation process whose branching structure is the
  citation graph) and :func:`simulate_expression` (expression on a scale-free signalling graph
  with planted disease biomarkers, several cohorts sharing them);
* **loaders for the user's real files**: :func:`load_citation_csv` (citation edge lists with
  timestamps), :func:`load_expression_csv` (genes x samples matrices) and
  :func:`load_pathway_edges` (gene-gene edge lists).

Loaders raise ``FileNotFoundError`` for a missing file and ``ValueError`` naming the line and
column of anything malformed.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Cascade", "CascadeParams", "simulate_cascades", "load_citation_csv", "observe",
           "Expression", "load_expression_csv", "load_pathway_edges", "simulate_expression", "scale_free_graph",
           "ExpressionSim"]

PathLike = Union[str, os.PathLike]


# ----------------------------------------------------------------------------------------------
# citation cascades


@dataclass
class Cascade:
    """The citation cascade of one paper.

    Node 0 is the paper itself (time 0); node ``i > 0`` is the i-th citing paper, ``times[i]`` its
    publication time relative to the root's. ``edges`` ``[E, 2]`` are citations ``(citing,
    cited)`` between cascade members: every citer cites the root, and citers may cite earlier
    citers. ``label`` is the number of citations at the prediction horizon (the target);
    ``truth`` holds simulator parameters when simulated.
    """

    times: np.ndarray
    edges: np.ndarray
    label: float
    paper: str = ""
    truth: Dict[str, float] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.times)

    def count_at(self, t: float) -> int:
        """Citations received by time ``t`` (root excluded)."""
        return int((self.times[1:] <= t).sum())

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.float64)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        if self.times.ndim != 1 or len(self.times) == 0:
            raise ValueError(f"Cascade: times must be a non-empty 1-D array (node 0 = the paper), got shape {self.times.shape}")
        if len(self.edges) and (self.edges.min() < 0 or self.edges.max() >= len(self.times)):
            raise ValueError(f"Cascade: edges refer to nodes outside [0, {len(self.times)})")


def observe(c: Cascade, t_obs: float) -> Cascade:
    """The part of ``c`` visible at time ``t_obs`` (nodes published by then and edges among them)."""
    keep = np.flatnonzero(c.times <= t_obs)
    keep = np.union1d(keep, [0])
    remap = -np.ones(c.n_nodes, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    e = c.edges[(remap[c.edges[:, 0]] >= 0) & (remap[c.edges[:, 1]] >= 0)] if len(c.edges) else c.edges
    return Cascade(c.times[keep], remap[e] if len(e) else e.reshape(0, 2), c.label, c.paper, dict(c.truth))


@dataclass
class CascadeParams:
    """Parameters of :func:`simulate_cascades` (time unit: years).

    Each paper ``p`` draws a visibility ``q_p ~ LogNormal(0, visibility_sigma)`` and a fitness
    (branching ratio) ``n_p ~ LogNormal(log(fitness_median), fitness_sigma)`` clipped to
    ``max_branching``. Direct citations arrive at rate ``base_rate * q_p * exp(-t / root_decay)``;
    each citation at ``t_j`` triggers further citations (which cite it and the root) at rate
    ``n_p / trigger_decay * exp(-(t - t_j) / trigger_decay)`` - a Hawkes process in its cluster
    form, whose branching tree is the cascade's graph. ``extra_refs`` more references of each
    citer to earlier citers are drawn by preferential attachment (in-degree + 1).
    """

    horizon: float = 10.0
    base_rate: float = 4.0
    root_decay: float = 1.5
    trigger_decay: float = 1.0
    visibility_sigma: float = 0.7
    fitness_median: float = 0.45
    fitness_sigma: float = 0.5
    max_branching: float = 0.9
    extra_refs: float = 0.3
    max_nodes: int = 3000


def _trunc_exp(rng: np.random.Generator, scale: float, upper: float, size: int) -> np.ndarray:
    """Samples of Exp(scale) conditioned on ``< upper`` (inverse CDF)."""
    u = rng.random(size)
    return -scale * np.log1p(-u * (1 - math.exp(-upper / scale)))


def simulate_cascades(n: int, params: Optional[CascadeParams] = None, seed: int = 0) -> List[Cascade]:
    """``n`` simulated citation cascades up to ``params.horizon`` (see :class:`CascadeParams`).

    ``label`` is the final citation count; ``truth`` holds ``visibility``, ``branching`` and the
    expected final count ``E[N] = q * base_rate * root_decay * (1 - exp(-H / root_decay)) / (1 - n)``
    (the infinite-horizon value for the triggered part, an upper bound at finite horizon).
    """
    p = params or CascadeParams()
    if n < 1:
        raise ValueError(f"simulate_cascades: n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    out: List[Cascade] = []
    H = p.horizon
    for k in range(n):
        q = float(rng.lognormal(0.0, p.visibility_sigma))
        br = float(min(rng.lognormal(math.log(p.fitness_median), p.fitness_sigma), p.max_branching))
        mass = p.base_rate * q * p.root_decay * (1 - math.exp(-H / p.root_decay))
        n_imm = int(rng.poisson(mass))
        times: List[float] = [0.0]
        parent: List[int] = [-1]
        frontier = [(float(t), 0) for t in np.sort(_trunc_exp(rng, p.root_decay, H, n_imm))]
        events: List[Tuple[float, int]] = []
        while frontier and len(events) + 1 < p.max_nodes:
            t, par = frontier.pop()
            events.append((t, par))
            idx = len(events)   # provisional id (reassigned after sorting by time)
            rem = H - t
            if rem <= 0:
                continue
            m = rng.poisson(br * (1 - math.exp(-rem / p.trigger_decay)))
            for d in _trunc_exp(rng, p.trigger_decay, rem, m):
                frontier.append((t + float(d), idx))
        order = sorted(range(len(events)), key=lambda i: events[i][0])
        new_id = {old + 1: new + 1 for new, old in enumerate(order)}
        new_id[0] = 0
        edges: List[Tuple[int, int]] = []
        indeg = np.zeros(len(events) + 1)
        for new, old in enumerate(order, start=1):
            t, par = events[old]
            times.append(t)
            edges.append((new, 0))
            indeg[0] += 1
            cited = {0}
            if par > 0:
                pj = new_id[par]
                edges.append((new, pj))
                indeg[pj] += 1
                cited.add(pj)
            n_extra = rng.poisson(p.extra_refs)
            if n_extra and new > 1:
                w = indeg[1:new] + 1.0
                picks = rng.choice(np.arange(1, new), size=min(n_extra, new - 1), replace=False, p=w / w.sum())
                for j in picks:
                    if int(j) not in cited:
                        edges.append((new, int(j)))
                        indeg[int(j)] += 1
                        cited.add(int(j))
        expected = mass / (1 - br)
        out.append(Cascade(np.array(times), np.array(edges, dtype=np.int64).reshape(-1, 2), float(len(events)),
                           f"sim{k}", {"visibility": q, "branching": br, "expected_final": expected}))
    return out


def _parse_time(v: str, line: int, col: str, path: str) -> float:
    v = v.strip()
    try:
        return float(v)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y-%m"):
        try:
            d = datetime.strptime(v, fmt)
            start = datetime(d.year, 1, 1)
            return d.year + (d - start).total_seconds() / (366 * 86400.0)
        except ValueError:
            continue
    raise ValueError(f"{path}:{line}: column {col!r} holds {v!r}, which is neither a number nor a date (YYYY-MM-DD)")


def _open_table(path: PathLike, sep: Optional[str]) -> Tuple[List[str], List[List[str]], str]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{str(p)!r} is empty")
    if sep is None:
        head = lines[0]
        sep = "\t" if "\t" in head else ("," if "," in head else (";" if ";" in head else " "))
    if sep == " ":
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=sep))
    return rows[0], rows[1:], str(p)


def load_citation_csv(path: PathLike, *, citing: str = "citing", cited: str = "cited", time: str = "time",
                      pub_times: Optional[Union[PathLike, Mapping[str, float]]] = None, horizon: float = 10.0,
                      targets: Optional[Iterable[str]] = None, require_full_horizon: bool = True,
                      min_citations: int = 0, sep: Optional[str] = None) -> List[Cascade]:
    """Citation cascades from an edge list with timestamps (CSV/TSV with a header row).

    Each row ``citing, cited, time`` is one citation made at ``time`` (a number, e.g. a year, or
    a date). A paper's publication time is taken from ``pub_times`` (a mapping, or a CSV with
    columns ``paper, time``) when given, else as the earliest time it cites anything, else as
    the time of its first citation. For each target paper (default: every cited paper) the
    cascade holds its citers within ``horizon`` and the citations among them; ``label`` is their
    number. With ``require_full_horizon`` papers whose horizon ends after the last timestamp in
    the file are skipped (their count is not final). Observe the early part with :func:`observe`.
    """
    header, rows, where = _open_table(path, sep)
    cols = [h.strip() for h in header]
    missing = [c for c in (citing, cited, time) if c not in cols]
    if missing:
        raise ValueError(f"{where}: columns {missing} not found; the header has {cols} "
                         f"(pass citing=, cited=, time= to name yours)")
    ic, id_, it = cols.index(citing), cols.index(cited), cols.index(time)
    E: List[Tuple[str, str, float]] = []
    for ln, r in enumerate(rows, start=2):
        if len(r) <= max(ic, id_, it):
            raise ValueError(f"{where}:{ln}: expected at least {max(ic, id_, it) + 1} fields, got {len(r)}: {r}")
        E.append((r[ic].strip(), r[id_].strip(), _parse_time(r[it], ln, time, where)))
    if not E:
        raise ValueError(f"{where}: no citation edges (only a header)")
    pub: Dict[str, float] = {}
    if pub_times is not None:
        if isinstance(pub_times, Mapping):
            pub = {str(k): float(v) for k, v in pub_times.items()}
        else:
            h2, r2, w2 = _open_table(pub_times, None)
            if len(h2) < 2:
                raise ValueError(f"{w2}: expected columns paper,time")
            names = [h.strip().lower() for h in h2]
            # columns found by name when the header names them (a "time,paper" file is not read swapped)
            ip, itm = (names.index("paper"), names.index("time")) if {"paper", "time"} <= set(names) else (0, 1)
            for ln, r in enumerate(r2, start=2):
                if len(r) <= max(ip, itm):
                    raise ValueError(f"{w2}:{ln}: expected paper,time, got {r}")
                pub[r[ip].strip()] = _parse_time(r[itm], ln, h2[itm], w2)
    earliest_citing: Dict[str, float] = {}
    first_cited: Dict[str, float] = {}
    for a, b, t in E:
        earliest_citing[a] = min(t, earliest_citing.get(a, t))
        first_cited[b] = min(t, first_cited.get(b, t))
    for a, t in earliest_citing.items():
        pub.setdefault(a, t)
    for b, t in first_cited.items():
        pub.setdefault(b, t)
    t_max = max(t for _, _, t in E)
    citers: Dict[str, Dict[str, float]] = {}
    cites: Dict[str, set] = {}
    for a, b, t in E:
        citers.setdefault(b, {})[a] = min(t, citers.get(b, {}).get(a, t))
        cites.setdefault(a, set()).add(b)
    wanted = list(citers) if targets is None else [str(x) for x in targets]
    out: List[Cascade] = []
    for paper in wanted:
        if paper not in pub:
            raise ValueError(f"load_citation_csv: target paper {paper!r} does not occur in {where}")
        t0 = pub[paper]
        if require_full_horizon and t0 + horizon > t_max:
            continue
        cs = sorted(((t - t0, a) for a, t in citers.get(paper, {}).items() if t - t0 <= horizon), key=lambda z: (z[0], z[1]))
        if len(cs) < min_citations:
            continue
        ids = {paper: 0}
        times = [0.0]
        for t, a in cs:
            ids[a] = len(times)
            times.append(max(t, 0.0))
        edges = [(ids[a], 0) for _, a in cs]
        for _, a in cs:
            for b in cites.get(a, ()):
                if b in ids and b != paper and b != a:
                    edges.append((ids[a], ids[b]))
        out.append(Cascade(np.array(times), np.array(edges, dtype=np.int64).reshape(-1, 2), float(len(cs)), paper))
    return out


# ----------------------------------------------------------------------------------------------
# expression matrices and pathways


@dataclass
class Expression:
    """An expression data set: ``X`` ``[samples, genes]``, gene and sample names, labels (or None)."""

    X: np.ndarray
    genes: List[str]
    samples: List[str]
    y: Optional[np.ndarray] = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.X.shape != (len(self.samples), len(self.genes)):
            raise ValueError(f"Expression: X has shape {self.X.shape} but there are {len(self.samples)} samples "
                             f"and {len(self.genes)} genes")
        if self.y is not None and len(self.y) != len(self.samples):
            raise ValueError(f"Expression: {len(self.y)} labels for {len(self.samples)} samples")

    def select_genes(self, genes: Sequence[str]) -> "Expression":
        """Columns of ``genes`` in that order (ValueError naming genes that are absent)."""
        idx = {g: i for i, g in enumerate(self.genes)}
        missing = [g for g in genes if g not in idx]
        if missing:
            raise ValueError(f"Expression.select_genes: {len(missing)} genes absent from {self.name or 'the data'}: {missing[:10]}")
        cols = [idx[g] for g in genes]
        return Expression(self.X[:, cols], list(genes), self.samples, self.y, self.name)

    def top_variance(self, k: int) -> "Expression":
        """The ``k`` most variable genes (PathFormer's preprocessing keeps the top 3000 by variance)."""
        order = np.argsort(-self.X.var(0), kind="mergesort")[:k]
        return self.select_genes([self.genes[i] for i in sorted(order)])


def load_expression_csv(path: PathLike, *, labels: Optional[Union[PathLike, Mapping[str, int]]] = None,
                        label_prefixes: Optional[Mapping[str, int]] = None, sep: Optional[str] = None,
                        log1p: bool = False, name: str = "") -> Expression:
    """A genes x samples matrix (first column gene ids, header row sample names) -> :class:`Expression`.

    Labels from ``labels`` (a mapping sample -> class, or a CSV ``sample,label``) or from sample
    name prefixes (``label_prefixes={"control": 0, "AD": 1}``, the convention of the PathFormer
    repository's Mayo/ROSMAP files). Separator auto-detected (tab, comma, semicolon, spaces).
    """
    header, rows, where = _open_table(path, sep)
    if not rows:
        raise ValueError(f"{where}: no gene rows below the header")
    n_cols = max(len(r) for r in rows)
    # the header names every column (gene column first) or only the samples (R's write.table style)
    if n_cols < 2 or len(header) not in (n_cols, n_cols - 1):
        raise ValueError(f"{where}: header has {len(header)} fields but rows have {n_cols} (gene + samples); "
                         f"the header must name the {n_cols - 1} samples, with or without a gene column name")
    samples = [h.strip() for h in header[len(header) - (n_cols - 1):]]
    genes: List[str] = []
    X = np.empty((len(rows), n_cols - 1), dtype=np.float64)
    seen: Dict[str, int] = {}
    for i, r in enumerate(rows):
        ln = i + 2
        if len(r) != n_cols:
            raise ValueError(f"{where}:{ln}: expected {n_cols} fields (gene + {n_cols - 1} samples), got {len(r)}")
        g = r[0].strip()
        if g in seen:
            raise ValueError(f"{where}:{ln}: gene {g!r} appears twice (first on line {seen[g]})")
        seen[g] = ln
        genes.append(g)
        for j, v in enumerate(r[1:]):
            try:
                X[i, j] = float(v) if v.strip() not in ("", "NA", "NaN", "nan") else np.nan
            except ValueError:
                raise ValueError(f"{where}:{ln}: sample {samples[j]!r} of gene {g!r} holds {v!r}, not a number") from None
    if np.isnan(X).any():
        means = np.nanmean(X, axis=1, keepdims=True)
        X = np.where(np.isnan(X), np.nan_to_num(means), X)
    if log1p:
        X = np.log1p(np.clip(X, 0, None))
    y = None
    if labels is not None:
        if isinstance(labels, Mapping):
            lab = {}
            for k, v in labels.items():
                try:
                    lab[str(k)] = _class_id(v)
                except (TypeError, ValueError):
                    raise ValueError(f"load_expression_csv: label of sample {k!r} is {v!r}, not a class id >= 0") from None
        else:
            h2, r2, w2 = _open_table(labels, None)
            lab = {}
            for ln, r in enumerate(r2, start=2):
                if len(r) < 2:
                    raise ValueError(f"{w2}:{ln}: expected sample,label")
                try:
                    lab[r[0].strip()] = _class_id(r[1])
                except (TypeError, ValueError):
                    raise ValueError(f"{w2}:{ln}: label {r[1]!r} of sample {r[0].strip()!r} is not a class id >= 0") from None
        missing = [s for s in samples if s not in lab]
        if missing:
            raise ValueError(f"load_expression_csv: no label for samples {missing[:10]}")
        y = np.array([lab[s] for s in samples], dtype=np.int64)
    elif label_prefixes:
        y = np.full(len(samples), -1, dtype=np.int64)
        for j, s in enumerate(samples):
            for pre, c in label_prefixes.items():
                if s.startswith(pre):
                    y[j] = int(c)
                    break
        if (y < 0).any():
            bad = [s for s, v in zip(samples, y) if v < 0][:10]
            raise ValueError(f"load_expression_csv: samples {bad} match none of the prefixes {list(label_prefixes)}")
    return Expression(X.T.astype(np.float32), genes, samples, y, name or Path(path).stem)


def _class_id(v: object) -> int:
    """A class label as an integer >= 0 (``1``, ``"1"``, ``"1.0"``); ValueError otherwise."""
    f = float(v.strip() if isinstance(v, str) else v)  # type: ignore[arg-type]
    if f != int(f) or f < 0:
        raise ValueError(v)
    return int(f)


def load_pathway_edges(path: PathLike, genes: Sequence[str], *, directed: bool = False, source: int = 0,
                       target: int = 1, sep: Optional[str] = None, header: Optional[bool] = None) -> Tuple[np.ndarray, Dict[str, int]]:
    """Adjacency ``[G, G]`` (float32, no self loops) of ``genes`` from a gene-gene edge list.

    Edges naming genes outside ``genes`` are dropped and counted. ``header=None`` detects a
    header row (a first row whose two names are both unknown genes). Returns ``(adjacency,
    stats)`` with ``edges_read``, ``edges_kept``, ``unknown_genes``. ValueError if no edge joins
    two of ``genes`` - a pathway model needs the graph.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{str(p)!r} does not exist")
    if len(genes) == 0:
        raise ValueError("load_pathway_edges: genes is empty")
    idx = {g: i for i, g in enumerate(genes)}
    if len(idx) != len(genes):
        raise ValueError("load_pathway_edges: genes has duplicates")
    lines = [ln for ln in p.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip() and not ln.startswith("#")]
    if sep is None and lines:
        sep = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else None)
    A = np.zeros((len(genes), len(genes)), dtype=np.float32)
    read = kept = 0
    unknown: set = set()
    for k, ln in enumerate(lines):
        f = [x.strip() for x in (ln.split(sep) if sep else ln.split())]
        if len(f) <= max(source, target):
            raise ValueError(f"{p}:{k + 1}: expected at least {max(source, target) + 1} fields, got {f}")
        a, b = f[source], f[target]
        if k == 0 and (header or (header is None and a not in idx and b not in idx)):
            continue
        read += 1
        if a not in idx or b not in idx:
            unknown.update(x for x in (a, b) if x not in idx)
            continue
        if a == b:
            continue
        A[idx[a], idx[b]] = 1.0
        if not directed:
            A[idx[b], idx[a]] = 1.0
        kept += 1
    if kept == 0:
        raise ValueError(f"load_pathway_edges: none of the {read} edges in {str(p)!r} joins two of the {len(genes)} genes "
                         f"(e.g. unknown names {sorted(unknown)[:5]}); check the gene identifiers match the expression file")
    return A, {"edges_read": read, "edges_kept": kept, "unknown_genes": len(unknown)}


def scale_free_graph(n: int, m: int = 2, seed: int = 0) -> np.ndarray:
    """Barabasi-Albert graph (symmetric 0/1 float32 adjacency): each new node joins ``m`` nodes by degree."""
    if n < m + 1:
        raise ValueError(f"scale_free_graph: n must be > m={m}, got {n}")
    rng = np.random.default_rng(seed)
    A = np.zeros((n, n), dtype=np.float32)
    for i in range(m + 1):
        for j in range(i):
            A[i, j] = A[j, i] = 1
    for v in range(m + 1, n):
        deg = A[:v].sum(1)
        targets = rng.choice(v, size=m, replace=False, p=deg / deg.sum())
        A[v, targets] = A[targets, v] = 1
    return A


@dataclass
class ExpressionSim:
    """Simulated cohorts: ``cohorts`` (one :class:`Expression` each), the shared ``adjacency``,
    the planted ``biomarkers`` (gene indices) and their signed effects."""

    cohorts: List[Expression]
    adjacency: np.ndarray
    biomarkers: np.ndarray
    effects: np.ndarray


def simulate_expression(n_samples: Union[int, Sequence[int]] = 120, n_genes: int = 100, n_biomarkers: int = 8,
                        effect: float = 1.0, spill: float = 0.3, noise_corr: float = 0.4, batch_effect: float = 0.5,
                        seed: int = 0) -> ExpressionSim:
    """Expression on a scale-free signalling graph with planted biomarkers.

    Biomarkers form a connected module (breadth-first from a random node). Per sample: noise
    correlated along the graph ``z + noise_corr * D^-1/2 A D^-1/2 z``; disease samples (label 1,
    balanced) shift each biomarker by ``+-effect`` and its graph neighbours by ``spill`` times the
    mean effect of their biomarker neighbours (signal spreading along the pathway). Each cohort
    (``n_samples`` may list several sizes) gets its own per-gene offset and scale (a batch
    effect of strength ``batch_effect``) and its own samples; biomarkers are shared, which is what
    cross-cohort reproducibility of a ranking is measured against.
    """
    sizes = [n_samples] if isinstance(n_samples, (int, np.integer)) else list(n_samples)
    if any(s < 4 for s in sizes):
        raise ValueError(f"simulate_expression: each cohort needs >= 4 samples, got {sizes}")
    if not 1 <= n_biomarkers < n_genes:
        raise ValueError(f"simulate_expression: n_biomarkers must be in [1, n_genes={n_genes}), got {n_biomarkers}")
    rng = np.random.default_rng(seed)
    A = scale_free_graph(n_genes, 2, seed)
    start = int(rng.integers(n_genes))
    order, seen = [start], {start}
    k = 0
    while len(order) < n_biomarkers:
        nb = [int(j) for j in np.flatnonzero(A[order[k]]) if int(j) not in seen]
        rng.shuffle(nb)
        for j in nb:
            if len(order) < n_biomarkers:
                order.append(j)
                seen.add(j)
        k += 1
    bio = np.array(sorted(order))
    eff = np.zeros(n_genes)
    eff[bio] = effect * rng.choice([-1.0, 1.0], size=len(bio))
    deg = A.sum(1)
    An = A / np.sqrt(np.outer(np.maximum(deg, 1), np.maximum(deg, 1)))
    nb_eff = (A @ eff) / np.maximum(A @ (eff != 0).astype(float), 1)
    spill_eff = np.where(eff == 0, spill * nb_eff, 0.0)
    genes = [f"G{i:04d}" for i in range(n_genes)]
    cohorts = []
    for c, n in enumerate(sizes):
        y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(np.int64)
        rng.shuffle(y)
        z = rng.standard_normal((n, n_genes))
        x = z + noise_corr * z @ An
        x = x + y[:, None] * (eff + spill_eff)[None, :]
        offset = batch_effect * rng.standard_normal(n_genes)
        scale = np.exp(0.3 * batch_effect * rng.standard_normal(n_genes))
        x = (x * scale + offset + 5.0).astype(np.float32)
        prefix = ["control" if v == 0 else "case" for v in y]
        samples = [f"{p}_{c}_{i}" for i, p in enumerate(prefix)]
        cohorts.append(Expression(x, genes, samples, y, f"sim_cohort{c}"))
    return ExpressionSim(cohorts, A, bio, eff[bio])
