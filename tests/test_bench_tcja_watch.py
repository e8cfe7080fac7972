"""The pre-registered smartwatch benchmark: its network against the TCJA-SNN builder, its statistics and rule."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

stats = pytest.importorskip("scipy.stats")
ROOT = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location("tcja_watch", ROOT / "benchmarks" / "tcja_watch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
