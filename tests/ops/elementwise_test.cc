#include "attn/ops/elementwise.h"

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

}  // namespace
}  // namespace attn
