// attn._attn.models: the Transformer translation model (attn/models/transformer.h) and the searches
// of attn/models/decoding.h (greedy, beam, sampling) over its cached incremental decoder.
//
// The configuration is given as keyword arguments with TransformerConfig's field names
// (TransformerModel(src_vocab=..., tgt_vocab=..., d_model=...)); `config` returns them as a dict.
// Hypotheses come back as dicts {tokens, score, log_prob, attention (numpy [len, S])}.
#include "attn/models/transformer.h"

#include "common.h"

namespace attn::python {
namespace {

models::TransformerConfig config_from_kwargs(const py::kwargs& kw) {
  models::TransformerConfig c;
  for (auto item : kw) {
    const std::string k = pystr(item.first);
    py::handle v = item.second;
    if (k == "src_vocab") c.src_vocab = v.cast<int64_t>();
    else if (k == "tgt_vocab") c.tgt_vocab = v.cast<int64_t>();
    else if (k == "d_model") c.d_model = v.cast<int64_t>();
    else if (k == "nhead") c.nhead = v.cast<int64_t>();
    else if (k == "num_encoder_layers") c.num_encoder_layers = v.cast<int64_t>();
    else if (k == "num_decoder_layers") c.num_decoder_layers = v.cast<int64_t>();
    else if (k == "dim_feedforward") c.dim_feedforward = v.cast<int64_t>();
    else if (k == "dropout") c.dropout = v.cast<double>();
    else if (k == "activation") c.activation = v.cast<std::string>();
    else if (k == "layer_norm_eps") c.layer_norm_eps = v.cast<double>();
    else if (k == "norm_first") c.norm_first = v.cast<bool>();
    else if (k == "positions") c.positions = v.cast<std::string>();
    else if (k == "max_positions") c.max_positions = v.cast<int64_t>();
    else if (k == "share_embeddings") c.share_embeddings = v.cast<bool>();
    else if (k == "tie_output") c.tie_output = v.cast<bool>();
    else if (k == "num_kv_heads") c.num_kv_heads = v.cast<int64_t>();
    else if (k == "moe_experts") c.moe_experts = v.cast<int64_t>();
    else if (k == "moe_top_k") c.moe_top_k = v.cast<int64_t>();
    else if (k == "moe_aux_weight") c.moe_aux_weight = v.cast<double>();
    else if (k == "pad") c.pad = v.cast<int64_t>();
    else if (k == "bos") c.bos = v.cast<int64_t>();
    else if (k == "eos") c.eos = v.cast<int64_t>();
    else if (k == "dtype") c.dtype = to_dtype(v);
    else throw py::type_error("TransformerModel: unknown option '" + k + "'");
  }
  return c;
}

py::dict config_dict(const models::TransformerConfig& c) {
  py::dict d;
  d["src_vocab"] = c.src_vocab;
  d["tgt_vocab"] = c.tgt_vocab;
  d["d_model"] = c.d_model;
  d["nhead"] = c.nhead;
  d["num_encoder_layers"] = c.num_encoder_layers;
  d["num_decoder_layers"] = c.num_decoder_layers;
  d["dim_feedforward"] = c.dim_feedforward;
  d["dropout"] = c.dropout;
  d["activation"] = c.activation;
  d["layer_norm_eps"] = c.layer_norm_eps;
  d["norm_first"] = c.norm_first;
  d["positions"] = c.positions;
  d["max_positions"] = c.max_positions;
  d["share_embeddings"] = c.share_embeddings;
  d["tie_output"] = c.tie_output;
  d["num_kv_heads"] = c.num_kv_heads;
  d["moe_experts"] = c.moe_experts;
  d["moe_top_k"] = c.moe_top_k;
  d["moe_aux_weight"] = c.moe_aux_weight;
  d["pad"] = c.pad;
  d["bos"] = c.bos;
  d["eos"] = c.eos;
  d["dtype"] = py_dtype(c.dtype);
  return d;
}

py::object optional_tensor(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

py::dict hypothesis_dict(const models::Hypothesis& h) {
  py::dict d;
  d["tokens"] = h.tokens;
  d["score"] = h.score;
  d["log_prob"] = h.log_prob;
  // A numpy copy, so the map outlives the search that made it.
  d["attention"] = h.attention.defined() ? tensor_to_numpy(h.attention.contiguous()).attr("copy")() : py::none();
  return d;
}

}  // namespace

void bind_models_transformer(py::module_& m) {
  py::module_ mm = m.def_submodule("models", "translation models (attn/models/*.h)");
  using TM = models::TransformerModel;
  py::class_<TM, nn::Module, std::shared_ptr<TM>>(mm, "TransformerModel", py::dynamic_attr(),
                                                  "The Transformer translation model (docs/models/transformer.md).")
      .def(py::init([](const py::kwargs& kw) { return std::make_shared<TM>(config_from_kwargs(kw)); }))
      .def_property_readonly("config", [](const TM& self) { return config_dict(self.config); })
      .def_readwrite("attention_layer", &TM::attention_layer)
      .def_readwrite("attention_head", &TM::attention_head)
      .def("forward", [](TM& self, const Tensor& src, const Tensor& src_lens, const Tensor& tgt_in) {
        return self.forward(src, src_lens, tgt_in);
      }, py::arg("src"), py::arg("src_lens"), py::arg("tgt_in"), release_gil())
      .def("last_attention", [](const TM& self) { return optional_tensor(self.last_attention()); })
      .def("aux_loss", [](const TM& self) { return optional_tensor(self.aux_loss()); })
      .def("encode", &TM::encode, py::arg("src"), py::arg("src_lens"), release_gil())
      .def("cross_attention_weights", &TM::cross_attention_weights, py::arg("src"), py::arg("src_lens"),
           py::arg("tgt_in"), release_gil())
      .def("decoder_self_attention_weights", &TM::decoder_self_attention_weights, py::arg("src"),
           py::arg("src_lens"), py::arg("tgt_in"), release_gil())
      .def("encoder_self_attention_weights", &TM::encoder_self_attention_weights, py::arg("src"),
           py::arg("src_lens"), release_gil())
      .def("decode", [](TM& self, const Tensor& src, const Tensor& src_lens, const std::string& method,
                        int64_t beam_size, int64_t max_length, int64_t n_best, double length_penalty,
                        int64_t min_length, double temperature, int64_t top_k, double top_p, Generator* generator) {
        ATTN_CHECK(method == "greedy" || method == "beam" || method == "sample",
                   "TransformerModel.decode: method must be 'greedy', 'beam' or 'sample', got '", method, "'");
        models::SearchOptions o;
        o.beam_size = beam_size;
        o.max_length = max_length;
        o.n_best = n_best;
        o.length_penalty = length_penalty;
        o.min_length = min_length;
        o.bos = self.config.bos;
        o.eos = self.config.eos;
        std::vector<std::vector<models::Hypothesis>> hyps;
        {
          py::gil_scoped_release nogil;
          NoGradGuard ng;
          auto dec = self.start_decoding(src, src_lens);
          const int64_t B = src.size(0);
          if (method == "greedy") hyps = models::greedy_search(*dec, B, o);
          else if (method == "beam") hyps = models::beam_search(*dec, B, o);
          else hyps = models::sample_search(*dec, B, o, models::SamplingOptions{temperature, top_k, top_p}, generator);
        }
        py::list out;
        for (const auto& row : hyps) {
          py::list l;
          for (const auto& h : row) l.append(hypothesis_dict(h));
          out.append(l);
        }
        return out;
      }, py::arg("src"), py::arg("src_lens"), py::arg("method") = "greedy", py::arg("beam_size") = 5,
         py::arg("max_length") = 50, py::arg("n_best") = 1, py::arg("length_penalty") = 1.0,
         py::arg("min_length") = 0, py::arg("temperature") = 1.0, py::arg("top_k") = 0, py::arg("top_p") = 1.0,
         py::arg("generator") = nullptr,
         "Encodes src [B, S] (int64, src_lens [B]) and searches: 'greedy', 'beam' or 'sample' (temperature, "
         "top_k, top_p, generator). Returns one list of hypothesis dicts per row, best first. Call eval() first.");
}

}  // namespace attn::python
