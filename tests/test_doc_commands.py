"""Every shell command the docs tell a user to type names subcommands, options, scripts and make targets that exist.

Commands come from README.md, docs/*.md (not docs/cli.md, which is generated), benchmarks/README.md and the
docstrings of examples/*.py: lines of shell code blocks (and of a docstring's indented command lines) and inline
code spans that start with ``snnkit``, ``python``, ``torchrun``, ``make`` or ``pip``. Nothing is run: each
``snnkit`` command is checked against the CLI's own parsers (``snnkit.cli.build_parser``; ``snnkit demo`` and
``snnkit bench NAME ...`` against the script's parser), each ``python examples/X.py`` / ``benchmarks/X.py``
against that script's parser (captured when its ``main`` calls ``parse_args``). Every option must be spelled out
in full (argparse would accept a stale ``--epoch`` as an abbreviation of ``--epochs``), every value must be one
of its choices and of its type, and every command in a code block must parse as a whole. Placeholders (``NAME``,
``DIR``, ``...``), optional parts (``[--samples 16]``) and alternatives (``4|5|6``, ``[a | b]``) are expanded.
"""
from __future__ import annotations

import argparse
import ast
import io
import re
import runpy
import shlex
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from snnkit import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "benchmarks/README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")
SCRIPTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.py"))
SHELL_FENCES = ("", "bash", "sh", "shell", "console", "text")
PROGRAMS = re.compile(r"^(?:\S*/)?(snnkit|python[\d.]*|torchrun|make|pip)$")
ENV = re.compile(r"^[A-Za-z_]\w*=\S*$")
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z0-9_]*|<[^>]+>:?|\.\.\.)$")
SHELL_OPS = ("|", "||", "&&", ";", ">", ">>", "<", "<<", "2>", "2>&1")


@dataclass(frozen=True)
class Command:
    """A command as written: where it is, its text, and whether it is whole (a code block line) or may be a
    fragment of one (an inline code span in prose, such as `snnkit train tcja --seed`)."""
    where: str
    text: str
    whole: bool


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _block_commands(where: str, lines: List[str], first: int) -> List[Command]:
    """The commands of a code block's lines: backslash continuations and indented ``[...]`` synopsis lines join
    the line before; a leading ``$`` prompt and ``VAR=value`` assignments are dropped."""
    out: List[Tuple[int, str]] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if out and (out[-1][1].endswith("\\") or (raw[:1].isspace() and line.startswith("["))):
            out[-1] = (out[-1][0], out[-1][1].rstrip("\\") + " " + line)
        elif line:
            out.append((first + i, line))
    cmds = []
    for lineno, line in out:
        words = line.lstrip("$ ").split()
        while words and ENV.match(words[0]):
            words.pop(0)
        if words and PROGRAMS.match(words[0]):
            cmds.append(Command(f"{where}:{lineno}", " ".join(words), True))
    return cmds


def _inline_commands(where: str, text: str, delim: str) -> List[Command]:
    """Inline code spans (possibly wrapped over two lines) that start with a program."""
    pattern = re.escape(delim) + r"([^`]+?)" + re.escape(delim)
    cmds = []
    for m in re.finditer(pattern, text):
        words = m.group(1).split()
        while words and ENV.match(words[0]):
            words.pop(0)
        if len(words) > 1 and PROGRAMS.match(words[0]):
            cmds.append(Command(f"{where}:{_line(text, m.start())}", " ".join(words), False))
    return cmds


def page_commands(page: str) -> List[Command]:
    """A Markdown page's commands: shell code blocks (whole), then inline code in the prose."""
    text = (ROOT / page).read_text(encoding="utf-8")
    cmds: List[Command] = []
    prose = text
    for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.M | re.S):
        if m.group(1).strip() in SHELL_FENCES:
            cmds += _block_commands(page, m.group(2).splitlines(), _line(text, m.start(2)))
        prose = prose.replace(m.group(0), "\n" * m.group(0).count("\n"), 1)  # keep line numbers
    return cmds + _inline_commands(page, prose, "`")


def script_commands(script: str) -> List[Command]:
    """An example's docstring: its indented command lines (whole) and its ``inline`` commands."""
    doc = ast.get_docstring(ast.parse((ROOT / script).read_text(encoding="utf-8"))) or ""
    lines = doc.splitlines()
    indented = [(i, ln) for i, ln in enumerate(lines) if ln.startswith("    ")]
    cmds: List[Command] = []
    for i, ln in indented:  # one block per run of indented lines, so continuations join
        if i == 0 or not lines[i - 1].startswith("    "):
            run = [ln]
            for nxt in lines[i + 1:]:
                if not nxt.startswith("    "):
                    break
                run.append(nxt)
            cmds += _block_commands(f"{script} docstring", run, i + 1)
    return cmds + _inline_commands(f"{script} docstring", doc, "``")


def all_commands() -> List[Command]:
    return [c for page in PAGES for c in page_commands(page)] + [c for s in SCRIPTS for c in script_commands(s)]


# ---------------------------------------------------------------------------------------------------------
# expanding [optional] parts and a|b alternatives into plain commands


def _groups(text: str) -> List[Tuple[int, int]]:
    """Spans of the optional ``[...]`` parts: a ``[`` that starts a word outside quotes, to its matching ``]``
    (so ``'stages=[[8],[16]]'`` and ``".[test,docs]"`` are left alone)."""
    spans, quote, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[" and (i == 0 or text[i - 1].isspace()):
            depth = 0
            for j in range(i, len(text)):
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                if depth == 0:
                    spans.append((i, j + 1))
                    i = j
                    break
        i += 1
    return spans


def _bracket_variants(text: str) -> List[str]:
    """The command without its optional ``[...]`` parts, and with each alternative (``[a | b]``) of each part
    alone."""
    spans = _groups(text)

    def keep(chosen: Dict[int, str]) -> str:
        out, prev = [], 0
        for k, (a, b) in enumerate(spans):
            out += [text[prev:a], f" {chosen[k]} " if k in chosen else " "]
            prev = b
        return "".join(out) + text[prev:]

    variants = [keep({})]
    for k, (a, b) in enumerate(spans):
        alts = [alt.strip() for alt in text[a + 1:b - 1].split(" | ")]
        first = alts[0].split()
        if len(first) == 2 and first[0].startswith("-") and not any(x.startswith("-") for x in alts[1:]):
            alts = [alts[0]] + [f"{first[0]} {x}" for x in alts[1:]]  # [--data a | b | c]: values of --data
        variants += [keep({k: alt}) for alt in alts]
    return variants


def _token_variants(tokens: List[str]) -> List[List[str]]:
    """``a|b|c`` tokens (no spaces) give one command per alternative, the other such tokens at their first."""
    alts = [(i, t.split("|")) for i, t in enumerate(tokens) if "|" in t and t not in SHELL_OPS]
    if not alts:
        return [tokens]
    base = list(tokens)
    for i, options in alts:
        base[i] = options[0]
    variants = []
    for i, options in alts:
        for opt in options:
            v = list(base)
            v[i] = opt
            variants.append(v)
    return variants


def argv_variants(text: str) -> List[List[str]]:
    """Each plain command a written one stands for, as argv (program first), cut at a comment or a shell
    operator (a pipe has spaces around it; ``4|5|6`` is one token, a list of alternatives)."""
    out = []
    for variant in _bracket_variants(re.sub(r"\s#.*$", "", text)):
        try:
            tokens = shlex.split(variant)
        except ValueError as err:
            raise AssertionError(f"cannot split {variant!r}: {err}") from None
        for k, tok in enumerate(tokens):
            if tok in SHELL_OPS or tok.startswith((">", "2>", "<")):
                tokens = tokens[:k]
                break
        out += _token_variants(tokens)
    return out


# ---------------------------------------------------------------------------------------------------------
# checking a command against the parser it will meet

NO_VALUE = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
            argparse._AppendConstAction, argparse._CountAction, argparse._HelpAction, argparse._VersionAction,
            argparse.BooleanOptionalAction)


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


@lru_cache(maxsize=None)
def script_parser(rel: str) -> argparse.ArgumentParser:
    """The parser a script under examples/ or benchmarks/ builds: run as ``__main__`` up to its ``parse_args``."""
    def capture(self: argparse.ArgumentParser, *args, **kwargs):
        raise _Captured(self)

    old_parse, old_argv = argparse.ArgumentParser.parse_args, sys.argv
    argparse.ArgumentParser.parse_args, sys.argv = capture, [str(ROOT / rel)]
    try:
        runpy.run_path(str(ROOT / rel), run_name="__main__")
    except _Captured as got:
        return got.parser
    finally:
        argparse.ArgumentParser.parse_args, sys.argv = old_parse, old_argv
    raise AssertionError(f"{rel} returned without parsing a command line")


@lru_cache(maxsize=None)
def snnkit_parser() -> argparse.ArgumentParser:
    return cli.build_parser()


def _is_option(tok: str) -> bool:
    return tok.startswith("-") and tok != "-" and not re.match(r"^-\d", tok)


def _sample(action: argparse.Action) -> str:
    """A value the action accepts, for a placeholder such as NAME, N or ... ."""
    if action.choices is not None:
        return str(next(iter(action.choices)))
    for cand in ("1", "x", "cpu"):
        try:
            if action.type is None or action.type(cand) is not None:
                return cand
        except (argparse.ArgumentTypeError, TypeError, ValueError):
            continue
    raise AssertionError(f"no sample value for {action.dest}")


def _value(parser: argparse.ArgumentParser, action: argparse.Action, val: str, problems: List[str]) -> str:
    """The value to parse in place of ``val`` (a placeholder gets a sample); a value outside the action's
    choices or type is a problem."""
    if PLACEHOLDER.match(val):
        return _sample(action)
    name = "/".join(action.option_strings) or action.dest
    typed: object = val
    if callable(action.type):
        try:
            typed = action.type(val)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
            problems.append(f"`{parser.prog}` {name}: {val!r} is refused: {err}")
            return val
    if action.choices is not None and typed not in action.choices:
        problems.append(f"`{parser.prog}` {name}: {val!r} is not one of {sorted(map(str, action.choices))}")
    return val


def _values(tokens: List[str], i: int, nargs) -> Tuple[List[str], int]:
    """The tokens from ``i`` that an action with ``nargs`` takes (``...`` ellipses are skipped) and the index
    after them."""
    want = {None: 1, "?": 1, "*": None, "+": None}.get(nargs, nargs)
    got: List[str] = []
    while i < len(tokens) and not _is_option(tokens[i]) and (want is None or len(got) < want):
        if tokens[i] == "..." and want is None:
            i += 1
            continue
        got.append(tokens[i])
        i += 1
    return got, i


def _remainder_parser(prog: str, argv: List[str]) -> argparse.ArgumentParser:
    """Where ``snnkit demo`` and ``snnkit bench NAME`` hand the rest of the command line."""
    if prog == "snnkit demo":
        return script_parser("examples/demo.py")
    if prog == "snnkit bench":
        return script_parser(f"benchmarks/{cli.BENCHMARKS[argv[-1]]}.py")
    raise AssertionError(f"{prog}: unexpected REMAINDER argument")


def walk(parser: argparse.ArgumentParser, tokens: List[str]) -> Tuple[List[str], Optional[List[str]]]:
    """``(problems, argv)``: each option must exist under its full name, each value and subcommand must be
    accepted; ``argv`` is the command with placeholders replaced (None when a placeholder stands for the
    subcommand, so that the rest cannot be checked)."""
    problems: List[str] = []
    argv: List[str] = []
    positionals = [a for a in parser._actions if not a.option_strings]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if positionals and positionals[0].nargs == argparse.REMAINDER:  # `snnkit bench NAME`, `snnkit demo`
            sub_problems, sub_argv = walk(_remainder_parser(parser.prog, argv), tokens[i:])
            return problems + sub_problems, None if sub_argv is None else argv + sub_argv
        if _is_option(tok):
            name, eq, val = tok.partition("=")
            action = parser._option_string_actions.get(name)
            if action is None:
                problems.append(f"`{parser.prog}` has no option {name}")
                i += 1
                continue
            argv.append(name)
            if isinstance(action, NO_VALUE):
                if eq:
                    problems.append(f"`{parser.prog}` {name} takes no value, got {tok!r}")
                i += 1
                continue
            vals, i = ([val], i + 1) if eq else _values(tokens, i + 1, action.nargs)
            argv += [_value(parser, action, v, problems) for v in vals]
            continue
        if not positionals:
            if tok != "...":
                problems.append(f"`{parser.prog}` takes no further argument {tok!r}")
            i += 1
            continue
        action = positionals.pop(0)
        if isinstance(action, argparse._SubParsersAction):
            if PLACEHOLDER.match(tok):
                return problems, None
            if tok not in action.choices:
                return problems + [f"`{parser.prog}` has no subcommand {tok!r} (it has {sorted(action.choices)})"], None
            sub_problems, sub_argv = walk(action.choices[tok], tokens[i + 1:])
            return problems + sub_problems, None if sub_argv is None else argv + [tok] + sub_argv
        if tok == "...":
            positionals.insert(0, action)
            i += 1
            continue
        vals, i = _values(tokens, i, action.nargs)
        argv += [_value(parser, action, v, problems) for v in vals]
    return problems, argv


def _parse_whole(parse: "callable", argv: List[str], shown: str) -> List[str]:
    """Parse a whole command as the program will; argparse's own message when it refuses it."""
    err = io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            parse(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return [f"`{shown}` does not parse: {err.getvalue().strip().splitlines()[-1:]}"]
    return []


def _parse_snnkit(argv: List[str]) -> None:
    if argv[:1] == ["demo"]:  # as cli.main: everything after `demo` is examples/demo.py's
        script_parser("examples/demo.py").parse_args(argv[1:])
        return
    ns = snnkit_parser().parse_args(argv)
    if ns.command == "bench":
        script_parser(f"benchmarks/{cli.BENCHMARKS[ns.which]}.py").parse_args(ns.rest)


@lru_cache(maxsize=None)
def makefile() -> Tuple[frozenset, Dict[str, str]]:
    """The Makefile's targets and its ``name==version`` pins."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = frozenset(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))
    return targets, {k.lower(): v for k, v in re.findall(r"([A-Za-z][\w.-]*)==([\w.]+)", text)}


def check(cmd: Command) -> List[str]:
    """What is wrong with a documented command (empty when nothing is)."""
    problems: List[str] = []
    for argv in argv_variants(cmd.text):
        if not argv:
            continue
        prog = Path(argv[0]).name
        if prog == "make":
            targets, _ = makefile()
            problems += [f"the Makefile has no target {w!r}" for w in argv[1:] if not ENV.match(w) and w not in targets]
            continue
        if prog == "pip":
            _, pins = makefile()
            for name, ver in (w.split("==", 1) for w in argv if "==" in w):
                if pins.get(name.lower(), ver) != ver:
                    problems.append(f"{name}=={ver}, but the Makefile installs {name}=={pins[name.lower()]}")
            continue
        if prog == "torchrun":
            if "-m" not in argv or argv[argv.index("-m") + 1] not in ("snnkit", "snnkit.cli"):
                continue
            rest = argv[argv.index("-m") + 2:]
        elif prog.startswith("python"):
            if argv[1:3] in (["-m", "snnkit"], ["-m", "snnkit.cli"]):
                rest = argv[3:]
            elif len(argv) > 1 and argv[1].startswith(("examples/", "benchmarks/")):
                if not (ROOT / argv[1]).is_file():
                    problems.append(f"{argv[1]} does not exist")
                    continue
                found, args = walk(script_parser(argv[1]), argv[2:])
                problems += found
                if cmd.whole and not found and args is not None:
                    problems += _parse_whole(script_parser(argv[1]).parse_args, args, " ".join(argv))
                continue
            else:  # python -m venv, python -c ..., the user's own train.py
                continue
        else:
            rest = argv[1:]
            if rest and re.match(r"^\d+\.\d+", rest[0]):  # `snnkit 0.1.0 | cpu kernels: True`: the install check's output
                continue
        found, args = walk(snnkit_parser(), rest)
        problems += found
        if cmd.whole and not found and args is not None:
            problems += _parse_whole(_parse_snnkit, args, "snnkit " + " ".join(rest))
    return list(dict.fromkeys(problems))  # the variants of one command repeat its problems


def _subcommand(cmd: Command) -> Optional[str]:
    """The word after ``snnkit`` (or ``-m snnkit.cli``)."""
    words = cmd.text.split()
    if "-m" in words:
        words = words[words.index("-m") + 1:]
    return words[1] if len(words) > 1 else None


COMMANDS = all_commands()


@pytest.mark.parametrize("cmd", COMMANDS, ids=[f"{c.where}:{c.text[:40]}" for c in COMMANDS])
def test_documented_command_is_accepted(cmd: Command) -> None:
    assert check(cmd) == [], f"{cmd.where}: {cmd.text}"


def test_the_docs_are_read() -> None:
    """The extraction finds the commands (so the test above cannot pass on an empty list), every subcommand
    of `snnkit` is shown in at least one, and the code-block commands are checked whole."""
    snnkit_cmds = [c for c in COMMANDS if re.match(r"^(?:\S*/)?snnkit |.* -m snnkit(?:\.cli)? ", c.text)]
    assert len(snnkit_cmds) >= 80 and sum(c.whole for c in snnkit_cmds) >= 20
    texts = {c.text for c in COMMANDS}
    for known in ["snnkit train tcja --config dvs128_gesture --root ~/data/DVSGesture --out runs/gesture",
                  "torchrun --nproc_per_node=2 -m snnkit.cli train tcja --config ... # data parallel (gloo/NCCL)",
                  "snnkit data cache clear [NAME ...] [--unused-for DAYS] [--dry-run] [--yes]",
                  "python examples/dna_finetune.py --fasta pos.fa neg.fa --epochs 3",
                  ".venv/bin/snnkit train tcja --config dvs128_gesture --root ~/data/DVSGesture"]:
        assert known in texts, known
    shown = {_subcommand(c) for c in snnkit_cmds}
    assert set(snnkit_parser()._subparsers._group_actions[0].choices) <= shown


@pytest.mark.parametrize("text, whole, expected", [
    ("snnkit train tcja --epoch 3", False, "has no option --epoch"),  # argparse alone would take the abbreviation
    ("snnkit trian tcja", False, "has no subcommand 'trian'"),
    ("snnkit data prepare digits_dvs --splitseed 1", False, "has no option --splitseed"),
    ("snnkit train rwkv --version 4|5|7", False, "'7' is not one of"),
    ("snnkit evaluate --checkpoint x.pt --split validation", False, "'validation' is not one of"),
    ("snnkit train tcja --epochs two", False, "'two' is refused"),
    ("snnkit bench neurons --quik", False, "`neuron_speed.py` has no option --quik"),
    ("snnkit demo --epoch 2", False, "`snnkit demo` has no option --epoch"),
    ("snnkit simulate --checkpoint a.pt [--mode float|fixed_pt]", False, "'float' is not one of"),
    ("snnkit export --checkpoint a.pt --to lava", True, "does not parse"),  # --out is required
    ("python examples/spikegpt_shakespeare.py --max-token 10", False, "has no option --max-token"),
    ("python benchmarks/nope_speed.py --quick", False, "benchmarks/nope_speed.py does not exist"),
    ("make tests", False, "no target 'tests'"),
    ("pip install torch==2.1.0", False, "the Makefile installs torch==2.13.0"),
])
def test_wrong_commands_are_reported(text: str, whole: bool, expected: str) -> None:
    """The checker itself: stale flags, subcommands, values, scripts, targets and pins are each caught."""
    problems = check(Command("test", text, whole))
    assert any(expected in p for p in problems), problems


def test_fragments_in_prose_are_not_held_to_a_whole_command() -> None:
    """`snnkit export` or `snnkit train tcja --seed` in a sentence names a command or an option, not a full line."""
    assert check(Command("test", "snnkit export --to lava", False)) == []
    assert check(Command("test", "snnkit train tcja --seed", False)) == []
    assert check(Command("test", "snnkit export --to lava", True)) != []


def test_every_option_with_a_default_says_it() -> None:
    """docs/cli.md is the --help text: an option that has a default value states it there (`snnkit generate`'s
    --temperature and --top-p, `snnkit demo --samples` and others gave none)."""
    from snnkit.cli_reference import _parsers

    parsers = [(prog, p) for prog, p in _parsers(snnkit_parser()) if prog != "snnkit demo"]
    parsers.append(("snnkit demo", script_parser("examples/demo.py")))
    silent = [(prog, a.option_strings[-1], a.default) for prog, p in parsers for a in p._actions
              if a.option_strings and a.default not in (None, argparse.SUPPRESS) and a.default is not False
              and "default" not in (a.help or "")]
    assert not silent
