"""Events and framing: tonic's event structure, events -> frames ``[T, P, H, W]`` with
SpikingJelly's or tonic's bin edges, and resizing of the sensor grid.

Events are numpy structured arrays with fields ``x``, ``y``, ``t`` (microseconds) and ``p``
(polarity), the structure tonic's datasets return (:data:`EVENT_DTYPE` is tonic's N-MNIST
dtype). Sensor sizes follow tonic: ``(W, H, P)``. Frames are ``[T, P, H, W]`` event counts.

Bin edges, for N events in time order, ``t0``/``t1`` the first/last timestamp, M frames:

* ``n_bins=M, split_by="number"``. spikingjelly: ``d = N // M``, event k -> frame
  ``min(k // d, M - 1)``, so the last frame takes the remainder (``d = 0``: all events in the
  last frame). tonic: ``c = N // M``, event k -> ``k // c``, the last ``N - M*c`` events are
  dropped (``c = 0``: all frames empty).
* ``n_bins=M, split_by="time"``. spikingjelly: ``dt = (t1 - t0) // M``, frame
  ``min((t - t0) // dt, M - 1)``: the last frame runs to ``t1`` (``dt = 0``: all in the last).
  tonic: ``w = (t1 - t0) // M``, frame ``(t - t0) // w``; events at ``t >= t0 + M*w``, which
  always include the last event, are dropped (``w = 0``: all frames empty).
* ``time_window=W``. spikingjelly: ``ceil((t1 - t0) / W)`` frames (at least 1), frame
  ``min((t - t0) // W, T - 1)``. tonic: ``floor((t1 - t0) / W)`` frames (``ceil`` with
  ``include_incomplete``; at least 1), frame ``(t - t0) // W``, later events dropped.
* ``event_count=C``. spikingjelly (snnkit's rule; SpikingJelly has no such mode): ``ceil(N / C)``
  frames, event k -> ``k // C``, the short last frame kept. tonic: ``floor(N / C)`` frames
  (``ceil`` with ``include_incomplete``), extra events dropped; ``N < C``: one frame of all N.

A fractional ``W`` uses each library's floating-point edges exactly: spikingjelly ``(t - t0) // W``,
tonic ``[k*W + t0, k*W + t0 + W)`` (rounding can make those overlap: tonic then counts an edge
event in both frames; :func:`bin_index`, one frame per event, gives it the later one).

"spikingjelly" is ``spikingjelly.datasets.integrate_events_by_fixed_frames_number``
(``split_by='number'``/``'time'``) and ``integrate_events_by_fixed_duration`` exactly, where
those run (SpikingJelly raises on an empty time bin and on zero-length recordings; here those
give empty frames / all events in the last frame). "tonic" is
``tonic.transforms.ToFrame(n_event_bins=M)``, ``(n_time_bins=M)``, ``(time_window=W)``,
``(event_count=C)`` with ``overlap=0``. With no events every mode gives M empty frames
(``n_bins``) or one empty frame (``time_window``/``event_count``), in ``[T, P, H, W]`` order
(tonic returns ``[T, P, W, H]`` there). Time bins use each event's own timestamp (``t0``/``t1``
= min/max), which is the same as both libraries for time-ordered events; number bins follow
array order, as both libraries do.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "EVENT_DTYPE",
    "CONVENTIONS",
    "SPLIT_BY",
    "make_events",
    "check_sensor_size",
    "check_events",
    "bin_index",
    "to_frames",
    "resize_events",
    "Framing",
]

EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
CONVENTIONS = ("spikingjelly", "tonic")
SPLIT_BY = ("number", "time")
SensorSize = Tuple[int, int, int]


def make_events(x: Any, y: Any, t: Any, p: Any) -> np.ndarray:
    """A structured event array (:data:`EVENT_DTYPE`) from four equal-length sequences."""
    cols = [np.asarray(a) for a in (x, y, t, p)]
    n = len(cols[0])
    for name, c in zip("xytp", cols):
        if c.ndim != 1 or len(c) != n:
            raise ValueError(f"make_events: {name} must be 1-D with {n} entries like x, got shape {c.shape}")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    for name, c in zip("xytp", cols):
        ev[name] = c
    return ev


def check_sensor_size(sensor_size: Any, name: str = "sensor_size") -> SensorSize:
    """``(W, H, P)`` as three positive ints (tonic's order)."""
    try:
        w, h, p = (int(v) for v in sensor_size)
        ok = all(int(v) == v for v in sensor_size) and min(w, h, p) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be (W, H, P) with three positive integers (tonic's order), got {sensor_size!r}")
    return (w, h, p)


def check_events(events: Any, sensor_size: Optional[Sequence[int]] = None, name: str = "events") -> np.ndarray:
    """Check that ``events`` is a structured array with x, y, t, p inside ``sensor_size``; return it."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise TypeError(f"{name} must be a numpy structured array with fields x, y, t, p (tonic's event format), "
                        f"got {type(events).__name__}{'' if not isinstance(events, np.ndarray) else ' of dtype ' + str(events.dtype)}")
    missing = [f for f in "xytp" if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{name} must have fields x, y, t, p; fields {missing} are missing (has {events.dtype.names})")
    if events.ndim != 1:
        raise ValueError(f"{name} must be a 1-D structured array, got shape {events.shape}")
    if sensor_size is not None and len(events):
        w, h, _ = check_sensor_size(sensor_size)
        for f, lim in (("x", w), ("y", h)):
            lo, hi = events[f].min(), events[f].max()
            if lo < 0 or hi >= lim:
                raise ValueError(f"{name}: {f} ranges over [{lo}, {hi}] but sensor_size={tuple(sensor_size)} (W, H, P) "
                                 f"allows 0..{lim - 1}; is this the right sensor size for these events?")
    return events


def _polarity(p: np.ndarray, n_pol: int, name: str) -> np.ndarray:
    """Polarity channel per event: one channel merges both; bool/0-1 stay; -1/+1 maps to 0/1."""
    if n_pol == 1:
        return np.zeros(len(p), dtype=np.int64)
    p = p.astype(np.int64, copy=False)
    lo, hi = (p.min(), p.max()) if len(p) else (0, 0)
    if lo < 0 and n_pol == 2:
        if not np.all((p == -1) | (p == 1)):
            raise ValueError(f"{name}: polarity mixes negative values with values other than -1/1 (range [{lo}, {hi}])")
        return (p > 0).astype(np.int64)
    if lo < 0 or hi >= n_pol:
        raise ValueError(f"{name}: polarity ranges over [{lo}, {hi}] but the sensor has P={n_pol} channels (0..{n_pol - 1})")
    return p


def _check_choice(value: Any, choices: Sequence[str], arg: str) -> str:
    if value not in choices:
        raise ValueError(f"{arg} must be one of {tuple(choices)}, got {value!r}")
    return str(value)


def _positive(value: Any, arg: str, integer: bool) -> Any:
    bad = isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
    if not bad:
        bad = value <= 0 or (integer and int(value) != value) or not math.isfinite(value)
    if bad:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{arg} must be {kind}, got {value!r}")
    return int(value) if integer else value


def _framing_mode(n_bins: Any, time_window: Any, event_count: Any) -> str:
    given = [k for k, v in (("n_bins", n_bins), ("time_window", time_window), ("event_count", event_count)) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of n_bins (frames= in load: a fixed number of frames T), time_window "
                         "(microseconds per frame) "
                         f"or event_count (events per frame); got {given or 'none'}")
    return given[0]


def bin_index(
    events: np.ndarray,
    n_bins: Optional[int] = None,
    *,
    split_by: str = "number",
    time_window: Optional[float] = None,
    event_count: Optional[int] = None,
    convention: str = "spikingjelly",
    include_incomplete: bool = False,
) -> Tuple[np.ndarray, int]:
    """Frame index of every event (-1: dropped) and the number of frames; the table in the module docstring."""
    mode = _framing_mode(n_bins, time_window, event_count)
    convention = _check_choice(convention, CONVENTIONS, "convention")
    sj = convention == "spikingjelly"
    n = len(events)
    if mode == "n_bins":
        m = _positive(n_bins, "n_bins", integer=True)
        split_by = _check_choice(split_by, SPLIT_BY, "split_by")
        if n == 0:
            return np.zeros(0, dtype=np.int64), m
        if split_by == "number":
            k = np.arange(n, dtype=np.int64)
            d = n // m
            if sj:
                b = np.full(n, m - 1, dtype=np.int64) if d == 0 else np.minimum(k // d, m - 1)
            else:
                b = np.full(n, -1, dtype=np.int64) if d == 0 else np.where(k < m * d, k // max(d, 1), -1)
            return b, m
        t = events["t"]
        t0, t1 = t.min(), t.max()
        dt = (t1 - t0) // m
        if dt == 0:
            return np.full(n, m - 1 if sj else -1, dtype=np.int64), m
        b = ((t - t0) // dt).astype(np.int64)
        return (np.minimum(b, m - 1) if sj else np.where(b < m, b, -1)), m
    if mode == "time_window":
        w = _positive(time_window, "time_window", integer=False)
        if n == 0:
            return np.zeros(0, dtype=np.int64), 1
        t = events["t"]
        t0, t1 = t.min(), t.max()
        dur = t1 - t0
        if sj:   # SpikingJelly: frame (t - t0) // W, in floating point for a fractional W
            nf = max(int(math.ceil(dur / w)), 1)
            return np.minimum(((t - t0) // w).astype(np.int64), nf - 1), nf
        rnd = math.ceil if include_incomplete else math.floor
        nf = max(int(rnd((dur - w) / w) + 1), 1)
        # tonic: frame k spans [k*W + t0, k*W + t0 + W), edges computed as tonic computes them
        starts = np.arange(nf) * w + t0
        b = np.searchsorted(starts, t, side="right") - 1
        return np.where(t < starts[b] + w, b, -1).astype(np.int64), nf
    c = _positive(event_count, "event_count", integer=True)
    k = np.arange(n, dtype=np.int64)
    if sj:
        return k // c, max(-(-n // c), 1)
    if n < c:
        return np.zeros(n, dtype=np.int64), 1
    nf = max(-(-n // c) if include_incomplete else n // c, 1)
    b = k // c
    return np.where(b < nf, b, -1), nf


def _ranges(
    events: np.ndarray, n_bins: Optional[int], split_by: str, time_window: Optional[float], event_count: Optional[int],
    convention: str, include_incomplete: bool,
) -> Optional[Tuple[np.ndarray, np.ndarray, int]]:
    """Each frame's event slice ``[lo, hi)`` when frames are slices of the array (else None).

    The same edges as :func:`bin_index` (tests check both agree), computed without a per-event
    array: number and event-count frames always, time frames when timestamps are sorted.
    """
    n = len(events)
    sj = convention == "spikingjelly"
    if n == 0:
        return None
    if n_bins is not None and split_by == "number":
        m, d = int(n_bins), n // int(n_bins)
        lo = np.arange(m, dtype=np.int64) * d
        hi = lo + d
        if sj:
            hi[-1] = n
        return lo, hi, m
    if event_count is not None:
        c = int(event_count)
        if not sj and n < c:
            return np.array([0]), np.array([n]), 1
        nf = max(-(-n // c) if (sj or include_incomplete) else n // c, 1)
        lo = np.arange(nf, dtype=np.int64) * c
        return lo, np.minimum(lo + c, n), nf
    t = events["t"]
    if not bool(np.all(t[1:] >= t[:-1])):
        return None                       # unsorted timestamps: per-event bins instead
    t0, t1 = t[0], t[-1]
    if n_bins is not None:
        nf = int(n_bins)
        width = (t1 - t0) // nf
        if width == 0:                    # zero-length recording: SpikingJelly puts all in the last bin, tonic none
            lo, hi = np.zeros(nf, dtype=np.int64), np.zeros(nf, dtype=np.int64)
            hi[-1] = n if sj else 0
            return lo, hi, nf
    else:
        # Each library's own edges: for a fractional W, t0 + k*W differs by an ulp from both
        width, dur = time_window, t1 - t0
        if sj:   # SpikingJelly: frame (t - t0) // W; the last frame runs to the last event
            nf = max(int(math.ceil(dur / width)), 1)
            cut = np.searchsorted((t - t0) // width, np.arange(1, nf), side="left")
            return np.concatenate(([0], cut)), np.concatenate((cut, [n])), nf
        nf = max(int((math.ceil if include_incomplete else math.floor)((dur - width) / width) + 1), 1)
        starts = np.arange(nf) * width + t0   # tonic: [k*W + t0, k*W + t0 + W), which may overlap or gap by an ulp
        return np.searchsorted(t, starts, side="left"), np.searchsorted(t, starts + width, side="left"), nf
    idx = np.searchsorted(t, t0 + np.arange(nf + 1) * width, side="left")
    lo, hi = idx[:-1].copy(), idx[1:].copy()
    if sj:
        hi[-1] = n                        # the last frame runs to the last event
    return lo, hi, nf


def to_frames(
    events: np.ndarray,
    sensor_size: Sequence[int],
    n_bins: Optional[int] = None,
    *,
    split_by: str = "number",
    time_window: Optional[float] = None,
    event_count: Optional[int] = None,
    convention: str = "spikingjelly",
    include_incomplete: bool = False,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Accumulate events into ``[T, P, H, W]`` count frames; give one of n_bins / time_window / event_count.

    ``convention`` picks SpikingJelly's or tonic's bin edges (module docstring). One polarity
    channel (``P=1``) merges ON and OFF; -1/+1 polarities count as 0/1. Events outside the
    sensor raise ``ValueError`` naming the range found.
    """
    check_events(events, sensor_size)
    w, h, n_pol = check_sensor_size(sensor_size)
    mode = _framing_mode(n_bins, time_window, event_count)
    _check_choice(convention, CONVENTIONS, "convention")
    if mode == "n_bins":
        _positive(n_bins, "n_bins", integer=True)
        _check_choice(split_by, SPLIT_BY, "split_by")
    elif mode == "time_window":
        _positive(time_window, "time_window", integer=False)
    else:
        _positive(event_count, "event_count", integer=True)
    size = n_pol * h * w
    if len(events) == 0:
        return np.zeros((int(n_bins) if mode == "n_bins" else 1, n_pol, h, w), dtype=dtype)
    pix = _polarity(events["p"], n_pol, "events") * h       # pixel index (p, y, x) of every event
    pix += events["y"]
    pix *= w
    pix += events["x"]
    ranges = _ranges(events, n_bins, split_by, time_window, event_count, convention, include_incomplete)
    if ranges is not None:   # frames are adjacent slices [lo[i], hi[i]) of the event array
        lo, hi, nf = ranges
        if nf * size <= (1 << 17) and np.array_equal(hi[:-1], lo[1:]):   # small, contiguous: one histogram
            frame = np.repeat(np.arange(nf, dtype=np.int64) * size, hi - lo)
            counts = np.bincount(frame + pix[lo[0]:hi[-1]], minlength=nf * size)
            return counts.reshape(nf, n_pol, h, w).astype(dtype, copy=False)
        out = np.zeros((nf, size), dtype=dtype)   # large: frame by frame, scratch stays one frame in size
        for i in np.flatnonzero(hi > lo):
            out[i] = np.bincount(pix[lo[i]:hi[i]], minlength=size)
        return out.reshape(nf, n_pol, h, w)
    b, nf = bin_index(events, n_bins, split_by=split_by, time_window=time_window, event_count=event_count,
                      convention=convention, include_incomplete=include_incomplete)
    keep = b >= 0
    flat = b[keep] * size + pix[keep]
    return np.bincount(flat, minlength=nf * size).reshape(nf, n_pol, h, w).astype(dtype, copy=False)


def resize_events(events: np.ndarray, sensor_size: Sequence[int], size: Sequence[int]) -> Tuple[np.ndarray, SensorSize]:
    """Map events onto a ``size=(H, W)`` grid (``x' = x * W' // W``): pooling by summation; returns (events, sensor size).

    Integer factors give exact sum-pooling of the frames; any other ratio is nearest-lower-cell
    binning in exact integers (``tonic.transforms.Downsample(target_size=...)`` multiplies by a
    float ratio instead, so it differs at a few widths).
    """
    w, h, n_pol = check_sensor_size(sensor_size)
    try:
        nh, nw = (int(v) for v in size)
        ok = len(size) == 2 and nh > 0 and nw > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"size must be (H, W) with two positive integers, got {size!r}")
    check_events(events, sensor_size)
    out = events.copy()
    if (nh, nw) != (h, w):
        out["x"] = events["x"].astype(np.int64) * nw // w
        out["y"] = events["y"].astype(np.int64) * nh // h
    return out, (nw, nh, n_pol)


@dataclass(frozen=True)
class Framing:
    """All framing settings in one value (the frame cache is keyed by :meth:`to_dict`)."""

    n_bins: Optional[int] = None
    split_by: str = "number"
    time_window: Optional[float] = None
    event_count: Optional[int] = None
    convention: str = "spikingjelly"
    include_incomplete: bool = False
    size: Optional[Tuple[int, int]] = None

    def __post_init__(self) -> None:
        # Validate once, with empty events, so a bad setting fails before any file is read.
        bin_index(np.zeros(0, dtype=EVENT_DTYPE), self.n_bins, split_by=self.split_by, time_window=self.time_window,
                  event_count=self.event_count, convention=self.convention, include_incomplete=self.include_incomplete)
        _check_choice(self.split_by, SPLIT_BY, "split_by")
        if self.include_incomplete and self.convention != "tonic":
            # SpikingJelly's edges always keep the last partial frame: the flag would do nothing but key a second cache
            raise ValueError(f"include_incomplete (--include-incomplete) applies to convention='tonic' (--convention "
                             f"tonic) only; with convention={self.convention!r} the last partial frame is always kept")
        if self.size is not None:
            resize_events(np.zeros(0, dtype=EVENT_DTYPE), (1, 1, 1), self.size)
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @property
    def fixed_length(self) -> bool:
        """True when every sample gets the same number of frames (``n_bins``)."""
        return self.n_bins is not None

    def sensor_size(self, sensor_size: Sequence[int]) -> SensorSize:
        """The frame grid ``(W, H, P)`` after resizing."""
        w, h, p = check_sensor_size(sensor_size)
        return (w, h, p) if self.size is None else (self.size[1], self.size[0], p)

    def __call__(self, events: np.ndarray, sensor_size: Sequence[int]) -> np.ndarray:
        """Frames ``[T, P, H, W]`` float32 from events recorded on ``sensor_size``."""
        if self.size is not None:
            events, sensor_size = resize_events(events, sensor_size, self.size)
        return to_frames(events, sensor_size, self.n_bins, split_by=self.split_by, time_window=self.time_window,
                         event_count=self.event_count, convention=self.convention,
                         include_incomplete=self.include_incomplete)

    def to_dict(self) -> Dict[str, Any]:
        """The settings in canonical form (the cache key): equal framings give equal dicts however spelled.

        ``time_window`` is a float and ``event_count`` an int (``50000`` and ``50000.0`` frame
        alike); ``split_by`` only matters with ``n_bins``, so otherwise it is stored as the
        default. The ``n_bins`` dict is unchanged from earlier releases, so those caches keep their names.
        """
        d = asdict(self)
        d["size"] = list(self.size) if self.size is not None else None
        if self.n_bins is not None:
            d["n_bins"] = int(self.n_bins)
        else:
            d["split_by"] = "number"   # no effect without n_bins: neutral, so it cannot key a second cache
        if self.time_window is not None:
            d["time_window"] = float(self.time_window)
            if not float(self.time_window).is_integer():
                # frames of a fractional window changed when its edges became each library's own (fix of
                # FRAMES_VERSION 2): key those caches anew; whole windows framed the same, so their keys stay
                d["time_edges"] = "library"
        if self.event_count is not None:
            d["event_count"] = int(self.event_count)
        return d
