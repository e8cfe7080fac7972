"""The `snnkit` command's own plumbing (each subcommand is tested beside its library code)."""
from __future__ import annotations

from snnkit import cli


def test_demo_passes_every_argument_to_the_script(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(cli, "_run_script", lambda script, rest: seen.append((script, rest)) or 0)
    assert cli.main(["demo", "--epochs", "1", "--samples", "8"]) == 0
    assert cli.main(["demo"]) == 0
    assert seen == [("examples/demo.py", ["--epochs", "1", "--samples", "8"]), ("examples/demo.py", [])]


def test_cli_reference_is_current() -> None:
    """docs/cli.md is the parsers' help: regenerate with `python -m snnkit.cli_reference > docs/cli.md`."""
    from pathlib import Path

    from snnkit.cli_reference import _parsers, reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert doc.read_text(encoding="utf-8") == reference_markdown(), "docs/cli.md is stale: regenerate it"
    undocumented = [(prog, a.option_strings) for prog, p in _parsers(cli.build_parser()) for a in p._actions
                    if a.option_strings and a.help is None]
    assert not undocumented  # every flag says what it does
