"""Model zoo: TCJA-SNN classifiers, the TCJA spiking VAE, and SpikeGPT."""
from .tcja_snn import (CONFIGS, PAPER_CONFIGS, TCJASNN, TCJASNNConfig, build_model, count_parameters, get_config,
                       load_config, make_optimizer, make_scheduler, resolve_config)
from .tcja_original import load_original_checkpoint, load_original_state_dict
from .spikegpt import SpikeGPT, SpikeGPTConfig
from .tcja_vae import TCJAVAE, TCJAVAEConfig, kl_divergence, reconstruct, sample, save_grid_png, train_vae, vae_loss

__all__ = ["CONFIGS", "PAPER_CONFIGS", "TCJASNN", "TCJASNNConfig", "build_model", "count_parameters", "get_config",
           "load_config", "make_optimizer", "make_scheduler", "resolve_config", "load_original_checkpoint",
           "load_original_state_dict",
           "TCJAVAE", "TCJAVAEConfig", "kl_divergence", "reconstruct", "sample", "save_grid_png", "train_vae",
           "vae_loss", "SpikeGPT", "SpikeGPTConfig"]
