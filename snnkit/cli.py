"""The ``snnkit`` command. Subcommands grow with the library; ``snnkit --help`` lists them."""
from __future__ import annotations

import argparse
import math
import os
import platform
import runpy
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, TextIO

if TYPE_CHECKING:
    from snnkit.train.trainer import Trainer

BENCHMARKS = {"neurons": "neuron_speed", "data": "data_speed", "lava": "lava_speed", "wkv": "wkv_speed",
              "rwkv": "rwkv_speed", "energy": "energy_report", "tcja": "tcja_speed", "tcja-seeds": "tcja_seeds", "lm": "lm_speed",
              "spikegpt-energy": "spikegpt_energy"}


def int_at_least(low: int) -> "argparse._ActionType":
    """An argparse ``type``: an integer >= ``low``, refused by argparse with the flag's name otherwise."""
    def parse(text: str) -> int:
        try:
            val = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if val < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {val}")
        return val
    return parse


def add_threads_option(ap: argparse.ArgumentParser) -> None:
    """``--threads`` (default 1) for scripts whose documented numbers are trained on the CPU."""
    ap.add_argument("--threads", type=int_at_least(1), default=1,
                    help="torch threads (default 1, as the documented numbers: trained results change with the count)")


def use_threads(n: int) -> None:
    """Set torch's thread count before any work and say so: CPU results depend on it."""
    import torch

    torch.set_num_threads(n)
    print(f"torch threads: {n}")


def number_above(low: float, inclusive: bool = False) -> "argparse._ActionType":
    """An argparse ``type``: a finite number > ``low`` (>= with ``inclusive``), refused with the flag's name otherwise,
    so that a bad value is reported as the option typed, not as the library argument it fills."""
    def parse(text: str) -> float:
        try:
            val = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(val) or not (val >= low if inclusive else val > low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if inclusive else '>'} {low:g}, "
                                             f"got {text}")
        return val
    return parse


def device_name(text: str) -> str:
    """An argparse ``type`` for ``--device``: ``auto`` or a name torch reads as a device (cpu, cuda, cuda:1, ...)."""
    if text != "auto":
        import torch

        try:
            torch.device(text)
        except RuntimeError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a device; use auto, cpu, cuda, cuda:1, ...") from None
    return text


def _one_line_warning(message: Any, category: type, filename: str, lineno: int, file: Optional[TextIO] = None,
                      line: Optional[str] = None) -> None:
    """``warnings.showwarning`` for the command line: ``warning: MESSAGE`` on one line, no source location."""
    print(f"warning: {message}", file=file if file is not None else sys.stderr)


@contextmanager
def clean_warnings() -> Iterator[None]:
    """Print warnings raised inside as one clean line (``warning: ...``); restore ``warnings.showwarning`` after."""
    old = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        yield
    finally:
        warnings.showwarning = old


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (temporary files, Lava workers, resume hint)."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM (``kill``, a batch system's time limit) raises :class:`Terminated` in this
    process; processes forked inside (DataLoader or Lava workers) still die of it as by default. An interrupt
    that Python drops (raised inside a weakref callback or ``__del__``) is delivered again, not lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    in_hook = [False]

    def resend(signum: int) -> None:
        """Signal this process again in 10 ms, from a thread: by then it runs ordinary code again."""
        threading.Thread(target=lambda: (time.sleep(0.01), os.kill(owner, signum)), daemon=True).start()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if in_hook[0]:   # raised here it would be dropped as well
            resend(signum)
            return
        raise Terminated()

    def redeliver(unraisable: Any) -> None:
        # the handler ran inside a callback Python cannot raise from (an import lock's weakref callback, a
        # __del__) and the interrupt was dropped there: signal again, to land at the next ordinary bytecode
        exc = unraisable.exc_value
        if not (isinstance(exc, KeyboardInterrupt) and os.getpid() == owner):
            return previous_hook(unraisable)
        in_hook[0] = True
        try:
            resend(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        finally:
            in_hook[0] = False

    previous, previous_hook = signal.signal(signal.SIGTERM, handler), sys.unraisablehook
    sys.unraisablehook = redeliver
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "tensorboard", "tokenizer.json")  # what `snnkit train` writes


def check_output_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Before any data is loaded: refuse an ``--out`` that cannot be written, ``--resume`` with no checkpoint
    in it, and a new run over a folder that holds one (unless ``--overwrite``: :func:`clear_run` clears its
    run files once the run's inputs have been checked): a new run would replace its checkpoints and mix the logs."""
    from ._io import check_writable_folder

    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    try:
        check_writable_folder(out)
    except OSError as err:
        raise ValueError(f"--out {err}") from None
    if resume:
        if not (out / "last.pt").is_file():
            why = "the run there stopped before its first epoch ended" if out.is_dir() else "it does not exist"
            raise ValueError(f"--resume: {str(out)!r} holds no checkpoint (last.pt) to continue ({why}); run the same "
                             "command without --resume")
        return
    if not (out / "last.pt").is_file():
        return
    if not overwrite:
        raise ValueError(f"{out} already holds a run (last.pt): --resume continues it, --overwrite replaces it, or "
                         "give --out another folder")


def clear_run(out: Path) -> None:
    """``--overwrite``: delete the run files ``snnkit train`` writes in ``out`` (nothing else), once the new run's
    data and settings have been checked, so that a mistyped option does not cost the old run."""
    import shutil

    from .train.distributed import launch_rank

    if launch_rank() != 0:  # under torchrun rank 0 clears the folder
        return

    for name in RUN_FILES:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


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
    return _run_script("examples/demo.py", args.rest[1:] if args.rest[:1] == ["--"] else args.rest)


DIGITS = "sklearn digits"  # generate-images' default images, as vae.pt records them


def cmd_generate_images(args: argparse.Namespace) -> int:
    """Train the TCJA spiking VAE on images, save a PNG grid of samples and report the reconstruction loss."""
    import numpy as np
    import torch

    from snnkit.models import tcja_vae as V

    if args.checkpoint and (args.epochs is not None or args.attention is not None or args.overwrite):
        raise ValueError("--epochs, --attention and --overwrite describe training; with --checkpoint the saved VAE is "
                         "sampled as it is")
    saved = V.load_vae(args.checkpoint) if args.checkpoint else None
    if saved and not args.images:  # score it on the images it trained on (the held-out part of them)
        args.images = saved[1].get("images") if saved[1].get("images") not in (None, DIGITS) else None
        if args.images and not Path(args.images).is_file():
            raise FileNotFoundError(f"--checkpoint {args.checkpoint!r} was trained on --images {args.images!r}, "
                                    "which is not there any more: give its images with --images")
    if args.images:
        path = Path(args.images)
        if not path.is_file():
            raise FileNotFoundError(f"--images {str(path)!r} does not exist (expected a .npy of [N, H, W] in [0, 1])")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as err:
            raise ValueError(f"--images {str(path)!r} is not a readable .npy array ({err or type(err).__name__})") from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise ValueError(f"--images {str(path)!r} must hold one real-valued array [N, H, W] or [N, C, H, W]")
        try:
            images = V.as_images(torch.tensor(array, dtype=torch.float32))
        except ValueError as err:
            raise ValueError(f"--images {str(path)!r}: {err}") from None
        if len(images) < 2 or images.shape[1] not in (1, 3):
            raise ValueError(f"--images {str(path)!r} holds {len(images)} image(s) of {images.shape[1]} channel(s); "
                             "need at least 2 images (train and held-out) of 1 or 3 channels, [N, H, W] or [N, C, H, W]")
    else:
        from sklearn.datasets import load_digits

        images = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).unsqueeze(1)
    epochs = 30 if args.epochs is None else args.epochs
    if epochs < 1 or args.n < 1:
        raise ValueError(f"--epochs and --n must be >= 1, got {epochs} and {args.n}")
    from ._io import check_writable_folder

    try:   # before any training: a bad folder is not found only at the end
        check_writable_folder(args.out)
    except OSError as err:
        raise ValueError(f"--out {err}; give a folder for the PNG grids") from None
    if not saved and not args.overwrite and (Path(args.out) / "vae.pt").is_file():
        raise ValueError(f"{args.out} already holds a trained VAE (vae.pt): --checkpoint {Path(args.out) / 'vae.pt'} "
                         "samples it, --overwrite trains a new one over it, or give --out another folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    if saved:
        shape = [saved[0].config.in_channels, *saved[0].config.image_size]
        if list(images.shape[1:]) != shape:
            raise ValueError(f"--checkpoint {args.checkpoint!r} was trained on images {tuple(shape)}, these are "
                             f"{tuple(images.shape[1:])}")
    # the held-out split of training (the run's seed), so that a loaded VAE is scored on images it did not see
    gen = torch.Generator().manual_seed(int(saved[1].get("seed", 0)) if saved else args.seed)
    order = torch.randperm(len(images), generator=gen)
    n_test = max(1, len(images) // 10)
    test, train = images[order[:n_test]], images[order[n_test:]]
    gen = torch.Generator().manual_seed(args.seed)  # samples: from --seed alone, so a run's samples.png is
    if saved:                                        # redrawn by --checkpoint OUT/vae.pt with the same --seed
        model, cfg = saved[0], saved[0].config
        print(f"loaded {args.checkpoint} (attention {cfg.attention}, trained {len(saved[1].get('history', []))} "
              f"epochs, seed {saved[1].get('seed')})")
    else:
        cfg = V.TCJAVAEConfig(image_size=list(images.shape[-2:]), in_channels=images.shape[1],
                              attention=args.attention or "tcja", epochs=epochs)  # vae.pt records the real count
        model, hist = V.train_vae(train, cfg, epochs=epochs, seed=args.seed,
                                  log=lambda e, m: print(f"epoch {e + 1}/{epochs}: loss {m['loss']:.2f} "
                                                         f"recon {m['recon']:.2f} kl {m['kl']:.2f}", flush=True))
    with torch.no_grad():
        mu, logvar = model.encode(test)
        recon = V.vae_loss(model.decode(mu), test, mu, logvar, cfg.beta)["recon"].item()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    V.save_grid_png(V.sample(model, args.n, generator=gen), out / "samples.png", scale=6)
    shown = test[:8]  # originals in the top row, their reconstructions below (one row each, even when < 8 held out)
    V.save_grid_png(torch.cat([shown, V.reconstruct(model, shown)]), out / "reconstructions.png", nrow=len(shown),
                    scale=6)
    print(f"held-out reconstruction loss (BCE per image, {len(test)} images): {recon:.2f}")
    written = [out / "samples.png", out / "reconstructions.png"]
    if not saved:
        written.append(V.save_vae(model, out / "vae.pt", history=hist, seed=args.seed, recon_loss=recon,
                                  images=str(Path(args.images).resolve()) if args.images else DIGITS))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


# options of `snnkit train tcja` that SpikeGPT/RWKV training has no use for (refused there rather than ignored)
TCJA_TRAIN_OPTIONS = {"root": None, "scheduler": None, "attention": None, "tcja_init_gain": None,
                      "augment": None, "mixup": None, "max_train": None, "on_error": None}


def cmd_train(args: argparse.Namespace) -> int:
    """Train a TCJA-SNN config on its dataset through the shared Trainer (SpikeGPT: snnkit.models.spikegpt_cli)."""
    if args.model in ("spikegpt", "rwkv"):
        if args.print_config:
            raise ValueError("--print-config prints TCJA-SNN configs; SpikeGPT/RWKV configs are listed in docs/spikegpt.md")
        tcja_only = [f"--{k.replace('_', '-')}" for k, default in TCJA_TRAIN_OPTIONS.items()
                     if getattr(args, k, default) != default]
        if tcja_only:
            raise ValueError(f"{', '.join(tcja_only)}: option{'s' if len(tcja_only) > 1 else ''} of `snnkit train tcja`, "
                             f"not of `snnkit train {args.model}`")
        return __import__("snnkit.models.spikegpt_cli", fromlist=["cmd_train"]).cmd_train(args)
    import torch

    from snnkit.models.tcja_snn import CONFIG_SUFFIXES, resolve_config
    from snnkit.train.distributed import is_main as dist_is_main
    from snnkit.train.recipes import tcja_trainer

    from snnkit.models.spikegpt_cli import TRAIN_DEFAULTS as SPIKEGPT_TRAIN_DEFAULTS

    given = [f"--{k.replace('_', '-')}" for k, default in SPIKEGPT_TRAIN_DEFAULTS.items()
             if getattr(args, k, default) != default]
    if given:
        raise ValueError(f"{', '.join(given)}: option{'s' if len(given) > 1 else ''} of `snnkit train spikegpt|rwkv`, "
                         "not of `snnkit train tcja`")
    cfg = resolve_config(args.config or "digits_dvs", attention=args.attention, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, tcja_init_gain=args.tcja_init_gain, augment=args.augment, mixup=args.mixup, T_max=args.t_max, scheduler=args.scheduler)
    if args.t_max is not None and cfg.scheduler != "cosine":
        raise ValueError(f"--t-max sets the length of the cosine schedule; this run's schedule is {cfg.scheduler!r} "
                         f"({'--scheduler' if args.scheduler else 'from its config'}), which does not read it: "
                         "drop --t-max, or use --scheduler cosine")
    if args.print_config:
        import dataclasses

        import yaml

        print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False, default_flow_style=None, width=120), end="")
        return 0
    if args.config and args.config.endswith(CONFIG_SUFFIXES):  # name the file when its dataset fields are wrong
        from snnkit.train.recipes import check_dataset_fits

        try:
            check_dataset_fits(cfg)
        except ValueError as err:
            raise ValueError(f"config file {args.config!r}: {err}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or "runs/tcja")
    check_output_folder(out, args.resume, args.overwrite)
    trainer = tcja_trainer(cfg, root=args.root, out_dir=out, seed=args.seed, max_train=args.max_train,
                           num_workers=args.workers, device=args.device, amp=args.amp, cache_dir=args.cache_dir,
                           bars=not args.no_progress, on_error=args.on_error or "raise")
    if args.overwrite:
        clear_run(out)
    main_rank = dist_is_main()  # asked while the process group exists: closing() leaves it
    if main_rank:
        print(trainer.summary(), flush=True)
    with trainer.closing():
        hist = trainer.fit(resume=args.resume, overwrite=args.overwrite)  # every rank: rank 0 clears
    if main_rank:
        print(done_line(trainer, hist))
    return 0


def done_line(trainer: "Trainer", hist: List[dict]) -> str:
    """The last line of ``snnkit train``: what was trained, or that a resumed run had nothing left to train."""
    n, done = trainer.epoch - trainer.first_epoch, trainer.epoch
    if n == 0:
        return (f"nothing to train: {trainer.out_dir}/last.pt already finished epoch {done} of "
                f"{trainer.config.epochs}; best {trainer.best:.4f}")
    last = hist[-1] if hist else {}
    return (f"done: {n} epoch{'s' if n != 1 else ''} trained (epoch {done} of {trainer.config.epochs}); "
            f"last test accuracy {last.get('test_acc', float('nan')):.4f}; best {trainer.best:.4f}; "
            f"checkpoints in {trainer.out_dir}")


def checkpoint_arch(path: str) -> Optional[str]:
    """The ``arch`` a snnkit checkpoint records, read without copying its tensors; None if there is none."""
    from ._io import torch_load
    from .train.checkpoint import refuse_export_file, refuse_vae

    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path!r} does not exist" + (" (it is a folder: give the .pt file in it)"
                                                                        if Path(path).is_dir() else ""))
    refuse_export_file(path)
    try:
        try:
            ckpt = torch_load(path, mmap=True)
        except RuntimeError:  # files in torch's legacy format cannot be memory-mapped
            ckpt = torch_load(path)
    except Exception as err:  # noqa: BLE001 - no loader can read it: say so rather than try each model's
        raise ValueError(f"checkpoint {path!r} could not be read (corrupt, truncated or not a torch file: "
                         f"{type(err).__name__}: {err})") from None
    refuse_vae(path, ckpt)
    return ckpt.get("arch") if isinstance(ckpt, dict) else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    """TCJA-SNN checkpoints: accuracy, per class and confusion matrix; SpikeGPT/RWKV: loss, bpc, perplexity."""
    if checkpoint_arch(args.checkpoint) != "tcja_snn":
        if args.root or args.json or args.workers:  # --workers feeds the TCJA DataLoader only
            raise ValueError("--root, --json and --workers are for TCJA-SNN checkpoints; "
                             f"{args.checkpoint!r} is not one (SpikeGPT/RWKV take --data)")
        return __import__("snnkit.models.spikegpt_cli", fromlist=["cmd_evaluate"]).cmd_evaluate(args)
    import torch

    from snnkit.train.recipes import evaluate_tcja

    if args.data or args.tokenizer or args.max_tokens:
        raise ValueError("--data, --tokenizer and --max-tokens are for SpikeGPT/RWKV checkpoints; a TCJA-SNN "
                         "checkpoint is evaluated on its own dataset (give its folder with --root)")
    if args.split not in ("test", "train"):
        raise ValueError(f"--split {args.split}: a TCJA-SNN checkpoint is evaluated on its 'test' or 'train' split")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.json and Path(args.json).is_dir():
        raise ValueError(f"--json {args.json}: is a directory; give the report's file name")
    if args.threads:
        torch.set_num_threads(args.threads)
    rep = evaluate_tcja(args.checkpoint, root=args.root, split=args.split, batch_size=args.batch_size,
                        device=args.device, num_workers=args.workers, cache_dir=args.cache_dir,
                        progress=not args.no_progress)
    m = rep.meta
    logged = "" if m["logged_test_acc"] is None or args.split != "test" else \
        f"; training logged {100 * m['logged_test_acc']:.2f} % after this epoch"
    print(f"{args.checkpoint}: {m['dataset']} network, attention {m['attention']}, epoch {m['epoch']}, "
          f"seed {m['seed']}{logged}")
    trained_on = (f" (the {rep.n} of its {m['split_size']} the run trained on: --max-train {m['max_train']})"
                  if m.get("max_train") and rep.n < m.get("split_size", rep.n) else "")
    print(f"{m['split']} split, {rep.n} samples{trained_on}")
    print(rep.format())
    if args.json:
        print(f"wrote {rep.save_json(args.json)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnkit", description="snnkit: spiking neural networks toolkit")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("info", help="versions and available kernel backends")
    s.set_defaults(func=cmd_info)
    s = sub.add_parser("bench", help="run a benchmark (prints a table; a run with default options writes benchmarks/results/*.json, others only with --results PATH)")
    s.add_argument("which", choices=sorted(BENCHMARKS), help="which benchmark")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the benchmark script")
    s.set_defaults(func=cmd_bench)
    s = sub.add_parser("demo", help="train the demo network on offline data")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to examples/demo.py "
                                                          "(snnkit demo --help lists them)")
    s.set_defaults(func=cmd_demo)
    from .data.cli import configure_parser as _configure_data

    _configure_data(sub.add_parser("data", help="datasets: list, info NAME, prepare NAME --root ... (build the frame cache)"))
    __import__("snnkit.hardware.energy_cli", fromlist=["configure"]).configure(sub.add_parser("energy", help="operation counts per layer and time step, energy estimates, SNN vs ANN"))
    __import__("snnkit.hardware.cli", fromlist=["configure_export"]).configure_export(sub.add_parser("export", help="export a trained checkpoint to Lava, lava-dl netx or NIR"))
    __import__("snnkit.hardware.cli", fromlist=["configure_simulate"]).configure_simulate(sub.add_parser("simulate", help="run test samples in Lava (float / fixed point) vs PyTorch: agreement, accuracy, energy"))
    s = sub.add_parser("train", help="train a network (TCJA-SNN configs, SpikeGPT) with checkpoints, logs and --resume")
    s.add_argument("model", choices=["tcja", "spikegpt", "rwkv"], help="model family (rwkv: the RWKV baseline, see --version)")
    s.add_argument("--config", help="tcja: dvs128_gesture, cifar10_dvs, ncaltech101, fashion_mnist, digits_dvs (default), "
                                    "cifar10_dvs_tet, ncaltech101_tet (TCJA-TET-SNN), a .yaml/.json file (see --print-config) or a .pt "
                                    "checkpoint (the config it trained with); spikegpt: tiny (default), 45m, 216m")
    s.add_argument("--print-config", action="store_true",
                   help="tcja: print the resolved network config as YAML (a file to edit and pass to --config) and exit")
    s.add_argument("--root", help="tcja: dataset folder (not needed for digits_dvs)")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bars (on a terminal: live bars; with stderr in a file: a line per quarter "
                        "epoch); the per-epoch lines still print")
    s.add_argument("--cache-dir", help="data cache folder (tcja: the frame cache, as for snnkit data prepare; "
                                       "spikegpt/rwkv: where --data shakespeare is kept); default $SNNKIT_DATA or "
                                       "~/.cache/snnkit/data")
    s.add_argument("--out", help="output folder: metrics.csv, tensorboard/, last.pt, best.pt; spikegpt/rwkv: also tokenizer.json "
                                 "(default runs/tcja, runs/spikegpt, runs/rwkv)")
    s.add_argument("--epochs", type=int_at_least(1), help="epochs to train (default: the config's; spikegpt/rwkv: 1. tcja: also the cosine "
                                               "schedule's T_max unless --t-max is given; in a config file, epochs "
                                               "without T_max does the same)")
    s.add_argument("--t-max", type=int_at_least(1), dest="t_max",
                   help="epochs of the cosine learning-rate half-period (default: the config's; tcja: --epochs when "
                        "that is given; spikegpt: --epochs). Keep it to resume a run with more --epochs")
    s.add_argument("--scheduler", choices=["cosine", "step", "none"],
                   help="tcja: learning-rate schedule (default: the config's, cosine): cosine over T_max epochs, step "
                        "(StepLR: x step_gamma every step_size epochs, set in a config file; default 0.1 every 32) "
                        "or none")
    s.add_argument("--attention", choices=["tcja", "none", "t_xa", "c_xa"], help="tcja ablation: no attention, "
                                                                              "T-XA or C-XA only (default: the config's)")
    s.add_argument("--tcja-init-gain", type=number_above(0), help="tcja: x PyTorch's default init of the TCJA convs (default: the config's; 1 = the original)")
    s.add_argument("--batch-size", type=int_at_least(1), help="samples per step and process (default: the config's; spikegpt/rwkv: 32)")
    s.add_argument("--lr", type=number_above(0), help="learning rate (default: the config's; spikegpt/rwkv: 6e-4)")
    s.add_argument("--seed", type=int_at_least(0), default=0,
                   help="initialisation, data order, augmentation and, for digits_dvs, the train/test split (default 0)")
    s.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="tcja: random flip + roll of the training frames (default: the config's; on for cifar10_dvs, "
                        "as its original script)")
    s.add_argument("--mixup", type=number_above(0, inclusive=True), metavar="ALPHA",
                   help="tcja: mix training batches with lam ~ Beta(ALPHA, ALPHA) and mix the losses (the original scripts' "
                        "-mixup is 0.5; default: the config's, 0 = off)")
    s.add_argument("--on-error", choices=["raise", "skip"],
                   help="tcja: unreadable samples stop the run (raise, the default) or are left out and listed (skip, "
                        "as snnkit data prepare --on-error skip; evaluation of the checkpoint does the same)")
    s.add_argument("--max-train", type=int_at_least(1), help="tcja: train on N training samples drawn at random (seeded by --seed; all classes, not the first N)")
    s.add_argument("--resume", action="store_true", help="continue from OUT/last.pt, bit for bit: the run's settings "
                                                         "must match (--epochs may grow with the same --t-max)")
    s.add_argument("--overwrite", action="store_true", help="start a new run in an OUT that holds one (its "
                                                            "checkpoints, metrics and logs are deleted first)")
    s.add_argument("--threads", type=int_at_least(1), help="torch threads (CPU results depend on it: the documented "
                                                           "numbers use 1, as make demo)")
    s.add_argument("--workers", type=int_at_least(0), default=0, help="DataLoader worker processes (default 0: load in the "
                                                          "training process)")
    s.add_argument("--device", default="auto", type=device_name, help="cpu, cuda, cuda:1, ... (default: CUDA when available; "
                                                    "under torchrun each rank's LOCAL_RANK device)")
    s.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"], default="auto",
                   help="mixed precision (default auto: fp16 autocast with loss scaling on CUDA, off on CPU)")
    __import__("snnkit.models.spikegpt_cli", fromlist=["configure_train"]).configure_train(s)
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("evaluate", help="a checkpoint: TCJA-SNN on its dataset (accuracy, per class, confusion "
                                        "matrix) or SpikeGPT / RWKV on a corpus (loss, bits per character, perplexity)")
    __import__("snnkit.models.spikegpt_cli", fromlist=["configure_evaluate"]).configure_evaluate(s)
    g = s.add_argument_group("tcja", "options for TCJA-SNN checkpoints")
    g.add_argument("--root", help="the dataset folder (default: the folder the run trained on, as its checkpoint "
                                  "remembers; not needed for digits_dvs)")
    s.add_argument("--cache-dir", help="data cache folder (tcja: the frame cache, default the run's; spikegpt/rwkv: "
                                       "where --data shakespeare is kept); else $SNNKIT_DATA or ~/.cache/snnkit/data")
    g.add_argument("--json", help="also write the report (scores, per class, confusion matrix) to this JSON file")
    g.add_argument("--workers", type=int_at_least(0), default=0, help="DataLoader worker processes (default 0: load in "
                                                                          "this process)")
    s.add_argument("--no-progress", action="store_true",
                   help="no progress bar (for logs written to a file), as snnkit train --no-progress")
    s.set_defaults(func=cmd_evaluate)
    __import__("snnkit.models.spikegpt_cli", fromlist=["configure_generate"]).configure_generate(sub.add_parser("generate", help="stream text sampled from a SpikeGPT / RWKV checkpoint"))
    s = sub.add_parser("generate-images", help="train the TCJA spiking VAE (OUT/vae.pt) or load one "
                                                         "(--checkpoint), write PNG grids of samples and reconstructions")
    s.add_argument("--images", help=".npy file of images [N, H, W] in [0, 1] (default: scikit-learn's digits)")
    s.add_argument("--checkpoint", help="a vae.pt an earlier run wrote: sample it and score it on its held-out "
                                        "images instead of training")
    s.add_argument("--epochs", type=int, help="training epochs (default 30)")
    s.add_argument("--attention", choices=["tcja", "t_xa", "c_xa", "none"],
                   help="attention in the VAE's encoder and decoder (default tcja)")
    s.add_argument("--n", type=int, default=64, help="number of samples in the grid (default %(default)s)")
    s.add_argument("--out", default="runs/vae", help="output folder (default %(default)s)")
    s.add_argument("--overwrite", action="store_true", help="train over a VAE that --out already holds (vae.pt)")
    s.add_argument("--seed", type=int, default=0, help="initialisation, held-out split and samples (default 0; with "
                                                       "--checkpoint the samples only: the split is the run's)")
    s.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads (default 1, the fastest for these small layers)")
    s.set_defaults(func=cmd_generate_images)
    return p


TRACEBACK_ENV = "SNNKIT_TRACEBACK"


def _resume_hint(args: argparse.Namespace) -> str:
    """What an interrupted ``snnkit train`` left: a checkpoint to resume from, or none yet."""
    out = getattr(args, "out", None) or f"runs/{getattr(args, 'model', 'tcja')}"   # train's default --out
    if not (Path(out) / "last.pt").is_file():
        return "; no epoch had finished, so there is no checkpoint: run the same command again (without --resume)"
    return "; the checkpoints hold the last finished epoch: the same command with --resume continues"


PATH_OPTIONS = ("out", "root", "cache_dir", "checkpoint", "images", "json", "data", "config", "calibration")


def _silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that the interpreter's final flush of output nobody reads
    does not fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured, embedded)
        pass


def main(argv: Optional[List[str]] = None) -> int:
    """Run one subcommand; bad input (ValueError, OSError) or a diverged training run (FloatingPointError) ends
    with its message and exit code 2, not a traceback; output piped into a reader that quits (``| head``) ends
    quietly with 141, as a tool killed by SIGPIPE."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:  # everything after it, --help included, is examples/demo.py's
        argv = ["demo", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    for key in PATH_OPTIONS:  # a quoted '~/runs' reaches us unexpanded: read it as the shell would have
        if isinstance(getattr(args, key, None), str):
            setattr(args, key, os.path.expanduser(getattr(args, key)))
    try:
        with clean_warnings(), sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except SystemExit as err:  # a subcommand's own message ("snnkit CMD: ..."): same exit code as below
        if not isinstance(err.code, str):
            raise
        print(err.code, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `snnkit generate ... | head`: the reader has gone; stop quietly, as other tools do
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except (ValueError, OSError, FloatingPointError) as err:  # FloatingPointError: a training run diverged
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        print(f"snnkit {args.command}: error: {err}\n(set {TRACEBACK_ENV}=1 to see the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        hint = _resume_hint(args) if args.command == "train" else ""
        how = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        print(f"\nsnnkit {args.command}: {how}{hint}", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
