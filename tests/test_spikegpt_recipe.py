"""SpikeGPT against the original's sizes, initialisation and training recipe, and long recurrent runs.

References: the layer shapes of ridgerchu/SpikeGPT ``src/model.py`` (parameter counts written
out by hand), its ``RWKV_Init`` and fancy time-parameter loops (transcribed below, loop by
loop), and the optimiser/schedule settings of its ``train.py`` and ``src/trainer.py``.
"""
from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from snnkit.models.spikegpt import CONFIGS, LayerState, SpikeGPT, get_config, param_count


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


# ---------------------------------------------------------------------------- sizes
def _original_count(V: int, C: int, L: int) -> int:
    """The original GPT's parameters, module by module (model.py: GPT, Block, RWKV_TimeMix, RWKV_ChannelMix)."""
    emb, head, ln_out, ln0 = V * C, C * V, 2 * C, 2 * C
    time_mix = C + C + 3 * C + 4 * C * C          # time_decay, time_first, time_mix_k/v/r; key, value, receptance, output
    channel_mix = 2 * C + C * 4 * C + 4 * C * C + C * C  # time_mix_k/r; key C->4C, value 4C->C, receptance C->C
    block = 2 * C + 2 * C + time_mix + channel_mix  # ln1, ln2
    return emb + head + ln_out + ln0 + L * block


def test_named_configs_match_the_original_sizes_by_hand_and_on_meta_tensors() -> None:
    c45, c216 = CONFIGS["45m"], CONFIGS["216m"]
    # run.py: "SpikeGPT-216M", n_layer 18, n_embd 768, ctx_len 1024, vocab 50277 (20B_tokenizer.json)
    assert (c216.n_layer, c216.n_embd, c216.ctx_len, c216.vocab_size, c216.ffn_mult) == (18, 768, 1024, 50277, 4)
    assert (c45.n_layer, c45.n_embd, c45.ctx_len, c45.ffn_mult) == (12, 512, 1024, 4)
    # by hand: per layer 11C + 5C^2 + 2C*4C, plus 2VC + 4C
    assert 18 * (11 * 768 + 5 * 768 ** 2 + 8 * 768 ** 2) + 2 * 50277 * 768 + 4 * 768 == 215_399_424
    assert 12 * (11 * 512 + 13 * 512 ** 2) + 2 * 6064 * 512 + 4 * 512 == 47_173_632
    assert _original_count(50277, 768, 18) == param_count(c216) == 215_399_424  # the paper's "216M"
    assert _original_count(6064, 512, 12) == param_count(c45) == 47_173_632
    assert _original_count(77, 512, 12) == param_count(get_config("45m", vocab_size=77)) == 41_042_944
    for cfg in (c45, c216):  # the module itself, without allocating it
        with torch.device("meta"):
            m = SpikeGPT(cfg)
        assert sum(p.numel() for p in m.parameters()) == param_count(cfg)
        assert m.blocks[0].ffn.key.weight.shape == (4 * cfg.n_embd, cfg.n_embd)
        assert m.head.weight.shape == (cfg.vocab_size, cfg.n_embd) and m.head.bias is None


# ---------------------------------------------------------------------------- initialisation
def _original_time_params(C: int, L: int, i: int) -> dict:
    """RWKV_TimeMix / RWKV_ChannelMix ``__init__``'s fancy init, with the original's Python loops."""
    r01, r10 = i / (L - 1), 1.0 - i / L
    decay = torch.ones(C)
    for h in range(C):
        decay[h] = -5 + 8 * (h / (C - 1)) ** (0.7 + 1.3 * r01)
    zigzag = torch.tensor([(j + 1) % 3 - 1 for j in range(C)]) * 0.5
    x = torch.ones(1, 1, C)
    for j in range(C):
        x[0, 0, j] = j / C
    return {"att.time_decay": decay, "att.time_first": torch.ones(C) * math.log(0.3) + zigzag,
            "att.time_mix_k": torch.pow(x, r10), "att.time_mix_v": torch.pow(x, r10) + 0.3 * r01,
            "att.time_mix_r": torch.pow(x, 0.5 * r10), "ffn.time_mix_k": torch.pow(x, r10),
            "ffn.time_mix_r": torch.pow(x, r10)}


def _original_gain(name: str, shape: torch.Size, V: int, C: int) -> float:
    """RWKV_Init's gain for one weight (0: zeros); scale_init 0 on five matrices per block."""
    if name == "emb.weight":
        return math.sqrt(max(shape[0], shape[1])) * 1e-4
    gain = math.sqrt(shape[0] / shape[1]) if shape[0] > shape[1] else 1.0
    if tuple(shape) == (V, C):
        return gain * 0.5
    zero = ("att.key.", "att.receptance.", "att.output.", "ffn.value.", "ffn.receptance.")
    return 0.0 if any(z in name for z in zero) else gain


def test_initialisation_follows_the_original_rules_per_parameter() -> None:
    V, C, L = 40, 24, 3
    torch.manual_seed(0)
    m = SpikeGPT(get_config("tiny", vocab_size=V, n_embd=C, n_layer=L))
    for i, blk in enumerate(m.blocks):
        for key, want in _original_time_params(C, L, i).items():
            got = blk.get_parameter(key)
            assert got.shape == want.shape, key
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6, msg=f"blocks.{i}.{key}")
    checked = 0
    for name, w in m.named_parameters():
        if w.ndim != 2:
            continue
        gain = _original_gain(name, w.shape, V, C)
        if gain == 0.0:
            assert torch.count_nonzero(w) == 0, name
        else:  # orthogonal with this gain: the rows (or columns) are orthogonal with norm `gain`
            g = w @ w.t() if w.shape[0] <= w.shape[1] else w.t() @ w
            torch.testing.assert_close(g, gain ** 2 * torch.eye(g.shape[0]), rtol=0, atol=1e-5 * max(1.0, gain ** 2),
                                       msg=name)
        checked += 1
    assert checked == 2 + 7 * L
    for name, p in m.named_parameters():  # LayerNorms start at (1, 0)
        if ".ln" in name or name.startswith("ln_out"):
            assert torch.equal(p, torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p)), name


# ---------------------------------------------------------------------------- training recipe
def _trainer(tmp_path, **overrides):
    from snnkit.data.text import TokenDataset
    from snnkit.models.spikegpt_train import LMWrapper, _collate, original_recipe
    from snnkit.train import Trainer

    cfg = original_recipe(out_dir=str(tmp_path), tensorboard=False, progress=False, loss="ce", input_layout="B",
                          **overrides)
    model = SpikeGPT(get_config("tiny", vocab_size=8, n_embd=16, n_layer=1))
    return Trainer(LMWrapper(model), TokenDataset(torch.arange(40) % 8, 8), None, cfg, collate_fn=_collate)


def test_original_recipe_sets_the_original_optimiser(tmp_path) -> None:
    tr = _trainer(tmp_path, epochs=4)
    assert isinstance(tr.optimizer, torch.optim.Adam)
    (group,) = tr.optimizer.param_groups
    # train.py: lr_init 6e-4, betas (0.9, 0.99), eps 4e-9, grad_norm_clip 1.0; model.py: weight_decay 0 everywhere
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (6e-4, (0.9, 0.99), 4e-9, 0.0)
    assert tr.config.grad_clip == 1.0 and tr.config.batch_size == 12


def test_cosine_schedule_ends_at_the_original_final_rate(tmp_path) -> None:
    E = 5
    tr = _trainer(tmp_path, epochs=E)
    lr_init, lr_final = 6e-4, 1e-5
    f = lr_final / lr_init
    for e in range(E + 1):  # trainer.py: lr_mult = (0.5 + f/2) + (0.5 - f/2) cos(pi progress), read at epoch starts
        want = lr_init * ((0.5 + f / 2) + (0.5 - f / 2) * math.cos(math.pi * e / E))
        assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15), e
        tr.optimizer.step()
        tr.scheduler.step()
    small = _trainer(tmp_path, epochs=2, lr=3e-6)  # fine-tuning rates below lr_final do not rise
    assert small.config.lr_min == 3e-6


def test_train_config_checks_and_round_trips_the_new_optimiser_fields(tmp_path) -> None:
    from snnkit.train import TrainConfig

    cfg = TrainConfig(betas=[0.8, 0.95], eps=1e-6, lr_min=1e-4)
    assert cfg.betas == (0.8, 0.95)
    for suffix in (".json", ".yaml"):
        assert TrainConfig.load(cfg.save(tmp_path / f"c{suffix}")) == cfg
    assert TrainConfig().betas == (0.9, 0.999) and TrainConfig().eps == 1e-8 and TrainConfig().lr_min == 0.0
    for bad, what in ((dict(betas=(0.9,)), "betas"), (dict(betas=(0.9, 1.0)), "betas"), (dict(betas="ab"), "betas"),
                      (dict(eps=0.0), "eps"), (dict(eps=-1e-8), "eps"), (dict(lr_min=-1.0), "lr_min"),
                      (dict(lr_min=float("inf")), "lr_min"), (dict(lr=1e-4, lr_min=1e-3), "lr_min")):
        with pytest.raises(ValueError, match=f"TrainConfig.{what}"):
            TrainConfig(**bad)


# ---------------------------------------------------------------------------- recurrent mode, long sequences
def _fired_model() -> SpikeGPT:
    torch.manual_seed(0)
    m = SpikeGPT(get_config("tiny", ctx_len=16, dropout=0.0)).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return m


@torch.no_grad()
def test_step_equals_parallel_over_many_windows_with_saved_and_restored_state() -> None:
    m = _fired_model()
    T = 70  # over four ctx_len=16 windows
    tok = torch.randint(0, m.config.vocab_size, (2, T), generator=torch.Generator().manual_seed(2))
    long = SpikeGPT(get_config(m.config, ctx_len=T)).double().eval()  # the same weights, one parallel pass
    long.load_state_dict(m.state_dict())
    whole, _ = long.forward_state(tok)
    state, outs, saved = None, [], None
    for t in range(T):
        if t == 37:  # save the state through a file (torch.save/torch.load) and continue from the copy
            buf = io.BytesIO()
            torch.save([tuple(s) for s in state], buf)
            buf.seek(0)
            saved = copy.deepcopy(state)
            state = [LayerState(*s) for s in torch.load(buf)]
        out, state = m.step(tok[:, t], state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1), whole, rtol=1e-9, atol=1e-9)
    # resuming the saved copy again repeats the same continuation (the state was not changed in place)
    again, st = [], saved
    for t in range(37, T):
        out, st = m.step(tok[:, t], st)
        again.append(out)
    torch.testing.assert_close(torch.stack(again, 1), whole[:, 37:], rtol=1e-9, atol=1e-9)
    # and the membranes carried across windows matter: restarting them at a window edge changes the output
    _, st = m.forward_state(tok[:, :16])
    cut = [s._replace(lif_att=torch.zeros_like(s.lif_att), lif_ffn=torch.zeros_like(s.lif_ffn)) for s in st]
    assert not torch.allclose(m.forward_state(tok[:, 16:32], cut)[0], whole[:, 16:32])


# ---------------------------------------------------------------------------- evaluate_bpc by hand
@torch.no_grad()
def test_evaluate_bpc_equals_a_hand_computed_value() -> None:
    from snnkit.models.spikegpt_train import evaluate_bpc

    V = 5
    m = SpikeGPT(get_config("tiny", vocab_size=V, n_embd=8, n_layer=1, ctx_len=4, dropout=0.0))
    m.ln_out.weight.zero_()  # LN_out(x) = bias whatever x: every token gets the same logits W b
    m.ln_out.bias.copy_(torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 0]))
    m.head.weight.zero_()
    m.head.weight[:, 0] = torch.tensor([0.0, 1.0, 2.0, 0.0, -1.0])  # logits (0, 1, 2, 0, -1)
    z = 1 + math.e + math.e ** 2 + 1 + math.e ** -1
    nll = [math.log(z) - logit for logit in (0.0, 1.0, 2.0, 0.0, -1.0)]  # -log p(token)
    stream = [0, 2, 2, 1, 4, 3, 2, 0, 1, 1, 2]  # 10 predictions: every token after the first
    want = sum(nll[t] for t in stream[1:]) / 10
    for batch_size in (1, 3, 4):  # rows of 10, 3 (+1 in the tail), 2 (+2): windows of 4, state carried
        res = evaluate_bpc(m, stream, batch_size=batch_size)
        assert res["tokens"] == 10.0
        assert res["loss"] == pytest.approx(want, rel=1e-6)
        assert res["bits_per_token"] == pytest.approx(want / math.log(2), rel=1e-6)
        assert res["bpc"] == pytest.approx(want / math.log(2), rel=1e-6)
    res = evaluate_bpc(m, stream, batch_size=2, chars=25)  # 25 characters for the 10 predicted tokens
    assert res["bpc"] == pytest.approx(want * 10 / math.log(2) / 25, rel=1e-6)
