// BLEU (src/data/bleu.cc): hand-computed cases, edge cases, and values computed independently by
// tools/bleu_reference.py (NLTK corpus_bleu with NIST geometric smoothing on text tokenised by a
// Python `re` port of sacreBLEU's tokenisers) on real eng-fra sentence pairs.
#include "attn/data/bleu.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace attn::data {
namespace {

using attn::testing::expect_error;

// 1e-10 on a 0..100 scale: the same formula evaluated in a different order of float operations.
constexpr double kTol = 1e-10;

// Braced lists of strings would also convert to the several-references overload; name the type.
using Lines = std::vector<std::string>;

TEST(Bleu, PerfectMatchIs100) {
  const auto s = corpus_bleu(Lines{"the cat sat on the mat.", "Hello, world!"}, Lines{"the cat sat on the mat.", "Hello, world!"});
  EXPECT_DOUBLE_EQ(s.score, 100.0);
  EXPECT_EQ(s.bp, 1.0);
  EXPECT_EQ(s.sys_len, 11);  // "the cat sat on the mat ." + "Hello , world !"
  EXPECT_EQ(s.ref_len, 11);
  EXPECT_EQ(s.format(), "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 11 ref_len = 11)");
}

TEST(Bleu, HandComputedOneSubstitution) {
  // hyp: the cat sat on a mat .      ref: the cat sat on the mat .      (7 tokens each, BP = 1)
  //  1-grams: the cat sat on mat .  match, a does not          -> 6/7
  //  2-grams: the-cat cat-sat sat-on mat-. match; on-a a-mat    -> 4/6
  //  3-grams: the-cat-sat cat-sat-on match of 5                 -> 2/5
  //  4-grams: the-cat-sat-on matches of 4                       -> 1/4
  //  BLEU = 100 * (6/7 * 4/6 * 2/5 * 1/4)^(1/4) = 48.89...
  const auto s = corpus_bleu(Lines{"the cat sat on a mat."}, Lines{"the cat sat on the mat."});
  EXPECT_NEAR(s.score, 100.0 * std::pow(6.0 / 7 * 4.0 / 6 * 2.0 / 5 * 1.0 / 4, 0.25), kTol);
  EXPECT_EQ(s.counts, (std::vector<int64_t>{6, 4, 2, 1}));
  EXPECT_EQ(s.totals, (std::vector<int64_t>{7, 6, 5, 4}));
  EXPECT_NEAR(s.precisions[0], 600.0 / 7, kTol);
  EXPECT_EQ(s.format(), "BLEU = 48.89 85.7/66.7/40.0/25.0 (BP = 1.000 ratio = 1.000 hyp_len = 7 ref_len = 7)");
}

TEST(Bleu, SmoothingMethods) {
  // hyp: a b c d e    ref: a b x d e
  //  1-grams 4/5 (a b d e), 2-grams 2/4 (a-b, d-e), 3-grams 0/3, 4-grams 0/2.
  const std::vector<std::string> hyp{"a b c d e"}, ref{"a b x d e"};
  BleuOptions o;
  // exp: the k-th zero order gets 100 / (2^k * total): p3 = 100/(2*3), p4 = 100/(4*2).
  auto s = corpus_bleu(hyp, ref, o);
  EXPECT_NEAR(s.precisions[2], 100.0 / 6, kTol);
  EXPECT_NEAR(s.precisions[3], 100.0 / 8, kTol);
  EXPECT_NEAR(s.score, std::pow(80.0 * 50.0 * (100.0 / 6) * 12.5, 0.25), kTol);
  // floor 0.1: p3 = 100 * 0.1 / 3, p4 = 100 * 0.1 / 2.
  o.smooth_method = "floor";
  s = corpus_bleu(hyp, ref, o);
  EXPECT_NEAR(s.score, std::pow(80.0 * 50.0 * (10.0 / 3) * 5.0, 0.25), kTol);
  o.smooth_value = 0.5;  // p3 = 50/3, p4 = 25
  EXPECT_NEAR(corpus_bleu(hyp, ref, o).score, std::pow(80.0 * 50.0 * (50.0 / 3) * 25.0, 0.25), kTol);
  // add-k 1 on orders >= 2: p2 = 3/5, p3 = 1/4, p4 = 1/3; p1 = 4/5 unchanged.
  o.smooth_method = "add-k";
  o.smooth_value.reset();
  s = corpus_bleu(hyp, ref, o);
  EXPECT_NEAR(s.score, 100.0 * std::pow(0.8 * 0.6 * 0.25 * (1.0 / 3), 0.25), kTol);
  EXPECT_EQ(s.counts, (std::vector<int64_t>{4, 2, 0, 0}));  // reported before smoothing
  // none: a zero precision makes the score 0.
  o.smooth_method = "none";
  s = corpus_bleu(hyp, ref, o);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.precisions[2], 0.0);
  EXPECT_NEAR(s.precisions[1], 50.0, kTol);
}

TEST(Bleu, ClippingAndBrevityPenalty) {
  // hyp: the the the the   ref: the cat.  Unigram matches clipped to 1: p1 = 1/4; 2..4-grams have
  // no match: p2 = 100/(2*3), p3 = 100/(4*2), p4 = 100/(8*1). hyp longer than ref: BP = 1.
  auto s = corpus_bleu(Lines{"the the the the"}, Lines{"the cat"});
  EXPECT_EQ(s.counts[0], 1);
  EXPECT_NEAR(s.score, std::pow(25.0 * (100.0 / 6) * 12.5 * 12.5, 0.25), kTol);
  // hyp: the cat (2 tokens)  ref: the cat sat on the mat (6): BP = exp(1 - 6/2) = exp(-2).
  // Corpus BLEU: no 3-grams in the hypothesis, log(0) -> score 0.
  s = corpus_bleu(Lines{"the cat"}, Lines{"the cat sat on the mat"});
  EXPECT_NEAR(s.bp, std::exp(-2.0), 1e-15);
  EXPECT_EQ(s.score, 0.0);
  // sentence_bleu uses the effective order 2: BLEU = exp(-2) * 100.
  s = sentence_bleu("the cat", {"the cat sat on the mat"});
  EXPECT_NEAR(s.score, 100.0 * std::exp(-2.0), kTol);
  EXPECT_NEAR(s.ratio, 2.0 / 6, 1e-15);
}

TEST(Bleu, SeveralReferences) {
  // hyp of 4 tokens, references of 3 and 5: both 1 away, the shorter is the effective length.
  // Every hyp n-gram occurs in the second reference: precisions 100, BP 1.
  auto s = corpus_bleu({"a b c d"}, std::vector<std::vector<std::string>>{{"a b c"}, {"a b c d e"}});
  EXPECT_EQ(s.ref_len, 3);
  EXPECT_DOUBLE_EQ(s.score, 100.0);
  s = sentence_bleu("a b c d", {"a b c d e f", "a b"});
  EXPECT_EQ(s.ref_len, 2);
  // Clipping takes the maximum count over references: "x x" in one, "x" in the other -> 2 matches.
  s = corpus_bleu({"x x y"}, std::vector<std::vector<std::string>>{{"x x"}, {"x y"}});
  EXPECT_EQ(s.counts[0], 3);
}

TEST(Bleu, EdgeCases) {
  // Empty hypothesis: no tokens, BP 0, score 0.
  auto s = corpus_bleu(Lines{""}, Lines{"a b"});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.sys_len, 0);
  EXPECT_EQ(s.format(), "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)");
  // No matching n-gram at all: score 0 and every precision 0 (no smoothing applied).
  s = corpus_bleu(Lines{"x y z w"}, Lines{"a b c d"});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.precisions, (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(s.totals, (std::vector<int64_t>{4, 3, 2, 1}));
  EXPECT_EQ(s.bp, 1.0);
  // Empty corpus.
  s = corpus_bleu(std::vector<std::string>{}, std::vector<std::string>{});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.ref_len, 0);
  // Trailing whitespace is stripped before tokenising (a trailing "." still splits off).
  EXPECT_DOUBLE_EQ(corpus_bleu(Lines{"It is late.  \n"}, Lines{"It is late."}).score, 100.0);
}

TEST(Bleu, BadArgumentsThrow) {
  expect_error([] { corpus_bleu(Lines{"a", "b"}, Lines{"a"}); }, {"2 hypotheses", "1 references"});
  expect_error([] { corpus_bleu({"a"}, std::vector<std::vector<std::string>>{{"a"}, {}}); }, {"1 hypotheses", "0 references", "stream 1"});
  expect_error([] { corpus_bleu({"a"}, std::vector<std::vector<std::string>>{}); }, {"reference stream"});
  BleuOptions o;
  o.tokenize = "intl";
  expect_error([&] { corpus_bleu(Lines{"a"}, Lines{"a"}, o); }, {"tokenize 'intl'"});
  o.tokenize = "13a";
  o.smooth_method = "add-one";
  expect_error([&] { corpus_bleu(Lines{"a"}, Lines{"a"}, o); }, {"smooth_method 'add-one'"});
  expect_error([] { sentence_bleu("a", {}); }, {"at least one reference"});
}

TEST(Bleu, Lowercase) {
  BleuOptions o = sentence_bleu_defaults();
  EXPECT_LT(sentence_bleu("The CAT", {"the cat"}, o).score, 100.0);
  o.lowercase = true;
  EXPECT_DOUBLE_EQ(sentence_bleu("The CAT", {"the cat"}, o).score, 100.0);
  EXPECT_EQ(lowercase_utf8("ÉCOLE Ÿ Œuvre ΣΑΣ Ά Москва Ёж ×"), "école ÿ œuvre σασ ά москва ёж ×");
}

TEST(Bleu, Tokenizers) {
  EXPECT_EQ(tokenize_13a("Hello, world! (3.50 $)"), "Hello , world ! ( 3.50 $ )");
  EXPECT_EQ(tokenize_13a("a-b 1-2"), "a-b 1 - 2");
  EXPECT_EQ(tokenize_char(" ab  c\u00a0é "), "a b c é");
  EXPECT_EQ(tokenize_zh("我爱 NLP."), "我 爱 NLP .");
}

nlohmann::json load_reference() {
  std::ifstream f(std::string(ATTN_FIXTURES_DIR) + "/bleu/reference.json");
  EXPECT_TRUE(f.good()) << "missing tests/fixtures/bleu/reference.json (tools/bleu_reference.py)";
  return nlohmann::json::parse(f);
}

TEST(Bleu, TokenizersMatchPythonRegexPort) {
  const auto ref = load_reference();
  ASSERT_GE(ref["tokenized"].size(), 10u);
  for (const auto& c : ref["tokenized"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tokenize_13a(text), c["13a"].get<std::string>()) << text;
    EXPECT_EQ(tokenize_zh(text), c["zh"].get<std::string>()) << text;
    EXPECT_EQ(tokenize_char(text), c["char"].get<std::string>()) << text;
  }
}

TEST(Bleu, CorpusMatchesNltkReference) {
  const auto ref = load_reference();
  ASSERT_EQ(ref["corpus"].size(), 5u);
  for (const auto& c : ref["corpus"]) {
    BleuOptions o;
    o.tokenize = c["tokenize"];
    o.lowercase = c["lowercase"];
    const auto s = corpus_bleu(c["hypotheses"].get<std::vector<std::string>>(),
                               c["references"].get<std::vector<std::vector<std::string>>>(), o);
    const std::string name = c["name"];
    // 1e-9: NLTK sums the logs with math.fsum over Fractions, we in plain double order.
    EXPECT_NEAR(s.score, c["score"].get<double>(), 1e-9) << name;
    EXPECT_EQ(s.counts, c["counts"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(s.totals, c["totals"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(s.sys_len, c["sys_len"].get<int64_t>()) << name;
    EXPECT_EQ(s.ref_len, c["ref_len"].get<int64_t>()) << name;
    EXPECT_GT(s.score, 5.0) << name;  // the fixture is not degenerate
  }
}

TEST(Bleu, SentenceMatchesNltkReference) {
  const auto ref = load_reference();
  ASSERT_GE(ref["sentences"].size(), 10u);
  for (const auto& c : ref["sentences"]) {
    const auto s = sentence_bleu(c["hypothesis"].get<std::string>(), c["references"].get<std::vector<std::string>>());
    EXPECT_NEAR(s.score, c["score"].get<double>(), 1e-9) << c["hypothesis"];
  }
}

}  // namespace
}  // namespace attn::data
