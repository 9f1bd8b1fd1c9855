// Tests for the BERT encoder (include/attn/models/bert.h): output shapes with and without the
// next-sentence head, state_dict names, the tied MLM decoder (one tensor, two names, gradients of
// both uses summed), BERT's initialisation, invariance of the real positions to padding, an f64
// gradient check through embeddings, encoder and heads, parity of outputs and every parameter
// gradient with a PyTorch reference (tools/fixtures/bert.py), and errors.
#include "attn/models/bert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "attn/core/autograd.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/reduce.h"
#include "attn/ops/shape.h"
#include "test_util.h"

namespace attn::models {
namespace {

using attn::testing::all_close;
using attn::testing::expect_error;
using attn::testing::keys;

BertConfig tiny(bool nsp = true, DType dtype = kFloat32) {
  BertConfig c;
  c.vocab_size = 20;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 10;
  c.hidden_dropout_prob = 0.0;
  c.next_sentence = nsp;
  c.dtype = dtype;
  return c;
}

Tensor ids_of(const std::vector<int64_t>& v, int64_t B, int64_t T) { return tensor<int64_t>(v, {B, T}); }

TEST(Bert, OutputShapes) {
  manual_seed(1);
  BertEncoder m(tiny(true));
  const Tensor ids = ids_of({1, 5, 6, 7, 2, 1, 8, 2, 0, 0}, 2, 5);
  const Tensor mask = ids_of({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 2, 5);
  const Tensor types = ids_of({0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, 2, 5);
  const BertOutput out = m(ids, types, mask);
  EXPECT_EQ(out.hidden.shape(), (Shape{2, 5, 8}));
  EXPECT_EQ(out.mlm_logits.shape(), (Shape{2, 5, 20}));
  EXPECT_EQ(out.pooled.shape(), (Shape{2, 8}));
  EXPECT_EQ(out.nsp_logits.shape(), (Shape{2, 2}));

  BertEncoder plain(tiny(false));
  const BertOutput o2 = plain(ids);  // no types, no mask
  EXPECT_EQ(o2.mlm_logits.shape(), (Shape{2, 5, 20}));
  EXPECT_FALSE(o2.nsp_logits.defined());
  EXPECT_FALSE(o2.pooled.defined());
  for (const auto& k : keys(plain.state_dict())) {
    EXPECT_EQ(k.rfind("pooler.", 0), std::string::npos) << k;
    EXPECT_EQ(k.find("seq_relationship"), std::string::npos) << k;
  }
}

TEST(Bert, StateDictNamesMatchTheReference) {
  // The names of tools/fixtures/bert.py's torch model, plus the tied decoder weight, which torch's
  // state_dict lists under its own name as well.
  const auto fx = attn::testing::load_fixture("bert/pretraining");
  std::set<std::string> want = {"cls.predictions.decoder.weight"};
  for (const auto& [name, t] : fx.tensors)
    if (name.rfind("param.", 0) == 0) want.insert(name.substr(6));
  BertEncoder m(tiny(true));
  const auto got_list = keys(m.state_dict());
  const std::set<std::string> got(got_list.begin(), got_list.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(got_list.front(), "embeddings.word_embeddings.weight");
}

TEST(Bert, DecoderIsTiedToTheWordEmbedding) {
  manual_seed(2);
  BertEncoder m(tiny(false));
  const Tensor& w = m.embeddings->word_embeddings->weight;
  EXPECT_TRUE(m.cls->predictions->decoder->weight.is_same(w));
  // Listed once among the parameters (so an optimizer updates it once), under both names in the
  // state_dict, with one storage.
  int64_t seen = 0;
  for (const auto& [name, p] : m.named_parameters()) seen += p.is_same(w);
  EXPECT_EQ(seen, 1);
  const auto sd = m.state_dict();
  Tensor a, b;
  for (const auto& [name, t] : sd) {
    if (name == "embeddings.word_embeddings.weight") a = t;
    if (name == "cls.predictions.decoder.weight") b = t;
  }
  ASSERT_TRUE(a.defined() && b.defined());
  EXPECT_EQ(a.storage(), b.storage());
  int64_t expected = 0;
  for (const Tensor& p : m.parameters()) expected += p.numel();
  EXPECT_EQ(m.num_parameters(), expected);
  // An in-place update of the embedding changes the logits through the decoder too.
  const Tensor ids = ids_of({1, 5, 2}, 1, 3);
  const Tensor before = m(ids).mlm_logits.clone();
  {
    NoGradGuard ng;
    w.select(0, 7).fill_(3.0);
  }
  const Tensor after = m(ids).mlm_logits;
  const Tensor delta = abs(after.select(2, 7) - before.select(2, 7));
  EXPECT_GT(max(delta).item(), 1e-3);
}

TEST(Bert, TiedWeightGradientSumsBothUses) {
  // Central differences on elements of the shared tensor: a row the input reads (5) and a row
  // only the decoder reads (11). Tolerance: f64, eps 1e-6 -> truncation error ~1e-10.
  manual_seed(3);
  BertEncoder m(tiny(false, kFloat64));
  const Tensor ids = ids_of({1, 5, 6, 2}, 1, 4);
  const Tensor g = randn({1, 4, 20}, kFloat64);
  auto loss = [&] { return sum(m(ids).mlm_logits * g); };
  loss().backward();
  const Tensor w = m.embeddings->word_embeddings->weight;
  const Tensor grad = w.grad().clone();
  for (const auto& [row, col] : std::vector<std::pair<int64_t, int64_t>>{{5, 0}, {5, 3}, {11, 2}, {6, 7}}) {
    NoGradGuard ng;
    const double x0 = w.select(0, row).select(0, col).item();
    const double eps = 1e-6;
    w.select(0, row).select(0, col).fill_(x0 + eps);
    const double fp = loss().item();
    w.select(0, row).select(0, col).fill_(x0 - eps);
    const double fm = loss().item();
    w.select(0, row).select(0, col).fill_(x0);
    const double numeric = (fp - fm) / (2 * eps);
    EXPECT_NEAR(grad.select(0, row).select(0, col).item(), numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
        << "row " << row << " col " << col;
  }
}

TEST(Bert, InitialisationIsBerts) {
  manual_seed(4);
  BertConfig c = tiny(true);
  c.vocab_size = 400;
  c.hidden_size = 32;
  c.num_attention_heads = 4;
  BertEncoder m(c);
  const Tensor w = m.embeddings->word_embeddings->weight;
  EXPECT_EQ(max(abs(w.select(0, 0))).item(), 0.0);  // the padding row
  // std of 399 * 32 draws of N(0, 0.02^2): within 5% (the estimate's relative sd is ~0.6%).
  const double sd = attn::std(w.slice(0, 1, 400)).item();
  EXPECT_NEAR(sd, 0.02, 0.001);
  for (const auto& [name, p] : m.named_parameters()) {
    if (p.dim() != 1) continue;
    const bool norm = name.find("LayerNorm.weight") != std::string::npos ||
                      (name.find(".norm") != std::string::npos && name.size() > 7 &&
                       name.compare(name.size() - 7, 7, ".weight") == 0);
    EXPECT_EQ(max(abs(p - (norm ? 1.0 : 0.0))).item(), 0.0) << name;
  }
}

TEST(Bert, RealPositionsIgnorePadding) {
  // A sentence alone and the same sentence padded to a longer batch row give the same hidden
  // states and logits at its positions. Tolerance 1e-5: float32, the padded keys add exact zeros
  // but the kernels may block the longer rows differently.
  manual_seed(5);
  BertConfig c0 = tiny(true);
  c0.initializer_range = 0.5;  // attention far from uniform, so attending to padding shows
  BertEncoder m(c0);
  m.eval();
  const Tensor alone = ids_of({1, 5, 9, 4, 2}, 1, 5);
  const Tensor batch = ids_of({1, 5, 9, 4, 2, 0, 0, 0,  //
                               1, 7, 8, 9, 10, 11, 12, 2},
                              2, 8);
  const Tensor mask = ids_of({1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 8);
  const BertOutput a = m(alone);
  const BertOutput b = m(batch, Tensor(), mask);
  EXPECT_TRUE(all_close(b.hidden.narrow(0, 0, 1).narrow(1, 0, 5), a.hidden, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(b.mlm_logits.narrow(0, 0, 1).narrow(1, 0, 5), a.mlm_logits, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(b.nsp_logits.narrow(0, 0, 1), a.nsp_logits, 1e-5, 1e-5));
  // Without the mask the padding is attended to, and the outputs change.
  const BertOutput c = m(batch);
  EXPECT_FALSE(all_close(c.hidden.narrow(0, 0, 1).narrow(1, 0, 5), a.hidden, 1e-3, 1e-3));
}

TEST(Bert, GradcheckF64) {
  // Through embeddings (LayerNorm over word + position + type), two encoder layers, the MLM
  // head and the NSP head, with a padding mask: the input is inputs_embeds [B, T, D].
  manual_seed(6);
  BertConfig c = tiny(true, kFloat64);
  c.vocab_size = 7;
  c.hidden_size = 4;
  c.intermediate_size = 6;
  c.initializer_range = 0.5;  // BERT's 0.02 makes every layer nearly linear
  BertEncoder m(c);
  const Tensor types = ids_of({0, 0, 1, 1, 0, 0, 0, 0}, 2, 4);
  const Tensor mask = ids_of({1, 1, 1, 1, 1, 1, 1, 0}, 2, 4);
  const Tensor x = randn({2, 4, 4}, kFloat64).requires_grad_();
  auto f = [&](const std::vector<Tensor>& in) {
    const Tensor h = m.encode(Tensor(), types, mask, in[0]);
    return cat({m.mlm_logits(h).flatten(), m.nsp_logits(h).flatten()});
  };
  const std::vector<Tensor> inputs = {x};
  ATTN_EXPECT_GRADCHECK(f, inputs);
}

TEST(Bert, MatchesPyTorchReference) {
  // Outputs and the gradient of every parameter (the tied word embedding's includes the decoder's
  // part). Tolerance 1e-10: float64 on both sides, the same operations in a different order.
  const auto fx = attn::testing::load_fixture("bert/pretraining");
  BertConfig c;
  c.vocab_size = 11;
  c.hidden_size = 4;
  c.num_attention_heads = 2;
  c.intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.max_position_embeddings = 6;
  c.hidden_dropout_prob = 0.0;
  c.next_sentence = true;
  c.dtype = kFloat64;
  BertEncoder m(c);
  {
    NoGradGuard ng;
    for (const auto& [name, p] : m.named_parameters()) {
      Tensor q = p;
      q.copy_(fx.at("param." + name));
    }
  }
  const BertOutput out = m(fx.at("input_ids"), fx.at("token_type_ids"), fx.at("attention_mask"));
  EXPECT_TRUE(all_close(out.hidden, fx.at("hidden"), 1e-10, 1e-10));
  EXPECT_TRUE(all_close(out.mlm_logits, fx.at("mlm_logits"), 1e-10, 1e-10));
  EXPECT_TRUE(all_close(out.nsp_logits, fx.at("nsp_logits"), 1e-10, 1e-10));
  (sum(out.mlm_logits * fx.at("grad_mlm")) + sum(out.nsp_logits * fx.at("grad_nsp"))).backward();
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(all_close(p.grad(), fx.at("grad." + name), 1e-10, 1e-10)) << name;
  }
}

TEST(Bert, Errors) {
  BertConfig c = tiny(false);
  c.num_attention_heads = 3;
  expect_error([&] { BertEncoder m(c); }, {"num_attention_heads (3)", "hidden_size (8)"});
  c = tiny(false);
  c.vocab_size = 0;
  expect_error([&] { BertEncoder m(c); }, {"vocab_size"});
  c = tiny(false);
  c.hidden_act = "swish";
  expect_error([&] { BertEncoder m(c); }, {"hidden_act", "swish"});

  BertEncoder m(tiny(false));
  expect_error([&] { m(zeros({1, 11}, kInt64)); }, {"sequence length 11", "max_position_embeddings = 10"});
  expect_error([&] { m(zeros({2, 4}, kInt64), zeros({2, 3}, kInt64)); }, {"token_type_ids [2, 3]", "[2, 4]"});
  expect_error([&] { m(zeros({2, 4}, kInt64), Tensor(), ones({2, 5})); }, {"attention_mask [2, 5]", "[2, 4]"});
  expect_error([&] { m(zeros({2, 4})); }, {"input_ids must be int64"});
  expect_error([&] { m.nsp_logits(zeros({1, 3, 8})); }, {"no next-sentence head"});
}

}  // namespace
}  // namespace attn::models
