// y[i] = y[i] + alpha * x[i] for i < n, with ONE rounding per element (a fused multiply-add):
// the update of plain SGD, param.add_(grad, alpha=-lr), as PyTorch's CPU add(alpha=...) computes
// it (Vectorized::fmadd). x and y are contiguous and do not overlap.
//
// ref:: is the scalar loop. For float it adds in double: the product of two floats is exact in
// double, so the sum rounds to double and then to float, which equals the single rounding except
// in rare double-rounding ties (one ulp); this keeps the loop vectorisable without FMA hardware.
// Double uses std::fma.
// fast:: is Highway SIMD with a true fused multiply-add where the target has one (AVX2, AVX-512):
// the correctly rounded result, at memory speed (the float ref:: loop converts every element to
// double and back, which at SSE2 costs more than the memory traffic). Targets without native FMA
// run ref::. An element's value never depends on its position or the thread split: the tail runs
// through the same vector code on a padded copy. fast:: skips blocks of x that are all +0 when
// alpha is finite with its sign bit set (SGD's -lr): there y + alpha * x = y exactly, so this
// changes no bit, only the memory traffic over the untouched rows of an embedding gradient.
#pragma once
#include <cmath>
#include <cstdint>

namespace attn::kernels {

namespace ref {
inline float axpy_one(float y, float alpha, float x) { return float(double(y) + double(alpha) * double(x)); }
inline double axpy_one(double y, double alpha, double x) { return std::fma(alpha, x, y); }

template <class T>
void axpy(int64_t n, T alpha, const T* __restrict x, T* __restrict y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = axpy_one(y[i], alpha, x[i]);
}
}  // namespace ref

namespace fast {
void axpy(int64_t n, float alpha, const float* x, float* y);
void axpy(int64_t n, double alpha, const double* x, double* y);
}  // namespace fast

}  // namespace attn::kernels
