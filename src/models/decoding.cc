// Greedy, beam and sampling search over an IncrementalDecoder (see include/attn/models/decoding.h).
//
// The searches never copy token or attention histories while running: every generated token is an
// Entry that points to the entry before it, and the attention rows of each step are kept as that
// step's [N, S] block; a finished hypothesis is rebuilt by walking its entries back to bos.
#include "attn/models/decoding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attn/core/autograd.h"
#include "attn/core/error.h"

namespace attn::models {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct Entry {
  int64_t token;
  int64_t parent;  // index of the previous entry, -1 after bos
  int64_t step;    // the step that produced the token
  int64_t row;     // the decoder row of that step whose output it was
};

class History {
 public:
  int64_t add(int64_t token, int64_t parent, int64_t step, int64_t row) {
    entries_.push_back({token, parent, step, row});
    return int64_t(entries_.size()) - 1;
  }

  // Runs one decoder step on `tokens` and returns the log-probabilities [N * V] as doubles (V set).
  std::vector<double> step(IncrementalDecoder& decoder, const std::vector<int64_t>& tokens, int64_t eos, int64_t& V) {
    const int64_t N = int64_t(tokens.size());
    DecodeStep out = decoder.step(tensor<int64_t>(tokens));
    const int64_t t = int64_t(attention_.size());
    ATTN_CHECK(out.log_probs.defined() && out.log_probs.dim() == 2 && out.log_probs.size(0) == N &&
                   out.log_probs.is_floating_point(),
               "decoding: step ", t, " expected floating log_probs [", N, ", V], got ",
               out.log_probs.defined() ? out.log_probs.describe() : std::string("undefined"));
    V = out.log_probs.size(1);
    ATTN_CHECK(eos < V, "decoding: eos ", eos, " is outside the vocabulary of ", V, " tokens");
    if (t == 0) has_attention_ = out.attention.defined();
    ATTN_CHECK(out.attention.defined() == has_attention_, "decoding: step ", t,
               has_attention_ ? " returned no attention after earlier steps did" : " returned attention after earlier steps did not");
    if (has_attention_) {
      ATTN_CHECK(out.attention.dim() == 2 && out.attention.size(0) == N, "decoding: step ", t,
                 " expected attention [", N, ", S], got ", out.attention.describe());
      if (t == 0) {
        S_ = out.attention.size(1);
        attention_dtype_ = out.attention.dtype();
      }
      ATTN_CHECK(out.attention.size(1) == S_, "decoding: step ", t, " attention has S = ", out.attention.size(1),
                 ", earlier steps had ", S_);
      attention_.push_back(to_double_vector(out.attention));
    } else {
      attention_.emplace_back();
    }
    return to_double_vector(out.log_probs);
  }

  Hypothesis build(int64_t last, double log_prob, double length_penalty) const {
    Hypothesis h;
    h.log_prob = log_prob;
    std::vector<int64_t> path;
    for (int64_t e = last; e >= 0; e = entries_[size_t(e)].parent) path.push_back(e);
    std::reverse(path.begin(), path.end());
    const int64_t len = int64_t(path.size());
    std::vector<double> attn;
    for (int64_t e : path) {
      const Entry& en = entries_[size_t(e)];
      h.tokens.push_back(en.token);
      if (has_attention_) {
        const double* row = attention_[size_t(en.step)].data() + en.row * S_;
        attn.insert(attn.end(), row, row + S_);
      }
    }
    h.score = len > 0 ? log_prob / std::pow(double(len), length_penalty) : 0.0;
    if (has_attention_) h.attention = tensor<double>(attn, {len, S_}).to(attention_dtype_);
    return h;
  }

 private:
  std::vector<Entry> entries_;
  std::vector<std::vector<double>> attention_;  // per step: [N_t * S], empty without attention
  bool has_attention_ = false;
  int64_t S_ = 0;
  DType attention_dtype_ = kFloat32;
};

void check_options(const SearchOptions& o, const std::vector<int64_t>& max_lengths, bool beam) {
  if (beam) {
    ATTN_CHECK(o.beam_size >= 1, "beam_search: beam_size must be >= 1, got ", o.beam_size);
    ATTN_CHECK(o.n_best >= 1 && o.n_best <= o.beam_size, "beam_search: n_best must be in [1, beam_size = ",
               o.beam_size, "], got ", o.n_best);
  }
  ATTN_CHECK(o.bos >= 0 && o.eos >= 0, "decoding: bos and eos must be token ids >= 0, got bos ", o.bos, ", eos ", o.eos);
  ATTN_CHECK(o.min_length >= 0, "decoding: min_length must be >= 0, got ", o.min_length);
  for (size_t b = 0; b < max_lengths.size(); ++b)
    ATTN_CHECK(max_lengths[b] >= 0, "decoding: max_length of row ", b, " must be >= 0, got ", max_lengths[b]);
}

Tensor index_tensor(const std::vector<int64_t>& idx) { return tensor<int64_t>(idx); }

// Candidate continuation of a live beam: ranked by total log-probability, then beam, then token.
struct Candidate {
  double log_prob;
  int64_t slot;
  int64_t token;
};
bool better(const Candidate& a, const Candidate& b) {
  if (a.log_prob != b.log_prob) return a.log_prob > b.log_prob;
  if (a.slot != b.slot) return a.slot < b.slot;
  return a.token < b.token;
}

struct Beam {
  double log_prob;
  int64_t entry;  // last entry; -1 for the bos-only start
  int64_t token;  // the token fed at the next step
};

struct Finished {
  double score;
  double log_prob;
  int64_t entry;
};

std::vector<std::vector<Hypothesis>> beam_impl(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                               const SearchOptions& o) {
  check_options(o, max_lengths, /*beam=*/true);
  NoGradGuard no_grad;
  const int64_t B = int64_t(max_lengths.size()), K = o.beam_size;
  std::vector<std::vector<Hypothesis>> results(static_cast<size_t>(B));

  struct Row {
    int64_t b;
    std::vector<Beam> live;  // <= K; decoder slots beyond live.size() are dead fillers
    std::vector<Finished> finished;
  };
  std::vector<Row> active;
  std::vector<int64_t> expand;  // first reorder: K copies of every row that has steps to take
  for (int64_t b = 0; b < B; ++b) {
    if (max_lengths[size_t(b)] == 0) {
      results[size_t(b)].push_back(Hypothesis{});
      continue;
    }
    active.push_back(Row{b, {Beam{0.0, -1, o.bos}}, {}});
    for (int64_t k = 0; k < K; ++k) expand.push_back(b);
  }
  if (active.empty()) return results;
  decoder.reorder(index_tensor(expand));

  History hist;
  auto length_of = [](int64_t step) { return double(step + 1); };
  // A row stops once it has K finished hypotheses and the K-th best of them scores at least what
  // the best live beam would score if it ended now. Stopping at K finished alone (fairseq) lets K
  // short, unlikely hypotheses that happen to rank among the K best candidates end the search
  // before the likely long one finishes.
  auto settled = [&](const std::vector<Finished>& fin, const Beam& best_live, int64_t t) {
    if (int64_t(fin.size()) < K) return false;
    std::vector<double> scores;
    for (const Finished& f : fin) scores.push_back(f.score);
    std::nth_element(scores.begin(), scores.begin() + (K - 1), scores.end(), std::greater<>());
    return scores[size_t(K - 1)] >= best_live.log_prob / std::pow(length_of(t), o.length_penalty);
  };
  for (int64_t t = 0; !active.empty(); ++t) {
    const int64_t A = int64_t(active.size());
    std::vector<int64_t> tokens(size_t(A * K), o.bos);
    for (int64_t a = 0; a < A; ++a)
      for (size_t k = 0; k < active[size_t(a)].live.size(); ++k) tokens[size_t(a * K) + k] = active[size_t(a)].live[k].token;
    int64_t V = 0;
    const std::vector<double> lp = hist.step(decoder, tokens, o.eos, V);

    std::vector<Row> next;
    std::vector<int64_t> keep;  // reorder indices into this step's rows
    std::vector<Candidate> cands;
    for (int64_t a = 0; a < A; ++a) {
      Row& row = active[size_t(a)];
      cands.clear();
      for (int64_t k = 0; k < int64_t(row.live.size()); ++k) {
        const double* l = lp.data() + (a * K + k) * V;
        for (int64_t v = 0; v < V; ++v) {
          if (v == o.eos && t < o.min_length) continue;
          const double total = row.live[size_t(k)].log_prob + l[v];
          if (!(total > kNegInf)) continue;  // -inf (forbidden token) and NaN are never chosen
          cands.push_back({total, k, v});
        }
      }
      const size_t top = std::min(cands.size(), size_t(2 * K));
      std::partial_sort(cands.begin(), cands.begin() + std::ptrdiff_t(top), cands.end(), better);

      std::vector<Beam> live;
      std::vector<int64_t> parents;
      for (size_t i = 0; i < top; ++i) {
        const Candidate& c = cands[i];
        const Beam& from = row.live[size_t(c.slot)];
        if (c.token == o.eos) {
          // Only an eos ranked among the K best finishes (fairseq): a worse one would not have
          // survived as a beam either.
          if (int64_t(i) < K) {
            const int64_t e = hist.add(c.token, from.entry, t, a * K + c.slot);
            row.finished.push_back({c.log_prob / std::pow(length_of(t), o.length_penalty), c.log_prob, e});
          }
        } else if (int64_t(live.size()) < K) {
          live.push_back({c.log_prob, hist.add(c.token, from.entry, t, a * K + c.slot), c.token});
          parents.push_back(a * K + c.slot);
        }
      }
      const bool last = t + 1 >= max_lengths[size_t(row.b)];
      if (last)  // out of length: the live beams finish as they are, without eos
        for (const Beam& lb : live)
          row.finished.push_back({lb.log_prob / std::pow(length_of(t), o.length_penalty), lb.log_prob, lb.entry});

      if (last || live.empty() || settled(row.finished, live.front(), t)) {
        // stable_sort: equal scores keep the order in which they finished.
        std::stable_sort(row.finished.begin(), row.finished.end(),
                         [](const Finished& x, const Finished& y) { return x.score > y.score; });
        auto& out = results[size_t(row.b)];
        for (size_t i = 0; i < row.finished.size() && int64_t(i) < o.n_best; ++i)
          out.push_back(hist.build(row.finished[i].entry, row.finished[i].log_prob, o.length_penalty));
        continue;
      }
      for (int64_t k = 0; k < K; ++k) keep.push_back(k < int64_t(parents.size()) ? parents[size_t(k)] : parents[0]);
      next.push_back(Row{row.b, std::move(live), std::move(row.finished)});
    }
    active = std::move(next);
    if (!active.empty()) decoder.reorder(index_tensor(keep));
  }
  return results;
}

// Decodes one hypothesis per batch row: at every step `choose(t, lp, V, n)` picks the next token of
// each of the n live decoder rows from its log-probabilities lp[r * V, (r + 1) * V), or -1 where every
// continuation is forbidden (no hypothesis for that row). A row ends at <eos> or its max length.
template <class Choose>
std::vector<std::vector<Hypothesis>> one_per_row(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                 const SearchOptions& o, Choose&& choose) {
  NoGradGuard no_grad;
  const int64_t B = int64_t(max_lengths.size());
  std::vector<std::vector<Hypothesis>> results(static_cast<size_t>(B));
  std::vector<int64_t> rows;  // batch row of every decoder row
  for (int64_t b = 0; b < B; ++b) {
    if (max_lengths[size_t(b)] == 0) results[size_t(b)].push_back(Hypothesis{});
    else rows.push_back(b);
  }
  if (rows.empty()) return results;
  if (int64_t(rows.size()) != B) decoder.reorder(index_tensor(rows));

  History hist;
  std::vector<Beam> state(rows.size(), Beam{0.0, -1, o.bos});
  for (int64_t t = 0; !rows.empty(); ++t) {
    std::vector<int64_t> tokens;
    for (const Beam& s : state) tokens.push_back(s.token);
    int64_t V = 0;
    const std::vector<double> lp = hist.step(decoder, tokens, o.eos, V);
    const std::vector<int64_t> picks = choose(t, lp, V, int64_t(rows.size()));
    std::vector<int64_t> keep, next_rows;
    std::vector<Beam> next_state;
    for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
      const int64_t pick = picks[size_t(r)];
      const int64_t b = rows[size_t(r)];
      if (pick < 0) continue;  // every continuation forbidden: no hypothesis for this row
      Beam s{state[size_t(r)].log_prob + lp[size_t(r * V + pick)], hist.add(pick, state[size_t(r)].entry, t, r), pick};
      if (pick == o.eos || t + 1 >= max_lengths[size_t(b)]) {
        results[size_t(b)].push_back(hist.build(s.entry, s.log_prob, o.length_penalty));
        continue;
      }
      keep.push_back(r);
      next_rows.push_back(b);
      next_state.push_back(s);
    }
    if (!next_rows.empty() && next_rows.size() != rows.size()) decoder.reorder(index_tensor(keep));
    rows = std::move(next_rows);
    state = std::move(next_state);
  }
  return results;
}

std::vector<std::vector<Hypothesis>> greedy_impl(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                 const SearchOptions& o) {
  check_options(o, max_lengths, /*beam=*/false);
  return one_per_row(decoder, max_lengths, o, [&](int64_t t, const std::vector<double>& lp, int64_t V, int64_t n) {
    std::vector<int64_t> picks;
    for (int64_t r = 0; r < n; ++r) {
      const double* l = lp.data() + r * V;
      int64_t best = -1;  // argmax; the first index wins ties
      for (int64_t v = 0; v < V; ++v) {
        if (v == o.eos && t < o.min_length) continue;
        if (!(l[v] > kNegInf)) continue;
        if (best < 0 || l[v] > l[best]) best = v;
      }
      picks.push_back(best);
    }
    return picks;
  });
}

void check_sampling(const SamplingOptions& s) {
  ATTN_CHECK(std::isfinite(s.temperature) && s.temperature > 0, "sample_search: temperature must be > 0, got ",
             s.temperature);
  ATTN_CHECK(s.top_k >= 0, "sample_search: top_k must be >= 0 (0: no top-k filtering), got ", s.top_k);
  ATTN_CHECK(s.top_p > 0 && s.top_p <= 1, "sample_search: top_p must be in (0, 1] (1: no nucleus filtering), got ",
             s.top_p);
}

// Fills `probs` (size V) with the sampling distribution of one row's log-probabilities l[0..V).
void filtered_distribution(const double* l, int64_t V, const SamplingOptions& so, std::vector<int64_t>& order,
                           std::vector<double>& probs) {
  probs.assign(size_t(V), 0.0);
  order.clear();
  for (int64_t v = 0; v < V; ++v)
    if (l[v] > kNegInf) order.push_back(v);  // -inf (forbidden) and NaN never drawn
  if (order.empty()) return;
  // Most likely first, ties by token id: the order both filters cut. (Dividing by the temperature
  // keeps the order, so it is taken on l.)
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
  if (so.top_k > 0 && int64_t(order.size()) > so.top_k) order.resize(size_t(so.top_k));
  const double top = l[order.front()];
  double z = 0;  // differences first, so a tiny temperature gives exp(-inf) = 0, never inf - inf
  for (int64_t v : order) z += probs[size_t(v)] = std::exp((l[v] - top) / so.temperature);
  size_t keep = order.size();
  if (so.top_p < 1) {
    double before = 0;  // probability of the tokens ranked above
    for (keep = 0; keep < order.size() && before < so.top_p; ++keep) before += probs[size_t(order[keep])] / z;
    for (size_t i = keep; i < order.size(); ++i) probs[size_t(order[i])] = 0;
    z = 0;
    for (size_t i = 0; i < keep; ++i) z += probs[size_t(order[i])];
  }
  for (size_t i = 0; i < keep; ++i) probs[size_t(order[i])] /= z;
}

std::vector<std::vector<Hypothesis>> sample_impl(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                 const SearchOptions& o, const SamplingOptions& so, Generator* gen) {
  check_options(o, max_lengths, /*beam=*/false);
  check_sampling(so);
  std::vector<double> masked, probs;
  std::vector<int64_t> order;
  return one_per_row(decoder, max_lengths, o, [&](int64_t t, const std::vector<double>& lp, int64_t V, int64_t n) {
    // One uniform draw per live row and step, in row order.
    const std::vector<double> u = to_double_vector(rand({n}, kFloat64, gen));
    std::vector<int64_t> picks;
    for (int64_t r = 0; r < n; ++r) {
      const double* l = lp.data() + r * V;
      masked.assign(l, l + V);
      if (t < o.min_length) masked[size_t(o.eos)] = kNegInf;
      filtered_distribution(masked.data(), V, so, order, probs);
      // Inverse CDF in token-id order; rounding that leaves the target unreached takes the last
      // token with probability > 0. Nothing to draw from: -1.
      int64_t pick = -1;
      double cum = 0;
      if (!order.empty()) {
        for (int64_t v = 0; v < V; ++v) {
          if (probs[size_t(v)] <= 0) continue;
          pick = v;
          cum += probs[size_t(v)];
          if (u[size_t(r)] < cum) break;
        }
      }
      picks.push_back(pick);
    }
    return picks;
  });
}

std::vector<int64_t> uniform_lengths(int64_t batch, const SearchOptions& o) {
  ATTN_CHECK(batch >= 0, "decoding: batch must be >= 0, got ", batch);
  return std::vector<int64_t>(size_t(batch), o.max_length);
}

}  // namespace

std::vector<std::vector<Hypothesis>> greedy_search(IncrementalDecoder& decoder, int64_t batch,
                                                   const SearchOptions& options) {
  return greedy_impl(decoder, uniform_lengths(batch, options), options);
}
std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& decoder, int64_t batch,
                                                 const SearchOptions& options) {
  return beam_impl(decoder, uniform_lengths(batch, options), options);
}
std::vector<std::vector<Hypothesis>> greedy_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                   const SearchOptions& options) {
  return greedy_impl(decoder, max_lengths, options);
}
std::vector<std::vector<Hypothesis>> beam_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                 const SearchOptions& options) {
  return beam_impl(decoder, max_lengths, options);
}
std::vector<std::vector<Hypothesis>> sample_search(IncrementalDecoder& decoder, int64_t batch,
                                                   const SearchOptions& options, const SamplingOptions& sampling,
                                                   Generator* gen) {
  return sample_impl(decoder, uniform_lengths(batch, options), options, sampling, gen);
}
std::vector<std::vector<Hypothesis>> sample_search(IncrementalDecoder& decoder, const std::vector<int64_t>& max_lengths,
                                                   const SearchOptions& options, const SamplingOptions& sampling,
                                                   Generator* gen) {
  return sample_impl(decoder, max_lengths, options, sampling, gen);
}
std::vector<double> sampling_distribution(const std::vector<double>& log_probs, const SamplingOptions& sampling) {
  check_sampling(sampling);
  std::vector<int64_t> order;
  std::vector<double> probs;
  filtered_distribution(log_probs.data(), int64_t(log_probs.size()), sampling, order, probs);
  return probs;
}

}  // namespace attn::models
