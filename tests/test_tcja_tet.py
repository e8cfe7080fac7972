"""TCJA-TET-SNN configs (``cifar10_dvs_tet``, ``ncaltech101_tet``) against ridgerchu/TCJA's ``src/tet`` networks.

The original classes are transcribed below from ``src/tet/models/layers.py`` and ``VGG_models.py``
(batch-major ``[B, T, C, H, W]``, TET's own LIF neuron and ZIF surrogate, a TCJA whose ``conv`` is
wrapped in ``nn.Sequential``). SpikingJelly's ``MultiStepDropout`` is replaced by ``nn.Dropout``:
both have no parameters and are the identity in eval mode, where the networks are compared.
"""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn as nn

from snnkit.attention import TCJA
from snnkit.models import build_model, count_parameters, get_config
from snnkit.models.tcja_original import load_original_checkpoint

from .test_tcja_snn import _excite as excite_bn_and_linear


# --------------------------------------------------------------------------- transcription of src/tet


class SeqToANNContainer(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.module = args[0] if len(args) == 1 else nn.Sequential(*args)

    def forward(self, x_seq):
        y = self.module(x_seq.flatten(0, 1).contiguous())
        return y.view([x_seq.shape[0], x_seq.shape[1], *y.shape[1:]])


class ZIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, gama):
        out = (input > 0).to(input.dtype)  # .float() in the original: float64 here, see test_tet_checkpoint...
        ctx.save_for_backward(input, out, torch.tensor([gama]))
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (input, out, others) = ctx.saved_tensors
        gama = others[0].item()
        tmp = (1 / gama) * (1 / gama) * ((gama - input.abs()).clamp(min=0))
        return grad_output.clone() * tmp, None


class LIFSpike(nn.Module):
    def __init__(self, thresh=1.0, tau=0.5, gama=1.0):
        super().__init__()
        self.thresh, self.tau, self.gama = thresh, tau, gama

    def forward(self, x):
        mem, spikes = 0, []
        for t in range(x.shape[1]):
            mem = mem * self.tau + x[:, t, ...]
            spike = ZIF.apply(mem - self.thresh, self.gama)
            mem = (1 - spike) * mem
            spikes.append(spike)
        return torch.stack(spikes, dim=1)


class Layer(nn.Module):
    def __init__(self, in_plane, out_plane, kernel_size, stride, padding):
        super().__init__()
        self.fwd = SeqToANNContainer(nn.Conv2d(in_plane, out_plane, kernel_size, stride, padding),
                                     nn.BatchNorm2d(out_plane))
        self.act = LIFSpike()

    def forward(self, x):
        return self.act(self.fwd(x))


class TETTCJA(nn.Module):
    def __init__(self, kernel_size_t: int = 2, kernel_size_c: int = 1, T: int = 8, channel: int = 128):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(T, T, kernel_size=kernel_size_t, padding="same", bias=False))
        self.conv_c = nn.Conv1d(channel, channel, kernel_size=kernel_size_c, padding="same", bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x_seq):
        x = torch.mean(x_seq, dim=[3, 4])
        x_c = x.permute(0, 2, 1)
        conv_t_out = self.conv(x)
        conv_c_out = self.conv_c(x_c).permute(0, 2, 1)
        out = self.sigmoid(conv_c_out * conv_t_out)
        return x_seq * out[:, :, :, None, None]


def _kaiming(net):
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class VGGSNN_TCJA(nn.Module):
    def __init__(self):
        super().__init__()
        pool = SeqToANNContainer(nn.AvgPool2d(2))
        self.features = nn.Sequential(
            Layer(2, 64, 3, 1, 1), Layer(64, 128, 3, 1, 1), TETTCJA(2, 2, 10, 128), pool,
            Layer(128, 256, 3, 1, 1), Layer(256, 256, 3, 1, 1), pool,
            Layer(256, 512, 3, 1, 1), Layer(512, 512, 3, 1, 1), pool,
            Layer(512, 512, 3, 1, 1), Layer(512, 512, 3, 1, 1), pool)
        W = int(48 / 2 / 2 / 2 / 2)
        self.classifier = SeqToANNContainer(nn.Linear(512 * W * W, 10))
        _kaiming(self)

    def forward(self, input):
        return self.classifier(torch.flatten(self.features(input), 2))


class VGGSNN_TCJA_NCAL(nn.Module):
    def __init__(self):
        super().__init__()
        pool = SeqToANNContainer(nn.MaxPool2d(2))
        self.features = nn.Sequential(
            Layer(2, 64, 3, 1, 1), pool, Layer(64, 128, 3, 1, 1), pool, Layer(128, 256, 3, 1, 1), pool,
            Layer(256, 256, 3, 1, 1), TETTCJA(4, 4, 14, 256), pool,
            Layer(256, 512, 3, 1, 1), TETTCJA(4, 4, 14, 512), pool)
        self.act = LIFSpike()
        self.classifier_1 = nn.Sequential(SeqToANNContainer(nn.Dropout(0.5), nn.Linear(512 * 5 * 7, 1024)))
        self.classifier_2 = nn.Sequential(nn.Dropout(0.5), SeqToANNContainer(nn.Linear(1024, 101)))
        _kaiming(self)

    def forward(self, input):
        x = self.classifier_1(torch.flatten(self.features(input), 2))
        return self.classifier_2(self.act(x))


# --------------------------------------------------------------------------- tests


def _excite(net: nn.Module) -> None:
    """test_tcja_snn's random BN statistics and gains, and hidden potentials ~ N(0, 1), within the surrogate's window
    |v - 1| < 1, so that the gradients reach every layer and the input."""
    excite_bn_and_linear(net)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0, (0.2 * m.in_features) ** -0.5)


def test_parameter_counts_equal_the_originals() -> None:
    assert count_parameters(build_model("cifar10_dvs_tet")) == count_parameters(VGGSNN_TCJA()) == 9_304_466
    assert count_parameters(build_model("ncaltech101_tet")) == count_parameters(VGGSNN_TCJA_NCAL()) == 21_909_829


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name, Orig, hw", [("cifar10_dvs_tet", VGGSNN_TCJA, (48, 48)),
                                            ("ncaltech101_tet", VGGSNN_TCJA_NCAL, (180, 240))])
def test_tet_checkpoint_gives_the_originals_outputs_and_gradients(name, Orig, hw, tmp_path) -> None:
    """A src/tet state dict (saved bare, as the scripts do) loads into the config's network, which then computes the
    original's per-step outputs and every gradient (input, weights, both TCJA convs), in eval mode.
    cifar10_dvs_tet average-pools its input to 48x48 in the network: on 48x48 frames that is the identity.
    In float64: TET spikes where mem > 1, snnkit (as SpikingJelly) where mem >= 1; in float32 a membrane lands on
    exactly 1.0 about once per million updates here and the networks then differ by that spike."""
    torch.manual_seed(0)
    orig = Orig().eval()
    _excite(orig)
    torch.save(orig.state_dict(), tmp_path / "TET_log.pth")
    ours = load_original_checkpoint(tmp_path / "TET_log.pth", name).eval().double()
    orig.double()
    T = get_config(name).T
    x = (torch.rand(2, T, 2, *hw) < 0.3).double() * 2  # batch-major, as the scripts feed it
    x1, x2 = x.clone().requires_grad_(), x.transpose(0, 1).clone().requires_grad_()
    want = orig(x1).transpose(0, 1)      # [T, B, classes]
    got = ours(x2)
    assert want.std() > 0
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(want)
    (want * g).sum().backward()
    (got * g).sum().backward()
    assert x1.grad.abs().sum() > 0
    torch.testing.assert_close(x2.grad, x1.grad.transpose(0, 1), rtol=1e-10, atol=1e-12)
    layers = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    pa = [p for m in orig.modules() if isinstance(m, layers) for p in m.parameters(False)]
    pb = [p for m in ours.modules() if isinstance(m, layers) for p in m.parameters(False)]
    ta = [(b.conv[0].weight, b.conv_c.weight) for b in orig.modules() if isinstance(b, TETTCJA)]
    tb = [(b.conv_c.weight, b.conv_t.weight) for b in ours.modules() if isinstance(b, TCJA)]
    pairs = list(zip(pa, pb)) + [pair for a, b in zip(ta, tb) for pair in zip(a, b)]
    assert len(pa) == len(pb) and len(ta) == len(tb) == len(get_config(name).tcja_stages)
    assert all(a.grad.abs().sum() > 0 for a, _ in pairs)   # the gradient reaches every layer
    for a, b in pairs:
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-12)


def TET_loss(outputs, labels, criterion, means, lamb):
    """src/tet/functions.py, verbatim but for comments."""
    T = outputs.size(1)
    Loss_es = 0
    for t in range(T):
        Loss_es += criterion(outputs[:, t, ...], labels)
    Loss_es = Loss_es / T
    if lamb != 0:
        MMDLoss = torch.nn.MSELoss()
        y = torch.zeros_like(outputs).fill_(means)
        Loss_mmd = MMDLoss(outputs, y)
    else:
        Loss_mmd = 0
    return (1 - lamb) * Loss_es + lamb * Loss_mmd


@pytest.mark.parametrize("name", ["cifar10_dvs_tet", "ncaltech101_tet"])
def test_tet_loss_equals_the_scripts(name) -> None:
    """The configs' loss is the scripts' TET_loss(outputs, labels, CrossEntropyLoss(), means=1.0, lamb=1e-3)."""
    cfg = get_config(name, stages=[[4]] * len(get_config(name).stages), hidden=[8][:len(get_config(name).hidden)])
    model = build_model(cfg)
    torch.manual_seed(0)
    out = torch.randn(cfg.T, 5, cfg.num_classes, dtype=torch.float64) * 3   # [T, B, classes], snnkit's layout
    labels = torch.randint(cfg.num_classes, (5,))
    want = TET_loss(out.transpose(0, 1), labels, nn.CrossEntropyLoss(), 1.0, 1e-3)   # the scripts' [B, T, classes]
    torch.testing.assert_close(model.loss(out, labels), want, rtol=1e-14, atol=0)



@pytest.mark.parametrize("name", ["cifar10_dvs", "ncaltech101"])
def test_tet_loss_on_the_plain_networks_is_the_scripts_tmt(name) -> None:
    """src/cifar10dvs.py / src/caltech101.py -loss tmt: SpikingJelly's per-step cross-entropy, no MSE term (lamb 0)."""
    from spikingjelly.activation_based.functional import temporal_efficient_training_cross_entropy as tmt_loss

    n_stages, n_hidden = len(get_config(name).stages), len(get_config(name).hidden)
    cfg = get_config(name, loss="tet", stages=[[4]] * n_stages, hidden=[8][:n_hidden])
    assert cfg.tet_lamb == 0.0 and get_config(name + "_tet").tet_lamb == 1e-3   # src/tet's TET_loss: lamb 1e-3
    model = build_model(cfg)
    torch.manual_seed(1)
    out = torch.randn(cfg.T, 5, cfg.num_classes, dtype=torch.float64) * 3   # [T, B, classes], as the scripts' out_fr
    labels = torch.randint(cfg.num_classes, (5,))
    want = tmt_loss(out, labels)
    torch.testing.assert_close(model.loss(out, labels), want, rtol=1e-14, atol=0)
    # by hand: the mean over steps of the per-step cross-entropy, = src/tet's TET_loss with lamb 0
    by_hand = sum(nn.functional.cross_entropy(o, labels) for o in out) / cfg.T
    torch.testing.assert_close(want, by_hand, rtol=1e-14, atol=0)
    torch.testing.assert_close(want, TET_loss(out.transpose(0, 1), labels, nn.CrossEntropyLoss(), 1.0, 0.0),
                               rtol=1e-14, atol=0)
    # tet_lamb 1e-3 adds the MSE-to-1 term of src/tet (and differs by more than rounding)
    model.config.tet_lamb = 1e-3
    with_mse = TET_loss(out.transpose(0, 1), labels, nn.CrossEntropyLoss(), 1.0, 1e-3)
    torch.testing.assert_close(model.loss(out, labels), with_mse, rtol=1e-14, atol=0)
    assert abs(with_mse - want) > 1e-4
    for bad in (1.0, -0.1, float("nan"), "0.001", True):
        with pytest.raises(ValueError, match="tet_lamb must be a number in \\[0, 1\\)"):
            get_config(name, tet_lamb=bad)

def test_kaiming_init_of_the_tet_networks() -> None:
    """conv_init='kaiming': every Conv2d weight ~ N(0, 2/fan_out) as TET's VGG-SNN; the TCJA convs keep PyTorch's."""
    torch.manual_seed(0)
    tet = build_model(dataclasses.replace(get_config("cifar10_dvs_tet"), conv_init="kaiming"))
    torch.manual_seed(0)
    plain = build_model(dataclasses.replace(get_config("cifar10_dvs_tet"), conv_init="default"))
    convs = [m for m in tet.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8
    for m in convs:
        want = math.sqrt(2 / (m.out_channels * 9))
        assert abs(m.weight.std().item() / want - 1) < 0.1, (m, m.weight.std().item(), want)
    for a, b in zip(plain.modules(), tet.modules()):
        if isinstance(a, nn.Conv2d):   # PyTorch's default: uniform, std 1/sqrt(3 fan_in)
            assert abs(a.weight.std().item() * math.sqrt(3 * a.in_channels * 9) - 1) < 0.1
            torch.testing.assert_close(a.bias, b.bias)      # the bias keeps its default init
        if isinstance(a, nn.Conv1d):
            torch.testing.assert_close(a.weight, b.weight)  # TCJA convs untouched
    with pytest.raises(ValueError, match="conv_init must be 'default' or 'kaiming'"):
        get_config("cifar10_dvs_tet", conv_init="xavier")


def test_surrogate_alpha_only_for_surrogates_that_have_one() -> None:
    """Surrogates without an alpha (triangle, fast_sigmoid) build at their defaults; an alpha for them is refused."""
    from snnkit.models import TCJASNNConfig
    from snnkit.neurons import LIF

    for name, cls_param in (("triangle", ("gamma", 1.0)), ("fast_sigmoid", ("slope", 25.0))):
        lif = next(m for m in build_model(get_config("digits_dvs", surrogate=name)).modules() if isinstance(m, LIF))
        assert lif.surrogate.name == name and getattr(lif.surrogate, cls_param[0]) == cls_param[1]
        with pytest.raises(ValueError, match=f"surrogate_alpha must be null: surrogate '{name}' has no alpha"):
            get_config("digits_dvs", surrogate=name, surrogate_alpha=2.0)
    old = dataclasses.asdict(get_config("digits_dvs"))
    old["surrogate_alpha"] = 2.0   # checkpoints written when the field defaulted to 2.0 (ATan's alpha)
    assert TCJASNNConfig.from_dict(old).validate().surrogate_alpha == 2.0
    lif = next(m for m in build_model(get_config("cifar10_dvs_tet")).modules() if isinstance(m, LIF))
    assert (lif.surrogate.name, lif.surrogate.alpha) == ("piecewise_quadratic", 1.0)
    x = torch.linspace(-2, 2, 41)
    torch.testing.assert_close(lif.surrogate.derivative(x), (1 - x.abs()).clamp(min=0))  # TET's ZIF, gamma 1
