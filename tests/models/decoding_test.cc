// Greedy and beam search against a toy IncrementalDecoder whose next-token log-probabilities are a
// fixed pseudo-random table indexed by (batch row, step, previous token), and whose attention row
// is a pseudo-random function of the whole prefix, so any beam mix-up shows in the attention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "attn/models/decoding.h"
#include "test_util.h"

namespace attn::models {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser: our own deterministic hash
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
double unit(uint64_t h) { return double(mix(h) >> 11) * 0x1.0p-53; }

constexpr int64_t kBos = 1, kEos = 2;

class ToyDecoder : public IncrementalDecoder {
 public:
  // One decoder row per entry of `row_ids` (the "source sentence" each row translates).
  ToyDecoder(std::vector<int64_t> row_ids, int64_t V, int64_t S, double eos_bias = 0.0)
      : V_(V), S_(S), eos_bias_(eos_bias) {
    for (int64_t id : row_ids) rows_.push_back({id, {}});
  }

  // log p(v | row, step, prev): log_softmax of a hashed table (eos shifted by eos_bias).
  double logp(int64_t row, int64_t step, int64_t prev, int64_t v) const {
    std::vector<double> z(static_cast<size_t>(V_));
    double mx = -1e300;
    for (int64_t u = 0; u < V_; ++u) {
      z[size_t(u)] = 4.0 * unit((uint64_t(row) * 1000003 + uint64_t(step)) * 1000033 + uint64_t(prev) * 101 + uint64_t(u)) +
                     (u == kEos ? eos_bias_ : 0.0);
      mx = std::max(mx, z[size_t(u)]);
    }
    double sum = 0.0;
    for (double x : z) sum += std::exp(x - mx);
    return z[size_t(v)] - mx - std::log(sum);
  }
  // The attention row emitted after reading `prefix` (bos first): depends on every token.
  std::vector<float> attention(int64_t row, const std::vector<int64_t>& prefix) const {
    uint64_t h = uint64_t(row) + 77;
    for (int64_t t : prefix) h = mix(h * 31 + uint64_t(t));
    std::vector<float> a(static_cast<size_t>(S_));
    float sum = 0.f;
    for (int64_t s = 0; s < S_; ++s) sum += a[size_t(s)] = float(0.1 + unit(h + uint64_t(s)));
    for (float& x : a) x /= sum;
    return a;
  }

  DecodeStep step(const Tensor& tokens) override {
    const std::vector<int64_t> tok = to_int64_vector(tokens);
    EXPECT_EQ(tok.size(), rows_.size());
    const int64_t N = int64_t(rows_.size());
    std::vector<float> lp(static_cast<size_t>(N * V_)), at(static_cast<size_t>(N * S_));
    for (int64_t n = 0; n < N; ++n) {
      Row& r = rows_[size_t(n)];
      if (r.prefix.empty()) {
        EXPECT_EQ(tok[size_t(n)], kBos);
      }
      r.prefix.push_back(tok[size_t(n)]);
      const int64_t step = int64_t(r.prefix.size()) - 1;
      for (int64_t v = 0; v < V_; ++v) lp[size_t(n * V_ + v)] = float(logp(r.id, step, tok[size_t(n)], v));
      const auto a = attention(r.id, r.prefix);
      std::copy(a.begin(), a.end(), at.begin() + n * S_);
      stepped_ids.insert(r.id);
    }
    ++steps;
    max_rows = std::max(max_rows, N);
    return {tensor<float>(lp, {N, V_}), S_ > 0 ? tensor<float>(at, {N, S_}) : Tensor()};
  }
  void reorder(const Tensor& indices) override {
    std::vector<Row> next;
    for (int64_t i : to_int64_vector(indices)) {
      EXPECT_TRUE(i >= 0 && i < int64_t(rows_.size())) << i;
      next.push_back(rows_[size_t(i)]);
    }
    rows_ = std::move(next);
  }

  int64_t steps = 0, max_rows = 0;
  std::set<int64_t> stepped_ids;

 private:
  struct Row {
    int64_t id;
    std::vector<int64_t> prefix;
  };
  std::vector<Row> rows_;
  int64_t V_, S_;
  double eos_bias_;
};

// The table's log-probabilities are stored as float32 in the step output; recompute them the same way.
double path_log_prob(const ToyDecoder& d, int64_t row, const std::vector<int64_t>& tokens) {
  double lp = 0.0;
  int64_t prev = kBos;
  for (size_t t = 0; t < tokens.size(); ++t) {
    lp += double(float(d.logp(row, int64_t(t), prev, tokens[t])));
    prev = tokens[t];
  }
  return lp;
}

// Every sequence the search may produce: ending with eos (not before min_length) within max_length
// tokens, or max_length tokens without eos; ranked by the same length-normalised score.
std::vector<std::pair<double, std::vector<int64_t>>> exhaustive(const ToyDecoder& d, int64_t row, int64_t V,
                                                                const SearchOptions& o) {
  std::vector<std::pair<double, std::vector<int64_t>>> all;
  std::vector<int64_t> seq;
  std::function<void()> rec = [&]() {
    const int64_t t = int64_t(seq.size());
    for (int64_t v = 0; v < V; ++v) {
      if (v == kEos && t < o.min_length) continue;
      seq.push_back(v);
      if (v == kEos || t + 1 == o.max_length) {
        const double lp = path_log_prob(d, row, seq);
        all.push_back({lp / std::pow(double(seq.size()), o.length_penalty), seq});
      } else {
        rec();
      }
      seq.pop_back();
    }
  };
  rec();
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return all;
}

// Checks tokens, log_prob, score and every attention row of a hypothesis against the toy decoder.
void expect_consistent(const ToyDecoder& d, int64_t row, const Hypothesis& h, const SearchOptions& o, int64_t S) {
  const double lp = path_log_prob(d, row, h.tokens);
  // 1e-9: the same float32 terms summed in the same order; only the order of double additions could differ.
  EXPECT_NEAR(h.log_prob, lp, 1e-9);
  EXPECT_NEAR(h.score, lp / std::pow(double(h.tokens.size()), o.length_penalty), 1e-9);
  ASSERT_TRUE(h.attention.defined());
  ASSERT_EQ(h.attention.shape(), (Shape{int64_t(h.tokens.size()), S}));
  std::vector<int64_t> prefix{kBos};
  for (size_t t = 0; t < h.tokens.size(); ++t) {
    const auto want = d.attention(row, prefix);
    EXPECT_TRUE(testing::all_equal(h.attention[int64_t(t)], tensor<float>(want))) << "step " << t;
    prefix.push_back(h.tokens[t]);
  }
}

TEST(BeamSearch, LargeBeamEqualsExhaustiveSearch) {
  // V = 5, max_length 3: 1 + 4 + 16 sequences end with eos and 4^3 = 64 reach the length limit,
  // 85 in all; a beam of V^L = 125 never prunes nor stops early, so it must list all 85 in order.
  const int64_t V = 5, S = 3;
  for (double alpha : {0.0, 1.0, 2.0}) {
    for (int64_t min_length : {0, 2}) {
      SearchOptions o;
      o.beam_size = 125;
      o.n_best = 125;
      o.max_length = 3;
      o.length_penalty = alpha;
      o.min_length = min_length;
      ToyDecoder d({4, 9}, V, S);
      const auto res = beam_search(d, 2, o);
      ASSERT_EQ(res.size(), 2u);
      for (int64_t b = 0; b < 2; ++b) {
        const auto want = exhaustive(d, b == 0 ? 4 : 9, V, o);
        ASSERT_EQ(res[size_t(b)].size(), want.size()) << "alpha " << alpha << " min_length " << min_length;
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_EQ(res[size_t(b)][i].tokens, want[i].second) << "rank " << i;
          EXPECT_NEAR(res[size_t(b)][i].score, want[i].first, 1e-9);
          expect_consistent(d, b == 0 ? 4 : 9, res[size_t(b)][i], o, S);
        }
      }
    }
  }
}

TEST(BeamSearch, BeamOneEqualsGreedy) {
  const int64_t V = 6, S = 4;
  for (double eos_bias : {0.0, 1.5}) {
    SearchOptions o;
    o.beam_size = 1;
    o.max_length = 12;
    ToyDecoder db({0, 1, 2, 3, 4, 5}, V, S, eos_bias), dg({0, 1, 2, 3, 4, 5}, V, S, eos_bias);
    const auto beam = beam_search(db, 6, o);
    const auto greedy = greedy_search(dg, 6, o);
    int64_t ended_early = 0;
    for (size_t b = 0; b < 6; ++b) {
      ASSERT_EQ(beam[b].size(), 1u);
      ASSERT_EQ(greedy[b].size(), 1u);
      EXPECT_EQ(beam[b][0].tokens, greedy[b][0].tokens) << "row " << b;
      EXPECT_EQ(beam[b][0].log_prob, greedy[b][0].log_prob);
      EXPECT_TRUE(testing::all_equal(beam[b][0].attention, greedy[b][0].attention));
      expect_consistent(dg, int64_t(b), greedy[b][0], o, S);
      ended_early += int64_t(greedy[b][0].tokens.size()) < o.max_length;
    }
    if (eos_bias > 0) {
      EXPECT_GT(ended_early, 0);  // the comparison covered rows finishing at eos
    }
  }
}

TEST(Greedy, PicksTheArgmaxEveryStep) {
  const int64_t V = 5;
  SearchOptions o;
  o.max_length = 6;
  ToyDecoder d({3}, V, 2, 1.0);
  const auto h = greedy_search(d, 1, o)[0][0];
  int64_t prev = kBos;
  for (size_t t = 0; t < h.tokens.size(); ++t) {
    for (int64_t v = 0; v < V; ++v) EXPECT_LE(float(d.logp(3, int64_t(t), prev, v)), float(d.logp(3, int64_t(t), prev, h.tokens[t])));
    prev = h.tokens[t];
  }
  EXPECT_TRUE(h.tokens.back() == kEos || int64_t(h.tokens.size()) == o.max_length);
}

TEST(BeamSearch, BatchedEqualsEachRowAlone) {
  const int64_t V = 7, S = 5;
  const std::vector<int64_t> ids{11, 3, 8, 20};
  const std::vector<int64_t> max_lengths{6, 9, 1, 4};
  SearchOptions o;
  o.beam_size = 4;
  o.n_best = 3;
  o.length_penalty = 0.6;
  for (bool greedy : {false, true}) {
    ToyDecoder batched(ids, V, S, 0.8);
    const auto res = greedy ? greedy_search(batched, max_lengths, o) : beam_search(batched, max_lengths, o);
    ASSERT_EQ(res.size(), ids.size());
    for (size_t b = 0; b < ids.size(); ++b) {
      ToyDecoder alone({ids[b]}, V, S, 0.8);
      const auto one = greedy ? greedy_search(alone, std::vector<int64_t>{max_lengths[b]}, o)
                         : beam_search(alone, std::vector<int64_t>{max_lengths[b]}, o);
      ASSERT_EQ(res[b].size(), one[0].size()) << "row " << b;
      for (size_t i = 0; i < one[0].size(); ++i) {
        EXPECT_EQ(res[b][i].tokens, one[0][i].tokens) << "row " << b << " rank " << i;
        EXPECT_EQ(res[b][i].score, one[0][i].score);
        EXPECT_TRUE(testing::all_equal(res[b][i].attention, one[0][i].attention));
        expect_consistent(batched, ids[b], res[b][i], o, S);
      }
    }
  }
}

TEST(BeamSearch, NBestIsSortedAndDistinct) {
  const int64_t V = 6, S = 3;
  SearchOptions o;
  o.beam_size = 6;
  o.n_best = 6;
  o.max_length = 10;
  ToyDecoder d({1, 2, 3}, V, S, 1.0);
  const auto res = beam_search(d, 3, o);
  for (size_t b = 0; b < 3; ++b) {
    ASSERT_EQ(res[b].size(), 6u);
    std::set<std::vector<int64_t>> seen;
    for (size_t i = 0; i < res[b].size(); ++i) {
      if (i > 0) {
        EXPECT_GE(res[b][i - 1].score, res[b][i].score);
      }
      EXPECT_TRUE(seen.insert(res[b][i].tokens).second) << "duplicate hypothesis at rank " << i;
      expect_consistent(d, int64_t(b + 1), res[b][i], o, S);
      // eos only as the last token.
      for (size_t t = 0; t + 1 < res[b][i].tokens.size(); ++t) EXPECT_NE(res[b][i].tokens[t], kEos);
    }
    // A wider beam finds a best hypothesis at least as good as greedy's.
    ToyDecoder g({int64_t(b + 1)}, V, S, 1.0);
    EXPECT_GE(res[b][0].score, greedy_search(g, 1, o)[0][0].score - 1e-12);
  }
}

TEST(Search, MaxLengthRespectedPerRow) {
  const int64_t V = 5, S = 2;
  SearchOptions o;
  o.beam_size = 3;
  o.n_best = 3;
  const std::vector<int64_t> max_lengths{0, 1, 2, 7};
  for (bool greedy : {false, true}) {
    ToyDecoder d({10, 11, 12, 13}, V, S, -3.0);  // eos unlikely: most hypotheses hit the limit
    const auto res = greedy ? greedy_search(d, max_lengths, o) : beam_search(d, max_lengths, o);
    // A row with max_length 0 gets one empty hypothesis and is never stepped.
    ASSERT_EQ(res[0].size(), 1u);
    EXPECT_TRUE(res[0][0].tokens.empty());
    EXPECT_EQ(res[0][0].score, 0.0);
    EXPECT_EQ(d.stepped_ids.count(10), 0u);
    EXPECT_LE(d.steps, 7);
    for (size_t b = 1; b < 4; ++b) {
      ASSERT_FALSE(res[b].empty());
      for (const auto& h : res[b]) {
        EXPECT_LE(int64_t(h.tokens.size()), max_lengths[b]);
        if (h.tokens.back() != kEos) {
          EXPECT_EQ(int64_t(h.tokens.size()), max_lengths[b]);
        }
      }
    }
  }
  ToyDecoder d({1}, V, S);
  o.max_length = 0;
  const auto none = beam_search(d, 1, o);
  EXPECT_EQ(d.steps, 0);
  EXPECT_TRUE(none[0][0].tokens.empty());
}

TEST(Search, NoEosBeforeMinLength) {
  const int64_t V = 5, S = 2;
  SearchOptions o;
  o.beam_size = 4;
  o.n_best = 4;
  o.max_length = 8;
  o.min_length = 3;
  for (bool greedy : {false, true}) {
    ToyDecoder d({5, 6, 7}, V, S, 6.0);  // eos is by far the likeliest token at every step
    const auto res = greedy ? greedy_search(d, 3, o) : beam_search(d, 3, o);
    for (const auto& row : res)
      for (const auto& h : row) {
        for (size_t t = 0; t < h.tokens.size() && t < size_t(o.min_length); ++t) EXPECT_NE(h.tokens[t], kEos);
        EXPECT_EQ(h.tokens.back(), kEos);  // and it is taken as soon as it is allowed
        EXPECT_EQ(int64_t(h.tokens.size()), o.min_length + 1);
      }
  }
}

TEST(Search, RowsFinishIndependentlyAndAreDropped) {
  // Row 0 is forced to finish immediately (max_length 1); afterwards the decoder holds only row 1's beams.
  SearchOptions o;
  o.beam_size = 3;
  ToyDecoder d({1, 2}, 5, 2, -5.0);
  const auto res = beam_search(d, std::vector<int64_t>{1, 5}, o);
  EXPECT_EQ(res[0][0].tokens.size(), 1u);
  EXPECT_EQ(d.max_rows, 6);  // 2 rows x 3 beams at the first step
  EXPECT_EQ(d.steps, 5);
}

TEST(Search, BadArgumentsThrow) {
  ToyDecoder d({1}, 5, 2);
  SearchOptions o;
  o.beam_size = 2;
  o.n_best = 3;
  testing::expect_error([&] { beam_search(d, 1, o); }, {"n_best", "3"});
  o.n_best = 1;
  o.eos = 5;
  testing::expect_error([&] { beam_search(d, 1, o); }, {"eos 5", "5 tokens"});
  o.eos = kEos;
  o.beam_size = 0;
  testing::expect_error([&] { beam_search(d, 1, o); }, {"beam_size"});
  testing::expect_error([&] { greedy_search(d, std::vector<int64_t>{-1}, o); }, {"max_length", "-1"});

  struct BadDecoder : IncrementalDecoder {
    DecodeStep step(const Tensor& tokens) override { return {zeros({tokens.numel() + 1, 4}), Tensor()}; }
    void reorder(const Tensor&) override {}
  } bad;
  testing::expect_error([&] { greedy_search(bad, 2, SearchOptions{}); }, {"log_probs [2, V]", "[3, 4]"});
}

// A confident model whose likely translation is long: at every step the likely token has p = 0.99
// and eos the rest, so short hypotheses keep ranking among the K best candidates. Stopping at the
// first K finished (fairseq's rule) would return one of them (log-prob about -4.6); the search must
// go on while the live beam still scores better, and return the greedy path (log-prob 8 log 0.99).
TEST(BeamSearch, ShortHypothesesDoNotEndTheSearchEarly) {
  struct Confident : IncrementalDecoder {
    int64_t t = 0;
    DecodeStep step(const Tensor& tokens) override {
      const int64_t N = tokens.numel();
      std::vector<float> lp(size_t(N * 4), -1e9f);
      for (int64_t n = 0; n < N; ++n) {
        const bool done = t >= 8;  // after 8 tokens the model wants eos
        lp[size_t(n * 4 + 3)] = done ? std::log(0.01f) : std::log(0.99f);
        lp[size_t(n * 4 + kEos)] = done ? std::log(0.99f) : std::log(0.01f);
      }
      ++t;
      return {tensor<float>(lp, {N, 4}), Tensor()};
    }
    void reorder(const Tensor&) override {}
  } d;
  SearchOptions o;
  o.beam_size = 3;
  o.max_length = 20;
  const auto best = beam_search(d, 1, o)[0][0];
  EXPECT_EQ(best.tokens, (std::vector<int64_t>{3, 3, 3, 3, 3, 3, 3, 3, kEos}));
  EXPECT_NEAR(best.log_prob, 9 * double(std::log(0.99f)), 1e-6);
}

TEST(Search, NoAttentionGivesUndefinedAttention) {
  ToyDecoder d({1, 2}, 5, 0);
  SearchOptions o;
  o.beam_size = 2;
  o.max_length = 4;
  for (const auto& row : beam_search(d, 2, o))
    for (const auto& h : row) EXPECT_FALSE(h.attention.defined());
}

}  // namespace
}  // namespace attn::models
