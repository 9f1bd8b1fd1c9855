// Activation modules against PyTorch (tools/fixtures/nn.py): forward, gradients, printing.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_close;

TEST(Activation, ModulesMatchPyTorch) {
  const auto fx = testing::load_fixture("nn/activations");
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> mods = {
      {"relu", [](const Tensor& x) { return ReLU()(x); }},
      {"gelu", [](const Tensor& x) { return GELU()(x); }},
      {"gelu_tanh", [](const Tensor& x) { return GELU("tanh")(x); }},
      {"tanh", [](const Tensor& x) { return Tanh()(x); }},
      {"sigmoid", [](const Tensor& x) { return Sigmoid()(x); }},
      {"silu", [](const Tensor& x) { return SiLU()(x); }},
      {"softmax", [](const Tensor& x) { return Softmax(1)(x); }},
      {"log_softmax", [](const Tensor& x) { return LogSoftmax(1)(x); }},
  };
  for (const auto& [name, fn] : mods) {
    Tensor x = fx.at("x").detach().requires_grad_();
    Tensor y = fn(x);
    // float64; the ops' own tests pin their accuracy, this checks the wiring: 1e-12.
    EXPECT_TRUE(all_close(y, fx.at("out_" + name), 1e-12, 1e-12)) << name;
    y.backward(fx.at("grad_out_" + name));
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x_" + name), 1e-12, 1e-12)) << name;
  }
  EXPECT_THROW(GELU("erf"), Error);
  EXPECT_EQ(Softmax(-1).to_string(), "Softmax(dim=-1)");
}

}  // namespace
}  // namespace attn::nn
