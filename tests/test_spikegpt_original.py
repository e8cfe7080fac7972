"""SpikeGPT against a transcription of the original training model (ridgerchu/SpikeGPT ``src/model.py``).

The transcription keeps the original's layout ([B, T, C], ``ZeroPad2d`` token shift, LIF run on
``permute(1, 0, 2)``), computes WKV from its definition (the plain sums of exponentials, no
running state; the original calls a CUDA kernel for the same quantity) and uses SpikingJelly
2.0's ``LIFNode`` and ``ATan`` where the original uses the ``MultiStepLIFNode(tau=2, v_threshold=1,
ATan(alpha=2))`` and ``ATan()`` of its bundled SpikingJelly copy. Logits, the loss with
``L2Wrap`` and every parameter gradient must agree in float64.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from snnkit.models.spikegpt import SpikeGPT, get_config
from snnkit.models.spikegpt_train import lm_loss

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")


def wkv_definition(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``y_t = (sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u+k_t} v_t) / (same without v)``; ``k, v: [B, T, C]``,
    ``w = -exp(time_decay)``: the quantity the original's ``wkv_cuda.cu`` computes, summed directly."""
    T = k.shape[1]
    ys = []
    for t in range(T):
        i = torch.arange(t, dtype=k.dtype)
        e = torch.exp((t - 1 - i)[None, :, None] * w + k[:, :t])              # [B, t, C]
        cur = torch.exp(u + k[:, t])                                         # [B, C]
        ys.append(((e * v[:, :t]).sum(1) + cur * v[:, t]) / (e.sum(1) + cur))
    return torch.stack(ys, 1)


class L2Wrap(torch.autograd.Function):
    """As in src/model.py."""

    @staticmethod
    def forward(ctx, loss, y):  # type: ignore[override]
        ctx.save_for_backward(y)
        return loss

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        y = ctx.saved_tensors[0]
        factor = 1e-4 / (y.shape[0] * y.shape[1])
        maxx, ids = torch.max(y, -1, keepdim=True)
        gy = torch.zeros_like(y)
        gy.scatter_(-1, ids, maxx * factor)
        return (grad_output, gy)


class TimeMix(nn.Module):
    def __init__(self, C: int) -> None:
        super().__init__()
        self.time_decay = nn.Parameter(torch.zeros(C))
        self.time_first = nn.Parameter(torch.zeros(C))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_v = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, C))
        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v, sr = self.key(xk), self.value(xv), torch.sigmoid(self.receptance(xr))
        return self.output(sr * wkv_definition(-torch.exp(self.time_decay), self.time_first, k, v))


class ChannelMix(nn.Module):
    def __init__(self, C: int) -> None:
        super().__init__()
        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, C))
        self.key = nn.Linear(C, 4 * C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(4 * C, C, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xx = self.time_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        kv = self.value(torch.square(torch.relu(self.key(xk))))
        return torch.sigmoid(self.receptance(xr)) * kv


def _lif() -> nn.Module:
    return sj_neuron.LIFNode(tau=2., v_threshold=1., surrogate_function=sj_surrogate.ATan(alpha=2.0),
                             step_mode="m")


class Block(nn.Module):
    def __init__(self, C: int, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.lif1, self.lif2 = _lif(), _lif()
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(C)
        self.att, self.ffn = TimeMix(C), ChannelMix(C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer_id == 0:
            x = self.ln0(x)
        x = x + self.lif1(self.att(self.ln1(x)).permute(1, 0, 2)).permute(1, 0, 2)
        x = x + self.lif2(self.ffn(self.ln2(x)).permute(1, 0, 2)).permute(1, 0, 2)
        return x  # dropout 0 here, as in eval


class GPT(nn.Module):
    def __init__(self, V: int, C: int, L: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, C)
        self.blocks = nn.Sequential(*[Block(C, i) for i in range(L)])
        self.atan = sj_surrogate.ATan()
        self.ln_out = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor):
        x = self.head(self.ln_out(self.blocks(self.atan(self.emb(idx)))))
        loss = F.cross_entropy(x.view(-1, x.size(-1)), targets.view(-1))
        return x, L2Wrap.apply(loss, x)


def _pair():
    cfg = get_config("tiny", dropout=0.0, n_layer=2, n_embd=16, vocab_size=11, ctx_len=32)
    torch.manual_seed(0)
    ours = SpikeGPT(cfg).double()
    with torch.no_grad():  # move off the (partly zero) init so that every neuron population fires sometimes
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.4)
        for blk in ours.blocks:  # spread the decays so the WKV sums mix several tokens
            blk.att.time_decay.copy_(torch.linspace(-3, 1, cfg.n_embd, dtype=torch.float64))
    ref = GPT(cfg.vocab_size, cfg.n_embd, cfg.n_layer).double()
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return ours, ref


def test_spikegpt_equals_the_original_training_model_logits_loss_and_gradients() -> None:
    ours, ref = _pair()
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, ours.config.vocab_size, (3, 20), generator=g)
    tgt = torch.randint(0, ours.config.vocab_size, (3, 20), generator=g)

    logits = ours(idx)
    loss = lm_loss(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
    loss.backward()

    sj_functional.reset_net(ref)
    rates = []
    for blk in ref.blocks:
        for lif in (blk.lif1, blk.lif2):
            lif.register_forward_hook(lambda m, i, out: rates.append(out.mean().item()))
    ref_logits, ref_loss = ref(idx, tgt)
    ref_loss.backward()

    torch.testing.assert_close(logits, ref_logits, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-12)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=1e-8, atol=1e-10, msg=lambda m: f"{name}: {m}")
    # the comparison is only meaningful if every LIF layer both fired and stayed silent somewhere
    assert len(rates) == 4 and all(0.05 < r < 0.95 for r in rates), rates


def test_the_comparison_would_catch_a_changed_neuron() -> None:
    """The same check against a LIF with tau 3 must fail: the test sees the neuron dynamics."""
    ours, ref = _pair()
    for blk in ref.blocks:
        blk.lif1.tau = 3.0
    idx = torch.randint(0, ours.config.vocab_size, (3, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sj_functional.reset_net(ref)
        diff = (ours(idx) - ref(idx, idx)[0]).abs().max().item()
    assert diff > 1e-3
    assert math.isfinite(diff)
