// Attention alignment: the "align" step of score -> align -> fuse (docs/attention/masking.md).
// Scores [..., T, S] become weights [..., T, S] that sum to 1 over the keys a query may see:
//
//   masked_softmax(s)[..., i, j] = exp(s'_ij / tau) / sum_{j' kept} exp(s'_ij' / tau)   for kept j
//                                = 0                                                   for masked j
//   s' = s + additive_mask, with masked keys at -inf; tau = temperature.
//
// Which keys are masked, from any combination of:
//   valid_lens   [B] or [B, T] counts: key j is kept iff j < len (d2l.ai's masked_softmax)
//   mask         bool, broadcastable to the scores, with an explicit polarity (see MaskPolarity)
//   additive_mask float, broadcastable to the scores, added (-inf masks; ALiBi-style biases)
//
// A query row whose keys are ALL masked gets zero weights and zero gradient — never NaN, and not
// the uniform 1/S that d2l's masked_softmax gives (d2l fills masked scores with -1e6, so an empty
// row is softmax of a constant). Zero is what attention means here: such a query (a padded
// position, or row i < S - T of a bottom-right causal mask with T > S) attends to nothing and its
// context vector is 0. A row is "fully masked" when its max after masking is -inf; a finite large
// negative additive value (-1e9) is an ordinary score, as in PyTorch. NaN scores stay NaN.
//
// How NaN is avoided in both passes (not where(dead, 0, softmax(-inf row)), whose backward still
// multiplies 0 by the NaN of the dead branch): dead rows are refilled with 0 before the softmax,
// so every softmax input row has a finite max, and the result is zeroed with masked_fill, whose
// gradient is 0 there. Masked entries of live rows are exactly 0 (exp(-inf)) with zero gradient.
#pragma once
#include <cstdint>
#include <optional>

#include "attn/core/tensor.h"

namespace attn {

// What True means in a bool mask. PyTorch itself is inconsistent, so it is never implied:
//   TrueKeeps  True = the key takes part: F.scaled_dot_product_attention's bool attn_mask,
//              causal_mask() below, d2l's sequence_mask
//   TrueMasks  True = the key is masked out: nn.MultiheadAttention / nn.Transformer's bool
//              attn_mask and key_padding_mask, Tensor.masked_fill
enum class MaskPolarity { TrueKeeps, TrueMasks };

// Where the causal diagonal sits when T != S (they agree when T == S):
//   TopLeft      key j visible to query i iff j <= i            (PyTorch is_causal, torch.tril)
//   BottomRight  key j visible to query i iff j <= i + S - T    (FlashAttention >= 2.1,
//                torch.nn.attention.bias.causal_lower_right): the last query sees every key, as
//                in decoding T new tokens after S - T cached ones. With T > S the first T - S
//                rows see nothing (fully masked -> zero weights).
enum class CausalAlign { TopLeft, BottomRight };

struct MaskedSoftmaxOptions {
  Tensor valid_lens;                      // int64 or floating [B] or [B, T]; undefined = none
  Tensor mask;                            // bool, broadcastable to scores; undefined = none
  std::optional<MaskPolarity> polarity;   // required when mask is given
  Tensor additive_mask;                   // floating, broadcastable to scores; undefined = none
  double temperature = 1.0;               // > 0; divides the masked scores: softmax(s' / tau)
};

// The general form: every option may be combined (a key is kept when every mask keeps it).
// scores [..., T, S] floating; valid_lens [B] needs scores [B, ..., S], valid_lens [B, T] needs
// scores [B, ..., T, S] (the middle dims, e.g. heads, share the lengths).
Tensor masked_softmax(const Tensor& scores, const MaskedSoftmaxOptions& options);

// d2l.ai form: masked_softmax(X, valid_lens), with zero (not uniform) rows when a length is 0.
Tensor masked_softmax(const Tensor& scores, const Tensor& valid_lens, double temperature = 1.0);

// A bool mask with its polarity spelled out at the call site.
Tensor masked_softmax(const Tensor& scores, const Tensor& mask, MaskPolarity polarity, double temperature = 1.0);

// bool [T, S], True where query i may see key j (TrueKeeps polarity; pass ~causal_mask(...) or
// MaskPolarity::TrueMasks semantics to code that wants True = masked).
Tensor causal_mask(int64_t T, int64_t S, CausalAlign align = CausalAlign::TopLeft);

// bool, True where key j < len: valid_lens [B] -> [B, 1, ..., 1, S]; [B, T] -> [B, 1, ..., T, S],
// with `ndim` dims in all (the rank of the scores it will mask). TrueKeeps polarity.
Tensor valid_lens_mask(const Tensor& valid_lens, int64_t S, int64_t ndim);

}  // namespace attn
