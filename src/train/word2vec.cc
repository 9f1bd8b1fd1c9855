// word2vec training loop (subsampling, dynamic window, alias-method negative sampling, linearly
// decaying SGD) and KeyedVectors (cosine queries, the word2vec text format).
#include "attn/train/word2vec.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/kernels/config.h"
#include "attn/models/word2vec.h"
#include "thread_scope.h"

namespace attn::train {

// --- options and the two distributions ---------------------------------------------------------

void check_word2vec_options(const Word2VecOptions& o) {
  ATTN_CHECK(o.mode == "skipgram" || o.mode == "cbow", "word2vec: mode must be 'skipgram' or 'cbow', got '", o.mode,
             "'");
  ATTN_CHECK(o.dim > 0, "word2vec: dim must be positive, got ", o.dim);
  ATTN_CHECK(o.window > 0, "word2vec: window must be positive, got ", o.window);
  ATTN_CHECK(o.negatives > 0, "word2vec: negatives must be positive, got ", o.negatives);
  ATTN_CHECK(o.subsample >= 0 && std::isfinite(o.subsample), "word2vec: subsample must be >= 0, got ", o.subsample);
  ATTN_CHECK(o.min_count >= 1, "word2vec: min_count must be >= 1, got ", o.min_count);
  ATTN_CHECK(o.epochs >= 1, "word2vec: epochs must be >= 1, got ", o.epochs);
  ATTN_CHECK(o.lr >= 0 && std::isfinite(o.lr), "word2vec: lr must be >= 0 (0: the mode's default), got ", o.lr);
  ATTN_CHECK(o.batch_size >= 1, "word2vec: batch_size must be >= 1, got ", o.batch_size);
  ATTN_CHECK(o.threads >= 0, "word2vec: threads must be >= 0, got ", o.threads);
}

double subsample_keep_probability(int64_t count, int64_t total, double t) {
  if (t <= 0 || count <= 0 || total <= 0) return 1.0;
  const double ratio = t / (double(count) / double(total));  // t / f
  return std::min(1.0, std::sqrt(ratio) + ratio);
}

std::vector<double> noise_distribution(const std::vector<int64_t>& counts) {
  std::vector<double> p(counts.size(), 0.0);
  double z = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    ATTN_CHECK(counts[i] >= 0, "noise_distribution: count ", i, " is negative (", counts[i], ")");
    p[i] = counts[i] > 0 ? std::pow(double(counts[i]), 0.75) : 0.0;
    z += p[i];
  }
  ATTN_CHECK(z > 0, "noise_distribution: every count is zero");
  for (double& x : p) x /= z;
  return p;
}

AliasTable::AliasTable(const std::vector<double>& probabilities) {
  const int64_t n = int64_t(probabilities.size());
  ATTN_CHECK(n > 0, "AliasTable: no outcome");
  double z = 0;
  for (double p : probabilities) {
    ATTN_CHECK(p >= 0 && std::isfinite(p), "AliasTable: probabilities must be finite and >= 0, got ", p);
    z += p;
  }
  ATTN_CHECK(z > 0, "AliasTable: probabilities sum to zero");
  // Vose's construction: scale to mean 1, pair each short column with a tall one.
  prob_.assign(n, 1.0);
  alias_.resize(n);
  std::iota(alias_.begin(), alias_.end(), 0);
  std::vector<double> scaled(n);
  std::vector<int64_t> small, large;
  for (int64_t i = 0; i < n; ++i) {
    scaled[i] = probabilities[i] * double(n) / z;
    (scaled[i] < 1.0 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const int64_t s = small.back(), l = large.back();
    small.pop_back();
    prob_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] = (scaled[l] + scaled[s]) - 1.0;
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left has probability 1 up to rounding.
  for (int64_t i : small) prob_[i] = 1.0;
  for (int64_t i : large) prob_[i] = 1.0;
}

int64_t AliasTable::sample(double u_column, double u_coin) const {
  const int64_t n = int64_t(prob_.size());
  const int64_t i = std::min<int64_t>(int64_t(u_column * double(n)), n - 1);
  return u_coin < prob_[i] ? i : alias_[i];
}

// --- training ----------------------------------------------------------------------------------

namespace {

using internal::ThreadScope;

// One mini-batch being filled: skip-gram pairs (center, positive) or CBOW windows (window, mask,
// center = positive).
struct Batch {
  std::vector<int64_t> centers, positives, windows, negatives;
  std::vector<float> mask;
  int64_t size = 0;
  void clear() {
    centers.clear();
    positives.clear();
    windows.clear();
    negatives.clear();
    mask.clear();
    size = 0;
  }
};

}  // namespace

Word2VecResult train_word2vec(const std::vector<std::vector<std::string>>& sentences, const Word2VecOptions& opt,
                              const Word2VecProgress& progress) {
  check_word2vec_options(opt);
  const bool cbow = opt.mode == "cbow";
  const double lr0 = opt.lr > 0 ? opt.lr : (cbow ? 0.05 : 0.025);
  const int64_t W = opt.window, K = opt.negatives, D = opt.dim;
  ThreadScope threads(opt.threads);

  Word2VecResult result;
  result.vocab = data::Vocab::build(sentences, opt.min_count);
  const data::Vocab& vocab = result.vocab;
  const int64_t V = vocab.size();
  ATTN_CHECK(V > data::Vocab::kNumSpecials, "word2vec: no word occurs at least min_count = ", opt.min_count,
             " times in ", sentences.size(), " sentences; lower min_count or give more text");

  // Sentences as ids, out-of-vocabulary words dropped (word2vec.c drops them too).
  std::vector<std::vector<int64_t>> corpus;
  corpus.reserve(sentences.size());
  int64_t N = 0;
  for (const auto& s : sentences) {
    std::vector<int64_t> ids;
    ids.reserve(s.size());
    for (const auto& tok : s) {
      const int64_t id = vocab.id(tok);
      if (id >= data::Vocab::kNumSpecials) ids.push_back(id);
    }
    N += int64_t(ids.size());
    if (ids.size() >= 2) corpus.push_back(std::move(ids));  // one word has no context
  }
  std::vector<int64_t> counts(V);
  std::vector<double> keep(V);
  for (int64_t i = 0; i < V; ++i) {
    counts[i] = vocab.count(i);
    keep[i] = subsample_keep_probability(counts[i], N, opt.subsample);
  }
  const AliasTable noise(noise_distribution(counts));
  int64_t noise_support = 0;  // redrawing a noise word equal to the positive needs another word
  for (int64_t c : counts) noise_support += c > 0;

  Generator gen(opt.seed);
  SplitMix64 rng(opt.seed ^ 0x77327665637ull);
  std::shared_ptr<models::SkipGram> sg;
  std::shared_ptr<models::CBOW> cb;
  std::vector<Tensor> params;
  if (cbow) {
    cb = std::make_shared<models::CBOW>(V, D, kFloat32, &gen);
    params = cb->parameters();
  } else {
    sg = std::make_shared<models::SkipGram>(V, D, kFloat32, &gen);
    params = sg->parameters();
  }
  // Plain SGD restricted to the rows a batch touches: the other rows' gradients are exactly zero,
  // so this equals optim::SGD's dense step at a fraction of the memory traffic.
  std::vector<uint8_t> touched(size_t(V), 0);
  std::vector<int64_t> rows;
  auto sgd_step = [&](double lr) {
    NoGradGuard ng;
    for (const Tensor& p : params) {
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      float* w = p.data_ptr<float>();
      const float* d = g.contiguous().data_ptr<float>();
      const float step = float(lr);
      for (int64_t r : rows)
        for (int64_t j = 0; j < D; ++j) w[r * D + j] -= step * d[r * D + j];
    }
  };

  Word2VecStats& st = result.stats;
  st.vocab_size = V - data::Vocab::kNumSpecials;
  st.corpus_tokens = N;
  const double total_work = double(opt.epochs) * double(N) + 1.0;
  int64_t processed = 0;  // tokens read so far (before subsampling), for the learning rate
  double epoch_loss_sum = 0;
  int64_t epoch_batches = 0;

  Batch batch;
  auto draw_negatives = [&](int64_t positive) {
    for (int64_t k = 0; k < K; ++k) {
      int64_t w = noise.sample(rng.uniform(), rng.uniform());
      for (int tries = 0; w == positive && noise_support > 1 && tries < 64; ++tries)
        w = noise.sample(rng.uniform(), rng.uniform());
      batch.negatives.push_back(w);
    }
  };
  auto flush = [&]() {
    if (batch.size == 0) return;
    const int64_t B = batch.size;
    const double lr = lr0 * std::max(1e-4, 1.0 - double(processed) / total_work);
    for (auto* ids : {&batch.centers, &batch.positives, &batch.windows, &batch.negatives})
      for (int64_t id : *ids)
        if (!touched[size_t(id)]) touched[size_t(id)] = 1, rows.push_back(id);
    std::sort(rows.begin(), rows.end());
    for (Tensor& p : params) p.set_grad(Tensor());
    const Tensor negs = tensor<int64_t>(batch.negatives, {B, K});
    Tensor loss;
    if (cbow) {
      loss = cb->forward(tensor<int64_t>(batch.windows, {B, 2 * W}), tensor<float>(batch.mask, {B, 2 * W}),
                         tensor<int64_t>(batch.centers, {B}), negs);
    } else {
      loss = sg->forward(tensor<int64_t>(batch.centers, {B}), tensor<int64_t>(batch.positives, {B}), negs);
    }
    loss.backward();
    sgd_step(lr * double(B));  // the loss is a batch mean: lr * B gives each example the step lr
    for (int64_t r : rows) touched[size_t(r)] = 0;
    rows.clear();
    const double l = loss.item();
    epoch_loss_sum += l;
    ++epoch_batches;
    st.examples += B;
    if (progress) progress(double(processed) / total_work, lr, l);
    batch.clear();
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> kept;
  for (int64_t epoch = 0; epoch < opt.epochs; ++epoch) {
    epoch_loss_sum = 0;
    epoch_batches = 0;
    for (const auto& sentence : corpus) {
      kept.clear();
      for (int64_t id : sentence)
        if (keep[id] >= 1.0 || rng.uniform() < keep[id]) kept.push_back(id);
      processed += int64_t(sentence.size());
      st.trained_tokens += int64_t(kept.size());
      const int64_t n = int64_t(kept.size());
      for (int64_t i = 0; i < n; ++i) {
        const int64_t b = W - rng.below(W);  // the reduced window, uniform in 1..W
        const int64_t lo = std::max<int64_t>(0, i - b), hi = std::min<int64_t>(n - 1, i + b);
        if (hi == lo) continue;  // no context word
        if (cbow) {
          int64_t slot = 0;
          for (int64_t j = lo; j <= hi; ++j) {
            if (j == i) continue;
            batch.windows.push_back(kept[j]);
            batch.mask.push_back(1.0f);
            ++slot;
          }
          for (; slot < 2 * W; ++slot) {
            batch.windows.push_back(data::Vocab::kPad);
            batch.mask.push_back(0.0f);
          }
          batch.centers.push_back(kept[i]);
          draw_negatives(kept[i]);
          if (++batch.size == opt.batch_size) flush();
        } else {
          for (int64_t j = lo; j <= hi; ++j) {
            if (j == i) continue;
            batch.centers.push_back(kept[i]);
            batch.positives.push_back(kept[j]);
            draw_negatives(kept[j]);
            if (++batch.size == opt.batch_size) flush();
          }
        }
      }
    }
    flush();
    st.epoch_loss.push_back(epoch_batches > 0 ? epoch_loss_sum / double(epoch_batches) : 0.0);
  }
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ATTN_CHECK(st.examples > 0, "word2vec: the corpus gives no training example (every sentence has fewer than two ",
             "in-vocabulary words after subsampling); give more text or lower min_count");
  st.tokens_per_second = st.seconds > 0 ? double(N) * double(opt.epochs) / st.seconds : 0.0;
  st.final_loss = st.epoch_loss.back();

  const Tensor w = (cbow ? cb->in_embed->weight : sg->in_embed->weight).detach();
  std::vector<std::string> words(vocab.tokens().begin() + data::Vocab::kNumSpecials, vocab.tokens().end());
  result.vectors = KeyedVectors(std::move(words), w.narrow(0, data::Vocab::kNumSpecials, st.vocab_size).clone());
  return result;
}

// --- KeyedVectors ------------------------------------------------------------------------------

namespace {
bool has_space(const std::string& w) {
  for (unsigned char c : w)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return true;
  return false;
}
}  // namespace

KeyedVectors::KeyedVectors(std::vector<std::string> words, const Tensor& vectors) : words_(std::move(words)) {
  ATTN_CHECK(vectors.defined() && vectors.dim() == 2 && vectors.is_floating_point() &&
                 vectors.size(0) == int64_t(words_.size()),
             "KeyedVectors: vectors must be floating point [", words_.size(), ", D] (one row per word), got ",
             vectors.defined() ? vectors.describe() : std::string("an undefined tensor"));
  {
    NoGradGuard ng;
    vectors_ = vectors.detach().to(kFloat32).contiguous();
    if (vectors_.is_same(vectors)) vectors_ = vectors_.clone();  // own the values
  }
  index_.reserve(words_.size());
  for (size_t i = 0; i < words_.size(); ++i) {
    ATTN_CHECK(!words_[i].empty(), "KeyedVectors: word ", i, " is empty");
    ATTN_CHECK(!has_space(words_[i]), "KeyedVectors: word ", i, " ('", words_[i], "') contains whitespace");
    ATTN_CHECK(index_.emplace(words_[i], int64_t(i)).second, "KeyedVectors: word '", words_[i], "' appears twice (rows ",
               index_[words_[i]], " and ", i, ")");
  }
  const int64_t V = size(), D = dim();
  const float* x = vectors_.data_ptr<float>();
  unit_.assign(size_t(V * D), 0.0f);
  for (int64_t i = 0; i < V; ++i) {
    double n2 = 0;
    for (int64_t d = 0; d < D; ++d) n2 += double(x[i * D + d]) * double(x[i * D + d]);
    const double inv = n2 > 0 ? 1.0 / std::sqrt(n2) : 0.0;
    for (int64_t d = 0; d < D; ++d) unit_[size_t(i * D + d)] = float(double(x[i * D + d]) * inv);
  }
}

int64_t KeyedVectors::index(std::string_view word) const {
  auto it = index_.find(std::string(word));
  return it == index_.end() ? -1 : it->second;
}

Tensor KeyedVectors::vector(std::string_view word) const {
  const int64_t i = index(word);
  ATTN_CHECK(i >= 0, "KeyedVectors: '", word, "' is not in the vocabulary (", size(), " words)");
  return vectors_.select(0, i).clone();
}

KeyedVectors::Scored KeyedVectors::nearest(const Tensor& query, int64_t k, const std::vector<int64_t>& exclude) const {
  const int64_t V = size(), D = dim();
  ATTN_CHECK(query.defined() && query.numel() == D, "KeyedVectors::nearest: query must have ", D, " values, got ",
             query.defined() ? query.describe() : std::string("an undefined tensor"));
  ATTN_CHECK(k >= 0, "KeyedVectors::nearest: k must be >= 0, got ", k);
  const std::vector<double> q = to_double_vector(query.contiguous());
  double n2 = 0;
  for (double v : q) n2 += v * v;
  const double inv = n2 > 0 ? 1.0 / std::sqrt(n2) : 0.0;
  std::vector<std::pair<double, int64_t>> scored;
  scored.reserve(size_t(V));
  for (int64_t i = 0; i < V; ++i) {
    if (std::find(exclude.begin(), exclude.end(), i) != exclude.end()) continue;
    double s = 0;
    const float* u = unit_.data() + i * D;
    for (int64_t d = 0; d < D; ++d) s += double(u[d]) * q[size_t(d)];
    scored.emplace_back(s * inv, i);
  }
  const size_t n = std::min(size_t(k), scored.size());
  // Highest similarity first; ties by row (i.e. the more frequent word first).
  std::partial_sort(scored.begin(), scored.begin() + n, scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  Scored out;
  for (size_t i = 0; i < n; ++i) out.emplace_back(words_[size_t(scored[i].second)], scored[i].first);
  return out;
}

KeyedVectors::Scored KeyedVectors::most_similar(const std::string& word, int64_t k) const {
  const int64_t i = index(word);
  ATTN_CHECK(i >= 0, "most_similar: '", word, "' is not in the vocabulary (", size(), " words)");
  const Tensor q = tensor<float>(std::vector<float>(unit_.begin() + i * dim(), unit_.begin() + (i + 1) * dim()));
  return nearest(q, k, {i});
}

KeyedVectors::Scored KeyedVectors::analogy(const std::string& a, const std::string& b, const std::string& c,
                                           int64_t k) const {
  const int64_t ia = index(a), ib = index(b), ic = index(c);
  for (const auto& [w, i] : {std::pair{&a, ia}, std::pair{&b, ib}, std::pair{&c, ic}})
    ATTN_CHECK(i >= 0, "analogy: '", *w, "' is not in the vocabulary (", size(), " words)");
  const int64_t D = dim();
  std::vector<float> q(static_cast<size_t>(D), 0.0f);
  for (int64_t d = 0; d < D; ++d)
    q[size_t(d)] = unit_[size_t(ib * D + d)] - unit_[size_t(ia * D + d)] + unit_[size_t(ic * D + d)];
  return nearest(tensor<float>(q), k, {ia, ib, ic});
}

void KeyedVectors::save(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  ATTN_CHECK(f != nullptr, "KeyedVectors::save: cannot open '", path, "' for writing");
  const int64_t V = size(), D = dim();
  const float* x = V > 0 ? vectors_.data_ptr<float>() : nullptr;
  bool ok = std::fprintf(f.get(), "%lld %lld\n", (long long)V, (long long)D) > 0;
  for (int64_t i = 0; i < V && ok; ++i) {
    ok = std::fputs(words_[size_t(i)].c_str(), f.get()) >= 0;
    for (int64_t d = 0; d < D && ok; ++d) ok = std::fprintf(f.get(), " %.9g", double(x[i * D + d])) > 0;
    ok = ok && std::fputc('\n', f.get()) != EOF;
  }
  ok = ok && std::fflush(f.get()) == 0;
  ATTN_CHECK(ok, "KeyedVectors::save: writing '", path, "' failed (disk full or not writable?)");
}

namespace {
// Splits on spaces and tabs, dropping empty fields (trailing spaces, as word2vec.c writes them).
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}
bool parse_int(std::string_view s, int64_t& out) {
  const std::string t(s);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || errno != 0) return false;
  out = v;
  return true;
}
}  // namespace

KeyedVectors KeyedVectors::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.good(), "word2vec vectors: cannot open '", path, "'");
  auto where = [&](int64_t line) { return detail::str_cat("word2vec vectors '", path, "' line ", line, ": "); };
  std::string line;
  ATTN_CHECK(static_cast<bool>(std::getline(in, line)), "word2vec vectors '", path,
             "': the file is empty (expected a first line \"<words> <dim>\")");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = fields_of(line);
  int64_t V = 0, D = 0;
  ATTN_CHECK(header.size() == 2 && parse_int(header[0], V) && parse_int(header[1], D) && V >= 0 && D > 0,
             where(1), "expected the header \"<words> <dim>\" (two integers, dim > 0), got \"", line.substr(0, 80),
             "\"; is this a word2vec text file (not the binary format)?");
  ATTN_CHECK(V <= (int64_t(1) << 31) && D <= (int64_t(1) << 20), where(1), "implausible size ", V, " x ", D);
  std::vector<std::string> words;
  words.reserve(size_t(V));
  std::vector<float> values;
  values.reserve(size_t(V * D));
  std::unordered_map<std::string, int64_t> seen;
  int64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto f = fields_of(line);
    if (f.empty()) continue;  // a blank line (e.g. at the end)
    ATTN_CHECK(int64_t(words.size()) < V, where(lineno), "more vectors than the ", V, " the header announces");
    ATTN_CHECK(int64_t(f.size()) == D + 1, where(lineno), "expected a word and ", D, " values, got ", f.size() - 1,
               " values");
    const std::string w(f[0]);
    ATTN_CHECK(seen.emplace(w, lineno).second, where(lineno), "the word '", w, "' appears twice (also line ",
               seen[w], ")");
    for (int64_t d = 1; d <= D; ++d) {
      const std::string t(f[size_t(d)]);
      char* end = nullptr;
      const float v = std::strtof(t.c_str(), &end);
      ATTN_CHECK(*end == '\0' && std::isfinite(v), where(lineno), "value ", d, " of '", w, "' (\"", t,
                 "\") is not a finite number");
      values.push_back(v);
    }
    words.push_back(w);
  }
  ATTN_CHECK(int64_t(words.size()) == V, "word2vec vectors '", path, "': the header announces ", V,
             " words but the file has ", words.size(), " (truncated?)");
  return KeyedVectors(std::move(words), tensor<float>(values, {V, D}));
}

// --- initialising an embedding -------------------------------------------------------------------

PretrainedEmbeddings load_pretrained_embeddings(const data::Vocab& vocab, const KeyedVectors& vectors, int64_t dim,
                                                Generator* gen, int64_t padding_idx) {
  ATTN_CHECK(dim == vectors.dim(), "load_pretrained_embeddings: the embedding dim ", dim,
             " differs from the vectors' dim ", vectors.dim(), "; train the vectors with --dim ", dim);
  ATTN_CHECK(padding_idx < vocab.size(), "load_pretrained_embeddings: padding_idx ", padding_idx,
             " is outside the vocabulary (", vocab.size(), " tokens)");
  PretrainedEmbeddings out;
  out.weight = randn({vocab.size(), dim}, kFloat32, gen);  // nn::Embedding's N(0, 1)
  float* w = out.weight.data_ptr<float>();
  const float* x = vectors.vectors().defined() ? vectors.vectors().data_ptr<float>() : nullptr;
  for (int64_t i = 0; i < vocab.size(); ++i) {
    if (i == padding_idx) {
      std::fill(w + i * dim, w + (i + 1) * dim, 0.0f);
      continue;
    }
    const int64_t r = vectors.index(vocab.token(i));
    if (r < 0) continue;
    std::copy(x + r * dim, x + (r + 1) * dim, w + i * dim);
    ++out.found;
  }
  return out;
}

}  // namespace attn::train
