// BLEU (Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation"),
// computed exactly as sacreBLEU 2.x computes it with its defaults (Post, 2018, "A Call for Clarity
// in Reporting BLEU Scores"), so a score printed by attn can be compared with published numbers.
//
//   p_n  = 100 * sum_seg clipped n-gram matches / sum_seg hypothesis n-grams     (n = 1..4)
//   BP   = 1 if c >= r else exp(1 - r / c)    c = hypothesis tokens, r = reference tokens
//   BLEU = BP * exp((1/4) * sum_n log p_n)
//
// Matches are clipped by the maximum count of the n-gram in any one reference; with several
// references, r adds per segment the length of the reference closest to the hypothesis (the
// shorter one on ties); with one reference it is the total reference length.
//
// Tokenisers (sacreBLEU's names and rules, applied to the right-stripped, optionally lowercased text):
//   "13a"  mteval-v13a: unescape &quot; &amp; &lt; &gt;, split off punctuation and symbols, split
//          '.' and ',' unless between digits, split '-' after a digit. sacreBLEU's default.
//   "zh"   sacreBLEU's Chinese tokeniser: a space around every CJK character (sacreBLEU's code-point
//          ranges, reproduced as sacreBLEU's Python evaluates them), then the 13a regex rules.
//   "char" sacreBLEU's "char": every non-whitespace Unicode character is a token.
//   "none" whitespace split only.
// Smoothing (sacreBLEU's smooth_method): "exp" (default; mteval's NIST geometric: the k-th order
// with no match gets p_n = 100 / (2^k * total_n)), "floor" (p_n = 100 * value / total_n, value 0.1),
// "add-k" (adds value, default 1, to matches and totals of orders n >= 2), "none". A corpus with no
// matching unigram scores 0 with all precisions 0, as in sacreBLEU.
//
// Text is UTF-8. Lowercasing follows Python's str.lower() for ASCII, Latin-1, Latin Extended-A,
// Greek and Cyrillic capitals (final sigma is lowered to σ); other characters are left as they are.
// This is an evaluation metric: no tensors, no autograd.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attn::data {

struct BleuOptions {
  std::string tokenize = "13a";        // "13a" | "zh" | "char" | "none"
  bool lowercase = false;
  std::string smooth_method = "exp";   // "exp" | "floor" | "add-k" | "none"
  std::optional<double> smooth_value;  // floor: 0.1, add-k: 1 when not given
  int64_t max_ngram_order = 4;
  // Average only over the orders the hypothesis has n-grams for (sacreBLEU's effective_order;
  // on by default in sentence_bleu, off in corpus_bleu).
  bool effective_order = false;
};

struct BleuScore {
  double score = 0.0;               // 0..100
  std::vector<double> precisions;   // p_1..p_N in percent, after smoothing
  std::vector<int64_t> counts;      // clipped matches per order (before add-k smoothing)
  std::vector<int64_t> totals;      // hypothesis n-grams per order
  double bp = 0.0;                  // brevity penalty
  int64_t sys_len = 0;              // hypothesis tokens
  int64_t ref_len = 0;              // effective reference tokens
  double ratio = 0.0;               // sys_len / ref_len (0 when ref_len is 0)
  // sacreBLEU's line: "BLEU = 32.74 63.8/39.4/26.1/17.6 (BP = 1.000 ratio = 1.012 hyp_len = 12000
  // ref_len = 11856)"; `width` is the number of decimals of the score.
  std::string format(int width = 2) const;
};

// One reference per sentence: references[i] is the reference of hypotheses[i].
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& options = {});
// Several references per sentence in sacreBLEU's layout: reference_streams[k][i] is the k-th
// reference of hypotheses[i]; every stream has one line per hypothesis.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& reference_streams, const BleuOptions& options = {});

// sacreBLEU's sentence_bleu: one hypothesis against its references, with effective_order on.
BleuOptions sentence_bleu_defaults();
BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                        const BleuOptions& options = sentence_bleu_defaults());

// The tokenisers, each returning tokens joined by single spaces (sacreBLEU's output).
std::string tokenize_13a(const std::string& line);
std::string tokenize_zh(const std::string& line);
std::string tokenize_char(const std::string& line);
// Python's str.lower() on the ranges listed above.
std::string lowercase_utf8(const std::string& line);

}  // namespace attn::data
