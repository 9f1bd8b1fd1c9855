#!/usr/bin/env python3
"""Attention benchmark: attn's fused flash kernel, attn's composed sdpa path and PyTorch, side by side.

Runs <build>/bench/bench_attention (see bench/attention.cc for what it measures) and the same cases
in PyTorch, then prints one Markdown table. Cases: B = 1, H = 8, d = 64, N = T = S in --sizes,
causal and not, forward and forward+backward, float32.

PyTorch side: torch 1.13 (the one installed for /usr/bin/python3) has no
F.scaled_dot_product_attention, so it runs the math formulation
    softmax(q @ k^T / sqrt(d) [masked_fill(causal, -inf)]) @ v
through its autograd, which is also what torch 2.x's SDPA "math" backend does on the CPU.

Protocol (both sides): the same thread count (--threads, default 2), OMP_WAIT_POLICY=PASSIVE,
OPENBLAS_CORETYPE removed from the environment, medians over --reps repetitions of at least
--min-time seconds each; GFLOP/s count 4 B H N^2 d per forward (half when causal) and 3.5x that
for forward+backward; "% sgemm" is relative to the best raw OpenBLAS cblas_sgemm 1024^3 rate
measured in the same attn run. Peak extra memory: the rise of VmHWM over VmRSS around one call
(glibc's mmap threshold fixed at 64 KiB on both sides, so freed blocks leave the resident set).
The load average is printed before and after: on a shared machine the numbers are noisy.

Usage: bench/attention.py --build build-flash [--sizes 128,256,512,1024,2048,4096] [--reps 5]
                          [--min-time 0.2] [--threads 2] [--memory-n 16384] [--json out.json]
"""
import argparse
import ctypes
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"


def status_kb(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return -1


def torch_worker(args):
    import torch

    ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD, as bench_attention
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, H, d = 1, 8, 64
    for n in [int(s) for s in args.sizes.split(",")]:
        for causal in (False, True):
            for backward in (False, True):
                q, k, v, g = (torch.randn(B, H, n, d) for _ in range(4))
                hidden = torch.ones(n, n, dtype=torch.bool).triu(1) if causal else None
                scale = 1.0 / d**0.5

                def attn(q, k, v):
                    s = (q @ k.transpose(-2, -1)) * scale
                    if hidden is not None:
                        s = s.masked_fill(hidden, float("-inf"))
                    return torch.softmax(s, dim=-1) @ v

                def call():
                    if not backward:
                        with torch.no_grad():
                            attn(q, k, v)
                        return
                    qq, kk, vv = (x.detach().requires_grad_() for x in (q, k, v))
                    attn(qq, kk, vv).backward(g)

                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                rss0 = status_kb("VmRSS")
                call()
                extra = (status_kb("VmHWM") - rss0) / 1024.0
                times = []
                for _ in range(args.reps):
                    it, t0 = 0, time.perf_counter()
                    while True:
                        call()
                        it += 1
                        t = time.perf_counter() - t0
                        if t >= args.min_time:
                            break
                    times.append(t / it)
                t = statistics.median(times)
                fl = 4.0 * B * H * n * n * d * (0.5 if causal else 1.0) * (3.5 if backward else 1.0)
                print(json.dumps({"impl": "torch", "n": n, "causal": causal, "pass": "fwdbwd" if backward else "fwd",
                                  "median_ms": t * 1e3, "gflops": fl / t / 1e9, "peak_extra_mib": extra}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-flash")
    ap.add_argument("--sizes", default="128,256,512,1024,2048,4096")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-n", type=int, default=16384)
    ap.add_argument("--json")
    ap.add_argument("--torch-worker", action="store_true")
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args)
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OMP_WAIT_POLICY="PASSIVE")
    env.pop("OPENBLAS_CORETYPE", None)
    exe = pathlib.Path(args.build) / "bench" / "bench_attention"
    load0 = os.getloadavg()
    common = ["--reps", str(args.reps), "--min-time", str(args.min_time), "--threads", str(args.threads)]
    rows = []
    out = subprocess.run([str(exe), "--sizes", args.sizes] + common, env=env, check=True, capture_output=True, text=True)
    rows += [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    out = subprocess.run([PYTHON, __file__, "--torch-worker", "--sizes", args.sizes] + common, env=env, check=True,
                         capture_output=True, text=True)
    rows += [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    mem = None
    if args.memory_n > 0:
        out = subprocess.run([str(exe), "--memory-only", str(args.memory_n), "--threads", str(args.threads)], env=env,
                             check=True, capture_output=True, text=True)
        mem = json.loads(out.stdout.splitlines()[-1])
    load1 = os.getloadavg()

    sgemm = max(r["gflops"] for r in rows if r["impl"] == "sgemm")
    by = {(r["impl"], r["n"], r["causal"], r["pass"]): r for r in rows if r["impl"] != "sgemm"}
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} "
          f"{load1[2]:.2f} (2-core machine); raw sgemm 1024^3: {sgemm:.1f} GFLOP/s; threads {args.threads}\n")
    print("| N | causal | pass | fused ms | fused GFLOP/s | % sgemm | fused MiB | composed ms | composed GFLOP/s "
          "| composed MiB | torch ms | torch GFLOP/s | torch MiB | fused vs torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        for causal in (False, True):
            for p in ("fwd", "fwdbwd"):
                f, c, t = (by.get((i, n, causal, p)) for i in ("fused", "composed", "torch"))
                if not f:
                    continue
                cells = [str(n), "yes" if causal else "no", p, f"{f['median_ms']:.2f}", f"{f['gflops']:.1f}",
                         f"{100 * f['gflops'] / sgemm:.0f}%", f"{f['peak_extra_mib']:.1f}"]
                cells += [f"{c['median_ms']:.2f}", f"{c['gflops']:.1f}", f"{c['peak_extra_mib']:.1f}"] if c else ["-"] * 3
                cells += [f"{t['median_ms']:.2f}", f"{t['gflops']:.1f}", f"{t['peak_extra_mib']:.1f}",
                          f"{t['median_ms'] / f['median_ms']:.2f}x"] if t else ["-"] * 4
                print("| " + " | ".join(cells) + " |")
    if mem:
        print(f"\nfused forward, N = {mem['n']}: {mem['median_ms'] / 1e3:.2f} s, peak extra memory "
              f"{mem['peak_extra_mib']:.1f} MiB (output {mem['n'] * 8 * 64 * 4 / 2**20:.0f} MiB of it)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "memory": mem, "load_before": load0, "load_after": load1}, f, indent=1)


if __name__ == "__main__":
    main()
