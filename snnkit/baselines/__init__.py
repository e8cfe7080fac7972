"""ANN baselines beside the spiking models.

* :mod:`snnkit.baselines.rwkv`: RWKV-4, Eagle (RWKV-5.2) and Finch (RWKV-6) language models that
  load BlinkDL's RWKV-LM checkpoints unchanged, the RWKV World tokenizer and ``tokenizer.json``.
* :mod:`snnkit.baselines.dnagrinder`: a dnaGrinder-style encoder-only genomic masked-LM
  transformer (ALiBi, BPE on DNA, sequence-length warm-up, dynamic masking) with a
  sequence-classification head.
* search, recommendation, retrieval and graphs (import the submodule): :mod:`.rankdfm`
  (RankDFM), :mod:`.smile` (SMILE), :mod:`.diffusiongs` (DiffusionGS), :mod:`.chatlr` (ChatLR),
  :mod:`.deepccp` (DeepCCP), :mod:`.pathformer` (PathFormer); shared metrics in :mod:`.metrics`.
"""
from .dnagrinder import (DNACollate, DNAGrinder, DNAGrinderConfig, DNAGrinderForMaskedLM,
                         DNAGrinderForSequenceClassification, DNATokenizer, SequenceLengthWarmup, evaluate_classifier,
                         mask_tokens, pretrain_mlm)
from .rwkv import (RWKV, RWKVConfig, WorldTokenizer, config_from_state_dict, detect_version, load_tokenizer,
                   sample_logits, wkv_heads)

__all__ = [
    "RWKV", "RWKVConfig", "WorldTokenizer", "load_tokenizer", "detect_version", "config_from_state_dict",
    "sample_logits", "wkv_heads",
    "DNATokenizer", "DNAGrinderConfig", "DNAGrinder", "DNAGrinderForMaskedLM", "DNAGrinderForSequenceClassification",
    "SequenceLengthWarmup", "mask_tokens", "pretrain_mlm", "DNACollate", "evaluate_classifier",
]
