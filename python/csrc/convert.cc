// Conversions between Python objects and attn values: dtype objects, numpy arrays (shared or
// copied), Python numbers as tensor operands, shapes.
#include <cstring>

#include "common.h"

namespace attn::python {
namespace {

// The five dtype singletons, created once by bind_tensor(); leaked on purpose so that nothing
// touches Python objects during static destruction after the interpreter is gone.
py::object* g_dtype_objects[5] = {};

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case kFloat32: return py::dtype::of<float>();
    case kFloat64: return py::dtype::of<double>();
    case kInt64: return py::dtype::of<int64_t>();
    case kBool: return py::dtype::of<bool>();
    case kUInt8: return py::dtype::of<uint8_t>();
  }
  throw Error("unknown dtype");
}

// The attn dtype whose memory layout equals numpy's `d` exactly (for zero-copy sharing).
std::optional<DType> exact_dtype(const py::dtype& d) {
  const char kind = d.kind();
  const auto size = d.itemsize();
  // Only native byte order can be shared: attn kernels read native values.
  const char order = pystr(d.attr("byteorder"))[0];
  if (order == '>') return std::nullopt;
  if (kind == 'f' && size == 4) return kFloat32;
  if (kind == 'f' && size == 8) return kFloat64;
  if (kind == 'i' && size == 8) return kInt64;
  if (kind == 'b' && size == 1) return kBool;
  if (kind == 'u' && size == 1) return kUInt8;
  return std::nullopt;
}

// The attn dtype a numpy dtype converts to when copying (float16 -> float32, int32 -> int64, ...).
DType copy_dtype(const py::dtype& d) {
  switch (d.kind()) {
    case 'f': return d.itemsize() <= 4 ? kFloat32 : kFloat64;
    case 'i': return kInt64;
    case 'u': return d.itemsize() == 1 ? kUInt8 : kInt64;
    case 'b': return kBool;
  }
  throw py::type_error("attn: cannot convert numpy dtype " + pystr(d) +
                       " to a tensor; supported are floating, integer and bool types");
}

}  // namespace

void set_dtype_object(DType dt, py::object obj) { g_dtype_objects[int(dt)] = new py::object(std::move(obj)); }

py::object py_dtype(DType dt) { return *g_dtype_objects[int(dt)]; }

DType to_dtype(py::handle h) {
  if (py::isinstance<DType>(h)) return h.cast<DType>();
  if (h.is_none()) throw py::type_error("expected a dtype, got None");
  py::dtype d;
  try {
    d = py::dtype::from_args(py::reinterpret_borrow<py::object>(h));
  } catch (py::error_already_set&) {
    throw py::type_error("expected a dtype (attn.float32, attn.float64, attn.int64, attn.bool, attn.uint8), got " +
                         py::repr(h).cast<std::string>());
  }
  if (auto dt = exact_dtype(d)) return *dt;
  throw py::type_error("attn has no dtype matching numpy " + pystr(d) +
                       "; supported: float32, float64, int64, bool, uint8");
}

std::optional<DType> to_optional_dtype(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return to_dtype(h);
}

py::array tensor_to_numpy(const Tensor& t) {
  if (t.requires_grad())
    throw Error("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
  for (int64_t s : t.strides()) strides.push_back(py::ssize_t(s * int64_t(t.itemsize())));
  // The array's base owns a detached handle to the tensor, which keeps the storage alive for as
  // long as numpy needs it.
  auto* keep = new Tensor(t.detach());
  py::capsule base(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(numpy_dtype(t.dtype()), std::move(shape), std::move(strides), t.numel() ? t.raw_data() : nullptr, base);
}

Tensor numpy_to_tensor_shared(py::array arr) {
  const auto dt = exact_dtype(arr.dtype());
  if (!dt)
    throw py::type_error("from_numpy: numpy dtype " + pystr(arr.dtype()) +
                         " cannot be shared; supported are float32, float64, int64, bool, uint8 in native byte "
                         "order (use attn.tensor(arr) to convert with a copy)");
  if (!arr.writeable())
    throw py::value_error("from_numpy: the array is read-only; attn tensors are writable views, so sharing it could "
                          "write into read-only memory (use attn.tensor(arr) to copy it)");
  const int64_t isz = int64_t(itemsize(*dt));
  Shape shape, strides;
  for (py::ssize_t d = 0; d < arr.ndim(); ++d) {
    const int64_t st = int64_t(arr.strides(d));
    if (st < 0)
      throw py::value_error("from_numpy: arrays with negative strides are not supported (got strides " +
                            pystr(arr.attr("strides")) + "); pass arr.copy()");
    if (st % isz != 0)
      throw py::value_error("from_numpy: stride " + std::to_string(st) + " is not a multiple of the item size " +
                            std::to_string(isz) + "; pass arr.copy()");
    shape.push_back(int64_t(arr.shape(d)));
    strides.push_back(st / isz);
  }
  // The storage keeps a reference to the array. The last tensor can die on a thread that has
  // released the GIL (inside backward, say), so the deleter takes it before touching Python.
  auto* keep = new py::object(arr);
  auto deleter = [keep](void*) {
    if (!Py_IsInitialized()) return;  // interpreter gone: leak rather than crash
    py::gil_scoped_acquire gil;
    delete keep;
  };
  return from_blob(const_cast<void*>(arr.data()), std::move(shape), std::move(strides), *dt, deleter);
}

Tensor numpy_to_tensor_copy(py::handle data, std::optional<DType> dtype) {
  if (py::isinstance<Tensor>(data)) {
    Tensor t = data.cast<Tensor>().detach();
    if (dtype && *dtype != t.dtype()) return t.to(*dtype);
    return t.clone();
  }
  py::module_ np = py::module_::import("numpy");
  // numpy arrays and numpy scalars keep their dtype; Python floats become float32 (PyTorch's
  // default dtype) rather than numpy's float64.
  const bool typed = py::isinstance(data, np.attr("ndarray")) || py::isinstance(data, np.attr("generic"));
  py::array arr = np.attr("asarray")(data);
  DType dt;
  if (dtype) {
    dt = *dtype;
  } else {
    dt = copy_dtype(arr.dtype());
    if (!typed && dt == kFloat64) dt = kFloat32;
  }
  if (arr.dtype().kind() == 'O' || arr.dtype().kind() == 'U' || arr.dtype().kind() == 'S')
    throw py::type_error("attn.tensor: cannot make a tensor from " + py::repr(data).cast<std::string>().substr(0, 200));
  // asarray, not ascontiguousarray, which would turn a 0-d array into 1-d.
  py::array c = np.attr("asarray")(arr, numpy_dtype(dt), py::arg("order") = "C");
  Shape shape;
  for (py::ssize_t d = 0; d < c.ndim(); ++d) shape.push_back(int64_t(c.shape(d)));
  Tensor t = empty(shape, dt);
  if (c.nbytes()) std::memcpy(t.raw_data(), c.data(), size_t(c.nbytes()));
  return t;
}

bool is_py_scalar(py::handle h) {
  if (py::isinstance<Tensor>(h) || py::isinstance<py::array>(h)) return false;
  return PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()) || PyFloat_Check(h.ptr()) ||
         (PyNumber_Check(h.ptr()) && !PySequence_Check(h.ptr()));
}

Tensor scalar_operand(py::handle h, const Tensor& like) {
  static py::handle np_bool = py::object(py::module_::import("numpy").attr("bool_")).release();
  const bool is_bool = PyBool_Check(h.ptr()) || py::isinstance(h, np_bool);
  const bool integral = is_bool || PyIndex_Check(h.ptr());
  const double v = h.cast<double>();
  DType dt = like.dtype();
  if (!integral && !like.is_floating_point()) dt = kFloat32;   // int tensor * 0.5 -> float32
  else if (integral && !is_bool && dt == kBool) dt = kInt64;   // bool tensor + 1 -> int64
  return scalar_tensor(v, dt);
}

Tensor as_tensor(py::handle h, const Tensor* like) {
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  if (like && is_py_scalar(h)) return scalar_operand(h, *like);
  return numpy_to_tensor_copy(h, std::nullopt);
}

std::pair<Tensor, Tensor> tensor_pair(py::handle a, py::handle b) {
  if (py::isinstance<Tensor>(a)) {
    Tensor ta = a.cast<Tensor>();
    return {ta, as_tensor(b, &ta)};
  }
  if (py::isinstance<Tensor>(b)) {
    Tensor tb = b.cast<Tensor>();
    return {as_tensor(a, &tb), tb};
  }
  return {as_tensor(a), as_tensor(b)};
}

std::vector<int64_t> to_int_list(py::handle h) {
  std::vector<int64_t> out;
  if (PyIndex_Check(h.ptr())) {
    out.push_back(h.cast<int64_t>());
    return out;
  }
  if (!PySequence_Check(h.ptr()) || py::isinstance<py::str>(h))
    throw py::type_error("expected an int or a sequence of ints, got " + py::repr(h).cast<std::string>());
  for (py::handle x : py::reinterpret_borrow<py::sequence>(h)) {
    if (!PyIndex_Check(x.ptr()))
      throw py::type_error("expected a sequence of ints, got " + py::repr(h).cast<std::string>());
    out.push_back(x.cast<int64_t>());
  }
  return out;
}

Shape to_shape(py::handle h) { return to_int_list(h); }

}  // namespace attn::python
