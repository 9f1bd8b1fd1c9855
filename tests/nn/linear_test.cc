// nn::Linear: forward on any leading shape, and errors naming the shapes.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

TEST(Linear, ForwardAndErrors) {
  Linear lin(3, 2);
  init::constant_(lin.weight, 0.5);
  init::constant_(lin.bias, -1.0);
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(to_double_vector(lin(x)), (std::vector<double>{2, 2, 6.5, 6.5}));
  EXPECT_EQ(lin(randn({4, 5, 3})).shape(), (Shape{4, 5, 2}));
  try {
    lin(randn({2, 4}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float32[2, 4]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[..., 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Linear(-1, 2), Error);
  Linear f64(3, 2, true, kFloat64);
  EXPECT_EQ(f64.weight.dtype(), kFloat64);
  EXPECT_EQ(f64(randn({1, 3}, kFloat64)).dtype(), kFloat64);
}

}  // namespace
}  // namespace attn::nn
