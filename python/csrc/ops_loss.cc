// attn.functional: losses (attn/ops/loss.h) with torch.nn.functional's keywords:
// reduction='mean' | 'sum' | 'none', ignore_index, label_smoothing, weight.
#include "attn/ops/loss.h"

#include "common.h"

namespace attn::python {

Reduction to_reduction(const std::string& s) {
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  if (s == "none") return Reduction::None;
  throw py::value_error("reduction must be 'mean', 'sum' or 'none', got '" + s + "'");
}

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::Mean: return "mean";
    case Reduction::Sum: return "sum";
    case Reduction::None: return "none";
  }
  return "?";
}

void bind_ops_loss(py::module_& F) {
  F.def("cross_entropy", [](const Tensor& input, const Tensor& target, py::object weight, int64_t ignore_index,
                            const std::string& reduction, double label_smoothing) {
    Tensor w = weight.is_none() ? Tensor() : weight.cast<Tensor>();
    const Reduction r = to_reduction(reduction);
    py::gil_scoped_release nogil;
    return attn::cross_entropy(input, target, w, ignore_index, r, label_smoothing);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
     py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0,
     "log_softmax over dim 1 + negative log likelihood; target: int64 class indices or class probabilities");
  F.def("nll_loss", [](const Tensor& input, const Tensor& target, py::object weight, int64_t ignore_index,
                       const std::string& reduction) {
    Tensor w = weight.is_none() ? Tensor() : weight.cast<Tensor>();
    const Reduction r = to_reduction(reduction);
    py::gil_scoped_release nogil;
    return attn::nll_loss(input, target, w, ignore_index, r);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
     py::arg("reduction") = "mean");
  F.def("mse_loss", [](const Tensor& input, const Tensor& target, const std::string& reduction) {
    const Reduction r = to_reduction(reduction);
    py::gil_scoped_release nogil;
    return attn::mse_loss(input, target, r);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
     "mean / sum / none of (input - target)^2; shapes must match (no broadcasting, unlike torch)");
}

}  // namespace attn::python
