"""Multi-step LIF forward+backward: snnkit fused vs snnkit reference vs snnTorch vs SpikingJelly.

All contenders run side by side in this process on identical inputs and upstream
gradients; each one's spikes and input gradient are compared with snnkit's reference
loop. Reports median time, the memory each keeps for backward (exact, from
autograd's saved tensors), peak resident-memory growth of one fwd+bwd (median of
5 in a fresh subprocess with a fixed malloc mmap threshold, so that it repeats), and the fused kernel's achieved memory throughput next to a plain
tensor copy of the same size measured in the same run.

    python benchmarks/neuron_speed.py [--quick] [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_results_option, machine, print_table, results_file, positive_int, timeit  # noqa: E402

TAU, VTH = 2.0, 1.0


def make_contenders(device: str) -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Each maps x[T, B, N] -> spikes[T, B, N] with the same LIF: ``v = beta*v + x`` (beta = 1 - 1/tau,
    snnTorch's form, SpikingJelly's ``decay_input=False``), hard reset to 0, ATan surrogate."""
    from snnkit import functional as F

    out: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    fused = "triton" if device == "cuda" else "cpu"
    out[f"snnkit_{fused}"] = lambda x: F.lif_multistep(x, tau=TAU, decay_input=False, surrogate="atan", backend=fused)[0]
    out["snnkit_reference"] = lambda x: F.lif_multistep(x, tau=TAU, decay_input=False, surrogate="atan", backend="reference")[0]
    try:
        import snntorch as snn
        from snntorch import surrogate as ssg

        beta = 1 - 1 / TAU
        # built once, like the SpikingJelly node below (not inside the timed call); reset in the spike's step
        lif = snn.Leaky(beta=beta, threshold=VTH, spike_grad=ssg.atan(alpha=2.0), reset_mechanism="zero",
                        reset_delay=False).to(device)

        def snntorch_run(x: torch.Tensor) -> torch.Tensor:
            # snnTorch's recommended user loop: a fresh membrane per sequence
            mem = lif.init_leaky()
            spk = []
            for t in range(x.shape[0]):
                s, mem = lif(x[t], mem)
                spk.append(s)
            return torch.stack(spk)

        out["snntorch"] = snntorch_run
    except ImportError:
        pass
    try:
        from spikingjelly.activation_based import neuron, surrogate as sjsg
        from spikingjelly.activation_based import functional as sjf

        node = neuron.LIFNode(tau=TAU, decay_input=False, v_threshold=VTH, v_reset=0.0, surrogate_function=sjsg.ATan(alpha=2.0),
                              step_mode="m").to(device)

        def sj_run(x: torch.Tensor) -> torch.Tensor:
            sjf.reset_net(node)
            return node(x)

        out["spikingjelly"] = sj_run
    except ImportError:
        pass
    return out


def saved_bytes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Bytes of distinct storages autograd keeps for backward, plus the output, excluding the input."""
    storages: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    xr = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s = fn(xr)
    storages.pop(xr.untyped_storage().data_ptr(), None)
    storages[s.untyped_storage().data_ptr()] = s.untyped_storage().nbytes()
    return sum(storages.values())


_PEAK_SNIPPET = r"""
import sys, json, statistics, torch
sys.path.insert(0, {bench!r})
from neuron_speed import make_contenders
def status(key):
    with open('/proc/self/status') as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key))
torch.set_num_threads({threads!r})
fn = make_contenders('cpu')[{name!r}]
torch.manual_seed(0)
x = torch.randn({shape!r}).requires_grad_(); g = torch.randn({shape!r})
fn(x).backward(g)  # warm up at full size: code pages, thread pools and first-touch costs are paid once, not measured
growth = []
for _ in range({runs!r}):
    x.grad = None
    with open('/proc/self/clear_refs', 'w') as fh:
        fh.write('5')  # reset the resident high-water mark (Linux >= 4.0)
    base = status('VmRSS:')
    fn(x).backward(g)
    growth.append((status('VmHWM:') - base) / 1024)
print(json.dumps(growth))
"""

# glibc's malloc raises its mmap threshold after each large free (up to 32 MiB), so whether a tensor's
# memory goes back to the OS, and so any RSS figure, depended on allocation history: single samples of the
# same configuration spread by 2x (SpikingJelly [16, 32, 8192]: 100-189 MiB). A fixed threshold turns that
# off: every tensor of 64 KiB or more is mmapped and returned on free, and the growth repeats to 0.1 MiB.
_PEAK_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
PEAK_RUNS = 5


def peak_rss_mib(name: str, shape: tuple, runs: int = PEAK_RUNS) -> Optional[Dict[str, float]]:
    """Peak resident-memory growth (MiB) of one fwd+bwd: median, min and max of ``runs`` after a warm-up,
    in a fresh process with a fixed malloc mmap threshold and this process's thread count (CPU, Linux only)."""
    code = _PEAK_SNIPPET.format(bench=str(Path(__file__).resolve().parent), name=name, shape=shape, runs=runs,
                                threads=torch.get_num_threads())
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **_PEAK_ENV})
    if proc.returncode != 0:
        return None
    growth = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"median": statistics.median(growth), "min": min(growth), "max": max(growth)}


def run(shapes: List[tuple], device: str, repeat: int, peak: bool) -> Dict[str, Any]:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    contenders = make_contenders(device)
    rows: List[Dict[str, Any]] = []
    for shape in shapes:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=gen).to(device)
        g = torch.randn(shape, generator=gen).to(device)
        spikes: Dict[str, torch.Tensor] = {}
        times: Dict[str, float] = {}
        grads: Dict[str, torch.Tensor] = {}
        for name, fn in contenders.items():
            xr = x.detach().requires_grad_()

            def step() -> None:
                xr.grad = None
                fn(xr).backward(g)

            if name == "snnkit_reference" and shape[-1] > 4096 and repeat < 5:
                times[name] = timeit(step, repeat=2, warmup=1, sync=sync)
            else:
                times[name] = timeit(step, repeat=repeat, sync=sync)
            with torch.no_grad():
                spikes[name] = fn(x)
            xr.grad = None   # the backward half of the timed work, compared below like the spikes
            fn(xr).backward(g)
            grads[name] = xr.grad.detach().clone()
            row = {"shape": str(list(shape)), "impl": name, "ms": times[name] * 1e3,
                   "saved_MiB": saved_bytes(fn, x) / 2**20}
            if peak and device == "cpu":
                pk = peak_rss_mib(name, shape)
                row["peak_MiB"] = pk and pk["median"]
                row["peak_MiB_range"] = pk and [pk["min"], pk["max"]]
            rows.append(row)
        # memory throughput of the fused kernel: fwd reads x, writes s; bwd reads x, grad, writes grad_x
        copy_dst = torch.empty_like(x)
        t_copy = timeit(lambda: copy_dst.copy_(x), repeat=max(repeat, 9), sync=sync)
        nbytes = x.numel() * x.element_size()
        fused = [r for r in rows if r["shape"] == str(list(shape)) and r["impl"].startswith("snnkit_") and r["impl"] != "snnkit_reference"][0]
        fused["GBps"] = 5 * nbytes / (fused["ms"] / 1e3) / 1e9
        fused["copy_GBps"] = 2 * nbytes / t_copy / 1e9
        peers = {k: v for k, v in times.items() if not k.startswith("snnkit")}
        if peers:
            best = min(peers, key=peers.get)
            fused["speedup_vs_best_peer"] = peers[best] / (fused["ms"] / 1e3)
            fused["best_peer"] = best
        ref, gref = spikes["snnkit_reference"], grads["snnkit_reference"]
        for r in rows:
            if r["shape"] == str(list(shape)):
                r["spikes_equal_ref"] = bool(torch.equal(spikes[r["impl"]].float(), ref.float()))
                # same surrogate and reset on every side: the input gradients agree up to float rounding
                r["grad_max_abs_diff_ref"] = float((grads[r["impl"]].float() - gref.float()).abs().max())
                r["grad_close_ref"] = bool(torch.allclose(grads[r["impl"]].float(), gref.float(), rtol=1e-4, atol=1e-5))
    method = (f"peak_MiB: resident-memory growth of one fwd+bwd, median of {PEAK_RUNS} after a full-size warm-up, "
              f"in a fresh process per row with {_PEAK_ENV} (every tensor mmapped and freed to the OS); "
              "peak_MiB_range: min and max") if peak and device == "cpu" else None
    return {"machine": machine(), "device": device, **({"peak_method": method} if method else {}), "rows": rows}


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small shape, few repeats (smoke test)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=positive_int, default=7)
    ap.add_argument("--no-peak", action="store_true", help="skip the subprocess peak-RSS measurement")
    add_results_option(ap, "neuron_speed_<device>")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available here (torch.cuda.is_available() is False)")
    results_json = results_file(ap, args, f"neuron_speed_{args.device}")
    if args.quick:
        shapes, args.repeat = [(8, 32, 512)], 3
    else:
        shapes = [(T, 32, n) for n in (512, 8192) for T in (8, 16, 32)]
    res = run(shapes, args.device, args.repeat, peak=not args.no_peak and not args.quick)
    cols = ["shape", "impl", "ms", "saved_MiB", "peak_MiB", "GBps", "copy_GBps", "speedup_vs_best_peer",
            "spikes_equal_ref", "grad_close_ref"]
    print_table(res["rows"], cols, f"LIF fwd+bwd on {args.device} ({res['machine']['cpu']})")
    results_json.save(res)
    return res


if __name__ == "__main__":
    main()
