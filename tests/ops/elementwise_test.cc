#include "attn/ops/elementwise.h"

#include <cmath>
#include <limits>

#include "kernels/binary.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

TEST(Elementwise, BroadcastingShapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}), (Shape{5}));
  try {
    broadcast_shapes({2, 3}, {4});
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  }
}

TEST(Elementwise, ArithmeticValues) {
  Tensor a = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  Tensor b = tensor({10.f, 20.f, 30.f});
  EXPECT_EQ(to_double_vector(a + b), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(to_double_vector(b - a), (std::vector<double>{9, 18, 27, 6, 15, 24}));
  EXPECT_EQ(to_double_vector(a * 2.0), (std::vector<double>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(to_double_vector(1.0 / tensor({2.f, 4.f})), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(to_double_vector(-a.t()), (std::vector<double>{-1, -4, -2, -5, -3, -6}));
  EXPECT_EQ(to_double_vector(add(a, b, 2.0)), (std::vector<double>{21, 42, 63, 24, 45, 66}));
  // Promotion: int64 + float32 -> float32; int / int -> float.
  EXPECT_EQ((arange(3) + tensor({0.5f, 0.5f, 0.5f})).dtype(), kFloat32);
  EXPECT_EQ(to_double_vector(arange(3) / arange(1, 4)), (std::vector<double>{0, 0.5, double(2.0f / 3.0f)}));
}

TEST(Elementwise, FastMatchesReferenceOnAwkwardSizes) {
  using kernels::BinaryOp;
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    for (int64_t n : testing::awkward_sizes()) {
      for (auto [sa, sb] : {std::pair{1, 1}, std::pair{1, 0}, std::pair{0, 1}}) {
        Tensor a = testing::misaligned_randn({n + 1}, kFloat32, 1), b = testing::misaligned_randn({n + 1}, kFloat32, 2);
        Tensor r = empty({n}), f = empty({n});
        kernels::ref::binary(op, n, a.data_ptr<float>(), sa, b.data_ptr<float>(), sb, r.data_ptr<float>());
        kernels::fast::binary(op, n, a.data_ptr<float>(), sa, b.data_ptr<float>(), sb, f.data_ptr<float>());
        // add/sub/mul/div are correctly rounded in IEEE-754: SIMD and scalar agree bit for bit.
        EXPECT_TRUE(all_equal(f, r)) << "op " << int(op) << " n " << n;
        Tensor ad = a.to(kFloat64), bd = b.to(kFloat64), rd = empty({n}, kFloat64), fd = empty({n}, kFloat64);
        kernels::ref::binary(op, n, ad.data_ptr<double>(), sa, bd.data_ptr<double>(), sb, rd.data_ptr<double>());
        kernels::fast::binary(op, n, ad.data_ptr<double>(), sa, bd.data_ptr<double>(), sb, fd.data_ptr<double>());
        EXPECT_TRUE(all_equal(fd, rd)) << "op " << int(op) << " n " << n;
      }
    }
  }
}

TEST(Elementwise, OneAndTwoThreadsAgree) {
  Tensor a = randn({300, 257}), b = randn({257});
  auto [one, two] = testing::one_and_two_threads([&] { return a * b + a / (b * b + 1.0); });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(Elementwise, Gradcheck) {
  Generator g(5);
  Tensor a = randn({3, 4}, kFloat64, &g).requires_grad_();
  Tensor b = randn({4}, kFloat64, &g).requires_grad_();
  Tensor c = (randn({3, 1}, kFloat64, &g) + 3.0).requires_grad_();
  auto f = [](const std::vector<Tensor>& x) { return (x[0] + x[1]) * x[2] - x[0] / x[2] - (-x[1]) + sub(x[0], x[1], 0.5); };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{a, b, c}));
}

TEST(Elementwise, EmptyAndScalarShapes) {
  EXPECT_EQ((zeros({0, 3}) + ones({3})).shape(), (Shape{0, 3}));
  EXPECT_EQ((scalar_tensor(2.0) * scalar_tensor(3.0)).item(), 6.0);
}

TEST(Elementwise, PyTorchFixture) {
  auto fx = testing::load_fixture("elementwise/arith");
  const Tensor& a = fx.at("a");
  const Tensor& b = fx.at("b");
  Tensor ag = a.detach().requires_grad_(), bg = b.detach().requires_grad_();
  Tensor out = (ag + bg) * ag - ag / bg;
  EXPECT_TRUE(all_close(out, fx.at("out"), 1e-6, 1e-5));  // float32 rounding vs PyTorch's order
  out.backward(fx.at("grad_out"));
  EXPECT_TRUE(all_close(ag.grad(), fx.at("grad_a"), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(bg.grad(), fx.at("grad_b"), 1e-5, 1e-5));
}

// --- maximum, minimum, pow(Tensor, Tensor) ------------------------------------------------------

TEST(Elementwise, MaximumMinimumFastMatchesReference) {
  using kernels::BinaryOp;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (BinaryOp op : {BinaryOp::Maximum, BinaryOp::Minimum}) {
    for (int64_t n : testing::awkward_sizes()) {
      for (auto [sa, sb] : {std::pair{1, 1}, std::pair{1, 0}, std::pair{0, 1}}) {
        Tensor a = testing::misaligned_randn({n + 1}, kFloat32, 1), b = testing::misaligned_randn({n + 1}, kFloat32, 2);
        // NaN in either operand, equal values and signed zeros, in lanes and tails.
        float* pa = a.data_ptr<float>();
        float* pb = b.data_ptr<float>();
        for (int64_t i = 0; i < n; i += 3) pa[i] = nan;
        for (int64_t i = 1; i < n; i += 5) pb[i] = nan;
        for (int64_t i = 2; i < n; i += 7) pb[i] = pa[i];
        for (int64_t i = 4; i < n; i += 11) pa[i] = -0.0f, pb[i] = 0.0f;
        Tensor r = empty({n}), f = empty({n});
        kernels::ref::binary(op, n, pa, sa, pb, sb, r.data_ptr<float>());
        kernels::fast::binary(op, n, pa, sa, pb, sb, f.data_ptr<float>());
        // Selects, not arithmetic: bitwise equal (all_equal treats NaN == NaN).
        EXPECT_TRUE(all_equal(f, r)) << "op " << int(op) << " n " << n;
        Tensor ad = a.to(kFloat64), bd = b.to(kFloat64), rd = empty({n}, kFloat64), fd = empty({n}, kFloat64);
        kernels::ref::binary(op, n, ad.data_ptr<double>(), sa, bd.data_ptr<double>(), sb, rd.data_ptr<double>());
        kernels::fast::binary(op, n, ad.data_ptr<double>(), sa, bd.data_ptr<double>(), sb, fd.data_ptr<double>());
        EXPECT_TRUE(all_equal(fd, rd)) << "op " << int(op) << " n " << n;
      }
    }
  }
}

TEST(Elementwise, MaximumMinimumValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor a = tensor(std::vector<double>{1, 5, nan, 2}), b = tensor(std::vector<double>{3, 4, 0, nan});
  std::vector<double> mx = to_double_vector(maximum(a, b)), mn = to_double_vector(minimum(a, b));
  EXPECT_EQ(mx[0], 3);
  EXPECT_EQ(mx[1], 5);
  EXPECT_TRUE(std::isnan(mx[2]) && std::isnan(mx[3]));  // NaN propagates from either side
  EXPECT_EQ(mn[0], 1);
  EXPECT_EQ(mn[1], 4);
  EXPECT_TRUE(std::isnan(mn[2]) && std::isnan(mn[3]));
  // Broadcasting and promotion: int64 [3, 1] with float32 [2] -> float32 [3, 2].
  Tensor m = maximum(arange(3).unsqueeze(1), tensor({0.5f, 1.5f}));
  EXPECT_EQ(m.dtype(), kFloat32);
  EXPECT_EQ(to_double_vector(m), (std::vector<double>{0.5, 1.5, 1, 1.5, 2, 2}));
  EXPECT_TRUE(all_equal(minimum(arange(3), tensor(std::vector<int64_t>{1})), tensor(std::vector<int64_t>{0, 1, 1})));
}

TEST(Elementwise, MaximumMinimumGradients) {
  // Ties split the gradient half and half (PyTorch's rule); otherwise the chosen input gets it.
  Tensor a = tensor(std::vector<double>{1, 2, 3}).requires_grad_(), b = tensor(std::vector<double>{3, 2, 1}).requires_grad_();
  maximum(a, b).backward(tensor(std::vector<double>{10, 20, 30}));
  EXPECT_EQ(to_double_vector(a.grad()), (std::vector<double>{0, 10, 30}));
  EXPECT_EQ(to_double_vector(b.grad()), (std::vector<double>{10, 10, 0}));
  Tensor c = tensor(std::vector<double>{1, 2, 3}).requires_grad_(), d = tensor(std::vector<double>{3, 2, 1}).requires_grad_();
  minimum(c, d).backward(tensor(std::vector<double>{10, 20, 30}));
  EXPECT_EQ(to_double_vector(c.grad()), (std::vector<double>{10, 10, 0}));
  EXPECT_EQ(to_double_vector(d.grad()), (std::vector<double>{0, 10, 30}));
  // Gradcheck away from ties (a finite difference across a tie sees a kink).
  Generator g(8);
  Tensor x = randn({3, 4}, kFloat64, &g).requires_grad_();
  Tensor y = (randn({4}, kFloat64, &g) + 0.013).requires_grad_();
  ATTN_EXPECT_GRADCHECK(([](const std::vector<Tensor>& in) { return maximum(in[0], in[1]) * minimum(in[0], in[1] * 0.5); }),
                        (std::vector<Tensor>{x, y}));
}

TEST(Elementwise, PowTensorValuesAndGradients) {
  Tensor a = tensor(std::vector<double>{2, 4, 9}), b = tensor(std::vector<double>{3, 0.5, -1});
  EXPECT_TRUE(all_close(pow(a, b), tensor(std::vector<double>{8, 2, 1.0 / 9}), 0, 1e-15));
  EXPECT_TRUE(all_equal(pow(arange(4), tensor(std::vector<int64_t>{2})), tensor(std::vector<int64_t>{0, 1, 4, 9})));
  EXPECT_TRUE(all_close(pow(2.0, tensor(std::vector<double>{0, 3, -1})), tensor(std::vector<double>{1, 8, 0.5}), 0, 0));
  EXPECT_EQ(pow(2.0, arange(3)).dtype(), kInt64);
  try {
    pow(arange(3), tensor(std::vector<int64_t>{-1}));
    FAIL() << "negative integer power of an integer tensor must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("negative integer powers"), std::string::npos) << e.what();
  }
  // PyTorch's edge cases: d/da is 0 where b == 0 (even at a == 0); d/db is 0 where a == 0, b >= 0.
  Tensor x = tensor(std::vector<double>{0, 0, 2}).requires_grad_();
  Tensor e = tensor(std::vector<double>{0, 2, 0}).requires_grad_();
  pow(x, e).backward(ones({3}, kFloat64));
  EXPECT_EQ(to_double_vector(x.grad()), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(to_double_vector(e.grad()), (std::vector<double>{0, 0, std::log(2.0)}));
  // Gradcheck on a positive base, exponent broadcast [3, 1] against [3, 4].
  Generator g(9);
  Tensor base = (rand({3, 4}, kFloat64, &g) * 2.0 + 0.3).requires_grad_();
  Tensor ex = randn({3, 1}, kFloat64, &g).requires_grad_();
  ATTN_EXPECT_GRADCHECK(([](const std::vector<Tensor>& in) { return pow(in[0], in[1]); }), (std::vector<Tensor>{base, ex}));
  ATTN_EXPECT_GRADCHECK(([](const std::vector<Tensor>& in) { return pow(1.7, in[0]); }), (std::vector<Tensor>{ex}));
}

TEST(Elementwise, MaximumMinimumPowPyTorchFixtures) {
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    for (const char* name : {"maximum", "minimum", "pow_tensor"}) {
      auto fx = testing::load_fixture(std::string("unary/") + name);
      Tensor a = fx.at("a").detach().requires_grad_(), b = fx.at("b").detach().requires_grad_();
      Tensor out = name[1] == 'a' ? maximum(a, b) : name[1] == 'i' ? minimum(a, b) : pow(a, b);
      // max / min select exactly; pow: glibc's powf vs PyTorch's, a few ulp.
      EXPECT_TRUE(all_close(out, fx.at("out"), 1e-6, 1e-5)) << name;
      out.backward(fx.at("grad_out"));
      // Gradients of b are sums over the broadcast rows (summation order), pow's also through log.
      EXPECT_TRUE(all_close(a.grad(), fx.at("grad_a"), 1e-6, 1e-5)) << name;
      EXPECT_TRUE(all_close(b.grad(), fx.at("grad_b"), 1e-6, 1e-5)) << name;
    }
  }
}

TEST(Elementwise, MaximumBroadcastError) {
  try {
    maximum(zeros({2, 3}), zeros({4}));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace attn
