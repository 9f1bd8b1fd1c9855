// index_select, gather, scatter_add, embedding, one_hot: index validation (before any thread
// starts, so errors are thrown on the caller's thread), the gather/scatter loops, and the
// backward closures beside each forward. These ops move elements, so there is one implementation
// (no fast/reference pair); the hot backward, embedding's index-add, is written for speed.
#include "attn/ops/index.h"

#include <array>
#include <cstring>

#include "core/grad_sink.h"
#include "kernels/strided.h"
#include "ops/op_util.h"

namespace attn {
namespace {

// "[i, j, k]": the multi-index of flat position `flat` in a row-major `shape`.
std::string position_str(int64_t flat, const Shape& shape) {
  Shape idx(shape.size(), 0);
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    const int64_t s = shape[size_t(d)];
    idx[size_t(d)] = s > 0 ? flat % s : 0;
    flat = s > 0 ? flat / s : 0;
  }
  return shape_str(idx);
}

// The index tensor as contiguous int64 (a view when it already is), with every value checked
// against [0, size). `what` names the indexed dim in the message.
Tensor checked_indices(const char* op, const Tensor& index, int64_t size, const std::string& what) {
  ATTN_CHECK(index.dtype() == kInt64, op, ": indices must be int64, got ", index.describe());
  Tensor ic = index.detach().contiguous();
  const int64_t* p = ic.data_ptr<int64_t>();
  for (int64_t i = 0; i < ic.numel(); ++i)
    if (p[i] < 0 || p[i] >= size) [[unlikely]]
      ATTN_FAIL(op, ": index ", p[i], " at position ", position_str(i, ic.shape()), " of the index tensor (shape ",
                shape_str(ic.shape()), ") is out of range for ", what, " of size ", size);
  return ic;
}

// A zero-filled contiguous tensor, zeroed by all threads (a [V, D] embedding gradient is tens of
// MB, and a single-threaded memset is a visible part of a training step).
Tensor zeros_parallel(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  char* p = static_cast<char*>(t.raw_data());
  const int64_t bytes = t.numel() * int64_t(t.itemsize());
  constexpr int64_t kBlock = 1 << 16;
  kernels::parallel_for(0, (bytes + kBlock - 1) / kBlock, 4, [&](int64_t b0, int64_t b1) {
    const int64_t s = b0 * kBlock, e = std::min(bytes, b1 * kBlock);
    std::memset(p + s, 0, size_t(e - s));
  });
  return t;
}

// Walks every line of `shape` along `dim` (all coordinates but dim fixed), calling
// fn(offsets) with each operand's element offset of the line start. Lines are independent; they
// are spread over threads.
template <size_t N, class F>
void for_each_line(const Shape& shape, int64_t dim, const std::array<const int64_t*, N>& strides, const F& fn) {
  Shape s = shape;
  const int64_t len = s[size_t(dim)];
  s[size_t(dim)] = 1;
  kernels::strided_for_each<N>(
      s, strides,
      [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& st) {
        std::array<int64_t, N> o = off;
        for (int64_t l = 0; l < n; ++l) {
          fn(o);
          for (size_t k = 0; k < N; ++k) o[k] += st[k];
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)));
}

// dst[o, idx[k], :] += src[o, k, :] for k in order (rows equal to `skip` are left out), with dst
// [outer, n_dst, inner] and src [outer, n_src, inner] contiguous. Parallel over (outer, column
// block): each dst element is summed by one thread, in k order, so the column blocking (sized by
// the thread count, for balance) never changes the result.
template <class T>
void index_add_rows(T* dst, const T* src, const int64_t* idx, int64_t outer, int64_t n_src, int64_t n_dst, int64_t inner,
                    int64_t skip) {
  // About 4 blocks per thread when there is one outer slice (embedding), each a multiple of 16
  // elements (whole SIMD vectors and cache lines), at least 64 unless inner is shorter.
  const int64_t want = std::max<int64_t>(1, 4 * int64_t(get_num_threads()) / std::max<int64_t>(outer, 1));
  const int64_t cols = std::min(inner, std::max<int64_t>(64, ((inner + want - 1) / want + 15) / 16 * 16));
  const int64_t blocks = cols > 0 ? (inner + cols - 1) / cols : 0;
  const int64_t work = n_src * std::max<int64_t>(cols, 1);
  kernels::parallel_for(0, outer * blocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(work, 1)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, c0 = (t % blocks) * cols, nc = std::min(cols, inner - c0);
      T* d0 = dst + o * n_dst * inner + c0;
      const T* s0 = src + o * n_src * inner + c0;
      for (int64_t k = 0; k < n_src; ++k) {
        if (idx[k] == skip) continue;
        T* __restrict d = d0 + idx[k] * inner;
        const T* __restrict s = s0 + k * inner;
#pragma omp simd
        for (int64_t j = 0; j < nc; ++j) d[j] += s[j];
      }
    }
  });
}

// out[(coords of p) with dim -> index[p]] += src[p] over index's shape; out contiguous and
// writable, index contiguous and checked. Distinct lines of index write distinct lines of out.
void scatter_add_into(const Tensor& out, int64_t dim, const Tensor& ic, const Tensor& src) {
  const int64_t len = ic.size(dim);
  const int64_t is = ic.stride(dim), ss = src.stride(dim), os = out.stride(dim);
  ATTN_DISPATCH_NUMERIC(out.dtype(), "scatter_add", [&] {
    scalar_t* po = out.data_ptr<scalar_t>();
    const scalar_t* ps = src.data_ptr<scalar_t>();
    const int64_t* pi = ic.data_ptr<int64_t>();
    for_each_line<3>(ic.shape(), dim, {ic.strides().data(), src.strides().data(), out.strides().data()},
                     [&](const std::array<int64_t, 3>& o) {
                       for (int64_t j = 0; j < len; ++j) po[o[2] + pi[o[0] + j * is] * os] += ps[o[1] + j * ss];
                     });
  });
}

void check_same_rank(const char* op, const Tensor& x, const Tensor& index) {
  ATTN_CHECK(index.dim() == x.dim(), op, ": index ", index.describe(), " and input ", x.describe(),
             " must have the same number of dims");
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  ATTN_CHECK(x.dim() >= 1, "index_select: expected a tensor with at least 1 dim, got shape ", shape_str(x.shape()));
  ATTN_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
  dim = ops::wrap_dim(dim, x.dim(), "index_select");
  const int64_t n = x.size(dim);
  const Tensor ic = checked_indices("index_select", index, n, "dim " + std::to_string(dim) + " of input " + shape_str(x.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t k = ic.numel();
  Shape out_shape = x.shape();
  out_shape[size_t(dim)] = k;
  Tensor out = empty(out_shape, x.dtype());
  const Tensor xc = x.detach().contiguous();
  const int64_t* pi = ic.data_ptr<int64_t>();
  const size_t row_bytes = size_t(inner) * x.itemsize();
  const char* px = static_cast<const char*>(xc.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  kernels::parallel_for(0, outer * k, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / k, j = r % k;
      std::memcpy(po + size_t(r) * row_bytes, px + size_t(o * n + pi[j]) * row_bytes, row_bytes);
    }
  });
  if (x.is_floating_point()) {
    // forward was out[o, j, :] = x[o, index[j], :], therefore dx[o, index[j], :] += g[o, j, :].
    const Shape x_shape = x.shape();
    autograd::record("index_select", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
      Tensor dx = zeros_parallel(x_shape, g.dtype());
      const Tensor gc = g.contiguous();
      ATTN_DISPATCH_FLOATING(g.dtype(), "index_select backward", [&] {
        index_add_rows(dx.data_ptr<scalar_t>(), gc.data_ptr<scalar_t>(), ic.data_ptr<int64_t>(), outer, k, n, inner, -1);
      });
      return {dx};
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_same_rank("gather", x, index);
  dim = ops::wrap_dim(dim, x.dim(), "gather");
  for (int64_t d = 0; d < x.dim(); ++d)
    ATTN_CHECK(d == dim || index.size(d) <= x.size(d), "gather: index shape ", shape_str(index.shape()),
               " is larger than input shape ", shape_str(x.shape()), " in dim ", d, " (only dim ", dim, " may differ)");
  const Tensor ic = checked_indices("gather", index, x.dim() ? x.size(dim) : 1,
                                    "dim " + std::to_string(dim) + " of input " + shape_str(x.shape()));
  Tensor out = empty(ic.shape(), x.dtype());
  if (out.numel() > 0 && x.dim() > 0) {
    const int64_t len = ic.size(dim), is = ic.stride(dim), os = out.stride(dim), xs = x.stride(dim);
    ATTN_DISPATCH_ALL(x.dtype(), "gather", [&] {
      const scalar_t* px = x.data_ptr<scalar_t>();
      scalar_t* po = out.data_ptr<scalar_t>();
      const int64_t* pi = ic.data_ptr<int64_t>();
      for_each_line<3>(ic.shape(), dim, {ic.strides().data(), out.strides().data(), x.strides().data()},
                       [&](const std::array<int64_t, 3>& o) {
                         for (int64_t j = 0; j < len; ++j) po[o[1] + j * os] = px[o[2] + pi[o[0] + j * is] * xs];
                       });
    });
  } else if (out.numel() > 0) {
    out.copy_(x.detach());  // 0-d input: the only valid index is 0
  }
  if (x.is_floating_point()) {
    // forward was out[p] = x[p with dim -> index[p]], therefore dx[p with dim -> index[p]] += g[p].
    const Shape x_shape = x.shape();
    autograd::record("gather", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
      if (x_shape.empty()) return {g.reshape({})};
      Tensor dx = zeros_parallel(x_shape, g.dtype());
      scatter_add_into(dx, dim, ic, g);
      return {dx};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_same_rank("scatter_add", x, index);
  ATTN_CHECK(src.dim() == x.dim(), "scatter_add: src ", src.describe(), " and input ", x.describe(),
             " must have the same number of dims");
  ATTN_CHECK(src.dtype() == x.dtype(), "scatter_add: src ", src.describe(), " and input ", x.describe(),
             " must have the same dtype");
  ATTN_CHECK(x.dim() > 0, "scatter_add: expected a tensor with at least 1 dim, got shape ", shape_str(x.shape()));
  dim = ops::wrap_dim(dim, x.dim(), "scatter_add");
  for (int64_t d = 0; d < x.dim(); ++d) {
    ATTN_CHECK(index.size(d) <= src.size(d), "scatter_add: index shape ", shape_str(index.shape()),
               " is larger than src shape ", shape_str(src.shape()), " in dim ", d);
    ATTN_CHECK(d == dim || index.size(d) <= x.size(d), "scatter_add: index shape ", shape_str(index.shape()),
               " is larger than input shape ", shape_str(x.shape()), " in dim ", d, " (only dim ", dim, " may differ)");
  }
  const Tensor ic = checked_indices("scatter_add", index, x.size(dim),
                                    "dim " + std::to_string(dim) + " of input " + shape_str(x.shape()));
  Tensor out = empty(x.shape(), x.dtype());
  out.copy_(x.detach());
  if (ic.numel() > 0) scatter_add_into(out, dim, ic, src.detach());
  if (x.is_floating_point()) {
    // forward was out = x + (src scattered to index), therefore dx = g and dsrc = g gathered at
    // index (zero where src is larger than index, since those elements were not used).
    const Shape src_shape = src.shape();
    const bool nsrc = src.requires_grad();
    autograd::record("scatter_add", out, {x, src}, [=](const Tensor& g) -> std::vector<Tensor> {
      Tensor dsrc;
      if (nsrc) {
        Tensor picked = gather(g, dim, ic);
        if (picked.shape() == src_shape) {
          dsrc = picked;
        } else {
          dsrc = zeros(src_shape, g.dtype());
          Tensor region = dsrc;
          for (int64_t d = 0; d < picked.dim(); ++d) region = region.narrow(d, 0, picked.size(d));
          region.copy_(picked);
        }
      }
      return {g, dsrc};
    });
  }
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx) {
  ATTN_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape ",
             shape_str(weight.shape()));
  ATTN_CHECK(weight.is_floating_point(), "embedding: weight must be float32 or float64, got ", weight.describe());
  const int64_t V = weight.size(0), D = weight.size(1);
  ATTN_CHECK(padding_idx < V, "embedding: padding_idx ", padding_idx, " must be below num_embeddings ", V);
  const Tensor ic = checked_indices("embedding", indices, V, "a weight of shape " + shape_str(weight.shape()) + " (num_embeddings)");
  const int64_t N = ic.numel();
  Shape out_shape = ic.shape();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight.dtype());
  const Tensor wc = weight.detach().contiguous();
  const int64_t* pi = ic.data_ptr<int64_t>();
  const size_t row_bytes = size_t(D) * weight.itemsize();
  const char* pw = static_cast<const char*>(wc.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  kernels::parallel_for(0, N, std::max<int64_t>(1, 32768 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(po + size_t(r) * row_bytes, pw + size_t(pi[r]) * row_bytes, row_bytes);
  });
  // forward was out[p] = weight[indices[p]], therefore dweight[v] = sum of g[p] over the positions
  // p with indices[p] == v (in position order), except the padding row, which stays zero.
  const int64_t skip = padding_idx < 0 ? -1 : padding_idx;
  autograd::record("embedding", out, {weight}, [=](const Tensor& g) -> std::vector<Tensor> {
    const Tensor gc = g.contiguous();
    // Only the looked-up rows change: add them straight into weight.grad when it already holds
    // a gradient, instead of a dense [V, D] of zeros per call (one per step of a decoder).
    const Tensor sink = autograd::leaf_grad_sink(0, {&gc});
    Tensor dw = sink.defined() ? Tensor() : zeros_parallel({V, D}, g.dtype());
    const Tensor& target = sink.defined() ? sink : dw;
    ATTN_DISPATCH_FLOATING(g.dtype(), "embedding backward", [&] {
      index_add_rows(target.data_ptr<scalar_t>(), gc.data_ptr<scalar_t>(), ic.data_ptr<int64_t>(), 1, N, V, D, skip);
    });
    return {dw};
  });
  return out;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  ATTN_CHECK(indices.dtype() == kInt64, "one_hot: indices must be int64, got ", indices.describe());
  ATTN_CHECK(num_classes >= -1, "one_hot: num_classes must be -1 (infer) or non-negative, got ", num_classes);
  const Tensor ic = indices.detach().contiguous();
  const int64_t* p = ic.data_ptr<int64_t>();
  const int64_t n = ic.numel();
  if (num_classes == -1) {
    ATTN_CHECK(n > 0, "one_hot: can not infer the number of classes from an empty tensor (shape ", shape_str(ic.shape()),
               "); pass num_classes");
    num_classes = 0;
    for (int64_t i = 0; i < n; ++i) num_classes = std::max(num_classes, p[i] + 1);
  }
  checked_indices("one_hot", ic, num_classes, "num_classes");
  Shape out_shape = ic.shape();
  out_shape.push_back(num_classes);
  Tensor out = zeros(out_shape, kInt64);
  int64_t* po = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) po[i * num_classes + p[i]] = 1;
  return out;
}

}  // namespace attn
