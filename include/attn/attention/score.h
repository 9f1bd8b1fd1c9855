// Attention scores: the "score" step of score -> align -> fuse (docs/attention/scores.md). Each
// function says how well every query matches every key and returns the raw scores, to be turned
// into weights by masked_softmax (align.h) and fused with the values (sdpa.h).
//
//   dot_score(q, k)                      q k^T                           (Luong et al. 2015, "dot")
//   scaled_dot_score(q, k, scale)        q k^T * scale, scale = 1/sqrt(D) (Vaswani et al. 2017)
//   general_score(q, W, k)               q W k^T                         (Luong et al. 2015, "general")
//   additive_score(q, k, W_q, W_k, v, b) v^T tanh(W_q q + b + W_k k)     (Bahdanau et al. 2014)
//   concat_score(q, k, W, v, b)          v^T tanh(W [q; k] + b)          (Luong et al. 2015, "concat")
//   cosine_score(q, k, eps)              q^ k^T with x^ = x / max(|x|, eps)  (Graves et al. 2014, NTM)
//
// Shapes: q [..., T, Dq], k [..., S, Dk] -> scores [..., T, S]; the leading (batch) dims of q and
// k broadcast as in matmul. Everything is a composition of differentiable ops (matmul, linear,
// tanh, ...), so gradients flow to q, k and every weight. The additive and concat scores are
// computed by broadcasting [..., T, 1, H] + [..., 1, S, H]: the projections are applied once per
// query and once per key, never to the T*S concatenated pairs (W [q; k] = W_q q + W_k k with W
// split column-wise). Shape mismatches throw attn::Error naming both shapes.
#pragma once
#include <optional>

#include "attn/core/tensor.h"

namespace attn {

// q k^T: [..., T, D] x [..., S, D] -> [..., T, S].
Tensor dot_score(const Tensor& q, const Tensor& k);

// q k^T * scale; scale defaults to 1 / sqrt(D), which keeps the scores' variance near 1 for unit
// variance q and k so that softmax does not saturate.
Tensor scaled_dot_score(const Tensor& q, const Tensor& k, std::optional<double> scale = std::nullopt);

// q W k^T with W [Dq, Dk] (Luong's "general"; the query and key may have different sizes).
Tensor general_score(const Tensor& q, const Tensor& W, const Tensor& k);

// v^T tanh(W_q q + W_k k + bias): q [..., T, Dq], k [..., S, Dk], W_q [H, Dq], W_k [H, Dk],
// v [H], bias [H] or undefined (added once, to the query projection) -> [..., T, S].
Tensor additive_score(const Tensor& q, const Tensor& k, const Tensor& W_q, const Tensor& W_k, const Tensor& v,
                      const Tensor& bias = Tensor());

// v^T tanh(W [q; k] + bias): W [H, Dq + Dk] acts on the concatenation of one query and one key,
// as nn.Linear(Dq + Dk, H) in the PyTorch seq2seq tutorial; v [H]; bias [H] or undefined.
Tensor concat_score(const Tensor& q, const Tensor& k, const Tensor& W, const Tensor& v, const Tensor& bias = Tensor());

// Cosine similarity of every query with every key, in [-1, 1]; a vector shorter than eps is
// divided by eps (as torch.nn.functional.normalize), so a zero vector scores 0 and its gradient is
// finite (1/eps times the other side's unit vectors: the slope of x / eps, as in PyTorch).
Tensor cosine_score(const Tensor& q, const Tensor& k, double eps = 1e-8);

}  // namespace attn
