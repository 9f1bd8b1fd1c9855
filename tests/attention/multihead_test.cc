// nn::MultiheadAttention (src/attention/multihead.cc): torch.nn.MultiheadAttention fixtures
// (tools/fixtures/multihead.py: batch_first, bias, add_bias_kv, add_zero_attn, kdim/vdim, bool and
// float masks of both kinds, [T, S] and [B*H, T, S] attn_mask, per-head and averaged weights,
// need_weights = false, unbatched) checking outputs, weights and every input and parameter
// gradient; state_dict names and init; f64 gradcheck; fully masked rows; GQA/MQA against an
// explicit repeat of the kv heads; the KV cache against the full causal forward; errors.
#include "attn/attention/multihead.h"

#include <cmath>
#include <map>
#include <string>

#include "test_util.h"

namespace attn {
namespace {

using testing::expect_error;
using testing::all_finite;

using nn::KVCache;
using nn::MultiheadAttention;
using testing::all_close;
using testing::all_equal;
using testing::keys;
using testing::load_fixture;

void check_fixture(const std::string& name) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("multihead/" + name);
  auto meta = [&](const char* k) { return std::stoll(fx.metadata.at(k)); };
  const bool need_weights = meta("need_weights"), average = meta("average");
  Tensor kpm = fx.contains("key_padding_mask") ? fx.at("key_padding_mask") : Tensor();
  Tensor am = fx.contains("attn_mask") ? fx.at("attn_mask") : Tensor();
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    auto m = std::make_shared<MultiheadAttention>(meta("embed_dim"), meta("num_heads"), 0.0, meta("bias"),
                                                  meta("add_bias_kv"), meta("add_zero_attn"), meta("kdim"),
                                                  meta("vdim"), meta("batch_first"), -1, kFloat64);
    nn::NamedTensors sd;
    for (const auto& [n, t] : m->state_dict()) sd.emplace_back(n, fx.at("param." + n));
    m->load_state_dict(sd);  // strict: also checks that the key sets and shapes are PyTorch's
    size_t n_fixture_params = 0;
    for (const auto& [n, t] : fx.tensors)
      if (n.rfind("param.", 0) == 0) ++n_fixture_params;
    EXPECT_EQ(sd.size(), n_fixture_params);
    Tensor q = fx.at("query").detach().clone().requires_grad_(), k = fx.at("key").detach().clone().requires_grad_(),
           v = fx.at("value").detach().clone().requires_grad_();
    auto r = m->forward(q, k, v, kpm, need_weights, am, average);
    // f64: projections, two small GEMMs and a softmax over <= 6 terms: a few ulps of O(1) values.
    EXPECT_TRUE(all_close(r.output, fx.at("out"), 1e-12, 1e-11)) << reference;
    Tensor loss = sum(r.output * fx.at("grad_out"));
    if (need_weights) {
      EXPECT_TRUE(all_close(r.weights, fx.at("weights"), 1e-13, 1e-11)) << reference;
      loss = loss + sum(r.weights * fx.at("grad_weights"));
    } else {
      EXPECT_FALSE(r.weights.defined());
    }
    loss.backward();
    EXPECT_TRUE(all_close(q.grad(), fx.at("grad_query"), 1e-11, 1e-10)) << reference;
    EXPECT_TRUE(all_close(k.grad(), fx.at("grad_key"), 1e-11, 1e-10)) << reference;
    EXPECT_TRUE(all_close(v.grad(), fx.at("grad_value"), 1e-11, 1e-10)) << reference;
    for (const auto& [n, p] : m->named_parameters()) {
      SCOPED_TRACE(n);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(all_close(p.grad(), fx.at("grad.param." + n), 1e-11, 1e-10)) << reference;
    }
  }
}

TEST(MultiheadAttention, BasicMatchesPyTorch) { check_fixture("basic"); }
TEST(MultiheadAttention, BatchFirstNoBiasPerHeadMatchesPyTorch) { check_fixture("batch_first_no_bias_per_head"); }
TEST(MultiheadAttention, BoolMasksMatchPyTorch) { check_fixture("kpm_bool_attn_bool"); }
TEST(MultiheadAttention, BiasKvZeroAttnFloatMaskMatchPyTorch) { check_fixture("bias_kv_zero_attn_float_mask"); }
TEST(MultiheadAttention, KdimVdimMask3dMatchPyTorch) { check_fixture("kdim_vdim_mask3d_bool"); }
TEST(MultiheadAttention, FloatMask3dBiasKvMatchPyTorch) { check_fixture("mask3d_float_bias_kv"); }
TEST(MultiheadAttention, UnbatchedMatchesPyTorch) { check_fixture("unbatched_kpm_per_head"); }
TEST(MultiheadAttention, FloatKeyPaddingMaskMatchesPyTorch) { check_fixture("kpm_float"); }
TEST(MultiheadAttention, NoWeightsZeroAttnMatchPyTorch) { check_fixture("no_weights_zero_attn"); }

TEST(MultiheadAttention, StateDictNamesShapesAndInit) {
  MultiheadAttention packed(8, 2);
  EXPECT_EQ(keys(packed.state_dict()),
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(packed.in_proj_weight.shape(), (Shape{24, 8}));
  // xavier_uniform_ on [3E, E]: bound sqrt(6 / (E + 3E)); zero biases, as PyTorch.
  const double bound = std::sqrt(6.0 / 32.0);
  double maxabs = 0;
  for (double x : to_double_vector(packed.in_proj_weight)) maxabs = std::max(maxabs, std::abs(x));
  EXPECT_LE(maxabs, bound);
  EXPECT_GT(maxabs, 0.5 * bound);  // 192 draws: the largest is near the bound
  EXPECT_TRUE(all_equal(packed.in_proj_bias, zeros({24})));
  EXPECT_TRUE(all_equal(packed.out_proj->bias, zeros({8})));

  MultiheadAttention sep(6, 3, 0.0, true, true, false, 5, 7);
  EXPECT_EQ(keys(sep.state_dict()),
            (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k",
                                      "bias_v", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(sep.k_proj_weight.shape(), (Shape{6, 5}));
  EXPECT_EQ(sep.v_proj_weight.shape(), (Shape{6, 7}));
  EXPECT_EQ(sep.bias_k.shape(), (Shape{1, 1, 6}));

  MultiheadAttention nobias(4, 1, 0.0, false);
  EXPECT_EQ(keys(nobias.state_dict()), (std::vector<std::string>{"in_proj_weight", "out_proj.weight"}));

  MultiheadAttention gqa(8, 4, 0.0, true, false, false, -1, -1, true, 2);
  EXPECT_EQ(keys(gqa.state_dict()), (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                              "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(gqa.k_proj_weight.shape(), (Shape{4, 8}));  // 2 kv heads * head_dim 2
  EXPECT_EQ(gqa.in_proj_bias.shape(), (Shape{16}));
}

TEST(MultiheadAttention, GradcheckF64) {
  Generator g(3);
  MultiheadAttention m(4, 2, 0.0, true, true, true, 3, -1, true, -1, kFloat64);
  {  // give the zero-initialised biases values so their paths are exercised
    NoGradGuard ng;
    nn::init::normal_(m.in_proj_bias, 0, 0.5, &g);
    nn::init::normal_(m.out_proj->bias, 0, 0.5, &g);
  }
  Tensor q = randn({2, 2, 4}, kFloat64, &g).requires_grad_(), k = randn({2, 3, 3}, kFloat64, &g).requires_grad_(),
         v = randn({2, 3, 4}, kFloat64, &g).requires_grad_();
  Tensor kpm = zeros({2, 3}, kBool);
  kpm.data_ptr<bool>()[2] = true;
  Tensor am = randn({2, 3}, kFloat64, &g);
  auto f = [&](const std::vector<Tensor>& in) {
    auto r = m.forward(in[0], in[1], in[2], kpm, true, am, false);
    return cat({r.output.flatten(), r.weights.flatten()});
  };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{q, k, v}));
}

TEST(MultiheadAttention, FullyMaskedRowGivesOutProjBiasAndFiniteGrads) {
  Generator g(4);
  MultiheadAttention m(4, 2, 0.0, true, false, false, -1, -1, true, -1, kFloat64);
  {
    NoGradGuard ng;
    nn::init::normal_(m.out_proj->bias, 0, 1, &g);
  }
  Tensor x = randn({2, 3, 4}, kFloat64, &g).requires_grad_();
  Tensor kpm = zeros({2, 3}, kBool);
  for (int j = 0; j < 3; ++j) kpm.data_ptr<bool>()[3 + j] = true;  // batch 1: every key padded
  auto r = m.forward(x, x, x, kpm, true, Tensor(), true);
  // Deliberate difference from PyTorch (NaN there): zero attention, so the row is out_proj.bias.
  EXPECT_TRUE(all_close(r.output.select(0, 1), m.out_proj->bias.detach().unsqueeze(0).expand({3, 4}), 1e-15));
  EXPECT_TRUE(all_equal(r.weights.select(0, 1), zeros({3, 3}, kFloat64)));
  sum(r.output * r.output).backward();
  EXPECT_TRUE(all_finite(x.grad()));
  EXPECT_TRUE(all_finite(m.in_proj_weight.grad()));
}

TEST(MultiheadAttention, IsCausalWithoutMaskEqualsCausalBoolMask) {
  Generator g(5);
  MultiheadAttention m(6, 3);
  Tensor x = randn({4, 2, 6}, kFloat32, &g);
  auto a = m.forward(x, x, x, Tensor(), true, Tensor(), true, true);
  auto b = m.forward(x, x, x, Tensor(), true, logical_not(causal_mask(4, 4)), true, false);
  auto c = m.forward(x, x, x, Tensor(), true, logical_not(causal_mask(4, 4)), true, true);  // a hint, as PyTorch
  EXPECT_TRUE(all_equal(a.output, b.output));
  EXPECT_TRUE(all_equal(a.weights, b.weights));
  EXPECT_TRUE(all_equal(c.output, b.output));
  EXPECT_DOUBLE_EQ(a.weights.select(0, 0).select(0, 0).select(0, 1).item(), 0.0);  // query 0 cannot see key 1
}

TEST(MultiheadAttention, OneAndTwoThreadsBitwiseEqual) {
  Generator g(6);
  MultiheadAttention m(8, 2, 0.0, true, true, true);
  Tensor x = randn({5, 3, 8}, kFloat32, &g);
  auto [one, two] = testing::one_and_two_threads([&] { return m.forward(x, x, x).output; });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(MultiheadAttention, DropoutOnlyInTraining) {
  Generator g(7);
  MultiheadAttention m(8, 2, 0.5);
  Tensor x = randn({4, 2, 8}, kFloat32, &g);
  m.eval();
  auto e = m.forward(x, x, x);
  MultiheadAttention m0(8, 2, 0.0);
  m0.load_state_dict(m.state_dict());
  EXPECT_TRUE(all_equal(e.output, m0.forward(x, x, x).output));
  m.train();
  auto t = m.forward(x, x, x);
  EXPECT_FALSE(all_close(t.output, e.output, 1e-3));
  // Dropped weights are 0; the kept ones are scaled by 1 / (1 - p).
  int zeros_seen = 0;
  for (double w : to_double_vector(m.forward(x, x, x, Tensor(), true, Tensor(), false).weights)) zeros_seen += w == 0;
  EXPECT_GT(zeros_seen, 0);
}

TEST(MultiheadAttention, EmptyBatchAndSizeOneSequences) {
  Generator g(8);
  MultiheadAttention m(4, 2, 0.0, true, false, false, -1, -1, true);
  auto r = m.forward(zeros({0, 3, 4}), zeros({0, 2, 4}), zeros({0, 2, 4}));
  EXPECT_EQ(r.output.shape(), (Shape{0, 3, 4}));
  EXPECT_EQ(r.weights.shape(), (Shape{0, 3, 2}));
  Tensor x = randn({2, 1, 4}, kFloat32, &g);
  auto one = m.forward(x, x, x);
  EXPECT_TRUE(all_close(one.weights, ones({2, 1, 1}), 1e-7));
}

TEST(MultiheadAttention, BadShapesThrow) {
  MultiheadAttention m(8, 2);
  expect_error([] { MultiheadAttention(6, 4); }, {"embed_dim (6)", "num_heads (4)"});
  expect_error([] { MultiheadAttention(8, 4, 0, true, false, false, -1, -1, false, 3); }, {"num_kv_heads (3)"});
  expect_error([&] { m.forward(zeros({3, 2, 7}), zeros({3, 2, 8}), zeros({3, 2, 8})); }, {"[3, 2, 7]", "8"});
  expect_error([&] { m.forward(zeros({3, 2, 8}), zeros({4, 3, 8}), zeros({4, 3, 8})); }, {"[3, 2, 8]", "[4, 3, 8]"});
  expect_error([&] { m.forward(zeros({3, 2, 8}), zeros({4, 2, 8}), zeros({4, 2, 8}), zeros({2, 5}, kBool)); },
               {"key_padding_mask", "[2, 5]", "[2, 4]"});
  expect_error([&] { m.forward(zeros({3, 2, 8}), zeros({4, 2, 8}), zeros({4, 2, 8}), Tensor(), true, zeros({4, 4})); },
               {"attn_mask", "[4, 4]", "[3, 4]", "[4, 3, 4]"});
  expect_error([&] { m.forward(zeros({3, 8}), zeros({4, 2, 8}), zeros({4, 2, 8})); }, {"[3, 8]", "[4, 2, 8]"});
}

// --- GQA / MQA ------------------------------------------------------------------------------

// Rows of a [Hkv * D, ...] projection (or bias) repeated so kv head h / rep serves query head h.
Tensor repeat_heads(const Tensor& w, int64_t H, int64_t Hkv, int64_t D) {
  std::vector<Tensor> parts;
  for (int64_t h = 0; h < H; ++h) parts.push_back(w.narrow(0, (h / (H / Hkv)) * D, D));
  return cat(parts, 0);
}

void check_gqa_equals_repeat(int64_t Hkv) {
  SCOPED_TRACE(Hkv);
  Generator g(9);
  const int64_t E = 8, H = 4, D = 2;
  MultiheadAttention gqa(E, H, 0.0, true, true, false, -1, -1, true, Hkv, kFloat64);
  {
    NoGradGuard ng;
    nn::init::normal_(gqa.in_proj_bias, 0, 0.5, &g);
  }
  // The same layer with num_heads kv heads, each a copy of its group's kv head.
  MultiheadAttention full(E, H, 0.0, true, true, false, -1, -1, true, -1, kFloat64);
  const int64_t kvf = Hkv * D;
  Tensor b = gqa.in_proj_bias.detach();
  full.load_state_dict({
      {"in_proj_weight", cat({gqa.q_proj_weight.detach(), repeat_heads(gqa.k_proj_weight.detach(), H, Hkv, D),
                              repeat_heads(gqa.v_proj_weight.detach(), H, Hkv, D)})},
      {"in_proj_bias", cat({b.narrow(0, 0, E), repeat_heads(b.narrow(0, E, kvf), H, Hkv, D),
                            repeat_heads(b.narrow(0, E + kvf, kvf), H, Hkv, D)})},
      {"bias_k", repeat_heads(gqa.bias_k.detach().reshape({kvf}), H, Hkv, D).reshape({1, 1, E})},
      {"bias_v", repeat_heads(gqa.bias_v.detach().reshape({kvf}), H, Hkv, D).reshape({1, 1, E})},
      {"out_proj.weight", gqa.out_proj->weight.detach()},
      {"out_proj.bias", gqa.out_proj->bias.detach()},
  });
  Tensor q = randn({2, 3, E}, kFloat64, &g), kv = randn({2, 5, E}, kFloat64, &g);
  Tensor kpm = zeros({2, 5}, kBool);
  kpm.data_ptr<bool>()[4] = true;
  auto a = gqa.forward(q, kv, kv, kpm, true, Tensor(), false);
  auto r = full.forward(q, kv, kv, kpm, true, Tensor(), false);
  // Same arithmetic up to the GEMM blocking of differently sized projections.
  EXPECT_TRUE(all_close(a.output, r.output, 1e-13, 1e-12));
  EXPECT_TRUE(all_close(a.weights, r.weights, 1e-14, 1e-12));
  Tensor qg = q.detach().clone().requires_grad_();
  auto f = [&](const std::vector<Tensor>& in) { return gqa.forward(in[0], kv, kv, kpm).output; };
  ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{qg}));
}

TEST(MultiheadAttention, GqaEqualsExplicitRepeatOfKvHeads) { check_gqa_equals_repeat(2); }
TEST(MultiheadAttention, MqaEqualsExplicitRepeatOfKvHeads) { check_gqa_equals_repeat(1); }

// --- KV cache -------------------------------------------------------------------------------

void check_incremental(DType dt, bool batch_first, int64_t Hkv, bool extras, double rtol, double atol) {
  SCOPED_TRACE(::testing::Message() << dt << " batch_first=" << batch_first << " Hkv=" << Hkv << " extras=" << extras);
  Generator g(10);
  const int64_t B = 2, T = 6, E = 8, H = 4;
  MultiheadAttention m(E, H, 0.0, true, extras, extras, -1, -1, batch_first, Hkv, dt);
  {
    NoGradGuard ng;
    nn::init::normal_(m.in_proj_bias, 0, 0.5, &g);
  }
  Tensor x = randn(batch_first ? Shape{B, T, E} : Shape{T, B, E}, dt, &g);
  const int64_t tdim = batch_first ? 1 : 0;
  auto full = m.forward(x, x, x, Tensor(), true, logical_not(causal_mask(T, T)), true);
  NoGradGuard ng;
  KVCache cache;
  // A 2-step prefill chunk, then one step at a time.
  auto first = m.forward_incremental(x.narrow(tdim, 0, 2), cache, true);
  EXPECT_EQ(cache.length(), 2);
  EXPECT_TRUE(all_close(first.output, full.output.narrow(tdim, 0, 2), atol, rtol));
  std::vector<Tensor> outs{first.output};
  for (int64_t t = 2; t < T; ++t) {
    auto r = m.forward_incremental(x.narrow(tdim, t, 1), cache, true);
    outs.push_back(r.output);
    // Weights of step t: the first t + 1 columns of row t, then the extra keys (which sit after
    // all T keys in the full forward).
    Tensor fw = full.weights.narrow(1, t, 1);
    Tensor expect = extras ? cat({fw.narrow(2, 0, t + 1), fw.narrow(2, T, 2)}, 2) : fw.narrow(2, 0, t + 1);
    EXPECT_TRUE(all_close(r.weights, expect, atol, rtol)) << t;
  }
  EXPECT_EQ(cache.length(), T);
  EXPECT_EQ(cache.k.shape(), (Shape{B, Hkv, T, E / H}));
  EXPECT_TRUE(all_close(cat(outs, tdim), full.output, atol, rtol));
}

TEST(MultiheadAttention, KvCacheStepByStepEqualsFullCausalForward) {
  // f32: the same sums in a different grouping (per step vs whole sequence): ~1e-6 relative.
  check_incremental(kFloat32, true, 4, false, 1e-5, 1e-6);
  check_incremental(kFloat32, false, 2, true, 1e-5, 1e-6);
  // f64: the same, at double precision.
  check_incremental(kFloat64, true, 1, true, 1e-12, 1e-13);
  check_incremental(kFloat64, false, 4, false, 1e-12, 1e-13);
}

TEST(MultiheadAttention, KvCacheErrors) {
  MultiheadAttention m(8, 2, 0.0, true, false, false, -1, -1, true);
  KVCache cache;
  m.forward_incremental(zeros({2, 1, 8}), cache);
  expect_error([&] { m.forward_incremental(zeros({3, 1, 8}), cache); }, {"cache", "[2, 2, 1, 4]", "[3, 2, 1, 4]"});
  expect_error([&] { m.forward_incremental(zeros({2, 1, 7}), cache); }, {"[2, 1, 7]"});
  MultiheadAttention cross(8, 2, 0.0, true, false, false, 5, 5, true);
  expect_error([&] { cross.forward_incremental(zeros({2, 1, 8}), cache); }, {"kdim 5"});
  cache.clear();
  EXPECT_EQ(cache.length(), 0);
}

}  // namespace
}  // namespace attn
