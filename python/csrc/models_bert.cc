// The BERT-style encoder (attn/models/bert.h) as attn._attn.models.BertConfig / BertEncoder /
// BertOutput, and its pre-training and fill-mask tools (attn/train/bert.h) as attn._attn.train.
//
// Option structs (BertConfig, MaskingOptions, TextOptions, PretrainOptions, BertExample) are
// classes whose fields are read/write attributes with the C++ names; their constructors take the
// same names as keyword arguments (an unknown one raises TypeError naming it). Results are
// classes with the C++ struct's fields as read-only attributes; an undefined tensor is None.
//
// GIL: pretraining, evaluation, loading and fill-mask run without the GIL; the progress callback
// of pretrain_bert takes it back for each call.
#include "attn/models/bert.h"

#include <functional>
#include <sstream>

#include "attn/train/bert.h"
#include "common.h"

namespace attn::python {
namespace {

using models::BertConfig;
using models::BertEncoder;
using models::BertOutput;

py::object optional_tensor(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
Tensor or_undefined(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

// The fields of an option struct: bound as attributes, settable from keyword arguments, listed
// by to_dict() and __repr__.
template <class S>
class Fields {
 public:
  template <class T>
  void add(py::class_<S>& cls, const char* name, T S::*m) {
    names_.emplace_back(name);
    set_.push_back([m](S& s, py::handle v) { s.*m = from_py<T>(v); });
    get_.push_back([m](const S& s) { return to_py(s.*m); });
    if constexpr (std::is_same_v<T, DType>) {
      cls.def_property(name, [m](const S& s) { return py_dtype(s.*m); },
                       [m](S& s, py::handle v) { s.*m = to_dtype(v); });
    } else {
      cls.def_readwrite(name, m);
    }
  }

  S from_kwargs(const std::string& what, const py::dict& kw, S s = S{}) const {
    for (auto item : kw) {
      const std::string k = pystr(item.first);
      size_t i = 0;
      while (i < names_.size() && names_[i] != k) ++i;
      if (i == names_.size()) throw py::type_error(what + ": unknown option '" + k + "'");
      set_[i](s, item.second);
    }
    return s;
  }

  py::dict to_dict(const S& s) const {
    py::dict d;
    for (size_t i = 0; i < names_.size(); ++i) d[py::str(names_[i])] = get_[i](s);
    return d;
  }

  std::string repr(const std::string& cls, const S& s) const {
    std::string out = cls + "(";
    for (size_t i = 0; i < names_.size(); ++i) {
      if (i) out += ", ";
      out += names_[i] + "=" + pystr(py::repr(get_[i](s)));
    }
    return out + ")";
  }

  // Binds __init__(**kwargs), to_dict(), __repr__ and equality by fields.
  void finish(py::class_<S>& cls, const std::string& name) const {
    cls.def(py::init([this, name](const py::kwargs& kw) { return from_kwargs(name, kw); }))
        .def("to_dict", [this](const S& s) { return to_dict(s); }, "The fields as a dict (nested options as dicts).")
        .def("__repr__", [this, name](const S& s) { return repr(name, s); })
        .def("__eq__", [this](const S& a, const S& b) { return to_dict(a).equal(to_dict(b)); })
        .def("__copy__", [](const S& s) { return S(s); })
        .def("__deepcopy__", [](const S& s, py::dict) { return S(s); }, py::arg("memo"));
    cls.attr("__hash__") = py::none();
  }

  template <class T>
  static T from_py(py::handle v);
  template <class T>
  static py::object to_py(const T& v);

 private:
  std::vector<std::string> names_;
  std::vector<std::function<void(S&, py::handle)>> set_;
  std::vector<std::function<py::object(const S&)>> get_;
};

// One field list per struct, filled while binding (module import) and read afterwards.
template <class S>
Fields<S>& fields_of() {
  static Fields<S> f;
  return f;
}

// A nested option struct may be given as its class or as a dict of its fields.
template <class T>
T nested_from_py(py::handle v, Fields<T>& fields, const std::string& what) {
  if (py::isinstance<py::dict>(v)) return fields.from_kwargs(what, v.cast<py::dict>());
  return v.cast<T>();
}

template <class S>
template <class T>
T Fields<S>::from_py(py::handle v) {
  if constexpr (std::is_same_v<T, DType>) return to_dtype(v);
  else if constexpr (std::is_same_v<T, BertConfig>) return nested_from_py(v, fields_of<BertConfig>(), "BertConfig");
  else if constexpr (std::is_same_v<T, train::MaskingOptions>)
    return nested_from_py(v, fields_of<train::MaskingOptions>(), "MaskingOptions");
  else return v.cast<T>();
}

template <class S>
template <class T>
py::object Fields<S>::to_py(const T& v) {
  if constexpr (std::is_same_v<T, DType>) return py_dtype(v);
  else if constexpr (std::is_same_v<T, BertConfig>) return fields_of<BertConfig>().to_dict(v);
  else if constexpr (std::is_same_v<T, train::MaskingOptions>)
    return fields_of<train::MaskingOptions>().to_dict(v);
  else return py::cast(v);
}

BertConfig config_arg(py::handle config, const py::kwargs& kw) {
  BertConfig c;
  if (!config.is_none()) c = Fields<BertConfig>::from_py<BertConfig>(config);
  return fields_of<BertConfig>().from_kwargs("BertConfig", kw, c);
}

train::TextOptions text_arg(const std::optional<train::TextOptions>& t) { return t ? *t : train::TextOptions{}; }

void bind_model(py::module_& mm) {
  py::class_<BertConfig> cfg(mm, "BertConfig",
                             "BertEncoder's configuration (Hugging Face's BertConfig field names; docs/models/bert.md). "
                             "BertConfig(vocab_size=..., hidden_size=..., ...); vocab_size is required.");
  auto& cf = fields_of<BertConfig>();
  cf.add(cfg, "vocab_size", &BertConfig::vocab_size);
  cf.add(cfg, "hidden_size", &BertConfig::hidden_size);
  cf.add(cfg, "num_hidden_layers", &BertConfig::num_hidden_layers);
  cf.add(cfg, "num_attention_heads", &BertConfig::num_attention_heads);
  cf.add(cfg, "intermediate_size", &BertConfig::intermediate_size);
  cf.add(cfg, "hidden_act", &BertConfig::hidden_act);
  cf.add(cfg, "hidden_dropout_prob", &BertConfig::hidden_dropout_prob);
  cf.add(cfg, "max_position_embeddings", &BertConfig::max_position_embeddings);
  cf.add(cfg, "type_vocab_size", &BertConfig::type_vocab_size);
  cf.add(cfg, "layer_norm_eps", &BertConfig::layer_norm_eps);
  cf.add(cfg, "initializer_range", &BertConfig::initializer_range);
  cf.add(cfg, "pad_token_id", &BertConfig::pad_token_id);
  cf.add(cfg, "next_sentence", &BertConfig::next_sentence);
  cf.add(cfg, "dtype", &BertConfig::dtype);
  cf.finish(cfg, "BertConfig");
  cfg.def("check", &models::check_bert_config, "Raises AttnError naming the first invalid field.");

  py::class_<BertOutput>(mm, "BertOutput", "What BertEncoder.forward returns.")
      .def_property_readonly("hidden", [](const BertOutput& o) { return optional_tensor(o.hidden); },
                             "[B, T, D] the last encoder layer")
      .def_property_readonly("mlm_logits", [](const BertOutput& o) { return optional_tensor(o.mlm_logits); },
                             "[B, T, V]")
      .def_property_readonly("pooled", [](const BertOutput& o) { return optional_tensor(o.pooled); },
                             "[B, D] (next_sentence models; else None)")
      .def_property_readonly("nsp_logits", [](const BertOutput& o) { return optional_tensor(o.nsp_logits); },
                             "[B, 2] (next_sentence models; else None); class 0 = 'B follows A'")
      .def("__repr__", [](const BertOutput& o) {
        std::ostringstream s;
        s << "BertOutput(hidden=" << shape_str(o.hidden.shape()) << ", mlm_logits=" << shape_str(o.mlm_logits.shape());
        if (o.nsp_logits.defined()) s << ", nsp_logits=" << shape_str(o.nsp_logits.shape());
        s << ")";
        return s.str();
      });

  py::class_<BertEncoder, nn::Module, std::shared_ptr<BertEncoder>>(
      mm, "BertEncoder", py::dynamic_attr(),
      "A BERT-style encoder with its MLM (and optional NSP) head (docs/models/bert.md). "
      "BertEncoder(config) or BertEncoder(vocab_size=..., ...) with BertConfig's fields.")
      .def(py::init([](py::object config, const py::kwargs& kw) {
             return std::make_shared<BertEncoder>(config_arg(config, kw));
           }),
           py::arg("config") = py::none())
      .def_property_readonly("config", [](const BertEncoder& self) { return self.config; },
                             "A copy of the BertConfig the model was built with.")
      .def(
          "forward",
          [](BertEncoder& self, const Tensor& input_ids, const std::optional<Tensor>& token_type_ids,
             const std::optional<Tensor>& attention_mask) {
            return self.forward(input_ids, or_undefined(token_type_ids), or_undefined(attention_mask));
          },
          py::arg("input_ids"), py::arg("token_type_ids") = py::none(), py::arg("attention_mask") = py::none(),
          release_gil(),
          "input_ids int64 [B, T]; token_type_ids int64 [B, T] or None (all 0); attention_mask [B, T] "
          "(1 real, 0 padding) or None. Returns a BertOutput (hidden, mlm_logits, pooled, nsp_logits).")
      .def(
          "encode",
          [](BertEncoder& self, const std::optional<Tensor>& input_ids, const std::optional<Tensor>& token_type_ids,
             const std::optional<Tensor>& attention_mask, const std::optional<Tensor>& inputs_embeds) {
            return self.encode(or_undefined(input_ids), or_undefined(token_type_ids), or_undefined(attention_mask),
                               or_undefined(inputs_embeds));
          },
          py::arg("input_ids") = py::none(), py::arg("token_type_ids") = py::none(),
          py::arg("attention_mask") = py::none(), py::arg("inputs_embeds") = py::none(), release_gil(),
          "The hidden states [B, T, D] (inputs_embeds [B, T, D] replaces the word embeddings when input_ids is None).")
      .def("mlm_logits", &BertEncoder::mlm_logits, py::arg("hidden"), release_gil(), "[..., D] -> [..., V]")
      .def("nsp_logits", &BertEncoder::nsp_logits, py::arg("hidden"), release_gil(),
           "[B, T, D] -> [B, 2]; raises AttnError without next_sentence")
      .def("reset_parameters", &BertEncoder::reset_parameters, py::arg("generator") = nullptr, release_gil(),
           "BERT's initialisation (N(0, initializer_range^2) matrices, zero [PAD] row and biases, LayerNorm weights one).");
}

// --- attn._attn.train ----------------------------------------------------------------------------


void bind_vocab_and_text(py::module_& t) {
  using train::BertVocab;
  py::class_<BertVocab>(t, "BertVocab",
                        "Training words (a data.Vocab: ids 0..3 [PAD] [CLS] [SEP] [UNK], then words by count) "
                        "plus [MASK] as the last id.")
      .def(py::init<>())
      .def(py::init<data::Vocab>(), py::arg("words"))
      .def_static("build", &BertVocab::build, py::arg("sentences"), py::arg("min_freq") = 1, py::arg("max_size") = 0,
                  "From token lists; max_size counts the 4 specials of the words' vocab (0: no cap).")
      .def("size", &BertVocab::size, "V: the words' vocab plus [MASK]")
      .def("__len__", &BertVocab::size)
      .def_property_readonly("mask_id", &BertVocab::mask_id)
      .def_property_readonly("num_words", &BertVocab::num_words, "ordinary words (no specials)")
      .def_property_readonly_static("pad_id", [](py::handle) { return BertVocab::kPad; })
      .def_property_readonly_static("cls_id", [](py::handle) { return BertVocab::kCls; })
      .def_property_readonly_static("sep_id", [](py::handle) { return BertVocab::kSep; })
      .def_property_readonly_static("unk_id", [](py::handle) { return BertVocab::kUnk; })
      .def_property_readonly_static("first_word", [](py::handle) { return BertVocab::kFirstWord; })
      .def("is_special", &BertVocab::is_special, py::arg("id"))
      .def("id", &BertVocab::id, py::arg("token"), "Specials spelled [PAD] [CLS] [SEP] [UNK] [MASK]; unknown -> unk_id")
      .def("token", &BertVocab::token, py::arg("id"))
      .def("encode", &BertVocab::encode, py::arg("tokens"), "[CLS] tokens [SEP] as ids")
      .def_property_readonly("words", &BertVocab::words, "the data.Vocab of the words")
      .def("__contains__", [](const BertVocab& v, const std::string& tok) {
        return tok == "[UNK]" || v.id(tok) != BertVocab::kUnk;
      })
      .def("__eq__", &BertVocab::operator==)
      .def("__repr__", [](const BertVocab& v) {
        return "BertVocab(size=" + std::to_string(v.size()) + ", num_words=" + std::to_string(v.num_words()) + ")";
      });
  t.attr("BertVocab").attr("__hash__") = py::none();

  py::class_<train::MaskingOptions> mo(t, "MaskingOptions", "BERT's 15% / 80-10-10 corruption.");
  auto& mf = fields_of<train::MaskingOptions>();
  mf.add(mo, "probability", &train::MaskingOptions::probability);
  mf.add(mo, "mask_fraction", &train::MaskingOptions::mask_fraction);
  mf.add(mo, "random_fraction", &train::MaskingOptions::random_fraction);
  mf.finish(mo, "MaskingOptions");

  t.def(
      "mask_tokens",
      [](const Tensor& input_ids, const BertVocab& vocab, double probability, double mask_fraction,
         double random_fraction, Generator* generator) {
        train::MaskingOptions o{probability, mask_fraction, random_fraction};
        train::MaskedTokens m;
        {
          py::gil_scoped_release nogil;
          train::check_masking_options(o);
          m = train::mask_tokens(input_ids, vocab, o, generator);
        }
        return py::make_tuple(m.input_ids, m.labels);
      },
      py::arg("input_ids"), py::arg("vocab"), py::arg("probability") = 0.15, py::arg("mask_fraction") = 0.8,
      py::arg("random_fraction") = 0.1, py::arg("generator") = nullptr,
      "BERT's masking of int64 input_ids (any shape). Returns (masked_ids, labels): labels hold the original id "
      "at the chosen positions and -100 elsewhere; specials are never chosen.");
  t.attr("IGNORE_INDEX") = train::kIgnoreIndex;

  py::class_<train::TextOptions> to(t, "TextOptions", "How raw text becomes tokens.");
  auto& tf = fields_of<train::TextOptions>();
  tf.add(to, "normalize", &train::TextOptions::normalize);
  tf.add(to, "tokenizer", &train::TextOptions::tokenizer);
  tf.finish(to, "TextOptions");

  t.def(
      "bert_tokenize",
      [](const std::string& text, const std::string& normalize, const std::string& tokenizer) {
        train::TextOptions o{normalize, tokenizer};
        train::check_text_options(o);
        return train::bert_tokenize(text, o);
      },
      py::arg("text"), py::arg("normalize") = "tutorial", py::arg("tokenizer") = "word",
      "Normalises and tokenises text, keeping [MASK] (and the other specials) as one token: "
      "'I am [MASK].' -> ['i', 'am', '[MASK]', '.'].");
  t.def(
      "read_sentences",
      [](const std::string& path, const std::string& side, const std::optional<train::TextOptions>& text,
         int64_t max_pairs) { return train::read_sentences(path, side, text_arg(text), max_pairs); },
      py::arg("path"), py::arg("side") = "src", py::arg("text") = py::none(), py::arg("max_pairs") = 0, release_gil(),
      "The tokenised sentences of a Tatoeba TSV: side 'src', 'tgt' or 'both'.");

  py::class_<train::BertExample> ex(t, "BertExample",
                                    "Word ids of sentence a and optionally b (next_sentence_label 0: b follows a, "
                                    "1: b is random, -1: no pair).");
  auto& ef = fields_of<train::BertExample>();
  ef.add(ex, "a", &train::BertExample::a);
  ef.add(ex, "b", &train::BertExample::b);
  ef.add(ex, "next_sentence_label", &train::BertExample::next_sentence_label);
  ef.finish(ex, "BertExample");

  py::class_<train::BertBatch>(t, "BertBatch")
      .def_property_readonly("input_ids", [](const train::BertBatch& b) { return optional_tensor(b.input_ids); })
      .def_property_readonly("token_type_ids", [](const train::BertBatch& b) { return optional_tensor(b.token_type_ids); })
      .def_property_readonly("attention_mask", [](const train::BertBatch& b) { return optional_tensor(b.attention_mask); })
      .def_property_readonly("next_sentence_label",
                             [](const train::BertBatch& b) { return optional_tensor(b.next_sentence_label); });
  t.def("collate_bert", &train::collate_bert, py::arg("examples"), py::arg("max_length"), release_gil(),
        "[CLS] a [SEP] (b [SEP]) rows padded with [PAD], truncated to max_length (longer segment's tail first).");
}

void bind_pretrain(py::module_& t) {
  using train::PretrainOptions;
  py::class_<PretrainOptions> po(t, "PretrainOptions",
                                 "pretrain_bert's options; at least one of max_steps, time_budget, epochs must be set. "
                                 "model.vocab_size and model.next_sentence are filled in by pretrain_bert.");
  auto& pf = fields_of<train::PretrainOptions>();
  pf.add(po, "model", &PretrainOptions::model);
  pf.add(po, "min_freq", &PretrainOptions::min_freq);
  pf.add(po, "max_vocab", &PretrainOptions::max_vocab);
  pf.add(po, "max_length", &PretrainOptions::max_length);
  pf.add(po, "valid_fraction", &PretrainOptions::valid_fraction);
  pf.add(po, "batch_size", &PretrainOptions::batch_size);
  pf.add(po, "lr", &PretrainOptions::lr);
  pf.add(po, "warmup_steps", &PretrainOptions::warmup_steps);
  pf.add(po, "weight_decay", &PretrainOptions::weight_decay);
  pf.add(po, "clip_norm", &PretrainOptions::clip_norm);
  pf.add(po, "max_steps", &PretrainOptions::max_steps);
  pf.add(po, "time_budget", &PretrainOptions::time_budget);
  pf.add(po, "epochs", &PretrainOptions::epochs);
  pf.add(po, "masking", &PretrainOptions::masking);
  pf.add(po, "next_sentence", &PretrainOptions::next_sentence);
  pf.add(po, "seed", &PretrainOptions::seed);
  pf.add(po, "threads", &PretrainOptions::threads);
  pf.finish(po, "PretrainOptions");
  po.def("check", &train::check_pretrain_options, "Raises AttnError naming the first invalid option.");

  using train::MlmEvaluation;
  py::class_<MlmEvaluation>(t, "MlmEvaluation")
      .def_readonly("loss", &MlmEvaluation::loss, "mean cross-entropy over the chosen positions")
      .def_readonly("accuracy", &MlmEvaluation::accuracy, "argmax == original word, over the chosen positions")
      .def_readonly("masked", &MlmEvaluation::masked, "chosen positions scored")
      .def_readonly("nsp_accuracy", &MlmEvaluation::nsp_accuracy, "-1 without next_sentence")
      .def("__repr__", [](const MlmEvaluation& e) {
        std::ostringstream s;
        s << "MlmEvaluation(loss=" << e.loss << ", accuracy=" << e.accuracy << ", masked=" << e.masked
          << ", nsp_accuracy=" << e.nsp_accuracy << ")";
        return s.str();
      });

  using train::PretrainStats;
  py::class_<PretrainStats>(t, "PretrainStats")
      .def_readonly("steps", &PretrainStats::steps)
      .def_readonly("epochs", &PretrainStats::epochs)
      .def_readonly("seconds", &PretrainStats::seconds)
      .def_readonly("first_loss", &PretrainStats::first_loss)
      .def_readonly("final_loss", &PretrainStats::final_loss, "mean over the last 10% of the steps")
      .def_readonly("loss_history", &PretrainStats::loss_history)
      .def_readonly("n_train", &PretrainStats::n_train)
      .def_readonly("n_valid", &PretrainStats::n_valid)
      .def_readonly("stop_reason", &PretrainStats::stop_reason)
      .def_readonly("valid", &PretrainStats::valid, "MlmEvaluation on the held-out sentences");

  using train::PretrainResult;
  py::class_<PretrainResult>(t, "PretrainResult")
      .def_readonly("vocab", &PretrainResult::vocab)
      .def_readonly("model", &PretrainResult::model, "the BertEncoder, in eval mode")
      .def_readonly("stats", &PretrainResult::stats)
      .def_readonly("options", &PretrainResult::options, "as used (model.vocab_size filled in)");

  t.def(
      "pretrain_bert",
      [](const std::vector<std::vector<std::string>>& sentences, const PretrainOptions& options, py::object progress) {
        train::PretrainProgress cb;
        if (!progress.is_none()) {
          cb = [progress](int64_t step, double done, double lr, double loss) {
            py::gil_scoped_acquire gil;
            progress(step, done, lr, loss);
          };
        }
        PretrainResult r;
        {
          py::gil_scoped_release nogil;
          r = train::pretrain_bert(sentences, options, cb);
        }
        return r;
      },
      py::arg("sentences"), py::arg("options"), py::arg("progress") = py::none(),
      "Pre-trains a BertEncoder on token lists (MLM, plus NSP with options.next_sentence). "
      "progress(step, done, lr, loss) is called after every step. Returns a PretrainResult "
      "(vocab, model, stats, options).");

  t.def(
      "evaluate_mlm",
      [](BertEncoder& model, const train::BertVocab& vocab, const std::vector<std::vector<std::string>>& sentences,
         const std::optional<train::MaskingOptions>& masking, int64_t max_length, int64_t batch_size, uint64_t seed) {
        return train::evaluate_mlm(model, vocab, sentences, masking ? *masking : train::MaskingOptions{}, max_length,
                                   batch_size, seed);
      },
      py::arg("model"), py::arg("vocab"), py::arg("sentences"), py::arg("masking") = py::none(),
      py::arg("max_length") = 64, py::arg("batch_size") = 64, py::arg("seed") = 1234, release_gil(),
      "MLM loss and accuracy (and NSP accuracy) on token lists, each masked from Generator(seed).");
}

void bind_checkpoints(py::module_& t) {
  t.def(
      "save_bert_checkpoint",
      [](const std::string& dir, const BertEncoder& model, const train::BertVocab& vocab,
         const std::optional<train::TextOptions>& text, const std::optional<train::PretrainOptions>& options,
         const std::map<std::string, double>& metrics) {
        train::save_bert_checkpoint(dir, model, vocab, text_arg(text), options ? &*options : nullptr, metrics);
      },
      py::arg("dir"), py::arg("model"), py::arg("vocab"), py::arg("text") = py::none(), py::arg("options") = py::none(),
      py::arg("metrics") = std::map<std::string, double>{}, release_gil(),
      "Writes model.safetensors, config.json and vocab.json into dir (atomically replaced).");

  using train::BertCheckpoint;
  py::class_<BertCheckpoint>(t, "BertCheckpoint")
      .def_readonly("model", &BertCheckpoint::model, "the BertEncoder, in eval mode")
      .def_readonly("vocab", &BertCheckpoint::vocab)
      .def_readonly("text", &BertCheckpoint::text)
      .def_readonly("metrics", &BertCheckpoint::metrics);
  t.def("load_bert_checkpoint", &train::load_bert_checkpoint, py::arg("dir"), release_gil(),
        "Loads a checkpoint directory; raises AttnError naming the file and the problem.");

  py::class_<train::FillPrediction>(t, "FillPrediction")
      .def_readonly("token", &train::FillPrediction::token)
      .def_readonly("id", &train::FillPrediction::id)
      .def_readonly("probability", &train::FillPrediction::probability)
      .def("__repr__", [](const train::FillPrediction& p) {
        std::ostringstream s;
        s << "FillPrediction(token='" << p.token << "', id=" << p.id << ", probability=" << p.probability << ")";
        return s.str();
      });
  py::class_<train::FillResult>(t, "FillResult")
      .def_readonly("tokens", &train::FillResult::tokens, "the query as the model read it (no [CLS] / [SEP])")
      .def_readonly("mask_positions", &train::FillResult::mask_positions, "indices into tokens")
      .def_readonly("predictions", &train::FillResult::predictions, "per mask: top_k FillPrediction, best first");

  using train::FillMask;
  py::class_<FillMask>(t, "FillMask",
                       "Predicts the words behind [MASK] in a sentence: FillMask(checkpoint_dir)(text, top_k).")
      .def(py::init([](const std::string& checkpoint_dir) {
             py::gil_scoped_release nogil;
             return std::make_unique<FillMask>(checkpoint_dir);
           }),
           py::arg("checkpoint_dir"))
      .def(py::init([](std::shared_ptr<BertEncoder> model, train::BertVocab vocab,
                       const std::optional<train::TextOptions>& text) {
             return std::make_unique<FillMask>(std::move(model), std::move(vocab), text_arg(text));
           }),
           py::arg("model"), py::arg("vocab"), py::arg("text") = py::none())
      .def(
          "__call__", [](const FillMask& f, const std::string& text, int64_t top_k) { return f(text, top_k); },
          py::arg("text"), py::arg("top_k") = 5, release_gil(),
          "A FillResult: for each [MASK], the top_k ordinary words with their softmax probability, best first.")
      .def("fill_tokens", &FillMask::fill_tokens, py::arg("tokens"), py::arg("top_k") = 5, release_gil())
      .def_property_readonly("vocab", &FillMask::vocab)
      .def_property_readonly("text", &FillMask::text)
      .def_property_readonly("metrics", &FillMask::metrics);
}

}  // namespace

void bind_models_bert(py::module_& m) {
  py::module_ mm = py::hasattr(m, "models") ? m.attr("models").cast<py::module_>()
                                            : m.def_submodule("models", "models (attn/models/*.h)");
  bind_model(mm);
  py::module_ t = m.def_submodule("train", "BERT pre-training and fill-mask (attn/train/bert.h)");
  bind_vocab_and_text(t);
  bind_pretrain(t);
  bind_checkpoints(t);
}

}  // namespace attn::python
