// attn.Tensor and the core functions around it: dtypes, creation, random numbers, autograd,
// gradcheck, threads. Python-only conveniences (repr, indexing, factory signatures with *size)
// are in python/attn/_tensor.py and python/attn/__init__.py; they only parse arguments and call
// what is bound here.
#include "common.h"

namespace attn::python {

void set_dtype_object(DType dt, py::object obj);  // convert.cc

namespace {

// view(2, 3) and view((2, 3)) both mean shape [2, 3], as in PyTorch.
Shape shape_from_args(const py::args& args) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return to_shape(args[0]);
  Shape s;
  for (py::handle h : args) s.push_back(h.cast<int64_t>());
  return s;
}

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

// Python value of a one-element tensor: float, int or bool by dtype.
py::object item_of(const Tensor& t) {
  if (t.is_floating_point()) return py::float_(t.item<double>());
  if (t.dtype() == kBool) return py::bool_(t.item<bool>());
  return py::int_(t.item<int64_t>());
}

// Binary operator with a Tensor or Python number on the other side; NotImplemented otherwise so
// Python can try the reflected operator.
template <class Fn>
auto binary_operator(Fn fn, bool reflected) {
  return [fn, reflected](const Tensor& self, py::object other) -> py::object {
    Tensor o;
    if (py::isinstance<Tensor>(other)) o = other.cast<Tensor>();
    else if (is_py_scalar(other)) o = scalar_operand(other, self);
    else if (py::isinstance<py::array>(other)) o = numpy_to_tensor_copy(other, std::nullopt);
    else return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    Tensor r;
    {
      py::gil_scoped_release nogil;
      r = reflected ? fn(o, self) : fn(self, o);
    }
    return py::cast(std::move(r));
  };
}

// x += y: computes x + y and copies it into x's memory (so numpy views and other views of x see
// the change). Tensor::copy_ refuses tensors that require grad while grad mode is on, as PyTorch
// refuses in-place ops on leaves; the copy is not recorded, so an operand with history is refused too.
template <class Fn>
auto inplace_operator(Fn fn, const char* name) {
  return [fn, name](py::object self_obj, py::object other) -> py::object {
    Tensor self = self_obj.cast<Tensor>();
    Tensor o;
    if (py::isinstance<Tensor>(other)) o = other.cast<Tensor>();
    else if (is_py_scalar(other)) o = scalar_operand(other, self);
    else if (py::isinstance<py::array>(other)) o = numpy_to_tensor_copy(other, std::nullopt);
    else return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    if (is_grad_enabled() && o.requires_grad())
      throw Error(std::string(name) + ": in-place operations are not recorded by attn's autograd, and the operand " +
                  o.describe() + " requires grad; write x = x " + std::string(name).substr(2, 1) + " y instead");
    {
      py::gil_scoped_release nogil;
      self.copy_(fn(self, o));
    }
    return self_obj;
  };
}

}  // namespace

void bind_tensor(py::module_& m) {
  // --- dtypes -----------------------------------------------------------------------------------
  py::class_<DType> dtype_cls(m, "dtype");
  dtype_cls.def("__repr__", [](DType d) { return std::string("attn.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("attn.") + dtype_name(d); })
      .def("__eq__", [](DType a, py::object b) { return py::isinstance<DType>(b) && a == b.cast<DType>(); })
      .def("__hash__", [](DType d) { return int(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating_point(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); })
      .def_property_readonly("name", [](DType d) { return dtype_name(d); })
      .def(py::pickle([](DType d) { return int(d); }, [](int v) { return DType(v); }));
  for (DType d : {kFloat32, kFloat64, kInt64, kBool, kUInt8}) {
    py::object obj = py::cast(d);
    set_dtype_object(d, obj);
    m.attr(dtype_name(d)) = obj;
  }

  // --- grad_fn nodes ----------------------------------------------------------------------------
  py::class_<autograd::Node, std::shared_ptr<autograd::Node>>(m, "Node")
      .def("name", [](const autograd::Node& n) { return n.name; })
      .def("__repr__", [](const autograd::Node& n) {
        // "mul" -> <MulBackward>, "scaled_dot_product_attention" -> <ScaledDotProductAttentionBackward>
        std::string s = "<";
        bool up = true;
        for (char c : n.name) {
          if (c == '_' || c == ' ') {
            up = true;
            continue;
          }
          s += up ? char(std::toupper(static_cast<unsigned char>(c))) : c;
          up = false;
        }
        return s + "Backward>";
      });

  // --- Tensor -----------------------------------------------------------------------------------
  py::class_<Tensor> t(m, "Tensor", R"doc(An n-dimensional array with autograd, like torch.Tensor.

Make one with attn.tensor(data) (copies), attn.from_numpy(array) (shares memory), or a factory
such as attn.zeros / attn.randn. t.numpy() is a zero-copy numpy view.)doc");
  // Make numpy's binary operators defer to ours (ndarray + Tensor -> Tensor.__radd__).
  t.attr("__array_priority__") = 1000;

  // Tensor(t) is another handle to the same tensor (same autograd identity); Tensor(data) copies
  // like attn.tensor(data). Python subclasses (attn.nn.Parameter) build on this.
  t.def(py::init([](py::object data) {
     if (py::isinstance<Tensor>(data)) return data.cast<Tensor>();
     return numpy_to_tensor_copy(data, std::nullopt);
   }), py::arg("data"));
  t.def_property_readonly("shape", [](const Tensor& x) { return shape_tuple(x.shape()); })
      .def("size", [](const Tensor& x, py::object dim) -> py::object {
            if (dim.is_none()) return shape_tuple(x.shape());
            return py::int_(x.size(dim.cast<int64_t>()));
          }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& x, py::object dim) -> py::object {
            if (dim.is_none()) return shape_tuple(x.strides());
            return py::int_(x.stride(dim.cast<int64_t>()));
          }, py::arg("dim") = py::none())
      .def("storage_offset", &Tensor::storage_offset)
      .def_property_readonly("dtype", [](const Tensor& x) { return py_dtype(x.dtype()); })
      .def_property_readonly("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", [](const Tensor& x) { return x.itemsize(); })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
      .def("data_ptr", [](const Tensor& x) { return reinterpret_cast<uintptr_t>(x.raw_data()); })
      .def("_is_same", &Tensor::is_same)
      .def("_storage_id", [](const Tensor& x) { return reinterpret_cast<uintptr_t>(x.storage().get()); })
      .def("__hash__", [](py::object self) { return py::hash(py::int_(reinterpret_cast<uintptr_t>(self.ptr()))); })

      // --- autograd -----------------------------------------------------------------------------
      .def_property("requires_grad", &Tensor::requires_grad,
                    [](Tensor& x, bool on) { x.requires_grad_(on); })
      .def("requires_grad_", [](py::object self, bool on) {
            self.cast<Tensor>().requires_grad_(on);
            return self;
          }, py::arg("requires_grad") = true)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property("grad",
                    [](const Tensor& x) -> py::object {
                      Tensor g = x.grad();
                      if (!g.defined()) return py::none();
                      return py::cast(g);
                    },
                    [](Tensor& x, py::object g) { x.set_grad(g.is_none() ? Tensor() : g.cast<Tensor>()); })
      .def_property_readonly("grad_fn", [](const Tensor& x) -> py::object {
        if (!x.grad_fn()) return py::none();
        return py::cast(x.grad_fn());
      })
      .def("retain_grad", &Tensor::retain_grad)
      .def("backward", [](const Tensor& x, py::object gradient, bool retain_graph) {
            Tensor g = gradient.is_none() ? Tensor() : as_tensor(gradient, &x);
            py::gil_scoped_release nogil;
            x.backward(g, retain_graph);
          }, py::arg("gradient") = py::none(), py::arg("retain_graph") = false)
      .def("detach", &Tensor::detach)

      // --- copies and conversions ----------------------------------------------------------------
      .def("clone", &Tensor::clone, release_gil())
      .def("contiguous", &Tensor::contiguous, release_gil())
      // to("cpu") / cpu() are no-ops (attn tensors live on the CPU), so device-generic PyTorch code runs.
      .def("to", [](const Tensor& x, py::object dtype) {
        if (py::isinstance<py::str>(dtype) && dtype.cast<std::string>() == "cpu") return x;
        return x.to(to_dtype(dtype));
      }, py::arg("dtype"))
      .def("cpu", [](const Tensor& x) { return x; })
      .def("type", [](const Tensor& x, py::object dtype) { return x.to(to_dtype(dtype)); }, py::arg("dtype"))
      .def("float", [](const Tensor& x) { return x.to(kFloat32); })
      .def("double", [](const Tensor& x) { return x.to(kFloat64); })
      .def("long", [](const Tensor& x) { return x.to(kInt64); })
      .def("bool", [](const Tensor& x) { return x.to(kBool); })
      .def("byte", [](const Tensor& x) { return x.to(kUInt8); })
      .def("numpy", &tensor_to_numpy)
      .def("__array__", [](const Tensor& x, py::object dtype, py::object copy) -> py::object {
            py::object a = tensor_to_numpy(x.detach());
            const bool want_copy = !copy.is_none() && copy.cast<bool>();
            if (!dtype.is_none()) a = a.attr("astype")(dtype, py::arg("copy") = want_copy);
            else if (want_copy) a = a.attr("copy")();
            return a;
          }, py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("item", [](const Tensor& x) { return item_of(x); })
      .def("tolist", [](const Tensor& x) -> py::object {
        if (x.dim() == 0) return item_of(x);
        return tensor_to_numpy(x.detach()).attr("tolist")();
      })
      .def("__float__", [](const Tensor& x) { return x.item<double>(); })
      .def("__int__", [](const Tensor& x) { return x.item<int64_t>(); })
      .def("__bool__", [](const Tensor& x) {
        if (x.numel() != 1)
          throw py::value_error("Boolean value of Tensor with " + std::to_string(x.numel()) +
                                " values is ambiguous (shape " + shape_str(x.shape()) + ")");
        return x.item<double>() != 0;
      })
      .def("__len__", [](const Tensor& x) {
        if (x.dim() == 0) throw py::type_error("len() of a 0-d tensor");
        return x.size(0);
      })
      .def("_to_string", &Tensor::to_string)
      .def("_describe", &Tensor::describe)

      // --- views --------------------------------------------------------------------------------
      .def("view", [](const Tensor& x, py::args shape) { return x.view(shape_from_args(shape)); })
      .def("reshape", [](const Tensor& x, py::args shape) { return x.reshape(shape_from_args(shape)); })
      .def("view_as", [](const Tensor& x, const Tensor& o) { return x.view(o.shape()); })
      .def("reshape_as", [](const Tensor& x, const Tensor& o) { return x.reshape(o.shape()); })
      .def("flatten", &Tensor::flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1)
      .def("transpose", &Tensor::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("t", &Tensor::t)
      .def_property_readonly("T", [](const Tensor& x) {
        Shape dims;
        for (int64_t d = x.dim() - 1; d >= 0; --d) dims.push_back(d);
        return x.permute(dims);
      })
      .def("permute", [](const Tensor& x, py::args dims) { return x.permute(shape_from_args(dims)); })
      .def("narrow", &Tensor::narrow, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("select", &Tensor::select, py::arg("dim"), py::arg("index"))
      .def("_slice", &Tensor::slice, py::arg("dim"), py::arg("start"), py::arg("end"), py::arg("step") = 1)
      .def("unsqueeze", &Tensor::unsqueeze, py::arg("dim"))
      .def("squeeze", [](const Tensor& x, py::object dim) {
            return dim.is_none() ? x.squeeze() : x.squeeze(dim.cast<int64_t>());
          }, py::arg("dim") = py::none())
      .def("expand", [](const Tensor& x, py::args shape) { return x.expand(shape_from_args(shape)); })
      .def("expand_as", &Tensor::expand_as)

      // --- in place (refused on tensors that require grad while grad mode is on) -----------------
      .def("copy_", [](py::object self, py::object src) {
            Tensor s = as_tensor(src);
            Tensor x = self.cast<Tensor>();
            {
              py::gil_scoped_release nogil;
              x.copy_(s);
            }
            return self;
          }, py::arg("src"))
      .def("fill_", [](py::object self, double v) {
            self.cast<Tensor>().fill_(v);
            return self;
          }, py::arg("value"))
      .def("zero_", [](py::object self) {
        self.cast<Tensor>().zero_();
        return self;
      })
      .def("uniform_", [](py::object self, double low, double high, Generator* gen) {
            Tensor x = self.cast<Tensor>();
            uniform_(x, low, high, gen);
            return self;
          }, py::arg("from") = 0.0, py::arg("to") = 1.0, py::arg("generator") = py::none())
      .def("normal_", [](py::object self, double mean, double std, Generator* gen) {
            Tensor x = self.cast<Tensor>();
            normal_(x, mean, std, gen);
            return self;
          }, py::arg("mean") = 0.0, py::arg("std") = 1.0, py::arg("generator") = py::none())

      // --- arithmetic ---------------------------------------------------------------------------
      .def("__add__", binary_operator([](const Tensor& a, const Tensor& b) { return add(a, b); }, false))
      .def("__radd__", binary_operator([](const Tensor& a, const Tensor& b) { return add(a, b); }, true))
      .def("__sub__", binary_operator([](const Tensor& a, const Tensor& b) { return sub(a, b); }, false))
      .def("__rsub__", binary_operator([](const Tensor& a, const Tensor& b) { return sub(a, b); }, true))
      .def("__mul__", binary_operator([](const Tensor& a, const Tensor& b) { return mul(a, b); }, false))
      .def("__rmul__", binary_operator([](const Tensor& a, const Tensor& b) { return mul(a, b); }, true))
      .def("__truediv__", binary_operator([](const Tensor& a, const Tensor& b) { return div(a, b); }, false))
      .def("__rtruediv__", binary_operator([](const Tensor& a, const Tensor& b) { return div(a, b); }, true))
      .def("__iadd__", inplace_operator([](const Tensor& a, const Tensor& b) { return add(a, b); }, "x += y"))
      .def("__isub__", inplace_operator([](const Tensor& a, const Tensor& b) { return sub(a, b); }, "x -= y"))
      .def("__imul__", inplace_operator([](const Tensor& a, const Tensor& b) { return mul(a, b); }, "x *= y"))
      .def("__itruediv__", inplace_operator([](const Tensor& a, const Tensor& b) { return div(a, b); }, "x /= y"))
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__pos__", [](const Tensor& a) { return a; });

  // --- creation (Python wrappers in __init__.py add *size and requires_grad) --------------------
  m.def("_empty", [](const Shape& s, py::object dt) { return empty(s, to_dtype(dt)); });
  m.def("_zeros", [](const Shape& s, py::object dt) { return zeros(s, to_dtype(dt)); });
  m.def("_ones", [](const Shape& s, py::object dt) { return ones(s, to_dtype(dt)); });
  m.def("_full", [](const Shape& s, double v, py::object dt) { return full(s, v, to_dtype(dt)); });
  m.def("_arange", [](double start, double end, double step, py::object dt) { return arange(start, end, step, to_dtype(dt)); });
  m.def("_linspace", [](double start, double end, int64_t steps, py::object dt) { return linspace(start, end, steps, to_dtype(dt)); });
  m.def("_eye", [](int64_t n, int64_t mm, py::object dt) { return eye(n, mm, to_dtype(dt)); });
  m.def("tensor", [](py::object data, py::object dtype, bool requires_grad) {
        Tensor x = numpy_to_tensor_copy(data, to_optional_dtype(dtype));
        if (requires_grad) x.requires_grad_(true);
        return x;
      }, py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      "Copies data (a numpy array, nested lists, a number or a Tensor) into a new tensor. Python floats "
      "become float32, numpy arrays keep their dtype.");
  m.def("from_numpy", &numpy_to_tensor_shared, py::arg("ndarray"),
        "A tensor sharing memory with a numpy array (no copy); the tensor keeps the array alive.");

  // --- random -----------------------------------------------------------------------------------
  py::class_<Generator>(m, "Generator", "A Philox4x32-10 counter-based generator (see attn/core/random.h).")
      .def(py::init<uint64_t>(), py::arg("seed") = 0x5eed)
      .def("manual_seed", [](py::object self, uint64_t s) {
            self.cast<Generator&>().manual_seed(s);
            return self;
          }, py::arg("seed"))
      .def("initial_seed", &Generator::seed)
      .def_property("offset", &Generator::offset, &Generator::set_offset);
  m.attr("default_generator") = py::cast(&default_generator(), py::return_value_policy::reference);
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); }, py::arg("seed"));
  m.def("initial_seed", [] { return default_generator().seed(); });
  m.def("_rand", [](const Shape& s, py::object dt, Generator* g) { return rand(s, to_dtype(dt), g); });
  m.def("_randn", [](const Shape& s, py::object dt, Generator* g) { return randn(s, to_dtype(dt), g); });
  m.def("_randint", [](int64_t low, int64_t high, const Shape& s, py::object dt, Generator* g) {
    return randint(low, high, s, to_dtype(dt), g);
  });
  m.def("randperm", [](int64_t n, Generator* g) { return randperm(n, g); }, py::arg("n"), py::arg("generator") = py::none());
  m.def("bernoulli", [](const Tensor& p, Generator* g) { return bernoulli(p, g); }, py::arg("input"),
        py::arg("generator") = py::none());

  // --- autograd ---------------------------------------------------------------------------------
  m.def("is_grad_enabled", &is_grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled);
  m.def("_autograd_grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                             const std::vector<Tensor>& grad_outputs, bool retain_graph) {
    py::gil_scoped_release nogil;
    return autograd::grad(outputs, inputs, grad_outputs, retain_graph);
  });
  m.def("_gradcheck", [](py::function fn, const std::vector<Tensor>& inputs, double eps, double atol, double rtol,
                         uint64_t seed) {
    GradcheckOptions opt;
    opt.eps = eps;
    opt.atol = atol;
    opt.rtol = rtol;
    opt.seed = seed;
    auto f = [&fn](const std::vector<Tensor>& xs) -> Tensor {
      py::tuple args(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
      py::object r = fn(*args);
      if (!py::isinstance<Tensor>(r))
        throw py::type_error("gradcheck: the function must return one Tensor, got " + py::repr(r).cast<std::string>());
      return r.cast<Tensor>();
    };
    GradcheckResult r = gradcheck(f, inputs, opt);
    return py::make_tuple(r.ok, r.message(), r.max_abs_error, r.max_rel_error);
  });

  // --- process settings -------------------------------------------------------------------------
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("use_reference_kernels", &use_reference_kernels);
  m.def("set_use_reference_kernels", &set_use_reference_kernels, py::arg("on"));
  m.def("cpu_capability", &cpu_capability);
  m.def("empty_cache", &empty_cache);
  m.def("allocator_stats", [] {
    AllocatorStats s = allocator_stats();
    py::dict d;
    d["allocated_bytes"] = s.allocated_bytes;
    d["cached_bytes"] = s.cached_bytes;
    d["peak_allocated_bytes"] = s.peak_allocated_bytes;
    d["os_allocations"] = s.os_allocations;
    return d;
  });
  m.attr("__version__") = version();
}

}  // namespace attn::python
