// Elementwise arithmetic with NumPy/PyTorch broadcasting (shapes align from the right; size-1
// dims stretch). Mixed dtypes promote as in PyTorch: bool < uint8 < int64 < float32 < float64.
// Every op here is differentiable in its floating-point inputs; gradients of broadcast inputs
// are summed back to the input's shape.
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Shape broadcast_shapes(const Shape& a, const Shape& b);
DType promote_types(DType a, DType b);

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);

// Elementwise max / min (torch.maximum / torch.minimum): NaN in either input gives NaN. Where
// a == b the gradient is split half and half, as PyTorch does.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// a^b elementwise (torch.pow). Gradients as PyTorch: da = b a^(b-1), 0 where b == 0;
// db = a^b log(a), 0 where a == 0 and b >= 0. pow(Tensor, double) is in attn/ops/unary.h.
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(double a, const Tensor& b);

// A scalar operand becomes a 0-d tensor of the other operand's dtype (PyTorch's "wrapped number").
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace attn
