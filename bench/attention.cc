// Attention benchmark: scaled_dot_product_attention through the fused flash kernel
// (SdpaBackend::Fused) and the composed path (SdpaBackend::Composed), forward and
// forward+backward, causal and not, at B = 1, H = 8, d = 64 and N = T = S from --sizes; plus raw
// OpenBLAS cblas_sgemm (1024^3) measured in the same run (before every size) as the machine's GEMM
// peak.
// bench/attention.py runs this program and the same cases in PyTorch and prints the table.
//
// Output: one JSON object per line:
//   {"impl": "fused"|"composed", "n", "causal", "pass": "fwd"|"fwdbwd", "median_ms", "gflops",
//    "cpu_ms", "peak_extra_mib"}   and   {"impl": "sgemm", "gflops", "cpu_gflops", "attn_simd"} (before
//    every size)
// Times are wall-clock medians over --reps repetitions, each of at least --min-time seconds;
// cpu_ms is the median CPU time per call of all threads together (less sensitive than wall time
// to other processes on a shared machine: it counts only the cycles this process got).
// GFLOP/s count the useful work: forward 4 B H N^2 d (half when causal), forward+backward 3.5x
// that (backward = 2.5 forward: five N^2 d products against two). peak_extra_mib is the rise of
// the process's peak resident memory (VmHWM, reset through /proc/self/clear_refs) over its
// resident memory before one call, with the inputs already allocated and attn's allocator cache
// emptied: every allocation of the call, attn's tensors and the kernels' scratch alike
// (tensor_peak_mib: attn's allocator alone, which does not see the kernels' scratch).
//
// After each size's cases, the fused forward's causal / non-causal time ratio measured with the two
// interleaved (one repetition of each in turn, the median of the per-pair ratios):
//   {"impl": "fused_causal_ratio", "n", "ratio", "pairs"}
// Taken one after the other, the two medians can straddle a change in the machine's load.
//
// --mha only: instead, nn::MultiheadAttention forward at E = 512, H = 8, B = 8, N = 128 (run_mha).
//
// Usage: bench_attention [--sizes 128,256,...] [--reps 5] [--min-time 0.2] [--threads 2]
//                        [--impls fused,composed] [--memory-only N] [--mha only]
#include <cblas.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "attn/attention/flash.h"
#include "attn/attention/multihead.h"
#include "attn/attention/sdpa.h"
#include "attn/core/autograd.h"
#include "attn/core/random.h"
#include "attn/core/storage.h"
#include "attn/core/tensor.h"
#include "attn/kernels/config.h"

namespace {

using namespace attn;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// kB from a "Name:   1234 kB" line of /proc/self/status.
long status_kb(const char* name) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(name) + ":";
  while (std::getline(f, line))
    if (line.compare(0, key.size(), key) == 0) return std::atol(line.c_str() + key.size());
  return -1;
}
// Resets VmHWM to the current VmRSS (Linux >= 4.0).
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

// CPU seconds used by this process so far, all threads together.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Median seconds per call of fn over `reps` repetitions of >= min_time seconds each; *cpu (when
// given) receives the median CPU seconds per call, all threads together.
double median_time(const std::function<void()>& fn, int reps, double min_time, double* cpu = nullptr) {
  std::vector<double> per_call, cpu_per_call;
  for (int r = 0; r < reps; ++r) {
    int64_t iters = 0;
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    double t = 0;
    do {
      fn();
      ++iters;
      t = seconds_since(t0);
    } while (t < min_time);
    per_call.push_back(t / double(iters));
    cpu_per_call.push_back((cpu_seconds() - c0) / double(iters));
  }
  std::sort(per_call.begin(), per_call.end());
  std::sort(cpu_per_call.begin(), cpu_per_call.end());
  if (cpu) *cpu = cpu_per_call[cpu_per_call.size() / 2];
  return per_call[per_call.size() / 2];
}

// Raw cblas_sgemm 1024^3: prints {"impl": "sgemm", "gflops", "cpu_gflops", "attn_simd"} (cpu_gflops:
// per second of CPU time of all threads together; attn_simd: the SIMD build attn's own kernels run,
// attn::cpu_capability()).
void print_sgemm(int reps) {
  const int n = 1024;
  std::vector<float> a(size_t(n) * n, 1.0f), b(size_t(n) * n, 0.5f), c(size_t(n) * n);
  double cpu = 0;
  const auto nn = CblasNoTrans;
  const double t = median_time(
      [&] { cblas_sgemm(CblasRowMajor, nn, nn, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); }, reps,
      0.2, &cpu);
  const double fl = 2.0 * n * n * double(n);
  std::printf("{\"impl\": \"sgemm\", \"gflops\": %.2f, \"cpu_gflops\": %.2f, \"attn_simd\": \"%s\"}\n",
              fl / t / 1e9, fl / cpu / 1e9, cpu_capability().c_str());
  std::fflush(stdout);
}

struct Case {
  std::string impl;
  int64_t n;
  bool causal, backward;
};

// One call of the case; returns nothing (the result is dropped, its memory freed).
std::function<void()> make_call(const Case& c, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& gout) {
  const SdpaBackend backend = c.impl == "fused" ? SdpaBackend::Fused : SdpaBackend::Composed;
  return [=] {
    SdpaBackendGuard guard(backend);
    if (!c.backward) {
      NoGradGuard ng;
      (void)scaled_dot_product_attention(q, k, v, Tensor(), 0.0, c.causal);
      return;
    }
    Tensor qq = q.detach().requires_grad_(), kk = k.detach().requires_grad_(), vv = v.detach().requires_grad_();
    Tensor out = scaled_dot_product_attention(qq, kk, vv, Tensor(), 0.0, c.causal).output;
    out.backward(gout);
  };
}

// glibc malloc settings. For the memory measurement a fixed 64 KiB mmap threshold: every large
// block is mapped on allocation and unmapped on free, so one call's peak resident memory is its
// own (glibc's sliding threshold would otherwise serve it from heap pages an earlier call left
// resident). For the timings the values glibc's sliding threshold settles at in a long-running
// process (blocks up to 32 MiB reused from the heap, not faulted in again on every call), on both
// sides (bench/attention.py does the same for PyTorch).
void malloc_for_memory() {
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  malloc_trim(0);  // give back the free heap pages the timings left resident
}
void malloc_for_timing() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

// The benchmark's q, k, v and output gradient at N: [B = 1, H = 8, N, d = 64], the same for every case.
constexpr int64_t kB = 1, kH = 8, kD = 64;
struct Inputs {
  Tensor q, k, v, gout;
  explicit Inputs(int64_t N) {
    Generator g(1);
    q = randn({kB, kH, N, kD}, kFloat32, &g), k = randn({kB, kH, N, kD}, kFloat32, &g);
    v = randn({kB, kH, N, kD}, kFloat32, &g), gout = randn({kB, kH, N, kD}, kFloat32, &g);
  }
};

void run_case(const Case& c, int reps, double min_time, bool memory_only) {
  const int64_t B = kB, H = kH, d = kD, N = c.n;
  const Inputs in(N);
  auto call = make_call(c, in.q, in.k, in.v, in.gout);
  // Memory: one call from an empty allocator cache.
  empty_cache();
  malloc_for_memory();
  reset_peak_allocated();
  const size_t alloc0 = allocator_stats().allocated_bytes;
  reset_peak_rss();
  const long rss0 = status_kb("VmRSS");
  const auto t0 = Clock::now();
  call();
  const double first = seconds_since(t0);
  const long hwm = status_kb("VmHWM");
  const double extra_mib = double(hwm - rss0) / 1024.0;
  const double alloc_mib = double(allocator_stats().peak_allocated_bytes - alloc0) / (1024.0 * 1024.0);
  double fl = 4.0 * B * H * double(N) * double(N) * d * (c.causal ? 0.5 : 1.0);
  if (c.backward) fl *= 3.5;
  double cpu = 0;
  malloc_for_timing();
  const double t = memory_only ? first : median_time(call, reps, min_time, &cpu);
  std::printf(
      "{\"impl\": \"%s\", \"n\": %lld, \"causal\": %s, \"pass\": \"%s\", \"median_ms\": %.4f, \"gflops\": %.2f, "
      "\"cpu_ms\": %.4f, \"peak_extra_mib\": %.1f, \"tensor_peak_mib\": %.1f}\n",
      c.impl.c_str(), (long long)N, c.causal ? "true" : "false", c.backward ? "fwdbwd" : "fwd", t * 1e3, fl / t / 1e9,
      cpu * 1e3, extra_mib, alloc_mib);
  std::fflush(stdout);
}

// The fused forward's causal / non-causal time ratio at N, from interleaved repetitions.
void run_causal_ratio(int64_t N, int reps, double min_time) {
  const Inputs in(N);
  auto plain = make_call({"fused", N, false, false}, in.q, in.k, in.v, in.gout);
  auto causal = make_call({"fused", N, true, false}, in.q, in.k, in.v, in.gout);
  std::vector<double> ratios;
  for (int r = 0; r < reps; ++r) {
    const double a = median_time(plain, 1, min_time), b = median_time(causal, 1, min_time);
    ratios.push_back(b / a);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("{\"impl\": \"fused_causal_ratio\", \"n\": %lld, \"ratio\": %.4f, \"pairs\": %d}\n", (long long)N,
              ratios[ratios.size() / 2], reps);
  std::fflush(stdout);
}

// nn::MultiheadAttention forward (self-attention, batch_first, evaluation mode, no gradients) at
// E = 512, H = 8, B = 8, N = 128, with and without the averaged weights, under the fused and the
// composed sdpa backends. GFLOP/s count the four projections (8 B N E^2) and the attention
// (4 B N^2 E).
void run_mha(int reps, double min_time) {
  const int64_t E = 512, H = 8, B = 8, N = 128;
  manual_seed(0);
  nn::MultiheadAttention mha(E, H, 0.0, true, false, false, -1, -1, /*batch_first=*/true);
  mha.eval();
  Generator g(3);
  Tensor x = randn({B, N, E}, kFloat32, &g);
  const double fl = 8.0 * B * N * double(E) * E + 4.0 * B * double(N) * N * E;
  for (const char* impl : {"fused", "composed"})
    for (bool need_weights : {false, true}) {
      const SdpaBackend backend = std::string(impl) == "fused" ? SdpaBackend::Fused : SdpaBackend::Composed;
      auto call = [&] {
        SdpaBackendGuard guard(backend);
        NoGradGuard ng;
        (void)mha.forward(x, x, x, Tensor(), need_weights);
      };
      double cpu = 0;
      const double t = median_time(call, reps, min_time, &cpu);
      std::printf(
          "{\"impl\": \"mha_%s\", \"E\": %lld, \"H\": %lld, \"B\": %lld, \"n\": %lld, \"need_weights\": %s, "
          "\"median_ms\": %.4f, \"gflops\": %.2f, \"cpu_ms\": %.4f}\n",
          impl, (long long)E, (long long)H, (long long)B, (long long)N, need_weights ? "true" : "false", t * 1e3,
          fl / t / 1e9, cpu * 1e3);
      std::fflush(stdout);
    }
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) out.push_back(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {128, 256, 512, 1024, 2048, 4096};
  std::vector<std::string> impls = {"fused", "composed"};
  int reps = 5, threads = 2;
  double min_time = 0.2;
  int64_t memory_only = 0;
  bool mha_only = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--sizes") {
      sizes.clear();
      for (auto& s : split(v)) sizes.push_back(std::atoll(s.c_str()));
    } else if (a == "--reps") {
      reps = std::atoi(v.c_str());
    } else if (a == "--min-time") {
      min_time = std::atof(v.c_str());
    } else if (a == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (a == "--impls") {
      impls = split(v);
    } else if (a == "--memory-only") {
      memory_only = std::atoll(v.c_str());
    } else if (a == "--mha") {
      mha_only = v == "only";
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  set_num_threads(threads);
  malloc_for_timing();
  if (memory_only > 0) {  // one fused forward call at N = memory_only
    run_case({"fused", memory_only, false, false}, 1, 0, true);
    return 0;
  }
  if (mha_only) {
    run_mha(reps, min_time);
    return 0;
  }
  // sgemm before every size and at the end: the load of a shared machine changes during a run.
  for (int64_t n : sizes) {
    print_sgemm(reps);
    for (bool causal : {false, true})
      for (bool backward : {false, true})
        for (const auto& impl : impls) run_case({impl, n, causal, backward}, reps, min_time, false);
    if (std::find(impls.begin(), impls.end(), "fused") != impls.end()) run_causal_ratio(n, reps, min_time);
  }
  print_sgemm(reps);
  return 0;
}
