// Tensor metadata, creation, copies and printing. The differentiable views are in views.cc.
#include "attn/core/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "attn/core/autograd.h"
#include "kernels/strided.h"

namespace attn {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

const char* version() {
#ifdef ATTN_VERSION
  return ATTN_VERSION;
#else
  return "unknown";
#endif
}

TensorImpl& Tensor::impl() const {
  ATTN_CHECK(impl_ != nullptr, "operation on an undefined tensor");
  return *impl_;
}

static int64_t wrap_dim(int64_t d, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  ATTN_CHECK(d >= -n && d < n, "dimension ", d, " out of range for a tensor with ", ndim, " dims");
  return d < 0 ? d + n : d;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] != 1 && strides()[d] != acc) return false;
    acc *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * int64_t(itemsize());
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape());
}

// --- creation ---------------------------------------------------------------------------------

Tensor empty(Shape shape, DType dtype) {
  for (int64_t d : shape) ATTN_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * attn::itemsize(dtype));
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  t.fill_(value);
  return t;
}
Tensor zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  std::memset(t.raw_data(), 0, size_t(t.numel()) * t.itemsize());
  return t;
}
Tensor ones(Shape shape, DType dtype) { return full(std::move(shape), 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype()); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange(double end, DType dtype) { return arange(0, end, 1, dtype); }
Tensor arange(double start, double end, double step, DType dtype) {
  ATTN_CHECK(step != 0, "arange: step must be nonzero");
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor t = empty({n}, dtype);
  ATTN_DISPATCH_NUMERIC(dtype, "arange", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(start + double(i) * step);
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  ATTN_CHECK(steps >= 0, "linspace: steps must be non-negative, got ", steps);
  Tensor t = empty({steps}, dtype);
  ATTN_DISPATCH_FLOATING(dtype, "linspace", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    const double step = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
    for (int64_t i = 0; i < steps; ++i) p[i] = static_cast<scalar_t>(start + double(i) * step);
  });
  return t;
}

Tensor eye(int64_t n, int64_t m, DType dtype) {
  if (m < 0) m = n;
  Tensor t = zeros({n, m}, dtype);
  ATTN_DISPATCH_ALL(dtype, "eye", [&] {
    scalar_t* p = t.data_ptr<scalar_t>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = scalar_t(1);
  });
  return t;
}

template <class T>
Tensor tensor(const std::vector<T>& values, Shape shape) {
  ATTN_CHECK(shape_numel(shape) == int64_t(values.size()), "tensor: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of_v<T>);
  T* p = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}
template Tensor tensor<float>(const std::vector<float>&, Shape);
template Tensor tensor<double>(const std::vector<double>&, Shape);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, Shape);
template Tensor tensor<uint8_t>(const std::vector<uint8_t>&, Shape);
template <>
Tensor tensor<bool>(const std::vector<bool>& values, Shape shape) {
  ATTN_CHECK(shape_numel(shape) == int64_t(values.size()), "tensor: ", values.size(),
             " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, kBool);
  bool* p = t.data_ptr<bool>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}
Tensor tensor(std::initializer_list<float> values, Shape shape) {
  return tensor(std::vector<float>(values), std::move(shape));
}
Tensor tensor(std::initializer_list<float> values) { return tensor(std::vector<float>(values)); }

Tensor from_blob(void* data, Shape shape, Shape strides, DType dtype, std::function<void(void*)> deleter) {
  ATTN_CHECK(strides.empty() || strides.size() == shape.size(), "from_blob: shape ", shape_str(shape),
             " and strides ", shape_str(strides), " differ in length");
  if (strides.empty()) strides = contiguous_strides(shape);
  // The storage is described as starting at `data`; negative strides are not supported.
  int64_t extent = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    ATTN_CHECK(strides[d] >= 0, "from_blob: negative strides are not supported");
    if (shape[d] == 0) extent = 0;
    if (extent) extent += (shape[d] - 1) * strides[d];
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(data, size_t(extent) * attn::itemsize(dtype), std::move(deleter));
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

// --- copies -------------------------------------------------------------------------------------

namespace {
// dst[i] = convert(src[i]) over a common shape; src strides may be 0 (broadcast).
void copy_kernel(const Tensor& dst, const Tensor& src, const Shape& src_strides) {
  ATTN_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = scalar_t;
    D* dp = static_cast<D*>(dst.raw_data());
    ATTN_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using S = scalar_t;
      const S* sp = static_cast<const S*>(src.raw_data());
      kernels::strided_for_each<2>(dst.shape(), {dst.strides().data(), src_strides.data()},
                                   [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                                     D* d = dp + off[0];
                                     const S* s = sp + off[1];
                                     if (st[0] == 1 && st[1] == 1 && std::is_same_v<D, S>) {
                                       std::memcpy(d, s, size_t(n) * sizeof(D));
                                     } else {
                                       for (int64_t i = 0; i < n; ++i) d[i * st[0]] = static_cast<D>(s[i * st[1]]);
                                     }
                                   });
    });
  });
}

// Strides that read `src` as if expanded to `shape` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& src, const Shape& shape) {
  const int64_t nd = int64_t(shape.size()), sd = src.dim();
  ATTN_CHECK(sd <= nd, "cannot broadcast shape ", shape_str(src.shape()), " to ", shape_str(shape));
  Shape st(nd, 0);
  for (int64_t i = 0; i < sd; ++i) {
    const int64_t d = nd - sd + i;
    const int64_t s = src.shape()[i];
    ATTN_CHECK(s == shape[d] || s == 1, "cannot broadcast shape ", shape_str(src.shape()), " to ", shape_str(shape));
    st[d] = s == 1 ? 0 : src.strides()[i];
  }
  return st;
}

void check_inplace(const Tensor& t, const char* op) {
  ATTN_CHECK(!(is_grad_enabled() && t.requires_grad()), op,
             ": a tensor that requires grad is being used in an in-place operation; wrap it in NoGradGuard "
             "or work on a detached copy");
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  copy_kernel(*this, src, broadcast_strides(src, shape()));
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  ATTN_DISPATCH_ALL(dtype(), "fill_", [&] {
    const scalar_t v = static_cast<scalar_t>(value);
    scalar_t* p = data_ptr<scalar_t>();
    const Shape zero(dim(), 0);
    kernels::strided_for_each<1>(shape(), {strides().data()},
                                 [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
                                   for (int64_t i = 0; i < n; ++i) p[off[0] + i * st[0]] = v;
                                 });
  });
  return *this;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  copy_kernel(out, *this, strides());
  autograd::record("clone", out, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt);
  copy_kernel(out, *this, strides());
  if (attn::is_floating_point(dt) && is_floating_point()) {
    const DType src_dtype = dtype();
    autograd::record("to", out, {*this}, [src_dtype](const Tensor& g) -> std::vector<Tensor> { return {g.to(src_dtype)}; });
  }
  return out;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor& Tensor::requires_grad_(bool on) {
  ATTN_CHECK(!on || is_floating_point(), "requires_grad_: only floating-point tensors can require gradients, got ", dtype());
  ATTN_CHECK(on || is_leaf(), "requires_grad_(false): only leaf tensors can be changed; use detach()");
  impl().requires_grad = on;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    ATTN_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient ", g.describe(),
               " does not match tensor ", describe());
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::retain_grad() {
  ATTN_CHECK(requires_grad(), "retain_grad() on a tensor that does not require grad");
  if (is_leaf()) return;
  impl().retains_grad = true;
  impl().grad_fn->retained_output = impl_;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  ATTN_CHECK(requires_grad(), "backward(): tensor ", describe(), " does not require grad and has no grad_fn");
  Tensor g = gradient;
  if (!g.defined()) {
    ATTN_CHECK(numel() == 1, "backward(): gradient can be implicit only for scalar outputs; got shape ",
               shape_str(shape()), ", pass `gradient`");
    g = ones(shape(), dtype());
  }
  ATTN_CHECK(g.shape() == shape(), "backward(): gradient shape ", shape_str(g.shape()), " does not match output shape ",
             shape_str(shape()));
  autograd::run_backward({*this}, {g}, retain_graph);
}

// --- values for tests and printing --------------------------------------------------------------

std::vector<double> to_double_vector(const Tensor& t) {
  Tensor c = t.contiguous().to(kFloat64);
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}
std::vector<int64_t> to_int64_vector(const Tensor& t) {
  Tensor c = t.contiguous().to(kInt64);
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  NoGradGuard ng;
  std::ostringstream os;
  const std::vector<double> v = to_double_vector(*this);
  const Shape& s = shape();
  const bool integral = !is_floating_point();
  std::function<void(int64_t, int64_t)> rec = [&](int64_t d, int64_t base) {
    if (d == dim()) {
      if (integral) os << int64_t(v[base]);
      else os << std::setprecision(6) << v[base];
      return;
    }
    int64_t inner = 1;
    for (int64_t k = d + 1; k < dim(); ++k) inner *= s[k];
    os << "[";
    const int64_t limit = 8;
    for (int64_t i = 0; i < s[d]; ++i) {
      if (s[d] > 2 * limit && i == limit) {
        os << "..., ";
        i = s[d] - limit;
      }
      if (i) os << ", ";
      rec(d + 1, base + i * inner);
    }
    os << "]";
  };
  os << "tensor(";
  rec(0, 0);
  os << ", dtype=" << dtype_name(dtype()) << (requires_grad() ? ", requires_grad=True" : "") << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace attn
