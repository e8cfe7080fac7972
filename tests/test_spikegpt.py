"""SpikeGPT: shapes, recurrent step == parallel forward (logits and spikes), parameter counts, bad input."""
from __future__ import annotations

import pytest
import torch

from snnkit.kernels import wkv as W
from snnkit.models.spikegpt import (CONFIGS, LayerState, SpikeGPT, SpikeGPTConfig, get_config, param_count)
from snnkit.train.checkpoint import check_state_dict


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


def _model(dtype: torch.dtype = torch.float64, **overrides) -> SpikeGPT:
    """The tiny config with weights perturbed away from the (partly zero) init so that neurons fire."""
    cfg = get_config("tiny", dropout=0.0, **overrides)
    torch.manual_seed(0)
    m = SpikeGPT(cfg).to(dtype).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return m


def _record_spikes(model: SpikeGPT) -> tuple:
    """Forward hooks on every LIF layer: (record dict, hook handles)."""
    rec: dict = {}
    handles = []
    for i, blk in enumerate(model.blocks):
        for name, lif in (("att", blk.lif1), ("ffn", blk.lif2)):
            handles.append(lif.register_forward_hook(
                lambda mod, inp, out, key=f"{i}.{name}": rec.setdefault(key, []).append(out[0].detach())))
    return rec, handles


def test_shapes() -> None:
    m = _model(torch.float32)
    tok = torch.randint(0, m.config.vocab_size, (3, 17))
    assert m(tok).shape == (3, 17, m.config.vocab_size)
    logits, state = m.step(tok[:, 0])
    assert logits.shape == (3, m.config.vocab_size)
    assert len(state) == m.config.n_layer and all(isinstance(s, LayerState) for s in state)
    assert all(t.shape == (3, m.config.n_embd) for s in state for t in s)


def test_step_by_step_equals_parallel_forward_logits_and_spikes() -> None:
    m = _model(torch.float64)
    tok = torch.randint(0, m.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
    rec, handles = _record_spikes(m)
    logits = m(tok)
    parallel = {k: v[0] for k, v in rec.items()}
    rec.clear()
    state, outs = None, []
    for t in range(tok.shape[1]):
        out, state = m.step(tok[:, t], state)
        outs.append(out)
    for h in handles:
        h.remove()
    torch.testing.assert_close(torch.stack(outs, 1), logits, rtol=1e-9, atol=1e-10)
    for key, s in parallel.items():
        rate = s.mean().item()
        assert 0.02 < rate < 0.98, f"{key}: firing rate {rate} makes the comparison trivial"
        assert torch.equal(torch.cat(rec[key]), s), key


def test_forward_state_in_pieces_equals_one_call() -> None:
    m = _model(torch.float64)
    tok = torch.randint(0, m.config.vocab_size, (2, 30))
    full, st_full = m.forward_state(tok)
    a, st = m.forward_state(tok[:, :11])
    b, st = m.forward_state(tok[:, 11:], st)
    torch.testing.assert_close(torch.cat([a, b], 1), full, rtol=1e-9, atol=1e-10)
    for s1, s2 in zip(st, st_full):
        for x, y in zip(s1, s2):
            torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-10)


def test_wkv_backends_give_the_same_model_output() -> None:
    tok = torch.randint(0, 96, (2, 20))
    outs = [_model(torch.float64, wkv_backend=b)(tok) for b in ["reference", "chunked"] + (["cpu"] if W.available() else [])]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-9, atol=1e-10)


def test_gradients_reach_every_parameter() -> None:
    m = _model(torch.float32).train()
    tok = torch.randint(0, m.config.vocab_size, (2, 16))
    logits = m(tok[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tok[:, 1:].reshape(-1))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_a_few_steps_of_training_lower_the_loss() -> None:
    torch.manual_seed(0)
    m = SpikeGPT(get_config("tiny", vocab_size=8, n_embd=32, dropout=0.0))
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 8)[None].repeat(4, 1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        logits = m(data[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), data[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_param_count_formula_matches_the_module() -> None:
    for cfg in (get_config("tiny"), SpikeGPTConfig(vocab_size=50, n_layer=3, n_embd=48, ffn_mult=2, ctx_len=8),
                SpikeGPTConfig(vocab_size=7, n_layer=1, n_embd=16, ctx_len=4)):
        m = SpikeGPT(cfg)
        assert param_count(cfg) == sum(p.numel() for p in m.parameters())


def test_named_configs_have_the_papers_sizes() -> None:
    c216 = CONFIGS["216m"]
    assert (c216.n_layer, c216.n_embd, c216.ctx_len, c216.vocab_size) == (18, 768, 1024, 50277)
    assert 214e6 < param_count(c216) < 217e6
    c45 = CONFIGS["45m"]
    assert (c45.n_layer, c45.n_embd, c45.ctx_len) == (12, 512, 1024)
    assert 40e6 < param_count(c45) < 50e6


def test_config_round_trip_and_errors() -> None:
    cfg = get_config("tiny", n_layer=3)
    assert SpikeGPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        SpikeGPTConfig.from_dict({**cfg.to_dict(), "n_head": 4})
    with pytest.raises(ValueError, match="unknown SpikeGPT config"):
        get_config("1b")
    with pytest.raises(ValueError, match="n_embd must be a positive integer"):
        SpikeGPTConfig(n_embd=0)
    with pytest.raises(ValueError, match="wkv_backend"):
        SpikeGPTConfig(wkv_backend="cuda")


def test_bad_input_is_rejected_clearly() -> None:
    m = _model(torch.float32)
    V, L = m.config.vocab_size, m.config.ctx_len
    with pytest.raises(ValueError, match=f"longer than ctx_len={L}"):
        m(torch.zeros(1, L + 1, dtype=torch.long))
    with pytest.raises(ValueError, match=rf"token id {V} is outside the vocabulary \[0, {V}\)"):
        m(torch.tensor([[1, V, 2]]))
    with pytest.raises(ValueError, match="token id -1 is outside"):
        m.step(torch.tensor([-1, 0]))
    with pytest.raises(TypeError, match="integer token ids"):
        m(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"non-empty \[B, T\]"):
        m(torch.zeros(4, dtype=torch.long))
    _, state = m.step(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="batch/width"):
        m.step(torch.tensor([1, 2, 3]), state)
    with pytest.raises(ValueError, match="list of 2 LayerState"):
        m.step(torch.tensor([1, 2]), state[:1])


def test_weights_of_another_config_are_refused(tmp_path) -> None:
    m = SpikeGPT("tiny")
    other = SpikeGPT(get_config("tiny", n_embd=32))
    with pytest.raises(ValueError, match="different architecture"):
        check_state_dict(m, other.state_dict(), "other.pth")
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(ValueError, match="shape mismatch"):
        m.load_weights(path)
    with pytest.raises(FileNotFoundError):
        m.load_weights(tmp_path / "missing.pth")


def test_load_weights_accepts_original_layout_and_checkpoints(tmp_path) -> None:
    src = _model(torch.float32)
    sd = src.state_dict()
    # the original SpikeGPT parameter names (a .pth saved by its train.py has exactly these)
    for key in ("emb.weight", "blocks.0.ln0.weight", "blocks.1.att.time_decay", "blocks.1.att.time_mix_k",
                "blocks.1.ffn.key.weight", "ln_out.bias", "head.weight"):
        assert key in sd
    torch.save({"model": sd, "snnkit_version": "0"}, tmp_path / "ckpt.pt")
    dst = SpikeGPT(get_config("tiny", dropout=0.0)).eval()
    dst.load_weights(tmp_path / "ckpt.pt")
    tok = torch.randint(0, 96, (1, 9))
    torch.testing.assert_close(dst(tok), src(tok))


# ---------------------------------------------------------------------------- training, evaluation, generation
def test_train_lm_with_the_shared_trainer_and_resume(tmp_path) -> None:
    from snnkit.data.text import TokenDataset
    from snnkit.models.spikegpt_train import train_lm
    from snnkit.train import TrainConfig, load_checkpoint

    torch.manual_seed(0)
    tokens = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 40)
    train, valid = TokenDataset(tokens, 16, stride=8), TokenDataset(tokens[:80], 16)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, out_dir=str(tmp_path), tensorboard=False, progress=False,
                      scheduler="none")
    model = SpikeGPT(get_config("tiny", vocab_size=8, n_embd=32, dropout=0.0))
    trainer = train_lm(model, train, valid, cfg, stop_after=1)
    assert len(trainer.history) == 1 and 0 <= trainer.history[0]["test_acc"] <= 1
    trainer = train_lm(SpikeGPT(get_config("tiny", vocab_size=8, n_embd=32, dropout=0.0)), train, valid, cfg, resume=True)
    h = trainer.history
    assert [r["epoch"] for r in h] == [1, 2] and h[1]["train_loss"] < h[0]["train_loss"]
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["arch"] == "spikegpt" and ckpt["model_config"]["n_embd"] == 32
    again = SpikeGPT(get_config("tiny", vocab_size=8, n_embd=32)).load_weights(tmp_path / "last.pt")
    torch.testing.assert_close(again.head.weight, trainer.model.model.head.weight)
    with pytest.raises(ValueError, match="different architecture"):
        SpikeGPT(get_config("tiny", vocab_size=8, n_embd=48)).load_weights(tmp_path / "last.pt")


def test_evaluate_bpc_carries_state_across_windows() -> None:
    from snnkit.models.spikegpt_train import evaluate_bpc

    m = _model(torch.float64)
    tok = torch.randint(0, m.config.vocab_size, (61,), generator=torch.Generator().manual_seed(3))
    logits = m(tok[None, :-1])[0]
    nats = torch.nn.functional.cross_entropy(logits, tok[1:]).item()
    res = evaluate_bpc(m, tok, ctx_len=7, batch_size=1)  # windows of 7 with the state carried == one pass
    assert res["tokens"] == 60 and abs(res["loss"] - nats) < 1e-9
    assert abs(res["bpc"] - nats / 0.6931471805599453) < 1e-9
    res3 = evaluate_bpc(m, tok, ctx_len=7, batch_size=3, chars=120)  # 3 parallel streams, 2 characters per token
    assert res3["tokens"] == 60 and abs(res3["bpc"] - res3["bits_per_token"] / 2) < 1e-9


def test_generate_greedy_matches_forward_and_sampling_is_seeded() -> None:
    from snnkit.models.spikegpt_train import generate, sample_next

    m = _model(torch.float64)
    prompt = [3, 1, 4, 1, 5]
    out = list(generate(m, prompt, 6, temperature=0.0))
    seq = list(prompt)
    for _ in range(6):  # greedy decoding with the parallel forward over the whole sequence each time
        seq.append(int(m(torch.tensor([seq]))[0, -1].argmax()))
    assert out == seq[len(prompt):]
    a = list(generate(m, prompt, 8, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(0)))
    b = list(generate(m, prompt, 8, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(0)))
    assert a == b and len(a) == 8
    assert list(generate(m, prompt, 5, temperature=0.0, stop=lambda t: True)) == out[:1]
    logits = torch.tensor([[0.0, 5.0, 4.9, -9.0]])
    picks = {int(sample_next(logits, 1.0, 0.5, torch.Generator().manual_seed(s))) for s in range(20)}
    assert picks == {1}  # top_p=0.5 keeps only the most likely token here
    with pytest.raises(ValueError, match="top_p"):
        sample_next(logits, 1.0, 0.0)


def test_evaluate_bpc_tail_longer_than_a_window_keeps_its_state() -> None:
    from snnkit.models.spikegpt_train import evaluate_bpc

    m = _model(torch.float64)
    tok = torch.randint(0, m.config.vocab_size, (40,), generator=torch.Generator().manual_seed(4))
    # 39 predictions in 16 rows of 2 leave a tail of 7 tokens, read in windows of 4 (one stream, one state)
    rows = [(b * 2, b * 2 + 2) for b in range(16)] + [(32, 39)]
    total = 0.0
    for s, e in rows:  # each row from a fresh state, one pass (hand reference)
        logits = m(tok[None, s:e])[0]
        total += torch.nn.functional.cross_entropy(logits, tok[s + 1: e + 1], reduction="sum").item()
    res = evaluate_bpc(m, tok, ctx_len=4, batch_size=16)
    assert res["tokens"] == 39 and abs(res["loss"] - total / 39) < 1e-9


def test_float16_model_runs_from_a_fresh_state() -> None:
    # the fresh WKV state used to be built in float16, where its p = -1e38 overflows (RuntimeError)
    m = _model(torch.float32).half()
    tok = torch.randint(0, m.config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(5))
    logits, state = m.forward_state(tok)
    assert logits.dtype == torch.float16 and bool(torch.isfinite(logits).all())
    fresh = m.initial_state(2)
    assert [s.dtype for s in state[0]] == [s.dtype for s in fresh[0]]  # the state keeps one dtype layout
    step_logits, _ = m.step(tok[:, 0])
    assert bool(torch.isfinite(step_logits).all())


def test_evaluate_bpc_rejects_bad_window_batch_and_char_counts() -> None:
    from snnkit.models.spikegpt_train import evaluate_bpc

    m = _model(torch.float64)
    tok = torch.randint(0, m.config.vocab_size, (20,), generator=torch.Generator().manual_seed(6))
    # these used to end in ZeroDivisionError (ctx_len=-1: no window read; chars=0) or run with B=1 silently
    for kw, what in ((dict(ctx_len=-1), "ctx_len"), (dict(ctx_len=0), "ctx_len"), (dict(batch_size=-3), "batch_size"),
                     (dict(chars=0), "chars")):
        with pytest.raises(ValueError, match=what):
            evaluate_bpc(m, tok, **kw)


# ---------------------------------------------------------------------------- fast recurrent step
def _count_block_steps(monkeypatch) -> list:
    """Counts calls of Block.step (the fast path), so that a test knows which path ran."""
    from snnkit.models import spikegpt
    from tests.conftest import count_block_steps

    return count_block_steps(monkeypatch, spikegpt)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("overrides", [{}, {"binary_embedding": False, "tau": 3.0, "v_reset": -0.25},
                                       {"wkv_backend": "reference", "lif_backend": "reference"},
                                       {"wkv_backend": "chunked"}])
def test_fast_step_equals_reference_step_and_parallel_forward(dtype, overrides, monkeypatch) -> None:
    # generation's step (eval, no grad) against the module path, op for op, and against forward
    m = _model(dtype, n_layer=3, **overrides)
    calls = _count_block_steps(monkeypatch)
    T = 40
    tok = torch.randint(0, m.config.vocab_size, (3, T), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        full, st_full = m.forward_state(tok)
        fast = ref = saved = None
        outs = []
        for t in range(T):
            lf, fast = m.step(tok[:, t], fast)
            lr, ref = m.step_reference(tok[:, t], ref)
            assert torch.equal(lf, lr)
            for a, b in zip(fast, ref):  # membranes equal: every spike equal
                assert all(torch.equal(x, y) for x, y in zip(a, b))
            outs.append(lf)
            if t == 24:
                saved = [LayerState(*(x.clone() for x in s)) for s in fast]
        assert len(calls) == 3 * T
        tol = dict(rtol=1e-9, atol=1e-10) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-4)
        if dtype == torch.float64:  # float32 rounding may flip a spike between the two modes
            torch.testing.assert_close(torch.stack(outs, 1), full, **tol)
            for a, b in zip(fast, st_full):
                for x, y in zip(a, b):
                    torch.testing.assert_close(x, y, **tol)
        st, again = saved, []  # restore the state saved after token 24
        for t in range(25, T):
            logits, st = m.step(tok[:, t], st)
            again.append(logits)
        assert torch.equal(torch.stack(again, 1), torch.stack(outs[25:], 1))
        _, st = m.forward_state(tok[:, :30])  # a prefilled state continues in the fast step
        logits, _ = m.step(tok[:, 30], st)
        torch.testing.assert_close(logits, full[:, 30], **tol)


def test_training_gradients_and_hooks_take_the_module_path(monkeypatch) -> None:
    m = _model(torch.float64, n_layer=2)
    for blk in m.blocks:
        blk.drop.p = 0.5
    calls = _count_block_steps(monkeypatch)
    tok = torch.tensor([1, 2])
    m.train()
    with torch.no_grad():
        m.step(tok)  # dropout is active in training mode: the fast step has none
    assert calls == []
    m.eval()
    out, _ = m.step(tok)  # autograd on: surrogate gradients need the spike functions
    out.sum().backward()
    assert calls == [] and m.blocks[0].att.key.weight.grad is not None
    rec, handles = _record_spikes(m)
    with torch.no_grad():
        m.step(tok)
        assert calls == [] and len(rec) == 4  # the hooks saw both LIF layers of both blocks
        for h in handles:
            h.remove()
        m.step(tok)
    assert len(calls) == 2
