"""Training configuration: one dataclass, serialisable to JSON and YAML."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, Hashable, List, Optional, Tuple, Union

from .._io import atomic_write_text
from ..functional.validation import is_int

_CHOICES = {
    "optimizer": ("adam", "adamw", "sgd"),
    "scheduler": ("cosine", "step", "none"),
    "loss": ("mse_rate", "ce"),
    "amp": ("auto", "off", "bf16", "fp16"),
    "input_layout": ("BT", "TB", "B"),
}


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, loss, precision, seed, where outputs go.

    ``input_layout`` says what the loader yields: ``"BT"`` batches ``[B, T, ...]`` (transposed
    to time-major for the model), ``"TB"`` already time-major, ``"B"`` static inputs.
    ``loss``: ``"mse_rate"`` is MSE between the output firing rate and the one-hot label
    (TCJA-SNN's loss); ``"ce"`` is cross-entropy on the time-averaged output.
    ``T_max``: epochs of one cosine half-period (``None``: ``epochs``; the paper's scripts
    anneal over 1024 epochs whatever ``epochs`` is). ``num_workers``: DataLoader worker processes.
    ``device``: ``"auto"`` (CUDA when available) or a torch device string such as ``"cuda:1"``.
    ``batch_size`` is per process: under ``torchrun`` with N ranks a step sees N x ``batch_size`` samples.
    ``mixup``: alpha of :mod:`snnkit.train.mixup` (training batches only; train accuracy counts the unmixed labels).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    scheduler: str = "cosine"
    T_max: Optional[int] = None
    step_size: int = 30
    gamma: float = 0.1
    loss: str = "mse_rate"
    amp: str = "auto"
    seed: int = 0
    out_dir: str = "runs/default"
    tensorboard: bool = True
    num_workers: int = 0
    grad_clip: float = 0.0
    device: str = "auto"
    input_layout: str = "BT"
    progress: bool = True
    eval_every: int = 1  # evaluate the test set every N epochs, and after the final epoch
    drop_last: bool = False  # leave out each epoch's last partial training batch
    deterministic: bool = True  # cuDNN: deterministic algorithms, no autotuning (resume bit for bit on GPU too)
    mixup: float = 0.0  # Beta(alpha, alpha) of batch mixup while training (0: off; the TCJA scripts' -mixup is 0.5)
    betas: Tuple[float, float] = (0.9, 0.999)  # Adam/AdamW moment decays (torch's defaults; SpikeGPT: 0.9, 0.99)
    eps: float = 1e-8  # Adam/AdamW denominator guard (torch's default; SpikeGPT: 4e-9)
    lr_min: float = 0.0  # where the cosine schedule ends (CosineAnnealingLR's eta_min; SpikeGPT: lr_final 1e-5)

    def __post_init__(self) -> None:
        for key, options in _CHOICES.items():
            if getattr(self, key) not in options:
                raise ValueError(f"TrainConfig.{key} must be one of {options}, got {getattr(self, key)!r}")
        for key in ("epochs", "batch_size", "eval_every"):
            val = getattr(self, key)
            if not is_int(val) or val < 1:
                raise ValueError(f"TrainConfig.{key} must be a positive integer, got {val!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        # checked here, not where they are first read: StepLR divides by step_size after a whole epoch, mixup seeds
        # numpy with the seed at the first batch, and a NaN or negative grad_clip turned clipping off without a word
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"TrainConfig.seed must be a non-negative integer, got {self.seed!r}")
        if not is_int(self.step_size) or self.step_size < 1:
            raise ValueError(f"TrainConfig.step_size must be a positive integer, got {self.step_size!r}")
        for key, low in (("gamma", "> 0"), ("grad_clip", ">= 0 (0: no clipping)"), ("weight_decay", ">= 0"),
                         ("momentum", ">= 0")):
            val = getattr(self, key)
            if (isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= val < math.inf
                    or (key == "gamma" and val == 0)):
                raise ValueError(f"TrainConfig.{key} must be a finite number {low}, got {val!r}")
        betas = self.betas
        if (isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2
                or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))  # a list after JSON/YAML: one type, so configs compare equal
        for key in ("eps", "lr_min"):
            val = getattr(self, key)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= val < math.inf:
                raise ValueError(f"TrainConfig.{key} must be a finite number >= 0, got {val!r}")
        if not self.eps > 0:
            raise ValueError(f"TrainConfig.eps must be > 0, got {self.eps!r}")
        if self.lr_min > self.lr:  # the cosine would climb from lr to lr_min
            raise ValueError(f"TrainConfig.lr_min ({self.lr_min!r}) must not exceed lr ({self.lr!r}): the cosine "
                             "schedule goes from lr down to lr_min")
        if self.T_max is not None and (not is_int(self.T_max) or self.T_max < 1):
            raise ValueError(f"TrainConfig.T_max must be a positive integer or None, got {self.T_max!r}")
        if isinstance(self.mixup, bool) or not isinstance(self.mixup, (int, float)) or not 0 <= self.mixup < math.inf:
            raise ValueError(f"TrainConfig.mixup must be a number >= 0 (0: off), got {self.mixup!r}")
        if not is_int(self.num_workers) or self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be a non-negative integer, got {self.num_workers!r}")
        if self.device != "auto":
            import torch

            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"TrainConfig.device must be 'auto' or a torch device such as 'cpu', 'cuda' or "
                                 f"'cuda:1', got {self.device!r}") from None

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON/YAML data (``betas`` as a list: YAML's safe dumper refuses tuples)."""
        return {**asdict(self), "betas": list(self.betas)}

    @property
    def cosine_period(self) -> int:
        """Epochs of the cosine schedule's half-period: ``T_max``, or ``epochs`` when unset."""
        return self.T_max if self.T_max is not None else self.epochs

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)

    def save(self, path: Union[str, Path]) -> Path:
        """Write JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
        return write_config(self.to_dict(), path)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "TrainConfig":
        return cls.from_dict(read_config(path))


def write_config(data: Dict[str, Any], path: Union[str, Path]) -> Path:
    """Write a config dict as JSON or YAML (by suffix), via a temp file and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2)
    return atomic_write_text(path, text)


def _unique_keys(pairs: List[Tuple[Any, Any]]) -> Dict[Any, Any]:
    """A mapping from key-value pairs; ``ValueError`` naming a key given twice (which would keep only the last)."""
    out: Dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice")
        out[key] = value
    return out


def _unique_key_loader() -> Any:
    """A YAML SafeLoader that refuses duplicate mapping keys (plain ``safe_load`` keeps the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Dict[Any, Any]:
            seen: set = set()
            for key_node, _ in node.value:   # the keys written in this mapping (a merge's may be overridden)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, Hashable) and key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                            key_node.start_mark)
                seen.add(key) if isinstance(key, Hashable) else None
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_config(path: Union[str, Path]) -> Dict[str, Any]:
    """Read a JSON or YAML config file into a dict, with a clear error if it is missing or malformed."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"config file {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.load(text, Loader=_unique_key_loader())
        else:
            data = json.loads(text, object_pairs_hook=_unique_keys)
    except Exception as err:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"config file {str(path)!r} is not valid {path.suffix[1:].upper() or 'JSON'}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}")
    return data
