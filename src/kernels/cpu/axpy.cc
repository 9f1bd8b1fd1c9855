// Highway axpy kernel (see kernels/axpy.h): y = MulAdd(alpha, x, y), one fused multiply-add per
// element on targets with native FMA; the others run ref::axpy.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/axpy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include <cmath>

#include "hwy/highway.h"
#include "kernels/axpy.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void AxpyT(int64_t n, T alpha, const T* HWY_RESTRICT x, T* HWY_RESTRICT y) {
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int64_t L = int64_t(hn::Lanes(d));
  const auto a = hn::Set(d, alpha);
  // Where x is all +0 (bit for bit) and alpha is finite with its sign bit set, alpha * x = -0 and
  // y + -0 = y for every y (-0 included): those blocks are skipped without reading or writing y.
  // Such blocks are most of a dense embedding gradient (the rows no token looked up) under SGD's
  // alpha = -lr, so the step's memory traffic there drops from three streams to one.
  const bool skip_zero = std::isfinite(alpha) && std::signbit(alpha);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto x0 = hn::LoadU(d, x + i), x1 = hn::LoadU(d, x + i + L);
    if (skip_zero && hn::AllTrue(du, hn::Eq(hn::BitCast(du, hn::Or(x0, x1)), hn::Zero(du)))) continue;
    hn::StoreU(hn::MulAdd(a, x0, hn::LoadU(d, y + i)), d, y + i);
    hn::StoreU(hn::MulAdd(a, x1, hn::LoadU(d, y + i + L)), d, y + i + L);
  }
  for (; i + L <= n; i += L) hn::StoreU(hn::MulAdd(a, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  if (i < n) {  // the tail through the same instruction, on a padded copy
    HWY_ALIGN T xb[HWY_MAX_BYTES / sizeof(T)] = {}, yb[HWY_MAX_BYTES / sizeof(T)] = {};
    for (int64_t j = i; j < n; ++j) xb[j - i] = x[j], yb[j - i] = y[j];
    hn::Store(hn::MulAdd(a, hn::Load(d, xb), hn::Load(d, yb)), d, yb);
    for (int64_t j = i; j < n; ++j) y[j] = yb[j - i];
  }
#else
  ref::axpy(n, alpha, x, y);
#endif
}

void AxpyF32(int64_t n, float alpha, const float* x, float* y) { AxpyT(n, alpha, x, y); }
void AxpyF64(int64_t n, double alpha, const double* x, double* y) { AxpyT(n, alpha, x, y); }

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(AxpyF32);
HWY_EXPORT(AxpyF64);
namespace fast {
void axpy(int64_t n, float alpha, const float* x, float* y) { HWY_DYNAMIC_DISPATCH(AxpyF32)(n, alpha, x, y); }
void axpy(int64_t n, double alpha, const double* x, double* y) { HWY_DYNAMIC_DISPATCH(AxpyF64)(n, alpha, x, y); }
}  // namespace fast
}  // namespace attn::kernels
#endif
