"""docs/api.md against the code: every documented signature, constant and name matches the real object.

The page is parsed, not trusted: signature code blocks, signature table rows and inline
``Name(params)`` spans are turned into ``def _(params)`` with ``ast``, and their parameter
names, kinds, order and default values are compared with ``inspect.signature`` of the
object the name resolves to. A test mutates the page to show the checker catches drift.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import torch

import snnkit
from snnkit import surrogate as sg

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"
# Modules whose public names api.md documents; each `__all__` name must appear on the page.
API_MODULES = ["snnkit", "snnkit.functional", "snnkit.surrogate", "snnkit.layers", "snnkit.encoding",
               "snnkit.kernels", "snnkit.kernels.cpu"]
# Names the docs write in default values.
DEFAULT_NAMESPACE: Dict[str, Any] = {"torch": torch, **{n: getattr(sg, n) for n in sg.__all__}}
_SIG_START = re.compile(r"^(?:class\s+)?([A-Za-z_][\w.]*)\(")
_INLINE = re.compile(r"`([A-Za-z_][\w.]*)\(([^`]*)\)`")
_HEADING = re.compile(r"^#+\s+`([\w.]+)`\s*$")


@dataclass(frozen=True)
class Documented:
    """One signature written in the docs: where, which name, which parameter list."""

    line: int
    module: str
    name: str
    params: Optional[str]  # None: "torch's arguments" + step_mode (checked against the torch base)
    strict: bool = True  # False for inline spans, which may be example calls rather than signatures


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis that closes the one at `start`."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise AssertionError(f"unbalanced parentheses in api.md near {text[start:start + 60]!r}")


def _code_block_signatures(block: str, first_line: int, module: str) -> Iterator[Documented]:
    """Signatures in a code block whose first line is a signature (other blocks are examples)."""
    lines = block.splitlines()
    if not lines or not _SIG_START.match(lines[0]):
        return
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)
    for i, ln in enumerate(lines):
        m = _SIG_START.match(ln)
        if m:
            open_at = offsets[i] + m.end() - 1
            close = _balanced(block, open_at)
            yield Documented(first_line + i, module, m.group(1), block[open_at + 1:close - 1])


def _table_signatures(row: str, line: int, module: str, previous: Optional[Documented]) -> Optional[Documented]:
    """The signature in a table row: `name(params)` in cell 1, or `Name` then `(params)` / `a=1` / 'same arguments'."""
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    first = re.fullmatch(r"`([A-Za-z_][\w.]*)\((.*)\)`", cells[0])
    if first:
        return Documented(line, module, first.group(1), first.group(2))
    named = re.fullmatch(r"`([A-Za-z_]\w*)`", cells[0])
    if not named or len(cells) < 2:
        return None
    second = cells[1]
    if second == "same arguments":
        assert previous is not None, f"api.md:{line}: 'same arguments' with no row above"
        return Documented(line, module, named.group(1), previous.params)
    if second.startswith("torch's arguments"):
        assert second == "torch's arguments, `step_mode=\"m\"`", f"api.md:{line}: unexpected cell {second!r}"
        return Documented(line, module, named.group(1), None)
    code = re.fullmatch(r"`(.*)`", second)
    if not code:
        return None
    text = code.group(1)
    return Documented(line, module, named.group(1), text[1:-1] if text.startswith("(") else text)


def documented_signatures(text: str) -> List[Documented]:
    """Every signature api.md writes, in page order."""
    found: List[Documented] = []
    module = "snnkit"
    lines = text.splitlines()
    i = 0
    previous_row: Optional[Documented] = None
    while i < len(lines):
        ln = lines[i]
        heading = _HEADING.match(ln)
        if heading:
            module = heading.group(1)
        if ln.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if ln.strip() == "```python":
                found.extend(_code_block_signatures("\n".join(lines[i + 1:end]), i + 2, module))
            i = end + 1
            continue
        if ln.startswith("|"):
            row = _table_signatures(ln, i + 1, module, previous_row)
            if row is not None:
                found.append(row)
                previous_row = row
        elif ln.strip() and not heading:  # a paragraph: inline code may run over line breaks
            end = i
            while end + 1 < len(lines) and lines[end + 1].strip() and not lines[end + 1].startswith(("|", "#", "```")):
                end += 1
            for m in _INLINE.finditer(" ".join(lines[i:end + 1])):
                if m.group(2).strip():
                    found.append(Documented(i + 1, module, m.group(1), m.group(2), strict=False))
            i = end
        i += 1
    return found


def resolve(name: str, module: str) -> Any:
    """The snnkit object `name` means in the section documenting `module` (None: not an snnkit name)."""
    candidates = []
    if name.startswith("snnkit."):
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:k]))
            except ImportError:
                continue
            candidates.append((obj, parts[k:]))
            break
    scope = module.split(".")
    for k in range(len(scope), 0, -1):
        candidates.append((importlib.import_module(".".join(scope[:k])), name.split(".")))
    for obj, rest in candidates:
        try:
            for part in rest:
                obj = getattr(obj, part)
        except AttributeError:
            continue
        home = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", "") or ""
        if home.startswith("snnkit"):
            return obj
    return None


def _parse_params(params: str) -> List[Tuple[str, str, Optional[str]]]:
    """(name, kind, default source) of each parameter in a written parameter list."""
    fn = ast.parse(f"def _({params}): pass").body[0].args  # type: ignore[attr-defined]
    out: List[Tuple[str, str, Optional[str]]] = []
    positional = fn.posonlyargs + fn.args
    pos_defaults = [None] * (len(positional) - len(fn.defaults)) + list(fn.defaults)
    for a, d in zip(positional, pos_defaults):
        kind = "POSITIONAL_ONLY" if a in fn.posonlyargs else "POSITIONAL_OR_KEYWORD"
        out.append((a.arg, kind, None if d is None else ast.unparse(d)))
    if fn.vararg:
        out.append((fn.vararg.arg, "VAR_POSITIONAL", None))
    for a, d in zip(fn.kwonlyargs, fn.kw_defaults):
        out.append((a.arg, "KEYWORD_ONLY", None if d is None else ast.unparse(d)))
    if fn.kwarg:
        out.append((fn.kwarg.arg, "VAR_KEYWORD", None))
    return out


def _same_default(written: Optional[str], real: Any) -> bool:
    """Whether a written default (source text, None: required) is the real default."""
    if written is None:
        return real is inspect.Parameter.empty
    if real is inspect.Parameter.empty:
        return False
    value = eval(written, dict(DEFAULT_NAMESPACE))  # noqa: S307 - text of our own docs
    return type(value) is type(real) and value == real


def _real_params(obj: Any) -> List[inspect.Parameter]:
    """The parameters a user passes to `obj`."""
    return list(inspect.signature(obj).parameters.values())


def mismatches(doc: Documented) -> List[str]:
    """What differs between one documented signature and the code ([] when they agree)."""
    where = f"api.md:{doc.line} {doc.name}"
    obj = resolve(doc.name, doc.module)
    if obj is None or not callable(obj):
        return [] if not doc.strict else [f"{where}: no such snnkit callable"]
    if doc.params is None:  # torch's arguments, then step_mode="m"
        base = next(c for c in obj.__mro__[1:] if c.__module__.startswith("torch.nn"))
        expected = [(p.name, p.kind.name, p.default) for p in _real_params(base)] + [
            ("step_mode", "POSITIONAL_OR_KEYWORD", "m")]
        real = [(p.name, p.kind.name, p.default) for p in _real_params(obj)]
        return [] if real == expected else [f"{where}: {real} is not torch's arguments + step_mode='m'"]
    try:
        written = _parse_params(doc.params)
    except SyntaxError:
        if doc.strict:
            return [f"{where}: the parameter list {doc.params!r} does not parse"]
        return []  # an inline example call such as get("sigmoid", alpha=5.0)
    real = _real_params(obj)
    problems = []
    if [w[0] for w in written] != [p.name for p in real]:
        problems.append(f"{where}: parameters {[w[0] for w in written]} but the code has {[p.name for p in real]}")
        return problems
    for (name, kind, default), p in zip(written, real):
        if kind != p.kind.name:
            problems.append(f"{where}: {name} is {kind} in the docs, {p.kind.name} in the code")
        if not _same_default(default, p.default):
            shown = "required" if p.default is inspect.Parameter.empty else repr(p.default)
            problems.append(f"{where}: {name} defaults to {default or 'required'} in the docs, {shown} in the code")
    return problems


def _page() -> str:
    return API_MD.read_text(encoding="utf-8")


def test_every_documented_signature_matches_the_code() -> None:
    """Names, order, kinds and defaults of each signature in api.md equal inspect.signature's."""
    docs = documented_signatures(_page())
    checked = [d for d in docs if d.strict or resolve(d.name, d.module) is not None]
    assert len(checked) >= 60, f"only {len(checked)} signatures found: the parser lost track of api.md"
    problems = [p for d in docs for p in mismatches(d)]
    assert not problems, "docs/api.md disagrees with the code:\n" + "\n".join(problems)


@pytest.mark.parametrize("edit", [
    ("snnkit.IF(v_threshold=1.0, v_reset=0.0,", "snnkit.IF(v_threshold=1.0, v_reset=0.5,"),  # default
    ("tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False,\n"
     "           surrogate", "decay_input=True, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=False,\n"
     "           surrogate"),  # order
    ("x, v0=None, *, tau=2.0", "x, v0=None, tau=2.0"),  # keyword-only lost
    ("| `Sigmoid` | `alpha=4.0` |", "| `Sigmoid` | `alpha=4` |"),  # int for float
    ("`(voting_size=10, step_mode=\"m\")`", "`(voting_size=10, step_mode=\"s\")`"),  # table row
    ("`RateEncoder(T, generator=None)`", "`RateEncoder(T, gen=None)`"),  # inline span
    ("layers.vote(x, voting_size)", "layers.vote(x, voting_size, dim=-1)"),  # extra parameter
])
def test_the_checker_catches_drift(edit: Tuple[str, str]) -> None:
    """Each kind of edit that makes the page wrong is reported (the check above can fail)."""
    text = _page()
    assert edit[0] in text, f"the test's anchor {edit[0]!r} is no longer in api.md"
    docs = documented_signatures(text.replace(edit[0], edit[1], 1))
    assert [p for d in docs for p in mismatches(d)], f"the edit {edit} went unnoticed"


def test_documented_constants_have_their_documented_values() -> None:
    """`NAME`: `value` and `NAME` = `value` on the page equal the module constants; the version too."""
    text = _page()
    pairs = re.findall(r"`([\w.]*[A-Z_]{4,})`(?::| =) `(\([^`]*\))`", text)
    assert {p[0].split(".")[-1] for p in pairs} >= {"BACKENDS", "READOUT_MODES"}, pairs
    module = {"BACKENDS": snnkit.functional, "READOUT_MODES": snnkit.encoding}
    for name, value in pairs:
        short = name.split(".")[-1]
        assert getattr(module[short], short) == ast.literal_eval(value), name
    version = re.search(r"`snnkit.__version__`: [^`]*`\"([^\"]+)\"`", text)
    assert version and version.group(1) == snnkit.__version__
    table = re.findall(r"^\| `(\w+)` \| `[^`]*` \| `\"(\w+)\"` \|$", text, re.M)
    assert [n for _, n in table] == list(sg.NAMES), "the surrogate table's names/order differ from NAMES"
    assert all(getattr(sg, cls)().name == n for cls, n in table)


@pytest.mark.parametrize("module_name", API_MODULES)
def test_all_names_exist_and_are_on_the_page(module_name: str) -> None:
    """Each `__all__` name exists; each is mentioned in api.md (as `name`, `x.name` or `name(`)."""
    module = importlib.import_module(module_name)
    text = _page()
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ lists {name!r}, which does not exist"
        assert re.search(rf"[`.]{re.escape(name)}\b", text), f"{module_name}.{name} is exported but not in api.md"


def test_documented_names_are_exported() -> None:
    """Each name a signature documents directly under an api module is in that module's `__all__`."""
    for doc in documented_signatures(_page()):
        obj = resolve(doc.name, doc.module)
        if obj is None:
            continue
        owner = doc.name.rsplit(".", 1)[0] if "." in doc.name else doc.module
        owner = owner if owner.startswith("snnkit") else f"snnkit.{owner}" if owner in ("layers", "encoding") else owner
        if owner in API_MODULES:
            exported = importlib.import_module(owner).__all__
            assert doc.name.rsplit(".", 1)[-1] in exported, f"api.md:{doc.line}: {doc.name} is not in {owner}.__all__"
