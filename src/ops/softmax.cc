// softmax, log_softmax: forward through kernels/softmax.h, backward beside each forward.
#include "attn/ops/softmax.h"

#include "kernels/softmax.h"
#include "ops/op_util.h"

namespace attn {

namespace {

// x viewed as [outer, n, inner] around `dim` (x contiguous).
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};

Lines lines_around(const Shape& shape, int64_t dim) {
  Lines l;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < dim) l.outer *= shape[d];
    else if (d == dim) l.n = shape[d];
    else l.inner *= shape[d];
  }
  return l;
}

int64_t checked_dim(const Tensor& x, int64_t dim, const char* name) {
  const int64_t nd = std::max<int64_t>(x.dim(), 1);
  ATTN_CHECK(dim >= -nd && dim < nd, name, ": dim ", dim, " is out of range for input of shape ", shape_str(x.shape()));
  ATTN_CHECK(x.is_floating_point(), name, ": expected a float32 or float64 tensor, got ", x.describe());
  return dim < 0 ? dim + nd : dim;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim, bool log) {
  const Tensor g = dy.contiguous();
  Tensor dx = empty(y.shape(), y.dtype());
  const Lines l = lines_around(y.shape(), dim);
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(y.dtype(), "softmax backward", [&] {
    const scalar_t* py = y.data_ptr<scalar_t>();
    const scalar_t* pg = g.data_ptr<scalar_t>();
    scalar_t* pdx = dx.data_ptr<scalar_t>();
    if (ref) kernels::ref::softmax_backward(py, pg, l.outer, l.n, l.inner, log, pdx);
    else kernels::fast::softmax_backward(py, pg, l.outer, l.n, l.inner, log, pdx);
  });
  return dx;
}

Tensor softmax_impl(const Tensor& x, int64_t dim_arg, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  const int64_t dim = checked_dim(x, dim_arg, name);
  const Tensor xc = x.contiguous();
  Tensor y = empty(x.shape(), x.dtype());
  const Lines l = lines_around(x.shape(), dim);
  const bool ref = use_reference_kernels();
  ATTN_DISPATCH_FLOATING(x.dtype(), name, [&] {
    const scalar_t* px = xc.data_ptr<scalar_t>();
    scalar_t* py = y.data_ptr<scalar_t>();
    if (ref) kernels::ref::softmax(px, l.outer, l.n, l.inner, log, py);
    else kernels::fast::softmax(px, l.outer, l.n, l.inner, log, py);
  });
  // forward was y = softmax(x) (or log_softmax), therefore the backward needs only y and dy.
  autograd::record(name, y, {x}, [yd = y.detach(), dim, log](const Tensor& g) -> std::vector<Tensor> {
    return {softmax_backward(yd, g, dim, log)};
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace attn
