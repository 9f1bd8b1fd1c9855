// Self-attention and cross-attention (Vaswani et al. 2017, §3.2.3): the two ways a Transformer
// uses multi-head attention, docs/attention/self_cross.md.
//
//   self-attention   queries, keys and values all come from one sequence x:  MHA(x, x, x)
//   cross-attention  queries from x, keys = values from another sequence (the encoder's
//                    output, "memory"):                                        MHA(x, m, m)
//
// nn::SelfAttention and nn::CrossAttention are MultiheadAttention with a shorter forward, nothing
// else: same parameters, same state_dict names as torch.nn.MultiheadAttention (in_proj_weight,
// in_proj_bias, out_proj.weight, out_proj.bias; q/k/v_proj_weight when the memory's width
// differs), same init, forward_incremental for decoding. UNLIKE MultiheadAttention, batch_first
// defaults to TRUE here: x [B, T, E], memory [B, S, Dm] -> output [B, T, E]; pass
// batch_first = false for PyTorch's [T, B, E]. Unbatched [T, E] / [S, Dm] inputs work as in MHA.
// Masks use MultiheadAttention's polarity: bool True = masked out, float = added to the scores.
//
// The functional forms have no projections and no heads of their own: self_attention(x) =
// scaled_dot_product_attention(x, x, x), cross_attention(x, m) = scaled_dot_product_attention(x,
// m, m); their attn_mask has SDPA's polarity (bool True = takes part), see sdpa.h.
#pragma once
#include <cstdint>
#include <optional>

#include "attn/attention/multihead.h"
#include "attn/attention/sdpa.h"
#include "attn/core/tensor.h"

namespace attn {

// x [..., T, E] -> output [..., T, E] (weights [..., T, T] when need_weights).
AttentionResult self_attention(const Tensor& x, const Tensor& attn_mask = Tensor(), bool is_causal = false,
                               std::optional<double> scale = std::nullopt, bool need_weights = false);
// x [..., T, E], memory [..., S, E] -> output [..., T, E] (weights [..., T, S] when need_weights).
AttentionResult cross_attention(const Tensor& x, const Tensor& memory, const Tensor& attn_mask = Tensor(),
                                std::optional<double> scale = std::nullopt, bool need_weights = false);

}  // namespace attn

namespace attn::nn {

class SelfAttention : public MultiheadAttention {
 public:
  // batch_first defaults to true (see above).
  SelfAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true, bool batch_first = true,
                DType dtype = kFloat32);
  // = MultiheadAttention::forward(x, x, x, key_padding_mask, need_weights, attn_mask, true, is_causal).
  // key_padding_mask [B, T]; attn_mask [T, T] or [B * H, T, T]; is_causal without attn_mask applies
  // the causal mask (position i sees j <= i). weights [B, T, T] averaged over heads.
  AttentionResult forward(const Tensor& x, const Tensor& key_padding_mask = Tensor(), const Tensor& attn_mask = Tensor(),
                          bool is_causal = false, bool need_weights = false);
  AttentionResult operator()(const Tensor& x, const Tensor& key_padding_mask = Tensor(),
                             const Tensor& attn_mask = Tensor(), bool is_causal = false, bool need_weights = false) {
    return forward(x, key_padding_mask, attn_mask, is_causal, need_weights);
  }
};

class CrossAttention : public MultiheadAttention {
 public:
  // memory_dim: the width of memory (kdim = vdim); -1 = embed_dim. batch_first defaults to true.
  CrossAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                 int64_t memory_dim = -1, bool batch_first = true, DType dtype = kFloat32);
  // = MultiheadAttention::forward(x, memory, memory, memory_key_padding_mask, need_weights).
  // memory_key_padding_mask [B, S]; weights [B, T, S] averaged over heads.
  AttentionResult forward(const Tensor& x, const Tensor& memory, const Tensor& memory_key_padding_mask = Tensor(),
                          bool need_weights = false);
  AttentionResult operator()(const Tensor& x, const Tensor& memory, const Tensor& memory_key_padding_mask = Tensor(),
                             bool need_weights = false) {
    return forward(x, memory, memory_key_padding_mask, need_weights);
  }
};

}  // namespace attn::nn
