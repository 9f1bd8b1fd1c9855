// Highway SIMD softmax / log_softmax (see kernels/softmax.h for the contract). Compiled once per
// SIMD target by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target at the first call.
//
// Rows (inner == 1): three passes over a row that normally sits in L1 — max; exp(x - max) stored
// and summed (fused); scale by 1 / sum (log_softmax: x - (max + log sum), nothing stored in pass 2).
// Columns (inner > 1): the same three passes, but each pass streams through whole contiguous rows
// of a block of up to kColBlock columns, with per-column max / sum held in small arrays, so memory
// is read sequentially and the SIMD lanes run across columns.
//
// Non-finite lines: x86 Max does not propagate NaN, and hwy's Exp maps NaN to 0, so a NaN could
// vanish silently. Pass 2 therefore also sums t = x - max; that sum is NaN exactly when the line
// holds a NaN (every other t is <= 0 or -inf). Such lines, and lines whose max is +-inf, are redone
// by the scalar reference, which gives PyTorch's all-NaN result. The check costs one add per vector.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/softmax.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/softmax.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Columns per work item in the inner > 1 path: a multiple of every lane count, and small enough
// that the per-column max / sum arrays stay in L1.
constexpr int64_t kColBlock = 256;
// Column sums are two-level: rows are summed in blocks of kSumRows, then the block sums are added,
// which keeps float rounding at ~(kSumRows + n / kSumRows) ulp instead of ~n for long columns.
constexpr int64_t kSumRows = 64;

// total[j] += part[j]; part[j] = 0 for j < w.
template <class T>
HWY_INLINE void FlushColumnSums(T* HWY_RESTRICT part, T* HWY_RESTRICT total, int64_t w) {
  for (int64_t j = 0; j < w; ++j) {
    total[j] += part[j];
    part[j] = 0;
  }
}

// Max of a contiguous row (NaN handling: see the file comment). Four accumulators hide Max latency.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowMax(D d, const T* HWY_RESTRICT x, int64_t n) {
  const int64_t L = int64_t(hn::Lanes(d));
  auto m0 = hn::Set(d, -std::numeric_limits<T>::infinity()), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    m0 = hn::Max(m0, hn::LoadU(d, x + i));
    m1 = hn::Max(m1, hn::LoadU(d, x + i + L));
    m2 = hn::Max(m2, hn::LoadU(d, x + i + 2 * L));
    m3 = hn::Max(m3, hn::LoadU(d, x + i + 3 * L));
  }
  for (; i + L <= n; i += L) m0 = hn::Max(m0, hn::LoadU(d, x + i));
  T m = hn::GetLane(hn::MaxOfLanes(d, hn::Max(hn::Max(m0, m1), hn::Max(m2, m3))));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class D, class T = hn::TFromD<D>>
HWY_INLINE void SoftmaxRow(D d, const T* HWY_RESTRICT x, int64_t n, bool log, T* HWY_RESTRICT y) {
  if (n == 0) return;
  const int64_t L = int64_t(hn::Lanes(d));
  const T m = RowMax(d, x, n);
  if (!std::isfinite(m)) return ref::softmax_line(x, n, 1, log, y);
  const auto vm = hn::Set(d, m);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), chk = hn::Zero(d);
  int64_t i = 0;
  // Pass 2: t = x - m, e = exp(t); softmax stores e for pass 3. Two independent chains per step.
  if (log) {
    for (; i + 2 * L <= n; i += 2 * L) {
      const auto t0 = hn::Sub(hn::LoadU(d, x + i), vm), t1 = hn::Sub(hn::LoadU(d, x + i + L), vm);
      chk = hn::Add(chk, hn::Add(t0, t1));
      s0 = hn::Add(s0, hn::Exp(d, t0));
      s1 = hn::Add(s1, hn::Exp(d, t1));
    }
    for (; i + L <= n; i += L) {
      const auto t = hn::Sub(hn::LoadU(d, x + i), vm);
      chk = hn::Add(chk, t);
      s0 = hn::Add(s0, hn::Exp(d, t));
    }
  } else {
    for (; i + 2 * L <= n; i += 2 * L) {
      const auto t0 = hn::Sub(hn::LoadU(d, x + i), vm), t1 = hn::Sub(hn::LoadU(d, x + i + L), vm);
      chk = hn::Add(chk, hn::Add(t0, t1));
      const auto e0 = hn::Exp(d, t0), e1 = hn::Exp(d, t1);
      hn::StoreU(e0, d, y + i);
      hn::StoreU(e1, d, y + i + L);
      s0 = hn::Add(s0, e0);
      s1 = hn::Add(s1, e1);
    }
    for (; i + L <= n; i += L) {
      const auto t = hn::Sub(hn::LoadU(d, x + i), vm);
      chk = hn::Add(chk, t);
      const auto e = hn::Exp(d, t);
      hn::StoreU(e, d, y + i);
      s0 = hn::Add(s0, e);
    }
  }
  T sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  T c = hn::GetLane(hn::SumOfLanes(d, chk));
  for (; i < n; ++i) {  // scalar tail
    const T t = x[i] - m;
    c += t;
    const T e = std::exp(t);
    if (!log) y[i] = e;
    sum += e;
  }
  if (c != c) return ref::softmax_line(x, n, 1, log, y);  // a NaN hid from Max
  // Pass 3.
  i = 0;
  if (log) {
    const T shift = m + std::log(sum);
    const auto vs = hn::Set(d, shift);
    for (; i + L <= n; i += L) hn::StoreU(hn::Sub(hn::LoadU(d, x + i), vs), d, y + i);
    for (; i < n; ++i) y[i] = x[i] - shift;
  } else {
    const T inv = T(1) / sum;
    const auto vi = hn::Set(d, inv);
    for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(d, y + i), vi), d, y + i);
    for (; i < n; ++i) y[i] *= inv;
  }
}

// Columns [0, w) of one outer slice: x, y point at element [o, 0, j0]; rows are `inner` apart.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE void SoftmaxCols(D d, const T* HWY_RESTRICT x, int64_t n, int64_t inner, int64_t w, bool log,
                            T* HWY_RESTRICT y) {
  const int64_t L = int64_t(hn::Lanes(d));
  HWY_ALIGN T m[kColBlock];
  HWY_ALIGN T s[kColBlock];
  HWY_ALIGN T c[kColBlock];
  HWY_ALIGN T total[kColBlock];
  const int64_t wv = w - w % L;  // columns handled by full vectors
  for (int64_t j = 0; j < w; ++j) m[j] = -std::numeric_limits<T>::infinity(), s[j] = 0, c[j] = 0, total[j] = 0;
  for (int64_t k = 0; k < n; ++k) {  // pass 1: column max
    const T* xr = x + k * inner;
    int64_t j = 0;
    for (; j < wv; j += L) hn::Store(hn::Max(hn::Load(d, m + j), hn::LoadU(d, xr + j)), d, m + j);
    for (; j < w; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
  }
  for (int64_t k = 0; k < n; ++k) {  // pass 2: exp and column sums
    if (k % kSumRows == 0) FlushColumnSums(s, total, w);
    const T* xr = x + k * inner;
    T* yr = y + k * inner;
    int64_t j = 0;
    for (; j < wv; j += L) {
      const auto t = hn::Sub(hn::LoadU(d, xr + j), hn::Load(d, m + j));
      hn::Store(hn::Add(hn::Load(d, c + j), t), d, c + j);
      const auto e = hn::Exp(d, t);
      if (!log) hn::StoreU(e, d, yr + j);
      hn::Store(hn::Add(hn::Load(d, s + j), e), d, s + j);
    }
    for (; j < w; ++j) {
      const T t = xr[j] - m[j];
      c[j] += t;
      const T e = std::exp(t);
      if (!log) yr[j] = e;
      s[j] += e;
    }
  }
  FlushColumnSums(s, total, w);
  // Per-column scale: log_softmax subtracts m + log(sum), softmax multiplies by 1 / sum.
  for (int64_t j = 0; j < w; ++j) s[j] = log ? m[j] + std::log(total[j]) : T(1) / total[j];
  for (int64_t k = 0; k < n; ++k) {  // pass 3
    const T* xr = x + k * inner;
    T* yr = y + k * inner;
    int64_t j = 0;
    if (log) {
      for (; j < wv; j += L) hn::StoreU(hn::Sub(hn::LoadU(d, xr + j), hn::Load(d, s + j)), d, yr + j);
      for (; j < w; ++j) yr[j] = xr[j] - s[j];
    } else {
      for (; j < wv; j += L) hn::StoreU(hn::Mul(hn::LoadU(d, yr + j), hn::Load(d, s + j)), d, yr + j);
      for (; j < w; ++j) yr[j] *= s[j];
    }
  }
  for (int64_t j = 0; j < w; ++j)
    if (!std::isfinite(m[j]) || c[j] != c[j]) ref::softmax_line(x + j, n, inner, log, y + j);
}

template <class T>
void SoftmaxT(const T* x, int64_t outer, int64_t n, int64_t inner, bool log, T* y) {
  const hn::ScalableTag<T> d;
  if (inner == 1) {
    parallel_for(0, outer, softmax_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) SoftmaxRow(d, x + r * n, n, log, y + r * n);
    });
    return;
  }
  const int64_t nblk = (inner + kColBlock - 1) / kColBlock;
  parallel_for(0, outer * nblk, softmax_grain(n * std::min(inner, kColBlock)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblk, j0 = (b % nblk) * kColBlock, w = std::min(kColBlock, inner - j0);
      const int64_t base = o * n * inner + j0;
      SoftmaxCols(d, x + base, n, inner, w, log, y + base);
    }
  });
}

template <class D, class T = hn::TFromD<D>>
HWY_INLINE void SoftmaxBackwardRow(D d, const T* HWY_RESTRICT y, const T* HWY_RESTRICT dy, int64_t n, bool log,
                                   T* HWY_RESTRICT dx) {
  const int64_t L = int64_t(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d);
  int64_t i = 0;
  // Pass 1: softmax needs sum(dy * y), log_softmax sum(dy).
  if (log) {
    for (; i + 2 * L <= n; i += 2 * L) {
      a0 = hn::Add(a0, hn::LoadU(d, dy + i));
      a1 = hn::Add(a1, hn::LoadU(d, dy + i + L));
    }
    for (; i + L <= n; i += L) a0 = hn::Add(a0, hn::LoadU(d, dy + i));
  } else {
    for (; i + 2 * L <= n; i += 2 * L) {
      a0 = hn::MulAdd(hn::LoadU(d, dy + i), hn::LoadU(d, y + i), a0);
      a1 = hn::MulAdd(hn::LoadU(d, dy + i + L), hn::LoadU(d, y + i + L), a1);
    }
    for (; i + L <= n; i += L) a0 = hn::MulAdd(hn::LoadU(d, dy + i), hn::LoadU(d, y + i), a0);
  }
  T acc = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  for (; i < n; ++i) acc += log ? dy[i] : dy[i] * y[i];
  // Pass 2.
  const auto va = hn::Set(d, acc);
  i = 0;
  if (log) {  // dx = dy - exp(y) * sum(dy)
    for (; i + L <= n; i += L)
      hn::StoreU(hn::NegMulAdd(hn::Exp(d, hn::LoadU(d, y + i)), va, hn::LoadU(d, dy + i)), d, dx + i);
    for (; i < n; ++i) dx[i] = dy[i] - std::exp(y[i]) * acc;
  } else {  // dx = y * (dy - sum(dy * y))
    for (; i + L <= n; i += L)
      hn::StoreU(hn::Mul(hn::LoadU(d, y + i), hn::Sub(hn::LoadU(d, dy + i), va)), d, dx + i);
    for (; i < n; ++i) dx[i] = y[i] * (dy[i] - acc);
  }
}

template <class D, class T = hn::TFromD<D>>
HWY_INLINE void SoftmaxBackwardCols(D d, const T* HWY_RESTRICT y, const T* HWY_RESTRICT dy, int64_t n,
                                    int64_t inner, int64_t w, bool log, T* HWY_RESTRICT dx) {
  const int64_t L = int64_t(hn::Lanes(d));
  HWY_ALIGN T a[kColBlock];
  HWY_ALIGN T total[kColBlock];
  const int64_t wv = w - w % L;
  for (int64_t j = 0; j < w; ++j) a[j] = 0, total[j] = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (k % kSumRows == 0) FlushColumnSums(a, total, w);
    const T* yr = y + k * inner;
    const T* gr = dy + k * inner;
    int64_t j = 0;
    if (log) {
      for (; j < wv; j += L) hn::Store(hn::Add(hn::Load(d, a + j), hn::LoadU(d, gr + j)), d, a + j);
      for (; j < w; ++j) a[j] += gr[j];
    } else {
      for (; j < wv; j += L)
        hn::Store(hn::MulAdd(hn::LoadU(d, gr + j), hn::LoadU(d, yr + j), hn::Load(d, a + j)), d, a + j);
      for (; j < w; ++j) a[j] += gr[j] * yr[j];
    }
  }
  FlushColumnSums(a, total, w);
  for (int64_t j = 0; j < w; ++j) a[j] = total[j];
  for (int64_t k = 0; k < n; ++k) {
    const T* yr = y + k * inner;
    const T* gr = dy + k * inner;
    T* xr = dx + k * inner;
    int64_t j = 0;
    if (log) {
      for (; j < wv; j += L)
        hn::StoreU(hn::NegMulAdd(hn::Exp(d, hn::LoadU(d, yr + j)), hn::Load(d, a + j), hn::LoadU(d, gr + j)), d,
                   xr + j);
      for (; j < w; ++j) xr[j] = gr[j] - std::exp(yr[j]) * a[j];
    } else {
      for (; j < wv; j += L)
        hn::StoreU(hn::Mul(hn::LoadU(d, yr + j), hn::Sub(hn::LoadU(d, gr + j), hn::Load(d, a + j))), d, xr + j);
      for (; j < w; ++j) xr[j] = yr[j] * (gr[j] - a[j]);
    }
  }
}

template <class T>
void SoftmaxBackwardT(const T* y, const T* dy, int64_t outer, int64_t n, int64_t inner, bool log, T* dx) {
  const hn::ScalableTag<T> d;
  if (inner == 1) {
    parallel_for(0, outer, softmax_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) SoftmaxBackwardRow(d, y + r * n, dy + r * n, n, log, dx + r * n);
    });
    return;
  }
  const int64_t nblk = (inner + kColBlock - 1) / kColBlock;
  parallel_for(0, outer * nblk, softmax_grain(n * std::min(inner, kColBlock)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblk, j0 = (b % nblk) * kColBlock, w = std::min(kColBlock, inner - j0);
      const int64_t base = o * n * inner + j0;
      SoftmaxBackwardCols(d, y + base, dy + base, n, inner, w, log, dx + base);
    }
  });
}

void SoftmaxF32(const float* x, int64_t outer, int64_t n, int64_t inner, bool log, float* y) {
  SoftmaxT(x, outer, n, inner, log, y);
}
void SoftmaxF64(const double* x, int64_t outer, int64_t n, int64_t inner, bool log, double* y) {
  SoftmaxT(x, outer, n, inner, log, y);
}
void SoftmaxBackwardF32(const float* y, const float* dy, int64_t outer, int64_t n, int64_t inner, bool log, float* dx) {
  SoftmaxBackwardT(y, dy, outer, n, inner, log, dx);
}
void SoftmaxBackwardF64(const double* y, const double* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                        double* dx) {
  SoftmaxBackwardT(y, dy, outer, n, inner, log, dx);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(SoftmaxF64);
HWY_EXPORT(SoftmaxBackwardF32);
HWY_EXPORT(SoftmaxBackwardF64);
namespace fast {
void softmax(const float* x, int64_t outer, int64_t n, int64_t inner, bool log, float* y) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF32)(x, outer, n, inner, log, y);
}
void softmax(const double* x, int64_t outer, int64_t n, int64_t inner, bool log, double* y) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF64)(x, outer, n, inner, log, y);
}
void softmax_backward(const float* y, const float* dy, int64_t outer, int64_t n, int64_t inner, bool log, float* dx) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardF32)(y, dy, outer, n, inner, log, dx);
}
void softmax_backward(const double* y, const double* dy, int64_t outer, int64_t n, int64_t inner, bool log,
                      double* dx) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackwardF64)(y, dy, outer, n, inner, log, dx);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
