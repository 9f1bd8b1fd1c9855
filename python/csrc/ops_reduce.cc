// attn.functional: reductions (attn/ops/reduce.h). `dim` may be None (all dims), an int or a
// sequence of ints, as in PyTorch; max/min with a dim return (values, indices) named tuples.
#include "attn/ops/reduce.h"

#include "common.h"

namespace attn::python {
namespace {

// None -> {} (reduce every dim, reduce.h's convention), int -> {d}, sequence -> itself.
std::vector<int64_t> dims_arg(py::handle dim) {
  if (dim.is_none()) return {};
  return to_int_list(dim);
}

}  // namespace

void bind_ops_reduce(py::module_& F) {
  // torch.return_types.max is a named tuple; so is ours.
  static py::object values_indices =
      py::module_::import("collections").attr("namedtuple")("values_indices", py::make_tuple("values", "indices"));
  F.attr("values_indices") = values_indices;
  auto vi = [](ValuesIndices r) { return values_indices(py::cast(std::move(r.values)), py::cast(std::move(r.indices))); };

  F.def("sum", [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    Tensor in = dtype.is_none() ? x : x.to(to_dtype(dtype));
    std::vector<int64_t> dims = dims_arg(dim);
    py::gil_scoped_release nogil;
    return dim.is_none() ? attn::sum(in) : attn::sum(in, dims, keepdim);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = py::none());
  F.def("mean", [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    Tensor in = dtype.is_none() ? x : x.to(to_dtype(dtype));
    std::vector<int64_t> dims = dims_arg(dim);
    py::gil_scoped_release nogil;
    return dim.is_none() ? attn::mean(in) : attn::mean(in, dims, keepdim);
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(), py::arg("dtype") = py::none());

  // max(x) -> 0-d; max(x, dim, keepdim) -> (values, indices); max(x, other) -> maximum if bound.
  for (const char* name : {"max", "min"}) {
    const bool is_max = name[1] == 'a';
    F.def(name, [is_max, vi](const Tensor& x, py::object dim, bool keepdim) -> py::object {
      if (dim.is_none()) return py::cast(is_max ? attn::max(x) : attn::min(x));
      if (py::isinstance<Tensor>(dim))
        throw py::type_error(std::string(is_max ? "max" : "min") + "(input, other): use attn.maximum / attn.minimum");
      const int64_t d = dim.cast<int64_t>();
      ValuesIndices r;
      {
        py::gil_scoped_release nogil;
        r = is_max ? attn::max(x, d, keepdim) : attn::min(x, d, keepdim);
      }
      return vi(std::move(r));
    }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  }
  F.def("amax", [](const Tensor& x, py::object dim, bool keepdim) {
    // Without a dim: the maximum over everything; with one int dim: the values of max(x, dim).
    if (dim.is_none()) return attn::max(x);
    return attn::max(x, dim.cast<int64_t>(), keepdim).values;
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  F.def("amin", [](const Tensor& x, py::object dim, bool keepdim) {
    if (dim.is_none()) return attn::min(x);
    return attn::min(x, dim.cast<int64_t>(), keepdim).values;
  }, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  F.def("argmax", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return attn::argmax(x, dim, keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, release_gil());
  F.def("argmin", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return attn::argmin(x, dim, keepdim); },
        py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, release_gil());
  F.def("logsumexp", [](const Tensor& x, py::object dim, bool keepdim) {
    std::vector<int64_t> dims = to_int_list(dim);
    py::gil_scoped_release nogil;
    return attn::logsumexp(x, dims, keepdim);
  }, py::arg("input"), py::arg("dim"), py::arg("keepdim") = false);

  // var / std: torch's two spellings, var(x, dim, unbiased, keepdim) and var(x, dim, *, correction).
  for (const char* name : {"var", "std"}) {
    const bool is_var = name[0] == 'v';
    F.def(name, [is_var](const Tensor& x, py::object dim, std::optional<bool> unbiased, bool keepdim,
                         std::optional<int64_t> correction) {
      if (unbiased && correction)
        throw py::type_error(std::string(is_var ? "var" : "std") + ": pass either unbiased or correction, not both");
      const int64_t c = correction ? *correction : (unbiased.value_or(true) ? 1 : 0);
      std::vector<int64_t> dims = dims_arg(dim);
      py::gil_scoped_release nogil;
      return is_var ? attn::var(x, dims, c, keepdim) : attn::std(x, dims, c, keepdim);
    }, py::arg("input"), py::arg("dim") = py::none(), py::arg("unbiased") = py::none(), py::arg("keepdim") = false,
       py::kw_only(), py::arg("correction") = py::none());
  }
  F.def("cumsum", [](const Tensor& x, int64_t dim) { return attn::cumsum(x, dim); }, py::arg("input"), py::arg("dim"),
        release_gil());
}

}  // namespace attn::python
