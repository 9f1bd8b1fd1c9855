// BERT encoder and pre-training heads (see attn/models/bert.h), composed of attn modules and ops:
// the backward is autograd's.
#include "attn/models/bert.h"

#include <cmath>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/unary.h"

namespace attn::models {

namespace {

Tensor activate(const Tensor& x, const std::string& activation) {
  return activation == "relu" ? relu(x) : gelu(x);  // exact (erf) GELU, as BERT's "gelu"
}

void check_ids(const Tensor& t, const char* what) {
  ATTN_CHECK(t.defined() && t.dtype() == kInt64 && t.dim() == 2, "BertEncoder: ", what,
             " must be int64 [B, T], got ", t.defined() ? t.describe() : std::string("an undefined tensor"));
}

}  // namespace

void check_bert_config(const BertConfig& c) {
  ATTN_CHECK(c.vocab_size > 0, "BertConfig: vocab_size must be positive, got ", c.vocab_size);
  ATTN_CHECK(c.hidden_size > 0, "BertConfig: hidden_size must be positive, got ", c.hidden_size);
  ATTN_CHECK(c.num_hidden_layers >= 0, "BertConfig: num_hidden_layers must be >= 0, got ", c.num_hidden_layers);
  ATTN_CHECK(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0,
             "BertConfig: num_attention_heads (", c.num_attention_heads, ") must divide hidden_size (", c.hidden_size,
             ")");
  ATTN_CHECK(c.intermediate_size > 0, "BertConfig: intermediate_size must be positive, got ", c.intermediate_size);
  ATTN_CHECK(c.hidden_act == "gelu" || c.hidden_act == "relu", "BertConfig: hidden_act must be 'gelu' or 'relu', got '",
             c.hidden_act, "'");
  ATTN_CHECK(c.hidden_dropout_prob >= 0 && c.hidden_dropout_prob < 1, "BertConfig: hidden_dropout_prob must be in [0, 1), got ",
             c.hidden_dropout_prob);
  ATTN_CHECK(c.max_position_embeddings > 0, "BertConfig: max_position_embeddings must be positive, got ",
             c.max_position_embeddings);
  ATTN_CHECK(c.type_vocab_size > 0, "BertConfig: type_vocab_size must be positive, got ", c.type_vocab_size);
  ATTN_CHECK(c.layer_norm_eps > 0, "BertConfig: layer_norm_eps must be positive, got ", c.layer_norm_eps);
  ATTN_CHECK(c.initializer_range >= 0 && std::isfinite(c.initializer_range),
             "BertConfig: initializer_range must be >= 0, got ", c.initializer_range);
  ATTN_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, "BertConfig: pad_token_id ", c.pad_token_id,
             " is outside the vocabulary [0, ", c.vocab_size, ")");
  ATTN_CHECK(c.dtype == kFloat32 || c.dtype == kFloat64, "BertConfig: dtype must be float32 or float64");
}

nn::TransformerLayerConfig bert_layer_config(const BertConfig& c) {
  nn::TransformerLayerConfig l;
  l.d_model = c.hidden_size;
  l.nhead = c.num_attention_heads;
  l.dim_feedforward = c.intermediate_size;
  l.dropout = c.hidden_dropout_prob;
  l.activation = c.hidden_act;
  l.layer_norm_eps = c.layer_norm_eps;
  l.batch_first = true;
  l.norm_first = false;  // BERT is post-LN
  l.dtype = c.dtype;
  return l;
}

// --- embeddings ----------------------------------------------------------------------------------

BertEmbeddings::BertEmbeddings(const BertConfig& c) {
  word_embeddings = register_module(
      "word_embeddings", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, c.pad_token_id, c.dtype));
  position_embeddings = register_module(
      "position_embeddings",
      std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size, std::nullopt, c.dtype));
  token_type_embeddings = register_module(
      "token_type_embeddings", std::make_shared<nn::Embedding>(c.type_vocab_size, c.hidden_size, std::nullopt, c.dtype));
  LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, c.dtype));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.hidden_dropout_prob));
}

Tensor BertEmbeddings::forward(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& inputs_embeds) {
  Tensor words;
  if (input_ids.defined()) {
    check_ids(input_ids, "input_ids");
    words = word_embeddings->forward(input_ids);  // [B, T, D]
  } else {
    ATTN_CHECK(inputs_embeds.defined() && inputs_embeds.dim() == 3 &&
                   inputs_embeds.size(2) == word_embeddings->embedding_dim,
               "BertEmbeddings: without input_ids, inputs_embeds must be [B, T, ", word_embeddings->embedding_dim,
               "], got ", inputs_embeds.defined() ? shape_str(inputs_embeds.shape()) : std::string("nothing"));
    words = inputs_embeds;  // [B, T, D]
  }
  const int64_t B = words.size(0), T = words.size(1);
  ATTN_CHECK(T >= 1 && T <= position_embeddings->num_embeddings, "BertEmbeddings: sequence length ", T,
             " must be in [1, max_position_embeddings = ", position_embeddings->num_embeddings, "]");
  const Tensor positions = position_embeddings->forward(arange(double(T)));  // [T, D], broadcast over B
  Tensor types;
  if (token_type_ids.defined()) {
    check_ids(token_type_ids, "token_type_ids");
    ATTN_CHECK(token_type_ids.size(0) == B && token_type_ids.size(1) == T, "BertEmbeddings: token_type_ids ",
               shape_str(token_type_ids.shape()), " must match input_ids [", B, ", ", T, "]");
    types = token_type_embeddings->forward(token_type_ids);  // [B, T, D]
  } else {
    types = token_type_embeddings->forward(zeros({1}, kInt64));  // [1, D]: segment 0 everywhere
  }
  return dropout->forward(LayerNorm->forward(words + positions + types));  // [B, T, D]
}

// --- heads ---------------------------------------------------------------------------------------

BertPredictionHeadTransform::BertPredictionHeadTransform(const BertConfig& c) : activation(c.hidden_act) {
  dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, true, c.dtype));
  LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps, true, c.dtype));
}

Tensor BertPredictionHeadTransform::forward(const Tensor& hidden) {
  return LayerNorm->forward(activate(dense->forward(hidden), activation));  // [..., D]
}

BertLMPredictionHead::BertLMPredictionHead(const BertConfig& c, const Tensor& word_embeddings_weight) {
  // Own parameter first, then the children: the order of Hugging Face's state_dict.
  bias = register_parameter("bias", zeros({c.vocab_size}, c.dtype));
  transform = register_module("transform", std::make_shared<BertPredictionHeadTransform>(c));
  decoder = register_module("decoder", std::make_shared<nn::Linear>(c.hidden_size, c.vocab_size, false, c.dtype));
  // Tied: the decoder reads the input embedding's tensor itself, so both names share storage and
  // the gradient of both uses adds up in one .grad.
  decoder->weight = decoder->replace_parameter("weight", word_embeddings_weight);
}

Tensor BertLMPredictionHead::forward(const Tensor& hidden) {
  return linear(transform->forward(hidden), decoder->weight, bias);  // [..., V]
}

BertPooler::BertPooler(const BertConfig& c) {
  dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, true, c.dtype));
}

Tensor BertPooler::forward(const Tensor& hidden) {
  ATTN_CHECK(hidden.dim() == 3, "BertPooler: hidden must be [B, T, D], got ", shape_str(hidden.shape()));
  return tanh(dense->forward(hidden.select(1, 0)));  // [B, D]: the [CLS] position
}

BertPreTrainingHeads::BertPreTrainingHeads(const BertConfig& c, const Tensor& word_embeddings_weight) {
  predictions = register_module("predictions", std::make_shared<BertLMPredictionHead>(c, word_embeddings_weight));
  if (c.next_sentence)
    seq_relationship = register_module("seq_relationship", std::make_shared<nn::Linear>(c.hidden_size, 2, true, c.dtype));
}

// --- the model -----------------------------------------------------------------------------------

BertEncoder::BertEncoder(const BertConfig& c) : config(c) {
  check_bert_config(c);
  embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(c));
  encoder = register_module("encoder", std::make_shared<nn::TransformerEncoder>(bert_layer_config(c),
                                                                                 c.num_hidden_layers, false));
  if (c.next_sentence) pooler = register_module("pooler", std::make_shared<BertPooler>(c));
  cls = register_module("cls", std::make_shared<BertPreTrainingHeads>(c, embeddings->word_embeddings->weight));
  reset_parameters();
}

void BertEncoder::reset_parameters(Generator* gen) {
  NoGradGuard ng;
  for (const auto& [name, p] : named_parameters()) {
    const bool is_norm_weight = name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
                                (name.find("LayerNorm.") != std::string::npos || name.find(".norm") != std::string::npos);
    if (is_norm_weight)
      nn::init::ones_(p);
    else if (p.dim() >= 2)
      nn::init::normal_(p, 0.0, config.initializer_range, gen);  // matrices and embedding tables
    else
      nn::init::zeros_(p);  // biases
  }
  embeddings->word_embeddings->weight.select(0, config.pad_token_id).zero_();
}

Tensor BertEncoder::encode(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& attention_mask,
                           const Tensor& inputs_embeds) {
  const Tensor x = embeddings->forward(input_ids, token_type_ids, inputs_embeds);  // [B, T, D]
  Tensor padding;  // [B, T] bool, true = padding (nn.MultiheadAttention's polarity)
  if (attention_mask.defined()) {
    ATTN_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == x.size(0) && attention_mask.size(1) == x.size(1),
               "BertEncoder: attention_mask ", shape_str(attention_mask.shape()), " must be [B, T] = [", x.size(0),
               ", ", x.size(1), "]");
    padding = eq(attention_mask, 0.0);
  }
  return encoder->forward(x, Tensor(), padding);  // [B, T, D]
}

Tensor BertEncoder::mlm_logits(const Tensor& hidden) { return cls->predictions->forward(hidden); }

Tensor BertEncoder::nsp_logits(const Tensor& hidden) {
  ATTN_CHECK(pooler != nullptr, "BertEncoder: this model has no next-sentence head (config.next_sentence is false)");
  return cls->seq_relationship->forward(pooler->forward(hidden));  // [B, 2]
}

BertOutput BertEncoder::forward(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& attention_mask) {
  check_ids(input_ids, "input_ids");
  BertOutput out;
  out.hidden = encode(input_ids, token_type_ids, attention_mask);  // [B, T, D]
  out.mlm_logits = mlm_logits(out.hidden);                        // [B, T, V]
  if (pooler) {
    out.pooled = pooler->forward(out.hidden);                         // [B, D]
    out.nsp_logits = cls->seq_relationship->forward(out.pooled);      // [B, 2]
  }
  return out;
}

std::string BertEncoder::extra_repr() const {
  return "vocab_size=" + std::to_string(config.vocab_size) + ", hidden_size=" + std::to_string(config.hidden_size) +
         ", num_hidden_layers=" + std::to_string(config.num_hidden_layers) +
         ", num_attention_heads=" + std::to_string(config.num_attention_heads) +
         ", next_sentence=" + (config.next_sentence ? "True" : "False");
}

}  // namespace attn::models
