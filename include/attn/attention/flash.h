// Fused (flash-style) scaled dot-product attention on the CPU (docs/attention/flash.md), after
// Dao et al. 2022, "FlashAttention: fast and memory-efficient exact attention with IO-awareness"
// and Dao 2023, "FlashAttention-2":
//
//   output = dropout(masked_softmax(q k^T * scale + mask)) v,   scale = 1/sqrt(E) by default
//
// the same function as scaled_dot_product_attention (sdpa.h), computed block by block: key blocks
// are streamed through an online softmax (running max and sum per query row), so the [T, S]
// weights are never stored; forward keeps one log-sum-exp per query row, and backward recomputes
// the probabilities from it. Extra memory is O(T + S) per head instead of O(T * S), and the
// result agrees with the composed path to rounding.
//
// Shapes: q [..., Hq, T, E], k [..., Hk, S, E], v [..., Hk, S, Ev] -> output [..., Hq, T, Ev];
// weights [..., Hq, T, S]. The leading dims of q, k, v must be equal (no broadcasting), except
// the head dim: Hk == Hq, Hk == 1 (multi-query attention), or, with enable_gqa, Hq = g * Hk
// (query head h reads kv head h / g, as sdpa.h). 2-D inputs have no batch or head dim.
//
// Masks, all combinable (a key is visible when every one of them keeps it):
//   attn_mask    bool, True = the key TAKES PART (scaled_dot_product_attention polarity), or
//                floating of q's dtype, added to the scaled scores (-inf masks); broadcastable to
//                [..., Hq, T, S]. It gets no gradient.
//   is_causal    key j visible to query i iff j <= i + off, off = 0 (align TopLeft) or S - T
//                (BottomRight), see CausalAlign in align.h
//   window       c - window_left <= j <= c + window_right, c = i + off, -1 = unbounded side
//                (local.h's convention: (-1, 0) is causal, (w, 0) Mistral's sliding window)
//   valid_lens   [B] key lengths: key j visible iff j < len (B = q.size(0), q needs >= 3 dims)
//   key_padding_mask  bool [B, S], True = key MASKED OUT (nn.MultiheadAttention polarity, as local.h)
// A query that sees no key gets zero weights, a zero output and zero gradients, never NaN.
// Dropout (dropout_p > 0, always applied: pass 0 in evaluation) drops the same weights as
// scaled_dot_product_attention's dropout for the same generator state, and backward regenerates
// the mask instead of storing it.
//
// The output is differentiable in q, k, v. need_weights also returns the dense weights (after
// dropout), written in a second pass from the saved log-sum-exp: O(T * S) memory. They are
// differentiable in q and k (a loss may use them, as nn.MultiheadAttention's tests do); when
// gradients are recorded with dropout, the probabilities before dropout are kept as well.
//
// scaled_dot_product_attention dispatches here itself (see SdpaBackend below); call
// flash_attention directly for the options sdpa lacks (windows, key lengths, causal bottom-right).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "attn/attention/align.h"
#include "attn/attention/sdpa.h"
#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn {

struct FlashOptions {
  std::optional<double> scale;                 // default 1/sqrt(E)
  Tensor attn_mask;                            // bool (True = takes part) or additive; undefined = none
  bool is_causal = false;                      // causal mask, diagonal placed by `align`
  CausalAlign align = CausalAlign::TopLeft;    // causal diagonal and window centre line when T != S
  int64_t window_left = -1, window_right = -1;  // sliding window; -1 = unbounded
  Tensor valid_lens;                           // [B] key lengths (int64 or floating)
  Tensor key_padding_mask;                     // bool [B, S], True = key masked out
  double dropout_p = 0.0;                      // dropout on the weights, in [0, 1]
  Generator* generator = nullptr;              // nullptr = default_generator()
  bool enable_gqa = false;                     // allow Hq = g * Hk
  bool need_weights = false;                   // also return the dense weights (O(T * S))
};

AttentionResult flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& options = {});

// True when flash_attention accepts these inputs (float32 / float64, shapes and masks as above);
// otherwise false, with the reason in *why when given. Never throws.
bool flash_attention_supported(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& options,
                               std::string* why = nullptr);

// Which implementation scaled_dot_product_attention runs:
//   Auto      the fused kernel whenever it supports the inputs (float32 / float64, equal leading
//             dims up to MQA / GQA heads, masks bool or of the input dtype, no gradient asked of
//             an additive mask); otherwise the composed path. need_weights does not change the
//             path, so the output is the same with and without it.
//   Composed  always score -> masked_softmax -> weighted sum (the reference)
//   Fused     always the fused kernel; inputs it cannot take throw attn::Error saying why
// The initial value comes from the environment variable ATTN_SDPA_BACKEND (auto, composed or
// fused; default auto). nn.MultiheadAttention and the Transformer layers go through sdpa.
enum class SdpaBackend { Auto, Composed, Fused };
void set_sdpa_backend(SdpaBackend backend);
SdpaBackend get_sdpa_backend();

// RAII switch: forces a backend inside a scope.
class SdpaBackendGuard {
 public:
  explicit SdpaBackendGuard(SdpaBackend backend) : prev_(get_sdpa_backend()) { set_sdpa_backend(backend); }
  ~SdpaBackendGuard() { set_sdpa_backend(prev_); }
  SdpaBackendGuard(const SdpaBackendGuard&) = delete;
  SdpaBackendGuard& operator=(const SdpaBackendGuard&) = delete;

 private:
  SdpaBackend prev_;
};

// Whether scaled_dot_product_attention should run the fused kernel for these inputs under the
// current backend (throws under SdpaBackend::Fused when the inputs are not supported).
bool sdpa_uses_fused(const Tensor& q, const Tensor& k, const Tensor& v, const FlashOptions& options);

}  // namespace attn
