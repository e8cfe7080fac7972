"""Sequence baselines: RWKV-4/5/6 generation and training speed beside the ``rwkv`` pip package,
and how long a sequence the dnaGrinder-style encoder trains on at batch 1.

RWKV: one random-weight checkpoint per version in BlinkDL's layout (snnkit's ``state_dict`` is
that layout), loaded by snnkit and by ``rwkv.model.RWKV(path, "cpu fp32")`` (JIT on, its
default). Measured, batch 1 unless stated:

* ``generate``: tokens/s of the recurrent one-token step (snnkit ``step``, pip ``forward([tok], state)``);
* ``prefill``: tokens/s of a ``--prefill``-token prompt in parallel/sequence mode (snnkit ``forward``
  with its chunked WKV, pip ``forward(tokens, state)``);
* ``train``: tokens/s of forward+backward at ``[--train-batch, --train-len]`` (snnkit only: the pip
  package has no training path), for each WKV backend.

The logits of both implementations on the prefill prompt are compared in the same run
(``max_abs_diff``).

dnaGrinder: for ``L`` = 512, 1024, 2048, ... tokens, one fwd+bwd of the MLM at batch 1 runs in a
fresh subprocess; training memory is what autograd saves for backward (exact, from
``saved_tensors_hooks``) plus weights, gradients and AdamW moments, with the process's peak RSS
beside it. The longest ``L`` within ``--mem-gib`` and ``--step-seconds`` is reported, with
training tokens/s at batch 8 x 512.

    python benchmarks/rwkv_speed.py [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("RWKV_CUDA_ON", "0")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import (add_results_option, machine, positive_float, positive_int, print_table,  # noqa: E402
                     results_file, timeit)

from snnkit.baselines.rwkv import RWKV, RWKVConfig  # noqa: E402
from snnkit.cli import int_at_least  # noqa: E402


def random_rwkv(version: int, n_layer: int, n_embd: int, vocab: int, seed: int = 0) -> RWKV:
    torch.manual_seed(seed)
    cfg = RWKVConfig(version=version, vocab_size=vocab, n_layer=n_layer, n_embd=n_embd, head_size=64)
    model = RWKV(cfg)
    with torch.no_grad():  # BlinkDL's init zeroes some matrices: give every weight a value
        for name, p in model.named_parameters():
            if p.ndim == 2 and p.abs().sum() == 0:
                p.normal_(0, p.shape[1] ** -0.5)
    return model.eval()


def bench_rwkv(args: argparse.Namespace) -> List[Dict[str, Any]]:
    try:
        from rwkv.model import RWKV as PipRWKV
    except ImportError:
        PipRWKV = None
        print("the rwkv pip package is not installed: snnkit rows only (pip install rwkv)")
    rows: List[Dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp())
    for version in (4, 5, 6):
        model = random_rwkv(version, args.n_layer, args.n_embd, args.vocab)
        path = tmp / f"rwkv_v{version}.pth"
        torch.save(model.state_dict(), path)
        ours = RWKV.load(path).eval()
        g = torch.Generator().manual_seed(version)
        prompt = torch.randint(0, args.vocab, (1, args.prefill), generator=g)
        cfg = f"L{args.n_layer} C{args.n_embd} V{args.vocab}"

        with torch.no_grad():
            _, st0 = ours(prompt[:, :8], return_state=True)
            tok = prompt[:, 8]
            gen = timeit(lambda: ours.step(tok, st0), repeat=args.repeat * 5, warmup=3)
            pre = timeit(lambda: ours(prompt), repeat=args.repeat, warmup=1)
            out_ours = ours(prompt)[0]
        rows.append({"model": f"RWKV-{version}", "impl": "snnkit", "config": cfg,
                     "generate_tok_s": 1 / gen, "prefill_tok_s": args.prefill / pre})
        if PipRWKV is not None:
            pm = PipRWKV(str(path), "cpu fp32", verbose=False)
            _, pst = pm.forward(prompt[0, :8].tolist(), None)
            t = int(prompt[0, 8])
            pstate = [s.clone() for s in pst]  # copied once, outside the timing (snnkit's step has no copy either)
            pgen = timeit(lambda: pm.forward([t], pstate), repeat=args.repeat * 5, warmup=3)
            plist = prompt[0].tolist()
            ppre = timeit(lambda: pm.forward(plist, None, full_output=True), repeat=args.repeat, warmup=1)
            ref, _ = pm.forward(plist, None, full_output=True)
            rows.append({"model": f"RWKV-{version}", "impl": "rwkv pip", "config": cfg,
                         "generate_tok_s": 1 / pgen, "prefill_tok_s": args.prefill / ppre,
                         "max_abs_diff": float((ref - out_ours).abs().max())})

        # training: forward + backward of next-token cross-entropy
        model.train()
        x = torch.randint(0, args.vocab, (args.train_batch, args.train_len + 1), generator=g)
        backends = ["cpu", "chunked"] if version == 4 else ["chunked"]
        backends += ["reference"] if args.reference else []
        for be in backends:
            def step() -> None:
                logits = model(x[:, :-1], backend=be)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.vocab), x[:, 1:].reshape(-1))
                model.zero_grad(set_to_none=True)
                loss.backward()

            t_train = timeit(step, repeat=max(2, args.repeat // 2), warmup=1)
            rows.append({"model": f"RWKV-{version}", "impl": f"snnkit train ({be})", "config": cfg,
                         "train_tok_s": args.train_batch * args.train_len / t_train,
                         "shape": f"[{args.train_batch}, {args.train_len}]"})
    return rows


# ---------------------------------------------------------------------------- dnaGrinder
def dna_probe(length: int, batch: int, d_model: int, n_layer: int, n_head: int) -> Dict[str, Any]:
    """One fwd+bwd of the MLM at [batch, length] (run in a fresh process).

    Memory: the bytes autograd keeps for backward (each storage counted once, from
    ``saved_tensors_hooks``) plus weights, gradients and AdamW's two moments (4 x parameters);
    the peak RSS of the process is reported beside it.
    """
    from snnkit.baselines.dnagrinder import DNAGrinderConfig, DNAGrinderForMaskedLM, mask_tokens

    torch.manual_seed(0)
    cfg = DNAGrinderConfig(vocab_size=4096, d_model=d_model, n_layer=n_layer, n_head=n_head, dropout=0.0)
    model = DNAGrinderForMaskedLM(cfg)
    ids = torch.randint(5, 4096, (batch, length))
    inputs, labels = mask_tokens(ids, 4, 4096, range(5), generator=torch.Generator().manual_seed(0))
    saved: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        saved[st.data_ptr()] = st.nbytes()
        return t

    times = []
    for i in range(2):
        t0 = time.perf_counter()
        if i == 0:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = model.mlm_loss(inputs, labels)
        else:
            loss = model.mlm_loss(inputs, labels)
        loss.backward()
        times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    n_params = sum(p.numel() for p in model.parameters())
    saved_gib = sum(saved.values()) / 2 ** 30
    return {"length": length, "batch": batch, "seconds": min(times), "saved_gib": saved_gib,
            "train_mem_gib": saved_gib + 16 * n_params / 2 ** 30,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "tok_s": batch * length / min(times), "params_m": n_params / 1e6}


def run_probe(args: argparse.Namespace, length: int, batch: int) -> Dict[str, Any]:
    cmd = [sys.executable, __file__, "--_probe", str(length), "--_probe-batch", str(batch), "--threads",
           str(args.threads), "--dna-d", str(args.dna_d), "--dna-layers", str(args.dna_layers),
           "--dna-heads", str(args.dna_heads)]
    limit = int(args.mem_gib * 2 ** 30)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60, 6 * args.step_seconds),
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 * limit, 2 * limit)))
    except subprocess.TimeoutExpired:
        return {"length": length, "batch": batch, "ok": False, "why": "timeout"}
    if proc.returncode != 0:
        return {"length": length, "batch": batch, "ok": False, "why": (proc.stderr.strip().splitlines() or ["?"])[-1][:120]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["ok"] = res["train_mem_gib"] <= args.mem_gib and res["seconds"] <= args.step_seconds
    if not res["ok"]:
        res["why"] = "over budget"
    return res


def bench_dna(args: argparse.Namespace) -> Dict[str, Any]:
    rows: List[Dict[str, Any]] = []
    length, longest = 512, None
    while length <= args.max_len:
        r = run_probe(args, length, 1)
        rows.append(r)
        print(f"  dnaGrinder L={length}: {r}")
        if not r["ok"]:
            break
        longest = length
        length *= 2
    thr = run_probe(args, 512, 8)
    return {"probes": rows, "longest_trainable_len": longest, "throughput_b8_l512": thr,
            "budget": {"mem_gib": args.mem_gib, "step_seconds": args.step_seconds},
            "config": {"d_model": args.dna_d, "n_layer": args.dna_layers, "n_head": args.dna_heads, "vocab": 4096}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--threads", type=positive_int, default=1, help="torch threads, both implementations (default 1, "
                    "as the committed results/rwkv_speed.json)")
    ap.add_argument("--n-layer", type=positive_int, default=4)
    ap.add_argument("--n-embd", type=positive_int, default=256)
    ap.add_argument("--vocab", type=positive_int, default=8192)
    ap.add_argument("--prefill", type=int_at_least(9), default=512,
                    help="prompt tokens (>= 9: generation is timed after the first 8)")
    ap.add_argument("--train-batch", type=positive_int, default=4)
    ap.add_argument("--train-len", type=positive_int, default=256)
    ap.add_argument("--repeat", type=positive_int, default=5)
    ap.add_argument("--reference", action="store_true", help="also time the reference WKV loop in training")
    ap.add_argument("--skip-rwkv", action="store_true")
    ap.add_argument("--skip-dna", action="store_true")
    ap.add_argument("--mem-gib", type=positive_float, default=8.0,
                    help="dnaGrinder memory budget: saved activations + weights, grads, AdamW moments")
    ap.add_argument("--step-seconds", type=positive_float, default=30.0, help="dnaGrinder time budget per fwd+bwd")
    ap.add_argument("--max-len", type=positive_int, default=65536)
    ap.add_argument("--dna-d", type=positive_int, default=256)
    ap.add_argument("--dna-layers", type=positive_int, default=4)
    ap.add_argument("--dna-heads", type=positive_int, default=8)
    ap.add_argument("--_probe", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_probe-batch", type=int, default=1, help=argparse.SUPPRESS)
    add_results_option(ap, "rwkv_speed")
    args = ap.parse_args()
    results_json = results_file(ap, args, "rwkv_speed")
    torch.set_num_threads(args.threads)
    if args._probe:
        print(json.dumps(dna_probe(args._probe, args._probe_batch, args.dna_d, args.dna_layers, args.dna_heads)))
        return
    if args.quick:
        args.n_layer, args.n_embd, args.vocab, args.prefill = 2, 256, 4096, 64
        args.train_batch, args.train_len, args.repeat, args.max_len = 2, 64, 3, 2048
    payload: Dict[str, Any] = {"machine": machine(), "args": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    if not args.skip_rwkv:
        rows = bench_rwkv(args)
        print_table(rows, ["model", "impl", "config", "generate_tok_s", "prefill_tok_s", "train_tok_s", "shape",
                           "max_abs_diff"], "RWKV tokens/s (CPU, batch 1 unless shape says)")
        payload["rwkv"] = rows
    if not args.skip_dna:
        dna = bench_dna(args)
        print(f"dnaGrinder ({dna['config']}): longest trainable length at batch 1 = {dna['longest_trainable_len']} "
              f"tokens within {args.mem_gib} GiB / {args.step_seconds} s; batch 8 x 512: "
              f"{dna['throughput_b8_l512'].get('tok_s', float('nan')):.0f} tokens/s")
        payload["dnagrinder"] = dna
    results_json.save(payload)


if __name__ == "__main__":
    main()
