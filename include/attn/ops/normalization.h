// Layer normalisation (Ba, Kiros & Hinton 2016, "Layer Normalization"; torch.nn.functional.layer_norm):
// every slice over the trailing `normalized_shape` dims is normalised to zero mean and unit
// variance, then scaled and shifted elementwise.
//
//   y = (x - mean) / sqrt(var + eps) * weight + bias
//
// mean and var (biased, divisor N) are taken over the last len(normalized_shape) dims of x, whose
// sizes must equal normalized_shape; N is their product. Shapes: x [*, normalized_shape...],
// weight and bias normalized_shape (each optional: pass an undefined Tensor to skip it), y as x.
// The variance is computed in two passes (mean first, then the mean squared deviation), which
// stays accurate when |mean| >> std. The forward saves mean and 1/sqrt(var + eps) per slice; one
// fused backward kernel gives dx, dweight and dbias.
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

}  // namespace attn
