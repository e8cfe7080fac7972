"""RWKV-4's WKV operator in three equivalent forms: reference loop, fused CPU kernel, chunked torch.

For one channel, with per-step log-decay ``w`` and a bonus ``u`` for the current token::

    y_t = (sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t)
        / (sum_{i<t} e^{(t-1-i) w + k_i}     + e^{u + k_t})

Conventions (those of RWKV-LM v4 and SpikeGPT):

* ``w = -exp(time_decay)``: the model keeps the parameter ``time_decay`` and passes
  ``w = -torch.exp(time_decay)`` (so ``w < 0`` and ``e^w`` in (0, 1) is the decay per
  token); gradients flow to ``w`` and autograd carries them on to ``time_decay``.
  ``u`` is ``time_first``. Both are ``[C]``.
* ``k, v`` are time-major ``[T, B, C]`` (snnkit's convention); ``y`` has the same shape.
* The state is ``(a, b, p)``, each ``[B, C]``: the running sums of everything before the
  next token are ``A = a * e^p`` (numerator) and ``B = b * e^p`` (denominator), with ``p``
  the largest exponent among their terms, so nothing overflows however large ``k`` gets.
  A fresh state is ``(0, 0, -1e38)`` (:func:`initial_state`). Every backend returns the same
  canonical ``p`` (the true maximum), so states from different backends are interchangeable.

Backends: ``reference`` (a readable loop over T with autograd; the specification),
``cpu`` (the same stable recurrence compiled in C++, ``cpu/wkv_kernels.cpp``, with a
hand-written backward that re-runs the forward instead of storing it), and ``chunked``
(pure torch: exact softmax-style weights inside chunks of ``chunk_size`` tokens, a short
loop carrying the state between chunks; runs on any device) and ``triton`` (the C++
recurrence as Triton kernels for CUDA tensors, ``triton/wkv.py``). ``auto`` picks ``cpu`` for
CPU tensors when the kernel builds, ``triton`` for CUDA tensors when Triton is installed,
else ``chunked``.

Backward of the recurrence (used by the kernel): with ``D_t`` the denominator of ``y_t``
and ``alpha_t = dL/dA_t``, ``beta_t = dL/dB_t``::

    alpha_t = e^w alpha_{t+1} + gy_t / D_t,      beta_t = e^w beta_{t+1} - gy_t y_t / D_t
    dL/dv_t = e^{k_t} alpha_{t+1} + gy_t e^{u+k_t} / D_t
    dL/dk_t = e^{k_t} (alpha_{t+1} v_t + beta_{t+1}) + gy_t e^{u+k_t} (v_t - y_t) / D_t
    dL/du   = sum_t gy_t e^{u+k_t} (v_t - y_t) / D_t
    dL/dw   = sum_t e^w (A_t alpha_{t+1} + B_t beta_{t+1})

kept in scaled form ``alpha = ga * e^r`` so that every exponential evaluated is ``<= 1``.
"""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from ._autograd import first_order_only
from .cpu import build
from ..functional.validation import is_int

Tensor = torch.Tensor
State = Tuple[Tensor, Tensor, Tensor]

__all__ = ["wkv", "wkv_reference", "wkv_cpu", "wkv_step", "wkv_chunked", "WKVFunction", "initial_state", "available", "error",
           "BACKENDS", "NEG"]

BACKENDS = ("auto", "reference", "cpu", "chunked", "triton")
NEG = -1e38  # the exponent of an empty sum: finite, so NEG - NEG and NEG + w stay well defined
SOURCE = Path(__file__).with_name("cpu") / "wkv_kernels.cpp"
FLAGS = ["-O3", "-march=native", "-fno-trapping-math", "-fno-math-errno", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]
STEM = "snnkit_wkv"
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------- state
def initial_state(batch: int, channels: int, dtype: torch.dtype = torch.float32,
                  device: Optional[torch.device] = None) -> State:
    """The empty state ``(a, b, p) = (0, 0, -1e38)``, each ``[batch, channels]``.

    float16/bfloat16 give a float32 state: :func:`wkv` computes those inputs in float32 and
    returns a float32 state, and ``-1e38`` does not fit float16.
    """
    if dtype in _LOW_PRECISION:
        dtype = torch.float32
    z = torch.zeros(batch, channels, dtype=dtype, device=device)
    return z, z.clone(), torch.full_like(z, NEG)


# ---------------------------------------------------------------------------- (a) reference
def wkv_reference(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: State) -> Tuple[Tensor, State]:
    """The specification: the stable recurrence one token at a time, differentiated by autograd."""
    a, b, p = state
    ys = []
    for t in range(k.shape[0]):
        kt, vt = k[t], v[t]
        # output: the sums so far plus the current token with its bonus u
        q = torch.maximum(p, u + kt)
        e1, e2 = torch.exp(p - q), torch.exp(u + kt - q)
        ys.append((e1 * a + e2 * vt) / (e1 * b + e2))
        # state: decay the sums by e^w and add the current token
        wp = w + p
        pn = torch.maximum(wp, kt)
        f1, f2 = torch.exp(wp - pn), torch.exp(kt - pn)
        a, b, p = f1 * a + f2 * vt, f1 * b + f2, pn
    y = torch.stack(ys) if ys else k.new_empty(k.shape)
    return y, (a, b, p)


# ---------------------------------------------------------------------------- (b) fused CPU kernel
_I, _L, _P = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
_SIGS = {"forward": [_P] * 11 + [_L, _L, _L, _I], "backward": [_P] * 18 + [_L, _L, _L, _I]}
_fns: dict = {}


def _lib() -> Optional[ctypes.CDLL]:
    return build.load_library(SOURCE, FLAGS, STEM)


def available() -> bool:
    """True when the compiled WKV kernel can be used on this machine."""
    return _lib() is not None


def error() -> Optional[str]:
    """Why the WKV kernel could not be built (``None`` if it loaded or was not tried)."""
    return build.error(STEM)


def _fn(name: str, dtype: torch.dtype) -> Any:
    f = _fns.get((name, dtype))
    if f is None:
        f = _fns[(name, dtype)] = build.bind(_lib, f"snn_wkv_{name}_{'f64' if dtype == torch.float64 else 'f32'}",
                                             _SIGS[name], lambda: f"snnkit WKV CPU kernel is unavailable: {error()}")
    return f


def _p(t: Optional[Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


_BLK = 64  # columns per work block: BLK in wkv_kernels.cpp
GRAIN = 1 << 15  # element-steps per thread below which a call stays on one thread (torch's grain size)


def _nthreads(T: int, N: int) -> int:
    """Threads for a call over ``[T, N]``: one per block of work, at most torch's thread count.

    Small calls (a recurrent step) stay single-threaded: waking an OpenMP team costs more
    than the work, and far more when the cores are shared with other processes.
    """
    blocks = -(-N // _BLK)
    return max(1, min(torch.get_num_threads(), blocks, (T * N) // GRAIN))


class WKVFunction(torch.autograd.Function):
    """Fused WKV over contiguous ``k, v [T, B, C]`` (float32/float64) with state ``(a, b, p)``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, w: Tensor, u: Tensor, k: Tensor, v: Tensor, a0: Tensor, b0: Tensor, p0: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        T, B, C = k.shape
        y, aT, bT, pT = torch.empty_like(k), torch.empty_like(a0), torch.empty_like(b0), torch.empty_like(p0)
        rc = _fn("forward", k.dtype)(_p(w), _p(u), _p(k), _p(v), _p(a0), _p(b0), _p(p0), _p(y), _p(aT), _p(bT),
                                     _p(pT), T, B * C, C, _nthreads(T, B * C))
        if rc != 0:
            raise RuntimeError(f"snnkit WKV kernel forward rejected its arguments (code {rc})")
        ctx.save_for_backward(w, u, k, v, a0, b0, p0)
        return y, aT, bT, pT

    @staticmethod
    @first_order_only("snnkit WKV CPU kernel")
    def backward(ctx: Any, gy: Optional[Tensor], gaT: Optional[Tensor], gbT: Optional[Tensor],
                 gpT: Optional[Tensor]) -> Tuple[Tensor, ...]:
        w, u, k, v, a0, b0, p0 = ctx.saved_tensors
        T, B, C = k.shape
        gy = torch.zeros_like(k) if gy is None else gy.contiguous()
        if gaT is None and gbT is None and gpT is None:
            gs: Tuple[Optional[Tensor], ...] = (None, None, None)
        else:
            gs = tuple(torch.zeros_like(a0) if g is None else g.contiguous() for g in (gaT, gbT, gpT))
        gk, gv = torch.empty_like(k), torch.empty_like(v)
        gw, gu = k.new_empty(B, C), k.new_empty(B, C)
        ga0, gb0, gp0 = torch.empty_like(a0), torch.empty_like(b0), torch.empty_like(p0)
        rc = _fn("backward", k.dtype)(
            _p(w), _p(u), _p(k), _p(v), _p(a0), _p(b0), _p(p0), _p(gy), *(_p(g) for g in gs),
            _p(gk), _p(gv), _p(gw), _p(gu), _p(ga0), _p(gb0), _p(gp0), T, B * C, C, _nthreads(T, B * C),
        )
        if rc != 0:
            raise RuntimeError(f"snnkit WKV kernel backward rejected its arguments (code {rc})")
        return gw.sum(0), gu.sum(0), gk, gv, ga0, gb0, gp0


def wkv_cpu(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: State) -> Tuple[Tensor, State]:
    """The fused CPU kernel (float32 or float64, contiguous inputs)."""
    c = lambda t: t.contiguous()  # noqa: E731
    y, a, b, p = WKVFunction.apply(c(w), c(u), c(k), c(v), *(c(s) for s in state))
    return y, (a, b, p)


def wkv_step(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: State, fused: bool = True) -> Tuple[Tensor, State]:
    """One token of :func:`wkv` for ``k, v [B, C]`` (``w, u [C]``, all of one dtype): the recurrent step's inner loop.

    No argument checks (the caller's shapes are fixed) and no dtype casts. The fused kernel
    runs it when nothing needs a gradient (contiguous float32/float64 CPU tensors), in one call
    instead of some twenty small ops; otherwise (or with ``fused=False``) the formulas of
    :func:`wkv_reference`.
    """
    a, b, p = state
    if fused and not k.is_cuda and not (torch.is_grad_enabled() and any(t.requires_grad for t in (w, u, k, v, a, b, p))):
        f = _fns.get(("forward", k.dtype))
        if f is None and k.dtype in (torch.float32, torch.float64) and available():
            f = _fn("forward", k.dtype)
        if f is not None and k.device.type == "cpu":
            a, b, p, w, u, k, v = (t if t.is_contiguous() else t.contiguous() for t in (a, b, p, w, u, k, v))
            y, aT, bT, pT = torch.empty_like(k), torch.empty_like(a), torch.empty_like(b), torch.empty_like(p)
            f(w.data_ptr(), u.data_ptr(), k.data_ptr(), v.data_ptr(), a.data_ptr(), b.data_ptr(), p.data_ptr(),
              y.data_ptr(), aT.data_ptr(), bT.data_ptr(), pT.data_ptr(), 1, k.numel(), k.shape[-1], 1)
            return y, (aT, bT, pT)
    uk = u + k
    q = torch.maximum(p, uk)
    e1, e2 = torch.exp(p - q), torch.exp(uk - q)
    y = (e1 * a + e2 * v) / (e1 * b + e2)
    wp = w + p
    pn = torch.maximum(wp, k)
    f1, f2 = torch.exp(wp - pn), torch.exp(k - pn)
    return y, (f1 * a + f2 * v, f1 * b + f2, pn)


# ---------------------------------------------------------------------------- (c) chunked torch
CHUNK_BUDGET = 1 << 23  # elements of the [g, L, L, B, C] weight tensor formed at once (32 MiB in float32)


def _in_chunk(D: Tensor, kc: Tensor, vc: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Sums inside chunks ``kc, vc [g, L, B, C]``: weights ``e^{D[t, i] + k_i}`` normalised by their row max ``m``."""
    E = D[:, :, None] + kc[:, None]                     # [g, L(t), L(i), B, C]
    m = E.detach().amax(dim=2)                          # y is a ratio: any finite shift m is exact
    W = torch.exp(E - m[:, :, None])
    return (W * vc[:, None]).sum(2), W.sum(2), m


def wkv_chunked(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: State, chunk_size: int = 16) -> Tuple[Tensor, State]:
    """Chunk-parallel WKV in plain torch (any device), differentiated by autograd.

    Inside each chunk of ``L = chunk_size`` tokens the weights ``e^{(t-1-i) w + k_i}`` are
    formed for all pairs ``i <= t`` at once and normalised by their row maximum (as in a
    softmax), so the result is exact however large ``k`` or ``|w|``; the state entering each
    chunk comes from a loop over the ``T / L`` chunk summaries. The ``L x L`` weights are
    formed for a group of chunks at a time (:data:`CHUNK_BUDGET`) and, when training,
    recomputed in the backward instead of stored, so memory stays ``O(T B C)``.
    """
    T, B, C = k.shape
    L = max(1, min(chunk_size, T))
    n = -(-T // L)
    pad = n * L - T
    a, b, p = state
    # a decay of w = -inf (time_decay above ~88 in float32) forgets everything at once, as in the
    # recurrence; -1e30 does the same (e^{-1e30 + k} = 0) without the 0 * -inf = nan of (t-1-i) * w
    w = w.clamp(min=-1e30)
    if pad:  # padding tokens carry k = -1e38: weight 0 in every sum
        k = F.pad(k, (0, 0, 0, 0, 0, pad), value=NEG)
        v = F.pad(v, (0, 0, 0, 0, 0, pad))
    kc, vc = k.view(n, L, B, C), v.view(n, L, B, C)
    idx = torch.arange(L, device=k.device)

    # 1. Inside chunks: E[c, t, i] = D[t, i] + k_i with D = (t-1-i) w below the diagonal,
    #    u on it (the bonus of the current token) and -1e38 (weight 0) above it.
    dist = (idx[:, None] - 1 - idx[None, :]).to(k.dtype)[:, :, None]             # [L, L, 1]
    D = torch.where(idx[:, None, None] > idx[None, :, None], dist * w, NEG)       # [L, L, C]
    D = torch.where(idx[:, None, None] == idx[None, :, None], u, D)
    g = max(1, CHUNK_BUDGET // (L * L * B * C))
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in (D, kc, vc))
    parts = []
    for s in range(0, n, g):
        args = (D, kc[s: s + g], vc[s: s + g])
        parts.append(torch.utils.checkpoint.checkpoint(_in_chunk, *args, use_reentrant=False) if recompute
                     else _in_chunk(*args))
    num, den, m = (torch.cat(x) for x in zip(*parts))                            # [n, L, B, C]

    # 2. What each chunk adds to the state: exponents (len_c - 1 - i) w + k_i.
    lens = [L] * (n - 1) + [L - pad]
    steps = (torch.tensor(lens, device=k.device)[:, None] - 1 - idx[None, :]).to(k.dtype)[:, :, None, None]
    f = steps * w + kc                                                             # [n, L, B, C]
    smax = f.amax(dim=1)
    ef = torch.exp(f - smax[:, None])
    sa, sb = (ef * vc).sum(1), ef.sum(1)

    # 3. Carry the state from chunk to chunk (the only sequential part: T / L steps).
    ins = []
    for c in range(n):
        ins.append((a, b, p))
        wp = lens[c] * w + p
        pn = torch.maximum(wp, smax[c])
        e1, e2 = torch.exp(wp - pn), torch.exp(smax[c] - pn)
        a, b, p = e1 * a + e2 * sa[c], e1 * b + e2 * sb[c], pn
    A, Bs, P = (torch.stack(s)[:, None] for s in zip(*ins))                      # [n, 1, B, C]

    # 4. Combine each token's in-chunk sums with the decayed incoming state.
    sp = idx.to(k.dtype)[:, None, None] * w + P                                   # [n, L, B, C]
    mm = torch.maximum(m, sp).detach()
    e_in, e_st = torch.exp(m - mm), torch.exp(sp - mm)
    y = (num * e_in + A * e_st) / (den * e_in + Bs * e_st)
    return y.reshape(n * L, B, C)[:T], (a, b, p)


# ---------------------------------------------------------------------------- (d) triton
def _wkv_triton() -> Any:
    """:func:`snnkit.kernels.triton.wkv.wkv_triton`, imported (kernels defined) on first use."""
    try:
        from .triton.wkv import wkv_triton
    except ImportError as err:
        raise RuntimeError(f"wkv: backend='triton' needs the 'triton' package (pip install triton), which failed "
                           f"to import: {err}") from err
    return wkv_triton


# ---------------------------------------------------------------------------- dispatch
def _check(w: Any, u: Any, k: Any, v: Any, state: Any, backend: Any, chunk_size: Any) -> None:
    fn = "wkv"
    for name, t in (("w", w), ("u", u), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{fn}: {name} must be floating point, got dtype {t.dtype}")
    if k.ndim != 3:
        raise ValueError(f"{fn}: k must be time-major [T, B, C], got shape {tuple(k.shape)}")
    if v.shape != k.shape:
        raise ValueError(f"{fn}: v must have k's shape {tuple(k.shape)}, got {tuple(v.shape)}")
    C = k.shape[2]
    for name, t in (("w", w), ("u", u)):
        if tuple(t.shape) != (C,):
            raise ValueError(f"{fn}: {name} must be [C] = [{C}] (one value per channel of k), got {tuple(t.shape)}")
    for name, t in (("w", w), ("u", u), ("v", v)):
        if t.device != k.device:
            raise ValueError(f"{fn}: {name} is on {t.device} but k is on {k.device}")
    if state is not None:
        if not isinstance(state, (tuple, list)) or len(state) != 3:
            raise TypeError(f"{fn}: state must be an (a, b, p) triple of tensors or None, got {type(state).__name__}")
        for name, s in zip(("a", "b", "p"), state):
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != tuple(k.shape[1:]):
                got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"{fn}: state {name} must be a [B, C] = {list(k.shape[1:])} tensor, got {got}")
            if s.device != k.device:  # the CPU kernel would read another device's pointer (a segfault)
                raise ValueError(f"{fn}: state {name} is on {s.device} but k is on {k.device}")
    if backend not in BACKENDS:
        raise ValueError(f"{fn}: backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    if not is_int(chunk_size) or chunk_size < 1:
        raise ValueError(f"{fn}: chunk_size must be a positive integer, got {chunk_size!r}")


def _resolve(backend: str, k: Tensor) -> str:
    if backend == "cpu":
        if k.device.type != "cpu":
            raise ValueError(f"wkv: backend='cpu' needs CPU tensors, k is on {k.device}")
        if not available():
            raise RuntimeError(f"wkv: backend='cpu' is unavailable: {error()}")
        return "cpu"
    if backend == "auto":
        if k.device.type == "cpu" and available():
            return "cpu"
        if k.device.type == "cuda":
            from .triton import available as _triton_available

            if _triton_available():
                return "triton"
        return "chunked"
    return backend


def wkv(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: Optional[State] = None, backend: str = "auto",
        chunk_size: int = 16) -> Tuple[Tensor, State]:
    """RWKV-4 WKV over time-major ``k, v [T, B, C]``; returns ``(y [T, B, C], (a, b, p))``.

    ``w = -exp(time_decay)`` and ``u = time_first`` are ``[C]``; ``state`` is the ``(a, b, p)``
    left by a previous call (``None``: empty), so a sequence fed in pieces gives the same
    ``y`` as one call. float16/bfloat16 inputs are computed in float32 and cast back.
    """
    _check(w, u, k, v, state, backend, chunk_size)
    impl = _resolve(backend, k)
    out_dtype = k.dtype
    dt = torch.float32 if out_dtype in _LOW_PRECISION else out_dtype
    B, C = k.shape[1], k.shape[2]
    st = initial_state(B, C, dt, k.device) if state is None else tuple(s.to(dt) for s in state)
    w, u, k, v = (t.to(dt) for t in (w, u, k, v))
    if k.shape[0] == 0:
        return k.to(out_dtype), st  # type: ignore[return-value]
    if k.numel() == 0:  # B = 0 or C = 0: the kernel rejects C = 0 and the chunked form divides by B*C
        impl = "reference"
    if impl == "reference":
        y, st = wkv_reference(w, u, k, v, st)  # type: ignore[arg-type]
    elif impl == "cpu":
        y, st = wkv_cpu(w, u, k, v, st)  # type: ignore[arg-type]
    elif impl == "triton":
        y, st = _wkv_triton()(w, u, k, v, st)
    else:
        y, st = wkv_chunked(w, u, k, v, st, chunk_size)  # type: ignore[arg-type]
    return y.to(out_dtype), st  # type: ignore[return-value]
