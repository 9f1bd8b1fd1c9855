// clip_grad_norm_ / clip_grad_value_ against PyTorch (tests/fixtures/optim/clip_*), plus the
// edge cases: no gradients, non-finite norms, thread-count independence.
#include "attn/optim/clip_grad.h"

#include <cmath>
#include <limits>

#include "test_util.h"

namespace attn::optim {
namespace {

using testing::all_close;
using testing::all_equal;

class ClipFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(ClipFixture, MatchesPyTorch) {
  const auto fx = testing::load_fixture(std::string("optim/") + GetParam());
  std::vector<Tensor> params;
  for (int j = 0; j < 3; ++j) {
    const Tensor& g = fx.at("grad." + std::to_string(j));
    params.push_back(zeros_like(g).requires_grad_());
    params.back().set_grad(g.clone());
  }
  params.push_back(zeros({2}).requires_grad_());  // no gradient: skipped
  const double total = clip_grad_norm_(params, std::stod(fx.metadata.at("max_norm")), std::stod(fx.metadata.at("norm_type")));
  const bool f64 = params[0].dtype() == kFloat64;
  // attn accumulates the norm in double; PyTorch's float32 norm kernel accumulates in float32
  // (vectorised partial sums): the totals differ in the last float32 bits, hence 1e-6 relative.
  // float64 differs only by summation order: 1e-14.
  const double rtol = f64 ? 1e-14 : 1e-6;
  EXPECT_NEAR(total, fx.at("total_norm").item(), rtol * total) << GetParam();
  for (int j = 0; j < 3; ++j)
    EXPECT_TRUE(all_close(params[size_t(j)].grad(), fx.at("clipped." + std::to_string(j)), 0.0, rtol)) << GetParam() << " " << j;
  EXPECT_FALSE(params[3].grad().defined());
}

INSTANTIATE_TEST_SUITE_P(Optim, ClipFixture,
                         ::testing::Values("clip_l2", "clip_l2_noop", "clip_l1", "clip_inf", "clip_l3", "clip_l2_f64"));

TEST(ClipGrad, NoGradientsGivesZero) {
  std::vector<Tensor> params = {zeros({3}).requires_grad_()};
  EXPECT_EQ(clip_grad_norm_(params, 1.0), 0.0);
  EXPECT_EQ(clip_grad_norm_({}, 1.0), 0.0);
}

TEST(ClipGrad, BelowMaxNormLeavesGradientsBitIdentical) {
  Tensor p = zeros({3}).requires_grad_();
  p.set_grad(tensor({0.1f, -0.2f, 0.3f}));
  const Tensor before = p.grad().clone();
  EXPECT_NEAR(clip_grad_norm_({p}, 10.0), std::sqrt(0.14), 1e-7);
  EXPECT_TRUE(all_equal(p.grad(), before));
}

TEST(ClipGrad, ScalesToMaxNorm) {
  Tensor p = zeros({2}, kFloat64).requires_grad_();
  p.set_grad(tensor<double>({3.0, 4.0}));
  EXPECT_DOUBLE_EQ(clip_grad_norm_({p}, 1.0), 5.0);
  // coef = 1 / (5 + 1e-6)
  EXPECT_TRUE(all_close(p.grad(), tensor<double>({3.0 / (5 + 1e-6), 4.0 / (5 + 1e-6)}), 1e-15, 0.0));
  Tensor q = zeros({3}).requires_grad_();
  q.set_grad(tensor({-7.f, 2.f, 5.f}));
  EXPECT_EQ(clip_grad_norm_({q}, 1.0, std::numeric_limits<double>::infinity()), 7.0);
}

TEST(ClipGrad, NonFiniteNorm) {
  Tensor p = zeros({3}).requires_grad_();
  p.set_grad(tensor({1.f, NAN, 2.f}));
  const Tensor before = p.grad().clone();
  try {
    clip_grad_norm_({p}, 1.0, 2.0, /*error_if_nonfinite=*/true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nan"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(all_equal(p.grad(), before)) << "gradients must be untouched when throwing";
  // Without the check, PyTorch scales by NaN: every gradient becomes NaN.
  EXPECT_TRUE(std::isnan(clip_grad_norm_({p}, 1.0)));
  for (double v : to_double_vector(p.grad())) EXPECT_TRUE(std::isnan(v));
  // The inf norm propagates NaN too (torch.max does).
  Tensor q = zeros({2}).requires_grad_();
  q.set_grad(tensor({NAN, 1.f}));
  EXPECT_TRUE(std::isnan(clip_grad_norm_({q}, 1.0, INFINITY)));
  EXPECT_THROW(clip_grad_norm_({q}, 1.0, 0.0), Error);
  EXPECT_THROW(clip_grad_norm_({q}, 1.0, -2.0), Error);
}

TEST(ClipGrad, OneAndTwoThreadsAgree) {
  // Several partial-sum blocks, so the 2-thread run splits the reduction.
  auto run = [] {
    Generator g(9);
    Tensor p = zeros({200001}).requires_grad_();
    p.set_grad(randn({200001}, kFloat32, &g));
    const double total = clip_grad_norm_({p}, 1.0);
    Tensor out = p.grad().clone();
    out = out.reshape({-1});
    return std::make_pair(total, out);
  };
  double t1 = 0, t2 = 0;
  auto [one, two] = testing::one_and_two_threads([&] {
    auto [t, g] = run();
    (t1 == 0 ? t1 : t2) = t;
    return g;
  });
  EXPECT_EQ(t1, t2);
  EXPECT_TRUE(all_equal(one, two));
}

TEST(ClipGrad, ClipValue) {
  Tensor p = zeros({5}).requires_grad_();
  p.set_grad(tensor({-3.f, -0.5f, 0.f, 0.7f, NAN}));
  Tensor q = zeros({1}).requires_grad_();  // no grad: skipped
  clip_grad_value_({p, q}, 0.6);
  const std::vector<double> v = to_double_vector(p.grad());
  EXPECT_EQ(v[0], double(-0.6f));
  EXPECT_EQ(v[1], -0.5);
  EXPECT_EQ(v[2], 0.0);
  EXPECT_EQ(v[3], double(0.6f));
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_FALSE(q.grad().defined());
}

TEST(ClipGrad, NamespaceAlias) {
  Tensor p = zeros({1}).requires_grad_();
  p.set_grad(tensor({4.f}, {1}));
  EXPECT_EQ(nn::utils::clip_grad_norm_({p}, 1.0), 4.0);
}

}  // namespace
}  // namespace attn::optim
