// Train/valid/test splits and padded, length-bucketed batches for sequence-to-sequence training.
//
// Splits: a seeded permutation (attn::randperm on a Philox Generator) of the pair indices, cut by
// fractions -- the same seed gives the same split on every machine. Or read three explicit files.
//
// Batches follow fairseq / Marian practice: pairs are shuffled (per epoch, by seed), cut into
// buckets of `bucket_size` pairs, each bucket is sorted by (source length, target length) so
// similar lengths share a batch and padding stays small, batches are cut greedily under
// `max_sentences` and/or `max_tokens` (padded tokens, B * max(S, T)), and the batch order is
// shuffled. Same data, options and epoch -> the same batches, bit for bit.
//
// A Batch holds teacher-forcing inputs and targets (for y = y_1..y_n, ids without specials):
//   src      int64 [B, S]  x_1..x_m <eos>, then <pad>=0      (<eos> only when src_eos)
//   tgt_in   int64 [B, T]  <bos> y_1..y_n, then <pad>         (decoder input)
//   tgt_out  int64 [B, T]  y_1..y_n <eos>, then <pad>         (what the decoder must predict)
//   src_lens / tgt_lens  int64 [B]  (tgt_lens = n + 1)
//   src_padding_mask / tgt_padding_mask  bool [B, S] / [B, T], True at padding: PyTorch's
//   key_padding_mask polarity, ready for attention; the loss is
//   cross_entropy(logits [B*T, V], tgt_out [B*T], ignore_index = Vocab::kPad).
//
// Typical epoch:
//   auto data = encode_pairs(split.train, src_vocab, tgt_vocab);
//   for (int64_t epoch = 0; epoch < n_epochs; ++epoch)
//     for (const Batch& b : make_batches(data, {.max_tokens = 4096, .seed = 1}, epoch)) ...
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"
#include "attn/data/vocab.h"

namespace attn::data {

// ---- splits ------------------------------------------------------------------------------------

struct SplitOptions {
  double valid_fraction = 0.1;  // of all pairs, rounded to the nearest count
  double test_fraction = 0.1;
  uint64_t seed = 0;
};

struct SplitIndices {
  std::vector<int64_t> train, valid, test;  // disjoint, covering 0..n-1, each ascending
};

// Permutes 0..n-1 with randperm(n, Generator(seed)); the first round(n * valid_fraction) go to
// valid, the next round(n * test_fraction) to test, the rest to train. Throws attn::Error for
// fractions outside [0, 1] or summing above 1.
SplitIndices split_indices(int64_t n, const SplitOptions& options = {});

struct CorpusSplits {
  std::vector<SentencePair> train, valid, test;
};

// The pairs selected by split_indices, in their original order within each split.
// Note: Tatoeba repeats a sentence once per translation, so a random split can put the same
// English sentence in train and test with different translations.
CorpusSplits split_corpus(const std::vector<SentencePair>& pairs, const SplitOptions& options = {});

// Explicit split files, each read with read_tatoeba(path, read_options). An empty path gives an
// empty split (e.g. no test file); a missing or empty file is an error naming it.
CorpusSplits read_splits(const std::string& train_path, const std::string& valid_path,
                         const std::string& test_path, const ReadOptions& read_options = {});

// ---- encoding ----------------------------------------------------------------------------------

// A pair as token ids, without <bos>/<eos> (collate adds them).
struct EncodedPair {
  std::vector<int64_t> src, tgt;
};

// tokenize + Vocab::encode for every pair (unknown tokens -> <unk>).
std::vector<EncodedPair> encode_pairs(const std::vector<SentencePair>& pairs, const Vocab& src_vocab,
                                      const Vocab& tgt_vocab, Tokenization src_tokenization = Tokenization::kWord,
                                      Tokenization tgt_tokenization = Tokenization::kWord);

// ---- batches -----------------------------------------------------------------------------------

struct BatchOptions {
  int64_t max_sentences = 32;  // at most this many pairs per batch; 0 = no limit
  int64_t max_tokens = 0;      // at most this many padded tokens B * max(S, T); 0 = no limit.
                               // A pair longer than this on its own gets a batch of one.
  int64_t bucket_size = 0;     // pairs per sorting bucket; 0 = 100 * max_sentences (all when that is 0)
  bool shuffle = true;         // shuffle pairs before bucketing, and the batch order
  uint64_t seed = 0;           // with the epoch, fixes the shuffles
  bool src_eos = true;         // append <eos> to the source (as the PyTorch tutorial and fairseq)
};

struct Batch {
  Tensor src;               // int64 [B, S]
  Tensor src_lens;          // int64 [B]
  Tensor src_padding_mask;  // bool [B, S], True = padding
  Tensor tgt_in;            // int64 [B, T], <bos> + y
  Tensor tgt_out;           // int64 [B, T], y + <eos>
  Tensor tgt_lens;          // int64 [B], len(y) + 1
  Tensor tgt_padding_mask;  // bool [B, T], True = padding
  std::vector<int64_t> indices;  // row b is pair indices[b] of the encoded data
  int64_t size() const { return int64_t(indices.size()); }
  int64_t num_tgt_tokens() const;  // sum of tgt_lens: the non-padding targets (loss normaliser)
};

// The batch composition for one epoch: lists of pair indices, each list sorted by length
// (longest source first). Every pair appears in exactly one batch.
std::vector<std::vector<int64_t>> plan_batches(const std::vector<EncodedPair>& data, const BatchOptions& options,
                                               int64_t epoch = 0);

// Pads the pairs `indices` of `data` into a Batch (rows in the order given).
Batch collate(const std::vector<EncodedPair>& data, const std::vector<int64_t>& indices,
              const BatchOptions& options = {});

// plan_batches + collate.
std::vector<Batch> make_batches(const std::vector<EncodedPair>& data, const BatchOptions& options,
                                int64_t epoch = 0);

}  // namespace attn::data
