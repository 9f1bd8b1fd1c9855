// attn.nn / attn.functional: positional encodings (attn/attention/positional.h), the classic
// attention modules (modules.h: DotProductAttention, AdditiveAttention, BahdanauAttention,
// LuongAttention) and hard attention (hard.h: hard_argmax, topk_attention, sample_attention,
// gumbel_softmax). Ops run with the GIL released (common.h).
#include "attn/attention/hard.h"
#include "attn/attention/modules.h"
#include "attn/attention/positional.h"

#include "common.h"

namespace attn::python {
namespace {

Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }
py::object opt_result(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
DType dtype_or_f32(py::handle h) { return h.is_none() ? kFloat32 : to_dtype(h); }

// StepAttention as a namedtuple (context, weights, position); position is None except in
// LuongAttention's local-p mode.
py::object step_result(const nn::StepAttention& r) {
  static py::object cls = py::module_::import("collections").attr("namedtuple")(
      "StepAttention", py::make_tuple("context", "weights", "position"));
  return cls(r.context, r.weights, opt_result(r.position));
}

nn::SourceMask source_mask(py::handle valid_lens, py::handle key_padding_mask) {
  nn::SourceMask m;
  m.valid_lens = valid_lens.is_none() ? Tensor() : as_tensor(valid_lens);
  m.key_padding_mask = opt_tensor(key_padding_mask);
  return m;
}

}  // namespace

void bind_ops_attention_extra(py::module_& F) {
  F.def("sinusoidal_table", [](int64_t max_len, int64_t d_model, py::object dtype) {
    return nn::sinusoidal_table(max_len, d_model, dtype_or_f32(dtype));
  }, py::arg("max_len"), py::arg("d_model"), py::kw_only(), py::arg("dtype") = py::none(),
     "[max_len, d_model]: sin at even columns, cos at odd (Vaswani et al.)");
  F.def("rotary_cos_sin", [](int64_t T, int64_t head_dim, int64_t offset, double base, py::object dtype) {
    nn::RotaryCosSin r = nn::rotary_cos_sin(T, head_dim, offset, base, dtype_or_f32(dtype));
    return py::make_tuple(r.cos, r.sin);
  }, py::arg("T"), py::arg("head_dim"), py::arg("offset") = 0, py::arg("base") = 10000.0, py::kw_only(),
     py::arg("dtype") = py::none());
  F.def("rotate_half", &nn::rotate_half, py::arg("input"), release_gil());
  F.def("apply_rotary", &nn::apply_rotary, py::arg("input"), py::arg("offset") = 0, py::arg("base") = 10000.0,
        release_gil(), "RoPE over the last dim of [..., T, Dh], positions offset .. offset+T-1");
  F.def("alibi_slopes", [](int64_t H, py::object dtype) { return nn::alibi_slopes(H, dtype_or_f32(dtype)); },
        py::arg("num_heads"), py::kw_only(), py::arg("dtype") = py::none());
  F.def("alibi_bias", [](int64_t H, int64_t T, int64_t S, py::object dtype) {
    return nn::alibi_bias(H, T, S, dtype_or_f32(dtype));
  }, py::arg("num_heads"), py::arg("T"), py::arg("S"), py::kw_only(), py::arg("dtype") = py::none());

  F.def("hard_argmax", &attn::hard_argmax, py::arg("weights"), py::arg("straight_through") = false,
        py::arg("dim") = -1, release_gil());
  F.def("topk_attention", &attn::topk_attention, py::arg("scores"), py::arg("k"), py::arg("dim") = -1, release_gil());
  F.def("sample_attention", [](const Tensor& probs, Generator* gen, int64_t dim) {
    HardSample r;
    {
      py::gil_scoped_release nogil;
      r = attn::sample_attention(probs, gen, dim);
    }
    return py::make_tuple(r.one_hot, r.index, r.log_prob);
  }, py::arg("probs"), py::arg("generator") = py::none(), py::arg("dim") = -1, "(one_hot, index, log_prob)");
  F.def("gumbel_softmax", [](const Tensor& logits, double tau, bool hard, double eps, int64_t dim, Generator* gen) {
    (void)eps;  // torch's deprecated, unused argument
    py::gil_scoped_release nogil;
    return attn::gumbel_softmax(logits, tau, hard, gen, dim);
  }, py::arg("logits"), py::arg("tau") = 1.0, py::arg("hard") = false, py::arg("eps") = 1e-10, py::arg("dim") = -1,
     py::kw_only(), py::arg("generator") = py::none());
}

void bind_nn_attention_extra(py::module_& m) {
  py::module_ nnm = m.attr("nn").cast<py::module_>();

  using SPE = nn::SinusoidalPositionalEncoding;
  py::class_<SPE, nn::Module, std::shared_ptr<SPE>>(nnm, "SinusoidalPositionalEncoding", py::dynamic_attr(),
                                                    "x + sinusoidal_table rows, then dropout; x [B, T, d_model]")
      .def(py::init([](int64_t d, double dropout, int64_t max_len, py::object dtype) {
        return std::make_shared<SPE>(d, dropout, max_len, dtype_or_f32(dtype));
      }), py::arg("d_model"), py::arg("dropout") = 0.1, py::arg("max_len") = 5000, py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", &SPE::forward, py::arg("input"), py::arg("offset") = 0, release_gil())
      .def_readonly("d_model", &SPE::d_model)
      .def_readonly("max_len", &SPE::max_len)
      .def_readonly("p", &SPE::p)
      .def_property_readonly("pe", [](const SPE& s) { return s.pe; });
  using LPE = nn::LearnedPositionalEmbedding;
  py::class_<LPE, nn::Module, std::shared_ptr<LPE>>(nnm, "LearnedPositionalEmbedding", py::dynamic_attr(),
                                                    "x + weight[offset : offset + T]")
      .def(py::init([](int64_t max_len, int64_t d, py::object dtype) {
        return std::make_shared<LPE>(max_len, d, dtype_or_f32(dtype));
      }), py::arg("max_len"), py::arg("d_model"), py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", &LPE::forward, py::arg("input"), py::arg("offset") = 0, release_gil())
      .def("position_embeddings", &LPE::position_embeddings, py::arg("T"), py::arg("offset") = 0, release_gil())
      .def("reset_parameters", &LPE::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("max_len", &LPE::max_len)
      .def_readonly("d_model", &LPE::d_model)
      .def_property_readonly("weight", [](const LPE& l) { return l.weight; });
  using PES = nn::PositionEmbeddingSine;
  py::class_<PES, nn::Module, std::shared_ptr<PES>>(nnm, "PositionEmbeddingSine", py::dynamic_attr(),
                                                    "DETR's 2-D sine embedding: bool mask [B, H, W] -> [B, 2F, H, W]")
      .def(py::init<int64_t, double, bool, double>(), py::arg("num_pos_feats") = 64, py::arg("temperature") = 10000.0,
           py::arg("normalize") = false, py::arg("scale") = 6.283185307179586)
      .def("forward", &PES::forward, py::arg("mask"), release_gil())
      .def_readonly("num_pos_feats", &PES::num_pos_feats)
      .def_readonly("temperature", &PES::temperature)
      .def_readonly("normalize", &PES::normalize)
      .def_readonly("scale", &PES::scale);
  using RPE = nn::RelativePositionEmbedding;
  py::class_<RPE, nn::Module, std::shared_ptr<RPE>>(nnm, "RelativePositionEmbedding", py::dynamic_attr(),
                                                    "Shaw et al.: weight[clip(s - t, -k, k) + k] -> [T, S, head_dim]")
      .def(py::init([](int64_t k, int64_t hd, py::object dtype) {
        return std::make_shared<RPE>(k, hd, dtype_or_f32(dtype));
      }), py::arg("max_relative_position"), py::arg("head_dim"), py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", &RPE::forward, py::arg("T"), py::arg("S"), release_gil())
      .def("relative_indices", &RPE::relative_indices, py::arg("T"), py::arg("S"))
      .def("reset_parameters", &RPE::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("max_relative_position", &RPE::max_relative_position)
      .def_readonly("head_dim", &RPE::head_dim)
      .def_property_readonly("weight", [](const RPE& r) { return r.weight; });

  using DPA = nn::DotProductAttention;
  py::class_<DPA, nn::Module, std::shared_ptr<DPA>>(nnm, "DotProductAttention", py::dynamic_attr(),
                                                    "d2l's scaled dot-product attention with valid_lens")
      .def(py::init<double>(), py::arg("dropout") = 0.0)
      .def("forward", [](DPA& self, const Tensor& q, const Tensor& k, const Tensor& v, py::object valid_lens) {
        Tensor vl = valid_lens.is_none() ? Tensor() : as_tensor(valid_lens);
        py::gil_scoped_release nogil;
        return self.forward(q, k, v, vl);
      }, py::arg("queries"), py::arg("keys"), py::arg("values"), py::arg("valid_lens") = py::none())
      .def_property_readonly("attention_weights", [](const DPA& s) { return opt_result(s.attention_weights); });
  using AA = nn::AdditiveAttention;
  py::class_<AA, nn::Module, std::shared_ptr<AA>>(nnm, "AdditiveAttention", py::dynamic_attr(),
                                                  "d2l's additive attention: w_v^T tanh(W_q q + W_k k)")
      .def(py::init([](int64_t ks, int64_t qs, int64_t nh, double dropout, py::object dtype) {
        return std::make_shared<AA>(ks, qs, nh, dropout, dtype_or_f32(dtype));
      }), py::arg("key_size"), py::arg("query_size"), py::arg("num_hiddens"), py::arg("dropout") = 0.0, py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", [](AA& self, const Tensor& q, const Tensor& k, const Tensor& v, py::object valid_lens) {
        Tensor vl = valid_lens.is_none() ? Tensor() : as_tensor(valid_lens);
        py::gil_scoped_release nogil;
        return self.forward(q, k, v, vl);
      }, py::arg("queries"), py::arg("keys"), py::arg("values"), py::arg("valid_lens") = py::none())
      .def_property_readonly("attention_weights", [](const AA& s) { return opt_result(s.attention_weights); })
      .def_property_readonly("W_k", [](const AA& s) { return s.W_k; })
      .def_property_readonly("W_q", [](const AA& s) { return s.W_q; })
      .def_property_readonly("w_v", [](const AA& s) { return s.w_v; });
  using BA = nn::BahdanauAttention;
  py::class_<BA, nn::Module, std::shared_ptr<BA>>(nnm, "BahdanauAttention", py::dynamic_attr(),
                                                  "one decoder step: query [B, Q], keys/values [B, S, *]")
      .def(py::init([](int64_t qs, int64_t ks, int64_t nh, py::object dtype) {
        return std::make_shared<BA>(qs, ks, nh, dtype_or_f32(dtype));
      }), py::arg("query_size"), py::arg("key_size"), py::arg("num_hiddens"), py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", [](BA& self, const Tensor& q, const Tensor& k, const Tensor& v, py::object valid_lens,
                         py::object kpm) {
        nn::SourceMask sm = source_mask(valid_lens, kpm);
        nn::StepAttention r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(q, k, v, sm);
        }
        return step_result(r);
      }, py::arg("query"), py::arg("keys"), py::arg("values"), py::arg("valid_lens") = py::none(),
         py::arg("key_padding_mask") = py::none(), "(context, weights, position=None)");
  using LA = nn::LuongAttention;
  py::class_<LA, nn::Module, std::shared_ptr<LA>>(nnm, "LuongAttention", py::dynamic_attr(),
                                                  "Luong et al.: score 'dot'|'general'|'concat', mode "
                                                  "'global'|'local_m'|'local_p'")
      .def(py::init([](int64_t qs, int64_t ks, const std::string& score, const std::string& mode, int64_t window,
                       std::optional<int64_t> nh, py::object dtype) {
        nn::LuongAttentionOptions o;
        if (score == "dot") o.score = nn::LuongScore::Dot;
        else if (score == "general") o.score = nn::LuongScore::General;
        else if (score == "concat") o.score = nn::LuongScore::Concat;
        else throw py::value_error("score must be 'dot', 'general' or 'concat', got '" + score + "'");
        if (mode == "global") o.mode = nn::LuongMode::Global;
        else if (mode == "local_m") o.mode = nn::LuongMode::LocalM;
        else if (mode == "local_p") o.mode = nn::LuongMode::LocalP;
        else throw py::value_error("mode must be 'global', 'local_m' or 'local_p', got '" + mode + "'");
        o.window = window;
        o.num_hiddens = nh.value_or(-1);
        o.dtype = dtype_or_f32(dtype);
        return std::make_shared<LA>(qs, ks, o);
      }), py::arg("query_size"), py::arg("key_size"), py::arg("score") = "general", py::arg("mode") = "global",
          py::arg("window") = 10, py::arg("num_hiddens") = py::none(), py::kw_only(), py::arg("dtype") = py::none())
      .def("forward", [](LA& self, const Tensor& q, const Tensor& k, const Tensor& v, py::object valid_lens,
                         py::object kpm, std::optional<int64_t> t) {
        nn::SourceMask sm = source_mask(valid_lens, kpm);
        nn::StepAttention r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(q, k, v, sm, t);
        }
        return step_result(r);
      }, py::arg("query"), py::arg("keys"), py::arg("values"), py::arg("valid_lens") = py::none(),
         py::arg("key_padding_mask") = py::none(), py::arg("t") = py::none(), "(context, weights, position)")
      .def_readonly("query_size", &LA::query_size)
      .def_readonly("key_size", &LA::key_size);
}

}  // namespace attn::python
