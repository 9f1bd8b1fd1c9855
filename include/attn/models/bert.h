// A BERT-style encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers
// for Language Understanding") with its two pre-training heads: masked-language-model (MLM) and
// next-sentence prediction (NSP). docs/models/bert.md.
//
//   x      = LayerNorm(word_embeddings(ids) + position_embeddings(0..T-1) + token_type_embeddings(types))
//   x      = dropout(x)                                                              [B, T, D]
//   hidden = encoder(x, src_key_padding_mask = attention_mask == 0)                 [B, T, D]
//            post-LN nn::TransformerEncoder layers (attention/transformer.h), GELU, batch_first
//   mlm    = LayerNorm(gelu(dense(hidden))) · word_embeddings.weightᵀ + bias        [B, T, V]
//            (the decoder is tied to the input embedding: one tensor, two names)
//   pooled = tanh(pooler.dense(hidden[:, 0]))                                        [B, D]  (NSP only)
//   nsp    = seq_relationship(pooled)                                                [B, 2]  (NSP only)
//
// state_dict names: those of Hugging Face's BertForPreTraining (without the "bert." prefix) for
// the embeddings and the heads, and those of torch.nn.TransformerEncoder for the layers:
//   embeddings.{word_embeddings,position_embeddings,token_type_embeddings}.weight,
//   embeddings.LayerNorm.{weight,bias}
//   encoder.layers.<i>.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias},
//   encoder.layers.<i>.{linear1,linear2,norm1,norm2}.{weight,bias}
//   pooler.dense.{weight,bias}                                              (next_sentence only)
//   cls.predictions.transform.dense.{weight,bias}, cls.predictions.transform.LayerNorm.{weight,bias},
//   cls.predictions.decoder.weight (= embeddings.word_embeddings.weight), cls.predictions.bias
//   cls.seq_relationship.{weight,bias}                                      (next_sentence only)
// A PyTorch model built from torch.nn modules with these names gives the same outputs and
// gradients (tools/fixtures/bert.py; dropout off).
//
// Initialisation as BERT's: every matrix and embedding table N(0, initializer_range²), the padding
// row of the word embedding zero, biases zero, LayerNorm weights one.
//
// Masks: attention_mask [B, T] as Hugging Face's (1 = a real token, 0 = padding; any dtype) or
// undefined (every position real). Padding positions still get hidden states and logits (their
// queries attend to the real keys), which the losses ignore.
//
// What this is not: a tokenizer or a training loop (train/bert.h has both), or a loader for Hugging
// Face checkpoints (its encoder layers are named differently and use separate q/k/v matrices).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/attention/transformer.h"
#include "attn/core/tensor.h"
#include "attn/nn/dropout.h"
#include "attn/nn/embedding.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"
#include "attn/nn/normalization.h"

namespace attn::models {

// Field names follow Hugging Face's BertConfig where the meaning is the same.
struct BertConfig {
  int64_t vocab_size = 0;                // V (required)
  int64_t hidden_size = 128;             // D
  int64_t num_hidden_layers = 2;         // L
  int64_t num_attention_heads = 4;       // H
  int64_t intermediate_size = 512;       // F
  std::string hidden_act = "gelu";       // gelu | relu, in the encoder layers and the MLM transform
  // One rate for the embeddings, the attention weights and the residual branches: PyTorch's
  // TransformerEncoderLayer has a single dropout (Hugging Face's two default to the same 0.1).
  double hidden_dropout_prob = 0.1;
  int64_t max_position_embeddings = 128;  // longest input T
  int64_t type_vocab_size = 2;            // segments (sentence A / B)
  double layer_norm_eps = 1e-12;
  double initializer_range = 0.02;
  int64_t pad_token_id = 0;
  bool next_sentence = false;             // build the pooler and the NSP classifier
  DType dtype = kFloat32;
};

// Throws attn::Error naming the bad field.
void check_bert_config(const BertConfig& config);

// nn::TransformerLayerConfig of the encoder's layers (post-LN, batch_first).
nn::TransformerLayerConfig bert_layer_config(const BertConfig& config);

class BertEmbeddings : public nn::Module {
 public:
  explicit BertEmbeddings(const BertConfig& config);
  // input_ids int64 [B, T] (or, when undefined, inputs_embeds [B, T, D] in place of the word
  // embeddings, as Hugging Face's inputs_embeds); token_type_ids int64 [B, T] or undefined (all 0).
  Tensor forward(const Tensor& input_ids, const Tensor& token_type_ids = Tensor(),
                 const Tensor& inputs_embeds = Tensor());
  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings, token_type_embeddings;
  std::shared_ptr<nn::LayerNorm> LayerNorm;  // NOLINT: Hugging Face's name
  std::shared_ptr<nn::Dropout> dropout;
};

// dense -> activation -> LayerNorm.
class BertPredictionHeadTransform : public nn::Module {
 public:
  explicit BertPredictionHeadTransform(const BertConfig& config);
  Tensor forward(const Tensor& hidden);
  std::string activation;
  std::shared_ptr<nn::Linear> dense;
  std::shared_ptr<nn::LayerNorm> LayerNorm;  // NOLINT
};

// transform, then the tied decoder (no bias of its own) plus `bias` [V].
class BertLMPredictionHead : public nn::Module {
 public:
  BertLMPredictionHead(const BertConfig& config, const Tensor& word_embeddings_weight);
  Tensor forward(const Tensor& hidden);  // [..., D] -> [..., V]
  std::shared_ptr<BertPredictionHeadTransform> transform;
  std::shared_ptr<nn::Linear> decoder;  // decoder->weight is the word embedding's weight
  Tensor bias;                          // [V]
};

// tanh(dense(hidden[:, 0])): the [CLS] summary the NSP classifier reads.
class BertPooler : public nn::Module {
 public:
  explicit BertPooler(const BertConfig& config);
  Tensor forward(const Tensor& hidden);  // [B, T, D] -> [B, D]
  std::shared_ptr<nn::Linear> dense;
};

// "cls": the MLM head ("predictions") and, with next_sentence, the NSP classifier ("seq_relationship").
class BertPreTrainingHeads : public nn::Module {
 public:
  BertPreTrainingHeads(const BertConfig& config, const Tensor& word_embeddings_weight);
  std::shared_ptr<BertLMPredictionHead> predictions;
  std::shared_ptr<nn::Linear> seq_relationship;  // null without next_sentence
};

struct BertOutput {
  Tensor hidden;      // [B, T, D] the encoder's last layer
  Tensor mlm_logits;  // [B, T, V]
  Tensor pooled;      // [B, D]  (next_sentence only)
  Tensor nsp_logits;  // [B, 2]  (next_sentence only; class 0 = "B follows A", 1 = "B is random")
};

class BertEncoder : public nn::Module {
 public:
  explicit BertEncoder(const BertConfig& config);

  // input_ids int64 [B, T] (1 <= T <= max_position_embeddings), token_type_ids int64 [B, T] in
  // [0, type_vocab_size) or undefined (all 0), attention_mask [B, T] (1 real / 0 padding) or
  // undefined (all real).
  BertOutput forward(const Tensor& input_ids, const Tensor& token_type_ids = Tensor(),
                     const Tensor& attention_mask = Tensor());
  BertOutput operator()(const Tensor& input_ids, const Tensor& token_type_ids = Tensor(),
                        const Tensor& attention_mask = Tensor()) {
    return forward(input_ids, token_type_ids, attention_mask);
  }
  // The parts of forward, for callers that need only some of it (pre-training computes the MLM
  // logits only at the masked positions: encode, pick rows, mlm_logits).
  // encode: input_ids as forward, or inputs_embeds [B, T, D] when input_ids is undefined.
  Tensor encode(const Tensor& input_ids, const Tensor& token_type_ids = Tensor(),
                const Tensor& attention_mask = Tensor(), const Tensor& inputs_embeds = Tensor());
  Tensor mlm_logits(const Tensor& hidden);  // [..., D] -> [..., V]
  Tensor nsp_logits(const Tensor& hidden);  // [B, T, D] -> [B, 2]; throws without next_sentence

  // The initialisation described at the top of the file (from `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  std::shared_ptr<nn::TransformerEncoder> encoder;
  std::shared_ptr<BertPooler> pooler;  // null without next_sentence
  std::shared_ptr<BertPreTrainingHeads> cls;
};

}  // namespace attn::models
