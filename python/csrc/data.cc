// attn.data: the translation data layer (attn/data/{tatoeba,text,vocab,batching}.h) -- Tatoeba
// reader, the PyTorch tutorial's normalisation and filter, tokenisers, Vocab, splits and batches.
// Options are keyword arguments with the C++ defaults; enums are strings ("clean", "char", ...).
#include "attn/data/batching.h"

#include "common.h"

namespace attn::python {
namespace {

data::Tokenization to_tokenization(const std::string& s) {
  if (s == "word") return data::Tokenization::kWord;
  if (s == "char") return data::Tokenization::kChar;
  throw py::value_error("tokenization must be 'word' or 'char', got '" + s + "'");
}

data::Normalization to_normalization(const std::string& s) {
  if (s == "none") return data::Normalization::kNone;
  if (s == "clean") return data::Normalization::kClean;
  if (s == "tutorial") return data::Normalization::kTutorial;
  throw py::value_error("normalize must be 'none', 'clean' or 'tutorial', got '" + s + "'");
}

std::vector<data::EncodedPair> to_encoded(const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& v) {
  std::vector<data::EncodedPair> out;
  out.reserve(v.size());
  for (const auto& [s, t] : v) out.push_back({s, t});
  return out;
}

data::BatchOptions batch_options(int64_t max_sentences, int64_t max_tokens, int64_t bucket_size, bool shuffle,
                                 uint64_t seed, bool src_eos) {
  data::BatchOptions o;
  o.max_sentences = max_sentences, o.max_tokens = max_tokens, o.bucket_size = bucket_size;
  o.shuffle = shuffle, o.seed = seed, o.src_eos = src_eos;
  return o;
}

}  // namespace

void bind_data(py::module_& m) {
  py::module_ d = m.def_submodule("data", "translation data: Tatoeba reader, normalisation, Vocab, batches");

  // ---- text ----
  d.def("normalize_string", &data::normalize_string, py::arg("text"));
  d.def("clean_text", &data::clean_text, py::arg("text"));
  d.def("tutorial_prefixes", &data::tutorial_prefixes);
  d.def("count_words", &data::count_words, py::arg("normalized"));
  d.def("tutorial_filter", &data::tutorial_filter, py::arg("english"), py::arg("other"), py::arg("max_length") = 10);
  d.def("tokenize", [](const std::string& s, const std::string& mode) { return data::tokenize(s, to_tokenization(mode)); },
        py::arg("text"), py::arg("mode") = "word");
  d.def("detokenize", [](const std::vector<std::string>& t, const std::string& mode) {
    return data::detokenize(t, to_tokenization(mode));
  }, py::arg("tokens"), py::arg("mode") = "word");

  // ---- reader ----
  py::class_<data::SentencePair>(d, "SentencePair")
      .def(py::init([](std::string src, std::string tgt, std::string attribution, int64_t line) {
        return data::SentencePair{std::move(src), std::move(tgt), std::move(attribution), line};
      }), py::arg("src"), py::arg("tgt"), py::arg("attribution") = "", py::arg("line") = 0)
      .def_readwrite("src", &data::SentencePair::src)
      .def_readwrite("tgt", &data::SentencePair::tgt)
      .def_readwrite("attribution", &data::SentencePair::attribution)
      .def_readwrite("line", &data::SentencePair::line)
      .def("__repr__", [](const data::SentencePair& p) {
        return "SentencePair(" + pystr(py::repr(py::str(p.src))) + ", " + pystr(py::repr(py::str(p.tgt))) + ")";
      });
  py::class_<data::ReadReport>(d, "ReadReport")
      .def_readonly("source", &data::ReadReport::source)
      .def_readonly("lines", &data::ReadReport::lines)
      .def_readonly("pairs", &data::ReadReport::pairs)
      .def_readonly("blank_lines", &data::ReadReport::blank_lines)
      .def_readonly("missing_tab", &data::ReadReport::missing_tab)
      .def_readonly("too_many_fields", &data::ReadReport::too_many_fields)
      .def_readonly("invalid_utf8", &data::ReadReport::invalid_utf8)
      .def_readonly("empty_side", &data::ReadReport::empty_side)
      .def_readonly("empty_after_normalize", &data::ReadReport::empty_after_normalize)
      .def_readonly("filtered_out", &data::ReadReport::filtered_out)
      .def_readonly("duplicates", &data::ReadReport::duplicates)
      .def_readonly("crlf_lines", &data::ReadReport::crlf_lines)
      .def_readonly("had_bom", &data::ReadReport::had_bom)
      .def_property_readonly("issues", [](const data::ReadReport& r) {
        py::list l;
        for (const auto& i : r.issues) l.append(py::make_tuple(i.line, i.reason));
        return l;
      })
      .def_property_readonly("malformed", &data::ReadReport::malformed)
      .def("summary", &data::ReadReport::summary)
      .def("__repr__", &data::ReadReport::summary);
  d.def("read_tatoeba", [](const std::string& path, bool reverse, int64_t max_pairs, const std::string& normalize,
                           bool tutorial_filter, int64_t max_length, bool drop_duplicates) {
    data::ReadOptions o;
    o.reverse = reverse, o.max_pairs = max_pairs, o.normalize = to_normalization(normalize);
    o.tutorial_filter = tutorial_filter, o.max_length = max_length, o.drop_duplicates = drop_duplicates;
    data::Corpus c;
    {
      py::gil_scoped_release nogil;
      c = data::read_tatoeba(path, o);
    }
    return py::make_tuple(py::cast(std::move(c.pairs)), py::cast(std::move(c.report)));
  }, py::arg("path"), py::kw_only(), py::arg("reverse") = false, py::arg("max_pairs") = 0,
     py::arg("normalize") = "clean", py::arg("tutorial_filter") = false, py::arg("max_length") = 10,
     py::arg("drop_duplicates") = false);
  d.def("write_tatoeba", &data::write_tatoeba, py::arg("path"), py::arg("pairs"));

  // ---- vocab ----
  py::class_<data::Vocab>(d, "Vocab")
      .def(py::init<>())
      .def_readonly_static("PAD", &data::Vocab::kPad)
      .def_readonly_static("BOS", &data::Vocab::kBos)
      .def_readonly_static("EOS", &data::Vocab::kEos)
      .def_readonly_static("UNK", &data::Vocab::kUnk)
      .def_static("build", &data::Vocab::build, py::arg("sentences"), py::arg("min_freq") = 1, py::arg("max_size") = 0)
      .def_static("load", &data::Vocab::load, py::arg("path"))
      .def_static("from_json", &data::Vocab::from_json, py::arg("json"), py::arg("source") = "<string>")
      .def("save", &data::Vocab::save, py::arg("path"))
      .def("to_json", &data::Vocab::to_json)
      .def("__len__", &data::Vocab::size)
      .def("__contains__", &data::Vocab::contains)
      .def("__eq__", &data::Vocab::operator==)
      .def("id", &data::Vocab::id, py::arg("token"))
      .def("token", &data::Vocab::token, py::arg("id"))
      .def("count", &data::Vocab::count, py::arg("id"))
      .def_property_readonly("tokens", &data::Vocab::tokens)
      .def("encode", &data::Vocab::encode, py::arg("tokens"), py::arg("add_bos") = false, py::arg("add_eos") = false)
      .def("decode", &data::Vocab::decode, py::arg("ids"));

  // ---- splits and batches ----
  d.def("split_indices", [](int64_t n, double valid_fraction, double test_fraction, uint64_t seed) {
    const auto s = data::split_indices(n, {valid_fraction, test_fraction, seed});
    return py::make_tuple(s.train, s.valid, s.test);
  }, py::arg("n"), py::kw_only(), py::arg("valid_fraction") = 0.1, py::arg("test_fraction") = 0.1, py::arg("seed") = 0);
  // Encoded pairs cross the boundary as (src_ids, tgt_ids) tuples of lists.
  d.def("encode_pairs", [](const std::vector<data::SentencePair>& pairs, const data::Vocab& sv, const data::Vocab& tv,
                           const std::string& src_mode, const std::string& tgt_mode) {
    std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> out;
    for (auto& e : data::encode_pairs(pairs, sv, tv, to_tokenization(src_mode), to_tokenization(tgt_mode)))
      out.emplace_back(std::move(e.src), std::move(e.tgt));
    return out;
  }, py::arg("pairs"), py::arg("src_vocab"), py::arg("tgt_vocab"), py::arg("src_tokenization") = "word",
     py::arg("tgt_tokenization") = "word");
  py::class_<data::Batch>(d, "Batch")
      .def_readonly("src", &data::Batch::src)
      .def_readonly("src_lens", &data::Batch::src_lens)
      .def_readonly("src_padding_mask", &data::Batch::src_padding_mask)
      .def_readonly("tgt_in", &data::Batch::tgt_in)
      .def_readonly("tgt_out", &data::Batch::tgt_out)
      .def_readonly("tgt_lens", &data::Batch::tgt_lens)
      .def_readonly("tgt_padding_mask", &data::Batch::tgt_padding_mask)
      .def_readonly("indices", &data::Batch::indices)
      .def("__len__", &data::Batch::size)
      .def("num_tgt_tokens", &data::Batch::num_tgt_tokens);
  d.def("make_batches", [](const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>& encoded,
                           int64_t epoch, int64_t max_sentences, int64_t max_tokens, int64_t bucket_size, bool shuffle,
                           uint64_t seed, bool src_eos) {
    const auto enc = to_encoded(encoded);
    py::gil_scoped_release nogil;
    return data::make_batches(enc, batch_options(max_sentences, max_tokens, bucket_size, shuffle, seed, src_eos), epoch);
  }, py::arg("encoded"), py::arg("epoch") = 0, py::kw_only(), py::arg("max_sentences") = 32, py::arg("max_tokens") = 0,
     py::arg("bucket_size") = 0, py::arg("shuffle") = true, py::arg("seed") = 0, py::arg("src_eos") = true);
}

}  // namespace attn::python
