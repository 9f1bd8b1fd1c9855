// cat, stack, split, chunk, triu, tril, flip, repeat. These only move or mask elements, so they
// have no fast/reference pair: the loops below are the one implementation (copies go through
// Tensor::copy_, whose strided loop is shared with every other copy in attn).
#include "attn/ops/shape.h"

#include <algorithm>
#include <array>

#include "attn/ops/elementwise.h"
#include "kernels/reduce_sum.h"
#include "kernels/strided.h"
#include "ops/op_util.h"

namespace attn {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  ATTN_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  // torch skips 1-D empty tensors (legacy "start from torch.empty(0)" code) unless all are such.
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.numel() == 0; };
  int64_t ref = 0;
  while (ref < int64_t(tensors.size()) && skipped(tensors[size_t(ref)])) ++ref;
  if (ref == int64_t(tensors.size())) ref = 0;
  const Tensor& r = tensors[size_t(ref)];
  ATTN_CHECK(r.dim() > 0, "cat: zero-dimensional tensor (at position ", ref, ") cannot be concatenated");
  dim = ops::wrap_dim(dim, r.dim(), "cat");
  DType dt = r.dtype();
  Shape out_shape = r.shape();
  out_shape[size_t(dim)] = 0;
  std::vector<int64_t> offsets(tensors.size(), 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    dt = promote_types(dt, t.dtype());
    offsets[i] = out_shape[size_t(dim)];
    if (skipped(t) && int64_t(i) != ref && r.dim() != 1) continue;
    ATTN_CHECK(t.dim() == r.dim(), "cat: tensors must have the same number of dims; tensor ", ref, " has shape ",
               shape_str(r.shape()), ", tensor ", i, " has shape ", shape_str(t.shape()));
    for (int64_t d = 0; d < r.dim(); ++d)
      ATTN_CHECK(d == dim || t.shape()[size_t(d)] == r.shape()[size_t(d)], "cat: sizes must match except in dim ", dim,
                 "; tensor ", ref, " has shape ", shape_str(r.shape()), ", tensor ", i, " has shape ", shape_str(t.shape()));
    out_shape[size_t(dim)] += t.shape()[size_t(dim)];
  }
  Tensor out = empty(out_shape, dt);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() != r.dim() || t.numel() == 0) continue;  // skipped or empty: nothing to copy
    out.narrow(dim, offsets[i], t.size(dim)).copy_(t.detach());
  }
  // forward was out = [t0; t1; ...] along dim, therefore each input's gradient is its slice of g.
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  std::vector<bool> wants;
  for (const Tensor& t : tensors) {
    shapes.push_back(t.shape());
    dtypes.push_back(t.dtype());
    wants.push_back(t.requires_grad());
  }
  const int64_t rank = r.dim();
  autograd::record("cat", out, tensors, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads(shapes.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (!wants[i]) continue;
      if (int64_t(shapes[i].size()) != rank) grads[i] = zeros(shapes[i], dtypes[i]);  // a skipped [0]
      else grads[i] = g.narrow(dim, offsets[i], shapes[i][size_t(dim)]).to(dtypes[i]);
    }
    return grads;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  ATTN_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  const Tensor& r = tensors[0];
  dim = ops::wrap_dim(dim, r.dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    ATTN_CHECK(tensors[i].shape() == r.shape(), "stack: expects each tensor to be equal size, but got ",
               shape_str(r.shape()), " at entry 0 and ", shape_str(tensors[i].shape()), " at entry ", i);
    parts.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  ATTN_CHECK(x.dim() > 0, "split: expected a tensor with at least one dim, got shape ", shape_str(x.shape()));
  dim = ops::wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(dim);
  ATTN_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split: split_size must be positive (0 only for an empty dim), got ",
             split_size, " for shape ", shape_str(x.shape()), " along dim ", dim);
  if (n == 0) return {x.narrow(dim, 0, 0)};
  std::vector<Tensor> out;
  for (int64_t s = 0; s < n; s += split_size) out.push_back(x.narrow(dim, s, std::min(split_size, n - s)));
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  ATTN_CHECK(x.dim() > 0, "split: expected a tensor with at least one dim, got shape ", shape_str(x.shape()));
  dim = ops::wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    ATTN_CHECK(s >= 0, "split: sizes must be non-negative, got ", shape_str(sizes));
    total += s;
  }
  ATTN_CHECK(total == x.size(dim), "split: sizes ", shape_str(sizes), " sum to ", total, " but dim ", dim,
             " of shape ", shape_str(x.shape()), " has size ", x.size(dim));
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  ATTN_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks);
  ATTN_CHECK(x.dim() > 0, "chunk: expected a tensor with at least one dim, got shape ", shape_str(x.shape()));
  dim = ops::wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  if (n == 0) return std::vector<Tensor>(size_t(chunks), x.narrow(dim, 0, 0));  // as torch: `chunks` empty pieces
  return split(x, (n + chunks - 1) / chunks, dim);
}

namespace {

// out = x with elements outside the band zeroed; the band is j - i >= diagonal (upper) or
// j - i <= diagonal (lower) on the last two dims. Rows are independent: parallel over them.
Tensor band(const Tensor& x, int64_t diagonal, bool upper, const char* name) {
  ATTN_CHECK(x.dim() >= 2, name, ": expected a tensor with at least 2 dims, got shape ", shape_str(x.shape()));
  Tensor out = empty(x.shape(), x.dtype());
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const Shape batch(x.shape().begin(), x.shape().end() - 2), bst(x.strides().begin(), x.strides().end() - 2);
  const std::vector<int64_t> boff = kernels::detail::all_offsets(batch, bst);
  const int64_t rs = x.stride(-2), cs = x.stride(-1), nb = int64_t(boff.size());
  ATTN_DISPATCH_ALL(x.dtype(), name, [&] {
    const scalar_t* px = x.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    kernels::parallel_for(0, nb * rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / rows, i = r % rows;
        const scalar_t* src = px + boff[size_t(b)] + i * rs;
        scalar_t* dst = po + r * cols;
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? j - i >= diagonal : j - i <= diagonal;
          dst[j] = keep ? src[j * cs] : scalar_t(0);
        }
      }
    });
  });
  // forward masked x with a fixed band, therefore the gradient is g masked with the same band.
  autograd::record(name, out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {upper ? triu(g, diagonal) : tril(g, diagonal)};
  });
  return out;
}

}  // namespace

Tensor triu(const Tensor& x, int64_t diagonal) { return band(x, diagonal, true, "triu"); }
Tensor tril(const Tensor& x, int64_t diagonal) { return band(x, diagonal, false, "tril"); }

Tensor flip(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<bool> flipped(size_t(std::max<int64_t>(x.dim(), 1)), false);
  for (int64_t d : dims) {
    const int64_t w = ops::wrap_dim(d, x.dim(), "flip");
    ATTN_CHECK(!flipped[size_t(w)], "flip: dim ", w, " appears multiple times in dims ", shape_str(dims));
    flipped[size_t(w)] = true;
  }
  Tensor out = empty(x.shape(), x.dtype());
  // Read x backwards along the flipped dims: start at their last element, negate their strides.
  Shape src_strides = x.strides();
  int64_t start = 0;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (flipped[size_t(d)] && x.shape()[size_t(d)] > 0) {
      start += (x.shape()[size_t(d)] - 1) * x.strides()[size_t(d)];
      src_strides[size_t(d)] = -src_strides[size_t(d)];
    }
  ATTN_DISPATCH_ALL(x.dtype(), "flip", [&] {
    const scalar_t* px = x.data_ptr<scalar_t>() + start;
    scalar_t* po = out.data_ptr<scalar_t>();
    kernels::strided_for_each<2>(out.shape(), {out.strides().data(), src_strides.data()},
                                 [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                                   for (int64_t i = 0; i < n; ++i) po[off[0] + i * st[0]] = px[off[1] + i * st[1]];
                                 });
  });
  // forward reversed elements along dims, therefore the gradient is g reversed along them too.
  autograd::record("flip", out, {x}, [dims](const Tensor& g) -> std::vector<Tensor> { return {flip(g, dims)}; });
  return out;
}

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  ATTN_CHECK(int64_t(repeats.size()) >= x.dim(), "repeat: number of repeat dims ", shape_str(repeats),
             " can not be smaller than the number of dims of the tensor ", shape_str(x.shape()));
  for (int64_t r : repeats) ATTN_CHECK(r >= 0, "repeat: repeats must be non-negative, got ", shape_str(repeats));
  const size_t nd = repeats.size();
  Shape padded(nd - size_t(x.dim()), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  // A composition of differentiable views: [s0, s1, ...] -> [1, s0, 1, s1, ...] -> expand to
  // [r0, s0, r1, s1, ...] -> (one copy) [r0 s0, r1 s1, ...]. Its backward is expand's sum.
  Tensor t = x.reshape(padded);
  Shape expanded, result;
  for (size_t d = 0; d < nd; ++d) {
    t = t.unsqueeze(int64_t(2 * d));
    expanded.push_back(repeats[d]);
    expanded.push_back(padded[d]);
    result.push_back(repeats[d] * padded[d]);
  }
  return t.expand(expanded).contiguous().view(result);
}

}  // namespace attn
