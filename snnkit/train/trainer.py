"""Train and evaluate spiking classifiers: loops, AMP, schedules, logs, checkpoints, resume, DDP.

Resuming from ``last.pt`` continues bit for bit: the data order of each epoch is a
permutation seeded by ``(seed, epoch)``, and every RNG state is saved at epoch end.
Under ``torchrun`` the model is wrapped in DistributedDataParallel and each rank trains
on its shard of every epoch's permutation; only rank 0 writes logs and checkpoints.
"""
from __future__ import annotations

import contextlib
import gc
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .. import __version__
from ..base import reset
from . import distributed as dist
from .checkpoint import (check_state_dict, config_differences, load_checkpoint, rng_state, save_checkpoint, seed_rngs,
                         set_rng_state)
from .config import TrainConfig
from .metrics import MetricLogger, format_epoch
from .mixup import mix_inputs, mixup_draw, mixup_loss
from ..progress import progress, write_line

Batch = Any
# TrainConfig entries a resumed run must share with its checkpoint (the rest say where and how fast, or how long:
# ``epochs`` may grow, which continues the same schedule when ``T_max`` stays)
RESUME_KEYS = ("batch_size", "lr", "weight_decay", "optimizer", "momentum", "scheduler", "T_max", "step_size",
               "gamma", "loss", "amp", "seed", "grad_clip", "input_layout", "drop_last", "mixup", "betas", "eps", "lr_min")


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: this rank's CUDA device (``LOCAL_RANK``) when CUDA is available, else the CPU; else ``name``.

    Asking for CUDA where there is none is an error here, before any data is loaded, not at the first batch.
    """
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but CUDA is not available here (use 'auto' or 'cpu')")
        return device
    if torch.cuda.is_available():
        import os

        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def set_epoch(dataset: Any, epoch: int) -> None:
    """Tell a dataset (through ``Subset``/``ConcatDataset`` wrappers) which epoch it serves, for its augmentation.

    Datasets with ``set_epoch`` (:class:`snnkit.data.FrameDataset`) seed each sample's augmentation
    from ``(seed, epoch, index)``; without this call every epoch would repeat epoch 0's draws.
    """
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    for inner in [getattr(dataset, "dataset", None), *getattr(dataset, "datasets", [])]:
        if inner is not None:
            set_epoch(inner, epoch)


def to_time_major(x: torch.Tensor, layout: str) -> torch.Tensor:
    """Put a batch in the model's layout: ``[B, T, ...] -> [T, B, ...]`` for ``"BT"``."""
    return x.transpose(0, 1).contiguous() if layout == "BT" else x


def rate(out: torch.Tensor) -> torch.Tensor:
    """Average a time-major output ``[T, B, K]`` over time; pass ``[B, K]`` through."""
    return out.mean(0) if out.ndim == 3 else out


TIE_RTOL = 1e-5  # scores this close to the row's top score (relative to its magnitude) count as a tie


def predicted_class(scores: torch.Tensor, rtol: float = TIE_RTOL) -> torch.Tensor:
    """The class of each row of ``scores [B, K]`` with the highest score, the first class on a tie.

    Spike-count scores tie often (a VotingLayer's k/10 per step); a plain ``argmax`` breaks such a
    tie by the rounding of the float sums, so float32 (training, ``snnkit evaluate``) and float64
    (``snnkit simulate``, Lava) runs of the same spikes predicted different classes. Scores within
    ``rtol`` of the row's top score tie: far above float32 rounding of T votes (~T * 6e-8), far below
    a vote's step (1 / (voting_size * T)).
    """
    s = scores.detach().double()
    top = s.max(-1, keepdim=True).values
    # the tolerance scales with the top score (the size of the rounding in the sums that reach it), not with the
    # row's largest |score|: a log-probability of -1000 would make 0.01 a tie; an infinite top ties only with itself
    tol = rtol * torch.where(top.isfinite(), top.abs(), torch.zeros_like(top))
    return (s >= top - tol).to(torch.uint8).argmax(-1)  # argmax returns the first maximal index


def classification_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r = rate(out).float()
    if kind == "mse_rate":
        return F.mse_loss(r, F.one_hot(y, r.shape[-1]).to(r.dtype))
    return F.cross_entropy(r, y)


class Trainer:
    """Fits ``model`` on ``train_set`` and evaluates on ``test_set`` as ``config`` says.

    ``arch`` and ``model_config`` are stored in checkpoints so that loading one into a
    different architecture fails with a clear message; ``data_source`` (e.g. the dataset folder)
    so that evaluating one later finds the data without being told again.
    """

    epoch_lines = True  # with config.progress: one summary line per finished epoch (format_epoch)
    bars = True  # with config.progress: live progress bars (off for logs redirected to a file; the lines stay)

    def __init__(
        self, model: nn.Module, train_set: Dataset, test_set: Optional[Dataset] = None,
        config: Optional[TrainConfig] = None, *, collate_fn: Optional[Callable[[List[Any]], Batch]] = None,
        arch: Optional[str] = None, model_config: Optional[Dict[str, Any]] = None,
        loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None, label: Optional[str] = None,
        model_config_defaults: Optional[Dict[str, Any]] = None, data_source: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.config = config or TrainConfig()
        if len(train_set) == 0:
            raise ValueError("Trainer: train_set is empty")
        if test_set is not None and len(test_set) == 0:
            raise ValueError("Trainer: test_set is empty (no samples to evaluate on): check the dataset's test split")
        dist.setup()
        self.device = pick_device(self.config.device)
        if self.config.deterministic:  # as the TCJA scripts do; matters on GPU only
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        self.model = model.to(self.device)
        self.train_set, self.test_set, self.collate_fn = train_set, test_set, collate_fn
        self.arch, self.model_config = arch, model_config
        self.model_config_defaults = model_config_defaults  # what a field missing from an older checkpoint means
        self.data_source = data_source  # where the data came from (dataset folder, cache), for evaluation later
        self.label = label  # names this run in the per-epoch lines (several trainings may print at once)
        self.loss_fn = loss_fn or (lambda out, y: classification_loss(self.config.loss, out, y))
        self.net: nn.Module = self.model
        if dist.world_size() > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = self._optimizer()
        self.scheduler = self._scheduler()
        self.amp_dtype = self._amp_dtype()
        if self.amp_dtype == torch.float16 and self.device.type == "cpu":
            warnings.warn("amp fp16 on the CPU runs several times slower than amp off (no fp16 kernels for most CPU "
                          "ops); use amp 'off' or 'bf16' there", stacklevel=2)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.out_dir = Path(self.config.out_dir)
        self.epoch = self.first_epoch = 0
        self.best = -math.inf
        self.history: List[Dict[str, Any]] = []
        self.rank_rngs: Optional[List[Dict[str, Any]]] = None  # under torchrun: every rank's RNG states, for resume

    def summary(self) -> str:
        """One line saying what this run trains, on what, where: printed by ``snnkit train`` before training."""
        c = self.config
        n_params = sum(p.numel() for p in self.model.parameters())
        test = f", test {len(self.test_set):,}" if self.test_set is not None else ""
        amp = {None: "off", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.amp_dtype]
        ranks = f" x {dist.world_size()} ranks" if dist.world_size() > 1 else ""
        head = f"[{self.label}] " if self.label else ""
        epochs = f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}"
        return (f"{head}{n_params:,} parameters; train {len(self.train_set):,}{test} samples; {epochs} "
                f"of batch {c.batch_size}{ranks}; {c.optimizer} lr {c.lr:g}, {c.scheduler} schedule; "
                f"{self.device} (amp {amp}, {c.num_workers} workers); outputs in {self.out_dir}")

    # ------------------------------------------------------------------ setup
    def _optimizer(self) -> torch.optim.Optimizer:
        c, params = self.config, self.model.parameters()
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay)
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _scheduler(self) -> Optional[torch.optim.lr_scheduler.LRScheduler]:
        c = self.config
        if c.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=c.cosine_period, eta_min=c.lr_min)
        if c.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=c.step_size, gamma=c.gamma)
        return None

    def _amp_dtype(self) -> Optional[torch.dtype]:
        amp = self.config.amp
        if amp == "auto":
            return torch.float16 if self.device.type == "cuda" else None
        return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _loader(self, dataset: Dataset, indices: Sequence[int], drop_last: bool = False) -> DataLoader:
        bs = self.config.batch_size
        batches = [list(indices[i:i + bs]) for i in range(0, len(indices), bs)]
        if drop_last and len(batches) > 1 and len(batches[-1]) < bs:
            batches.pop()
        return DataLoader(dataset, batch_sampler=batches, collate_fn=self.collate_fn,
                          num_workers=self.config.num_workers, pin_memory=self.device.type == "cuda")

    # ------------------------------------------------------------------ loops
    def _forward(self, x: torch.Tensor, y: torch.Tensor, step: Optional[int] = None) -> tuple:
        """Loss, correct count and size of one batch; ``step`` (training) mixes the batch when ``config.mixup``."""
        x = to_time_major(x.to(self.device, non_blocking=True), self.config.input_layout)
        y = y.to(self.device, non_blocking=True)
        loss_fn = self.loss_fn
        if step is not None and self.config.mixup > 0:
            lam, perm = mixup_draw(self.config.mixup, len(y), self.config.seed, self.epoch, dist.rank(), step)
            x = mix_inputs(x, perm, lam, batch_dim=0 if self.config.input_layout == "B" else 1)
            loss_fn = lambda out, y: mixup_loss(self.loss_fn, out, y, perm, lam)  # noqa: E731
        reset(self.model)
        # evaluation runs the bare model: DDP's forward may start a collective (its buffer broadcast), which a rank
        # holding no evaluation batch never joins
        net = self.net if step is not None else self.model
        # autocast trains only: evaluation runs in full precision, as the TCJA/SpikingJelly scripts' test loops (amp
        # in training alone) and `snnkit evaluate`, so the logged test accuracy (and best.pt's choice) is theirs
        with self._autocast() if step is not None else contextlib.nullcontext():
            out = net(x)
            loss = loss_fn(out, y)
        correct = (predicted_class(rate(out)) == y).sum().item()
        return loss, correct, len(y)

    def train_epoch(self) -> Dict[str, float]:
        """One pass over this rank's shard of the epoch's permutation."""
        self.net.train()
        set_epoch(self.train_set, self.epoch)  # new augmentation draws every epoch (workers fork after this)
        idx = dist.epoch_indices(len(self.train_set), self.config.seed, self.epoch, shuffle=True, pad=True)
        loader = self._loader(self.train_set, idx, drop_last=self.config.drop_last)
        tot_loss = tot_correct = tot_n = 0.0
        bar = _progress(loader, f"epoch {self.epoch + 1}/{self.config.epochs}", self.config.progress and self.bars)
        for step, (x, y) in enumerate(bar):
            loss, correct, n = self._forward(x, y, step)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.config.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            tot_loss, tot_correct, tot_n = tot_loss + loss.item() * n, tot_correct + correct, tot_n + n
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{tot_loss / tot_n:.4f}", acc=f"{tot_correct / tot_n:.3f}")
        tot_loss, tot_correct, tot_n = dist.all_reduce_sum([tot_loss, tot_correct, tot_n], self.device)
        return {"train_loss": tot_loss / tot_n, "train_acc": tot_correct / tot_n}

    @torch.no_grad()
    def evaluate(self, dataset: Optional[Dataset] = None) -> Dict[str, float]:
        """Loss and accuracy on ``dataset`` (default: the test set), summed over ranks."""
        dataset = dataset if dataset is not None else self.test_set
        if dataset is None or len(dataset) == 0:
            raise ValueError("Trainer.evaluate: no (non-empty) dataset to evaluate on")
        self.net.eval()
        dist.broadcast_buffers(self.model)  # rank 0's BatchNorm statistics on every rank, as DDP's forward would
        idx = dist.epoch_indices(len(dataset), self.config.seed, 0, shuffle=False, pad=False)
        tot_loss = tot_correct = tot_n = 0.0
        for x, y in _progress(self._loader(dataset, idx), "eval", self.config.progress and self.bars, leave=False):
            loss, correct, n = self._forward(x, y)
            tot_loss, tot_correct, tot_n = tot_loss + loss.item() * n, tot_correct + correct, tot_n + n
        tot_loss, tot_correct, tot_n = dist.all_reduce_sum([tot_loss, tot_correct, tot_n], self.device)
        reset(self.model)
        return {"loss": tot_loss / tot_n, "acc": tot_correct / tot_n}

    def fit(self, resume: Union[bool, str, Path] = False, stop_after: Optional[int] = None,
            overwrite: bool = False) -> List[Dict[str, Any]]:
        """Train to ``config.epochs`` epochs and return the history.

        ``resume``: continue from ``out_dir/last.pt`` (``True``) or a given checkpoint.
        ``stop_after``: run at most this many epochs in this call (for time-boxed jobs;
        a later ``fit(resume=True)`` continues exactly where it stopped).
        A new run refuses an ``out_dir`` that holds another run's ``last.pt`` (it would replace
        its checkpoints and mix its logs) unless ``overwrite=True``.
        """
        if not resume and not overwrite and self.epoch == 0 and (self.out_dir / "last.pt").is_file():
            raise ValueError(f"{str(self.out_dir)!r} already holds a run (last.pt): fit(resume=True) continues it, "
                             "fit(overwrite=True) writes over it, or give another out_dir")
        if not resume and self.epoch == 0:  # a new run; a second fit() on this trainer continues its RNG streams
            seed_rngs(self.config.seed)
        c = self.config
        if c.scheduler == "cosine" and c.epochs > c.cosine_period and dist.is_main():
            warnings.warn(f"{c.epochs} epochs run past the cosine schedule's T_max {c.cosine_period}: the learning "
                          f"rate reaches {c.lr_min:g} at epoch {c.cosine_period} and rises again after it (PyTorch's "
                          f"CosineAnnealingLR); a T_max of {c.epochs} anneals over the whole run", stacklevel=2)
        if resume:
            self.resume(self.out_dir / "last.pt" if resume is True else resume)
        last = self.config.epochs if stop_after is None else min(self.config.epochs, self.epoch + stop_after)
        self.first_epoch = self.epoch  # where this call starts: a resumed finished run trains nothing
        logger = MetricLogger(self.out_dir, self.config.tensorboard, self.history) if dist.is_main() else None
        try:
            while self.epoch < last:
                t0 = time.time()
                row: Dict[str, Any] = {"epoch": self.epoch + 1, **self.train_epoch()}
                self._check_finite(row)
                row["lr"] = self.optimizer.param_groups[0]["lr"]
                if self.scheduler is not None:
                    self.scheduler.step()
                # every eval_every epochs, and always the final one (a run ending between two evaluations logged
                # no final accuracy: 'last test accuracy nan')
                if self.test_set is not None and ((self.epoch + 1) % self.config.eval_every == 0
                                                  or self.epoch + 1 == self.config.epochs):
                    ev = self.evaluate()
                    row.update(test_loss=ev["loss"], test_acc=ev["acc"])
                row["seconds"] = time.time() - t0
                self.epoch += 1
                self.history.append(row)
                # each rank's RNG states (ranks draw apart: a model sampling in evaluation, uneven evaluation shards)
                self.rank_rngs = dist.all_gather_object(rng_state()) if dist.world_size() > 1 else None
                improved = row.get("test_acc", -math.inf) > self.best
                self.best = max(self.best, row.get("test_acc", -math.inf))
                if logger is not None:
                    logger.log(row)
                    if self.config.progress and self.epoch_lines:
                        line = format_epoch(row, self.config.epochs, self.best)
                        write_line(f"[{self.label}] {line}" if self.label else line)
                    if improved:  # before last.pt: a run stopped between the two redoes this epoch on resume
                        self.save(self.out_dir / "best.pt")  # (last.pt first, best.pt would stay the old epoch's)
                    self.save(self.out_dir / "last.pt")
                dist.barrier()
        finally:
            if logger is not None:
                logger.close()
        return self.history

    def _check_finite(self, row: Dict[str, Any]) -> None:
        """Stop a diverged run (NaN/inf weights) before it writes them over ``last.pt``: every later epoch is lost."""
        bad = [name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise FloatingPointError(
                f"training diverged in epoch {row['epoch']}: parameters {', '.join(bad[:4])}"
                f"{' ...' if len(bad) > 4 else ''} hold NaN or inf (train loss {row['train_loss']:.4g}); "
                f"{f'last.pt keeps epoch {self.epoch}' if self.epoch else 'no checkpoint was written'}: lower the lr, "
                "set grad_clip, or check the data and the loss for NaN")

    def close(self, wait: bool = True) -> None:
        """Under torchrun: drop the DDP wrapper, then leave the process group (call once training is over).

        A DDP wrapper still alive when the process group is destroyed made gloo runs abort at
        interpreter exit ("terminate called without an active exception", torch 2.13: 9 of 30 runs
        of a bare DDP script, 1 in 8 of our DDP test). ``wait=False`` after a failure skips the
        final barrier, which ranks that failed elsewhere would never reach.
        """
        if self.net is not self.model:
            self.net = self.model
            gc.collect()
        dist.teardown(wait)

    @contextlib.contextmanager
    def closing(self) -> Any:
        """``with trainer.closing(): trainer.fit()``: :meth:`close` afterwards, without the barrier after a failure."""
        try:
            yield self
        except BaseException:
            self.close(wait=False)
            raise
        self.close()

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> Dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "best": self.best,
            "history": self.history, "rng": rng_state(), "config": self.config.to_dict(),
            "arch": self.arch, "model_config": self.model_config, "snnkit_version": __version__,
            "data": self._data_sizes(), "threads": torch.get_num_threads(), "ranks": dist.world_size(),
            "data_source": self.data_source, "rank_rngs": self.rank_rngs,
        }

    def _data_sizes(self) -> Dict[str, Optional[int]]:
        return {"train": len(self.train_set), "test": None if self.test_set is None else len(self.test_set)}

    def save(self, path: Union[str, Path]) -> Path:
        return save_checkpoint(path, self.state())

    def resume(self, path: Union[str, Path]) -> None:
        """Restore everything from a checkpoint written by :meth:`save`."""
        ckpt = load_checkpoint(path, arch=self.arch)
        saved = ckpt.get("model_config")
        unused = ("epochs",) + (("T_max",) if self.config.scheduler != "cosine" else ())  # only cosine reads T_max
        differ = (config_differences(saved, self.model_config, defaults=self.model_config_defaults,
                                     ignore=unused) if None not in (saved, self.model_config) else "")
        keys = [k for k in RESUME_KEYS if k not in (self.model_config or {})]  # the model config names the rest
        saved_cfg = {**TrainConfig().to_dict(), "epochs": None, **(ckpt.get("config") or {})}
        saved_train, this_train = ({k: v for k, v in c.items() if k in keys} for c in (saved_cfg, self.config.to_dict()))
        if "T_max" in keys and self.config.scheduler == "cosine":  # the schedule's length, given or from epochs
            saved_train["T_max"], this_train["T_max"] = saved_cfg["T_max"] or saved_cfg["epochs"], self.config.cosine_period
        differ = "; ".join(d for d in (
            differ, config_differences(saved_train, this_train),
            config_differences(ckpt.get("data", self._data_sizes()), self._data_sizes(), names="samples"),
            # the number of ranks sets the global batch and each rank's shard (checkpoints before it was stored: unchecked)
            config_differences({"ranks": ckpt.get("ranks", dist.world_size())}, {"ranks": dist.world_size()})) if d)
        if differ:
            hint = " (to train a run longer on the same schedule, keep its T_max: --t-max)" if "T_max:" in differ else ""
            raise ValueError(f"checkpoint {str(path)!r} was saved by a run with other settings: {differ}. "
                             "Resuming continues that run; use its settings, or write a new run to another output "
                             f"folder{hint}")
        threads = ckpt.get("threads")
        if threads is not None and threads != torch.get_num_threads() and self.device.type == "cpu":
            warnings.warn(f"{path} was written with {threads} torch threads, this run uses {torch.get_num_threads()}: "
                          "CPU results depend on the thread count, so the resumed run will not repeat the "
                          "uninterrupted one bit for bit (set the same --threads)", stacklevel=2)
        check_state_dict(self.model, ckpt["model"], str(path))
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        scaler_state = ckpt["scaler"]
        if bool(scaler_state) != self.scaler.is_enabled():  # amp 'auto' is fp16 on CUDA and off on the CPU
            warnings.warn(f"{path} was written {'with' if scaler_state else 'without'} fp16 loss scaling and this run "
                          f"trains {'with' if self.scaler.is_enabled() else 'without'} it (amp 'auto' on another "
                          "device type?): the resumed run will not repeat the uninterrupted one bit for bit",
                          stacklevel=2)
        if scaler_state or not self.scaler.is_enabled():  # an fp16 run from a run without: its scaler starts afresh
            self.scaler.load_state_dict(scaler_state)
        self.epoch, self.best, self.history = ckpt["epoch"], ckpt["best"], list(ckpt["history"])
        rank_rngs = ckpt.get("rank_rngs")  # absent in checkpoints of one process (and older ones): rank 0's for all
        set_rng_state(rank_rngs[dist.rank()] if rank_rngs and len(rank_rngs) == dist.world_size() else ckpt["rng"])


def _progress(it: Any, desc: str, enabled: bool, leave: bool = True) -> Any:
    """Rank 0's progress bar over ``it`` (:func:`snnkit.progress.progress`: drawn on a terminal, lines in a log)."""
    return progress(it, desc=desc, enabled=enabled and dist.is_main(), leave=leave, unit="batch")
