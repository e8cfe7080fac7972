"""TCJA-SNN training throughput (samples/s): snnkit vs the original (SpikingJelly-based) network.

The original DVS128 Gesture network of ridgerchu/TCJA is transcribed with SpikingJelly 2.0 in
``tests/test_tcja_snn.py`` (``OrigGestureNet``); both run side by side on identical frames at a
reduced input size. snnkit also runs with its reference (non-fused) LIF loop, and the offline
``digits_dvs`` network is timed as the demo trains it.

    python benchmarks/tcja_speed.py [--threads N]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import add_results_option, machine, print_table, results_file, positive_int, timeit  # noqa: E402


def _step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, forward: Callable) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        out = forward(model, x)
        loss = F.mse_loss(out, F.one_hot(y, out.shape[-1]).float())
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _snnkit_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).mean(0)


def _orig_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    from spikingjelly.activation_based import functional as sjf

    sjf.reset_net(model)
    return model(x.transpose(0, 1))


def main(argv: Any = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=positive_int, default=1,
                    help="torch threads (default 1, as the committed results)")
    ap.add_argument("--repeat", type=positive_int, default=5)
    add_results_option(ap, "tcja_speed")
    args = ap.parse_args(argv)
    results_json = results_file(ap, args, "tcja_speed")
    if args.threads:
        torch.set_num_threads(args.threads)
    from snnkit.models import get_config, build_model

    rows: List[Dict[str, Any]] = []
    g = torch.Generator().manual_seed(0)
    # Gesture network at 32x32, T=10, 16 channels per stage is too small to be representative; use 64 channels.
    T, B, hw, ch = 10, 8, 32, 64
    x = (torch.rand(T, B, 2, hw, hw, generator=g) < 0.15).float()
    y = torch.arange(B) % 11
    contenders = {}
    try:
        from tests.test_tcja_snn import OrigGestureNet

        torch.manual_seed(0)
        contenders["original (SpikingJelly)"] = (OrigGestureNet(ch, T=T, fc_hw=1), _orig_forward)
    except ImportError as err:  # spikingjelly missing
        print(f"original network unavailable: {err}")
    for backend in ("auto", "reference"):
        cfg = dataclasses.replace(get_config("dvs128_gesture", input_size=[hw, hw], T=T), stages=[[ch]] * 5)
        torch.manual_seed(0)
        model = build_model(cfg)
        for m in model.modules():
            if hasattr(m, "backend"):
                m.backend = backend
        contenders[f"snnkit ({'fused' if backend == 'auto' else 'reference'} LIF)"] = (model, _snnkit_forward)
    for name, (model, fwd) in contenders.items():
        model.train()
        t = timeit(_step_fn(model, x, y, fwd), repeat=args.repeat, warmup=1)
        rows.append({"network": f"gesture c{ch} {hw}x{hw} T={T} B={B}", "impl": name, "ms_per_step": t * 1e3,
                     "samples_per_s": B / t})
    # the demo network on digits_dvs frames
    cfg = get_config("digits_dvs")
    torch.manual_seed(0)
    model = build_model(cfg).train()
    xb = (torch.rand(cfg.T, cfg.batch_size, 2, 34, 34, generator=g) < 0.05).float()
    t = timeit(_step_fn(model, xb, torch.arange(cfg.batch_size) % 10, _snnkit_forward), repeat=args.repeat, warmup=1)
    rows.append({"network": f"digits_dvs T={cfg.T} B={cfg.batch_size}", "impl": "snnkit (fused LIF)",
                 "ms_per_step": t * 1e3, "samples_per_s": cfg.batch_size / t})
    res = {"machine": machine(), "rows": rows}
    print_table(rows, ["network", "impl", "ms_per_step", "samples_per_s"], "TCJA-SNN training step (fwd+bwd+Adam)")
    results_json.save(res)
    return res


if __name__ == "__main__":
    main()
