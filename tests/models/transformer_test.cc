// Tests for the Transformer translation model (include/attn/models/transformer.h): logits and
// gradients against an independent PyTorch model built on torch.nn.Transformer (two
// configurations, float32 and float64), cached incremental decoding == recomputing the whole prefix
// each step (greedy and beam search, for every position scheme, GQA, MoE and pre-LN), padding
// invariance on both sides, state_dict names with tied / shared embeddings, the MoE auxiliary loss,
// the attention-weight accessors, errors, and a tiny model that memorises 8 pairs.
// Total: well under a second of CPU, deterministic by seed.
#include "attn/models/transformer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace attn::models {
namespace {

using attn::testing::all_close;
using attn::testing::expect_error;
using attn::testing::keys;

TransformerConfig tiny_config() {
  TransformerConfig c;
  c.src_vocab = 11;
  c.tgt_vocab = 9;
  c.d_model = 8;
  c.nhead = 2;
  c.num_encoder_layers = 2;
  c.num_decoder_layers = 2;
  c.dim_feedforward = 12;
  c.dropout = 0.0;
  c.max_positions = 16;
  return c;
}

std::shared_ptr<TransformerModel> make_model(const TransformerConfig& c, uint64_t seed = 7) {
  manual_seed(seed);  // the modules draw their initial values from the default generator
  auto m = std::make_shared<TransformerModel>(c);
  m->eval();
  return m;
}

// A batch of 3: row 1 is padded (length 3 of 5); tgt_in row 2 ends in padding.
struct Batch {
  Tensor src, src_lens, tgt_in;
};
Batch tiny_batch() {
  return {tensor<int64_t>({3, 4, 5, 6, 2, 5, 7, 2, 0, 0, 8, 9, 10, 3, 2}, {3, 5}), tensor<int64_t>({5, 3, 5}),
          tensor<int64_t>({1, 3, 4, 5, 1, 6, 7, 8, 1, 4, 3, 0}, {3, 4})};
}

// --- PyTorch reference ---------------------------------------------------------------------------

void check_against_torch(const std::string& name, TransformerConfig c, DType dtype) {
  const io::SafetensorsFile f = attn::testing::load_fixture("transformer_model/" + name);
  c.dtype = dtype;
  auto m = make_model(c);
  nn::NamedTensors sd;
  for (const auto& [k, t] : m->state_dict()) sd.emplace_back(k, f.at(k).to(dtype));
  m->load_state_dict(sd);  // strict: the fixture has exactly attn's key set
  EXPECT_FALSE(f.contains("out.weight") && c.tie_output) << "a tied model has no out.weight";

  Tensor logits = m->forward(f.at("src"), f.at("src_lens"), f.at("tgt_in"));
  // float64 agrees to rounding; float32 rounds through 2 + 2 layers with logits of size ~3.
  const double atol = dtype == kFloat64 ? 1e-10 : 2e-5;
  EXPECT_TRUE(all_close(logits.to(kFloat64), f.at("out"), atol, atol)) << name;
  sum(logits * f.at("grad_out").to(dtype)).backward();
  int checked = 0;
  for (const auto& [k, t] : f.tensors) {
    if (k.rfind("grad_", 0) != 0 || k == "grad_out") continue;
    const std::string p = k.substr(5);
    Tensor g = m->get_parameter(p).grad();
    ASSERT_TRUE(g.defined()) << p;
    EXPECT_TRUE(all_close(g.to(kFloat64), t, atol * 5, atol * 5)) << name << ": " << p;  // sums over the batch
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TransformerConfig fixture_post_ln() {
  TransformerConfig c = tiny_config();
  c.dim_feedforward = 8;
  return c;  // relu, post-LN, sinusoidal, separate embeddings, tied output
}
TransformerConfig fixture_pre_ln() {
  TransformerConfig c = fixture_post_ln();
  c.tgt_vocab = 11;
  c.activation = "gelu";
  c.norm_first = true;
  c.positions = "learned";
  c.share_embeddings = true;
  c.tie_output = false;
  return c;
}

TEST(TransformerModel, MatchesTorchPostLnSinusoidalTied) {
  check_against_torch("post_ln_sinusoidal_tied", fixture_post_ln(), kFloat32);
  check_against_torch("post_ln_sinusoidal_tied", fixture_post_ln(), kFloat64);
}
TEST(TransformerModel, MatchesTorchPreLnLearnedShared) {
  check_against_torch("pre_ln_learned_shared", fixture_pre_ln(), kFloat32);
  check_against_torch("pre_ln_learned_shared", fixture_pre_ln(), kFloat64);
}

// --- state_dict ----------------------------------------------------------------------------------

TEST(TransformerModel, StateDictKeysTiedAndShared) {
  auto has = [](const TransformerModel& m, const std::string& k) {
    const auto ks = keys(m.state_dict());
    return std::find(ks.begin(), ks.end(), k) != ks.end();
  };
  TransformerConfig c = tiny_config();
  {
    auto m = make_model(c);  // tied, separate embeddings, sinusoidal
    const auto ks = keys(m->state_dict());
    EXPECT_EQ(ks.front(), "src_embed.weight");
    EXPECT_EQ(ks[1], "tgt_embed.weight");
    EXPECT_EQ(ks.back(), "out.bias");
    EXPECT_FALSE(has(*m, "out.weight"));
    EXPECT_FALSE(has(*m, "pos_embed.weight"));
    EXPECT_TRUE(has(*m, "transformer.encoder.layers.1.self_attn.in_proj_weight"));
    EXPECT_TRUE(has(*m, "transformer.encoder.norm.weight"));
    EXPECT_TRUE(has(*m, "transformer.decoder.layers.1.multihead_attn.out_proj.weight"));
    EXPECT_TRUE(has(*m, "transformer.decoder.norm.bias"));
    EXPECT_TRUE(m->out->weight.is_same(m->tgt_embed->weight));
    // One copy of every parameter: the tied weight is counted once.
    int64_t n = 0;
    for (const auto& [k, t] : m->state_dict()) n += t.numel();
    EXPECT_EQ(m->num_parameters(), n);
    // The embedding statistics of the header: N(0, d^-1/2), pad row zero.
    EXPECT_EQ(sum(abs(m->src_embed->weight.select(0, c.pad))).item(), 0.0);
  }
  {
    c.tie_output = false;
    c.positions = "learned";
    auto m = make_model(c);
    EXPECT_TRUE(has(*m, "out.weight"));
    EXPECT_TRUE(has(*m, "pos_embed.weight"));
    EXPECT_FALSE(m->out->weight.is_same(m->tgt_embed->weight));
  }
  {
    c.tgt_vocab = c.src_vocab;
    c.share_embeddings = true;
    c.tie_output = true;
    auto m = make_model(c);
    EXPECT_FALSE(has(*m, "tgt_embed.weight"));
    EXPECT_FALSE(has(*m, "out.weight"));
    EXPECT_TRUE(m->tgt_embed == m->src_embed);
    EXPECT_TRUE(m->out->weight.is_same(m->src_embed->weight));
    // A state_dict round trip into a fresh model gives the same logits.
    auto m2 = make_model(c, 99);
    m2->load_state_dict(m->state_dict());
    const Batch b = tiny_batch();
    EXPECT_TRUE(all_close(m2->forward(b.src, b.src_lens, b.tgt_in), m->forward(b.src, b.src_lens, b.tgt_in), 0.0));
    EXPECT_NE(m->to_string().find("weight=target embedding"), std::string::npos) << m->to_string();
    // to(float64) converts the shared weight and the output bias in place: the tie survives.
    const Tensor before = m->forward(b.src, b.src_lens, b.tgt_in);
    m->to(kFloat64);
    EXPECT_TRUE(m->out->weight.is_same(m->src_embed->weight));
    EXPECT_EQ(m->out->bias.dtype(), kFloat64);
    const Tensor after = m->forward(b.src, b.src_lens, b.tgt_in);
    ASSERT_EQ(after.dtype(), kFloat64);
    EXPECT_TRUE(all_close(after.to(kFloat32), before, 1e-5));  // float32 vs float64 arithmetic
  }
}

// --- incremental decoding ------------------------------------------------------------------------

// Recomputes the whole prefix with the teacher-forced forward at every step: the reference for
// the cached decoder.
class RecomputeDecoder : public IncrementalDecoder {
 public:
  RecomputeDecoder(TransformerModel& m, const Tensor& src, const Tensor& lens) : m_(m), src_(src), lens_(lens) {
    prefix_.assign(size_t(src.size(0)), {});
  }
  DecodeStep step(const Tensor& tokens) override {
    const std::vector<int64_t> tok = to_int64_vector(tokens);
    std::vector<int64_t> flat;
    for (size_t i = 0; i < prefix_.size(); ++i) {
      prefix_[i].push_back(tok[i]);
      flat.insert(flat.end(), prefix_[i].begin(), prefix_[i].end());
    }
    const int64_t N = int64_t(prefix_.size()), T = int64_t(prefix_[0].size());
    Tensor logits = m_.forward(src_, lens_, tensor<int64_t>(flat, {N, T}));
    return {log_softmax(logits.select(1, T - 1), 1), m_.last_attention().select(1, T - 1)};
  }
  void reorder(const Tensor& idx) override {
    src_ = index_select(src_, 0, idx);
    lens_ = index_select(lens_, 0, idx);
    std::vector<std::vector<int64_t>> p;
    for (int64_t i : to_int64_vector(idx)) p.push_back(prefix_[size_t(i)]);
    prefix_ = p;
  }

 private:
  TransformerModel& m_;
  Tensor src_, lens_;
  std::vector<std::vector<int64_t>> prefix_;
};

void expect_same_hypotheses(const std::vector<std::vector<Hypothesis>>& a, const std::vector<std::vector<Hypothesis>>& b,
                            const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size()) << what << " row " << r;
    for (size_t k = 0; k < a[r].size(); ++k) {
      EXPECT_EQ(a[r][k].tokens, b[r][k].tokens) << what << " row " << r << " hyp " << k;
      EXPECT_NEAR(a[r][k].log_prob, b[r][k].log_prob, 1e-4) << what;  // float32 sums over <= 8 steps
      EXPECT_TRUE(all_close(a[r][k].attention, b[r][k].attention, 1e-5)) << what;
    }
  }
}

void check_cache_equals_recompute(TransformerConfig c, const std::string& what) {
  auto m = make_model(c, 11);
  NoGradGuard ng;
  const Batch b = tiny_batch();
  // Step by step over the teacher-forced inputs: every row equals the full forward.
  {
    Tensor full = log_softmax(m->forward(b.src, b.src_lens, b.tgt_in), 2);
    const Tensor att = m->last_attention();
    auto dec = m->start_decoding(b.src, b.src_lens);
    for (int64_t t = 0; t < b.tgt_in.size(1); ++t) {
      DecodeStep s = dec->step(b.tgt_in.select(1, t).contiguous());
      EXPECT_TRUE(all_close(s.log_probs, full.select(1, t), 2e-5, 1e-5)) << what << " step " << t;
      EXPECT_TRUE(all_close(s.attention, att.select(1, t), 1e-5)) << what << " step " << t;
    }
  }
  SearchOptions o;
  o.max_length = 7;
  o.bos = c.bos;
  o.eos = c.eos;
  o.beam_size = 3;
  o.n_best = 2;
  {
    auto cached = m->start_decoding(b.src, b.src_lens);
    RecomputeDecoder ref(*m, b.src, b.src_lens);
    expect_same_hypotheses(greedy_search(*cached, 3, o), greedy_search(ref, 3, o), what + " greedy");
  }
  {
    auto cached = m->start_decoding(b.src, b.src_lens);
    RecomputeDecoder ref(*m, b.src, b.src_lens);
    expect_same_hypotheses(beam_search(*cached, 3, o), beam_search(ref, 3, o), what + " beam");
  }
}

TEST(TransformerModel, CachedDecodingEqualsRecompute) {
  TransformerConfig c = tiny_config();
  check_cache_equals_recompute(c, "post-LN sinusoidal");
  TransformerConfig g = c;
  g.d_model = 16;
  g.nhead = 4;
  g.num_kv_heads = 2;
  check_cache_equals_recompute(g, "GQA");
  TransformerConfig r = c;
  r.positions = "rope";
  check_cache_equals_recompute(r, "rope");
  TransformerConfig l = c;
  l.positions = "learned";
  check_cache_equals_recompute(l, "learned");
  TransformerConfig e = c;
  e.moe_experts = 3;
  e.moe_top_k = 2;
  check_cache_equals_recompute(e, "MoE");
  TransformerConfig p = c;
  p.norm_first = true;
  p.activation = "gelu";
  p.tie_output = false;
  check_cache_equals_recompute(p, "pre-LN");
}

TEST(TransformerModel, AttentionLayerAndHeadSelection) {
  auto m = make_model(tiny_config());
  NoGradGuard ng;
  const Batch b = tiny_batch();
  const Tensor cross = m->cross_attention_weights(b.src, b.src_lens, b.tgt_in);  // [L, B, H, T, S]
  ASSERT_EQ(cross.shape(), (Shape{2, 3, 2, 4, 5}));
  for (int64_t layer : {0, 1}) {
    for (int64_t head : {-1, 0, 1}) {
      m->attention_layer = layer;
      m->attention_head = head;
      m->forward(b.src, b.src_lens, b.tgt_in);
      const Tensor w = cross.select(0, layer);
      const Tensor expected = head < 0 ? mean(w, {1}) : w.select(1, head);
      EXPECT_TRUE(all_close(m->last_attention(), expected, 1e-6)) << layer << " " << head;
      auto dec = m->start_decoding(b.src, b.src_lens);
      DecodeStep s = dec->step(b.tgt_in.select(1, 0).contiguous());
      EXPECT_TRUE(all_close(s.attention, expected.select(1, 0), 1e-6)) << layer << " " << head;
    }
  }
  // Rows are distributions that put nothing on the padded source positions (row 1: 3 of 5).
  EXPECT_TRUE(all_close(sum(cross, {4}), ones({2, 3, 2, 4}), 1e-5));
  EXPECT_EQ(sum(abs(cross.select(1, 1).narrow(3, 3, 2))).item(), 0.0);
  // Decoder self-attention is causal; encoder self-attention ignores padded keys.
  const Tensor dself = m->decoder_self_attention_weights(b.src, b.src_lens, b.tgt_in);  // [L, B, H, T, T]
  ASSERT_EQ(dself.shape(), (Shape{2, 3, 2, 4, 4}));
  EXPECT_EQ(sum(abs(triu(dself, 1))).item(), 0.0);
  const Tensor eself = m->encoder_self_attention_weights(b.src, b.src_lens);  // [L, B, H, S, S]
  ASSERT_EQ(eself.shape(), (Shape{2, 3, 2, 5, 5}));
  EXPECT_EQ(sum(abs(eself.select(1, 1).narrow(3, 3, 2))).item(), 0.0);
  // The accessors leave the model's flags as they were.
  for (int64_t i = 0; i < 2; ++i) EXPECT_FALSE(m->decoder->layer(i)->keep_attention);
  m->attention_layer = 2;
  expect_error([&] { m->forward(b.src, b.src_lens, b.tgt_in); }, {"attention_layer 2", "2 decoder layers"});
  m->attention_layer = -1;
  m->attention_head = 2;
  expect_error([&] { m->start_decoding(b.src, b.src_lens); }, {"attention_head 2", "2 heads"});
}

// --- padding -------------------------------------------------------------------------------------

TEST(TransformerModel, PaddingInvariance) {
  for (const char* pos : {"sinusoidal", "learned", "rope"}) {
    TransformerConfig c = tiny_config();
    c.positions = pos;
    auto m = make_model(c);
    NoGradGuard ng;
    const Batch b = tiny_batch();
    const Tensor batched = m->forward(b.src, b.src_lens, b.tgt_in);
    const Tensor att = m->last_attention();
    // Row 1 (source padded 3 -> 5) alone and unpadded.
    const Tensor alone = m->forward(tensor<int64_t>({5, 7, 2}, {1, 3}), tensor<int64_t>({3}), b.tgt_in.narrow(0, 1, 1));
    EXPECT_TRUE(all_close(batched.narrow(0, 1, 1), alone, 1e-5)) << pos;
    EXPECT_TRUE(all_close(att.narrow(0, 1, 1).narrow(2, 0, 3), m->last_attention(), 1e-6)) << pos;
    // Row 2 (target padded 3 -> 4) alone with its 3 real target positions.
    const Tensor alone2 = m->forward(b.src.narrow(0, 2, 1), b.src_lens.narrow(0, 2, 1),
                                     b.tgt_in.narrow(0, 2, 1).narrow(1, 0, 3).contiguous());
    EXPECT_TRUE(all_close(batched.narrow(0, 2, 1).narrow(1, 0, 3), alone2, 1e-5)) << pos;
  }
}

// --- MoE auxiliary loss --------------------------------------------------------------------------

TEST(TransformerModel, MoEAuxLossIsWeightedSumOfLayers) {
  TransformerConfig c = tiny_config();
  const Batch b = tiny_batch();
  EXPECT_FALSE(make_model(c)->aux_loss().defined());
  c.moe_experts = 4;
  c.moe_top_k = 2;
  c.moe_aux_weight = 0.05;
  auto m = make_model(c);
  m->train();
  EXPECT_FALSE(m->aux_loss().defined());
  m->forward(b.src, b.src_lens, b.tgt_in);
  ASSERT_TRUE(m->aux_loss().defined());
  double layers = 0;
  for (int64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(m->encoder->layer(i)->moe != nullptr);
    layers += m->encoder->layer(i)->aux_loss().item() + m->decoder->layer(i)->aux_loss().item();
  }
  EXPECT_NEAR(m->aux_loss().item(), 0.05 * layers, 1e-6);
  EXPECT_GT(layers, 0.0);
  m->aux_loss().backward();  // the loss reaches the routers
  Tensor g = m->get_parameter("transformer.encoder.layers.0.moe.gate.weight").grad();
  ASSERT_TRUE(g.defined());
  EXPECT_GT(sum(abs(g)).item(), 0.0);
}

// --- errors --------------------------------------------------------------------------------------

TEST(TransformerModel, Errors) {
  const Batch b = tiny_batch();
  TransformerConfig c = tiny_config();
  c.positions = "learned";
  c.max_positions = 4;
  auto m = make_model(c);
  expect_error([&] { m->forward(b.src, b.src_lens, b.tgt_in); }, {"source", "max_positions 4", "length 5"});
  expect_error([&] { m->encode(b.src, b.src_lens); }, {"max_positions 4"});
  {
    NoGradGuard ng;  // decoding past the table fails at the step that needs position 4
    auto dec = m->start_decoding(b.src.narrow(1, 0, 4).contiguous(), tensor<int64_t>({4, 3, 4}));
    for (int i = 0; i < 4; ++i) dec->step(tensor<int64_t>({1, 1, 1}));
    expect_error([&] { dec->step(tensor<int64_t>({1, 1, 1})); }, {"target position 4", "max_positions 4"});
  }
  TransformerConfig s = tiny_config();
  s.share_embeddings = true;
  expect_error([&] { TransformerModel x(s); }, {"share_embeddings", "src_vocab 11", "tgt_vocab 9"});
  auto ok = make_model(tiny_config());
  expect_error([&] { ok->forward(b.src, b.src_lens, b.tgt_in, 0.5); }, {"teacher_forcing_ratio", "0.5"});
  expect_error([&] { ok->forward(b.src, tensor<int64_t>({5, 0, 5}), b.tgt_in); }, {"src_lens[1] = 0", "[1, S = 5]"});
  expect_error([&] { ok->forward(b.src, b.src_lens, b.tgt_in.narrow(0, 0, 2)); }, {"batch sizes differ"});
  TransformerConfig bad = tiny_config();
  bad.positions = "alibi";
  expect_error([&] { TransformerModel x(bad); }, {"positions", "alibi"});
  bad = tiny_config();
  bad.nhead = 3;
  expect_error([&] { TransformerModel x(bad); }, {"d_model 8", "nhead 3"});
  bad = tiny_config();
  bad.num_kv_heads = 3;
  expect_error([&] { TransformerModel x(bad); }, {"num_kv_heads", "3"});
  bad = tiny_config();
  bad.moe_experts = 2;
  bad.moe_top_k = 3;
  expect_error([&] { TransformerModel x(bad); }, {"moe_top_k", "3"});
  auto dec = ok->start_decoding(b.src, b.src_lens);
  expect_error([&] { dec->step(tensor<int64_t>({1, 1})); }, {"tokens int64 [3]"});
}

// --- training ------------------------------------------------------------------------------------

// A tiny model memorises 8 reversal-with-shift pairs: the loss goes to ~0 and greedy decoding
// reproduces every target.
TEST(TransformerModel, OverfitsEightPairs) {
  const std::vector<std::vector<int64_t>> srcs = {{3, 4, 5}, {6, 7},       {8, 9, 10, 3}, {4, 4, 6},
                                                  {11, 5},   {7, 8, 9, 10}, {5, 3},       {9, 11, 4}};
  const int64_t B = 8, S = 5, T = 5, V = 12;
  std::vector<std::vector<int64_t>> tgts;
  std::vector<int64_t> src(B * S, 0), lens(B), tin(B * T, 0), tout(B * T, 0);
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = srcs[size_t(i)];
    std::vector<int64_t> t;
    for (auto it = s.rbegin(); it != s.rend(); ++it) t.push_back(3 + (*it - 3 + 2) % 9);
    tgts.push_back(t);
    for (size_t j = 0; j < s.size(); ++j) src[size_t(i * S) + j] = s[j];
    src[size_t(i * S) + s.size()] = 2;  // eos
    lens[size_t(i)] = int64_t(s.size()) + 1;
    tin[size_t(i * T)] = 1;
    for (size_t j = 0; j < t.size(); ++j) {
      tin[size_t(i * T) + j + 1] = t[j];
      tout[size_t(i * T) + j] = t[j];
    }
    tout[size_t(i * T) + t.size()] = 2;
  }
  const Tensor src_t = tensor<int64_t>(src, {B, S}), lens_t = tensor<int64_t>(lens);
  const Tensor tin_t = tensor<int64_t>(tin, {B, T}), tout_t = tensor<int64_t>(tout, {B * T});
  TransformerConfig c;
  c.src_vocab = c.tgt_vocab = V;
  c.d_model = 32;
  c.nhead = 4;
  c.num_encoder_layers = c.num_decoder_layers = 1;
  c.dim_feedforward = 64;
  c.dropout = 0.0;
  c.share_embeddings = true;
  manual_seed(5);
  auto m = std::make_shared<TransformerModel>(c);
  optim::Adam opt(m->parameters(), 0.01);
  double loss_v = 0;
  int it = 0;
  for (; it < 150; ++it) {
    opt.zero_grad();
    Tensor loss = cross_entropy(m->forward(src_t, lens_t, tin_t).reshape({B * T, V}), tout_t, Tensor(), c.pad);
    loss.backward();
    opt.step();
    loss_v = loss.item();
    if (loss_v < 0.01) break;
  }
  EXPECT_LT(loss_v, 0.05) << "after " << it << " Adam steps";
  ::testing::Test::RecordProperty("steps", it);
  m->eval();
  NoGradGuard ng;
  auto dec = m->start_decoding(src_t, lens_t);
  SearchOptions o;
  o.max_length = T + 2;
  const auto hyps = greedy_search(*dec, B, o);
  for (int64_t i = 0; i < B; ++i) {
    std::vector<int64_t> want = tgts[size_t(i)];
    want.push_back(2);
    EXPECT_EQ(hyps[size_t(i)].at(0).tokens, want) << "pair " << i;
  }
}

// Sampling with top_k = 1 is greedy search on the model too (decoding.h's sample_search).
TEST(TransformerModel, SamplingTopOneIsGreedy) {
  auto m = make_model(tiny_config());
  NoGradGuard ng;
  const Batch b = tiny_batch();
  SearchOptions o;
  o.max_length = 6;
  SamplingOptions so;
  so.top_k = 1;
  Generator gen(3);
  auto d1 = m->start_decoding(b.src, b.src_lens);
  auto d2 = m->start_decoding(b.src, b.src_lens);
  expect_same_hypotheses(sample_search(*d1, 3, o, so, &gen), greedy_search(*d2, 3, o), "top_k 1");
}

}  // namespace
}  // namespace attn::models
