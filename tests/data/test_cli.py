"""``snnkit data``: list, info, prepare."""
from __future__ import annotations

from snnkit import cli


def test_data_list_and_info(capsys) -> None:
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("dvs128_gesture", "cifar10_dvs", "n_caltech101", "n_mnist", "digits_dvs", "fashion_mnist", "digits"):
        assert name in out
    assert cli.main(["data", "info", "n_mnist"]) == 0
    assert "Train/0/00002.bin" in capsys.readouterr().out
    assert cli.main(["data", "info", "nmnist"]) == 2
    assert "did you mean 'n_mnist'" in capsys.readouterr().err


def test_data_prepare(nmnist_root, tmp_path, capsys) -> None:
    rc = cli.main(["data", "prepare", "n_mnist", "--root", str(nmnist_root), "--frames", "5", "--cache-dir",
                   str(tmp_path / "c"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "train: 20 samples, frames [5, 2, 34, 34]" in out and str(tmp_path / "c") in out
    assert len(list((tmp_path / "c").glob("n_mnist-*.h5"))) == 2
    assert cli.main(["data", "prepare", "n_mnist", "--root", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_prepare_defaults_match_training() -> None:
    """`data prepare NAME` builds the cache `snnkit train tcja --config NAME` reads: same dataset, same T."""
    from snnkit import data as D
    from snnkit.models import tcja_snn

    assert D.info("ncaltech101") is D.info("n_caltech101")  # the TCJA config's name for it
    for config in tcja_snn.CONFIGS:
        meta = D.info(tcja_snn.get_config(config).name)  # cifar10_dvs_tet trains on cifar10_dvs
        if meta.kind == "events":
            assert meta.paper_frames == tcja_snn.get_config(config).T, config
