// Shared set-up for the Google Benchmark programs in bench/: thread count, kernel mode, machine
// context, and the naming scheme that bench/compare.py parses.
//
// Every benchmark is named "<op>/<impl>/<shape>", e.g. "softmax/fast/4096x512" or
// "mm/sgemm/1024x1024x1024": <impl> is attn's fast kernels ("fast"), attn's reference kernels
// ("ref") or a raw library baseline ("sgemm"); <shape> is the op's sizes joined by 'x'.
// compare.py lists these names (--benchmark_list_tests), runs the same <op>/<shape> in PyTorch,
// and lines the results up. Adding a case here is all it takes to add it to the comparison.
//
// This is not a test: nothing here asserts a speed. Times are wall-clock (UseRealTime), since
// the kernels run on several threads.
#pragma once
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/kernels/config.h"

namespace attn::bench {

inline std::string shape_name(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

// Registers fn as "<op>/<impl>/<shape>". The kernel mode (fast or reference) is set inside the
// benchmark body, so benchmarks of both modes can run in any order in one process.
inline void add(const std::string& op, const std::string& impl, const std::vector<int64_t>& dims,
                std::function<void(benchmark::State&)> fn) {
  const bool reference = impl == "ref";
  benchmark::RegisterBenchmark((op + "/" + impl + "/" + shape_name(dims)).c_str(),
                               [fn = std::move(fn), reference](benchmark::State& state) {
                                 KernelModeGuard mode(reference);
                                 fn(state);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// Threads from ATTN_BENCH_THREADS (default 2, the protocol of compare.py), for attn's OpenMP
// loops and OpenBLAS alike; the machine details go into the JSON context for the report.
inline int setup_threads_and_context() {
  const char* env = std::getenv("ATTN_BENCH_THREADS");
  const int threads = env ? std::max(1, std::atoi(env)) : 2;
  set_num_threads(threads);
  benchmark::AddCustomContext("attn_threads", std::to_string(threads));
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("openblas_coretype_env", coretype ? coretype : "(unset)");
  return threads;
}

// Standard-normal float32 input, deterministic (attn's Philox RNG).
inline Tensor input(const std::vector<int64_t>& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, kFloat32, &gen);
}

// A bytes-processed counter, so the console output shows GB/s for memory-bound ops.
inline void set_bytes(benchmark::State& state, double bytes_per_iter) {
  state.counters["bytes_per_second"] =
      benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
}
inline void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["flops"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace attn::bench

// The main() of every bench program: threads and context, then the program's registrations.
#define ATTN_BENCH_MAIN(register_fn)                                  \
  int main(int argc, char** argv) {                                   \
    benchmark::Initialize(&argc, argv);                               \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1; \
    attn::bench::setup_threads_and_context();                         \
    register_fn();                                                    \
    benchmark::RunSpecifiedBenchmarks();                              \
    benchmark::Shutdown();                                            \
    return 0;                                                         \
  }
