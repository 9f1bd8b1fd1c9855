// nn::LayerNorm: parameters, forward.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::keys;

using testing::all_equal;

TEST(LayerNorm, ParametersAndForward) {
  LayerNorm ln(Shape{2, 3});
  EXPECT_EQ(keys(ln.state_dict()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_TRUE(all_equal(ln.weight, ones({2, 3})));
  EXPECT_TRUE(all_equal(ln.bias, zeros({2, 3})));
  EXPECT_EQ(ln.to_string(), "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)");
  Tensor x = randn({4, 2, 3});
  init::normal_(ln.weight);
  init::normal_(ln.bias);
  EXPECT_TRUE(all_equal(ln(x), layer_norm(x, {2, 3}, ln.weight, ln.bias, 1e-5)));
  LayerNorm plain(5, 1e-6, false);
  EXPECT_EQ(plain.num_parameters(), 0);
  EXPECT_EQ(plain.to_string(), "LayerNorm((5,), eps=1e-06, elementwise_affine=False)");
  EXPECT_TRUE(all_equal(plain(x.reshape({-1, 6}).narrow(1, 0, 5).contiguous()),
                        layer_norm(x.reshape({-1, 6}).narrow(1, 0, 5).contiguous(), {5}, Tensor(), Tensor(), 1e-6)));
  EXPECT_THROW(plain(randn({2, 4})), Error);
}

}  // namespace
}  // namespace attn::nn
