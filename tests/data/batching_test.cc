// Splits (deterministic, disjoint, covering) and batches (every pair exactly once, padding,
// lengths, masks, limits, per-epoch determinism).
#include "attn/data/batching.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_util.h"

namespace attn::data {
namespace {

TEST(Split, DeterministicDisjointCovering) {
  const SplitOptions o{0.1, 0.2, 7};
  const SplitIndices a = split_indices(1001, o), b = split_indices(1001, o);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.valid.size(), 100u);  // round(100.1)
  EXPECT_EQ(a.test.size(), 200u);   // round(200.2)
  EXPECT_EQ(a.train.size(), 701u);
  std::vector<int64_t> all;
  for (const auto* v : {&a.train, &a.valid, &a.test}) {
    EXPECT_TRUE(std::is_sorted(v->begin(), v->end()));
    all.insert(all.end(), v->begin(), v->end());
  }
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(all[size_t(i)], i);  // disjoint and covering
  const SplitIndices c = split_indices(1001, {0.1, 0.2, 8});
  EXPECT_NE(a.valid, c.valid);  // the seed matters
  EXPECT_TRUE(split_indices(0, o).train.empty());
  EXPECT_EQ(split_indices(10, {0.0, 0.0, 1}).train.size(), 10u);
  testing::expect_error([] { split_indices(10, {0.6, 0.5, 0}); }, {"fractions", "0.6", "0.5"});
  testing::expect_error([] { split_indices(10, {-0.1, 0.0, 0}); }, {"fractions"});
}

TEST(Split, CorpusKeepsOrderWithinSplits) {
  std::vector<SentencePair> pairs;
  for (int i = 0; i < 50; ++i) pairs.push_back({"s" + std::to_string(i), "t" + std::to_string(i), "", i + 1});
  const CorpusSplits s = split_corpus(pairs, {0.2, 0.2, 3});
  EXPECT_EQ(s.train.size() + s.valid.size() + s.test.size(), 50u);
  EXPECT_EQ(s.valid.size(), 10u);
  std::set<int64_t> lines;
  for (const auto* v : {&s.train, &s.valid, &s.test})
    for (size_t i = 0; i < v->size(); ++i) {
      lines.insert((*v)[i].line);
      if (i > 0) {
        EXPECT_LT((*v)[i - 1].line, (*v)[i].line);
      }
    }
  EXPECT_EQ(lines.size(), 50u);
}

// Pair i has a source of 1 + (i * 7) % 13 tokens and a target of 1 + (i * 5) % 11 tokens;
// token values encode (pair, position) so misplaced tokens are detected.
std::vector<EncodedPair> synthetic(int64_t n) {
  std::vector<EncodedPair> d(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 1 + (i * 7) % 13; ++j) d[size_t(i)].src.push_back(4 + i * 100 + j);
    for (int64_t j = 0; j < 1 + (i * 5) % 11; ++j) d[size_t(i)].tgt.push_back(4 + i * 100 + 50 + j);
  }
  return d;
}

void expect_batch_correct(const std::vector<EncodedPair>& data, const Batch& b, const BatchOptions& o) {
  const int64_t B = b.size(), S = b.src.size(1), T = b.tgt_in.size(1);
  ASSERT_EQ(b.src.dtype(), kInt64);
  ASSERT_EQ(b.src_padding_mask.dtype(), kBool);
  ASSERT_EQ(b.src.shape(), (Shape{B, S}));
  ASSERT_EQ(b.tgt_out.shape(), (Shape{B, T}));
  ASSERT_EQ(b.tgt_padding_mask.shape(), (Shape{B, T}));
  const auto src = to_int64_vector(b.src), tin = to_int64_vector(b.tgt_in), tout = to_int64_vector(b.tgt_out);
  const auto sl = to_int64_vector(b.src_lens), tl = to_int64_vector(b.tgt_lens);
  const auto sm = to_int64_vector(b.src_padding_mask), tm = to_int64_vector(b.tgt_padding_mask);
  int64_t max_s = 0, max_t = 0;
  for (int64_t r = 0; r < B; ++r) {
    const EncodedPair& p = data[size_t(b.indices[size_t(r)])];
    const auto m = int64_t(p.src.size()) + (o.src_eos ? 1 : 0), n = int64_t(p.tgt.size());
    ASSERT_EQ(sl[size_t(r)], m);
    ASSERT_EQ(tl[size_t(r)], n + 1);
    max_s = std::max(max_s, m), max_t = std::max(max_t, n + 1);
    for (int64_t j = 0; j < S; ++j) {
      const int64_t want = j < int64_t(p.src.size()) ? p.src[size_t(j)] : (o.src_eos && j == m - 1) ? Vocab::kEos : Vocab::kPad;
      ASSERT_EQ(src[size_t(r * S + j)], want) << "row " << r << " col " << j;
      ASSERT_EQ(sm[size_t(r * S + j)], j >= m ? 1 : 0);
    }
    for (int64_t j = 0; j < T; ++j) {
      const int64_t want_in = j == 0 ? Vocab::kBos : j <= n ? p.tgt[size_t(j - 1)] : Vocab::kPad;
      const int64_t want_out = j < n ? p.tgt[size_t(j)] : j == n ? Vocab::kEos : Vocab::kPad;
      ASSERT_EQ(tin[size_t(r * T + j)], want_in) << "row " << r << " col " << j;
      ASSERT_EQ(tout[size_t(r * T + j)], want_out) << "row " << r << " col " << j;
      ASSERT_EQ(tm[size_t(r * T + j)], j > n ? 1 : 0);
    }
    if (r > 0) {
      ASSERT_GE(sl[size_t(r - 1)], sl[size_t(r)]);  // longest source first
    }
  }
  EXPECT_EQ(S, max_s);  // no all-padding column
  EXPECT_EQ(T, max_t);
}

TEST(Batches, CoverEveryPairOnceWithCorrectPadding) {
  const auto data = synthetic(503);
  for (const BatchOptions& o : {BatchOptions{.max_sentences = 16, .seed = 1},
                                BatchOptions{.max_sentences = 0, .max_tokens = 64, .seed = 2},
                                BatchOptions{.max_sentences = 5, .max_tokens = 40, .bucket_size = 37, .seed = 3},
                                BatchOptions{.max_sentences = 7, .shuffle = false, .src_eos = false}}) {
    const auto batches = make_batches(data, o, 0);
    std::vector<int> seen(data.size(), 0);
    for (const Batch& b : batches) {
      ASSERT_GT(b.size(), 0);
      if (o.max_sentences > 0) {
        EXPECT_LE(b.size(), o.max_sentences);
      }
      const int64_t padded = b.size() * std::max(b.src.size(1), b.tgt_in.size(1));
      if (o.max_tokens > 0 && b.size() > 1) {
        EXPECT_LE(padded, o.max_tokens);
      }
      expect_batch_correct(data, b, o);
      for (const int64_t i : b.indices) ++seen[size_t(i)];
    }
    for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "pair " << i;
  }
}

TEST(Batches, DeterministicPerEpochAndShuffled) {
  const auto data = synthetic(300);
  const BatchOptions o{.max_sentences = 8, .seed = 11};
  const auto a = plan_batches(data, o, 0), b = plan_batches(data, o, 0), c = plan_batches(data, o, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // another epoch, another order
  BatchOptions o2 = o;
  o2.seed = 12;
  EXPECT_NE(a, plan_batches(data, o2, 0));
  // Bucketing keeps padding low: sorted buckets waste far less than random batches would.
  int64_t real = 0, padded = 0;
  for (const Batch& bt : make_batches(data, o, 0)) {
    for (const int64_t l : to_int64_vector(bt.src_lens)) real += l;
    padded += bt.src.numel();
  }
  EXPECT_GT(double(real) / double(padded), 0.9);
}

TEST(Batches, OversizedPairGetsItsOwnBatchAndEdgeCases) {
  std::vector<EncodedPair> data = synthetic(10);
  data[3].src.assign(100, 5);
  const auto batches = make_batches(data, {.max_sentences = 0, .max_tokens = 30, .seed = 0}, 0);
  size_t total = 0;
  for (const auto& b : batches) {
    total += b.indices.size();
    if (std::find(b.indices.begin(), b.indices.end(), 3) != b.indices.end()) {
      EXPECT_EQ(b.size(), 1);
    }
  }
  EXPECT_EQ(total, 10u);
  EXPECT_TRUE(make_batches({}, {}, 0).empty());
  // An empty target still has <bos> in and <eos> out.
  const Batch b = collate({{{7}, {}}}, {0});
  EXPECT_EQ(to_int64_vector(b.tgt_in), (std::vector<int64_t>{Vocab::kBos}));
  EXPECT_EQ(to_int64_vector(b.tgt_out), (std::vector<int64_t>{Vocab::kEos}));
  EXPECT_EQ(b.num_tgt_tokens(), 1);
  testing::expect_error([&] { collate(data, {0, 10}); }, {"index 10", "out of range"});
  testing::expect_error([&] { plan_batches(data, {.max_sentences = -1}, 0); }, {"max_sentences"});
}

TEST(Batches, EncodePairsEndToEnd) {
  std::vector<SentencePair> pairs = {{"ca va !", "i m ok .", "", 1}, {"je suis tom .", "i m tom .", "", 2}};
  std::vector<std::vector<std::string>> s, t;
  for (const auto& p : pairs) s.push_back(tokenize(p.src)), t.push_back(tokenize(p.tgt));
  const Vocab sv = Vocab::build(s), tv = Vocab::build(t);
  const auto enc = encode_pairs(pairs, sv, tv);
  ASSERT_EQ(enc.size(), 2u);
  EXPECT_EQ(tv.decode(enc[1].tgt), (std::vector<std::string>{"i", "m", "tom", "."}));
  const Batch b = collate(enc, {0, 1});
  EXPECT_EQ(detokenize(tv.decode(to_int64_vector(b.tgt_out[1]))), "i m tom.");
  EXPECT_EQ(sv.decode(to_int64_vector(b.src[0])), (std::vector<std::string>{"ca", "va", "!"}));
}

}  // namespace
}  // namespace attn::data
