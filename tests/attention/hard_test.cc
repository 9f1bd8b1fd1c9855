// Hard attention ops (src/attention/hard.cc): topk_attention against PyTorch fixtures
// (tools/fixtures/hard.py) and gradcheck; hard_argmax with and without straight-through;
// sample_attention frequencies (within 5 sigma) and the REINFORCE gradient of log_prob;
// gumbel_softmax: Gumbel-max frequencies, soft gradcheck, straight-through gradient == soft one.
#include <cmath>
#include <string>
#include <vector>

#include "attn/attention/hard.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::all_equal;
using testing::load_fixture;

TEST(TopkAttention, MatchesPyTorch) {
  struct Case { const char* name; int64_t k, dim; };
  for (const Case& c : {Case{"topk1", 1, -1}, Case{"topk2", 2, -1}, Case{"topk6", 6, -1}, Case{"topk2_dim1", 2, 1}}) {
    SCOPED_TRACE(c.name);
    auto fx = load_fixture(std::string("hard/") + c.name);
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      Tensor x = fx.at("scores").detach().clone().requires_grad_();
      Tensor out = topk_attention(x, c.k, c.dim);
      // f64 softmax over <= 6 terms: a few ulps; dropped positions are exact zeros.
      EXPECT_TRUE(all_close(out, fx.at("out"), 1e-14, 1e-13));
      out.backward(fx.at("grad_out"));
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_scores"), 1e-13, 1e-12));
    }
  }
}

TEST(TopkAttention, GradcheckAndErrors) {
  Generator gen(4);
  Tensor s = randn({3, 7}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return topk_attention(x[0], 3); }, std::vector<Tensor>{s});
  expect_error([&] { topk_attention(s, 0); }, {"k must be >= 1", "0"});
  expect_error([] { topk_attention(zeros({2, 0}), 1); }, {"[2, 0]", "empty"});
  expect_error([] { topk_attention(zeros({2, 3}), 1, 2); }, {"dim 2", "[2, 3]"});
}

TEST(HardArgmax, OneHotAndStraightThrough) {
  Tensor w = tensor<double>({0.1, 0.6, 0.3, 0.4, 0.2, 0.4}, {2, 3});
  Tensor expect = tensor<double>({0, 1, 0, 1, 0, 0}, {2, 3});  // tie (0.4, 0.4): the first, as torch.argmax
  Tensor y = hard_argmax(w.detach().clone().requires_grad_());
  EXPECT_TRUE(all_equal(y, expect));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(all_equal(hard_argmax(w, false, 0), tensor<double>({0, 1, 0, 1, 0, 1}, {2, 3})));
  Tensor p = w.detach().clone().requires_grad_();
  Tensor st = hard_argmax(p, true);
  // (y - w) + w: the one-hot up to one rounding of |values| <= 1.
  EXPECT_TRUE(all_close(st, expect, 1e-16));
  Tensor g = tensor<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  st.backward(g);
  EXPECT_TRUE(all_equal(p.grad(), g));  // the identity into w
}

// |count / n - p| <= 5 sqrt(p (1 - p) / n) for every position: a false alarm has probability
// < 1e-5 per position; the draws are seeded, so the test is deterministic anyway.
void expect_frequencies(const Tensor& one_hots, const std::vector<double>& p) {
  const int64_t n = one_hots.size(0);
  std::vector<double> counts = to_double_vector(sum(one_hots, {0}));
  ASSERT_EQ(counts.size(), p.size());
  for (size_t j = 0; j < p.size(); ++j) {
    const double sigma = std::sqrt(p[j] * (1 - p[j]) / double(n));
    EXPECT_LE(std::abs(counts[j] / double(n) - p[j]), 5 * sigma + 1e-12) << "position " << j << ": " << counts[j];
  }
}

TEST(SampleAttention, FrequenciesMatchProbabilities) {
  const std::vector<double> p = {0.1, 0.0, 0.2, 0.3, 0.4};
  Tensor probs = tensor<double>(p, {1, 5}).expand({20000, 5}).contiguous();
  Generator gen(17);
  HardSample s = sample_attention(probs, &gen);
  expect_frequencies(s.one_hot, p);  // includes: position 1 (p = 0) is never drawn
  EXPECT_TRUE(all_equal(s.one_hot, one_hot(s.index, 5).to(kFloat64)));
  // Unnormalised rows sample proportionally; dim = 0 samples down the columns.
  Generator gen2(17);
  HardSample t = sample_attention((probs * 3.0).t(), &gen2, 0);
  EXPECT_TRUE(all_equal(t.index, s.index));  // same uniforms, same proportional draw
  expect_error([] { sample_attention(tensor<double>({0.5, -0.1}, {1, 2})); }, {">= 0", "[1, 2]"});
  expect_error([] { sample_attention(zeros({2, 3}, kFloat64)); }, {"no positive probability"});
}

TEST(SampleAttention, LogProbGradientIsReinforceTerm) {
  Generator gen(3);
  Tensor p = softmax(randn({4, 6}, kFloat64, &gen), -1).detach().requires_grad_();
  Generator g1(8);
  HardSample s = sample_attention(p, &g1);
  // d log p_j / d p = one_hot(j) / p_j, per row.
  Tensor expect_lp = log(sum(p.detach() * s.one_hot, {-1}));
  EXPECT_TRUE(all_close(s.log_prob, expect_lp, 0.0));
  sum(s.log_prob).backward();
  EXPECT_TRUE(all_close(p.grad(), s.one_hot / p.detach(), 1e-15, 1e-15));
  ATTN_EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& x) {
        Generator g(8);  // the same draw in every evaluation
        return sample_attention(x[0], &g).log_prob;
      },
      std::vector<Tensor>{p.detach().clone().requires_grad_()});
}

TEST(GumbelSoftmax, HardDrawsFollowSoftmaxOfLogits) {
  // Gumbel-max: argmax(l + g) ~ Categorical(softmax(l)).
  Tensor logits = tensor<double>({0.5, -1.0, 1.5, 0.0}, {1, 4});
  const std::vector<double> p = to_double_vector(softmax(logits, -1));
  Generator gen(21);
  Tensor y = gumbel_softmax(logits.expand({20000, 4}), 0.5, true, &gen);
  expect_frequencies(y, p);
  EXPECT_TRUE(all_close(y, one_hot(argmax(y, -1), 4).to(kFloat64), 1e-15));  // one-hot up to rounding
  Generator gen2(21);
  Tensor soft = gumbel_softmax(logits.expand({20000, 4}), 0.5, false, &gen2);
  EXPECT_TRUE(all_close(sum(soft, {-1}), ones({20000}, kFloat64), 1e-14));
  EXPECT_TRUE(all_equal(argmax(soft, -1), argmax(y, -1)));  // same noise, same winner
  expect_error([&] { gumbel_softmax(logits, 0.0); }, {"tau", "0"});
}

TEST(GumbelSoftmax, SoftGradcheckAndStraightThroughGradientEqualsSoft) {
  Generator gen(6);
  Tensor l = randn({3, 5}, kFloat64, &gen);
  for (double tau : {0.7, 2.0}) {
    ATTN_EXPECT_GRADCHECK(
        [tau](const std::vector<Tensor>& x) {
          Generator g(31);
          return gumbel_softmax(x[0], tau, false, &g);
        },
        std::vector<Tensor>{l.detach().clone().requires_grad_()});
    Tensor g_out = randn({3, 5}, kFloat64, &gen);
    Tensor a = l.detach().clone().requires_grad_(), b = l.detach().clone().requires_grad_();
    Generator ga(31), gb(31);
    gumbel_softmax(a, tau, false, &ga).backward(g_out);
    gumbel_softmax(b, tau, true, &gb).backward(g_out);
    EXPECT_TRUE(all_equal(b.grad(), a.grad()));  // y_hard carries no gradient: exactly the soft one
  }
  // dim = 0 is the same op on the transpose.
  Generator g1(2), g2(2);
  // Same noise (drawn in the [3, 5] order of the moved view); f64 softmax, a few ulps apart at most.
  EXPECT_TRUE(all_close(gumbel_softmax(l.t().contiguous(), 1.0, false, &g1, 0).t(), gumbel_softmax(l, 1.0, false, &g2),
                        1e-15));
}

TEST(HardAttention, EmptyRowsAndThreads) {
  // Zero rows (an empty batch) are fine for every op; only an empty attended dim is an error.
  Tensor e = zeros({0, 5}, kFloat64);
  EXPECT_EQ(topk_attention(e, 2).shape(), (Shape{0, 5}));
  EXPECT_EQ(hard_argmax(e).shape(), (Shape{0, 5}));
  EXPECT_EQ(sample_attention(e).log_prob.shape(), (Shape{0}));
  EXPECT_EQ(gumbel_softmax(e).shape(), (Shape{0, 5}));
  expect_error([] { gumbel_softmax(zeros({3, 0})); }, {"[3, 0]", "empty"});
  Generator gen(1);
  Tensor s = randn({64, 37}, kFloat32, &gen);
  auto [one, two] = testing::one_and_two_threads([&] {
    Generator g(5);
    return topk_attention(s, 5) + gumbel_softmax(s, 0.5, true, &g);
  });
  EXPECT_TRUE(all_equal(one, two));
}

}  // namespace
}  // namespace attn
