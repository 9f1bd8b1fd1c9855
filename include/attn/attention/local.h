// Sliding-window (banded, local) attention: scaled dot-product attention where query i only sees
// the keys of a band around its own position, computed in O(T * W * E) time and memory (W = band
// width) instead of the O(T * S) of scaled_dot_product_attention with a dense mask
// (docs/attention/local.md). As in Longformer (Beltagy et al. 2020) and Mistral 7B (Jiang et al.
// 2023); the window convention (window_left, window_right, -1 = unbounded) is FlashAttention's.
//
//   key j visible to query i  iff  c - window_left <= j <= c + window_right,   c = i + off
//   off = 0 (CausalAlign::TopLeft) or S - T (CausalAlign::BottomRight, decoding T new queries after
//   S - T cached keys), and j is not masked by valid_lens / key_padding_mask.
//   output_i = sum_{visible j} softmax_j(scale * q_i . k_j) * v_j       scale = 1/sqrt(E) by default
//
// window_left = -1, window_right = 0 is causal attention; (-1, -1) is full attention; (w, 0) is
// Mistral's causal sliding window of w + 1 keys; (w, w) is Longformer's symmetric local window.
// The result equals scaled_dot_product_attention(q, k, v, sliding_window_mask(T, S, wl, wr, align))
// (with the key masks and'ed in), which is what the tests check.
//
// Shapes: q [..., Hq, T, E], k [..., Hk, S, E], v [..., Hk, S, Ev] -> output [..., Hq, T, Ev]. The
// leading dims of q, k, v must be equal (no broadcasting), except that with enable_gqa Hq may be a
// multiple of Hk (query head h reads kv head h / (Hq / Hk), as sdpa.h). 2-D inputs have no batch.
//
// As scaled_dot_product_attention: a query that sees no key gets zero weights, a zero output and
// zero (finite) gradients, never NaN; dropout_p > 0 drops weights (always: pass 0 in evaluation)
// with the same Philox mask as sdpa's dropout on the dense [..., Hq, T, S] weights for the same
// generator state, regenerated in backward rather than stored.
#pragma once
#include <cstdint>
#include <optional>

#include "attn/attention/align.h"
#include "attn/attention/sdpa.h"
#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn {

struct SlidingWindowOptions {
  std::optional<double> scale;            // default 1/sqrt(E)
  Tensor valid_lens;                      // [B] key lengths (int64 or floating): key j kept iff j < len
  Tensor key_padding_mask;                // bool [B, S], True = key MASKED OUT (nn.MultiheadAttention polarity)
  CausalAlign align = CausalAlign::TopLeft;  // where the band's centre line sits when T != S
  double dropout_p = 0.0;                 // dropout on the weights, in [0, 1]
  Generator* generator = nullptr;         // nullptr = default_generator()
  bool need_weights = false;              // also return the dense [..., Hq, T, S] weights (0 outside the band)
  bool enable_gqa = false;                // allow Hq = g * Hk (grouped-query attention)
};

// output [..., Hq, T, Ev] (differentiable in q, k, v); weights, when need_weights, are the weights
// applied to v (after dropout) as a dense tensor, differentiable too (they cost O(T * S)).
// Computed by the fused attention kernel (flash.h) with the window.
// B for valid_lens / key_padding_mask is q.size(0), and q needs >= 3 dims to use them.
AttentionResult sliding_window_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t window_left,
                                         int64_t window_right, const SlidingWindowOptions& options = {});

// The dense mask form: bool [T, S], True where query i may see key j (TrueKeeps polarity, as
// causal_mask); sliding_window_mask(T, S, -1, 0, a) == causal_mask(T, S, a).
Tensor sliding_window_mask(int64_t T, int64_t S, int64_t window_left, int64_t window_right,
                           CausalAlign align = CausalAlign::TopLeft);

}  // namespace attn
