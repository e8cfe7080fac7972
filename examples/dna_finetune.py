"""Fine-tune the dnaGrinder-style genomic model on a FASTA classification task.

Default task (no download of data sets, only of the janggu 0.10.2 wheel into the cache): real
200-bp ChIP-seq peaks, Oct4 (janggu's ``sample.fa``) vs MafK (``sample2.fa``), tested on
janggu's held-out ``sample_test.fa``/``sample2_test.fa``. Your own task: one FASTA file per
class (``--fasta classA.fa classB.fa``), optionally ``--test-fasta`` in the same order
(otherwise a seeded 10 % split).

Steps: learn a BPE vocabulary on the training sequences -> masked-LM pretraining with
sequence-length warm-up and dynamic masking -> fine-tuning with ``snnkit.train.Trainer`` ->
accuracy and MCC on the test set (written to ``<out>/results.json``).

    python examples/dna_finetune.py                       # Oct4 vs MafK
    python examples/dna_finetune.py --fasta pos.fa neg.fa --epochs 3
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from snnkit._io import atomic_write_text
from snnkit.baselines.dnagrinder import (DNACollate, DNAGrinderConfig, DNAGrinderForMaskedLM,
                                         DNAGrinderForSequenceClassification, DNATokenizer, SequenceLengthWarmup,
                                         evaluate_classifier, pretrain_mlm)
from snnkit.cli import add_threads_option, int_at_least, use_threads
from snnkit.data.genomics import SequenceDataset, load_fasta_classes, load_oct4_mafk
from snnkit.train import Trainer, TrainConfig


def split(ds: SequenceDataset, frac: float, seed: int):
    idx = list(range(len(ds)))
    random.Random(seed).shuffle(idx)
    n = max(1, int(len(ds) * frac))
    pick = lambda ii: SequenceDataset([ds.sequences[i] for i in ii], [ds.labels[i] for i in ii],  # noqa: E731
                                      [ds.names[i] for i in ii], ds.classes)
    return pick(idx[n:]), pick(idx[:n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fasta", nargs="+", help="one FASTA file per class (default: janggu's Oct4 vs MafK)")
    ap.add_argument("--test-fasta", nargs="+", help="test FASTA files, same class order as --fasta")
    ap.add_argument("--ambiguous", default="n", choices=["n", "keep", "reject", "skip"])
    ap.add_argument("--vocab", type=int_at_least(10), default=256,
                    help="BPE vocabulary size (the paper uses 4096 on genomes)")
    ap.add_argument("--d-model", type=int_at_least(1), default=96)
    ap.add_argument("--layers", type=int_at_least(1), default=3)
    ap.add_argument("--heads", type=int_at_least(1), default=4)
    ap.add_argument("--max-len", type=int_at_least(16), default=128, help="tokens per sequence (with [CLS]/[SEP])")
    ap.add_argument("--pretrain-steps", type=int_at_least(0), default=300, help="0 skips MLM pretraining")
    ap.add_argument("--pretrain-batch", type=int_at_least(1), default=32)
    ap.add_argument("--epochs", type=int_at_least(1), default=4)
    ap.add_argument("--batch-size", type=int_at_least(1), default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    add_threads_option(ap)
    ap.add_argument("--out", default="runs/dna_finetune")
    ap.add_argument("--overwrite", action="store_true", help="write over a run already in --out")
    args = ap.parse_args()
    if not args.lr > 0:
        ap.error(f"--lr must be > 0, got {args.lr}")
    if args.d_model % args.heads:
        ap.error(f"--d-model ({args.d_model}) must be a multiple of --heads ({args.heads})")
    use_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()

    if args.test_fasta and not args.fasta:
        ap.error("--test-fasta needs --fasta (the training files, one per class)")
    if args.fasta:
        if len(args.fasta) < 2:
            ap.error("--fasta needs one FASTA file per class, at least two")
        if args.test_fasta and len(args.test_fasta) != len(args.fasta):
            ap.error("--test-fasta needs one file per class, in the order of --fasta")
        try:
            train = load_fasta_classes(args.fasta, args.ambiguous)
            test = load_fasta_classes(args.test_fasta, args.ambiguous) if args.test_fasta else None
        except (OSError, ValueError) as err:
            ap.error(str(err))
        if test is None:
            train, test = split(train, 0.1, args.seed)
        task = " vs ".join(train.classes)
    else:
        try:
            train, test = load_oct4_mafk(ambiguous=args.ambiguous)
        except (OSError, ValueError) as err:   # janggu's files absent and not downloadable: how to get them
            ap.error(str(err))
        task = "Oct4 vs MafK (janggu 0.10.2 ChIP-seq peaks)"
    print(f"task: {task}: {len(train)} train / {len(test)} test sequences")

    tok = DNATokenizer.train(train.sequences, vocab_size=args.vocab)
    mean_tokens = sum(len(tok.tokenize(s)) for s in train.sequences[:500]) / min(500, len(train))
    print(f"BPE vocabulary {tok.vocab_size}; {mean_tokens:.1f} tokens per sequence on average")
    cfg = DNAGrinderConfig(vocab_size=tok.vocab_size, d_model=args.d_model, n_layer=args.layers, n_head=args.heads)

    mlm = DNAGrinderForMaskedLM(cfg)
    if args.pretrain_steps:
        warm = SequenceLengthWarmup(start=16, end=args.max_len, warmup_steps=args.pretrain_steps // 2)
        logs = pretrain_mlm(mlm, tok, train.sequences, steps=args.pretrain_steps, batch_size=args.pretrain_batch,
                            lr=1e-3, warmup=warm, generator=torch.Generator().manual_seed(args.seed),
                            callback=lambda r: r["step"] % 50 == 0 and print(
                                f"  pretrain step {r['step']}: window {r['seq_len']} tokens, MLM loss {r['loss']:.3f}"))
        print(f"MLM loss {logs[0]['loss']:.3f} -> {logs[-1]['loss']:.3f}")
    model = DNAGrinderForSequenceClassification.from_pretrained(mlm, num_labels=len(train.classes))

    out = Path(args.out)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer="adamw",
                         weight_decay=0.01, loss="ce", input_layout="B", out_dir=str(out), seed=args.seed,
                         tensorboard=False)
    try:
        Trainer(model, train, test, config, collate_fn=DNACollate(tok, args.max_len), arch="dnagrinder",
                model_config=cfg.to_dict()).fit(overwrite=args.overwrite)
    except (ValueError, OSError) as err:   # e.g. an --out holding another run: say so, no traceback
        raise SystemExit(f"dna_finetune: {err}") from None
    res = evaluate_classifier(model, test, tok, max_length=args.max_len)
    res.update(task=task, seconds=time.time() - t0, pretrain_steps=args.pretrain_steps, epochs=args.epochs,
               threads=args.threads, model=cfg.to_dict())
    atomic_write_text(out / "results.json", json.dumps(res, indent=2))
    tok.save(out / "tokenizer.json")
    print(f"test accuracy {res['accuracy']:.3f}, MCC {res['mcc']:.3f} ({res['seconds']:.0f} s); wrote {out}")


if __name__ == "__main__":
    main()
