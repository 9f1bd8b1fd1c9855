// Sorting along a dim (torch.sort / argsort / topk). Each line along `dim` is ordered on its
// own; indices (int64) give each value's position along dim in the input.
//
//   sort(x, dim = -1, descending = false) -> {values, indices}, both x's shape. Stable: equal
//       values keep their input order (torch's stable=True). NaN sorts above every number, as in
//       torch: last when ascending, first when descending.
//   argsort(x, dim, descending) -> sort(...).indices.
//   topk(x, k, dim = -1, largest = true, sorted = true) -> {values, indices} with size k along
//       dim: the k largest (or smallest) values, best first; ties go to the lower index. With
//       sorted = false torch leaves the order unspecified; attn returns them sorted anyway.
//
// values are differentiable in floating-point x: the gradient of each value flows back to the
// input position its index names (dx = zeros, scattered-added at indices).
#pragma once
#include "attn/core/tensor.h"

namespace attn {

ValuesIndices sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);

}  // namespace attn
