// Elementwise ops on 1M and 16M floats, attn's fast and reference kernels (compare.py adds
// PyTorch). 1M floats (4 MiB per tensor) fit the last-level cache of a server CPU, 16M (64 MiB)
// do not, so the two sizes show the compute-bound and the memory-bound regime.
// Names: "<op>/<fast|ref>/<shape>":
//   add_bcast  [rows, cols] + [cols]   (a bias added to every row: broadcasting)
//   mul        [n] * [n]
//   exp, gelu  [n] (gelu is the exact erf form, F.gelu's default)
// Outputs are fresh tensors each iteration (attn has no out= variants); attn's caching allocator
// hands back the previous iteration's buffer.
#include "attn/ops/elementwise.h"
#include "attn/ops/unary.h"
#include "bench_util.h"

namespace attn::bench {
namespace {

void add_bcast_cases(int64_t rows, int64_t cols) {
  const double bytes = 2.0 * double(rows * cols) * sizeof(float);
  for (const char* impl : {"fast", "ref"})
    add("add_bcast", impl, {rows, cols}, [=](benchmark::State& state) {
      const Tensor a = input({rows, cols}, 1), b = input({cols}, 2);
      for (auto _ : state) {
        Tensor c = add(a, b);
        benchmark::DoNotOptimize(c.raw_data());
      }
      set_bytes(state, bytes);
    });
}

void mul_cases(int64_t n) {
  const double bytes = 3.0 * double(n) * sizeof(float);
  for (const char* impl : {"fast", "ref"})
    add("mul", impl, {n}, [=](benchmark::State& state) {
      const Tensor a = input({n}, 1), b = input({n}, 2);
      for (auto _ : state) {
        Tensor c = mul(a, b);
        benchmark::DoNotOptimize(c.raw_data());
      }
      set_bytes(state, bytes);
    });
}

template <class F>
void unary_cases(const char* op, int64_t n, F f) {
  const double bytes = 2.0 * double(n) * sizeof(float);
  for (const char* impl : {"fast", "ref"})
    add(op, impl, {n}, [=](benchmark::State& state) {
      const Tensor x = input({n}, 1);
      for (auto _ : state) {
        Tensor y = f(x);
        benchmark::DoNotOptimize(y.raw_data());
      }
      set_bytes(state, bytes);
    });
}

void register_all() {
  constexpr int64_t k1M = int64_t(1) << 20, k16M = int64_t(1) << 24;
  add_bcast_cases(k1M / 1024, 1024);
  add_bcast_cases(k16M / 1024, 1024);
  for (int64_t n : {k1M, k16M}) {
    mul_cases(n);
    unary_cases("exp", n, [](const Tensor& x) { return exp(x); });
    unary_cases("gelu", n, [](const Tensor& x) { return gelu(x); });
  }
}

}  // namespace
}  // namespace attn::bench

ATTN_BENCH_MAIN(attn::bench::register_all)
