// Highway SIMD layer norm, forward and fused backward (see kernels/layer_norm.h for the contract).
//
// Forward, per row (parallel over rows): pass 1 sums x (in double lanes), pass 2 sums
// (x - mean)^2 (two passes rather than sum of squares, which cancels catastrophically when
// |mean| >> std), pass 3 writes (x - mean) * rstd * w + b. The mean is kept as hi + lo in T so that
// x - mean stays accurate for float32 rows far from zero; four independent accumulators hide latency.
//
// Backward: rows are cut into fixed blocks (size from the shape only). Each block, on one thread,
// computes dx for its rows and adds dy * xhat and dy into its own partial dw / db rows, fused into
// the pass that already loads dy and x. A second parallel loop over columns adds the partials in
// block order, in double. So dw / db are deterministic and need no atomics or locks.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/layer_norm.cc"
#include <vector>

#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/layer_norm.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)); }

// Loads Lanes(dd) elements at p as doubles (a promotion for float, a plain load for double).
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const float* HWY_RESTRICT p) {
  const hn::Rebind<float, DD> df;
  return hn::PromoteTo(dd, hn::LoadU(df, p));
}
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const double* HWY_RESTRICT p) {
  return hn::LoadU(dd, p);
}

// sum_j x_j over a contiguous row, accumulated in double: the mean is then accurate to double
// precision and split into hi + lo parts of T (see ForwardT).
template <class T>
HWY_INLINE double RowSumDouble(const T* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<double> dd;
  const int64_t L = int64_t(hn::Lanes(dd));
  auto a0 = hn::Zero(dd), a1 = a0, a2 = a0, a3 = a0;
  int64_t j = 0;
  for (; j + 4 * L <= n; j += 4 * L) {
    a0 = hn::Add(a0, LoadAsDouble(dd, x + j));
    a1 = hn::Add(a1, LoadAsDouble(dd, x + j + L));
    a2 = hn::Add(a2, LoadAsDouble(dd, x + j + 2 * L));
    a3 = hn::Add(a3, LoadAsDouble(dd, x + j + 3 * L));
  }
  for (; j + L <= n; j += L) a0 = hn::Add(a0, LoadAsDouble(dd, x + j));
  double s = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; j < n; ++j) s += double(x[j]);
  return s;
}

// sum_j (x_j - mu)^2 over a contiguous row, with mu = hi + lo and x - mu taken as (x - hi) - lo.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowSquaredDev(D d, const T* HWY_RESTRICT x, int64_t n, T hi, T lo) {
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vh = hn::Set(d, hi), vl = hn::Set(d, lo);
  auto a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0;
  int64_t j = 0;
  for (; j + 4 * L <= n; j += 4 * L) {
    const auto t0 = hn::Sub(hn::Sub(hn::LoadU(d, x + j), vh), vl);
    const auto t1 = hn::Sub(hn::Sub(hn::LoadU(d, x + j + L), vh), vl);
    const auto t2 = hn::Sub(hn::Sub(hn::LoadU(d, x + j + 2 * L), vh), vl);
    const auto t3 = hn::Sub(hn::Sub(hn::LoadU(d, x + j + 3 * L), vh), vl);
    a0 = hn::MulAdd(t0, t0, a0);
    a1 = hn::MulAdd(t1, t1, a1);
    a2 = hn::MulAdd(t2, t2, a2);
    a3 = hn::MulAdd(t3, t3, a3);
  }
  for (; j + L <= n; j += L) {
    const auto t = hn::Sub(hn::Sub(hn::LoadU(d, x + j), vh), vl);
    a0 = hn::MulAdd(t, t, a0);
  }
  T s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; j < n; ++j) s += ((x[j] - hi) - lo) * ((x[j] - hi) - lo);
  return s;
}

// y = (x - mu) * rs * w + b; kW / kB select whether w / b exist, so the loop has no branches.
template <bool kW, bool kB, class D, class T = hn::TFromD<D>>
HWY_INLINE void NormalizeRow(D d, const T* HWY_RESTRICT x, const T* HWY_RESTRICT w, const T* HWY_RESTRICT b,
                             int64_t n, T hi, T lo, T rs, T* HWY_RESTRICT y) {
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vh = hn::Set(d, hi), vl = hn::Set(d, lo), vr = hn::Set(d, rs);
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    auto v = hn::Mul(hn::Sub(hn::Sub(hn::LoadU(d, x + j), vh), vl), vr);
    if constexpr (kW && kB) v = hn::MulAdd(v, hn::LoadU(d, w + j), hn::LoadU(d, b + j));
    else if constexpr (kW) v = hn::Mul(v, hn::LoadU(d, w + j));
    else if constexpr (kB) v = hn::Add(v, hn::LoadU(d, b + j));
    hn::StoreU(v, d, y + j);
  }
  for (; j < n; ++j) {
    T v = ((x[j] - hi) - lo) * rs;
    if constexpr (kW) v *= w[j];
    if constexpr (kB) v += b[j];
    y[j] = v;
  }
}

template <class T>
void ForwardT(const T* x, const T* w, const T* b, int64_t rows, int64_t n, double eps, T* y, T* mean, T* rstd) {
  const hn::ScalableTag<T> d;
  parallel_for(0, rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      // The mean in double, split as hi + lo: for float32 rows with |mean| >> std, rounding the mean
      // to float would shift every xhat by up to half an ulp of the mean over std.
      const double mu = RowSumDouble(xr, n) / double(n);
      const T hi = T(mu), lo = T(mu - double(hi));
      const T var = RowSquaredDev(d, xr, n, hi, lo) / T(n);
      const T rs = T(1.0 / std::sqrt(double(var) + eps));
      if (w && b) NormalizeRow<true, true>(d, xr, w, b, n, hi, lo, rs, yr);
      else if (w) NormalizeRow<true, false>(d, xr, w, b, n, hi, lo, rs, yr);
      else if (b) NormalizeRow<false, true>(d, xr, w, b, n, hi, lo, rs, yr);
      else NormalizeRow<false, false>(d, xr, w, b, n, hi, lo, rs, yr);
      mean[r] = hi;
      rstd[r] = rs;
    }
  });
}

// Backward for R consecutive rows (R = 1 or 2; rows are n apart). Pass 1, per row:
// a = sum(gw), c = sum(gw * xhat); and (kAcc) pw += sum over the R rows of dy * xhat, pb += dy,
// so the partial dw / db rows are loaded and stored once per R rows. Pass 2, per row:
// dx = (gw - a/n) * rs - xhat * (c/n * rs).
template <int R, bool kW, bool kAcc, class D, class T = hn::TFromD<D>>
HWY_INLINE void BackwardRows(D d, const T* HWY_RESTRICT g, const T* HWY_RESTRICT x, const T* HWY_RESTRICT w, int64_t n,
                             const T* mu, const T* rs, T* HWY_RESTRICT dx, T* HWY_RESTRICT pw, T* HWY_RESTRICT pb) {
  using V = hn::Vec<D>;
  const int64_t L = int64_t(hn::Lanes(d));
  V vm[R], vr[R], va[R], vc[R];
  for (int q = 0; q < R; ++q) vm[q] = hn::Set(d, mu[q]), vr[q] = hn::Set(d, rs[q]), va[q] = hn::Zero(d), vc[q] = va[q];
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    V wv = hn::Zero(d);
    if constexpr (kW) wv = hn::LoadU(d, w + j);
    V sgx = hn::Zero(d), sg = hn::Zero(d);
    for (int q = 0; q < R; ++q) {
      const V gv = hn::LoadU(d, g + q * n + j);
      const V xh = hn::Mul(hn::Sub(hn::LoadU(d, x + q * n + j), vm[q]), vr[q]);
      const V gw = kW ? hn::Mul(gv, wv) : gv;
      va[q] = hn::Add(va[q], gw);
      vc[q] = hn::MulAdd(gw, xh, vc[q]);
      if constexpr (kAcc) {
        sgx = hn::MulAdd(gv, xh, sgx);
        sg = hn::Add(sg, gv);
      }
    }
    if constexpr (kAcc) {
      hn::StoreU(hn::Add(hn::LoadU(d, pw + j), sgx), d, pw + j);
      hn::StoreU(hn::Add(hn::LoadU(d, pb + j), sg), d, pb + j);
    }
  }
  T a[R], c[R];
  for (int q = 0; q < R; ++q) {
    a[q] = hn::GetLane(hn::SumOfLanes(d, va[q]));
    c[q] = hn::GetLane(hn::SumOfLanes(d, vc[q]));
  }
  for (; j < n; ++j) {
    T sgx = 0, sg = 0;
    for (int q = 0; q < R; ++q) {
      const T gq = g[q * n + j];
      const T xh = (x[q * n + j] - mu[q]) * rs[q];
      const T gw = kW ? gq * w[j] : gq;
      a[q] += gw;
      c[q] += gw * xh;
      sgx += gq * xh;
      sg += gq;
    }
    if constexpr (kAcc) {
      pw[j] += sgx;
      pb[j] += sg;
    }
  }
  if (!dx) return;
  for (int q = 0; q < R; ++q) {
    const T* gq = g + q * n;
    const T* xq = x + q * n;
    T* dq = dx + q * n;
    const T ma = a[q] / T(n), k = c[q] / T(n) * rs[q];
    const V vma = hn::Set(d, ma), vk = hn::Set(d, k);
    for (j = 0; j + L <= n; j += L) {
      const V gv = hn::LoadU(d, gq + j);
      const V xh = hn::Mul(hn::Sub(hn::LoadU(d, xq + j), vm[q]), vr[q]);
      V gw = gv;
      if constexpr (kW) gw = hn::Mul(gv, hn::LoadU(d, w + j));
      hn::StoreU(hn::NegMulAdd(xh, vk, hn::Mul(hn::Sub(gw, vma), vr[q])), d, dq + j);
    }
    for (; j < n; ++j) {
      const T xh = (xq[j] - mu[q]) * rs[q];
      const T gw = kW ? gq[j] * w[j] : gq[j];
      dq[j] = (gw - ma) * rs[q] - xh * k;
    }
  }
}

// Dispatches the four (weight?, accumulate?) variants of BackwardRows.
template <int R, class D, class T = hn::TFromD<D>>
HWY_INLINE void BackwardRowsAny(D d, const T* g, const T* x, const T* w, int64_t n, const T* mu, const T* rs, T* dx,
                                T* pw, T* pb) {
  if (w && pw) BackwardRows<R, true, true>(d, g, x, w, n, mu, rs, dx, pw, pb);
  else if (w) BackwardRows<R, true, false>(d, g, x, w, n, mu, rs, dx, pw, pb);
  else if (pw) BackwardRows<R, false, true>(d, g, x, w, n, mu, rs, dx, pw, pb);
  else BackwardRows<R, false, false>(d, g, x, w, n, mu, rs, dx, pw, pb);
}

template <class T>
void BackwardT(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t rows, int64_t n, T* dx,
               T* dw, T* db) {
  const hn::ScalableTag<T> d;
  const bool acc = dw || db;
  // Fixed row blocks: at most 256 partial rows, at least 16 rows per block.
  const int64_t block = std::max<int64_t>(16, (rows + 255) / 256);
  const int64_t nblk = (rows + block - 1) / block;
  std::vector<T> partial(acc ? size_t(2 * nblk * n) : 0, T(0));
  parallel_for(0, nblk, std::max<int64_t>(1, row_grain(n) / block), [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      T* pw = acc ? partial.data() + 2 * blk * n : nullptr;
      T* pb = acc ? pw + n : nullptr;
      // Rows in pairs (the partial dw / db rows are touched once per pair), then a last single row.
      const int64_t r_end = std::min(rows, (blk + 1) * block);
      int64_t r = blk * block;
      for (; r + 2 <= r_end; r += 2)
        BackwardRowsAny<2>(d, g + r * n, x + r * n, w, n, mean + r, rstd + r, dx ? dx + r * n : nullptr, pw, pb);
      if (r < r_end)
        BackwardRowsAny<1>(d, g + r * n, x + r * n, w, n, mean + r, rstd + r, dx ? dx + r * n : nullptr, pw, pb);
    }
  });
  if (!acc) return;
  constexpr int64_t kCols = 256;
  parallel_for(0, (n + kCols - 1) / kCols, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t j0 = c * kCols, w_ = std::min(kCols, n - j0);
      double sw[kCols] = {}, sb[kCols] = {};
      for (int64_t blk = 0; blk < nblk; ++blk) {
        const T* pw = partial.data() + 2 * blk * n + j0;
        const T* pb = pw + n;
        for (int64_t j = 0; j < w_; ++j) {
          sw[j] += double(pw[j]);
          sb[j] += double(pb[j]);
        }
      }
      for (int64_t j = 0; j < w_; ++j) {
        if (dw) dw[j0 + j] = T(sw[j]);
        if (db) db[j0 + j] = T(sb[j]);
      }
    }
  });
}

void ForwardF32(const float* x, const float* w, const float* b, int64_t rows, int64_t n, double eps, float* y,
                float* mean, float* rstd) {
  ForwardT(x, w, b, rows, n, eps, y, mean, rstd);
}
void ForwardF64(const double* x, const double* w, const double* b, int64_t rows, int64_t n, double eps, double* y,
                double* mean, double* rstd) {
  ForwardT(x, w, b, rows, n, eps, y, mean, rstd);
}
void BackwardF32(const float* g, const float* x, const float* mean, const float* rstd, const float* w, int64_t rows,
                 int64_t n, float* dx, float* dw, float* db) {
  BackwardT(g, x, mean, rstd, w, rows, n, dx, dw, db);
}
void BackwardF64(const double* g, const double* x, const double* mean, const double* rstd, const double* w,
                 int64_t rows, int64_t n, double* dx, double* dw, double* db) {
  BackwardT(g, x, mean, rstd, w, rows, n, dx, dw, db);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(ForwardF32);
HWY_EXPORT(ForwardF64);
HWY_EXPORT(BackwardF32);
HWY_EXPORT(BackwardF64);
namespace fast {
void layer_norm_forward(const float* x, const float* w, const float* b, int64_t rows, int64_t n, double eps, float* y,
                        float* mean, float* rstd) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(x, w, b, rows, n, eps, y, mean, rstd);
}
void layer_norm_forward(const double* x, const double* w, const double* b, int64_t rows, int64_t n, double eps,
                        double* y, double* mean, double* rstd) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(x, w, b, rows, n, eps, y, mean, rstd);
}
void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* w,
                         int64_t rows, int64_t n, float* dx, float* dw, float* db) {
  HWY_DYNAMIC_DISPATCH(BackwardF32)(dy, x, mean, rstd, w, rows, n, dx, dw, db);
}
void layer_norm_backward(const double* dy, const double* x, const double* mean, const double* rstd, const double* w,
                         int64_t rows, int64_t n, double* dx, double* dw, double* db) {
  HWY_DYNAMIC_DISPATCH(BackwardF64)(dy, x, mean, rstd, w, rows, n, dx, dw, db);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
