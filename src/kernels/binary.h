// Binary elementwise kernels: out[i] = a[i * sa] (op) b[i * sb] for i < n, out contiguous.
// sa and sb are element strides (0 broadcasts a scalar). The op is chosen once per row, never
// per element. ref:: is the obviously-correct scalar loop; fast:: is the Highway SIMD version
// (AVX2 / AVX-512 picked at run time) and must match ref:: exactly for add/sub/mul/div
// (IEEE-754 makes each of them correctly rounded, so there is no tolerance) and maximum/minimum
// (selects, NaN propagating). Pow always runs ref::.
#pragma once
#include <cmath>
#include <cstdint>

namespace attn::kernels {

enum class BinaryOp : int { Add, Sub, Mul, Div, Maximum, Minimum, Pow };

namespace ref {
template <class T>
inline T apply_binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Maximum: return x > y || x != x ? x : y;  // NaN propagates, as torch.maximum
    case BinaryOp::Minimum: return x < y || x != x ? x : y;
    case BinaryOp::Pow: return static_cast<T>(std::pow(x, y));
  }
  return x;
}

template <class T>
void binary(BinaryOp op, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out) {
  switch (op) {  // one switch per row; the loops below are branch-free
#define ATTN_BINARY_CASE(OP)                                                            \
  case OP:                                                                              \
    for (int64_t i = 0; i < n; ++i) out[i] = apply_binary(OP, a[i * sa], b[i * sb]); \
    break;
    ATTN_BINARY_CASE(BinaryOp::Add)
    ATTN_BINARY_CASE(BinaryOp::Sub)
    ATTN_BINARY_CASE(BinaryOp::Mul)
    ATTN_BINARY_CASE(BinaryOp::Div)
    ATTN_BINARY_CASE(BinaryOp::Maximum)
    ATTN_BINARY_CASE(BinaryOp::Minimum)
    ATTN_BINARY_CASE(BinaryOp::Pow)
#undef ATTN_BINARY_CASE
  }
}
}  // namespace ref

namespace fast {
// SIMD for Add, Sub, Mul, Div, Maximum, Minimum when sa, sb are 0 or 1; other cases fall back to ref.
void binary(BinaryOp op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* out);
void binary(BinaryOp op, int64_t n, const double* a, int64_t sa, const double* b, int64_t sb, double* out);
}  // namespace fast

}  // namespace attn::kernels
