#include "attn/nn/conv.h"

#include <cmath>

#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;

// torch's initialised parameters are loaded by state_dict name; output and grads then match.
void expect_module_matches(nn::Module& m, const Tensor& weight, const Tensor& bias, const std::string& name,
                           const std::function<Tensor(const Tensor&)>& fwd) {
  auto fx = testing::load_fixture("conv/" + name);
  nn::NamedTensors sd;
  sd.push_back({"weight", fx.at("weight")});
  if (fx.contains("bias")) sd.push_back({"bias", fx.at("bias")});
  m.load_state_dict(sd);
  Tensor x = fx.at("x").detach().requires_grad_();
  Tensor y = fwd(x);
  // float32 sums of <= 27 products of O(1) values in another order.
  EXPECT_TRUE(all_close(y, fx.at("out"), 1e-5, 1e-5)) << name;
  y.backward(fx.at("grad_out"));
  EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-5, 1e-5)) << name;
  EXPECT_TRUE(all_close(weight.grad(), fx.at("grad_weight"), 5e-5, 1e-5)) << name;
  if (bias.defined()) {
    EXPECT_TRUE(all_close(bias.grad(), fx.at("grad_bias"), 5e-5, 1e-5)) << name;
  }
}

TEST(ConvModule, MatchesPyTorchModules) {
  nn::Conv2d c2(4, 6, 3, 2, 1, 1, 2);
  EXPECT_EQ(c2.weight.shape(), (Shape{6, 2, 3, 3}));
  expect_module_matches(c2, c2.weight, c2.bias, "module_conv2d", [&](const Tensor& x) { return c2(x); });
  nn::Conv1d c1(3, 5, 3, 1, 1, 1, 1, false);
  EXPECT_FALSE(c1.bias.defined());
  expect_module_matches(c1, c1.weight, c1.bias, "module_conv1d", [&](const Tensor& x) { return c1(x); });
}

TEST(ConvModule, DefaultInitBoundsAndNames) {
  Generator gen(3);
  nn::Conv2d c(8, 16, IntPair{3, 5}, {1, 1}, {1, 2}, {1, 1}, 4);
  c.reset_parameters(&gen);
  const double bound = 1.0 / std::sqrt(2.0 * 3 * 5);  // fan_in = in / groups * kh * kw = 30
  auto sd = c.state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "weight");
  EXPECT_EQ(sd[1].first, "bias");
  for (const Tensor& t : {c.weight, c.bias}) {
    EXPECT_LE(max(t).item(), bound);
    EXPECT_GE(min(t).item(), -bound);
    // 480 (resp. 16) draws from U(-b, b): the extremes come near the bound, so a wrong bound shows.
    EXPECT_GT(max(t).item(), 0.5 * bound);
  }
  EXPECT_EQ(c.to_string(), "Conv2d(8, 16, kernel_size=(3, 5), stride=(1, 1), padding=(1, 2), groups=4)");
  Tensor y = c(randn({2, 8, 6, 7}, kFloat32, &gen));
  EXPECT_EQ(y.shape(), (Shape{2, 16, 6, 7}));
  EXPECT_THROW(nn::Conv2d(6, 4, 3, 1, 0, 1, 4), Error);  // groups must divide both
  EXPECT_THROW(c(zeros({2, 7, 6, 7})), Error);          // channel mismatch
}

}  // namespace
}  // namespace attn
