// Comparisons, logical ops and selection: the mask side of attention (padding and causal masks
// are bool tensors built with these, then applied with masked_fill or where). Names and
// semantics of torch.*:
//   eq ne lt le gt ge(a, b)   -> bool, a and b broadcast, compared in their promoted dtype
//                                (bool < uint8 < int64 < float32 < float64). A double operand
//                                takes the tensor's dtype when the tensor is floating-point (so
//                                float32 x == 0.1 compares with float(0.1), as PyTorch); with an
//                                integer tensor it is compared exactly (int64, or float64 when
//                                fractional). NaN compares false, except ne.
//   logical_and/or/xor/not    -> bool, inputs of any dtype read as x != 0
//   where(cond, a, b)         -> cond ? a : b, all three broadcast; cond must be bool;
//                                differentiable in a and b (each gets the gradient where chosen)
//   masked_fill(x, mask, v)   -> mask ? v : x, mask bool and broadcast with x; differentiable in
//                                x (gradient 0 where masked)
//   isnan isinf isfinite      -> bool, same shape
//   any(x), all(x)            -> 0-d bool over all elements (any of none is false, all true)
// Operators: <, <=, >, >= (tensor or double on either side); &, |, ^, ~ on bool tensors. == and
// != are deliberately not overloaded: Tensor is a handle, and `a == b` reading as a tensor would
// surprise C++ code that compares handles. Use eq / ne.
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);

Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);
Tensor operator<(double a, const Tensor& b);
Tensor operator<=(double a, const Tensor& b);
Tensor operator>(double a, const Tensor& b);
Tensor operator>=(double a, const Tensor& b);

Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
// Bool tensors only (PyTorch's bitwise ops on integers are not provided).
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
Tensor operator~(const Tensor& a);

// The result dtype is a and b promoted; a double operand takes the tensor operand's dtype.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, double b);
Tensor where(const Tensor& condition, double a, const Tensor& b);
// The result has x's dtype and the broadcast shape of x and mask; value is cast to x's dtype.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);

Tensor any(const Tensor& x);
Tensor all(const Tensor& x);

}  // namespace attn
