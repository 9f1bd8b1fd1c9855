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
