// Differentiable views: reshape, transpose, permute, narrow, select, unsqueeze, squeeze, expand.
// A view shares storage with its base; its backward maps the gradient back to the base's shape.
#include <algorithm>
#include <numeric>

#include "attn/core/autograd.h"
#include "attn/core/tensor.h"

namespace attn {
namespace {

int64_t wrap(int64_t d, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  ATTN_CHECK(d >= -n && d < n, op, ": dimension ", d, " out of range for a tensor with ", ndim, " dims");
  return d < 0 ? d + n : d;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Shape infer_shape(Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ATTN_CHECK(infer < 0, "view: only one dimension can be -1, got ", shape_str(shape));
      infer = int64_t(i);
    } else {
      ATTN_CHECK(shape[i] >= 0, "view: invalid shape ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ATTN_CHECK(known != 0 && numel % known == 0, "shape ", shape_str(shape), " is invalid for input of shape ",
               shape_str(from), " (", numel, " elements)");
    shape[infer] = numel / known;
  }
  ATTN_CHECK(shape_numel(shape) == numel, "shape ", shape_str(shape), " is invalid for input of shape ", shape_str(from),
             " (", numel, " elements)");
  return shape;
}

// Strides for viewing (shape, strides) as new_shape without copying, or empty when impossible
// (same algorithm as PyTorch's computeStride: match runs of dims that are contiguous in memory).
bool view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape, Shape* out) {
  out->assign(new_shape.size(), 0);
  if (shape_numel(shape) == 0 || shape.empty()) {  // empty or 0-d: any layout works
    *out = contiguous_strides(new_shape);
    return true;
  }
  int64_t view_d = int64_t(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        (*out)[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor Tensor::view(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape());
  Shape st;
  ATTN_CHECK(view_strides(this->shape(), strides(), shape, &st), "view: shape ", shape_str(shape),
             " is not compatible with input shape ", shape_str(this->shape()), " and strides ", shape_str(strides()),
             "; use reshape()");
  Tensor out = make_view(*this, shape, st, storage_offset());
  const Shape in_shape = this->shape();
  autograd::record("view", out, {*this}, [in_shape](const Tensor& g) -> std::vector<Tensor> { return {g.reshape(in_shape)}; });
  return out;
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape());
  Shape st;
  if (view_strides(this->shape(), strides(), shape, &st)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap(start_dim, dim(), "flatten");
  end_dim = wrap(end_dim, dim(), "flatten");
  ATTN_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " > end_dim ", end_dim);
  Shape s(shape().begin(), shape().begin() + start_dim);
  int64_t m = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) m *= shape()[d];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + end_dim + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::permute(Shape dims) const {
  ATTN_CHECK(int64_t(dims.size()) == dim(), "permute: got ", dims.size(), " dims ", shape_str(dims), " for a tensor of shape ",
             shape_str(shape()));
  Shape s(dim()), st(dim()), inverse(dim());
  std::vector<bool> used(dim(), false);
  for (int64_t i = 0; i < dim(); ++i) {
    const int64_t d = wrap(dims[i], dim(), "permute");
    ATTN_CHECK(!used[d], "permute: repeated dim in ", shape_str(dims));
    used[d] = true;
    s[i] = shape()[d];
    st[i] = strides()[d];
    inverse[d] = i;
  }
  Tensor out = make_view(*this, s, st, storage_offset());
  autograd::record("permute", out, {*this}, [inverse](const Tensor& g) -> std::vector<Tensor> { return {g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0) return *this;
  d0 = wrap(d0, dim(), "transpose");
  d1 = wrap(d1, dim(), "transpose");
  Shape p(dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[d0], p[d1]);
  return permute(p);
}

Tensor Tensor::t() const {
  ATTN_CHECK(dim() <= 2, "t(): expects a tensor with <= 2 dims, got shape ", shape_str(shape()));
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap(d, dim(), "slice");
  ATTN_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, s, st, storage_offset() + start * strides()[d]);
  const Shape in_shape = shape();
  const DType dt = dtype();
  autograd::record("slice", out, {*this}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gi = zeros(in_shape, dt);
    gi.slice(d, start, end, step).copy_(g);
    return {gi};
  });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap(d, dim(), "narrow");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  ATTN_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: range [", start, ", ", start + length,
             ") out of bounds for dim ", d, " of size ", n, " (shape ", shape_str(shape()), ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  ATTN_CHECK(dim() > 0, "select() cannot be applied to a 0-dim tensor");
  d = wrap(d, dim(), "select");
  const int64_t n = shape()[d];
  ATTN_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dim ", d, " of size ", n, " (shape ",
             shape_str(shape()), ")");
  if (index < 0) index += n;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, storage_offset() + index * strides()[d]);
  const Shape in_shape = shape();
  const DType dt = dtype();
  autograd::record("select", out, {*this}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor gi = zeros(in_shape, dt);
    gi.select(d, index).copy_(g);
    return {gi};
  });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  Tensor out = make_view(*this, s, st, storage_offset());
  autograd::record("unsqueeze", out, {*this}, [d](const Tensor& g) -> std::vector<Tensor> { return {g.squeeze(d)}; });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, storage_offset());
  autograd::record("squeeze", out, {*this}, [d](const Tensor& g) -> std::vector<Tensor> { return {g.unsqueeze(d)}; });
  return out;
}

Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t x : shape())
    if (x != 1) s.push_back(x);
  return reshape(s);
}

Tensor Tensor::expand(Shape shape) const {
  const int64_t nd = int64_t(shape.size());
  ATTN_CHECK(nd >= dim(), "expand: target shape ", shape_str(shape), " has fewer dims than input ", shape_str(this->shape()));
  Shape st(nd, 0);
  for (int64_t i = nd - 1; i >= 0; --i) {
    const int64_t j = i - (nd - dim());
    if (j < 0) {
      ATTN_CHECK(shape[i] >= 0, "expand: -1 is not allowed for new leading dims, got ", shape_str(shape));
      continue;
    }
    const int64_t have = this->shape()[j];
    if (shape[i] == -1) shape[i] = have;
    ATTN_CHECK(have == shape[i] || have == 1, "expand: the expanded size (", shape[i], ") must match the existing size (",
               have, ") at non-singleton dim ", i, "; input ", shape_str(this->shape()), ", target ", shape_str(shape));
    st[i] = have == 1 && shape[i] != 1 ? 0 : strides()[j];
  }
  if (shape == this->shape()) return *this;
  Tensor out = make_view(*this, shape, st, storage_offset());
  const Shape in_shape = this->shape();
  autograd::record("expand", out, {*this},
                   [in_shape](const Tensor& g) -> std::vector<Tensor> { return {autograd::sum_to(g, in_shape)}; });
  return out;
}

}  // namespace attn
