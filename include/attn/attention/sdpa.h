// Scaled dot-product attention (Vaswani et al. 2017, "Attention is all you need", §3.2.1), with
// the semantics of PyTorch 2.x's torch.nn.functional.scaled_dot_product_attention:
//
//   output = dropout(masked_softmax(q k^T * scale + mask)) v,   scale = 1/sqrt(E) by default
//
// the whole score -> align -> fuse pipeline in one call (docs/attention/sdpa.md):
// scaled_dot_score (score.h), masked_softmax (align.h), then the weighted sum of the values.
//
// Shapes: q [..., Hq, T, E], k [..., Hk, S, E], v [..., Hk, S, Ev] -> output [..., Hq, T, Ev];
// weights [..., Hq, T, S]. Leading dims broadcast as in matmul; 2-D and 3-D inputs work too
// (no head dim). With enable_gqa, each group of Hq / Hk query heads shares one key/value head
// (grouped-query attention, Ainslie et al. 2023): k and v heads are repeated as
// k.repeat_interleave(Hq / Hk, dim=-3), so query head h reads kv head h / (Hq / Hk).
//
//   !!! MASK POLARITY: a bool attn_mask here means True = the key TAKES PART (is attended to), as
//   !!! in F.scaled_dot_product_attention. nn.MultiheadAttention / nn.Transformer bool masks
//   !!! (attn_mask, key_padding_mask) use the OPPOSITE polarity: True = masked out. Convert with
//   !!! ~mask (logical_not) when moving a mask between the two.
//
// attn_mask: bool (True = take part) or floating (added to the scores; -inf masks), broadcastable
// to [..., Hq, T, S]. is_causal: the top-left causal mask j <= i, as PyTorch (for the bottom-right
// alignment pass causal_mask(T, S, CausalAlign::BottomRight) as attn_mask); giving both attn_mask
// and is_causal is an error, as in PyTorch.
//
// Differences from PyTorch, on purpose: a query whose keys are all masked gets zero weights and a
// zero output (PyTorch's math path gives NaN), with zero, finite gradients (see align.h). Dropout
// draws from attn's Philox generator, so its masks differ from PyTorch's.
//
// This is the composed reference path: it materialises the [..., T, S] weights. A fused kernel
// that never does must agree with it.
#pragma once
#include <optional>

#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn {

struct AttentionResult {
  Tensor output;   // [..., Hq, T, Ev]
  Tensor weights;  // [..., Hq, T, S], the weights multiplied with v (after dropout); defined only
                   // when need_weights is true
};

// dropout_p > 0 applies dropout to the weights (always: like PyTorch's functional, it does not
// know about train/eval — pass 0 in evaluation). gen == nullptr uses default_generator().
AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                             bool is_causal = false, std::optional<double> scale = std::nullopt,
                                             bool enable_gqa = false, bool need_weights = false,
                                             Generator* gen = nullptr);

}  // namespace attn
