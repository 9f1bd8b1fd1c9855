// Highway SIMD cross entropy (see kernels/loss.h for the contract). Rows with contiguous classes
// (K == 1) and class-index targets take the SIMD path; everything else is delegated to ref.
//
// Forward, per row: max; sum of exp(x - max) (with the smoothing sum in the same pass when
// eps != 0); the target's logit is one scalar read. Backward, per row: one pass writing
// s * (total * exp(x - lse) - (eps / C) w_c), then the target element is corrected by a scalar.
//
// Non-finite rows: x86 Max drops NaN and hwy's Exp maps NaN to 0, so a NaN logit could vanish.
// Like the softmax kernel, the sum pass also sums t = x - max, which is NaN exactly when the row
// holds a NaN; such rows, and rows whose max is +-inf, are redone by ref to give PyTorch's NaN.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/loss.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/loss.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class T = hn::TFromD<D>>
HWY_INLINE T RowMax(D d, const T* HWY_RESTRICT x, int64_t n) {
  const int64_t L = int64_t(hn::Lanes(d));
  auto m0 = hn::Set(d, -std::numeric_limits<T>::infinity()), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    m0 = hn::Max(m0, hn::LoadU(d, x + i));
    m1 = hn::Max(m1, hn::LoadU(d, x + i + L));
  }
  for (; i + L <= n; i += L) m0 = hn::Max(m0, hn::LoadU(d, x + i));
  T m = hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class T>
void ForwardT(const CrossEntropyArgs<T>& a, int64_t r0, int64_t r1, T* loss, T* lse) {
  if (a.K != 1 || !a.target) return ref::cross_entropy_forward(a, r0, r1, loss, lse);
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d)), C = a.C;
  const T eps = a.smoothing;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = a.target[r];
    if (t == a.ignore_index) {
      loss[r] = lse[r] = T(0);
      continue;
    }
    const T* HWY_RESTRICT x = a.x + r * C;
    const T m = RowMax(d, x, C);
    if (!std::isfinite(m)) {
      ref::cross_entropy_forward(a, r, r + 1, loss, lse);
      continue;
    }
    const auto vm = hn::Set(d, m);
    auto s0 = hn::Zero(d), s1 = hn::Zero(d), chk = hn::Zero(d);
    int64_t i = 0;
    for (; i + 2 * L <= C; i += 2 * L) {
      const auto t0 = hn::Sub(hn::LoadU(d, x + i), vm), t1 = hn::Sub(hn::LoadU(d, x + i + L), vm);
      chk = hn::Add(chk, hn::Add(t0, t1));
      s0 = hn::Add(s0, hn::Exp(d, t0));
      s1 = hn::Add(s1, hn::Exp(d, t1));
    }
    for (; i + L <= C; i += L) {
      const auto t0 = hn::Sub(hn::LoadU(d, x + i), vm);
      chk = hn::Add(chk, t0);
      s0 = hn::Add(s0, hn::Exp(d, t0));
    }
    T sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
    T c = hn::GetLane(hn::SumOfLanes(d, chk));
    for (; i < C; ++i) {
      c += x[i] - m;
      sum += std::exp(x[i] - m);
    }
    if (c != c) {  // a NaN hid from Max
      ref::cross_entropy_forward(a, r, r + 1, loss, lse);
      continue;
    }
    const T l = m + std::log(sum);
    lse[r] = l;
    const T wt = a.weight ? a.weight[t] : T(1);
    T out = (T(1) - eps) * wt * (l - x[t]);
    if (eps != T(0)) {
      // sum_c w_c (l - x_c); each term is >= 0, so summing them keeps full relative accuracy.
      const auto vl = hn::Set(d, l);
      auto acc = hn::Zero(d);
      int64_t j = 0;
      if (a.weight) {
        for (; j + L <= C; j += L) acc = hn::MulAdd(hn::LoadU(d, a.weight + j), hn::Sub(vl, hn::LoadU(d, x + j)), acc);
      } else {
        for (; j + L <= C; j += L) acc = hn::Add(acc, hn::Sub(vl, hn::LoadU(d, x + j)));
      }
      T smooth = hn::GetLane(hn::SumOfLanes(d, acc));
      for (; j < C; ++j) smooth += (a.weight ? a.weight[j] : T(1)) * (l - x[j]);
      out += eps / T(C) * smooth;
    }
    loss[r] = out;
  }
}

template <class T>
void BackwardT(const CrossEntropyArgs<T>& a, const T* lse, const T* g, int64_t g_stride, T g_mult, int64_t r0,
               int64_t r1, T* dx, T* dprobs) {
  if (a.K != 1 || !a.target) return ref::cross_entropy_backward(a, lse, g, g_stride, g_mult, r0, r1, dx, dprobs);
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d)), C = a.C;
  const T eps = a.smoothing;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = a.target[r];
    T* HWY_RESTRICT dr = dx + r * C;
    const T* HWY_RESTRICT x = a.x + r * C;
    if (t == a.ignore_index) {
      for (int64_t c = 0; c < C; ++c) dr[c] = T(0);
      continue;
    }
    const T s = g[r * g_stride] * g_mult;
    if (!std::isfinite(lse[r]) || !std::isfinite(s)) {
      ref::cross_entropy_backward(a, lse, g, g_stride, g_mult, r, r + 1, dx, dprobs);
      continue;
    }
    const T wt = (T(1) - eps) * (a.weight ? a.weight[t] : T(1));
    const T total = wt + eps / T(C) * a.weight_sum;
    const auto vl = hn::Set(d, lse[r]), vst = hn::Set(d, s * total), vse = hn::Set(d, s * eps / T(C));
    int64_t i = 0;
    if (a.weight) {
      for (; i + L <= C; i += L) {
        const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vl));
        hn::StoreU(hn::NegMulAdd(vse, hn::LoadU(d, a.weight + i), hn::Mul(vst, e)), d, dr + i);
      }
    } else {
      for (; i + L <= C; i += L) {
        const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vl));
        hn::StoreU(hn::MulSub(vst, e, vse), d, dr + i);
      }
    }
    for (; i < C; ++i) dr[i] = s * total * std::exp(x[i] - lse[r]) - s * eps / T(C) * (a.weight ? a.weight[i] : T(1));
    dr[t] -= s * wt;
  }
}

void ForwardF32(const CrossEntropyArgs<float>& a, int64_t r0, int64_t r1, float* loss, float* lse) {
  ForwardT(a, r0, r1, loss, lse);
}
void ForwardF64(const CrossEntropyArgs<double>& a, int64_t r0, int64_t r1, double* loss, double* lse) {
  ForwardT(a, r0, r1, loss, lse);
}
void BackwardF32(const CrossEntropyArgs<float>& a, const float* lse, const float* g, int64_t g_stride, float g_mult,
                 int64_t r0, int64_t r1, float* dx, float* dprobs) {
  BackwardT(a, lse, g, g_stride, g_mult, r0, r1, dx, dprobs);
}
void BackwardF64(const CrossEntropyArgs<double>& a, const double* lse, const double* g, int64_t g_stride,
                 double g_mult, int64_t r0, int64_t r1, double* dx, double* dprobs) {
  BackwardT(a, lse, g, g_stride, g_mult, r0, r1, dx, dprobs);
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
void cross_entropy_forward(const CrossEntropyArgs<float>& a, int64_t r0, int64_t r1, float* loss, float* lse) {
  HWY_DYNAMIC_DISPATCH(ForwardF32)(a, r0, r1, loss, lse);
}
void cross_entropy_forward(const CrossEntropyArgs<double>& a, int64_t r0, int64_t r1, double* loss, double* lse) {
  HWY_DYNAMIC_DISPATCH(ForwardF64)(a, r0, r1, loss, lse);
}
void cross_entropy_backward(const CrossEntropyArgs<float>& a, const float* lse, const float* g, int64_t g_stride,
                            float g_mult, int64_t r0, int64_t r1, float* dx, float* dprobs) {
  HWY_DYNAMIC_DISPATCH(BackwardF32)(a, lse, g, g_stride, g_mult, r0, r1, dx, dprobs);
}
void cross_entropy_backward(const CrossEntropyArgs<double>& a, const double* lse, const double* g, int64_t g_stride,
                            double g_mult, int64_t r0, int64_t r1, double* dx, double* dprobs) {
  HWY_DYNAMIC_DISPATCH(BackwardF64)(a, lse, g, g_stride, g_mult, r0, r1, dx, dprobs);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
