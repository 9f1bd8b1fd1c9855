#include "attn/nn/init.h"

#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_equal;

struct Stats {
  double mean, std, min, max;
};
Stats stats(const Tensor& t) {
  const std::vector<double> v = to_double_vector(t);
  Stats s{0, 0, INFINITY, -INFINITY};
  for (double e : v) s.mean += e, s.min = std::min(s.min, e), s.max = std::max(s.max, e);
  s.mean /= double(v.size());
  for (double e : v) s.std += (e - s.mean) * (e - s.mean);
  s.std = std::sqrt(s.std / double(v.size() - 1));
  return s;
}

// With n = 65536 draws the sample std is within ~0.3% (1 / sqrt(2n)) of the true one and the mean
// within std / 256: the 2% and std / 50 tolerances below are > 6 sigma.
constexpr double kStdTol = 0.02;

TEST(Init, FansAndGains) {
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({8, 3})), (std::pair<int64_t, int64_t>{3, 8}));
  EXPECT_EQ(init::calculate_fan_in_and_fan_out(empty({8, 3, 5, 2})), (std::pair<int64_t, int64_t>{30, 80}));
  EXPECT_THROW(init::calculate_fan_in_and_fan_out(empty({8})), Error);
  EXPECT_DOUBLE_EQ(init::calculate_gain("linear"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu"), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("selu"), 0.75);
  EXPECT_THROW(init::calculate_gain("swish"), Error);
}

TEST(Init, LinearDefaultIsUniformOneOverSqrtFanIn) {
  manual_seed(1);
  Linear lin(64, 1024);
  const double bound = 1.0 / 8.0;
  const Stats w = stats(lin.weight), b = stats(lin.bias);
  EXPECT_LE(w.max, bound);
  EXPECT_GE(w.min, -bound);
  EXPECT_GT(w.max, 0.999 * bound);  // the whole interval is used: P(max < 0.999 b) = 0.9995^65536
  EXPECT_LT(w.min, -0.999 * bound);
  EXPECT_NEAR(w.std, bound / std::sqrt(3.0), kStdTol * bound / std::sqrt(3.0));
  EXPECT_NEAR(w.mean, 0.0, bound / std::sqrt(3.0) / 50);
  EXPECT_LE(b.max, bound);
  EXPECT_GE(b.min, -bound);
  EXPECT_GT(b.max - b.min, bound);  // 1024 draws spread over the interval
  // Same seed, same weights; the generator argument is honoured.
  manual_seed(1);
  EXPECT_TRUE(all_equal(Linear(64, 1024).weight, lin.weight));
  Generator g(5);
  lin.reset_parameters(&g);
  Generator g2(5);
  Tensor w2 = empty({1024, 64});
  init::kaiming_uniform_(w2, std::sqrt(5.0), "fan_in", "leaky_relu", &g2);
  EXPECT_TRUE(all_equal(lin.weight, w2));
  // Zero input features: nothing to draw, no division by zero.
  Linear empty_in(0, 3);
  EXPECT_EQ(empty_in.weight.shape(), (Shape{3, 0}));
  EXPECT_TRUE(all_equal(empty_in.bias, zeros({3})));
}

TEST(Init, XavierAndKaimingMoments) {
  Generator g(2);
  Tensor t = empty({256, 256});  // fan_in = fan_out = 256
  init::xavier_uniform_(t, 2.0, &g);
  double sd = 2.0 * std::sqrt(2.0 / 512);
  Stats s = stats(t);
  EXPECT_LE(s.max, std::sqrt(3.0) * sd);
  EXPECT_NEAR(s.std, sd, kStdTol * sd);
  init::xavier_normal_(t, 1.0, &g);
  sd = std::sqrt(2.0 / 512);
  EXPECT_NEAR(stats(t).std, sd, kStdTol * sd);
  Tensor k = empty({128, 512});  // fan_in 512, fan_out 128
  init::kaiming_normal_(k, 0.0, "fan_in", "relu", &g);
  sd = std::sqrt(2.0) / std::sqrt(512.0);
  EXPECT_NEAR(stats(k).std, sd, kStdTol * sd);
  EXPECT_NEAR(stats(k).mean, 0.0, sd / 50);
  init::kaiming_uniform_(k, 0.0, "fan_out", "relu", &g);
  sd = std::sqrt(2.0) / std::sqrt(128.0);
  s = stats(k);
  EXPECT_NEAR(s.std, sd, kStdTol * sd);
  EXPECT_LE(s.max, std::sqrt(3.0) * sd);
  EXPECT_THROW(init::kaiming_uniform_(k, 0.0, "fan_avg"), Error);
  init::normal_(k, 3.0, 0.5, &g);
  s = stats(k);
  EXPECT_NEAR(s.mean, 3.0, 0.5 / 50);
  EXPECT_NEAR(s.std, 0.5, kStdTol * 0.5);
  init::uniform_(k, -1.0, 3.0, &g);
  s = stats(k);
  EXPECT_GE(s.min, -1.0);
  EXPECT_LT(s.max, 3.0);
  EXPECT_NEAR(s.mean, 1.0, 4 / std::sqrt(12.0) / 50);
}

TEST(Init, TruncNormal) {
  Generator g(4);
  Tensor t = empty({65536}, kFloat64);
  init::trunc_normal_(t, 1.0, 2.0, -3.0, 5.0, &g);  // N(1, 2^2) cut at +-2 std
  const Stats s = stats(t);
  EXPECT_GE(s.min, -3.0);
  EXPECT_LE(s.max, 5.0);
  EXPECT_LT(s.min, -2.9);  // the tails are reached (a few hundred draws lie in each last 0.1)
  EXPECT_GT(s.max, 4.9);
  // A normal truncated to mean +- 2 std has std 2 * 0.87963 (1 - 2 * 2 phi(2) / (Phi(2) - Phi(-2)), square-rooted).
  EXPECT_NEAR(s.std, 2.0 * 0.879626, kStdTol * 2.0);
  EXPECT_NEAR(s.mean, 1.0, 2.0 / 50);
  EXPECT_THROW(init::trunc_normal_(t, 0.0, 1.0, 1.0, -1.0, &g), Error);
}

TEST(Init, ConstantsAndViewsAndParameters) {
  Linear lin(3, 4);  // parameters require grad: initialisers must still write them
  init::ones_(lin.weight);
  EXPECT_TRUE(all_equal(lin.weight, ones({4, 3})));
  init::constant_(lin.bias, 0.25);
  EXPECT_TRUE(all_equal(lin.bias, full({4}, 0.25)));
  init::zeros_(lin.weight);
  EXPECT_TRUE(all_equal(lin.weight, zeros({4, 3})));
  EXPECT_TRUE(lin.weight.requires_grad());
  EXPECT_FALSE(lin.weight.grad_fn());
  // A non-contiguous view is written through.
  Tensor big = zeros({4, 6});
  Tensor view = big.slice(1, 0, 6, 2);  // every other column
  init::uniform_(view, 1.0, 2.0);
  const std::vector<double> v = to_double_vector(big);
  for (int64_t i = 0; i < 24; ++i) {
    if (i % 2 == 0) EXPECT_GE(v[size_t(i)], 1.0) << i;
    else EXPECT_EQ(v[size_t(i)], 0.0) << i;
  }
  // Zero-element tensors are left alone.
  EXPECT_NO_THROW(init::kaiming_uniform_(empty({0, 3})));
  EXPECT_NO_THROW(init::xavier_normal_(empty({3, 0})));
}

}  // namespace
}  // namespace attn::nn
