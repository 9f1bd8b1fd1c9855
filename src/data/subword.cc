// SentencePiece models of attn/data/subword.h, on Debian's libsentencepiece (0.1.97).
//
// Training goes through SentencePieceTrainer::Train with a key/value spec, a SentenceIterator over
// the caller's strings and an output string for the serialised ModelProto: nothing touches the
// disk. The library's TrainerSpec / NormalizerSpec protobuf classes are not part of its installed
// headers, hence the key/value form. Everything else (encode, decode, pieces) is a
// SentencePieceProcessor loaded from those same bytes, so a trained model and a loaded one behave
// identically by construction.
#include "attn/data/subword.h"

#include <fcntl.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "attn/core/error.h"
#include "attn/core/file.h"

namespace attn::data {

namespace spm = sentencepiece;

struct SentencePiece::Impl {
  std::string bytes;  // the serialised ModelProto, exactly as trained or read
  spm::SentencePieceProcessor processor;
  std::vector<std::string> pieces;  // id order

  static std::unique_ptr<Impl> make(std::string bytes, const std::string& source);
};

namespace {

// Feeds the trainer the caller's sentences in their order, skipping empty ones (SentencePiece
// would count them as sentences of length 0, which only adds noise to its statistics).
class VectorIterator final : public spm::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& s) : s_(s) { skip_empty(); }
  bool done() const override { return i_ >= s_.size(); }
  void Next() override {
    ++i_;
    skip_empty();
  }
  const std::string& value() const override { return s_[i_]; }
  spm::util::Status status() const override { return spm::util::Status(); }

 private:
  void skip_empty() {
    while (i_ < s_.size() && s_[i_].empty()) ++i_;
  }
  const std::vector<std::string>& s_;
  size_t i_ = 0;
};

std::string number(double x) {
  std::ostringstream os;
  os.precision(17);  // round-trips a double, so 0.9995 reaches the trainer as 0.9995
  os << x;
  return os.str();
}

}  // namespace

std::unique_ptr<SentencePiece::Impl> SentencePiece::Impl::make(std::string bytes, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  const auto st = impl->processor.LoadFromSerializedProto(bytes);
  ATTN_CHECK(st.ok(), "SentencePiece: '", source, "' is not a usable SentencePiece model (", st.ToString(), ")");
  const int n = impl->processor.GetPieceSize();
  // vocab_for() and pieces() rely on <unk> at id 0 (what train() makes; also spm_train's default).
  ATTN_CHECK(n >= 1 && impl->processor.unk_id() == 0 && impl->processor.IdToPiece(0) == "<unk>", "SentencePiece: '",
             source, "' must have the unknown piece \"<unk>\" at id 0 (found ",
             n >= 1 ? "\"" + impl->processor.IdToPiece(0) + "\"" : std::string("no pieces"), ")");
  impl->pieces.reserve(size_t(n));
  for (int i = 0; i < n; ++i) impl->pieces.push_back(impl->processor.IdToPiece(i));
  impl->bytes = std::move(bytes);
  return impl;
}


SentencePiece::SentencePiece() = default;
SentencePiece::~SentencePiece() = default;
SentencePiece::SentencePiece(SentencePiece&&) noexcept = default;
SentencePiece& SentencePiece::operator=(SentencePiece&&) noexcept = default;
// A processor cannot be copied; re-loading the bytes rebuilds an identical one.
SentencePiece::SentencePiece(const SentencePiece& o) {
  if (o.impl_) impl_ = Impl::make(o.impl_->bytes, "<copy>");
}
SentencePiece& SentencePiece::operator=(const SentencePiece& o) {
  if (this != &o) impl_ = o.impl_ ? Impl::make(o.impl_->bytes, "<copy>") : nullptr;
  return *this;
}

SentencePiece SentencePiece::train(const std::vector<std::string>& sentences, const SentencePieceOptions& o) {
  ATTN_CHECK(o.vocab_size >= 2 && o.vocab_size <= INT_MAX, "SentencePiece::train: vocab_size must be in [2, ", INT_MAX,
             "], got ", o.vocab_size);
  ATTN_CHECK(o.model_type == "unigram" || o.model_type == "bpe",
             "SentencePiece::train: model_type must be \"unigram\" or \"bpe\", got \"", o.model_type, "\"");
  ATTN_CHECK(o.character_coverage > 0.0 && o.character_coverage <= 1.0,
             "SentencePiece::train: character_coverage must be in (0, 1], got ", o.character_coverage);
  ATTN_CHECK(o.max_sentence_length >= 1 && o.max_sentence_length <= INT_MAX,
             "SentencePiece::train: max_sentence_length must be in [1, ", INT_MAX, "], got ", o.max_sentence_length);
  ATTN_CHECK(!o.normalization.empty(), "SentencePiece::train: normalization must name a rule (nmt_nfkc, nfkc, "
                                       "nmt_nfkc_cf, nfkc_cf, identity), got an empty string");
  size_t non_empty = 0;
  for (const auto& s : sentences) non_empty += !s.empty();
  ATTN_CHECK(non_empty > 0, "SentencePiece::train: no sentences to learn from (", sentences.size(),
             " given, all empty)");

  const std::unordered_map<std::string, std::string> spec = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", number(o.character_coverage)},
      {"normalization_rule_name", o.normalization},
      // "identity" means the text is kept byte for byte, whitespace runs included, so that
      // decode(encode(s)) == s exactly; the other rules squeeze spaces as SentencePiece does.
      {"remove_extra_whitespaces", o.normalization == "identity" ? "false" : "true"},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      // attn adds its own <pad> <bos> <eos> (data/vocab.h); the model only knows <unk>.
      {"unk_id", "0"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_id", "-1"},
      // Determinism: one thread, every sentence in the given order (no reservoir sampling, no
      // shuffle), and an exact vocabulary size or an error.
      {"num_threads", "1"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"hard_vocab_limit", "true"},
      // 0 prints SentencePiece's INFO log on stderr, 2 keeps only errors (which we return anyway).
      {"minloglevel", o.verbose ? "0" : "2"},
  };

  std::string bytes;
  {
    // The seed and the log level are process-wide settings of the library: keep trainings apart.
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    // SentencePiece reads 0xFFFFFFFF as "no seed, use std::random_device".
    uint32_t seed = uint32_t(o.seed ^ (o.seed >> 32));
    if (seed == 0xFFFFFFFFu) seed = 0xFFFFFFFEu;
    spm::SetRandomGeneratorSeed(seed);
    VectorIterator it(sentences);
    const auto st = spm::SentencePieceTrainer::Train(spec, &it, &bytes);
    if (!st.ok()) {
      const std::string msg = st.ToString();
      ATTN_CHECK(msg.find("Vocabulary size too high") == std::string::npos, "SentencePiece::train: vocab_size ",
                 o.vocab_size, " is too large for these ", non_empty, " sentences (", msg, ")");
      ATTN_CHECK(msg.find("smaller than required_chars") == std::string::npos, "SentencePiece::train: vocab_size ",
                 o.vocab_size, " is too small to hold every character to cover; raise it or lower "
                 "character_coverage (", msg, ")");
      ATTN_CHECK(msg.find("charsmap") == std::string::npos, "SentencePiece::train: unknown normalization \"",
                 o.normalization, "\" (known: nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf, identity; ", msg, ")");
      ATTN_FAIL("SentencePiece::train: SentencePiece refused the data (", msg, ")");
    }
  }
  SentencePiece out;
  out.impl_ = Impl::make(std::move(bytes), "<trained>");
  // hard_vocab_limit makes the trainer fail instead; this guards the promise of the header.
  ATTN_CHECK(out.vocab_size() == o.vocab_size, "SentencePiece::train: asked for ", o.vocab_size, " pieces, got ",
             out.vocab_size());
  return out;
}

SentencePiece SentencePiece::from_serialized(const std::string& bytes, const std::string& source) {
  ATTN_CHECK(!bytes.empty(), "SentencePiece: '", source, "' is empty, not a SentencePiece model");
  SentencePiece out;
  out.impl_ = Impl::make(bytes, source);
  return out;
}

SentencePiece SentencePiece::load(const std::string& path) {
  std::error_code ec;
  ATTN_CHECK(!std::filesystem::is_directory(path, ec), "SentencePiece::load: '", path,
             "' is a directory, not a SentencePiece model file");
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), "SentencePiece::load: cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  ATTN_CHECK(!in.bad(), "SentencePiece::load: error while reading '", path, "'");
  return from_serialized(ss.str(), path);
}

std::string SentencePiece::serialized() const {
  ATTN_CHECK(impl_, "SentencePiece: use of a moved-from model");
  return impl_->bytes;
}

void SentencePiece::save(const std::string& path) const {
  ATTN_CHECK(impl_, "SentencePiece: use of a moved-from model");
  write_file_atomic(path, impl_->bytes);
}

std::vector<std::string> SentencePiece::encode(const std::string& text) const {
  ATTN_CHECK(impl_, "SentencePiece: use of a moved-from model");
  std::vector<std::string> out;
  const auto st = impl_->processor.Encode(text, &out);
  ATTN_CHECK(st.ok(), "SentencePiece::encode: ", st.ToString());
  return out;
}

std::string SentencePiece::decode(const std::vector<std::string>& pieces) const {
  ATTN_CHECK(impl_, "SentencePiece: use of a moved-from model");
  // attn's <pad> <bos> <eos> are not pieces of the model; SentencePiece would copy their
  // spelling into the text. <unk> is the model's own and decodes to SentencePiece's " ⁇ ".
  const auto& sp = Vocab::specials();
  std::vector<std::string> kept;
  kept.reserve(pieces.size());
  for (const auto& p : pieces)
    if (p != sp[Vocab::kPad] && p != sp[Vocab::kBos] && p != sp[Vocab::kEos]) kept.push_back(p);
  std::string out;
  const auto st = impl_->processor.Decode(kept, &out);
  ATTN_CHECK(st.ok(), "SentencePiece::decode: ", st.ToString());
  return out;
}

const std::vector<std::string>& SentencePiece::pieces() const {
  ATTN_CHECK(impl_, "SentencePiece: use of a moved-from model");
  return impl_->pieces;
}

int64_t SentencePiece::vocab_size() const { return int64_t(pieces().size()); }

Vocab vocab_for(const SentencePiece& model) {
  // Built through the Vocab's own JSON form: the public way to give a Vocab a fixed id order.
  std::vector<std::string> tokens = Vocab::specials();
  const auto& pieces = model.pieces();
  for (size_t i = 1; i < pieces.size(); ++i) {
    // A piece spelled like one of attn's specials (only possible when the training text contains
    // it literally) maps to that special, as Vocab::build does for such tokens.
    bool special = false;
    for (const auto& s : Vocab::specials()) special |= pieces[i] == s;
    if (!special) tokens.push_back(pieces[i]);
  }
  nlohmann::ordered_json j;
  j["format"] = "attn.vocab";
  j["version"] = 1;
  j["specials"] = Vocab::specials();
  j["tokens"] = tokens;
  std::string text;
  try {
    text = j.dump();
  } catch (const nlohmann::json::exception& e) {  // a piece that is not valid UTF-8
    ATTN_FAIL("vocab_for: a piece of the SentencePiece model is not valid UTF-8 (", e.what(), ")");
  }
  return Vocab::from_json(text, "<SentencePiece pieces>");
}

}  // namespace attn::data
