"""Tracing models into the hardware layer graph: shapes, folding, mapping rules, clear refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnkit
import snnkit.attention  # noqa: F401  (snnkit.attention.TCJA below; run alone, nothing else imports it)
from snnkit import layers as L
from snnkit.hardware.graph import Conv2d, Dense, Flatten, Neuron, Pool2d, apply_op, trace


def _conv_net() -> nn.Sequential:
    torch.manual_seed(1)
    net = nn.Sequential(
        L.TimeDistributed(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4))),
        snnkit.LIF(tau=2.0),
        L.SumPool2d(2),
        snnkit.CubaLIF(du=0.5, dv=0.2, v_threshold=0.8),
        nn.Sequential(L.SpikingConv2d(4, 3, 3, stride=2, padding=1, neuron=snnkit.IF())),
        L.Flatten(),
        L.SpikingLinear(12, 5, neuron=lambda: snnkit.PLIF(init_tau=3.0, decay_input=False)),
        nn.Linear(5, 2),
    ).eval()
    bn = net[0].module[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
    return net


def test_trace_shapes_kinds_and_paths() -> None:
    g = trace(_conv_net(), (2, 8, 8))
    kinds = [type(layer).__name__ for layer in g.layers]
    assert kinds == ["Input", "Conv2d", "Neuron", "Pool2d", "Neuron", "Conv2d", "Neuron", "Flatten", "Dense", "Neuron"]
    shapes = [layer.out_shape for layer in g.layers]
    assert shapes[1] == (4, 8, 8) and shapes[3] == (4, 4, 4) and shapes[5] == (3, 2, 2) and shapes[7] == (12,)
    names = [n.name for n in g.neurons()]
    assert names == ["1", "3", "4.0.neuron", "6.neuron"]
    assert [n.source for n in g.neurons()] == ["LIF", "CubaLIF", "IF", "PLIF"]
    assert [name for name, _ in g.readout] == ["7"]  # Linear after the last neuron runs on the host
    assert len(g.stages()) == 4 and "conv2d" in g.summary()


def test_batchnorm_is_folded_with_eval_statistics() -> None:
    net = _conv_net()
    g = trace(net, (2, 8, 8), fold=False)
    conv = g.layers[1]
    assert isinstance(conv, Conv2d) and conv.name == "0.module.0+0.module.1"
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        ref = net[0].module.double()(x)
    np.testing.assert_allclose(apply_op(conv, x).numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_neuron_mappings_to_lava_lif() -> None:
    g = trace(_conv_net(), (2, 8, 8), fold=False)
    lif, cuba, iff, plif = g.neurons()
    assert (lif.du, lif.dv, lif.input_scale, lif.spike_rule) == (1.0, 0.5, 0.5, ">=")
    assert (cuba.du, cuba.dv, cuba.vth, cuba.spike_rule) == (0.5, 0.2, 0.8, ">")
    assert (iff.du, iff.dv, iff.input_scale) == (1.0, 0.0, 1.0)
    assert plif.du == 1.0 and plif.dv == pytest.approx(1 / 3) and plif.input_scale == 1.0  # decay_input=False


def test_lif_input_scale_folds_into_the_preceding_weights() -> None:
    net = _conv_net()
    raw = trace(net, (2, 8, 8), fold=False)
    folded = trace(net, (2, 8, 8))
    assert folded.neurons()[0].input_scale == 1.0
    np.testing.assert_allclose(folded.layers[1].weight, raw.layers[1].weight * 0.5)
    np.testing.assert_allclose(folded.layers[1].bias, raw.layers[1].bias * 0.5)


def test_linear_bias_and_readout() -> None:
    net = nn.Sequential(nn.Linear(3, 4), snnkit.CubaLIF(), L.VotingLayer(2))
    g = trace(net, (3,))
    assert isinstance(g.layers[1], Dense) and g.layers[1].bias is not None
    y = g.apply_readout(torch.ones(2, 1, 4))
    assert y.shape == (2, 1, 2)


@pytest.mark.parametrize(
    "model, shape, path, words",
    [
        (lambda: nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 2, 3)), snnkit.LIF(),
                               snnkit.attention.TCJA(4, 2)), (2, 6, 6), "'2'", "TCJA"),
        (lambda: nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), snnkit.LIF()), (3,), "'1'", "LayerNorm"),
        (lambda: nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 2, 3)), L.MaxPool2d(2), snnkit.LIF()), (2, 6, 6),
         "'1'", "max pooling"),
        (lambda: nn.Sequential(nn.Linear(3, 3), snnkit.LIF(v_reset=None)), (3,), "'1'", "soft reset"),
        (lambda: nn.Sequential(nn.Linear(3, 3), snnkit.LIF(tau=4.0, decay_input=False, v_reset=None,
                                                           reset_delay=True)), (3,), "'1'",
         "train with reset_delay=False, v_reset=0.0"),
        (lambda: nn.Sequential(nn.Linear(3, 3), snnkit.IF(v_reset=-0.5)), (3,), "'1'", "resets v to 0"),
        (lambda: nn.Sequential(nn.Linear(3, 3), snnkit.LIF(graded=True)), (3,), "'1'", "graded"),
        (lambda: nn.Sequential(nn.Linear(3, 3), nn.ReLU(), snnkit.LIF()), (3,), "'1'", "analog"),
        (lambda: nn.Sequential(snnkit.LIF(), nn.BatchNorm1d(3), snnkit.LIF()), (3,), "'1'", "folded"),
        (lambda: nn.Sequential(L.TimeDistributed(nn.Conv2d(2, 2, 3)), nn.Linear(4, 2), snnkit.LIF()), (2, 6, 6),
         "'1'", "Flatten"),
    ],
)
def test_unmappable_modules_raise_naming_the_module(model, shape, path, words) -> None:
    with pytest.raises(ValueError) as err:
        trace(model(), shape)
    assert path in str(err.value) and words in str(err.value)


def test_custom_container_and_no_neuron_and_bad_shapes() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):  # pragma: no cover - never called
            return self.lin(x)

    with pytest.raises(ValueError, match="custom container"):
        trace(nn.Sequential(Block(), snnkit.LIF()), (3,))
    with pytest.raises(ValueError, match="no spiking neuron"):
        trace(nn.Sequential(nn.Linear(3, 3)), (3,))
    with pytest.raises(ValueError, match="input_shape"):
        trace(nn.Sequential(nn.Linear(3, 3), snnkit.LIF()), (3, 4))
    with pytest.raises(ValueError, match="in_features"):
        trace(nn.Sequential(nn.Linear(3, 3), snnkit.LIF()), (5,))
    with pytest.raises(TypeError):
        trace("not a model", (3,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence of ints"):  # int(3.5) = 3 traced a 3-feature network
        trace(nn.Sequential(nn.Linear(3, 3), snnkit.LIF()), (3.5,))


def test_every_dropout_flavour_is_the_identity_at_inference() -> None:
    """Dropout2d/AlphaDropout are not nn.Dropout subclasses: a conv SNN using Dropout2d was refused."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), L.TimeDistributed(nn.Dropout2d(0.2)), snnkit.IF(), L.Flatten(),
                        nn.AlphaDropout(0.1), nn.Linear(8, 3), snnkit.IF(), nn.Dropout1d(0.1), nn.Linear(3, 2))
    g = trace(net, (1, 4, 4))
    assert [layer.kind for layer in g.layers] == ["input", "conv2d", "neuron", "flatten", "dense", "neuron"]
    assert [type(m).__name__ for _, m in g.readout] == ["Dropout1d", "Linear"]


def test_pooling_with_an_empty_output_is_refused_naming_it() -> None:
    """A 4x4 window on a 3x3 map has no output (torch's own pooling raises); it was traced as a (1, 0, 0) layer."""
    with pytest.raises(ValueError, match=r"'1'.*SumPool2d.*empty"):
        trace(nn.Sequential(snnkit.IF(), L.SumPool2d(4), snnkit.IF()), (1, 3, 3))
    with pytest.raises(ValueError, match=r"'1.module'.*AvgPool2d.*empty"):
        trace(nn.Sequential(snnkit.IF(), L.TimeDistributed(nn.AvgPool2d((1, 5))), snnkit.IF()), (1, 3, 3))


def test_adaptive_average_pooling_maps_when_its_size_divides_the_input() -> None:
    """AdaptiveAvgPool2d 8x8 -> 4x2 is AvgPool2d((2, 4)): traced as one, the same values; 128 -> 48 (TCJA-SNN's
    CIFAR10-DVS resize) averages unequal windows and is refused, saying how to resize the frames instead."""
    net = nn.Sequential(L.TimeDistributed(nn.AdaptiveAvgPool2d((4, 2))), L.TimeDistributed(nn.Conv2d(2, 3, 1)),
                        snnkit.IF())
    pool = trace(net, (2, 8, 8), fold=False).layers[1]
    assert isinstance(pool, Pool2d) and (pool.mode, pool.kernel_size, pool.stride, pool.out_shape) == \
        ("avg", (2, 4), (2, 4), (2, 4, 2))
    x = torch.rand(5, 2, 8, 8)
    torch.testing.assert_close(apply_op(pool, x), nn.functional.adaptive_avg_pool2d(x, (4, 2)))
    with pytest.raises(ValueError, match=r"128x128 -> 48x48 averages windows of unequal sizes.*resize: null and "
                                         r"input_size: \[48, 48\]"):
        trace(nn.Sequential(L.TimeDistributed(nn.AdaptiveAvgPool2d(48)), snnkit.IF()), (2, 128, 128))


def test_pooling_flavours() -> None:
    g = trace(nn.Sequential(L.TimeDistributed(nn.Conv2d(1, 2, 1)), snnkit.IF(), L.AvgPool2d(2), snnkit.IF(),
                            nn.AvgPool2d(2, divisor_override=1), snnkit.IF()), (1, 8, 8))
    pools = [layer for layer in g.layers if isinstance(layer, Pool2d)]
    assert [p.mode for p in pools] == ["avg", "sum"] and pools[0].scale == 0.25
    assert not any(isinstance(layer, Flatten) for layer in g.layers)
    assert all(isinstance(n, Neuron) for n in g.neurons())
