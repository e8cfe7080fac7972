"""docs/cli.md: every ``snnkit`` command's ``--help``, generated from the parsers so that no flag goes undocumented.

``python -m snnkit.cli_reference > docs/cli.md`` rewrites it; a test fails when the file is stale.
"""
from __future__ import annotations

import argparse
import os
import runpy
from typing import Iterator, List, Tuple

WIDTH = "100"  # argparse wraps to $COLUMNS: fixed, so the file does not depend on the terminal


def _parsers(parser: argparse.ArgumentParser) -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    """``(prog, parser)`` for a parser and each of its subcommands, depth first."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _demo_parser() -> argparse.ArgumentParser:
    """``snnkit demo`` hands its arguments to examples/demo.py: show that script's parser."""
    from .cli import _checkout_file

    return runpy.run_path(str(_checkout_file("examples/demo.py")))["build_parser"]()


def reference_markdown() -> str:
    """The Markdown of docs/cli.md."""
    from .cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parts: List[str] = [
            "# Command-line reference\n",
            "Every `snnkit` command with its options, as `--help` prints them. This page is generated "
            "from the parsers (`python -m snnkit.cli_reference > docs/cli.md`); the guides explain "
            "when to use what.\n"]
        for prog, parser in _parsers(build_parser()):
            if prog == "snnkit demo":
                parser = _demo_parser()
            parts.append(f"## `{prog}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


if __name__ == "__main__":
    print(reference_markdown(), end="")
