// Sampling search (models/decoding.h sample_search / sampling_distribution): the filtered
// distribution on hand-computed cases, limits that turn it into greedy search (top_k = 1, a tiny
// top_p, a temperature near 0), empirical token frequencies of many seeded draws against the
// filtered and renormalised distribution (computed independently here), reproducibility by seed,
// min_length / max_length handling, and option errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "attn/models/decoding.h"
#include "test_util.h"

namespace attn::models {
namespace {

using attn::testing::expect_error;

constexpr int64_t kBos = 1, kEos = 2;

std::vector<double> logs(const std::vector<double>& p) {
  std::vector<double> l;
  for (double x : p) l.push_back(x > 0 ? std::log(x) : -INFINITY);
  return l;
}

// Every row and step: the same log-probabilities.
class FixedDecoder : public IncrementalDecoder {
 public:
  FixedDecoder(std::vector<double> log_probs, int64_t rows) : lp_(std::move(log_probs)), n_(rows) {}
  DecodeStep step(const Tensor& tokens) override {
    EXPECT_EQ(tokens.size(0), n_);
    ++steps;
    std::vector<double> all;
    for (int64_t r = 0; r < n_; ++r) all.insert(all.end(), lp_.begin(), lp_.end());
    return {tensor<double>(all, {n_, int64_t(lp_.size())}), Tensor()};
  }
  void reorder(const Tensor& idx) override { n_ = idx.size(0); }
  int steps = 0;

 private:
  std::vector<double> lp_;
  int64_t n_;
};

// log p(v | row, step, previous token) from a hashed table; rows follow reorder().
class MarkovDecoder : public IncrementalDecoder {
 public:
  MarkovDecoder(int64_t rows, int64_t V) : V_(V) {
    for (int64_t r = 0; r < rows; ++r) rows_.push_back(r);
  }
  DecodeStep step(const Tensor& tokens) override {
    const std::vector<int64_t> tok = to_int64_vector(tokens);
    std::vector<double> all;
    for (size_t i = 0; i < rows_.size(); ++i) {
      std::vector<double> z(static_cast<size_t>(V_));
      double mx = -1e300, s = 0;
      for (int64_t v = 0; v < V_; ++v) {
        uint64_t h = (uint64_t(rows_[i]) * 7919 + uint64_t(t_) * 104729 + uint64_t(tok[i]) * 131 + uint64_t(v)) *
                     0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        z[size_t(v)] = 3.0 * double(h % 10007) / 10007.0;
        mx = std::max(mx, z[size_t(v)]);
      }
      for (double x : z) s += std::exp(x - mx);
      for (double x : z) all.push_back(x - mx - std::log(s));
    }
    ++t_;
    return {tensor<double>(all, {int64_t(rows_.size()), V_}).to(kFloat32), Tensor()};
  }
  void reorder(const Tensor& idx) override {
    std::vector<int64_t> r;
    for (int64_t i : to_int64_vector(idx)) r.push_back(rows_[size_t(i)]);
    rows_ = r;
  }

 private:
  int64_t V_, t_ = 0;
  std::vector<int64_t> rows_;
};

void expect_equal_hyps(const std::vector<std::vector<Hypothesis>>& a, const std::vector<std::vector<Hypothesis>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size()) << "row " << r;
    for (size_t k = 0; k < a[r].size(); ++k) {
      EXPECT_EQ(a[r][k].tokens, b[r][k].tokens) << "row " << r;
      EXPECT_EQ(a[r][k].log_prob, b[r][k].log_prob) << "row " << r;
      EXPECT_EQ(a[r][k].score, b[r][k].score) << "row " << r;
    }
  }
}

TEST(Sampling, DistributionHandComputed) {
  const std::vector<double> l = logs({0.5, 0.25, 0.125, 0.125});
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << i;
  };
  near(sampling_distribution(l, {}), {0.5, 0.25, 0.125, 0.125});
  near(sampling_distribution(l, {1.0, 2, 1.0}), {2.0 / 3, 1.0 / 3, 0, 0});
  // Ties at the top-k boundary go to the lower token id.
  near(sampling_distribution(l, {1.0, 3, 1.0}), {0.5 / 0.875, 0.25 / 0.875, 0.125 / 0.875, 0});
  // top_p 0.6: 0.5 < 0.6, so the second token (crossing 0.6) is kept too; 0.5 exactly reaches 0.5.
  near(sampling_distribution(l, {1.0, 0, 0.6}), {2.0 / 3, 1.0 / 3, 0, 0});
  near(sampling_distribution(l, {1.0, 0, 0.5}), {1, 0, 0, 0});
  near(sampling_distribution(l, {1.0, 0, 0.8}), {0.5 / 0.875, 0.25 / 0.875, 0.125 / 0.875, 0});
  // Temperature 0.5 squares the probabilities: 0.25, 0.0625, 0.015625 x 2 (sum 0.34375).
  near(sampling_distribution(l, {0.5, 0, 1.0}), {0.25 / 0.34375, 0.0625 / 0.34375, 0.015625 / 0.34375, 0.015625 / 0.34375});
  // Top-p acts on the temperature-scaled, top-k-filtered distribution (HF's warper order):
  // T = 0.5, top_k 3 -> 0.25, 0.0625, 0.015625 (sum 0.328125); 0.25 / 0.328125 = 0.76 < 0.8.
  near(sampling_distribution(l, {0.5, 3, 0.8}), {0.25 / 0.3125, 0.0625 / 0.3125, 0, 0});
  // Forbidden tokens stay at 0; all forbidden gives all zeros.
  near(sampling_distribution(logs({0.0, 0.5, 0.0, 0.5}), {}), {0, 0.5, 0, 0.5});
  near(sampling_distribution(logs({0.0, 0.0}), {}), {0, 0});
}

TEST(Sampling, LimitsAreGreedy) {
  const SearchOptions o{1, 1.0, 8, 1, kBos, kEos, 2};  // beam_size ignored; min_length 2
  for (SamplingOptions so : {SamplingOptions{1.0, 1, 1.0}, SamplingOptions{1.0, 0, 1e-9}, SamplingOptions{1e-6, 0, 1.0},
                             SamplingOptions{2.0, 1, 0.3}}) {
    MarkovDecoder a(5, 9), b(5, 9);
    Generator gen(42);
    const auto greedy = greedy_search(b, 5, o);
    expect_equal_hyps(sample_search(a, 5, o, so, &gen), greedy);
    for (const auto& h : greedy) EXPECT_GE(h.at(0).tokens.size(), 2u);  // min_length respected
  }
}

TEST(Sampling, SeededAndReproducible) {
  SearchOptions o;
  o.max_length = 10;
  const SamplingOptions so{1.3, 6, 0.95};
  std::vector<std::vector<Hypothesis>> first;
  {
    MarkovDecoder d(16, 9);
    Generator gen(7);
    first = sample_search(d, 16, o, so, &gen);
  }
  {
    MarkovDecoder d(16, 9);
    Generator gen(7);
    expect_equal_hyps(sample_search(d, 16, o, so, &gen), first);
  }
  {  // the default generator, reseeded
    MarkovDecoder d1(16, 9), d2(16, 9);
    manual_seed(7);
    const auto x = sample_search(d1, 16, o, so);
    manual_seed(7);
    expect_equal_hyps(sample_search(d2, 16, o, so), x);
  }
  MarkovDecoder d(16, 9), g(16, 9);
  Generator other(8);
  const auto second = sample_search(d, 16, o, so, &other);
  int differ = 0;
  for (size_t r = 0; r < 16; ++r) differ += second[r].at(0).tokens != first[r].at(0).tokens;
  EXPECT_GT(differ, 4) << "two seeds should give different samples on most rows";
  const auto greedy = greedy_search(g, 16, o);
  int differ_greedy = 0;
  for (size_t r = 0; r < 16; ++r) differ_greedy += greedy[r].at(0).tokens != first[r].at(0).tokens;
  EXPECT_GT(differ_greedy, 4) << "sampling at temperature 1.3 should not be greedy";
  // The hypothesis scores are the model's (unfiltered) log-probabilities, length-normalised.
  for (const auto& row : first) {
    const Hypothesis& h = row.at(0);
    ASSERT_FALSE(h.tokens.empty());
    EXPECT_LE(int64_t(h.tokens.size()), o.max_length);
    EXPECT_EQ(h.tokens.back() == kEos || int64_t(h.tokens.size()) == o.max_length, true);
    EXPECT_NEAR(h.score, h.log_prob / double(h.tokens.size()), 1e-12);
  }
}

// Empirical frequencies of 20000 single-token samples against the expected filtered distribution,
// computed here from the definitions; Pearson's chi-square over the kept tokens stays below the
// 0.999 quantile of its distribution, and filtered tokens are never drawn.
void check_frequencies(const std::vector<double>& p, const SamplingOptions& so, const std::vector<double>& expected,
                       uint64_t seed) {
  const int64_t N = 20000;
  FixedDecoder d(logs(p), N);
  SearchOptions o;
  o.max_length = 1;
  o.eos = 5;  // a token like any other here
  Generator gen(seed);
  const auto h = sample_search(d, N, o, so, &gen);
  EXPECT_EQ(d.steps, 1);
  std::vector<double> count(p.size(), 0.0);
  for (const auto& row : h) count[size_t(row.at(0).tokens.at(0))] += 1;
  double chi2 = 0;
  int kept = 0;
  for (size_t v = 0; v < p.size(); ++v) {
    if (expected[v] == 0) {
      EXPECT_EQ(count[v], 0) << "token " << v << " was filtered out";
      continue;
    }
    ++kept;
    const double e = expected[v] * double(N);
    chi2 += (count[v] - e) * (count[v] - e) / e;
  }
  // 0.999 quantiles of chi-square with 1..5 degrees of freedom.
  const double q999[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52};
  EXPECT_LT(chi2, q999[kept - 1]) << "kept " << kept;
}

TEST(Sampling, EmpiricalFrequenciesMatchFilteredDistribution) {
  const std::vector<double> p = {0.05, 0.1, 0.3, 0.25, 0.2, 0.1};
  check_frequencies(p, {}, p, 1);
  // Temperature 0.7: p^(1/0.7) renormalised.
  std::vector<double> t(p.size());
  for (size_t i = 0; i < p.size(); ++i) t[i] = std::pow(p[i], 1 / 0.7);
  double z = std::accumulate(t.begin(), t.end(), 0.0);
  for (double& x : t) x /= z;
  check_frequencies(p, {0.7, 0, 1.0}, t, 2);
  // top_k 3 keeps tokens 2, 3, 4 (0.3, 0.25, 0.2) -> / 0.75.
  check_frequencies(p, {1.0, 3, 1.0}, {0, 0, 0.4, 0.25 / 0.75, 0.2 / 0.75, 0}, 3);
  // top_p 0.7: 0.3, 0.55, then 0.75 crosses 0.7 -> tokens 2, 3, 4; with top_k 2 first: 2, 3 (then
  // 0.3 / 0.55 = 0.545 < 0.7, so both stay).
  check_frequencies(p, {1.0, 0, 0.7}, {0, 0, 0.4, 0.25 / 0.75, 0.2 / 0.75, 0}, 4);
  check_frequencies(p, {1.0, 2, 0.7}, {0, 0, 0.3 / 0.55, 0.25 / 0.55, 0, 0}, 5);
}

TEST(Sampling, LengthsAndForbiddenRows) {
  // A row with max_length 0 gets one empty hypothesis and is never stepped; rows stop at their
  // own max_length.
  FixedDecoder d(logs({0.1, 0.3, 0.0, 0.6}), 3);  // eos (2) never drawn
  SearchOptions o;
  SamplingOptions so;
  Generator gen(1);
  const auto h = sample_search(d, std::vector<int64_t>{2, 0, 4}, o, so, &gen);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].at(0).tokens.size(), 2u);
  EXPECT_TRUE(h[1].at(0).tokens.empty());
  EXPECT_EQ(h[2].at(0).tokens.size(), 4u);
  // Every token forbidden (eos is the only token and min_length > 0): no hypothesis, as greedy.
  FixedDecoder only_eos(logs({0.0, 0.0, 1.0}), 2);
  SearchOptions m;
  m.min_length = 1;
  const auto none = sample_search(only_eos, 2, m, so, &gen);
  EXPECT_TRUE(none[0].empty() && none[1].empty());
}

TEST(Sampling, BadOptionsThrow) {
  FixedDecoder d(logs({0.5, 0.5, 0.0}), 1);
  SearchOptions o;
  expect_error([&] { sample_search(d, 1, o, {0.0, 0, 1.0}); }, {"temperature must be > 0", "got 0"});
  expect_error([&] { sample_search(d, 1, o, {-1.0, 0, 1.0}); }, {"temperature", "-1"});
  expect_error([&] { sample_search(d, 1, o, {NAN, 0, 1.0}); }, {"temperature", "nan"});
  expect_error([&] { sample_search(d, 1, o, {1.0, -2, 1.0}); }, {"top_k must be >= 0", "-2"});
  expect_error([&] { sample_search(d, 1, o, {1.0, 0, 0.0}); }, {"top_p must be in (0, 1]", "got 0"});
  expect_error([&] { sample_search(d, 1, o, {1.0, 0, 1.5}); }, {"top_p", "1.5"});
  expect_error([&] { sampling_distribution({0.0}, {1.0, 0, 2.0}); }, {"top_p", "2"});
  o.max_length = -1;
  expect_error([&] { sample_search(d, 1, o, {}); }, {"max_length", "-1"});
  EXPECT_EQ(d.steps, 0);
}

}  // namespace
}  // namespace attn::models
