// nn::MultiheadAttention self-attention through the packed projection (one [E, 3E] linear, q, k, v
// as views of its output) against the separate q / k / v projections, which the same module takes
// when key and value are other tensors (here: copies of the query): outputs, weights and every
// input and parameter gradient, for forward (batch_first both ways, with and without biases,
// bias_k / zero-attention keys, rotary, bool and float masks) and forward_incremental; 1 vs 2
// threads bitwise; a detached key / value is not taken for self-attention.
#include <map>
#include <string>

#include "attn/attention/multihead.h"
#include "attn/nn/init.h"
#include "test_util.h"

namespace attn {
namespace {

using nn::KVCache;
using nn::MultiheadAttention;
using testing::all_close;
using testing::all_equal;

struct Config {
  bool batch_first, bias, extras, rotary, float_mask;
};

// Every gradient of one run: the input's, then each parameter's by name.
std::map<std::string, Tensor> grads_of(MultiheadAttention& m, const Tensor& x) {
  std::map<std::string, Tensor> g{{"input", x.grad()}};
  for (const auto& [n, p] : m.named_parameters()) g[n] = p.grad();
  return g;
}

void zero_grads(MultiheadAttention& m, Tensor& x) {
  x.set_grad(Tensor());
  for (auto [n, p] : m.named_parameters()) p.set_grad(Tensor());
}

void check_fused_equals_separate(const Config& c, DType dt, double rtol, double atol) {
  SCOPED_TRACE(::testing::Message() << dt << " batch_first=" << c.batch_first << " bias=" << c.bias
                                    << " extras=" << c.extras << " rotary=" << c.rotary << " float_mask=" << c.float_mask);
  Generator g(21);
  const int64_t B = 3, T = 5, E = 8, H = 2;
  MultiheadAttention m(E, H, 0.0, c.bias, c.extras, c.extras, -1, -1, c.batch_first, -1, dt);
  m.rotary = c.rotary;
  if (c.bias) {  // non-zero biases, so their gradients are exercised
    NoGradGuard ng;
    nn::init::normal_(m.in_proj_bias, 0, 0.5, &g);
    nn::init::normal_(m.out_proj->bias, 0, 0.5, &g);
  }
  Tensor x = randn(c.batch_first ? Shape{B, T, E} : Shape{T, B, E}, dt, &g).requires_grad_();
  Tensor kpm = zeros({B, T}, kBool);
  kpm.data_ptr<bool>()[T + 1] = true;  // batch 1, key 1 padded
  Tensor am = c.float_mask ? randn({T, T}, dt, &g) : logical_not(causal_mask(T, T));
  Tensor grad_out = randn(x.shape(), dt, &g), grad_w = randn({B, H, T, T + (c.extras ? 2 : 0)}, dt, &g);

  // Fused: query, key and value are one tensor.
  zero_grads(m, x);
  auto fused = m.forward(x, x, x, kpm, true, am, false);
  (sum(fused.output * grad_out) + sum(fused.weights * grad_w)).backward();
  const auto gf = grads_of(m, x);
  // Separate: key and value are copies of x (clone keeps the autograd path back to x).
  zero_grads(m, x);
  auto sep = m.forward(x, x.clone(), x.clone(), kpm, true, am, false);
  (sum(sep.output * grad_out) + sum(sep.weights * grad_w)).backward();
  const auto gs = grads_of(m, x);

  EXPECT_TRUE(all_close(fused.output, sep.output, rtol, atol));
  EXPECT_TRUE(all_close(fused.weights, sep.weights, rtol, atol));
  ASSERT_EQ(gf.size(), gs.size());
  for (const auto& [n, t] : gf) {
    SCOPED_TRACE(n);
    ASSERT_TRUE(t.defined());
    EXPECT_TRUE(all_close(t, gs.at(n), rtol, atol));
  }
}

// One GEMM of [rows, E] x [E, 3E] vs three of [rows, E] x [E, E]: the same dot products, possibly
// blocked differently by BLAS, so equal up to rounding: f32 a few ulps of O(1) values (1e-5
// relative, 1e-6 absolute), f64 the same at double precision.
TEST(MultiheadAttentionFused, SelfAttentionEqualsSeparateProjections) {
  for (DType dt : {kFloat32, kFloat64}) {
    const double rtol = dt == kFloat32 ? 1e-5 : 1e-12, atol = dt == kFloat32 ? 1e-6 : 1e-13;
    check_fused_equals_separate({true, true, false, false, false}, dt, rtol, atol);
    check_fused_equals_separate({false, true, true, false, true}, dt, rtol, atol);
    check_fused_equals_separate({false, false, false, true, false}, dt, rtol, atol);
    check_fused_equals_separate({true, true, true, true, true}, dt, rtol, atol);
  }
}

// forward_incremental (packed projection) over a whole sequence from an empty cache equals the
// causal forward with separate projections, gradients included.
TEST(MultiheadAttentionFused, IncrementalEqualsSeparateProjections) {
  for (bool batch_first : {true, false}) {
    SCOPED_TRACE(batch_first);
    Generator g(22);
    const int64_t B = 2, T = 4, E = 8, H = 4;
    MultiheadAttention m(E, H, 0.0, true, true, false, -1, -1, batch_first, -1, kFloat64);
    m.rotary = true;
    {
      NoGradGuard ng;
      nn::init::normal_(m.in_proj_bias, 0, 0.5, &g);
    }
    Tensor x = randn(batch_first ? Shape{B, T, E} : Shape{T, B, E}, kFloat64, &g).requires_grad_();
    Tensor grad_out = randn(x.shape(), kFloat64, &g);
    KVCache cache;
    zero_grads(m, x);
    auto inc = m.forward_incremental(x, cache, true);
    sum(inc.output * grad_out).backward();
    const auto gi = grads_of(m, x);
    zero_grads(m, x);
    auto sep = m.forward(x, x.clone(), x.clone(), Tensor(), true, logical_not(causal_mask(T, T)), true);
    sum(sep.output * grad_out).backward();
    const auto gs = grads_of(m, x);
    // f64, the same sums up to BLAS blocking: double-precision rounding.
    EXPECT_TRUE(all_close(inc.output, sep.output, 1e-12, 1e-13));
    EXPECT_TRUE(all_close(inc.weights, sep.weights, 1e-12, 1e-13));
    for (const auto& [n, t] : gi) {
      SCOPED_TRACE(n);
      ASSERT_TRUE(t.defined());
      EXPECT_TRUE(all_close(t, gs.at(n), 1e-12, 1e-13));
    }
  }
}

// A detached key / value has no autograd path back to x, so it must not be fused with the query:
// x's gradient then comes through the query projection only.
TEST(MultiheadAttentionFused, DetachedKeyValueIsNotSelfAttention) {
  Generator g(23);
  MultiheadAttention m(8, 2, 0.0, true, false, false, -1, -1, true, -1, kFloat64);
  Tensor x = randn({2, 3, 8}, kFloat64, &g).requires_grad_();
  const Tensor d = x.detach();
  sum(m.forward(x, d, d).output).backward();
  const Tensor a = x.grad().clone();
  x.set_grad(Tensor());
  const Tensor c = x.detach().clone();
  sum(m.forward(x, c, c).output).backward();
  EXPECT_TRUE(all_equal(a, x.grad()));
  x.set_grad(Tensor());
  sum(m.forward(x, x, x).output).backward();
  EXPECT_FALSE(all_close(a, x.grad(), 1e-6, 1e-6));  // the full self-attention gradient differs
}

TEST(MultiheadAttentionFused, OneAndTwoThreadsBitwiseEqualWithGradients) {
  Generator g(24);
  MultiheadAttention m(16, 4, 0.0, true, false, false);
  Tensor x0 = randn({7, 3, 16}, kFloat32, &g);
  auto [one, two] = testing::one_and_two_threads([&] {
    Tensor x = x0.detach().clone().requires_grad_();
    for (auto [n, p] : m.named_parameters()) p.set_grad(Tensor());
    auto r = m.forward(x, x, x, Tensor(), false, Tensor(), true, true);
    sum(r.output * r.output).backward();
    return cat({r.output.flatten(), x.grad().flatten(), m.in_proj_weight.grad().flatten(),
                m.in_proj_bias.grad().flatten()});
  });
  EXPECT_TRUE(all_equal(one, two));
}

}  // namespace
}  // namespace attn
