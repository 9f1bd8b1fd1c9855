// Highway SIMD unary kernels (see kernels/unary.h for the contract). Compiled once per SIMD target
// by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target for this CPU at the first call.
//
// Every fast op is a small struct with
//   InRange(d, x): lanes where the SIMD formula is valid (hwy's Exp, for one, is only defined on
//                  [-FLT_MAX, 104] and maps NaN to 0),
//   Apply(d, x)  : the SIMD formula,
// and the drivers below take care of the rest: out-of-range lanes are recomputed with ref::apply
// (so NaN, +-inf and overflow behave exactly as std:: says), tails run the same vector code on a
// padded copy, and strided rows are gathered into a buffer first. That makes each element's fast
// value a function of the element alone, so results never depend on alignment or thread split.
// Ranges are chosen so every exp() result is a normal number: hwy's Exp is not specified to be
// accurate for subnormal results.
#include <algorithm>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/unary.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/unary.h"

HWY_BEFORE_NAMESPACE();
namespace attn::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T> constexpr bool kF32 = sizeof(T) == 4;

// ------------------------------------------------------------------------------ drivers

// Elements per gather block for strided input (a few KB on the stack).
constexpr int64_t kGatherBlock = 512;

// Forward over contiguous x. Op::kExact marks ops with no invalid inputs (no range check needed).
template <UnaryOp op, class Op, class T>
HWY_INLINE void MapContiguous(int64_t n, const T* HWY_RESTRICT x, const UnaryParams& p, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  const Op f{d, p};
  auto vector = [&](const T* xi, T* oi) {
    const auto v = hn::LoadU(d, xi);
    if constexpr (Op::kExact) {
      hn::StoreU(f.Apply(d, v), d, oi);
    } else {
      const auto ok = f.InRange(d, v);
      // Out-of-range lanes compute on 1 (valid for every op) and are then overwritten.
      hn::StoreU(f.Apply(d, hn::IfThenElse(ok, v, hn::Set(d, T(1)))), d, oi);
      if (!hn::AllTrue(d, ok)) {
        uint8_t bits[(HWY_MAX_BYTES / sizeof(T) + 7) / 8] = {};
        hn::StoreMaskBits(d, ok, bits);
        for (int64_t j = 0; j < L; ++j)
          if (!((bits[j / 8] >> (j % 8)) & 1)) oi[j] = ref::apply<op>(xi[j], p);
      }
    }
  };
  int64_t i = 0;
  for (; i + L <= n; i += L) vector(x + i, out + i);
  if (i < n) {  // tail: same vector code on a copy padded with 1
    HWY_ALIGN T bx[HWY_MAX_BYTES / sizeof(T)];
    HWY_ALIGN T bo[HWY_MAX_BYTES / sizeof(T)];
    for (int64_t j = 0; j < L; ++j) bx[j] = i + j < n ? x[i + j] : T(1);
    vector(bx, bo);
    for (int64_t j = 0; i + j < n; ++j) out[i + j] = bo[j];
  }
}

template <UnaryOp op, class Op, class T>
HWY_INLINE void Map(int64_t n, const T* x, int64_t sx, const UnaryParams& p, T* out) {
  if (sx == 1) return MapContiguous<op, Op>(n, x, p, out);
  HWY_ALIGN T buf[kGatherBlock];
  for (int64_t b = 0; b < n; b += kGatherBlock) {
    const int64_t m = std::min(kGatherBlock, n - b);
    for (int64_t j = 0; j < m; ++j) buf[j] = x[(b + j) * sx];
    MapContiguous<op, Op>(m, buf, p, out + b);
  }
}

// Backward: dx = g * f'(v), v = x or y (backward_reads_output). Range checks look at v.
template <UnaryOp op, class Op, class T>
HWY_INLINE void MapBackward(int64_t n, const T* HWY_RESTRICT g, const T* HWY_RESTRICT v, const UnaryParams& p,
                            T* HWY_RESTRICT dx) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  const Op f{d, p};
  constexpr bool reads_y = backward_reads_output(op);
  auto scalar = [&](T gj, T vj) {
    return reads_y ? ref::apply_backward<op>(gj, T(0), vj, p) : ref::apply_backward<op>(gj, vj, T(0), p);
  };
  auto vector = [&](const T* gi, const T* vi, T* oi) {
    const auto vg = hn::LoadU(d, gi), vv = hn::LoadU(d, vi);
    if constexpr (Op::kExact) {
      hn::StoreU(f.Backward(d, vg, vv), d, oi);
    } else {
      const auto ok = f.InRange(d, vv);
      hn::StoreU(f.Backward(d, vg, hn::IfThenElse(ok, vv, hn::Set(d, T(1)))), d, oi);
      if (!hn::AllTrue(d, ok)) {
        uint8_t bits[(HWY_MAX_BYTES / sizeof(T) + 7) / 8] = {};
        hn::StoreMaskBits(d, ok, bits);
        for (int64_t j = 0; j < L; ++j)
          if (!((bits[j / 8] >> (j % 8)) & 1)) oi[j] = scalar(gi[j], vi[j]);
      }
    }
  };
  int64_t i = 0;
  for (; i + L <= n; i += L) vector(g + i, v + i, dx + i);
  if (i < n) {
    HWY_ALIGN T bg[HWY_MAX_BYTES / sizeof(T)];
    HWY_ALIGN T bv[HWY_MAX_BYTES / sizeof(T)];
    HWY_ALIGN T bo[HWY_MAX_BYTES / sizeof(T)];
    for (int64_t j = 0; j < L; ++j) {
      bg[j] = i + j < n ? g[i + j] : T(0);
      bv[j] = i + j < n ? v[i + j] : T(1);
    }
    vector(bg, bv, bo);
    for (int64_t j = 0; i + j < n; ++j) dx[i + j] = bo[j];
  }
}

// ------------------------------------------------------------------------------ shared pieces

// Lanes in [lo, hi]; NaN fails both comparisons, so it is always out of range.
template <class D, class V>
HWY_INLINE auto Within(D d, V x, double lo, double hi) {
  using T = hn::TFromD<D>;
  return hn::And(hn::Ge(x, hn::Set(d, T(lo))), hn::Le(x, hn::Set(d, T(hi))));
}

// Inputs of exp() whose results are normal numbers, with hwy's Exp inside its valid range:
// float e^-87 > FLT_MIN = e^-87.34, e^88 < FLT_MAX; double e^-708 > DBL_MIN, hwy's f64 limit 706.
template <class T> constexpr double kExpLo = kF32<T> ? -87.0 : -708.0;
template <class T> constexpr double kExpHi = kF32<T> ? 88.0 : 706.0;

// erfc(a) for float a in [0, 9.2] to within 4 ulp (measured against double erfc over a dense grid
// plus hwy's Exp <= 1 ulp). Our own fit, after Juffa's layout for erfcf:
//   erfc(a) = exp(-a^2) * (1 + p(q)) / (1 + 2a),   q = (a - 2) / (a + 2) in [-1, 0.64],
// p a degree-11 polynomial fitted (reweighted least squares on Chebyshev nodes, relative error
// 1.2e-9) to (1 + 2a) exp(a^2) erfc(a) - 1. exp(-a^2) is exp(-s) (1 - t) with s = fl(a * a) and
// t = a * a - s exact from an FMA, so the rounding of a^2 (relative error up to 85 * 2^-24 at
// a = 9.2) does not reach the result. Targets without FMA (SSE4) lose that correction.
template <class D, class V>
HWY_INLINE V ErfcF32(D d, V a) {
  const V q = hn::Div(hn::Sub(a, hn::Set(d, 2.0f)), hn::Add(a, hn::Set(d, 2.0f)));
  V p = hn::Set(d, 0x1.47070cp-14f);
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.5cb7a8p-13f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.a47f82p-12f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.73a3e0p-10f));
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.48b69ap-10f));
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.1d5848p-7f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.072c26p-7f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.bc26b8p-5f));
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.4ffa08p-3f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.5407d0p-3f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.7bf5ecp-4f));
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.1ba038p-2f));
  const V one = hn::Set(d, 1.0f);
  const V r = hn::Div(hn::Add(one, p), hn::MulAdd(hn::Set(d, 2.0f), a, one));
  const V s = hn::Mul(a, a);
  const V t = hn::MulSub(a, a, s);
  const V re = hn::Mul(r, hn::Exp(d, hn::Neg(s)));
  return hn::NegMulAdd(re, t, re);
}

// erfc(-z) for float z with |z| <= 9.2, the x * 0.5 * erfc(-x / sqrt2) of GELU.
template <class D, class V>
HWY_INLINE V ErfcNegF32(D d, V z) {
  const V e = ErfcF32(d, hn::Abs(z));
  return hn::IfThenElse(hn::Gt(z, hn::Zero(d)), hn::Sub(hn::Set(d, 2.0f), e), e);
}

// ------------------------------------------------------------------------------ ops
// Each struct is constructed per call with the tag and the params (vectors hoisted there).

template <class D>
struct ExpOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  ExpOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const { return Within(d, x, kExpLo<T>, kExpHi<T>); }
  template <class V> V Apply(D d, V x) const { return hn::Exp(d, x); }
};

// exp backward from y: g * y; exact.
template <class D>
struct ExpBackwardOp {
  static constexpr bool kExact = true;
  ExpBackwardOp(D, const UnaryParams&) {}
  template <class V> V Backward(D, V g, V y) const { return hn::Mul(g, y); }
};

template <class D>
struct LogOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  LogOp(D, const UnaryParams&) {}
  // Positive normal numbers: 0, negatives, subnormals, inf and NaN go to std::log.
  template <class V> auto InRange(D d, V x) const {
    return Within(d, x, double(std::numeric_limits<T>::min()), double(std::numeric_limits<T>::max()));
  }
  template <class V> V Apply(D d, V x) const { return hn::Log(d, x); }
};

template <class D>
struct TanhOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  TanhOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const {
    return hn::Le(hn::Abs(x), hn::Set(d, std::numeric_limits<T>::max()));
  }
  template <class V> V Apply(D d, V x) const { return hn::Tanh(d, x); }
};

// tanh backward from y: g * ((1 - y) (1 + y)); exact, so it lives in its own struct without a range.
template <class D>
struct TanhBackwardOp {
  static constexpr bool kExact = true;
  using T = hn::TFromD<D>;
  TanhBackwardOp(D, const UnaryParams&) {}
  template <class V> V Backward(D d, V g, V y) const {
    const V one = hn::Set(d, T(1));
    return hn::Mul(g, hn::Mul(hn::Sub(one, y), hn::Add(one, y)));
  }
};

template <class D>
struct SigmoidOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  SigmoidOp(D, const UnaryParams&) {}
  // exp(-x) must be normal: -x in [kExpLo, kExpHi], tightened to the symmetric [-87, 87] for float.
  template <class V> auto InRange(D d, V x) const {
    return Within(d, x, kF32<T> ? -87.0 : -kExpHi<T>, kF32<T> ? 87.0 : kExpHi<T>);
  }
  template <class V> V Apply(D d, V x) const {
    const V one = hn::Set(d, T(1));
    return hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(x))));
  }
};

// sigmoid backward from y: g * (1 - y) * y; exact.
template <class D>
struct SigmoidBackwardOp {
  static constexpr bool kExact = true;
  using T = hn::TFromD<D>;
  SigmoidBackwardOp(D, const UnaryParams&) {}
  template <class V> V Backward(D d, V g, V y) const { return hn::Mul(hn::Mul(g, hn::Sub(hn::Set(d, T(1)), y)), y); }
};

template <class D>
struct SiluOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  SiluOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const { return SigmoidOp<D>(d, {}).InRange(d, x); }
  template <class V> V Apply(D d, V x) const {
    return hn::Div(x, hn::Add(hn::Set(d, T(1)), hn::Exp(d, hn::Neg(x))));
  }
  // g * s * (1 + x * (1 - s)), s = sigmoid(x), in ref::'s order.
  template <class V> V Backward(D d, V g, V x) const {
    const V one = hn::Set(d, T(1));
    const V s = hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(x))));
    return hn::Mul(hn::Mul(g, s), hn::MulAdd(x, hn::Sub(one, s), one));
  }
};

// GELU, erf form, float only (double uses ref::: we have no double-accurate erfc in SIMD).
// |x| <= 13 keeps |z| <= 9.2, where erfc(z) and exp(-x^2/2) are still normal floats.
template <class D>
struct GeluOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  GeluOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const { return Within(d, x, -13.0, 13.0); }
  template <class V> V Apply(D d, V x) const {
    const V z = hn::Mul(x, hn::Set(d, T(kSqrtHalf)));  // rounds as ref::'s -x * kSqrtHalf does
    return hn::Mul(hn::Mul(x, hn::Set(d, T(0.5))), ErfcNegF32(d, z));
  }
  // g * (Phi(x) + x * phi(x)), in ref::'s order.
  template <class V> V Backward(D d, V g, V x) const {
    const V cdf = hn::Mul(hn::Set(d, T(0.5)), ErfcNegF32(d, hn::Mul(x, hn::Set(d, T(kSqrtHalf)))));
    const V pdf = hn::Mul(hn::Set(d, T(kGeluAlpha)), hn::Exp(d, hn::Mul(hn::Mul(hn::Set(d, T(-0.5)), x), x)));
    return hn::Mul(g, hn::MulAdd(x, pdf, cdf));
  }
};

// GELU, tanh form, as x * sigmoid(2u) (see ref::gelu_tanh_sigmoid). The range keeps exp(-2|u|)
// normal: |u| <= 43 for float (|x| <= 9.9), |u| <= 354 for double (|x| <= 21).
template <class D>
struct GeluTanhOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  GeluTanhOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const {
    return Within(d, x, kF32<T> ? -9.9 : -21.0, kF32<T> ? 9.9 : 21.0);
  }
  // {s, 1 - s} as ref::gelu_tanh_sigmoid.
  template <class V> void Sigmoids(D d, V x, V& s, V& c) const {
    const V u = hn::Mul(hn::Set(d, T(kGeluBeta)), hn::MulAdd(hn::Set(d, T(kGeluKappa)), hn::Mul(hn::Mul(x, x), x), x));
    const V e = hn::Exp(d, hn::Mul(hn::Set(d, T(-2)), hn::Abs(u)));
    const V big = hn::Div(hn::Set(d, T(1)), hn::Add(hn::Set(d, T(1)), e));
    const V small = hn::Mul(e, big);
    const auto pos = hn::Ge(u, hn::Zero(d));
    s = hn::IfThenElse(pos, big, small);
    c = hn::IfThenElse(pos, small, big);
  }
  template <class V> V Apply(D d, V x) const {
    V s, c;
    Sigmoids(d, x, s, c);
    return hn::Mul(x, s);
  }
  template <class V> V Backward(D d, V g, V x) const {
    V s, c;
    Sigmoids(d, x, s, c);
    const V du = hn::Mul(hn::Set(d, T(kGeluBeta)), hn::MulAdd(hn::Set(d, T(3 * kGeluKappa)), hn::Mul(x, x), hn::Set(d, T(1))));
    return hn::Mul(g, hn::MulAdd(hn::Mul(hn::Mul(hn::Set(d, T(2)), x), hn::Mul(s, c)), du, s));
  }
};

// Exact ops: the same IEEE operations as ref::, so the results are bitwise equal. None of them
// has a product feeding a sum, so FMA contraction cannot change them either.
template <class D>
struct ReluOp {
  static constexpr bool kExact = true;
  ReluOp(D, const UnaryParams&) {}
  template <class V> V Apply(D d, V x) const { return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(d)), x); }
  template <class V> V Backward(D d, V g, V y) const { return hn::IfThenElseZero(hn::Gt(y, hn::Zero(d)), g); }
};

template <class D>
struct LeakyReluOp {
  static constexpr bool kExact = true;
  using T = hn::TFromD<D>;
  T alpha;
  LeakyReluOp(D, const UnaryParams& p) : alpha(T(p.alpha)) {}
  template <class V> V Apply(D d, V x) const {
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(x, hn::Set(d, alpha)));
  }
};

template <class D>
struct AbsOp {
  static constexpr bool kExact = true;
  AbsOp(D, const UnaryParams&) {}
  template <class V> V Apply(D, V x) const { return hn::Abs(x); }
};

template <class D>
struct SqrtOp {
  static constexpr bool kExact = true;
  SqrtOp(D, const UnaryParams&) {}
  template <class V> V Apply(D, V x) const { return hn::Sqrt(x); }
};

template <class D>
struct RsqrtOp {
  static constexpr bool kExact = true;  // 1 / sqrt(x), two correctly rounded steps (not the approximate rsqrt instruction)
  using T = hn::TFromD<D>;
  RsqrtOp(D, const UnaryParams&) {}
  template <class V> V Apply(D d, V x) const { return hn::Div(hn::Set(d, T(1)), hn::Sqrt(x)); }
};

template <class D>
struct SquareOp {
  static constexpr bool kExact = true;
  SquareOp(D, const UnaryParams&) {}
  template <class V> V Apply(D, V x) const { return hn::Mul(x, x); }
};

// ------------------------------------------------------------------------------ entry points

template <class T>
void UnaryT(int op_id, int64_t n, const T* x, int64_t sx, const UnaryParams& p, T* out) {
  using D = hn::ScalableTag<T>;
  switch (static_cast<UnaryOp>(op_id)) {
    case UnaryOp::Exp: return Map<UnaryOp::Exp, ExpOp<D>>(n, x, sx, p, out);
    case UnaryOp::Log: return Map<UnaryOp::Log, LogOp<D>>(n, x, sx, p, out);
    case UnaryOp::Tanh: return Map<UnaryOp::Tanh, TanhOp<D>>(n, x, sx, p, out);
    case UnaryOp::Sigmoid: return Map<UnaryOp::Sigmoid, SigmoidOp<D>>(n, x, sx, p, out);
    case UnaryOp::Silu: return Map<UnaryOp::Silu, SiluOp<D>>(n, x, sx, p, out);
    case UnaryOp::GeluTanh: return Map<UnaryOp::GeluTanh, GeluTanhOp<D>>(n, x, sx, p, out);
    case UnaryOp::Gelu:
      if constexpr (kF32<T>) return Map<UnaryOp::Gelu, GeluOp<D>>(n, x, sx, p, out);
      break;
    case UnaryOp::Relu: return Map<UnaryOp::Relu, ReluOp<D>>(n, x, sx, p, out);
    case UnaryOp::LeakyRelu: return Map<UnaryOp::LeakyRelu, LeakyReluOp<D>>(n, x, sx, p, out);
    case UnaryOp::Abs: return Map<UnaryOp::Abs, AbsOp<D>>(n, x, sx, p, out);
    case UnaryOp::Sqrt: return Map<UnaryOp::Sqrt, SqrtOp<D>>(n, x, sx, p, out);
    case UnaryOp::Rsqrt: return Map<UnaryOp::Rsqrt, RsqrtOp<D>>(n, x, sx, p, out);
    case UnaryOp::Square: return Map<UnaryOp::Square, SquareOp<D>>(n, x, sx, p, out);
    default: break;
  }
  ref::unary(static_cast<UnaryOp>(op_id), n, x, sx, p, out);
}

template <class T>
void UnaryBackwardT(int op_id, int64_t n, const T* g, const T* x, const T* y, const UnaryParams& p, T* dx) {
  using D = hn::ScalableTag<T>;
  switch (static_cast<UnaryOp>(op_id)) {
    case UnaryOp::Exp: return MapBackward<UnaryOp::Exp, ExpBackwardOp<D>>(n, g, y, p, dx);
    case UnaryOp::Tanh: return MapBackward<UnaryOp::Tanh, TanhBackwardOp<D>>(n, g, y, p, dx);
    case UnaryOp::Sigmoid: return MapBackward<UnaryOp::Sigmoid, SigmoidBackwardOp<D>>(n, g, y, p, dx);
    case UnaryOp::Relu: return MapBackward<UnaryOp::Relu, ReluOp<D>>(n, g, y, p, dx);
    case UnaryOp::Silu: return MapBackward<UnaryOp::Silu, SiluOp<D>>(n, g, x, p, dx);
    case UnaryOp::GeluTanh: return MapBackward<UnaryOp::GeluTanh, GeluTanhOp<D>>(n, g, x, p, dx);
    case UnaryOp::Gelu:
      if constexpr (kF32<T>) return MapBackward<UnaryOp::Gelu, GeluOp<D>>(n, g, x, p, dx);
      break;
    default: break;
  }
  ref::unary_backward(static_cast<UnaryOp>(op_id), n, g, x, y, p, dx);
}

void UnaryF32(int op, int64_t n, const float* x, int64_t sx, const UnaryParams& p, float* out) {
  UnaryT(op, n, x, sx, p, out);
}
void UnaryF64(int op, int64_t n, const double* x, int64_t sx, const UnaryParams& p, double* out) {
  UnaryT(op, n, x, sx, p, out);
}
void UnaryBackwardF32(int op, int64_t n, const float* g, const float* x, const float* y, const UnaryParams& p,
                      float* dx) {
  UnaryBackwardT(op, n, g, x, y, p, dx);
}
void UnaryBackwardF64(int op, int64_t n, const double* g, const double* x, const double* y, const UnaryParams& p,
                      double* dx) {
  UnaryBackwardT(op, n, g, x, y, p, dx);
}

}  // namespace attn::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernels {
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(UnaryBackwardF32);
HWY_EXPORT(UnaryBackwardF64);
namespace fast {
void unary(UnaryOp op, int64_t n, const float* x, int64_t sx, const UnaryParams& p, float* out) {
  HWY_DYNAMIC_DISPATCH(UnaryF32)(int(op), n, x, sx, p, out);
}
void unary(UnaryOp op, int64_t n, const double* x, int64_t sx, const UnaryParams& p, double* out) {
  HWY_DYNAMIC_DISPATCH(UnaryF64)(int(op), n, x, sx, p, out);
}
void unary_backward(UnaryOp op, int64_t n, const float* g, const float* x, const float* y, const UnaryParams& p,
                    float* dx) {
  HWY_DYNAMIC_DISPATCH(UnaryBackwardF32)(int(op), n, g, x, y, p, dx);
}
void unary_backward(UnaryOp op, int64_t n, const double* g, const double* x, const double* y, const UnaryParams& p,
                    double* dx) {
  HWY_DYNAMIC_DISPATCH(UnaryBackwardF64)(int(op), n, g, x, y, p, dx);
}
}  // namespace fast
}  // namespace attn::kernels
#endif
