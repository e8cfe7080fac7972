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


def test_warnings_print_as_one_clean_line(monkeypatch, capsys) -> None:
    import warnings

    import snnkit.hardware.cli as hw_cli
    from snnkit.hardware.quantize import QuantizationWarning

    def warn(args) -> int:
        warnings.warn("quantize: layer 'fc': 3% of the weights clipped", QuantizationWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(hw_cli, "run_export", warn)
    shown = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["export", "--checkpoint", "c.pt", "--to", "nir", "--out", "x.nir"]) == 0
        assert hw_cli.main(["export", "--checkpoint", "c.pt", "--to", "nir", "--out", "x.nir"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: quantize: layer 'fc': 3% of the weights clipped\n" * 2, err
    assert warnings.showwarning is shown  # restored after the command


def test_python_dash_m_snnkit_is_the_snnkit_command() -> None:
    """`python -m snnkit` (no __main__.py before) runs the same command, exit code included."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "snnkit", "data", "prepare", "nosuch"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "unknown dataset 'nosuch'" in r.stderr, (r.returncode, r.stderr)
