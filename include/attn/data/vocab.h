// Token <-> id vocabulary for one language side, as torchtext's Vocab / fairseq's Dictionary.
//
// Ids 0..3 are always the specials <pad>=0, <bos>=1, <eos>=2, <unk>=3 (so a zero-filled batch
// is all padding, and nn::Embedding's padding_idx is 0). The other tokens follow in a fixed
// order -- count descending, then token bytes ascending -- so the same corpus gives the same ids
// on every machine and every run.
//
// File format (save/load), UTF-8 JSON:
//   {"format": "attn.vocab", "version": 1,
//    "specials": ["<pad>", "<bos>", "<eos>", "<unk>"],
//    "tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "the", ...],   // index = id
//    "counts": [0, 0, 0, 0, 1234, ...]}                           // optional, same length
// load() checks everything and throws attn::Error naming the file and the problem (not JSON,
// wrong format or version, missing or mistyped field, specials not at ids 0..3, duplicate or
// empty tokens, counts of the wrong length or negative).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace attn::data {

class Vocab {
 public:
  static constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3;
  static constexpr int64_t kNumSpecials = 4;
  static const std::vector<std::string>& specials();  // {"<pad>", "<bos>", "<eos>", "<unk>"}

  Vocab();  // only the four specials

  // Counts the tokens of `sentences` and keeps those seen at least `min_freq` times, most frequent
  // first (ties: token bytes ascending). `max_size` > 0 caps the size, the 4 specials included.
  // Empty tokens are ignored. Tokens spelled like a special are counted as ordinary text but never get an id of their own
  // (they encode to the special's id).
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq = 1,
                     int64_t max_size = 0);

  int64_t size() const { return int64_t(tokens_.size()); }
  // The id of `token`, kUnk when absent.
  int64_t id(std::string_view token) const;
  bool contains(std::string_view token) const;
  // The token of `id`; throws attn::Error when id is out of range.
  const std::string& token(int64_t id) const;
  // How often the token was seen when the vocab was built (0 for specials, or when not saved).
  int64_t count(int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Ids of `tokens`, unknown ones as kUnk; optionally framed by kBos / kEos.
  std::vector<int64_t> encode(const std::vector<std::string>& tokens, bool add_bos = false,
                              bool add_eos = false) const;
  // Tokens of `ids`, stopping at the first kEos and leaving out kPad and kBos (kUnk stays as
  // "<unk>"). Throws attn::Error on an id out of range.
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;

  // JSON file as described above. save() throws when the file cannot be written.
  void save(const std::string& path) const;
  static Vocab load(const std::string& path);
  // The same as a string (for embedding in checkpoints); `source` names it in errors.
  std::string to_json() const;
  static Vocab from_json(const std::string& json, const std::string& source = "<string>");

  bool operator==(const Vocab& o) const { return tokens_ == o.tokens_ && counts_ == o.counts_; }

 private:
  void add(std::string token, int64_t count);
  std::vector<std::string> tokens_;
  std::vector<int64_t> counts_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace attn::data
