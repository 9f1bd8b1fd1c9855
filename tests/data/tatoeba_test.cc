// Tatoeba reader: the real files' quirks, malformed lines counted and reported with their line
// numbers, errors for missing and empty files, and the tutorial-filtered count of eng-fra.txt.
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace attn::data {
namespace {

Corpus parse(const std::string& text, const ReadOptions& o = {}) {
  std::istringstream in(text);
  return parse_tatoeba(in, "test.tsv", o);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_data_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(Tatoeba, TwoAndThreeColumns) {
  const Corpus c = parse(
      "Go.\tVa !\n"
      "Hi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #891077 (Martha)\n");
  ASSERT_EQ(c.pairs.size(), 2u);
  EXPECT_EQ(c.pairs[0].src, "Go.");
  EXPECT_EQ(c.pairs[0].tgt, "Va !");  // U+202F -> ' ' by the default clean-up
  EXPECT_EQ(c.pairs[0].line, 1);
  EXPECT_EQ(c.pairs[1].tgt, "嗨。");
  EXPECT_EQ(c.pairs[1].attribution.substr(0, 10), "CC-BY 2.0 ");
  EXPECT_EQ(c.report.pairs, 2);
  EXPECT_EQ(c.report.malformed(), 0);
}

TEST(Tatoeba, ReverseNormalizeAndRaw) {
  const std::string text = "I\u2019m OK.\tÇa va\u202F!\n";
  ReadOptions o;
  o.reverse = true;
  o.normalize = Normalization::kTutorial;
  Corpus c = parse(text, o);
  EXPECT_EQ(c.pairs[0].src, "ca va !");
  EXPECT_EQ(c.pairs[0].tgt, "i m ok .");
  o.reverse = false;
  o.normalize = Normalization::kNone;
  c = parse(text, o);
  EXPECT_EQ(c.pairs[0].src, "I\u2019m OK.");
  EXPECT_EQ(c.pairs[0].tgt, "Ça va\u202F!");
  o.normalize = Normalization::kClean;
  c = parse(text, o);
  EXPECT_EQ(c.pairs[0].src, "I'm OK.");
  EXPECT_EQ(c.pairs[0].tgt, "Ça va !");
}

TEST(Tatoeba, BadLinesAreSkippedCountedAndListed) {
  const std::string text =
      "Go.\tVa !\r\n"               // 1: CRLF, fine
      "no tab here\n"               // 2: missing TAB
      "Bad\xFF byte.\tMauvais.\n"   // 3: invalid UTF-8 at byte 4
      "\tVide.\n"                   // 4: empty English side
      "Empty.\t \u202F \n"          // 5: second side only spaces
      "\n"                          // 6: blank
      "a\tb\tc\td\n"                // 7: four fields
      "Run!\tCours !\r\n"           // 8: CRLF, fine
      "Hi.\tSalut !";               // 9: no final newline, fine
  const Corpus c = parse(text);
  const ReadReport& r = c.report;
  ASSERT_EQ(c.pairs.size(), 3u);
  EXPECT_EQ(c.pairs[0].tgt, "Va !");  // no stray '\r'
  EXPECT_EQ(c.pairs[1].line, 8);
  EXPECT_EQ(c.pairs[1].tgt, "Cours !");
  EXPECT_EQ(c.pairs[2].line, 9);
  EXPECT_EQ(r.lines, 9);
  EXPECT_EQ(r.crlf_lines, 2);
  EXPECT_EQ(r.blank_lines, 1);
  EXPECT_EQ(r.missing_tab, 1);
  EXPECT_EQ(r.invalid_utf8, 1);
  EXPECT_EQ(r.empty_side, 2);
  EXPECT_EQ(r.too_many_fields, 1);
  EXPECT_EQ(r.malformed(), 5);
  ASSERT_EQ(r.issues.size(), 5u);
  const std::vector<int64_t> lines = {2, 3, 4, 5, 7};
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(r.issues[i].line, lines[i]) << r.summary();
  EXPECT_NE(r.issues[0].reason.find("no TAB"), std::string::npos);
  EXPECT_NE(r.issues[1].reason.find("invalid UTF-8 at byte 4"), std::string::npos);
  EXPECT_NE(r.issues[2].reason.find("English"), std::string::npos);
  EXPECT_NE(r.issues[4].reason.find("4 TAB-separated fields"), std::string::npos);
  const std::string s = r.summary();
  EXPECT_NE(s.find("test.tsv: 3 pairs from 9 lines"), std::string::npos) << s;
  EXPECT_NE(s.find("line 3: invalid UTF-8"), std::string::npos) << s;
}

TEST(Tatoeba, IssueListIsCapped) {
  std::string text;
  for (int i = 0; i < 25; ++i) text += "broken\n";
  text += "ok\tok\n";
  const Corpus c = parse(text);
  EXPECT_EQ(c.report.missing_tab, 25);
  EXPECT_EQ(c.report.issues.size(), ReadReport::kMaxIssues);
  EXPECT_NE(c.report.summary().find("15 more skipped lines"), std::string::npos);
}

TEST(Tatoeba, BomDuplicatesAndMaxPairs) {
  const std::string text = "\xEF\xBB\xBFHi.\tSalut.\nHi.\tSalut\u00A0.\nHi.\tSalut.\nHi.\tCoucou.\nGo.\tVa.\n";
  ReadOptions o;
  Corpus c = parse(text, o);
  EXPECT_TRUE(c.report.had_bom);
  EXPECT_EQ(c.pairs[0].src, "Hi.");
  EXPECT_EQ(c.pairs.size(), 5u);
  o.drop_duplicates = true;  // line 2 equals line 1 after clean-up (U+00A0 -> ' ' is not the same), 3 equals 1
  c = parse(text, o);
  EXPECT_EQ(c.report.duplicates, 1);
  EXPECT_EQ(c.pairs.size(), 4u);
  o.max_pairs = 2;
  c = parse(text, o);
  EXPECT_EQ(c.pairs.size(), 2u);
  EXPECT_TRUE(c.report.stopped_at_max_pairs);
  EXPECT_EQ(c.report.lines, 2);  // stopped reading
}

TEST(Tatoeba, TutorialFilterJudgesNormalisedEnglishColumn) {
  const std::string text = "I'm OK.\tÇa va.\nI ate.\tJ'ai mangé.\nThey're here.\tIls sont là.\n";
  ReadOptions o;
  o.tutorial_filter = true;
  o.normalize = Normalization::kNone;
  Corpus c = parse(text, o);
  ASSERT_EQ(c.pairs.size(), 2u);
  EXPECT_EQ(c.pairs[0].src, "I'm OK.");  // returned raw, judged normalised
  EXPECT_EQ(c.report.filtered_out, 1);
  o.reverse = true;  // same pairs pass: column 1 stays the English side
  c = parse(text, o);
  ASSERT_EQ(c.pairs.size(), 2u);
  EXPECT_EQ(c.pairs[1].tgt, "They're here.");
}

TEST(Tatoeba, EmptyAfterNormalisationIsSkipped) {
  ReadOptions o;
  o.normalize = Normalization::kTutorial;
  const Corpus c = parse("19.\t19.\n20!\t«\u00A0»\nYes.\tOui.\n", o);
  EXPECT_EQ(c.pairs.size(), 2u);  // "19." -> "." is not empty; "«\u00A0»" -> "" is
  EXPECT_EQ(c.report.empty_after_normalize, 1);
  EXPECT_EQ(c.report.issues.at(0).line, 2);
}

TEST(Tatoeba, ErrorsNameTheFile) {
  testing::expect_error([] { read_tatoeba("/nonexistent/dir/eng-fra.txt"); },
                        {"cannot open", "/nonexistent/dir/eng-fra.txt"});
  const std::string empty = temp_path("empty.tsv");
  { std::ofstream(empty) << ""; }
  testing::expect_error([&] { read_tatoeba(empty); }, {"no sentence pairs", empty});
  const std::string garbage = temp_path("garbage.tsv");
  { std::ofstream(garbage) << "just text\n\xFF\xFE\n\n"; }
  testing::expect_error([&] { read_tatoeba(garbage); }, {"no sentence pairs", garbage, "line 1: no TAB"});
  ReadOptions o;
  o.tutorial_filter = true;  // everything filtered out is also an empty result
  testing::expect_error([&] { parse("Go.\tVa.\n", o); }, {"no sentence pairs", "test.tsv", "1 removed by the filter"});
  std::filesystem::remove(empty);
  std::filesystem::remove(garbage);
}

TEST(Tatoeba, WriteReadRoundTrip) {
  const std::string path = temp_path("roundtrip.tsv");
  ReadOptions raw;
  raw.normalize = Normalization::kNone;
  const std::string text = "Hi.\t嗨。\tCC-BY 2.0 (France) Attribution: x\nRun!\tCours\u202F!\n";
  const Corpus a = parse(text, raw);
  write_tatoeba(path, a.pairs);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), text);  // byte for byte
  std::filesystem::remove(path);
  testing::expect_error([&] { write_tatoeba("/nonexistent/dir/x.tsv", a.pairs); }, {"/nonexistent/dir/x.tsv"});
}

// The tutorial's selection from the full corpus: 12,441 pairs (counted with Python's
// normalizeString; see data/README.md). The first 2,000 are tests/fixtures/data/eng-fra.small.tsv.
TEST(Tatoeba, TutorialFilterOnFullEngFra) {
  const std::string path = "/work/shared/data/eng-fra.txt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  ReadOptions o;
  o.normalize = Normalization::kNone;
  o.tutorial_filter = true;
  const Corpus c = read_tatoeba(path, o);
  EXPECT_EQ(c.report.lines, 167130);
  EXPECT_EQ(c.report.malformed(), 0) << c.report.summary();
  EXPECT_EQ(c.pairs.size(), 12441u);
  // The first 2,000 kept lines are the small split, byte for byte.
  std::ifstream small(std::string(ATTN_FIXTURES_DIR) + "/data/eng-fra.small.tsv", std::ios::binary);
  std::string line;
  for (size_t i = 0; i < 2000 && std::getline(small, line); ++i)
    ASSERT_EQ(c.pairs[i].src + "\t" + c.pairs[i].tgt, line) << "pair " << i;
  // Normalising on read gives the same selection.
  o.normalize = Normalization::kTutorial;
  o.reverse = true;
  const Corpus n = read_tatoeba(path, o);
  EXPECT_EQ(n.pairs.size(), 12441u);
  EXPECT_EQ(n.pairs.front().src, "j ai ans .");
  EXPECT_EQ(n.pairs.front().tgt, "i m .");
}

// The files bundled in data/ (made by examples/prepare_tatoeba.cc; see data/README.md).
TEST(Tatoeba, BundledFiles) {
  const std::string dir = std::string(ATTN_SOURCE_DIR) + "/data/";
  ReadOptions raw;
  raw.normalize = Normalization::kNone;
  const Corpus fr = read_tatoeba(dir + "eng-fra.tutorial.tsv", raw);
  EXPECT_EQ(fr.report.lines, 12441);
  EXPECT_EQ(fr.pairs.size(), 12441u);
  for (const auto& p : fr.pairs) ASSERT_TRUE(tutorial_filter(normalize_string(p.src), normalize_string(p.tgt))) << p.src;
  const Corpus zh = read_tatoeba(dir + "cmn-eng.small.tsv", raw);
  EXPECT_EQ(zh.pairs.size(), 5000u);
  EXPECT_EQ(zh.report.malformed(), 0);
  for (const auto& p : zh.pairs) {
    ASSERT_TRUE(p.attribution.starts_with("CC-BY 2.0 (France) Attribution: tatoeba.org #")) << "line " << p.line;
    ASSERT_LT(count_words(normalize_string(p.src)), 10) << "line " << p.line;
    ASSERT_FALSE(tokenize(p.tgt, Tokenization::kChar).empty()) << "line " << p.line;
  }
  EXPECT_EQ(tokenize(zh.pairs[0].tgt, Tokenization::kChar), (std::vector<std::string>{"嗨", "。"}));
}

}  // namespace
}  // namespace attn::data
