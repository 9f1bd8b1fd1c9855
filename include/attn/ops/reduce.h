// Reductions (torch.sum, mean, max, min, argmax, argmin, logsumexp, var, std, cumsum): each
// collapses the given dims of x to one value per remaining index. Attention uses them for
// normalisers (logsumexp), statistics (mean, var) and hard alignment (argmax, max).
//
// Dims: `dims` lists the dims to reduce (negative dims count from the end; duplicates are an
// error); an empty list reduces every dim, as PyTorch does for sum(x, dim=[]). A 0-d tensor takes
// dim 0 or -1. The result drops the reduced dims, or keeps them with size 1 when keepdim is true.
// Bad dims throw attn::Error naming the input shape.
//
//   sum(x, dims)        = sum over dims; bool / integer inputs give int64 (as PyTorch)
//   mean(x, dims)       = sum / N, N = number of reduced elements (floating point only; N = 0 gives NaN)
//   var(x, dims, c)     = sum (x - mean)^2 / max(0, N - c)   (c = correction; 1 = unbiased, 0 = biased)
//   std(x, dims, c)     = sqrt(var(x, dims, c))
//   logsumexp(x, dims)  = log(sum exp(x)), computed as m + log(sum exp(x - m)), m = max (stable;
//                         rows of -inf give -inf, a +inf gives +inf, never NaN from inf - inf)
//   max(x) / min(x)     = the largest / smallest element as a 0-d tensor (x must be non-empty)
//   max(x, dim)         = {values, indices} along one dim; indices int64, first index on ties,
//                         NaN counts as the largest (and the smallest) value, as PyTorch on CPU
//   argmax(x[, dim])    = indices of max(x, dim); without dim, the index into x flattened
//   cumsum(x, dim)      = running sum along dim; same shape as x (integers give int64)
//
// Floating-point sums accumulate in double, also for float32 (see kernels/reduce.h); all
// reductions are parallel over outputs only, so results do not depend on the thread count.
//
// Gradients: sum, mean: dx = g broadcast (/ N for mean). var: dx = g * 2 (x - mean) / (N - c).
// std: dx = g / (2 std) * dvar (0 where std == 0). logsumexp: dx = g * exp(x - out).
// max(x, dim) / min: g flows to the selected index only. max(x) / min(x): g is shared evenly by
// all elements equal to the result (torch's evenly_distribute_backward). cumsum: reverse cumsum of g.
#pragma once
#include <optional>
#include <vector>

#include "attn/core/tensor.h"

namespace attn {

Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);

Tensor cumsum(const Tensor& x, int64_t dim);

}  // namespace attn
