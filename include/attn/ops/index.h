// Indexing by integer tensors (torch.index_select / gather / scatter_add,
// torch.nn.functional.embedding / one_hot). Indices are int64; an index outside its dim throws
// attn::Error naming the index value, its position in the index tensor and the size it must be
// below. Negative indices are out of range here (as in these torch functions).
//
//   index_select(x, dim, index [n])          out.size(dim) = n, out[.., k, ..] = x[.., index[k], ..]
//   gather(x, dim, index)                    out has index's shape:
//                                            out[i][j][k] = x[i][index[i][j][k]][k]   (dim = 1)
//                                            index.size(d) <= x.size(d) for d != dim.
//   scatter_add(x, dim, index, src)          out-of-place torch.scatter_add: out = x, then
//                                            out[i][index[i][j][k]][k] += src[i][j][k]  (dim = 1)
//                                            over index's shape (<= src's shape in every dim).
//   embedding(weight [V, D], indices [...])  -> [..., D], row lookup: out[p] = weight[indices[p]].
//                                            padding_idx in [0, V) marks a row that receives no
//                                            gradient; any negative value means none (unlike
//                                            torch, a negative value does not count from the end).
//   one_hot(indices [...], num_classes)      -> int64 [..., C], 1 at the index; C = max + 1 when -1.
//
// index_select, gather, scatter_add and embedding are differentiable in their floating-point
// tensor inputs (not in the indices). Their backwards are index-adds, computed deterministically:
// every output element sums its contributions in index order, whatever the thread count.
#pragma once
#include "attn/core/tensor.h"

namespace attn {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1);
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);

}  // namespace attn
