// attn.functional: elementwise arithmetic (attn/ops/elementwise.h). Either operand may be a
// Python number, which takes the other operand's dtype (PyTorch's wrapped numbers).
#include "attn/ops/elementwise.h"

#include "common.h"

namespace attn::python {

void bind_ops_elementwise(py::module_& F) {
  F.def("add", [](py::object a, py::object b, double alpha) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return add(x, y, alpha);
      }, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0, "input + alpha * other, broadcasting");
  F.def("sub", [](py::object a, py::object b, double alpha) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return sub(x, y, alpha);
      }, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0, "input - alpha * other, broadcasting");
  F.def("mul", [](py::object a, py::object b) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return mul(x, y);
      }, py::arg("input"), py::arg("other"));
  F.def("div", [](py::object a, py::object b) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return div(x, y);
      }, py::arg("input"), py::arg("other"), "true division (integer inputs give float32)");
  F.def("maximum", [](py::object a, py::object b) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return maximum(x, y);
      }, py::arg("input"), py::arg("other"), "elementwise max, broadcasting (ties split the gradient, as torch)");
  F.def("minimum", [](py::object a, py::object b) {
        auto [x, y] = tensor_pair(a, b);
        py::gil_scoped_release nogil;
        return minimum(x, y);
      }, py::arg("input"), py::arg("other"), "elementwise min, broadcasting (ties split the gradient, as torch)");
  F.def("neg", [](const Tensor& a) { return neg(a); }, py::arg("input"), release_gil());
  F.def("broadcast_shapes", [](py::args shapes) {
    Shape out;
    for (py::handle s : shapes) out = broadcast_shapes(out, to_shape(s));
    return py::tuple(py::cast(out));
  });
  F.def("promote_types", [](py::object a, py::object b) { return py_dtype(promote_types(to_dtype(a), to_dtype(b))); },
        py::arg("type1"), py::arg("type2"));
}

}  // namespace attn::python
