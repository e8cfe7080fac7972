"""Next-token sampling (snnkit.sampling) against the rwkv pip package's PIPELINE.sample_logits and by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnkit.sampling import nucleus_probs, sample_logits


def _pip_probs(logits: torch.Tensor, temperature: float, top_p: float, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The distribution the rwkv pip package's sampler draws from (its np.random.choice p), for one row."""
    from rwkv.utils import PIPELINE

    seen = {}

    def choice(a, p):  # the pip sampler's only draw
        seen["p"] = np.asarray(p, dtype=np.float64)
        return 0

    monkeypatch.setattr(np.random, "choice", choice)
    PIPELINE.sample_logits(None, logits.clone(), temperature=temperature, top_p=top_p)
    return seen["p"]


@pytest.mark.parametrize("temperature,top_p", [(1.0, 0.85), (0.5, 0.9), (2.0, 0.7), (1.3, 0.3), (0.8, 0.999)])
def test_matches_rwkv_pip_pipeline(temperature: float, top_p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(int(temperature * 100 + top_p * 1000))
    for _ in range(5):
        logits = torch.randn(1, 50, generator=g) * 2
        ours = nucleus_probs(logits, temperature, top_p)[0].double().numpy()
        ref = _pip_probs(logits[0], temperature, top_p, monkeypatch)
        assert np.allclose(ours, ref, atol=1e-6), (ours - ref).__abs__().max()
        assert (ours > 0).sum() == (ref > 0).sum()


def test_top_p_is_chosen_at_temperature_one_by_hand() -> None:
    # p = 0.5, 0.3, 0.15, 0.05 with top_p 0.7: the nucleus is the first two (0.5 < 0.7 <= 0.8); T = 2 then
    # gives sqrt(0.5) : sqrt(0.3). Applying T first (Hugging Face order) would keep three tokens here.
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    p = nucleus_probs(logits, temperature=2.0, top_p=0.7)[0]
    a, b = math.sqrt(0.5), math.sqrt(0.3)
    assert torch.allclose(p, torch.tensor([a / (a + b), b / (a + b), 0.0, 0.0]), atol=1e-6)
    # temperature 1, no nucleus: the softmax itself
    assert torch.allclose(nucleus_probs(logits)[0], torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=1e-6)


def test_ties_at_the_cutoff_are_kept_and_draws_stay_inside() -> None:
    logits = torch.tensor([[1.0, 1.0, 0.0, -3.0]])  # p = 0.42, 0.42, 0.16, 0.01: 0.42 reaches 0.3, its twin stays
    p = nucleus_probs(logits, 1.0, 0.3)[0]
    assert torch.allclose(p, torch.tensor([0.5, 0.5, 0.0, 0.0]))
    draws = {int(sample_logits(logits, 1.0, 0.3, torch.Generator().manual_seed(s))) for s in range(40)}
    assert draws == {0, 1}


def test_greedy_tiny_temperature_batches_and_bad_input() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, -1.0], [3.0, 0.0, 0.0, 0.0]])
    assert sample_logits(logits, temperature=0).tolist() == [1, 0]
    assert sample_logits(logits, temperature=1e-40, top_p=0.5).tolist() == [1, 0]  # no 0/0 in the power
    assert torch.isfinite(nucleus_probs(logits, 1e-40)).all()
    for bad, match in [(dict(temperature=-1), "temperature"), (dict(temperature=float("inf")), "temperature"),
                       (dict(top_p=0), "top_p"), (dict(top_p=1.5), "top_p")]:
        with pytest.raises(ValueError, match=match):
            sample_logits(logits, **bad)
    with pytest.raises(ValueError, match=r"\[B, V\]"):
        sample_logits(logits[0])
    with pytest.raises(ValueError, match=r"\[B, V\]"):
        sample_logits(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="greedy"):
        nucleus_probs(logits, 0.0)


def test_models_use_the_shared_rule() -> None:
    from snnkit.baselines import rwkv
    from snnkit.models import spikegpt_train

    assert rwkv.sample_logits is sample_logits and spikegpt_train.sample_next is sample_logits
