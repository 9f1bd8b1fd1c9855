// fast::gemm: batched strided GEMM on OpenBLAS. Layout and threading rules are in kernels/gemm.h.
#include <cblas.h>
#include <omp.h>

#include <cstring>

#include "kernels/gemm.h"

namespace attn::kernels::fast {
namespace {

inline void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(m), blasint(n),
              blasint(k), 1.0f, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}
inline void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
                      int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(m), blasint(n),
              blasint(k), 1.0, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}

// y = op(M) x + beta y, M row-major rows x cols (ld), op = transpose when `trans`.
inline void blas_gemv(bool trans, int64_t rows, int64_t cols, const float* m, int64_t ld, const float* x, int64_t incx,
                      float beta, float* y) {
  cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasint(rows), blasint(cols), 1.0f, m, blasint(ld), x,
              blasint(incx), beta, y, 1);
}
inline void blas_gemv(bool trans, int64_t rows, int64_t cols, const double* m, int64_t ld, const double* x,
                      int64_t incx, double beta, double* y) {
  cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasint(rows), blasint(cols), 1.0, m, blasint(ld), x,
              blasint(incx), beta, y, 1);
}
// C += x y^T, C row-major m x n (ld).
inline void blas_ger(int64_t m, int64_t n, const float* x, int64_t incx, const float* y, int64_t incy, float* c,
                     int64_t ld) {
  cblas_sger(CblasRowMajor, blasint(m), blasint(n), 1.0f, x, blasint(incx), y, blasint(incy), c, blasint(ld));
}
inline void blas_ger(int64_t m, int64_t n, const double* x, int64_t incx, const double* y, int64_t incy, double* c,
                     int64_t ld) {
  cblas_dger(CblasRowMajor, blasint(m), blasint(n), 1.0, x, blasint(incx), y, blasint(incy), c, blasint(ld));
}

// Copies a rows x cols strided matrix into `buf` row-major (ld = max(1, cols)).
template <class T>
const T* pack(int64_t rows, int64_t cols, const T* x, int64_t rs, int64_t cs, std::vector<T>& buf) {
  buf.resize(size_t(rows * cols));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) buf[size_t(i * cols + j)] = x[i * rs + j * cs];
  return buf.data();
}

// Scratch reused by one thread across the entries it runs.
template <class T>
struct Scratch {
  std::vector<T> a, b, c;
};

// C (m x n, strides c_rs, c_cs) = A @ B + beta * C for one entry; beta is 0 or 1.
template <class T>
void one_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
              int64_t b_cs, T beta, T* c, int64_t c_rs, int64_t c_cs, Scratch<T>& s) {
  if (m == 0 || n == 0) return;
  const BlasLayout lc = blas_layout(m, n, c_rs, c_cs);
  if (lc.ok && lc.trans) {
    // C is column-major: compute C^T (n x m, row-major) = B^T @ A^T instead of copying C.
    return one_gemm(n, m, k, b, b_cs, b_rs, a, a_cs, a_rs, beta, c, c_cs, c_rs, s);
  }
  if (!lc.ok) {
    // C has a layout BLAS cannot write (e.g. a strided view): work in a row-major scratch.
    std::vector<T>& cbuf = s.c;  // the nested call below writes a row-major C, so never uses s.c
    cbuf.assign(size_t(m * n), T(0));
    if (beta != T(0))
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) cbuf[size_t(i * n + j)] = c[i * c_rs + j * c_cs];
    one_gemm(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, beta, cbuf.data(), n, int64_t(1), s);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * c_rs + j * c_cs] = cbuf[size_t(i * n + j)];
    return;
  }
  if (k == 0) {  // an empty sum: C = beta * C; BLAS would also demand lda >= 1 for a 0-wide A
    if (beta == T(0))
      for (int64_t i = 0; i < m; ++i) std::memset(c + i * lc.ld, 0, size_t(n) * sizeof(T));
    return;
  }
  BlasLayout la = blas_layout(m, k, a_rs, a_cs), lb = blas_layout(k, n, b_rs, b_cs);
  // One row of C (a batch-1 linear layer and its input gradient) is a matrix-vector product, and
  // a one-deep sum (its weight gradient) an outer product: GEMV / GER skip the packing and the
  // zero-filled panels SGEMM spends most of its time on at these shapes (4x on a 1 x 256 x 2796
  // output layer). Each element is still summed by one call in a fixed order.
  if (m == 1 && lb.ok && a_cs >= 1) {
    // c = a B: with B row-major (k x n) that is B^T a; with B stored transposed (n x k) it is B a.
    if (lb.trans)
      blas_gemv(false, n, k, b, lb.ld, a, a_cs, beta, c);
    else
      blas_gemv(true, k, n, b, lb.ld, a, a_cs, beta, c);
    return;
  }
  if (k == 1 && a_rs >= 1 && b_cs >= 1) {
    if (beta == T(0)) {
      // C = a b^T written in one pass (a zero fill and then GER pass over C twice). 0 + a_i b_j
      // is what GER adds to the zeros, so the bits are the same (a -0 product included).
      for (int64_t i = 0; i < m; ++i) {
        const T ai = a[i * a_rs];
        T* __restrict ci = c + i * lc.ld;
        if (b_cs == 1) {
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) ci[j] = T(0) + ai * b[j];
        } else {
          for (int64_t j = 0; j < n; ++j) ci[j] = T(0) + ai * b[j * b_cs];
        }
      }
      return;
    }
    blas_ger(m, n, a, a_rs, b, b_cs, c, lc.ld);
    return;
  }
  if (!la.ok) {
    a = pack(m, k, a, a_rs, a_cs, s.a);
    la = {true, false, k};
  }
  if (!lb.ok) {
    b = pack(k, n, b, b_rs, b_cs, s.b);
    lb = {true, false, n};
  }
  blas_gemm(la.trans, lb.trans, m, n, k, a, la.ld, b, lb.ld, beta, c, lc.ld);
}

// Runs OpenBLAS on the calling thread for the scope. OpenBLAS's OpenMP build (0.3.21) sizes
// each call by the caller's omp_get_max_threads(), and runs serially inside an active parallel
// region. A chunk that parallel_for_blas runs inline (one thread's worth of work) is outside any region,
// so its OpenMP thread count is lowered to 1 for the calls and restored after; that count is an
// ICV of the calling task only, so no other thread sees the change.
class SerialBlas {
 public:
  SerialBlas() : prev_(omp_in_parallel() ? 1 : omp_get_max_threads()) {
    if (prev_ > 1) omp_set_num_threads(1);
  }
  ~SerialBlas() {
    if (prev_ > 1) omp_set_num_threads(prev_);
  }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int prev_;
};

template <class T>
void gemm_impl(const GemmArgs<T>& p) {
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  const detail::GemmGroups groups = detail::group_by_c(p.batch, p.c_off);
  const detail::GemmTiling tiles = detail::gemm_tiling(p.m, p.n, p.k, groups.max_size, groups.count());
  const int64_t ng = groups.count(), nt = tiles.count();
  // One task = one tile of one output matrix: all entries of its group, summed in entry order.
  auto run_task = [&](int64_t task, Scratch<T>& s) {
    const int64_t g = task / nt, ti = (task % nt) / tiles.col_tiles, tj = task % tiles.col_tiles;
    const int64_t i0 = ti * tiles.rows_per_tile, j0 = tj * tiles.cols_per_tile;
    const int64_t mt = std::min(tiles.rows_per_tile, p.m - i0), ntl = std::min(tiles.cols_per_tile, p.n - j0);
    bool first = true;
    for (int64_t i = groups.starts[size_t(g)]; i < groups.starts[size_t(g + 1)]; ++i) {
      const int64_t e = groups.order[size_t(i)];
      const T beta = (first && !p.accumulate) ? T(0) : T(1);  // later entries of a group sum into C
      one_gemm(mt, ntl, p.k, p.a + detail::off_of(p.a_off, e) + i0 * p.a_rs, p.a_rs, p.a_cs,
               p.b + detail::off_of(p.b_off, e) + j0 * p.b_cs, p.b_rs, p.b_cs, beta,
               p.c + detail::off_of(p.c_off, e) + i0 * p.c_rs + j0 * p.c_cs, p.c_rs, p.c_cs, s);
      first = false;
    }
  };
  const double task_work = double(tiles.rows_per_tile) * double(tiles.cols_per_tile) *
                           double(std::max<int64_t>(p.k, 1)) * double(groups.max_size);
  // Several small tasks per chunk, so a thread's share is worth a fork (~2^18 multiply-adds).
  const int64_t grain = std::max<int64_t>(1, int64_t(double(1 << 18) / task_work));
  parallel_for_blas(0, ng * nt, grain, [&](int64_t t0, int64_t t1) {
    SerialBlas serial;
    Scratch<T> s;
    for (int64_t t = t0; t < t1; ++t) run_task(t, s);
  });
}

}  // namespace

void gemm(const GemmArgs<float>& p) { gemm_impl(p); }
void gemm(const GemmArgs<double>& p) { gemm_impl(p); }

}  // namespace attn::kernels::fast
