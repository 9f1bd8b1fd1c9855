// nn::Dropout: train and eval modes.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_equal;

TEST(DropoutModule, TrainAndEval) {
  EXPECT_THROW(Dropout(1.5), Error);
  Dropout d(0.5);
  Generator g(1), g2(1);
  d.generator = &g;
  Tensor x = randn({100});
  EXPECT_TRUE(all_equal(d(x), dropout(x, 0.5, true, &g2)));  // training: the functional op
  d.eval();
  EXPECT_TRUE(d(x).is_same(x));
}

}  // namespace
}  // namespace attn::nn
