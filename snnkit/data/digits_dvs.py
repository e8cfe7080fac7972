"""An offline event dataset: scikit-learn's 1797 handwritten digits seen by a simulated DVS in saccades.

N-MNIST was recorded by an ATIS camera on a pan-tilt unit making three saccades (a triangle:
+3.5 px / +7 px, then to +7 px / 0, then back) in front of a monitor showing each MNIST digit.
:func:`simulate` does the same in software: the 8x8 digit is upsampled to 24x24 (bilinear),
placed on a black screen, moved along N-MNIST's triangle (three ~100 ms saccades with a smooth
velocity profile), imaged onto a 34x34 sensor (bilinear sampling of the moving intensity), and
every pixel emits an ON (p=1) or OFF (p=0) event each time its log intensity moves one contrast
threshold away from the level at its last event (the DVS/ATIS change-detection rule). Each
pixel's ON and OFF thresholds carry a fixed random mismatch and timestamps are interpolated
to the threshold crossing within a simulation step; a small rate of uniform background-activity
noise events is added. Optionally (``flicker_hz > 0``) the room light flickers: at random times
per recording the whole scene dims by ``flicker_depth`` in log intensity and recovers over
``flicker_us``, so every pixel fires OFF then ON events at once, the artefact that lamps and
monitor refresh put into real DVS recordings. Output events are tonic's N-MNIST structure (``x, y, t, p``, t in
microseconds, sorted by t) on a ``(34, 34, 2)`` sensor.

Everything random comes from ``numpy.random.SeedSequence([seed, digit_index])``, so a digit's
events depend only on the seed and that digit, whether simulated alone or in a batch, in any
order. ``SIM_VERSION`` and the :class:`DVSSimParams` values are part of the frame cache key.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .events import EVENT_DTYPE

__all__ = ["SIM_VERSION", "DVSSimParams", "simulate", "simulate_batch", "load_digit_images", "DigitsDVS", "CLASSES",
           "split_indices"]

SIM_VERSION = 1
CLASSES = [str(i) for i in range(10)]


@dataclass(frozen=True)
class DVSSimParams:
    """Settings of the simulated sensor and saccades (N-MNIST-like defaults)."""

    sensor: int = 34                  # square sensor side (N-MNIST: 34)
    scale: int = 3                    # 8x8 digit -> (8*scale)^2 on the screen
    saccade_us: int = 100_000         # duration of each of the three saccades
    path: Tuple[Tuple[float, float], ...] = ((3.5, 7.0), (7.0, 0.0), (0.0, 0.0))  # saccade end points (x, y) px
    dt_us: int = 3_000                # simulation step (timestamps are interpolated inside a step)
    threshold: float = 0.5            # log-intensity contrast threshold (ON and OFF)
    threshold_sigma: float = 0.03     # per-pixel threshold mismatch (std)
    background: float = 0.05          # black level of the screen relative to white
    noise_hz: float = 0.2             # background-activity events per pixel per second
    flicker_hz: float = 0.0           # illumination flickers per second (Poisson, random times per recording)
    flicker_depth: float = 1.0        # log-intensity dip of a flicker (whole scene, raised-cosine in time)
    flicker_us: int = 20_000          # duration of one flicker
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [("sensor", self.sensor >= 8 * self.scale), ("scale", self.scale >= 1), ("saccade_us", self.saccade_us > 0),
                  ("dt_us", 0 < self.dt_us <= self.saccade_us), ("threshold", self.threshold > 0),
                  ("threshold_sigma", self.threshold_sigma >= 0), ("background", 0 < self.background < 1),
                  ("noise_hz", self.noise_hz >= 0), ("flicker_hz", self.flicker_hz >= 0),
                  ("flicker_depth", self.flicker_depth >= 0), ("flicker_us", self.flicker_us > 0)]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"DVSSimParams: {name}={getattr(self, name)!r} is out of range "
                                 "(need sensor >= 8*scale, scale >= 1, 0 < dt_us <= saccade_us, threshold > 0, "
                                 "threshold_sigma >= 0, 0 < background < 1, noise_hz >= 0, flicker_hz >= 0, flicker_depth >= 0, "
                                 "flicker_us > 0)")
        object.__setattr__(self, "path", tuple((float(a), float(b)) for a, b in self.path))

    @property
    def sensor_size(self) -> Tuple[int, int, int]:
        return (self.sensor, self.sensor, 2)

    @property
    def duration_us(self) -> int:
        return self.saccade_us * len(self.path)

    def to_dict(self) -> Dict[str, Any]:
        return {"sim_version": SIM_VERSION, **asdict(self)}


def load_digit_images() -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images [1797, 8, 8] in [0, 1] and labels [1797]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float64), d.target.astype(np.int64)


def split_indices(labels: np.ndarray, test_size: float = 0.2, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split of the digits (sklearn ``train_test_split``, ``random_state=seed``), sorted."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    tr, te = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    return np.sort(tr), np.sort(te)


def _upsample_matrix(n: int, scale: int) -> np.ndarray:
    """[n*scale, n] bilinear (half-pixel centres, edge-clamped) interpolation matrix."""
    m = n * scale
    pos = (np.arange(m) + 0.5) / scale - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    f = np.clip(pos - np.floor(pos), 0, 1)
    f[pos < 0] = 0.0
    a = np.zeros((m, n))
    np.add.at(a, (np.arange(m), lo), 1 - f)
    np.add.at(a, (np.arange(m), hi), f)
    return a


def _trajectory(p: DVSSimParams, t: np.ndarray) -> np.ndarray:
    """Screen displacement (x, y) in pixels at times t: linear segments with a raised-cosine speed profile."""
    verts = np.array(((0.0, 0.0),) + p.path)
    seg = np.minimum((t // p.saccade_us).astype(int), len(p.path) - 1)
    u = np.clip((t - seg * p.saccade_us) / p.saccade_us, 0.0, 1.0)
    ease = (1 - np.cos(np.pi * u)) / 2
    return verts[seg] + (verts[seg + 1] - verts[seg]) * ease[:, None]


def _per_sample_randomness(p: DVSSimParams, index: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ON thresholds [H, W], OFF thresholds [H, W], noise events [K, 4] as x, y, t, p, flicker onsets [F] in us)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(p.seed) & 0xFFFFFFFF, int(index)]))
    s = p.sensor
    lo = 0.25 * p.threshold
    c_on = np.maximum(rng.normal(p.threshold, p.threshold_sigma, (s, s)), lo)
    c_off = np.maximum(rng.normal(p.threshold, p.threshold_sigma, (s, s)), lo)
    k = rng.poisson(p.noise_hz * s * s * p.duration_us * 1e-6)
    noise = np.stack([rng.integers(0, s, k), rng.integers(0, s, k), rng.integers(0, p.duration_us, k),
                      rng.integers(0, 2, k)], axis=1).astype(np.int64)
    # Drawn last, and only when enabled, so recordings without flicker are unchanged by the option.
    n_flicker = rng.poisson(p.flicker_hz * p.duration_us * 1e-6) if p.flicker_hz > 0 else 0
    onsets = np.sort(rng.uniform(0, max(p.duration_us - p.flicker_us, 0), n_flicker))
    return c_on, c_off, noise, onsets


def _flicker_log_gain(p: DVSSimParams, onsets: np.ndarray, t_us: float) -> float:
    """Log-intensity change of the whole scene at ``t_us``: a raised-cosine dip of ``flicker_depth`` per flicker."""
    u = (t_us - onsets) / p.flicker_us
    u = u[(u > 0) & (u < 1)]
    return -float(p.flicker_depth * ((1 - np.cos(2 * np.pi * u)) / 2).sum())


def simulate_batch(images: np.ndarray, indices: Sequence[int], params: Optional[DVSSimParams] = None) -> List[np.ndarray]:
    """Events of each image [B, 8, 8] (values in [0, 1]); ``indices`` (the digits' dataset indices) seed each one."""
    p = params or DVSSimParams()
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"simulate_batch: images must be [B, h, w], got shape {images.shape}")
    b, h0, w0 = images.shape
    if len(indices) != b:
        raise ValueError(f"simulate_batch: indices must give one seed index per image ({b}), got {len(indices)}")
    s, sc = p.sensor, p.scale
    if h0 * sc > s or w0 * sc > s:
        raise ValueError(f"simulate_batch: a {h0}x{w0} image scaled by {sc} does not fit the {s}x{s} sensor")
    up = _upsample_matrix(h0, sc) @ images @ _upsample_matrix(w0, sc).T
    # Screen in padded world coordinates; the digit sits so that the saccade triangle stays centred on the sensor.
    ext = np.abs(np.array(((0.0, 0.0),) + p.path))
    span = ext.max(axis=0)
    off_x = (s - w0 * sc - span[0]) / 2.0
    off_y = (s - h0 * sc - span[1]) / 2.0
    pad = int(math.ceil(span.max() + max(abs(off_x), abs(off_y)) + 2))
    size = s + 2 * pad + 2
    screen = np.zeros((b, size, size), dtype=np.float32)
    screen[:, pad:pad + h0 * sc, pad:pad + w0 * sc] = up
    screen = np.float32(p.background) + np.float32(1 - p.background) * screen
    rand = [_per_sample_randomness(p, int(i)) for i in indices]
    flickers = [r[3] for r in rand]
    any_flicker = any(len(f) for f in flickers)
    c_on = np.stack([r[0] for r in rand]).astype(np.float32).ravel()
    c_off = np.stack([r[1] for r in rand]).astype(np.float32).ravel()
    n_steps = -(-p.duration_us // p.dt_us)
    # Noise events join the step they fall in, so one sort per step orders everything.
    noise = np.concatenate([np.column_stack([np.full(len(r[2]), j), r[2]]) for j, r in enumerate(rand)]) \
        if b else np.zeros((0, 5), dtype=np.int64)
    noise = noise[np.argsort(noise[:, 3] // p.dt_us, kind="stable")]
    noise_bounds = np.searchsorted(noise[:, 3] // p.dt_us, np.arange(n_steps + 1))

    def view(t_us: float) -> np.ndarray:
        dx, dy = _trajectory(p, np.array([t_us], dtype=np.float64))[0]
        qx, qy = pad - (off_x + dx), pad - (off_y + dy)   # sensor pixel X sees screen column X + qx
        ix, iy = int(math.floor(qx)), int(math.floor(qy))
        fx, fy = np.float32(qx - ix), np.float32(qy - iy)
        rows = screen[:, iy:iy + s + 1]
        h = rows[:, :, ix:ix + s] * (np.float32(1) - fx) + rows[:, :, ix + 1:ix + 1 + s] * fx   # bilinear, x then y
        out = np.log(h[:, :-1] * (np.float32(1) - fy) + h[:, 1:] * fy)
        if any_flicker:  # illumination flicker scales the whole scene of a recording: a uniform log shift
            out += np.array([_flicker_log_gain(p, f, t_us) for f in flickers], dtype=np.float32)[:, None, None]
        return out.ravel()

    ss, span_t = s * s, p.dt_us + 1
    ref = view(0.0)
    prev = ref.copy()
    keys: List[np.ndarray] = []
    for step in range(n_steps):
        t0, t1 = step * p.dt_us, min((step + 1) * p.dt_us, p.duration_us)
        cur = view(float(t1))
        diff = cur - ref
        parts_flat, parts_t, parts_p = [], [], []
        for on, thr in ((True, c_on), (False, c_off)):
            hit = np.flatnonzero(diff >= thr) if on else np.flatnonzero(diff <= -thr)
            if hit.size == 0:
                continue
            th = thr[hit]
            dh = diff[hit] if on else -diff[hit]
            n = np.floor(dh / th).astype(np.int64)
            rep = np.repeat(np.arange(hit.size), n)
            k = (np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n) + 1).astype(np.float32)  # 1..n per pixel
            sign = np.float32(1 if on else -1)
            level = ref[hit][rep] + sign * k * th[rep]
            l0, l1 = prev[hit][rep], cur[hit][rep]
            frac = np.clip((level - l0) / (l1 - l0), 0.0, 1.0)
            parts_flat.append(hit[rep])
            parts_t.append(np.floor(frac.astype(np.float64) * (t1 - t0)).astype(np.int64))
            parts_p.append(np.full(rep.size, 1 if on else 0, dtype=np.int64))
            ref[hit] += sign * n.astype(np.float32) * th
        nz = noise[noise_bounds[step]:noise_bounds[step + 1]]
        if len(nz):
            parts_flat.append(nz[:, 0] * ss + nz[:, 2] * s + nz[:, 1])
            parts_t.append(nz[:, 3] - t0)
            parts_p.append(nz[:, 4])
        if parts_flat:
            flat, dt, pol = np.concatenate(parts_flat), np.concatenate(parts_t), np.concatenate(parts_p)
            sample, pix = np.divmod(flat, ss)
            # One int64 key per event orders by sample, time, y, x, polarity.
            keys.append(((((sample * n_steps + step) * span_t + dt) * ss + pix) << 1) + pol)
        prev = cur
    key = np.sort(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    per_sample = n_steps * span_t * ss * 2
    bounds = np.searchsorted(key, np.arange(b + 1, dtype=np.int64) * per_sample)
    out: List[np.ndarray] = []
    for j in range(b):
        kj = key[bounds[j]:bounds[j + 1]] - j * per_sample
        ev = np.empty(len(kj), dtype=EVENT_DTYPE)
        ev["p"] = kj & 1
        rest, pix = np.divmod(kj >> 1, ss)
        step, dt = np.divmod(rest, span_t)
        ev["t"] = step * p.dt_us + dt
        ev["y"], ev["x"] = np.divmod(pix, s)
        out.append(ev)
    return out


def simulate(image: np.ndarray, index: int = 0, params: Optional[DVSSimParams] = None) -> np.ndarray:
    """Events of one image [8, 8] with values in [0, 1]; ``index`` selects its random stream."""
    return simulate_batch(np.asarray(image, dtype=np.float64)[None], [index], params)[0]


class DigitsDVS(torch.utils.data.Dataset):
    """The simulated event dataset: ``(events, label)`` per digit, simulated on access (a few ms each)."""

    name = "digits_dvs"
    classes = CLASSES

    def __init__(self, indices: Optional[Sequence[int]] = None, params: Optional[DVSSimParams] = None,
                 split: str = "all") -> None:
        self.params = params or DVSSimParams()
        self.images, labels = load_digit_images()
        self.indices = np.arange(len(labels)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.targets = labels[self.indices]
        self.sensor_size = self.params.sensor_size
        self.split = split
        self.names = [f"digits[{i}]" for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int]:
        j = int(self.indices[i])
        return simulate(self.images[j], j, self.params), int(self.targets[i])

    def iter_events(self, batch: int = 256) -> Iterator[Tuple[str, int, np.ndarray]]:
        """(name, label, events) for every sample, simulated ``batch`` digits at a time (fast path for caching)."""
        for a in range(0, len(self), batch):
            idx = self.indices[a:a + batch]
            for k, ev in enumerate(simulate_batch(self.images[idx], idx, self.params)):
                yield self.names[a + k], int(self.targets[a + k]), ev

    def fingerprint(self) -> Dict[str, Any]:
        """What the frames depend on besides framing: simulator version/params and the digits themselves."""
        return {"simulator": self.params.to_dict(), "digits_sha": _sha(self.images.tobytes()),
                "indices_sha": _sha(self.indices.tobytes())}

    def __repr__(self) -> str:
        return f"DigitsDVS({self.split}: {len(self)} samples, sensor {self.sensor_size})"


def _sha(b: bytes) -> str:
    import hashlib

    return hashlib.sha256(b).hexdigest()
