"""The compiled 2x2 pooling kernel behind MaxPool2d/AvgPool2d: bit for bit torch's pooling, values and gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as tF

import snnkit.layers as L
from snnkit.kernels.cpu import pool as pool_kernel
from snnkit.models import build_model, get_config

pytestmark = pytest.mark.skipif(not pool_kernel.available(), reason="CPU pooling kernel unavailable")
TORCH = {"avg": lambda t: tF.avg_pool2d(t, 2, 2), "max": lambda t: tF.max_pool2d(t, 2, 2)}


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits (so NaN payloads and the sign of zero count)."""
    return t.detach().view(torch.int64 if t.dtype == torch.float64 else torch.int32)


def _inputs(shape: tuple, dtype: torch.dtype, g: torch.Generator) -> list:
    rand = torch.randn(shape, generator=g, dtype=dtype) * 3
    spikes = (torch.rand(shape, generator=g) < 0.3).to(dtype) * torch.rand(shape[:2] + (1, 1), generator=g, dtype=dtype)
    special = torch.randn(shape, generator=g, dtype=dtype)
    m = torch.rand(shape, generator=g)
    special[m < 0.1] = float("nan")
    special[(m >= 0.1) & (m < 0.2)] = -0.0
    special[(m >= 0.2) & (m < 0.3)] = float("-inf")
    special[(m >= 0.3) & (m < 0.35)] = float("inf")
    wide = torch.rand(shape, generator=g, dtype=dtype) * 1e6 + torch.rand(shape, generator=g, dtype=dtype) * 1e-3
    return [rand, spikes, special, wide]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_kernel_matches_torch_bit_for_bit(kind: str, dtype: torch.dtype, threads: int) -> None:
    """Outputs and input gradients equal torch's in every bit, with ties, NaN, +-inf, -0 and odd sizes."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        for shape in [(3, 5, 34, 34), (4, 3, 17, 17), (2, 2, 5, 8), (64, 16, 9, 2), (2, 1, 2, 3)]:
            for x in _inputs(shape, dtype, g):
                xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
                ya, yb = TORCH[kind](xa), pool_kernel.pool2x2(xb, kind)
                assert yb is not None and yb.grad_fn is not None and "Pool2x2" in type(yb.grad_fn).__name__
                go = torch.randn(ya.shape, generator=g, dtype=dtype)
                go[torch.rand(ya.shape, generator=g) < 0.2] = -0.0
                ya.backward(go)
                yb.backward(go)
                assert torch.equal(_bits(ya), _bits(yb)), (shape, kind)
                assert torch.equal(_bits(xa.grad), _bits(xb.grad)), (shape, kind)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_kernel_second_order(kind: str) -> None:
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pool_kernel.pool2x2(t, kind), (x,))
    assert torch.autograd.gradgradcheck(lambda t: pool_kernel.pool2x2(t, kind), (x,))


def test_kernel_declines_what_it_does_not_do() -> None:
    """Not 4-D contiguous CPU float: None, and the layers fall back to torch (same results)."""
    x = torch.rand(2, 3, 8, 8)
    assert pool_kernel.pool2x2(x.to(torch.bfloat16), "avg") is None
    assert pool_kernel.pool2x2(x[0], "avg") is None
    assert pool_kernel.pool2x2(x.transpose(2, 3), "max") is None
    assert pool_kernel.pool2x2(x.contiguous(memory_format=torch.channels_last), "max") is None
    x5 = torch.rand(3, 2, 4, 9, 9)
    for layer, ref in ((L.MaxPool2d(2, 1), lambda t: tF.max_pool2d(t, 2, 1)), (L.AvgPool2d(2, ceil_mode=True),
                       lambda t: tF.avg_pool2d(t, 2, ceil_mode=True)), (L.AvgPool2d(2, divisor_override=1),
                       lambda t: tF.avg_pool2d(t, 2, divisor_override=1))):
        assert torch.equal(layer(x5), ref(x5.flatten(0, 1)).unflatten(0, (3, 2)))


def _train(name: str, monkeypatch: pytest.MonkeyPatch, kernel: bool, **overrides: object) -> tuple:
    if not kernel:
        monkeypatch.setattr(L, "pool2x2", lambda x, kind: None)
    calls: list = []
    real = L.pool2x2

    def spy(x: torch.Tensor, kind: str) -> object:
        y = real(x, kind)
        calls.append((kind, y is not None))
        return y

    monkeypatch.setattr(L, "pool2x2", spy)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = get_config(name, **overrides)
        torch.manual_seed(0)
        model = build_model(cfg).train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        g = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(3):
            x = (torch.rand(cfg.T, 4, cfg.in_channels, *cfg.input_size, generator=g) < 0.3).float()
            y = torch.randint(0, cfg.num_classes, (4,), generator=g)
            loss = model.loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    finally:
        torch.set_num_threads(old)
    return losses, model.state_dict(), calls


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_tcja_training_identical_with_the_kernel(pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few Adam steps of the digits_dvs network: every loss, weight and BN statistic as with torch's pooling."""
    kw = dict(pool=pool, input_size=[17, 18], output_neuron=False, v_threshold=0.25)  # so it fires on noise
    loss_a, state_a, calls_a = _train("digits_dvs", monkeypatch, True, **kw)
    monkeypatch.undo()
    loss_b, state_b, _ = _train("digits_dvs", monkeypatch, False, **kw)
    assert calls_a and all(c == (pool, True) for c in calls_a)  # the kernel ran every pooling, no fallback
    assert len(set(float(v) for v in loss_a)) == 3  # the net learns: the steps differ
    assert [float(v) for v in loss_a] == [float(v) for v in loss_b]
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
