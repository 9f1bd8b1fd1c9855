// Helpers shared by the op files: dim wrapping, dtype promotion and the broadcasting loops that
// feed kernels one contiguous output row at a time. Internal to the ops layer.
#pragma once
#include <array>

#include "attn/core/autograd.h"
#include "attn/core/tensor.h"
#include "attn/kernels/config.h"
#include "kernels/strided.h"

namespace attn::ops {

inline int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  ATTN_CHECK(d >= -n && d < n, op, ": dimension ", d, " out of range for a tensor with ", ndim, " dims");
  return d < 0 ? d + n : d;
}

// Strides that read `t` as if expanded to `shape` (0 on broadcast dims). `shape` must be a
// broadcast of t's shape.
inline Shape expanded_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const int64_t off = int64_t(shape.size()) - t.dim();
  for (int64_t i = 0; i < t.dim(); ++i) st[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// The gradient for an input of `shape` and `dtype` from the gradient of a broadcast result:
// summed over the broadcast dims, converted back to the input's dtype (undefined for non-float).
inline Tensor reduce_grad(const Tensor& g, const Shape& shape, DType dtype) {
  if (!is_floating_point(dtype)) return Tensor();
  return autograd::sum_to(g, shape).to(dtype);
}

// A 0-d tensor of `dtype` holding v, for operators with a scalar operand.
inline Tensor wrap_scalar(double v, DType dtype) { return scalar_tensor(v, dtype); }

// out = fn(a, b) row by row over the broadcast shape. `out` is contiguous with that shape;
// inner(n, pa, sa, pb, sb, pout) handles one row (sa, sb element strides, may be 0).
template <class T, class Inner>
void broadcast_binary(const Tensor& out, const Tensor& a, const Tensor& b, const Inner& inner) {
  const Shape sa = expanded_strides(a, out.shape()), sb = expanded_strides(b, out.shape());
  T* po = out.data_ptr<T>();
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  kernels::strided_for_each<3>(out.shape(), {out.strides().data(), sa.data(), sb.data()},
                               [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
                                 inner(n, pa + off[1], st[1], pb + off[2], st[2], po + off[0]);
                               });
}

// out = fn(a) row by row; out contiguous with a's shape. inner(n, pa, sa, pout).
template <class T, class U, class Inner>
void map_unary(const Tensor& out, const Tensor& a, const Inner& inner) {
  U* po = out.data_ptr<U>();
  const T* pa = a.data_ptr<T>();
  kernels::strided_for_each<2>(out.shape(), {out.strides().data(), a.strides().data()},
                               [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                                 inner(n, pa + off[1], st[1], po + off[0]);
                               });
}

}  // namespace attn::ops
