"""Event framing and loading throughput: snnkit vs tonic's ToFrame vs SpikingJelly's frame integration.

Framing: the same events go through snnkit's ``to_frames`` (both conventions), tonic's
``ToFrame(n_event_bins=T / n_time_bins=T)`` and SpikingJelly's
``integrate_events_by_fixed_frames_number(split_by='number' / 'time')``; outputs are checked
equal where the conventions agree. Workloads: N-MNIST-sized samples (``digits_dvs`` events,
34x34, ~5k events, T=10) and DVS128-Gesture-sized samples (128x128, 200k events over 6 s, T=20).

Loading (one epoch, batch 64, main process): N-MNIST-format ``.bin`` files of ``digits_dvs``
events on disk, read and framed per epoch by tonic's ``NMNIST`` dataset with ``ToFrame`` in a
torch DataLoader, by snnkit without a cache (``cache=False``), and by snnkit's HDF5 cache
(after a one-time build, timed separately); SpikingJelly's own pipeline (integrate each sample
once to an ``.npz`` file, then ``np.load`` it each epoch) is timed the same way.

    python benchmarks/data_speed.py [--quick]
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import add_results_option, machine, print_table, results_file, positive_int, timeit  # noqa: E402

import snnkit.data as D  # noqa: E402


def sj_utils() -> Optional[Any]:
    """spikingjelly.datasets.utils without the package __init__ (which needs torchvision, absent on CPU installs)."""
    try:
        import spikingjelly
    except ImportError:
        return None
    stubbed = "torchvision" not in sys.modules
    if stubbed:
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, tv.transforms  # type: ignore[attr-defined]
    try:
        spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils",
                                                      Path(spikingjelly.__file__).parent / "datasets" / "utils.py")
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        return mod
    except Exception:  # noqa: BLE001 - any failure means "not comparable here"
        return None
    finally:
        if stubbed:
            sys.modules.pop("torchvision", None)
            sys.modules.pop("torchvision.transforms", None)


def workloads(quick: bool) -> Dict[str, Dict[str, Any]]:
    images, _ = D.digits_dvs.load_digit_images()
    n = 32 if quick else 200
    small = D.simulate_batch(images[:n], np.arange(n))
    rng = np.random.default_rng(0)
    big = []
    for _ in range(2 if quick else 8):
        k = 200_000
        big.append(D.make_events(rng.integers(0, 128, k), rng.integers(0, 128, k), np.sort(rng.integers(0, 6_000_000, k)),
                                 rng.integers(0, 2, k)))
    return {"nmnist-like 34x34 ~5k ev T=10": {"events": small, "sensor": (34, 34, 2), "T": 10},
            "gesture-like 128x128 200k ev T=20": {"events": big, "sensor": (128, 128, 2), "T": 20}}


def framing_contenders(sensor: tuple, T: int, sj: Any) -> Dict[str, Dict[str, Callable[[np.ndarray], np.ndarray]]]:
    """Per split_by: name -> events -> frames [T, P, H, W]."""
    from tonic.transforms import ToFrame

    w, h, _ = sensor
    out: Dict[str, Dict[str, Callable[[np.ndarray], np.ndarray]]] = {"number": {}, "time": {}}
    for split_by, tonic_kw in (("number", dict(n_event_bins=T)), ("time", dict(n_time_bins=T))):
        out[split_by]["snnkit (spikingjelly edges)"] = lambda ev, s=split_by: D.to_frames(ev, sensor, T, split_by=s)
        out[split_by]["snnkit (tonic edges)"] = lambda ev, s=split_by: D.to_frames(ev, sensor, T, split_by=s, convention="tonic")
        out[split_by]["tonic ToFrame"] = lambda ev, kw=tonic_kw: ToFrame(sensor, **kw)(ev)
        if sj is not None:
            out[split_by]["spikingjelly integrate"] = (
                lambda ev, s=split_by: sj.integrate_events_by_fixed_frames_number({k: ev[k] for k in "txyp"}, s, T, h, w))
    return out


def bench_framing(quick: bool, repeat: int) -> List[Dict[str, Any]]:
    sj = sj_utils()
    rows: List[Dict[str, Any]] = []
    for wname, wl in workloads(quick).items():
        evs, sensor, T = wl["events"], wl["sensor"], wl["T"]
        for split_by, contenders in framing_contenders(sensor, T, sj).items():
            outs = {name: [fn(ev) for ev in evs] for name, fn in contenders.items()}   # also the warm-up
            # Rounds interleave the contenders, so load from other processes hits them alike; median per contender.
            times: Dict[str, List[float]] = {name: [] for name in contenders}
            for _ in range(repeat):
                for name, fn in contenders.items():
                    times[name].append(timeit(lambda fn=fn: [fn(ev) for ev in evs], repeat=1, warmup=0))
            for name in contenders:
                t = float(np.median(times[name]))
                rows.append({"workload": wname, "split_by": split_by, "impl": name, "samples_per_s": len(evs) / t,
                             "ms_per_sample": t / len(evs) * 1e3})
            # correctness next to speed: each snnkit convention reproduces its library
            for ours, ref in (("snnkit (tonic edges)", "tonic ToFrame"), ("snnkit (spikingjelly edges)", "spikingjelly integrate")):
                if ref in outs:
                    same = all(np.array_equal(a, b) for a, b in zip(outs[ours], outs[ref]))
                    for r in rows:
                        if r["workload"] == wname and r["split_by"] == split_by and r["impl"] in (ours, ref):
                            r["equal_to_peer"] = same
            base = {r["impl"]: r["samples_per_s"] for r in rows if r["workload"] == wname and r["split_by"] == split_by}
            for r in rows:
                if r["workload"] == wname and r["split_by"] == split_by and r["impl"].startswith("snnkit"):
                    peers = {k: v for k, v in base.items() if not k.startswith("snnkit")}
                    r["speedup_vs_fastest_peer"] = r["samples_per_s"] / max(peers.values()) if peers else None
    return rows


def bench_loading(quick: bool) -> List[Dict[str, Any]]:
    import tonic
    from tonic.transforms import ToFrame

    from snnkit.data.neuromorphic import read_atis_bin

    n = 256 if quick else 1797
    T = 10
    images, labels = D.digits_dvs.load_digit_images()
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        evs = D.simulate_batch(images[:n], np.arange(n))
        for i, ev in enumerate(evs):   # N-MNIST's on-disk format: ATIS .bin, Train/<digit>/
            split = "Train" if i % 5 else "Test"
            d = root / "NMNIST" / split / str(labels[i])
            d.mkdir(parents=True, exist_ok=True)
            t = ev["t"]
            raw = np.empty((len(ev), 5), dtype=np.uint8)
            raw[:, 0], raw[:, 1] = ev["x"], ev["y"]
            raw[:, 2] = (ev["p"] << 7) | ((t >> 16) & 0x7F)
            raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
            (d / f"{i:05d}.bin").write_bytes(raw.tobytes())

        def epoch(loader: Any) -> float:
            t0 = time.perf_counter()
            count = sum(len(b[1]) for b in loader)
            return count / (time.perf_counter() - t0)

        tonic.datasets.NMNIST._check_exists = lambda self: True   # the files are here; no download
        tds = tonic.datasets.NMNIST(save_to=str(root), train=True, transform=ToFrame((34, 34, 2), n_event_bins=T))
        rows.append({"impl": "tonic NMNIST + ToFrame (per epoch)", "samples_per_s":
                     epoch(torch.utils.data.DataLoader(tds, batch_size=64)), "samples": len(tds)})
        train, _ = D.load("n_mnist", root=root, frames=T, cache=False)
        rows.append({"impl": "snnkit, no cache (per epoch)", "samples_per_s": epoch(D.make_loader(train, 64)),
                     "samples": len(train)})
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        train, _ = D.load("n_mnist", root=root, frames=T, cache_dir=cache, progress=False)
        build = time.perf_counter() - t0
        rows.append({"impl": "snnkit cache build (once, both splits)", "samples_per_s": n / build, "samples": n})
        rows.append({"impl": "snnkit HDF5 cache, in memory (per epoch)", "samples_per_s": epoch(D.make_loader(train, 64)),
                     "samples": len(train)})
        disk, _ = D.load("n_mnist", root=root, frames=T, cache_dir=cache, in_memory=False, progress=False)
        rows.append({"impl": "snnkit HDF5 cache, from disk (per epoch)", "samples_per_s": epoch(D.make_loader(disk, 64)),
                     "samples": len(disk)})
        sj = sj_utils()
        if sj is not None:
            npz = Path(tmp) / "sj_frames"
            npz.mkdir()
            files = sorted((root / "NMNIST" / "Train").glob("*/*.bin"))
            t0 = time.perf_counter()
            for f in files:   # SpikingJelly's frame preparation: one .npz per sample
                sj.integrate_events_file_to_frames_file_by_fixed_frames_number(
                    lambda p: {k: v for k, v in zip("xytp", (read_atis_bin(p)[k] for k in "xytp"))}, str(f), str(npz),
                    "number", T, 34, 34)
            rows.append({"impl": "spikingjelly npz build (once, train)", "samples_per_s": len(files) / (time.perf_counter() - t0),
                         "samples": len(files)})

            class NpzFrames(torch.utils.data.Dataset):
                def __init__(self) -> None:
                    self.files = sorted(npz.glob("*.npz"))

                def __len__(self) -> int:
                    return len(self.files)

                def __getitem__(self, i: int) -> Any:
                    return torch.from_numpy(sj.load_npz_frames(str(self.files[i]))).float(), 0

            rows.append({"impl": "spikingjelly npz frames (per epoch)", "samples_per_s":
                         epoch(torch.utils.data.DataLoader(NpzFrames(), batch_size=64)), "samples": len(files)})
    return rows


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples and repeats (smoke test)")
    ap.add_argument("--repeat", type=positive_int, default=9, help="interleaved timing rounds")
    add_results_option(ap, "data_speed")
    args = ap.parse_args(argv)
    results_json = results_file(ap, args, "data_speed")
    repeat = 2 if args.quick else args.repeat
    framing = bench_framing(args.quick, repeat)
    print_table(framing, ["workload", "split_by", "impl", "samples_per_s", "ms_per_sample", "speedup_vs_fastest_peer",
                          "equal_to_peer"], "Event framing (one sample at a time, main process)")
    loading = bench_loading(args.quick)
    print_table(loading, ["impl", "samples_per_s", "samples"], "Loading N-MNIST-format files, T=10, batch 64")
    res = {"machine": machine(), "framing": framing, "loading": loading}
    results_json.save(res)
    return res


if __name__ == "__main__":
    main()
