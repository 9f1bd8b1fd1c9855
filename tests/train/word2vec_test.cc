// Tests for word2vec training and KeyedVectors (include/attn/train/word2vec.h): the subsampling
// keep-probability formula (and the rate training actually keeps), the unigram^0.75 noise
// distribution and its alias sampler (statistical, with a stated tolerance), a corpus with two
// planted topics whose neighbours must stay in their topic (skip-gram and CBOW), determinism by
// seed and thread count, cosine queries and 3CosAdd analogies on hand-made vectors, the word2vec
// text format (round trip and malformed files), load_pretrained_embeddings, and option errors.
// About 1 s, most of it the two small training runs on the topic corpus.
#include "attn/train/word2vec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"

namespace attn::train {
namespace {

using attn::testing::all_equal;
using attn::testing::expect_error;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_w2v_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

TEST(Word2VecTrain, SubsampleKeepProbabilityFormula) {
  const double t = 1e-3;
  for (int64_t count : {1, 10, 100, 1000, 5000, 20000}) {
    const double f = double(count) / 100000.0;
    const double want = std::min(1.0, std::sqrt(t / f) + t / f);  // word2vec.c: (sqrt(f/t) + 1) t/f
    EXPECT_DOUBLE_EQ(subsample_keep_probability(count, 100000, t), want) << count;
    EXPECT_NEAR(subsample_keep_probability(count, 100000, t), std::min(1.0, (std::sqrt(f / t) + 1) * t / f), 1e-15);
  }
  // A word making up 10% of the corpus: sqrt(0.01) + 0.01 = 0.11.
  EXPECT_NEAR(subsample_keep_probability(10, 100, 1e-3), 0.11, 1e-15);
  EXPECT_EQ(subsample_keep_probability(5000, 10000, 0.0), 1.0);  // t = 0: off
  EXPECT_EQ(subsample_keep_probability(1, 10000, 1e-3), 1.0);    // rare words always kept
}

TEST(Word2VecTrain, SubsamplingKeepsTheExpectedShare) {
  // "the" is 2/3 of the corpus, the 40 other words 1/120 each (every one kept: t/f >= 1).
  std::vector<std::vector<std::string>> s;
  for (int i = 0; i < 600; ++i) s.push_back({"the", "w" + std::to_string(i % 40), "the", "the", "w" + std::to_string((i * 7) % 40), "the"});
  Word2VecOptions o;
  o.dim = 4;
  o.window = 2;
  o.min_count = 1;
  o.subsample = 1e-2;
  o.epochs = 2;
  const Word2VecResult r = train_word2vec(s, o);
  const int64_t n_the = 2400, n_other = 1200, N = 3600;
  const double p = subsample_keep_probability(n_the, N, o.subsample);
  const double expected = double(o.epochs) * (p * n_the + n_other);
  const double sd = std::sqrt(double(o.epochs) * n_the * p * (1 - p));
  // Binomial count of kept "the": within 5 standard deviations (a false failure ~ 1e-6).
  EXPECT_NEAR(double(r.stats.trained_tokens), expected, 5 * sd) << "keep p = " << p;
  EXPECT_EQ(r.stats.corpus_tokens, N);
}

TEST(Word2VecTrain, NoiseDistributionIsUnigramToThreeQuarters) {
  const std::vector<int64_t> counts = {0, 0, 0, 0, 1000, 300, 100, 20, 5, 1, 0, 64};
  const std::vector<double> p = noise_distribution(counts);
  double z = 0;
  for (int64_t c : counts) z += std::pow(double(c), 0.75);
  for (size_t i = 0; i < counts.size(); ++i)
    EXPECT_NEAR(p[i], counts[i] ? std::pow(double(counts[i]), 0.75) / z : 0.0, 1e-15) << i;

  const AliasTable table(p);
  SplitMix64 rng(11);
  const int64_t n = 400000;
  std::vector<int64_t> hits(counts.size(), 0);
  for (int64_t i = 0; i < n; ++i) ++hits[size_t(table.sample(rng.uniform(), rng.uniform()))];
  for (size_t i = 0; i < counts.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(hits[i], 0) << "outcome " << i << " has probability 0";
      continue;
    }
    // Each frequency within 5 binomial standard deviations of p_i (false failure ~ 1e-6 per bin).
    const double sd = std::sqrt(p[i] * (1 - p[i]) / double(n));
    EXPECT_NEAR(double(hits[i]) / double(n), p[i], 5 * sd) << "outcome " << i;
  }
  expect_error([] { noise_distribution({0, 0}); }, {"zero"});
  expect_error([] { AliasTable({0.5, -0.1}); }, {">= 0"});
}

// Two disjoint topics: a sentence draws all its words from one topic.
std::vector<std::vector<std::string>> topic_corpus() {
  SplitMix64 rng(5);
  std::vector<std::vector<std::string>> s;
  for (int i = 0; i < 600; ++i) {
    const char* topic = i % 2 ? "sea" : "sky";
    std::vector<std::string> words;
    for (int j = 0; j < 8; ++j) words.push_back(std::string(topic) + std::to_string(rng.below(8)));
    s.push_back(words);
  }
  return s;
}

TEST(Word2VecTrain, PlantedTopicsSeparate) {
  const auto corpus = topic_corpus();
  for (const char* mode : {"skipgram", "cbow"}) {
    Word2VecOptions o;
    o.mode = mode;
    o.dim = 16;
    o.window = 3;
    o.min_count = 1;
    o.subsample = 0;
    o.epochs = 3;
    o.batch_size = 64;
    const Word2VecResult r = train_word2vec(corpus, o);
    ASSERT_EQ(r.vectors.size(), 16) << mode;
    EXPECT_LT(r.stats.epoch_loss.back(), r.stats.epoch_loss.front()) << mode;
    for (const auto& w : r.vectors.words()) {
      const auto nn = r.vectors.most_similar(w, 5);
      ASSERT_EQ(nn.size(), 5u);
      for (const auto& [v, cos] : nn)
        EXPECT_EQ(v.substr(0, 3), w.substr(0, 3)) << mode << ": neighbour " << v << " of " << w << " (cos " << cos << ")";
      // Same-topic words must be clearly closer than the other topic's words.
      const auto all = r.vectors.most_similar(w, 15);
      EXPECT_GT(all[6].second, all[7].second + 0.1) << mode << ": " << w;
    }
  }
}

TEST(Word2VecTrain, DeterministicBySeedAndThreads) {
  const auto corpus = topic_corpus();
  Word2VecOptions o;
  o.dim = 8;
  o.min_count = 1;
  o.epochs = 1;
  o.threads = 1;
  const Word2VecResult a = train_word2vec(corpus, o);
  o.threads = 2;
  const Word2VecResult b = train_word2vec(corpus, o);
  EXPECT_TRUE(all_equal(a.vectors.vectors(), b.vectors.vectors()));
  o.seed = 2;
  const Word2VecResult c = train_word2vec(corpus, o);
  EXPECT_FALSE(all_equal(a.vectors.vectors(), c.vectors.vectors()));
}

KeyedVectors toy_vectors() {
  // a = e0, b = e1, c = e2; b - a + c = (-1, 1, 1, 0), closest to "d".
  return KeyedVectors({"a", "b", "c", "d", "e", "f"},
                      tensor<float>({1, 0, 0, 0,  //
                                     0, 1, 0, 0,  //
                                     0, 0, 1, 0,  //
                                     -1, 1, 1, 0.2f,
                                     0.9f, 0.1f, 0, 0,  //
                                     0, 0, 0, 0},
                                    {6, 4}));
}

TEST(Word2VecVectors, MostSimilarAndAnalogy) {
  const KeyedVectors kv = toy_vectors();
  const auto nn = kv.most_similar("a", 3);
  ASSERT_EQ(nn.size(), 3u);
  EXPECT_EQ(nn[0].first, "e");
  EXPECT_NEAR(nn[0].second, 0.9 / std::sqrt(0.82), 1e-6);
  for (const auto& [w, s] : nn) EXPECT_NE(w, "a");
  const auto an = kv.analogy("a", "b", "c", 3);
  EXPECT_EQ(an[0].first, "d");
  EXPECT_NEAR(an[0].second, 3.0 / (std::sqrt(3.0) * std::sqrt(3.04)), 1e-6);
  for (const auto& [w, s] : an) EXPECT_TRUE(w != "a" && w != "b" && w != "c") << w;
  EXPECT_EQ(kv.most_similar("f", 10).size(), 5u);  // a zero vector: all cos 0, still answers
  expect_error([&] { kv.most_similar("zzz"); }, {"'zzz'", "not in the vocabulary"});
  expect_error([&] { kv.analogy("a", "qq", "c"); }, {"'qq'"});
  expect_error([] { KeyedVectors({"a", "a"}, zeros({2, 3})); }, {"'a'", "twice"});
  expect_error([] { KeyedVectors({"a b"}, zeros({1, 3})); }, {"whitespace"});
  expect_error([] { KeyedVectors({"a"}, zeros({2, 3})); }, {"[1, D]", "[2, 3]"});
}

TEST(Word2VecVectors, TextFormatRoundTrip) {
  const KeyedVectors kv = KeyedVectors({"le", "chat", "été"}, randn({3, 5}, kFloat32));
  const std::string path = temp_path("roundtrip.txt");
  kv.save(path);
  std::ifstream f(path);
  std::string header;
  std::getline(f, header);
  EXPECT_EQ(header, "3 5");
  const KeyedVectors back = KeyedVectors::load(path);
  EXPECT_EQ(back.words(), kv.words());
  EXPECT_TRUE(all_equal(back.vectors(), kv.vectors()));  // %.9g round-trips float32 exactly
  // word2vec.c writes a space after every value, and files may have CRLF endings.
  write_file(path, "2 2\r\nx 1 2 \r\ny -0.5 3e-2 \r\n");
  const KeyedVectors c = KeyedVectors::load(path);
  EXPECT_EQ(c.words(), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(all_equal(c.vectors(), tensor<float>({1, 2, -0.5f, 0.03f}, {2, 2})));
  std::remove(path.c_str());
}

TEST(Word2VecVectors, MalformedFilesGiveClearErrors) {
  const std::string path = temp_path("bad.txt");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"", {"empty"}},
      {"hello world\n", {"line 1", "header"}},
      {"2 0\n", {"line 1", "header"}},
      {"2 3\na 1 2 3\nb 1 2\n", {"line 3", "3 values, got 2"}},
      {"2 3\na 1 2 3\nb 1 x 3\n", {"line 3", "value 2 of 'b'", "not a finite number"}},
      {"2 3\na 1 2 3\nb 1 nan 3\n", {"line 3", "not a finite number"}},
      {"2 3\na 1 2 3\na 4 5 6\n", {"line 3", "'a' appears twice", "line 2"}},
      {"3 3\na 1 2 3\nb 4 5 6\n", {"announces 3", "has 2", "truncated"}},
      {"1 3\na 1 2 3\nb 4 5 6\n", {"line 3", "more vectors"}},
  };
  for (const auto& [text, parts] : cases) {
    write_file(path, text);
    auto with_path = parts;
    with_path.push_back(path);
    expect_error([&] { KeyedVectors::load(path); }, with_path);
  }
  std::remove(path.c_str());
  expect_error([] { KeyedVectors::load("/nonexistent/vectors.txt"); }, {"cannot open", "/nonexistent/vectors.txt"});
}

TEST(Word2VecVectors, LoadPretrainedEmbeddings) {
  const KeyedVectors kv({"i", "am", "cold", "<unk>"}, tensor<float>({1, 1, 2, 2, 3, 3, 4, 4}, {4, 2}));
  const data::Vocab vocab = data::Vocab::build({{"i", "am", "tired"}, {"i", "am", "cold"}});
  Generator g1(9), g2(9);
  const PretrainedEmbeddings e = load_pretrained_embeddings(vocab, kv, 2, &g1);
  ASSERT_EQ(e.weight.shape(), (Shape{vocab.size(), 2}));
  EXPECT_EQ(e.found, 4);  // i, am, cold and <unk>; not tired; <pad> is padding
  const Tensor random = randn({vocab.size(), 2}, kFloat32, &g2);
  for (int64_t i = 0; i < vocab.size(); ++i) {
    const std::string& w = vocab.token(i);
    const Tensor row = e.weight.select(0, i);
    if (i == data::Vocab::kPad)
      EXPECT_TRUE(all_equal(row, zeros({2}))) << "padding row";
    else if (kv.contains(w))
      EXPECT_TRUE(all_equal(row, kv.vector(w))) << w;
    else
      EXPECT_TRUE(all_equal(row, random.select(0, i))) << w << " keeps its N(0, 1) draw";
  }
  expect_error([&] { load_pretrained_embeddings(vocab, kv, 3); }, {"dim 3", "dim 2"});
}

TEST(Word2VecTrain, OptionAndCorpusErrors) {
  Word2VecOptions o;
  o.mode = "glove";
  expect_error([&] { check_word2vec_options(o); }, {"mode", "'glove'"});
  o = {};
  o.window = 0;
  expect_error([&] { check_word2vec_options(o); }, {"window", "0"});
  o = {};
  o.negatives = -1;
  expect_error([&] { check_word2vec_options(o); }, {"negatives"});
  o = {};
  expect_error([&] { train_word2vec({{"a", "b"}, {"c"}}, o); }, {"min_count = 5"});
  o.min_count = 1;
  expect_error([&] { train_word2vec({{"a"}, {"b"}}, o); }, {"no training example"});
}

}  // namespace
}  // namespace attn::train
