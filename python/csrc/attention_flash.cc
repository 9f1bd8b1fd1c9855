// attn.functional.flash_attention and the scaled_dot_product_attention backend switch
// (attn/attention/flash.h), with PyTorch-style keywords. The op runs with the GIL released (common.h).
#include "attn/attention/flash.h"

#include "common.h"

namespace attn::python {
namespace {

CausalAlign flash_align(const std::string& align) {
  if (align == "top_left") return CausalAlign::TopLeft;
  if (align == "bottom_right") return CausalAlign::BottomRight;
  throw py::value_error("align must be 'top_left' or 'bottom_right', got '" + align + "'");
}

Tensor flash_opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }

}  // namespace

void bind_attention_flash(py::module_& F) {
  F.def("flash_attention",
        [](const Tensor& q, const Tensor& k, const Tensor& v, py::object attn_mask, double dropout_p, bool is_causal,
           std::optional<double> scale, bool enable_gqa, const std::string& align, int64_t window_left,
           int64_t window_right, py::object valid_lens, py::object key_padding_mask, bool need_weights,
           Generator* gen) -> py::object {
          FlashOptions o;
          o.attn_mask = flash_opt_tensor(attn_mask);
          o.dropout_p = dropout_p;
          o.is_causal = is_causal;
          o.scale = scale;
          o.enable_gqa = enable_gqa;
          o.align = flash_align(align);
          o.window_left = window_left;
          o.window_right = window_right;
          o.valid_lens = flash_opt_tensor(valid_lens);
          o.key_padding_mask = flash_opt_tensor(key_padding_mask);
          o.need_weights = need_weights;
          o.generator = gen;
          AttentionResult r;
          {
            py::gil_scoped_release nogil;
            r = attn::flash_attention(q, k, v, o);
          }
          if (need_weights) return py::make_tuple(r.output, r.weights);
          return py::cast(r.output);
        },
        py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
        py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::kw_only(), py::arg("scale") = py::none(),
        py::arg("enable_gqa") = false, py::arg("align") = "top_left", py::arg("window_left") = -1,
        py::arg("window_right") = -1, py::arg("valid_lens") = py::none(), py::arg("key_padding_mask") = py::none(),
        py::arg("need_weights") = false, py::arg("generator") = py::none(),
        "fused (flash-style) scaled dot-product attention, O(T + S) extra memory: attn_mask bool (True = takes "
        "part) or additive; is_causal with align 'top_left' or 'bottom_right'; sliding window (window_left, "
        "window_right, -1 = unbounded); valid_lens [B]; key_padding_mask bool [B, S] (True = masked out). Returns "
        "output, or (output, dense weights) with need_weights=True");
  F.def("set_sdpa_backend",
        [](const std::string& b) {
          if (b == "auto") set_sdpa_backend(SdpaBackend::Auto);
          else if (b == "composed") set_sdpa_backend(SdpaBackend::Composed);
          else if (b == "fused") set_sdpa_backend(SdpaBackend::Fused);
          else throw py::value_error("backend must be 'auto', 'composed' or 'fused', got '" + b + "'");
        },
        py::arg("backend"), "which implementation scaled_dot_product_attention runs: 'auto', 'composed' or 'fused'");
  F.def("get_sdpa_backend", [] {
    switch (get_sdpa_backend()) {
      case SdpaBackend::Composed: return std::string("composed");
      case SdpaBackend::Fused: return std::string("fused");
      default: return std::string("auto");
    }
  });
}

}  // namespace attn::python
