// Autoregressive decoding for any model that can take one step at a time: greedy search, batched
// beam search (beam size, length penalty, maximum length, n-best) and sampling (temperature, top-k,
// top-p), each returning the attention weights of every step so they can be drawn as heatmaps.
//
// A model plugs in by implementing IncrementalDecoder over N rows (N = batch at first). The search
// feeds it the last token of every row, reads log-probabilities back, and, in beam search, keeps
// only some rows (and copies others) by calling reorder() with the row indices to keep.
#pragma once
#include <cstdint>
#include <vector>

#include "attn/core/random.h"
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

// --- sampling -------------------------------------------------------------------------------------
//
// Ancestral sampling, as Hugging Face's generate(do_sample=True) with its logits warpers in the
// same order. At every step, per row, from the decoder's log-probabilities l (eos set to -inf
// while step < min_length):
//   1. temperature   s = l / temperature                      (> 0; < 1 sharpens, > 1 flattens)
//   2. top-k         keep the top_k highest s (0: all); ties at the boundary go to the lower token id
//   3. top-p         p = softmax(s over the kept tokens); keep the smallest set of most likely tokens
//                    whose total probability reaches top_p (the token that crosses it included, so
//                    at least one token is kept; ties ordered by token id); 1: all
//   4. draw one token from softmax(s) over the tokens still kept (inverse CDF on one uniform draw of
//      `gen`, in token-id order)
// top_k = 1 (or a tiny top_p, or a temperature near 0) is greedy search. Rows end at eos or at their
// max_length like greedy search, and a hypothesis' log_prob and score use the decoder's unfiltered
// log-probabilities (the model's probability of the sampled sequence). With the same generator
// state the result is the same on every run and thread count. Throws attn::Error for temperature
// <= 0 (or not finite), top_k < 0, or top_p outside (0, 1]. SearchOptions::beam_size and n_best
// are ignored (one hypothesis per row).
struct SamplingOptions {
  double temperature = 1.0;
  int64_t top_k = 0;   // 0: no top-k filtering
  double top_p = 1.0;  // 1: no nucleus filtering
};

// One list per batch row holding the one sampled hypothesis (empty when every token was forbidden
// at some step, as in greedy search). gen == nullptr uses attn::default_generator().
std::vector<std::vector<Hypothesis>> sample_search(IncrementalDecoder& decoder, int64_t batch,
                                                   const SearchOptions& options, const SamplingOptions& sampling,
                                                   Generator* gen = nullptr);
std::vector<std::vector<Hypothesis>> sample_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                   const SearchOptions& options, const SamplingOptions& sampling,
                                                   Generator* gen = nullptr);
// The sampling distribution of one step: the probabilities [V] that step 4 above draws from, for
// log-probabilities `log_probs` of V tokens (-inf = forbidden; all forbidden gives all zeros).
std::vector<double> sampling_distribution(const std::vector<double>& log_probs, const SamplingOptions& sampling);

}  // namespace attn::models
