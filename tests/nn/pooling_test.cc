#include "attn/nn/pooling.h"

#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

TEST(PoolingModule, MatchPyTorchFixtures) {
  // The same fixtures as the ops tests, through the modules (F.* and nn.* share the computation).
  auto check = [](const std::string& name, const std::function<Tensor(const Tensor&)>& fwd) {
    auto fx = testing::load_fixture("pooling/" + name);
    Tensor x = fx.at("x").detach().requires_grad_();
    Tensor y = fwd(x);
    // Averages of <= 35 float32 values: a few ulp. Maxima are exact.
    EXPECT_TRUE(all_close(y, fx.at("out"), 1e-6, 1e-6)) << name;
    y.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 1e-6, 1e-6)) << name;
  };
  nn::AdaptiveAvgPool2d gap(1);
  check("adaptive_avg_global", [&](const Tensor& x) { return gap(x); });
  nn::AdaptiveMaxPool2d amp(IntPair{3, 4});
  check("adaptive_max_3x4", [&](const Tensor& x) { return amp(x); });
  nn::AvgPool2d ap(3, 2, 1);
  check("avg_k3_s2_p1", [&](const Tensor& x) { return ap(x); });
  nn::MaxPool2d mp(2);
  EXPECT_EQ(mp.stride, (IntPair{2, 2}));
  check("max_k2_default_stride", [&](const Tensor& x) { return mp(x); });
  nn::MaxPool2d mpd(IntPair{3, 2}, {2, 1}, {1, 1}, {2, 3});
  check("max_dilated", [&](const Tensor& x) { return mpd(x); });
  nn::AdaptiveAvgPool1d a1(4);
  check("adaptive_avg_1d", [&](const Tensor& x) { return a1(x); });
  EXPECT_EQ(gap.to_string(), "AdaptiveAvgPool2d(output_size=(1, 1))");
  EXPECT_TRUE(gap.state_dict().empty());
  EXPECT_THROW(nn::MaxPool2d(0), Error);
}

}  // namespace
}  // namespace attn
