"""Surrogate spike functions: Heaviside forward, documented derivative backward, peers agree.

Every surrogate is checked three ways:

* its gradient equals the formula in its docstring, written out again here with numpy
  (float64), through ``spike()`` and through every CPU backend's fused kernel;
* where SpikingJelly (``ATan``, ``Sigmoid``, ``PiecewiseQuadratic``, ``Rect``) or snnTorch
  (``atan``, ``sigmoid(slope)``, ``fast_sigmoid(slope)``) ships the same function, our
  gradient equals theirs on the same inputs with the parameter carried over unchanged
  (SJ ``X(alpha=a)`` == ours ``X(alpha=a)``, SJ ``Rect(alpha=a)`` == ``Rectangular(alpha=a)``,
  snnTorch ``sigmoid(slope=a)`` == ``Sigmoid(alpha=a)``, ``fast_sigmoid(slope=a)`` ==
  ``FastSigmoid(slope=a)``, ``atan(alpha=a)`` == ``ATan(alpha=a)``);
* the gradient is non-zero around 0 (SpikingJelly's 2026 Triton fix was for five
  surrogates whose fused backward returned all-zero gradients).

Forward conventions: ours and SpikingJelly's spike at ``x >= 0``; snnTorch spikes at
``x > 0``, so forward values are only compared with snnTorch away from ``x == 0``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
import torch

import snnkit.kernels.cpu as cpu_kernels
from snnkit import functional as F
from snnkit import surrogate as S

CPU_BACKENDS = ["reference"] + (["cpu"] if cpu_kernels.available() else [])


# ---------------------------------------------------------------------------------------------
# The documented formulas, written independently (numpy, float64).
# ---------------------------------------------------------------------------------------------
def _np_atan(x: np.ndarray, alpha: float) -> np.ndarray:
    return alpha / 2.0 / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def _np_sigmoid(x: np.ndarray, alpha: float) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-alpha * x))
    return alpha * s * (1.0 - s)


def _np_fast_sigmoid(x: np.ndarray, slope: float) -> np.ndarray:
    return 1.0 / (slope * np.abs(x) + 1.0) ** 2


def _np_triangle(x: np.ndarray, gamma: float, width: float) -> np.ndarray:
    return gamma * np.maximum(0.0, 1.0 - np.abs(x) / width)


def _np_rect(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(np.abs(x) < 0.5 / alpha, alpha, 0.0)


def _np_pwq(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.maximum(0.0, alpha - alpha**2 * np.abs(x))


# (surrogate instance, numpy formula with the same parameters, value of the formula at 0)
CASES: List[Tuple[S.Surrogate, Callable[[np.ndarray], np.ndarray], float]] = [
    (S.ATan(), lambda x: _np_atan(x, 2.0), 1.0),
    (S.ATan(alpha=3.5), lambda x: _np_atan(x, 3.5), 1.75),
    (S.Sigmoid(), lambda x: _np_sigmoid(x, 4.0), 1.0),
    (S.Sigmoid(alpha=2.5), lambda x: _np_sigmoid(x, 2.5), 0.625),
    (S.FastSigmoid(), lambda x: _np_fast_sigmoid(x, 25.0), 1.0),
    (S.FastSigmoid(slope=7.0), lambda x: _np_fast_sigmoid(x, 7.0), 1.0),
    (S.Triangle(), lambda x: _np_triangle(x, 1.0, 1.0), 1.0),
    (S.Triangle(gamma=0.7, width=1.3), lambda x: _np_triangle(x, 0.7, 1.3), 0.7),
    (S.Rectangular(), lambda x: _np_rect(x, 1.0), 1.0),
    (S.Rectangular(alpha=1.5), lambda x: _np_rect(x, 1.5), 1.5),
    (S.PiecewiseQuadratic(), lambda x: _np_pwq(x, 1.0), 1.0),
    (S.PiecewiseQuadratic(alpha=0.8), lambda x: _np_pwq(x, 0.8), 0.8),
]
CASE_IDS = [repr(c[0]) for c in CASES]
ALL_CLASSES = (S.ATan, S.Sigmoid, S.FastSigmoid, S.Triangle, S.Rectangular, S.PiecewiseQuadratic)


def _grid(dtype: torch.dtype = torch.float64, n: int = 2001, lim: float = 3.0) -> torch.Tensor:
    """Dense symmetric grid over [-lim, lim] plus random points, deterministic.

    Also holds every multiple of 1/120 in [-lim, lim]: 0 and the edges of the windowed surrogates
    used here (``0.5/alpha`` for Rectangular(1), (1.5); ``1/alpha`` for PiecewiseQuadratic(1), (0.8);
    Triangle widths 1 and 1.3), where ``<`` vs ``<=`` slips would show.
    """
    g = torch.Generator().manual_seed(1234)
    rnd = (torch.rand(999, generator=g, dtype=torch.float64) * 2 - 1) * lim
    edges = torch.arange(-round(120 * lim), round(120 * lim) + 1, dtype=torch.float64) / 120
    return torch.cat([torch.linspace(-lim, lim, n, dtype=torch.float64), rnd, edges]).to(dtype)


def _autograd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward value and d(sum(fn(x) * u))/dx for a fixed random upstream gradient u (so the chain rule is checked)."""
    xs = x.detach().clone().requires_grad_()
    y = fn(xs)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(x.dtype) + 0.5
    (gx,) = torch.autograd.grad((y * u).sum(), xs)
    return y.detach(), gx / u


# ---------------------------------------------------------------------------------------------
# Forward: Heaviside with x >= 0 -> 1
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sg", [c[0] for c in CASES], ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_heaviside(sg: S.Surrogate, dtype: torch.dtype) -> None:
    x = torch.cat([_grid(dtype), torch.tensor([0.0, -0.0, 1e-30, -1e-30, 5e-45, -5e-45], dtype=dtype)])
    y = sg(x)
    assert y.dtype == dtype and y.shape == x.shape
    expected = torch.tensor([1.0 if v >= 0 else 0.0 for v in x.tolist()], dtype=dtype)
    assert torch.equal(y, expected)
    assert torch.equal(S.spike(x, sg), expected)
    # 0 (and -0.0) fire: SpikingJelly's convention, not snnTorch's strict x > 0.
    assert sg(torch.zeros(3, dtype=dtype)).tolist() == [1.0, 1.0, 1.0]
    assert sg(torch.tensor([-0.0], dtype=dtype)).item() == 1.0


def test_strict_spike_is_lavas_convention() -> None:
    x = torch.tensor([-1.0, 0.0, 1e-7, 2.0])
    assert S.spike(x, S.ATan(), strict=True).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert S.spike(x, S.ATan()).tolist() == [0.0, 1.0, 1.0, 1.0]
    # strict changes only the forward: the surrogate gradient is the same.
    assert torch.equal(_autograd(lambda z: S.spike(z, S.ATan(), strict=True), x)[1],
                       _autograd(lambda z: S.spike(z, S.ATan()), x)[1])


def test_heaviside_helper() -> None:
    x = torch.tensor([-2.0, -1e-20, 0.0, 3.0], dtype=torch.float64)
    h = S.heaviside(x)
    assert h.dtype == torch.float64 and h.tolist() == [0.0, 0.0, 1.0, 1.0]


# ---------------------------------------------------------------------------------------------
# Backward: the documented formula
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sg, formula, at0", CASES, ids=CASE_IDS)
def test_gradient_matches_documented_formula(sg: S.Surrogate, formula: Callable, at0: float) -> None:
    x = _grid(torch.float64)
    expected = formula(x.numpy())
    _, gx = _autograd(sg, x)
    np.testing.assert_allclose(gx.numpy(), expected, rtol=1e-12, atol=1e-15)
    # derivative() is the same formula (it is what the modules' backward calls).
    np.testing.assert_allclose(sg.derivative(x).numpy(), expected, rtol=1e-12, atol=1e-15)
    assert formula(np.zeros(1))[0] == pytest.approx(at0, rel=1e-12)
    assert sg.derivative(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(at0, rel=1e-12)


@pytest.mark.parametrize("sg, formula, at0", CASES, ids=CASE_IDS)
def test_gradient_float32(sg: S.Surrogate, formula: Callable, at0: float) -> None:
    x = _grid(torch.float32)
    _, gx = _autograd(sg, x)
    assert gx.dtype == torch.float32
    np.testing.assert_allclose(gx.numpy(), formula(x.double().numpy()), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("sg, formula, at0", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backend_surrogate_matches_formula(sg: S.Surrogate, formula: Callable, at0: float, backend: str,
                                           dtype: torch.dtype) -> None:
    """The fused kernels implement each surrogate again (in C): hold them to the formula.

    One IF step from v0 = 0 charges ``h = x`` exactly, so d spike / dx = g'(x - v_threshold).
    """
    vth = 0.5
    x = (_grid(dtype, n=1001) + vth).reshape(1, 1, -1)
    xs = x.clone().requires_grad_()
    s, _ = F.if_multistep(xs, None, v_threshold=vth, v_reset=0.0, surrogate=sg, backend=backend)
    assert torch.equal(s, (x >= vth).to(dtype))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(dtype) + 0.5
    (gx,) = torch.autograd.grad((s * u).sum(), xs)
    expected = formula((x.double() - vth).numpy()) * u.double().numpy()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gx.double().numpy(), expected, **tol)


# ---------------------------------------------------------------------------------------------
# Non-zero near 0 (the SpikingJelly Triton zero-gradient bug)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_gradient_nonzero_near_zero(cls: type) -> None:
    sg = cls()
    x = torch.linspace(-0.01, 0.01, 101)
    _, gx = _autograd(sg, x)
    assert torch.all(gx > 0), f"{cls.__name__}: zero gradient near the threshold"
    assert torch.all(torch.isfinite(gx))
    # peaked at 0: no point of the window has a larger gradient than x = 0
    assert gx.max() <= sg.derivative(torch.zeros(1)).item() * (1 + 1e-6)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["if", "lif", "plif", "cuba"])
def test_backend_gradient_nonzero_near_threshold(cls: type, backend: str, kind: str) -> None:
    """Every neuron kernel back-propagates a non-zero gradient through every surrogate."""
    sg = cls()
    g = torch.Generator().manual_seed(5)
    vth = 1.0
    # one step from rest, charge within 0.01 of the threshold
    h = vth + (torch.rand(1, 3, 17, generator=g) * 2 - 1) * 0.01
    if kind == "if":
        x = h
        fn = lambda z: F.if_multistep(z, None, surrogate=sg, backend=backend)[0]  # noqa: E731
    elif kind == "lif":
        x = h  # decay_input=False from v = 0: h = x
        fn = lambda z: F.lif_multistep(z, None, tau=2.0, decay_input=False, surrogate=sg, backend=backend)[0]  # noqa: E731
    elif kind == "plif":
        x = h * 2.0  # decay_input=True, 1/tau = sigmoid(0) = 0.5: h = x / 2
        fn = lambda z: F.plif_multistep(z, None, w=torch.zeros(()), surrogate=sg, backend=backend)[0]  # noqa: E731
    else:
        x = h  # du = dv = 1 from rest: u = x, v = u
        fn = lambda z: F.cuba_lif_multistep(z, None, du=1.0, dv=1.0, v_threshold=vth, surrogate=sg, backend=backend)[0]  # noqa: E731
    xs = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(fn(xs).sum(), xs)
    assert torch.all(gx != 0), f"{kind}/{backend}/{cls.__name__}: zero gradient at the threshold"
    assert torch.all(torch.isfinite(gx))


# ---------------------------------------------------------------------------------------------
# Peers: SpikingJelly and snnTorch
# ---------------------------------------------------------------------------------------------
def _sj_cases() -> List[Tuple[S.Surrogate, Callable[[], object]]]:
    from spikingjelly.activation_based import surrogate as sj

    return [
        (S.ATan(alpha=2.0), lambda: sj.ATan(alpha=2.0)),
        (S.ATan(alpha=3.5), lambda: sj.ATan(alpha=3.5)),
        (S.Sigmoid(alpha=4.0), lambda: sj.Sigmoid(alpha=4.0)),
        (S.Sigmoid(alpha=2.5), lambda: sj.Sigmoid(alpha=2.5)),
        (S.PiecewiseQuadratic(alpha=1.0), lambda: sj.PiecewiseQuadratic(alpha=1.0)),
        (S.PiecewiseQuadratic(alpha=0.8), lambda: sj.PiecewiseQuadratic(alpha=0.8)),
        (S.Rectangular(alpha=1.0), lambda: sj.Rect(alpha=1.0)),
        (S.Rectangular(alpha=1.5), lambda: sj.Rect(alpha=1.5)),
    ]


def _snntorch_cases() -> List[Tuple[S.Surrogate, Callable[[], object]]]:
    from snntorch import surrogate as st

    return [
        (S.ATan(alpha=2.0), lambda: st.atan(alpha=2.0)),
        (S.ATan(alpha=3.5), lambda: st.atan(alpha=3.5)),
        (S.Sigmoid(alpha=25.0), lambda: st.sigmoid(slope=25.0)),
        (S.Sigmoid(alpha=4.0), lambda: st.sigmoid(slope=4.0)),
        (S.FastSigmoid(slope=25.0), lambda: st.fast_sigmoid(slope=25.0)),
        (S.FastSigmoid(slope=7.0), lambda: st.fast_sigmoid(slope=7.0)),
    ]


@pytest.mark.parametrize("idx", range(8))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_spikingjelly(idx: int, dtype: torch.dtype) -> None:
    pytest.importorskip("spikingjelly")
    ours, make_theirs = _sj_cases()[idx]
    theirs = make_theirs()
    x = _grid(dtype)
    y_ours, g_ours = _autograd(ours, x)
    y_theirs, g_theirs = _autograd(theirs, x)
    assert torch.equal(y_ours, y_theirs.to(dtype))  # both x >= 0
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g_ours, g_theirs.to(dtype), **tol)
    assert g_ours.abs().sum() > 0


@pytest.mark.parametrize("idx", range(6))
def test_matches_snntorch(idx: int) -> None:
    pytest.importorskip("snntorch")
    ours, make_theirs = _snntorch_cases()[idx]
    theirs = make_theirs()
    # snnTorch's sigmoid computes exp(-slope * x) directly: keep |slope * x| < 88 (no inf/inf in float32)
    x = _grid(torch.float32)
    x = x[x != 0]  # snnTorch fires at x > 0, we at x >= 0: compare forward off 0 only
    y_ours, g_ours = _autograd(ours, x)
    y_theirs, g_theirs = _autograd(theirs, x)
    assert torch.equal(y_ours, y_theirs)
    # atol scaled by the peak gradient: both libraries round in float32, and ``sig * (1 - sig)`` (ours)
    # vs ``exp(-a x) / (exp(-a x) + 1)^2`` (snnTorch) differ by float32 noise of order 1e-7 * peak.
    peak = float(ours.derivative(torch.zeros(1)))
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-5, atol=1e-6 * max(1.0, peak))
    # the only forward difference is at exactly 0
    z = torch.zeros(2)
    assert ours(z).tolist() == [1.0, 1.0] and theirs(z).tolist() == [0.0, 0.0]


def test_defaults_follow_spikingjelly() -> None:
    """Same-named surrogates default to SpikingJelly's parameter, so swapping libraries changes nothing."""
    sj = pytest.importorskip("spikingjelly.activation_based.surrogate")
    assert S.ATan().alpha == sj.ATan().alpha == 2.0
    assert S.Sigmoid().alpha == sj.Sigmoid().alpha == 4.0
    assert S.PiecewiseQuadratic().alpha == sj.PiecewiseQuadratic().alpha == 1.0
    assert S.Rectangular().alpha == sj.Rect().alpha == 1.0


# ---------------------------------------------------------------------------------------------
# get(): by name, errors
# ---------------------------------------------------------------------------------------------
def test_get_by_name() -> None:
    sg = S.get("atan", alpha=3.0)
    assert isinstance(sg, S.ATan) and sg.alpha == 3.0 and sg == S.ATan(alpha=3.0)
    assert S.get() == S.ATan()
    assert S.get("ATan") == S.ATan()
    assert S.get("fast-sigmoid", slope=10.0) == S.FastSigmoid(slope=10.0)
    assert S.get("triangle", gamma=0.5, width=2.0) == S.Triangle(gamma=0.5, width=2.0)
    expected: Dict[str, type] = {
        "atan": S.ATan, "sigmoid": S.Sigmoid, "fast_sigmoid": S.FastSigmoid, "triangle": S.Triangle,
        "rectangular": S.Rectangular, "piecewise_quadratic": S.PiecewiseQuadratic,
    }
    assert set(S.NAMES) == set(expected)
    for name, cls in expected.items():
        assert type(S.get(name)) is cls
        assert S.get(name).name == name


def test_get_passes_instances_through() -> None:
    sg = S.Sigmoid(alpha=2.0)
    assert S.get(sg) is sg
    with pytest.raises(TypeError, match="only accepted with a surrogate name"):
        S.get(sg, alpha=3.0)


def test_get_unknown_name_lists_options() -> None:
    with pytest.raises(ValueError) as err:
        S.get("arctan2")
    msg = str(err.value)
    assert "'arctan2'" in msg
    for name in S.NAMES:
        assert name in msg


@pytest.mark.parametrize("name, key", [("atan", "alpha"), ("sigmoid", "alpha"), ("fast_sigmoid", "slope"),
                                       ("triangle", "gamma"), ("triangle", "width"), ("rectangular", "alpha"),
                                       ("piecewise_quadratic", "alpha")])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_get_rejects_non_positive_parameters(name: str, key: str, bad: float) -> None:
    with pytest.raises(ValueError) as err:
        S.get(name, **{key: bad})
    assert repr(key) in str(err.value)


def test_get_rejects_wrong_keyword_and_type() -> None:
    with pytest.raises(TypeError, match="slope"):
        S.get("atan", slope=3.0)
    with pytest.raises(TypeError):
        S.get("triangle", alpha=1.0)
    with pytest.raises(TypeError):
        S.get(3.0)
    with pytest.raises(TypeError):
        S.get(torch.nn.Sigmoid())


def test_modules_validate_surrogate_instances() -> None:
    """An out-of-range instance is refused where it is used (neurons and functional calls)."""
    import snnkit

    with pytest.raises(ValueError, match="alpha"):
        snnkit.LIF(surrogate=S.ATan(alpha=-1.0))
    with pytest.raises(ValueError, match="slope"):
        F.lif_multistep(torch.zeros(2, 1, 3), surrogate=S.FastSigmoid(slope=0.0), backend="reference")


@pytest.mark.parametrize("cls, key", [(S.ATan, "alpha"), (S.Sigmoid, "alpha"), (S.FastSigmoid, "slope"),
                                      (S.Triangle, "gamma"), (S.Triangle, "width"), (S.Rectangular, "alpha"),
                                      (S.PiecewiseQuadratic, "alpha")])
@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan"), float("inf")])
def test_constructor_rejects_non_positive_parameters(cls: type, key: str, bad: float) -> None:
    with pytest.raises(ValueError) as err:
        cls(**{key: bad})
    assert repr(key) in str(err.value) and cls.__name__ in str(err.value)


def test_user_defined_surrogate_runs_on_the_reference_loop() -> None:
    """A Surrogate subclass the kernels do not know: spike() and backend='auto' use its derivative."""

    @dataclass(frozen=True)
    class Gauss(S.Surrogate):
        sigma: float = 0.5
        name = "gauss"

        def derivative(self, x: torch.Tensor) -> torch.Tensor:
            return torch.exp(-(x**2) / (2 * self.sigma**2))

    sg = Gauss(sigma=0.4)
    x = _grid(torch.float64)
    _, gx = _autograd(sg, x)
    np.testing.assert_allclose(gx.numpy(), np.exp(-x.numpy() ** 2 / (2 * 0.4**2)), rtol=1e-12)
    with pytest.raises(ValueError):
        Gauss(sigma=-1.0)
    xs = (x.reshape(1, 1, -1) + 1.0).requires_grad_()
    s, _ = F.if_multistep(xs, None, surrogate=sg, backend="auto")
    (g,) = torch.autograd.grad(s.sum(), xs)
    np.testing.assert_allclose(g.flatten().numpy(), np.exp(-((xs.detach() - 1.0).flatten().numpy()) ** 2 / 0.32),
                               rtol=1e-12, atol=1e-15)
    if "cpu" in CPU_BACKENDS:
        with pytest.raises(ValueError, match="reference"):
            F.if_multistep(xs, None, surrogate=sg, backend="cpu")


def test_kernel_params_follow_field_order() -> None:
    assert S.ATan(alpha=3.0).kernel_params() == (3.0, 0.0)
    assert S.Triangle(gamma=0.7, width=1.3).kernel_params() == (0.7, 1.3)
    assert sorted(c.code for c in ALL_CLASSES) == list(range(6))


def test_subclass_of_builtin_with_new_derivative_is_not_sent_to_the_kernels() -> None:
    """Subclassing ATan to change the derivative must not inherit ATan's kernel code (silently wrong gradients)."""

    @dataclass(frozen=True)
    class Box(S.ATan):
        def derivative(self, x: torch.Tensor) -> torch.Tensor:
            return 3.0 * (x.abs() < 0.5).to(x.dtype)

    @dataclass(frozen=True)
    class WideATan(S.ATan):  # only a new default: same derivative, the kernels may run it
        alpha: float = 5.0

    assert Box().code == -1 and WideATan().code == S.ATan.code
    x = (torch.rand(4, 2, 8, dtype=torch.float64) + 0.5).requires_grad_()
    s, _ = F.lif_multistep(x, surrogate=Box(), backend="auto")
    (g,) = torch.autograd.grad(s.sum(), x)
    xr = x.detach().clone().requires_grad_()
    s_ref, _ = F.lif_multistep(xr, surrogate=Box(), backend="reference")
    (g_ref,) = torch.autograd.grad(s_ref.sum(), xr)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=0)
