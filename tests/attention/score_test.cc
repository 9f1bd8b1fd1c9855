// Attention scores (src/attention/score.cc): PyTorch fixtures (tools/fixtures/score.py, which
// writes additive / concat as the literal per-pair formula), f64 gradchecks, edge cases (empty
// and size-1 dims, broadcast batch), and errors naming the shapes. The scores are compositions of
// ops with their own kernel tests; here each fixture is also run in both kernel modes.
#include <cmath>
#include <string>

#include "attn/attention/score.h"
#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;

using testing::all_close;
using testing::load_fixture;

using ScoreFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs fn on the fixture's inputs (names in order) in f64 with both kernel modes and compares the
// output and every input gradient; then the f32 forward.
void check_fixture(const std::string& name, const std::vector<std::string>& inputs, const ScoreFn& fn) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("score/" + name);
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    std::vector<Tensor> xs;
    for (const auto& n : inputs) xs.push_back(fx.at(n).detach().clone().requires_grad_());
    Tensor out = fn(xs);
    // f64 with a handful of reassociated sums and a tanh: errors are a few ulps of O(10) values.
    EXPECT_TRUE(all_close(out, fx.at("out"), 1e-11, 1e-11)) << reference;
    out.backward(fx.at("grad_out"));
    for (size_t i = 0; i < inputs.size(); ++i)
      EXPECT_TRUE(all_close(xs[i].grad(), fx.at("grad_" + inputs[i]), 1e-10, 1e-10)) << inputs[i] << " " << reference;
    // f32: inputs rounded to f32 (rel 6e-8) through sums of <= 7 terms of magnitude <= ~10.
    std::vector<Tensor> xf;
    for (const auto& n : inputs) xf.push_back(fx.at(n).to(kFloat32));
    EXPECT_TRUE(all_close(fn(xf), fx.at("out").to(kFloat32), 2e-5, 1e-5)) << "f32 " << reference;
  }
}

TEST(Score, DotMatchesPyTorch) {
  ScoreFn f = [](const std::vector<Tensor>& x) { return dot_score(x[0], x[1]); };
  check_fixture("dot", {"q", "k"}, f);
  check_fixture("dot_broadcast", {"q", "k"}, f);
}

TEST(Score, ScaledDotMatchesPyTorch) {
  check_fixture("scaled", {"q", "k"}, [](const std::vector<Tensor>& x) { return scaled_dot_score(x[0], x[1]); });
  check_fixture("scaled_explicit", {"q", "k"},
                [](const std::vector<Tensor>& x) { return scaled_dot_score(x[0], x[1], 0.3); });
}

TEST(Score, GeneralMatchesPyTorch) {
  check_fixture("general", {"q", "W", "k"}, [](const std::vector<Tensor>& x) { return general_score(x[0], x[1], x[2]); });
}

TEST(Score, AdditiveMatchesPyTorch) {
  check_fixture("additive", {"q", "k", "W_q", "W_k", "v", "bias"},
                [](const std::vector<Tensor>& x) { return additive_score(x[0], x[1], x[2], x[3], x[4], x[5]); });
}

TEST(Score, ConcatMatchesPyTorch) {
  check_fixture("concat", {"q", "k", "W", "v", "bias"},
                [](const std::vector<Tensor>& x) { return concat_score(x[0], x[1], x[2], x[3], x[4]); });
}

TEST(Score, CosineMatchesPyTorch) {
  check_fixture("cosine", {"q", "k"}, [](const std::vector<Tensor>& x) { return cosine_score(x[0], x[1]); });
}

Tensor rnd(Shape s, uint64_t seed) {
  Generator g(seed);
  return randn(std::move(s), kFloat64, &g).requires_grad_();
}

TEST(Score, Gradcheck) {
  Tensor q = rnd({2, 3, 4}, 1), k = rnd({2, 5, 4}, 2), k3 = rnd({1, 2, 3}, 3);
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return dot_score(x[0], x[1]); }, (std::vector<Tensor>{q, k}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return scaled_dot_score(x[0], x[1]); },
                        (std::vector<Tensor>{q, k}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return general_score(x[0], x[1], x[2]); },
                        (std::vector<Tensor>{q, rnd({4, 3}, 4), k3}));
  ATTN_EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& x) { return additive_score(x[0], x[1], x[2], x[3], x[4], x[5]); },
      (std::vector<Tensor>{q, k3, rnd({5, 4}, 5), rnd({5, 3}, 6), rnd({5}, 7), rnd({5}, 8)}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return concat_score(x[0], x[1], x[2], x[3]); },
                        (std::vector<Tensor>{q, k3, rnd({5, 7}, 9), rnd({5}, 10)}));
  ATTN_EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return cosine_score(x[0], x[1]); }, (std::vector<Tensor>{q, k}));
}

TEST(Score, ConcatEqualsAdditiveWithSplitWeight) {
  // W [q; k] + b == W[:, :Dq] q + b + W[:, Dq:] k: the two scores are the same function.
  Tensor q = rnd({3, 4}, 11).detach(), k = rnd({5, 2}, 12).detach(), W = rnd({6, 6}, 13).detach(), v = rnd({6}, 14).detach();
  Tensor b = rnd({6}, 15).detach();
  EXPECT_TRUE(all_close(concat_score(q, k, W, v, b),
                        additive_score(q, k, W.narrow(1, 0, 4).contiguous(), W.narrow(1, 4, 2).contiguous(), v, b), 1e-14));
}

TEST(Score, CosineOfZeroVectorIsZeroWithFiniteGradient) {
  // Near 0, x / max(|x|, eps) is x / eps: the gradient of a zero query is sum_j k^_j / eps.
  Tensor q = zeros({1, 2, 3}, kFloat64);
  q.narrow(1, 1, 1).fill_(1.0);
  q.requires_grad_();
  Tensor k = rnd({1, 4, 3}, 16);
  Tensor s = cosine_score(q, k);
  EXPECT_TRUE(all_close(s.narrow(1, 0, 1), zeros({1, 1, 4}, kFloat64), 0.0));
  // Every score lies in [-1, 1].
  for (double v : to_double_vector(s)) EXPECT_LE(std::abs(v), 1.0 + 1e-15);
  sum(s).backward();
  for (double v : to_double_vector(q.grad())) EXPECT_TRUE(std::isfinite(v));
  Tensor khat = k.detach() / sqrt(sum(k.detach() * k.detach(), {-1}, true));
  // 1/eps = 1e8 amplifies f64 rounding of the unit vectors: relative 1e-12.
  EXPECT_TRUE(all_close(q.grad().narrow(1, 0, 1), sum(khat, {1}, true) / 1e-8, 0.0, 1e-12));
}

TEST(Score, EmptyAndSizeOneDims) {
  Tensor q = randn({2, 0, 3}), k = randn({2, 4, 3});
  EXPECT_EQ(dot_score(q, k).shape(), (Shape{2, 0, 4}));
  EXPECT_EQ(scaled_dot_score(k, q).shape(), (Shape{2, 4, 0}));
  EXPECT_EQ(additive_score(q, k, randn({5, 3}), randn({5, 3}), randn({5})).shape(), (Shape{2, 0, 4}));
  EXPECT_EQ(cosine_score(k, q).shape(), (Shape{2, 4, 0}));
  // 2-D inputs (no batch) and a T = S = 1 pair.
  Tensor a = tensor({3.0f, 4.0f}, {1, 2}), b = tensor({1.0f, 2.0f}, {1, 2});
  EXPECT_FLOAT_EQ(dot_score(a, b).item<float>(), 11.0f);
  EXPECT_FLOAT_EQ(scaled_dot_score(a, b).item<float>(), 11.0f / std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(cosine_score(a, b).item<float>(), 11.0f / (5.0f * std::sqrt(5.0f)));
}

TEST(Score, BadShapesThrowWithBothShapes) {
  Tensor q = randn({2, 3, 4}), k = randn({2, 5, 6});
  expect_error([&] { dot_score(q, k); }, {"[2, 3, 4]", "[2, 5, 6]"});
  expect_error([&] { scaled_dot_score(q, k); }, {"[2, 3, 4]", "[2, 5, 6]"});
  expect_error([&] { cosine_score(q, k); }, {"[2, 3, 4]", "[2, 5, 6]"});
  expect_error([&] { dot_score(randn({4}), k); }, {"[4]"});
  expect_error([&] { general_score(q, randn({4, 5}), k); }, {"[4, 5]", "[2, 5, 6]"});
  expect_error([&] { additive_score(q, k, randn({7, 4}), randn({8, 6}), randn({7})); }, {"[7, 4]", "[8, 6]"});
  expect_error([&] { additive_score(q, k, randn({7, 4}), randn({7, 6}), randn({6})); }, {"[7, 4]", "[6]"});
  expect_error([&] { concat_score(q, k, randn({7, 9}), randn({7})); }, {"[7, 9]", "[2, 3, 4]", "[2, 5, 6]"});
  expect_error([&] { dot_score(q, randn({2, 5, 4}, kFloat64)); }, {"float32", "float64"});
}

}  // namespace
}  // namespace attn
