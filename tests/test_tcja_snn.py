"""TCJA-SNN networks: configs, shapes, TCJA placement, ablations, parameter counts, and the original DVS128 net.

``TCJASNN.forward`` returns per-step class scores ``[T, B, classes]``; tests reduce ``T`` and
the input size (``dataclasses.replace``) to keep each forward under a second.

Parameter counts of the paper configs (full size, attention="tcja"), equal to the original
repo's networks transcribed below:
    dvs128_gesture   1,832,576   (T=20, 128x128)
    cifar10_dvs     11,369,450   (T=10, 128x128 -> 48x48)
    ncaltech101     21,907,096   (T=14, 180x240)
    fashion_mnist   13,330,560   (T=8, 28x28; not in the repo, PLIF's network + TCJA)
    cifar10_dvs_tet  9,304,466   (T=10, 48x48; src/tet, tests/test_tcja_tet.py)
    ncaltech101_tet 21,909,829   (T=14, 180x240; src/tet)
"""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate

import snnkit
from snnkit.attention import TCJA
from snnkit.layers import MaxPool2d, AvgPool2d, SpikingConv2d
from snnkit.models import CONFIGS, PAPER_CONFIGS, TCJASNN, TCJASNNConfig, build_model, count_parameters, get_config
from snnkit.models import make_optimizer, make_scheduler

from .test_tcja import OrigTCJA

PAPER_PARAMS = {"dvs128_gesture": 1_832_576, "cifar10_dvs": 11_369_450, "ncaltech101": 21_907_096,
                "fashion_mnist": 13_330_560, "cifar10_dvs_tet": 9_304_466, "ncaltech101_tet": 21_909_829}
SMALL = {  # reduced input sizes / T for fast forwards; the architecture is unchanged
    "dvs128_gesture": dict(input_size=[32, 32], T=4),
    "cifar10_dvs": dict(resize=16, input_size=[40, 40], T=4),
    "ncaltech101": dict(input_size=[32, 32], T=4),
    "fashion_mnist": dict(T=3),
    "digits_dvs": dict(T=4),
    "cifar10_dvs_tet": dict(resize=16, input_size=[40, 40], T=4),
    "ncaltech101_tet": dict(input_size=[32, 32], T=4),
}
TET = ("cifar10_dvs_tet", "ncaltech101_tet")  # src/tet's neuron: mem = 0.5 mem + x, reset not detached


def _small(name: str, **kw) -> TCJASNNConfig:
    return get_config(name, **{**SMALL[name], **kw})


def _frames(cfg: TCJASNNConfig, batch: int = 2) -> torch.Tensor:
    return (torch.rand(cfg.T, batch, cfg.in_channels, *cfg.input_size) < 0.2).float()


# --------------------------------------------------------------------------- transcriptions of the original nets
# ridgerchu/TCJA src/dvs128.py, src/cifar10dvs.py and src/caltech101.py, with SpikingJelly 2.0's names
# (MultiStepLIFNode -> LIFNode(step_mode='m'), MultiStepDropout -> Dropout(step_mode='m')).


def _lif(sg=None):
    return sj_neuron.LIFNode(tau=2.0, surrogate_function=sg or sj_surrogate.ATan(), detach_reset=True, step_mode="m")


def _orig_conv3x3(c_in, c_out, bias=False, sg=None):
    return [sj_layer.SeqToANNContainer(nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias), nn.BatchNorm2d(c_out)),
            _lif(sg)]


class OrigGestureNet(nn.Module):
    """src/dvs128.py CextNet; ``T``/``fc_hw`` are parameters here (the original hard-codes 20 and 4x4)."""

    def __init__(self, channels: int, T: int = 20, fc_hw: int = 4):
        super().__init__()
        conv = []
        conv.extend(_orig_conv3x3(2, channels))
        conv.append(sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2)))
        conv.extend(_orig_conv3x3(channels, channels))
        conv.append(sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2)))
        conv.extend(_orig_conv3x3(channels, channels))
        conv.append(sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2)))
        for _ in range(2):
            conv.extend(_orig_conv3x3(channels, channels))
            conv.append(OrigTCJA(4, 4, T, channels))
            conv.append(sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2)))
        self.conv = nn.Sequential(*conv)
        self.fc = nn.Sequential(
            nn.Flatten(2), sj_layer.Dropout(0.5, step_mode="m"),
            sj_layer.SeqToANNContainer(nn.Linear(channels * fc_hw * fc_hw, channels * 2 * 2, bias=False)), _lif(),
            sj_layer.Dropout(0.5, step_mode="m"),
            sj_layer.SeqToANNContainer(nn.Linear(channels * 2 * 2, 110, bias=False)), _lif())
        self.vote = nn.AvgPool1d(10, 10)  # the original VotingLayer

    def forward(self, x):
        x = x.permute(1, 0, 2, 3, 4)  # [N, T, 2, H, W] -> [T, N, 2, H, W]
        out_spikes = self.fc(self.conv(x))
        return self.vote(out_spikes.mean(0).unsqueeze(1)).squeeze(1)


class OrigCifarVGG(nn.Module):
    """src/cifar10dvs.py VGGNet (construction only)."""

    def __init__(self):
        super().__init__()
        sg = sj_surrogate.PiecewiseQuadratic()
        c = lambda a, b: _orig_conv3x3(a, b, bias=True, sg=sg)  # noqa: E731
        pool = lambda: sj_layer.SeqToANNContainer(nn.AvgPool2d(2, 2))  # noqa: E731
        conv = [sj_layer.SeqToANNContainer(nn.AdaptiveAvgPool2d(48))]
        conv += c(2, 64) + c(64, 128) + [pool()] + c(128, 256) + c(256, 256) + [pool()]
        conv += c(256, 512) + c(512, 512) + [OrigTCJA(4, 4, 10, 512), pool()]
        conv += c(512, 512) + c(512, 512) + [OrigTCJA(4, 4, 10, 512), pool()]
        self.conv = nn.Sequential(*conv)
        self.fc = nn.Sequential(nn.Flatten(2), sj_layer.SeqToANNContainer(nn.Linear(512 * 3 * 3, 10)))


class OrigCaltechNet(nn.Module):
    """src/caltech101.py CextNet (construction only)."""

    def __init__(self):
        super().__init__()
        mp = lambda: sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2))  # noqa: E731
        conv = _orig_conv3x3(2, 64) + [mp()] + _orig_conv3x3(64, 128) + [mp()] + _orig_conv3x3(128, 256) + [mp()]
        conv += _orig_conv3x3(256, 256) + [OrigTCJA(4, 4, 14, 256), mp()]
        conv += _orig_conv3x3(256, 512) + [OrigTCJA(2, 4, 14, 512), mp()]
        self.conv = nn.Sequential(*conv)
        self.fc = nn.Sequential(
            nn.Flatten(2), sj_layer.Dropout(0.5, step_mode="m"),
            sj_layer.SeqToANNContainer(nn.Linear(512 * 5 * 7, 1024, bias=False)), _lif(),
            sj_layer.Dropout(0.5, step_mode="m"),
            sj_layer.SeqToANNContainer(nn.Linear(1024, 101, bias=False)), _lif())


def _copy_original_weights(orig: nn.Module, ours: nn.Module) -> None:
    """Copy conv/BN/linear weights in module order and map each TCJA's convs (conv -> conv_c, conv_c -> conv_t)."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    src = [m for m in orig.modules() if isinstance(m, kinds)]
    dst = [m for m in ours.modules() if isinstance(m, kinds)]
    assert [type(m) for m in src] == [type(m) for m in dst]
    for a, b in zip(src, dst):
        b.load_state_dict(a.state_dict())
    t_src = [m for m in orig.modules() if isinstance(m, OrigTCJA)]
    t_dst = [m for m in ours.modules() if isinstance(m, TCJA)]
    assert len(t_src) == len(t_dst)
    for a, b in zip(t_src, t_dst):
        b.conv_c.weight.data.copy_(a.conv.weight.data)
        b.conv_t.weight.data.copy_(a.conv_c.weight.data)


# --------------------------------------------------------------------------- tests


def test_registry_and_unknown_name() -> None:
    assert set(PAPER_CONFIGS) <= set(CONFIGS) and "digits_dvs" in CONFIGS
    with pytest.raises(ValueError, match="dvs128_gesture.*cifar10_dvs.*ncaltech101.*fashion_mnist.*digits_dvs"):
        get_config("imagenet")
    with pytest.raises(ValueError, match=r"unknown field 'channels' \(did you mean 'in_channels'\?\).*valid fields: name, num_classes"):
        get_config("digits_dvs", channels=3)
    with pytest.raises(ValueError, match="attention"):
        get_config("digits_dvs", attention="spatial")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_json_roundtrip(name: str) -> None:
    cfg = get_config(name)
    text = json.dumps(dataclasses.asdict(cfg))
    assert TCJASNNConfig.from_dict(json.loads(text)) == cfg
    assert cfg.tau == 2.0 and cfg.v_threshold == 1.0 and cfg.v_reset == 0.0
    assert (cfg.decay_input, cfg.detach_reset, cfg.conv_init) == ((False, False, "kaiming") if name in TET
                                                                  else (True, True, "default"))
    assert cfg.optimizer == "adam" and cfg.scheduler == "cosine"
    # the paper's recipe (Adam 1e-3, PyTorch's default init of the TCJA convs); the demo net trains in 15 epochs
    assert (cfg.lr, cfg.tcja_init_gain) == ((1e-3, 1.0) if name in PAPER_CONFIGS else (3e-3, 10.0))


def test_tcja_init_gain_reaches_the_blocks() -> None:
    cfg = _small("digits_dvs")
    torch.manual_seed(3)
    ref = build_model(dataclasses.replace(cfg, tcja_init_gain=1.0))
    torch.manual_seed(3)
    scaled = build_model(dataclasses.replace(cfg, tcja_init_gain=10.0))
    pairs = [(a, b) for a, b in zip(ref.modules(), scaled.modules()) if isinstance(a, TCJA)]
    assert pairs and all(b.init_gain == 10.0 for _, b in pairs)
    for a, b in pairs:
        torch.testing.assert_close(b.conv_t.weight, 10 * a.conv_t.weight)
        torch.testing.assert_close(b.conv_c.weight, 10 * a.conv_c.weight)
    sd_a, sd_b = ref.state_dict(), scaled.state_dict()   # nothing else changes
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a if ".conv_t." not in k and ".conv_c." not in k)
    with pytest.raises(ValueError, match="tcja_init_gain"):
        get_config("digits_dvs", tcja_init_gain=0.0)
    old = dataclasses.asdict(cfg)
    old.pop("tcja_init_gain")                            # checkpoints written before the field existed
    assert TCJASNNConfig.from_dict(old).tcja_init_gain == 1.0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_shape_and_backward(name: str) -> None:
    cfg = _small(name)
    model = build_model(cfg)
    x = _frames(cfg)
    out = model(x)
    assert out.shape == (cfg.T, 2, cfg.num_classes)
    loss = model.loss(out, torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_static_images_are_repeated_over_time() -> None:
    cfg = _small("fashion_mnist")
    model = build_model(cfg).eval()
    img = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model(img), model(img.unsqueeze(0).repeat(cfg.T, 1, 1, 1, 1)))
    assert model.predict(img).shape == (2,)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tcja_sits_where_the_original_puts_it(name: str) -> None:
    cfg = get_config(name)
    model = build_model(cfg)
    stage, placed = 0, []
    prev = None
    for m in model.features:
        if isinstance(m, TCJA):
            assert isinstance(prev, SpikingConv2d), "TCJA must follow a conv-BN-LIF unit"
            assert (m.T, m.channels) == (cfg.T, prev.conv.out_channels)
            placed.append(stage)
        if isinstance(m, (MaxPool2d, AvgPool2d)):
            stage += 1
        prev = m
    n = len(cfg.stages)
    assert stage == n
    # the last two stages, but src/tet's CIFAR10-DVS net: one block after the second conv (the first stage)
    assert placed == ([0] if name == "cifar10_dvs_tet" else [n - 2, n - 1])
    assert sum(isinstance(m, TCJA) for m in model.modules()) == len(placed)


def test_ablation_variants() -> None:
    cfg = get_config("dvs128_gesture")
    full = count_parameters(build_model(cfg))
    c, T = 128, cfg.T
    models = {a: build_model(dataclasses.replace(cfg, attention=a)) for a in ("none", "t_xa", "c_xa")}
    assert not any(isinstance(m, TCJA) for m in models["none"].modules())
    assert full - count_parameters(models["none"]) == 2 * (c * c * 4 + T * T * 4)
    assert full - count_parameters(models["t_xa"]) == 2 * T * T * 4  # channel-wise conv removed
    assert full - count_parameters(models["c_xa"]) == 2 * c * c * 4  # temporal-wise conv removed
    for a in ("t_xa", "c_xa"):
        blocks = [m for m in models[a].modules() if isinstance(m, TCJA)]
        assert len(blocks) == 2 and all(b.mode == a for b in blocks)
        assert all((b.conv_t is None) == (a == "c_xa") and (b.conv_c is None) == (a == "t_xa") for b in blocks)
    # on the same weights, the variants compute different outputs (small version)
    small = _small("digits_dvs")
    torch.manual_seed(1)
    ref = build_model(small)
    x = (torch.rand(small.T, 4, 2, 34, 34) < 0.3).float()
    outs = {}
    for a in ("tcja", "none", "t_xa", "c_xa"):
        m = build_model(dataclasses.replace(small, attention=a))  # train mode: BN on batch statistics
        m.load_state_dict(ref.state_dict(), strict=False)
        outs[a] = m.features(x)  # trunk output before the classifier
        assert outs[a].sum() > 0
    for a in ("none", "t_xa", "c_xa"):
        assert not torch.equal(outs["tcja"], outs[a])


def test_paper_parameter_counts_match_original_code() -> None:
    counts = {name: count_parameters(build_model(name)) for name in PAPER_CONFIGS}
    assert counts == PAPER_PARAMS
    assert counts["dvs128_gesture"] == count_parameters(OrigGestureNet(128))
    assert counts["cifar10_dvs"] == count_parameters(OrigCifarVGG())
    assert counts["ncaltech101"] == count_parameters(OrigCaltechNet())
    # Fashion-MNIST (no original script): PLIF's network plus two TCJA blocks, by hand
    fm = 1 * 128 * 9 + 128 * 128 * 9 + 2 * 2 * 128 + 2 * (128 * 128 * 4 + 8 * 8 * 4) + 128 * 7 * 7 * 2048 + 2048 * 100
    assert counts["fashion_mnist"] == fm



class OrigTetCaltechNet(nn.Module):
    """src/tet/caltech101.py CextNet (construction only): src/caltech101.py's net with TCJA(4,4) twice and no
    output neuron (a linear FC101 readout for its TET_loss)."""

    def __init__(self):
        super().__init__()
        mp = lambda: sj_layer.SeqToANNContainer(nn.MaxPool2d(2, 2))  # noqa: E731
        conv = _orig_conv3x3(2, 64) + [mp()] + _orig_conv3x3(64, 128) + [mp()] + _orig_conv3x3(128, 256) + [mp()]
        conv += _orig_conv3x3(256, 256) + [OrigTCJA(4, 4, 14, 256), mp()]
        conv += _orig_conv3x3(256, 512) + [OrigTCJA(4, 4, 14, 512), mp()]
        self.conv = nn.Sequential(*conv)
        self.fc = nn.Sequential(
            nn.Flatten(2), sj_layer.Dropout(0.5, step_mode="m"),
            sj_layer.SeqToANNContainer(nn.Linear(512 * 5 * 7, 1024, bias=False)), _lif(),
            sj_layer.Dropout(0.5, step_mode="m"), sj_layer.SeqToANNContainer(nn.Linear(1024, 101, bias=False)))


def test_tet_caltech_script_is_the_documented_base_file(tmp_path) -> None:
    """docs/tcja.md's base file for src/tet/caltech101.py: its layers, parameter count (by hand) and loss."""
    from snnkit.models.tcja_original import load_original_state_dict
    from snnkit.models.tcja_snn import load_config
    from snnkit.neurons import LIF

    (tmp_path / "tet_caltech.yaml").write_text("base: ncaltech101\ntcja_kernels: [[4, 4], [4, 4]]\n"
                                               "output_neuron: false\nloss: tet\ntet_lamb: 0.001\n")
    cfg = load_config(tmp_path / "tet_caltech.yaml")
    model = build_model(cfg)
    convs = 2 * 64 * 9 + 64 * 128 * 9 + 128 * 256 * 9 + 256 * 256 * 9 + 256 * 512 * 9
    bn = 2 * (64 + 128 + 256 + 256 + 512)
    tcja = (256 * 256 * 4 + 14 * 14 * 4) + (512 * 512 * 4 + 14 * 14 * 4)
    fc = 512 * 5 * 7 * 1024 + 1024 * 101
    assert count_parameters(model) == convs + bn + tcja + fc == 21_907_488
    orig = OrigTetCaltechNet()
    assert count_parameters(orig) == count_parameters(model)
    load_original_state_dict(model, orig.state_dict())  # every layer in order, same shapes (refuses otherwise)
    assert not isinstance(model.classifier[-1], LIF) and sum(isinstance(m, LIF) for m in model.classifier) == 1
    assert (cfg.T, cfg.loss, cfg.tet_lamb, cfg.voting, cfg.surrogate, cfg.detach_reset) == (14, "tet", 1e-3, 1,
                                                                                            "atan", True)

@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_gesture_net_equals_original_on_copied_weights() -> None:
    torch.manual_seed(3)
    T, ch, hw = 6, 16, 64
    orig = OrigGestureNet(ch, T=T, fc_hw=hw // 32).eval()
    cfg = get_config("dvs128_gesture", T=T, input_size=[hw, hw], stages=[[ch]] * 5, hidden=[ch * 4])
    ours = build_model(cfg).eval()
    _excite(orig)
    _copy_original_weights(orig, ours)
    x = (torch.rand(2, T, 2, hw, hw) < 0.3).float() * 2  # [N, T, 2, H, W] event counts as in the dataset
    with torch.no_grad():
        trunk = orig.conv(x.transpose(0, 1))
        sj_functional.reset_net(orig)
        expected = orig(x)
        sj_functional.reset_net(orig)
        got = ours(x.transpose(0, 1)).mean(0)
        torch.testing.assert_close(snnkit.reset(ours).features(x.transpose(0, 1)), trunk)
    assert 0 < trunk.mean() < 1 and 0 < got.mean() < 1 and got.std() > 0
    torch.testing.assert_close(got, expected)


def test_errors_and_training_helpers() -> None:
    cfg = _small("digits_dvs")
    model = build_model(cfg)
    with pytest.raises(ValueError, match="T=3 time steps but config.T=4"):
        model(torch.rand(3, 1, 2, 34, 34))
    with pytest.raises(ValueError, match=r"\[T, B, 2, H, W\]"):
        model(torch.rand(4, 1, 3, 34, 34))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(4, 1, 2, 34, 34, dtype=torch.long))
    with pytest.raises(TypeError, match="TCJASNNConfig"):
        TCJASNN({"name": "x"})
    with pytest.raises(ValueError, match="input_size"):
        get_config("dvs128_gesture", input_size=[16, 16])
    # without attention any T is accepted
    build_model(dataclasses.replace(cfg, attention="none"))(torch.rand(3, 1, 2, 34, 34))
    opt = make_optimizer(model, cfg)
    sched = make_scheduler(opt, cfg)
    assert isinstance(opt, torch.optim.Adam) and isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
    out = model(_frames(cfg))
    labels = torch.tensor([3, 7])
    for kind in ("mse", "ce", "tet"):
        model.config.loss = kind
        assert torch.isfinite(model.loss(out, labels))
    # PLIF variant builds and has one learnable time constant per neuron layer
    plif = build_model(dataclasses.replace(cfg, neuron="plif"))
    n_plif = sum(isinstance(m, snnkit.PLIF) for m in plif.modules())
    assert n_plif == 3 + 2 and count_parameters(plif) == count_parameters(model) + n_plif


def _excite(net: nn.Module) -> None:
    """Random BN statistics and larger gains, so that spikes reach the output layer."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(2.0, 4.0)
                m.bias.uniform_(0.0, 0.5)
            if isinstance(m, nn.Linear):
                m.weight.uniform_(-1.0, 1.5)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name, Orig, hw", [("cifar10_dvs", OrigCifarVGG, (128, 128)),
                                            ("ncaltech101", OrigCaltechNet, (180, 240))])
def test_original_checkpoint_loads_and_gives_the_originals_outputs_and_gradients(name, Orig, hw, tmp_path) -> None:
    """load_original_checkpoint maps src/cifar10dvs.py / src/caltech101.py weights onto our configs: same outputs
    and gradients (input and every weight) as the original networks, in eval mode."""
    from snnkit.models.tcja_original import load_original_checkpoint

    torch.manual_seed(0)
    orig = Orig().eval()
    _excite(orig)
    torch.save({"net": orig.state_dict(), "epoch": 7, "max_test_acc": 0.5}, tmp_path / "checkpoint_max.pth")
    ours = load_original_checkpoint(tmp_path / "checkpoint_max.pth", name).eval()
    T = get_config(name).T
    x = (torch.rand(T, 1, 2, *hw) < 0.3).float() * 2
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    want = orig.fc(orig.conv(x1)).mean(0)
    sj_functional.reset_net(orig)
    got = ours(x2).mean(0)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    g = torch.randn_like(want)
    (want * g).sum().backward()
    (got * g).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=0, atol=0)
    assert x1.grad.abs().sum() > 0
    layers = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    pa = [p for m in orig.modules() if isinstance(m, layers) for p in m.parameters(False)]
    pb = [p for m in ours.modules() if isinstance(m, layers) for p in m.parameters(False)]
    ta = [(b.conv.weight, b.conv_c.weight) for b in orig.modules() if isinstance(b, OrigTCJA)]
    tb = [(b.conv_c.weight, b.conv_t.weight) for b in ours.modules() if isinstance(b, TCJA)]
    pairs = list(zip(pa, pb)) + [pair for a, b in zip(ta, tb) for pair in zip(a, b)]
    assert len(pa) == len(pb) and len(ta) == len(tb) == 2 and any(a.grad.abs().sum() > 0 for a, _ in pairs)
    for a, b in pairs:
        torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=0)


def test_original_state_dict_of_another_network_is_refused() -> None:
    from snnkit.models.tcja_original import load_original_state_dict

    with pytest.raises(ValueError, match="another network"):
        load_original_state_dict(build_model("cifar10_dvs"), OrigCaltechNet().state_dict())
    with pytest.raises(ValueError, match="does not fit"):
        load_original_state_dict(build_model("dvs128_gesture"), OrigGestureNet(64).state_dict())
    with pytest.raises(ValueError, match="not a Conv2d, BatchNorm2d, Linear or TCJA"):
        load_original_state_dict(build_model("cifar10_dvs"), {"x.scale": torch.ones(3)})
