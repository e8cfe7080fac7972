"""Generate text with an RWKV-4 / Eagle (5.2) / Finch (6) checkpoint from BlinkDL.

    python examples/rwkv_generate.py --model RWKV-x060-World-1B6-v2.1.pth \\
        --tokenizer rwkv_vocab_v20230424.txt --prompt "The Eiffel tower is" --temperature 1.0 --top-p 0.85
    python examples/rwkv_generate.py --model RWKV-4-Pile-169M.pth --tokenizer 20B_tokenizer.json --prompt "Hi"
    python examples/rwkv_generate.py --demo 6      # a tiny random model, nothing to download

The version (4, 5.2, 6) comes from the checkpoint's key names. ``--tokenizer``: the World
vocabulary file (``rwkv_vocab_v20230424.txt``, shipped in the ``rwkv`` pip package and found there by
that name) for World models, or GPT-NeoX's ``20B_tokenizer.json`` for RWKV-4 Pile/Raven models. The prompt is read in
one parallel pass, then tokens are sampled one by one with the recurrent state.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from snnkit.baselines.rwkv import RWKV, RWKVConfig, WorldTokenizer, load_tokenizer, sample_logits
from snnkit.cli import int_at_least


def demo_model(version: int, tmp: Path):
    """A random 2-layer model over a byte-level World vocabulary (ids 1..256 = the bytes)."""
    vocab = tmp / "bytes_vocab.txt"
    vocab.write_text("".join(f"{i + 1} {bytes([i])!r} 1\n" for i in range(256)), encoding="utf-8")
    torch.manual_seed(0)
    model = RWKV(RWKVConfig(version=version, vocab_size=257, n_layer=2, n_embd=64, head_size=16))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    path = tmp / f"demo_v{version}.pth"
    torch.save(model.state_dict(), path)       # a BlinkDL-layout checkpoint
    return path, vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="BlinkDL RWKV-LM .pth checkpoint")
    ap.add_argument("--tokenizer", help="World vocab .txt or tokenizer.json")
    ap.add_argument("--demo", type=int, choices=[4, 5, 6], help="use a tiny random model of this version")
    ap.add_argument("--prompt", default="\nIn a shocking finding, scientists discovered")
    ap.add_argument("--max-new-tokens", type=int_at_least(0), default=100)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.85)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--threads", type=int_at_least(1), help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.temperature < 0:
        ap.error(f"--temperature must be >= 0 (0 is greedy), got {args.temperature}")
    if not 0 < args.top_p <= 1:
        ap.error(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.demo and (args.model or args.tokenizer):
        ap.error("--demo builds its own random model and byte vocabulary: drop --model and --tokenizer")
    if not args.demo and not (args.model and args.tokenizer):
        ap.error("give --model and --tokenizer, or --demo 4|5|6")

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:    # the demo's files, removed once loaded
        if args.demo:
            args.model, args.tokenizer = demo_model(args.demo, Path(tmp))
        try:
            model = RWKV.load(args.model, dtype=getattr(torch, args.dtype)).eval()
            tok = load_tokenizer(args.tokenizer)
        except (OSError, ValueError) as err:      # a missing or unreadable checkpoint / tokenizer: one line
            ap.error(str(err))
    cfg = model.config
    print(f"RWKV-{cfg.version}: {cfg.n_layer} layers x {cfg.n_embd}, vocab {cfg.vocab_size} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters), loaded in {time.time() - t0:.1f} s",
          file=sys.stderr)
    if tok.vocab_size > cfg.vocab_size:
        print(f"warning: the tokenizer has {tok.vocab_size} ids but the model only {cfg.vocab_size}", file=sys.stderr)

    gen = torch.Generator().manual_seed(args.seed)
    ids = tok.encode(args.prompt)
    if not ids:
        ap.error("the prompt encodes to no tokens")
    if max(ids) >= cfg.vocab_size:
        ap.error(f"the prompt has token id {max(ids)} but the model's vocabulary has {cfg.vocab_size} ids: "
                 "wrong --tokenizer for this checkpoint?")
    sys.stdout.write(args.prompt)
    with torch.no_grad():
        logits, state = model(torch.tensor([ids]), return_state=True)
        logits = logits[:, -1]
        out, shown, t1 = [], 0, time.time()
        for _ in range(args.max_new_tokens):
            nxt = sample_logits(logits, args.temperature, args.top_p, gen)
            if isinstance(tok, WorldTokenizer) and int(nxt) == 0:   # id 0 ends a World-model document
                break
            out.append(int(nxt))
            text = tok.decode(out)
            if not text.endswith("\ufffd"):          # hold back only a multi-byte character still incomplete
                sys.stdout.write(text[shown:])
                sys.stdout.flush()
                shown = len(text)
            logits, state = model.step(nxt, state)
        sys.stdout.write(tok.decode(out)[shown:])   # what is left (bytes that never formed a character)
    print(f"\n[{len(out)} tokens, {len(out) / max(1e-9, time.time() - t1):.1f} tokens/s]", file=sys.stderr)


if __name__ == "__main__":
    main()
