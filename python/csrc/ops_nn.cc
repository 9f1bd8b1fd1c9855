// attn.functional: softmax (attn/ops/softmax.h), layer_norm (normalization.h), matrix products
// (linalg.h) and dropout (dropout.h).
#include "attn/ops/dropout.h"
#include "attn/ops/linalg.h"
#include "attn/ops/normalization.h"
#include "attn/ops/softmax.h"

#include "common.h"

namespace attn::python {
namespace {

Tensor optional_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }

}  // namespace

void bind_ops_softmax(py::module_& F) {
  // dtype= converts the input first, as torch's softmax(x, dim, dtype=...) does.
  F.def("softmax", [](const Tensor& x, int64_t dim, py::object dtype) {
    Tensor in = dtype.is_none() ? x : x.to(to_dtype(dtype));
    py::gil_scoped_release nogil;
    return attn::softmax(in, dim);
  }, py::arg("input"), py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  F.def("log_softmax", [](const Tensor& x, int64_t dim, py::object dtype) {
    Tensor in = dtype.is_none() ? x : x.to(to_dtype(dtype));
    py::gil_scoped_release nogil;
    return attn::log_softmax(in, dim);
  }, py::arg("input"), py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
}

void bind_ops_normalization(py::module_& F) {
  F.def("layer_norm", [](const Tensor& x, py::object normalized_shape, py::object weight, py::object bias, double eps) {
    Shape ns = to_shape(normalized_shape);
    Tensor w = optional_tensor(weight), b = optional_tensor(bias);
    py::gil_scoped_release nogil;
    return attn::layer_norm(x, ns, w, b, eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
}

void bind_ops_linalg(py::module_& F) {
  F.def("mm", [](const Tensor& a, const Tensor& b) { return attn::mm(a, b); }, py::arg("input"), py::arg("mat2"),
        release_gil());
  F.def("bmm", [](const Tensor& a, const Tensor& b) { return attn::bmm(a, b); }, py::arg("input"), py::arg("mat2"),
        release_gil());
  F.def("matmul", [](const Tensor& a, const Tensor& b) { return attn::matmul(a, b); }, py::arg("input"),
        py::arg("other"), release_gil());
  F.def("linear", [](const Tensor& x, const Tensor& w, py::object bias) {
    Tensor b = optional_tensor(bias);
    py::gil_scoped_release nogil;
    return attn::linear(x, w, b);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  auto tensor_cls = py::reinterpret_borrow<py::class_<Tensor>>(py::type::of<Tensor>());
  tensor_cls.def("__matmul__", [](const Tensor& a, const Tensor& b) { return attn::matmul(a, b); }, py::is_operator(),
                 release_gil());
  tensor_cls.def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return attn::matmul(b, a); }, py::is_operator(),
                 release_gil());
}

void bind_ops_dropout(py::module_& F) {
  F.def("dropout", [](const Tensor& x, double p, bool training, bool inplace, Generator* gen) {
    if (inplace) throw py::value_error("dropout: inplace=True is not supported (attn's autograd records no in-place ops)");
    py::gil_scoped_release nogil;
    return attn::dropout(x, p, training, gen);
  }, py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::arg("inplace") = false, py::kw_only(),
     py::arg("generator") = py::none());
}

}  // namespace attn::python
