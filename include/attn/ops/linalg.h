// Matrix products (torch.mm / bmm / matmul, torch.nn.functional.linear), on OpenBLAS.
//
//   mm(a [m, k], b [k, n])                 -> [m, n]
//   bmm(a [B, m, k], b [B, k, n])          -> [B, m, n]        (no broadcasting, as torch.bmm)
//   matmul(a, b)                           -> torch.matmul semantics:
//       1-D x 1-D: dot product -> 0-d;  2-D x 1-D: [m, k] x [k] -> [m];  1-D x 2-D: [k] x [k, n] -> [n];
//       otherwise batched: a 1-D operand gets a unit dim (prepended for a, appended for b) that is
//       removed from the result, and the leading (batch) dims broadcast:
//       [..a, m, k] x [..b, k, n] -> [broadcast(..a, ..b), m, n].
//   linear(x [..., in], weight [out, in], bias [out] or undefined) = x @ weight^T + bias -> [..., out]
//
// Operands are read through their strides: a transposed view (x.t(), k.transpose(-2, -1)) is
// handed to BLAS as a transposed operand, and broadcast batch dims are never materialised (the
// backward sums over them inside the GEMM calls). Outputs are new contiguous tensors.
// Both operands must have the same dtype (float32, float64, or int64 without autograd); the
// gradients are dA = g @ B^T and dB = A^T @ g, summed over the dims that were broadcast.
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace attn
