// Joining, splitting and masking tensors by shape (torch.cat / stack / split / chunk / triu /
// tril / flip / Tensor.repeat). All are differentiable in floating-point inputs.
//
//   cat(tensors, dim)          sizes match except along dim; result's dim is the sum. dtypes
//                              promote as in PyTorch. A 1-D empty tensor ([0]) is skipped, as torch
//                              does for legacy code that starts from torch.empty(0).
//   stack(tensors, dim)        equal shapes; a new dim at `dim` (range [-(ndim+1), ndim]).
//   split(x, split_size, dim)  pieces of split_size along dim (the last may be shorter).
//   split(x, sizes, dim)       pieces of the given sizes, which must sum to x.size(dim).
//   chunk(x, chunks, dim)      split with split_size = ceil(size / chunks): at most `chunks` pieces.
//   triu(x, diagonal), tril(x, diagonal)
//                              on the last two dims (batched over the rest): keep element (i, j)
//                              when j - i >= diagonal (triu) or j - i <= diagonal (tril), zero the rest.
//   flip(x, dims)              reverses the order of elements along each dim in dims.
//   repeat(x, repeats)         tiles x: result size along d is x.size(d) * repeats[d]; x is treated
//                              as having leading size-1 dims when repeats has more entries.
//
// Aliasing: split and chunk return views of x (torch semantics: writing into a piece writes x);
// every other op returns a new contiguous tensor.
#pragma once
#include <vector>

#include "attn/core/tensor.h"

namespace attn {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims);
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);

}  // namespace attn
