// Highway SIMD binary kernels (see kernels/binary.h). Compiled once per SIMD target by
// foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target for this CPU at the first call.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/binary.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/binary.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vector body plus a scalar tail (tails use ref:: so they round identically).
template <class T, class Fn>
HWY_INLINE void binary_loop(BinaryOp op, int64_t n, const T* HWY_RESTRICT a, int64_t sa, const T* HWY_RESTRICT b,
                            int64_t sb, T* HWY_RESTRICT out, const Fn& fn) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + L <= n; i += L) hn::StoreU(fn(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  } else if (sa == 1 && sb == 0) {
    const auto vb = hn::Set(d, b[0]);
    for (; i + L <= n; i += L) hn::StoreU(fn(hn::LoadU(d, a + i), vb), d, out + i);
  } else {  // sa == 0 && sb == 1
    const auto va = hn::Set(d, a[0]);
    for (; i + L <= n; i += L) hn::StoreU(fn(va, hn::LoadU(d, b + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = ref::apply_binary(op, a[i * sa], b[i * sb]);
}

template <class T>
void BinaryT(int op_id, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out) {
  const BinaryOp op = static_cast<BinaryOp>(op_id);
  const bool simd = (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && !(sa == 0 && sb == 0);
  if (!simd || op == BinaryOp::Pow) return ref::binary(op, n, a, sa, b, sb, out);
  switch (op) {
    case BinaryOp::Add: return binary_loop(op, n, a, sa, b, sb, out, [](auto x, auto y) { return hn::Add(x, y); });
    case BinaryOp::Sub: return binary_loop(op, n, a, sa, b, sb, out, [](auto x, auto y) { return hn::Sub(x, y); });
    case BinaryOp::Mul: return binary_loop(op, n, a, sa, b, sb, out, [](auto x, auto y) { return hn::Mul(x, y); });
    case BinaryOp::Div: return binary_loop(op, n, a, sa, b, sb, out, [](auto x, auto y) { return hn::Div(x, y); });
    // x86 max/min instructions return the second operand when either is NaN; spell out ref::'s
    // rule (NaN in either input propagates) with compares instead, so the result is exact.
    // (IsNaN, not Ne(x, x): hwy's Ne is an ordered compare on x86, false for NaN.)
    case BinaryOp::Maximum:
      return binary_loop(op, n, a, sa, b, sb, out,
                         [](auto x, auto y) { return hn::IfThenElse(hn::Or(hn::Gt(x, y), hn::IsNaN(x)), x, y); });
    case BinaryOp::Minimum:
      return binary_loop(op, n, a, sa, b, sb, out,
                         [](auto x, auto y) { return hn::IfThenElse(hn::Or(hn::Lt(x, y), hn::IsNaN(x)), x, y); });
    default: return ref::binary(op, n, a, sa, b, sb, out);
  }
}

void BinaryF32(int op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* out) {
  BinaryT(op, n, a, sa, b, sb, out);
}
void BinaryF64(int op, int64_t n, const double* a, int64_t sa, const double* b, int64_t sb, double* out) {
  BinaryT(op, n, a, sa, b, sb, out);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);
namespace fast {
void binary(BinaryOp op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* out) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(int(op), n, a, sa, b, sb, out);
}
void binary(BinaryOp op, int64_t n, const double* a, int64_t sa, const double* b, int64_t sb, double* out) {
  HWY_DYNAMIC_DISPATCH(BinaryF64)(int(op), n, a, sa, b, sb, out);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
