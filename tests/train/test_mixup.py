"""Mixup as the TCJA scripts apply it: hand-computed mixes and losses, Beta draws, the Trainer's batches, resume."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from snnkit import cli
from snnkit.models import tcja_snn
from snnkit.train import TrainConfig, Trainer
from snnkit.train.mixup import mix_inputs, mixup_draw, mixup_loss
from tests.train._tiny import TinySNN, dataset


def test_mix_and_loss_by_hand() -> None:
    x = torch.tensor([[[1.0, 0.0], [0.0, 4.0], [2.0, 2.0]]])  # [T=1, B=3, F=2]
    perm = torch.tensor([2, 0, 1])
    mixed = mix_inputs(x, perm, 0.25, batch_dim=1)
    # row b = 0.25 * x[b] + 0.75 * x[perm[b]]
    assert torch.allclose(mixed, torch.tensor([[[1.75, 1.5], [0.75, 1.0], [0.5, 3.5]]]))
    out = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]])  # rates [B, K=2]
    y = torch.tensor([0, 1, 1])
    mse = lambda o, t: F.mse_loss(o, F.one_hot(t, 2).float())  # noqa: E731
    # against y:        per-element squares 0.25 0.25 | 1 1 | 0 1      -> mean 3.5 / 6
    # against y[perm]:  y[perm] = [1, 0, 1]: 0.25 0.25 | 0 0 | 0 1    -> mean 1.5 / 6
    want = 0.25 * 3.5 / 6 + 0.75 * 1.5 / 6
    assert mixup_loss(mse, out, y, perm, 0.25).item() == pytest.approx(want)
    ints = mix_inputs(torch.tensor([[2, 0]]), torch.tensor([1, 0]), 0.5, batch_dim=1)  # counts become floats
    assert ints.dtype == torch.float32 and ints.tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="batch dimension 1 of x has 3 samples, the permutation 2"):
        mix_inputs(x, torch.tensor([1, 0]), 0.5, batch_dim=1)


def test_draws_are_beta_and_permutations_and_reproducible() -> None:
    from scipy import stats

    lams = [mixup_draw(0.5, 4, seed=0, epoch=0, rank=0, step=s)[0] for s in range(3000)]
    assert stats.kstest(lams, stats.beta(0.5, 0.5).cdf).pvalue > 1e-3  # the scripts' Beta(0.5, 0.5)
    lam, perm = mixup_draw(0.5, 16, seed=3, epoch=2, rank=1, step=5)
    assert sorted(perm.tolist()) == list(range(16))
    again = mixup_draw(0.5, 16, seed=3, epoch=2, rank=1, step=5)
    assert again[0] == lam and torch.equal(again[1], perm)
    others = [mixup_draw(0.5, 16, *k)[0] for k in [(4, 2, 1, 5), (3, 3, 1, 5), (3, 2, 0, 5), (3, 2, 1, 6)]]
    assert lam not in others  # seed, epoch, rank and step each change the draw
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixup_draw(0.0, 4, 0, 0, 0, 0)


class _Recorder(torch.nn.Module):
    """A linear readout per time step that keeps what the Trainer fed it and what it answered.

    (Not spiking: a silent network would answer every label alike and hide which labels the loss used.)"""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.net, self.seen = torch.nn.Linear(features, 3), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        self.seen.append((x.detach().clone(), out.detach().clone()))
        return out


def test_trainer_trains_on_mixed_pairs_and_mixed_losses(tmp_path: Path) -> None:
    """Each sample is its own one-hot feature, so the fed batch shows who was mixed with whom and by how much."""
    n, T = 12, 3
    x = torch.eye(n).unsqueeze(1).expand(n, T, n).contiguous()  # sample i: e_i at every step
    y = torch.arange(n) % 3
    torch.manual_seed(0)
    model = _Recorder(n)
    cfg = TrainConfig(epochs=1, batch_size=n, lr=1e-3, out_dir=str(tmp_path), progress=False, tensorboard=False,
                      mixup=0.5, loss="mse_rate")
    hist = Trainer(model, TensorDataset(x, y), None, cfg).fit()
    fed, out = model.seen[0]
    w = fed[0]  # [B, n]: row b = lam * e_a + (1 - lam) * e_b
    assert torch.equal(fed, w.expand_as(fed))
    weights = sorted({round(v, 5) for v in w[w > 0].tolist()} - {1.0})  # 1.0: a sample the permutation kept
    assert len(weights) == 2 and weights[0] == pytest.approx(1 - weights[1])  # lam and 1 - lam, one lam per batch
    assert torch.allclose(w.sum(1), torch.ones(n)) and torch.allclose(w.sum(0), torch.ones(n))  # a permutation
    rate = out.mean(0)
    assert rate.std(0).min() > 0.05  # the answers differ between samples, so the labels used matter
    onehot = F.one_hot(y, 3).float()
    # the mixup loss, written per row: sum over the row's sources k of w[b, k] * mean_c (rate[b, c] - onehot[y_k, c])^2
    want = sum(float(w[b, k]) * F.mse_loss(rate[b], onehot[k], reduction="sum").item() / 3
               for b in range(n) for k in range(n)) / n
    assert hist[0]["train_loss"] == pytest.approx(want, rel=1e-5)


def test_mixup_changes_training_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    def run(out: str, mixup: float, model_seed: int = 0, **fit) -> Trainer:
        torch.manual_seed(model_seed)
        tr = Trainer(TinySNN(), dataset(), dataset(n=30, seed=1),
                     TrainConfig(epochs=3, batch_size=16, lr=2e-2, out_dir=str(tmp_path / out), progress=False,
                                 tensorboard=False, seed=3, mixup=mixup))
        tr.fit(**fit)
        return tr

    plain, full = run("plain", 0.0), run("full", 0.5)
    assert [r["train_loss"] for r in plain.history] != [r["train_loss"] for r in full.history]
    run("part", 0.5, stop_after=1)
    resumed = run("part", 0.5, model_seed=99, resume=True)
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


@pytest.mark.parametrize("bad", [-0.5, True, "0.5", float("nan"), float("inf")])
def test_bad_mixup_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="mixup must be a number >= 0"):
        TrainConfig(mixup=bad)
    with pytest.raises(ValueError, match="mixup must be a number >= 0"):
        tcja_snn.get_config("digits_dvs", mixup=bad)


def test_cli_mixup_reaches_the_config_and_the_trainer(tmp_path: Path, capsys) -> None:
    import yaml

    from snnkit.train.recipes import tcja_trainer

    assert cli.main(["train", "tcja", "--config", "cifar10_dvs", "--mixup", "0.5", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["mixup"] == 0.5
    assert tcja_snn.get_config("cifar10_dvs").mixup == 0  # off unless asked for, as the scripts' default
    data = (TensorDataset(torch.rand(8, 4, 2, 16, 16), torch.arange(8) % 10), None)
    cfg = tcja_snn.get_config("digits_dvs", input_size=[16, 16], sensor_size=[16, 16], stages=[[4], [8]],
                              tcja_stages=[0, 1], hidden=[16], T=4, epochs=1, batch_size=8)
    tr = tcja_trainer(cfg, out_dir=tmp_path, data=data, progress=False, tensorboard=False, mixup=0.4)
    assert tr.config.mixup == 0.4 and tr.model_config["mixup"] == 0.4
    assert np.isfinite(tr.fit()[0]["train_loss"])
