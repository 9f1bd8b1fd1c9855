// Highway SIMD unary kernels (see kernels/unary.h for the contract). Compiled once per SIMD target
// by foreach_target.h; HWY_DYNAMIC_DISPATCH picks the best target for this CPU at the first call.
//
// Every fast op is a small struct with
//   InRange(d, x): lanes where the SIMD formula is valid (our exp, for one, only on [-87, 88]),
//   Apply(d, x)  : the SIMD formula,
// and the drivers below take care of the rest: the formula runs on every lane, and lanes out of
// range are then overwritten with ref::apply (so NaN, +-inf and overflow behave exactly as std::
// says; what the formula made of them is never seen), tails run the same vector code on a padded
// copy, and strided rows are gathered into a buffer first. That makes each element's fast value a
// function of the element alone, so results never depend on alignment or thread split.
// Ranges are chosen so every exp() result is a normal number.
//
// Speed notes (AMD Zen 3, AVX2): the transcendental loops are bound by the multiply-add pipes, not
// by memory, so the formulas below count operations: exp scales by 2^k in one step, GELU's erfc
// costs one division, one exp and a degree-9 polynomial (and hands exp(-x^2/2) to the backward),
// and the drivers process two vectors per step with one range test for both.
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

// Overwrites the lanes of o that are not in `ok` with fix(j) (the scalar reference).
template <class D, class M, class Fix>
HWY_INLINE void FixLanes(D d, M ok, hn::TFromD<D>* HWY_RESTRICT o, const Fix& fix) {
  uint8_t bits[(HWY_MAX_BYTES / sizeof(hn::TFromD<D>) + 7) / 8] = {};
  hn::StoreMaskBits(d, ok, bits);
  const int64_t L = int64_t(hn::Lanes(d));
  for (int64_t j = 0; j < L; ++j)
    if (!((bits[j / 8] >> (j % 8)) & 1)) o[j] = fix(j);
}

// Forward over contiguous x. Op::kExact marks ops with no invalid inputs (no range check needed).
// Out-of-range lanes run through the formula too (the result is garbage, NaN or inf, never a
// trap: FP exceptions are masked) and are then overwritten; this is cheaper than steering them to
// a safe value first, since they are rare.
template <UnaryOp op, class Op, class T>
HWY_INLINE void MapContiguous(int64_t n, const T* HWY_RESTRICT x, const UnaryParams& p, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  const int64_t L = int64_t(hn::Lanes(d));
  const Op f{d, p};
  auto vector = [&](const T* xi, T* oi) {
    const auto v = hn::LoadU(d, xi);
    hn::StoreU(f.Apply(d, v), d, oi);
    if constexpr (!Op::kExact) {
      const auto ok = f.InRange(d, v);
      if (!hn::AllTrue(d, ok)) FixLanes(d, ok, oi, [&](int64_t j) { return ref::apply<op>(xi[j], p); });
    }
  };
  int64_t i = 0;
  // Two vectors per step: independent work for the out-of-order core, one branch for both.
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + L);
    hn::StoreU(f.Apply(d, v0), d, out + i);
    hn::StoreU(f.Apply(d, v1), d, out + i + L);
    if constexpr (!Op::kExact) {
      const auto ok0 = f.InRange(d, v0), ok1 = f.InRange(d, v1);
      if (!hn::AllTrue(d, hn::And(ok0, ok1))) {
        FixLanes(d, ok0, out + i, [&](int64_t j) { return ref::apply<op>(x[i + j], p); });
        FixLanes(d, ok1, out + i + L, [&](int64_t j) { return ref::apply<op>(x[i + L + j], p); });
      }
    }
  }
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
    const auto vv = hn::LoadU(d, vi);
    hn::StoreU(f.Backward(d, hn::LoadU(d, gi), vv), d, oi);
    if constexpr (!Op::kExact) {
      const auto ok = f.InRange(d, vv);
      if (!hn::AllTrue(d, ok)) FixLanes(d, ok, oi, [&](int64_t j) { return scalar(gi[j], vi[j]); });
    }
  };
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto v0 = hn::LoadU(d, v + i), v1 = hn::LoadU(d, v + i + L);
    hn::StoreU(f.Backward(d, hn::LoadU(d, g + i), v0), d, dx + i);
    hn::StoreU(f.Backward(d, hn::LoadU(d, g + i + L), v1), d, dx + i + L);
    if constexpr (!Op::kExact) {
      const auto ok0 = f.InRange(d, v0), ok1 = f.InRange(d, v1);
      if (!hn::AllTrue(d, hn::And(ok0, ok1))) {
        FixLanes(d, ok0, dx + i, [&](int64_t j) { return scalar(g[i + j], v[i + j]); });
        FixLanes(d, ok1, dx + i + L, [&](int64_t j) { return scalar(g[i + L + j], v[i + L + j]); });
      }
    }
  }
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

// Inputs of exp() whose results are normal numbers: float e^-87 > FLT_MIN = e^-87.34,
// e^88 < FLT_MAX; double e^-708 > DBL_MIN, e^706 < DBL_MAX.
template <class T> constexpr double kExpLo = kF32<T> ? -87.0 : -708.0;
template <class T> constexpr double kExpHi = kF32<T> ? 88.0 : 706.0;

// e^x for x in [kExpLo, kExpHi] (other lanes: garbage) is hwy's Exp (<= 1 ulp) with the same
// reduction x = k ln2 + r (ln2 in two parts, so k * part0 is exact) and the same polynomial for
// e^r - 1, but cheaper at both ends: k = round(x / ln2) comes from adding 1.5 * 2^mantissa_bits,
// which leaves k in the low bits of the sum, and 2^k is then one shift of those bits into the
// exponent field. In this range 2^k is a normal number, so one multiplication scales (hwy's Exp
// handles every input and scales twice). k can differ from hwy's only where x / ln2 is within an
// ulp of a half-integer; either choice keeps |r| <= ln2 / 2 (+ an ulp) and the same accuracy.
template <class V>
struct ExpReduced {
  V r;   // x - k ln2
  V km;  // k + magic (below), whose low bits hold k + exponent bias
};
template <class D, class V>
HWY_INLINE ExpReduced<V> ExpReduce(D d, V x) {
  using T = hn::TFromD<D>;
  // 1.5 * 2^mantissa_bits plus the exponent bias: adding it rounds x / ln2 to an integer k (the
  // bias is an integer, so it does not change the rounding) and leaves k + bias in the low bits.
  const V magic = hn::Set(d, kF32<T> ? T(0x1.8p23 + 127) : T(0x1.8p52 + 1023));
  const V km = hn::MulAdd(x, hn::Set(d, T(1.442695040888963407359924681)), magic);  // k + magic, exactly
  const V k = hn::Sub(km, magic);
  // -ln2 = part0 + part1 (hwy's split: part0 has few enough bits that k * part0 is exact).
  V r = hn::MulAdd(k, hn::Set(d, T(kF32<T> ? -0.693145751953125 : -0.6931471805596629565116018)), x);
  r = hn::MulAdd(k, hn::Set(d, T(kF32<T> ? -1.428606765330187045e-6 : -0.28235290563031577122588448175e-12)), r);
  return {r, km};
}
// 2^k from ExpReduce's km: the low bits of km's representation hold k + bias (in [1, 254] for
// float), those above them the constant exponent of magic, which the shift discards, so km's bits
// << mantissa bits = (k + bias) << mantissa bits, the representation of 2^k.
template <class D, class V>
HWY_INLINE V Pow2FromReduced(D d, V km) {
  using T = hn::TFromD<D>;
  const hn::RebindToSigned<D> di;
  return hn::BitCast(d, hn::ShiftLeft<kF32<T> ? 23 : 52>(hn::BitCast(di, km)));
}
template <class D, class V>
HWY_INLINE V ExpNormal(D d, V x) {
  using T = hn::TFromD<D>;
  const ExpReduced<V> e = ExpReduce(d, x);
  const V y = hn::Add(hn::impl::ExpImpl<T>().ExpPoly(d, e.r), hn::Set(d, T(1)));
  return hn::Mul(y, Pow2FromReduced(d, e.km));
}

// erfc(a) / 2 for float a in [0, 9.2] to within 4 ulp. Our own fit:
//   erfc(a) = exp(-a^2) P(q) / (a + 3),   q = (a - 3) / (a + 3) in [-1, 0.51],
// where P(q) approximates (a + 3) exp(a^2) erfc(a), which falls from 3 at a = 0 to 0.74 at a = 9.2:
// the map q(a) lets a polynomial follow erfcx(a) ~ 1 / (a sqrt(pi)) out to large a, and the factor
// (a + 3) keeps P within a factor of 4, so its evaluation does not cancel. P has degree 9 (weighted
// least squares towards minimax of the relative error on Chebyshev nodes, reference values from
// mpmath, coefficients rounded to float one at a time with the rest refitted: 7.8e-9).
// One division, R = 1 / fl(a + 3), gives both q = 1 - 6R and the factor. Rounding a + 3 moves both
// to a' = fl(a + 3) - 3, off by up to half an ulp of a + 3 (~0.9 ulp of the result near a = 0.5);
// delta = a - a' is exact, and the first-order correction h += delta * h'(a), with h = erfcx / 2
// and h' = 2 a h - 1/sqrt(pi), removes that (correcting R instead, before q is formed, measured
// 0.8 ulp worse). exp(-a^2) is exp(-s - t) with s = fl(a * a) and t = a * a - s exact from an FMA
// (the rounding of a^2, relative error up to 85 * 2^-24 at a = 9.2, would otherwise reach the
// result); t joins the reduced argument r, and h * e^r is one FMA, h + h * (e^r - 1), before the
// exact scaling by 2^k. Measured: GELU for x < 0 (x * erfc / 2) is within 3.3 * 2^-23 relative of
// the double formula over every 23rd float of [-13, 0] (the form this replaces, Juffa's erfcf
// layout with a (1 + 2a) factor, reached 3.2 with a second quotient and ten more multiply-adds per
// vector). Returning erfc / 2 saves GELU a multiplication (the 0.5 is folded into P's coefficients
// exactly), and returning exp(-a^2) as well saves GELU's backward a second exp (a caller that does
// not need it lets the compiler drop it). Targets without FMA (SSE4, scalar) lose the FMA-exact
// steps and some accuracy far out in the tail (33 * 2^-23 relative at x = -12, where f is steep:
// |x f'(x) / f(x)| = 144; tests/ops/unary_test.cc bounds such targets by that slope).
template <class V>
struct HalfErfc {
  V half_erfc;  // erfc(a) / 2
  V gauss;      // exp(-a^2)
};
template <class D, class V>
HWY_INLINE HalfErfc<V> HalfErfcF32(D d, V a) {
  const V one = hn::Set(d, 1.0f), three = hn::Set(d, 3.0f);
  const V ap = hn::Add(a, three);
  const V delta = hn::Sub(a, hn::Sub(ap, three));  // a - a', exact
  const V R = hn::Div(one, ap);
  const V q = hn::NegMulAdd(hn::Set(d, 6.0f), R, one);
  // P(q) / 2: Horner's scheme for the three leading terms, which carry the result and so decide its
  // rounding, and Estrin's for the small tail, whose shorter dependency chain the loop needs.
  const V q2 = hn::Mul(q, q), q4 = hn::Mul(q2, q2);
  const V p34 = hn::MulAdd(hn::Set(d, 0x1.e99cdcp-5f), q, hn::Set(d, -0x1.3deae2p-3f));
  const V p56 = hn::MulAdd(hn::Set(d, -0x1.459c4ep-11f), q, hn::Set(d, -0x1.b7ad82p-7f));
  const V p78 = hn::MulAdd(hn::Set(d, -0x1.f03d22p-13f), q, hn::Set(d, 0x1.91ca7ep-10f));
  const V p79 = hn::MulAdd(hn::Set(d, -0x1.4a678ep-13f), q2, p78);
  const V p39 = hn::MulAdd(p79, q4, hn::MulAdd(p56, q2, p34));
  V p = hn::MulAdd(p39, q, hn::Set(d, 0x1.2e3256p-2f));
  p = hn::MulAdd(p, q, hn::Set(d, -0x1.c44c48p-2f));
  p = hn::MulAdd(p, q, hn::Set(d, 0x1.12f21ep-1f));
  const V hq = hn::Mul(p, R);  // erfcx(a') / 2
  const V dh = hn::MulAdd(hn::Add(a, a), hq, hn::Set(d, -0.56418958354775628695f));
  const V h = hn::MulAdd(delta, dh, hq);  // erfcx(a) / 2
  const V ns = hn::NegMulAdd(a, a, hn::Zero(d));  // -s
  const V t = hn::MulAdd(a, a, ns);               // a^2 - s, exact
  const ExpReduced<V> e = ExpReduce(d, ns);
  // e^r - 1 = r + r^2 Q(r) at r - t. Q has degree 4, one lower than hwy's: its error, 3.1e-9
  // relative to e^r on |r| <= ln2 / 2 + 2e-5 (fitted like P), is far below the roundings.
  const V r = hn::Sub(e.r, t);
  const V r2 = hn::Mul(r, r);
  const V e01 = hn::MulAdd(hn::Set(d, 0x1.555492p-3f), r, hn::Set(d, 0x1.fffffcp-2f));
  const V e23 = hn::MulAdd(hn::Set(d, 0x1.12397ep-7f), r, hn::Set(d, 0x1.5558aep-5f));
  const V e24 = hn::MulAdd(hn::Set(d, 0x1.6a4f54p-10f), r2, e23);
  const V em1 = hn::MulAdd(r2, hn::MulAdd(e24, r2, e01), r);  // e^(r - t) - 1
  const V scale = Pow2FromReduced(d, e.km);
  return {hn::Mul(hn::MulAdd(h, em1, h), scale), hn::Mul(hn::Add(em1, one), scale)};
}

// ------------------------------------------------------------------------------ ops
// Each struct is constructed per call with the tag and the params (vectors hoisted there).

template <class D>
struct ExpOp {
  static constexpr bool kExact = false;
  using T = hn::TFromD<D>;
  ExpOp(D, const UnaryParams&) {}
  template <class V> auto InRange(D d, V x) const { return Within(d, x, kExpLo<T>, kExpHi<T>); }
  template <class V> V Apply(D d, V x) const { return ExpNormal(d, x); }
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
    return hn::Div(one, hn::Add(one, ExpNormal(d, hn::Neg(x))));
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
    return hn::Div(x, hn::Add(hn::Set(d, T(1)), ExpNormal(d, hn::Neg(x))));
  }
  // g * s * (1 + x * (1 - s)), s = sigmoid(x), in ref::'s order.
  template <class V> V Backward(D d, V g, V x) const {
    const V one = hn::Set(d, T(1));
    const V s = hn::Div(one, hn::Add(one, ExpNormal(d, hn::Neg(x))));
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
  // The formula's range is in z = x / sqrt2: |z| <= fl(13 / sqrt2) holds for every |x| <= 13
  // (rounding is monotonic) and for the few x just beyond with the same z. Testing z shares z and
  // |z| with Cdf. NaN compares false.
  template <class V> auto InRange(D d, V x) const {
    return hn::Le(hn::Abs(hn::Mul(x, hn::Set(d, T(kSqrtHalf)))), hn::Set(d, T(13 * kSqrtHalf)));
  }
  // Phi(x) = erfc(-z) / 2, z = x / sqrt2: erfc(|z|) / 2 for z < 0, else 1 - erfc(|z|) / 2; the sign
  // test reads z's sign bit (z = 0 gives 1/2 either way). Also returns exp(-z^2) through `gauss`.
  template <class V> V Cdf(D d, V x, V* gauss) const {
    const V z = hn::Mul(x, hn::Set(d, T(kSqrtHalf)));  // rounds as ref::'s -x * kSqrtHalf does
    const HalfErfc<V> e = HalfErfcF32(d, hn::Abs(z));
    if (gauss) *gauss = e.gauss;
    return hn::IfNegativeThenElse(z, e.half_erfc, hn::Sub(hn::Set(d, T(1)), e.half_erfc));
  }
  // x * Phi(x): ref:: rounds (x * 0.5) * erfc, the same value as x * (erfc / 2) (scaling by 1/2 is
  // exact for normal numbers).
  template <class V> V Apply(D d, V x) const { return hn::Mul(x, Cdf(d, x, static_cast<V*>(nullptr))); }
  // g * (Phi(x) + x * phi(x)), in ref::'s order. phi(x) = exp(-x^2 / 2) / sqrt(2 pi) is taken from
  // the erfc's exp(-z^2): z's rounding moves it by a relative x^2 2^-24, which x * phi(x) (at most
  // 0.24, and < 2^-9 where x^2 > 25) turns into less than 0.25 ulp of the derivative's scale.
  template <class V> V Backward(D d, V g, V x) const {
    V gauss;
    const V cdf = Cdf(d, x, &gauss);
    const V pdf = hn::Mul(hn::Set(d, T(kGeluAlpha)), gauss);
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
    const V e = ExpNormal(d, hn::Mul(hn::Set(d, T(-2)), hn::Abs(u)));
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
