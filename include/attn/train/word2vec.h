// Training word2vec (skip-gram or CBOW with negative sampling, models/word2vec.h) on tokenised
// sentences, and the trained vectors: nearest neighbours, analogies, the word2vec text format, and
// initialising a translator's embedding from them.
//
// The training recipe is word2vec.c's (Mikolov et al. 2013):
// * vocabulary: words seen at least min_count times; rarer words are dropped from the sentences
//   (not mapped to <unk>), as the C code drops them.
// * subsampling of frequent words, redrawn every epoch: a word of corpus frequency f = count / N
//   (N = the number of in-vocabulary tokens) is kept with probability
//       keep(f) = sqrt(t / f) + t / f        (capped at 1)
//   which is the formula word2vec.c implements ((sqrt(f/t) + 1) * t/f), not the paper's
//   1 - sqrt(t/f) discard probability. t = 0 keeps every word.
// * dynamic window: for each centre word a window b is drawn uniformly from 1..window, and the
//   b words on either side (within the sentence) are its context.
// * negative sampling: K noise words per example from the unigram distribution raised to 3/4,
//   P(w) ∝ count(w)^0.75, drawn with Walker's alias method (exact probabilities; word2vec.c uses a
//   1e8-entry table that approximates them). A noise word equal to the positive word is redrawn
//   (word2vec.c skips it).
// * learning rate: linear decay from lr to lr * 1e-4 over all epochs' tokens, as word2vec.c.
//   Examples are processed in mini-batches of batch_size; the SGD step is lr × the sum of the
//   examples' gradients (the model's loss is a batch mean, so the step uses lr × B), i.e. the same
//   per-example step size as the C code's one-example-at-a-time updates. The step touches only the
//   rows the batch used (every other row's gradient is exactly zero).
// Deterministic by seed: the sampling uses its own counter-free generator (splitmix64) in one
// thread; the tensor ops give the same bits for every thread count.
//
// What this is not: a port of word2vec.c's lock-free multi-threaded training, phrases, or
// hierarchical softmax.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/data/vocab.h"

namespace attn::train {

struct Word2VecOptions {
  std::string mode = "skipgram";  // "skipgram" | "cbow"
  int64_t dim = 100;
  int64_t window = 5;        // maximal window; the one used is drawn from 1..window per centre word
  int64_t negatives = 5;     // K
  double subsample = 1e-3;   // t; 0 disables subsampling
  int64_t min_count = 5;
  int64_t epochs = 5;
  double lr = 0;             // starting learning rate; 0: word2vec.c's default (0.025 skip-gram, 0.05 CBOW)
  int64_t batch_size = 512;  // examples (skip-gram pairs, CBOW windows) per SGD step
  uint64_t seed = 1;
  // attn kernel threads while training; 0: leave the current setting. The default is 1: a batch's
  // ops are small ([B, 1+K, D]), and splitting each over threads costs more than it saves.
  int threads = 1;
};

// Validates the options; throws attn::Error naming the bad one.
void check_word2vec_options(const Word2VecOptions& options);

// keep(f) = sqrt(t / f) + t / f for f = count / total, capped at 1 (see the file comment); 1 when
// t == 0 or count == 0.
double subsample_keep_probability(int64_t count, int64_t total, double t);

// The noise distribution: P(i) ∝ counts[i]^0.75 (0 for a zero count). Throws when all are zero.
std::vector<double> noise_distribution(const std::vector<int64_t>& counts);

// Walker's alias method: O(1) draws from a discrete distribution.
class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(const std::vector<double>& probabilities);  // normalised here; non-negative
  // The outcome for two independent uniforms in [0, 1).
  int64_t sample(double u_column, double u_coin) const;
  int64_t size() const { return int64_t(prob_.size()); }

 private:
  std::vector<double> prob_;
  std::vector<int64_t> alias_;
};

// splitmix64 (Steele, Lea and Flood 2014): the sampler's generator, the same bits everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1), 53 random bits
  int64_t below(int64_t n) { return int64_t(uniform() * double(n)); }  // [0, n)

 private:
  uint64_t state_;
};

// Word vectors: row i of `vectors` [V, D] (float32) is the vector of words[i]. Queries use cosine
// similarity on unit-normalised rows (a zero row has similarity 0 to everything).
class KeyedVectors {
 public:
  KeyedVectors() = default;
  // Throws attn::Error when vectors is not [words.size(), D] floating point, or a word is empty,
  // contains whitespace or appears twice.
  KeyedVectors(std::vector<std::string> words, const Tensor& vectors);

  int64_t size() const { return int64_t(words_.size()); }
  int64_t dim() const { return vectors_.defined() ? vectors_.size(1) : 0; }
  const std::vector<std::string>& words() const { return words_; }
  const Tensor& vectors() const { return vectors_; }  // float32 [V, D]
  bool contains(std::string_view word) const { return index(word) >= 0; }
  int64_t index(std::string_view word) const;  // -1 when absent
  Tensor vector(std::string_view word) const;  // [D]; throws when absent

  using Scored = std::vector<std::pair<std::string, double>>;  // (word, cosine), best first
  // The k words most similar to `word` (itself excluded). Throws when the word is absent.
  Scored most_similar(const std::string& word, int64_t k = 10) const;
  // "a is to b as c is to ?": 3CosAdd (Mikolov et al. 2013c), the k words d maximising
  // cos(d, b̂ - â + ĉ) over unit vectors, a, b and c excluded. Throws when a word is absent.
  Scored analogy(const std::string& a, const std::string& b, const std::string& c, int64_t k = 1) const;
  // The k words nearest to an arbitrary query vector [D], none excluded.
  Scored nearest(const Tensor& query, int64_t k, const std::vector<int64_t>& exclude = {}) const;

  // word2vec text format: a first line "V D", then V lines "word x_1 ... x_D" (space-separated,
  // %.9g so float32 values survive the round trip).
  void save(const std::string& path) const;
  // Reads the text format (CRLF endings and trailing spaces accepted). Throws attn::Error naming
  // the file, the line and the problem: a bad header, a line with the wrong number of values, a
  // value that is not a finite number, a duplicate word, fewer or more lines than the header says.
  static KeyedVectors load(const std::string& path);

 private:
  std::vector<std::string> words_;
  Tensor vectors_;                   // [V, D] float32
  std::vector<float> unit_;          // rows normalised to length 1 (zero rows stay zero), V * D
  std::unordered_map<std::string, int64_t> index_;
};

struct Word2VecStats {
  int64_t vocab_size = 0;       // words kept (min_count), specials not included
  int64_t corpus_tokens = 0;    // in-vocabulary tokens per epoch, before subsampling
  int64_t trained_tokens = 0;   // tokens kept by subsampling, summed over epochs
  int64_t examples = 0;         // skip-gram pairs or CBOW windows, summed over epochs
  double seconds = 0;
  double tokens_per_second = 0;  // corpus_tokens * epochs / seconds (word2vec.c's words/sec)
  double final_loss = 0;         // mean loss over the last epoch's batches
  std::vector<double> epoch_loss;
};

struct Word2VecResult {
  KeyedVectors vectors;  // the input embeddings, most frequent word first
  data::Vocab vocab;     // the vocabulary trained on (specials at 0..3, counts kept)
  Word2VecStats stats;
};

// Progress after each batch: fraction of all epochs done, the current learning rate and batch loss.
using Word2VecProgress = std::function<void(double done, double lr, double loss)>;

// Trains on `sentences` (each a vector of tokens). Throws attn::Error when no word reaches
// min_count or when the corpus gives no training example.
Word2VecResult train_word2vec(const std::vector<std::vector<std::string>>& sentences, const Word2VecOptions& options,
                              const Word2VecProgress& progress = nullptr);

// Initial embedding weights for `vocab` from trained vectors: [vocab.size(), dim] float32 whose
// row i is vectors.vector(vocab.token(i)) when the word has a vector, and otherwise an N(0, 1)
// draw from `gen` (nn::Embedding's default initialisation), with row `padding_idx` (when >= 0)
// zero as nn::Embedding keeps it. Throws when dim != vectors.dim().
struct PretrainedEmbeddings {
  Tensor weight;      // [V, D]
  int64_t found = 0;  // rows taken from the vectors (specials are looked up like any word)
};
PretrainedEmbeddings load_pretrained_embeddings(const data::Vocab& vocab, const KeyedVectors& vectors, int64_t dim,
                                                Generator* gen = nullptr, int64_t padding_idx = data::Vocab::kPad);

}  // namespace attn::train
