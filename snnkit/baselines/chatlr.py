"""ChatLR (arXiv 2405.05508): a language model as the retriever of a structured database.

ChatLR answers factual questions over a database by having the LM *retrieve* instead of
generating from memory: it recognises which API the question needs (API-ID recognition) and
writes the call with its arguments (Text2API); the call runs against the database and the rows
become the context of the answer. The paper fine-tunes an LLM on both tasks for a financial
database and reports retrieval accuracy above 98.8 %.

What is built here (the paper's database and model are not public; choices in
``docs/baselines-recsys.md``):

* :func:`build_movielens_db`: a real SQLite database from MovieLens-100k (movies, genres,
  users, ratings) and :data:`MOVIELENS_APIS`, twelve parameterised read-only APIs over it;
* :func:`generate_questions`: training/test questions from templates (several phrasings per
  API) filled with values drawn from the database; test questions use entity values held out
  from training and, with ``heldout_templates``, phrasings never seen in training;
* :class:`Text2APIModel`: a small model trained here - a shared encoder (word embeddings plus
  hashed character-trigram embeddings, so unseen titles still get vectors, into a BiGRU) with an
  API-ID head (classification) and an argument head (BIO tagging of argument spans);
  :meth:`Text2APIModel.predict` writes the call ``api(arg=value, ...)``; values are linked to
  the database's vocabulary (exact, then fuzzy match);
* :class:`HFText2API`: the same interface driven by a local Hugging Face causal LM (few-shot
  prompt, greedy decoding, :func:`parse_call`); ``transformers`` is imported only there;
* :class:`ChatLR`: question -> call -> rows -> context string; :func:`evaluate_retrieval`
  gives API-ID accuracy, exact-call accuracy and retrieval accuracy (the call returns the same
  rows as the gold call), the paper's metric.
"""
from __future__ import annotations

import ast
import difflib
import re
import sqlite3
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ApiSpec", "ApiCall", "MOVIELENS_APIS", "build_movielens_db", "Question", "generate_questions",
           "Text2APIModel", "train_text2api", "HFText2API", "parse_call", "execute", "ChatLR", "evaluate_retrieval",
           "KeywordApiBaseline", "tokenize"]


@dataclass(frozen=True)
class ApiSpec:
    """One API: ``name``, typed parameters ``(name, kind)`` (kind: title, genre, year, user, k,
    occupation), a SQL statement with ``?`` placeholders in parameter order, a description and
    question templates with ``{param}`` slots."""

    name: str
    params: Tuple[Tuple[str, str], ...]
    sql: str
    description: str
    templates: Tuple[str, ...]

    def signature(self) -> str:
        return f"{self.name}(" + ", ".join(f"{p}: {k}" for p, k in self.params) + ")"


@dataclass
class ApiCall:
    api: str
    args: Dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.api}(" + ", ".join(f"{k}={v!r}" for k, v in self.args.items()) + ")"


MOVIELENS_APIS: Tuple[ApiSpec, ...] = (
    ApiSpec("movie_year", (("title", "title"),), "SELECT year FROM movies WHERE title = ? ORDER BY movie_id",
            "release year of a movie",
            ("What year was {title} released?", "When did {title} come out?", "release year of {title}",
             "In which year was the movie {title} released?", "tell me the year {title} was released")),
    ApiSpec("movie_genres", (("title", "title"),),
            "SELECT g.genre FROM movie_genres g JOIN movies m ON m.movie_id = g.movie_id WHERE m.title = ? ORDER BY g.genre",
            "genres of a movie",
            ("What genre is {title}?", "Which genres does {title} belong to?", "genres of {title}",
             "what kind of movie is {title}", "Is {title} a comedy or a drama? list its genres")),
    ApiSpec("movie_avg_rating", (("title", "title"),),
            "SELECT ROUND(AVG(r.rating), 3) FROM ratings r JOIN movies m ON m.movie_id = r.movie_id WHERE m.title = ?",
            "average user rating of a movie",
            ("What is the average rating of {title}?", "How well rated is {title}?", "mean score for {title}",
             "How do users rate {title} on average?", "average stars given to {title}")),
    ApiSpec("movie_rating_count", (("title", "title"),),
            "SELECT COUNT(*) FROM ratings r JOIN movies m ON m.movie_id = r.movie_id WHERE m.title = ?",
            "number of ratings of a movie",
            ("How many ratings does {title} have?", "How many people rated {title}?", "number of ratings for {title}",
             "how often was {title} rated", "count the reviews of {title}")),
    ApiSpec("top_rated_in_genre", (("genre", "genre"), ("k", "k")),
            "SELECT m.title FROM ratings r JOIN movies m ON m.movie_id = r.movie_id JOIN movie_genres g "
            "ON g.movie_id = m.movie_id WHERE g.genre = ? GROUP BY m.movie_id HAVING COUNT(*) >= 20 "
            "ORDER BY AVG(r.rating) DESC, m.movie_id LIMIT ?",
            "best rated movies of a genre",
            ("What are the {k} best {genre} movies?", "top {k} {genre} films by rating",
             "Recommend {k} highly rated {genre} movies", "list the {k} highest rated {genre} titles",
             "which {k} {genre} movies have the best reviews")),
    ApiSpec("movies_released_in", (("year", "year"),), "SELECT COUNT(*) FROM movies WHERE year = ?",
            "number of movies released in a year",
            ("How many movies were released in {year}?", "number of films from {year}",
             "How many titles came out in {year}?", "count movies released in {year}", "films released during {year}: how many")),
    ApiSpec("user_profile", (("user", "user"),), "SELECT age, gender, occupation FROM users WHERE user_id = ?",
            "age, gender and occupation of a user",
            ("Who is user {user}?", "Tell me about user {user}", "profile of user {user}",
             "What is the age and job of user {user}?", "describe user number {user}")),
    ApiSpec("user_movie_rating", (("user", "user"), ("title", "title")),
            "SELECT r.rating FROM ratings r JOIN movies m ON m.movie_id = r.movie_id WHERE r.user_id = ? AND m.title = ?",
            "the rating a user gave a movie",
            ("How did user {user} rate {title}?", "What rating did user {user} give {title}?",
             "user {user} score for {title}", "Did user {user} like {title}? give the rating",
             "rating of {title} by user {user}")),
    ApiSpec("user_rating_count", (("user", "user"),), "SELECT COUNT(*) FROM ratings WHERE user_id = ?",
            "number of ratings a user made",
            ("How many movies has user {user} rated?", "number of ratings by user {user}",
             "How active is user {user}? count their ratings", "count the ratings user {user} made",
             "how many reviews did user {user} write")),
    ApiSpec("genre_movie_count", (("genre", "genre"),), "SELECT COUNT(*) FROM movie_genres WHERE genre = ?",
            "number of movies in a genre",
            ("How many {genre} movies are there?", "number of {genre} films", "count the {genre} titles",
             "How big is the {genre} catalogue?", "total {genre} movies in the database")),
    ApiSpec("occupation_user_count", (("occupation", "occupation"),), "SELECT COUNT(*) FROM users WHERE occupation = ?",
            "number of users with an occupation",
            ("How many users are {occupation}s?", "number of users working as {occupation}",
             "count users whose job is {occupation}", "How many {occupation} users are there?",
             "users with occupation {occupation}: how many")),
    ApiSpec("most_rated_in_year", (("year", "year"),),
            "SELECT m.title FROM ratings r JOIN movies m ON m.movie_id = r.movie_id WHERE m.year = ? "
            "GROUP BY m.movie_id ORDER BY COUNT(*) DESC, m.movie_id LIMIT 1",
            "the most rated movie of a year",
            ("What is the most rated movie of {year}?", "most popular film released in {year}",
             "Which {year} movie got the most ratings?", "top movie by number of ratings from {year}",
             "most reviewed title of {year}")),
)


# ----------------------------------------------------------------------------------------------
# database


def build_movielens_db(ml=None, path: str = ":memory:", root=None) -> sqlite3.Connection:
    """SQLite database of MovieLens-100k: ``movies(movie_id, title, year)``, ``movie_genres(movie_id,
    genre)``, ``users(user_id, age, gender, occupation)``, ``ratings(user_id, movie_id, rating, ts)``.

    Ids are the original MovieLens ids. ``path`` is a file name or ``":memory:"``.
    """
    from ..data.recsys import GENRES, load_movielens100k

    if ml is None:
        ml = load_movielens100k(root)
    con = sqlite3.connect(path)
    con.executescript("""
        DROP TABLE IF EXISTS movies; DROP TABLE IF EXISTS movie_genres; DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS ratings;
        CREATE TABLE movies(movie_id INTEGER PRIMARY KEY, title TEXT, year INTEGER);
        CREATE TABLE movie_genres(movie_id INTEGER, genre TEXT);
        CREATE TABLE users(user_id INTEGER PRIMARY KEY, age INTEGER, gender TEXT, occupation TEXT);
        CREATE TABLE ratings(user_id INTEGER, movie_id INTEGER, rating REAL, ts INTEGER);
    """)
    mid = [int(x) for x in ml.raw_item_ids]
    uid = [int(x) for x in ml.raw_user_ids]
    con.executemany("INSERT INTO movies VALUES (?, ?, ?)",
                    [(mid[i], ml.titles[i], int(ml.years[i]) or None) for i in range(ml.n_items)])
    con.executemany("INSERT INTO movie_genres VALUES (?, ?)",
                    [(mid[i], GENRES[g]) for i in range(ml.n_items) for g in np.flatnonzero(ml.genres[i])])
    con.executemany("INSERT INTO users VALUES (?, ?, ?, ?)",
                    [(uid[u], int(ml.ages[u]), "F" if ml.genders[u] else "M", ml.occupation_names[ml.occupations[u]])
                     for u in range(ml.n_users)])
    con.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)",
                    [(uid[u], mid[i], float(r), int(t)) for u, i, r, t in zip(ml.user, ml.item, ml.rating, ml.timestamp)])
    con.execute("CREATE INDEX idx_r_movie ON ratings(movie_id)")
    con.execute("CREATE INDEX idx_r_user ON ratings(user_id)")
    con.execute("CREATE INDEX idx_title ON movies(title)")
    con.commit()
    return con


def _vocab(con: sqlite3.Connection) -> Dict[str, List[Any]]:
    q = lambda s: [r[0] for r in con.execute(s)]  # noqa: E731
    return {"title": sorted(set(q("SELECT title FROM movies WHERE title <> ''"))),
            "genre": sorted(set(q("SELECT genre FROM movie_genres WHERE genre <> 'unknown'"))),
            "year": sorted(set(q("SELECT year FROM movies WHERE year IS NOT NULL"))),
            "user": q("SELECT user_id FROM users ORDER BY user_id"),
            "occupation": sorted(set(q("SELECT occupation FROM users"))),
            "k": list(range(2, 11))}


def execute(con: sqlite3.Connection, call: ApiCall, apis: Sequence[ApiSpec] = MOVIELENS_APIS) -> List[Tuple]:
    """Run ``call`` against the database; ValueError for an unknown API or missing/extra arguments."""
    spec = {a.name: a for a in apis}.get(call.api)
    if spec is None:
        raise ValueError(f"execute: unknown API {call.api!r}; known: {sorted(a.name for a in apis)}")
    names = [p for p, _ in spec.params]
    missing = [p for p in names if p not in call.args]
    extra = [k for k in call.args if k not in names]
    if missing or extra:
        raise ValueError(f"execute: {spec.signature()} got arguments {sorted(call.args)} "
                         f"(missing {missing}, unexpected {extra})")
    return [tuple(r) for r in con.execute(spec.sql, [call.args[p] for p in names]).fetchall()]


# ----------------------------------------------------------------------------------------------
# questions


@dataclass
class Question:
    text: str
    call: ApiCall
    spans: Dict[str, Tuple[int, int]]   # param -> (start, end) character span in text
    template: int


def generate_questions(con: sqlite3.Connection, n: int, *, apis: Sequence[ApiSpec] = MOVIELENS_APIS, seed: int = 0,
                       split: str = "train", test_frac: float = 0.25, heldout_templates: bool = False) -> List[Question]:
    """``n`` template questions with their gold calls.

    Entity values (titles, users, years, ...) are split ``1 - test_frac``/``test_frac`` by a
    fixed seed, and ``split`` ("train" or "test") draws from its own part, so test questions ask
    about entities never seen in training. With ``heldout_templates`` the last template of each
    API is used only by the test split.
    """
    if split not in ("train", "test"):
        raise ValueError(f"generate_questions: split must be 'train' or 'test', got {split!r}")
    vocab = _vocab(con)
    part_rng = np.random.default_rng(12345)
    parts: Dict[str, List[Any]] = {}
    for kind, vals in vocab.items():
        vals = list(vals)
        if kind in ("genre", "occupation", "k"):     # closed vocabularies: shared by both splits
            parts[kind] = vals
            continue
        perm = part_rng.permutation(len(vals))
        cut = int(round(len(vals) * (1 - test_frac)))
        idx = perm[:cut] if split == "train" else perm[cut:]
        parts[kind] = [vals[i] for i in sorted(idx)]
    rng = np.random.default_rng(seed + (0 if split == "train" else 7919))
    rated = _rated_pairs(con, parts["user"], parts["title"])
    out: List[Question] = []
    for j in range(n):
        spec = apis[j % len(apis)]
        temps = list(range(len(spec.templates)))
        if heldout_templates and len(temps) > 1:
            temps = temps[:-1] if split == "train" else temps[-1:]
        t = int(rng.choice(temps))
        args: Dict[str, Any] = {}
        kinds = [k for _, k in spec.params]
        pair = rated[int(rng.integers(len(rated)))] if ("user" in kinds and "title" in kinds and rated) else None
        for p, kind in spec.params:
            if pair is not None and kind in ("user", "title"):
                args[p] = pair[0] if kind == "user" else pair[1]
                continue
            vals = parts[kind]
            v = vals[int(rng.integers(len(vals)))]
            args[p] = v
        text, spans = _fill(spec.templates[t], args)
        out.append(Question(text, ApiCall(spec.name, args), spans, t))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def _rated_pairs(con: sqlite3.Connection, users: Sequence[Any], titles: Sequence[Any]) -> List[Tuple[Any, Any]]:
    """(user, title) pairs of this split's users and titles that have a rating, in a fixed order.

    A question about a user's rating of a movie is drawn from these, so its gold call returns a
    row: with independent draws almost every pair is unrated, the gold result is empty and any
    wrong call that also returns nothing would count as a correct retrieval.
    """
    us, ts = set(users), set(titles)
    rows = con.execute("SELECT DISTINCT r.user_id, m.title FROM ratings r JOIN movies m ON m.movie_id = r.movie_id "
                       "ORDER BY r.user_id, m.title")
    return [(u, t) for u, t in rows if u in us and t in ts]


def _fill(template: str, args: Dict[str, Any]) -> Tuple[str, Dict[str, Tuple[int, int]]]:
    text, spans, pos = "", {}, 0
    for m in re.finditer(r"\{(\w+)\}", template):
        text += template[pos:m.start()]
        val = str(args[m.group(1)])
        spans[m.group(1)] = (len(text), len(text) + len(val))
        text += val
        pos = m.end()
    return text + template[pos:], spans


_TOK = re.compile(r"\w+(?:['\-.&]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> List[Tuple[str, int, int]]:
    """Words and punctuation with their character spans."""
    return [(m.group(0), m.start(), m.end()) for m in _TOK.finditer(text)]


# ----------------------------------------------------------------------------------------------
# the small model


class Text2APIModel(nn.Module):
    """API-ID classifier + argument-span tagger over a shared BiGRU encoder.

    Build with :meth:`from_questions` (vocabulary from training questions). ``forward(words,
    trigrams, shape)`` -> ``(api_logits [B, A], tag_logits [B, T, n_tags])``.
    """

    SHAPES = 8

    def __init__(self, words: List[str], apis: Sequence[ApiSpec], dim: int = 64, buckets: int = 4096) -> None:
        super().__init__()
        self.apis = list(apis)
        self.words = ["<pad>", "<unk>"] + list(words)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        kinds = sorted({k for a in apis for _, k in a.params})
        self.tags = ["O"] + [f"{bi}-{k}" for k in kinds for bi in ("B", "I")]
        self.buckets = int(buckets)
        self.word_emb = nn.Embedding(len(self.words), dim, padding_idx=0)
        self.tri_emb = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.shape_emb = nn.Embedding(self.SHAPES, 8)
        self.gru = nn.GRU(2 * dim + 8, dim, batch_first=True, bidirectional=True)
        self.api_head = nn.Linear(2 * dim, len(self.apis))
        self.tag_head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, len(self.tags)))

    @classmethod
    def from_questions(cls, questions: Sequence[Question], apis: Sequence[ApiSpec] = MOVIELENS_APIS, min_count: int = 2,
                       **kw: Any) -> "Text2APIModel":
        if not questions:
            raise ValueError("Text2APIModel.from_questions: no questions given")
        counts: Dict[str, int] = {}
        for q in questions:
            for w, _, _ in tokenize(q.text):
                counts[w.lower()] = counts.get(w.lower(), 0) + 1
        return cls(sorted(w for w, c in counts.items() if c >= min_count), apis, **kw)

    @staticmethod
    def _shape(w: str) -> int:
        if w.isdigit():
            return 1 + min(len(w), 4) // 2         # 1..3 digit-length classes
        if w[:1].isupper():
            return 4
        if any(c.isdigit() for c in w):
            return 5
        if not w[:1].isalnum():
            return 6
        return 7

    def _trigrams(self, w: str) -> List[int]:
        s = f"<{w.lower()}>"
        return [zlib.crc32(s[i:i + 3].encode()) % self.buckets for i in range(max(1, len(s) - 2))]

    def encode_batch(self, texts: Sequence[str]) -> Tuple[torch.Tensor, ...]:
        """Token ids ``[B, T]``, trigram bags (flat ids, offsets), shapes ``[B, T]``, token spans."""
        toks = [tokenize(t) for t in texts]
        if any(len(t) == 0 for t in toks):
            bad = next(i for i, t in enumerate(toks) if not t)
            raise ValueError(f"Text2APIModel: question {bad} ({texts[bad]!r}) has no words")
        T = max(len(t) for t in toks)
        ids = torch.zeros(len(texts), T, dtype=torch.long)
        shapes = torch.zeros(len(texts), T, dtype=torch.long)
        flat: List[int] = []
        offsets: List[int] = []
        for b, tt in enumerate(toks):
            for j in range(T):
                offsets.append(len(flat))
                if j < len(tt):
                    w = tt[j][0]
                    ids[b, j] = self.word_index.get(w.lower(), 1)
                    shapes[b, j] = self._shape(w)
                    flat += self._trigrams(w)
                else:
                    flat.append(0)
        return ids, torch.as_tensor(flat), torch.as_tensor(offsets), shapes, toks

    def forward(self, ids: torch.Tensor, flat: torch.Tensor, offsets: torch.Tensor, shapes: torch.Tensor):
        B, T = ids.shape
        tri = self.tri_emb(flat, offsets).view(B, T, -1)
        x = torch.cat([self.word_emb(ids), tri, self.shape_emb(shapes)], -1)
        mask = ids != 0
        h, _ = self.gru(x)
        pooled = h.masked_fill(~mask[..., None], -1e9).max(1).values
        return self.api_head(pooled), self.tag_head(h)

    def targets(self, questions: Sequence[Question], toks) -> Tuple[torch.Tensor, torch.Tensor]:
        names = [a.name for a in self.apis]
        api = torch.as_tensor([names.index(q.call.api) for q in questions])
        T = max(len(t) for t in toks)
        tags = torch.full((len(questions), T), -100, dtype=torch.long)
        for b, (q, tt) in enumerate(zip(questions, toks)):
            spec = self.apis[int(api[b])]
            kinds = dict(spec.params)
            tags[b, :len(tt)] = 0
            for p, (s, e) in q.spans.items():
                first = True
                for j, (_, ts, te) in enumerate(tt):
                    if ts < e and te > s:          # overlap: "{occupation}s" -> "executives"
                        tags[b, j] = self.tags.index(("B-" if first else "I-") + kinds[p])
                        first = False
        return api, tags

    @torch.no_grad()
    def predict(self, texts: Union[str, Sequence[str]], con: Optional[sqlite3.Connection] = None) -> List[ApiCall]:
        """Calls for ``texts``; with ``con`` argument values are linked to the database vocabulary."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        self.eval()
        ids, flat, offsets, shapes, toks = self.encode_batch(texts)
        api_logits, tag_logits = self(ids, flat, offsets, shapes)
        vocab = _vocab(con) if con is not None else None
        calls = []
        for b, text in enumerate(texts):
            spec = self.apis[int(api_logits[b].argmax())]
            tags = tag_logits[b, :len(toks[b])].argmax(-1).tolist()
            spans: Dict[str, List[Tuple[int, int]]] = {}
            cur: Optional[Tuple[str, int, int]] = None
            for j, tg in enumerate(tags):
                name = self.tags[tg]
                _, s, e = toks[b][j]
                if name.startswith("B-") or (name.startswith("I-") and (cur is None or cur[0] != name[2:])):
                    if cur:
                        spans.setdefault(cur[0], []).append((cur[1], cur[2]))
                    cur = (name[2:], s, e)
                elif name.startswith("I-") and cur is not None:
                    cur = (cur[0], cur[1], e)
                else:
                    if cur:
                        spans.setdefault(cur[0], []).append((cur[1], cur[2]))
                    cur = None
            if cur:
                spans.setdefault(cur[0], []).append((cur[1], cur[2]))
            args: Dict[str, Any] = {}
            for p, kind in spec.params:
                cands = spans.get(kind, [])
                raw = text[cands[0][0]:cands[0][1]] if cands else ""
                if kind == "user" and "k" in spans and not cands:
                    raw = text[spans["k"][0][0]:spans["k"][0][1]]
                args[p] = link_value(kind, raw, vocab)
            calls.append(ApiCall(spec.name, args))
        return calls[0] if single else calls


def link_value(kind: str, raw: str, vocab: Optional[Dict[str, List[Any]]] = None) -> Any:
    """Normalise an extracted argument: ints for year/user/k, database spelling for the rest."""
    raw = raw.strip().strip("?.,!:;\"'")
    if kind in ("year", "user", "k"):
        m = re.search(r"\d+", raw)
        return int(m.group(0)) if m else None
    if vocab is None or not raw:
        return raw or None
    options = vocab[kind]
    low = {str(o).lower(): o for o in options}
    if raw.lower() in low:
        return low[raw.lower()]
    if kind == "occupation" and raw.lower().endswith("s") and raw.lower()[:-1] in low:
        return low[raw.lower()[:-1]]
    close = difflib.get_close_matches(raw.lower(), list(low), n=1, cutoff=0.6)
    return low[close[0]] if close else raw


def train_text2api(model: Text2APIModel, questions: Sequence[Question], *, epochs: int = 8, batch_size: int = 64,
                   lr: float = 6e-3, word_dropout: float = 0.1, seed: int = 0) -> List[Dict[str, float]]:
    """Joint cross-entropy of the API-ID head and the tagging head.

    ``word_dropout`` replaces that share of word ids by ``<unk>`` (the trigram and shape features
    stay), so the model does not lean on exact words and copes better with new phrasings.
    """
    if not questions:
        raise ValueError("train_text2api: no questions")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    logs = []
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(len(questions))
        tot = 0.0
        for s in range(0, len(perm), batch_size):
            qs = [questions[i] for i in perm[s:s + batch_size]]
            ids, flat, offsets, shapes, toks = model.encode_batch([q.text for q in qs])
            api_t, tag_t = model.targets(qs, toks)
            if word_dropout:
                drop = (torch.rand(ids.shape, generator=gen) < word_dropout) & (ids != 0)
                ids = ids.masked_fill(drop, 1)
            api_l, tag_l = model(ids, flat, offsets, shapes)
            loss = F.cross_entropy(api_l, api_t) + F.cross_entropy(tag_l.reshape(-1, tag_l.shape[-1]), tag_t.reshape(-1),
                                                                  ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(qs)
        logs.append({"epoch": ep + 1, "loss": tot / len(questions)})
    return logs


# ----------------------------------------------------------------------------------------------
# a local Hugging Face causal LM as Text2API model


_CALL = re.compile(r"([A-Za-z_]\w*)\s*\((.*?)\)", re.S)


def parse_call(text: str, apis: Sequence[ApiSpec] = MOVIELENS_APIS) -> ApiCall:
    """Parse the first ``name(arg=value, ...)`` of a known API in ``text`` (LM output).

    Values are Python literals (``'Toy Story'``, ``1995``); positional arguments are matched to
    the API's parameters in order. ValueError when no known API call can be parsed.
    """
    known = {a.name: a for a in apis}
    for m in _CALL.finditer(text):
        name = m.group(1)
        if name not in known:
            continue
        spec = known[name]
        try:
            node = ast.parse(f"f({m.group(2)})", mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(node, ast.Call):
            continue
        args: Dict[str, Any] = {}
        try:
            for (p, _), a in zip(spec.params, node.args):
                args[p] = ast.literal_eval(a)
            for kw in node.keywords:
                if kw.arg is not None:
                    args[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            continue
        return ApiCall(name, args)
    raise ValueError(f"parse_call: no call of a known API ({', '.join(known)}) found in {text[:200]!r}")


class HFText2API:
    """Text2API with a local Hugging Face causal LM (few-shot prompt, greedy decoding).

    ``model`` is a path (or hub name already in the local cache; nothing is downloaded:
    ``local_files_only=True``) or a loaded ``(model, tokenizer)`` pair. Needs ``transformers``.
    """

    def __init__(self, model: Union[str, Tuple[Any, Any]], apis: Sequence[ApiSpec] = MOVIELENS_APIS,
                 examples: Sequence[Question] = (), max_new_tokens: int = 48) -> None:
        try:
            import transformers  # noqa: F401
        except ImportError as err:
            raise ImportError("HFText2API needs the 'transformers' package (pip install transformers); "
                              "the small Text2APIModel works without it") from err
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.tokenizer = AutoTokenizer.from_pretrained(str(model), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(model), local_files_only=True)
        else:
            self.model, self.tokenizer = model
        self.apis, self.examples, self.max_new_tokens = list(apis), list(examples), int(max_new_tokens)

    def prompt(self, question: str) -> str:
        lines = ["Translate the question into one API call. APIs:"]
        lines += [f"- {a.signature()}: {a.description}" for a in self.apis]
        for ex in self.examples:
            lines.append(f"Question: {ex.text}\nCall: {ex.call}")
        lines.append(f"Question: {question}\nCall:")
        return "\n".join(lines)

    @torch.no_grad()
    def generate(self, question: str) -> str:
        enc = self.tokenizer(self.prompt(question), return_tensors="pt")
        out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  pad_token_id=getattr(self.tokenizer, "eos_token_id", None))
        return self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def predict(self, texts: Union[str, Sequence[str]], con: Optional[sqlite3.Connection] = None):
        single = isinstance(texts, str)
        vocab = _vocab(con) if con is not None else None
        calls = []
        for t in ([texts] if single else texts):
            try:
                call = parse_call(self.generate(t), self.apis)
                spec = {a.name: a for a in self.apis}[call.api]
                call.args = {p: link_value(k, str(call.args.get(p, "")), vocab) for p, k in spec.params}
            except ValueError:
                call = ApiCall("<unparsed>", {})
            calls.append(call)
        return calls[0] if single else calls


# ----------------------------------------------------------------------------------------------
# the retriever and its evaluation


class ChatLR:
    """Retrieval through an LM: question -> API call -> rows -> context for the answering LM."""

    def __init__(self, con: sqlite3.Connection, model: Any, apis: Sequence[ApiSpec] = MOVIELENS_APIS) -> None:
        self.con, self.model, self.apis = con, model, list(apis)

    def retrieve(self, question: str) -> Tuple[ApiCall, List[Tuple]]:
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"ChatLR.retrieve: question must be a non-empty string, got {question!r}")
        call = self.model.predict(question, self.con)
        try:
            rows = execute(self.con, call, self.apis)
        except (ValueError, sqlite3.Error):
            rows = []
        return call, rows

    def context(self, question: str) -> str:
        call, rows = self.retrieve(question)
        return f"{call} -> {rows}"


class KeywordApiBaseline:
    """Non-learned comparison: the API whose templates share the most TF-IDF weight with the question."""

    def __init__(self, apis: Sequence[ApiSpec] = MOVIELENS_APIS, questions: Sequence[Question] = ()) -> None:
        self.apis = list(apis)
        docs = [" ".join(re.sub(r"\{\w+\}", " ", t) for t in a.templates) + " " + a.description for a in apis]
        for q in questions:
            i = [a.name for a in apis].index(q.call.api)
            docs[i] += " " + q.text
        self.docs = [self._bag(d) for d in docs]
        df: Dict[str, int] = {}
        for d in self.docs:
            for w in d:
                df[w] = df.get(w, 0) + 1
        self.idf = {w: np.log((1 + len(docs)) / (1 + c)) + 1 for w, c in df.items()}

    @staticmethod
    def _bag(text: str) -> Dict[str, float]:
        out: Dict[str, float] = {}
        for w, _, _ in tokenize(text.lower()):
            out[w] = out.get(w, 0) + 1
        return out

    def predict_api(self, text: str) -> str:
        q = self._bag(text)
        scores = [sum(self.idf.get(w, 0) * min(c, d.get(w, 0)) for w, c in q.items()) for d in self.docs]
        return self.apis[int(np.argmax(scores))].name


def evaluate_retrieval(model: Any, questions: Sequence[Question], con: sqlite3.Connection,
                       apis: Sequence[ApiSpec] = MOVIELENS_APIS) -> Dict[str, float]:
    """API-ID accuracy, exact-call accuracy and retrieval accuracy (same rows as the gold call).

    Where the gold call returns no rows, retrieval counts as correct only for the exact gold call
    (a wrong title or user also finds nothing, which is not a correct retrieval).
    """
    if not questions:
        raise ValueError("evaluate_retrieval: no questions")
    preds = model.predict([q.text for q in questions], con)
    api_ok = call_ok = ret_ok = 0
    for q, p in zip(questions, preds):
        api_ok += p.api == q.call.api
        exact = p.api == q.call.api and p.args == q.call.args
        call_ok += exact
        try:
            gold = execute(con, q.call, apis)
            # an empty gold result is matched by any call that finds nothing: only the exact call counts then
            ret_ok += exact if not gold else execute(con, p, apis) == gold
        except (ValueError, sqlite3.Error):
            pass
    n = len(questions)
    return {"api_accuracy": api_ok / n, "call_accuracy": call_ok / n, "retrieval_accuracy": ret_ok / n}
