#include "attn/ops/unary.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/unary.h"
#include "test_util.h"

namespace attn {
namespace {

using kernels::UnaryOp;
using kernels::UnaryParams;
using testing::all_close;
using testing::all_equal;

// ------------------------------------------------------------------------------------------------
// Fast kernels vs reference kernels.

// Fast-vs-reference tolerance of one op, in units of the dtype's epsilon (negative: bitwise equal).
// Forward: |fast - ref| <= ulps * eps * |ref|. Backward: the derivative is a difference of terms
// of size ~|g| (1 + |x|) that cancel where f' crosses 0 (silu, gelu), so the scale there is
// |ref| + |g| (1 + |x|).
struct KernelCase {
  const char* name;
  UnaryOp op;
  bool positive;  // domain: (0, inf) instead of the real line
  double fw_f32, fw_f64, bw_f32, bw_f64;
  UnaryParams params = {};
};

constexpr double kExact = -1;

const std::vector<KernelCase>& kernel_cases() {
  UnaryParams leaky;
  leaky.alpha = 0.2;
  UnaryParams clamp;
  clamp.lo = -0.5;
  clamp.hi = 0.7;
  UnaryParams pow;
  pow.alpha = 1.5;
  // Tolerance reasons: our exp (hwy's reduction and polynomial) is within 1.04 ulp of std::exp
  // (every 3rd float of its range) and hwy's Log / Tanh within 4; sigmoid and silu add the
  // rounding of 1 + e and one division to an exp, on both sides (3; sigmoid reaches 2.09 at
  // x = -16.68, where 1 + e^16.68 rounds by half an ulp of 2^24); gelu's erfc fit is within 4 ulp
  // plus two roundings (6); gelu-tanh shares every rounding with ref:: except exp's (3). Measured
  // worst cases over 2M random inputs: exp 1.0, log 1.0, tanh 2.9, sigmoid 1.4, silu 1.9,
  // gelu-tanh 2.0; gelu 4.0 over every 23rd float of [-14, 14]; backward (scaled as above) <= 1.0.
  // The exact ones perform the same IEEE operations as ref::, or are ref:: (sin, clamp, pow have no
  // fast kernel; double gelu neither).
  static const std::vector<KernelCase> cases = {
      {"exp", UnaryOp::Exp, false, 2, 2, kExact, kExact},
      {"log", UnaryOp::Log, true, 4, 4, kExact, kExact},
      {"tanh", UnaryOp::Tanh, false, 4, 4, kExact, kExact},
      {"sigmoid", UnaryOp::Sigmoid, false, 3, 3, kExact, kExact},
      {"silu", UnaryOp::Silu, false, 3, 3, 4, 4},
      {"gelu", UnaryOp::Gelu, false, 6, kExact, 4, kExact},
      {"gelu_tanh", UnaryOp::GeluTanh, false, 3, 3, 4, 4},
      {"relu", UnaryOp::Relu, false, kExact, kExact, kExact, kExact},
      {"leaky_relu", UnaryOp::LeakyRelu, false, kExact, kExact, kExact, kExact, leaky},
      {"abs", UnaryOp::Abs, false, kExact, kExact, kExact, kExact},
      {"sqrt", UnaryOp::Sqrt, true, kExact, kExact, kExact, kExact},
      {"rsqrt", UnaryOp::Rsqrt, true, kExact, kExact, kExact, kExact},
      {"square", UnaryOp::Square, false, kExact, kExact, kExact, kExact},
      {"sin", UnaryOp::Sin, false, kExact, kExact, kExact, kExact},
      {"clamp", UnaryOp::Clamp, false, kExact, kExact, kExact, kExact, clamp},
      {"pow", UnaryOp::Pow, true, kExact, kExact, kExact, kExact, pow},
  };
  return cases;
}

// SIMD targets without FMA (attn::cpu_capability() "sse4" and "scalar") round a product and a sum
// separately where ref:: fuses them (std::fma). Where f is steep relative to its size (gelu and
// gelu-tanh far out at x < 0, f ~ exp(-x^2 / 2) or exp(-2 |u(x)|)), one such rounding inside moves
// the result by up to |x f'(x)| eps: measured 33 eps for gelu at x = -12, 65 for float and 512 for
// double gelu-tanh at x = -8.6 / -17.7, where |x f'(x) / f(x)| is 144, 178 and 1270. So there the
// forward bound is ulps * eps * (|f| + |x f'(x)|): the exact f of an input within about ulps * eps of
// x, rounded to within ulps * eps.
bool simd_has_fma() {
  const std::string c = cpu_capability();
  return c != "sse4" && c != "scalar";
}
// f'(x) for the forward bound above (ref::'s backward with g = 1 from y = f(x)), or an empty vector
// on a target with FMA.
template <class T>
std::vector<T> slope_without_fma(const KernelCase& c, int64_t n, const T* x, const T* y) {
  if (simd_has_fma()) return {};
  std::vector<T> one(static_cast<size_t>(n), T(1)), d(static_cast<size_t>(n));
  kernels::ref::unary_backward(c.op, n, one.data(), x, y, c.params, d.data());
  return d;
}

// Compares fast against ref elementwise with the tolerance above; x and g are the inputs
// (g null for the forward; dfdx, when not empty, widens the forward bound as described above).
// Prints the first mismatches with the input that caused them.
template <class T>
::testing::AssertionResult within(const T* fast, const T* ref, const T* x, const T* g, int64_t n, double ulps,
                                  const std::vector<T>& dfdx = {}) {
  const double eps = std::numeric_limits<T>::epsilon();
  int bad = 0;
  std::ostringstream os;
  for (int64_t i = 0; i < n; ++i) {
    const double f = fast[i], r = ref[i];
    bool ok;
    if (std::isnan(r) || std::isnan(f)) {
      ok = std::isnan(r) && std::isnan(f);
    } else if (ulps < 0 || std::isinf(r) || std::isinf(f)) {
      ok = std::memcmp(&fast[i], &ref[i], sizeof(T)) == 0 || (f == 0 && r == 0 && ulps >= 0);
    } else {
      double scale = g ? std::abs(r) + std::abs(double(g[i])) * (1 + std::abs(double(x[i]))) : std::abs(r);
      const double slope = dfdx.empty() ? 0.0 : std::abs(double(x[i]) * double(dfdx[size_t(i)]));
      if (std::isfinite(slope)) scale += slope;  // (x = -inf: 0 * inf)
      ok = std::abs(f - r) <= ulps * eps * scale;
    }
    if (!ok && bad++ < 5)
      os << "\n  at " << i << ": x " << double(x[i]) << (g ? " g " + std::to_string(double(g[i])) : "") << ": fast "
         << f << " vs ref " << r << " (" << std::abs(f - r) / eps / std::max(std::abs(r), 1e-300) << " eps rel)";
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << n << " elements beyond " << ulps << " eps" << os.str();
}

// A misaligned buffer (one element past an aligned start) of n inputs for `c`: 4 * randn covers
// the tails and the edges of the SIMD ranges (|x| > 9.9 for gelu-tanh, > 13 for gelu).
template <class T>
Tensor kernel_inputs(const KernelCase& c, int64_t n, uint64_t seed) {
  Tensor x = testing::misaligned_randn({n}, dtype_of_v<T>, seed);
  T* p = x.data_ptr<T>();
  for (int64_t i = 0; i < n; ++i) p[i] = c.positive ? std::abs(p[i]) * T(4) + T(1e-3) : p[i] * T(4);
  return x;
}

template <class T>
void check_fast_matches_ref(const KernelCase& c) {
  const bool f32 = sizeof(T) == 4;
  const double fw = f32 ? c.fw_f32 : c.fw_f64, bw = f32 ? c.bw_f32 : c.bw_f64;
  for (int64_t n : testing::awkward_sizes()) {
    const DType dt = dtype_of_v<T>;
    // Forward, contiguous and with stride 2 (the gather path).
    for (int64_t sx : {1, 2}) {
      Tensor x = kernel_inputs<T>(c, n * sx, 11 + uint64_t(n));
      Tensor r = testing::misaligned_randn({n}, dt, 1), f = testing::misaligned_randn({n}, dt, 2);
      kernels::ref::unary(c.op, n, x.data_ptr<T>(), sx, c.params, r.data_ptr<T>());
      kernels::fast::unary(c.op, n, x.data_ptr<T>(), sx, c.params, f.data_ptr<T>());
      Tensor xs = x.slice(0, 0, n * sx, sx);
      Tensor xc = xs.contiguous();
      const auto dfdx = slope_without_fma(c, n, xc.data_ptr<T>(), r.data_ptr<T>());
      EXPECT_TRUE(
          within(f.data_ptr<T>(), r.data_ptr<T>(), xc.data_ptr<T>(), static_cast<const T*>(nullptr), n, fw, dfdx))
          << c.name << " " << dt << " forward n=" << n << " stride " << sx;
    }
    // Backward from the input (or the reference output, for ops whose derivative reads y).
    Tensor x = kernel_inputs<T>(c, n, 21 + uint64_t(n));
    Tensor g = testing::misaligned_randn({n}, dt, 3);
    Tensor y = testing::misaligned_randn({n}, dt, 4);
    kernels::ref::unary(c.op, n, x.data_ptr<T>(), 1, c.params, y.data_ptr<T>());
    Tensor r = testing::misaligned_randn({n}, dt, 5), f = testing::misaligned_randn({n}, dt, 6);
    kernels::ref::unary_backward(c.op, n, g.data_ptr<T>(), x.data_ptr<T>(), y.data_ptr<T>(), c.params, r.data_ptr<T>());
    kernels::fast::unary_backward(c.op, n, g.data_ptr<T>(), x.data_ptr<T>(), y.data_ptr<T>(), c.params, f.data_ptr<T>());
    EXPECT_TRUE(within(f.data_ptr<T>(), r.data_ptr<T>(), x.data_ptr<T>(), g.data_ptr<T>(), n, bw))
        << c.name << " " << dt << " backward n=" << n;
  }
}

TEST(Unary, FastMatchesReferenceOnAwkwardSizes) {
  for (const KernelCase& c : kernel_cases()) {
    check_fast_matches_ref<float>(c);
    check_fast_matches_ref<double>(c);
  }
}

// The float approximations (our exp, gelu's erfc fit) over their whole input range, not only
// where 4 * randn lands: an even grid across [-100, 100] (past every SIMD range edge), a finer one
// across [-14, 14] (gelu's range ends at 13) and a geometric sweep of small magnitudes of both
// signs (the erfc fit's factored polynomial near a = 0). ~100K elements.
TEST(Unary, FastMatchesReferenceOnDenseGrid) {
  std::vector<float> xs;
  for (int i = -20000; i <= 20000; ++i) xs.push_back(float(i) * 0.005f);
  for (int i = -28000; i <= 28000; ++i) xs.push_back(float(i) * 0.0005f);
  for (float m = 1e-30f; m < 1.f; m *= 1.01f) {
    xs.push_back(m);
    xs.push_back(-m);
  }
  const int64_t n = int64_t(xs.size());
  std::vector<float> g(xs.size()), y(xs.size()), r(xs.size()), f(xs.size()), xp(xs.size());
  for (int64_t i = 0; i < n; ++i) {
    g[i] = float(1 + i % 7) * 0.25f;
    xp[i] = std::abs(xs[i]) + 1e-3f;  // for ops defined on (0, inf)
  }
  for (const KernelCase& c : kernel_cases()) {
    const float* x = c.positive ? xp.data() : xs.data();
    kernels::ref::unary(c.op, n, x, 1, c.params, r.data());
    kernels::fast::unary(c.op, n, x, 1, c.params, f.data());
    EXPECT_TRUE(within(f.data(), r.data(), x, static_cast<const float*>(nullptr), n, c.fw_f32,
                       slope_without_fma(c, n, x, r.data())))
        << c.name << " forward";
    y = r;
    kernels::ref::unary_backward(c.op, n, g.data(), x, y.data(), c.params, r.data());
    kernels::fast::unary_backward(c.op, n, g.data(), x, y.data(), c.params, f.data());
    EXPECT_TRUE(within(f.data(), r.data(), x, g.data(), n, c.bw_f32)) << c.name << " backward";
  }
}

// Values outside the SIMD formulas' valid ranges go through ref::, so they match it exactly
// (NaN stays NaN where hwy's Exp would return 0, exp overflows to inf, log(0) = -inf, ...).
template <class T>
void check_special_values(const KernelCase& c) {
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> specials = {nan,  inf,   -inf,  T(0),   T(-0.0), std::numeric_limits<T>::denorm_min(),
                                   T(-1e-40), std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(),
                                   T(88.5), T(-88.5), T(100), T(-100), T(710), T(-710), T(13.5), T(-13.5),
                                   T(9.95), T(-9.95), T(1), T(-1), T(0.5), T(21.5), T(-21.5), T(1e20), T(-1e20)};
  // Several copies at shifting offsets, so specials land in every lane and in the tails.
  std::vector<T> xs;
  for (int rep = 0; rep < 3; ++rep) {
    xs.push_back(T(0.25));
    xs.insert(xs.end(), specials.begin(), specials.end());
  }
  const int64_t n = int64_t(xs.size());
  std::vector<T> g(xs.size(), T(0.75)), y(xs.size()), r(xs.size()), f(xs.size());
  const bool f32 = sizeof(T) == 4;
  kernels::ref::unary(c.op, n, xs.data(), 1, c.params, r.data());
  kernels::fast::unary(c.op, n, xs.data(), 1, c.params, f.data());
  EXPECT_TRUE(within(f.data(), r.data(), xs.data(), static_cast<const T*>(nullptr), n, f32 ? c.fw_f32 : c.fw_f64,
                     slope_without_fma(c, n, xs.data(), r.data())))
      << c.name << " " << dtype_of_v<T> << " forward";
  y = r;
  kernels::ref::unary_backward(c.op, n, g.data(), xs.data(), y.data(), c.params, r.data());
  kernels::fast::unary_backward(c.op, n, g.data(), xs.data(), y.data(), c.params, f.data());
  EXPECT_TRUE(within(f.data(), r.data(), xs.data(), g.data(), n, f32 ? c.bw_f32 : c.bw_f64))
      << c.name << " " << dtype_of_v<T> << " backward";
}

TEST(Unary, FastHandlesSpecialValuesLikeReference) {
  for (const KernelCase& c : kernel_cases()) {
    check_special_values<float>(c);
    check_special_values<double>(c);
  }
  // Spot checks that the fallback really happens (the SIMD exp alone is meaningless outside
  // [-87, 88]: 2^k overflows its exponent field).
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {nan, 100.f, -inf, 0.f, -1.f, 1.f, 2.f, 3.f, 4.f}, out(x.size());
  kernels::fast::unary(UnaryOp::Exp, int64_t(x.size()), x.data(), 1, {}, out.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.f);
  kernels::fast::unary(UnaryOp::Log, int64_t(x.size()), x.data(), 1, {}, out.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[3], -inf);
  EXPECT_TRUE(std::isnan(out[4]));
}

// ------------------------------------------------------------------------------------------------
// The ops: PyTorch fixtures, gradcheck, edge cases.

struct OpCase {
  const char* fixture;
  std::function<Tensor(const Tensor&)> fn;
};

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"expm1", [](const Tensor& x) { return expm1(x); }},
      {"log", [](const Tensor& x) { return log(x); }},
      {"log1p", [](const Tensor& x) { return log1p(x); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }},
      {"abs", [](const Tensor& x) { return abs(x); }},
      {"square", [](const Tensor& x) { return square(x); }},
      {"sin", [](const Tensor& x) { return sin(x); }},
      {"cos", [](const Tensor& x) { return cos(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }},
      {"clamp_min", [](const Tensor& x) { return clamp_min(x, -0.3); }},
      {"clamp_max", [](const Tensor& x) { return clamp_max(x, 0.4); }},
      {"pow_2", [](const Tensor& x) { return pow(x, 2.0); }},
      {"pow_3", [](const Tensor& x) { return pow(x, 3.0); }},
      {"pow_0_5", [](const Tensor& x) { return pow(x, 0.5); }},
      {"pow_m1_5", [](const Tensor& x) { return pow(x, -1.5); }},
      {"pow_0", [](const Tensor& x) { return pow(x, 0.0); }},
  };
  return cases;
}

TEST(Unary, PyTorchFixtures) {
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    for (const OpCase& c : op_cases()) {
      auto fx = testing::load_fixture(std::string("unary/") + c.fixture);
      Tensor x = fx.at("x").detach().requires_grad_();
      Tensor out = c.fn(x);
      // float32: PyTorch's vectorised math (Sleef, <= 1 ulp) and ours round differently, and
      // PyTorch's gelu (1 + erf) form is only accurate to |x| * 2^-24 absolute in the left tail.
      EXPECT_TRUE(all_close(out, fx.at("out"), 1e-6, 1e-5)) << c.fixture << (reference ? " ref" : " fast");
      out.backward(fx.at("grad_out"));
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-6, 1e-5)) << c.fixture << (reference ? " ref" : " fast");
    }
  }
}

// Inputs of the gradcheck, kept a finite-difference step's distance (>> 1e-6) from every kink.
Tensor away_from(Tensor x, std::initializer_list<double> kinks) {
  double* p = x.data_ptr<double>();
  for (int64_t i = 0; i < x.numel(); ++i)
    for (double k : kinks)
      if (std::abs(p[i] - k) < 0.05) p[i] = k + 0.05;
  return x;
}

TEST(Unary, Gradcheck) {
  Generator gen(3);
  Tensor real = randn({3, 5}, kFloat64, &gen) * 2.0;
  Tensor positive = rand({3, 5}, kFloat64, &gen) * 3.0 + 0.2;
  auto check = [](const char* name, const Tensor& input, const std::function<Tensor(const Tensor&)>& f) {
    Tensor x = input.detach().clone().requires_grad_();
    auto r = gradcheck([&](const std::vector<Tensor>& in) { return f(in[0]); }, {x});
    EXPECT_TRUE(r.ok) << name << ": " << r.message();
  };
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    check("exp", real, [](const Tensor& x) { return exp(x); });
    check("expm1", real, [](const Tensor& x) { return expm1(x); });
    check("log", positive, [](const Tensor& x) { return log(x); });
    check("log1p", positive, [](const Tensor& x) { return log1p(x); });
    check("sqrt", positive, [](const Tensor& x) { return sqrt(x); });
    check("rsqrt", positive, [](const Tensor& x) { return rsqrt(x); });
    check("abs", away_from(real.clone(), {0.0}), [](const Tensor& x) { return abs(x); });
    check("square", real, [](const Tensor& x) { return square(x); });
    check("sin", real, [](const Tensor& x) { return sin(x); });
    check("cos", real, [](const Tensor& x) { return cos(x); });
    check("tanh", real, [](const Tensor& x) { return tanh(x); });
    check("sigmoid", real, [](const Tensor& x) { return sigmoid(x); });
    check("relu", away_from(real.clone(), {0.0}), [](const Tensor& x) { return relu(x); });
    check("leaky_relu", away_from(real.clone(), {0.0}), [](const Tensor& x) { return leaky_relu(x, 0.1); });
    check("gelu", real, [](const Tensor& x) { return gelu(x); });
    check("gelu_tanh", real, [](const Tensor& x) { return gelu(x, "tanh"); });
    check("silu", real, [](const Tensor& x) { return silu(x); });
    check("clamp", away_from(real.clone(), {-0.5, 0.7}), [](const Tensor& x) { return clamp(x, -0.5, 0.7); });
    check("clamp_min", away_from(real.clone(), {-0.3}), [](const Tensor& x) { return clamp_min(x, -0.3); });
    check("clamp_max", away_from(real.clone(), {0.4}), [](const Tensor& x) { return clamp_max(x, 0.4); });
    check("pow 3", real, [](const Tensor& x) { return pow(x, 3.0); });
    check("pow -1.5", positive, [](const Tensor& x) { return pow(x, -1.5); });
    check("pow 0.5", positive, [](const Tensor& x) { return pow(x, 0.5); });
    // A composition, so gradients flow through several recorded nodes.
    check("chain", real, [](const Tensor& x) { return gelu(tanh(x) * 2.0) + sigmoid(square(x)); });
  }
}

// Gradient of sum(f(x)) at the given points (the derivative at kinks, as PyTorch defines it).
std::vector<double> grad_at(const std::function<Tensor(const Tensor&)>& f, std::vector<double> xs) {
  Tensor x = tensor(xs).requires_grad_();
  Tensor y = f(x);
  y.backward(ones_like(y));
  return to_double_vector(x.grad());
}

TEST(Unary, DerivativesAtKinks) {
  EXPECT_EQ(grad_at([](const Tensor& x) { return relu(x); }, {-1, 0, 2}), (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(grad_at([](const Tensor& x) { return abs(x); }, {-1, 0, 2}), (std::vector<double>{-1, 0, 1}));
  // leaky_relu takes the slope at 0 (x > 0 is false there), as PyTorch.
  EXPECT_EQ(grad_at([](const Tensor& x) { return leaky_relu(x, 0.25); }, {-1, 0, 2}),
            (std::vector<double>{0.25, 0.25, 1}));
  // clamp passes the gradient on the closed interval [min, max].
  EXPECT_EQ(grad_at([](const Tensor& x) { return clamp(x, -0.5, 0.5); }, {-1, -0.5, 0, 0.5, 1}),
            (std::vector<double>{0, 1, 1, 1, 0}));
  EXPECT_EQ(grad_at([](const Tensor& x) { return clamp_min(x, 0.0); }, {-1, 0, 1}), (std::vector<double>{0, 1, 1}));
  // pow(x, 0) has gradient 0 everywhere, even at x = 0 where 0 * 0^-1 would be NaN.
  EXPECT_EQ(grad_at([](const Tensor& x) { return pow(x, 0.0); }, {-1, 0, 2}), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(grad_at([](const Tensor& x) { return pow(x, 2.0); }, {-1, 0, 2}), (std::vector<double>{-2, 0, 4}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(grad_at([](const Tensor& x) { return sqrt(x); }, {0, 4}), (std::vector<double>{inf, 0.25}));
}

TEST(Unary, Values) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    Tensor x = tensor(std::vector<double>{-2, -0.5, 0, 0.5, 3});
    EXPECT_EQ(to_double_vector(relu(x)), (std::vector<double>{0, 0, 0, 0.5, 3}));
    EXPECT_EQ(to_double_vector(abs(x)), (std::vector<double>{2, 0.5, 0, 0.5, 3}));
    EXPECT_EQ(to_double_vector(clamp(x, -1.0, 1.0)), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
    // Our exp is within ~1 ulp of std::exp (f64: 1.02 ulp measured over 4M inputs).
    EXPECT_TRUE(all_close(exp(tensor(std::vector<double>{0, -inf, 1})), tensor(std::vector<double>{1, 0, std::exp(1.0)}),
                          0, 4e-16));
    // NaN propagates through relu and clamp; min > max gives max everywhere (torch.clamp).
    EXPECT_TRUE(std::isnan(relu(tensor(std::vector<double>{nan})).item()));
    EXPECT_TRUE(std::isnan(clamp(tensor(std::vector<double>{nan}), 0.0, 1.0).item()));
    EXPECT_EQ(to_double_vector(clamp(x, 1.0, -1.0)), (std::vector<double>(5, -1.0)));
    // Saturation without overflow or NaN.
    Tensor big = tensor({-200.f, 200.f});
    EXPECT_EQ(to_double_vector(sigmoid(big)), (std::vector<double>{0, 1}));
    EXPECT_EQ(to_double_vector(tanh(big)), (std::vector<double>{-1, 1}));
    EXPECT_EQ(to_double_vector(silu(big)), (std::vector<double>{-0.0, 200}));
    EXPECT_EQ(to_double_vector(gelu(big)), (std::vector<double>{-0.0, 200}));
    EXPECT_EQ(to_double_vector(gelu(big, "tanh")), (std::vector<double>{-0.0, 200}));
  }
}

// attn's gelu is computed through erfc, so float32 keeps relative accuracy in the left tail where
// PyTorch's 0.5 x (1 + erf(x / sqrt2)) cancels. The bound: x / sqrt2 is rounded to float, which
// moves erfc by a relative 2 z^2 2^-24 (4e-6 at x = -8), plus a few ulp.
TEST(Unary, GeluLeftTailIsRelativeAccurate) {
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    const std::vector<float> xs = {-3.f, -5.f, -8.f, -12.f};
    Tensor y = gelu(tensor(xs));
    std::vector<double> exact;
    for (float v : xs) exact.push_back(0.5 * double(v) * std::erfc(-double(v) / std::sqrt(2.0)));
    EXPECT_TRUE(all_close(y, tensor(exact), 0, 1e-5)) << (reference ? "ref" : "fast");
  }
}

TEST(Unary, DtypeRules) {
  // Floating-point math on integers computes in float32, as torch.exp(int_tensor).
  EXPECT_EQ(exp(arange(3)).dtype(), kFloat32);
  EXPECT_EQ(sigmoid(tensor(std::vector<bool>{true, false})).dtype(), kFloat32);
  EXPECT_EQ(exp(randn({2}, kFloat64)).dtype(), kFloat64);
  // abs, relu, square, clamp, pow keep integer dtypes.
  Tensor i = tensor(std::vector<int64_t>{-3, 0, 4});
  EXPECT_TRUE(all_equal(abs(i), tensor(std::vector<int64_t>{3, 0, 4})));
  EXPECT_TRUE(all_equal(relu(i), tensor(std::vector<int64_t>{0, 0, 4})));
  EXPECT_TRUE(all_equal(square(i), tensor(std::vector<int64_t>{9, 0, 16})));
  EXPECT_TRUE(all_equal(clamp(i, -1.0, 2.0), tensor(std::vector<int64_t>{-1, 0, 2})));
  EXPECT_TRUE(all_equal(pow(i, 3.0), tensor(std::vector<int64_t>{-27, 0, 64})));
  // int64 beyond 2^53 stays exact (integer power by squaring, not std::pow through double).
  const int64_t big = (int64_t(1) << 31) + 1;
  EXPECT_EQ(pow(tensor(std::vector<int64_t>{big}), 2.0).item<int64_t>(), big * big);
  // A fractional scalar promotes an integer tensor to float32.
  EXPECT_EQ(clamp(i, 0.5).dtype(), kFloat32);
  EXPECT_EQ(pow(i, 0.5).dtype(), kFloat32);
}

TEST(Unary, Errors) {
  auto message = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no exception>";
  };
  EXPECT_NE(message([] { gelu(randn({2}), "erf"); }).find("\"erf\""), std::string::npos);
  EXPECT_NE(message([] { clamp(randn({2}), std::nullopt, std::nullopt); }).find("at least one"), std::string::npos);
  EXPECT_NE(message([] { clamp(randn({2}), std::nan(""), 1.0); }).find("NaN"), std::string::npos);
  EXPECT_NE(message([] { relu(tensor(std::vector<bool>{true})); }).find("bool"), std::string::npos);
  EXPECT_NE(message([] { pow(arange(3), -1.0); }).find("negative integer powers"), std::string::npos);
  EXPECT_NE(message([] { leaky_relu(arange(3)); }).find("int64[3]"), std::string::npos);
}

TEST(Unary, EmptyAndZeroDim) {
  Tensor e = zeros({0, 3}).requires_grad_();
  Tensor y = gelu(e);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y.backward(zeros({0, 3}));
  EXPECT_EQ(e.grad().shape(), (Shape{0, 3}));
  Tensor s = scalar_tensor(0.5, kFloat64).requires_grad_();
  Tensor t = tanh(s);
  EXPECT_EQ(t.dim(), 0);
  t.backward();
  EXPECT_DOUBLE_EQ(s.grad().item(), 1.0 - std::tanh(0.5) * std::tanh(0.5));
}

// A fast element's value depends only on the element: a transposed (strided) input, and 1 vs 2
// threads, give bitwise identical results.
TEST(Unary, LayoutAndThreadIndependence) {
  Generator gen(9);
  Tensor base = randn({257, 300}, kFloat32, &gen) * 4.0;
  const std::vector<std::function<Tensor(const Tensor&)>> fns = {
      [](const Tensor& x) { return exp(x); },     [](const Tensor& x) { return tanh(x); },
      [](const Tensor& x) { return gelu(x); },    [](const Tensor& x) { return gelu(x, "tanh"); },
      [](const Tensor& x) { return silu(x); },    [](const Tensor& x) { return log(abs(x)); },
      [](const Tensor& x) { return sigmoid(x); },
  };
  for (const auto& f : fns) {
    Tensor xt = base.t();  // [300, 257], strides (1, 300)
    EXPECT_TRUE(all_equal(f(xt), f(xt.contiguous())));
    auto [one, two] = testing::one_and_two_threads([&] { return f(base); });
    EXPECT_TRUE(all_equal(one, two));
    auto [g1, g2] = testing::one_and_two_threads([&] {
      Tensor x = base.detach().requires_grad_();
      f(x).backward(ones_like(base));
      return x.grad();
    });
    EXPECT_TRUE(all_equal(g1, g2));
  }
}

}  // namespace
}  // namespace attn
