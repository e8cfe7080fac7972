"""Cache housekeeping: temporaries of killed builds go, live builds are left alone, `snnkit data cache`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import snnkit.data as D
from snnkit import cli
from snnkit.data import housekeeping as H


def _temporaries(cache: Path) -> list:
    return sorted(p for p in cache.glob(".*.h5.tmp")) if cache.is_dir() else []


SLOW = textwrap.dedent("""
    import sys, time
    import snnkit.data as D
    from snnkit import cli
    real = D.Framing.__call__
    def slow(self, ev, sensor_size):
        time.sleep(0.3)
        return real(self, ev, sensor_size)
    D.Framing.__call__ = slow
""")
SLOW_BUILD = SLOW + 'D.load("n_mnist", root=sys.argv[1], cache_dir=sys.argv[2], frames=4, progress=False)\n'
SLOW_PREPARE = SLOW + ('sys.exit(cli.main(["data", "prepare", "n_mnist", "--root", sys.argv[1], "--cache-dir", sys.argv[2], '
                       '"--frames", "4", "--no-progress"]))\n')


def test_killed_build_leaves_a_temporary_that_the_next_build_removes_but_a_live_one_is_kept(nmnist_root, tmp_path) -> None:
    cache = tmp_path / "c"
    child = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(nmnist_root), str(cache)])
    try:
        deadline = time.monotonic() + 60
        while not _temporaries(cache) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        live = _temporaries(cache)
        assert len(live) == 1 and child.poll() is None, "the build should be running, writing one temporary file"
        # a build is running: nothing may be called stale, and a second build must not delete its file
        assert H.stale_temporaries(cache) is None
        assert H.remove_stale_temporaries(cache) == [] and live[0].exists()
        assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "--yes"]) == 0
        assert live[0].exists()
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _temporaries(cache) == live                      # SIGKILL cannot clean up after itself
    locks = sorted(cache.glob(".*.h5.lock"))                # nor remove its build-lock file
    assert len(locks) == 1
    assert H.stale_temporaries(cache) == sorted(live + locks)   # the locks died with the process
    train, _ = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    assert len(train) == 20 and _temporaries(cache) == []   # the next build removed it
    assert not list(cache.glob(".*.h5.lock"))               # and the dead build's lock file


def test_a_held_build_lock_is_not_stale(tmp_path) -> None:
    """build_lock's file is stale only when no process holds it: a killed build's, not a running one's."""
    cache = tmp_path / "c"
    target = cache / ("n_mnist-train-" + "0" * 20 + ".h5")
    with H.build_lock(target):
        lock = cache / f".{target.name}.lock"
        assert lock.is_file() and H.stale_temporaries(cache) == []
        assert H.remove_stale_temporaries(cache) == [] and lock.is_file()
    lock.touch()                                            # as a SIGKILLed build leaves it
    assert H.stale_temporaries(cache) == [lock] and H.remove_stale_temporaries(cache) == [lock]
    assert not lock.exists()


def _age(paths, days: float) -> None:
    t = time.time() - days * 86400
    for p in paths:
        os.utime(p, (t, t))


def test_cache_list_and_clear(nmnist_root, tmp_path, capsys, monkeypatch) -> None:
    cache = tmp_path / "c"
    old = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=4, progress=False)
    new = D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=6, split_by="time", progress=False)
    _age([d.path for d in old], 10)
    (cache / ".n_mnist-train-0123456789abcdef0123.h5.a1b2c3d4.h5.tmp").write_bytes(b"x" * 1000)   # a killed build's
    assert cli.main(["data", "cache", "list", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.strip().startswith("n_mnist")]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("train", "20", "T=4", "number"), ("test", "20", "T=4", "number"),
                                                        ("train", "20", "T=6", "time"), ("test", "20", "T=6", "time")]
    assert sum(r[-1] in (d.path.name for d in old + new) for r in rows) == 4
    assert "1 temporary file(s) of killed builds, 1.0 kB" in "\n".join(out)

    # selection by last use: only the pair not opened for 10 days; --dry-run removes nothing
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "--unused-for", "5", "--dry-run"]) == 0
    assert "dry run: would remove 3 file(s)" in capsys.readouterr().out
    assert all(d.path.exists() for d in old + new)
    # not a terminal and no --yes: refuses
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "--unused-for", "5"]) == 1
    assert "pass --yes" in capsys.readouterr().err and all(d.path.exists() for d in old)
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "--unused-for", "5", "--yes"]) == 0
    assert "removed 3 file(s)" in capsys.readouterr().out
    assert not any(d.path.exists() for d in old) and all(d.path.exists() for d in new) and _temporaries(cache) == []

    # opening a cache counts as use
    _age([d.path for d in new], 10)
    D.load("n_mnist", root=nmnist_root, cache_dir=cache, frames=6, split_by="time", progress=False)
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "--unused-for", "5", "-y"]) == 0
    assert "nothing to remove" in capsys.readouterr().out and all(d.path.exists() for d in new)

    # by dataset name (aliases and typos as elsewhere)
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "digits_dvs", "-y"]) == 0
    assert all(d.path.exists() for d in new)
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "nmnist", "-y"]) == 2
    assert "did you mean 'n_mnist'" in capsys.readouterr().err
    assert cli.main(["data", "cache", "clear", "--cache-dir", str(cache), "n_mnist", "-y"]) == 0
    assert list(cache.glob("*.h5")) == []


def test_cache_folder_that_is_a_file_is_named_with_its_setting(nmnist_root, tmp_path, monkeypatch, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match=r"--cache-dir.*is a file"):
        D.load("n_mnist", root=nmnist_root, cache_dir=afile, frames=4, progress=False)
    monkeypatch.setenv("SNNKIT_DATA", str(afile / "sub"))
    with pytest.raises(NotADirectoryError, match=r"\$SNNKIT_DATA.*cannot be created: .*afile' is a file"):
        D.load("n_mnist", root=nmnist_root, frames=4, progress=False)
    assert cli.main(["data", "prepare", "n_mnist", "--root", str(nmnist_root), "--cache-dir", str(afile)]) == 2
    assert "frame cache folder" in capsys.readouterr().err
    assert cli.main(["data", "cache", "list"]) == 2
    assert "$SNNKIT_DATA" in capsys.readouterr().err


def test_sigterm_during_prepare_exits_143_and_removes_its_temporary(nmnist_root, tmp_path) -> None:
    """A batch system's SIGTERM stops a build like Ctrl-C: one line, exit 143, nothing half-written left."""
    cache = tmp_path / "c"
    child = subprocess.Popen([sys.executable, "-c", SLOW_PREPARE, str(nmnist_root), str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _temporaries(cache) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _temporaries(cache) and child.poll() is None
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 143, err
    assert "snnkit data: terminated (SIGTERM)" in err and "Traceback" not in err
    assert _temporaries(cache) == [] and list(cache.glob("*.h5")) == []
