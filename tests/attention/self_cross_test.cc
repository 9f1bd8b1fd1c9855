// nn::SelfAttention / nn::CrossAttention and self_attention / cross_attention
// (src/attention/self_cross.cc): torch.nn.MultiheadAttention fixtures called as MHA(x, x, x) and
// MHA(x, m, m) (tools/fixtures/self_cross.py; state_dict loaded strictly, outputs, weights and all
// gradients); bitwise agreement with calling MultiheadAttention directly; causal self-attention
// against per-prefix recomputation; batch_first default; the functional forms against SDPA.
#include "attn/attention/self_cross.h"

#include <string>

#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::expect_error;
using testing::load_fixture;

// f64: projections, two small GEMMs and a softmax over <= 5 terms of O(1) values: a few ulps.
constexpr double kTol = 1e-11;

void load(MultiheadAttention& m, const io::SafetensorsFile& fx) {
  NamedTensors sd;
  for (const auto& [n, t] : m.state_dict()) sd.emplace_back(n, fx.at("param." + n));
  m.load_state_dict(sd);  // strict: the key set and shapes are torch.nn.MultiheadAttention's
}

void expect_param_grads(const MultiheadAttention& m, const io::SafetensorsFile& fx) {
  for (const auto& [n, p] : m.named_parameters()) {
    SCOPED_TRACE(n);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(all_close(p.grad(), fx.at("grad.param." + n), kTol, kTol));
  }
}

TEST(SelfAttention, MatchesTorchMultiheadAttention) {
  for (const char* c : {"self_kpm", "self_causal"}) {
    SCOPED_TRACE(c);
    auto fx = load_fixture(std::string("self_cross/") + c);
    auto meta = [&](const char* k) { return std::stoll(fx.metadata.at(k)); };
    Tensor kpm = fx.contains("key_padding_mask") ? fx.at("key_padding_mask") : Tensor();
    Tensor am = fx.contains("attn_mask") ? fx.at("attn_mask") : Tensor();
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      SelfAttention m(meta("embed_dim"), meta("num_heads"), 0.0, true, true, kFloat64);
      load(m, fx);
      Tensor x = fx.at("x").detach().clone().requires_grad_();
      AttentionResult r = m(x, kpm, am, false, /*need_weights=*/true);
      EXPECT_TRUE(all_close(r.output, fx.at("out"), kTol, kTol)) << reference;
      EXPECT_TRUE(all_close(r.weights, fx.at("weights"), kTol, kTol)) << reference;
      (sum(r.output * fx.at("grad_out")) + sum(r.weights * fx.at("grad_weights"))).backward();
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), kTol, kTol)) << reference;
      expect_param_grads(m, fx);
      if (am.defined()) {
        // is_causal without a mask builds the same causal mask: bitwise the same result.
        AttentionResult c2 = m(x, kpm, Tensor(), /*is_causal=*/true, true);
        EXPECT_TRUE(all_equal(c2.output, r.output));
      }
    }
  }
}

TEST(CrossAttention, MatchesTorchMultiheadAttention) {
  for (const char* c : {"cross_memory_dim", "cross_same_dim"}) {
    SCOPED_TRACE(c);
    auto fx = load_fixture(std::string("self_cross/") + c);
    auto meta = [&](const char* k) { return std::stoll(fx.metadata.at(k)); };
    Tensor kpm = fx.contains("key_padding_mask") ? fx.at("key_padding_mask") : Tensor();
    for (bool reference : {true, false}) {
      KernelModeGuard mode(reference);
      CrossAttention m(meta("embed_dim"), meta("num_heads"), 0.0, true, meta("memory_dim"), true, kFloat64);
      load(m, fx);
      Tensor x = fx.at("x").detach().clone().requires_grad_();
      Tensor mem = fx.at("memory").detach().clone().requires_grad_();
      AttentionResult r = m(x, mem, kpm, /*need_weights=*/true);
      EXPECT_TRUE(all_close(r.output, fx.at("out"), kTol, kTol)) << reference;
      EXPECT_TRUE(all_close(r.weights, fx.at("weights"), kTol, kTol)) << reference;
      (sum(r.output * fx.at("grad_out")) + sum(r.weights * fx.at("grad_weights"))).backward();
      EXPECT_TRUE(all_close(x.grad(), fx.at("grad_x"), kTol, kTol)) << reference;
      EXPECT_TRUE(all_close(mem.grad(), fx.at("grad_memory"), kTol, kTol)) << reference;
      expect_param_grads(m, fx);
    }
  }
}

TEST(SelfCrossAttention, EqualMultiheadAttentionCalledDirectly) {
  Generator gen(5);
  SelfAttention s(8, 2);
  Tensor x = randn({2, 5, 8}, kFloat32, &gen), mem = randn({2, 3, 6}, kFloat32, &gen);
  Tensor kpm = tensor<bool>({false, false, false, true, true, false, false, false, false, false}, {2, 5});
  MultiheadAttention& sm = s;
  auto a = s(x, kpm, Tensor(), true, true);
  auto b = sm.forward(x, x, x, kpm, true, Tensor(), true, true);
  EXPECT_TRUE(all_equal(a.output, b.output));
  EXPECT_TRUE(all_equal(a.weights, b.weights));
  EXPECT_FALSE(s(x).weights.defined());  // need_weights defaults to false

  CrossAttention c(8, 4, 0.0, true, 6);
  MultiheadAttention& cm = c;
  Tensor mkpm = tensor<bool>({false, true, true, false, false, false}, {2, 3});
  auto ca = c(x, mem, mkpm, true);
  auto cb = cm.forward(x, mem, mem, mkpm, true);
  EXPECT_TRUE(all_equal(ca.output, cb.output));
  EXPECT_TRUE(all_equal(ca.weights, cb.weights));
  EXPECT_EQ(ca.output.shape(), (Shape{2, 5, 8}));
  EXPECT_EQ(ca.weights.shape(), (Shape{2, 5, 3}));
}

TEST(SelfCrossAttention, BatchFirstByDefaultAndNamesAsTorch) {
  SelfAttention s(8, 2);
  CrossAttention c(8, 2, 0.0, true, 6), c_same(8, 2);
  EXPECT_TRUE(s.batch_first);
  EXPECT_TRUE(c.batch_first);
  EXPECT_FALSE(SelfAttention(8, 2, 0.0, true, false).batch_first);
  auto keys = [](const Module& m) {
    std::vector<std::string> k;
    for (const auto& [n, t] : m.state_dict()) k.push_back(n);
    return k;
  };
  const std::vector<std::string> packed{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"};
  EXPECT_EQ(keys(s), packed);
  EXPECT_EQ(keys(c_same), packed);
  EXPECT_EQ(keys(c), (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                               "out_proj.weight", "out_proj.bias"}));
  // Sequence-first when asked: [T, B, E] in and out, same values as the batch-first module.
  SelfAttention sf(8, 2, 0.0, true, false);
  sf.load_state_dict(s.state_dict());
  Generator gen(3);
  Tensor x = randn({2, 4, 8}, kFloat32, &gen);
  // f32, identical ops on transposed views: only GEMM blocking may differ.
  EXPECT_TRUE(all_close(sf(x.transpose(0, 1)).output.transpose(0, 1), s(x).output, 1e-6, 1e-5));
}

TEST(SelfAttention, CausalEqualsPerPrefixRecomputation) {
  // Row t of causal self-attention over x[:, :T] only sees x[:, :t+1]: it equals the last row of
  // (non-causal) self-attention over the prefix x[:, :t+1].
  Generator gen(9);
  SelfAttention m(8, 2, 0.0, true, true, kFloat64);
  Tensor x = randn({2, 5, 8}, kFloat64, &gen);
  Tensor full = m(x, Tensor(), Tensor(), /*is_causal=*/true).output;
  for (int64_t t = 0; t < 5; ++t) {
    SCOPED_TRACE(t);
    Tensor prefix = m(x.narrow(1, 0, t + 1)).output.narrow(1, t, 1);
    // f64, the same terms summed over a different number of masked-out zeros: ulps.
    EXPECT_TRUE(all_close(full.narrow(1, t, 1), prefix, 1e-13, 1e-12));
  }
}

TEST(SelfCrossAttention, Gradcheck) {
  Generator gen(17);
  CrossAttention c(4, 2, 0.0, true, 3, true, kFloat64);
  Tensor x = randn({2, 3, 4}, kFloat64, &gen).requires_grad_(), mem = randn({2, 2, 3}, kFloat64, &gen).requires_grad_();
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& v) { return c(v[0], v[1]).output; },
                        (std::vector<Tensor>{x, mem}));
  SelfAttention s(4, 2, 0.0, true, true, kFloat64);
  ATTN_EXPECT_GRADCHECK([&](const std::vector<Tensor>& v) { return s(v[0], Tensor(), Tensor(), true).output; },
                        (std::vector<Tensor>{x}));
}

TEST(SelfCrossAttention, FunctionalFormsAreSdpa) {
  Generator gen(21);
  Tensor x = randn({2, 2, 4, 8}, kFloat32, &gen), mem = randn({2, 2, 3, 8}, kFloat32, &gen);
  auto a = self_attention(x, Tensor(), true, std::nullopt, true);
  auto b = scaled_dot_product_attention(x, x, x, Tensor(), 0.0, true, std::nullopt, false, true);
  EXPECT_TRUE(all_equal(a.output, b.output));
  EXPECT_TRUE(all_equal(a.weights, b.weights));
  EXPECT_EQ(a.weights.shape(), (Shape{2, 2, 4, 4}));
  auto c = cross_attention(x, mem, Tensor(), 0.5);
  auto d = scaled_dot_product_attention(x, mem, mem, Tensor(), 0.0, false, 0.5);
  EXPECT_TRUE(all_equal(c.output, d.output));
  EXPECT_EQ(c.output.shape(), (Shape{2, 2, 4, 8}));
}

TEST(SelfCrossAttention, BadShapesThrow) {
  SelfAttention s(8, 2);
  expect_error([&] { s(zeros({2, 4, 6})); }, {"[2, 4, 6]"});
  CrossAttention c(8, 2, 0.0, true, 6);
  expect_error([&] { c(zeros({2, 4, 8}), zeros({3, 5, 6})); }, {"[2, 4, 8]", "[3, 5, 6]"});
  expect_error([&] { c(zeros({2, 4, 8}), zeros({2, 5, 8})); }, {"[2, 5, 8]"});
  expect_error([&] { c(zeros({2, 4, 8}), zeros({2, 5, 6}), zeros({2, 4}, kBool)); }, {"key_padding_mask", "[2, 4]"});
}

}  // namespace
}  // namespace attn::nn
