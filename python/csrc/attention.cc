// attn.functional / attn.nn / attn.viz: the attention layer (attn/attention/{sdpa,score,align,
// multihead}.h), convolution, pooling and batch norm (attn/ops/{conv,pooling,batch_norm}.h and
// their attn/nn modules) and the heatmap writers (attn/viz/heatmap.h), with PyTorch's names and
// keywords. Ops run with the GIL released, as everywhere else (common.h).
#include "attn/attention/align.h"
#include "attn/attention/multihead.h"
#include "attn/attention/score.h"
#include "attn/attention/sdpa.h"
#include "attn/nn/batchnorm.h"
#include "attn/nn/conv.h"
#include "attn/nn/pooling.h"
#include "attn/ops/batch_norm.h"
#include "attn/ops/conv.h"
#include "attn/ops/pooling.h"
#include "attn/viz/heatmap.h"

#include "common.h"

namespace attn::python {
namespace {

Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }
py::object opt_result(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

// An int or a pair of ints (torch's _pair), e.g. kernel_size=3 or kernel_size=(3, 5).
IntPair to_pair(py::handle h, const char* what) {
  if (py::isinstance<py::int_>(h)) {
    int64_t v = h.cast<int64_t>();
    return {v, v};
  }
  std::vector<int64_t> l = to_int_list(h);
  if (l.size() == 1) return {l[0], l[0]};
  if (l.size() != 2) throw py::value_error(std::string(what) + " must be an int or a pair of ints");
  return {l[0], l[1]};
}
// torch's stride=None for pooling: the kernel size (attn's {0, 0}).
IntPair to_stride(py::handle h) { return h.is_none() ? IntPair{0, 0} : to_pair(h, "stride"); }
// An int or a 1-element sequence (conv1d's stride=(2,)).
int64_t to_single(py::handle h, const char* what) {
  if (py::isinstance<py::int_>(h)) return h.cast<int64_t>();
  std::vector<int64_t> l = to_int_list(h);
  if (l.size() != 1) throw py::value_error(std::string(what) + " must be an int or a 1-tuple");
  return l[0];
}

std::string to_path(py::handle h) { return py::module_::import("os").attr("fspath")(h).cast<std::string>(); }

viz::Colormap to_colormap(const std::string& s) {
  if (s == "viridis") return viz::Colormap::Viridis;
  if (s == "reds" || s == "Reds") return viz::Colormap::Reds;
  throw py::value_error("cmap must be 'viridis' or 'Reds', got '" + s + "'");
}

std::vector<std::string> opt_strings(py::handle h) {
  return h.is_none() ? std::vector<std::string>{} : h.cast<std::vector<std::string>>();
}

viz::HeatmapOptions heatmap_options(const std::string& title, py::handle row_labels, py::handle col_labels,
                                    const std::string& xlabel, const std::string& ylabel, const std::string& cmap,
                                    bool colorbar, bool grid, int cell_size, std::optional<double> vmin,
                                    std::optional<double> vmax) {
  viz::HeatmapOptions o;
  o.title = title;
  o.row_labels = opt_strings(row_labels);
  o.col_labels = opt_strings(col_labels);
  o.xlabel = xlabel;
  o.ylabel = ylabel;
  o.colormap = to_colormap(cmap);
  o.colorbar = colorbar;
  o.grid = grid;
  o.cell_size = cell_size;
  o.vmin = vmin;
  o.vmax = vmax;
  return o;
}

}  // namespace

void bind_ops_attention(py::module_& F) {
  F.def("scaled_dot_product_attention", [](const Tensor& q, const Tensor& k, const Tensor& v, py::object attn_mask,
                                           double dropout_p, bool is_causal, std::optional<double> scale,
                                           bool enable_gqa, bool need_weights, Generator* gen) -> py::object {
    Tensor m = opt_tensor(attn_mask);
    AttentionResult r;
    {
      py::gil_scoped_release nogil;
      r = attn::scaled_dot_product_attention(q, k, v, m, dropout_p, is_causal, scale, enable_gqa, need_weights, gen);
    }
    if (need_weights) return py::make_tuple(r.output, r.weights);
    return py::cast(r.output);
  }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(), py::arg("dropout_p") = 0.0,
     py::arg("is_causal") = false, py::arg("scale") = py::none(), py::arg("enable_gqa") = false, py::kw_only(),
     py::arg("need_weights") = false, py::arg("generator") = py::none(),
     "softmax(q k^T * scale + mask) v; returns output, or (output, weights) with need_weights=True");

  // Score functions (attn/attention/score.h): [..., T, E] x [..., S, E] -> [..., T, S].
  F.def("dot_score", &attn::dot_score, py::arg("query"), py::arg("key"), release_gil());
  F.def("scaled_dot_score", &attn::scaled_dot_score, py::arg("query"), py::arg("key"), py::arg("scale") = py::none(),
        release_gil());
  F.def("general_score", &attn::general_score, py::arg("query"), py::arg("weight"), py::arg("key"), release_gil());
  F.def("additive_score", [](const Tensor& q, const Tensor& k, const Tensor& wq, const Tensor& wk, const Tensor& v,
                             py::object bias) {
    Tensor b = opt_tensor(bias);
    py::gil_scoped_release nogil;
    return attn::additive_score(q, k, wq, wk, v, b);
  }, py::arg("query"), py::arg("key"), py::arg("w_q"), py::arg("w_k"), py::arg("v"), py::arg("bias") = py::none());
  F.def("concat_score", [](const Tensor& q, const Tensor& k, const Tensor& w, const Tensor& v, py::object bias) {
    Tensor b = opt_tensor(bias);
    py::gil_scoped_release nogil;
    return attn::concat_score(q, k, w, v, b);
  }, py::arg("query"), py::arg("key"), py::arg("weight"), py::arg("v"), py::arg("bias") = py::none());
  F.def("cosine_score", &attn::cosine_score, py::arg("query"), py::arg("key"), py::arg("eps") = 1e-8, release_gil());

  // masked_softmax(scores, valid_lens=None, mask=None, polarity=None, additive_mask=None, temperature=1.0);
  // polarity: 'keep' (True = takes part, SDPA's bool masks) or 'mask' (True = masked out, as
  // key_padding_mask); required with mask.
  F.def("masked_softmax", [](const Tensor& scores, py::object valid_lens, py::object mask, py::object polarity,
                             py::object additive_mask, double temperature) {
    MaskedSoftmaxOptions o;
    o.valid_lens = valid_lens.is_none() ? Tensor() : as_tensor(valid_lens);
    o.mask = opt_tensor(mask);
    if (!polarity.is_none()) {
      std::string p = polarity.cast<std::string>();
      if (p == "keep") o.polarity = MaskPolarity::TrueKeeps;
      else if (p == "mask") o.polarity = MaskPolarity::TrueMasks;
      else throw py::value_error("polarity must be 'keep' or 'mask', got '" + p + "'");
    }
    o.additive_mask = opt_tensor(additive_mask);
    o.temperature = temperature;
    py::gil_scoped_release nogil;
    return attn::masked_softmax(scores, o);
  }, py::arg("scores"), py::arg("valid_lens") = py::none(), py::kw_only(), py::arg("mask") = py::none(),
     py::arg("polarity") = py::none(), py::arg("additive_mask") = py::none(), py::arg("temperature") = 1.0);
  F.def("causal_mask", [](int64_t T, int64_t S, const std::string& align) {
    CausalAlign a;
    if (align == "top_left") a = CausalAlign::TopLeft;
    else if (align == "bottom_right") a = CausalAlign::BottomRight;
    else throw py::value_error("align must be 'top_left' or 'bottom_right', got '" + align + "'");
    return attn::causal_mask(T, S, a);
  }, py::arg("T"), py::arg("S"), py::arg("align") = "top_left", "bool [T, S], True where query t may see key s");

  // Convolution, pooling, batch norm (torch.nn.functional's signatures).
  F.def("conv2d", [](const Tensor& x, const Tensor& w, py::object bias, py::object stride, py::object padding,
                     py::object dilation, int64_t groups) {
    Tensor b = opt_tensor(bias);
    IntPair s = to_pair(stride, "stride"), p = to_pair(padding, "padding"), d = to_pair(dilation, "dilation");
    py::gil_scoped_release nogil;
    return attn::conv2d(x, w, b, s, p, d, groups);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("groups") = 1);
  F.def("conv1d", [](const Tensor& x, const Tensor& w, py::object bias, py::object stride, py::object padding,
                     py::object dilation, int64_t groups) {
    Tensor b = opt_tensor(bias);
    int64_t s = to_single(stride, "stride"), p = to_single(padding, "padding"), d = to_single(dilation, "dilation");
    py::gil_scoped_release nogil;
    return attn::conv1d(x, w, b, s, p, d, groups);
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("groups") = 1);
  F.def("unfold", [](const Tensor& x, py::object k, py::object dilation, py::object padding, py::object stride) {
    IntPair kk = to_pair(k, "kernel_size"), d = to_pair(dilation, "dilation"), p = to_pair(padding, "padding"),
            s = to_pair(stride, "stride");
    py::gil_scoped_release nogil;
    return attn::unfold(x, kk, d, p, s);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("dilation") = 1, py::arg("padding") = 0, py::arg("stride") = 1);
  F.def("adaptive_avg_pool2d", [](const Tensor& x, py::object out) {
    IntPair o = to_pair(out, "output_size");
    py::gil_scoped_release nogil;
    return attn::adaptive_avg_pool2d(x, o);
  }, py::arg("input"), py::arg("output_size"));
  F.def("adaptive_avg_pool1d", [](const Tensor& x, py::object out) {
    int64_t o = to_single(out, "output_size");
    py::gil_scoped_release nogil;
    return attn::adaptive_avg_pool1d(x, o);
  }, py::arg("input"), py::arg("output_size"));
  F.def("adaptive_max_pool2d", [](const Tensor& x, py::object out, bool return_indices) -> py::object {
    IntPair o = to_pair(out, "output_size");
    if (return_indices) {
      ValuesIndices r;
      {
        py::gil_scoped_release nogil;
        r = attn::adaptive_max_pool2d_with_indices(x, o);
      }
      return py::make_tuple(r.values, r.indices);
    }
    Tensor r;
    {
      py::gil_scoped_release nogil;
      r = attn::adaptive_max_pool2d(x, o);
    }
    return py::cast(r);
  }, py::arg("input"), py::arg("output_size"), py::arg("return_indices") = false);
  F.def("avg_pool2d", [](const Tensor& x, py::object k, py::object stride, py::object padding, bool ceil_mode,
                         bool count_include_pad, py::object divisor_override) {
    if (ceil_mode) throw py::value_error("avg_pool2d: ceil_mode=True is not supported");
    if (!divisor_override.is_none()) throw py::value_error("avg_pool2d: divisor_override is not supported");
    IntPair kk = to_pair(k, "kernel_size"), s = to_stride(stride), p = to_pair(padding, "padding");
    py::gil_scoped_release nogil;
    return attn::avg_pool2d(x, kk, s, p, count_include_pad);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
     py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none());
  F.def("max_pool2d", [](const Tensor& x, py::object k, py::object stride, py::object padding, py::object dilation,
                         bool ceil_mode, bool return_indices) -> py::object {
    if (ceil_mode) throw py::value_error("max_pool2d: ceil_mode=True is not supported");
    IntPair kk = to_pair(k, "kernel_size"), s = to_stride(stride), p = to_pair(padding, "padding"),
            d = to_pair(dilation, "dilation");
    if (return_indices) {
      ValuesIndices r;
      {
        py::gil_scoped_release nogil;
        r = attn::max_pool2d_with_indices(x, kk, s, p, d);
      }
      return py::make_tuple(r.values, r.indices);
    }
    Tensor r;
    {
      py::gil_scoped_release nogil;
      r = attn::max_pool2d(x, kk, s, p, d);
    }
    return py::cast(r);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  F.def("batch_norm", [](const Tensor& x, py::object running_mean, py::object running_var, py::object weight,
                         py::object bias, bool training, double momentum, double eps) {
    Tensor rm = opt_tensor(running_mean), rv = opt_tensor(running_var), w = opt_tensor(weight), b = opt_tensor(bias);
    py::gil_scoped_release nogil;
    return attn::batch_norm(x, rm, rv, w, b, training, momentum, eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);
}

void bind_nn_attention(py::module_& m) {
  py::module_ nnm = m.attr("nn").cast<py::module_>();

  py::class_<nn::KVCache>(nnm, "KVCache", "keys and values of the steps seen so far (MultiheadAttention.forward_incremental)")
      .def(py::init<>())
      .def_property_readonly("k", [](const nn::KVCache& c) { return opt_result(c.k); })
      .def_property_readonly("v", [](const nn::KVCache& c) { return opt_result(c.v); })
      .def("__len__", &nn::KVCache::length)
      .def("length", &nn::KVCache::length)
      .def("clear", &nn::KVCache::clear);

  using MHA = nn::MultiheadAttention;
  py::class_<MHA, nn::Module, std::shared_ptr<MHA>>(nnm, "MultiheadAttention", py::dynamic_attr(),
                                                   "torch.nn.MultiheadAttention (+ num_kv_heads for GQA)")
      .def(py::init([](int64_t E, int64_t H, double dropout, bool bias, bool add_bias_kv, bool add_zero_attn,
                       std::optional<int64_t> kdim, std::optional<int64_t> vdim, bool batch_first,
                       std::optional<int64_t> num_kv_heads, py::object dtype) {
        return std::make_shared<MHA>(E, H, dropout, bias, add_bias_kv, add_zero_attn, kdim.value_or(-1),
                                     vdim.value_or(-1), batch_first, num_kv_heads.value_or(-1),
                                     dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("embed_dim"), py::arg("num_heads"), py::arg("dropout") = 0.0, py::arg("bias") = true,
          py::arg("add_bias_kv") = false, py::arg("add_zero_attn") = false, py::arg("kdim") = py::none(),
          py::arg("vdim") = py::none(), py::arg("batch_first") = false, py::kw_only(),
          py::arg("num_kv_heads") = py::none(), py::arg("dtype") = py::none())
      .def("forward", [](MHA& self, const Tensor& q, const Tensor& k, const Tensor& v, py::object key_padding_mask,
                         bool need_weights, py::object attn_mask, bool average, bool is_causal) {
        Tensor kpm = opt_tensor(key_padding_mask), am = opt_tensor(attn_mask);
        AttentionResult r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(q, k, v, kpm, need_weights, am, average, is_causal);
        }
        return py::make_tuple(r.output, opt_result(r.weights));
      }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("key_padding_mask") = py::none(),
         py::arg("need_weights") = true, py::arg("attn_mask") = py::none(), py::arg("average_attn_weights") = true,
         py::arg("is_causal") = false)
      .def("forward_incremental", [](MHA& self, const Tensor& x, nn::KVCache& cache, bool need_weights, bool average) {
        AttentionResult r;
        {
          py::gil_scoped_release nogil;
          r = self.forward_incremental(x, cache, need_weights, average);
        }
        return py::make_tuple(r.output, opt_result(r.weights));
      }, py::arg("x"), py::arg("cache"), py::arg("need_weights") = false, py::arg("average_attn_weights") = true,
         "causal self-attention of new steps against the cache (appends to it); returns (output, weights or None)")
      .def("reset_parameters", &MHA::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("embed_dim", &MHA::embed_dim)
      .def_readonly("kdim", &MHA::kdim)
      .def_readonly("vdim", &MHA::vdim)
      .def_readonly("num_heads", &MHA::num_heads)
      .def_readonly("num_kv_heads", &MHA::num_kv_heads)
      .def_readonly("head_dim", &MHA::head_dim)
      .def_readonly("dropout", &MHA::dropout)
      .def_readonly("batch_first", &MHA::batch_first)
      .def_readonly("_qkv_same_embed_dim", &MHA::qkv_same_embed_dim)
      .def_property_readonly("in_proj_weight", [](const MHA& s) { return opt_result(s.in_proj_weight); })
      .def_property_readonly("q_proj_weight", [](const MHA& s) { return opt_result(s.q_proj_weight); })
      .def_property_readonly("k_proj_weight", [](const MHA& s) { return opt_result(s.k_proj_weight); })
      .def_property_readonly("v_proj_weight", [](const MHA& s) { return opt_result(s.v_proj_weight); })
      .def_property_readonly("in_proj_bias", [](const MHA& s) { return opt_result(s.in_proj_bias); })
      .def_property_readonly("bias_k", [](const MHA& s) { return opt_result(s.bias_k); })
      .def_property_readonly("bias_v", [](const MHA& s) { return opt_result(s.bias_v); })
      .def_property_readonly("out_proj", [](const MHA& s) { return s.out_proj; });

  py::class_<nn::Conv2d, nn::Module, std::shared_ptr<nn::Conv2d>>(nnm, "Conv2d", py::dynamic_attr(), "torch.nn.Conv2d")
      .def(py::init([](int64_t in, int64_t out, py::object k, py::object stride, py::object padding,
                       py::object dilation, int64_t groups, bool bias, const std::string& padding_mode,
                       py::object dtype) {
        if (padding_mode != "zeros") throw py::value_error("Conv2d: only padding_mode='zeros' is supported");
        return std::make_shared<nn::Conv2d>(in, out, to_pair(k, "kernel_size"), to_pair(stride, "stride"),
                                            to_pair(padding, "padding"), to_pair(dilation, "dilation"), groups, bias,
                                            dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
          py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
          py::arg("padding_mode") = "zeros", py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", &nn::Conv2d::forward, py::arg("input"), release_gil())
      .def("reset_parameters", &nn::Conv2d::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("in_channels", &nn::Conv2d::in_channels)
      .def_readonly("out_channels", &nn::Conv2d::out_channels)
      .def_readonly("groups", &nn::Conv2d::groups)
      .def_property_readonly("weight", [](const nn::Conv2d& c) { return c.weight; })
      .def_property_readonly("bias", [](const nn::Conv2d& c) { return opt_result(c.bias); });
  py::class_<nn::Conv1d, nn::Module, std::shared_ptr<nn::Conv1d>>(nnm, "Conv1d", py::dynamic_attr(), "torch.nn.Conv1d")
      .def(py::init([](int64_t in, int64_t out, py::object k, py::object stride, py::object padding,
                       py::object dilation, int64_t groups, bool bias, const std::string& padding_mode,
                       py::object dtype) {
        if (padding_mode != "zeros") throw py::value_error("Conv1d: only padding_mode='zeros' is supported");
        return std::make_shared<nn::Conv1d>(in, out, to_single(k, "kernel_size"), to_single(stride, "stride"),
                                            to_single(padding, "padding"), to_single(dilation, "dilation"), groups,
                                            bias, dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
          py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
          py::arg("padding_mode") = "zeros", py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", &nn::Conv1d::forward, py::arg("input"), release_gil())
      .def("reset_parameters", &nn::Conv1d::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("in_channels", &nn::Conv1d::in_channels)
      .def_readonly("out_channels", &nn::Conv1d::out_channels)
      .def_readonly("kernel_size", &nn::Conv1d::kernel_size)
      .def_readonly("stride", &nn::Conv1d::stride)
      .def_readonly("padding", &nn::Conv1d::padding)
      .def_readonly("dilation", &nn::Conv1d::dilation)
      .def_readonly("groups", &nn::Conv1d::groups)
      .def_property_readonly("weight", [](const nn::Conv1d& c) { return c.weight; })
      .def_property_readonly("bias", [](const nn::Conv1d& c) { return opt_result(c.bias); });

  // Pooling modules (attn/nn/pooling.h); stride=None means the kernel size, as torch.
  py::class_<nn::AdaptiveAvgPool2d, nn::Module, std::shared_ptr<nn::AdaptiveAvgPool2d>>(nnm, "AdaptiveAvgPool2d",
                                                                                      py::dynamic_attr())
      .def(py::init([](py::object o) { return std::make_shared<nn::AdaptiveAvgPool2d>(to_pair(o, "output_size")); }),
           py::arg("output_size"))
      .def("forward", &nn::AdaptiveAvgPool2d::forward, py::arg("input"), release_gil())
      .def_property_readonly("output_size", [](const nn::AdaptiveAvgPool2d& p) { return py::make_tuple(p.output_size[0], p.output_size[1]); });
  py::class_<nn::AdaptiveMaxPool2d, nn::Module, std::shared_ptr<nn::AdaptiveMaxPool2d>>(nnm, "AdaptiveMaxPool2d",
                                                                                      py::dynamic_attr())
      .def(py::init([](py::object o, bool return_indices) {
        if (return_indices) throw py::value_error("AdaptiveMaxPool2d: return_indices=True is not supported; use F.adaptive_max_pool2d");
        return std::make_shared<nn::AdaptiveMaxPool2d>(to_pair(o, "output_size"));
      }), py::arg("output_size"), py::arg("return_indices") = false)
      .def("forward", &nn::AdaptiveMaxPool2d::forward, py::arg("input"), release_gil())
      .def_property_readonly("output_size", [](const nn::AdaptiveMaxPool2d& p) { return py::make_tuple(p.output_size[0], p.output_size[1]); });
  py::class_<nn::AdaptiveAvgPool1d, nn::Module, std::shared_ptr<nn::AdaptiveAvgPool1d>>(nnm, "AdaptiveAvgPool1d",
                                                                                      py::dynamic_attr())
      .def(py::init([](py::object o) { return std::make_shared<nn::AdaptiveAvgPool1d>(to_single(o, "output_size")); }),
           py::arg("output_size"))
      .def("forward", &nn::AdaptiveAvgPool1d::forward, py::arg("input"), release_gil())
      .def_readonly("output_size", &nn::AdaptiveAvgPool1d::output_size);
  py::class_<nn::MaxPool2d, nn::Module, std::shared_ptr<nn::MaxPool2d>>(nnm, "MaxPool2d", py::dynamic_attr())
      .def(py::init([](py::object k, py::object stride, py::object padding, py::object dilation, bool return_indices,
                       bool ceil_mode) {
        if (return_indices || ceil_mode)
          throw py::value_error("MaxPool2d: return_indices / ceil_mode are not supported; use F.max_pool2d");
        return std::make_shared<nn::MaxPool2d>(to_pair(k, "kernel_size"), to_stride(stride), to_pair(padding, "padding"),
                                               to_pair(dilation, "dilation"));
      }), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
          py::arg("return_indices") = false, py::arg("ceil_mode") = false)
      .def("forward", &nn::MaxPool2d::forward, py::arg("input"), release_gil());
  py::class_<nn::AvgPool2d, nn::Module, std::shared_ptr<nn::AvgPool2d>>(nnm, "AvgPool2d", py::dynamic_attr())
      .def(py::init([](py::object k, py::object stride, py::object padding, bool ceil_mode, bool count_include_pad) {
        if (ceil_mode) throw py::value_error("AvgPool2d: ceil_mode=True is not supported");
        return std::make_shared<nn::AvgPool2d>(to_pair(k, "kernel_size"), to_stride(stride), to_pair(padding, "padding"),
                                               count_include_pad);
      }), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
          py::arg("count_include_pad") = true)
      .def("forward", &nn::AvgPool2d::forward, py::arg("input"), release_gil());

#define ATTN_BATCHNORM(Cls)                                                                                      \
  py::class_<nn::Cls, nn::Module, std::shared_ptr<nn::Cls>>(nnm, #Cls, py::dynamic_attr(), "torch.nn." #Cls)     \
      .def(py::init([](int64_t n, double eps, std::optional<double> momentum, bool affine, bool track,           \
                       py::object dtype) {                                                                        \
        return std::make_shared<nn::Cls>(n, eps, momentum, affine, track,                                         \
                                         dtype.is_none() ? kFloat32 : to_dtype(dtype));                           \
      }), py::arg("num_features"), py::arg("eps") = 1e-5, py::arg("momentum") = 0.1, py::arg("affine") = true,    \
          py::arg("track_running_stats") = true, py::kw_only(), py::arg("dtype") = py::none())                   \
      .def("forward", &nn::Cls::forward, py::arg("input"), release_gil())                                         \
      .def("reset_running_stats", &nn::Cls::reset_running_stats)                                                  \
      .def("reset_parameters", &nn::Cls::reset_parameters)                                                        \
      .def_readonly("num_features", &nn::Cls::num_features)                                                       \
      .def_readonly("eps", &nn::Cls::eps)                                                                         \
      .def_readonly("momentum", &nn::Cls::momentum)                                                               \
      .def_readonly("affine", &nn::Cls::affine)                                                                   \
      .def_readonly("track_running_stats", &nn::Cls::track_running_stats)                                         \
      .def_property_readonly("weight", [](const nn::Cls& b) { return opt_result(b.weight); })                     \
      .def_property_readonly("bias", [](const nn::Cls& b) { return opt_result(b.bias); })                         \
      .def_property_readonly("running_mean", [](const nn::Cls& b) { return opt_result(b.running_mean); })         \
      .def_property_readonly("running_var", [](const nn::Cls& b) { return opt_result(b.running_var); })           \
      .def_property_readonly("num_batches_tracked", [](const nn::Cls& b) { return opt_result(b.num_batches_tracked); });
  ATTN_BATCHNORM(BatchNorm1d)
  ATTN_BATCHNORM(BatchNorm2d)
#undef ATTN_BATCHNORM
}

void bind_viz(py::module_& m) {
  py::module_ viz = m.def_submodule("viz", "attention heatmaps (attn/viz/heatmap.h)");
  // Keyword options shared by every writer (HeatmapOptions).
#define ATTN_HEATMAP_KW                                                                                         \
  py::kw_only(), py::arg("title") = "", py::arg("row_labels") = py::none(), py::arg("col_labels") = py::none(), \
      py::arg("xlabel") = "Keys", py::arg("ylabel") = "Queries", py::arg("cmap") = "viridis",                   \
      py::arg("colorbar") = true, py::arg("grid") = true, py::arg("cell_size") = 24, py::arg("vmin") = py::none(), \
      py::arg("vmax") = py::none()
  using Writer = void (*)(const std::string&, const Tensor&, const viz::HeatmapOptions&);
  auto single = [&](const char* name, Writer fn, const char* doc) {
    viz.def(name, [fn](py::object path, const Tensor& w, const std::string& title, py::object rl, py::object cl,
                       const std::string& xl, const std::string& yl, const std::string& cmap, bool colorbar, bool grid,
                       int cell, std::optional<double> vmin, std::optional<double> vmax) {
      std::string p = to_path(path);
      viz::HeatmapOptions o = heatmap_options(title, rl, cl, xl, yl, cmap, colorbar, grid, cell, vmin, vmax);
      py::gil_scoped_release nogil;
      fn(p, w, o);
    }, py::arg("path"), py::arg("weights"), ATTN_HEATMAP_KW, doc);
  };
  single("write_heatmap_svg", &viz::write_heatmap_svg, "weights [T, S] as an SVG heatmap");
  single("write_heatmap_png", &viz::write_heatmap_png, "weights [T, S] as a PNG heatmap");
  single("write_heatmap_grid_png", &viz::write_heatmap_grid_png, "weights [R, C, T, S] as a grid of PNG panels");
  viz.def("write_heatmap_grid_svg", [](py::object path, const Tensor& w, py::object panel_titles, py::object row_titles,
                                       py::object col_titles, const std::string& title, py::object rl, py::object cl,
                                       const std::string& xl, const std::string& yl, const std::string& cmap,
                                       bool colorbar, bool grid, int cell, std::optional<double> vmin,
                                       std::optional<double> vmax) {
    std::string p = to_path(path);
    viz::HeatmapGridTitles t{opt_strings(panel_titles), opt_strings(row_titles), opt_strings(col_titles)};
    viz::HeatmapOptions o = heatmap_options(title, rl, cl, xl, yl, cmap, colorbar, grid, cell, vmin, vmax);
    py::gil_scoped_release nogil;
    viz::write_heatmap_grid_svg(p, w, t, o);
  }, py::arg("path"), py::arg("weights"), py::arg("panel_titles") = py::none(), py::arg("row_titles") = py::none(),
     py::arg("col_titles") = py::none(), ATTN_HEATMAP_KW, "weights [R, C, T, S] (e.g. layers x heads) as an SVG grid");
#undef ATTN_HEATMAP_KW
}

}  // namespace attn::python
