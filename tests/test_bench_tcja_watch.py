"""The pre-registered smartwatch benchmark: its network against the TCJA-SNN builder, its statistics and rule."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

stats = pytest.importorskip("scipy.stats")
ROOT = Path(__file__).resolve().parent.parent


def _module():
    from tests.conftest import load_script

    return load_script(ROOT / "benchmarks" / "tcja_watch.py", "tcja_watch")


def test_head_is_the_builders_and_variants_differ_only_by_tcja() -> None:
    m = _module()
    from snnkit.attention.tcja import TCJA
    from snnkit.models.tcja_snn import build_model, get_config

    # the builder's network whose trunk ends in 32 x 1 x 5 features (two 2x2 pools of 4 x 20): its classifier
    ref = build_model(get_config("digits_dvs", T=20, num_classes=7, in_channels=6, stages=[[32], [32]],
                                 input_size=[4, 20], sensor_size=[4, 20], tcja_stages=[0, 1]))
    for v in ("tcja", "none"):
        net = m.WatchNet(v)
        got = [(type(x).__name__, tuple(p.shape for p in x.parameters())) for x in net.classifier]
        want = [(type(x).__name__, tuple(p.shape for p in x.parameters())) for x in ref.classifier]
        assert got == want
        assert [x.p for x in net.classifier if hasattr(x, "p")] == [0.2, 0.2]
    tcja, none = m.WatchNet("tcja"), m.WatchNet("none")
    blocks = [x for x in tcja.features if isinstance(x, TCJA)]
    assert len(blocks) == 2 and not any(isinstance(x, TCJA) for x in none.features)
    # two TCJA blocks: Conv1d(32->32, k 4) along T and Conv1d(20->20, k 4) along C, no bias
    extra = 2 * (32 * 32 * 4 + 20 * 20 * 4)
    count = lambda n: sum(p.numel() for p in n.parameters())  # noqa: E731
    assert count(tcja) - count(none) == extra
    conv = none.features[0].conv
    assert conv.kernel_size == (1, 3) and conv.padding == (0, 1) and conv.bias is None
    neuron = none.features[0].neuron
    assert (neuron.tau, neuron.detach_reset, type(neuron.surrogate).__name__) == (2.0, True, "ATan")
    out = tcja(torch.randn(20, 3, 6, 1, 5))
    assert out.shape == (20, 3, 7) and ((out >= 0) & (out <= 1)).all()
    with pytest.raises(ValueError, match=r"\[20, B, 6, 1, 5\]"):
        tcja(torch.randn(16, 3, 6, 1, 5))


def test_tcja_init_gain_is_the_configs() -> None:
    m = _module()
    torch.manual_seed(0)
    a = m.WatchNet("tcja")
    from snnkit.attention.tcja import TCJA

    torch.manual_seed(1)
    plain = TCJA(20, 32, kernel_t=4, kernel_c=4)
    blk = next(x for x in a.features if isinstance(x, TCJA))
    ratio = [q.abs().max().item() / p.abs().max().item() for q, p in zip(blk.parameters(), plain.parameters())]
    assert all(5 < r < 20 for r in ratio)  # 10x PyTorch's default uniform bound (max of |U(-10b, 10b)| vs |U(-b, b)|)


def _runs(tcja, none):
    return ([{"attention": "tcja", "seed": s, "final": a} for s, a in enumerate(tcja)]
            + [{"attention": "none", "seed": s, "final": a} for s, a in enumerate(none)])


def test_paired_stats_match_scipy() -> None:
    m = _module()
    tcja, none = [0.80, 0.75, 0.90, 0.70, 0.85], [0.78, 0.75, 0.85, 0.72, 0.80]
    s = m.paired_stats(_runs(tcja, none))
    ref = stats.ttest_rel([100 * a for a in tcja], [100 * b for b in none])
    d = s["difference"]
    assert d["t"] == pytest.approx(ref.statistic) and d["p"] == pytest.approx(ref.pvalue)
    assert d["mean"] == pytest.approx(2.0) and (d["wins"], d["ties"], d["losses"]) == (3, 1, 1)
    lo, hi = ref.confidence_interval(0.95)
    assert d["ci95"] == pytest.approx([lo, hi])
    assert s["tcja"]["mean"] == pytest.approx(80.0)


def test_decision_rule() -> None:
    m = _module()
    ok = {"difference": {"mean": 1.0, "p": 0.049}}
    assert m.decide(ok, True) == "TCJA helps on this data"
    assert m.decide({"difference": {"mean": 0.99, "p": 0.001}}, True).startswith("TCJA does not help")
    assert m.decide({"difference": {"mean": 3.0, "p": 0.05}}, True).startswith("TCJA does not help")
    assert m.decide(ok, False) == "incomplete: no outcome"


def _wide():
    from tests.conftest import load_script

    return load_script(ROOT / "benchmarks" / "tcja_watch_wide.py", "tcja_watch_wide")


def _hand_count(c: int) -> int:
    """The none network's parameters by hand: conv 6->c (1x3), BN, conv c->c (1x3), BN, FC 5c->128, FC 128->70 (no bias)."""
    return 6 * c * 3 + 2 * c + c * c * 3 + 2 * c + 5 * c * 128 + 128 * 70


def test_none_wide_is_the_smallest_width_matching_tcjas_parameters() -> None:
    w = _wide()
    m = _module()
    tcja = w.n_params(m.WatchNet("tcja"))
    assert tcja == _hand_count(32) + 2 * (32 * 32 * 4 + 20 * 20 * 4) == 44608
    c = w.wide_channels()
    assert c == 45  # the width the design (docstring, docs/tcja.md) states
    assert w.n_params(m.WatchNet("none", c)) == _hand_count(c) == 44825 >= tcja
    assert w.n_params(m.WatchNet("none", c - 1)) == _hand_count(c - 1) == 43896 < tcja
    assert "c = 45, 44,825 >= 44,608; c = 44 gives 43,896" in " ".join(w.__doc__.split())
    wide = m.WatchNet("none", c)
    convs = [x.conv for x in wide.features]
    assert [(x.in_channels, x.out_channels, x.kernel_size, x.padding) for x in convs] == \
        [(6, 45, (1, 3), (0, 1)), (45, 45, (1, 3), (0, 1))]
    lin = [x.module for x in wide.classifier if type(x).__name__ == "TimeDistributed"]
    assert [(x.in_features, x.out_features) for x in lin] == [(225, 128), (128, 70)]
    # the head past the first linear layer is the none network's, module for module
    rest = lambda n: [(type(x).__name__, tuple(p.shape for p in x.parameters())) for x in n.classifier][3:]  # noqa: E731
    assert rest(wide) == rest(m.WatchNet("none"))
    out = wide(torch.randn(20, 3, 6, 1, 5))
    assert out.shape == (20, 3, 7)
    with pytest.raises(ValueError, match="channels must be a positive int"):
        m.WatchNet("none", 0)


def test_wide_paired_stats_match_scipy_and_rule() -> None:
    w = _wide()
    tcja, wide, none = [0.80, 0.75, 0.90, 0.70, 0.85], [0.78, 0.75, 0.85, 0.72, 0.80], [0.77, 0.74, 0.86, 0.70, 0.79]
    runs = lambda v, xs: [{"attention": v, "seed": s, "final": a} for s, a in enumerate(xs)]  # noqa: E731
    s = w.summarise(runs("none_wide", wide), runs("tcja", tcja) + runs("none", none))
    for key, a, b in (("tcja_minus_none_wide", tcja, wide), ("none_wide_minus_none", wide, none)):
        ref = stats.ttest_rel([100 * x for x in a], [100 * y for y in b])
        d = s[key]
        assert d["t"] == pytest.approx(ref.statistic) and d["p"] == pytest.approx(ref.pvalue)
        assert d["ci95"] == pytest.approx(list(ref.confidence_interval(0.95)))
    assert (s["tcja_minus_none_wide"]["wins"], s["tcja_minus_none_wide"]["ties"],
            s["tcja_minus_none_wide"]["losses"]) == (3, 1, 1)
    assert s["none_wide"]["mean"] == pytest.approx(78.0)
    ok = {"tcja_minus_none_wide": {"mean": 1.0, "p": 0.049}}
    assert w.decide(ok, True) == "the TCJA gain is not explained by parameter count"
    assert w.decide({"tcja_minus_none_wide": {"mean": 0.99, "p": 0.001}}, True).endswith("(rule not met)")
    assert w.decide({"tcja_minus_none_wide": {"mean": 3.0, "p": 0.05}}, True).endswith("(rule not met)")
    assert w.decide(ok, False) == "incomplete: no outcome"
