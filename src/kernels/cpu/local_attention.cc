// Highway SIMD banded attention (see kernels/local_attention.h for the contract). Compiled once
// per SIMD target by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target at the first call.
//
// Forward, one query row at a time (one pass over its band, nothing of size S kept): the band's
// scores (a SIMD dot product over E per key), their max, exp(s - max) and its sum (SIMD over the
// band), then the weighted sum of the value rows (SIMD axpy over Ev). Backward does the same per
// row for dq, and per key (over the transposed band of rows) for dk and dv, recomputing the
// probabilities from the saved log-sum-exp. hwy's Exp returns 0 for -inf (masked keys, dead rows).
// Loop tails are scalar (hwy 1.0.3 has no LoadN / StoreN).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/local_attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/local_attention.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// a . b over n elements: two accumulators to hide FMA latency, scalar tail.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T Dot(D d, const T* HWY_RESTRICT a, const T* HWY_RESTRICT b, int64_t n) {
  const int64_t L = int64_t(hn::Lanes(d));
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + L), hn::LoadU(d, b + i + L), s1);
  }
  for (; i + L <= n; i += L) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  T s = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += w * x over n elements.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE void Axpy(D d, T w, const T* HWY_RESTRICT x, T* HWY_RESTRICT y, int64_t n) {
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vw = hn::Set(d, w);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::MulAdd(vw, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += w * x[i];
}

// y[i] = exp(x[i] - c) for i < n; returns the sum of the y.
template <class D, class T = hn::TFromD<D>>
HWY_INLINE T ExpShifted(D d, const T* HWY_RESTRICT x, T c, int64_t n, T* HWY_RESTRICT y) {
  const int64_t L = int64_t(hn::Lanes(d));
  const auto vc = hn::Set(d, c);
  auto s = hn::Zero(d);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vc));
    hn::StoreU(e, d, y + i);
    s = hn::Add(s, e);
  }
  T sum = hn::GetLane(hn::SumOfLanes(d, s));
  for (; i < n; ++i) {
    y[i] = std::exp(x[i] - c);
    sum += y[i];
  }
  return sum;
}

// Dropout multipliers of row (bh, i), keys lo..lo+n-1: one Philox block per four weights.
template <class T>
HWY_INLINE void DropRow(const LocalAttentionDims& p, int64_t bh, int64_t i, int64_t lo, int64_t n, T* HWY_RESTRICT m) {
  if (p.drop_threshold >= (uint64_t(1) << 32)) {
    for (int64_t jj = 0; jj < n; ++jj) m[jj] = T(0);
    return;
  }
  const uint64_t e0 = (uint64_t(bh) * uint64_t(p.T) + uint64_t(i)) * uint64_t(p.S) + uint64_t(lo);
  const T keep = T(p.drop_scale);
  uint64_t blk = ~uint64_t(0);
  std::array<uint32_t, 4> r{};
  for (int64_t jj = 0; jj < n; ++jj) {
    const uint64_t e = e0 + uint64_t(jj);
    if (e / 4 != blk) {
      blk = e / 4;
      r = Philox::block(p.drop_key, p.drop_ctr0 + blk);
    }
    m[jj] = uint64_t(r[size_t(e % 4)]) >= p.drop_threshold ? keep : T(0);
  }
}

template <class T>
void ForwardT(const LocalAttentionDims& p, const T* q, const T* k, const T* v, double scale, T* out, T* lse,
              T* weights) {
  const hn::ScalableTag<T> d;
  const T sc = T(scale), ninf = -std::numeric_limits<T>::infinity();
  parallel_for(0, p.BH * p.T, local_attention_grain(p), [&](int64_t r0, int64_t r1) {
    std::vector<T> s(size_t(std::max<int64_t>(p.S, 1))), w(s.size()), dm(s.size());
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      const T* qi = q + r * p.E;
      const T* kb = k + (bh / p.group) * p.S * p.E;
      const T* vb = v + (bh / p.group) * p.S * p.Ev;
      T* oi = out + r * p.Ev;
      std::fill(oi, oi + p.Ev, T(0));
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      const int64_t n = std::max<int64_t>(0, hi - lo + 1);
      T m = ninf;
      for (int64_t jj = 0; jj < n; ++jj) {
        const int64_t j = lo + jj;
        s[size_t(jj)] = p.key_kept(bh, j) ? sc * Dot(d, qi, kb + j * p.E, p.E) : ninf;
        m = s[size_t(jj)] > m ? s[size_t(jj)] : m;
      }
      if (m == ninf) {  // nothing visible: zero output, lse = -inf marks the row for backward
        lse[r] = ninf;
        continue;
      }
      const T sum = ExpShifted(d, s.data(), m, n, w.data());
      lse[r] = m + std::log(sum);
      const T inv = T(1) / sum;
      if (p.has_dropout()) DropRow(p, bh, i, lo, n, dm.data());
      for (int64_t jj = 0; jj < n; ++jj) {
        T wj = w[size_t(jj)] * inv;
        if (p.has_dropout()) wj *= dm[size_t(jj)];
        if (weights) weights[r * p.S + lo + jj] = wj;
        if (wj != T(0)) Axpy(d, wj, vb + (lo + jj) * p.Ev, oi, p.Ev);
      }
    }
  });
}

template <class T>
void BackwardT(const LocalAttentionDims& p, const T* q, const T* k, const T* v, const T* out, const T* dout,
               const T* lse, double scale, T* dq, T* dk, T* dv) {
  const hn::ScalableTag<T> d;
  const T sc = T(scale), ninf = -std::numeric_limits<T>::infinity();
  const int64_t rows = p.BH * p.T, BHk = p.BH / p.group;
  std::vector<T> D(static_cast<size_t>(rows));
  parallel_for(0, rows, 1024, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) D[size_t(r)] = Dot(d, dout + r * p.Ev, out + r * p.Ev, p.Ev);
  });
  // dq, row by row: x = s - lse (-inf for masked keys), dov = dout_i . v_j, then p = exp(x) in SIMD.
  parallel_for(0, rows, local_attention_grain(p), [&](int64_t r0, int64_t r1) {
    const size_t cap = size_t(std::max<int64_t>(p.S, 1));
    std::vector<T> x(cap), pr(cap), dov(cap), dm(cap);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / p.T, i = r % p.T;
      const T* kb = k + (bh / p.group) * p.S * p.E;
      const T* vb = v + (bh / p.group) * p.S * p.Ev;
      T* dqi = dq + r * p.E;
      std::fill(dqi, dqi + p.E, T(0));
      if (lse[r] == ninf) continue;
      int64_t lo, hi;
      p.band(bh, i, lo, hi);
      const int64_t n = std::max<int64_t>(0, hi - lo + 1);
      for (int64_t jj = 0; jj < n; ++jj) {
        const int64_t j = lo + jj;
        if (!p.key_kept(bh, j)) {
          x[size_t(jj)] = ninf, dov[size_t(jj)] = T(0);
          continue;
        }
        x[size_t(jj)] = sc * Dot(d, q + r * p.E, kb + j * p.E, p.E);
        dov[size_t(jj)] = Dot(d, dout + r * p.Ev, vb + j * p.Ev, p.Ev);
      }
      ExpShifted(d, x.data(), lse[r], n, pr.data());
      if (p.has_dropout()) DropRow(p, bh, i, lo, n, dm.data());
      for (int64_t jj = 0; jj < n; ++jj) {
        const T mult = p.has_dropout() ? dm[size_t(jj)] : T(1);
        const T ds = pr[size_t(jj)] * (mult * dov[size_t(jj)] - D[size_t(r)]);
        if (ds != T(0)) Axpy(d, sc * ds, kb + (lo + jj) * p.E, dqi, p.E);
      }
    }
  });
  // dk, dv, key by key over the rows whose window holds the key (every head of the kv group).
  parallel_for(0, BHk * p.S, local_attention_grain(p), [&](int64_t c0, int64_t c1) {
    const size_t cap = size_t(std::max<int64_t>(p.T, 1));
    std::vector<T> x(cap), pr(cap), dov(cap);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t kvh = c / p.S, j = c % p.S;
      T* dkj = dk + c * p.E;
      T* dvj = dv + c * p.Ev;
      std::fill(dkj, dkj + p.E, T(0));
      std::fill(dvj, dvj + p.Ev, T(0));
      int64_t ilo, ihi;
      p.rows_of_key(j, ilo, ihi);
      const int64_t n = std::max<int64_t>(0, ihi - ilo + 1);
      for (int64_t bh = kvh * p.group; bh < (kvh + 1) * p.group; ++bh) {
        if (n == 0 || !p.key_kept(bh, j)) continue;
        for (int64_t ii = 0; ii < n; ++ii) {
          const int64_t r = bh * p.T + ilo + ii;
          if (lse[r] == ninf) {
            x[size_t(ii)] = ninf, dov[size_t(ii)] = T(0);
            continue;
          }
          x[size_t(ii)] = sc * Dot(d, q + r * p.E, k + c * p.E, p.E) - lse[r];
          dov[size_t(ii)] = Dot(d, dout + r * p.Ev, v + c * p.Ev, p.Ev);
        }
        ExpShifted(d, x.data(), T(0), n, pr.data());
        for (int64_t ii = 0; ii < n; ++ii) {
          const int64_t r = bh * p.T + ilo + ii;
          const T mult = p.has_dropout() ? T(p.drop_mult(bh, ilo + ii, j)) : T(1);
          const T pm = pr[size_t(ii)] * mult;
          const T ds = pr[size_t(ii)] * (mult * dov[size_t(ii)] - D[size_t(r)]);
          if (ds != T(0)) Axpy(d, sc * ds, q + r * p.E, dkj, p.E);
          if (pm != T(0)) Axpy(d, pm, dout + r * p.Ev, dvj, p.Ev);
        }
      }
    }
  });
}

void ForwardF32(const LocalAttentionDims& p, const float* q, const float* k, const float* v, double scale, float* out,
                float* lse, float* weights) {
  ForwardT(p, q, k, v, scale, out, lse, weights);
}
void ForwardF64(const LocalAttentionDims& p, const double* q, const double* k, const double* v, double scale,
                double* out, double* lse, double* weights) {
  ForwardT(p, q, k, v, scale, out, lse, weights);
}
void BackwardF32(const LocalAttentionDims& p, const float* q, const float* k, const float* v, const float* out,
                 const float* dout, const float* lse, double scale, float* dq, float* dk, float* dv) {
  BackwardT(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
void BackwardF64(const LocalAttentionDims& p, const double* q, const double* k, const double* v, const double* out,
                 const double* dout, const double* lse, double scale, double* dq, double* dk, double* dv) {
  BackwardT(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
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
void local_attention_forward(const LocalAttentionDims& p, const float* q, const float* k, const float* v, double scale,
                             float* out, float* lse, float* weights) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(p, q, k, v, scale, out, lse, weights);
}
void local_attention_forward(const LocalAttentionDims& p, const double* q, const double* k, const double* v,
                             double scale, double* out, double* lse, double* weights) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(p, q, k, v, scale, out, lse, weights);
}
void local_attention_backward(const LocalAttentionDims& p, const float* q, const float* k, const float* v,
                              const float* out, const float* dout, const float* lse, double scale, float* dq, float* dk,
                              float* dv) {
  HWY_DYNAMIC_DISPATCH(BackwardF32)(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
void local_attention_backward(const LocalAttentionDims& p, const double* q, const double* k, const double* v,
                              const double* out, const double* dout, const double* lse, double scale, double* dq,
                              double* dk, double* dv) {
  HWY_DYNAMIC_DISPATCH(BackwardF64)(p, q, k, v, out, dout, lse, scale, dq, dk, dv);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
