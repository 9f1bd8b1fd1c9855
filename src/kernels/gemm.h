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
// per (output matrix, tile of C), with tiles chosen from the shape alone (about 16M multiply-adds
// each, never below 64 x 128), and runs the tasks under parallel_for; each task is one or more
// single-threaded BLAS calls. Why not OpenBLAS's own threads: its threaded driver blocks k
// differently from its serial one, so results changed with the thread count (seen here on
// OpenBLAS 0.3.21), and attn's rule is that they do not; and a BLAS call made from inside our
// parallel_for must not start threads of its own. OpenBLAS's OpenMP build runs serially inside
// an active OpenMP region and otherwise takes the caller's omp_get_max_threads(); so a chunk run
// inline lowers that (task-local) count to 1 around its calls and restores it. fast:: never calls
// openblas_set_num_threads per call: that writes OpenBLAS's process-wide count, racing other threads.
// Every element of C is thus computed by the same BLAS call for any thread count: bitwise equal.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
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
}  // namespace detail

namespace ref {

// Plain loops: each C row is computed by one thread (rows are independent outputs), summing over
// the group's entries, then p, in a fixed order; float accumulates in double.
template <class T>
void gemm(const GemmArgs<T>& p) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  if (p.m == 0 || p.n == 0) return;
  const detail::GemmGroups groups = detail::group_by_c(p.batch, p.c_off);
  const int64_t ng = groups.count();
  const int64_t row_work = std::max<int64_t>(1, p.n * std::max<int64_t>(p.k, 1) * std::max<int64_t>(groups.max_size, 1));
  parallel_for(0, ng * p.m, std::max<int64_t>(1, 32768 / row_work), [&](int64_t r0, int64_t r1) {
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
