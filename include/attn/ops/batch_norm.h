// Batch normalisation (torch.nn.functional.batch_norm), PyTorch semantics.
//
//   batch_norm(x [B, C, ...], running_mean [C], running_var [C], weight [C], bias [C], training,
//              momentum = 0.1, eps = 1e-5) -> [B, C, ...]
//   y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c, per channel c (dim 1).
//   training: mean_c and var_c are the batch statistics over every dim but 1 (var biased, / n);
//       defined running stats are then updated in place, without autograd, as
//       running = (1 - momentum) running + momentum stat, using the unbiased var (n / (n - 1)).
//       Needs n > 1 values per channel.
//   eval (training = false): mean_c, var_c are running_mean, running_var (which must be given).
// weight, bias and the running stats may each be undefined (no affine / no tracking). Gradients
// flow to x, weight and bias through the batch statistics (training) or the fixed stats (eval).
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);

}  // namespace attn
