"""The ``snnkit`` command. Subcommands grow with the library; ``snnkit --help`` lists them."""
from __future__ import annotations

import argparse
import platform
import runpy
import sys
from pathlib import Path
from typing import List, Optional


BENCHMARKS = {"neurons": "neuron_speed"}


def _checkout_file(rel: str) -> Path:
    """A script that lives in a snnkit checkout (benchmarks/, examples/), found from cwd or the package."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / rel).is_file():
            return root / rel
    raise SystemExit(f"snnkit: {rel} not found; run this from a snnkit source checkout")


def cmd_info(args: argparse.Namespace) -> int:
    """Print versions and which fused backends are usable here."""
    import torch

    import snnkit
    from snnkit.kernels import cpu, triton_available

    print(f"snnkit {snnkit.__version__}  python {platform.python_version()}  torch {torch.__version__}")
    print(f"cpu kernels: {'available' if cpu.available() else 'unavailable: ' + str(cpu.error())}")
    print(f"triton kernels: {'available' if triton_available() else 'unavailable (needs CUDA and triton)'}")
    print(f"torch threads: {torch.get_num_threads()}")
    for mod in ("snntorch", "spikingjelly", "lava", "tonic", "nir"):
        try:
            m = __import__(mod)
            print(f"{mod}: {getattr(m, '__version__', 'installed')}")
        except Exception:  # noqa: BLE001 - any import failure means "not usable"
            print(f"{mod}: not installed")
    return 0


def _run_script(rel: str, argv: List[str]) -> int:
    path = _checkout_file(rel)
    old = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a benchmark script from benchmarks/ (neurons: fused LIF vs snnTorch and SpikingJelly)."""
    return _run_script(f"benchmarks/{BENCHMARKS[args.which]}.py", args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run examples/demo.py."""
    return _run_script("examples/demo.py", args.rest)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnkit", description="snnkit: spiking neural networks toolkit")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("info", help="versions and available kernel backends")
    s.set_defaults(func=cmd_info)
    s = sub.add_parser("bench", help="run a benchmark (prints a table, writes benchmarks/results/*.json)")
    s.add_argument("which", choices=sorted(BENCHMARKS), help="which benchmark")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the benchmark script")
    s.set_defaults(func=cmd_bench)
    s = sub.add_parser("demo", help="train the demo network on offline data")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to examples/demo.py")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
