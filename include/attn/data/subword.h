// Subword tokenisation with SentencePiece (Kudo & Richardson 2018; Debian's libsentencepiece):
// unigram language-model or BPE segmentation learned from raw sentences, so rare words are split
// into known pieces instead of becoming <unk> (docs/subword.md).
//
//   "She is my friend." -> ["▁She", "▁is", "▁my", "▁friend", "."]   (pieces; ▁ marks a word start)
//   decode(encode(s)) == s for any text made of characters the model covers (with normalisation
//   "identity"; the default "nmt_nfkc" normalises Unicode first, as SentencePiece's default).
//
// attn keeps its own <pad> <bos> <eos> <unk> ids (data/vocab.h) and uses SentencePiece only to cut
// text into pieces: the trained model has unk (id 0) and no bos / eos / pad pieces, and a
// data::Vocab is built over pieces() (vocab_for). A model is trained deterministically (one thread,
// fixed seed, sentences in the given order) and stored as SentencePiece's own serialised
// ModelProto (the `.model` file spm_encode reads).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attn/data/vocab.h"

namespace attn::data {

struct SentencePieceOptions {
  int64_t vocab_size = 8000;         // pieces including <unk>; training fails clearly if too large for the data
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 1.0;   // 0.9995 is SentencePiece's advice for CJK-rich text
  std::string normalization = "nmt_nfkc";  // nmt_nfkc | identity | nfkc | ...
  int64_t max_sentence_length = 4192;  // bytes; longer sentences are skipped by the trainer
  uint64_t seed = 0;
  bool verbose = false;              // SentencePiece's training log on stderr (silent by default)
};

class SentencePiece {
 public:
  // Trains on `sentences` (raw text, one sentence each; empty ones ignored). Throws attn::Error
  // on bad options or when SentencePiece refuses the data (its message included), e.g. a
  // vocab_size larger than the data supports (the vocabulary size is exact, never silently
  // smaller). Uses SentencePiece's process-wide seed and log level, so trainings are serialised.
  // normalization "identity" also keeps whitespace runs as they are (exact round trip).
  static SentencePiece train(const std::vector<std::string>& sentences, const SentencePieceOptions& options = {});
  // The serialised model (what save() writes) and back; load() names the file in errors.
  static SentencePiece from_serialized(const std::string& bytes, const std::string& source = "<bytes>");
  static SentencePiece load(const std::string& path);
  std::string serialized() const;
  void save(const std::string& path) const;  // atomic: temp file + rename

  // Pieces of `text`. A character the model does not cover comes out as its own text (not in
  // pieces(); Vocab::encode maps it to <unk>), so decode(encode(s)) still returns it.
  std::vector<std::string> encode(const std::string& text) const;      // pieces
  // Text of `pieces`: attn's <pad> <bos> <eos> are skipped, <unk> becomes SentencePiece's " ⁇ ".
  std::string decode(const std::vector<std::string>& pieces) const;
  const std::vector<std::string>& pieces() const;                       // id order, "<unk>" first
  int64_t vocab_size() const;

  SentencePiece(SentencePiece&&) noexcept;
  SentencePiece& operator=(SentencePiece&&) noexcept;
  SentencePiece(const SentencePiece&);
  SentencePiece& operator=(const SentencePiece&);
  ~SentencePiece();

 private:
  struct Impl;
  SentencePiece();
  std::unique_ptr<Impl> impl_;
};

// A Vocab over the model's pieces: the four specials at 0..3, then every piece but <unk>, in the
// model's id order (counts 0).
Vocab vocab_for(const SentencePiece& spm);

}  // namespace attn::data
