// The Transformer layers (src/attention/transformer.cc): torch.nn.TransformerEncoderLayer /
// TransformerDecoderLayer / Transformer fixtures (tools/fixtures/transformer.py: post-LN and pre-LN,
// relu and gelu, batch_first true and false, unbatched, float and bool masks of every kind; made in
// train() mode with dropout 0, so the standard arithmetic at every position including padded ones)
// checking outputs and the gradients of every input and parameter after loading the torch
// state_dict; state_dict names; the KV-cached forward_step against forward with the causal mask
// (plain, GQA, rotary, MoE, pre-LN) and cache reorder; f64 gradchecks; MoE aux_loss; rotary;
// MultiheadAttention's project_kv / forward_kv; errors; 1 vs 2 threads.
#include "attn/attention/transformer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "test_util.h"

namespace attn {
namespace {

using nn::Transformer;
using nn::TransformerDecoder;
using nn::TransformerDecoderLayer;
using nn::TransformerDecoderLayerCache;
using nn::TransformerEncoder;
using nn::TransformerEncoderLayer;
using nn::TransformerLayerConfig;
using testing::all_close;
using testing::all_equal;
using testing::expect_error;
using testing::keys;
using testing::load_fixture;

Tensor opt(const io::SafetensorsFile& fx, const char* name) { return fx.contains(name) ? fx.at(name) : Tensor(); }

Tensor leaf(const io::SafetensorsFile& fx, const char* name) {
  return fx.contains(name) ? fx.at(name).detach().clone().requires_grad_() : Tensor();
}

void check_fixture(const std::string& name) {
  SCOPED_TRACE(name);
  auto fx = load_fixture("transformer/" + name);
  auto meta = [&](const char* k) { return fx.metadata.at(k); };
  auto imeta = [&](const char* k) { return std::stoll(meta(k)); };
  TransformerLayerConfig c;
  c.d_model = imeta("d_model");
  c.nhead = imeta("nhead");
  c.dim_feedforward = imeta("dim_feedforward");
  c.dropout = 0.0;
  c.activation = meta("activation");
  c.batch_first = imeta("batch_first");
  c.norm_first = imeta("norm_first");
  c.dtype = kFloat64;
  const std::string kind = meta("kind");
  for (bool reference : {true, false}) {
    KernelModeGuard mode(reference);
    std::shared_ptr<nn::Module> m;
    std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)> run;
    if (kind == "encoder_layer") {
      auto l = std::make_shared<TransformerEncoderLayer>(c);
      run = [&fx, l](const Tensor& src, const Tensor&, const Tensor&) {
        return l->forward(src, opt(fx, "src_mask"), opt(fx, "src_key_padding_mask"));
      };
      m = l;
    } else if (kind == "decoder_layer") {
      auto l = std::make_shared<TransformerDecoderLayer>(c);
      run = [&fx, l](const Tensor&, const Tensor& tgt, const Tensor& memory) {
        return l->forward(tgt, memory, opt(fx, "tgt_mask"), opt(fx, "memory_mask"), opt(fx, "tgt_key_padding_mask"),
                          opt(fx, "memory_key_padding_mask"));
      };
      m = l;
    } else {
      auto t = std::make_shared<Transformer>(c, imeta("num_encoder_layers"), imeta("num_decoder_layers"));
      run = [&fx, t](const Tensor& src, const Tensor& tgt, const Tensor&) {
        return t->forward(src, tgt, opt(fx, "src_mask"), opt(fx, "tgt_mask"), opt(fx, "memory_mask"),
                          opt(fx, "src_key_padding_mask"), opt(fx, "tgt_key_padding_mask"),
                          opt(fx, "memory_key_padding_mask"));
      };
      m = t;
    }
    nn::NamedTensors sd;
    for (const auto& [n, t] : m->state_dict()) sd.emplace_back(n, fx.at("param." + n));
    m->load_state_dict(sd);  // strict: the key sets and shapes are PyTorch's
    size_t n_fixture_params = 0;
    for (const auto& [n, t] : fx.tensors) n_fixture_params += n.rfind("param.", 0) == 0;
    EXPECT_EQ(sd.size(), n_fixture_params);
    Tensor src = leaf(fx, "src"), tgt = leaf(fx, "tgt"), memory = leaf(fx, "memory");
    Tensor out = run(src, tgt, memory);
    // f64 through up to 4 layers of GEMMs, softmax and LayerNorm on O(1) values: ~1e-14 apart;
    // 1e-10 leaves room for the different summation orders of the two kernel modes.
    EXPECT_TRUE(all_close(out, fx.at("out"), 1e-10, 1e-10)) << reference;
    sum(out * fx.at("grad_out")).backward();
    for (auto [in, g] : {std::pair{src, "grad_src"}, {tgt, "grad_tgt"}, {memory, "grad_memory"}})
      if (in.defined()) {
        EXPECT_TRUE(all_close(in.grad(), fx.at(g), 1e-9, 1e-9)) << g << " " << reference;
      }
    for (const auto& [n, p] : m->named_parameters()) {
      SCOPED_TRACE(n);
      ASSERT_TRUE(p.grad().defined());
      EXPECT_TRUE(all_close(p.grad(), fx.at("grad.param." + n), 1e-9, 1e-9)) << reference;
    }
  }
}

TEST(Transformer, EncoderLayerPostLnReluMatchesPyTorch) { check_fixture("encoder_layer_post_relu"); }
TEST(Transformer, EncoderLayerPreLnGeluBatchFirstMatchesPyTorch) {
  check_fixture("encoder_layer_pre_gelu_batch_first");
}
TEST(Transformer, EncoderLayerUnbatchedMatchesPyTorch) { check_fixture("encoder_layer_unbatched"); }
TEST(Transformer, DecoderLayerPostLnReluMatchesPyTorch) { check_fixture("decoder_layer_post_relu"); }
TEST(Transformer, DecoderLayerPreLnGeluBatchFirstMatchesPyTorch) {
  check_fixture("decoder_layer_pre_gelu_batch_first");
}
TEST(Transformer, TransformerPostLnReluMatchesPyTorch) { check_fixture("transformer_post_relu"); }
TEST(Transformer, TransformerPreLnGeluBatchFirstMatchesPyTorch) { check_fixture("transformer_pre_gelu_batch_first"); }

// --- helpers for the tests below ---------------------------------------------------------------

TransformerLayerConfig small_config(DType dt = kFloat64) {
  TransformerLayerConfig c;
  c.d_model = 8;
  c.nhead = 2;
  c.dim_feedforward = 16;
  c.dropout = 0.0;
  c.dtype = dt;
  return c;
}

// Draws every parameter from N(0, 0.5^2) so zero-initialised biases and unit LayerNorm weights
// carry values too.
void randomize(nn::Module& m, uint64_t seed) {
  Generator g(seed);
  NoGradGuard ng;
  for (auto& p : m.parameters()) nn::init::normal_(p, 0.0, 0.5, &g);
}

TEST(Transformer, StateDictNamesArePyTorchs) {
  auto c = small_config(kFloat32);
  EXPECT_EQ(keys(TransformerEncoderLayer(c).state_dict()),
            (std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                      "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                      "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}));
  auto dec = keys(TransformerDecoderLayer(c).state_dict());
  ASSERT_EQ(dec.size(), 18u);
  EXPECT_EQ(dec[4], "multihead_attn.in_proj_weight");
  EXPECT_EQ(dec.back(), "norm3.bias");
  Transformer t(c, 2, 1);
  auto all = keys(t.state_dict());
  EXPECT_EQ(all.size(), 2 * 12 + 2 + 18 + 2u);
  EXPECT_EQ(all[0], "encoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(all[12], "encoder.layers.1.self_attn.in_proj_weight");
  EXPECT_EQ(all[24], "encoder.norm.weight");
  EXPECT_EQ(all[26], "decoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(all.back(), "decoder.norm.bias");
  // MoE: the feed-forward block is "moe" (gate + experts) instead of linear1 / linear2.
  c.moe_experts = 3;
  auto moe = keys(TransformerEncoderLayer(c).state_dict());
  EXPECT_EQ(std::count(moe.begin(), moe.end(), "moe.gate.weight"), 1);
  EXPECT_EQ(std::count(moe.begin(), moe.end(), "moe.experts.2.2.bias"), 1);
  EXPECT_EQ(std::count(moe.begin(), moe.end(), "linear1.weight"), 0);
  // GQA: separate projections, as MultiheadAttention's.
  c.moe_experts = 0;
  c.num_kv_heads = 1;
  EXPECT_EQ(TransformerEncoderLayer(c).self_attn->k_proj_weight.shape(), (Shape{4, 8}));
}

TEST(Transformer, PositionalConstructorsAsPyTorch) {
  TransformerEncoderLayer e(8, 2, 16, 0.25, "gelu", 1e-6, true, true);
  EXPECT_EQ(e.config.activation, "gelu");
  EXPECT_DOUBLE_EQ(e.config.layer_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(e.norm2->eps, 1e-6);
  EXPECT_TRUE(e.config.batch_first && e.config.norm_first && e.self_attn->batch_first);
  EXPECT_DOUBLE_EQ(e.dropout1->p, 0.25);
  EXPECT_DOUBLE_EQ(e.self_attn->dropout, 0.25);
  TransformerDecoderLayer d(8, 4);
  EXPECT_EQ(d.linear1->weight.shape(), (Shape{2048, 8}));  // PyTorch's default dim_feedforward
  EXPECT_DOUBLE_EQ(d.dropout3->p, 0.1);
  Transformer t(8, 2, 1, 3, 16, 0.0);
  EXPECT_EQ(t.encoder->num_layers, 1);
  EXPECT_EQ(t.decoder->num_layers, 3);
  EXPECT_TRUE(t.encoder->norm && t.decoder->norm);
  EXPECT_EQ(t.decoder->layer(2)->linear2->weight.shape(), (Shape{8, 16}));
}

TEST(Transformer, ResetParametersIsXavierUniformOnMatrices) {
  Transformer t(small_config(kFloat32), 1, 1);
  for (const auto& [n, p] : t.named_parameters()) {
    SCOPED_TRACE(n);
    if (p.dim() > 1) {
      const double bound = std::sqrt(6.0 / double(p.size(0) + p.size(1)));
      for (double x : to_double_vector(p)) ASSERT_LE(std::abs(x), bound);
    }
  }
  EXPECT_TRUE(all_equal(t.encoder->norm->weight, ones({8})));
  EXPECT_TRUE(all_equal(t.decoder->layer(0)->norm3->bias, zeros({8})));
  // Each layer is drawn independently (PyTorch deep-copies one layer, then nn.Transformer re-draws).
  EXPECT_FALSE(all_equal(t.encoder->layer(0)->linear1->weight, t.decoder->layer(0)->linear1->weight));
}

TEST(Transformer, GenerateSquareSubsequentMask) {
  Tensor m = nn::generate_square_subsequent_mask(3);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(to_double_vector(m), (std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0}));
  EXPECT_EQ(m.dtype(), kFloat32);
  EXPECT_EQ(Transformer::generate_square_subsequent_mask(2, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(nn::generate_square_subsequent_mask(0).shape(), (Shape{0, 0}));
}

// forward_step fed one position at a time (after a first chunk of 2) gives the rows of forward()
// with the causal tgt_mask, for the whole decoder stack (final norm included).
void check_step_by_step(TransformerLayerConfig c, bool chunk_first) {
  SCOPED_TRACE(::testing::Message() << "batch_first " << c.batch_first << " norm_first " << c.norm_first
                                    << " kv " << c.num_kv_heads << " rotary " << c.rotary << " moe " << c.moe_experts);
  TransformerDecoder dec(c, 2, true);
  randomize(dec, 11);
  Generator g(12);
  const int64_t B = 2, T = 5, S = 3, E = c.d_model, tdim = c.batch_first ? 1 : 0;
  Shape ts = c.batch_first ? Shape{B, T, E} : Shape{T, B, E}, ms = c.batch_first ? Shape{B, S, E} : Shape{S, B, E};
  Tensor tgt = randn(ts, kFloat64, &g), memory = randn(ms, kFloat64, &g);
  Tensor mkpm = zeros({B, S}, kBool);
  mkpm.data_ptr<bool>()[S + 2] = true;  // batch row 1: last memory position is padding
  Tensor full = dec.forward(tgt, memory, nn::generate_square_subsequent_mask(T, kFloat64), Tensor(), Tensor(), mkpm);
  std::vector<TransformerDecoderLayerCache> cache(2);
  std::vector<Tensor> outs;
  int64_t t0 = 0;
  if (chunk_first) {
    outs.push_back(dec.forward_step(tgt.narrow(tdim, 0, 2), memory, cache, mkpm));
    t0 = 2;
  }
  for (int64_t t = t0; t < T; ++t) outs.push_back(dec.forward_step(tgt.narrow(tdim, t, 1), memory, cache, mkpm));
  EXPECT_EQ(cache[1].self_attn.length(), T);
  EXPECT_EQ(cache[0].cross_attn.length(), S);
  // f64: the same sums grouped per step instead of per sequence; a few ulps of O(1) values.
  EXPECT_TRUE(all_close(cat(outs, tdim), full, 1e-12, 1e-12));
}

TEST(Transformer, ForwardStepEqualsCausalForward) {
  auto c = small_config();
  check_step_by_step(c, false);
  c.batch_first = true;
  c.norm_first = true;
  check_step_by_step(c, true);
  c.activation = "gelu";
  c.num_kv_heads = 1;  // multi-query attention
  check_step_by_step(c, false);
  c.num_kv_heads = -1;
  c.rotary = true;
  check_step_by_step(c, true);
  c.batch_first = false;
  c.norm_first = false;
  c.num_kv_heads = 1;
  c.moe_experts = 3;
  check_step_by_step(c, false);
}

TEST(Transformer, CacheReorderSelectsBatchRows) {
  auto c = small_config();
  c.batch_first = true;
  TransformerDecoder dec(c, 2, true);
  randomize(dec, 13);
  Generator g(14);
  Tensor tgt = randn({3, 4, 8}, kFloat64, &g), memory = randn({3, 2, 8}, kFloat64, &g);
  std::vector<TransformerDecoderLayerCache> cache(2);
  dec.forward_step(tgt.narrow(1, 0, 2), memory, cache);
  Tensor idx = tensor<int64_t>({2, 0, 0}, {3});
  for (auto& lc : cache) lc.reorder(idx);
  // The reordered prefix of rows (2, 0, 0) continued with new steps for those rows.
  Tensor tgt2 = index_select(tgt, 0, idx), mem2 = index_select(memory, 0, idx);
  Tensor step = dec.forward_step(tgt2.narrow(1, 2, 2), Tensor(), cache);
  Tensor full = dec.forward(tgt2, mem2, nn::generate_square_subsequent_mask(4, kFloat64));
  EXPECT_TRUE(all_close(step, full.narrow(1, 2, 2), 1e-12, 1e-12));
  EXPECT_EQ(cache[0].cross_attn.k.size(0), 3);
}

TEST(Transformer, EncoderLayerGradcheckF64) {
  auto c = small_config();
  c.d_model = 4;
  c.dim_feedforward = 6;
  c.activation = "gelu";  // relu's kink is measure-zero but gelu is smooth everywhere
  for (bool norm_first : {false, true}) {
    c.norm_first = norm_first;
    TransformerEncoderLayer l(c);
    randomize(l, 15);
    Generator g(16);
    Tensor src = randn({3, 2, 4}, kFloat64, &g).requires_grad_();
    Tensor kpm = zeros({2, 3}, kBool);
    kpm.data_ptr<bool>()[5] = true;
    Tensor am = randn({3, 3}, kFloat64, &g);
    auto f = [&](const std::vector<Tensor>& in) { return l.forward(in[0], am, kpm); };
    ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{src}));
  }
}

TEST(Transformer, DecoderLayerGradcheckF64) {
  auto c = small_config();
  c.d_model = 4;
  c.dim_feedforward = 6;
  c.activation = "gelu";
  c.batch_first = true;
  for (bool norm_first : {false, true}) {
    c.norm_first = norm_first;
    TransformerDecoderLayer l(c);
    randomize(l, 17);
    Generator g(18);
    Tensor tgt = randn({2, 3, 4}, kFloat64, &g).requires_grad_(), memory = randn({2, 2, 4}, kFloat64, &g).requires_grad_();
    Tensor mkpm = zeros({2, 2}, kBool);
    mkpm.data_ptr<bool>()[3] = true;
    auto f = [&](const std::vector<Tensor>& in) {
      return l.forward(in[0], in[1], nn::generate_square_subsequent_mask(3, kFloat64), Tensor(), Tensor(), mkpm);
    };
    ATTN_EXPECT_GRADCHECK(f, (std::vector<Tensor>{tgt, memory}));
  }
}

TEST(Transformer, MoeAuxLossPerLayerAndSummedOverLayers) {
  auto c = small_config();
  c.moe_experts = 4;
  c.moe_top_k = 2;
  TransformerEncoder enc(c, 2, true);
  Generator g(19);
  Tensor src = randn({5, 2, 8}, kFloat64, &g);
  EXPECT_FALSE(enc.aux_loss().defined());  // before any forward
  Tensor out = enc.forward(src);
  Tensor a0 = enc.layer(0)->aux_loss(), a1 = enc.layer(1)->aux_loss();
  ASSERT_TRUE(a0.defined() && a1.defined());
  EXPECT_EQ(a0.dim(), 0);
  // Load-balancing loss: E * sum_i f_i P_i >= ... and 1 under perfect balance; here positive, finite.
  EXPECT_GT(a0.item(), 0.0);
  EXPECT_DOUBLE_EQ(enc.aux_loss().item(), a0.item() + a1.item());
  (sum(out) + enc.aux_loss()).backward();
  EXPECT_TRUE(enc.layer(0)->moe->gate->weight.grad().defined());
  // Without MoE: undefined.
  TransformerEncoder plain(small_config(), 2);
  plain.forward(src);
  EXPECT_FALSE(plain.aux_loss().defined());
  // The decoder sums its layers too.
  TransformerDecoder dec(c, 2);
  dec.forward(src, src);
  EXPECT_DOUBLE_EQ(dec.aux_loss().item(), dec.layer(0)->aux_loss().item() + dec.layer(1)->aux_loss().item());
}

TEST(Transformer, RotaryChangesOutputsAndIsRelative) {
  auto c = small_config();
  c.batch_first = true;
  c.rotary = true;
  TransformerEncoderLayer rot(c);
  randomize(rot, 20);
  c.rotary = false;
  TransformerEncoderLayer plain(c);
  plain.load_state_dict(rot.state_dict());  // same weights, no rotation
  Generator g(21);
  const int64_t T = 4, n = 3;
  Tensor x = randn({1, T, 8}, kFloat64, &g);
  Tensor a = rot.forward(x);
  EXPECT_FALSE(all_close(a, plain.forward(x), 1e-3));
  // Shift the sequence right by n positions behind padded keys: RoPE scores depend only on the
  // distance i - j, so the real tokens' outputs are unchanged (an absolute encoding would change them).
  Tensor shifted = cat({randn({1, n, 8}, kFloat64, &g), x}, 1);
  Tensor kpm = zeros({1, n + T}, kBool);
  for (int64_t j = 0; j < n; ++j) kpm.data_ptr<bool>()[j] = true;
  Tensor b = rot.forward(shifted, Tensor(), kpm).narrow(1, n, T);
  EXPECT_TRUE(all_close(b, a, 1e-12, 1e-12));
  // ... and not merely because rotation is a no-op at these positions: unpadded, the extra tokens change them.
  EXPECT_FALSE(all_close(rot.forward(shifted).narrow(1, n, T), a, 1e-3));
  // Cross-attention is never rotated.
  TransformerDecoderLayer d(small_config());
  EXPECT_FALSE(d.multihead_attn->rotary);
  auto rc = small_config();
  rc.rotary = true;
  TransformerDecoderLayer dr(rc);
  EXPECT_TRUE(dr.self_attn->rotary);
  EXPECT_FALSE(dr.multihead_attn->rotary);
}

TEST(Transformer, KeepAttentionWeights) {
  auto c = small_config();
  TransformerDecoderLayer l(c);
  Generator g(22);
  Tensor tgt = randn({4, 2, 8}, kFloat64, &g), memory = randn({3, 2, 8}, kFloat64, &g);
  l.forward(tgt, memory);
  EXPECT_FALSE(l.last_self_attention().defined());
  l.keep_attention = true;
  Tensor out = l.forward(tgt, memory, nn::generate_square_subsequent_mask(4, kFloat64));
  EXPECT_EQ(l.last_self_attention().shape(), (Shape{2, 2, 4, 4}));
  EXPECT_EQ(l.last_cross_attention().shape(), (Shape{2, 2, 4, 3}));
  EXPECT_TRUE(all_close(sum(l.last_cross_attention(), {-1}), ones({2, 2, 4}, kFloat64), 1e-12));
  EXPECT_DOUBLE_EQ(l.last_self_attention().select(0, 1).select(0, 0).select(0, 0).select(0, 3).item(), 0.0);
  // Keeping the weights does not change the output.
  l.keep_attention = false;
  EXPECT_TRUE(all_close(l.forward(tgt, memory, nn::generate_square_subsequent_mask(4, kFloat64)), out, 1e-13));
  TransformerEncoderLayer e(c);
  e.keep_attention = true;
  e.forward(memory);
  EXPECT_EQ(e.last_self_attention().shape(), (Shape{2, 2, 3, 3}));
}

TEST(Transformer, ProjectKvForwardKvEqualsForward) {
  for (int64_t kv_heads : {-1, 1}) {
    for (bool batch_first : {false, true}) {
      nn::MultiheadAttention m(8, 2, 0.0, true, false, false, -1, -1, batch_first, kv_heads, kFloat64);
      randomize(m, 23);
      Generator g(24);
      Shape qs = batch_first ? Shape{2, 3, 8} : Shape{3, 2, 8}, ks = batch_first ? Shape{2, 4, 8} : Shape{4, 2, 8};
      Tensor q = randn(qs, kFloat64, &g), k = randn(ks, kFloat64, &g), v = randn(ks, kFloat64, &g);
      Tensor kpm = zeros({2, 4}, kBool);
      kpm.data_ptr<bool>()[7] = true;
      auto full = m.forward(q, k, v, kpm, true, Tensor(), false);
      auto kv = m.project_kv(k, v);
      EXPECT_EQ(kv.k.shape(), (Shape{2, kv_heads < 0 ? 2 : 1, 4, 4}));
      auto r = m.forward_kv(q, kv, kpm, true, false);
      EXPECT_TRUE(all_close(r.output, full.output, 1e-13, 1e-13));
      EXPECT_TRUE(all_close(r.weights, full.weights, 1e-13, 1e-13));
    }
  }
  nn::MultiheadAttention m(8, 2);
  auto kv = m.project_kv(zeros({4, 2, 8}), zeros({4, 2, 8}));
  expect_error([&] { m.forward_kv(zeros({3, 3, 8}), kv); }, {"[2, 2, 4, 4]", "[3, 3, 8]"});
  expect_error([&] { m.forward_kv(zeros({3, 2, 8}), kv, zeros({2, 5}, kBool)); }, {"key_padding_mask", "[2, 5]"});
  expect_error([&] { m.project_kv(zeros({4, 2, 7}), zeros({4, 2, 8})); }, {"[4, 2, 7]"});
  m.rotary = true;
  expect_error([&] { m.forward_kv(zeros({3, 2, 8}), kv); }, {"rotary"});
}

TEST(Transformer, MultiheadRotaryIncrementalEqualsCausalForward) {
  nn::MultiheadAttention m(8, 2, 0.0, true, false, false, -1, -1, true, -1, kFloat64);
  m.rotary = true;
  randomize(m, 25);
  Generator g(26);
  Tensor x = randn({2, 5, 8}, kFloat64, &g);
  auto full = m.forward(x, x, x, Tensor(), false, Tensor(), true, true);
  nn::KVCache cache;
  std::vector<Tensor> outs{m.forward_incremental(x.narrow(1, 0, 2), cache).output};
  for (int64_t t = 2; t < 5; ++t) outs.push_back(m.forward_incremental(x.narrow(1, t, 1), cache).output);
  EXPECT_TRUE(all_close(cat(outs, 1), full.output, 1e-12, 1e-12));
  nn::MultiheadAttention odd(6, 2);  // head_dim 3
  odd.rotary = true;
  expect_error([&] { odd.forward(zeros({2, 1, 6}), zeros({2, 1, 6}), zeros({2, 1, 6})); }, {"rotary", "head_dim"});
}

TEST(Transformer, BadShapesThrowNamingShapes) {
  auto c = small_config(kFloat32);
  TransformerEncoderLayer enc(c);
  expect_error([&] { enc.forward(zeros({3, 2, 7})); }, {"src", "[3, 2, 7]", "8"});
  expect_error([&] { enc.forward(zeros({3, 2, 2, 8})); }, {"src", "[3, 2, 2, 8]"});
  expect_error([&] { enc.forward(zeros({3, 2, 8}), zeros({2, 3})); }, {"attn_mask", "[2, 3]"});
  TransformerDecoderLayer dec(c);
  expect_error([&] { dec.forward(zeros({3, 2, 8}), zeros({4, 3, 8})); }, {"[3, 2, 8]", "[4, 3, 8]", "batch"});
  expect_error([&] { dec.forward(zeros({3, 2, 8}), zeros({4, 2, 6})); }, {"memory", "[4, 2, 6]"});
  TransformerDecoderLayerCache lc;
  expect_error([&] { dec.forward_step(zeros({1, 8}), zeros({4, 8}), lc); }, {"batched", "[1, 8]"});
  Transformer t(c, 1, 1);
  expect_error([&] { t.forward(zeros({3, 2, 8}), zeros({4, 3, 8})); }, {"[3, 2, 8]", "[4, 3, 8]"});
  std::vector<TransformerDecoderLayerCache> cache(2);
  expect_error([&] { t.decoder->forward_step(zeros({1, 2, 8}), zeros({3, 2, 8}), cache); }, {"cache has 2", "1"});
  auto bad = c;
  bad.activation = "tanh";
  expect_error([&] { TransformerEncoderLayer x(bad); }, {"activation", "tanh"});
  bad = c;
  bad.nhead = 3;
  expect_error([&] { TransformerDecoderLayer x(bad); }, {"d_model (8)", "nhead (3)"});
}

TEST(Transformer, OneAndTwoThreadsBitwiseEqual) {
  auto c = small_config(kFloat32);
  c.dim_feedforward = 32;
  Transformer t(c, 2, 2);
  Generator g(27);
  Tensor src = randn({6, 3, 8}, kFloat32, &g), tgt = randn({5, 3, 8}, kFloat32, &g);
  auto [one, two] = testing::one_and_two_threads([&] {
    t.zero_grad();
    Tensor out = t.forward(src, tgt, Tensor(), nn::generate_square_subsequent_mask(5));
    sum(out * out).backward();
    return cat({out.detach().flatten(), t.encoder->layer(0)->self_attn->in_proj_weight.grad().flatten(),
                t.decoder->layer(1)->linear1->weight.grad().flatten()});
  });
  EXPECT_TRUE(all_equal(one, two));
}

TEST(Transformer, UnbatchedAndEmptyBatch) {
  auto c = small_config();
  TransformerDecoderLayer dec(c);
  randomize(dec, 30);
  Generator g(31);
  Tensor tgt = randn({4, 8}, kFloat64, &g), memory = randn({3, 8}, kFloat64, &g);
  // Unbatched [T, E] is batch 1 without the batch dim, as in PyTorch.
  EXPECT_TRUE(all_close(dec.forward(tgt, memory), dec.forward(tgt.unsqueeze(1), memory.unsqueeze(1)).squeeze(1),
                        1e-14));
  EXPECT_EQ(dec.forward(zeros({4, 0, 8}, kFloat64), zeros({3, 0, 8}, kFloat64)).shape(), (Shape{4, 0, 8}));
  TransformerEncoder enc(c, 2, true);
  EXPECT_EQ(enc.forward(zeros({5, 0, 8}, kFloat64)).shape(), (Shape{5, 0, 8}));
}

TEST(Transformer, IsCausalFlagsEqualTheCausalMask) {
  auto c = small_config();
  TransformerDecoderLayer dec(c);
  TransformerEncoderLayer enc(c);
  Generator g(29);
  Tensor tgt = randn({4, 2, 8}, kFloat64, &g), memory = randn({4, 2, 8}, kFloat64, &g);
  Tensor causal = nn::generate_square_subsequent_mask(4, kFloat64);
  EXPECT_TRUE(all_close(dec.forward(tgt, memory, Tensor(), Tensor(), Tensor(), Tensor(), true),
                        dec.forward(tgt, memory, causal), 1e-14));
  EXPECT_FALSE(all_close(dec.forward(tgt, memory), dec.forward(tgt, memory, causal), 1e-3));
  EXPECT_TRUE(all_close(enc.forward(tgt, Tensor(), Tensor(), true), enc.forward(tgt, causal), 1e-14));
  // A bool causal mask (True = not allowed) is the same mask.
  Tensor bool_causal = logical_not(causal_mask(4, 4));
  EXPECT_TRUE(all_close(dec.forward(tgt, memory, bool_causal), dec.forward(tgt, memory, causal), 1e-14));
}

TEST(Transformer, DropoutOnlyInTraining) {
  auto c = small_config(kFloat32);
  c.dropout = 0.5;
  TransformerEncoderLayer l(c);
  Generator g(28);
  Tensor x = randn({4, 2, 8}, kFloat32, &g);
  l.eval();
  Tensor e = l.forward(x);
  c.dropout = 0.0;
  TransformerEncoderLayer l0(c);
  l0.load_state_dict(l.state_dict());
  EXPECT_TRUE(all_equal(e, l0.forward(x)));
  l.train();
  EXPECT_FALSE(all_close(l.forward(x), e, 1e-3));
}

}  // namespace
}  // namespace attn
