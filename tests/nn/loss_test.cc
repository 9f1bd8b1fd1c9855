// Loss modules: the same values as the functional losses, reductions and options.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::keys;

using testing::all_equal;

TEST(LossModules, MatchFunctional) {
  Tensor w = tensor({1.f, 2.f, 0.5f});
  CrossEntropyLoss ce(w, 1, Reduction::Sum, 0.1);
  EXPECT_EQ(keys(ce.state_dict()), (std::vector<std::string>{"weight"}));  // a buffer, as PyTorch
  EXPECT_EQ(ce.num_parameters(), 0);
  Tensor x = randn({4, 3});
  Tensor t = tensor(std::vector<int64_t>{0, 1, 2, 2});
  EXPECT_TRUE(all_equal(ce(x, t), cross_entropy(x, t, w, 1, Reduction::Sum, 0.1)));
  EXPECT_TRUE(CrossEntropyLoss().state_dict().empty());
  NLLLoss nll;
  EXPECT_TRUE(all_equal(nll(x, t), nll_loss(x, t)));
  MSELoss mse(Reduction::Sum);
  EXPECT_TRUE(all_equal(mse(x, x * 2.0), mse_loss(x, x * 2.0, Reduction::Sum)));
  EXPECT_THROW(CrossEntropyLoss(Tensor(), -100, Reduction::Mean, -0.5), Error);
}

}  // namespace
}  // namespace attn::nn
