// attn.data.SentencePiece and attn.data.vocab_for (attn/data/subword.h): SentencePiece subword
// models. Options are keyword arguments with the C++ defaults.
#include "attn/data/subword.h"

#include "common.h"

namespace attn::python {

void bind_data_subword(py::module_& m) {
  py::module_ d = m.attr("data").cast<py::module_>();
  py::class_<data::SentencePiece>(d, "SentencePiece")
      .def_static(
          "train",
          [](const std::vector<std::string>& sentences, int64_t vocab_size, const std::string& model_type,
             double character_coverage, const std::string& normalization, int64_t max_sentence_length, uint64_t seed,
             bool verbose) {
            data::SentencePieceOptions o;
            o.vocab_size = vocab_size, o.model_type = model_type, o.character_coverage = character_coverage;
            o.normalization = normalization, o.max_sentence_length = max_sentence_length, o.seed = seed;
            o.verbose = verbose;
            return data::SentencePiece::train(sentences, o);
          },
          py::arg("sentences"), py::arg("vocab_size") = 8000, py::arg("model_type") = "unigram",
          py::arg("character_coverage") = 1.0, py::arg("normalization") = "nmt_nfkc",
          py::arg("max_sentence_length") = 4192, py::arg("seed") = 0, py::arg("verbose") = false, release_gil())
      .def_static("load", &data::SentencePiece::load, py::arg("path"), release_gil())
      .def_static(
          "from_serialized",
          [](const py::bytes& b, const std::string& source) {
            return data::SentencePiece::from_serialized(std::string(b), source);
          },
          py::arg("data"), py::arg("source") = "<bytes>")
      .def("serialized", [](const data::SentencePiece& s) { return py::bytes(s.serialized()); })
      .def("save", &data::SentencePiece::save, py::arg("path"), release_gil())
      .def("encode", &data::SentencePiece::encode, py::arg("text"), release_gil())
      .def("decode", &data::SentencePiece::decode, py::arg("pieces"), release_gil())
      .def_property_readonly("pieces", &data::SentencePiece::pieces)
      .def("__len__", &data::SentencePiece::vocab_size)
      .def_property_readonly("vocab_size", &data::SentencePiece::vocab_size)
      .def("__repr__", [](const data::SentencePiece& s) {
        return "SentencePiece(vocab_size=" + std::to_string(s.vocab_size()) + ")";
      });
  d.def("vocab_for", &data::vocab_for, py::arg("spm"));
}

}  // namespace attn::python
