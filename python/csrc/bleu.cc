// attn.bleu: sacreBLEU-compatible BLEU (attn/data/bleu.h) with sacreBLEU's function signatures:
// corpus_bleu(hypotheses, references, ...) takes one reference per sentence (a list of str) or
// sacreBLEU's reference streams (a list of lists of str, references[k][i] for sentence i).
#include "attn/data/bleu.h"

#include "common.h"

namespace attn::python {
namespace {

data::BleuOptions make_options(const std::string& tokenize, bool lowercase, const std::string& smooth_method,
                               std::optional<double> smooth_value, int64_t max_ngram_order, bool effective_order) {
  data::BleuOptions o;
  o.tokenize = tokenize;
  o.lowercase = lowercase;
  o.smooth_method = smooth_method;
  o.smooth_value = smooth_value;
  o.max_ngram_order = max_ngram_order;
  o.effective_order = effective_order;
  return o;
}

std::vector<std::string> str_list(py::handle h, const char* what) {
  if (py::isinstance<py::str>(h)) return {h.cast<std::string>()};
  std::vector<std::string> out;
  for (py::handle x : py::iter(h)) {
    if (!py::isinstance<py::str>(x))
      throw py::type_error(std::string(what) + ": expected str items, got " + pystr(py::type::of(x)));
    out.push_back(x.cast<std::string>());
  }
  return out;
}

// A list of str is one reference per sentence; a list of lists is a list of reference streams.
std::vector<std::vector<std::string>> reference_streams(py::handle refs) {
  std::vector<py::object> items;
  for (py::handle x : py::iter(refs)) items.push_back(py::reinterpret_borrow<py::object>(x));
  if (items.empty() || py::isinstance<py::str>(items[0])) return {str_list(refs, "corpus_bleu references")};
  std::vector<std::vector<std::string>> streams;
  for (const auto& s : items) streams.push_back(str_list(s, "corpus_bleu reference stream"));
  return streams;
}

}  // namespace

void bind_bleu(py::module_& m) {
  py::module_ b = m.def_submodule("bleu", "sacreBLEU-compatible BLEU (attn.bleu)");
  py::class_<data::BleuScore>(b, "BLEUScore")
      .def_readonly("score", &data::BleuScore::score)
      .def_readonly("precisions", &data::BleuScore::precisions)
      .def_readonly("counts", &data::BleuScore::counts)
      .def_readonly("totals", &data::BleuScore::totals)
      .def_readonly("bp", &data::BleuScore::bp)
      .def_readonly("sys_len", &data::BleuScore::sys_len)
      .def_readonly("ref_len", &data::BleuScore::ref_len)
      .def_readonly("ratio", &data::BleuScore::ratio)
      .def("format", &data::BleuScore::format, py::arg("width") = 2)
      .def("__str__", [](const data::BleuScore& s) { return s.format(); })
      .def("__repr__", [](const data::BleuScore& s) { return s.format(); });

  b.def(
      "corpus_bleu",
      [](py::handle hypotheses, py::handle references, const std::string& tokenize, bool lowercase,
         const std::string& smooth_method, std::optional<double> smooth_value, int64_t max_ngram_order,
         bool use_effective_order) {
        auto hyps = str_list(hypotheses, "corpus_bleu hypotheses");
        auto streams = reference_streams(references);
        const auto o = make_options(tokenize, lowercase, smooth_method, smooth_value, max_ngram_order, use_effective_order);
        py::gil_scoped_release release;
        return data::corpus_bleu(hyps, streams, o);
      },
      py::arg("hypotheses"), py::arg("references"), py::arg("tokenize") = "13a", py::arg("lowercase") = false,
      py::arg("smooth_method") = "exp", py::arg("smooth_value") = py::none(), py::arg("max_ngram_order") = 4,
      py::arg("use_effective_order") = false,
      "Corpus BLEU as sacreBLEU computes it. references: one str per hypothesis, or a list of "
      "reference streams (references[k][i] is the k-th reference of hypothesis i).");
  b.def(
      "sentence_bleu",
      [](const std::string& hypothesis, py::handle references, const std::string& tokenize, bool lowercase,
         const std::string& smooth_method, std::optional<double> smooth_value, int64_t max_ngram_order,
         bool use_effective_order) {
        auto refs = str_list(references, "sentence_bleu references");
        const auto o = make_options(tokenize, lowercase, smooth_method, smooth_value, max_ngram_order, use_effective_order);
        py::gil_scoped_release release;
        return data::sentence_bleu(hypothesis, refs, o);
      },
      py::arg("hypothesis"), py::arg("references"), py::arg("tokenize") = "13a", py::arg("lowercase") = false,
      py::arg("smooth_method") = "exp", py::arg("smooth_value") = py::none(), py::arg("max_ngram_order") = 4,
      py::arg("use_effective_order") = true,
      "Sentence BLEU as sacreBLEU's sentence_bleu: effective order on by default. references: a str or a list of str.");
  b.def("tokenize_13a", &data::tokenize_13a, py::arg("line"));
  b.def("tokenize_zh", &data::tokenize_zh, py::arg("line"));
  b.def("tokenize_char", &data::tokenize_char, py::arg("line"));
}

}  // namespace attn::python
