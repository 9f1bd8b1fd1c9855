// Unary elementwise math and activations: y = f(x) for every element, same shape as x, names and
// semantics of torch.* / torch.nn.functional.*. Each op is differentiable (derivatives as PyTorch
// defines them at kinks: relu'(0) = 0, abs'(0) = 0, clamp passes the gradient where
// min <= x <= max). The output is always a new contiguous tensor; x may have any strides.
//
// dtypes: exp, log, tanh, ... need floating-point values and compute integer or bool inputs in
// float32 (as torch.exp(int_tensor) does); abs, relu, square, clamp and pow keep integer dtypes
// (bool is refused).
//
// Activation formulas:
//   sigmoid(x) = 1 / (1 + e^-x)           silu(x) = x * sigmoid(x)   (Elfwing et al. 2017)
//   gelu(x)    = x * Phi(x) = x/2 * erfc(-x / sqrt2)                 (Hendrycks & Gimpel 2016)
//   gelu(x, "tanh") = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   leaky_relu(x, a) = x > 0 ? x : a x
// attn evaluates gelu through erfc and gelu-tanh as x * sigmoid(2u): the same functions as
// PyTorch's (1 + erf) and (1 + tanh) forms, without their cancellation for large negative x.
#pragma once
#include <optional>
#include <string>

#include "attn/core/tensor.h"

namespace attn {

Tensor exp(const Tensor& x);
Tensor expm1(const Tensor& x);   // e^x - 1, accurate near 0
Tensor log(const Tensor& x);     // natural log; log(0) = -inf, log(x < 0) = NaN
Tensor log1p(const Tensor& x);   // log(1 + x), accurate near 0
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);   // 1 / sqrt(x)
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);  // x * x
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);

Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// approximate: "none" (exact, erf) or "tanh" (the approximation of the BERT / GPT-2 code).
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);

// min(max(x, min), max) elementwise, at least one bound given. NaN stays NaN; min > max gives
// max everywhere (as torch.clamp). An integer tensor with a fractional bound is computed in
// float32, like PyTorch's type promotion with a Python float.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max = std::nullopt);
Tensor clamp_min(const Tensor& x, double min);
Tensor clamp_max(const Tensor& x, double max);

// x^exponent. Integer tensors keep their dtype for integral exponents >= 0, are computed in
// float32 for fractional ones and refuse negative integral ones (as PyTorch). The gradient is
// exponent * x^(exponent - 1), defined as 0 when exponent == 0. pow(Tensor, Tensor) and
// maximum / minimum (binary, broadcasting) are in attn/ops/elementwise.h.
Tensor pow(const Tensor& x, double exponent);

}  // namespace attn
