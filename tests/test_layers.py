"""Layers: time folding against explicit per-step loops, BatchNorm / spiking blocks / voting against
SpikingJelly's multi-step layers, sum pooling by hand, dropout masks, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as tF

import snnkit
from snnkit import layers as L


def _loop(fn, x: torch.Tensor) -> torch.Tensor:
    """The slow reference for time folding: apply ``fn`` to each step and stack."""
    return torch.stack([fn(xt) for xt in x])


# --------------------------------------------------------------------------- TimeDistributed


@pytest.mark.parametrize("module, shape", [
    (nn.Conv2d(3, 5, 3, padding=1), (4, 2, 3, 6, 6)),
    (nn.Linear(7, 3), (5, 3, 7)),
    (nn.Linear(7, 3), (5, 3, 2, 7)),
])
def test_time_distributed_equals_loop(module: nn.Module, shape) -> None:
    x = torch.randn(shape)
    td = L.TimeDistributed(module)
    torch.testing.assert_close(td(x), _loop(module, x))
    td_s = L.TimeDistributed(module, step_mode="s")
    torch.testing.assert_close(td_s(x[0]), module(x[0]))
    # non-contiguous input (time-major view of a batch-major tensor)
    xb = torch.randn(shape[1], shape[0], *shape[2:]).transpose(0, 1)
    torch.testing.assert_close(td(xb), _loop(module, xb))


def test_time_distributed_gradients_match_loop() -> None:
    conv = nn.Conv2d(2, 3, 3)
    x1 = torch.randn(3, 2, 2, 5, 5, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    g = torch.randn(3, 2, 3, 3, 3)
    (L.TimeDistributed(conv)(x1) * g).sum().backward()
    w1 = conv.weight.grad.clone()
    conv.weight.grad = None
    (_loop(conv, x2) * g).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(w1, conv.weight.grad)


def test_time_distributed_tuple_output_and_non_float_modules() -> None:
    x = torch.randn(3, 2, 1, 4, 4)
    out, idx = L.TimeDistributed(nn.MaxPool2d(2, return_indices=True))(x)
    ref = [tF.max_pool2d(xt, 2, return_indices=True) for xt in x]
    assert torch.equal(out, torch.stack([r[0] for r in ref]))
    assert torch.equal(idx, torch.stack([r[1] for r in ref]))
    emb = nn.Embedding(10, 4)
    tokens = torch.randint(0, 10, (5, 2, 3))
    torch.testing.assert_close(L.TimeDistributed(emb)(tokens), _loop(emb, tokens))


def test_time_distributed_errors() -> None:
    td = L.TimeDistributed(nn.Identity())
    with pytest.raises(ValueError, match=r"TimeDistributed.*\[T, B, \.\.\.\].*\(5,\)"):
        td(torch.randn(5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        td([1.0, 2.0])
    with pytest.raises(TypeError, match="nn.Module"):
        L.TimeDistributed(lambda x: x)
    with pytest.raises(TypeError, match="stateless.*LIF"):
        L.TimeDistributed(nn.Sequential(nn.Linear(2, 2), snnkit.LIF()))
    with pytest.raises(ValueError, match="step_mode"):
        L.TimeDistributed(nn.Identity(), step_mode="x")

    class Drop(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:1]

    with pytest.raises(ValueError, match="T\\*B=6"):
        L.TimeDistributed(Drop())(torch.randn(3, 2, 4))


def test_time_distributed_runs_snnkit_layers_per_step() -> None:
    """snnkit's own (already multi-step) layers inside TimeDistributed act per folded step, like torch's.

    ``TimeDistributed(nn.Sequential(nn.Conv2d, snnkit.layers.BatchNorm2d))`` raised "BatchNorm2d:
    multi-step input must be [T, B, C, H, W], got shape (T*B, C, H, W)". The reference is the same
    stack with the torch layers, applied step by step (BatchNorm in eval mode so each step's output
    does not depend on the others) and, in training mode, folded by hand.
    """
    torch.manual_seed(0)
    x = torch.randn(4, 3, 2, 6, 6, dtype=torch.float64)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    ours = L.TimeDistributed(nn.Sequential(conv, L.BatchNorm2d(3).double(), L.MaxPool2d(2), L.SumPool2d(1),
                                           L.Flatten(), nn.Linear(27, 20).double(), L.VotingLayer(10)))
    ref_bn = nn.BatchNorm2d(3).double()
    ref = nn.Sequential(conv, ref_bn, nn.MaxPool2d(2), nn.Flatten(), ours.module[5])
    y = ours(x)  # training mode: batch statistics over all T*B samples
    want = ref(x.flatten(0, 1)).unflatten(0, (4, 3)).unflatten(-1, (2, 10)).mean(-1)
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.module[1].running_mean, ref_bn.running_mean)
    torch.testing.assert_close(ours.module[1].running_var, ref_bn.running_var)
    ours.eval(), ref.eval()
    want = torch.stack([ref(xt).unflatten(-1, (2, 10)).mean(-1) for xt in x])
    torch.testing.assert_close(ours(x), want, rtol=1e-12, atol=1e-12)
    # the inner layers keep their own step mode; single-step TimeDistributed works too
    assert all(m.step_mode == "m" for m in ours.module if hasattr(m, "step_mode"))
    ours.step_mode = "s"
    torch.testing.assert_close(ours(x[1]), want[1], rtol=1e-12, atol=1e-12)
    snnkit.set_step_mode(ours, "m")
    torch.testing.assert_close(ours(x), want, rtol=1e-12, atol=1e-12)


def test_time_distributed_several_modules_like_seq_to_ann_container() -> None:
    """``TimeDistributed(conv, bn)`` chains them (SpikingJelly's ``SeqToANNContainer(conv, bn)``); it used to
    fail with "step_mode must be 's' or 'm', got BatchNorm2d(...)"."""
    torch.manual_seed(1)
    conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    td = L.TimeDistributed(conv, bn)
    assert isinstance(td.module, nn.Sequential) and td.module[0] is conv and td.module[1] is bn
    x = torch.randn(3, 2, 2, 5, 5)
    torch.testing.assert_close(td(x), bn(conv(x.flatten(0, 1))).unflatten(0, (3, 2)))
    assert L.TimeDistributed(conv).module is conv  # one module is kept as is (state-dict keys module.*)
    with pytest.raises(TypeError, match=r"pass the step mode by keyword: TimeDistributed\(module, step_mode='s'\)"):
        L.TimeDistributed(conv, "s")
    with pytest.raises(TypeError, match="at least one"):
        L.TimeDistributed()
    with pytest.raises(TypeError, match="stateless.*LIF"):
        L.TimeDistributed(conv, snnkit.LIF())


def test_time_distributed_nested_runs_per_step() -> None:
    """A TimeDistributed inside another (wrapping a block built of snnkit layers) is an snnkit layer that folds time
    itself: it runs per folded step like BatchNorm/pooling (it read the folded [T*B, C, H, W] as [T, B, ...]: "expected
    input[1, 40, 6, 6] to have 2 channels"). Reference: the torch layers on the folded batch."""
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 5, 2, 6, 6)
    want = tF.avg_pool2d(conv(x.flatten(0, 1)), 2).unflatten(0, (4, 5))
    nested = L.TimeDistributed(L.TimeDistributed(conv), L.AvgPool2d(2))
    torch.testing.assert_close(nested(x), want, rtol=0, atol=0)
    assert nested.module[0].step_mode == "m"  # restored after the call
    nested.step_mode = "s"
    torch.testing.assert_close(nested(x[2]), want[2], rtol=0, atol=0)


# --------------------------------------------------------------------------- BatchNorm through time


def _sj():
    return pytest.importorskip("spikingjelly.activation_based.layer")


def test_batchnorm2d_matches_spikingjelly_and_hand() -> None:
    sj = _sj()
    ours = L.BatchNorm2d(4, momentum=0.2)
    with torch.no_grad():
        ours.weight.copy_(torch.rand(4) + 0.5)
        ours.bias.copy_(torch.randn(4))
    ref = sj.BatchNorm2d(4, momentum=0.2, step_mode="m")
    ref.load_state_dict(ours.state_dict())  # same parameter and buffer names
    for _ in range(2):
        x = torch.randn(3, 2, 4, 5, 5) * 2 + 1
        xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        yo, yr = ours(xo), ref(xr)
        torch.testing.assert_close(yo, yr)
        g = torch.randn_like(yo)
        (yo * g).sum().backward()
        (yr * g).sum().backward()
        torch.testing.assert_close(xo.grad, xr.grad)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours, key), getattr(ref, key))
    # hand: statistics shared over (T, B, H, W) per channel, biased variance
    x = torch.randn(3, 2, 4, 5, 5) * 3 - 1
    mean = x.mean(dim=(0, 1, 3, 4), keepdim=True)
    var = x.var(dim=(0, 1, 3, 4), unbiased=False, keepdim=True)
    hand = (x - mean) / torch.sqrt(var + ours.eps) * ours.weight.view(1, 1, 4, 1, 1) + ours.bias.view(1, 1, 4, 1, 1)
    torch.testing.assert_close(ours(x), hand, rtol=1e-5, atol=1e-5)
    ref(x)  # keep the running statistics in step
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x), ref(x))
    # per-step statistics (a different layer) must not pass for this one
    per_step = torch.stack([(xt - xt.mean(dim=(0, 2, 3), keepdim=True)) for xt in x])
    assert not torch.allclose(ours.train()(x), per_step, atol=1e-2)


@pytest.mark.parametrize("shape", [(4, 3, 6), (4, 3, 6, 5)])
def test_batchnorm1d_matches_spikingjelly(shape) -> None:
    sj = _sj()
    ours = L.BatchNorm1d(6)
    ref = sj.BatchNorm1d(6, step_mode="m")
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(shape) * 2 + 0.5
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours.running_var, ref.running_var)


def test_batchnorm_single_step_is_torch_and_errors() -> None:
    bn = L.BatchNorm2d(3, step_mode="s")
    tb = nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(bn(x), tb(x))
    assert isinstance(bn, nn.BatchNorm2d) and isinstance(L.BatchNorm1d(2), nn.BatchNorm1d)
    with pytest.raises(ValueError, match=r"BatchNorm2d.*\[T, B, C, H, W\].*\(4, 3, 5, 5\)"):
        L.BatchNorm2d(3)(x)
    with pytest.raises(ValueError, match=r"BatchNorm1d.*\[T, B, C\]"):
        L.BatchNorm1d(3)(torch.randn(4, 3))
    with pytest.raises(TypeError, match="floating"):
        L.BatchNorm2d(3)(torch.ones(2, 2, 3, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="step_mode"):
        L.BatchNorm1d(3, step_mode="multi")


# --------------------------------------------------------------------------- spiking blocks


def test_spiking_conv2d_matches_spikingjelly_chain() -> None:
    sj = _sj()
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    torch.manual_seed(3)
    ours = L.SpikingConv2d(2, 4, 3, stride=1, padding=1).double()
    conv = sj.Conv2d(2, 4, 3, padding=1, bias=False, step_mode="m").double()
    bn = sj.BatchNorm2d(4, step_mode="m").double()
    lif = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, step_mode="m")
    conv.weight.data.copy_(ours.conv.weight.data)
    with torch.no_grad():
        ours.bn.weight.uniform_(1.0, 3.0)
        ours.bn.bias.uniform_(-0.5, 1.0)
    bn.load_state_dict(ours.bn.state_dict())
    x = (torch.rand(6, 3, 2, 7, 7, dtype=torch.float64) < 0.4).double()
    s = ours(x)
    r = lif(bn(conv(x)))
    assert s.shape == (6, 3, 4, 7, 7)
    assert 0.05 < s.mean() < 0.95, "test input should produce some but not all spikes"
    assert torch.equal(s, r)
    # state carried by the LIF: a second call continues, reset starts over
    assert torch.equal(ours(x), lif(bn(conv(x))))
    snnkit.reset(ours)
    assert ours.neuron.v is None


def test_spiking_linear_hand_computed() -> None:
    blk = L.SpikingLinear(2, 1, bias=False)
    with torch.no_grad():
        blk.linear.weight.copy_(torch.tensor([[1.0, 2.0]]))
    x = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 0.0]]])
    # currents 1, 1, 2, 0; LIF tau=2: h=.5, .75, 1.375 -> spike, reset 0, h=0
    assert blk(x).flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
    assert blk.linear.bias is None and L.SpikingLinear(2, 1).linear.bias is not None
    assert L.SpikingLinear(2, 1, bn=True).linear.bias is None
    assert L.SpikingConv2d(1, 1, 1).conv.bias is None and L.SpikingConv2d(1, 1, 1, bn=False).conv.bias is not None


def test_spiking_blocks_single_step_equals_multi_step_in_eval() -> None:
    for blk, shape in ((L.SpikingConv2d(2, 3, 3, padding=1), (5, 2, 2, 6, 6)),
                       (L.SpikingLinear(4, 3, bn=True), (5, 2, 4))):
        with torch.no_grad():
            for p in blk.parameters():
                p.mul_(3.0)
        blk.eval()
        x = torch.rand(shape)
        out_m = blk(x)
        snnkit.reset(blk)
        snnkit.set_step_mode(blk, "s")
        out_s = _loop(blk, x)
        assert torch.equal(out_m, out_s)
        assert out_m.sum() > 0


def test_spiking_block_neuron_argument() -> None:
    assert isinstance(L.SpikingLinear(3, 2).neuron, snnkit.LIF)
    assert isinstance(L.SpikingLinear(3, 2, snnkit.IF).neuron, snnkit.IF)
    blk = L.SpikingLinear(3, 2, lambda: snnkit.LIF(tau=4.0))
    assert blk.neuron.tau == 4.0
    given = snnkit.PLIF(step_mode="s")
    blk = L.SpikingConv2d(1, 2, 3, neuron=given)
    assert blk.neuron is given and given.step_mode == "m"
    relu = L.SpikingLinear(3, 2, nn.ReLU())  # an ANN baseline with the same block
    assert relu(torch.randn(4, 2, 3)).min() >= 0
    with pytest.raises(TypeError, match="neuron"):
        L.SpikingLinear(3, 2, "lif")
    with pytest.raises(TypeError, match="factory must return"):
        L.SpikingLinear(3, 2, lambda: 3)
    blk = L.SpikingLinear(3, 2)
    blk.neuron.step_mode = "s"
    with pytest.raises(ValueError, match="set_step_mode"):
        blk(torch.randn(4, 2, 3))


def test_spiking_block_errors() -> None:
    with pytest.raises(ValueError, match=r"SpikingConv2d.*\[T, B, C, H, W\].*\(2, 3, 8, 8\)"):
        L.SpikingConv2d(3, 4, 3)(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"single-step input must be \[B, C, H, W\]"):
        L.SpikingConv2d(3, 4, 3, step_mode="s")(torch.randn(2, 2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"SpikingLinear.*\[T, B, \.\.\., in_features\]"):
        L.SpikingLinear(3, 2)(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"\[T, B, in_features\]"):
        L.SpikingLinear(3, 2, bn=True)(torch.randn(4, 2, 5, 3))
    with pytest.raises(TypeError, match="floating"):
        L.SpikingLinear(3, 2)(torch.ones(4, 2, 3, dtype=torch.int32))
    with pytest.raises(TypeError, match="in_features"):
        L.SpikingLinear(3.0, 2)
    with pytest.raises(ValueError, match="out_channels"):
        L.SpikingConv2d(3, 0, 3)


# --------------------------------------------------------------------------- pooling and flatten


def test_sum_pool_hand_computed() -> None:
    x = torch.arange(16.0).view(1, 1, 1, 4, 4)
    out = L.SumPool2d(2)(x)
    # windows: [0,1,4,5]=10, [2,3,6,7]=18, [8,9,12,13]=42, [10,11,14,15]=50
    assert out.flatten().tolist() == [10.0, 18.0, 42.0, 50.0]
    out = L.SumPool2d(3, stride=1, padding=1, step_mode="s")(x[0])
    # corner window with zero padding: 0+1+4+5
    assert out[0, 0, 0, 0].item() == 10.0 and out[0, 0, 1, 1].item() == 0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0))])
def test_pools_equal_loops(k, s, p) -> None:
    x = torch.randn(3, 2, 4, 9, 8)
    kk = k if isinstance(k, tuple) else (k, k)
    ref_sum = []  # explicit window sums: unfold each step into [B, C, kH*kW, windows] and add up
    for xt in x:
        cols = tF.unfold(xt, kk, padding=p, stride=s or kk).view(xt.shape[0], xt.shape[1], kk[0] * kk[1], -1).sum(2)
        ref_sum.append(cols)
    out = L.SumPool2d(k, s, p)(x)
    torch.testing.assert_close(out.flatten(3), torch.stack(ref_sum))
    torch.testing.assert_close(L.AvgPool2d(k, s, p)(x), _loop(lambda xt: tF.avg_pool2d(xt, k, s, p), x))
    torch.testing.assert_close(L.SumPool2d(k, s, p)(x), L.AvgPool2d(k, s, p)(x) * kk[0] * kk[1])
    assert torch.equal(L.MaxPool2d(k, s, p)(x), _loop(lambda xt: tF.max_pool2d(xt, k, s, p), x))


def test_pool_spikingjelly_and_errors() -> None:
    sj = _sj()
    x = (torch.rand(4, 2, 3, 8, 8) < 0.3).float()
    assert torch.equal(L.MaxPool2d(2)(x), sj.MaxPool2d(2, step_mode="m")(x))
    torch.testing.assert_close(L.AvgPool2d(2)(x), sj.AvgPool2d(2, step_mode="m")(x))
    assert isinstance(L.MaxPool2d(2), nn.MaxPool2d) and isinstance(L.AvgPool2d(2), nn.AvgPool2d)
    assert not isinstance(L.SumPool2d(2), nn.AvgPool2d)
    for pool in (L.MaxPool2d(2), L.AvgPool2d(2), L.SumPool2d(2)):
        with pytest.raises(ValueError, match=r"\[T, B, C, H, W\]"):
            pool(torch.randn(2, 3, 8, 8))
        with pytest.raises(TypeError, match="floating"):
            pool(torch.ones(2, 2, 3, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="padding"):
        L.SumPool2d(2, padding=2)
    with pytest.raises(TypeError, match="kernel_size"):
        L.SumPool2d(2.5)
    with pytest.raises(ValueError, match="kernel_size"):
        L.SumPool2d(0)


def test_flatten() -> None:
    x = torch.randn(3, 2, 4, 5, 6)
    assert torch.equal(L.Flatten()(x), x.reshape(3, 2, 120))
    assert torch.equal(L.Flatten(step_mode="s")(x[0]), x[0].reshape(2, 120))
    assert isinstance(L.Flatten(), nn.Flatten)
    sj = _sj()
    assert torch.equal(L.Flatten()(x), sj.Flatten(step_mode="m")(x))
    with pytest.raises(ValueError, match=r"Flatten.*\(3, 2\)"):
        L.Flatten()(torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"Flatten: single-step"):
        L.Flatten(step_mode="s")(torch.randn(3))


# --------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dropout_mask_scale_is_exact_in_its_dtype(dtype: torch.dtype) -> None:
    """Kept units are 1/(1-p) rounded once in the mask's dtype (as torch's dropout), not a float32 value cast up."""
    m = L.dropout_mask((2000,), 0.1, dtype=dtype, generator=torch.Generator().manual_seed(0))
    assert m.dtype == dtype
    assert sorted(m.unique().tolist()) == [0.0, torch.tensor(1 / 0.9, dtype=dtype).item()]


def test_temporal_dropout_mask_shared_over_time_and_reset() -> None:
    g = torch.Generator().manual_seed(5)
    drop = L.TemporalDropout(0.3, generator=g)
    x = torch.rand(6, 8, 50) + 0.5  # strictly positive, so zeros come from the mask
    y = drop(x)
    ratio = y / x
    kept = ratio[0] != 0
    for t in range(6):
        assert torch.equal(ratio[t] != 0, kept)
    torch.testing.assert_close(ratio[:, kept], torch.full_like(ratio[:, kept], 1 / 0.7))
    frac = 1 - kept.float().mean().item()
    assert 0.2 < frac < 0.4
    # the mask persists across calls until reset
    y2 = drop(x)
    assert torch.equal(y2, y)
    snnkit.reset(drop)
    assert drop.mask is None
    assert not torch.equal(drop(x), y)
    # same seed -> same mask
    a = L.TemporalDropout(0.3, generator=torch.Generator().manual_seed(9))(x)
    b = L.TemporalDropout(0.3, generator=torch.Generator().manual_seed(9))(x)
    assert torch.equal(a, b)


def test_temporal_dropout_single_step_eval_and_grad() -> None:
    x = torch.rand(5, 4, 30) + 0.1
    multi = L.TemporalDropout(0.5, generator=torch.Generator().manual_seed(1))
    single = L.TemporalDropout(0.5, generator=torch.Generator().manual_seed(1), step_mode="s")
    assert torch.equal(multi(x), _loop(single, x))
    drop = L.TemporalDropout(0.5).eval()
    assert torch.equal(drop(x), x) and drop.mask is None
    assert torch.equal(L.TemporalDropout(0.0)(x), x)
    drop = L.TemporalDropout(0.5)
    xg = x.clone().requires_grad_()
    drop(xg).sum().backward()
    torch.testing.assert_close(xg.grad, drop.mask.expand_as(x))
    # expectation preserved
    big = torch.ones(1, 20000)
    assert abs(L.TemporalDropout(0.25, generator=torch.Generator().manual_seed(0))(big).mean().item() - 1) < 0.03


def test_temporal_dropout_errors() -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\).*1.0"):
        L.TemporalDropout(1.0)
    with pytest.raises(ValueError, match="-0.1"):
        L.TemporalDropout(-0.1)
    with pytest.raises(TypeError, match="p must be a number"):
        L.TemporalDropout("0.5")
    with pytest.raises(TypeError, match="generator"):
        L.TemporalDropout(0.5, generator=3)
    drop = L.TemporalDropout(0.5)
    drop(torch.rand(3, 4, 5))
    with pytest.raises(ValueError, match="reset"):
        drop(torch.rand(3, 2, 5))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        L.TemporalDropout(0.5)(torch.rand(5))
    with pytest.raises(TypeError, match="floating"):
        L.TemporalDropout(0.5)(torch.ones(3, 4, dtype=torch.long))


# --------------------------------------------------------------------------- voting


def test_voting_layer_hand_and_spikingjelly() -> None:
    x = torch.tensor([[[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]]])
    assert L.VotingLayer(3)(x).flatten().tolist() == pytest.approx([2 / 3, 1.0])
    sj = _sj()
    x = torch.rand(4, 3, 110)
    torch.testing.assert_close(L.VotingLayer(10)(x), sj.VotingLayer(10, step_mode="m")(x))
    torch.testing.assert_close(L.VotingLayer(10, step_mode="s")(x[0]), sj.VotingLayer(10, step_mode="s")(x[0]))
    xg = x.clone().requires_grad_()
    L.VotingLayer(10)(xg).sum().backward()
    torch.testing.assert_close(xg.grad, torch.full_like(x, 0.1))


def test_voting_layer_errors() -> None:
    with pytest.raises(ValueError, match=r"multiple of voting_size=10"):
        L.VotingLayer(10)(torch.rand(4, 3, 105))
    with pytest.raises(ValueError, match=r"\[T, B, C\*voting_size\]"):
        L.VotingLayer(10)(torch.rand(4, 100))
    with pytest.raises(ValueError, match="voting_size"):
        L.VotingLayer(0)
    with pytest.raises(TypeError, match="voting_size"):
        L.VotingLayer(2.0)


def test_functional_vote_and_dropout_mask_name_bad_arguments() -> None:
    """The functional forms validate like their modules (they gave ZeroDivisionError / AttributeError)."""
    x = torch.rand(2, 10)
    with pytest.raises(ValueError, match=r"vote: voting_size must be >= 1, got 0"):
        L.vote(x, 0)
    with pytest.raises(ValueError, match=r"vote: voting_size must be >= 1, got -5"):
        L.vote(x, -5)
    with pytest.raises(TypeError, match=r"vote: voting_size must be an int, got 2.5"):
        L.vote(x, 2.5)
    with pytest.raises(TypeError, match=r"vote: input must be a floating-point tensor.*int64"):
        L.vote(torch.arange(10), 2)
    assert L.vote(torch.tensor([1.0, 0.0, 1.0, 1.0]), 2).tolist() == [0.5, 1.0]  # hand-computed
    with pytest.raises(TypeError, match=r"dropout_mask: generator must be a torch.Generator or None, got int"):
        L.dropout_mask((2, 3), 0.5, generator=3)


def test_set_step_mode_reaches_all_layers() -> None:
    net = nn.Sequential(L.SpikingConv2d(1, 2, 3, padding=1), L.MaxPool2d(2), L.Flatten(), L.TemporalDropout(0.2),
                        L.SpikingLinear(8, 4), L.VotingLayer(2), L.TimeDistributed(nn.Identity()), L.BatchNorm1d(2),
                        L.SumPool2d(1))
    snnkit.set_step_mode(net, "s")
    assert all(m.step_mode == "s" for m in net.modules() if hasattr(m, "step_mode"))
    assert sum(hasattr(m, "step_mode") for m in net.modules()) == 11
