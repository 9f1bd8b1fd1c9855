// attn.translator: train_translator and Translator (attn/train/translator.h) from Python.
//
// The configuration is a dict with TrainConfig's field names ("model_type", the RNN's Seq2SeqConfig
// under "model", the TransformerConfig under "transformer"), exactly the "train" object of a
// checkpoint's config.json, so a Python dict, a JSON file and the C++ struct are one thing. Results are plain dicts; attention maps are numpy arrays.
#include "attn/train/translator.h"

#include "attn/train/checkpoint.h"
#include "common.h"

namespace attn::python {
namespace {

py::object json_module() { return py::module_::import("json"); }

train::TrainConfig config_from_dict(const py::dict& d) {
  const std::string text = json_module().attr("dumps")(d).cast<std::string>();
  return train::train_config_from_json(text, "train_translator config");
}

py::dict config_to_dict(const train::TrainConfig& c) {
  return json_module().attr("loads")(train::train_config_to_json(c, -1)).cast<py::dict>();
}

py::dict epoch_dict(const train::EpochStats& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["partial"] = e.partial;
  d["steps"] = e.steps;
  d["train_loss"] = e.train_loss;
  d["valid_loss"] = e.valid_loss;
  d["valid_bleu"] = e.valid_bleu;
  d["lr"] = e.lr;
  d["seconds"] = e.seconds;
  d["pairs_per_second"] = e.pairs_per_second;
  d["best"] = e.best;
  return d;
}

py::dict result_dict(const train::TrainResult& r) {
  py::dict d;
  py::list epochs;
  for (const auto& e : r.epochs) epochs.append(epoch_dict(e));
  d["epochs"] = epochs;
  d["epochs_completed"] = r.epochs_completed;
  d["global_step"] = r.global_step;
  d["best_valid_bleu"] = r.best_valid_bleu;
  d["best_valid_loss"] = r.best_valid_loss;
  d["best_epoch"] = r.best_epoch;
  d["stop_reason"] = r.stop_reason;
  d["n_train"] = r.n_train;
  d["n_valid"] = r.n_valid;
  d["n_test"] = r.n_test;
  d["src_vocab_size"] = r.src_vocab_size;
  d["tgt_vocab_size"] = r.tgt_vocab_size;
  d["num_parameters"] = r.num_parameters;
  d["test_bleu"] = r.test_bleu ? py::object(py::float_(*r.test_bleu)) : py::object(py::none());
  d["test_loss"] = r.test_loss ? py::object(py::float_(*r.test_loss)) : py::object(py::none());
  d["seconds"] = r.seconds;
  return d;
}

// Attention maps leave C++ as numpy copies, so they outlive the translation that made them.
py::array attention_array(const Tensor& t) { return tensor_to_numpy(t.contiguous()).attr("copy")(); }

py::dict hypothesis_dict(const train::TranslationHypothesis& h) {
  py::dict d;
  d["text"] = h.text;
  d["tokens"] = h.tokens;
  d["score"] = h.score;
  d["log_prob"] = h.log_prob;
  d["attention"] = attention_array(h.attention);
  return d;
}

py::dict translation_dict(const train::Translation& t) {
  py::dict d;
  d["source"] = t.source;
  d["source_tokens"] = t.source_tokens;
  d["text"] = t.text;
  d["tokens"] = t.tokens;
  d["attention"] = attention_array(t.attention);
  d["score"] = t.score;
  d["log_prob"] = t.log_prob;
  py::list nbest;
  for (const auto& h : t.nbest) nbest.append(hypothesis_dict(h));
  d["nbest"] = nbest;
  return d;
}

train::TranslateOptions translate_options(int64_t beam_size, double length_penalty, int64_t n_best,
                                          double max_length_ratio, int64_t max_length_offset, int64_t max_length,
                                          int64_t batch_size, bool sample = false, int64_t top_k = 0,
                                          double top_p = 1.0, double temperature = 1.0, uint64_t seed = 0,
                                          int64_t attention_layer = -1, int64_t attention_head = -1) {
  train::TranslateOptions o;
  o.sample = sample;
  o.top_k = top_k;
  o.top_p = top_p;
  o.temperature = temperature;
  o.seed = seed;
  o.attention_layer = attention_layer;
  o.attention_head = attention_head;
  o.beam_size = beam_size;
  o.length_penalty = length_penalty;
  o.n_best = n_best;
  o.max_length_ratio = max_length_ratio;
  o.max_length_offset = max_length_offset;
  o.max_length = max_length;
  o.batch_size = batch_size;
  return o;
}

py::dict eval_dict(const train::TranslatorEval& ev) {
  py::dict d;
  d["bleu"] = py::cast(ev.bleu);
  d["bleu_tokenize"] = ev.bleu_tokenize;
  d["loss"] = ev.loss;
  d["perplexity"] = ev.perplexity;
  d["count"] = ev.count;
  d["hypotheses"] = ev.hypotheses;
  d["references"] = ev.references;
  return d;
}

#define ATTN_DECODE_ARGS                                                                                         \
  py::arg("beam_size") = 1, py::arg("length_penalty") = 1.0, py::arg("n_best") = 1,                             \
      py::arg("max_length_ratio") = 2.0, py::arg("max_length_offset") = 5, py::arg("max_length") = 200,        \
      py::arg("batch_size") = 64

}  // namespace

void bind_translator(py::module_& m) {
  py::module_ t = m.def_submodule("translator",
                                  "Translator training and inference, RNN or Transformer (attn.translator)");

  t.def(
      "train_translator",
      [](const py::dict& config, py::object on_epoch) {
        const train::TrainConfig c = config_from_dict(config);
        train::EpochCallback cb;
        if (!on_epoch.is_none()) {
          cb = [on_epoch](const train::EpochStats& e) {
            py::gil_scoped_acquire gil;
            on_epoch(epoch_dict(e));
          };
        }
        train::TrainResult r;
        {
          py::gil_scoped_release release;
          r = train::train_translator(c, cb);
        }
        return result_dict(r);
      },
      py::arg("config"), py::arg("on_epoch") = py::none(),
      "Trains a translator; `config` has TrainConfig's fields (model options under 'model'). "
      "Returns the TrainResult as a dict. on_epoch(dict) is called after every epoch.");
  t.def(
      "default_config", [] { return config_to_dict(train::TrainConfig{}); },
      "Every option with its default, as the dict train_translator takes.");
  t.def("normalize_choices", &train::normalize_choices);
  t.def("tokenizer_choices", &train::tokenizer_choices);
  t.def("model_type_choices", &train::model_type_choices);
  t.def("spm_model_type_choices", &train::spm_model_type_choices);
  t.def("optimizer_choices", &train::optimizer_choices);
  t.def("lr_schedule_choices", &train::lr_schedule_choices);

  py::class_<train::Translator>(t, "Translator")
      .def_static("load", &train::Translator::load, py::arg("dir"), release_gil(),
                  "Loads a checkpoint directory (model.safetensors, config.json, src_vocab.json, tgt_vocab.json).")
      .def(
          "translate",
          [](const train::Translator& tr, py::object sentences, int64_t beam_size, double length_penalty,
             int64_t n_best, double max_length_ratio, int64_t max_length_offset, int64_t max_length,
             int64_t batch_size, bool sample, int64_t top_k, double top_p, double temperature, uint64_t seed,
             int64_t attention_layer, int64_t attention_head) -> py::object {
            const auto o = translate_options(beam_size, length_penalty, n_best, max_length_ratio, max_length_offset,
                                             max_length, batch_size, sample, top_k, top_p, temperature, seed,
                                             attention_layer, attention_head);
            const bool single = py::isinstance<py::str>(sentences);
            const std::vector<std::string> in =
                single ? std::vector<std::string>{sentences.cast<std::string>()} : sentences.cast<std::vector<std::string>>();
            std::vector<train::Translation> out;
            {
              py::gil_scoped_release release;
              out = tr.translate(in, o);
            }
            if (single) return translation_dict(out.front());
            py::list l;
            for (const auto& x : out) l.append(translation_dict(x));
            return l;
          },
          py::arg("sentences"), ATTN_DECODE_ARGS, py::arg("sample") = false, py::arg("top_k") = 0,
          py::arg("top_p") = 1.0, py::arg("temperature") = 1.0, py::arg("seed") = 0, py::arg("attention_layer") = -1,
          py::arg("attention_head") = -1,
          "Translates a str (-> dict) or a list of str (-> list of dicts with text, tokens, source_tokens, "
          "attention [T, S] numpy, score, log_prob, nbest). sample=True draws from the model (top_k, top_p, "
          "temperature, seed) instead of searching; attention_layer / attention_head choose a Transformer's "
          "cross-attention (-1: last layer, mean of heads).")
      .def(
          "attention_heads",
          [](const train::Translator& tr, const std::string& sentence, int64_t beam_size) {
            train::TranslateOptions o;
            o.beam_size = beam_size;
            Tensor w;
            {
              py::gil_scoped_release release;
              w = tr.attention_heads(tr.translate(sentence, o));
            }
            return attention_array(w);
          },
          py::arg("sentence"), py::arg("beam_size") = 1,
          "Translates the sentence and returns the cross-attention of every decoder layer and head over it, "
          "numpy [L, H, T, S] (an RNN model: [1, 1, T, S]).")
      .def(
          "evaluate",
          [](const train::Translator& tr, const std::vector<std::pair<std::string, std::string>>& pairs,
             int64_t beam_size, double length_penalty, int64_t n_best, double max_length_ratio,
             int64_t max_length_offset, int64_t max_length, int64_t batch_size) {
            const auto o = translate_options(beam_size, length_penalty, n_best, max_length_ratio, max_length_offset,
                                             max_length, batch_size);
            train::TranslatorEval ev;
            {
              py::gil_scoped_release release;
              ev = tr.evaluate(pairs, o);
            }
            return eval_dict(ev);
          },
          py::arg("pairs"), ATTN_DECODE_ARGS,
          "BLEU (sacreBLEU-compatible), teacher-forced loss and count over (source, reference) pairs.")
      .def(
          "evaluate_file",
          [](const train::Translator& tr, const std::string& path, bool apply_filter, int64_t max_pairs,
             int64_t beam_size, double length_penalty, int64_t n_best, double max_length_ratio,
             int64_t max_length_offset, int64_t max_length, int64_t batch_size) {
            const auto o = translate_options(beam_size, length_penalty, n_best, max_length_ratio, max_length_offset,
                                             max_length, batch_size);
            train::TranslatorEval ev;
            {
              py::gil_scoped_release release;
              ev = tr.evaluate_file(path, o, apply_filter, max_pairs);
            }
            return eval_dict(ev);
          },
          py::arg("path"), py::arg("apply_filter") = false, py::arg("max_pairs") = 0, ATTN_DECODE_ARGS)
      .def("preprocess", &train::Translator::preprocess, py::arg("sentence"))
      .def("source_tokens", &train::Translator::source_tokens, py::arg("sentence"))
      .def("target_tokens", &train::Translator::target_tokens, py::arg("sentence"))
      .def_property_readonly("config", [](const train::Translator& tr) { return config_to_dict(tr.config()); })
      .def_property_readonly("model_type", &train::Translator::model_type)
      .def_property_readonly("src_vocab_size", &train::Translator::src_vocab_size)
      .def_property_readonly("tgt_vocab_size", &train::Translator::tgt_vocab_size);
}

}  // namespace attn::python
