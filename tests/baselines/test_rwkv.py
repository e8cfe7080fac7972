"""RWKV-4 / Eagle / Finch: WKV forms agree, parallel == recurrent, long sequences, loading, tokenisers."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from snnkit.baselines.rwkv import (RWKV, RWKVConfig, BPETokenizer, WorldTokenizer, config_from_state_dict,
                                   detect_version, load_tokenizer, sample_logits, wkv_heads)

from ._official import official_state_dict
from ._threads import one_thread  # noqa: F401,E402  (autouse fixture)

VERSIONS = (4, 5, 6)


def tiny(version: int, **kw) -> RWKV:
    cfg = RWKVConfig(version=version, vocab_size=kw.pop("vocab", 40), n_layer=kw.pop("n_layer", 2),
                     n_embd=kw.pop("n_embd", 32), head_size=8, mix_lora=4, decay_lora=6, **kw)
    model = RWKV(cfg)
    with torch.no_grad():  # BlinkDL's init zeroes some matrices; make every path matter
        g = torch.Generator().manual_seed(version)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return model


# ------------------------------------------------------------------------- Eagle/Finch WKV
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("T,chunk", [(1, 16), (13, 4), (32, 16), (37, 8)])
def test_wkv_heads_chunked_matches_reference_values_and_grads(static, T, chunk):
    B, H, N = 2, 3, 4
    g = torch.Generator().manual_seed(T)
    r, k, v = (torch.randn(B, T, H, N, generator=g, dtype=torch.float64).requires_grad_() for _ in range(3))
    shape = (1, 1, H, N) if static else (B, T, H, N)
    logw = (-torch.exp(2 * torch.randn(*shape, generator=g, dtype=torch.float64))).requires_grad_()
    u = torch.randn(H, N, generator=g, dtype=torch.float64).requires_grad_()
    s0 = torch.randn(B, H, N, N, generator=g, dtype=torch.float64).requires_grad_()
    y1, s1 = wkv_heads(r, k, v, logw, u, s0, backend="reference")
    y2, s2 = wkv_heads(r, k, v, logw, u, s0, backend="chunked", chunk_size=chunk)
    torch.testing.assert_close(y2, y1, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s2, s1, rtol=1e-10, atol=1e-10)
    gy, gs = torch.randn(y1.shape, generator=g, dtype=torch.float64), torch.randn(s1.shape, generator=g, dtype=torch.float64)
    inputs = (r, k, v, logw, u, s0)
    g1 = torch.autograd.grad((y1 * gy).sum() + (s1 * gs).sum(), inputs)
    g2 = torch.autograd.grad((y2 * gy).sum() + (s2 * gs).sum(), inputs)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


def test_wkv_heads_extreme_decays_stay_finite_and_exact():
    # a data-dependent "reset" (log w = -1000) next to tiny decays: no cancellation, no overflow
    B, T, H, N = 1, 64, 2, 4
    g = torch.Generator().manual_seed(0)
    r, k, v = (torch.randn(B, T, H, N, generator=g) for _ in range(3))
    logw = -torch.rand(B, T, H, N, generator=g) * 1e-3
    logw[:, ::7] = -1000.0
    u = torch.randn(H, N, generator=g)
    y1, s1 = wkv_heads(r.double(), k.double(), v.double(), logw.double(), u.double(), backend="reference")
    y2, s2 = wkv_heads(r, k, v, logw, u, backend="chunked", chunk_size=16)
    assert torch.isfinite(y2).all() and torch.isfinite(s2).all()
    torch.testing.assert_close(y2.double(), y1, rtol=1e-4, atol=1e-4)


def test_wkv_heads_empty_sequence_passes_the_state_through():
    # T = 0 (as wkv() allows for RWKV-4): the chunked form used to fail stacking zero chunks
    r = torch.zeros(2, 0, 2, 4)
    s0 = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    for backend in ("reference", "chunked"):
        y, s = wkv_heads(r, r, r, -torch.ones(1, 1, 2, 4), torch.zeros(2, 4), s0, backend=backend)
        assert y.shape == (2, 0, 2, 4)
        torch.testing.assert_close(s, s0, rtol=0, atol=0)


def test_wkv_heads_bad_input():
    r = torch.zeros(1, 2, 2, 4)
    with pytest.raises(ValueError, match="u must be"):
        wkv_heads(r, r, r, r, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="state must be"):
        wkv_heads(r, r, r, r, torch.zeros(2, 4), state=torch.zeros(1, 2, 4, 3))
    with pytest.raises(ValueError, match="backend"):
        wkv_heads(r, r, r, r, torch.zeros(2, 4), backend="cpu")


# ------------------------------------------------------------------------- model
@pytest.mark.parametrize("version", VERSIONS)
def test_parallel_equals_recurrent(version):
    model = tiny(version)
    toks = torch.randint(0, 40, (2, 21), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, st_full = model(toks, return_state=True)
        state, outs = None, []
        for t in range(toks.shape[1]):
            logits, state = model.step(toks[:, t], state)
            outs.append(logits)
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=1e-4, atol=1e-4)
    for a, b in zip(st_full, state):  # the states agree too (RWKV-4's p is canonical in every backend)
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("version", VERSIONS)
def test_forward_in_pieces_carries_state(version):
    model = tiny(version)
    toks = torch.randint(0, 40, (3, 30), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(toks)
        a, st = model(toks[:, :11], return_state=True)
        b = model(toks[:, 11:], state=st)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("version", VERSIONS)
def test_backends_agree(version):
    model = tiny(version)
    toks = torch.randint(0, 40, (2, 19), generator=torch.Generator().manual_seed(3))
    backends = ["reference", "chunked"] + (["cpu"] if version == 4 else [])
    with torch.no_grad():
        outs = [model(toks, backend=b) for b in backends]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-4, atol=1e-4)
    if version != 4:
        with pytest.raises(ValueError, match="cpu"):
            model(toks, backend="cpu")


@pytest.mark.parametrize("version", VERSIONS)
def test_long_sequence_is_stable(version):
    model = tiny(version, n_layer=1, vocab=20)
    with torch.no_grad():  # strong and weak decays side by side
        att = model.blocks[0].att
        att.time_decay.copy_(torch.linspace(-8, 3, att.time_decay.numel()).view_as(att.time_decay))
    toks = torch.randint(0, 20, (1, 2048), generator=torch.Generator().manual_seed(4))
    logits = model(toks)
    assert torch.isfinite(logits).all()
    if version == 6:  # training at this length too
        logits.float().logsumexp(-1).mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("version", VERSIONS)
def test_training_reduces_loss_and_reaches_every_parameter(version):
    model = tiny(version, n_layer=1)
    toks = torch.randint(0, 40, (4, 24), generator=torch.Generator().manual_seed(5))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for i in range(15):
        logits = model(toks[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), toks[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if i == 0:
            dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
            assert not dead, f"no gradient reaches {dead}"
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_generate_and_sampling():
    model = tiny(6)
    prompt = torch.tensor([1, 2, 3])
    greedy = model.generate(prompt, 5, temperature=0)
    assert greedy.shape == (5,)
    seq = prompt.tolist()  # greedy decoding recomputed with the parallel forward
    for _ in range(5):
        seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    assert greedy.tolist() == seq[3:]
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = model.generate(prompt[None].repeat(2, 1), 4, temperature=1.0, top_p=0.9, generator=g1)
    b = model.generate(prompt[None].repeat(2, 1), 4, temperature=1.0, top_p=0.9, generator=g2)
    assert a.shape == (2, 4) and torch.equal(a, b)
    logits = torch.tensor([[0.0, 5.0, 1.0, -1.0]])
    assert sample_logits(logits, top_p=0.01).item() == 1
    assert sample_logits(logits, temperature=0).item() == 1
    with pytest.raises(ValueError, match="top_p"):
        sample_logits(logits, top_p=0)
    # a tiny temperature: logits / T overflowed to inf and softmax gave nan (multinomial raised)
    assert sample_logits(logits, temperature=1e-40).item() == 1
    with pytest.raises(ValueError, match="temperature"):
        sample_logits(logits, temperature=-1)


@pytest.mark.parametrize("version", VERSIONS)
def test_float64_model_generates_and_steps_in_float64(version):
    # Eagle/Finch: the parallel forward keeps S in float64 but step computed in float32, so generate()
    # (forward, then step) raised "expected scalar type Float but found Double"
    model = tiny(version).double()
    toks = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = model(toks)
        _, st = model(toks[:, :5], return_state=True)
        out = []
        for t in range(5, 9):
            logits, st = model.step(toks[:, t], st)
            out.append(logits)
        fresh, st0 = model.step(toks[:, 0])
    torch.testing.assert_close(torch.stack(out, 1), full[:, 5:], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fresh, full[:, 0], rtol=1e-6, atol=1e-6)
    if version != 4:  # RWKV-4's WKV state stays float32 (as the rwkv package's)
        assert st[0][1].dtype == st0[0][1].dtype == model.initial_state(1)[0][1].dtype == torch.float64
    assert model.generate(torch.tensor([1, 2, 3]), 4, temperature=0).shape == (4,)


def test_bad_tokens_and_state():
    model = tiny(5)
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        model(torch.tensor([[1, 40]]))
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        model(torch.tensor([1, 2]))
    _, st = model(torch.tensor([[1, 2]]), return_state=True)
    with pytest.raises(ValueError, match="batch"):
        model.step(torch.tensor([1, 2]), st)
    with pytest.raises(ValueError, match="per-layer"):
        model.step(torch.tensor([1]), st[:1])


# ------------------------------------------------------------------------- fast recurrent step
def _count_block_steps(monkeypatch) -> list:
    """Counts calls of Block.step (the fast path), so that a test knows which path ran."""
    from snnkit.baselines import rwkv
    from tests.conftest import count_block_steps

    return count_block_steps(monkeypatch, rwkv)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("version", VERSIONS)
def test_fast_step_equals_reference_step_and_parallel_forward(version, dtype, monkeypatch):
    model = tiny(version, n_layer=3).to(dtype).eval()
    calls = _count_block_steps(monkeypatch)
    T = 40
    toks = torch.randint(0, 40, (3, T), generator=torch.Generator().manual_seed(11))
    tol = dict(rtol=1e-4, atol=1e-4)  # parallel vs recurrent, as test_parallel_equals_recurrent
    if dtype == torch.float64:  # RWKV-4's WKV runs in float32 in every model (TimeMix4's .float())
        tol = dict(rtol=1e-5, atol=1e-5) if version == 4 else dict(rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        full, st_full = model(toks, return_state=True)
        fast = ref = None
        outs, saved = [], None
        for t in range(T):
            lf, fast = model.step(toks[:, t], fast)
            lr, ref = model.step_reference(toks[:, t], ref)
            assert torch.equal(lf, lr)  # the same formulas: the same bits
            for a, b in zip(fast, ref):
                assert all(torch.equal(x, y) for x, y in zip(a, b))
            outs.append(lf)
            if t == 20:
                saved = [tuple(s.clone() for s in layer) for layer in fast]
        assert len(calls) == 3 * T  # every step ran each block's fast step
        torch.testing.assert_close(torch.stack(outs, 1), full, **tol)
        for a, b in zip(fast, st_full):
            for x, y in zip(a, b):
                torch.testing.assert_close(x, y, **tol)
        # restore the state saved after token 20: the same logits again, from the fast step
        st, again = saved, []
        for t in range(21, T):
            logits, st = model.step(toks[:, t], st)
            again.append(logits)
        torch.testing.assert_close(torch.stack(again, 1), full[:, 21:], **tol)
        # a state from the parallel forward continues in the fast step
        _, st = model(toks[:, :25], return_state=True)
        logits, _ = model.step(toks[:, 25], st)
        torch.testing.assert_close(logits, full[:, 25], **tol)


@pytest.mark.parametrize("version", VERSIONS)
def test_fast_step_gradients_equal_the_reference_steps(version):
    model = tiny(version, n_layer=2)
    toks = torch.randint(0, 40, (2, 6), generator=torch.Generator().manual_seed(12))

    def grads(step) -> list:
        model.zero_grad(set_to_none=True)
        st, loss = None, 0.0
        for t in range(toks.shape[1]):
            logits, st = step(toks[:, t], st)
            loss = loss + logits.logsumexp(-1).sum()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    for a, b in zip(grads(model.step), grads(model.step_reference)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("version", VERSIONS)
def test_step_calls_hooked_or_replaced_modules(version, monkeypatch):
    # the fast step reads weights directly; a forward hook or a wrapped projection must still take effect
    model = tiny(version, n_layer=2).eval()
    calls = _count_block_steps(monkeypatch)
    tok = torch.tensor([3, 7])
    with torch.no_grad():
        model.step(tok)  # fills the fast path's cache of the module list
        assert len(calls) == 2
        seen = []
        h = model.blocks[1].ffn.key.register_forward_hook(lambda m, i, o: seen.append(o.shape))
        model.step(tok)
        h.remove()
        assert seen == [(2, 1, model.config.dim_ffn)] and len(calls) == 2

        class Doubled(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return 2 * self.inner(x)

        before, _ = model.step(tok)
        model.blocks[0].att.receptance = Doubled(model.blocks[0].att.receptance)
        after, _ = model.step(tok)
        ref, _ = model.step_reference(tok)
    assert len(calls) == 4  # no fast step once a projection is wrapped
    torch.testing.assert_close(after, ref, rtol=0, atol=0)
    assert (after - before).abs().max() > 1e-4


@pytest.mark.parametrize("version", VERSIONS)
def test_step_with_gradients_calls_backward_hooks(version, monkeypatch):
    # with gradients the fast step runs too; a module's backward hook (gradient logging, clipping per layer) must
    # still fire once per step, as it does through step_reference's module calls (the fast step skipped it: 0 calls)
    model = tiny(version, n_layer=2)
    calls = _count_block_steps(monkeypatch)
    tok = torch.tensor([3, 7])
    for register in ("register_full_backward_hook", "register_full_backward_pre_hook"):
        seen = []
        h = getattr(model.blocks[1].ffn.key, register)(lambda m, *g: seen.append(1))
        for step in (model.step, model.step_reference):
            logits, _ = step(tok)
            logits.sum().backward()
        h.remove()
        assert len(seen) == 2, register
    assert calls == []  # a backward hook set: step took step_reference
    model.step(tok)
    assert len(calls) == 2  # no hook left: the fast step again (one Block.step per layer)


# ------------------------------------------------------------------------- initialisation
def _blinkdl_gain(version: int, name: str, shape, vocab: int, n_embd: int) -> float:
    """Orthogonal gain of a 2-D weight, transcribed from RWKV-LM ``generate_init_weight``
    (``RWKV-v4neo`` for v4 with the default ``--my_testing ''``, ``RWKV-v5`` for v5/v6)."""
    if name == "head.weight":
        return 0.5 * (vocab / n_embd) ** 0.5 if vocab > n_embd else 0.5
    zero = [".att.output.", ".ffn.value.", ".ffn.receptance."]
    if version == 4:
        zero += [".att.key.", ".att.receptance."]
    if any(z in name for z in zero):
        return 0.0
    if version == 4:
        return (shape[0] / shape[1]) ** 0.5 if shape[0] > shape[1] else 1.0
    return 0.1 if (".att.key." in name or ".att.gate." in name) else 1.0


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_parameters_follows_blinkdl_generate_init_weight(version):
    n_layer, C, A, F_ = 3, 16, 24, 40
    cfg = RWKVConfig(version=version, vocab_size=50, n_layer=n_layer, n_embd=C, dim_att=A, dim_ffn=F_, head_size=8,
                     mix_lora=4, decay_lora=6)
    model = RWKV(cfg)
    for name, p in model.state_dict().items():
        if name == "emb.weight":
            assert p.abs().max() <= 1e-4 and p.abs().max() > 0
        elif name.endswith("ln_x.weight"):   # RWKV-v5: layer_scale ** 0.7
            layer = int(name.split(".")[1])
            torch.testing.assert_close(p, torch.full_like(p, ((1 + layer) / n_layer) ** 0.7))
        elif name.endswith(".weight") and p.ndim == 2 and "time_" not in name:
            gain = _blinkdl_gain(version, name, p.shape, 50, C)
            w = p.double() / gain if gain else p.double()
            if gain == 0:
                assert not p.any(), name
                continue
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w    # orthogonal: rows or columns orthonormal
            torch.testing.assert_close(gram, torch.eye(gram.shape[0], dtype=torch.float64), rtol=0, atol=1e-5,
                                       msg=lambda m, name=name: f"{name}: {m}")


def test_reset_parameters_is_reproducible_with_a_generator():
    for version in VERSIONS:
        model = RWKV(RWKVConfig(version=version, vocab_size=20, n_layer=2, n_embd=16, head_size=8, mix_lora=4,
                                decay_lora=6))
        model.reset_parameters(torch.Generator().manual_seed(3))
        first = {k: v.clone() for k, v in model.state_dict().items()}
        torch.manual_seed(99)   # the global generator must not matter (Finch's LoRA w2 used to draw from it)
        model.reset_parameters(torch.Generator().manual_seed(3))
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, first[k], rtol=0, atol=0, msg=f"{k} differs")


# ------------------------------------------------------------------------- BlinkDL state dicts
@pytest.mark.parametrize("version", VERSIONS)
def test_from_state_dict_detects_and_infers(version):
    sd = official_state_dict(version, vocab=50, n_layer=3, n_embd=64, head_size=16, mix_lora=8, decay_lora=12)
    assert detect_version(sd) == version
    cfg = config_from_state_dict(sd)
    assert (cfg.vocab_size, cfg.n_layer, cfg.n_embd) == (50, 3, 64)
    if version > 4:
        assert cfg.head_size == 16 and cfg.n_head == 4
    if version == 6:
        assert (cfg.mix_lora, cfg.decay_lora) == (8, 12)
    model = RWKV.from_state_dict(sd)
    own = model.state_dict()
    assert set(own) == set(sd)
    for k in sd:  # weights unchanged
        torch.testing.assert_close(own[k], sd[k], rtol=0, atol=0)
    again = RWKV.from_state_dict(model.state_dict())
    toks = torch.randint(0, 50, (1, 9))
    torch.testing.assert_close(again(toks), model(toks))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_are_converted(dtype):
    sd = official_state_dict(6)
    model = RWKV.from_state_dict({k: v.to(dtype) for k, v in sd.items()})
    assert all(p.dtype == torch.float32 for p in model.parameters())
    ref = RWKV.from_state_dict({k: v.to(dtype).float() for k, v in sd.items()})
    toks = torch.randint(0, 60, (1, 7))
    torch.testing.assert_close(model(toks), ref(toks))


@pytest.mark.parametrize("version", VERSIONS)
def test_bfloat16_model_runs_close_to_float32(version):
    sd = official_state_dict(version)
    half, full = RWKV.from_state_dict(sd, dtype=torch.bfloat16), RWKV.from_state_dict(sd)
    toks = torch.randint(0, 60, (2, 12))
    with torch.no_grad():
        out = half(toks)
        step, _ = half.step(toks[:, 0])
    assert out.dtype == torch.bfloat16 and step.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), full(toks), rtol=0, atol=0.15)


def test_load_file_and_module_prefix(tmp_path: Path):
    sd = official_state_dict(4)
    torch.save({"module." + k: v for k, v in sd.items()}, tmp_path / "m.pth")
    model = RWKV.load(tmp_path / "m.pth")
    assert model.version == 4
    assert RWKV.from_state_dict({"state_dict": sd, "epoch": 3}).version == 4   # a training checkpoint
    torch.save(sd, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)  # cannot be mmapped
    assert RWKV.load(tmp_path / "legacy.pth").version == 4
    with pytest.raises(FileNotFoundError):
        RWKV.load(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        RWKV.load(tmp_path / "junk.pth")


def test_integer_weights_are_rejected_by_name():
    # an int8/int64 tensor is a quantised or corrupt checkpoint: it used to be cast to float silently
    sd = official_state_dict(5)
    sd["blocks.1.ffn.key.weight"] = sd["blocks.1.ffn.key.weight"].to(torch.int8)
    with pytest.raises(ValueError, match=r"floating point.*blocks\.1\.ffn\.key\.weight \(torch\.int8\)"):
        RWKV.from_state_dict(sd)


def test_unknown_layout_names_the_keys():
    sd = official_state_dict(6)
    del sd["blocks.1.att.time_decay_w2"]
    sd["blocks.1.att.mystery"] = torch.zeros(3)
    with pytest.raises(ValueError, match="missing keys.*blocks.1.att.time_decay_w2.*unexpected keys.*mystery"):
        RWKV.from_state_dict(sd)
    with pytest.raises(ValueError, match="unknown state dict layout"):
        RWKV.from_state_dict({k: v for k, v in official_state_dict(4).items() if "time_first" not in k})
    with pytest.raises(ValueError, match="not an RWKV-LM state dict"):
        RWKV.from_state_dict({"weight": torch.zeros(2)})
    sd7 = official_state_dict(6)
    sd7["blocks.0.att.r_k"] = torch.zeros(4, 16)
    with pytest.raises(ValueError, match="RWKV-7"):
        RWKV.from_state_dict(sd7)
    with pytest.raises(TypeError, match="mapping"):
        RWKV.from_state_dict([1, 2])
    with pytest.raises(ValueError, match="unknown options"):
        RWKV.from_state_dict(official_state_dict(4), n_embd=3)


def test_mismatched_dimensions_are_named():
    sd = official_state_dict(5)
    sd["blocks.1.ffn.value.weight"] = torch.zeros(64, 10)
    with pytest.raises(ValueError, match=r"mismatched dimensions.*blocks.1.ffn.value.weight: got \(64, 10\)"):
        RWKV.from_state_dict(sd)
    sd = official_state_dict(6)
    sd["blocks.0.att.time_faaaa"] = torch.zeros(3, 16)
    with pytest.raises(ValueError, match="time_faaaa"):
        RWKV.from_state_dict(sd)
    sd = official_state_dict(4)
    sd["blocks.0.att.key.weight"] = torch.zeros(64, 32)
    with pytest.raises(ValueError, match="n_embd=64"):
        RWKV.from_state_dict(sd)


def test_config_validation():
    with pytest.raises(ValueError, match="version"):
        RWKVConfig(version=7)
    with pytest.raises(ValueError, match="head_size"):
        RWKVConfig(version=5, n_embd=40, head_size=16)
    with pytest.raises(ValueError, match="cpu"):
        RWKVConfig(version=6, wkv_backend="cpu")
    assert RWKVConfig(version=4, n_embd=64).dim_ffn == 256
    assert RWKVConfig(version=6, n_embd=64).dim_ffn == 224


# ------------------------------------------------------------------------- tokenisers
VOCAB = """1 '\\x00' 1
2 'a' 1
3 'b' 1
4 'c' 1
5 ' ' 1
6 'ab' 2
7 'abc' 3
8 'bc' 2
9 ' a' 2
10 '\u00e9' 2
11 b'\\xc3' 1
12 b'\\xa9' 1
"""


def test_world_tokenizer_greedy_longest_match(tmp_path: Path):
    path = tmp_path / "vocab.txt"
    path.write_text(VOCAB, encoding="utf-8")
    tok = WorldTokenizer.from_file(path)
    assert tok.vocab_size == 13
    assert tok.encode("abcab") == [7, 6]
    assert tok.encode("abab c") == [6, 6, 5, 4]
    assert tok.encode(" abc") == [9, 8]           # greedy: ' a' first, then 'bc'
    assert tok.encode("\u00e9") == [10]            # a 2-byte str token
    assert tok.decode_bytes([11]) == b"\xc3"
    for text in ("abcab", "ca b\u00e9", ""):
        assert tok.decode(tok.encode(text)) == text
    assert isinstance(load_tokenizer(path), WorldTokenizer)
    with pytest.raises(ValueError, match="0x64 at offset 2"):
        tok.encode("abd")
    with pytest.raises(ValueError, match="id 99"):
        tok.decode([99])


def test_world_tokenizer_bad_files(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 'a' 1\n2 'bc' 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2.*2 bytes but the line says 3"):
        WorldTokenizer.from_file(bad)
    bad.write_text("1 'a' 1\nnonsense\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        WorldTokenizer.from_file(bad)
    bad.write_text("1 'a' 1\n1 'b' 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="id 1 appears twice"):
        WorldTokenizer.from_file(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no tokens"):
        WorldTokenizer.from_file(bad)
    with pytest.raises(FileNotFoundError):
        WorldTokenizer.from_file(tmp_path / "none.txt")


def test_neox_style_tokenizer_json(tmp_path: Path):
    tokenizers = pytest.importorskip("tokenizers", reason="the 'tokenizers' package is not installed")
    tk = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<|unk|>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|unk|>"],
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
                                             show_progress=False)
    tk.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 20, trainer)
    path = tmp_path / "tokenizer.json"
    tk.save(str(path))
    tok = load_tokenizer(path)
    assert isinstance(tok, BPETokenizer)
    ids = tok.encode("the lazy fox")
    assert tok.decode(ids) == "the lazy fox" and max(ids) < tok.vocab_size
    bad = tmp_path / "broken.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a tokenizers JSON file"):
        load_tokenizer(bad)
