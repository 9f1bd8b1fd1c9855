// attn.functional.sliding_window_attention and sliding_window_mask (attn/attention/local.h), with
// PyTorch-style keywords. The op runs with the GIL released (common.h).
#include "attn/attention/local.h"

#include "common.h"

namespace attn::python {
namespace {

CausalAlign to_align(const std::string& align) {
  if (align == "top_left") return CausalAlign::TopLeft;
  if (align == "bottom_right") return CausalAlign::BottomRight;
  throw py::value_error("align must be 'top_left' or 'bottom_right', got '" + align + "'");
}

Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }

}  // namespace

void bind_attention_local(py::module_& F) {
  F.def("sliding_window_attention",
        [](const Tensor& q, const Tensor& k, const Tensor& v, int64_t window_left, int64_t window_right,
           std::optional<double> scale, py::object valid_lens, py::object key_padding_mask, const std::string& align,
           double dropout_p, bool need_weights, bool enable_gqa, Generator* gen) -> py::object {
          SlidingWindowOptions o;
          o.scale = scale;
          o.valid_lens = opt_tensor(valid_lens);
          o.key_padding_mask = opt_tensor(key_padding_mask);
          o.align = to_align(align);
          o.dropout_p = dropout_p;
          o.need_weights = need_weights;
          o.enable_gqa = enable_gqa;
          o.generator = gen;
          AttentionResult r;
          {
            py::gil_scoped_release nogil;
            r = attn::sliding_window_attention(q, k, v, window_left, window_right, o);
          }
          if (need_weights) return py::make_tuple(r.output, r.weights);
          return py::cast(r.output);
        },
        py::arg("query"), py::arg("key"), py::arg("value"), py::arg("window_left") = -1, py::arg("window_right") = -1,
        py::kw_only(), py::arg("scale") = py::none(), py::arg("valid_lens") = py::none(),
        py::arg("key_padding_mask") = py::none(), py::arg("align") = "top_left", py::arg("dropout_p") = 0.0,
        py::arg("need_weights") = false, py::arg("enable_gqa") = false, py::arg("generator") = py::none(),
        "banded softmax attention: query i sees keys c - window_left <= j <= c + window_right (c = i, or "
        "i + S - T with align='bottom_right'; -1 = unbounded); key_padding_mask True = masked out. Returns output, "
        "or (output, dense weights) with need_weights=True");
  F.def("sliding_window_mask",
        [](int64_t T, int64_t S, int64_t window_left, int64_t window_right, const std::string& align) {
          return attn::sliding_window_mask(T, S, window_left, window_right, to_align(align));
        },
        py::arg("T"), py::arg("S"), py::arg("window_left"), py::arg("window_right"), py::arg("align") = "top_left",
        "bool [T, S], True where query t may see key s (the dense form of sliding_window_attention's band)");
}

}  // namespace attn::python
