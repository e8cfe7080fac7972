"""WKV forward+backward vs context length (reference loop, fused CPU kernel, chunked torch), and SpikeGPT tokens/s.

Part 1 times one WKV call plus its backward for ``T = 256 .. 8192`` at a fixed ``[B, C]``
and reports milliseconds per 1000 tokens next to the total, so linear growth shows as a
flat column. Part 2 measures SpikeGPT training throughput (forward + backward + Adam on
``[batch, ctx]`` windows), parallel inference (prefill) and recurrent generation
(``step`` one token at a time) in tokens per second.

    python benchmarks/wkv_speed.py [--quick] [--model tiny|45m]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (add_results_option, machine, non_negative_int, positive_int, print_table,  # noqa: E402
                     results_file, timeit)

from snnkit.models.spikegpt import CONFIGS as SPIKEGPT_CONFIGS  # noqa: E402


def wkv_rows(Ts: List[int], B: int, C: int, repeat: int, ref_max_T: int) -> List[Dict[str, Any]]:
    from snnkit.kernels import wkv as W

    backends = ["reference", "chunked"] + (["cpu"] if W.available() else [])
    rows: List[Dict[str, Any]] = []
    for T in Ts:
        gen = torch.Generator().manual_seed(0)
        w = (-torch.exp(torch.randn(C, generator=gen))).requires_grad_()
        u = torch.randn(C, generator=gen).requires_grad_()
        k = torch.randn(T, B, C, generator=gen).requires_grad_()
        v = torch.randn(T, B, C, generator=gen).requires_grad_()
        gy = torch.randn(T, B, C, generator=gen)
        y_ref: Optional[torch.Tensor] = None
        for be in backends:
            if be == "reference" and T > ref_max_T:
                rows.append({"T": T, "impl": be, "note": f"skipped (T > {ref_max_T})"})
                continue

            def fwd_bwd() -> None:
                for t in (w, u, k, v):
                    t.grad = None
                y, _ = W.wkv(w, u, k, v, backend=be)
                y.backward(gy)

            def fwd() -> torch.Tensor:
                with torch.no_grad():
                    return W.wkv(w, u, k, v, backend=be)[0]

            slow = be == "reference" and T > 1024
            t_fb = timeit(fwd_bwd, repeat=1 if slow else repeat, warmup=0 if slow else 1)
            t_f = timeit(fwd, repeat=1 if slow else repeat, warmup=0 if slow else 1)
            y = fwd()
            if y_ref is None:
                y_ref = y
            rows.append({"T": T, "impl": be, "fwd_ms": t_f * 1e3, "fwd_bwd_ms": t_fb * 1e3,
                         "ms_per_1k_tok": t_fb * 1e3 / T * 1000, "max_abs_diff": float((y - y_ref).abs().max())})
    return rows


def model_rows(name: str, batch: int, ctx: int, gen_tokens: int, repeat: int) -> List[Dict[str, Any]]:
    from snnkit.models.spikegpt import SpikeGPT, get_config

    torch.manual_seed(0)
    cfg = get_config(name, ctx_len=max(ctx, get_config(name).ctx_len))
    model = SpikeGPT(cfg)
    with torch.no_grad():  # move off the zero init so that neurons fire as in a trained model
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    tok = torch.randint(0, cfg.vocab_size, (batch, ctx + 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    rows: List[Dict[str, Any]] = []

    def train_step() -> None:
        logits = model(tok[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), tok[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    t = timeit(train_step, repeat=repeat, warmup=1)
    rows.append({"model": name, "mode": f"train fwd+bwd+adam [{batch}x{ctx}]", "ms": t * 1e3, "tok_per_s": batch * ctx / t})
    model.eval()
    with torch.no_grad():
        t = timeit(lambda: model(tok[:, :-1]), repeat=repeat, warmup=1)
        rows.append({"model": name, "mode": f"parallel forward [{batch}x{ctx}]", "ms": t * 1e3, "tok_per_s": batch * ctx / t})
        for bs in (1, batch):
            state, x = None, tok[:bs, 0]
            _, state = model.step(x, state)  # warm up
            t0 = time.perf_counter()
            for _ in range(gen_tokens):
                logits, state = model.step(x, state)
                x = logits.argmax(-1)
            dt = time.perf_counter() - t0
            rows.append({"model": name, "mode": f"recurrent step, batch {bs}", "ms": dt / gen_tokens * 1e3,
                         "tok_per_s": bs * gen_tokens / dt})
    return rows


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke test)")
    ap.add_argument("--batch", type=positive_int, default=2, help="WKV batch B")
    ap.add_argument("--channels", type=positive_int, default=256, help="WKV channels C")
    ap.add_argument("--repeat", type=positive_int, default=5)
    ap.add_argument("--ref-max-T", type=non_negative_int, default=8192, help="longest T for the (slow) reference loop")
    ap.add_argument("--model", default="tiny", choices=sorted(SPIKEGPT_CONFIGS),
                    help="SpikeGPT config for the tokens/s part")
    ap.add_argument("--threads", type=non_negative_int, default=1,
                    help="torch threads (default 1, as the committed results/wkv_speed_cpu.json; 0: torch's default)")
    add_results_option(ap, "wkv_speed_cpu")
    args = ap.parse_args(argv)
    results_json = results_file(ap, args, "wkv_speed_cpu")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.quick:
        Ts, args.repeat, ctx, gen = [256, 512, 1024], 2, 64, 32
    else:
        Ts, ctx, gen = [256, 512, 1024, 2048, 4096, 8192], 128, 256
    res: Dict[str, Any] = {"machine": machine(), "wkv_shape": {"B": args.batch, "C": args.channels}}
    try:
        res["machine"]["load_avg_1min_at_start"] = os.getloadavg()[0]  # shared machines: read timings with this
    except OSError:
        pass
    res["wkv"] = wkv_rows(Ts, args.batch, args.channels, args.repeat, args.ref_max_T)
    print_table(res["wkv"], ["T", "impl", "fwd_ms", "fwd_bwd_ms", "ms_per_1k_tok", "max_abs_diff", "note"],
                f"WKV [T, {args.batch}, {args.channels}] float32 on {res['machine']['cpu']} "
                f"({res['machine']['torch_threads']} threads)")
    res["model"] = model_rows(args.model, 8, ctx, gen, max(2, args.repeat // 2))
    print_table(res["model"], ["model", "mode", "ms", "tok_per_s"], f"SpikeGPT-{args.model} tokens/s")
    res["machine"]["load_avg_1min_at_end"] = os.getloadavg()[0]
    results_json.save(res)
    return res


if __name__ == "__main__":
    main()
