#include "attn/ops/compare.h"

#include <cmath>
#include <limits>

#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor bools(std::vector<bool> v) { return tensor(v); }
Tensor bools(std::vector<bool> v, Shape shape) { return tensor(v, std::move(shape)); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(Compare, ValuesWithBroadcasting) {
  Tensor a = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  Tensor b = tensor({2.f, 2.f, 7.f});
  EXPECT_TRUE(all_equal(eq(a, b), bools({0, 1, 0, 0, 0, 0}, {2, 3})));
  EXPECT_TRUE(all_equal(ne(a, b), bools({1, 0, 1, 1, 1, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(lt(a, b), bools({1, 0, 1, 0, 0, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(le(a, b), bools({1, 1, 1, 0, 0, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(gt(a, b), bools({0, 0, 0, 1, 1, 0}, {2, 3})));
  EXPECT_TRUE(all_equal(ge(a, b), bools({0, 1, 0, 1, 1, 0}, {2, 3})));
  // Operators, both operand orders; size-1 dims broadcast both ways.
  Tensor col = tensor({1.f, 3.f}, {2, 1}), row = tensor({0.f, 2.f, 4.f}, {1, 3});
  EXPECT_TRUE(all_equal(col < row, bools({0, 1, 1, 0, 0, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(col >= row, bools({1, 0, 0, 1, 1, 0}, {2, 3})));
  EXPECT_TRUE(all_equal(a > 3.0, bools({0, 0, 0, 1, 1, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(3.0 > a, bools({1, 1, 0, 0, 0, 0}, {2, 3})));
  EXPECT_TRUE(all_equal(a <= 2.0, bools({1, 1, 0, 0, 0, 0}, {2, 3})));
  EXPECT_TRUE(all_equal(2.0 <= a, bools({0, 1, 1, 1, 1, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(a < 2.0, 2.0 > a));
  EXPECT_TRUE(all_equal(a >= 5.0, 5.0 <= a));
  // 0-d and empty operands.
  EXPECT_EQ(eq(scalar_tensor(1.0), scalar_tensor(1.0)).dim(), 0);
  EXPECT_EQ(lt(zeros({0, 3}), zeros({3})).shape(), (Shape{0, 3}));
}

TEST(Compare, PromotionAndScalars) {
  // int64 vs float32 compares in float32; a fractional scalar with an int tensor compares exactly.
  Tensor i = tensor(std::vector<int64_t>{0, 1, 2});
  EXPECT_TRUE(all_equal(lt(i, tensor({0.5f, 0.5f, 2.5f})), bools({1, 0, 1})));
  EXPECT_TRUE(all_equal(i < 0.5, bools({1, 0, 0})));
  EXPECT_TRUE(all_equal(eq(i, 1.0), bools({0, 1, 0})));
  // A float32 tensor compares against the scalar rounded to float32, as PyTorch.
  EXPECT_TRUE(eq(tensor({0.1f}), 0.1).item<bool>());
  EXPECT_FALSE(eq(tensor(std::vector<double>{0.1f}), 0.1).item<bool>());
  // uint8 against a scalar outside its range is not wrapped.
  EXPECT_FALSE(eq(tensor(std::vector<uint8_t>{44}), 300.0).item<bool>());
  // int64 values beyond 2^53 stay exact against an integral scalar.
  const int64_t big = (int64_t(1) << 60) + 1;
  EXPECT_FALSE(eq(tensor(std::vector<int64_t>{big}), double(int64_t(1) << 60)).item<bool>());
  // Bool tensors compare too.
  EXPECT_TRUE(all_equal(eq(bools({1, 0}), bools({1, 1})), bools({1, 0})));
  // NaN is unequal to everything, itself included.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor n = tensor(std::vector<double>{nan, 1.0});
  EXPECT_TRUE(all_equal(eq(n, n), bools({0, 1})));
  EXPECT_TRUE(all_equal(ne(n, n), bools({1, 0})));
  EXPECT_TRUE(all_equal(n < 2.0, bools({0, 1})));
  EXPECT_TRUE(all_equal(n >= 2.0, bools({0, 0})));
}

TEST(Compare, Logical) {
  Tensor a = bools({1, 1, 0, 0}), b = bools({1, 0, 1, 0});
  EXPECT_TRUE(all_equal(logical_and(a, b), bools({1, 0, 0, 0})));
  EXPECT_TRUE(all_equal(logical_or(a, b), bools({1, 1, 1, 0})));
  EXPECT_TRUE(all_equal(logical_xor(a, b), bools({0, 1, 1, 0})));
  EXPECT_TRUE(all_equal(logical_not(a), bools({0, 0, 1, 1})));
  EXPECT_TRUE(all_equal(a & b, logical_and(a, b)));
  EXPECT_TRUE(all_equal(a | b, logical_or(a, b)));
  EXPECT_TRUE(all_equal(a ^ b, logical_xor(a, b)));
  EXPECT_TRUE(all_equal(~a, logical_not(a)));
  // Any dtype reads as x != 0 (NaN counts as true); broadcasting [2, 1] with [3].
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(all_equal(logical_and(tensor(std::vector<double>{0, nan}, {2, 1}), tensor(std::vector<int64_t>{0, 2, -1})),
                        bools({0, 0, 0, 0, 1, 1}, {2, 3})));
  EXPECT_TRUE(all_equal(logical_not(tensor({0.f, 2.f})), bools({1, 0})));
  // A causal mask the usual way: key index > query index.
  Tensor q = arange(3).unsqueeze(1), k = arange(3).unsqueeze(0);
  EXPECT_TRUE(all_equal(k > q, bools({0, 1, 1, 0, 0, 1, 0, 0, 0}, {3, 3})));
}

TEST(Compare, WhereValuesAndBroadcasting) {
  Tensor cond = bools({1, 0}, {2, 1});
  Tensor a = tensor({1.f, 2.f, 3.f});
  Tensor b = tensor(std::vector<double>{-1, -2}, {2, 1});
  Tensor out = where(cond, a, b);  // [2, 3], float64 (promoted)
  EXPECT_EQ(out.dtype(), kFloat64);
  EXPECT_EQ(to_double_vector(out), (std::vector<double>{1, 2, 3, -2, -2, -2}));
  EXPECT_EQ(to_double_vector(where(cond, a, 0.0)), (std::vector<double>{1, 2, 3, 0, 0, 0}));
  EXPECT_EQ(to_double_vector(where(cond, 9.0, a)), (std::vector<double>{9, 9, 9, 1, 2, 3}));
  EXPECT_EQ(where(cond, a, 0.0).dtype(), kFloat32);
  // Integer branches stay integer.
  EXPECT_TRUE(all_equal(where(bools({1, 0, 1}), arange(3), arange(10, 13)), tensor(std::vector<int64_t>{0, 11, 2})));
}

TEST(Compare, MaskedFillValuesAndBroadcasting) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  // A key-padding-style mask [3] broadcast over rows.
  EXPECT_EQ(to_double_vector(masked_fill(x, bools({0, 0, 1}), -inf)), (std::vector<double>{1, 2, -inf, 4, 5, -inf}));
  // A mask with more dims than x broadcasts x (out-of-place masked_fill as PyTorch).
  EXPECT_EQ(masked_fill(x, bools({1, 0}, {2, 1, 1}), 0.0).shape(), (Shape{2, 2, 3}));
  // Integer x: the value is cast to x's dtype.
  EXPECT_TRUE(all_equal(masked_fill(arange(3), bools({1, 0, 0}), 7.9), tensor(std::vector<int64_t>{7, 1, 2})));
  // A non-contiguous x.
  Tensor xt = x.t();  // [3, 2]
  EXPECT_EQ(to_double_vector(masked_fill(xt, bools({1, 0}), 0.0)), (std::vector<double>{0, 4, 0, 5, 0, 6}));
}

TEST(Compare, IsnanIsinfIsfiniteAnyAll) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor(std::vector<double>{1, nan, inf, -inf, 0});
  EXPECT_TRUE(all_equal(isnan(x), bools({0, 1, 0, 0, 0})));
  EXPECT_TRUE(all_equal(isinf(x), bools({0, 0, 1, 1, 0})));
  EXPECT_TRUE(all_equal(isfinite(x), bools({1, 0, 0, 0, 1})));
  EXPECT_TRUE(all_equal(isfinite(arange(2)), bools({1, 1})));
  EXPECT_TRUE(all_equal(isnan(arange(2)), bools({0, 0})));
  EXPECT_TRUE(any(isnan(x)).item<bool>());
  EXPECT_FALSE(all(isfinite(x)).item<bool>());
  EXPECT_EQ(any(x).dtype(), kBool);
  EXPECT_EQ(any(x).dim(), 0);
  EXPECT_TRUE(all(bools({1, 1, 1})).item<bool>());
  EXPECT_FALSE(any(bools({0, 0})).item<bool>());
  // Over no elements: any is false, all is true (as PyTorch).
  EXPECT_FALSE(any(zeros({0}, kBool)).item<bool>());
  EXPECT_TRUE(all(zeros({0}, kBool)).item<bool>());
  // Non-contiguous input; non-bool input reads as x != 0.
  EXPECT_TRUE(any(tensor({0.f, 0.f, 0.f, 1.f}, {2, 2}).t()).item<bool>());
  EXPECT_FALSE(all(tensor({1.f, 0.f})).item<bool>());
}

TEST(Compare, Gradients) {
  // where: the gradient goes to the chosen branch, summed over broadcast dims.
  Tensor cond = bools({1, 0, 1}, {3, 1});
  Tensor a = randn({3, 4}, kFloat64).requires_grad_();
  Tensor b = randn({4}, kFloat64).requires_grad_();
  Tensor g = randn({3, 4}, kFloat64);
  where(cond, a, b).backward(g);
  const std::vector<double> gv = to_double_vector(g);
  std::vector<double> ga(12, 0.0), gb(4, 0.0);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) (r != 1 ? ga[r * 4 + c] : gb[c]) += gv[r * 4 + c];
  EXPECT_EQ(to_double_vector(a.grad()), ga);
  EXPECT_TRUE(all_close(b.grad(), tensor(gb), 0, 0));
  // masked_fill: zero gradient where masked.
  Tensor x = randn({2, 3}, kFloat64).requires_grad_();
  masked_fill(x, bools({0, 1, 0}), -1e9).backward(ones({2, 3}, kFloat64));
  EXPECT_EQ(to_double_vector(x.grad()), (std::vector<double>{1, 0, 1, 1, 0, 1}));
  // Gradcheck in f64 through both ops, with broadcasting.
  Generator gen(4);
  Tensor p = randn({3, 4}, kFloat64, &gen).requires_grad_();
  Tensor q = randn({1, 4}, kFloat64, &gen).requires_grad_();
  Tensor mask = bools({0, 1, 1, 0}, {1, 4});
  ATTN_EXPECT_GRADCHECK(([&](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]) * 2.0; }),
                        (std::vector<Tensor>{p, q}));
  ATTN_EXPECT_GRADCHECK(([&](const std::vector<Tensor>& in) { return masked_fill(in[0] * in[1], mask, 5.0); }),
                        (std::vector<Tensor>{p, q}));
  // Only the differentiable branch records: an integer branch gets no gradient.
  Tensor f = randn({3}, kFloat64).requires_grad_();
  Tensor out = where(bools({1, 0, 1}), f, arange(3));
  EXPECT_TRUE(out.requires_grad());
  out.backward(ones({3}, kFloat64));
  EXPECT_EQ(to_double_vector(f.grad()), (std::vector<double>{1, 0, 1}));
}

TEST(Compare, PyTorchFixtures) {
  auto fx = testing::load_fixture("compare/compare");
  const Tensor& a = fx.at("a");
  const Tensor& b = fx.at("b");
  EXPECT_TRUE(all_equal(eq(a, b), fx.at("eq")));
  EXPECT_TRUE(all_equal(ne(a, b), fx.at("ne")));
  EXPECT_TRUE(all_equal(lt(a, b), fx.at("lt")));
  EXPECT_TRUE(all_equal(le(a, b), fx.at("le")));
  EXPECT_TRUE(all_equal(gt(a, b), fx.at("gt")));
  EXPECT_TRUE(all_equal(ge(a, b), fx.at("ge")));
  EXPECT_TRUE(all_equal(a < 0.25, fx.at("lt_scalar")));
  EXPECT_TRUE(all_equal(a >= -0.5, fx.at("ge_scalar")));

  // Selection copies values, so forward and gradients are exact.
  auto fw = testing::load_fixture("compare/where");
  Tensor wa = fw.at("a").detach().requires_grad_(), wb = fw.at("b").detach().requires_grad_();
  Tensor wout = where(fw.at("condition"), wa, wb);
  EXPECT_TRUE(all_equal(wout, fw.at("out")));
  wout.backward(fw.at("grad_out"));
  EXPECT_TRUE(all_close(wa.grad(), fw.at("grad_a"), 0, 0));
  EXPECT_TRUE(all_close(wb.grad(), fw.at("grad_b"), 1e-6, 1e-6));  // a sum over 3 rows: summation order

  auto fm = testing::load_fixture("compare/masked_fill");
  Tensor mx = fm.at("x").detach().requires_grad_();
  Tensor mout = masked_fill(mx, fm.at("mask"), -1e9);
  EXPECT_TRUE(all_equal(mout, fm.at("out")));
  mout.backward(fm.at("grad_out"));
  EXPECT_TRUE(all_close(mx.grad(), fm.at("grad_x"), 0, 0));
}

TEST(Compare, Errors) {
  // Bad broadcasts name every shape.
  std::string m = error_of([] { lt(zeros({2, 3}), zeros({4})); });
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  m = error_of([] { where(zeros({2, 1}, kBool), zeros({3}), zeros({5})); });
  EXPECT_NE(m.find("[2, 1]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[5]"), std::string::npos) << m;
  m = error_of([] { masked_fill(zeros({2, 3}), zeros({2}, kBool), 0.0); });
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[2]"), std::string::npos) << m;
  // Non-bool conditions and masks.
  m = error_of([] { where(zeros({3}), zeros({3}), zeros({3})); });
  EXPECT_NE(m.find("condition must be a bool tensor"), std::string::npos) << m;
  m = error_of([] { masked_fill(zeros({3}), zeros({3}, kUInt8), 1.0); });
  EXPECT_NE(m.find("mask must be a bool tensor"), std::string::npos) << m;
  // Operators &, |, ^, ~ are for bool tensors.
  m = error_of([] { (void)(arange(3) & arange(3)); });
  EXPECT_NE(m.find("bool tensors only"), std::string::npos) << m;
  m = error_of([] { (void)(~zeros({2})); });
  EXPECT_NE(m.find("float32[2]"), std::string::npos) << m;
}

TEST(Compare, OneAndTwoThreadsAgree) {
  Tensor a = randn({300, 257}), b = randn({257});
  auto [one, two] = testing::one_and_two_threads([&] {
    Tensor m = a > b;
    return masked_fill(where(m, a, b * 2.0), logical_not(m), -1.0);
  });
  EXPECT_TRUE(all_equal(one, two));
}

}  // namespace
}  // namespace attn
