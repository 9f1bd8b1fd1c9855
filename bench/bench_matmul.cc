// Matrix products: attn's mm / bmm / matmul / linear against raw OpenBLAS cblas_sgemm on the same
// buffers. The raw baseline is what a program calling OpenBLAS directly gets: one cblas_sgemm with
// OpenBLAS's own threads (its OpenMP build, at the thread count set by setup_threads_and_context),
// or one call per matrix for batched shapes. attn splits a product into tiles of C and runs each
// tile as a single-threaded sgemm on its own threads (see src/kernels/gemm.h for why), so the ratio
// attn / raw is the price of that tiling. Names: "<op>/<fast|sgemm>/<sizes>", sizes as below.
#include <vector>

#include "attn/ops/linalg.h"
#include "bench_util.h"

namespace attn::bench {
namespace {

// mm: [m, k] @ [k, n]; sizes "m x k x n".
void mm_cases(int64_t m, int64_t k, int64_t n) {
  const std::vector<int64_t> dims{m, k, n};
  const double flops = 2.0 * double(m) * double(k) * double(n);
  add("mm", "fast", dims, [=](benchmark::State& state) {
    const Tensor a = input({m, k}, 1), b = input({k, n}, 2);
    for (auto _ : state) {
      Tensor c = mm(a, b);
      benchmark::DoNotOptimize(c.raw_data());
    }
    set_flops(state, flops);
  });
  add("mm", "sgemm", dims, [=](benchmark::State& state) {
    const Tensor a = input({m, k}, 1), b = input({k, n}, 2);
    Tensor c = empty({m, n});
    const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>();
    float* pc = c.data_ptr<float>();
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1.0f, pa, blasint(k),
                  pb, blasint(n), 0.0f, pc, blasint(n));
      benchmark::ClobberMemory();
    }
    set_flops(state, flops);
  });
}

// Batched products of attention, sizes "batch x m x k x n":
//   bmm_nt: scores = Q @ K^T, Q [batch, m, k], K [batch, n, k] (K^T is a transposed view)
//   bmm:    context = P @ V,  P [batch, m, k], V [batch, k, n]
// The raw baseline calls cblas_sgemm once per matrix, in a loop (OpenBLAS has no batched sgemm).
void bmm_cases(bool transposed_b, int64_t batch, int64_t m, int64_t k, int64_t n) {
  const std::vector<int64_t> dims{batch, m, k, n};
  const double flops = 2.0 * double(batch) * double(m) * double(k) * double(n);
  const char* op = transposed_b ? "bmm_nt" : "bmm";
  const std::vector<int64_t> b_shape = transposed_b ? std::vector<int64_t>{batch, n, k} : std::vector<int64_t>{batch, k, n};
  add(op, "fast", dims, [=](benchmark::State& state) {
    const Tensor a = input({batch, m, k}, 1), b = input(b_shape, 2);
    const Tensor bv = transposed_b ? b.transpose(1, 2) : b;
    for (auto _ : state) {
      Tensor c = bmm(a, bv);
      benchmark::DoNotOptimize(c.raw_data());
    }
    set_flops(state, flops);
  });
  add(op, "sgemm", dims, [=](benchmark::State& state) {
    const Tensor a = input({batch, m, k}, 1), b = input(b_shape, 2);
    Tensor c = empty({batch, m, n});
    const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>();
    float* pc = c.data_ptr<float>();
    for (auto _ : state) {
      for (int64_t e = 0; e < batch; ++e)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposed_b ? CblasTrans : CblasNoTrans, blasint(m), blasint(n),
                    blasint(k), 1.0f, pa + e * m * k, blasint(k), pb + e * k * n, blasint(transposed_b ? k : n), 0.0f,
                    pc + e * m * n, blasint(n));
      benchmark::ClobberMemory();
    }
    set_flops(state, flops);
  });
}

// matmul with a broadcast operand, as a projection applied to every head: [batch, m, k] @ [k, n],
// sizes "batch x m x k x n". Raw: the same product as one [batch*m, k] @ [k, n] sgemm.
void matmul_broadcast_cases(int64_t batch, int64_t m, int64_t k, int64_t n) {
  const std::vector<int64_t> dims{batch, m, k, n};
  const double flops = 2.0 * double(batch) * double(m) * double(k) * double(n);
  add("matmul_bcast", "fast", dims, [=](benchmark::State& state) {
    const Tensor a = input({batch, m, k}, 1), b = input({k, n}, 2);
    for (auto _ : state) {
      Tensor c = matmul(a, b);
      benchmark::DoNotOptimize(c.raw_data());
    }
    set_flops(state, flops);
  });
  add("matmul_bcast", "sgemm", dims, [=](benchmark::State& state) {
    const Tensor a = input({batch, m, k}, 1), b = input({k, n}, 2);
    Tensor c = empty({batch, m, n});
    const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>();
    float* pc = c.data_ptr<float>();
    for (auto _ : state) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(batch * m), blasint(n), blasint(k), 1.0f, pa,
                  blasint(k), pb, blasint(n), 0.0f, pc, blasint(n));
      benchmark::ClobberMemory();
    }
    set_flops(state, flops);
  });
}

// linear: x [tokens, in] @ weight[out, in]^T + bias[out], sizes "tokens x in x out". Raw: C is
// filled with the bias rows, then sgemm with B transposed and beta = 1 (the usual BLAS idiom).
void linear_cases(int64_t tokens, int64_t in, int64_t out) {
  const std::vector<int64_t> dims{tokens, in, out};
  const double flops = 2.0 * double(tokens) * double(in) * double(out);
  add("linear", "fast", dims, [=](benchmark::State& state) {
    const Tensor x = input({tokens, in}, 1), w = input({out, in}, 2), bias = input({out}, 3);
    for (auto _ : state) {
      Tensor y = linear(x, w, bias);
      benchmark::DoNotOptimize(y.raw_data());
    }
    set_flops(state, flops);
  });
  add("linear", "sgemm", dims, [=](benchmark::State& state) {
    const Tensor x = input({tokens, in}, 1), w = input({out, in}, 2), bias = input({out}, 3);
    Tensor y = empty({tokens, out});
    const float *px = x.data_ptr<float>(), *pw = w.data_ptr<float>(), *pbias = bias.data_ptr<float>();
    float* py = y.data_ptr<float>();
    for (auto _ : state) {
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 0; j < out; ++j) py[t * out + j] = pbias[j];
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(tokens), blasint(out), blasint(in), 1.0f, px,
                  blasint(in), pw, blasint(in), 1.0f, py, blasint(out));
      benchmark::ClobberMemory();
    }
    set_flops(state, flops);
  });
}

void register_all() {
  for (int64_t s : {256, 512, 1024, 2048}) mm_cases(s, s, s);
  // Attention at B*H = 8*8 heads, 128 tokens, head dim 64: scores Q K^T, then P V.
  bmm_cases(true, 64, 128, 64, 128);
  bmm_cases(false, 64, 128, 128, 64);
  // The same 64 heads through a shared [64, 128] projection (broadcast batch dims).
  matmul_broadcast_cases(64, 128, 64, 128);
  // A Transformer feed-forward layer: 4096 tokens, d_model 512 -> 2048.
  linear_cases(4096, 512, 2048);
}

}  // namespace
}  // namespace attn::bench

ATTN_BENCH_MAIN(attn::bench::register_all)
