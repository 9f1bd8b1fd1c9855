// Dropout (Srivastava et al., "Dropout: a simple way to prevent neural networks from
// overfitting", JMLR 2014), inverted as in PyTorch: in training each element is zeroed with
// probability p and the survivors are scaled by 1 / (1 - p), so E[dropout(x)] = x and evaluation
// needs no rescaling.
//
//   dropout(x, p, training, gen): x any shape, float32/float64; returns x's shape and dtype.
//     training == false or p == 0 -> x itself (no copy, no random numbers drawn);
//     p == 1                     -> zeros (gradient zero), no random numbers drawn;
//     otherwise                  -> x * mask / (1 - p), mask ~ Bernoulli(1 - p) per element.
//
// The mask comes from Philox (counter-based): element i of the contiguous x uses block
// gen.offset + i / 4, and the generator's offset advances by ceil(numel / 4), so the mask is the
// same for every thread count. When x needs a gradient, the forward keeps the mask as packed bits
// (ceil(numel / 8) bytes, freed with the graph) and backward reads them instead of running Philox
// again. The masks are not PyTorch's (different generators), which is why tests check
// distributions, not values, against PyTorch.
#pragma once
#include "attn/core/random.h"
#include "attn/core/tensor.h"

namespace attn {

// torch.nn.functional.dropout(input, p, training). gen == nullptr uses default_generator().
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);

}  // namespace attn
