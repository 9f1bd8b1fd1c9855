// Vocab: specials, deterministic order, min_freq / max_size, encode/decode, JSON round trip and
// the errors for corrupt files.
#include "attn/data/vocab.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace attn::data {
namespace {

using Sents = std::vector<std::vector<std::string>>;
const Sents kSents = {{"b", "a", "c", "a"}, {"c", "a", "d"}, {"b", "e"}};  // a3 b2 c2 d1 e1

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_vocab_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(Vocab, SpecialsAndDeterministicOrder) {
  const Vocab v = Vocab::build(kSents);
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d", "e"}));
  EXPECT_EQ(v.id("<pad>"), Vocab::kPad);
  EXPECT_EQ(v.id("<eos>"), 2);
  EXPECT_EQ(v.id("zzz"), Vocab::kUnk);
  EXPECT_EQ(v.count(v.id("a")), 3);
  EXPECT_EQ(v.count(Vocab::kPad), 0);
  // Order does not depend on the order of the sentences.
  const Sents rev(kSents.rbegin(), kSents.rend());
  EXPECT_EQ(Vocab::build(rev), v);
  EXPECT_EQ(Vocab().size(), 4);
}

TEST(Vocab, MinFreqAndMaxSize) {
  EXPECT_EQ(Vocab::build(kSents, 2).tokens(), (std::vector<std::string>{"<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"}));
  EXPECT_EQ(Vocab::build(kSents, 1, 6).tokens(), (std::vector<std::string>{"<pad>", "<bos>", "<eos>", "<unk>", "a", "b"}));
  // A token spelled like a special encodes to the special, never gets a second id.
  const Vocab v = Vocab::build({{"<unk>", "<unk>", "x"}});
  EXPECT_EQ(v.size(), 5);
  testing::expect_error([] { Vocab::build(kSents, 0); }, {"min_freq"});
  testing::expect_error([] { Vocab::build(kSents, 1, 3); }, {"max_size"});
}

TEST(Vocab, EncodeDecode) {
  const Vocab v = Vocab::build(kSents);
  const auto ids = v.encode({"a", "zzz", "e"}, true, true);
  EXPECT_EQ(ids, (std::vector<int64_t>{Vocab::kBos, 4, Vocab::kUnk, 8, Vocab::kEos}));
  // Stops at <eos>, drops <pad>/<bos>, keeps <unk>.
  EXPECT_EQ(v.decode({1, 4, 0, 3, 8, 2, 5, 5}), (std::vector<std::string>{"a", "<unk>", "e"}));
  EXPECT_EQ(v.decode({0, 0}), std::vector<std::string>{});
  testing::expect_error([&] { v.decode({4, 99}); }, {"id 99", "out of range"});
}

TEST(Vocab, SaveLoadRoundTrip) {
  const Vocab v = Vocab::build({{"ça", "va", "?"}, {"我", "好", "va"}});
  const std::string path = temp_path("v.json");
  v.save(path);
  const Vocab w = Vocab::load(path);
  EXPECT_EQ(w, v);
  EXPECT_EQ(w.id("我"), v.id("我"));
  EXPECT_EQ(w.count(w.id("va")), 2);
  std::filesystem::remove(path);
  // counts are optional
  const Vocab x = Vocab::from_json(R"({"format":"attn.vocab","version":1,"specials":["<pad>","<bos>","<eos>","<unk>"],
                                      "tokens":["<pad>","<bos>","<eos>","<unk>","hi"]})");
  EXPECT_EQ(x.id("hi"), 4);
  EXPECT_EQ(x.count(4), 0);
}

TEST(Vocab, CorruptFilesGiveClearErrors) {
  const std::string head = R"({"format":"attn.vocab","version":1,"specials":["<pad>","<bos>","<eos>","<unk>"],)";
  const std::string specials = R"("<pad>","<bos>","<eos>","<unk>")";
  struct Case {
    std::string json;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"{\"format\": \"attn.vocab\", \"tokens\": [", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"version":1})", "no \"format\" field"},
      {R"({"format":"other","version":1})", "format \"other\""},
      {R"({"format":"attn.vocab","version":2})", "version 2"},
      {R"({"format":"attn.vocab","version":1,"specials":["<s>"]})", "specials"},
      {head + "\"tokens\": 5}", "\"tokens\" must be an array"},
      {head + "\"tokens\": [\"<pad>\"]}", "fewer than the 4 specials"},
      {head + R"("tokens": ["<pad>","<eos>","<bos>","<unk>"]})", "id 1 must be <bos>"},
      {head + "\"tokens\": [" + specials + ",\"a\",\"a\"]}", "\"a\" appears twice"},
      {head + "\"tokens\": [" + specials + ",\"\"]}", "tokens[4] is empty"},
      {head + "\"tokens\": [" + specials + ",7]}", "tokens[4] must be a string"},
      {head + "\"tokens\": [" + specials + ",\"a\"], \"counts\": [0,0,0,0]}", "\"counts\" must be an array as long"},
      {head + "\"tokens\": [" + specials + ",\"a\"], \"counts\": [0,0,0,0,-1]}", "counts[4]"},
  };
  for (const auto& c : cases) testing::expect_error([&] { Vocab::from_json(c.json, "corrupt.json"); }, {"corrupt.json", c.expect});
  const std::string path = temp_path("truncated.json");
  const std::string full = Vocab::build(kSents).to_json();
  { std::ofstream(path) << full.substr(0, full.size() / 2); }
  testing::expect_error([&] { Vocab::load(path); }, {path, "not valid JSON"});
  std::filesystem::remove(path);
  testing::expect_error([] { Vocab::load("/nonexistent/vocab.json"); }, {"cannot open", "/nonexistent/vocab.json"});
}

}  // namespace
}  // namespace attn::data
