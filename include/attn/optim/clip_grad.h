// Gradient clipping (Pascanu et al. 2013, "On the difficulty of training recurrent neural
// networks"), as torch.nn.utils.clip_grad_norm_ / clip_grad_value_. Both modify the .grad of the
// given parameters in place and skip parameters without a gradient.
//
// clip_grad_norm_: total = || (||g_1||_p, ..., ||g_n||_p) ||_p, the p-norm of all gradients
// viewed as one vector (p = inf: the largest |g|); every gradient is multiplied by
// min(1, max_norm / (total + 1e-6)). Returns total (0 when no parameter has a gradient).
// Norms are accumulated in double, then rounded to the gradients' dtype as PyTorch's
// per-tensor norms are, before the coefficient is formed in that dtype.
//
// Namespace: these live in attn::optim (the layer that uses them) and are aliased as
// attn::nn::utils::clip_grad_norm_ / clip_grad_value_ to match torch.nn.utils.
#pragma once
#include <limits>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::optim {

// norm_type: any p > 0, or std::numeric_limits<double>::infinity(). With error_if_nonfinite,
// a NaN or infinite total throws attn::Error (gradients untouched) instead of scaling by it.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// Clamps every gradient element into [-clip_value, clip_value] (NaN stays NaN).
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace attn::optim

namespace attn::nn::utils {
using attn::optim::clip_grad_norm_;
using attn::optim::clip_grad_value_;
}  // namespace attn::nn::utils
