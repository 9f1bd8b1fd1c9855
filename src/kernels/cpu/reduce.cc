// Highway SIMD reductions (see kernels/reduce.h for the contract and the numerics).
//
// Float sums accumulate in double: half-width float loads are promoted to full double vectors, so
// a float32 row sum costs one convert and one add per 4 (AVX2) or 8 (AVX-512) elements. Row
// kernels keep four independent accumulators to hide add latency. Column kernels (inner > 1) keep
// one double accumulator per column in a small array and stream through whole rows, so per-output
// order is k = 0, 1, ..., n - 1 exactly as in ref:: (bit-identical results).
//
// max / min: x86 min/max do not propagate NaN, so the SIMD pass also ORs a NaN mask; a row with a
// NaN (rare) is redone by the scalar reference. The index is then found by a SIMD search for the
// first element equal to the max, and the value is read back from that index (so -0.0 / +0.0 ties
// give exactly ref::'s value).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/reduce.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/reduce.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Columns per work item in the column kernels (a multiple of every lane count).
constexpr int64_t kColBlock = 256;

// Loads Lanes(dd) elements of T at p as doubles (a promotion for float, a plain load for double).
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const float* HWY_RESTRICT p) {
  const hn::Rebind<float, DD> df;
  return hn::PromoteTo(dd, hn::LoadU(df, p));
}
template <class DD>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, const double* HWY_RESTRICT p) {
  return hn::LoadU(dd, p);
}

// sum_k x_k of a contiguous row, in double.
template <class T>
HWY_INLINE double RowSumDouble(const T* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<double> dd;
  const int64_t L = int64_t(hn::Lanes(dd));
  auto a0 = hn::Zero(dd), a1 = a0, a2 = a0, a3 = a0;
  int64_t k = 0;
  for (; k + 4 * L <= n; k += 4 * L) {
    a0 = hn::Add(a0, LoadAsDouble(dd, x + k));
    a1 = hn::Add(a1, LoadAsDouble(dd, x + k + L));
    a2 = hn::Add(a2, LoadAsDouble(dd, x + k + 2 * L));
    a3 = hn::Add(a3, LoadAsDouble(dd, x + k + 3 * L));
  }
  for (; k + L <= n; k += L) a0 = hn::Add(a0, LoadAsDouble(dd, x + k));
  double s = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; k < n; ++k) s += double(x[k]);
  return s;
}

// sum_k (x_k - mu)^2 of a contiguous row, in double.
template <class T>
HWY_INLINE double RowSquaredDevDouble(const T* HWY_RESTRICT x, int64_t n, double mu) {
  const hn::ScalableTag<double> dd;
  const int64_t L = int64_t(hn::Lanes(dd));
  const auto vm = hn::Set(dd, mu);
  auto a0 = hn::Zero(dd), a1 = a0;
  int64_t k = 0;
  for (; k + 2 * L <= n; k += 2 * L) {
    const auto t0 = hn::Sub(LoadAsDouble(dd, x + k), vm), t1 = hn::Sub(LoadAsDouble(dd, x + k + L), vm);
    a0 = hn::MulAdd(t0, t0, a0);
    a1 = hn::MulAdd(t1, t1, a1);
  }
  for (; k + L <= n; k += L) {
    const auto t = hn::Sub(LoadAsDouble(dd, x + k), vm);
    a0 = hn::MulAdd(t, t, a0);
  }
  double s = hn::GetLane(hn::SumOfLanes(dd, hn::Add(a0, a1)));
  for (; k < n; ++k) s += (double(x[k]) - mu) * (double(x[k]) - mu);
  return s;
}

template <class T>
void SumT(const T* x, int64_t outer, int64_t n, int64_t inner, bool mean, T* out) {
  if (inner == 1) {
    parallel_for(0, outer, reduce_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const double s = RowSumDouble(x + r * n, n);
        out[r] = T(mean ? s / double(n) : s);
      }
    });
    return;
  }
  // Columns: acc[j] += x[o, k, j0 + j] for k = 0..n-1, a whole row block per step.
  const hn::ScalableTag<double> dd;
  const int64_t L = int64_t(hn::Lanes(dd));
  const int64_t nblk = (inner + kColBlock - 1) / kColBlock;
  parallel_for(0, outer * nblk, reduce_grain(n * std::min(inner, kColBlock)), [&](int64_t b0, int64_t b1) {
    HWY_ALIGN double acc[kColBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblk, j0 = (b % nblk) * kColBlock, w = std::min(kColBlock, inner - j0);
      const int64_t wv = w - w % L;
      for (int64_t j = 0; j < w; ++j) acc[j] = 0;
      for (int64_t k = 0; k < n; ++k) {
        const T* xr = x + (o * n + k) * inner + j0;
        int64_t j = 0;
        for (; j < wv; j += L) hn::Store(hn::Add(hn::Load(dd, acc + j), LoadAsDouble(dd, xr + j)), dd, acc + j);
        for (; j < w; ++j) acc[j] += double(xr[j]);
      }
      T* orow = out + o * inner + j0;
      for (int64_t j = 0; j < w; ++j) orow[j] = T(mean ? acc[j] / double(n) : acc[j]);
    }
  });
}

// Max (or min) of a contiguous row and the index of its first occurrence; NaN rows go to ref::.
template <bool kMax, class T>
HWY_INLINE void RowMaxMin(const T* HWY_RESTRICT x, int64_t n, T* value, int64_t* index) {
  constexpr bool is_max = kMax;
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto m0 = hn::LoadU(d, x), m1 = m0;  // caller guarantees n >= L
  auto nan = hn::IsNaN(m0);
  int64_t k = L;
  for (; k + 2 * L <= n; k += 2 * L) {
    const auto v0 = hn::LoadU(d, x + k), v1 = hn::LoadU(d, x + k + L);
    nan = hn::Or(nan, hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)));
    if constexpr (kMax) {
      m0 = hn::Max(m0, v0);
      m1 = hn::Max(m1, v1);
    } else {
      m0 = hn::Min(m0, v0);
      m1 = hn::Min(m1, v1);
    }
  }
  for (; k + L <= n; k += L) {
    const auto v = hn::LoadU(d, x + k);
    nan = hn::Or(nan, hn::IsNaN(v));
    if constexpr (kMax) m0 = hn::Max(m0, v);
    else m0 = hn::Min(m0, v);
  }
  T m = hn::GetLane(is_max ? hn::MaxOfLanes(d, hn::Max(m0, m1)) : hn::MinOfLanes(d, hn::Min(m0, m1)));
  bool has_nan = !hn::AllFalse(d, nan);
  for (; k < n; ++k) {
    has_nan |= x[k] != x[k];
    m = (is_max ? x[k] > m : x[k] < m) ? x[k] : m;
  }
  if (has_nan) return ref::max_min_line(x, n, 1, is_max, value, index);
  // First index equal to m.
  const auto vm = hn::Set(d, m);
  int64_t at = -1;
  for (k = 0; k + L <= n && at < 0; k += L) {
    const intptr_t f = hn::FindFirstTrue(d, hn::Eq(hn::LoadU(d, x + k), vm));
    if (f >= 0) at = k + f;
  }
  for (; at < 0 && k < n; ++k)
    if (x[k] == m) at = k;
  if (value) *value = x[at];
  if (index) *index = at;
}

template <class T>
void MaxMinT(const T* x, int64_t outer, int64_t n, int64_t inner, bool is_max, T* values, int64_t* indices) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  if (inner == 1) {
    parallel_for(0, outer, reduce_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* v = values ? values + r : nullptr;
        int64_t* i = indices ? indices + r : nullptr;
        if (n < L) ref::max_min_line(x + r * n, n, 1, is_max, v, i);
        else if (is_max) RowMaxMin<true>(x + r * n, n, v, i);
        else RowMaxMin<false>(x + r * n, n, v, i);
      }
    });
    return;
  }
  // Columns: the reference comparison, but streaming through whole row blocks.
  const int64_t nblk = (inner + kColBlock - 1) / kColBlock;
  parallel_for(0, outer * nblk, reduce_grain(n * std::min(inner, kColBlock)), [&](int64_t b0, int64_t b1) {
    T best[kColBlock];
    int64_t bi[kColBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b / nblk, j0 = (b % nblk) * kColBlock, w = std::min(kColBlock, inner - j0);
      const T* x0 = x + o * n * inner + j0;
      for (int64_t j = 0; j < w; ++j) best[j] = x0[j], bi[j] = 0;
      for (int64_t k = 1; k < n; ++k) {
        const T* xr = x0 + k * inner;
        for (int64_t j = 0; j < w; ++j) {
          const T v = xr[j];
          if ((is_max ? v > best[j] : v < best[j]) || (v != v && best[j] == best[j])) best[j] = v, bi[j] = k;
        }
      }
      for (int64_t j = 0; j < w; ++j) {
        if (values) values[o * inner + j0 + j] = best[j];
        if (indices) indices[o * inner + j0 + j] = bi[j];
      }
    }
  });
}

// logsumexp of a contiguous row: max pass, then sum of exp(x - m) in T lanes (each term <= 1).
// Non-finite max or a hidden NaN (detected by summing x - m, as in softmax) goes to ref::.
template <class T>
HWY_INLINE T RowLogSumExp(const T* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto m0 = hn::Set(d, -std::numeric_limits<T>::infinity()), m1 = m0;
  int64_t k = 0;
  for (; k + 2 * L <= n; k += 2 * L) {
    m0 = hn::Max(m0, hn::LoadU(d, x + k));
    m1 = hn::Max(m1, hn::LoadU(d, x + k + L));
  }
  for (; k + L <= n; k += L) m0 = hn::Max(m0, hn::LoadU(d, x + k));
  T m = hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
  for (; k < n; ++k) m = x[k] > m ? x[k] : m;
  if (!std::isfinite(m)) return ref::logsumexp_line(x, n, 1);
  const auto vm = hn::Set(d, m);
  auto s0 = hn::Zero(d), s1 = s0, chk = s0;
  for (k = 0; k + 2 * L <= n; k += 2 * L) {
    const auto t0 = hn::Sub(hn::LoadU(d, x + k), vm), t1 = hn::Sub(hn::LoadU(d, x + k + L), vm);
    chk = hn::Add(chk, hn::Add(t0, t1));
    s0 = hn::Add(s0, hn::Exp(d, t0));
    s1 = hn::Add(s1, hn::Exp(d, t1));
  }
  for (; k + L <= n; k += L) {
    const auto t = hn::Sub(hn::LoadU(d, x + k), vm);
    chk = hn::Add(chk, t);
    s0 = hn::Add(s0, hn::Exp(d, t));
  }
  T s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  T c = hn::GetLane(hn::SumOfLanes(d, chk));
  for (; k < n; ++k) {
    c += x[k] - m;
    s += std::exp(x[k] - m);
  }
  if (c != c) return ref::logsumexp_line(x, n, 1);
  return std::log(s) + m;
}

template <class T>
void LogSumExpT(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  if (inner != 1) return ref::logsumexp(x, outer, n, inner, out);
  parallel_for(0, outer, reduce_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) out[r] = RowLogSumExp(x + r * n, n);
  });
}

template <class T>
void VarT(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, T* out,
          T* mean_out) {
  if (inner != 1) return ref::var(x, outer, n, inner, correction, take_sqrt, out, mean_out);
  parallel_for(0, outer, reduce_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      const double mu = RowSumDouble(xr, n) / double(n);
      const double v = RowSquaredDevDouble(xr, n, mu) / double(std::max<int64_t>(0, n - correction));
      out[r] = T(take_sqrt ? std::sqrt(v) : v);
      if (mean_out) mean_out[r] = T(mu);
    }
  });
}

void SumF32(const float* x, int64_t outer, int64_t n, int64_t inner, bool mean, float* out) {
  SumT(x, outer, n, inner, mean, out);
}
void SumF64(const double* x, int64_t outer, int64_t n, int64_t inner, bool mean, double* out) {
  SumT(x, outer, n, inner, mean, out);
}
void MaxMinF32(const float* x, int64_t outer, int64_t n, int64_t inner, bool is_max, float* v, int64_t* i) {
  MaxMinT(x, outer, n, inner, is_max, v, i);
}
void MaxMinF64(const double* x, int64_t outer, int64_t n, int64_t inner, bool is_max, double* v, int64_t* i) {
  MaxMinT(x, outer, n, inner, is_max, v, i);
}
void LogSumExpF32(const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  LogSumExpT(x, outer, n, inner, out);
}
void LogSumExpF64(const double* x, int64_t outer, int64_t n, int64_t inner, double* out) {
  LogSumExpT(x, outer, n, inner, out);
}
void VarF32(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t c, bool sq, float* out, float* mean) {
  VarT(x, outer, n, inner, c, sq, out, mean);
}
void VarF64(const double* x, int64_t outer, int64_t n, int64_t inner, int64_t c, bool sq, double* out,
            double* mean) {
  VarT(x, outer, n, inner, c, sq, out, mean);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(SumF32);
HWY_EXPORT(SumF64);
HWY_EXPORT(MaxMinF32);
HWY_EXPORT(MaxMinF64);
HWY_EXPORT(LogSumExpF32);
HWY_EXPORT(LogSumExpF64);
HWY_EXPORT(VarF32);
HWY_EXPORT(VarF64);
namespace fast {
void sum(const float* x, int64_t outer, int64_t n, int64_t inner, bool mean, float* out) {
  HWY_DYNAMIC_DISPATCH(SumF32)(x, outer, n, inner, mean, out);
}
void sum(const double* x, int64_t outer, int64_t n, int64_t inner, bool mean, double* out) {
  HWY_DYNAMIC_DISPATCH(SumF64)(x, outer, n, inner, mean, out);
}
void max_min(const float* x, int64_t outer, int64_t n, int64_t inner, bool is_max, float* values, int64_t* indices) {
  HWY_DYNAMIC_DISPATCH(MaxMinF32)(x, outer, n, inner, is_max, values, indices);
}
void max_min(const double* x, int64_t outer, int64_t n, int64_t inner, bool is_max, double* values,
             int64_t* indices) {
  HWY_DYNAMIC_DISPATCH(MaxMinF64)(x, outer, n, inner, is_max, values, indices);
}
void logsumexp(const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  HWY_DYNAMIC_DISPATCH(LogSumExpF32)(x, outer, n, inner, out);
}
void logsumexp(const double* x, int64_t outer, int64_t n, int64_t inner, double* out) {
  HWY_DYNAMIC_DISPATCH(LogSumExpF64)(x, outer, n, inner, out);
}
void var(const float* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, float* out,
         float* mean_out) {
  HWY_DYNAMIC_DISPATCH(VarF32)(x, outer, n, inner, correction, take_sqrt, out, mean_out);
}
void var(const double* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, bool take_sqrt, double* out,
         double* mean_out) {
  HWY_DYNAMIC_DISPATCH(VarF64)(x, outer, n, inner, correction, take_sqrt, out, mean_out);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
