"""SpikeGPT vs RWKV-4 of the same width/depth/vocab: training and generation speed, forward time vs context.

In one process, side by side (random weights and tokens; speed does not depend on them):

* training tokens/s: forward + backward + Adam step on ``--batch`` x ``--ctx`` tokens;
* generation tokens/s: recurrent ``step()`` one token at a time, batch 1 (SpikeGPT: LIF and WKV
  states; RWKV-4: WKV state), after a short prompt;
* forward time (no grad, batch 1) for T = 128 ... 2048, and tokens/s at each T.

    python benchmarks/lm_speed.py [--size small] [--threads 1]

JSON to ``benchmarks/results/lm_speed.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Dict

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_results_option, machine, print_table, results_file, positive_int, timeit  # noqa: E402

from snnkit.baselines.rwkv import RWKV, RWKVConfig  # noqa: E402
from snnkit.models.spikegpt import SpikeGPT, get_config  # noqa: E402
from snnkit.models.spikegpt_train import lm_loss  # noqa: E402

SIZES = {"tiny": {"n_layer": 2, "n_embd": 64}, "small": {"n_layer": 4, "n_embd": 256},
         "medium": {"n_layer": 12, "n_embd": 512}}


def models(size: str, vocab: int, max_t: int) -> Dict[str, torch.nn.Module]:
    dims = SIZES[size]
    torch.manual_seed(0)
    sg = SpikeGPT(dataclasses.replace(get_config("tiny"), name=size, vocab_size=vocab, ctx_len=max_t, **dims))
    torch.manual_seed(0)
    rw = RWKV(RWKVConfig(version=4, vocab_size=vocab, **dims))
    return {"SpikeGPT": sg, "RWKV-4": rw}


def train_speed(model: torch.nn.Module, vocab: int, batch: int, ctx: int, repeat: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randint(0, vocab, (batch, ctx))
    y = torch.randint(0, vocab, (batch * ctx,))
    model.train()

    def step() -> None:
        logits = model(x)
        loss = lm_loss(logits.reshape(-1, logits.shape[-1]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch * ctx / timeit(step, repeat=repeat, warmup=1)


@torch.no_grad()
def gen_speed(model: Any, vocab: int, n: int) -> float:
    model.eval()
    _, state = model.forward_state(torch.randint(0, vocab, (1, 16)))
    tok = torch.zeros(1, dtype=torch.long)
    for _ in range(3):  # warm-up
        logits, _ = model.step(tok, state)
    t0 = time.perf_counter()
    for _ in range(n):
        logits, state = model.step(tok, state)
        tok = logits.argmax(-1)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def forward_time(model: torch.nn.Module, vocab: int, T: int, repeat: int) -> float:
    model.eval()
    x = torch.randint(0, vocab, (1, T))
    return timeit(lambda: model(x), repeat=repeat, warmup=1)


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small", choices=list(SIZES))
    ap.add_argument("--vocab", type=positive_int, default=128, help="vocabulary (character level ~ 100)")
    ap.add_argument("--batch", type=positive_int, default=8)
    ap.add_argument("--ctx", type=positive_int, default=128)
    ap.add_argument("--gen-tokens", type=positive_int, default=200)
    ap.add_argument("--lengths", type=positive_int, nargs="+", default=[128, 256, 512, 1024, 2048])
    ap.add_argument("--repeat", type=positive_int, default=3)
    ap.add_argument("--threads", type=positive_int, default=1)
    add_results_option(ap, "lm_speed")
    args = ap.parse_args(argv)
    results_json = results_file(ap, args, "lm_speed")
    torch.set_num_threads(args.threads)
    ms = models(args.size, args.vocab, max(max(args.lengths), args.ctx))
    res: Dict[str, Any] = {}
    for name, m in ms.items():
        r: Dict[str, Any] = {"params": sum(p.numel() for p in m.parameters())}
        r["train_tokens_per_s"] = train_speed(m, args.vocab, args.batch, args.ctx, args.repeat)
        r["generate_tokens_per_s"] = gen_speed(m, args.vocab, args.gen_tokens)
        r["forward_s"] = {T: forward_time(m, args.vocab, T, args.repeat) for T in args.lengths}
        res[name] = r
    rows = [{"model": n, "params": r["params"], "train tok/s": r["train_tokens_per_s"],
             "generate tok/s": r["generate_tokens_per_s"]} for n, r in res.items()]
    dims = SIZES[args.size]
    title = (f"{args.size}: {dims['n_layer']} layers x {dims['n_embd']}, vocab {args.vocab}; train batch "
             f"{args.batch} x {args.ctx}; generation batch 1 ({torch.get_num_threads()} threads)")
    print_table(rows, ["model", "params", "train tok/s", "generate tok/s"], title)
    rows = [{"T": T, **{f"{n} fwd ms": r["forward_s"][T] * 1e3 for n, r in res.items()},
             **{f"{n} tok/s": T / r["forward_s"][T] for n, r in res.items()},
             "SpikeGPT/RWKV time": res["SpikeGPT"]["forward_s"][T] / res["RWKV-4"]["forward_s"][T]}
            for T in args.lengths]
    print_table(rows, list(rows[0]), "parallel forward (no grad, batch 1) vs context length T")
    results_json.save({"benchmark": "lm_speed", "machine": machine(), "size": args.size,
                       "dims": dims, "vocab": args.vocab, "batch": args.batch, "ctx": args.ctx,
                       "results": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
