// The basic layers against PyTorch: a nested model's state_dict names, forward and gradients with
// PyTorch's weights loaded (tools/fixtures/nn.py), plus each layer's own behaviour.
#include <cmath>
#include <sstream>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

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
std::vector<std::string> keys(const NamedTensors& v) {
  std::vector<std::string> out;
  for (auto& [k, t] : v) out.push_back(k);
  return out;
}

TEST(Layers, NestedModelMatchesPyTorch) {
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

TEST(Layers, ActivationModulesMatchPyTorch) {
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

TEST(Layers, LinearForwardAndErrors) {
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

TEST(Layers, EmbeddingInitPaddingAndPretrained) {
  manual_seed(8);
  Embedding emb(300, 64, -1);  // -1 counts from the end: row 299
  ASSERT_TRUE(emb.padding_idx.has_value());
  EXPECT_EQ(*emb.padding_idx, 299);
  EXPECT_TRUE(all_equal(emb.weight.select(0, 299), zeros({64})));
  // N(0, 1) over 299 * 64 = 19136 draws: sample mean within 5 / sqrt(n) = 0.036, std within 3%.
  const std::vector<double> v = to_double_vector(emb.weight.narrow(0, 0, 299));
  double m = 0, s = 0;
  for (double e : v) m += e;
  m /= double(v.size());
  for (double e : v) s += (e - m) * (e - m);
  s = std::sqrt(s / double(v.size()));
  EXPECT_NEAR(m, 0.0, 0.036);
  EXPECT_NEAR(s, 1.0, 0.03);
  EXPECT_FALSE(emb.weight.grad_fn());
  EXPECT_EQ(emb.to_string(), "Embedding(300, 64, padding_idx=299)");

  Tensor idx = tensor(std::vector<int64_t>{3, 299, 3, 7}, {2, 2});
  Tensor out = emb(idx);
  EXPECT_EQ(out.shape(), (Shape{2, 2, 64}));
  EXPECT_TRUE(all_equal(out.select(0, 0).select(0, 0), emb.weight.select(0, 3)));
  out.backward(ones({2, 2, 64}));
  EXPECT_TRUE(all_equal(emb.weight.grad().select(0, 3), full({64}, 2.0)));
  EXPECT_TRUE(all_equal(emb.weight.grad().select(0, 299), zeros({64})));  // padding: no gradient
  EXPECT_THROW(emb(tensor(std::vector<int64_t>{300})), Error);
  EXPECT_THROW(Embedding(5, 2, 5), Error);
  EXPECT_THROW(Embedding(5, 2, -6), Error);

  Tensor table = randn({4, 3});
  auto frozen = Embedding::from_pretrained(table);
  EXPECT_TRUE(all_equal(frozen->weight, table));
  EXPECT_FALSE(frozen->weight.requires_grad());
  EXPECT_EQ(frozen->num_parameters(/*only_trainable=*/true), 0);
  auto trainable = Embedding::from_pretrained(table, false, 1);
  EXPECT_TRUE(trainable->weight.requires_grad());
  EXPECT_TRUE(all_equal(trainable->weight, table));  // the given padding row is kept
}

TEST(Layers, LayerNormParametersAndForward) {
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

TEST(Layers, LossModules) {
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

TEST(Layers, DropoutModule) {
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
