// Tests for the word2vec models (include/attn/models/word2vec.h): the skip-gram and CBOW
// negative-sampling losses and their gradients against a PyTorch re-implementation
// (tools/fixtures/word2vec.py), f64 finite differences, the stable log σ, initialisation and
// parameter names, 1 vs 2 threads, and shape errors. About 20 ms.
#include "attn/models/word2vec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace attn::models {
namespace {

using attn::testing::all_close;
using attn::testing::all_equal;
using attn::testing::expect_error;

template <class M>
void load_weights(M& m, const io::SafetensorsFile& fx) {
  m.load_state_dict({{"in_embed.weight", fx.at("in_weight")}, {"out_embed.weight", fx.at("out_weight")}});
}

// float32 against PyTorch's float32: a handful of sums of ~10 terms of size ~1, so a few ulp.
constexpr double kTol = 2e-6;

TEST(Word2VecModel, SkipGramMatchesPyTorch) {
  for (const char* name : {"word2vec/skipgram", "word2vec/skipgram_extreme"}) {
    const auto fx = attn::testing::load_fixture(name);
    const Tensor w = fx.at("in_weight");
    SkipGram m(w.size(0), w.size(1));
    load_weights(m, fx);
    const Tensor loss = m(fx.at("centers"), fx.at("contexts"), fx.at("negatives"));
    EXPECT_TRUE(all_close(loss, fx.at("loss"), kTol, kTol)) << name;
    loss.backward();
    EXPECT_TRUE(all_close(m.in_embed->weight.grad(), fx.at("grad_in_weight"), kTol, kTol)) << name;
    EXPECT_TRUE(all_close(m.out_embed->weight.grad(), fx.at("grad_out_weight"), kTol, kTol)) << name;
  }
}

TEST(Word2VecModel, CBOWMatchesPyTorch) {
  const auto fx = attn::testing::load_fixture("word2vec/cbow");
  const Tensor w = fx.at("in_weight");
  CBOW m(w.size(0), w.size(1));
  load_weights(m, fx);
  const Tensor loss = m(fx.at("windows"), fx.at("mask"), fx.at("centers"), fx.at("negatives"));
  EXPECT_TRUE(all_close(loss, fx.at("loss"), kTol, kTol));
  loss.backward();
  EXPECT_TRUE(all_close(m.in_embed->weight.grad(), fx.at("grad_in_weight"), kTol, kTol));
  EXPECT_TRUE(all_close(m.out_embed->weight.grad(), fx.at("grad_out_weight"), kTol, kTol));
  // Padding slots (index 0, mask 0) must not reach row 0 unless row 0 is a real context word: the
  // fixture's row 0 appears only as padding and as a centre, so its input gradient is zero.
  const std::vector<double> g0 = to_double_vector(m.in_embed->weight.grad().select(0, 0));
  for (double x : g0) EXPECT_EQ(x, 0.0);
}

TEST(Word2VecModel, GradcheckF64) {
  Generator gen(3);
  const Tensor centers = tensor<int64_t>({0, 2, 2, 4});
  const Tensor contexts = tensor<int64_t>({1, 1, 3, 0});
  const Tensor negs = tensor<int64_t>({4, 3, 0, 0, 1, 2, 3, 3}, {4, 2});
  SkipGram sg(5, 3, kFloat64, &gen);
  // Two points: word2vec's own init (out_embed zero, so every score is exactly 0, where log σ's
  // kink-free formula must still give 1/2) and a random one.
  for (int trial = 0; trial < 2; ++trial) {
    std::vector<Tensor> in = {sg.in_embed->weight.detach().clone().requires_grad_(),
                              trial == 0 ? sg.out_embed->weight.detach().clone().requires_grad_()
                                         : randn({5, 3}, kFloat64, &gen).requires_grad_()};
    ATTN_EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& x) {
          sg.in_embed->weight = x[0];
          sg.out_embed->weight = x[1];
          return sg(centers, contexts, negs);
        },
        in);
  }
  CBOW cb(5, 3, kFloat64, &gen);
  const Tensor windows = tensor<int64_t>({1, 2, 0, 3, 3, 4, 2, 0}, {2, 4});
  const Tensor mask = tensor<float>({1, 1, 0, 1, 1, 1, 1, 0}, {2, 4});
  const Tensor cc = tensor<int64_t>({4, 1});
  const Tensor cn = tensor<int64_t>({0, 2, 3, 3}, {2, 2});
  std::vector<Tensor> in = {randn({5, 3}, kFloat64, &gen).requires_grad_(), randn({5, 3}, kFloat64, &gen).requires_grad_()};
  ATTN_EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& x) {
        cb.in_embed->weight = x[0];
        cb.out_embed->weight = x[1];
        return cb(windows, mask, cc, cn);
      },
      in);
}

TEST(Word2VecModel, LogSigmoidIsStableAndExact) {
  const std::vector<double> xs = {-1000.0, -60.0, -3.0, -1e-8, 0.0, 1e-8, 3.0, 60.0, 1000.0};
  Tensor x = tensor<double>(xs).requires_grad_();
  const Tensor y = log_sigmoid(x);
  sum(y).backward();
  const std::vector<double> v = to_double_vector(y), g = to_double_vector(x.grad());
  for (size_t i = 0; i < xs.size(); ++i) {
    // log σ(x) = -log1p(e^{-x}) for x >= 0, x - log1p(e^{x}) for x < 0; derivative 1 - σ(x).
    const double want = xs[i] >= 0 ? -std::log1p(std::exp(-xs[i])) : xs[i] - std::log1p(std::exp(xs[i]));
    const double dwant = 1.0 / (1.0 + std::exp(xs[i]));
    // f64, a handful of operations: relative 1e-14.
    EXPECT_NEAR(v[i], want, 1e-14 * std::max(1.0, std::abs(want))) << "x = " << xs[i];
    EXPECT_NEAR(g[i], dwant, 1e-14) << "x = " << xs[i];
  }
  EXPECT_EQ(g[4], 0.5);  // exactly 1/2 at 0
}

TEST(Word2VecModel, InitialisationAndNames) {
  Generator gen(7);
  SkipGram m(50, 20, kFloat32, &gen);
  const auto sd = m.state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "in_embed.weight");
  EXPECT_EQ(sd[1].first, "out_embed.weight");
  const std::vector<double> in = to_double_vector(m.in_embed->weight);
  double lo = 1, hi = -1;
  for (double x : in) lo = std::min(lo, x), hi = std::max(hi, x);
  // uniform(-0.5/D, 0.5/D) = ±0.025 here; 1000 draws come within 5% of both ends.
  EXPECT_GE(lo, -0.025);
  EXPECT_LT(hi, 0.025);
  EXPECT_LT(lo, -0.0225);
  EXPECT_GT(hi, 0.0225);
  EXPECT_TRUE(all_equal(m.out_embed->weight, zeros({50, 20})));
  // The same seed gives the same initial vectors.
  Generator gen2(7);
  SkipGram m2(50, 20, kFloat32, &gen2);
  EXPECT_TRUE(all_equal(m2.in_embed->weight, m.in_embed->weight));
  CBOW c(4, 2);
  EXPECT_EQ(c.to_string().substr(0, 5), "CBOW(");
}

TEST(Word2VecModel, OneAndTwoThreadsAgree) {
  const auto fx = attn::testing::load_fixture("word2vec/cbow");
  auto run = [&] {
    CBOW m(9, 5);
    load_weights(m, fx);
    const Tensor loss = m(fx.at("windows"), fx.at("mask"), fx.at("centers"), fx.at("negatives"));
    loss.backward();
    return cat({loss.reshape({1}), m.in_embed->weight.grad().flatten(), m.out_embed->weight.grad().flatten()});
  };
  const auto [one, two] = attn::testing::one_and_two_threads(run);
  EXPECT_TRUE(all_equal(one, two));
}

TEST(Word2VecModel, Errors) {
  SkipGram sg(5, 3);
  const Tensor c = tensor<int64_t>({0, 1});
  expect_error([&] { sg(c, tensor<int64_t>({1, 2, 3}), zeros({2, 2}, kInt64)); }, {"contexts", "[3]", "[2]"});
  expect_error([&] { sg(c, c, zeros({3, 2}, kInt64)); }, {"negatives", "[3, 2]", "[2]"});
  expect_error([&] { sg(c.to(kFloat32), c, zeros({2, 2}, kInt64)); }, {"centers", "int64"});
  expect_error([&] { sg(c, c, tensor<int64_t>({0, 9, 1, 1}, {2, 2})); }, {"9"});
  CBOW cb(5, 3);
  const Tensor win = tensor<int64_t>({1, 2, 3, 4}, {2, 2});
  expect_error([&] { cb(win, ones({2, 3}), c, zeros({2, 1}, kInt64)); }, {"mask", "[2, 3]", "[2, 2]"});
  expect_error([&] { cb(win, tensor<float>({1, 1, 0, 0}, {2, 2}), c, zeros({2, 1}, kInt64)); },
               {"window 1", "no context"});
}

}  // namespace
}  // namespace attn::models
