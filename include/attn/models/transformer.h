// The Transformer translation model (Vaswani et al. 2017, "base" recipe scaled down; fairseq's
// TransformerModel / Marian's "transformer" type): docs/models/transformer.md.
//
//   x_src = dropout(embed_src(src) * sqrt(d_model) + pos(0..S-1))       (pos: sinusoidal | learned;
//   x_tgt = dropout(embed_tgt(tgt_in) * sqrt(d_model) + pos(0..T-1))     none with rope: RoPE inside
//   memory = encoder(x_src, src_key_padding_mask = positions >= src_lens)       the self-attention)
//   h = decoder(x_tgt, memory, causal tgt mask, memory key padding mask = the source's)
//   logits = out(h)          out: Linear(d_model, tgt_vocab), weight tied to embed_tgt with tie_output
// Encoder and decoder are nn::TransformerEncoder / nn::TransformerDecoder (attention/transformer.h)
// with final LayerNorms, batch_first. With share_embeddings the source and target use one
// embedding (a joint vocabulary: src_vocab == tgt_vocab, e.g. a joint SentencePiece model).
// Embeddings (and learned positions) are drawn N(0, d_model^-1/2) (fairseq), the pad row zero;
// other matrices xavier_uniform_, out.bias zero. The target side needs no key padding mask: the
// causal mask already hides trailing padding from every real position (padded positions give
// outputs that the loss ignores), so a padded target gives the same logits at its real positions.
//
// state_dict: src_embed.weight, tgt_embed.weight (absent with share_embeddings: src_embed only),
// pos_embed.weight (learned positions only), transformer.encoder.*, transformer.decoder.* (the
// names of nn.Transformer's encoder / decoder), out.weight (absent when tied), out.bias.
//
// Decoding: start_decoding encodes the source once and returns an IncrementalDecoder whose step()
// runs TransformerDecoder::forward_step with a per-layer KV cache (self-attention keys / values of
// the steps so far; cross-attention keys / values of the memory computed once); reorder()
// index_selects the caches. Equal to recomputing the whole prefix each step (tested).
// The attention returned with each step and by last_attention() is the cross-attention of layer
// `attention_layer` (-1: the last) averaged over heads, or head `attention_head` (>= 0).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "attn/attention/positional.h"
#include "attn/attention/transformer.h"
#include "attn/core/tensor.h"
#include "attn/models/translation_model.h"
#include "attn/nn/dropout.h"
#include "attn/nn/embedding.h"
#include "attn/nn/linear.h"

namespace attn::models {

struct TransformerConfig {
  int64_t src_vocab = 0, tgt_vocab = 0;
  int64_t d_model = 256, nhead = 4;
  int64_t num_encoder_layers = 3, num_decoder_layers = 3;
  int64_t dim_feedforward = 1024;
  double dropout = 0.1;
  std::string activation = "relu";     // relu | gelu
  double layer_norm_eps = 1e-5;
  bool norm_first = false;             // pre-LN
  std::string positions = "sinusoidal";  // sinusoidal | learned | rope
  int64_t max_positions = 256;         // learned positions: table size (longer inputs are an error)
  bool share_embeddings = false;       // one embedding for both sides (needs src_vocab == tgt_vocab)
  bool tie_output = true;              // out.weight = target embedding
  int64_t num_kv_heads = -1;           // GQA (-1: nhead)
  int64_t moe_experts = 0;             // > 0: Mixture-of-Experts feed-forward in every layer
  int64_t moe_top_k = 2;
  double moe_aux_weight = 0.01;        // aux_loss() = weight * sum of the layers' balancing losses
  int64_t pad = 0, bos = 1, eos = 2;
  DType dtype = kFloat32;
};

// nn::TransformerLayerConfig of this model's layers (batch_first).
nn::TransformerLayerConfig layer_config(const TransformerConfig& config);

class TransformerModel : public TranslationModel {
 public:
  explicit TransformerModel(const TransformerConfig& config);

  Tensor forward(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in, double teacher_forcing_ratio = 1.0,
                 Generator* gen = nullptr) override;
  Tensor last_attention() const override { return last_attention_; }
  Tensor aux_loss() const override { return aux_loss_; }
  std::unique_ptr<IncrementalDecoder> start_decoding(const Tensor& src, const Tensor& src_lens) override;
  std::string model_type() const override { return "transformer"; }

  // memory [B, S, d_model] of a source batch.
  Tensor encode(const Tensor& src, const Tensor& src_lens);
  // Teacher-forced cross-attention of every layer and head: [L, B, H, T, S] (detached), for the
  // grid of heads `attn heatmap` draws. Self-attention likewise: [L, B, H, T, T] (decoder) and
  // [L, B, H, S, S] (encoder).
  Tensor cross_attention_weights(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in);
  Tensor decoder_self_attention_weights(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in);
  Tensor encoder_self_attention_weights(const Tensor& src, const Tensor& src_lens);

  // The pieces of forward, for incremental decoders and tests:
  // key padding mask [B, S] bool (true at positions >= src_lens[b]); checks src and src_lens.
  Tensor source_padding_mask(const Tensor& src, const Tensor& src_lens) const;
  // dropout(embed(tokens) * sqrt(d_model) + pos(offset .. offset + T - 1)) for tokens [B, T] int64
  // of the source (target = false) or target side. Learned positions past max_positions throw.
  Tensor embed(const Tensor& tokens, bool target, int64_t offset = 0);
  // The cross-attention of layer `attention_layer` / head `attention_head` from per-head weights
  // [B, H, T, S] -> [B, T, S], detached.
  Tensor select_attention(const Tensor& per_head) const;
  // attention_layer resolved to [0, num_decoder_layers) (throws when out of range).
  int64_t attention_layer_index() const;

  TransformerConfig config;
  int64_t attention_layer = -1;  // which decoder layer's cross-attention last_attention() / step() return
  int64_t attention_head = -1;   // -1: mean over heads
  std::shared_ptr<nn::Embedding> src_embed, tgt_embed;  // tgt_embed == src_embed with share_embeddings
  std::shared_ptr<nn::LearnedPositionalEmbedding> pos_embed;  // learned positions only
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::TransformerEncoder> encoder;  // registered under "transformer.encoder"
  std::shared_ptr<nn::TransformerDecoder> decoder;  // registered under "transformer.decoder"
  std::shared_ptr<nn::Linear> out;

 private:
  Tensor encode_masked(const Tensor& src, const Tensor& mask);
  // Runs the decoder teacher-forced on tgt_in and stacks every layer's cross-attention (cross) or
  // self-attention weights: [L, B, H, T, S] or [L, B, H, T, T], detached.
  Tensor teacher_forced_weights(const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in, bool cross);
  // Sinusoidal rows offset .. offset + T - 1 [T, d_model] in `dtype` (the table grows on demand).
  Tensor sinusoidal_rows(int64_t T, int64_t offset, DType dtype);

  Tensor last_attention_, aux_loss_;
  Tensor pe_;  // float64 sinusoidal table [n, d_model], n >= max_positions
};

}  // namespace attn::models
