// softmax and log_softmax along one dim (torch.softmax / torch.log_softmax): the "align" step of
// attention, turning scores into weights (Bridle 1990; Bahdanau et al. 2014 use it for alignment).
//
//   softmax(x, dim)_k     = exp(x_k - m) / sum_j exp(x_j - m),   m = max_j x_j along `dim`
//   log_softmax(x, dim)_k = x_k - m - log(sum_j exp(x_j - m))
//
// Shapes: the output has x's shape; any dim works (negative dims count from the end; a 0-d tensor
// accepts dim 0 or -1). The contiguous last dim takes the SIMD row kernel; other dims take a
// strided column kernel that normalises along `dim` in place — nothing is transposed. A
// non-contiguous x is first copied to contiguous memory.
//
// Non-finite rows follow PyTorch: a row with a NaN, a +inf, or only -inf entries gives NaN
// everywhere (softmax and log_softmax alike). Attention's masked softmax, which must give zeros
// for fully masked rows, is a different op in the attention catalog.
//
// Gradients (float32 / float64 only):
//   softmax:     dx = y * (dy - sum(dy * y))      log_softmax: dx = dy - exp(y) * sum(dy)
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace attn
