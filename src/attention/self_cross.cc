// Self- and cross-attention (include/attn/attention/self_cross.h): MultiheadAttention with the
// keys and values tied to one argument, and the projection-free SDPA forms.
#include "attn/attention/self_cross.h"

namespace attn {

AttentionResult self_attention(const Tensor& x, const Tensor& attn_mask, bool is_causal, std::optional<double> scale,
                               bool need_weights) {
  return scaled_dot_product_attention(x, x, x, attn_mask, 0.0, is_causal, scale, false, need_weights);
}

AttentionResult cross_attention(const Tensor& x, const Tensor& memory, const Tensor& attn_mask,
                                std::optional<double> scale, bool need_weights) {
  return scaled_dot_product_attention(x, memory, memory, attn_mask, 0.0, false, scale, false, need_weights);
}

}  // namespace attn

namespace attn::nn {

SelfAttention::SelfAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias, bool batch_first,
                             DType dtype)
    : MultiheadAttention(embed_dim, num_heads, dropout, bias, false, false, -1, -1, batch_first, -1, dtype) {}

AttentionResult SelfAttention::forward(const Tensor& x, const Tensor& key_padding_mask, const Tensor& attn_mask,
                                       bool is_causal, bool need_weights) {
  return MultiheadAttention::forward(x, x, x, key_padding_mask, need_weights, attn_mask, true, is_causal);
}

CrossAttention::CrossAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias, int64_t memory_dim,
                               bool batch_first, DType dtype)
    : MultiheadAttention(embed_dim, num_heads, dropout, bias, false, false, memory_dim, memory_dim, batch_first, -1,
                         dtype) {}

AttentionResult CrossAttention::forward(const Tensor& x, const Tensor& memory, const Tensor& memory_key_padding_mask,
                                        bool need_weights) {
  return MultiheadAttention::forward(x, memory, memory, memory_key_padding_mask, need_weights);
}

}  // namespace attn::nn
