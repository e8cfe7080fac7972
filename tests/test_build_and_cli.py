"""Kernel build cache and fallback, and the snnkit command."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from snnkit import cli
from snnkit.kernels.cpu import build


def test_library_path_depends_on_source_and_compiler(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SNNKIT_CACHE", str(tmp_path))
    p1 = build.library_path("g++")
    p2 = build.library_path("clang++")
    assert p1 != p2 and p1.parent == tmp_path / "kernels"
    src = tmp_path / "k.cpp"
    src.write_text(build.SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(build, "SOURCE", src)
    assert build.library_path("g++") != p1


def test_failed_compile_leaves_no_file(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "bad.cpp"
    bad.write_text("this is not C++")
    monkeypatch.setattr(build, "SOURCE", bad)
    target = tmp_path / "out" / "lib.so"
    compiler = build._compiler()
    if compiler is None:
        pytest.skip("no C++ compiler")
    with pytest.raises(RuntimeError, match="failed"):
        build._compile(compiler, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_missing_compiler_named_by_cxx_is_reported_as_such(tmp_path, monkeypatch) -> None:
    """A mistyped $CXX gives a reason naming the compiler and $CXX, not a bare '[Errno 2] ...'."""
    monkeypatch.setenv("CXX", "no-such-cxx-compiler")
    target = tmp_path / "out" / "lib.so"
    assert build._compiler() == "no-such-cxx-compiler"
    with pytest.raises(RuntimeError, match=r"C\+\+ compiler 'no-such-cxx-compiler' \(\$CXX\) cannot be run: "
                                           r"No such file or directory; install g\+\+ or set CXX"):
        build._compile(build._compiler(), target)
    assert list(target.parent.iterdir()) == []


def test_an_unwritable_build_cache_names_snnkit_cache(tmp_path, monkeypatch) -> None:
    """A cache folder that cannot be made (read-only home, a file in the way) says to set SNNKIT_CACHE."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SNNKIT_CACHE", str(blocker))
    target = build.cache_dir() / "lib.so"
    with pytest.raises(RuntimeError, match=r"cannot write the kernel build cache .*a-file/kernels \(\$SNNKIT_CACHE\): "
                                           r".*set SNNKIT_CACHE to a writable folder"):
        build._compile("g++", target)
    assert blocker.read_text() == ""


def test_disabled_kernels_fall_back_to_reference_with_a_warning() -> None:
    code = (
        "import warnings, torch; from snnkit import functional as F\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    s, v = F.lif_multistep(torch.full((3, 2, 4), 2.0))\n"
        "print(s.sum().item(), any('reference loop' in str(x.message) for x in w))\n"
    )
    env = dict(os.environ, SNNKIT_DISABLE_CPU_KERNELS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["24.0", "True"]  # h = v + (2 - v)/2 = 1 at every step: all spike


def test_cli_info(capsys) -> None:
    assert cli.main(["info"]) == 0
    assert "cpu kernels:" in capsys.readouterr().out


def test_cli_rejects_unknown_benchmark() -> None:
    with pytest.raises(SystemExit):
        cli.main(["bench", "nonexistent"])


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_built_library_gets_the_mode_of_a_new_file(tmp_path, mask: int) -> None:
    """mkstemp's 0600 survived the build (the linker only added x: 0711), so other users of a shared
    $SNNKIT_CACHE could not dlopen it ('Permission denied') and fell back to the reference loop."""
    compiler = build._compiler()
    if compiler is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / "tiny.cpp"
    src.write_text('extern "C" int snn_tiny() { return 7; }\n')
    target = tmp_path / "out" / "tiny.so"
    old = os.umask(mask)
    try:
        build._compile(compiler, target, src, ["-fPIC", "-shared"])
    finally:
        os.umask(old)
    assert oct(target.stat().st_mode & 0o777) == oct(0o755 & ~mask)
    import ctypes
    assert ctypes.CDLL(str(target)).snn_tiny() == 7


def test_kernel_functions_are_bound_with_their_signature_or_say_why_not(monkeypatch) -> None:
    """build.bind (shared by the neuron, WKV and pooling kernels): the symbol gets its ctypes argument types and an
    int status; without the library the error names the kernel and the reason recorded when loading failed."""
    import ctypes

    import torch

    from snnkit.kernels.cpu import build, pool

    monkeypatch.setattr(pool, "_fns", {})
    monkeypatch.setattr(pool, "_lib", lambda: None)
    monkeypatch.setitem(build._errors, pool.STEM, "no C++ compiler found (install g++ or set CXX)")
    with pytest.raises(RuntimeError, match=r"snnkit pooling CPU kernel is unavailable: no C\+\+ compiler found"):
        pool._fn("avg_forward", torch.float32)
    assert pool._fns == {}
    lib = ctypes.CDLL(None)  # the process's own symbols: libc's abs(int) -> int
    f = build.bind(lambda: lib, "abs", [ctypes.c_int], lambda: "unused")
    assert f.argtypes == [ctypes.c_int] and f.restype is ctypes.c_int and f(-7) == 7
