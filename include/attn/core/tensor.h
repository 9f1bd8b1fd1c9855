// attn::Tensor: an n-dimensional strided view of a shared Storage, with an element type and
// optional autograd history. Copying a Tensor copies a handle (like torch.Tensor in Python);
// views (reshape, transpose, narrow, ...) share the storage. Dims are int64, negative dims count
// from the end. Shape/view methods live here because autograd needs them; arithmetic, reductions
// and the rest of the functional API are free functions in attn/ops/.
//
// Dimension glossary used across attn: B batch, T target length, S source length, D model dim,
// H heads, Dh head dim, V vocab, L layers, F feed-forward width.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "attn/core/dtype.h"
#include "attn/core/storage.h"

namespace attn {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3]"
int64_t shape_numel(const Shape& s);

class Tensor;
namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape, strides;
  DType dtype = kFloat32;
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- metadata ---------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  size_t itemsize() const { return attn::itemsize(impl().dtype); }
  int64_t storage_offset() const { return impl().offset; }
  bool is_contiguous() const;
  bool is_floating_point() const { return attn::is_floating_point(dtype()); }
  std::string to_string() const;  // values, like print(tensor)
  std::string describe() const;   // "float32[2, 3]"

  // --- raw data -------------------------------------------------------------------------------
  // Pointer to element [0, 0, ...] (storage offset applied). Checks the dtype.
  template <class T> T* data_ptr() const;
  void* raw_data() const;
  template <class T> T item() const;  // value of a one-element tensor, converted to T
  double item() const { return item<double>(); }
  std::shared_ptr<Storage> storage() const { return impl().storage; }

  // --- views and copies (differentiable) ------------------------------------------------------
  Tensor view(Shape shape) const;     // requires compatible strides; -1 infers one dim
  Tensor reshape(Shape shape) const;  // a view when possible, otherwise a copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor permute(Shape dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(Shape shape) const;  // -1 keeps a dim; new leading dims allowed
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor contiguous() const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  Tensor detach() const;  // shares storage, no history

  // --- in-place (not recorded by autograd; refused on tensors that need grad while grad mode is on)
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }

  // --- autograd -------------------------------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
  void set_grad(const Tensor& g);
  void retain_grad();
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // Back-propagates from this tensor. A scalar uses gradient 1; otherwise pass `gradient`.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Result of ops that return values and their int64 indices (max(dim), topk, sort), like
// PyTorch's named tuple (values, indices).
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};

// --- creation -----------------------------------------------------------------------------------
Tensor empty(Shape shape, DType dtype = kFloat32);
Tensor zeros(Shape shape, DType dtype = kFloat32);
Tensor ones(Shape shape, DType dtype = kFloat32);
Tensor full(Shape shape, double value, DType dtype = kFloat32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor scalar_tensor(double value, DType dtype = kFloat32);  // 0-d
// arange(end), arange(start, end, step): int64 unless a dtype is given.
Tensor arange(double end, DType dtype = kInt64);
Tensor arange(double start, double end, double step = 1.0, DType dtype = kInt64);
Tensor linspace(double start, double end, int64_t steps, DType dtype = kFloat32);
Tensor eye(int64_t n, int64_t m = -1, DType dtype = kFloat32);
// Copies values into a new tensor: 1-D without a shape (torch.tensor([..])), otherwise exactly
// `shape` ({} gives a 0-d tensor and needs one value).
template <class T> Tensor tensor(const std::vector<T>& values, Shape shape);
template <class T> Tensor tensor(const std::vector<T>& values) { return tensor(values, Shape{int64_t(values.size())}); }
Tensor tensor(std::initializer_list<float> values);
Tensor tensor(std::initializer_list<float> values, Shape shape);
// Wraps external memory without copying; `deleter` runs when the last view dies.
Tensor from_blob(void* data, Shape shape, Shape strides, DType dtype, std::function<void(void*)> deleter);
Shape contiguous_strides(const Shape& shape);

// Reads values of any dtype as double / int64 (for tests and printing; not for hot paths).
std::vector<double> to_double_vector(const Tensor& t);
std::vector<int64_t> to_int64_vector(const Tensor& t);

// Version string of the library, e.g. "0.1.0".
const char* version();

// --- template definitions -----------------------------------------------------------------------
template <class T>
T* Tensor::data_ptr() const {
  ATTN_CHECK(dtype() == dtype_of_v<T>, "data_ptr: tensor is ", dtype(), ", requested ", dtype_of_v<T>);
  return static_cast<T*>(raw_data());
}

template <class T>
T Tensor::item() const {
  ATTN_CHECK(numel() == 1, "item(): expected a tensor with one element, got shape ", shape_str(shape()));
  return ATTN_DISPATCH_ALL(dtype(), "item", [&]() -> T { return static_cast<T>(*static_cast<scalar_t*>(raw_data())); });
}

}  // namespace attn
