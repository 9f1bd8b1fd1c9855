// sort, argsort, topk: one line along dim at a time (lines are independent, spread over threads),
// with a comparator that orders NaN above every number, and a backward that scatters the values'
// gradient to the input positions their indices name.
#include "attn/ops/sort.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "attn/ops/index.h"
#include "kernels/strided.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// a comes before b in ascending order; NaN is greater than everything (and equal to NaN).
template <class T>
bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return !std::isnan(a) && (std::isnan(b) || a < b);
  else return a < b;
}

// The shared engine: for each line of x along dim, orders the positions 0..n-1 (ascending or
// descending, ties by position) and writes the first k of them, values and indices, to the
// outputs' line. k == n with a stable order is sort; k < n is topk.
ValuesIndices select_sorted(const Tensor& x_in, int64_t dim, int64_t k, bool descending, const char* name) {
  const Tensor x = x_in.dim() == 0 ? x_in.detach().unsqueeze(0) : x_in.detach();
  const int64_t n = x.size(dim);
  Shape out_shape = x.shape();
  out_shape[size_t(dim)] = k;
  Tensor values = empty(out_shape, x.dtype()), indices = empty(out_shape, kInt64);
  if (values.numel() > 0) {
    const int64_t xs = x.stride(dim), vs = values.stride(dim), is = indices.stride(dim);
    ATTN_DISPATCH_NUMERIC(x.dtype(), name, [&] {
      using T = scalar_t;
      const T* px = x.data_ptr<T>();
      T* pv = values.data_ptr<T>();
      int64_t* pi = indices.data_ptr<int64_t>();
      Shape lines = x.shape();
      lines[size_t(dim)] = 1;
      kernels::strided_for_each<3>(
          lines, {x.strides().data(), values.strides().data(), indices.strides().data()},
          [&](const std::array<int64_t, 3>& off, int64_t count, const std::array<int64_t, 3>& st) {
            std::vector<int64_t> perm(static_cast<size_t>(n));
            std::vector<T> line(static_cast<size_t>(n));
            for (int64_t l = 0; l < count; ++l) {
              const T* src = px + off[0] + l * st[0];
              for (int64_t j = 0; j < n; ++j) line[size_t(j)] = src[j * xs];
              std::iota(perm.begin(), perm.end(), int64_t(0));
              // Strict order: by value, then by position; which makes every ordering stable.
              auto before = [&](int64_t a, int64_t b) {
                const T va = line[size_t(a)], vb = line[size_t(b)];
                if (descending ? less_nan_last(vb, va) : less_nan_last(va, vb)) return true;
                if (descending ? less_nan_last(va, vb) : less_nan_last(vb, va)) return false;
                return a < b;
              };
              if (k == n) std::sort(perm.begin(), perm.end(), before);
              else std::partial_sort(perm.begin(), perm.begin() + k, perm.end(), before);
              T* dv = pv + off[1] + l * st[1];
              int64_t* di = pi + off[2] + l * st[2];
              for (int64_t j = 0; j < k; ++j) {
                dv[j * vs] = line[size_t(perm[size_t(j)])];
                di[j * is] = perm[size_t(j)];
              }
            }
          },
          std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)));
    });
  }
  if (x_in.dim() == 0) {
    values = values.squeeze(0);
    indices = indices.squeeze(0);
  }
  if (x_in.is_floating_point()) {
    // forward picked values[p] = x[p with dim -> indices[p]], therefore dx is g scatter-added
    // into zeros at those positions.
    const Shape x_shape = x_in.shape();
    const Tensor idx = indices.dim() == 0 ? indices.unsqueeze(0) : indices;
    autograd::record(name, values, {x_in}, [=](const Tensor& g) -> std::vector<Tensor> {
      if (x_shape.empty()) return {g};
      return {scatter_add(zeros(x_shape, g.dtype()), dim, idx, g)};
    });
  }
  return {values, indices};
}

}  // namespace

ValuesIndices sort(const Tensor& x, int64_t dim, bool descending) {
  dim = ops::wrap_dim(dim, x.dim(), "sort");
  return select_sorted(x, dim, x.dim() == 0 ? 1 : x.size(dim), descending, "sort");
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  NoGradGuard ng;  // only the indices are returned: no graph to build
  return sort(x, dim, descending).indices;
}

ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  dim = ops::wrap_dim(dim, x.dim(), "topk");
  const int64_t n = x.dim() == 0 ? 1 : x.size(dim);
  ATTN_CHECK(k >= 0 && k <= n, "topk: k (", k, ") is out of range for dim ", dim, " of size ", n, " (shape ",
             shape_str(x.shape()), ")");
  (void)sorted;  // the k values always come out sorted, which satisfies both settings
  return select_sorted(x, dim, k, largest, "topk");
}

}  // namespace attn
