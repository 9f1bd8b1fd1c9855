#!/usr/bin/env python3
"""Side-by-side benchmark: attn (fast and reference kernels), raw OpenBLAS sgemm and PyTorch.

Runs every Google Benchmark program in <build>/bench/ (bench_*) with --benchmark_format=json and
the same cases in PyTorch, in one invocation, and prints one table of medians and ratios.
The cases are defined once, in the C++ programs: each benchmark is named "<op>/<impl>/<shape>"
(see bench/bench_util.h); this script lists them and runs the same <op>/<shape> in PyTorch.

Measurement protocol (both sides):
  * the same thread count (default 2) for attn, OpenBLAS and PyTorch;
  * OPENBLAS_CORETYPE removed from the environment, so OpenBLAS picks its kernels from cpuid;
  * PyTorch at its best: ATEN_CPU_CAPABILITY=avx512 where the CPU has AVX-512 (elsewhere ATen's
    default, its best level: torch 1.13 does not fall back, it dies with SIGILL), OMP_WAIT_POLICY=
    PASSIVE, libtcmalloc_minimal preloaded, out= variants where they exist;
  * medians over --repetitions repetitions of at least --min-time seconds each;
  * one op at a time, attn then PyTorch back to back, each op started when other processes use
    less than --quiet cores, and repeated (--retries) when they used more during its run; the
    table's last column is that foreign load (cores) during the kept run.
PyTorch runs in a child process (this script with --torch-worker) because its environment must
be set before it starts.

Usage: bench/compare.py --build build-bench [--repetitions 7] [--min-time 0.2] [--threads 2]
                        [--filter REGEX] [--wait-load 1.5] [--quiet 0.1] [--retries 2]
                        [--json out.json] [--write-readme]
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives there

# Display order and labels of the ops.
OPS = {
    "mm": "mm [m,k]@[k,n]",
    "bmm_nt": "bmm Q@K^T [b,m,k]@[b,n,k]^T",
    "bmm": "bmm P@V [b,m,k]@[b,k,n]",
    "matmul_bcast": "matmul [b,m,k]@[k,n]",
    "linear": "linear [t,in]->[t,out]",
    "softmax": "softmax fwd",
    "softmax_fb": "softmax fwd+bwd",
    "layer_norm": "layer_norm fwd",
    "layer_norm_fb": "layer_norm fwd+bwd",
    "add_bcast": "add [r,c]+[c]",
    "mul": "mul",
    "exp": "exp",
    "gelu": "gelu (erf)",
}
MATMUL_OPS = {"mm", "bmm_nt", "bmm", "matmul_bcast", "linear"}


def flops_of(op, dims):
    """Multiply-add count x 2 of a matmul case, from its sizes."""
    p = 1
    for d in dims:
        p *= d
    return 2.0 * p


# ------------------------------------------------------------------------------------------------
# PyTorch worker: reads one JSON request per line ({"cases": [...], "min_time", "repetitions"}) and
# answers one JSON line with the medians. Runs in the environment built by torch_env().
# ------------------------------------------------------------------------------------------------
def torch_case(torch, op, dims):
    """Returns a zero-argument function that runs one iteration of the case in PyTorch."""
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    if op == "mm":
        m, k, n = dims
        a, b, c = randn(m, k), randn(k, n), torch.empty(m, n)
        return lambda: torch.mm(a, b, out=c)
    if op in ("bmm", "bmm_nt"):
        bt, m, k, n = dims
        a = randn(bt, m, k)
        b = randn(bt, n, k).transpose(1, 2) if op == "bmm_nt" else randn(bt, k, n)
        c = torch.empty(bt, m, n)
        return lambda: torch.bmm(a, b, out=c)
    if op == "matmul_bcast":
        bt, m, k, n = dims
        a, b, c = randn(bt, m, k), randn(k, n), torch.empty(bt, m, n)
        return lambda: torch.matmul(a, b, out=c)
    if op == "linear":
        t, i, o = dims
        x, w, bias, y = randn(t, i), randn(o, i), randn(o), torch.empty(t, o)
        return lambda: torch.addmm(bias, x, w.t(), out=y)  # what F.linear runs for 2-D input
    if op in ("softmax", "layer_norm"):
        rows, cols = dims
        x = randn(rows, cols)
        w, b, y = randn(cols), randn(cols), torch.empty(rows, cols)

        def fwd():
            with torch.no_grad():
                if op == "softmax":
                    torch.softmax(x, -1, out=y)
                else:
                    F.layer_norm(x, (cols,), w, b)  # no out= variant: allocates its output
        return fwd
    if op in ("softmax_fb", "layer_norm_fb"):
        rows, cols = dims
        x = randn(rows, cols).requires_grad_()
        w, b = randn(cols).requires_grad_(), randn(cols).requires_grad_()
        dy = randn(rows, cols)

        def fwd_bwd():
            y = torch.softmax(x, -1) if op == "softmax_fb" else F.layer_norm(x, (cols,), w, b)
            y.backward(dy)
            x.grad = w.grad = b.grad = None
        return fwd_bwd
    if op == "add_bcast":
        rows, cols = dims
        a, b, c = randn(rows, cols), randn(cols), torch.empty(rows, cols)
        return lambda: torch.add(a, b, out=c)
    if op == "mul":
        a, b, c = randn(*dims), randn(*dims), torch.empty(*dims)
        return lambda: torch.mul(a, b, out=c)
    if op == "exp":
        x, y = randn(*dims), torch.empty(*dims)
        return lambda: torch.exp(x, out=y)
    if op == "gelu":
        x, y = randn(*dims), torch.empty(*dims)
        return lambda: torch._C._nn.gelu(x, out=y)  # F.gelu's kernel with out=
    raise ValueError(f"no PyTorch version of op {op!r}")


def time_fn(fn, min_time, repetitions):
    """Median seconds per call, Google Benchmark style: pick an iteration count that fills
    min_time, then time `repetitions` batches of that many calls."""
    fn()
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 30:
            break
        n = max(n * 2, int(n * min_time * 1.4 / max(dt, 1e-9))) if dt < min_time / 10 else int(n * min_time * 1.4 / dt) + 1
    per_iter = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_iter.append((time.perf_counter() - t0) / n)
    return per_iter, n


def torch_info(torch):
    import ctypes
    show = torch.__config__.show()
    cap = re.search(r"CPU capability usage:\s*(\S+)", show)
    blas = re.search(r"BLAS_INFO=([^,]+)", show)
    info = {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": cap.group(1) if cap else "unknown",
        "torch_blas_info": blas.group(1) if blas else "unknown",
    }
    if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability"):
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    # Which BLAS and allocator the process really loaded (/proc/self/maps), and the OpenBLAS
    # build and kernel set behind torch.mm.
    maps = pathlib.Path("/proc/self/maps").read_text()
    libs = sorted({line.split()[-1] for line in maps.splitlines() if line.split()[-1].startswith("/")})
    info["torch_tcmalloc_loaded"] = any("tcmalloc" in p for p in libs)
    blas_libs = [p for p in libs if re.search(r"lib(open)?blas", p)]
    info["torch_blas_libs"] = blas_libs
    for p in blas_libs:
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info["torch_openblas_config"] = lib.openblas_get_config().decode()
            info["torch_openblas_corename"] = lib.openblas_get_corename().decode()
            break
        except (OSError, AttributeError):
            continue
    return info


def torch_worker(threads):
    import torch
    torch.set_num_threads(threads)
    print(json.dumps({"info": torch_info(torch)}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        out = {}
        for name in req["cases"]:
            op, shape = name.split("/")
            dims = [int(d) for d in shape.split("x")]
            try:
                fn = torch_case(torch, op, dims)
                per_iter, n = time_fn(fn, req["min_time"], req["repetitions"])
                out[name] = {"median_us": statistics.median(per_iter) * 1e6, "reps_us": [t * 1e6 for t in per_iter],
                             "iterations": n}
            except Exception as e:  # report, keep going: one broken case must not hide the others
                out[name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"  torch {name}: " + (f"{out[name]['median_us']:.1f} us" if "median_us" in out[name]
                                          else out[name]["error"]), file=sys.stderr, flush=True)
        print(json.dumps({"results": out}), flush=True)


# ------------------------------------------------------------------------------------------------
# Driver.
# ------------------------------------------------------------------------------------------------
AVX512_FLAGS = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}


def cpu_flags():
    try:
        m = re.search(r"^flags\s*:\s*(.*)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
        return set(m.group(1).split()) if m else set()
    except OSError:
        return set()


def base_env(threads):
    env = dict(os.environ)
    # OpenBLAS must choose its kernels from cpuid on both sides, not from an inherited override.
    env.pop("OPENBLAS_CORETYPE", None)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["ATTN_BENCH_THREADS"] = str(threads)
    env.pop("ATTN_KERNELS", None)  # the benchmarks pick fast or reference per case
    return env


def torch_env(threads):
    env = base_env(threads)
    # PyTorch at its best ISA. ATen's avx512 kernels need AVX-512 F/BW/VL/DQ; torch 1.13 does NOT
    # fall back when the CPU lacks them (ATEN_CPU_CAPABILITY=avx512 dies with SIGILL on an AVX2-only
    # CPU), so avx512 is requested only where the CPU has it, and left to ATen's own choice
    # (its best supported level) elsewhere.
    if AVX512_FLAGS <= cpu_flags():
        env["ATEN_CPU_CAPABILITY"] = "avx512"
    else:
        env.pop("ATEN_CPU_CAPABILITY", None)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    if os.path.exists(TCMALLOC):
        env["LD_PRELOAD"] = (TCMALLOC + " " + env.get("LD_PRELOAD", "")).strip()
    else:
        print(f"compare: {TCMALLOC} missing (apt-get install libtcmalloc-minimal4); PyTorch runs with glibc malloc",
              file=sys.stderr)
    return env


def split_name(run_name):
    parts = run_name.split("/")
    return parts[0], parts[1], parts[2]  # op, impl, shape ("/real_time" suffix dropped)


def run_gbench(binary, names, args, env):
    """Runs the benchmarks `names` ("<op>/<impl>/<shape>") of one program."""
    regex = "^(" + "|".join(re.escape(n) for n in names) + ")(/real_time)?$"
    cmd = [str(binary), "--benchmark_format=json", f"--benchmark_repetitions={args.repetitions}",
           f"--benchmark_min_time={args.min_time}", "--benchmark_report_aggregates_only=true",
           f"--benchmark_filter={regex}"]
    print(f"compare: running {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"compare: {binary.name} exited with {proc.returncode}")
    data = json.loads(proc.stdout)
    results = {}
    for b in data["benchmarks"]:
        run = b.get("run_name", b["name"])
        op, impl, shape = split_name(run)
        entry = results.setdefault((op, impl, shape), {})
        agg = b.get("aggregate_name")
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
        if agg == "median":
            entry["median_us"] = b["real_time"] * scale
            entry["iterations"] = b["iterations"]
        elif agg == "cv":
            entry["cv"] = b["real_time"]
        if "error_message" in b:
            entry["error"] = b["error_message"]
    return data["context"], results


def list_cases(binary, args, env):
    cmd = [str(binary), "--benchmark_list_tests=true"]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    cases = [split_name(line.strip()) for line in out.splitlines() if line.strip()]
    return [c for c in cases if not args.filter or re.search(args.filter, "/".join(c))]


class CpuMeter:
    """CPU time used on the machine by anything but this script and its children ("foreign" load,
    in cores), from /proc/stat minus our own CPU time. Other work on a 2-core machine slows both
    libraries unevenly (a descheduled OpenMP thread stalls a whole parallel region), so every
    measurement is gated on, and annotated with, the foreign load."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.worker_pid = None

    def _busy(self):
        f = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        return (sum(f[:8]) - f[3] - f[4]) / self.tick

    def _own(self):
        import resource
        t = os.times()
        own = t.user + t.system
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        own += ru.ru_utime + ru.ru_stime
        if self.worker_pid:
            try:
                st = pathlib.Path(f"/proc/{self.worker_pid}/stat").read_text().rsplit(")", 1)[1].split()
                own += (int(st[11]) + int(st[12])) / self.tick  # utime, stime
            except (OSError, IndexError):
                pass
        return own

    def snap(self):
        return time.monotonic(), self._busy(), self._own()

    @staticmethod
    def foreign(s0, s1):
        wall = max(s1[0] - s0[0], 1e-6)
        return max(0.0, ((s1[1] - s0[1]) - (s1[2] - s0[2])) / wall)

    def wait_quiet(self, limit, deadline):
        """Waits until the foreign load over 2 s is below `limit` cores (or the deadline passes)."""
        while True:
            s0 = self.snap()
            time.sleep(2.0)
            f = self.foreign(s0, self.snap())
            if f <= limit or time.time() >= deadline:
                return f
            print(f"compare: other processes use {f:.2f} cores; waiting for quiet", file=sys.stderr, flush=True)
            time.sleep(8.0)


def wait_for_load(limit, max_minutes):
    """Waits (up to max_minutes) until the 1-minute load average is below `limit`."""
    deadline = time.time() + 60 * max_minutes
    while True:
        load = os.getloadavg()[0]
        if load <= limit or time.time() >= deadline:
            if load > limit:
                print(f"compare: load {load:.2f} still above {limit} after {max_minutes} min; running anyway",
                      file=sys.stderr)
            return load
        print(f"compare: 1-minute load {load:.2f} > {limit}; waiting 60 s", file=sys.stderr, flush=True)
        time.sleep(60)


def machine_info():
    info = {"platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
        flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
        info["cpu_model"] = model.group(1).strip() if model else "unknown"
        have = set(flags.group(1).split()) if flags else set()
        interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                       "avx512_bf16", "amx_tile"]
        info["cpu_flags"] = [f for f in interesting if f in have]
        info["cpu_flags_missing"] = [f for f in interesting if f not in have]
        info["hypervisor"] = "hypervisor" in have
    except OSError:
        pass
    try:
        mem = pathlib.Path("/proc/meminfo").read_text()
        kib = int(re.search(r"MemTotal:\s*(\d+)", mem).group(1))
        info["mem_total"] = f"{kib / 2**20:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return info


def fmt_us(v):
    if v is None:
        return ""
    if v >= 10000:
        return f"{v / 1000:.1f} ms"
    if v >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.1f} us"


def fmt_ratio(v):
    return "" if v is None else f"{v:.2f}x"


def build_rows(cases, attn, torch_res, noise):
    """One row per (op, shape): medians of every impl and the ratios."""
    keys = []
    for op, impl, shape in cases:
        if (op, shape) not in keys:
            keys.append((op, shape))
    keys.sort(key=lambda k: list(OPS).index(k[0]) if k[0] in OPS else len(OPS))

    def med(impl, op, shape):
        e = attn.get((op, impl, shape))
        return e.get("median_us") if e else None

    # Peak of raw sgemm: the best of the large square cases, the reference for every matmul figure.
    peak = None
    for (op, impl, shape), e in attn.items():
        if op == "mm" and impl == "sgemm" and "median_us" in e:
            dims = [int(d) for d in shape.split("x")]
            if dims[0] >= 1024:
                g = flops_of(op, dims) / (e["median_us"] * 1e-6) / 1e9
                peak = max(peak or 0.0, g)
    rows = []
    for op, shape in keys:
        dims = [int(d) for d in shape.split("x")]
        t = torch_res.get(f"{op}/{shape}", {})
        r = {"op": op, "shape": shape, "fast_us": med("fast", op, shape), "ref_us": med("ref", op, shape),
             "sgemm_us": med("sgemm", op, shape), "torch_us": t.get("median_us"), "torch_error": t.get("error"),
             "cv_fast": (attn.get((op, "fast", shape)) or {}).get("cv"), "noise": noise.get(op)}
        r["fast_over_ref"] = r["ref_us"] / r["fast_us"] if r["ref_us"] and r["fast_us"] else None
        r["vs_torch"] = r["torch_us"] / r["fast_us"] if r["torch_us"] and r["fast_us"] else None
        if op in MATMUL_OPS:
            f = flops_of(op, dims)

            def gf(us):
                return f / (us * 1e-6) / 1e9 if us else None
            r["gflops"] = {"attn": gf(r["fast_us"]), "torch": gf(r["torch_us"]), "sgemm": gf(r["sgemm_us"])}
            r["attn_over_sgemm"] = r["sgemm_us"] / r["fast_us"] if r["sgemm_us"] and r["fast_us"] else None
            r["pct_of_peak"] = {k: (100.0 * v / peak if v and peak else None) for k, v in r["gflops"].items()}
        rows.append(r)
    return rows, peak


def table(rows):
    head = ["op", "shape", "attn fast", "attn ref", "PyTorch", "raw sgemm", "fast/ref speedup",
            "attn vs PyTorch", "GFLOP/s attn / torch / sgemm", "% of sgemm peak attn / torch / sgemm",
            "attn / sgemm (same shape)", "other CPU load"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        gfl = pct = same = ""
        if "gflops" in r:
            g = r["gflops"]
            gfl = " / ".join("" if g[k] is None else f"{g[k]:.1f}" for k in ("attn", "torch", "sgemm"))
            p = r["pct_of_peak"]
            pct = " / ".join("" if p[k] is None else f"{p[k]:.0f}%" for k in ("attn", "torch", "sgemm"))
            same = "" if r["attn_over_sgemm"] is None else f"{100 * r['attn_over_sgemm']:.0f}%"
        torch_cell = fmt_us(r["torch_us"]) if r["torch_us"] else ("error" if r["torch_error"] else "")
        lines.append("| " + " | ".join([OPS.get(r["op"], r["op"]), r["shape"], fmt_us(r["fast_us"]),
                                        fmt_us(r["ref_us"]), torch_cell, fmt_us(r["sgemm_us"]),
                                        fmt_ratio(r["fast_over_ref"]), fmt_ratio(r["vs_torch"]), gfl, pct,
                                        same, "" if r["noise"] is None else f"{r['noise']:.2f}"]) + " |")
    return "\n".join(lines)


def targets(rows):
    """The project's speed targets, checked against this run's medians."""
    out = []
    for r in rows:
        if r["op"] == "mm" and r["shape"] == "1024x1024x1024" and r.get("attn_over_sgemm"):
            v = 100 * r["attn_over_sgemm"]
            out.append((v >= 90, f"matmul 1024^3: attn at {v:.0f}% of raw sgemm (target >= 90%)"))
    for r in rows:
        if r["op"] in ("softmax", "softmax_fb", "layer_norm", "layer_norm_fb"):
            if r["fast_over_ref"]:
                out.append((r["fast_over_ref"] >= 2.0, f"{OPS[r['op']]} {r['shape']}: fast {r['fast_over_ref']:.2f}x "
                                                        f"faster than ref (target >= 2x)"))
            if r["vs_torch"]:
                out.append((r["vs_torch"] >= 1.0, f"{OPS[r['op']]} {r['shape']}: attn {fmt_us(r['fast_us'])} vs PyTorch "
                                                  f"{fmt_us(r['torch_us'])} = {r['vs_torch']:.2f}x (target >= 1x)"))
    for r in rows:
        if r["op"] in ("add_bcast", "mul", "exp", "gelu") and r["vs_torch"]:
            out.append((r["vs_torch"] >= 1.0, f"{OPS[r['op']]} {r['shape']}: attn {fmt_us(r['fast_us'])} vs PyTorch "
                                              f"{fmt_us(r['torch_us'])} = {r['vs_torch']:.2f}x (target >= 1x)"))
    return out


def machine_lines(meta):
    m, c, t = meta["machine"], meta["gbench_context"], meta.get("torch", {})
    lines = [
        f"- CPU: {m.get('cpu_model', '?')}, {m.get('nproc')} logical CPUs"
        f"{' (virtual machine)' if m.get('hypervisor') else ''}, {m.get('mem_total', '?')} RAM",
        f"- SIMD flags present: {', '.join(m.get('cpu_flags', []))}; absent: {', '.join(m.get('cpu_flags_missing', []))}",
        "- Caches (Google Benchmark): " + ", ".join(
            f"L{x['level']} {x['type']} {x['size'] // 1024} KiB (shared by {x.get('num_sharing', 1)})"
            for x in c.get("caches", [])),
        f"- OS: {m.get('platform')}",
        f"- Threads: {meta['threads']} for attn (OpenMP + OpenBLAS), raw sgemm (OpenBLAS) and PyTorch "
        f"(torch.get_num_threads() = {t.get('torch_threads', '?')})",
        f"- OpenBLAS (attn, raw sgemm): {c.get('openblas_config', '?')}; kernels: {c.get('openblas_corename', '?')}; "
        f"OPENBLAS_CORETYPE {c.get('openblas_coretype_env', '?')}",
        f"- PyTorch {t.get('torch_version', '?')}: CPU capability {t.get('torch_cpu_capability', '?')} "
        f"(ATEN_CPU_CAPABILITY={meta.get('aten_cpu_capability_env') or 'unset: CPU lacks AVX-512, and torch 1.13 dies with SIGILL instead of falling back'}), BLAS {t.get('torch_blas_info', '?')} -> "
        f"{', '.join(t.get('torch_blas_libs', [])) or '?'} ({t.get('torch_openblas_config', '?')}; kernels: "
        f"{t.get('torch_openblas_corename', '?')}), tcmalloc preloaded: {t.get('torch_tcmalloc_loaded', '?')}, "
        f"OMP_WAIT_POLICY=PASSIVE",
        f"- Protocol: median of {meta['repetitions']} repetitions, each at least {meta['min_time']} s of iterations; "
        f"wall-clock time per call",
        f"- 1-minute load average: {meta['load_before']:.2f} before the run, {meta['load_after']:.2f} after "
        f"(includes the benchmark itself; the per-op *other CPU load* column is the precise measure)",
        f"- Date: {meta['date']}",
    ]
    return lines


README_HEAD = """\
# Benchmarks: attn vs raw OpenBLAS vs PyTorch

`make bench` (or `bench/compare.py --build build-bench` after building with
`-DATTN_BUILD_BENCHMARKS=ON`) runs the Google Benchmark programs `bench_*` and the same cases in
PyTorch, in one invocation, and prints the table below; `--write-readme` rewrites this file.
These are measurements, not tests: nothing in the test suite asserts a speed.

What is compared:
- **attn fast**: attn's public op with its fast kernels (OpenBLAS for matmul, Highway SIMD for
  the rest); **attn ref**: the same op with `attn::set_use_reference_kernels(true)` (the scalar
  twin every fast kernel is tested against).
- **raw sgemm**: `cblas_sgemm` called directly on the same buffers, with OpenBLAS's own threads
  (batched shapes: one call per matrix; linear: C pre-filled with the bias, then beta = 1).
- **PyTorch**: the same op and shape, `out=` variants where PyTorch has one (mm, bmm, matmul,
  addmm for linear, softmax forward, add, mul, exp, gelu); layer_norm forward and every
  forward+backward allocate their outputs, on both sides (attn has no `out=`; its caching
  allocator reuses the previous iteration's buffers, PyTorch's tcmalloc does the same).
- forward+backward: `y = op(x); y.backward(dy)` through each library's autograd, then the
  gradients are cleared (`x.grad = None`), so every iteration allocates its gradients.

Protocol, so that the two libraries meet on equal terms: the same thread count everywhere,
`OPENBLAS_CORETYPE` removed from the environment (OpenBLAS picks its kernels from cpuid), PyTorch
with `OMP_WAIT_POLICY=PASSIVE`, `libtcmalloc_minimal` preloaded and `ATEN_CPU_CAPABILITY=avx512`
where the CPU has AVX-512 (attn keeps libgomp's default wait policy and its own allocator). The
script measures one op at a time, attn then PyTorch back to back, starts an op only when other
processes use less than `--quiet` cores (0.1 by default, read from /proc/stat) and repeats an op
whose run they disturbed; the *other CPU load* column is that foreign load, in cores, during the
kept run. On a 2-core machine a single compile job in the background can slow a 2-thread kernel
several times over (a descheduled OpenMP thread stalls the whole parallel region).

Columns: times are medians per call. *fast/ref speedup* = ref time / fast time. *attn vs
PyTorch* = PyTorch time / attn time (above 1x: attn is faster). Matmul rows give GFLOP/s
(2mnk / time) of attn, PyTorch and raw sgemm, the same as a percentage of the raw-sgemm peak of
this run (the best of its 1024^3 and 2048^3 runs), and attn's throughput relative to raw sgemm at
the same shape.
"""


NOTES_MARKER = "<!-- Everything below this line is kept when compare.py rewrites this file. -->"


def write_readme(path, meta, rows, peak):
    # Hand-written notes (analysis of the numbers) below the marker survive a rewrite.
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER) + len(NOTES_MARKER):].lstrip("\n")
    lines = [README_HEAD, "## Machine and protocol", ""] + machine_lines(meta) + [""]
    lines += ["## Results", ""]
    if peak:
        lines += [f"Raw OpenBLAS sgemm peak in this run: **{peak:.1f} GFLOP/s** "
                  f"(best of 1024^3 / 2048^3); all matmul percentages are relative to it.", ""]
    lines += [table(rows), ""]
    tg = targets(rows)
    if tg:
        lines += ["## Targets", ""]
        lines += [f"- {'met' if ok else '**NOT met**'}: {text}" for ok, text in tg]
        lines += [""]
    lines += ["Raw results of every repetition: `bench/compare.py ... --json results.json`.", "", NOTES_MARKER, ""]
    path.write_text("\n".join(lines) + notes)
    print(f"compare: wrote {path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-bench", help="CMake build dir configured with -DATTN_BUILD_BENCHMARKS=ON")
    ap.add_argument("--repetitions", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds of iterations per repetition")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filter", default="", help="regex on benchmark names (<op>/<impl>/<shape>)")
    ap.add_argument("--programs", default="", help="comma-separated bench_* program names (default: all)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument("--wait-load", type=float, default=0.0,
                    help="wait (up to 20 min) until the 1-minute load is below this before starting")
    ap.add_argument("--quiet", type=float, default=0.1,
                    help="most CPU (in cores) other processes may use during a measurement before it is repeated")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a measurement disturbed by other processes")
    ap.add_argument("--max-wait", type=float, default=30, help="minutes to wait for quiet in all, then run anyway")
    ap.add_argument("--json", default="", help="also write every result to this JSON file")
    ap.add_argument("--write-readme", action="store_true", help="rewrite bench/README.md with this run")
    ap.add_argument("--from-json", default="", help="re-render the table (and README) from a --json file, no run")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_worker:
        return torch_worker(args.threads)
    if args.from_json:
        saved = json.loads(pathlib.Path(args.from_json).read_text())
        meta, rows, peak = saved["meta"], saved["rows"], saved.get("peak")
        print(table(rows))
        if args.write_readme:
            write_readme(ROOT / "bench" / "README.md", meta, rows, peak)
        return 0

    build = pathlib.Path(args.build)
    if not build.is_absolute():
        build = (pathlib.Path.cwd() / build)
    programs = sorted(p for p in (build / "bench").glob("bench_*") if p.is_file() and os.access(p, os.X_OK))
    if args.programs:
        wanted = set(args.programs.split(","))
        programs = [p for p in programs if p.name in wanted]
    if not programs:
        raise SystemExit(f"compare: no bench_* programs in {build}/bench (configure with -DATTN_BUILD_BENCHMARKS=ON "
                         f"and build)")

    load_before = wait_for_load(args.wait_load, 20) if args.wait_load > 0 else os.getloadavg()[0]
    env = base_env(args.threads)

    worker = None
    torch_meta = {}
    if not args.no_torch:
        worker = subprocess.Popen([PYTHON, str(pathlib.Path(__file__).resolve()), "--torch-worker",
                                   f"--threads={args.threads}"], env=torch_env(args.threads), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        first = worker.stdout.readline()
        if first:
            torch_meta = json.loads(first)["info"]
        else:
            print("compare: the PyTorch worker did not start (is python3-torch installed? scripts/install-deps.sh "
                  "--with-torch); continuing without PyTorch", file=sys.stderr)
            worker.wait()
            worker = None

    meter = CpuMeter()
    meter.worker_pid = worker.pid if worker else None
    deadline = time.time() + 60 * args.max_wait
    all_cases, attn, torch_res, context, noise = [], {}, {}, {}, {}

    def run_torch(names):
        nonlocal worker
        if not worker:
            return {}
        worker.stdin.write(json.dumps({"cases": names, "min_time": args.min_time,
                                       "repetitions": args.repetitions}) + "\n")
        worker.stdin.flush()
        reply = worker.stdout.readline()
        if not reply:
            print(f"compare: the PyTorch worker died (exit {worker.wait()}); no PyTorch numbers from here on",
                  file=sys.stderr)
            worker = None
            return {n: {"error": "PyTorch worker died"} for n in names}
        return json.loads(reply)["results"]

    for prog in programs:
        cases = list_cases(prog, args, env)
        all_cases += cases
        ops = list(dict.fromkeys(op for op, _, _ in cases))
        for op in ops:
            op_cases = [c for c in cases if c[0] == op]
            names = ["/".join(c) for c in op_cases]
            torch_names = list(dict.fromkeys(f"{o}/{shape}" for o, _, shape in op_cases))
            # One op at a time, attn then PyTorch back to back, on a quiet machine; a run disturbed
            # by other processes is repeated (up to --retries times) and the least disturbed kept.
            best = None
            for attempt in range(args.retries + 1):
                meter.wait_quiet(args.quiet, deadline)
                s0 = meter.snap()
                ctx, res = run_gbench(prog, names, args, env)
                tres = run_torch(torch_names)
                f = meter.foreign(s0, meter.snap())
                if best is None or f < best[0]:
                    best = (f, ctx, res, tres)
                if f <= args.quiet:
                    break
                print(f"compare: {op}: other processes used {f:.2f} cores during the run; "
                      f"{'repeating' if attempt < args.retries else 'keeping the least disturbed run'}",
                      file=sys.stderr, flush=True)
            f, context, res, tres = best
            attn.update(res)
            torch_res.update(tres)
            noise[op] = f
    if worker:
        worker.stdin.close()
        worker.wait()

    meta = {"aten_cpu_capability_env": torch_env(args.threads).get("ATEN_CPU_CAPABILITY"), "machine": machine_info(), "gbench_context": context, "torch": torch_meta, "threads": args.threads,
            "repetitions": args.repetitions, "min_time": args.min_time, "load_before": load_before,
            "load_after": os.getloadavg()[0], "noise": noise, "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}
    rows, peak = build_rows(all_cases, attn, torch_res, noise)
    print()
    print("\n".join(machine_lines(meta)))
    print()
    if peak:
        print(f"Raw OpenBLAS sgemm peak: {peak:.1f} GFLOP/s (best of 1024^3 / 2048^3)\n")
    print(table(rows))
    print()
    for ok, text in targets(rows):
        print(f"{'met    ' if ok else 'NOT MET'}  {text}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"meta": meta, "rows": rows, "peak": peak, "attn": {"/".join(k): v for k, v in attn.items()}, "torch": torch_res},
            indent=1))
    if args.write_readme:
        write_readme(ROOT / "bench" / "README.md", meta, rows, peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
