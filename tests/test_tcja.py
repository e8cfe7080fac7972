"""TCJA block: shapes, gradients, a hand-computed case, and equality with the original repo's layer."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from snnkit.attention import TCJA, convert_original_state_dict, tcja, tcja_gate


# --------------------------------------------------------------------------- the original formulation
# Transcribed from ridgerchu/TCJA src/layers.py (TCJA, TLA, CLA), permutes included, as the reference.


class OrigTCJA(nn.Module):
    def __init__(self, kernel_size_t: int = 2, kernel_size_c: int = 1, T: int = 8, channel: int = 128):
        super().__init__()
        self.conv = nn.Conv1d(in_channels=T, out_channels=T, kernel_size=kernel_size_t, padding="same", bias=False)
        self.conv_c = nn.Conv1d(in_channels=channel, out_channels=channel, kernel_size=kernel_size_c,
                                padding="same", bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x_seq):
        x = torch.mean(x_seq.permute(1, 0, 2, 3, 4), dim=[3, 4])
        x_c = x.permute(0, 2, 1)
        conv_t_out = self.conv(x).permute(1, 0, 2)
        conv_c_out = self.conv_c(x_c).permute(2, 0, 1)
        out = self.sigmoid(conv_c_out * conv_t_out)
        return x_seq * out[:, :, :, None, None]


class OrigTLA(nn.Module):
    def __init__(self, kernel_size_t: int = 2, kernel_size_c: int = 1, T: int = 8, channel: int = 128):
        super().__init__()
        self.conv_c = nn.Conv1d(in_channels=channel, out_channels=channel, kernel_size=kernel_size_c,
                                padding="same", bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x_seq):
        x = torch.mean(x_seq.permute(1, 0, 2, 3, 4), dim=[3, 4])
        x_c = x.permute(0, 2, 1)
        conv_c_out = self.conv_c(x_c).permute(2, 0, 1)
        out = self.sigmoid(conv_c_out)
        return x_seq * out[:, :, :, None, None]


class OrigCLA(nn.Module):
    def __init__(self, kernel_size_t: int = 2, kernel_size_c: int = 1, T: int = 8, channel: int = 128):
        super().__init__()
        self.conv = nn.Conv1d(in_channels=T, out_channels=T, kernel_size=kernel_size_t, padding="same", bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x_seq):
        x = torch.mean(x_seq.permute(1, 0, 2, 3, 4), dim=[3, 4])
        conv_t_out = self.conv(x).permute(1, 0, 2)
        out = self.sigmoid(conv_t_out)
        return x_seq * out[:, :, :, None, None]


def _spikes(*shape: int) -> torch.Tensor:
    return (torch.rand(*shape) < 0.3).float()


# --------------------------------------------------------------------------- tests


def test_shapes_and_gate_range() -> None:
    m = TCJA(6, 8, kernel_t=3, kernel_c=2)
    x = _spikes(6, 3, 8, 5, 4)
    y = m(x)
    assert y.shape == x.shape
    g = m.gate(x)
    assert g.shape == (6, 3, 8)
    assert bool(((g > 0) & (g < 1)).all())
    assert torch.equal(y, x * g[..., None, None])
    n_params = sum(p.numel() for p in m.parameters())
    assert n_params == 8 * 8 * 3 + 6 * 6 * 2


def test_squeeze_is_spatial_mean() -> None:
    m = TCJA(4, 3, kernel_t=2, kernel_c=3)
    x = torch.rand(4, 2, 3, 6, 5)
    flat = x.mean(dim=(3, 4), keepdim=True)
    torch.testing.assert_close(m.gate(x), m.gate(flat))


def test_gradients_reach_both_convs_and_input() -> None:
    m = TCJA(5, 4, kernel_t=2, kernel_c=2)
    x = torch.rand(5, 2, 4, 3, 3, requires_grad=True)
    (m(x) * torch.randn(5, 2, 4, 3, 3)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_hand_computed_tiny_case() -> None:
    # T=2, C=2, H=W=1, both kernels 2 ("same" padding puts the one zero after the sequence).
    z = [[1.0, 2.0], [3.0, 4.0]]  # z[t][c]
    x = torch.tensor(z).reshape(2, 1, 2, 1, 1)
    w_t = torch.zeros(2, 2, 2)  # [out C, in C, k] slides along T
    w_t[0, 0, 0] = w_t[1, 1, 0] = 1.0
    w_t[:, :, 1] = 0.5
    w_c = torch.zeros(2, 2, 2)  # [out T, in T, k] slides along C
    w_c[0, 0, 0] = w_c[1, 1, 0] = 1.0
    w_c[0, 0, 1] = w_c[1, 1, 1] = -1.0
    w_c[0, 1, 0] = 0.25
    # A_t[t][c] = z[t][c] + 0.5 * (z[t+1][0] + z[t+1][1])        (z[2][.] = 0)
    a_t = [[1 + 3.5, 2 + 3.5], [3.0, 4.0]]
    # A_c[t][c] = z[t][c] - z[t][c+1] (+ 0.25 * z[1][c] for t=0)  (z[.][2] = 0)
    a_c = [[1 - 2 + 0.75, 2 - 0 + 1.0], [3 - 4.0, 4 - 0.0]]
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    expected = torch.tensor([[z[t][c] * sig(a_t[t][c] * a_c[t][c]) for c in range(2)] for t in range(2)])
    y = tcja(x, w_t, w_c)
    torch.testing.assert_close(y.reshape(2, 2), expected)
    # the single-branch ablations gate with sigmoid of one branch
    exp_t = torch.tensor([[z[t][c] * sig(a_t[t][c]) for c in range(2)] for t in range(2)])
    exp_c = torch.tensor([[z[t][c] * sig(a_c[t][c]) for c in range(2)] for t in range(2)])
    torch.testing.assert_close(tcja(x, w_t, None).reshape(2, 2), exp_t)
    torch.testing.assert_close(tcja(x, None, w_c).reshape(2, 2), exp_c)
    # the module with the same weights agrees
    m = TCJA(2, 2, kernel_t=2, kernel_c=2)
    with torch.no_grad():
        m.conv_t.weight.copy_(w_t)
        m.conv_c.weight.copy_(w_c)
    torch.testing.assert_close(m(x).reshape(2, 2), expected)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("T,C,k_orig_t,k_orig_c", [(20, 16, 4, 4), (14, 12, 2, 4), (5, 9, 3, 1), (3, 4, 1, 2)])
def test_matches_original_formulation(T: int, C: int, k_orig_t: int, k_orig_c: int) -> None:
    orig = OrigTCJA(k_orig_t, k_orig_c, T, C)
    ours = TCJA(T, C, kernel_t=k_orig_c, kernel_c=k_orig_t)
    ours.load_state_dict(convert_original_state_dict(orig.state_dict()))
    torch.testing.assert_close(ours.conv_c.weight, orig.conv.weight)
    torch.testing.assert_close(ours.conv_t.weight, orig.conv_c.weight)
    x = _spikes(T, 3, C, 4, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), orig(x), rtol=1e-5, atol=1e-6)
    # gradients agree as well
    xa = torch.rand(T, 2, C, 3, 3, requires_grad=True)
    xb = xa.detach().clone().requires_grad_(True)
    g = torch.randn(T, 2, C, 3, 3)
    (ours(xa) * g).sum().backward()
    (orig(xb) * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.conv_t.weight.grad, orig.conv_c.weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.conv_c.weight.grad, orig.conv.weight.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_ablations_match_original_tla_and_cla() -> None:
    T, C = 6, 10
    x = _spikes(T, 2, C, 3, 3)
    tla, cla = OrigTLA(2, 3, T, C), OrigCLA(2, 3, T, C)
    t_xa, c_xa = TCJA(T, C, kernel_t=3, kernel_c=2, mode="t_xa"), TCJA(T, C, kernel_t=3, kernel_c=2, mode="c_xa")
    assert t_xa.conv_c is None and c_xa.conv_t is None
    with torch.no_grad():
        t_xa.conv_t.weight.copy_(tla.conv_c.weight)
        c_xa.conv_c.weight.copy_(cla.conv.weight)
        torch.testing.assert_close(t_xa(x), tla(x))
        torch.testing.assert_close(c_xa(x), cla(x))


def test_errors_name_the_problem() -> None:
    m = TCJA(4, 3)
    with pytest.raises(ValueError, match=r"\[T, B, C, H, W\]"):
        m(torch.rand(2, 3, 5, 5))
    with pytest.raises(ValueError, match="T=4"):
        m(torch.rand(5, 1, 3, 2, 2))
    with pytest.raises(ValueError, match="channels=3"):
        m(torch.rand(4, 1, 7, 2, 2))
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.ones(4, 1, 3, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="mode"):
        TCJA(4, 3, mode="spatial")
    with pytest.raises(ValueError, match="kernel_t"):
        TCJA(4, 3, kernel_t=0)
    with pytest.raises(ValueError, match="init_gain"):
        TCJA(4, 3, init_gain=-1.0)
    with pytest.raises(ValueError, match="at least one"):
        tcja_gate(torch.rand(4, 1, 3, 2, 2), None, None)
    with pytest.raises(ValueError, match="weight_c"):
        tcja(torch.rand(4, 1, 3, 2, 2), torch.rand(3, 3, 2), torch.rand(5, 5, 2))
    with pytest.raises(ValueError, match="conv.weight"):
        convert_original_state_dict({"fc.weight": torch.zeros(1)})


def test_init_gain_scales_the_default_init_and_unfreezes_the_gate() -> None:
    """init_gain multiplies PyTorch's Conv1d init; on spike-rate inputs gain 1 gives a gate stuck near 0.5."""
    torch.manual_seed(0)
    a = TCJA(8, 32)
    torch.manual_seed(0)
    b = TCJA(8, 32, init_gain=10.0)
    torch.testing.assert_close(b.conv_t.weight, 10 * a.conv_t.weight)
    torch.testing.assert_close(b.conv_c.weight, 10 * a.conv_c.weight)
    assert "init_gain=10" in repr(b) and "init_gain" not in repr(a)
    x = (torch.rand(8, 64, 32, 6, 6) < 0.1).float()        # spikes at a 10 % rate, like a trained trunk's
    g1, g10 = a.gate(x), b.gate(x)
    assert (g1 - 0.5).abs().max() < 0.02                   # product of two ~0.1 branch outputs: ~0.01
    assert g10.std() > 20 * g1.std()                       # the product scales with gain^2 in the linear regime
