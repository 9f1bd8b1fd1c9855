#include "attn/nn/batchnorm.h"

#include "attn/ops/reduce.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::all_close;
using testing::all_equal;

TEST(BatchNormModule, StateDictNamesAndInit) {
  nn::BatchNorm2d bn(3);
  auto sd = bn.state_dict();
  std::vector<std::string> names;
  for (auto& [k, v] : sd) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), kInt64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_TRUE(all_equal(bn.running_var, ones({3})));
  EXPECT_TRUE(all_equal(bn.weight, ones({3})));
  EXPECT_EQ(bn.parameters().size(), 2u);
  nn::BatchNorm1d plain(4, 1e-5, 0.1, false, false);
  EXPECT_TRUE(plain.state_dict().empty());
  // No running stats: batch statistics even in eval mode.
  plain.eval();
  Generator gen(1);
  Tensor x = randn({5, 4}, kFloat32, &gen);
  EXPECT_TRUE(all_close(mean(plain(x), {0}), zeros({4}), 1e-6));
}

TEST(BatchNormModule, MatchesPyTorchTrainingStepAndEval) {
  for (const std::string name : {"module_bn2d", "module_bn1d"}) {
    auto fx = testing::load_fixture("batch_norm/" + name);
    std::shared_ptr<nn::BatchNormBase> bn;
    if (name == "module_bn2d") {
      bn = std::make_shared<nn::BatchNorm2d>(3);
    } else {
      bn = std::make_shared<nn::BatchNorm1d>(4, 1e-5, 0.2);
    }
    nn::NamedTensors sd;
    for (const char* k : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
      sd.push_back({k, fx.at(k)});
    bn->load_state_dict(sd);
    Tensor x = fx.at("x").detach().requires_grad_();
    Tensor y = (*bn)(x);
    // float32 normalisation; statistics over <= 100 values summed in another order.
    EXPECT_TRUE(all_close(y, fx.at("out"), 1e-5, 1e-5)) << name;
    y.backward(fx.at("grad_out"));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), 2e-5, 1e-5)) << name;
    EXPECT_TRUE(all_close(bn->weight.grad(), fx.at("grad_weight"), 5e-5, 1e-5)) << name;
    EXPECT_TRUE(all_close(bn->bias.grad(), fx.at("grad_bias"), 5e-5, 1e-5)) << name;
    for (auto& [k, v] : bn->state_dict()) {
      if (k == "num_batches_tracked") {
        EXPECT_TRUE(all_equal(v, fx.at("after." + k))) << name;
      } else {
        EXPECT_TRUE(all_close(v, fx.at("after." + k), 1e-6, 1e-6)) << name << " " << k;
      }
    }
    bn->eval();
    EXPECT_TRUE(all_close((*bn)(fx.at("eval_x")), fx.at("eval_out"), 1e-5, 1e-5)) << name;
    EXPECT_TRUE(all_equal(bn->num_batches_tracked, fx.at("after.num_batches_tracked")));  // eval does not count
  }
}

TEST(BatchNormModule, CumulativeMomentumAndBadInput) {
  // momentum nullopt: running_mean is the plain average of the batch means seen so far.
  nn::BatchNorm1d bn(2, 1e-5, std::nullopt);
  Tensor a = tensor({1.f, 2.f, 3.f, 6.f}, {2, 2}), b = tensor({5.f, 0.f, 7.f, 2.f}, {2, 2});
  bn(a);
  bn(b);
  // batch means: a (2, 4), b (6, 1); average (4, 2.5).
  EXPECT_TRUE(all_close(bn.running_mean, tensor({4.f, 2.5f}), 1e-6));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  EXPECT_THROW(bn(zeros({2, 3})), Error);
  EXPECT_THROW(bn(zeros({2, 2, 2, 2})), Error);
  nn::BatchNorm2d bn2(2);
  EXPECT_THROW(bn2(zeros({2, 2, 3})), Error);
}

}  // namespace
}  // namespace attn
