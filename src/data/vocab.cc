// Vocabulary of attn/data/vocab.h: counting, deterministic ordering, JSON save/load.
#include "attn/data/vocab.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attn/core/error.h"

namespace attn::data {

namespace {
constexpr const char* kFormat = "attn.vocab";
constexpr int kVersion = 1;
}  // namespace

const std::vector<std::string>& Vocab::specials() {
  static const std::vector<std::string> s = {"<pad>", "<bos>", "<eos>", "<unk>"};
  return s;
}

Vocab::Vocab() {
  for (const auto& s : specials()) add(s, 0);
}

void Vocab::add(std::string token, int64_t count) {
  ids_.emplace(token, int64_t(tokens_.size()));
  tokens_.push_back(std::move(token));
  counts_.push_back(count);
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq, int64_t max_size) {
  ATTN_CHECK(min_freq >= 1, "Vocab::build: min_freq must be >= 1, got ", min_freq);
  ATTN_CHECK(max_size == 0 || max_size >= kNumSpecials, "Vocab::build: max_size must be 0 (no limit) or >= ",
             kNumSpecials, " (the specials), got ", max_size);
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& s : sentences)
    for (const auto& t : s)
      if (!t.empty()) ++counts[t];
  Vocab v;
  std::vector<std::pair<std::string, int64_t>> items;
  for (auto& [t, n] : counts)
    if (n >= min_freq && !v.contains(t)) items.emplace_back(t, n);
  // Count descending, then bytes ascending: independent of hash order, so deterministic.
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  for (auto& [t, n] : items) {
    if (max_size > 0 && v.size() >= max_size) break;
    v.add(std::move(t), n);
  }
  return v;
}

int64_t Vocab::id(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  return it == ids_.end() ? kUnk : it->second;
}

bool Vocab::contains(std::string_view token) const { return ids_.count(std::string(token)) != 0; }

const std::string& Vocab::token(int64_t id) const {
  ATTN_CHECK(id >= 0 && id < size(), "Vocab: id ", id, " out of range [0, ", size(), ")");
  return tokens_[size_t(id)];
}

int64_t Vocab::count(int64_t id) const {
  (void)token(id);  // range check
  return counts_[size_t(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens, bool add_bos, bool add_eos) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size() + 2);
  if (add_bos) ids.push_back(kBos);
  for (const auto& t : tokens) ids.push_back(id(t));
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (const int64_t i : ids) {
    if (i == kEos) break;
    if (i == kPad || i == kBos) continue;
    out.push_back(token(i));
  }
  return out;
}

std::string Vocab::to_json() const {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["specials"] = specials();
  j["tokens"] = tokens_;
  j["counts"] = counts_;
  try {
    return j.dump(1) + "\n";
  } catch (const nlohmann::json::exception& e) {  // a token that is not valid UTF-8
    ATTN_FAIL("Vocab: cannot write as JSON (", e.what(), ")");
  }
}

Vocab Vocab::from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    ATTN_FAIL("Vocab: '", source, "' is not valid JSON (", e.what(), ")");
  }
  ATTN_CHECK(j.is_object(), "Vocab: '", source, "' must hold a JSON object, got ", j.type_name());
  auto field = [&](const char* name) -> const nlohmann::json& {
    ATTN_CHECK(j.contains(name), "Vocab: '", source, "' has no \"", name, "\" field");
    return j.at(name);
  };
  ATTN_CHECK(field("format") == kFormat, "Vocab: '", source, "' has format ", field("format").dump(),
             ", expected \"", kFormat, "\"");
  ATTN_CHECK(field("version") == kVersion, "Vocab: '", source, "' has version ", field("version").dump(),
             ", this build reads version ", kVersion);
  ATTN_CHECK(field("specials") == specials(), "Vocab: '", source, "' declares specials ", field("specials").dump(),
             ", expected [\"<pad>\",\"<bos>\",\"<eos>\",\"<unk>\"]");
  const auto& toks = field("tokens");
  ATTN_CHECK(toks.is_array(), "Vocab: '", source, "': \"tokens\" must be an array, got ", toks.type_name());
  ATTN_CHECK(toks.size() >= size_t(kNumSpecials), "Vocab: '", source, "': \"tokens\" has ", toks.size(),
             " entries, fewer than the ", kNumSpecials, " specials");
  std::vector<int64_t> counts(toks.size(), 0);
  if (j.contains("counts")) {
    const auto& c = j.at("counts");
    ATTN_CHECK(c.is_array() && c.size() == toks.size(), "Vocab: '", source,
               "': \"counts\" must be an array as long as \"tokens\" (", toks.size(), ")");
    for (size_t i = 0; i < c.size(); ++i) {
      ATTN_CHECK(c[i].is_number_integer() && c[i].get<int64_t>() >= 0, "Vocab: '", source, "': counts[", i,
                 "] must be a non-negative integer, got ", c[i].dump());
      counts[i] = c[i].get<int64_t>();
    }
  }
  Vocab v;
  v.tokens_.clear(), v.counts_.clear(), v.ids_.clear();
  for (size_t i = 0; i < toks.size(); ++i) {
    ATTN_CHECK(toks[i].is_string(), "Vocab: '", source, "': tokens[", i, "] must be a string, got ", toks[i].dump());
    std::string t = toks[i].get<std::string>();
    if (i < size_t(kNumSpecials))
      ATTN_CHECK(t == specials()[i], "Vocab: '", source, "': id ", i, " must be ", specials()[i], ", got \"", t, "\"");
    ATTN_CHECK(!t.empty(), "Vocab: '", source, "': tokens[", i, "] is empty");
    ATTN_CHECK(!v.contains(t), "Vocab: '", source, "': token \"", t, "\" appears twice (ids ", v.id(t), " and ", i, ")");
    v.add(std::move(t), counts[i]);
  }
  return v;
}

void Vocab::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  ATTN_CHECK(out.is_open(), "Vocab::save: cannot open '", path, "' for writing");
  out << to_json();
  out.close();
  ATTN_CHECK(!out.fail(), "Vocab::save: error while writing '", path, "'");
}

Vocab Vocab::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), "Vocab::load: cannot open '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), path);
}

}  // namespace attn::data
