// Loss functions with torch.nn.functional's names and semantics.
//
// Shapes (C classes; d1.. optional extra dims, e.g. T for per-token losses laid out [B, V, T]):
//   input  [N, C] or [N, C, d1, ...], or unbatched [C]
//   target class indices: int64 [N] or [N, d1, ...] (unbatched: 0-d), each in [0, C) or ignore_index
//          class probabilities (cross_entropy only): input's shape and dtype
//   weight [C] (a rescaling per class; input's dtype) or undefined
//   result: Reduction::None -> one loss per target element (target's shape; for probabilities,
//           input's shape without the class dim); Mean / Sum -> 0-d.
//
// cross_entropy(x, t) = nll_loss(log_softmax(x, 1), t) with label smoothing eps:
//   loss_i = (1 - eps) w_{t_i} (-log p_{i,t_i}) + (eps / C) sum_c w_c (-log p_{i,c}),   0 if t_i == ignore_index
//   Mean   = sum_i loss_i / sum_{i not ignored} w_{t_i}       (PyTorch's weighted mean; both the
//            nll and the smoothing term are divided by the target weights)
// With probability targets q = (1 - eps) p + eps / C: loss_i = -sum_c w_c q_ic log p_ic, and Mean
// divides by the number of loss elements (N * d1 * ...), not by weights, as PyTorch.
// It runs as one fused op: log-softmax, the loss and, in backward, dx = s (softmax - smoothed
// weighted one-hot), computed per row from the saved log-sum-exp (kernels/loss.h). The tests check
// it against log_softmax + nll_loss composed.
//
// Edge cases, as PyTorch 1.13: Mean over a batch whose targets are all ignore_index (or an empty
// batch) is 0 / 0 = NaN while its gradient is zero (no element contributes); Sum gives 0. A NaN logit
// makes its row's loss NaN. A target outside [0, C) that is not ignore_index throws attn::Error
// naming its position (PyTorch asserts). Gradients flow to input (and to probability targets);
// weight gets none (PyTorch does not differentiate it either).
//
// mse_loss(x, y) = mean / sum / none of (x - y)^2. Unlike PyTorch, which broadcasts with a
// warning, x and y must have the same shape: a broadcast loss is almost always a bug.
#pragma once
#include <cstdint>

#include "attn/core/tensor.h"

namespace attn {

enum class Reduction { None, Mean, Sum };

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, Reduction reduction = Reduction::Mean, double label_smoothing = 0.0);

// input holds log-probabilities (e.g. log_softmax output); loss_i = -w_{t_i} input[i, t_i].
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(), int64_t ignore_index = -100,
                Reduction reduction = Reduction::Mean);

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace attn
