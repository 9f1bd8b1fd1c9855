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
for forward+backward; "% sgemm" is relative to the median of the raw OpenBLAS cblas_sgemm 1024^3
rates measured in the same attn run (before every size and at the end). Peak extra memory: the rise
of VmHWM over VmRSS around one call (glibc's mmap threshold fixed at 64 KiB on both sides for that
call, so freed blocks leave the resident set; the timings run with the threshold glibc settles at
in a long-running process, 32 MiB, on both sides).
The load average is printed before and after: on a shared machine the numbers are noisy.

CPU time: both sides also record the median CPU time per call (all threads together). On a machine
shared with other processes wall time includes the time this process waited for a core; CPU time
counts only the cycles it got, so the "(cpu)" ratios and "% sgemm (cpu)" (GFLOP per CPU-second
against sgemm's GFLOP per CPU-second) are the steadier measures under load.

The composed path and PyTorch materialise the [N, N] weights (about 10 GiB at N = 8192 forward+
backward): above --dense-max-n (4096) only the fused kernel runs.

Also nn.MultiheadAttention forward (self-attention, batch_first, eval, no grad) at E = 512, H = 8,
B = 8, N = 128: attn (fused and composed sdpa backends) against torch.nn.MultiheadAttention, with
need_weights False and True.

Usage: bench/attention.py --build build-flash [--sizes 128,256,512,1024,2048,4096,8192] [--reps 5]
                          [--min-time 0.2] [--threads 2] [--memory-n 16384] [--dense-max-n 4096]
                          [--no-mha] [--json out.json]
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

    libc = ctypes.CDLL("libc.so.6")

    def malloc_for(memory):  # M_MMAP_THRESHOLD (-3) and M_TRIM_THRESHOLD (-1), as bench_attention
        libc.mallopt(-3, 64 * 1024 if memory else 32 << 20)
        libc.mallopt(-1, 128 * 1024 if memory else 64 << 20)
        if memory:
            libc.malloc_trim(0)  # give back the free heap pages the timings left resident

    malloc_for(False)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, H, d = 1, 8, 64
    for n in [int(s) for s in args.sizes.split(",")]:
        if n > args.dense_max_n:
            continue
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

                malloc_for(True)
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
                rss0 = status_kb("VmRSS")
                call()
                extra = (status_kb("VmHWM") - rss0) / 1024.0
                malloc_for(False)
                t, cpu = median_time(call, args.reps, args.min_time)
                fl = 4.0 * B * H * n * n * d * (0.5 if causal else 1.0) * (3.5 if backward else 1.0)
                print(json.dumps({"impl": "torch", "n": n, "causal": causal, "pass": "fwdbwd" if backward else "fwd",
                                  "median_ms": t * 1e3, "gflops": fl / t / 1e9, "cpu_ms": cpu * 1e3,
                                  "peak_extra_mib": extra}), flush=True)
    if args.mha:
        E, H, B, N = 512, 8, 8, 128
        mha = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
        x = torch.randn(B, N, E)
        fl = 8.0 * B * N * E * E + 4.0 * B * N * N * E
        for need_weights in (False, True):
            def call():
                with torch.no_grad():
                    mha(x, x, x, need_weights=need_weights)

            t, cpu = median_time(call, args.reps, args.min_time)
            print(json.dumps({"impl": "mha_torch", "E": E, "H": H, "B": B, "n": N, "need_weights": need_weights,
                              "median_ms": t * 1e3, "gflops": fl / t / 1e9, "cpu_ms": cpu * 1e3}), flush=True)


def median_time(call, reps, min_time):
    """Median wall and CPU seconds per call over `reps` repetitions of >= min_time seconds."""
    times, cpus = [], []
    for _ in range(reps):
        it, t0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            call()
            it += 1
            t = time.perf_counter() - t0
            if t >= min_time:
                break
        times.append(t / it)
        cpus.append((time.process_time() - c0) / it)
    return statistics.median(times), statistics.median(cpus)


def fmt_ratio(num, den):
    return f"{num / den:.2f}x" if num and den else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-flash")
    ap.add_argument("--sizes", default="128,256,512,1024,2048,4096,8192")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-n", type=int, default=16384)
    ap.add_argument("--dense-max-n", type=int, default=4096)
    ap.add_argument("--no-mha", dest="mha", action="store_false")
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
    sizes = [int(s) for s in args.sizes.split(",")]
    dense = ",".join(str(n) for n in sizes if n <= args.dense_max_n)
    big = ",".join(str(n) for n in sizes if n > args.dense_max_n)

    def run(cmd):
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]

    rows = []
    if dense:
        rows += run([str(exe), "--sizes", dense, "--impls", "fused,composed"] + common)
    if big:
        rows += run([str(exe), "--sizes", big, "--impls", "fused"] + common)
    if args.mha:
        rows += run([str(exe), "--mha", "only"] + common)
    rows += run([PYTHON, __file__, "--torch-worker", "--sizes", args.sizes, "--dense-max-n", str(args.dense_max_n)]
                + ([] if args.mha else ["--no-mha"]) + common)
    mem = None
    if args.memory_n > 0:
        mem = run([str(exe), "--memory-only", str(args.memory_n), "--threads", str(args.threads)])[-1]
    load1 = os.getloadavg()

    sg = [r for r in rows if r["impl"] == "sgemm"]
    sgemm = statistics.median(r["gflops"] for r in sg)
    sgemm_cpu = statistics.median(r["cpu_gflops"] for r in sg)
    by = {(r["impl"], r["n"], r["causal"], r["pass"]): r for r in rows if "pass" in r}
    print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} "
          f"{load1[2]:.2f} ({os.cpu_count()} CPUs); threads {args.threads}; raw sgemm 1024^3 measured "
          f"{len(sg)} times: median {sgemm:.1f} GFLOP/s (min {min(r['gflops'] for r in sg):.1f}, max "
          f"{max(r['gflops'] for r in sg):.1f}), {sgemm_cpu:.1f} GFLOP per CPU-second (all threads together); "
          f"attn's SIMD build {sg[0].get('attn_simd', '?')} (cpu_capability)\n")
    print("| N | causal | pass | fused ms | fused GFLOP/s | % sgemm | % sgemm (cpu) | fused MiB | composed ms "
          "| composed MiB | torch ms | torch MiB | fused vs composed | fused vs torch | fused vs composed (cpu) "
          "| fused vs torch (cpu) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for causal in (False, True):
            for p in ("fwd", "fwdbwd"):
                f, c, t = (by.get((i, n, causal, p)) for i in ("fused", "composed", "torch"))
                if not f:
                    continue
                cpu_gflops = f["gflops"] * f["median_ms"] / f["cpu_ms"]
                cells = [str(n), "yes" if causal else "no", p, f"{f['median_ms']:.2f}", f"{f['gflops']:.1f}",
                         f"{100 * f['gflops'] / sgemm:.0f}%", f"{100 * cpu_gflops / sgemm_cpu:.0f}%",
                         f"{f['peak_extra_mib']:.1f}"]
                cells += [f"{c['median_ms']:.2f}", f"{c['peak_extra_mib']:.1f}"] if c else ["-"] * 2
                cells += [f"{t['median_ms']:.2f}", f"{t['peak_extra_mib']:.1f}"] if t else ["-"] * 2
                cells += [fmt_ratio(c and c["median_ms"], f["median_ms"]),
                          fmt_ratio(t and t["median_ms"], f["median_ms"]),
                          fmt_ratio(c and c["cpu_ms"], f["cpu_ms"]), fmt_ratio(t and t["cpu_ms"], f["cpu_ms"])]
                print("| " + " | ".join(cells) + " |")
    ratios = [r for r in rows if r["impl"] == "fused_causal_ratio"]
    if ratios:
        print("\nfused forward, causal / non-causal time, the two interleaved (median of per-pair ratios): "
              + ", ".join(f"N = {r['n']}: {r['ratio']:.2f}" for r in ratios))
    if mem:
        print(f"\nfused forward, N = {mem['n']}: {mem['median_ms'] / 1e3:.2f} s, peak extra memory "
              f"{mem['peak_extra_mib']:.1f} MiB (output {mem['n'] * 8 * 64 * 4 / 2**20:.0f} MiB of it)")
    mha = {(r["impl"], r["need_weights"]): r for r in rows if r["impl"].startswith("mha_")}
    if mha:
        print("\nnn.MultiheadAttention forward, E = 512, H = 8, B = 8, N = 128 (self-attention, batch_first, eval, "
              "no grad)\n")
        print("| need_weights | attn fused ms | attn composed ms | torch ms | attn fused GFLOP/s | attn vs torch "
              "(fused) | attn vs torch (composed) | attn vs torch (fused, cpu) |")
        print("|---|---|---|---|---|---|---|---|")
        for nw in (False, True):
            f, c, t = (mha.get((i, nw)) for i in ("mha_fused", "mha_composed", "mha_torch"))
            if not (f and c and t):
                continue
            print(f"| {nw} | {f['median_ms']:.2f} | {c['median_ms']:.2f} | {t['median_ms']:.2f} | {f['gflops']:.1f} | "
                  f"{fmt_ratio(t['median_ms'], f['median_ms'])} | {fmt_ratio(t['median_ms'], c['median_ms'])} | "
                  f"{fmt_ratio(t['cpu_ms'], f['cpu_ms'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "memory": mem, "load_before": load0, "load_after": load1}, f, indent=1)


if __name__ == "__main__":
    main()
