// attn.functional: unary math and activations (attn/ops/unary.h).
#include "attn/ops/unary.h"

#include "attn/ops/elementwise.h"
#include "common.h"

namespace attn::python {
namespace {

Tensor pow_any(py::handle base, py::handle exponent) {
  const bool tb = py::isinstance<Tensor>(base), te = py::isinstance<Tensor>(exponent);
  if (tb && !te && is_py_scalar(exponent)) {
    Tensor x = base.cast<Tensor>();
    const double e = exponent.cast<double>();
    py::gil_scoped_release nogil;
    return attn::pow(x, e);
  }
  if (te && !tb && is_py_scalar(base)) {
    Tensor y = exponent.cast<Tensor>();
    const double b = base.cast<double>();
    py::gil_scoped_release nogil;
    return attn::pow(b, y);
  }
  auto [x, y] = tensor_pair(base, exponent);
  py::gil_scoped_release nogil;
  return attn::pow(x, y);
}

}  // namespace

void bind_ops_unary(py::module_& F) {
  using T = const Tensor&;
  auto x = py::arg("input");
  F.def("exp", [](T t) { return attn::exp(t); }, x, release_gil());
  F.def("expm1", [](T t) { return attn::expm1(t); }, x, release_gil());
  F.def("log", [](T t) { return attn::log(t); }, x, release_gil());
  F.def("log1p", [](T t) { return attn::log1p(t); }, x, release_gil());
  F.def("sqrt", [](T t) { return attn::sqrt(t); }, x, release_gil());
  F.def("rsqrt", [](T t) { return attn::rsqrt(t); }, x, release_gil());
  F.def("abs", [](T t) { return attn::abs(t); }, x, release_gil());
  F.def("square", [](T t) { return attn::square(t); }, x, release_gil());
  F.def("sin", [](T t) { return attn::sin(t); }, x, release_gil());
  F.def("cos", [](T t) { return attn::cos(t); }, x, release_gil());
  F.def("tanh", [](T t) { return attn::tanh(t); }, x, release_gil());
  F.def("sigmoid", [](T t) { return attn::sigmoid(t); }, x, release_gil());
  F.def("relu", [](T t) { return attn::relu(t); }, x, release_gil());
  F.def("silu", [](T t) { return attn::silu(t); }, x, release_gil());
  F.def("leaky_relu", [](T t, double slope) { return attn::leaky_relu(t, slope); }, x,
        py::arg("negative_slope") = 0.01, release_gil());
  F.def("gelu", [](T t, const std::string& approximate) { return attn::gelu(t, approximate); }, x, py::kw_only(),
        py::arg("approximate") = "none", release_gil(), "approximate: 'none' (erf) or 'tanh'");
  auto clamp = [](T t, std::optional<double> lo, std::optional<double> hi) { return attn::clamp(t, lo, hi); };
  F.def("clamp", clamp, x, py::arg("min") = py::none(), py::arg("max") = py::none(), release_gil());
  F.def("clip", clamp, x, py::arg("min") = py::none(), py::arg("max") = py::none(), release_gil());
  F.def("clamp_min", [](T t, double lo) { return attn::clamp_min(t, lo); }, x, py::arg("min"), release_gil());
  F.def("clamp_max", [](T t, double hi) { return attn::clamp_max(t, hi); }, x, py::arg("max"), release_gil());
  // pow(tensor, number), pow(tensor, tensor) (elementwise.h, broadcasting), pow(number, tensor).
  F.def("pow", [](py::object base, py::object exponent) { return pow_any(base, exponent); }, py::arg("input"),
        py::arg("exponent"));
  auto tensor_cls = py::reinterpret_borrow<py::class_<Tensor>>(py::type::of<Tensor>());
  tensor_cls.def("__pow__", [](py::object t, py::object e) -> py::object {
    if (!py::isinstance<Tensor>(e) && !is_py_scalar(e)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    return py::cast(pow_any(t, e));
  });
  tensor_cls.def("__rpow__", [](py::object t, py::object b) -> py::object {
    if (!is_py_scalar(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    return py::cast(pow_any(b, t));
  });
  tensor_cls.def("__abs__", [](const Tensor& t) { return attn::abs(t); }, release_gil());
}

}  // namespace attn::python
