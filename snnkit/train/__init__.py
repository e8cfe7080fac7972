"""Training system: config, trainer (loops, AMP, schedules, logs, checkpoints, resume, DDP)."""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, read_config, write_config
from .trainer import Trainer, classification_loss, rate

__all__ = ["TrainConfig", "Trainer", "load_checkpoint", "save_checkpoint", "read_config", "write_config",
           "classification_loss", "rate"]
