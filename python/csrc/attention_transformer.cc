// attn.nn.TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, TransformerDecoder and
// Transformer (attn/attention/transformer.h) with torch.nn's constructor and forward keywords, plus
// the attn extensions as keyword-only arguments (num_kv_heads, rotary, rotary_base, moe_experts,
// moe_top_k). Incremental decoding: TransformerDecoderLayer.Cache / TransformerDecoder.new_cache().
// Also MultiheadAttention's rotary / rotary_base and project_kv / forward_kv.
// Forward passes run with the GIL released (common.h).
#include "attn/attention/transformer.h"

#include "common.h"

namespace attn::python {
namespace {

using nn::Transformer;
using nn::TransformerDecoder;
using nn::TransformerDecoderLayer;
using nn::TransformerDecoderLayerCache;
using nn::TransformerEncoder;
using nn::TransformerEncoderLayer;
using nn::TransformerLayerConfig;

Tensor tr_opt_tensor(py::handle h) { return h.is_none() ? Tensor() : h.cast<Tensor>(); }
py::object tr_opt_result(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

TransformerLayerConfig make_config(int64_t d_model, int64_t nhead, int64_t dim_feedforward, double dropout,
                                   py::object activation, double layer_norm_eps, bool batch_first, bool norm_first,
                                   std::optional<int64_t> num_kv_heads, bool rotary, double rotary_base,
                                   int64_t moe_experts, int64_t moe_top_k, py::object dtype) {
  if (!py::isinstance<py::str>(activation))
    throw py::value_error("activation must be the string 'relu' or 'gelu' (callables are not supported)");
  TransformerLayerConfig c;
  c.d_model = d_model;
  c.nhead = nhead;
  c.dim_feedforward = dim_feedforward;
  c.dropout = dropout;
  c.activation = activation.cast<std::string>();
  c.layer_norm_eps = layer_norm_eps;
  c.batch_first = batch_first;
  c.norm_first = norm_first;
  c.num_kv_heads = num_kv_heads.value_or(-1);
  c.rotary = rotary;
  c.rotary_base = rotary_base;
  c.moe_experts = moe_experts;
  c.moe_top_k = moe_top_k;
  c.dtype = dtype.is_none() ? kFloat32 : to_dtype(dtype);
  return c;
}

// The caches of a whole decoder stack, one per layer (TransformerDecoder.new_cache()).
struct DecoderCache {
  std::vector<TransformerDecoderLayerCache> layers;
};

// Stack(encoder_layer / decoder_layer, num_layers, norm) as PyTorch builds it: every layer a copy
// of `layer` (PyTorch deep-copies the layer it is given), the final LayerNorm a copy of `norm`,
// in `layer`'s training mode.
template <class Stack, class Layer>
std::shared_ptr<Stack> make_stack(const Layer& layer, int64_t num_layers, py::object norm) {
  auto s = std::make_shared<Stack>(layer.config, num_layers, !norm.is_none());
  for (int64_t i = 0; i < num_layers; ++i) s->layer(i)->load_state_dict(layer.state_dict());
  if (!norm.is_none()) s->norm->load_state_dict(norm.cast<std::shared_ptr<nn::LayerNorm>>()->state_dict());
  s->train(layer.is_training());
  return s;
}

// The members and properties both layer types have, under PyTorch's names.
template <class Layer, class Cls>
void bind_layer_common(Cls& cls) {
  cls.def("aux_loss", [](const Layer& s) { return tr_opt_result(s.aux_loss()); },
          "MoE load-balancing loss of the last forward (None without MoE)")
      .def_property_readonly("last_self_attention", [](const Layer& s) { return tr_opt_result(s.last_self_attention()); })
      .def_readwrite("keep_attention", &Layer::keep_attention)
      .def_property_readonly("norm_first", [](const Layer& s) { return s.config.norm_first; })
      .def_property_readonly("batch_first", [](const Layer& s) { return s.config.batch_first; })
      .def_readonly("self_attn", &Layer::self_attn)
      .def_readonly("linear1", &Layer::linear1)
      .def_readonly("linear2", &Layer::linear2)
      .def_readonly("moe", &Layer::moe)
      .def_readonly("dropout", &Layer::dropout)
      .def_readonly("dropout1", &Layer::dropout1)
      .def_readonly("dropout2", &Layer::dropout2)
      .def_readonly("norm1", &Layer::norm1)
      .def_readonly("norm2", &Layer::norm2);
}

}  // namespace

void bind_attention_transformer(py::module_& m) {
  py::module_ nnm = m.attr("nn").cast<py::module_>();

  // MultiheadAttention's rotary option and cross-attention KV caching (attention/multihead.h), added
  // to the class that bind_nn_attention registered.
  using MHA = nn::MultiheadAttention;
  auto mha = py::reinterpret_borrow<py::class_<MHA, nn::Module, std::shared_ptr<MHA>>>(nnm.attr("MultiheadAttention"));
  mha.def_readwrite("rotary", &MHA::rotary, "RoPE on the projected queries and keys (attn extension)")
      .def_readwrite("rotary_base", &MHA::rotary_base)
      .def("project_kv", &MHA::project_kv, py::arg("key"), py::arg("value"), release_gil(),
           "projects key and value once into a KVCache [B, Hkv, S, D] for forward_kv")
      .def("forward_kv", [](MHA& self, const Tensor& query, const nn::KVCache& kv, py::object key_padding_mask,
                            bool need_weights, bool average) {
        Tensor kpm = tr_opt_tensor(key_padding_mask);
        AttentionResult r;
        {
          py::gil_scoped_release nogil;
          r = self.forward_kv(query, kv, kpm, need_weights, average);
        }
        return py::make_tuple(r.output, tr_opt_result(r.weights));
      }, py::arg("query"), py::arg("kv"), py::arg("key_padding_mask") = py::none(), py::arg("need_weights") = false,
         py::arg("average_attn_weights") = true,
         "cross-attention against project_kv's keys and values; returns (output, weights or None)");

  // Keyword arguments shared by the layer constructors (PyTorch's names, then the extensions).
#define ATTN_LAYER_ARGS                                                                                          \
  py::arg("d_model"), py::arg("nhead"), py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,             \
      py::arg("activation") = "relu", py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,         \
      py::arg("norm_first") = false, py::kw_only(), py::arg("num_kv_heads") = py::none(), py::arg("rotary") = false, \
      py::arg("rotary_base") = 10000.0, py::arg("moe_experts") = 0, py::arg("moe_top_k") = 2,                    \
      py::arg("device") = py::none(), py::arg("dtype") = py::none()

  auto check_device = [](py::object device) {
    if (!device.is_none() && pystr(device) != "cpu") throw py::value_error("device: attn runs on 'cpu' only");
  };

  auto enc_layer = py::class_<TransformerEncoderLayer, nn::Module, std::shared_ptr<TransformerEncoderLayer>>(
      nnm, "TransformerEncoderLayer", py::dynamic_attr(), "torch.nn.TransformerEncoderLayer (+ GQA, RoPE, MoE)");
  bind_layer_common<TransformerEncoderLayer>(enc_layer);
  enc_layer
      .def(py::init([check_device](int64_t d, int64_t h, int64_t ff, double p, py::object act, double eps, bool bf,
                                   bool nf, std::optional<int64_t> kv, bool rot, double base, int64_t ne, int64_t nk,
                                   py::object device, py::object dtype) {
             check_device(device);
             return std::make_shared<TransformerEncoderLayer>(
                 make_config(d, h, ff, p, act, eps, bf, nf, kv, rot, base, ne, nk, dtype));
           }),
           ATTN_LAYER_ARGS)
      .def("forward", [](TransformerEncoderLayer& self, const Tensor& src, py::object src_mask,
                         py::object src_key_padding_mask, bool is_causal) {
        Tensor am = tr_opt_tensor(src_mask), kpm = tr_opt_tensor(src_key_padding_mask);
        py::gil_scoped_release nogil;
        return self.forward(src, am, kpm, is_causal);
      }, py::arg("src"), py::arg("src_mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
         py::arg("is_causal") = false);

  auto dec_layer = py::class_<TransformerDecoderLayer, nn::Module, std::shared_ptr<TransformerDecoderLayer>>(
      nnm, "TransformerDecoderLayer", py::dynamic_attr(), "torch.nn.TransformerDecoderLayer (+ GQA, RoPE, MoE)");
  py::class_<TransformerDecoderLayerCache>(dec_layer, "Cache",
                                           "one decoder layer's KV caches (self-attention and cross-attention)")
      .def(py::init<>())
      .def_readonly("self_attn", &TransformerDecoderLayerCache::self_attn)
      .def_readonly("cross_attn", &TransformerDecoderLayerCache::cross_attn)
      .def("reorder", &TransformerDecoderLayerCache::reorder, py::arg("indices"), release_gil(),
           "keeps batch rows `indices` (int64) of both caches (beam search)");
  dec_layer
      .def(py::init([check_device](int64_t d, int64_t h, int64_t ff, double p, py::object act, double eps, bool bf,
                                   bool nf, std::optional<int64_t> kv, bool rot, double base, int64_t ne, int64_t nk,
                                   py::object device, py::object dtype) {
             check_device(device);
             return std::make_shared<TransformerDecoderLayer>(
                 make_config(d, h, ff, p, act, eps, bf, nf, kv, rot, base, ne, nk, dtype));
           }),
           ATTN_LAYER_ARGS)
      .def("forward", [](TransformerDecoderLayer& self, const Tensor& tgt, const Tensor& memory, py::object tgt_mask,
                         py::object memory_mask, py::object tgt_kpm, py::object memory_kpm, bool tgt_is_causal,
                         bool memory_is_causal) {
        Tensor tm = tr_opt_tensor(tgt_mask), mm = tr_opt_tensor(memory_mask), tk = tr_opt_tensor(tgt_kpm),
               mk = tr_opt_tensor(memory_kpm);
        py::gil_scoped_release nogil;
        return self.forward(tgt, memory, tm, mm, tk, mk, tgt_is_causal, memory_is_causal);
      }, py::arg("tgt"), py::arg("memory"), py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("tgt_is_causal") = false, py::arg("memory_is_causal") = false)
      .def("forward_step", [](TransformerDecoderLayer& self, const Tensor& tgt_new, py::object memory,
                              TransformerDecoderLayerCache& cache, py::object memory_kpm) {
        Tensor mem = tr_opt_tensor(memory), mk = tr_opt_tensor(memory_kpm);
        py::gil_scoped_release nogil;
        return self.forward_step(tgt_new, mem, cache, mk);
      }, py::arg("tgt_new"), py::arg("memory"), py::arg("cache"), py::arg("memory_key_padding_mask") = py::none(),
         "new target positions only, appended to `cache` (memory is projected on the first call only)")
      .def_property_readonly("last_cross_attention",
                             [](const TransformerDecoderLayer& s) { return tr_opt_result(s.last_cross_attention()); })
      .def_readonly("multihead_attn", &TransformerDecoderLayer::multihead_attn)
      .def_readonly("dropout3", &TransformerDecoderLayer::dropout3)
      .def_readonly("norm3", &TransformerDecoderLayer::norm3);
  bind_layer_common<TransformerDecoderLayer>(dec_layer);
#undef ATTN_LAYER_ARGS

  py::class_<TransformerEncoder, nn::Module, std::shared_ptr<TransformerEncoder>>(
      nnm, "TransformerEncoder", py::dynamic_attr(),
      "torch.nn.TransformerEncoder: num_layers copies of encoder_layer, then norm (if given)")
      .def(py::init([](const TransformerEncoderLayer& layer, int64_t num_layers, py::object norm) {
             return make_stack<TransformerEncoder>(layer, num_layers, norm);
           }),
           py::arg("encoder_layer"), py::arg("num_layers"), py::arg("norm") = py::none())
      .def("forward", [](TransformerEncoder& self, const Tensor& src, py::object mask, py::object kpm,
                         py::object is_causal) {
        Tensor am = tr_opt_tensor(mask), k = tr_opt_tensor(kpm);
        const bool causal = !is_causal.is_none() && is_causal.cast<bool>();
        py::gil_scoped_release nogil;
        return self.forward(src, am, k, causal);
      }, py::arg("src"), py::arg("mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
         py::arg("is_causal") = py::none())
      .def("aux_loss", [](const TransformerEncoder& s) { return tr_opt_result(s.aux_loss()); },
           "sum of the layers' MoE losses (None without MoE)")
      .def_property_readonly("layers", [](const TransformerEncoder& s) {
        py::list l;
        for (int64_t i = 0; i < s.num_layers; ++i) l.append(s.layer(i));
        return l;
      })
      .def_readonly("num_layers", &TransformerEncoder::num_layers)
      .def_property_readonly("norm", [](const TransformerEncoder& s) {
        return s.norm ? py::cast(s.norm) : py::none();
      });

  py::class_<DecoderCache>(nnm, "TransformerDecoderCache",
                           "a decoder stack's KV caches, one per layer (TransformerDecoder.new_cache())")
      .def("__len__", [](const DecoderCache& c) { return c.layers.size(); })
      .def("__getitem__", [](DecoderCache& c, int64_t i) -> TransformerDecoderLayerCache& {
        if (i < 0) i += int64_t(c.layers.size());
        if (i < 0 || i >= int64_t(c.layers.size())) throw py::index_error("cache layer index out of range");
        return c.layers[size_t(i)];
      }, py::return_value_policy::reference_internal)
      .def("length", [](const DecoderCache& c) { return c.layers.empty() ? 0 : c.layers[0].self_attn.length(); },
           "target positions cached so far")
      .def("reorder", [](DecoderCache& c, const Tensor& idx) {
        py::gil_scoped_release nogil;
        for (auto& l : c.layers) l.reorder(idx);
      }, py::arg("indices"), "keeps batch rows `indices` (int64) of every layer's caches (beam search)");

  py::class_<TransformerDecoder, nn::Module, std::shared_ptr<TransformerDecoder>>(
      nnm, "TransformerDecoder", py::dynamic_attr(),
      "torch.nn.TransformerDecoder: num_layers copies of decoder_layer, then norm (if given)")
      .def(py::init([](const TransformerDecoderLayer& layer, int64_t num_layers, py::object norm) {
             return make_stack<TransformerDecoder>(layer, num_layers, norm);
           }),
           py::arg("decoder_layer"), py::arg("num_layers"), py::arg("norm") = py::none())
      .def("forward", [](TransformerDecoder& self, const Tensor& tgt, const Tensor& memory, py::object tgt_mask,
                         py::object memory_mask, py::object tgt_kpm, py::object memory_kpm, bool tgt_is_causal,
                         bool memory_is_causal) {
        Tensor tm = tr_opt_tensor(tgt_mask), mm = tr_opt_tensor(memory_mask), tk = tr_opt_tensor(tgt_kpm),
               mk = tr_opt_tensor(memory_kpm);
        py::gil_scoped_release nogil;
        return self.forward(tgt, memory, tm, mm, tk, mk, tgt_is_causal, memory_is_causal);
      }, py::arg("tgt"), py::arg("memory"), py::arg("tgt_mask") = py::none(), py::arg("memory_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none(),
         py::arg("tgt_is_causal") = false, py::arg("memory_is_causal") = false)
      .def("new_cache", [](const TransformerDecoder& s) {
        DecoderCache c;
        c.layers.resize(size_t(s.num_layers));
        return c;
      })
      .def("forward_step", [](TransformerDecoder& self, const Tensor& tgt_new, py::object memory, DecoderCache& cache,
                              py::object memory_kpm) {
        Tensor mem = tr_opt_tensor(memory), mk = tr_opt_tensor(memory_kpm);
        py::gil_scoped_release nogil;
        return self.forward_step(tgt_new, mem, cache.layers, mk);
      }, py::arg("tgt_new"), py::arg("memory"), py::arg("cache"), py::arg("memory_key_padding_mask") = py::none(),
         "new target positions only; equals the matching rows of forward() with the causal tgt_mask")
      .def("aux_loss", [](const TransformerDecoder& s) { return tr_opt_result(s.aux_loss()); })
      .def_property_readonly("layers", [](const TransformerDecoder& s) {
        py::list l;
        for (int64_t i = 0; i < s.num_layers; ++i) l.append(s.layer(i));
        return l;
      })
      .def_readonly("num_layers", &TransformerDecoder::num_layers)
      .def_property_readonly("norm", [](const TransformerDecoder& s) {
        return s.norm ? py::cast(s.norm) : py::none();
      });

  py::class_<Transformer, nn::Module, std::shared_ptr<Transformer>>(nnm, "Transformer", py::dynamic_attr(),
                                                                   "torch.nn.Transformer (+ GQA, RoPE, MoE)")
      .def(py::init([check_device](int64_t d, int64_t h, int64_t ne, int64_t nd, int64_t ff, double p, py::object act,
                                   py::object custom_encoder, py::object custom_decoder, double eps, bool bf, bool nf,
                                   std::optional<int64_t> kv, bool rot, double base, int64_t me, int64_t mk,
                                   py::object device, py::object dtype) {
             check_device(device);
             if (!custom_encoder.is_none() || !custom_decoder.is_none())
               throw py::value_error("Transformer: custom_encoder / custom_decoder are not supported");
             return std::make_shared<Transformer>(make_config(d, h, ff, p, act, eps, bf, nf, kv, rot, base, me, mk, dtype),
                                                  ne, nd);
           }),
           py::arg("d_model") = 512, py::arg("nhead") = 8, py::arg("num_encoder_layers") = 6,
           py::arg("num_decoder_layers") = 6, py::arg("dim_feedforward") = 2048, py::arg("dropout") = 0.1,
           py::arg("activation") = "relu", py::arg("custom_encoder") = py::none(),
           py::arg("custom_decoder") = py::none(), py::arg("layer_norm_eps") = 1e-5, py::arg("batch_first") = false,
           py::arg("norm_first") = false, py::kw_only(), py::arg("num_kv_heads") = py::none(),
           py::arg("rotary") = false, py::arg("rotary_base") = 10000.0, py::arg("moe_experts") = 0,
           py::arg("moe_top_k") = 2, py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", [](Transformer& self, const Tensor& src, const Tensor& tgt, py::object src_mask,
                         py::object tgt_mask, py::object memory_mask, py::object src_kpm, py::object tgt_kpm,
                         py::object memory_kpm) {
        Tensor sm = tr_opt_tensor(src_mask), tm = tr_opt_tensor(tgt_mask), mm = tr_opt_tensor(memory_mask),
               sk = tr_opt_tensor(src_kpm), tk = tr_opt_tensor(tgt_kpm), mk = tr_opt_tensor(memory_kpm);
        py::gil_scoped_release nogil;
        return self.forward(src, tgt, sm, tm, mm, sk, tk, mk);
      }, py::arg("src"), py::arg("tgt"), py::arg("src_mask") = py::none(), py::arg("tgt_mask") = py::none(),
         py::arg("memory_mask") = py::none(), py::arg("src_key_padding_mask") = py::none(),
         py::arg("tgt_key_padding_mask") = py::none(), py::arg("memory_key_padding_mask") = py::none())
      .def_static("generate_square_subsequent_mask", [](int64_t sz, py::object dtype) {
        return nn::generate_square_subsequent_mask(sz, dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }, py::arg("sz"), py::arg("dtype") = py::none(), "float [sz, sz]: 0 on and below the diagonal, -inf above")
      .def("reset_parameters", &Transformer::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("encoder", &Transformer::encoder)
      .def_readonly("decoder", &Transformer::decoder)
      .def_property_readonly("d_model", [](const Transformer& s) { return s.config.d_model; })
      .def_property_readonly("nhead", [](const Transformer& s) { return s.config.nhead; })
      .def_property_readonly("batch_first", [](const Transformer& s) { return s.config.batch_first; });
}

}  // namespace attn::python
