// Convolutions (torch.nn.functional.conv1d / conv2d / unfold), PyTorch semantics (cross-correlation).
//
//   conv2d(x [B, C, H, W], weight [O, C / groups, kh, kw], bias [O] or undefined,
//          stride (sh, sw), padding (ph, pw), dilation (dh, dw), groups) -> [B, O, Ho, Wo]
//       y[b, o, p, q] = bias[o] + sum_{c in o's group, i, j} weight[o, c, i, j] *
//                        x[b, c, p * sh - ph + i * dh, q * sw - pw + j * dw]     (x = 0 in the padding)
//       Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1, likewise Wo.
//   conv1d(x [B, C, L], weight [O, C / groups, k], ...) is conv2d with H = 1.
//   unfold(x [B, C, H, W], kernel, dilation, padding, stride) -> [B, C * kh * kw, Ho * Wo] (im2col).
// A 3-D input to conv2d (2-D to conv1d) is one unbatched image, as in PyTorch.
//
// Implementation: unfold (im2col) is a differentiable op whose backward is col2im; a convolution
// is then one batched matmul per group, weight [G, O/G, C/G*kh*kw] @ cols [B, G, C/G*kh*kw, L], so
// dX = col2im(W^T dY), dW = sum_b dY cols^T (summed inside the GEMM) and db = sum of dY.
// float32 / float64; weight and x must share the dtype.
#pragma once
#include <array>

#include "attn/core/tensor.h"

namespace attn {

using IntPair = std::array<int64_t, 2>;

Tensor unfold(const Tensor& x, IntPair kernel_size, IntPair dilation = {1, 1}, IntPair padding = {0, 0},
              IntPair stride = {1, 1});
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), IntPair stride = {1, 1},
              IntPair padding = {0, 0}, IntPair dilation = {1, 1}, int64_t groups = 1);
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
              int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);

}  // namespace attn
