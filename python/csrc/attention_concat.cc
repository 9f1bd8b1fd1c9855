// attn.nn.ConcatLinearAttention (attn/attention/concat_linear.h), attn.nn.SelfAttention /
// attn.nn.CrossAttention (Python subclasses of attn.nn.MultiheadAttention) and the functional
// self_attention / cross_attention (attn/attention/self_cross.h). Ops run with the GIL released.
#include "attn/attention/concat_linear.h"
#include "attn/attention/self_cross.h"

#include "common.h"

namespace attn::python {
namespace {

Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }
py::object opt_result(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
DType dtype_or_f32(py::handle h) { return h.is_none() ? kFloat32 : to_dtype(h); }

// (output, weights) as MultiheadAttention returns it: weights None unless asked for.
py::tuple mha_result(const AttentionResult& r) { return py::make_tuple(r.output, opt_result(r.weights)); }

}  // namespace

void bind_attention_concat(py::module_& m) {
  py::module_ F = m.attr("F").cast<py::module_>();
  py::module_ nnm = m.attr("nn").cast<py::module_>();

  F.def("self_attention", [](const Tensor& x, py::object attn_mask, bool is_causal, std::optional<double> scale,
                             bool need_weights) -> py::object {
    Tensor am = opt_tensor(attn_mask);
    AttentionResult r;
    {
      py::gil_scoped_release nogil;
      r = attn::self_attention(x, am, is_causal, scale, need_weights);
    }
    if (need_weights) return py::make_tuple(r.output, r.weights);
    return py::cast(r.output);
  }, py::arg("x"), py::arg("attn_mask") = py::none(), py::arg("is_causal") = false, py::arg("scale") = py::none(),
     py::kw_only(), py::arg("need_weights") = false,
     "scaled_dot_product_attention(x, x, x) (bool attn_mask: True = takes part); output, or (output, weights)");
  F.def("cross_attention", [](const Tensor& x, const Tensor& memory, py::object attn_mask, std::optional<double> scale,
                              bool need_weights) -> py::object {
    Tensor am = opt_tensor(attn_mask);
    AttentionResult r;
    {
      py::gil_scoped_release nogil;
      r = attn::cross_attention(x, memory, am, scale, need_weights);
    }
    if (need_weights) return py::make_tuple(r.output, r.weights);
    return py::cast(r.output);
  }, py::arg("x"), py::arg("memory"), py::arg("attn_mask") = py::none(), py::arg("scale") = py::none(),
     py::kw_only(), py::arg("need_weights") = false,
     "scaled_dot_product_attention(x, memory, memory) (bool attn_mask: True = takes part); output, or (output, weights)");

  using CLA = nn::ConcatLinearAttention;
  static py::object cla_out = py::module_::import("collections").attr("namedtuple")(
      "ConcatLinearOutput", py::make_tuple("output", "weights"));
  py::class_<CLA, nn::Module, std::shared_ptr<CLA>>(
      nnm, "ConcatLinearAttention", py::dynamic_attr(),
      "the PyTorch seq2seq tutorial's attention: weights = softmax(attn([q; k])) over max_length positions, "
      "output = attn_combine([q; weights @ values]); returns (output, weights)")
      .def(py::init([](int64_t qs, int64_t ks, int64_t vs, int64_t L, int64_t os, py::object dtype) {
        return std::make_shared<CLA>(qs, ks, vs, L, os, dtype_or_f32(dtype));
      }), py::arg("query_size"), py::arg("key_size"), py::arg("value_size"), py::arg("max_length"),
          py::arg("output_size"), py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", [](CLA& self, const Tensor& q, const Tensor& k, const Tensor& v) {
        nn::ConcatLinearOutput r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(q, k, v);
        }
        return cla_out(r.output, r.weights);
      }, py::arg("query"), py::arg("key"), py::arg("values"),
         "query [B, Dq] or [B, 1, Dq], key [B, Dk] or [B, 1, Dk], values [B, S <= max_length, Dv] -> "
         "(output [B, (1,) output_size], weights [B, max_length])")
      .def_readonly("max_length", &CLA::max_length)
      .def_readonly("query_size", &CLA::query_size)
      .def_readonly("key_size", &CLA::key_size)
      .def_readonly("value_size", &CLA::value_size)
      .def_readonly("output_size", &CLA::output_size)
      .def_property_readonly("attn", [](const CLA& s) { return s.attn; })
      .def_property_readonly("attn_combine", [](const CLA& s) { return s.attn_combine; });

  using MHA = nn::MultiheadAttention;
  using SA = nn::SelfAttention;
  py::class_<SA, MHA, std::shared_ptr<SA>>(nnm, "SelfAttention", py::dynamic_attr(),
                                           "MultiheadAttention(x, x, x); batch_first=True by default")
      .def(py::init([](int64_t E, int64_t H, double dropout, bool bias, bool batch_first, py::object dtype) {
        return std::make_shared<SA>(E, H, dropout, bias, batch_first, dtype_or_f32(dtype));
      }), py::arg("embed_dim"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("bias") = true,
          py::arg("batch_first") = true, py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", [](SA& self, const Tensor& x, py::object key_padding_mask, py::object attn_mask, bool is_causal,
                         bool need_weights) {
        Tensor kpm = opt_tensor(key_padding_mask), am = opt_tensor(attn_mask);
        AttentionResult r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(x, kpm, am, is_causal, need_weights);
        }
        return mha_result(r);
      }, py::arg("x"), py::arg("key_padding_mask") = py::none(), py::arg("attn_mask") = py::none(),
         py::arg("is_causal") = false, py::arg("need_weights") = false,
         "(output, weights or None); masks as MultiheadAttention's (bool True = masked out)");
  using CA = nn::CrossAttention;
  py::class_<CA, MHA, std::shared_ptr<CA>>(nnm, "CrossAttention", py::dynamic_attr(),
                                           "MultiheadAttention(x, memory, memory); batch_first=True by default")
      .def(py::init([](int64_t E, int64_t H, double dropout, bool bias, std::optional<int64_t> memory_dim,
                       bool batch_first, py::object dtype) {
        return std::make_shared<CA>(E, H, dropout, bias, memory_dim.value_or(-1), batch_first, dtype_or_f32(dtype));
      }), py::arg("embed_dim"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("bias") = true,
          py::arg("memory_dim") = py::none(), py::arg("batch_first") = true, py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", [](CA& self, const Tensor& x, const Tensor& memory, py::object memory_key_padding_mask,
                         bool need_weights) {
        Tensor kpm = opt_tensor(memory_key_padding_mask);
        AttentionResult r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(x, memory, kpm, need_weights);
        }
        return mha_result(r);
      }, py::arg("x"), py::arg("memory"), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("need_weights") = false, "(output, weights or None); memory_key_padding_mask bool True = padding");
}

}  // namespace attn::python
