// Autoregressive decoding for any model that can take one step at a time: greedy search and batched
// beam search (beam size, length penalty, maximum length, n-best), each returning the attention
// weights of every step so they can be drawn as heatmaps.
//
// A model plugs in by implementing IncrementalDecoder over N rows (N = batch at first). The search
// feeds it the last token of every row, reads log-probabilities back, and, in beam search, keeps
// only some rows (and copies others) by calling reorder() with the row indices to keep.
#pragma once
#include <cstdint>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::models {

struct DecodeStep {
  Tensor log_probs;  // [N, V] floating: log p(next token | prefix) per row
  Tensor attention;  // [N, S] weights over the source for this step; undefined if the model has none
};

class IncrementalDecoder {
 public:
  virtual ~IncrementalDecoder() = default;
  // Feeds tokens [N] int64 (the previous token of each row) and advances every row by one step.
  virtual DecodeStep step(const Tensor& tokens) = 0;
  // Keeps rows `indices` [N'] int64 of the current state, in that order (repeats allowed): row i of
  // the new state is row indices[i] of the old one.
  virtual void reorder(const Tensor& indices) = 0;
};

// --- search ---------------------------------------------------------------------------------------
//
// Both searches start every row from `bos`, use the decoder's log_probs as given (no softmax), and
// rank hypotheses by the length-normalised score of fairseq and CTranslate2:
//
//   score = log_prob / length^length_penalty      length = generated tokens, eos included
//
// (length_penalty 0: raw log-probability; 1: per-token average; larger values favour longer
// outputs). A hypothesis ends when it produces eos or reaches max_length tokens (then it has no
// eos); eos is never produced at a step < min_length (so a hypothesis has at least min_length
// tokens before its eos). Rows finish independently; finished rows are dropped from the decoder
// with reorder(), so the decoder only computes live rows.
//
// Beam search (batched: B rows x K beams = N decoder rows; the first call is reorder({0,..,0, 1,..,1,
// ...}) with K copies of each row). Per row and step, the 2K best continuations of the live beams
// are ranked; an eos continuation ranked within the first K becomes a finished hypothesis, and the
// first K other continuations become the live beams. A row stops once K hypotheses have finished
// and the K-th best of them scores at least what the best live beam would score if it ended now, or
// at its max_length (its live beams are then finished without eos); the n_best best finished
// hypotheses by score are returned. Ties in the ranking are broken by beam, then token index, so the
// search is deterministic; beam_size 1 is greedy search.
struct SearchOptions {
  int64_t beam_size = 5;
  double length_penalty = 1.0;
  int64_t max_length = 50;  // generated tokens, eos included
  int64_t n_best = 1;       // <= beam_size
  int64_t bos = 1;
  int64_t eos = 2;
  int64_t min_length = 0;
};

struct Hypothesis {
  std::vector<int64_t> tokens;  // without bos, with eos if produced
  double score = 0.0;           // log_prob / tokens.size()^length_penalty (0 for an empty hypothesis)
  double log_prob = 0.0;        // sum of the log-probabilities of `tokens`
  Tensor attention;             // [len, S]: row t is the step that produced tokens[t]; undefined if none
};

// One list per batch row, best first (greedy: one hypothesis per row; beam: n_best).
std::vector<std::vector<Hypothesis>> greedy_search(IncrementalDecoder& decoder, int64_t batch,
                                                   const SearchOptions& options);
std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& decoder, int64_t batch,
                                                 const SearchOptions& options);
// The same with a maximum length per row (e.g. a multiple of each source length); options.max_length
// is ignored. A row with max_length 0 gets one empty hypothesis and is never stepped. (Spell the
// type out: a braced `{n}` argument selects the batch overload above.)
std::vector<std::vector<Hypothesis>> greedy_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                   const SearchOptions& options);
std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                 const SearchOptions& options);

}  // namespace attn::models
