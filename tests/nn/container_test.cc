// Containers and nesting against PyTorch: a nested model (Sequential, ModuleList, submodules,
// buffers) has PyTorch's state_dict names and, with PyTorch's weights loaded, its forward and
// gradients (tools/fixtures/nn.py).
#include <cmath>
#include <sstream>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::keys;

using testing::all_close;
using testing::all_equal;

// The attn twin of tools/fixtures/nn.py's Net (same attribute names, same registration order).
struct Layer : Module {
  Layer(int64_t d, int64_t f, const std::string& approximate) {
    linear1 = register_module("linear1", std::make_shared<Linear>(d, f));
    activation = register_module("activation", std::make_shared<GELU>(approximate));
    dropout = register_module("dropout", std::make_shared<Dropout>(0.1));
    linear2 = register_module("linear2", std::make_shared<Linear>(f, d));
    norm = register_module("norm", std::make_shared<LayerNorm>(d));
  }
  Tensor forward(const Tensor& x) { return (*norm)(x + (*linear2)((*dropout)((*activation)((*linear1)(x))))); }
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<GELU> activation;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<LayerNorm> norm;
};

struct Encoder : Module {
  Encoder(int64_t d, int64_t f) {
    layers = register_module("layers", std::make_shared<ModuleList>());
    layers->push_back(std::make_shared<Layer>(d, f, "none"));
    layers->push_back(std::make_shared<Layer>(d, f, "tanh"));
  }
  Tensor forward(Tensor x) {
    for (auto& l : *layers) x = std::static_pointer_cast<Layer>(l)->forward(x);
    return x;
  }
  std::shared_ptr<ModuleList> layers;
};

struct Net : Module {
  Net(int64_t vocab = 7, int64_t d = 4, int64_t f = 8, int64_t classes = 5) {
    embed = register_module("embed", std::make_shared<Embedding>(vocab, d, 0));
    position_ids = register_buffer("position_ids", arange(5));
    scratch = register_buffer("scratch", zeros({2}), /*persistent=*/false);
    encoder = register_module("encoder", std::make_shared<Encoder>(d, f));
    head = register_module("head", std::make_shared<Sequential>(
                                       std::make_shared<Linear>(d, d), std::make_shared<Tanh>(), std::make_shared<Linear>(d, d),
                                       std::make_shared<SiLU>(), std::make_shared<Linear>(d, classes, false)));
    final_norm = register_module("final_norm", std::make_shared<LayerNorm>(classes, 1e-5, false));
  }
  Tensor forward(const Tensor& tokens) { return (*final_norm)((*head)(encoder->forward((*embed)(tokens)))); }
  std::shared_ptr<Embedding> embed;
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Sequential> head;
  std::shared_ptr<LayerNorm> final_norm;
  Tensor position_ids, scratch;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}
TEST(Container, NestedModelMatchesPyTorch) {
  const auto fx = testing::load_fixture("nn/tiny_encoder");
  auto net = std::make_shared<Net>();
  net->to(kFloat64);
  // Names and order exactly as PyTorch's state_dict() and named_parameters().
  EXPECT_EQ(keys(net->state_dict()), split(fx.metadata.at("keys")));
  EXPECT_EQ(keys(net->named_parameters()), split(fx.metadata.at("parameters")));
  NamedTensors sd;
  for (const auto& [name, t] : fx.tensors)
    if (name.rfind("sd.", 0) == 0) sd.emplace_back(name.substr(3), t);
  net->load_state_dict(sd);
  net->eval();
  Tensor logits = net->forward(fx.at("tokens"));
  // float64 end to end; PyTorch and attn differ only in summation order: 1e-12.
  EXPECT_TRUE(all_close(logits, fx.at("logits"), 1e-12, 1e-12));
  Tensor loss = cross_entropy(logits.transpose(1, 2), fx.at("targets"), Tensor(), -100, Reduction::Mean, 0.1);
  EXPECT_TRUE(all_close(loss, fx.at("loss"), 1e-12, 1e-12));
  loss.backward();
  for (const auto& [name, p] : net->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(all_close(p.grad(), fx.at("grad." + name), 1e-12, 1e-10)) << name;
  }
  // The padding row (token 0 occurs in the input) received no gradient.
  EXPECT_TRUE(all_equal(net->embed->weight.grad().select(0, 0), zeros({4}, kFloat64)));
  // In training mode the dropout layers are active and the output changes.
  net->train();
  EXPECT_FALSE(all_close(net->forward(fx.at("tokens")), logits, 1e-6));
}

}  // namespace
}  // namespace attn::nn
