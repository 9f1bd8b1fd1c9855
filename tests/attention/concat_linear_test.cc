// nn::ConcatLinearAttention (src/attention/concat_linear.cc) against the PyTorch seq2seq tutorial's
// attention (tools/fixtures/concat_linear.py: batch 1 and 3, [B, D] and [B, 1, D] inputs, S < and
// = max_length) for output, weights and the gradients of query, key, values and every parameter;
// the tutorial's own sizes against an explicitly zero-padded composition; f64 gradcheck; S = 0;
// state_dict names; errors.
#include "attn/attention/concat_linear.h"

#include <string>

#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_close;
using testing::expect_error;
using testing::load_fixture;

// f64: two small GEMMs and a softmax over <= 7 terms of O(1) values: a few ulps; 1e-12 leaves room
// for a different summation order.
constexpr double kTol = 1e-12;

Tensor leaf(const io::SafetensorsFile& fx, const std::string& name) {
  return fx.at(name).detach().clone().requires_grad_();
}

void check_fixture(const std::string& name) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("concat_linear/" + name);
  auto meta = [&](const char* k) { return std::stoll(fx.metadata.at(k)); };
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    ConcatLinearAttention m(meta("query_size"), meta("key_size"), meta("value_size"), meta("max_length"),
                            meta("output_size"), kFloat64);
    NamedTensors sd;
    for (const auto& [n, t] : m.state_dict()) sd.emplace_back(n, fx.at(n));
    m.load_state_dict(sd);  // strict
    Tensor q = leaf(fx, "query"), k = leaf(fx, "key"), v = leaf(fx, "values");
    ConcatLinearOutput r = m(q, k, v);
    EXPECT_TRUE(all_close(r.output, fx.at("out"), kTol, kTol)) << reference;
    EXPECT_TRUE(all_close(r.weights, fx.at("weights"), kTol, kTol)) << reference;
    (sum(r.output * fx.at("grad_out")) + sum(r.weights * fx.at("grad_weights"))).backward();
    EXPECT_TRUE(all_close(q.grad(), fx.at("grad_query"), kTol, kTol)) << reference;
    EXPECT_TRUE(all_close(k.grad(), fx.at("grad_key"), kTol, kTol)) << reference;
    EXPECT_TRUE(all_close(v.grad(), fx.at("grad_values"), kTol, kTol)) << reference;
    for (const auto& [n, p] : m.named_parameters()) {
      SCOPED_TRACE(n);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(all_close(p.grad(), fx.at("grad_" + n), kTol, kTol)) << reference;
    }
  }
}

TEST(ConcatLinearAttention, MatchesPyTorchTutorial) {
  for (const char* c : {"batch1_rank3_short", "batch3_rank2_short", "batch3_rank3_full"}) check_fixture(c);
}

TEST(ConcatLinearAttention, StateDictNamesAreTheTutorials) {
  ConcatLinearAttention m(5, 4, 3, 7, 6);
  std::vector<std::string> keys;
  for (const auto& [k, t] : m.state_dict()) keys.push_back(k + shape_str(t.shape()));
  EXPECT_EQ(keys, (std::vector<std::string>{"attn.weight[7, 9]", "attn.bias[7]", "attn_combine.weight[6, 8]",
                                            "attn_combine.bias[6]"}));
  EXPECT_NE(m.to_string().find("query_size=5, key_size=4, value_size=3, max_length=7, output_size=6"),
            std::string::npos)
      << m.to_string();
}

// The tutorial's sizes (hidden 32, bidirectional-width encoder outputs 64, MAX_LENGTH 32), against
// the tutorial's recipe written out with our ops: a zero [B, L, Dv] buffer holding the S outputs.
TEST(ConcatLinearAttention, TutorialShapesMatchZeroPaddedComposition) {
  Generator gen(7);
  ConcatLinearAttention m(32, 32, 64, 32, 32);
  Tensor q = randn({1, 1, 32}, kFloat32, &gen), k = randn({1, 1, 32}, kFloat32, &gen);
  Tensor v = randn({1, 32, 64}, kFloat32, &gen);
  ConcatLinearOutput r = m(q, k, v);
  EXPECT_EQ(r.output.shape(), (Shape{1, 1, 32}));
  EXPECT_EQ(r.weights.shape(), (Shape{1, 32}));
  for (int64_t S : {32, 10, 1}) {
    SCOPED_TRACE(S);
    Tensor vs = v.narrow(1, 0, S);
    ConcatLinearOutput a = m(q, k, vs);
    Tensor padded = cat({vs, zeros({1, 32 - S, 64})}, 1);
    Tensor w = softmax(m.attn->forward(cat({q.reshape({1, 32}), k.reshape({1, 32})}, 1)), 1);
    Tensor ctx = matmul(w.unsqueeze(1), padded).reshape({1, 64});
    Tensor out = m.attn_combine->forward(cat({q.reshape({1, 32}), ctx}, 1)).unsqueeze(1);
    // f32, same ops except the 32-S zero terms of the context sum: rounding of 64-term sums.
    EXPECT_TRUE(all_close(a.weights, w, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(a.output, out, 1e-5, 1e-5));
    // Positions beyond S still take softmax mass (the tutorial's behaviour): weights sum to 1.
    EXPECT_TRUE(all_close(sum(a.weights), ones({}), 1e-6));
  }
  // Rank 2 gives rank-2 output with the same values.
  ConcatLinearOutput r2 = m(q.reshape({1, 32}), k.reshape({1, 32}), v);
  EXPECT_EQ(r2.output.shape(), (Shape{1, 32}));
  EXPECT_TRUE(all_close(r2.output, r.output.reshape({1, 32}), 0.0));
}

TEST(ConcatLinearAttention, Gradcheck) {
  Generator gen(11);
  ConcatLinearAttention m(3, 2, 4, 5, 3, kFloat64);
  auto p = [](const Tensor& t) { return t.detach().clone().requires_grad_(); };
  Tensor q = randn({3, 3}, kFloat64, &gen).requires_grad_(), k = randn({3, 2}, kFloat64, &gen).requires_grad_();
  Tensor v = randn({3, 4, 4}, kFloat64, &gen).requires_grad_();  // S = 4 < max_length = 5
  auto f = [&](const std::vector<Tensor>& x) {
    m.attn->weight = x[3];
    m.attn->bias = x[4];
    m.attn_combine->weight = x[5];
    m.attn_combine->bias = x[6];
    ConcatLinearOutput r = m(x[0], x[1], x[2]);
    return cat({r.output.reshape({-1}), r.weights.reshape({-1})}, 0);
  };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{q, k, v, p(m.attn->weight), p(m.attn->bias),
                                                p(m.attn_combine->weight), p(m.attn_combine->bias)}));
}

TEST(ConcatLinearAttention, EmptySourceGivesZeroContext) {
  // S = 0: the context is the zero vector (all of encoder_outputs is padding), so the output is
  // attn_combine([q ; 0]); the weights are still the softmax over max_length.
  Generator gen(13);
  ConcatLinearAttention m(3, 2, 4, 5, 3, kFloat64);
  Tensor q = randn({2, 3}, kFloat64, &gen).requires_grad_(), k = randn({2, 2}, kFloat64, &gen);
  ConcatLinearOutput r = m(q, k, zeros({2, 0, 4}, kFloat64));
  Tensor expect = m.attn_combine->forward(cat({q, zeros({2, 4}, kFloat64)}, 1));
  EXPECT_TRUE(all_close(r.output, expect, 0.0));
  EXPECT_EQ(r.weights.shape(), (Shape{2, 5}));
  sum(r.output).backward();
  EXPECT_TRUE(testing::all_finite(q.grad()));
}

TEST(ConcatLinearAttention, BadShapesThrow) {
  ConcatLinearAttention m(32, 32, 64, 32, 32);
  const Tensor q = zeros({1, 1, 32}), k = zeros({1, 1, 32});
  expect_error([&] { m(q, k, zeros({1, 33, 64})); }, {"[1, 33, 64]", "max_length = 32"});
  expect_error([&] { m(zeros({1, 1, 31}), k, zeros({1, 5, 64})); }, {"[1, 1, 31]", "[B, 1, 32]"});
  expect_error([&] { m(q, zeros({1, 32}), zeros({1, 5, 63})); }, {"[1, 5, 63]", "[B, S, 64]"});
  expect_error([&] { m(zeros({1, 2, 32}), k, zeros({1, 5, 64})); }, {"[1, 2, 32]"});
  expect_error([&] { m(zeros({2, 32}), zeros({3, 32}), zeros({2, 5, 64})); }, {"batch", "[2, 32]", "[3, 32]"});
  expect_error([&] { m(zeros({2, 32}), zeros({2, 32}), zeros({3, 5, 64})); }, {"batch", "[3, 5, 64]"});
  expect_error([&] { m(zeros({2, 32}), zeros({2, 32}), zeros({2, 64})); }, {"[2, 64]"});
  expect_error([&] { ConcatLinearAttention(32, 32, 64, 0, 32); }, {"max_length 0"});
}

}  // namespace
}  // namespace attn::nn
