// Normalisation against the PyTorch tutorial's normalizeString (Python oracle files), the
// tutorial filter, clean-up of the real files' typography, tokenisers and detokenisation.
#include "attn/data/text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace attn::data {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::pair<std::string, std::string> split_tab(const std::string& l) {
  const size_t t = l.find('\t');
  return {l.substr(0, t), t == std::string::npos ? "" : l.substr(t + 1)};
}

const std::string kFixtures = std::string(ATTN_FIXTURES_DIR) + "/data/";

// eng-fra.small.norm.tsv is Python's normalizeString of eng-fra.small.tsv, line for line.
TEST(Normalize, MatchesTutorialOnSmallSplit) {
  const auto raw = read_lines(kFixtures + "eng-fra.small.tsv");
  const auto norm = read_lines(kFixtures + "eng-fra.small.norm.tsv");
  ASSERT_EQ(raw.size(), 2000u);
  ASSERT_EQ(norm.size(), 2000u);
  int mismatches = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto [e, f] = split_tab(raw[i]);
    const std::string got = normalize_string(e) + "\t" + normalize_string(f);
    if (got != norm[i] && ++mismatches <= 5)
      ADD_FAILURE() << "line " << i + 1 << ": " << raw[i] << "\n  got      " << got << "\n  expected " << norm[i];
  }
  EXPECT_EQ(mismatches, 0);
}

// Every code point of the Latin blocks and the punctuation blocks, between two letters, against
// Python's unicodedata (tools/make_data_fixtures.py).
TEST(Normalize, MatchesUnicodedataPerCodePoint) {
  const auto lines = read_lines(kFixtures + "normalize_codepoints.tsv");
  ASSERT_GT(lines.size(), 1000u);
  int mismatches = 0;
  for (const auto& l : lines) {
    const auto [hex, expected] = split_tab(l);
    const auto cp = char32_t(std::stoul(hex, nullptr, 16));
    std::string s = "a";
    // UTF-8 encode (the fixture has no surrogates).
    if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xE0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
    }
    s += "b";
    const std::string got = normalize_string(s);
    if (got != expected && ++mismatches <= 10)
      ADD_FAILURE() << "U+" << hex << ": got \"" << got << "\", expected \"" << expected << "\"";
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Normalize, Examples) {
  EXPECT_EQ(normalize_string("Ça va\u202F?"), "ca va ?");
  EXPECT_EQ(normalize_string("  I'm 19.  "), "i m .");
  EXPECT_EQ(normalize_string("Wait!!"), "wait ! !");
  EXPECT_EQ(normalize_string("J\u2019ai «\u00A0faim\u00A0»\u2026"), "j ai faim");
  EXPECT_EQ(normalize_string("e\u0301te\u0301"), "ete");  // already decomposed: marks vanish, no space
  EXPECT_EQ(normalize_string("C\u0153ur"), "c ur");       // œ does not decompose (as in Python)
  EXPECT_EQ(normalize_string(""), "");
  EXPECT_EQ(normalize_string("123"), "");
  EXPECT_EQ(normalize_string("ab\xFF\xFE" "cd"), "ab cd");  // invalid bytes separate, never crash
  EXPECT_EQ(normalize_string("\xE2\x82"), "");              // truncated sequence
}

TEST(Filter, TutorialRules) {
  EXPECT_TRUE(tutorial_filter("i m ok .", "je vais bien ."));
  EXPECT_TRUE(tutorial_filter("he is tall .", "il est grand ."));
  EXPECT_TRUE(tutorial_filter("he isn t .", "x"));  // "he is" has no trailing space in the list
  EXPECT_FALSE(tutorial_filter("i ate .", "j ai mange ."));
  EXPECT_FALSE(tutorial_filter("i m", "x"));  // "i m " needs the space
  // 9 words pass, 10 do not (count includes punctuation).
  EXPECT_TRUE(tutorial_filter("i am a b c d e f .", "x"));
  EXPECT_FALSE(tutorial_filter("i am a b c d e f g .", "x"));
  EXPECT_FALSE(tutorial_filter("i am ok .", "a b c d e f g h i ."));
  EXPECT_TRUE(tutorial_filter("i am a b c d e f g .", "x", 11));
  EXPECT_EQ(count_words(""), 1);
  EXPECT_EQ(count_words("a b ."), 3);
  EXPECT_EQ(tutorial_prefixes().size(), 12u);
}

TEST(Clean, TypographyOfTheRealFiles) {
  EXPECT_EQ(clean_text("Cours\u202F!"), "Cours !");
  EXPECT_EQ(clean_text("Quoi\u00A0?"), "Quoi ?");
  EXPECT_EQ(clean_text("J\u2019ai faim."), "J'ai faim.");
  EXPECT_EQ(clean_text("  a \t\u2009 b\u200B\u00AD  "), "a b");
  EXPECT_EQ(clean_text("\uFEFF你好\u3000吗"), "你好 吗");
  EXPECT_EQ(clean_text("Ça va « bien »"), "Ça va « bien »");  // accents and guillemets kept
}

TEST(Tokenize, Words) {
  EXPECT_EQ(tokenize("i m ok ."), (std::vector<std::string>{"i", "m", "ok", "."}));
  EXPECT_EQ(tokenize("  Cours\u202F!  "), (std::vector<std::string>{"Cours", "!"}));
  EXPECT_TRUE(tokenize("").empty());
  EXPECT_TRUE(tokenize(" \t ").empty());
}

TEST(Tokenize, ChineseCharacters) {
  using V = std::vector<std::string>;
  const auto ch = Tokenization::kChar;
  EXPECT_EQ(tokenize("我有3个iPhone。", ch), (V{"我", "有", "3", "个", "iPhone", "。"}));
  EXPECT_EQ(tokenize("你好！ Tom 在吗？", ch), (V{"你", "好", "！", "Tom", "在", "吗", "？"}));
  EXPECT_EQ(tokenize("他20岁\u3000了\u200B。", ch), (V{"他", "20", "岁", "了", "。"}));
  EXPECT_EQ(tokenize("It's", ch), (V{"It", "'", "s"}));
  EXPECT_EQ(tokenize("乾杯!", ch), (V{"乾", "杯", "!"}));  // traditional characters kept as they are
  EXPECT_TRUE(tokenize("", ch).empty());
}

TEST(Detokenize, WordsAndCharacters) {
  EXPECT_EQ(detokenize({"i", "m", "ok", "."}), "i m ok.");
  EXPECT_EQ(detokenize({"what", "?", "!"}), "what?!");
  EXPECT_EQ(detokenize({}), "");
  EXPECT_EQ(detokenize({"我", "用", "iPhone", "4", "。"}, Tokenization::kChar), "我用iPhone 4。");
  // Round trip for text without spaces between CJK characters.
  const std::string zh = "我有3个iPhone。";
  EXPECT_EQ(detokenize(tokenize(zh, Tokenization::kChar), Tokenization::kChar), zh);
}

TEST(Utf8, Validation) {
  size_t at = 99;
  EXPECT_TRUE(is_valid_utf8("héllo 你好 😀"));
  EXPECT_FALSE(is_valid_utf8("ab\xC3", &at));
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_TRUE(is_valid_utf8(""));
}

}  // namespace
}  // namespace attn::data
