"""Model zoo: TCJA-SNN classifiers and the TCJA spiking VAE."""
from .tcja_snn import (CONFIGS, PAPER_CONFIGS, TCJASNN, TCJASNNConfig, build_model, count_parameters, get_config,
                       make_optimizer, make_scheduler)
from .tcja_vae import TCJAVAE, TCJAVAEConfig, kl_divergence, reconstruct, sample, save_grid_png, train_vae, vae_loss

__all__ = ["CONFIGS", "PAPER_CONFIGS", "TCJASNN", "TCJASNNConfig", "build_model", "count_parameters", "get_config",
           "make_optimizer", "make_scheduler",
           "TCJAVAE", "TCJAVAEConfig", "kl_divergence", "reconstruct", "sample", "save_grid_png", "train_vae",
           "vae_loss"]
