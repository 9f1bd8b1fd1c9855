// Unary elementwise kernels: out[i] = f(x[i * sx]) for i < n, out contiguous, and their
// backward dx[i] = g[i] * f'(x[i]) (written from x or from the forward output y, whichever the
// derivative needs; see backward_reads_output()). The op is chosen once per call, never per
// element. What this file is not: broadcasting or dtype promotion (the op layer does those).
//
// Backward kernels WRITE dx (=) instead of accumulating into it: the op layer always hands them
// a freshly allocated buffer, and these ops are memory-bound, so a zero fill would cost a third
// of the pass.
//
// ref:: is the obviously-correct scalar loop in T's own precision with std:: functions. It is
// templated on float and double; abs, relu, square, clamp and pow also take integer types.
// fast:: is Highway SIMD (AVX2 / AVX-512 picked at run time) with the same signatures:
//   - exact (bit for bit equal to ref::): abs, sqrt, rsqrt, square, relu, leaky_relu and the
//     exp / tanh / sigmoid / relu backward (IEEE-754 rounds each of their operations the same way);
//   - within a few ulp of ref:: (tolerances in tests/ops/unary_test.cc): exp, log, tanh, sigmoid,
//     silu, gelu (tanh form, float and double; erf form, float only) and the backward of silu
//     and both gelus, built on hwy/contrib/math (Log and Tanh <= 4 ulp), our exp (hwy's
//     polynomial with a cheaper reduction, <= 1.04 ulp) and, for gelu's erfc, our own fit (<= 4
//     ulp); see kernels/cpu/unary.cc. These bounds assume an FMA target (AVX2, AVX-512); on SSE4
//     hwy's MulAdd rounds twice and they loosen;
//   - everything else calls ref::.
// A fast element's value depends only on the element, never on its position, alignment, row
// stride or the thread split: loop tails run through the same vector code on a padded copy, and
// lanes outside the range where the SIMD formula is valid (NaN, +-inf, exp overflow, ...) are
// recomputed with ref::, so special values behave exactly as std:: says.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace attn::kernels {

enum class UnaryOp : int {
  Exp, Expm1, Log, Log1p, Sqrt, Rsqrt, Abs, Square, Sin, Cos,
  Tanh, Sigmoid, Relu, LeakyRelu, Gelu, GeluTanh, Silu,
  Clamp,  // lo <= x <= hi, bounds in params (a missing bound is -inf / +inf)
  Pow,    // x^alpha
};

// Scalars of parameterised ops. The op layer rounds them to the tensor's dtype first, as
// PyTorch does with a Python scalar, so comparisons in the kernels see representable values.
struct UnaryParams {
  double alpha = 0;  // LeakyRelu: negative slope; Pow: exponent
  double lo = -std::numeric_limits<double>::infinity();  // Clamp bounds
  double hi = std::numeric_limits<double>::infinity();
};

// True when the backward of `op` reads the forward output y; otherwise it reads the input x.
constexpr bool backward_reads_output(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp: case UnaryOp::Expm1: case UnaryOp::Sqrt: case UnaryOp::Rsqrt:
    case UnaryOp::Tanh: case UnaryOp::Sigmoid: case UnaryOp::Relu:
      return true;
    default:
      return false;
  }
}

// Ops defined on integer tensors too (the rest need a floating-point input).
constexpr bool integer_ok(UnaryOp op) {
  return op == UnaryOp::Abs || op == UnaryOp::Relu || op == UnaryOp::Square || op == UnaryOp::Clamp || op == UnaryOp::Pow;
}

// Constants of the GELU formulas (PyTorch's names in aten/src/ATen/native/cpu/Activation.cpp).
inline constexpr double kGeluBeta = 0.79788456080286535588;    // sqrt(2 / pi)
inline constexpr double kGeluKappa = 0.044715;
inline constexpr double kGeluAlpha = 0.39894228040143267794;   // 1 / sqrt(2 pi)
inline constexpr double kSqrtHalf = 0.70710678118654752440;    // 1 / sqrt(2)

namespace ref {

// Integer products wrap around on overflow, as in PyTorch, through unsigned arithmetic (signed
// overflow would be undefined behaviour).
template <class T>
inline T mul_wrap(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return T(U(a) * U(b));
  } else {
    return a * b;
  }
}

// Integer power by squaring: std::pow through double would lose int64 precision past 2^53.
template <class T>
T int_pow(T x, int64_t e) {
  T r = 1;
  while (e > 0) {
    if (e & 1) r = mul_wrap(r, x);
    x = mul_wrap(x, x);
    e >>= 1;
  }
  return r;
}

template <class T>
T clamp_bound(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return T(v);
  } else {  // +-inf (a missing bound) saturates instead of overflowing the conversion
    if (v <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return T(v);
  }
}

// s = sigmoid(2u) and c = 1 - s for GELU's tanh form, u = sqrt(2/pi) (x + 0.044715 x^3), from
// e = exp(-2|u|) <= 1: the larger of s, c is 1 / (1 + e) and the smaller e / (1 + e), so neither
// overflows nor cancels.
template <class T>
struct SigmoidPair {
  T s, c;
};
template <class T>
inline SigmoidPair<T> gelu_tanh_sigmoid(T x) {
  const T u = T(kGeluBeta) * std::fma(T(kGeluKappa), x * x * x, x);
  const T e = std::exp(T(-2) * std::abs(u));
  const T big = T(1) / (T(1) + e), small = e * big;
  return u >= T(0) ? SigmoidPair<T>{big, small} : SigmoidPair<T>{small, big};
}

// f(x) for one element. Floating-only ops are compiled out for integer T (the op layer never
// asks for them).
template <UnaryOp op, class T>
inline T apply(T x, const UnaryParams& p) {
  if constexpr (op == UnaryOp::Abs) {
    if constexpr (std::is_floating_point_v<T>) return std::abs(x);  // abs(-0.0) = +0.0
    else if constexpr (std::is_signed_v<T>) return x < 0 ? T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x)) : x;
    else return x;
  } else if constexpr (op == UnaryOp::Relu) {
    return x < T(0) ? T(0) : x;  // NaN propagates, as torch.relu (clamp_min) does
  } else if constexpr (op == UnaryOp::Square) {
    return mul_wrap(x, x);
  } else if constexpr (op == UnaryOp::Clamp) {
    // min(max(x, lo), hi) as torch.clamp: NaN propagates; lo > hi gives hi everywhere.
    const T lo = clamp_bound<T>(p.lo), hi = clamp_bound<T>(p.hi);
    const T v = x < lo ? lo : x;
    return v > hi ? hi : v;
  } else if constexpr (op == UnaryOp::Pow) {
    if constexpr (std::is_floating_point_v<T>) return std::pow(x, T(p.alpha));
    else return int_pow(x, int64_t(p.alpha));  // op layer: integral alpha >= 0 for integer tensors
  } else if constexpr (std::is_floating_point_v<T>) {
    if constexpr (op == UnaryOp::Exp) return std::exp(x);
    if constexpr (op == UnaryOp::Expm1) return std::expm1(x);
    if constexpr (op == UnaryOp::Log) return std::log(x);
    if constexpr (op == UnaryOp::Log1p) return std::log1p(x);
    if constexpr (op == UnaryOp::Sqrt) return std::sqrt(x);
    if constexpr (op == UnaryOp::Rsqrt) return T(1) / std::sqrt(x);
    if constexpr (op == UnaryOp::Sin) return std::sin(x);
    if constexpr (op == UnaryOp::Cos) return std::cos(x);
    if constexpr (op == UnaryOp::Tanh) return std::tanh(x);
    if constexpr (op == UnaryOp::Sigmoid) return T(1) / (T(1) + std::exp(-x));
    if constexpr (op == UnaryOp::LeakyRelu) return x > T(0) ? x : x * T(p.alpha);
    if constexpr (op == UnaryOp::Silu) return x / (T(1) + std::exp(-x));
    if constexpr (op == UnaryOp::Gelu) {
      // x * Phi(x) with Phi(x) = erfc(-x / sqrt2) / 2. PyTorch writes (1 + erf(x / sqrt2)) / 2,
      // which cancels to an absolute error of ~1 ulp(1) for x << 0; erfc stays relative-accurate.
      return x * T(0.5) * std::erfc(-x * T(kSqrtHalf));
    }
    if constexpr (op == UnaryOp::GeluTanh) {
      // x/2 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), written as x * sigmoid(2u): the
      // same function without the cancellation of 1 + tanh(u) for x << 0 that PyTorch's form has.
      return x * gelu_tanh_sigmoid(x).s;
    }
  }
  return x;
}

// Where a formula has a product followed by a sum, ref:: spells it std::fma: compilers contract
// such pairs in the SIMD code (GCC's default -ffp-contract=fast), and with an explicit fma both
// kernels round the same way; the fused form is also the more accurate one.
//
// g * f'(x) for one element, given x and the forward output y (only the one the op reads is
// meaningful; see backward_reads_output).
template <UnaryOp op, class T>
inline T apply_backward(T g, T x, T y, const UnaryParams& p) {
  if constexpr (op == UnaryOp::Exp) return g * y;
  if constexpr (op == UnaryOp::Expm1) return g * (y + T(1));
  if constexpr (op == UnaryOp::Log) return g / x;
  if constexpr (op == UnaryOp::Log1p) return g / (x + T(1));
  if constexpr (op == UnaryOp::Sqrt) return g / (T(2) * y);
  if constexpr (op == UnaryOp::Rsqrt) return T(-0.5) * g * (y * y * y);
  if constexpr (op == UnaryOp::Abs) return x > T(0) ? g : (x < T(0) ? -g : T(0));  // abs'(0) = 0
  if constexpr (op == UnaryOp::Square) return g * (T(2) * x);
  if constexpr (op == UnaryOp::Sin) return g * std::cos(x);
  if constexpr (op == UnaryOp::Cos) return g * -std::sin(x);
  if constexpr (op == UnaryOp::Tanh) return g * ((T(1) - y) * (T(1) + y));  // 1 - y^2 without cancelling near |y| = 1
  if constexpr (op == UnaryOp::Sigmoid) return g * (T(1) - y) * y;
  if constexpr (op == UnaryOp::Relu) return y > T(0) ? g : T(0);  // relu'(0) = 0
  if constexpr (op == UnaryOp::LeakyRelu) return x > T(0) ? g : g * T(p.alpha);
  if constexpr (op == UnaryOp::Clamp) return x >= T(p.lo) && x <= T(p.hi) ? g : T(0);  // NaN: 0
  if constexpr (op == UnaryOp::Pow) {
    // d/dx x^a = a x^(a-1); PyTorch defines the a == 0 case as 0 (even at x == 0).
    if (p.alpha == 0) return T(0);
    return g * (T(p.alpha) * std::pow(x, T(p.alpha - 1)));
  }
  if constexpr (op == UnaryOp::Silu) {
    const T s = T(1) / (T(1) + std::exp(-x));
    return g * s * std::fma(x, T(1) - s, T(1));
  }
  if constexpr (op == UnaryOp::Gelu) {
    // forward was x * Phi(x), therefore the derivative is Phi(x) + x * phi(x).
    const T cdf = T(0.5) * std::erfc(-x * T(kSqrtHalf));
    const T pdf = T(kGeluAlpha) * std::exp(T(-0.5) * x * x);
    return g * std::fma(x, pdf, cdf);
  }
  if constexpr (op == UnaryOp::GeluTanh) {
    // forward was x * s with s = sigmoid(2u), therefore the derivative is
    // s + 2 x s (1 - s) u', u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    const auto [s, c] = gelu_tanh_sigmoid(x);
    const T du = T(kGeluBeta) * std::fma(T(3 * kGeluKappa), x * x, T(1));
    return g * std::fma(T(2) * x * (s * c), du, s);
  }
  return T(0);
}

#define ATTN_UNARY_OPS(X)                                                                          \
  X(Exp) X(Expm1) X(Log) X(Log1p) X(Sqrt) X(Rsqrt) X(Abs) X(Square) X(Sin) X(Cos) X(Tanh) X(Sigmoid) \
  X(Relu) X(LeakyRelu) X(Gelu) X(GeluTanh) X(Silu) X(Clamp) X(Pow)

template <class T>
void unary(UnaryOp op, int64_t n, const T* x, int64_t sx, const UnaryParams& p, T* out) {
  switch (op) {  // one switch per call; each loop below is branch-free in the op
#define ATTN_UNARY_CASE(OP)                                                                         \
  case UnaryOp::OP:                                                                                 \
    for (int64_t i = 0; i < n; ++i) out[i] = apply<UnaryOp::OP>(x[i * sx], p);                     \
    break;
    ATTN_UNARY_OPS(ATTN_UNARY_CASE)
#undef ATTN_UNARY_CASE
  }
}

// dx = g * f'(x); g, x, y, dx contiguous. x (or y) may be null when the op does not read it.
template <class T>
void unary_backward(UnaryOp op, int64_t n, const T* g, const T* x, const T* y, const UnaryParams& p, T* dx) {
  const bool out = backward_reads_output(op);
  const T* v = out ? y : x;
  switch (op) {
#define ATTN_UNARY_CASE(OP)                                                                                       \
  case UnaryOp::OP:                                                                                               \
    if (out)                                                                                                      \
      for (int64_t i = 0; i < n; ++i) dx[i] = apply_backward<UnaryOp::OP>(g[i], T(0), v[i], p);                  \
    else                                                                                                          \
      for (int64_t i = 0; i < n; ++i) dx[i] = apply_backward<UnaryOp::OP>(g[i], v[i], T(0), p);                  \
    break;
    ATTN_UNARY_OPS(ATTN_UNARY_CASE)
#undef ATTN_UNARY_CASE
  }
}

}  // namespace ref

namespace fast {
// Same contracts as ref::unary / ref::unary_backward for float and double.
void unary(UnaryOp op, int64_t n, const float* x, int64_t sx, const UnaryParams& p, float* out);
void unary(UnaryOp op, int64_t n, const double* x, int64_t sx, const UnaryParams& p, double* out);
void unary_backward(UnaryOp op, int64_t n, const float* g, const float* x, const float* y, const UnaryParams& p,
                    float* dx);
void unary_backward(UnaryOp op, int64_t n, const double* g, const double* x, const double* y, const UnaryParams& p,
                    double* dx);
}  // namespace fast

}  // namespace attn::kernels
