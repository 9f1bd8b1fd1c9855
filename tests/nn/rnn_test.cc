// RNN / GRU / LSTM and the cells against PyTorch (tools/fixtures/rnn.py: outputs, final states and
// the gradients of inputs, initial states and every parameter, with PyTorch's weights loaded),
// plus f64 gradchecks, variable lengths, dropout, unbatched input and error messages.
#include <cmath>
#include <sstream>

#include "attn/nn/rnn.h"
#include "attn/ops/functional.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::keys;

using testing::all_close;
using testing::all_equal;

std::vector<std::string> split_keys(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string k;
  while (std::getline(ss, k, ',')) out.push_back(k);
  return out;
}

NamedTensors fixture_state(const io::SafetensorsFile& fx, DType dt) {
  NamedTensors sd;
  for (const std::string& k : split_keys(fx.metadata.at("keys"))) sd.emplace_back(k, fx.at("p." + k).to(dt));
  return sd;
}

std::shared_ptr<RNNBase> make_layer(const io::SafetensorsFile& fx, DType dt) {
  RNNOptions o;
  o.num_layers = std::stoll(fx.metadata.at("num_layers"));
  o.bidirectional = fx.metadata.at("bidirectional") == "1";
  o.batch_first = fx.metadata.at("batch_first") == "1";
  o.bias = fx.metadata.at("bias") == "1";
  o.nonlinearity = fx.metadata.at("nonlinearity");
  o.dtype = dt;
  const int64_t I = std::stoll(fx.metadata.at("input_size")), H = std::stoll(fx.metadata.at("hidden_size"));
  const std::string& kind = fx.metadata.at("kind");
  if (kind == "rnn") return std::make_shared<RNN>(I, H, o);
  if (kind == "gru") return std::make_shared<GRU>(I, H, o);
  return std::make_shared<LSTM>(I, H, o);
}

RNNOutput run_layer(RNNBase& m, const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& lengths) {
  if (auto* r = dynamic_cast<RNN*>(&m)) return r->forward(x, h0, lengths);
  if (auto* g = dynamic_cast<GRU*>(&m)) return g->forward(x, h0, lengths);
  return dynamic_cast<LSTM&>(m).forward(x, h0, c0, lengths);
}

Tensor opt(const io::SafetensorsFile& fx, const std::string& name, DType dt) {
  if (!fx.contains(name)) return Tensor();
  const Tensor& t = fx.at(name);
  return t.dtype() == kInt64 ? t : t.to(dt).detach().requires_grad_();
}

// Runs one layer fixture in `dt` and compares everything with tolerance atol (relative rtol).
void check_layer_fixture(const std::string& name, DType dt, double atol, double rtol) {
  SCOPED_TRACE(name);
  const auto fx = testing::load_fixture("rnn/" + name);
  auto m = make_layer(fx, dt);
  // state_dict names and order exactly as PyTorch's.
  EXPECT_EQ(keys(m->state_dict()), split_keys(fx.metadata.at("keys")));
  m->load_state_dict(fixture_state(fx, dt));
  const Tensor x = fx.at("input").to(dt).detach().requires_grad_();
  const Tensor h0 = opt(fx, "h0", dt), c0 = opt(fx, "c0", dt), lengths = opt(fx, "lengths", dt);
  const RNNOutput r = run_layer(*m, x, h0, c0, lengths);
  EXPECT_TRUE(all_close(r.output, fx.at("out").to(dt), atol, rtol)) << "output";
  EXPECT_TRUE(all_close(r.h_n, fx.at("h_n").to(dt), atol, rtol)) << "h_n";
  Tensor loss = sum(r.output * fx.at("grad_out").to(dt)) + sum(r.h_n * fx.at("grad_h_n").to(dt));
  if (fx.contains("c_n")) {
    EXPECT_TRUE(all_close(r.c_n, fx.at("c_n").to(dt), atol, rtol)) << "c_n";
    loss = loss + sum(r.c_n * fx.at("grad_c_n").to(dt));
  }
  loss.backward();
  EXPECT_TRUE(all_close(x.grad(), fx.at("grad_input").to(dt), atol, rtol)) << "grad input";
  if (h0.defined()) {
    EXPECT_TRUE(all_close(h0.grad(), fx.at("grad_h0").to(dt), atol, rtol)) << "grad h0";
  }
  if (c0.defined()) {
    EXPECT_TRUE(all_close(c0.grad(), fx.at("grad_c0").to(dt), atol, rtol)) << "grad c0";
  }
  for (const auto& [k, p] : m->named_parameters())
    EXPECT_TRUE(all_close(p.grad(), fx.at("grad_p." + k).to(dt), atol, rtol)) << "grad " << k;
}

const std::vector<std::string> kLayerCases = {
    "rnn_tanh",       "rnn_relu_bi",    "rnn_tanh_lengths_bi", "gru_2layer_h0",       "gru_bi_batch_first",
    "gru_lengths_bi", "gru_nobias",     "lstm_2layer_h0",      "lstm_bi_batch_first", "lstm_lengths_bi"};

TEST(RNNLayers, MatchPyTorchFloat64) {
  // float64 on both sides; only summation order differs.
  for (const auto& name : kLayerCases) check_layer_fixture(name, kFloat64, 1e-12, 1e-10);
}

TEST(RNNLayers, MatchPyTorchFloat32) {
  // float32 through 2 layers x 5 steps with the SIMD gate kernels (a few ulp each): 2e-5.
  for (const auto& name : kLayerCases) check_layer_fixture(name, kFloat32, 2e-5, 2e-5);
}

TEST(RNNCells, MatchPyTorch) {
  for (const std::string name : {"rnn_cell_tanh", "rnn_cell_relu", "gru_cell", "lstm_cell"}) {
    SCOPED_TRACE(name);
    const auto fx = testing::load_fixture("rnn/" + name);
    const std::string kind = fx.metadata.at("kind");
    std::shared_ptr<RNNCellBase> m;
    if (kind == "rnn") m = std::make_shared<RNNCell>(3, 4, true, fx.metadata.at("nonlinearity"), kFloat64);
    if (kind == "gru") m = std::make_shared<GRUCell>(3, 4, true, kFloat64);
    if (kind == "lstm") m = std::make_shared<LSTMCell>(3, 4, true, kFloat64);
    EXPECT_EQ(keys(m->state_dict()), split_keys(fx.metadata.at("keys")));
    m->load_state_dict(fixture_state(fx, kFloat64));
    const Tensor x = fx.at("input").detach().requires_grad_(), h = fx.at("h").detach().requires_grad_();
    Tensor loss, c;
    if (kind == "lstm") {
      c = fx.at("c").detach().requires_grad_();
      auto [hn, cn] = std::static_pointer_cast<LSTMCell>(m)->forward(x, h, c);
      EXPECT_TRUE(all_close(hn, fx.at("h_n"), 1e-12));
      EXPECT_TRUE(all_close(cn, fx.at("c_n"), 1e-12));
      loss = sum(hn * fx.at("grad_h_n")) + sum(cn * fx.at("grad_c_n"));
    } else {
      Tensor hn = kind == "rnn" ? std::static_pointer_cast<RNNCell>(m)->forward(x, h)
                                : std::static_pointer_cast<GRUCell>(m)->forward(x, h);
      EXPECT_TRUE(all_close(hn, fx.at("h_n"), 1e-12));
      loss = sum(hn * fx.at("grad_h_n"));
    }
    loss.backward();
    EXPECT_TRUE(all_close(x.grad(), fx.at("grad_input"), 1e-12));
    EXPECT_TRUE(all_close(h.grad(), fx.at("grad_h"), 1e-12));
    if (c.defined()) {
      EXPECT_TRUE(all_close(c.grad(), fx.at("grad_c"), 1e-12));
    }
    for (const auto& [k, p] : m->named_parameters()) EXPECT_TRUE(all_close(p.grad(), fx.at("grad_p." + k), 1e-12)) << k;
  }
}

// Finite differences in float64 through every layer kind, with lengths, both directions, 2 layers.
TEST(RNNLayers, Gradcheck) {
  RNNOptions o;
  o.num_layers = 2;
  o.bidirectional = true;
  o.dtype = kFloat64;
  manual_seed(7);
  const Tensor lengths = tensor<int64_t>({3, 1, 2});
  const Tensor x = randn({3, 3, 2}, kFloat64), h0 = randn({4, 3, 2}, kFloat64), c0 = randn({4, 3, 2}, kFloat64);
  for (const std::string nl : {"tanh", "relu"}) {
    o.nonlinearity = nl;
    auto rnn = std::make_shared<RNN>(2, 2, o);
    ATTN_EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          auto r = rnn->forward(in[0], in[1], lengths);
          return cat({r.output.flatten(), r.h_n.flatten()});
        },
        (std::vector<Tensor>{x.clone().requires_grad_(), h0.clone().requires_grad_()}));
  }
  auto gru = std::make_shared<GRU>(2, 2, o);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        auto r = gru->forward(in[0], in[1], lengths);
        return cat({r.output.flatten(), r.h_n.flatten()});
      },
      (std::vector<Tensor>{x.clone().requires_grad_(), h0.clone().requires_grad_()}));
  auto lstm = std::make_shared<LSTM>(2, 2, o);
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        auto r = lstm->forward(in[0], in[1], in[2], lengths);
        return cat({r.output.flatten(), r.h_n.flatten(), r.c_n.flatten()});
      },
      (std::vector<Tensor>{x.clone().requires_grad_(), h0.clone().requires_grad_(), c0.clone().requires_grad_()}));
}

// A row with length l gives exactly what the layer gives on its first l steps alone; zero length
// keeps h0 and outputs zeros.
TEST(RNNLayers, LengthsMatchSeparateRuns) {
  RNNOptions o;
  o.bidirectional = true;
  o.num_layers = 2;
  manual_seed(3);
  LSTM lstm(3, 5, o);
  const Tensor x = randn({4, 3, 3}), h0 = randn({4, 3, 5}), c0 = randn({4, 3, 5});
  const std::vector<int64_t> len = {2, 4, 0};
  const RNNOutput all = lstm(x, h0, c0, tensor<int64_t>(len));
  for (int64_t b = 0; b < 3; ++b) {
    SCOPED_TRACE(b);
    const int64_t l = len[size_t(b)];
    const Tensor hb = h0.narrow(1, b, 1), cb = c0.narrow(1, b, 1);
    if (l > 0) {
      const RNNOutput one = lstm(x.narrow(0, 0, l).narrow(1, b, 1), hb, cb);
      // Same operations on a batch of one: the GEMMs may block differently, so 1e-6.
      EXPECT_TRUE(all_close(all.output.narrow(0, 0, l).narrow(1, b, 1), one.output, 1e-6));
      EXPECT_TRUE(all_close(all.h_n.narrow(1, b, 1), one.h_n, 1e-6));
      EXPECT_TRUE(all_close(all.c_n.narrow(1, b, 1), one.c_n, 1e-6));
    } else {
      EXPECT_TRUE(all_equal(all.h_n.narrow(1, b, 1), hb));
      EXPECT_TRUE(all_equal(all.c_n.narrow(1, b, 1), cb));
    }
    EXPECT_TRUE(all_equal(all.output.narrow(0, l, 4 - l).narrow(1, b, 1), zeros({4 - l, 1, 10})));
  }
}

TEST(RNNLayers, ToDtypeConvertsTheLayer) {
  manual_seed(8);
  GRU gru(3, 4);
  const Tensor x = randn({5, 2, 3});
  const Tensor y32 = gru(x).output;
  gru.to(kFloat64);
  const RNNOutput r = gru(x.to(kFloat64));
  EXPECT_EQ(r.output.dtype(), kFloat64);
  EXPECT_TRUE(all_close(r.output.to(kFloat32), y32, 1e-6));  // float32 rounding of the same values
}

TEST(RNNLayers, UnbatchedIsBatchOfOne) {
  manual_seed(4);
  GRU gru(3, 4, RNNOptions{.num_layers = 2});
  const Tensor x = randn({5, 3}), h0 = randn({2, 4});
  const RNNOutput a = gru(x, h0), b = gru(x.unsqueeze(1), h0.unsqueeze(1));
  EXPECT_TRUE(all_equal(a.output, b.output.squeeze(1)));
  EXPECT_TRUE(all_equal(a.h_n, b.h_n.squeeze(1)));
}

TEST(RNNLayers, DropoutOnlyBetweenLayersInTraining) {
  manual_seed(5);
  const Tensor x = randn({4, 2, 3});
  RNNOptions o;
  o.dropout = 0.5;
  GRU one(3, 8, o);  // a single layer has no inter-layer dropout
  const RNNOutput t1 = one(x);
  one.eval();
  EXPECT_TRUE(all_equal(t1.output, one(x).output));
  o.num_layers = 2;
  GRU two(3, 8, o);
  const RNNOutput train_a = two(x), train_b = two(x);
  two.eval();
  const RNNOutput e1 = two(x), e2 = two(x);
  EXPECT_TRUE(all_equal(e1.output, e2.output));
  EXPECT_FALSE(all_close(train_a.output, e1.output, 1e-6));
  EXPECT_FALSE(all_close(train_a.output, train_b.output, 1e-6));  // a fresh mask per call
}

TEST(RNNLayers, InitAndNames) {
  RNNOptions o;
  o.num_layers = 2;
  o.bidirectional = true;
  LSTM lstm(3, 16, o);
  const std::vector<std::string> want = {
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
      "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  EXPECT_EQ(keys(lstm.named_parameters()), want);
  EXPECT_EQ(lstm.get_parameter("weight_ih_l1").shape(), (Shape{64, 32}));
  // U(-1/4, 1/4): every value inside, and the spread fills the range.
  for (const Tensor& p : lstm.parameters()) {
    EXPECT_LE(max(abs(p)).item(), 0.25);
    EXPECT_GT(max(abs(p)).item(), 0.2);
  }
  Generator g1(9), g2(9);
  lstm.reset_parameters(&g1);
  const Tensor w = lstm.get_parameter("weight_hh_l1_reverse").clone();
  lstm.reset_parameters(&g2);
  EXPECT_TRUE(all_equal(lstm.get_parameter("weight_hh_l1_reverse"), w));
  EXPECT_EQ(lstm.to_string(), "LSTM(3, 16, num_layers=2, bidirectional=True)");
  EXPECT_EQ(RNN(2, 3, RNNOptions{.nonlinearity = "relu"}).to_string(), "RNN(2, 3, nonlinearity='relu')");
  EXPECT_EQ(GRUCell(2, 3, false).to_string(), "GRUCell(2, 3, bias=False)");
  GRU nobias(3, 4, RNNOptions{.bias = false});
  EXPECT_EQ(keys(nobias.state_dict()), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"}));
}

TEST(RNNLayers, BadShapesThrow) {
  GRU gru(3, 4, RNNOptions{.num_layers = 2});
  testing::expect_error([&] { gru(randn({5, 2, 7})); }, {"3", "[5, 2, 7]"});
  testing::expect_error([&] { gru(randn({5, 2, 3}), randn({1, 2, 4})); }, {"h0", "[2, 2, 4]", "[1, 2, 4]"});
  testing::expect_error([&] { gru(randn({5, 2, 3}), Tensor(), tensor<int64_t>({6, 1})); }, {"lengths[0] = 6", "[5, 2, 3]"});
  testing::expect_error([&] { gru(randn({5, 2, 3}), Tensor(), tensor<int64_t>({3})); }, {"lengths", "[5, 2, 3]"});
  testing::expect_error([&] { gru(randn({5, 2, 3}, kFloat64)); }, {"float64", "float32"});
  LSTM lstm(3, 4);
  testing::expect_error([&] { lstm(randn({5, 2, 3}), Tensor(), randn({1, 3, 4})); }, {"c0", "[1, 2, 4]", "[1, 3, 4]"});
  LSTMCell cell(3, 4);
  testing::expect_error([&] { cell(randn({2, 3}), randn({3, 4})); }, {"[2, 4]", "[3, 4]"});
  testing::expect_error([&] { cell(randn({2, 5})); }, {"[B, 3]", "[2, 5]"});
  testing::expect_error([] { RNN(3, 4, RNNOptions{.nonlinearity = "sigmoid"}); }, {"sigmoid"});
  testing::expect_error([] { GRU(3, 0); }, {"hidden_size"});
}

TEST(RNNCells, UndefinedStateIsZeros) {
  manual_seed(6);
  LSTMCell cell(3, 4);
  const Tensor x = randn({2, 3});
  auto [h1, c1] = cell(x);
  auto [h2, c2] = cell(x, zeros({2, 4}), zeros({2, 4}));
  EXPECT_TRUE(all_equal(h1, h2));
  EXPECT_TRUE(all_equal(c1, c2));
  GRUCell g(3, 4);
  EXPECT_TRUE(all_equal(g(x.select(0, 1)), g(x).select(0, 1)));  // unbatched
}

}  // namespace
}  // namespace attn::nn
