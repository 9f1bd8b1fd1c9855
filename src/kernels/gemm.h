// GEMM kernels: batched, strided C (+)= A @ B, the engine behind mm / bmm / matmul / linear.
//
// One call describes a whole batch (GemmArgs): for every entry e in [0, batch)
//     C[c_off[e]] (+)= A[a_off[e]] @ B[b_off[e]]        A: m x k, B: k x n, C: m x n
// where element (i, j) of a matrix X lives at x + x_off[e] + i * x_rs + j * x_cs (element strides,
// any sign-free layout: row-major, its transpose, strided views, even stride 0). Per-entry offsets
// let matmul broadcast batch dims without materialising them (a broadcast operand simply repeats
// an offset). Entries that name the same C offset are summed, in ascending e, into that C: this is
// how matmul's backward reduces a gradient over broadcast batch dims without a [batch, m, k]
// temporary. accumulate=false overwrites C (C = sum of its entries), accumulate=true adds to it;
// C matrices no entry names are left untouched.
//
// ref:: is the plain triple loop, templated on the element type (float sums in double, so it is
// the more accurate of the two). fast:: calls OpenBLAS (cblas_sgemm / cblas_dgemm). An operand
// whose layout BLAS can read directly (row-major with ld >= cols, or its transpose, which is passed
// as CblasTrans with the right ld instead of being copied) goes straight to BLAS; any other layout
// is packed into a row-major scratch copy first. fast:: and ref:: differ only in summation order.
//
// Threads: attn owns them, OpenBLAS runs single-threaded. fast:: splits the work into tasks, one
// per (output matrix, tile of C), with tiles chosen from the shape and the machine's CPU count,
// never the thread count (detail::gemm_tiling: as large as possible, cut only until there are
// as many tasks as CPUs, 2 to 8, e.g. 8 tasks of 512 x 1024 at 2048^3 on 8 CPUs), and
// runs the tasks under parallel_for_blas (OpenMP's threads, which OpenBLAS's OpenMP build is made
// to be called from); each task is one or more single-threaded BLAS calls. Why not OpenBLAS's own
// threads: its threaded driver blocks k differently from its serial one, so results changed with
// the thread count (seen here on OpenBLAS 0.3.21), and attn's rule is that they do not; and a BLAS
// call made from inside our parallel loop must not start threads of its own. OpenBLAS's OpenMP build runs serially inside
// an active OpenMP region and otherwise takes the caller's omp_get_max_threads(); so a chunk run
// inline lowers that (task-local) count to 1 around its calls and restores it. fast:: never calls
// openblas_set_num_threads per call: that writes OpenBLAS's process-wide count, racing other threads.
// Every element of C is thus computed by the same BLAS call for any thread count: bitwise equal.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/parallel.h"

namespace attn::kernels {

template <class T>
struct GemmArgs {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const T* a = nullptr;
  int64_t a_rs = 0, a_cs = 0;
  const int64_t* a_off = nullptr;  // batch offsets in elements; nullptr: 0 for every entry
  const T* b = nullptr;
  int64_t b_rs = 0, b_cs = 0;
  const int64_t* b_off = nullptr;
  T* c = nullptr;
  int64_t c_rs = 0, c_cs = 0;
  const int64_t* c_off = nullptr;  // nullptr: every entry sums into the one C at offset 0
  bool accumulate = false;
};

// How BLAS can read a rows x cols matrix with element strides (rs, cs) without a copy:
// row-major (trans = false, ld = row stride) or column-major, i.e. the transpose of a row-major
// matrix (trans = true, ld = column stride). Strides of size-1 dims are irrelevant and ignored.
struct BlasLayout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 1;
};
inline BlasLayout blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // BLAS requires ld >= max(1, cols) (row-major) so rows never overlap.
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= std::max<int64_t>(1, cols)))
    return {true, false, rows <= 1 ? std::max<int64_t>(1, cols) : rs};
  if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= std::max<int64_t>(1, rows)))
    return {true, true, cols <= 1 ? std::max<int64_t>(1, rows) : cs};
  return {};
}

namespace detail {
// Batch entries grouped by C offset: order[starts[g] .. starts[g+1]) are the entries of group g,
// ascending. Each group is one independent output matrix.
struct GemmGroups {
  std::vector<int64_t> order, starts;
  int64_t count() const { return int64_t(starts.size()) - 1; }
  int64_t max_size = 0;
};
inline GemmGroups group_by_c(int64_t batch, const int64_t* c_off) {
  GemmGroups g;
  g.order.resize(size_t(batch));
  std::iota(g.order.begin(), g.order.end(), int64_t(0));
  if (batch == 0) {
    g.starts = {0};
    return g;
  }
  if (c_off == nullptr) {
    g.starts = {0, batch};
    g.max_size = batch;
    return g;
  }
  bool distinct_sorted = true;  // the common case (no reduction): skip the sort
  for (int64_t e = 1; e < batch && distinct_sorted; ++e) distinct_sorted = c_off[e] > c_off[e - 1];
  if (!distinct_sorted)
    std::stable_sort(g.order.begin(), g.order.end(), [&](int64_t x, int64_t y) { return c_off[x] < c_off[y]; });
  g.starts.push_back(0);
  for (int64_t i = 1; i < batch; ++i)
    if (c_off[g.order[size_t(i)]] != c_off[g.order[size_t(i - 1)]]) g.starts.push_back(i);
  g.starts.push_back(batch);
  for (size_t i = 0; i + 1 < g.starts.size(); ++i) g.max_size = std::max(g.max_size, g.starts[i + 1] - g.starts[i]);
  return g;
}
inline int64_t off_of(const int64_t* off, int64_t e) { return off ? off[e] : 0; }

// How many tasks gemm_tiling aims for: the machine's logical CPUs, between 2 and 8. A property of
// the machine, not of set_num_threads(), so results stay the same for any thread count. Fewer
// tasks mean fewer calls packing the same strips again (on 2 CPUs, 2 tasks instead of 8 made the
// Transformer benchmark's training step ~4 % faster); more keep more cores busy.
inline int64_t gemm_task_target() {
  static const int64_t target = std::clamp<int64_t>(int64_t(std::thread::hardware_concurrency()), 2, 8);
  return target;
}

// The tiles of C (rows x cols) one task computes, for `groups` output matrices of m x n, each the
// sum of up to `entries` products over k. Chosen from the shape (and the machine), never from the
// thread count, so every element is produced by the same BLAS call whatever the thread count
// (OpenBLAS may compute an element differently by its position in a call: edge kernels).
struct GemmTiling {
  int64_t rows_per_tile, cols_per_tile, row_tiles, col_tiles;
  int64_t count() const { return row_tiles * col_tiles; }
};
inline GemmTiling gemm_tiling(int64_t m, int64_t n, int64_t k, int64_t entries, int64_t groups,
                              int64_t tasks_wanted = gemm_task_target()) {
  // Each BLAS call packs its whole A strip (rows x k) and B strip (k x cols) again, so a tile
  // costs about k (rows + cols) copies on top of its rows cols k multiply-adds: small tiles are
  // slow (on 2 threads here, 64 x 128 tiles ran a 2048^3 product at ~70% of OpenBLAS's own
  // threaded sgemm, 512 x 1024 tiles at 95-105%). So tiles stay as large as the parallelism allows: the output is
  // halved (the longer side of the tile, rows on a tie) only while there are fewer than
  // tasks_wanted tasks in all (groups x tiles), or a tile is over kMaxWork
  // multiply-adds (so huge products still feed more threads); never into tiles under kMinWork
  // (a 256^3 product: 2 tasks, as each call has a fixed cost of microseconds) or under
  // kMinRows x kMinCols. Sides are rounded up to multiples of kAlign (the microkernels' unroll
  // and a cache line of floats), so tiles start aligned whenever the matrix does.
  constexpr int64_t kMinRows = 64, kMinCols = 128, kAlign = 16;
  constexpr double kMinWork = double(1 << 23), kMaxWork = double(int64_t(1) << 31);
  const double per_elem = double(std::max<int64_t>(k, 1)) * double(std::max<int64_t>(entries, 1));
  auto half = [](int64_t x) { return std::min(x, (((x + 1) / 2 + kAlign - 1) / kAlign) * kAlign); };
  int64_t rt = m, ct = n;
  for (;;) {
    const double work = double(rt) * double(ct) * per_elem;
    const int64_t tasks = groups * ((m + rt - 1) / rt) * ((n + ct - 1) / ct);
    if ((tasks >= tasks_wanted && work <= kMaxWork) || work / 2 < kMinWork) break;
    const bool rows_ok = rt >= 2 * kMinRows, cols_ok = ct >= 2 * kMinCols;
    if (rows_ok && (rt >= ct || !cols_ok)) rt = half(rt);
    else if (cols_ok) ct = half(ct);
    else break;
  }
  return {rt, ct, (m + rt - 1) / rt, (n + ct - 1) / ct};
}

}  // namespace detail

namespace ref {

// Plain loops: each C row is computed by one thread (rows are independent outputs), summing over
// the group's entries, then p, in a fixed order; float accumulates in double. A thread gets at least
// 2^18 multiply-adds: below that, waking a second thread costs more than it saves (the reference
// path serves the many small products of model tests).
template <class T>
void gemm(const GemmArgs<T>& p) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  if (p.m == 0 || p.n == 0) return;
  const detail::GemmGroups groups = detail::group_by_c(p.batch, p.c_off);
  const int64_t ng = groups.count();
  const int64_t row_work = std::max<int64_t>(1, p.n * std::max<int64_t>(p.k, 1) * std::max<int64_t>(groups.max_size, 1));
  parallel_for(0, ng * p.m, std::max<int64_t>(1, (int64_t(1) << 18) / row_work), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> acc(size_t(p.n));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t g = r / p.m, i = r % p.m;
      std::fill(acc.begin(), acc.end(), Acc(0));
      for (int64_t s = groups.starts[size_t(g)]; s < groups.starts[size_t(g + 1)]; ++s) {
        const int64_t e = groups.order[size_t(s)];
        const T* a = p.a + detail::off_of(p.a_off, e) + i * p.a_rs;
        const T* b = p.b + detail::off_of(p.b_off, e);
        for (int64_t q = 0; q < p.k; ++q) {
          const Acc aq = Acc(a[q * p.a_cs]);
          const T* brow = b + q * p.b_rs;
          for (int64_t j = 0; j < p.n; ++j) acc[size_t(j)] += aq * Acc(brow[j * p.b_cs]);
        }
      }
      const int64_t e0 = groups.order[size_t(groups.starts[size_t(g)])];
      T* c = p.c + detail::off_of(p.c_off, e0) + i * p.c_rs;
      for (int64_t j = 0; j < p.n; ++j) {
        T& cj = c[j * p.c_cs];
        cj = p.accumulate ? T(Acc(cj) + acc[size_t(j)]) : T(acc[size_t(j)]);
      }
    }
  });
}

}  // namespace ref

namespace fast {
// OpenBLAS; see the top of this file for layouts and threads. Same contract as ref::gemm.
void gemm(const GemmArgs<float>& p);
void gemm(const GemmArgs<double>& p);
}  // namespace fast

}  // namespace attn::kernels
