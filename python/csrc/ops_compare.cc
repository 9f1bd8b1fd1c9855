// attn.functional: comparisons, logical ops, where / masked_fill (attn/ops/compare.h).
// A Python number on either side of a comparison goes to the C++ overload that takes a double,
// which compares integer tensors exactly (see compare.h).
#include "attn/ops/compare.h"

#include "common.h"

namespace attn::python {
namespace {

using CmpTT = Tensor (*)(const Tensor&, const Tensor&);
using CmpTD = Tensor (*)(const Tensor&, double);

// cmp(a, b) with a number on either side; `mirrored` is the comparison with swapped operands
// (lt(2, x) == gt(x, 2)).
py::object compare(CmpTT tt, CmpTD td, CmpTD mirrored, py::handle a, py::handle b) {
  const bool ta = py::isinstance<Tensor>(a), tb = py::isinstance<Tensor>(b);
  if (ta && !tb && is_py_scalar(b)) {
    Tensor x = a.cast<Tensor>();
    const double v = b.cast<double>();
    Tensor r;
    {
      py::gil_scoped_release nogil;
      r = td(x, v);
    }
    return py::cast(std::move(r));
  }
  if (tb && !ta && is_py_scalar(a)) {
    Tensor y = b.cast<Tensor>();
    const double v = a.cast<double>();
    Tensor r;
    {
      py::gil_scoped_release nogil;
      r = mirrored(y, v);
    }
    return py::cast(std::move(r));
  }
  auto [x, y] = tensor_pair(a, b);
  Tensor r;
  {
    py::gil_scoped_release nogil;
    r = tt(x, y);
  }
  return py::cast(std::move(r));
}

#define ATTN_CMP(name, mirror)                                                                            \
  CmpTT name##_tt = [](const Tensor& a, const Tensor& b) { return attn::name(a, b); };                  \
  CmpTD name##_td = [](const Tensor& a, double b) { return attn::name(a, b); };                          \
  CmpTD name##_mirror = [](const Tensor& a, double b) { return attn::mirror(a, b); };                    \
  F.def(#name, [=](py::object a, py::object b) { return compare(name##_tt, name##_td, name##_mirror, a, b); }, \
        py::arg("input"), py::arg("other"));                                                            \
  tensor_cls.def("__" #name "__", [=](py::object a, py::object b) -> py::object {                         \
    if (!py::isinstance<Tensor>(b) && !is_py_scalar(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented); \
    return compare(name##_tt, name##_td, name##_mirror, a, b);                                           \
  });

}  // namespace

void bind_ops_compare(py::module_& F) {
  auto tensor_cls = py::reinterpret_borrow<py::class_<Tensor>>(py::type::of<Tensor>());
  ATTN_CMP(eq, eq)
  ATTN_CMP(ne, ne)
  ATTN_CMP(lt, gt)
  ATTN_CMP(le, ge)
  ATTN_CMP(gt, lt)
  ATTN_CMP(ge, le)
  // __eq__ above would make Tensor unhashable; keep identity hashing as torch.Tensor does.
  tensor_cls.attr("__hash__") = py::module_::import("builtins").attr("object").attr("__hash__");
  F.attr("greater") = F.attr("gt");
  F.attr("less") = F.attr("lt");
  F.attr("greater_equal") = F.attr("ge");
  F.attr("less_equal") = F.attr("le");
  F.attr("not_equal") = F.attr("ne");

  auto logical = [&](const char* name, Tensor (*fn)(const Tensor&, const Tensor&)) {
    F.def(name, [fn](py::object a, py::object b) {
      auto [x, y] = tensor_pair(a, b);
      py::gil_scoped_release nogil;
      return fn(x, y);
    }, py::arg("input"), py::arg("other"));
  };
  logical("logical_and", [](const Tensor& a, const Tensor& b) { return attn::logical_and(a, b); });
  logical("logical_or", [](const Tensor& a, const Tensor& b) { return attn::logical_or(a, b); });
  logical("logical_xor", [](const Tensor& a, const Tensor& b) { return attn::logical_xor(a, b); });
  F.def("logical_not", [](const Tensor& a) { return attn::logical_not(a); }, py::arg("input"), release_gil());
  tensor_cls.def("__and__", [](const Tensor& a, const Tensor& b) { return a & b; }, py::is_operator())
      .def("__or__", [](const Tensor& a, const Tensor& b) { return a | b; }, py::is_operator())
      .def("__xor__", [](const Tensor& a, const Tensor& b) { return a ^ b; }, py::is_operator())
      .def("__invert__", [](const Tensor& a) { return ~a; });

  F.def("where", [](const Tensor& cond, py::object a, py::object b) {
    const bool sa = !py::isinstance<Tensor>(a) && is_py_scalar(a), sb = !py::isinstance<Tensor>(b) && is_py_scalar(b);
    if (sa && sb) throw py::type_error("where: at least one of input and other must be a tensor");
    if (sb) {
      Tensor x = a.cast<Tensor>();
      const double v = b.cast<double>();
      py::gil_scoped_release nogil;
      return attn::where(cond, x, v);
    }
    if (sa) {
      Tensor y = b.cast<Tensor>();
      const double v = a.cast<double>();
      py::gil_scoped_release nogil;
      return attn::where(cond, v, y);
    }
    Tensor x = as_tensor(a), y = as_tensor(b);
    py::gil_scoped_release nogil;
    return attn::where(cond, x, y);
  }, py::arg("condition"), py::arg("input"), py::arg("other"), "condition ? input : other, broadcasting");
  F.def("masked_fill", [](const Tensor& x, const Tensor& mask, double value) { return attn::masked_fill(x, mask, value); },
        py::arg("input"), py::arg("mask"), py::arg("value"), release_gil());
  F.def("isnan", [](const Tensor& x) { return attn::isnan(x); }, py::arg("input"), release_gil());
  F.def("isinf", [](const Tensor& x) { return attn::isinf(x); }, py::arg("input"), release_gil());
  F.def("isfinite", [](const Tensor& x) { return attn::isfinite(x); }, py::arg("input"), release_gil());
  F.def("any", [](const Tensor& x) { return attn::any(x); }, py::arg("input"), release_gil());
  F.def("all", [](const Tensor& x) { return attn::all(x); }, py::arg("input"), release_gil());
}

}  // namespace attn::python
