#!/usr/bin/env python3
"""attn's translator vs the PyTorch seq2seq tutorial, in one run (`make bench-seq2seq`).

1. `bench_seq2seq split` exports attn's split of data/eng-fra.tutorial.tsv (French -> English, the
   tutorial's normalisation and filter, 80/10/10 with --seed) to <work>/{train,valid,test}.tsv;
   both libraries train on train.tsv and are scored on test.tsv.
2. Throughput at batch 1, the tutorial's setting (EncoderRNN + AttnDecoderRNN, hidden 256, SGD
   lr 0.01, teacher forcing 0.5): bench/seq2seq_tutorial.py vs attn's `concat-linear` model
   (the tutorial's AttnDecoderRNN) through train_translator, each for --speed-seconds, at 1 and 2
   threads; then attn's batched throughput of the same model (batch 32, Adam).
3. Quality at an equal wall-clock budget (--budget seconds each): the tutorial model, translated
   at five points of its budget, vs attn's default model (GRU + Bahdanau attention, the settings
   of `attn demo`), scored after every epoch. Held-out BLEU of both is computed by attn's scorer
   (`bench_seq2seq bleu`: data::corpus_bleu, sacreBLEU 13a), on the same test.tsv.

Environment as in bench/compare.py: OPENBLAS_CORETYPE removed; PyTorch with libtcmalloc_minimal
preloaded and OMP_WAIT_POLICY=PASSIVE (ATEN_CPU_CAPABILITY=avx512 only where the CPU has AVX-512:
torch 1.13 dies with SIGILL otherwise); attn with OMP_WAIT_POLICY=PASSIVE, as `make demo` runs it.
The runs are sequential; for each the script records the CPU the process used and the load of
other processes (from /proc/stat), since on a shared machine wall-clock rates move with it.

With --repeat N the batch-1 throughput runs alternate N times (PyTorch, attn, PyTorch, ...) and
the table reports the medians (pairs/s and CPU ms/pair), so that both libraries meet the same
drifting load; --skip-quality runs the throughput part only (--write-readme then replaces the
throughput-only block of the README instead).

Usage: bench/seq2seq_compare.py --build build-bench [--budget 300] [--speed-seconds 60]
       [--repeat 1] [--skip-quality] [--json out.json] [--write-readme]
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives there


def proc_stat():
    """(busy, total) jiffies over all CPUs."""
    f = pathlib.Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    v = [int(x) for x in f]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def loadavg():
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


def has_avx512():
    try:
        return "avx512f" in pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def env_for(threads, torch_side):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("ATTN_KERNELS", None)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    if torch_side:
        if os.path.exists(TCMALLOC):
            env["LD_PRELOAD"] = TCMALLOC
        if has_avx512():
            env["ATEN_CPU_CAPABILITY"] = "avx512"
        else:
            env.pop("ATEN_CPU_CAPABILITY", None)
    return env


def run_json(cmd, env, label):
    """Runs cmd, returns its last stdout line as JSON plus the foreign load measured around it."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {label}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    b0, t0 = proc_stat()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - w0
    b1, t1 = proc_stat()
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{label} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().split("\n")[-1])
    ncpu = os.cpu_count() or 1
    busy = (b1 - b0) / max(t1 - t0, 1) * ncpu  # cores busy, all processes
    child_cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    own = child_cpu / wall if wall > 0 else 0.0
    out["process_wall_seconds"] = round(wall, 2)
    out["other_load"] = round(max(busy - own, 0.0), 2)
    out["load1"] = loadavg()
    print(f"    -> {json.dumps({k: v for k, v in out.items() if k != 'curve'})}", file=sys.stderr, flush=True)
    return out


def bleu(bench, hyp, ref):
    p = subprocess.run([bench, "bleu", "--hyp", hyp, "--ref", ref], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(p.stdout)["bleu"]


def attn_train(bench, work, label, threads, seconds, heldout=False, **kw):
    cmd = [bench, "train", "--train", str(work / "train.tsv"), "--seconds", str(seconds), "--threads", str(threads)]
    if heldout:
        cmd += ["--heldout", str(work / "test.tsv")]
    for k, v in kw.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return run_json(cmd, env_for(threads, False), label)


def torch_train(work, label, threads, seconds, seed, test=False, eval_at=""):
    cmd = [PYTHON, str(ROOT / "bench" / "seq2seq_tutorial.py"), "--train", str(work / "train.tsv"), "--seconds",
           str(seconds), "--threads", str(threads), "--seed", str(seed), "--out", str(work)]
    if test:
        cmd += ["--test", str(work / "test.tsv"), "--eval-at", eval_at]
    return run_json(cmd, env_for(threads, True), label)


def torch_version():
    p = subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__, torch.backends.cpu.get_cpu_capability() "
                        "if hasattr(torch.backends, 'cpu') else '')"], stdout=subprocess.PIPE, text=True,
                       env=env_for(1, True))
    return p.stdout.strip()


def cpu_model():
    m = re.search(r"^model name\s*:\s*(.*)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
    return m.group(1).strip() if m else "unknown"


def time_to_reach(curve, target, key):
    for c in curve:
        if c["bleu"] >= target:
            return c[key]
    return None


def fmt(v, spec=".1f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def cpu_ms_per_pair(row):
    if "cpu_ms_per_pair_median" in row:
        return row["cpu_ms_per_pair_median"]
    return 1000 * row["cpu_seconds"] / row["pairs"] if row["pairs"] else None


def median_row(runs):
    """One table row from repeated runs of the same setting: medians of the rates, sums of the rest."""
    row = dict(runs[0])
    if len(runs) > 1:
        row["pairs_per_s"] = statistics.median(r["pairs_per_s"] for r in runs)
        row["cpu_ms_per_pair_median"] = statistics.median(cpu_ms_per_pair(r) for r in runs)
        row["other_load"] = statistics.median(r["other_load"] for r in runs)
    row["runs"] = len(runs)
    row["per_run"] = [{k: r[k] for k in ("pairs", "pairs_per_s", "cpu_seconds", "other_load", "load1") if k in r}
                      for r in runs]
    return row


def targets_of(speed, quality):
    """(met, text) per target: batch-1 speed-up (pairs/s and CPU per pair), BLEU, time to reach."""
    out = []
    for row in speed:
        if "ratio_value" not in row:
            continue
        t = [x for x in speed if x["library"] == "PyTorch" and x["threads"] == row["threads"]][0]
        cpu = cpu_ms_per_pair(t) / cpu_ms_per_pair(row)
        out.append((row["ratio_value"] >= 5.0 and cpu >= 5.0,
                    f"batch 1, {row['threads']} thread(s): attn {row['pairs_per_s']:.1f} pairs/s vs PyTorch "
                    f"{t['pairs_per_s']:.1f} = {row['ratio_value']:.2f}x; CPU per pair {cpu_ms_per_pair(row):.1f} vs "
                    f"{cpu_ms_per_pair(t):.1f} ms = {cpu:.2f}x (target >= 5x)"))
    if quality is None:
        return out
    t, a, reach, budget = quality["torch"], quality["attn"], quality["attn_reaches_torch_final"], quality["budget"]
    out.append((a["final_bleu"] >= t["final_bleu"], f"held-out BLEU at {budget:.0f} s: attn default "
                f"{a['final_bleu']:.2f} vs PyTorch tutorial {t['final_bleu']:.2f} (target: attn higher)"))
    out.append((reach["fraction"] is not None and reach["fraction"] <= 0.2,
                f"time for attn's default model to reach the tutorial's final BLEU: "
                f"{fmt(reach['fraction'], '.2f')} of the tutorial's time (target <= 0.20)"))
    return out


def render(r):
    s, q, m = r["speed"], r["quality"], r["meta"]
    L = []
    L.append(f"Measured {m['date']} on {m['cpu']}, {m['nproc']} logical CPUs ({m['platform']}); PyTorch {m['torch']}; "
             f"1-minute load average {m['load_before']:.2f} before, {m['load_after']:.2f} after. Command: "
             f"`{m['command']}`.")
    L.append("")
    runs = max(row.get("runs", 1) for row in s)
    median = (f" Batch-1 rows: medians of {runs} alternating runs of each library (pairs/s, CPU ms/pair, other "
              f"load)." if runs > 1 else "")
    L.append("Throughput (training pairs per second of training, wall clock; *CPU ms/pair* = the process's CPU "
             "time per pair; *other load* = cores used by other processes meanwhile):" + median)
    L.append("")
    L.append("| model | batch | optimizer | threads | library | pairs/s | CPU ms/pair | other load | "
             "attn vs PyTorch, pairs/s | attn vs PyTorch, CPU/pair |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for row in s:
        L.append(f"| {row['model']} | {row['batch']} | {row['optimizer']} | {row['threads']} | {row['library']} | "
                 f"{row['pairs_per_s']:.1f} | {fmt(cpu_ms_per_pair(row))} | {row['other_load']:.2f} | "
                 f"{row.get('ratio', '')} | {row.get('cpu_ratio', '')} |")
    L.append("")
    if q is None:
        L.append("Targets:")
        L.append("")
        for ok, text in r["targets"]:
            L.append(f"- {'met' if ok else '**NOT met**'}: {text}")
        return "\n".join(L)
    L.append(f"Quality at an equal budget of {q['budget']:.0f} s of training each (wall clock; the time spent "
             f"translating the test set, and attn's checkpointing between scoring points, is not counted; held-out "
             f"BLEU on the {q['n_test']} test pairs, greedy, attn's scorer for both):")
    L.append("")
    L.append("| model | library | settings | training time | pairs trained | held-out BLEU | other load |")
    L.append("|---|---|---|---|---|---|---|")
    t, a = q["torch"], q["attn"]
    L.append(f"| tutorial (EncoderRNN + AttnDecoderRNN) | PyTorch | batch 1, SGD 0.01, teacher forcing 0.5, "
             f"{t['threads']} thread(s) | {t['train_seconds']:.0f} s | {t['pairs']} | {t['final_bleu']:.2f} | "
             f"{t['other_load']:.2f} |")
    L.append(f"| default (GRU + Bahdanau) | attn | batch 32, Adam 2e-3, clip 1, teacher forcing 1, "
             f"{a['threads']} threads | {a['train_seconds']:.0f} s | {a['pairs']:.0f} | {a['final_bleu']:.2f} | "
             f"{a['other_load']:.2f} |")
    L.append("")
    L.append("BLEU over time (training seconds: BLEU):")
    L.append("")
    L.append("- PyTorch tutorial: " + ", ".join(f"{c['train_seconds']:.0f} s: {c['bleu']:.2f}" for c in t["curve"]))
    L.append("- attn default: " + ", ".join(f"{c['train_seconds']:.0f} s: {c['bleu']:.2f}" for c in a["curve"]))
    L.append("")
    reach = q["attn_reaches_torch_final"]
    if reach["train_seconds"] is not None:
        L.append(f"attn's default model reaches the tutorial model's final BLEU ({t['final_bleu']:.2f}) after "
                 f"{reach['train_seconds']:.0f} s of training (the first scoring point at or above it; "
                 f"{reach['wall_seconds']:.0f} s wall clock with its scoring and checkpointing) = "
                 f"{reach['fraction']:.2f} of the tutorial's {t['train_seconds']:.0f} s (target <= 0.20).")
    else:
        L.append(f"attn's default model does not reach the tutorial model's final BLEU ({t['final_bleu']:.2f}) "
                 f"within the budget.")
    L.append("")
    L.append("Targets:")
    L.append("")
    for ok, text in r["targets"]:
        L.append(f"- {'met' if ok else '**NOT met**'}: {text}")
    return "\n".join(L)


def write_readme(text, block="seq2seq-results"):
    """Replaces the generated block `block` of the section (between its two markers) with `text`."""
    path = ROOT / "bench" / "README.md"
    old = path.read_text()
    begin, end = f"<!-- {block}-begin -->", f"<!-- {block}-end -->"
    if begin not in old or end not in old:
        print(f"bench/README.md has no {begin} ... {end} block; add the section by hand", file=sys.stderr)
        return
    i, j = old.index(begin) + len(begin), old.index(end)
    path.write_text(old[:i] + "\n" + text + "\n" + old[j:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-bench", help="build directory with bench/bench_seq2seq")
    ap.add_argument("--work", default="/tmp/attn-seq2seq-bench", help="directory for the split and hypotheses")
    ap.add_argument("--corpus", default=str(ROOT / "data" / "eng-fra.tutorial.tsv"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed-seconds", type=float, default=60.0, help="training seconds per throughput run")
    ap.add_argument("--budget", type=float, default=300.0, help="wall-clock training budget of each quality run")
    ap.add_argument("--threads", default="1,2", help="thread counts of the batch-1 throughput runs")
    ap.add_argument("--torch-quality-threads", type=int, default=1)
    ap.add_argument("--attn-quality-threads", type=int, default=2)
    ap.add_argument("--score-every-steps", type=int, default=40,
                    help="attn's quality run scores the test set every this many steps (resuming in between)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternating batch-1 throughput runs per library and thread count (medians reported)")
    ap.add_argument("--skip-quality", action="store_true", help="throughput runs only")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--write-readme", action="store_true",
                    help="replace the generated block of the seq2seq section of bench/README.md")
    args = ap.parse_args()

    bench = str((ROOT / args.build / "bench" / "bench_seq2seq").resolve())
    if not os.path.exists(bench):
        sys.exit(f"{bench} not found: build it with `cmake --build {args.build} --target bench_seq2seq` "
                 f"(configured with -DATTN_BUILD_BENCHMARKS=ON)")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    meta = {"date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "cpu": cpu_model(), "nproc": os.cpu_count(),
            "platform": platform.platform(), "torch": torch_version(), "load_before": loadavg(),
            "command": "bench/seq2seq_compare.py " + " ".join(sys.argv[1:])}
    split = json.loads(subprocess.run([bench, "split", "--corpus", args.corpus, "--seed", str(args.seed), "--out",
                                       str(work)], stdout=subprocess.PIPE, text=True, check=True).stdout)
    print(f"split: {split}", file=sys.stderr)
    ref = work / "ref.txt"  # the test references (target column), one per line
    ref.write_text("".join(line.split("\t")[1] + "\n" for line in
                           (work / "test.tsv").read_text(encoding="utf-8").splitlines()), encoding="utf-8")

    # Throughput at batch 1: the tutorial's settings on both sides.
    speed = []
    tut = dict(attention="concat-linear", batch=1, optimizer="sgd", lr=0.01, tf=0.5, clip=0, dropout=0.1,
               max_length=10, seed=args.seed)
    for th in [int(x) for x in args.threads.split(",") if x]:
        ts, as_ = [], []
        for k in range(args.repeat):
            n = f" ({k + 1}/{args.repeat})" if args.repeat > 1 else ""
            ts.append(torch_train(work, f"pytorch tutorial, batch 1, {th} thread(s){n}", th, args.speed_seconds,
                                  args.seed))
            as_.append(attn_train(bench, work, f"attn concat-linear, batch 1, {th} thread(s){n}", th,
                                  args.speed_seconds, **tut))
        t, a = median_row(ts), median_row(as_)
        t.update(model="tutorial (concat-linear)", batch=1, optimizer="SGD 0.01", threads=th, library="PyTorch")
        ratio = a["pairs_per_s"] / t["pairs_per_s"]
        a.update(model="tutorial (concat-linear)", batch=1, optimizer="SGD 0.01", threads=th, library="attn",
                 ratio=f"{ratio:.2f}x", ratio_value=ratio)
        a["cpu_ratio"] = f"{cpu_ms_per_pair(t) / cpu_ms_per_pair(a):.2f}x"
        speed += [t, a]
    # attn's batched throughput of the same model.
    b = dict(tut, batch=32, optimizer="adam", lr=2e-3, clip=1)
    a = attn_train(bench, work, "attn concat-linear, batch 32, 2 threads", 2, args.speed_seconds, **b)
    a.update(model="tutorial (concat-linear)", batch=32, optimizer="Adam 2e-3", threads=2, library="attn")
    speed.append(a)

    if args.skip_quality:
        meta["load_after"] = loadavg()
        result = {"meta": meta, "split": split, "speed": speed, "quality": None, "targets": targets_of(speed, None)}
        text = render(result)
        print(text)
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
        if args.write_readme:
            write_readme(text, "seq2seq-speed")
        return

    # Quality at an equal budget.
    budget = args.budget
    eval_at = ",".join(str(round(budget * k / 5, 1)) for k in range(1, 5))
    t = torch_train(work, "pytorch tutorial, quality run", args.torch_quality_threads, budget, args.seed, test=True,
                    eval_at=eval_at)
    t["threads"] = args.torch_quality_threads
    for c in t["curve"]:
        c["bleu"] = bleu(bench, c["hyp"], str(ref))
    t["final_bleu"] = t["curve"][-1]["bleu"]
    default = dict(attention="bahdanau", batch=32, optimizer="adam", lr=2e-3, clip=1, tf=1.0, dropout=0.1,
                   seed=args.seed)
    a = attn_train(bench, work, "attn default (GRU + Bahdanau), quality run", args.attn_quality_threads, budget,
                   heldout=True, score_every_steps=args.score_every_steps, checkpoint_dir=work / "attn-checkpoint",
                   **default)
    a["threads"] = args.attn_quality_threads
    a["final_bleu"] = a["curve"][-1]["bleu"] if a["curve"] else 0.0
    target = t["final_bleu"]
    rs, rw = time_to_reach(a["curve"], target, "train_seconds"), time_to_reach(a["curve"], target, "wall_seconds")
    reach = {"train_seconds": rs, "wall_seconds": rw,
             "fraction": (rs / t["train_seconds"]) if rs is not None else None}
    quality = {"budget": budget, "n_test": split["test"], "torch": t, "attn": a, "attn_reaches_torch_final": reach}
    meta["load_after"] = loadavg()

    targets = targets_of(speed, quality)
    result = {"meta": meta, "split": split, "speed": speed, "quality": quality, "targets": targets}
    text = render(result)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
