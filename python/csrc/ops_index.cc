// attn.functional: indexing by integer tensors (attn/ops/index.h), shape ops (shape.h) and
// sorting (sort.h).
#include "attn/ops/index.h"
#include "attn/ops/shape.h"
#include "attn/ops/sort.h"

#include "common.h"

namespace attn::python {
namespace {

std::vector<Tensor> tensor_seq(py::handle h) {
  std::vector<Tensor> out;
  for (py::handle x : py::iter(h)) out.push_back(as_tensor(x));
  return out;
}

py::tuple tensor_tuple(const std::vector<Tensor>& ts) {
  py::tuple t(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) t[i] = py::cast(ts[i]);
  return t;
}

// repeat(2, 3) and repeat((2, 3)) both work, as Tensor.repeat.
std::vector<int64_t> sizes_from_args(const py::args& args) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return to_int_list(args[0]);
  std::vector<int64_t> s;
  for (py::handle h : args) s.push_back(h.cast<int64_t>());
  return s;
}

}  // namespace

void bind_ops_index(py::module_& F) {
  F.def("index_select", [](const Tensor& x, int64_t dim, const Tensor& index) { return attn::index_select(x, dim, index); },
        py::arg("input"), py::arg("dim"), py::arg("index"), release_gil());
  F.def("gather", [](const Tensor& x, int64_t dim, const Tensor& index) { return attn::gather(x, dim, index); },
        py::arg("input"), py::arg("dim"), py::arg("index"), release_gil());
  F.def("scatter_add", [](const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    return attn::scatter_add(x, dim, index, src);
  }, py::arg("input"), py::arg("dim"), py::arg("index"), py::arg("src"), release_gil());
  // torch.nn.functional.embedding(input, weight, padding_idx): note the argument order, which is
  // torch's (indices first), not attn::embedding's. A negative padding_idx counts from the end, as
  // in torch.
  F.def("embedding", [](const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
    int64_t p = -1;
    if (padding_idx) {
      p = *padding_idx;
      if (p < 0) p += weight.size(0);
      if (p < 0 || p >= weight.size(0))
        throw py::value_error("embedding: padding_idx " + std::to_string(*padding_idx) + " out of range for " +
                              std::to_string(weight.size(0)) + " embeddings");
    }
    py::gil_scoped_release nogil;
    return attn::embedding(weight, indices, p);
  }, py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none());
  F.def("one_hot", [](const Tensor& x, int64_t n) { return attn::one_hot(x, n); }, py::arg("input"),
        py::arg("num_classes") = -1, release_gil());
}

void bind_ops_shape(py::module_& F) {
  F.def("cat", [](py::object tensors, int64_t dim) {
    std::vector<Tensor> ts = tensor_seq(tensors);
    py::gil_scoped_release nogil;
    return attn::cat(ts, dim);
  }, py::arg("tensors"), py::arg("dim") = 0);
  F.attr("concat") = F.attr("cat");
  F.def("stack", [](py::object tensors, int64_t dim) {
    std::vector<Tensor> ts = tensor_seq(tensors);
    py::gil_scoped_release nogil;
    return attn::stack(ts, dim);
  }, py::arg("tensors"), py::arg("dim") = 0);
  F.def("split", [](const Tensor& x, py::object split_size_or_sections, int64_t dim) {
    if (PyIndex_Check(split_size_or_sections.ptr())) return tensor_tuple(attn::split(x, split_size_or_sections.cast<int64_t>(), dim));
    return tensor_tuple(attn::split(x, to_int_list(split_size_or_sections), dim));
  }, py::arg("tensor"), py::arg("split_size_or_sections"), py::arg("dim") = 0);
  F.def("chunk", [](const Tensor& x, int64_t chunks, int64_t dim) { return tensor_tuple(attn::chunk(x, chunks, dim)); },
        py::arg("input"), py::arg("chunks"), py::arg("dim") = 0);
  F.def("triu", [](const Tensor& x, int64_t d) { return attn::triu(x, d); }, py::arg("input"), py::arg("diagonal") = 0,
        release_gil());
  F.def("tril", [](const Tensor& x, int64_t d) { return attn::tril(x, d); }, py::arg("input"), py::arg("diagonal") = 0,
        release_gil());
  F.def("flip", [](const Tensor& x, py::object dims) {
    std::vector<int64_t> d = to_int_list(dims);
    py::gil_scoped_release nogil;
    return attn::flip(x, d);
  }, py::arg("input"), py::arg("dims"));
  F.def("repeat", [](const Tensor& x, py::args repeats) {
    std::vector<int64_t> r = sizes_from_args(repeats);
    py::gil_scoped_release nogil;
    return attn::repeat(x, r);
  }, py::arg("input"), "Tensor.repeat(*sizes): tiles the tensor");
}

void bind_ops_sort(py::module_& F) {
  py::object vi = F.attr("values_indices");  // the named tuple made by bind_ops_reduce
  F.def("sort", [vi](const Tensor& x, int64_t dim, bool descending) {
    ValuesIndices r;
    {
      py::gil_scoped_release nogil;
      r = attn::sort(x, dim, descending);
    }
    return vi(r.values, r.indices);
  }, py::arg("input"), py::arg("dim") = -1, py::arg("descending") = false);
  F.def("argsort", [](const Tensor& x, int64_t dim, bool descending) { return attn::argsort(x, dim, descending); },
        py::arg("input"), py::arg("dim") = -1, py::arg("descending") = false, release_gil());
  F.def("topk", [vi](const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
    ValuesIndices r;
    {
      py::gil_scoped_release nogil;
      r = attn::topk(x, k, dim, largest, sorted);
    }
    return vi(r.values, r.indices);
  }, py::arg("input"), py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true, py::arg("sorted") = true);
}

}  // namespace attn::python
