// Hard attention: the "align" step made discrete (docs/attention/hard.md). Instead of a soft
// average, a query attends to one key (or k keys):
//
//   hard_argmax(w)          one_hot(argmax_j w_j); with straight_through, y_hard - w.detach() + w
//                           (forward is the one-hot, gradient is the identity into w)
//   topk_attention(s, k)    softmax over the k largest scores, 0 elsewhere (renormalised)
//   sample_attention(p)     j ~ Categorical(p): one_hot(j) and log p_j, the REINFORCE term of
//                           Xu et al. 2015 ("Show, Attend and Tell", §4.1 stochastic hard attention):
//                           grad E[R] ~ (R - b) * grad log p_j
//   gumbel_softmax(l, tau)  softmax((l + g) / tau), g_j = -log(E_j), E_j ~ Exp(1) i.i.d. (Gumbel(0, 1));
//                           hard: one_hot(argmax) - y_soft.detach() + y_soft (Jang, Gu, Poole 2016;
//                           torch.nn.functional.gumbel_softmax's semantics)
//
// All work over the last dim by default (`dim` selects another), on any leading shape: weights,
// scores, probs and logits are [..., S]. Outputs have the input's dtype; one-hots are exact 0/1.
// Random draws use attn's Philox generator (gen == nullptr: default_generator()), so the samples
// differ from PyTorch's for the same seed; the distributions are the same.
#pragma once
#include <cstdint>

#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn {

// One-hot of the argmax along dim (ties: the first maximum, as torch.argmax). Without
// straight_through the result carries no gradient.
Tensor hard_argmax(const Tensor& weights, bool straight_through = false, int64_t dim = -1);

// Softmax restricted to the k largest scores along dim (ties broken towards the lower index);
// the others get exactly 0 weight and 0 gradient. k >= the dim's size is the plain softmax.
// Scores of -inf are ordinary (smallest) scores; a row with fewer than one finite score among the
// kept ones follows masked_softmax (all -inf -> zeros).
Tensor topk_attention(const Tensor& scores, int64_t k, int64_t dim = -1);

struct HardSample {
  Tensor one_hot;   // [..., S], the sampled position (no gradient)
  Tensor index;     // int64 [...], the sampled position
  Tensor log_prob;  // [...], log p[index], differentiable w.r.t. probs
};

// Draws one position per row from probs along dim (non-negative, rows need not be normalised:
// sampling is proportional, as torch.multinomial; log_prob is log of the given entry, i.e. of the
// normalised probability only when rows sum to 1). A zero-probability position is never drawn.
HardSample sample_attention(const Tensor& probs, Generator* gen = nullptr, int64_t dim = -1);

// torch.nn.functional.gumbel_softmax(logits, tau, hard, dim). tau > 0.
Tensor gumbel_softmax(const Tensor& logits, double tau = 1.0, bool hard = false, Generator* gen = nullptr,
                      int64_t dim = -1);

}  // namespace attn
