"""Random-weight RWKV checkpoints in BlinkDL's official layout, written out key by key.

The shapes are spelled out here from RWKV-LM (``RWKV-v4neo`` ``RWKV_TimeMix``/``RWKV_ChannelMix``,
``RWKV-v5`` ``RWKV_Tmix_x052``/``RWKV_Tmix_x060``/``RWKV_CMix_x052``/``RWKV_CMix_x060``) rather than
taken from snnkit's module, so the loader is tested against the format, not against itself.
"""
from __future__ import annotations

from typing import Dict

import torch


def official_state_dict(version: int, vocab: int = 60, n_layer: int = 2, n_embd: int = 64, head_size: int = 16,
                        dim_ffn: int = 0, mix_lora: int = 8, decay_lora: int = 12, seed: int = 0,
                        dtype: torch.dtype = torch.float32) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + version)
    C, N = n_embd, head_size
    H = C // N
    F = dim_ffn or (4 * C if version == 4 else int(C * 3.5) // 32 * 32)

    def rnd(*shape: int, scale: float = 0.5, shift: float = 0.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale + shift

    def mix() -> torch.Tensor:
        return torch.rand(1, 1, C, generator=g)

    sd = {"emb.weight": rnd(vocab, C),
          "blocks.0.ln0.weight": rnd(C, scale=0.1, shift=1.0), "blocks.0.ln0.bias": rnd(C, scale=0.1)}
    for i in range(n_layer):
        p, a, f = f"blocks.{i}.", f"blocks.{i}.att.", f"blocks.{i}.ffn."
        for ln in ("ln1", "ln2"):
            sd[p + ln + ".weight"] = rnd(C, scale=0.1, shift=1.0)
            sd[p + ln + ".bias"] = rnd(C, scale=0.1)
        if version == 4:
            sd[a + "time_decay"] = rnd(C, scale=1.0, shift=-1.0)          # [C]
            sd[a + "time_first"] = rnd(C, scale=1.0)                      # [C]
            for x in "kvr":
                sd[a + f"time_mix_{x}"] = mix()                            # [1, 1, C]
        elif version == 5:
            for x in "kvrg":
                sd[a + f"time_mix_{x}"] = mix()
            sd[a + "time_decay"] = rnd(H, N, scale=1.0, shift=-1.0)       # [H, N]
            sd[a + "time_faaaa"] = rnd(H, N)                              # [H, N]
        else:
            for x in "xwkvrg":
                sd[a + f"time_maa_{x}"] = mix()
            sd[a + "time_maa_w1"] = rnd(C, 5 * mix_lora, scale=0.3)      # [C, 5 D]
            sd[a + "time_maa_w2"] = rnd(5, mix_lora, C, scale=0.3)       # [5, D, C]
            sd[a + "time_decay"] = rnd(1, 1, C, scale=1.0, shift=-1.0)   # [1, 1, C]
            sd[a + "time_decay_w1"] = rnd(C, decay_lora, scale=0.3)      # [C, Dd]
            sd[a + "time_decay_w2"] = rnd(decay_lora, C, scale=0.3)      # [Dd, C]
            sd[a + "time_faaaa"] = rnd(H, N)                              # [H, N]
        for x in ("key", "value", "receptance", "output") + (("gate",) if version > 4 else ()):
            sd[a + x + ".weight"] = rnd(C, C, scale=C ** -0.5)
        if version > 4:
            sd[a + "ln_x.weight"] = rnd(C, scale=0.1, shift=1.0)
            sd[a + "ln_x.bias"] = rnd(C, scale=0.1)
        pre = "time_maa" if version == 6 else "time_mix"
        sd[f + pre + "_k"] = mix()
        sd[f + pre + "_r"] = mix()
        sd[f + "key.weight"] = rnd(F, C, scale=C ** -0.5)
        sd[f + "receptance.weight"] = rnd(C, C, scale=C ** -0.5)
        sd[f + "value.weight"] = rnd(C, F, scale=F ** -0.5)
    sd["ln_out.weight"] = rnd(C, scale=0.1, shift=1.0)
    sd["ln_out.bias"] = rnd(C, scale=0.1)
    sd["head.weight"] = rnd(vocab, C, scale=C ** -0.5)
    return {k: v.to(dtype) for k, v in sd.items()}
