// Pooling (torch.nn.functional.*_pool*), PyTorch semantics, on x [B, C, H, W] or unbatched [C, H, W].
//
//   adaptive_avg_pool2d(x, (Ho, Wo)): output cell (i, j) averages rows [floor(i H / Ho), ceil((i + 1) H / Ho))
//       and columns [floor(j W / Wo), ceil((j + 1) W / Wo)); (1, 1) is global average pooling.
//   adaptive_max_pool2d(x, (Ho, Wo)): the maximum over the same windows; _with_indices also returns
//       the int64 flat index h * W + w of each maximum within its plane (as PyTorch). NaN wins.
//   avg_pool2d(x, kernel, stride = kernel, padding = 0, count_include_pad = true): window
//       [i sh - ph, i sh - ph + kh), Ho = (H + 2 ph - kh) / sh + 1; the divisor counts padded cells
//       (window clipped to the padded input) unless count_include_pad is false.
//   max_pool2d(x, kernel, stride = kernel, padding = 0, dilation = 1): padding acts as -inf.
//   adaptive_avg_pool1d(x [B, C, L], Lo) is adaptive_avg_pool2d with H = 1.
// Gradients: averages spread g / count over their window; maxima route g to the argmax.
// Floor mode only (no ceil_mode). float32 / float64.
#pragma once
#include "attn/ops/conv.h"

namespace attn {

Tensor adaptive_avg_pool2d(const Tensor& x, IntPair output_size);
Tensor adaptive_max_pool2d(const Tensor& x, IntPair output_size);
ValuesIndices adaptive_max_pool2d_with_indices(const Tensor& x, IntPair output_size);
Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size);
// stride {0, 0} (the default) means stride = kernel_size, as PyTorch's stride=None.
Tensor avg_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride = {0, 0}, IntPair padding = {0, 0},
                  bool count_include_pad = true);
Tensor max_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride = {0, 0}, IntPair padding = {0, 0},
                  IntPair dilation = {1, 1});
ValuesIndices max_pool2d_with_indices(const Tensor& x, IntPair kernel_size, IntPair stride = {0, 0},
                                      IntPair padding = {0, 0}, IntPair dilation = {1, 1});

}  // namespace attn
