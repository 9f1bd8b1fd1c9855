// Splits, encoding and bucketed batches of attn/data/batching.h.
#include "attn/data/batching.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"
#include "attn/core/random.h"

namespace attn::data {

namespace {

std::vector<int64_t> permutation(int64_t n, Generator& gen) {
  return n == 0 ? std::vector<int64_t>{} : to_int64_vector(randperm(n, &gen));
}

// A distinct Philox key per (seed, epoch) (splitmix64 finaliser), so epochs do not share streams.
uint64_t epoch_key(uint64_t seed, int64_t epoch) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t(epoch) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<SentencePair> pick(const std::vector<SentencePair>& pairs, const std::vector<int64_t>& idx) {
  std::vector<SentencePair> out;
  out.reserve(idx.size());
  for (const int64_t i : idx) out.push_back(pairs[size_t(i)]);
  return out;
}

}  // namespace

SplitIndices split_indices(int64_t n, const SplitOptions& o) {
  ATTN_CHECK(n >= 0, "split_indices: n must be >= 0, got ", n);
  ATTN_CHECK(o.valid_fraction >= 0 && o.valid_fraction <= 1 && o.test_fraction >= 0 && o.test_fraction <= 1 &&
                 o.valid_fraction + o.test_fraction <= 1,
             "split_indices: fractions must lie in [0, 1] and sum to at most 1, got valid ", o.valid_fraction,
             " and test ", o.test_fraction);
  Generator gen(o.seed);
  const std::vector<int64_t> perm = permutation(n, gen);
  const auto n_valid = int64_t(std::llround(double(n) * o.valid_fraction));
  const auto n_test = std::min(n - n_valid, int64_t(std::llround(double(n) * o.test_fraction)));
  SplitIndices s;
  s.valid.assign(perm.begin(), perm.begin() + n_valid);
  s.test.assign(perm.begin() + n_valid, perm.begin() + n_valid + n_test);
  s.train.assign(perm.begin() + n_valid + n_test, perm.end());
  for (auto* v : {&s.train, &s.valid, &s.test}) std::sort(v->begin(), v->end());
  return s;
}

CorpusSplits split_corpus(const std::vector<SentencePair>& pairs, const SplitOptions& o) {
  const SplitIndices s = split_indices(int64_t(pairs.size()), o);
  return {pick(pairs, s.train), pick(pairs, s.valid), pick(pairs, s.test)};
}

CorpusSplits read_splits(const std::string& train_path, const std::string& valid_path, const std::string& test_path,
                         const ReadOptions& ro) {
  ATTN_CHECK(!train_path.empty(), "read_splits: a training file is required");
  CorpusSplits s;
  s.train = read_tatoeba(train_path, ro).pairs;
  if (!valid_path.empty()) s.valid = read_tatoeba(valid_path, ro).pairs;
  if (!test_path.empty()) s.test = read_tatoeba(test_path, ro).pairs;
  return s;
}

std::vector<EncodedPair> encode_pairs(const std::vector<SentencePair>& pairs, const Vocab& src_vocab,
                                      const Vocab& tgt_vocab, Tokenization src_tok, Tokenization tgt_tok) {
  std::vector<EncodedPair> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs)
    out.push_back({src_vocab.encode(tokenize(p.src, src_tok)), tgt_vocab.encode(tokenize(p.tgt, tgt_tok))});
  return out;
}

int64_t Batch::num_tgt_tokens() const {
  int64_t n = 0;
  for (const int64_t l : to_int64_vector(tgt_lens)) n += l;
  return n;
}

std::vector<std::vector<int64_t>> plan_batches(const std::vector<EncodedPair>& data, const BatchOptions& o,
                                               int64_t epoch) {
  ATTN_CHECK(o.max_sentences >= 0 && o.max_tokens >= 0 && o.bucket_size >= 0,
             "plan_batches: max_sentences, max_tokens and bucket_size must be >= 0 (0 = no limit), got ",
             o.max_sentences, ", ", o.max_tokens, ", ", o.bucket_size);
  ATTN_CHECK(epoch >= 0, "plan_batches: epoch must be >= 0, got ", epoch);
  const auto n = int64_t(data.size());
  // Lengths as collated: the source with its optional <eos>, the target with <bos>/<eos>.
  auto src_len = [&](int64_t i) { return int64_t(data[size_t(i)].src.size()) + (o.src_eos ? 1 : 0); };
  auto tgt_len = [&](int64_t i) { return int64_t(data[size_t(i)].tgt.size()) + 1; };

  Generator gen(epoch_key(o.seed, epoch));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  if (o.shuffle) order = permutation(n, gen);

  const int64_t bucket = o.bucket_size > 0 ? o.bucket_size : o.max_sentences > 0 ? 100 * o.max_sentences : n;
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b0 = 0; b0 < n; b0 += std::max<int64_t>(bucket, 1)) {
    const auto first = order.begin() + b0, last = order.begin() + std::min(n, b0 + std::max<int64_t>(bucket, 1));
    // Longest first (what pack_padded_sequence(enforce_sorted=True) wants); stable, so ties keep
    // the shuffled order and differ between epochs.
    std::stable_sort(first, last, [&](int64_t a, int64_t b) {
      return src_len(a) != src_len(b) ? src_len(a) > src_len(b) : tgt_len(a) > tgt_len(b);
    });
    std::vector<int64_t> cur;
    int64_t width = 0;  // max(S, T) of `cur`
    for (auto it = first; it != last; ++it) {
      const int64_t w = std::max({width, src_len(*it), tgt_len(*it)});
      const bool fits = (o.max_sentences == 0 || int64_t(cur.size()) + 1 <= o.max_sentences) &&
                        (o.max_tokens == 0 || (int64_t(cur.size()) + 1) * w <= o.max_tokens);
      if (!fits && !cur.empty()) {
        batches.push_back(std::move(cur));
        cur.clear();
        width = 0;
      }
      cur.push_back(*it);
      width = std::max({width, src_len(*it), tgt_len(*it)});
    }
    if (!cur.empty()) batches.push_back(std::move(cur));
  }
  if (o.shuffle && batches.size() > 1) {
    const std::vector<int64_t> perm = permutation(int64_t(batches.size()), gen);
    std::vector<std::vector<int64_t>> shuffled;
    shuffled.reserve(batches.size());
    for (const int64_t p : perm) shuffled.push_back(std::move(batches[size_t(p)]));
    batches = std::move(shuffled);
  }
  return batches;
}

Batch collate(const std::vector<EncodedPair>& data, const std::vector<int64_t>& indices, const BatchOptions& o) {
  const auto B = int64_t(indices.size());
  int64_t S = 0, T = 0;
  for (const int64_t i : indices) {
    ATTN_CHECK(i >= 0 && i < int64_t(data.size()), "collate: pair index ", i, " out of range [0, ", data.size(), ")");
    S = std::max(S, int64_t(data[size_t(i)].src.size()) + (o.src_eos ? 1 : 0));
    T = std::max(T, int64_t(data[size_t(i)].tgt.size()) + 1);
  }
  Batch b;
  b.indices = indices;
  b.src = full({B, S}, double(Vocab::kPad), kInt64);
  b.tgt_in = full({B, T}, double(Vocab::kPad), kInt64);
  b.tgt_out = full({B, T}, double(Vocab::kPad), kInt64);
  b.src_lens = zeros({B}, kInt64);
  b.tgt_lens = zeros({B}, kInt64);
  b.src_padding_mask = ones({B, S}, kBool);
  b.tgt_padding_mask = ones({B, T}, kBool);
  int64_t *src = b.src.data_ptr<int64_t>(), *tin = b.tgt_in.data_ptr<int64_t>(), *tout = b.tgt_out.data_ptr<int64_t>();
  int64_t *sl = b.src_lens.data_ptr<int64_t>(), *tl = b.tgt_lens.data_ptr<int64_t>();
  bool *sm = b.src_padding_mask.data_ptr<bool>(), *tm = b.tgt_padding_mask.data_ptr<bool>();
  for (int64_t r = 0; r < B; ++r) {
    const EncodedPair& p = data[size_t(indices[size_t(r)])];
    const auto m = int64_t(p.src.size()), n = int64_t(p.tgt.size());
    for (int64_t j = 0; j < m; ++j) src[r * S + j] = p.src[size_t(j)];
    if (o.src_eos) src[r * S + m] = Vocab::kEos;
    sl[r] = m + (o.src_eos ? 1 : 0);
    for (int64_t j = 0; j < sl[r]; ++j) sm[r * S + j] = false;
    tin[r * T] = Vocab::kBos;
    for (int64_t j = 0; j < n; ++j) {
      tin[r * T + j + 1] = p.tgt[size_t(j)];
      tout[r * T + j] = p.tgt[size_t(j)];
    }
    tout[r * T + n] = Vocab::kEos;
    tl[r] = n + 1;
    for (int64_t j = 0; j <= n; ++j) tm[r * T + j] = false;
  }
  return b;
}

std::vector<Batch> make_batches(const std::vector<EncodedPair>& data, const BatchOptions& o, int64_t epoch) {
  std::vector<Batch> out;
  for (const auto& idx : plan_batches(data, o, epoch)) out.push_back(collate(data, idx, o));
  return out;
}

}  // namespace attn::data
