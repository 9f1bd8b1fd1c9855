// The Transformer (Vaswani et al. 2017) as torch.nn.Transformer and its layers: same constructor
// options, forward arguments, mask conventions, state_dict names and outputs (docs/attention/transformer.md).
//
// Encoder layer (norm_first = false, "post-LN", the paper and PyTorch's default):
//   x = norm1(x + dropout1(self_attn(x, x, x)))
//   x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))
// norm_first = true ("pre-LN"): x = x + dropout1(self_attn(norm1(x))); x = x + dropout2(ff(norm2(x))).
// Decoder layer: the same with a cross-attention block between the two (norm2 / dropout2 on the
// cross-attention, norm3 / dropout3 on the feed-forward):
//   x = norm1(x + dropout1(self_attn(x, x, x, tgt_mask)))
//   x = norm2(x + dropout2(multihead_attn(x, memory, memory, memory_mask)))
//   x = norm3(x + dropout3(ff(x)))
// Shapes: batch_first = false (PyTorch's default): src [S, B, E], tgt [T, B, E], memory [S, B, E];
// batch_first = true: [B, S, E], [B, T, E], [B, S, E]. Unbatched [S, E] works as in PyTorch.
//
// Masks (PyTorch's nn.Transformer polarity, the one of nn.MultiheadAttention, attention/multihead.h):
// src_mask / tgt_mask / memory_mask [T, S] or [B * nhead, T, S], bool (True = NOT allowed) or
// float (added to the scores, -inf = not allowed); *_key_padding_mask [B, S] bool (True = padding)
// or float. generate_square_subsequent_mask(T) is the causal float mask (0 on and below the
// diagonal, -inf above), as nn.Transformer.generate_square_subsequent_mask.
//
// state_dict names (those of PyTorch):
//   encoder.layers.<i>.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias}
//   encoder.layers.<i>.{linear1,linear2,norm1,norm2}.{weight,bias}, encoder.norm.{weight,bias}
//   decoder.layers.<i>.{self_attn,multihead_attn}.*, decoder.layers.<i>.{linear1,linear2,norm1,norm2,norm3}.*,
//   decoder.norm.{weight,bias}
// so a torch.nn.Transformer state_dict loads into attn (io/state_dict.h) and gives the same outputs
// and gradients (dropout off).
//
// attn extensions (TransformerLayerConfig; all off by default, so the defaults are PyTorch's model):
//   num_kv_heads  grouped-query attention in every attention block (MultiheadAttention's GQA,
//                 separate q/k/v projection weights then, see attention/multihead.h)
//   rotary        RoPE (attention/positional.h apply_rotary) on the queries and keys of the
//                 self-attention blocks, positions 0..T-1 (offset by the cache length when decoding
//                 incrementally); cross-attention is never rotated
//   moe_experts   > 0: the feed-forward block is a MixtureOfExperts(d_model, moe_experts, moe_top_k,
//                 dim_feedforward, activation) registered as "moe" instead of linear1/linear2; its
//                 load-balancing loss of the last forward is aux_loss() (unweighted, summed over
//                 the layers by the stacks)
// Attention weights for heatmaps: with keep_attention = true a layer keeps the per-head weights of
// its last forward (last_self_attention() [B, H, T, S], last_cross_attention() [B, H, T, S]);
// otherwise the fused kernel runs without them.
//
// Incremental decoding (the KV cache): TransformerDecoderLayer::forward_step takes the new target
// positions only ([B, T_new, E] / [T_new, B, E]), appends their keys and values to the layer's
// self-attention cache, and computes the cross-attention keys and values of `memory` once (first
// call) and reuses them (`memory` is read on that first call only and may be undefined after it).
// Feeding a target one position at a time gives the rows of forward() with the causal tgt_mask
// (tested, also with GQA, rotary and MoE). Wrap decoding in NoGradGuard unless gradients are needed.
//
// Deliberate differences from PyTorch: fully masked query rows give zeros instead of NaN (see
// attention/multihead.h); activation is a string; the stacks draw each layer independently (PyTorch
// deep-copies one layer; nn.Transformer then re-draws everything anyway, as attn's Transformer does).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attn/attention/moe.h"
#include "attn/attention/multihead.h"
#include "attn/core/tensor.h"
#include "attn/nn/container.h"
#include "attn/nn/dropout.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"
#include "attn/nn/normalization.h"

namespace attn::nn {

struct TransformerLayerConfig {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // relu | gelu (exact)
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
  // attn extensions (see above)
  int64_t num_kv_heads = -1;  // -1: nhead
  bool rotary = false;
  double rotary_base = 10000.0;
  int64_t moe_experts = 0;
  int64_t moe_top_k = 2;
  DType dtype = kFloat32;
};

// The causal float mask [sz, sz]: 0 on and below the diagonal, -inf above.
Tensor generate_square_subsequent_mask(int64_t sz, DType dtype = kFloat32);

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerConfig& config);
  // PyTorch's positional constructor.
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                          bool batch_first = false, bool norm_first = false);
  Tensor forward(const Tensor& src, const Tensor& src_mask = Tensor(), const Tensor& src_key_padding_mask = Tensor(),
                 bool is_causal = false);
  Tensor operator()(const Tensor& src, const Tensor& src_mask = Tensor(), const Tensor& src_key_padding_mask = Tensor(),
                    bool is_causal = false) {
    return forward(src, src_mask, src_key_padding_mask, is_causal);
  }
  Tensor aux_loss() const { return aux_loss_; }  // MoE only: 0-d, of the last forward; else undefined
  const Tensor& last_self_attention() const { return self_weights_; }
  std::string extra_repr() const override;

  TransformerLayerConfig config;
  bool keep_attention = false;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;  // null with MoE
  std::shared_ptr<MixtureOfExperts> moe;     // null without MoE
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;

 private:
  Tensor aux_loss_, self_weights_;
};

// The per-layer state of incremental decoding.
struct TransformerDecoderLayerCache {
  KVCache self_attn;   // keys / values of the target positions so far
  KVCache cross_attn;  // projected memory keys / values, computed on the first step
  // Keeps batch rows `indices` [N'] int64 of both caches (beam search).
  void reorder(const Tensor& indices);
};

class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerLayerConfig& config);
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048, double dropout = 0.1,
                          const std::string& activation = "relu", double layer_norm_eps = 1e-5,
                          bool batch_first = false, bool norm_first = false);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                    const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                    const Tensor& memory_key_padding_mask = Tensor(), bool tgt_is_causal = false,
                    bool memory_is_causal = false) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal,
                   memory_is_causal);
  }
  // New target positions only (see the top of the file); causal over the cache + the new positions.
  // With keep_attention the weights are [B, H, T_new, T_so_far] and [B, H, T_new, S].
  Tensor forward_step(const Tensor& tgt_new, const Tensor& memory, TransformerDecoderLayerCache& cache,
                      const Tensor& memory_key_padding_mask = Tensor());
  Tensor aux_loss() const { return aux_loss_; }
  const Tensor& last_self_attention() const { return self_weights_; }
  const Tensor& last_cross_attention() const { return cross_weights_; }
  std::string extra_repr() const override;

  TransformerLayerConfig config;
  bool keep_attention = false;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<MixtureOfExperts> moe;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;

 private:
  Tensor aux_loss_, self_weights_, cross_weights_;
};

// num_layers independently initialised layers ("layers.<i>") and an optional final LayerNorm
// ("norm"; PyTorch's norm argument: nn.Transformer always passes one).
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const TransformerLayerConfig& layer, int64_t num_layers, bool final_norm = false);
  Tensor forward(const Tensor& src, const Tensor& mask = Tensor(), const Tensor& src_key_padding_mask = Tensor(),
                 bool is_causal = false);
  Tensor operator()(const Tensor& src, const Tensor& mask = Tensor(), const Tensor& src_key_padding_mask = Tensor(),
                    bool is_causal = false) {
    return forward(src, mask, src_key_padding_mask, is_causal);
  }
  Tensor aux_loss() const;  // sum over layers (MoE), undefined without MoE
  std::shared_ptr<TransformerEncoderLayer> layer(int64_t i) const;
  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null without final_norm
};

class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const TransformerLayerConfig& layer, int64_t num_layers, bool final_norm = false);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                    const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                    const Tensor& memory_key_padding_mask = Tensor(), bool tgt_is_causal = false,
                    bool memory_is_causal = false) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal,
                   memory_is_causal);
  }
  // cache.size() must be num_layers (start with std::vector<TransformerDecoderLayerCache>(num_layers)).
  Tensor forward_step(const Tensor& tgt_new, const Tensor& memory, std::vector<TransformerDecoderLayerCache>& cache,
                      const Tensor& memory_key_padding_mask = Tensor());
  Tensor aux_loss() const;
  std::shared_ptr<TransformerDecoderLayer> layer(int64_t i) const;
  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;
};

// torch.nn.Transformer: encoder (with final norm) + decoder (with final norm); parameters with
// more than one dimension re-drawn xavier_uniform_ as PyTorch's _reset_parameters.
class Transformer : public Module {
 public:
  explicit Transformer(const TransformerLayerConfig& layer, int64_t num_encoder_layers = 6,
                       int64_t num_decoder_layers = 6);
  Transformer(int64_t d_model = 512, int64_t nhead = 8, int64_t num_encoder_layers = 6, int64_t num_decoder_layers = 6,
              int64_t dim_feedforward = 2048, double dropout = 0.1, const std::string& activation = "relu",
              double layer_norm_eps = 1e-5, bool batch_first = false, bool norm_first = false);
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor(),
                 const Tensor& tgt_mask = Tensor(), const Tensor& memory_mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor());
  Tensor operator()(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor(),
                    const Tensor& tgt_mask = Tensor(), const Tensor& memory_mask = Tensor(),
                    const Tensor& src_key_padding_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                    const Tensor& memory_key_padding_mask = Tensor()) {
    return forward(src, tgt, src_mask, tgt_mask, memory_mask, src_key_padding_mask, tgt_key_padding_mask,
                   memory_key_padding_mask);
  }
  static Tensor generate_square_subsequent_mask(int64_t sz, DType dtype = kFloat32) {
    return nn::generate_square_subsequent_mask(sz, dtype);
  }
  void reset_parameters(Generator* gen = nullptr);

  TransformerLayerConfig config;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace attn::nn
