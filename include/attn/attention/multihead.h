// Multi-head attention (Vaswani et al. 2017, §3.2.2) as torch.nn.MultiheadAttention (PyTorch
// 1.13 / 2.x semantics, same constructor, forward arguments, state_dict names and init):
//
//   MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W_O + b_O
//   head_h = softmax((Q W_Q^h + b_Q^h)(K W_K^h + b_K^h)^T / sqrt(D) + mask) (V W_V^h + b_V^h)
//   D = embed_dim / num_heads (head_dim)
//
// Shapes (batch_first = false, PyTorch's default): query [T, B, E], key [S, B, kdim],
// value [S, B, vdim] -> output [T, B, E]; batch_first = true swaps the first two dims; unbatched
// [T, E] / [S, kdim] / [S, vdim] -> [T, E]. weights: [B, T, S] averaged over heads, or
// [B, H, T, S] per head (unbatched: no B), S counting the bias_k / zero-attention keys.
//
//   !!! MASK POLARITY (PyTorch MHA's, the opposite of scaled_dot_product_attention's): a bool
//   !!! attn_mask or key_padding_mask means True = NOT allowed to attend. Float masks are added
//   !!! to the scores (-inf masks). key_padding_mask [B, S] (unbatched: [S]); attn_mask [T, S] or
//   !!! [B * H, T, S] (batch-major: index b * H + h, as PyTorch).
//
// Deliberate difference from PyTorch: a query whose keys are all masked gets zero weights and a
// zero output before out_proj (so its output row is out_proj.bias), with zero, finite gradients;
// PyTorch gives NaN. Dropout draws from attn's generator, so its masks differ from PyTorch's.
// is_causal: in PyTorch a hint that attn_mask IS the causal mask (and an error without one); here
// too attn_mask is used as given when present, and when absent the top-left causal mask is applied
// (an extension: every call PyTorch accepts gives the same result).
//
// attn extensions (docs/attention/multihead.md):
//   num_kv_heads (grouped-query / multi-query attention, Ainslie et al. 2023; Shazeer 2019): when
//     0 < num_kv_heads < num_heads, key and value are projected to num_kv_heads * head_dim
//     features and each group of num_heads / num_kv_heads query heads shares one kv head
//     (query head h reads kv head h / (num_heads / num_kv_heads)). The projections are then always
//     separate: q_proj_weight [E, E], k_proj_weight [Hkv*D, kdim], v_proj_weight [Hkv*D, vdim],
//     in_proj_bias [E + 2*Hkv*D] (q, k, v parts in that order), bias_k / bias_v [1, 1, Hkv*D].
//   forward_incremental + KVCache: autoregressive decoding of self-attention, one step (or chunk)
//     at a time, keeping the projected keys and values of past steps.
//   rotary (RoPE, Su et al. 2021; attention/positional.h apply_rotary): when set, the projected
//     queries and keys (per head, before the scores) are rotated by their positions: 0..T-1 and
//     0..S-1 in forward, and offset by the cache length in forward_incremental, so decoding step by
//     step still gives the rows of forward. Needs an even head_dim. Off by default (PyTorch's MHA).
//   project_kv + forward_kv: cross-attention against a fixed memory (encoder-decoder decoding):
//     the keys and values of the memory are projected once and reused for every decoder step.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "attn/attention/sdpa.h"
#include "attn/core/random.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"

namespace attn::nn {

// The projected keys and values of one attention layer's past steps, [B, Hkv, S_so_far, D] (head
// dims as the SDPA core sees them; bias_k / zero-attention keys are NOT stored, they are appended
// at every step). Default-constructed = empty; forward_incremental fills it.
struct KVCache {
  Tensor k, v;
  int64_t length() const { return k.defined() ? k.size(2) : 0; }
  void clear() { k = Tensor(); v = Tensor(); }
};

class MultiheadAttention : public Module {
 public:
  // kdim / vdim: -1 = embed_dim. num_kv_heads: -1 = num_heads (the attn GQA extension above).
  // dtype: of every parameter (PyTorch's factory kwargs).
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool add_bias_kv = false, bool add_zero_attn = false, int64_t kdim = -1, int64_t vdim = -1,
                     bool batch_first = false, int64_t num_kv_heads = -1, DType dtype = kFloat32);

  // {output, weights}; weights undefined when need_weights is false. key_padding_mask and
  // attn_mask may be undefined (no mask), bool (True = masked out) or floating (added).
  AttentionResult forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                          const Tensor& attn_mask = Tensor(), bool average_attn_weights = true,
                          bool is_causal = false);
  AttentionResult operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                             const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                             const Tensor& attn_mask = Tensor(), bool average_attn_weights = true,
                             bool is_causal = false) {
    return forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal);
  }

  // Causal self-attention over new steps x ([B, T_new, E] with batch_first, [T_new, B, E]
  // otherwise; usually T_new = 1): projects x to q, k, v, appends k, v to the cache, and attends
  // each new query to every cached key up to and including its own position (bottom-right causal
  // alignment). Feeding a sequence step by step gives the rows of forward(x, x, x, is_causal=true).
  // Needs kdim == vdim == embed_dim. weights [B, T_new, S_so_far (+ extra keys)] or per head.
  AttentionResult forward_incremental(const Tensor& x, KVCache& cache, bool need_weights = false,
                                      bool average_attn_weights = true);

  // Cross-attention with precomputed keys and values. project_kv(key, value) projects key
  // ([S, B, kdim], batch_first [B, S, kdim]) and value the same way to a KVCache [B, Hkv, S, D];
  // forward_kv(query, kv, key_padding_mask [B, S]) then equals forward(query, key, value,
  // key_padding_mask, need_weights, no attn_mask, average_attn_weights) for any number of query
  // rows, without projecting the keys again. Batched 3-D inputs only; not with rotary (the keys
  // would need positions).
  KVCache project_kv(const Tensor& key, const Tensor& value) const;
  AttentionResult forward_kv(const Tensor& query, const KVCache& kv, const Tensor& key_padding_mask = Tensor(),
                             bool need_weights = false, bool average_attn_weights = true);

  // Re-draws the parameters as PyTorch's _reset_parameters: xavier_uniform_ for the input
  // projection weights, zeros for in_proj_bias and out_proj.bias, xavier_normal_ for bias_k/bias_v;
  // out_proj.weight keeps Linear's init.
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t embed_dim, kdim, vdim, num_heads, num_kv_heads, head_dim;
  double dropout;
  bool batch_first, add_zero_attn;
  // RoPE on the projected queries and keys (see the top of the file); base of the frequencies.
  bool rotary = false;
  double rotary_base = 10000.0;
  // True when one packed in_proj_weight is used (kdim == vdim == embed_dim and no GQA).
  bool qkv_same_embed_dim;
  Tensor in_proj_weight;                              // [3E, E] when qkv_same_embed_dim
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // otherwise
  Tensor in_proj_bias;                                // [E + 2 Hkv D]; undefined when bias = false
  Tensor bias_k, bias_v;                              // [1, 1, Hkv D] when add_bias_kv
  std::shared_ptr<Linear> out_proj;

 private:
  // Batch-major inputs [B, L, features] -> q [B, H, T, D], k and v [B, Hkv, S, D].
  std::array<Tensor, 3> project(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in) const;
  // Self-attention (query, key and value the same tensor, packed in_proj_weight): one linear
  // [B, L, E] x [E, 3E] and q, k, v as strided views of its output, each [B, H, L, D].
  std::array<Tensor, 3> project_packed(const Tensor& x) const;
  // q [B, H, T, D], k/v [B, Hkv, S, D]; mask: bool keep-mask or additive float, broadcastable to
  // [B, H, T, S], or undefined. Appends bias_k/v and the zero key, runs SDPA, merges heads and
  // applies out_proj: returns output [B, T, E] and weights [B, H, T, S'] (or averaged).
  AttentionResult attend(const Tensor& q, Tensor k, Tensor v, Tensor mask, bool need_weights, bool average);
  void check_rotary() const;
};

}  // namespace attn::nn
