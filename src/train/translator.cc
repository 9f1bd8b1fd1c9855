// Training and inference for the translators (see attn/train/translator.h).
#include "attn/train/translator.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <tuple>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/core/random.h"
#include "attn/data/batching.h"
#include "attn/data/subword.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"
#include "attn/data/vocab.h"
#include "attn/kernels/config.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/loss.h"
#include "attn/optim/adam.h"
#include "attn/optim/clip_grad.h"
#include "attn/optim/lr_scheduler.h"
#include "attn/optim/sgd.h"
#include "attn/train/checkpoint.h"
#include "attn/train/word2vec.h"

namespace attn::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using data::Vocab;

// Set by request_stop(); lock-free, so a signal handler may set it.
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// --- options ---------------------------------------------------------------------------------------

void check_choice(const std::string& option, const std::string& value, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  ATTN_FAIL("train_translator: ", option, " is '", value, "'; expected one of ", list);
}

data::Normalization normalization_of(const std::string& s, const char* option = "normalize") {
  if (s == "tutorial") return data::Normalization::kTutorial;
  if (s == "clean") return data::Normalization::kClean;
  check_choice(option, s, normalize_choices());
  return data::Normalization::kNone;
}

data::Normalization src_norm_of(const TrainConfig& c) {
  return normalization_of(source_normalization(c), c.src_normalize.empty() ? "normalize" : "src_normalize");
}
data::Normalization tgt_norm_of(const TrainConfig& c) {
  return normalization_of(target_normalization(c), c.tgt_normalize.empty() ? "normalize" : "tgt_normalize");
}

data::Tokenization tokenization_of(const std::string& s, const char* option) {
  check_choice(option, s, tokenizer_choices());
  return s == "char" ? data::Tokenization::kChar : data::Tokenization::kWord;
}

// How one side's text becomes tokens and back: word / char tokenisation, or SentencePiece pieces.
struct SideTokenizer {
  data::Tokenization mode = data::Tokenization::kWord;
  std::shared_ptr<const data::SentencePiece> spm;  // set for tokenizer "spm"

  std::vector<std::string> tokenize(const std::string& s) const { return spm ? spm->encode(s) : data::tokenize(s, mode); }
  std::string detokenize(const std::vector<std::string>& tokens) const {
    return spm ? spm->decode(tokens) : data::detokenize(tokens, mode);
  }
};

std::vector<data::EncodedPair> encode_pairs(const std::vector<data::SentencePair>& pairs, const Vocab& src_vocab,
                                            const Vocab& tgt_vocab, const SideTokenizer& st, const SideTokenizer& tt) {
  std::vector<data::EncodedPair> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) out.push_back({src_vocab.encode(st.tokenize(p.src)), tgt_vocab.encode(tt.tokenize(p.tgt))});
  return out;
}

// The longest source / target (tokens, without <eos> / <bos>) a model can read: concat-linear RNN
// decoders attend over max_length positions, learned positions have max_positions rows. 0: no limit.
int64_t max_source_tokens(const TrainConfig& c) {
  if (c.model_type == "rnn" && c.model.attention == "concat-linear") return std::max<int64_t>(c.model.max_length - 1, 0);
  if (c.model_type == "transformer" && c.transformer.positions == "learned")
    return std::max<int64_t>(c.transformer.max_positions - 1, 0);
  return 0;
}
int64_t max_target_tokens(const TrainConfig& c) {
  if (c.model_type == "transformer" && c.transformer.positions == "learned")
    return std::max<int64_t>(c.transformer.max_positions - 1, 0);
  return 0;
}

void validate(const TrainConfig& c) {
  normalization_of(c.normalize);
  src_norm_of(c);
  tgt_norm_of(c);
  tokenization_of(c.src_tokenizer, "src_tokenizer");
  tokenization_of(c.tgt_tokenizer, "tgt_tokenizer");
  check_choice("model_type", c.model_type, model_type_choices());
  check_choice("spm_model_type", c.spm_model_type, spm_model_type_choices());
  ATTN_CHECK(c.spm_vocab_size >= 2, "train_translator: spm_vocab_size must be >= 2, got ", c.spm_vocab_size);
  ATTN_CHECK(c.model_type != "transformer" || c.teacher_forcing_ratio == 1.0,
             "train_translator: teacher_forcing_ratio must be 1 for the transformer (it reads the whole reference "
             "at once), got ", c.teacher_forcing_ratio);
  ATTN_CHECK(c.model_type != "transformer" || !c.transformer.share_embeddings ||
                 (c.src_tokenizer == "spm" && c.tgt_tokenizer == "spm" && c.spm_joint),
             "train_translator: transformer.share_embeddings needs one vocabulary for both sides: src_tokenizer and "
             "tgt_tokenizer spm with spm_joint");
  ATTN_CHECK(c.adam_beta1 >= 0 && c.adam_beta1 < 1 && c.adam_beta2 >= 0 && c.adam_beta2 < 1,
             "train_translator: adam_beta1 and adam_beta2 must be in [0, 1), got ", c.adam_beta1, " and ", c.adam_beta2);
  check_choice("optimizer", c.optimizer, optimizer_choices());
  check_choice("lr_schedule", c.lr_schedule, lr_schedule_choices());
  ATTN_CHECK(!c.train_path.empty() || !c.corpus_path.empty(),
             "train_translator: give train_path (with optional valid_path / test_path) or corpus_path");
  ATTN_CHECK(c.train_path.empty() || c.corpus_path.empty(),
             "train_translator: give either train_path or corpus_path, not both");
  ATTN_CHECK(c.lr > 0 && std::isfinite(c.lr), "train_translator: lr must be positive, got ", c.lr);
  ATTN_CHECK(c.weight_decay >= 0, "train_translator: weight_decay must be >= 0, got ", c.weight_decay);
  ATTN_CHECK(c.clip_norm >= 0, "train_translator: clip_norm must be >= 0 (0 disables clipping), got ", c.clip_norm);
  ATTN_CHECK(c.label_smoothing >= 0 && c.label_smoothing < 1, "train_translator: label_smoothing must be in [0, 1), got ",
             c.label_smoothing);
  ATTN_CHECK(c.teacher_forcing_ratio >= 0 && c.teacher_forcing_ratio <= 1,
             "train_translator: teacher_forcing_ratio must be in [0, 1], got ", c.teacher_forcing_ratio);
  ATTN_CHECK(c.batch_size > 0 || c.max_tokens > 0, "train_translator: batch_size or max_tokens must be positive");
  ATTN_CHECK(c.batch_size >= 0 && c.max_tokens >= 0, "train_translator: batch_size and max_tokens must be >= 0");
  ATTN_CHECK(c.epochs >= 0, "train_translator: epochs must be >= 0 (0: no limit), got ", c.epochs);
  ATTN_CHECK(c.epochs > 0 || c.time_budget > 0 || c.max_steps > 0 || c.patience > 0,
             "train_translator: epochs 0 (no limit) needs time_budget, max_steps or patience to end the run");
  ATTN_CHECK(c.epochs > 0 || c.lr_schedule != "cosine",
             "train_translator: lr_schedule cosine anneals over all epochs, so it needs epochs > 0");
  ATTN_CHECK(c.time_budget >= 0, "train_translator: time_budget must be >= 0, got ", c.time_budget);
  ATTN_CHECK(c.max_steps >= 0, "train_translator: max_steps must be >= 0, got ", c.max_steps);
  ATTN_CHECK(c.patience >= 0, "train_translator: patience must be >= 0, got ", c.patience);
  ATTN_CHECK(c.min_freq >= 1, "train_translator: min_freq must be >= 1, got ", c.min_freq);
  ATTN_CHECK(c.valid_bleu_size >= 0, "train_translator: valid_bleu_size must be >= 0");
  ATTN_CHECK(c.valid_beam >= 1, "train_translator: valid_beam must be >= 1, got ", c.valid_beam);
  ATTN_CHECK(c.valid_max_length_ratio > 0, "train_translator: valid_max_length_ratio must be positive");
  ATTN_CHECK(c.lr_step_size >= 1, "train_translator: lr_step_size must be >= 1, got ", c.lr_step_size);
  ATTN_CHECK(c.warmup_steps >= 0, "train_translator: warmup_steps must be >= 0");
  ATTN_CHECK(c.lr_schedule != "noam" || c.warmup_steps > 0, "train_translator: lr_schedule noam needs warmup_steps > 0");
  ATTN_CHECK(c.momentum >= 0, "train_translator: momentum must be >= 0");
  ATTN_CHECK(!c.resume || !c.checkpoint_dir.empty(), "train_translator: resume needs checkpoint_dir");
}

data::ReadOptions read_options(const TrainConfig& c) {
  data::ReadOptions ro;
  ro.reverse = c.reverse;
  ro.max_pairs = c.max_pairs;
  ro.normalize = src_norm_of(c);  // read_translation_corpus handles a different target side
  ro.tutorial_filter = c.tutorial_filter;
  ro.max_length = c.filter_max_length;
  return ro;
}

// The text side of preprocessing, as the reader applies it to corpus lines.
std::string normalize_text(const std::string& s, data::Normalization n) {
  switch (n) {
    case data::Normalization::kTutorial:
      return data::normalize_string(s);
    case data::Normalization::kClean:
      return data::clean_text(s);
    case data::Normalization::kNone:
      break;
  }
  return s;
}

// --- decoding --------------------------------------------------------------------------------------

// Pads id lists (each already ending in <eos>) into src [B, S] and src_lens [B].
void pad_sources(const std::vector<const std::vector<int64_t>*>& rows, Tensor& src, Tensor& lens) {
  const int64_t B = int64_t(rows.size());
  int64_t S = 1;
  for (const auto* r : rows) S = std::max<int64_t>(S, int64_t(r->size()));
  std::vector<int64_t> ids(static_cast<size_t>(B * S), Vocab::kPad);
  std::vector<int64_t> l(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(rows[b]->begin(), rows[b]->end(), ids.begin() + b * S);
    l[size_t(b)] = int64_t(rows[b]->size());
  }
  src = tensor<int64_t>(ids, {B, S});
  lens = tensor<int64_t>(l);
}

// Decodes every source (ids ending in <eos>) with greedy search, beam search or sampling, sources
// of similar length batched together. Returns the n-best list of each source, in input order; the
// attention of each hypothesis is cut to its source's length. `max_target` > 0 caps the output length.
std::vector<std::vector<models::Hypothesis>> decode_all(models::TranslationModel& model,
                                                        const std::vector<std::vector<int64_t>>& srcs,
                                                        const TranslateOptions& o, int64_t max_target = 0) {
  ATTN_CHECK(o.beam_size >= 1, "translate: beam_size must be >= 1, got ", o.beam_size);
  ATTN_CHECK(o.n_best >= 1 && o.n_best <= o.beam_size, "translate: n_best must be in [1, beam_size = ", o.beam_size,
             "], got ", o.n_best);
  ATTN_CHECK(o.batch_size >= 1, "translate: batch_size must be >= 1");
  ATTN_CHECK(o.max_length >= 1 && o.max_length_ratio >= 0, "translate: max_length must be >= 1 and max_length_ratio >= 0");
  ATTN_CHECK(!o.sample || (o.beam_size == 1 && o.n_best == 1),
             "translate: sampling draws one hypothesis per sentence; use beam_size 1 and n_best 1, got beam_size ",
             o.beam_size, " and n_best ", o.n_best);
  models::SamplingOptions sampling;
  sampling.temperature = o.temperature;
  sampling.top_k = o.top_k;
  sampling.top_p = o.top_p;
  if (o.sample) (void)models::sampling_distribution({0.0}, sampling);  // bad options fail before any work
  Generator gen(o.seed);
  auto* transformer = dynamic_cast<models::TransformerModel*>(&model);
  if (transformer) {
    const int64_t L = transformer->config.num_decoder_layers, H = transformer->config.nhead;
    ATTN_CHECK(o.attention_layer >= -1 && o.attention_layer < L, "translate: attention_layer must be in [-1, ", L - 1,
               "] (the model has ", L, " decoder layers), got ", o.attention_layer);
    ATTN_CHECK(o.attention_head >= -1 && o.attention_head < H, "translate: attention_head must be in [-1, ", H - 1,
               "] (the model has ", H, " heads), got ", o.attention_head);
  }
  // Eval mode and, for a Transformer, the cross-attention the hypotheses carry, for this call only.
  struct Restore {
    models::TranslationModel& model;
    models::TransformerModel* transformer;
    bool was_training;
    int64_t layer, head;
    ~Restore() {
      model.train(was_training);
      if (transformer) {
        transformer->attention_layer = layer;
        transformer->attention_head = head;
      }
    }
  } restore{model, transformer, model.is_training(), transformer ? transformer->attention_layer : -1,
            transformer ? transformer->attention_head : -1};
  if (transformer) {
    transformer->attention_layer = o.attention_layer;
    transformer->attention_head = o.attention_head;
  }
  model.eval();
  NoGradGuard no_grad;
  std::vector<std::vector<models::Hypothesis>> out(srcs.size());
  std::vector<size_t> order(srcs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  // Longest first, so each batch pads little; stable, so the result does not depend on the sort.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return srcs[a].size() > srcs[b].size(); });
  models::SearchOptions so;
  so.beam_size = o.beam_size;
  so.length_penalty = o.length_penalty;
  so.n_best = o.n_best;
  so.bos = Vocab::kBos;
  so.eos = Vocab::kEos;
  for (size_t start = 0; start < order.size(); start += size_t(o.batch_size)) {
    const size_t end = std::min(order.size(), start + size_t(o.batch_size));
    std::vector<const std::vector<int64_t>*> rows;
    std::vector<int64_t> max_lengths;
    for (size_t i = start; i < end; ++i) {
      const auto& s = srcs[order[i]];
      rows.push_back(&s);
      const double words = double(s.size()) - 1.0;  // without <eos>
      int64_t len = std::min<int64_t>(
          o.max_length, std::max<int64_t>(1, int64_t(std::ceil(o.max_length_ratio * words)) + o.max_length_offset));
      if (max_target > 0) len = std::min(len, max_target + 1);  // the tokens and <eos>
      max_lengths.push_back(len);
    }
    Tensor src, lens;
    pad_sources(rows, src, lens);
    auto decoder = model.start_decoding(src, lens);
    auto hyps = o.sample            ? models::sample_search(*decoder, max_lengths, so, sampling, &gen)
                : o.beam_size == 1 ? models::greedy_search(*decoder, max_lengths, so)
                                   : models::beam_search(*decoder, max_lengths, so);
    for (size_t i = start; i < end; ++i) {
      auto& list = hyps[i - start];
      const int64_t len = int64_t(srcs[order[i]].size());
      for (auto& h : list)
        if (h.attention.defined()) h.attention = h.attention.slice(1, 0, len).contiguous().to(kFloat32);
      out[order[i]] = std::move(list);
    }
  }
  return out;
}

// Mean cross-entropy per target token over `data` (teacher forcing, eval mode): {sum, tokens}.
std::pair<double, int64_t> loss_sum(models::TranslationModel& model, const std::vector<data::EncodedPair>& pairs,
                                    int64_t batch_size) {
  if (pairs.empty()) return {0.0, 0};
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  data::BatchOptions bo;
  bo.max_sentences = std::max<int64_t>(batch_size, 1);
  bo.shuffle = false;
  double sum = 0;
  int64_t tokens = 0;
  for (const auto& idx : data::plan_batches(pairs, bo)) {
    const data::Batch b = data::collate(pairs, idx, bo);
    Tensor logits = model.forward(b.src, b.src_lens, b.tgt_in);  // [B, T, V]
    const int64_t V = logits.size(2);
    Tensor loss = cross_entropy(logits.reshape({-1, V}), b.tgt_out.reshape({-1}), Tensor(), Vocab::kPad, Reduction::Sum);
    sum += loss.item();
    tokens += b.num_tgt_tokens();
  }
  model.train(was_training);
  return {sum, tokens};
}

// What a model needs at inference time: the model, its vocabularies and text preprocessing.
struct Pipeline {
  TrainConfig config;
  Vocab src_vocab, tgt_vocab;
  std::shared_ptr<models::TranslationModel> model;
  SubwordModels subwords;  // the SentencePiece models of the "spm" sides

  data::Normalization src_norm() const { return src_norm_of(config); }
  data::Normalization tgt_norm() const { return tgt_norm_of(config); }
  SideTokenizer src_tok() const { return {tokenization_of(config.src_tokenizer, "src_tokenizer"), subwords.src}; }
  SideTokenizer tgt_tok() const { return {tokenization_of(config.tgt_tokenizer, "tgt_tokenizer"), subwords.tgt}; }
  std::string bleu_tokenize() const { return config.tgt_tokenizer == "char" ? "zh" : "13a"; }
  // Fails now, not on the first sentence, when a side's tokenizer is unknown or its model missing.
  void check() const {
    for (const auto& [option, name, spm] : {std::tuple{"src_tokenizer", config.src_tokenizer, subwords.src.get()},
                                            std::tuple{"tgt_tokenizer", config.tgt_tokenizer, subwords.tgt.get()}}) {
      tokenization_of(name, option);
      ATTN_CHECK(name != "spm" || spm, "translator: ", option, " is spm but there is no SentencePiece model for it");
    }
  }

  // A source cut to what the model can read (see max_source_tokens).
  template <class T>
  void cut_source(std::vector<T>& toks) const {
    const int64_t limit = max_source_tokens(config);
    if (limit > 0 && int64_t(toks.size()) > limit) toks.resize(size_t(limit));
  }

  // Source tokens after normalisation, cut to what the model can read.
  std::vector<std::string> src_tokens(const std::string& s) const {
    auto toks = src_tok().tokenize(normalize_text(s, src_norm()));
    cut_source(toks);
    return toks;
  }

  std::vector<Translation> translate(const std::vector<std::string>& sentences, const TranslateOptions& o) const {
    std::vector<Translation> out(sentences.size());
    std::vector<std::vector<int64_t>> srcs;
    std::vector<size_t> where;
    for (size_t i = 0; i < sentences.size(); ++i) {
      out[i].source = sentences[i];
      auto toks = src_tokens(sentences[i]);
      if (toks.empty()) continue;  // nothing to translate
      srcs.push_back(src_vocab.encode(toks, false, true));
      toks.push_back(Vocab::specials()[size_t(Vocab::kEos)]);
      out[i].source_tokens = std::move(toks);
      where.push_back(i);
    }
    auto hyps = decode_all(*model, srcs, o, max_target_tokens(config));
    const SideTokenizer tt = tgt_tok();
    for (size_t k = 0; k < where.size(); ++k) {
      Translation& t = out[where[k]];
      for (const auto& h : hyps[k]) {
        TranslationHypothesis th;
        std::vector<std::string> words;
        for (int64_t id : h.tokens) {
          th.tokens.push_back(tgt_vocab.token(id));
          if (id != Vocab::kEos) words.push_back(tgt_vocab.token(id));
        }
        th.text = tt.detokenize(words);
        th.score = h.score;
        th.log_prob = h.log_prob;
        th.attention = h.attention.defined() ? h.attention : zeros({int64_t(th.tokens.size()), int64_t(t.source_tokens.size())});
        t.nbest.push_back(std::move(th));
      }
      if (!t.nbest.empty()) {
        const auto& best = t.nbest.front();
        t.text = best.text;
        t.tokens = best.tokens;
        t.attention = best.attention;
        t.score = best.score;
        t.log_prob = best.log_prob;
      }
    }
    for (auto& t : out)
      if (!t.attention.defined()) t.attention = zeros({0, int64_t(t.source_tokens.size())});
    return out;
  }

  // BLEU of greedy/beam translations and teacher-forced loss, on already normalised pairs.
  TranslatorEval evaluate_normalized(const std::vector<data::SentencePair>& pairs, const TranslateOptions& o,
                                     bool with_loss) const {
    TranslatorEval ev;
    ev.bleu_tokenize = bleu_tokenize();
    const SideTokenizer st = src_tok(), tt = tgt_tok();
    std::vector<std::vector<int64_t>> srcs;
    std::vector<data::SentencePair> kept;
    for (const auto& p : pairs) {
      auto sv = st.tokenize(p.src);
      if (sv.empty() || tt.tokenize(p.tgt).empty()) continue;
      cut_source(sv);
      srcs.push_back(src_vocab.encode(sv, false, true));
      kept.push_back(p);
    }
    ev.count = int64_t(kept.size());
    if (kept.empty()) return ev;
    auto hyps = decode_all(*model, srcs, o, max_target_tokens(config));
    for (size_t i = 0; i < kept.size(); ++i) {
      std::vector<std::string> words;
      if (!hyps[i].empty())
        for (int64_t id : hyps[i].front().tokens)
          if (id != Vocab::kEos) words.push_back(tgt_vocab.token(id));
      ev.hypotheses.push_back(tt.detokenize(words));
      ev.references.push_back(kept[i].tgt);
    }
    data::BleuOptions bo;
    bo.tokenize = ev.bleu_tokenize;
    ev.bleu = data::corpus_bleu(ev.hypotheses, ev.references, bo);
    if (with_loss) {
      auto enc = encode_pairs(kept, src_vocab, tgt_vocab, st, tt);
      const int64_t max_tgt = max_target_tokens(config);
      for (auto& e : enc) {
        cut_source(e.src);
        if (max_tgt > 0 && int64_t(e.tgt.size()) > max_tgt) e.tgt.resize(size_t(max_tgt));
      }
      auto [sum, tokens] = loss_sum(*model, enc, 64);
      ev.loss = tokens ? sum / double(tokens) : 0.0;
      ev.perplexity = std::exp(ev.loss);
    }
    return ev;
  }
};

// --- progress and logs -----------------------------------------------------------------------------

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t / 60 % 60), (long long)(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

// A one-line progress bar on a terminal (rewritten with \r), plain lines otherwise; every plain
// line also goes to the log file.
class Progress {
 public:
  Progress(bool quiet, const std::string& log_file) : quiet_(quiet), tty_(::isatty(::fileno(stderr)) != 0) {
    if (!log_file.empty()) {
      const fs::path p(log_file);
      if (p.has_parent_path()) fs::create_directories(p.parent_path());
      log_.open(log_file, std::ios::app);
      ATTN_CHECK(log_.good(), "train_translator: cannot open the log file ", log_file);
    }
  }
  ~Progress() { clear_bar(); }
  bool tty() const { return tty_ && !quiet_; }

  // A permanent line: stderr (unless quiet) and the log.
  void line(const std::string& s) {
    clear_bar();
    if (!quiet_) std::fprintf(stderr, "%s\n", s.c_str());
    if (log_.is_open()) log_ << s << "\n" << std::flush;
  }
  // A log-only line (used for per-batch lines on a terminal, where the bar replaces them).
  void log_only(const std::string& s) {
    if (log_.is_open()) log_ << s << "\n" << std::flush;
  }
  void bar(const std::string& s) {
    if (!tty()) return;
    std::fprintf(stderr, "\r%s\x1b[K", s.c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  }

 private:
  void clear_bar() {
    if (bar_shown_) std::fprintf(stderr, "\r\x1b[K");
    bar_shown_ = false;
  }
  bool quiet_, tty_;
  bool bar_shown_ = false;
  std::ofstream log_;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Learning-rate multiplier after `s` optimizer steps (closed form, so a resumed run needs only
// the step count).
double lr_factor(const TrainConfig& c, int64_t s, int64_t steps_per_epoch) {
  const double w = double(c.warmup_steps);
  const double n = double(s + 1);  // the step about to be taken, 1-based
  if (c.lr_schedule == "noam") return n < w ? n / w : std::sqrt(w / n);
  double f = c.warmup_steps > 0 ? std::min(1.0, n / w) : 1.0;
  if (c.lr_schedule == "step") {
    f *= std::pow(c.lr_gamma, double(s / (c.lr_step_size * std::max<int64_t>(steps_per_epoch, 1))));
  } else if (c.lr_schedule == "cosine") {
    const double total = double(std::max<int64_t>(c.epochs * steps_per_epoch, 1));
    const double t = std::min(double(s), total);
    const double m = c.lr_min / c.lr;
    f *= m + (1.0 - m) * (1.0 + std::cos(M_PI * t / total)) / 2.0;
  }
  return f;
}

// Restores the kernel thread count when the run ends.
struct ThreadsGuard {
  int prev;
  explicit ThreadsGuard(int64_t n) : prev(get_num_threads()) {
    if (n > 0) set_num_threads(int(n));
  }
  ~ThreadsGuard() { set_num_threads(prev); }
};

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd") {
    optim::SGDOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.weight_decay = c.weight_decay;
    return std::make_unique<optim::SGD>(std::move(params), o);
  }
  optim::AdamOptions o;
  o.lr = c.lr;
  o.betas = {c.adam_beta1, c.adam_beta2};
  o.weight_decay = c.weight_decay;
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{c.lr, o.betas, o.eps, c.weight_decay, false, false});
  return std::make_unique<optim::Adam>(std::move(params), o);
}

// Drops pairs longer than the limits, and those the model cannot read (max_source_tokens /
// max_target_tokens: concat-linear sources, learned positions).
std::vector<data::EncodedPair> length_filter(std::vector<data::EncodedPair> v, const TrainConfig& c, int64_t& dropped) {
  const int64_t ms = max_source_tokens(c), mt = max_target_tokens(c);
  std::vector<data::EncodedPair> out;
  out.reserve(v.size());
  for (auto& p : v) {
    const int64_t s = int64_t(p.src.size()), t = int64_t(p.tgt.size());
    const bool bad = s == 0 || t == 0 || (c.max_src_len > 0 && s > c.max_src_len) ||
                     (c.max_tgt_len > 0 && t > c.max_tgt_len) || (ms > 0 && s > ms) || (mt > 0 && t > mt);
    if (bad)
      ++dropped;
    else
      out.push_back(std::move(p));
  }
  return out;
}

std::vector<data::SentencePair> length_filter_pairs(const std::vector<data::SentencePair>& v, const TrainConfig& c,
                                                    const SideTokenizer& st, const SideTokenizer& tt, int64_t& dropped) {
  const int64_t ms = max_source_tokens(c), mt = max_target_tokens(c);
  std::vector<data::SentencePair> out;
  for (const auto& p : v) {
    const int64_t s = int64_t(st.tokenize(p.src).size()), t = int64_t(tt.tokenize(p.tgt).size());
    const bool bad = s == 0 || t == 0 || (ms > 0 && s > ms) || (mt > 0 && t > mt);
    if (bad)
      ++dropped;
    else
      out.push_back(p);
  }
  return out;
}

// The source embedding the pretrained vectors go into (the encoder's; shared with the target side
// in a Transformer with share_embeddings) and its width.
nn::Embedding& source_embedding(models::TranslationModel& model) {
  if (auto* rnn = dynamic_cast<models::Seq2Seq*>(&model)) return *rnn->encoder->embedding;
  if (auto* tr = dynamic_cast<models::TransformerModel*>(&model)) return *tr->src_embed;
  ATTN_FAIL("train_translator: no source embedding in a '", model.model_type(), "' model");
}
int64_t source_embedding_dim(const TrainConfig& c) {
  return c.model_type == "transformer" ? c.transformer.d_model : c.model.embed_dim;
}

// Trains the SentencePiece models of the "spm" sides on the (normalised) training split: one over
// both sides' sentences when joint, else one per side.
SubwordModels train_subwords(const TrainConfig& c, const std::vector<data::SentencePair>& train) {
  SubwordModels m;
  const bool s = c.src_tokenizer == "spm", t = c.tgt_tokenizer == "spm";
  if (!s && !t) return m;
  data::SentencePieceOptions o;
  o.vocab_size = c.spm_vocab_size;
  o.model_type = c.spm_model_type;
  // The text is already normalised as the config says; SentencePiece keeps it as it is, so
  // decode(encode(x)) == x and BLEU compares like with like.
  o.normalization = "identity";
  o.seed = c.seed;
  auto fit = [&](bool src, bool tgt, const char* what) {
    std::vector<std::string> sentences;
    sentences.reserve(train.size() * ((src && tgt) ? 2 : 1));
    if (src)
      for (const auto& p : train) sentences.push_back(p.src);
    if (tgt)
      for (const auto& p : train) sentences.push_back(p.tgt);
    try {
      return std::make_shared<const data::SentencePiece>(data::SentencePiece::train(sentences, o));
    } catch (const Error& e) {
      ATTN_FAIL("train_translator: training the ", what, " SentencePiece model (spm_vocab_size ", c.spm_vocab_size,
                ") failed: ", e.what());
    }
  };
  if (s && t && c.spm_joint) {
    m.src = m.tgt = fit(true, true, "joint");
  } else {
    if (s) m.src = fit(true, false, "source");
    if (t) m.tgt = fit(false, true, "target");
  }
  return m;
}

}  // namespace

void request_stop() noexcept { g_stop_requested.store(true, std::memory_order_relaxed); }

std::string source_normalization(const TrainConfig& c) { return c.src_normalize.empty() ? c.normalize : c.src_normalize; }
std::string target_normalization(const TrainConfig& c) { return c.tgt_normalize.empty() ? c.normalize : c.tgt_normalize; }

data::Corpus read_translation_corpus(const std::string& path, const TrainConfig& config, bool apply_filter,
                                     int64_t max_pairs) {
  data::ReadOptions ro = read_options(config);
  ro.tutorial_filter = apply_filter && config.tutorial_filter;
  ro.max_pairs = max_pairs;
  const data::Normalization sn = src_norm_of(config), tn = tgt_norm_of(config);
  if (sn == tn) return data::read_tatoeba(path, ro);
  // Read raw (the filter still judges the tutorial form), then normalise each side on its own.
  ro.normalize = data::Normalization::kNone;
  data::Corpus c = data::read_tatoeba(path, ro);
  std::vector<data::SentencePair> kept;
  kept.reserve(c.pairs.size());
  for (auto& p : c.pairs) {
    p.src = normalize_text(p.src, sn);
    p.tgt = normalize_text(p.tgt, tn);
    if (data::tokenize(p.src).empty() || data::tokenize(p.tgt).empty()) {
      ++c.report.empty_after_normalize;
      continue;
    }
    kept.push_back(std::move(p));
  }
  c.pairs = std::move(kept);
  c.report.pairs = int64_t(c.pairs.size());
  ATTN_CHECK(!c.pairs.empty(), "read_translation_corpus: ", path, ": no sentence pair is left after normalisation");
  return c;
}

// --- choices ---------------------------------------------------------------------------------------

std::string model_description(const TrainConfig& c) {
  if (c.model_type == "transformer") {
    const auto& t = c.transformer;
    std::ostringstream os;
    os << "Transformer (" << t.num_encoder_layers << "+" << t.num_decoder_layers << " layers, d_model " << t.d_model
       << ", " << t.nhead << " heads";
    if (t.num_kv_heads > 0 && t.num_kv_heads != t.nhead) os << " / " << t.num_kv_heads << " kv heads";
    os << ", ff " << t.dim_feedforward;
    if (t.moe_experts > 0) os << " x " << t.moe_experts << " experts (top " << t.moe_top_k << ")";
    os << ", " << t.positions << " positions" << (t.norm_first ? ", pre-LN" : "") << ")";
    return os.str();
  }
  const auto& m = c.model;
  std::string cell = m.cell;
  std::transform(cell.begin(), cell.end(), cell.begin(), [](unsigned char ch) { return char(std::toupper(ch)); });
  return m.attention + " attention, " + (m.bidirectional ? "bidirectional " : "") + cell + " encoder-decoder";
}

const std::vector<std::string>& normalize_choices() {
  static const std::vector<std::string> v = {"tutorial", "clean", "none"};
  return v;
}
const std::vector<std::string>& tokenizer_choices() {
  static const std::vector<std::string> v = {"word", "char", "spm"};
  return v;
}
const std::vector<std::string>& model_type_choices() {
  static const std::vector<std::string> v = {"rnn", "transformer"};
  return v;
}
const std::vector<std::string>& spm_model_type_choices() {
  static const std::vector<std::string> v = {"unigram", "bpe"};
  return v;
}
const std::vector<std::string>& optimizer_choices() {
  static const std::vector<std::string> v = {"adam", "adamw", "sgd"};
  return v;
}
const std::vector<std::string>& lr_schedule_choices() {
  static const std::vector<std::string> v = {"none", "step", "cosine", "noam"};
  return v;
}

// --- training --------------------------------------------------------------------------------------

TrainResult train_translator(const TrainConfig& config_in, const EpochCallback& on_epoch) {
  const auto t_start = Clock::now();
  g_stop_requested.store(false, std::memory_order_relaxed);
  validate(config_in);
  TrainResult result;

  // On resume the checkpoint's model, data and optimisation options win; the run's length, budget,
  // output and verbosity come from the caller.
  std::optional<Checkpoint> ck;
  TrainConfig cfg = config_in;
  const fs::path ckdir(config_in.checkpoint_dir);
  if (config_in.resume) {
    ck = load_checkpoint((ckdir / "last").string(), /*load_trainer=*/true);
    cfg = ck->config;
    cfg.epochs = config_in.epochs;
    cfg.time_budget = config_in.time_budget;
    cfg.max_steps = config_in.max_steps;
    cfg.patience = config_in.patience;
    cfg.checkpoint_dir = config_in.checkpoint_dir;
    cfg.log_file = config_in.log_file;
    cfg.quiet = config_in.quiet;
    cfg.log_every = config_in.log_every;
    cfg.threads = config_in.threads;
    cfg.resume = true;
    validate(cfg);
  }
  ThreadsGuard threads(cfg.threads);
  Progress progress(cfg.quiet, cfg.log_file);

  // Everything random comes from the default generator: seed it first (model initialisation
  // below is its first use); a resumed run restores its saved state instead, just before training.
  manual_seed(cfg.seed);

  // Data.
  data::CorpusSplits splits;
  if (!cfg.corpus_path.empty()) {
    data::Corpus corpus = read_translation_corpus(cfg.corpus_path, cfg, true, cfg.max_pairs);
    progress.line(corpus.report.summary());
    splits = data::split_corpus(corpus.pairs, {cfg.valid_fraction, cfg.test_fraction, cfg.seed});
  } else {
    splits.train = read_translation_corpus(cfg.train_path, cfg, true, cfg.max_pairs).pairs;
    if (!cfg.valid_path.empty()) splits.valid = read_translation_corpus(cfg.valid_path, cfg, true, cfg.max_pairs).pairs;
    if (!cfg.test_path.empty()) splits.test = read_translation_corpus(cfg.test_path, cfg, true, cfg.max_pairs).pairs;
    if (cfg.valid_path.empty() && cfg.valid_fraction > 0) {
      auto s = data::split_corpus(splits.train, {cfg.valid_fraction, 0.0, cfg.seed});
      splits.train = std::move(s.train);
      splits.valid = std::move(s.valid);
    }
  }
  ATTN_CHECK(!splits.train.empty(), "train_translator: the training split is empty");
  // Tokenisers: SentencePiece sides get their model trained on the training split (or the
  // checkpoint's, on resume).
  SubwordModels subwords;
  if (ck) {
    subwords = ck->subwords;
  } else {
    subwords = train_subwords(cfg, splits.train);
    if (subwords.src || subwords.tgt)
      progress.line(std::string("SentencePiece (") + cfg.spm_model_type + "): " +
                    (subwords.src && subwords.src == subwords.tgt
                         ? "one joint model of " + std::to_string(subwords.src->vocab_size()) + " pieces"
                         : (subwords.src ? std::to_string(subwords.src->vocab_size()) + " source pieces" : std::string()) +
                               (subwords.src && subwords.tgt ? ", " : "") +
                               (subwords.tgt ? std::to_string(subwords.tgt->vocab_size()) + " target pieces"
                                             : std::string())));
  }
  const SideTokenizer stok{tokenization_of(cfg.src_tokenizer, "src_tokenizer"), subwords.src};
  const SideTokenizer ttok{tokenization_of(cfg.tgt_tokenizer, "tgt_tokenizer"), subwords.tgt};

  Vocab src_vocab, tgt_vocab;
  if (ck) {
    src_vocab = ck->src_vocab;
    tgt_vocab = ck->tgt_vocab;
  } else {
    std::vector<std::vector<std::string>> s, t;
    for (const auto& p : splits.train) {
      if (!stok.spm) s.push_back(stok.tokenize(p.src));
      if (!ttok.spm) t.push_back(ttok.tokenize(p.tgt));
    }
    src_vocab = stok.spm ? data::vocab_for(*stok.spm) : Vocab::build(s, cfg.min_freq);
    tgt_vocab = ttok.spm ? data::vocab_for(*ttok.spm) : Vocab::build(t, cfg.min_freq);
    cfg.model.src_vocab = cfg.transformer.src_vocab = src_vocab.size();
    cfg.model.tgt_vocab = cfg.transformer.tgt_vocab = tgt_vocab.size();
    cfg.model.pad = cfg.transformer.pad = Vocab::kPad;
    cfg.model.bos = cfg.transformer.bos = Vocab::kBos;
    cfg.model.eos = cfg.transformer.eos = Vocab::kEos;
  }

  int64_t dropped = 0;
  auto train_data = length_filter(encode_pairs(splits.train, src_vocab, tgt_vocab, stok, ttok), cfg, dropped);
  int64_t dropped_valid = 0, dropped_test = 0;
  splits.valid = length_filter_pairs(splits.valid, cfg, stok, ttok, dropped_valid);
  splits.test = length_filter_pairs(splits.test, cfg, stok, ttok, dropped_test);
  ATTN_CHECK(!train_data.empty(), "train_translator: no training pair is left after the length limits (", dropped,
             " dropped)");
  const auto valid_data = encode_pairs(splits.valid, src_vocab, tgt_vocab, stok, ttok);
  result.n_train = int64_t(train_data.size());
  result.n_valid = int64_t(splits.valid.size());
  result.n_test = int64_t(splits.test.size());
  result.src_vocab_size = src_vocab.size();
  result.tgt_vocab_size = tgt_vocab.size();
  {
    std::ostringstream os;
    os << "data: " << result.n_train << " train, " << result.n_valid << " valid, " << result.n_test
       << " test pairs; vocab " << src_vocab.size() << " src, " << tgt_vocab.size() << " tgt";
    if (dropped + dropped_valid + dropped_test)
      os << "; dropped by length limits: " << dropped << " train, " << dropped_valid << " valid, " << dropped_test << " test";
    progress.line(os.str());
  }

  // Model, optimizer, schedule.
  std::shared_ptr<models::TranslationModel> model;
  if (ck) {
    model = build_model(*ck);
  } else {
    model = make_model(cfg);
    if (!cfg.init_src_embeddings.empty()) {
      const KeyedVectors kv = KeyedVectors::load(cfg.init_src_embeddings);
      const int64_t dim = source_embedding_dim(cfg);
      const char* dim_name = cfg.model_type == "transformer" ? "d_model" : "embed_dim";
      ATTN_CHECK(kv.dim() == dim, "train_translator: init_src_embeddings ", cfg.init_src_embeddings, " has dimension ",
                 kv.dim(), " but the model's ", dim_name, " is ", dim, "; train the vectors with --dim ", dim, " or set ",
                 dim_name, " to ", kv.dim());
      // Its own generator, so the rest of the run draws the same numbers with or without vectors.
      Generator gen(cfg.seed);
      const PretrainedEmbeddings pe = load_pretrained_embeddings(src_vocab, kv, dim, &gen, Vocab::kPad);
      {
        NoGradGuard no_grad;
        source_embedding(*model).weight.copy_(pe.weight);
      }
      std::ostringstream os;
      os << "source embeddings: " << pe.found << " of " << src_vocab.size() << " tokens from " << cfg.init_src_embeddings
         << " (" << kv.size() << " vectors, dim " << kv.dim() << ")" << (cfg.freeze_src_embeddings ? ", frozen" : "");
      progress.line(os.str());
    }
  }
  // Frozen rows get no gradient, so the optimizer, clipping and weight decay leave them as they are.
  if (cfg.freeze_src_embeddings) source_embedding(*model).weight.requires_grad_(false);
  model->train();
  result.num_parameters = model->num_parameters();
  const std::vector<Tensor> params = model->parameters();
  auto optimizer = make_optimizer(cfg, params);

  data::BatchOptions bo;
  bo.max_sentences = cfg.max_tokens > 0 ? 0 : cfg.batch_size;  // max_tokens: a token budget only
  bo.max_tokens = cfg.max_tokens;
  bo.shuffle = true;
  bo.seed = cfg.seed;
  const int64_t steps_per_epoch = int64_t(data::plan_batches(train_data, bo, 0).size());
  const TrainConfig sched_cfg = cfg;
  optim::LambdaLR scheduler(*optimizer, [sched_cfg, steps_per_epoch](int64_t s) {
    return lr_factor(sched_cfg, s, steps_per_epoch);
  });

  TrainerState st;
  st.n_train = result.n_train;
  if (ck) {
    st = *ck->trainer;
    ATTN_CHECK(st.n_train == 0 || st.n_train == result.n_train, "train_translator: cannot resume ",
               (ckdir / "last").string(), ": it was trained on ", st.n_train, " training pairs, but the data now gives ",
               result.n_train, " (the data files or options changed since); the batch order would differ");
    st.n_train = result.n_train;
    optimizer->load_state_dict(st.optimizer);
    scheduler.load_state_dict(st.scheduler);
    default_generator().manual_seed(st.rng_seed);
    default_generator().set_offset(st.rng_offset);
    progress.line("resuming " + (ckdir / "last").string() + " at epoch " + std::to_string(st.epoch + 1) + ", batch " +
                  std::to_string(st.batch_in_epoch) + ", step " + std::to_string(st.global_step));
  }
  {
    std::ostringstream os;
    os << "model: " << model_description(cfg) << ", " << result.num_parameters << " parameters; "
       << cfg.optimizer << " lr " << cfg.lr << ", " << steps_per_epoch << " batches per epoch";
    progress.line(os.str());
  }

  progress.log_only("config: " + train_config_to_json(cfg, -1));
  const bool save = !cfg.checkpoint_dir.empty();
  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, steps_per_epoch / 10);
  TranslateOptions vopt;
  vopt.beam_size = cfg.valid_beam;
  vopt.max_length_ratio = cfg.valid_max_length_ratio;
  vopt.batch_size = std::max<int64_t>(cfg.batch_size, 64);
  std::vector<data::SentencePair> bleu_pairs = splits.valid;
  if (cfg.valid_bleu_size > 0 && int64_t(bleu_pairs.size()) > cfg.valid_bleu_size) bleu_pairs.resize(size_t(cfg.valid_bleu_size));
  Pipeline pipe{cfg, src_vocab, tgt_vocab, model, subwords};

  result.stop_reason = "epochs";
  const double elapsed_before = st.elapsed_seconds;
  int64_t session_steps = 0;
  bool stop = false;
  const bool epoch_limit = cfg.epochs > 0;  // 0: the budget, max_steps or early stopping ends the run
  while ((!epoch_limit || st.epoch < cfg.epochs) && !stop) {
    const int64_t epoch = st.epoch;  // 0-based index of the epoch being trained
    const auto plan = data::plan_batches(train_data, bo, epoch);
    const int64_t nb = int64_t(plan.size());
    const auto t_epoch = Clock::now();
    double loss_sum_epoch = 0;
    int64_t tokens_epoch = 0, pairs_epoch = 0, steps_epoch = 0;
    int64_t b = st.batch_in_epoch;
    for (; b < nb; ++b) {
      const data::Batch batch = data::collate(train_data, plan[size_t(b)], bo);
      Tensor logits = model->forward(batch.src, batch.src_lens, batch.tgt_in, cfg.teacher_forcing_ratio);  // [B, T, V]
      const int64_t V = logits.size(2);
      Tensor loss = cross_entropy(logits.reshape({-1, V}), batch.tgt_out.reshape({-1}), Tensor(), Vocab::kPad,
                                  Reduction::Mean, cfg.label_smoothing);
      const double lv = loss.item();  // the cross-entropy alone, as reported and compared with validation
      if (const Tensor aux = model->aux_loss(); aux.defined()) loss = loss + aux;
      ATTN_CHECK(std::isfinite(lv), "train_translator: the loss became ", lv, " at epoch ", epoch + 1, ", batch ", b + 1,
                 " (step ", st.global_step + 1, "); try a lower lr or clip_norm");
      optimizer->zero_grad();
      loss.backward();
      if (cfg.clip_norm > 0) optim::clip_grad_norm_(params, cfg.clip_norm);
      optimizer->step();
      scheduler.step();
      ++st.global_step;
      ++session_steps;
      ++steps_epoch;
      const int64_t ntok = batch.num_tgt_tokens();
      loss_sum_epoch += lv * double(ntok);
      tokens_epoch += ntok;
      pairs_epoch += batch.size();

      const double el = seconds_since(t_epoch);
      const double rate = el > 0 ? double(pairs_epoch) / el : 0.0;
      const double per_batch = el / double(steps_epoch);
      // Without an epoch limit only max_steps bounds the remaining work (else the ETA is unknown).
      const double eta = epoch_limit ? per_batch * double((nb - b - 1) + (cfg.epochs - epoch - 1) * nb)
                         : cfg.max_steps > 0 ? per_batch * double(cfg.max_steps - session_steps)
                                             : std::numeric_limits<double>::infinity();
      const double budget_left = cfg.time_budget > 0 ? cfg.time_budget - seconds_since(t_start) : eta;
      std::ostringstream os;
      os << "epoch " << epoch + 1;
      if (epoch_limit) os << "/" << cfg.epochs;
      os << " batch " << b + 1 << "/" << nb << " loss "
         << fmt("%.4f", loss_sum_epoch / double(tokens_epoch)) << " lr " << fmt("%.3g", optimizer->lr()) << " "
         << fmt("%.0f", rate) << " pairs/s ETA " << fmt_duration(std::min(eta, std::max(budget_left, 0.0)));
      if (progress.tty()) {
        const int width = 20;
        const int filled = int(double(width) * double(b + 1) / double(nb));
        progress.bar("[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.') + "] " + os.str());
        if ((b + 1) % log_every == 0) progress.log_only(os.str());
      } else if ((b + 1) % log_every == 0) {
        progress.line(os.str());
      }

      if (cfg.max_steps > 0 && session_steps >= cfg.max_steps) {
        result.stop_reason = "max_steps";
        stop = true;
      }
      if (cfg.time_budget > 0 && seconds_since(t_start) >= cfg.time_budget) {
        result.stop_reason = "time_budget";
        stop = true;
      }
      if (g_stop_requested.load(std::memory_order_relaxed)) {
        result.stop_reason = "interrupted";
        stop = true;
      }
      if (stop) {
        ++b;
        break;
      }
    }
    const bool partial = b < nb;
    if (partial) {
      st.batch_in_epoch = b;
    } else {
      st.batch_in_epoch = 0;
      ++st.epoch;
    }
    // The generator state to resume from. Validation below leaves it as it was, so the stream of
    // the training run does not depend on how often it was interrupted.
    const uint64_t rng_seed = default_generator().seed(), rng_offset = default_generator().offset();

    EpochStats es;
    es.epoch = epoch + 1;
    es.partial = partial;
    es.steps = steps_epoch;
    es.train_loss = tokens_epoch ? loss_sum_epoch / double(tokens_epoch) : 0.0;
    es.lr = optimizer->lr();
    es.seconds = seconds_since(t_epoch);
    es.pairs_per_second = es.seconds > 0 ? double(pairs_epoch) / es.seconds : 0.0;
    if (!valid_data.empty()) {
      auto [vs, vt] = loss_sum(*model, valid_data, std::max<int64_t>(cfg.batch_size, 64));
      es.valid_loss = vt ? vs / double(vt) : 0.0;
      es.valid_bleu = pipe.evaluate_normalized(bleu_pairs, vopt, false).bleu.score;
    }
    default_generator().manual_seed(rng_seed);
    default_generator().set_offset(rng_offset);

    // Best model: higher BLEU, ties broken by lower validation loss. Without validation data the
    // latest model counts as the best.
    const bool better = valid_data.empty() || st.best_valid_bleu < 0 || es.valid_bleu > st.best_valid_bleu ||
                        (es.valid_bleu == st.best_valid_bleu && es.valid_loss < st.best_valid_loss);
    if (better) {
      st.best_valid_bleu = es.valid_bleu;
      st.best_valid_loss = es.valid_loss;
      st.best_epoch = epoch + 1;
      if (!partial) st.epochs_without_improvement = 0;
    } else if (!partial) {
      ++st.epochs_without_improvement;
    }
    es.best = better;
    st.elapsed_seconds = elapsed_before + seconds_since(t_start);
    st.history.push_back(es);
    st.rng_seed = rng_seed;
    st.rng_offset = rng_offset;

    {
      std::ostringstream os;
      os << "epoch " << es.epoch << (partial ? " (partial)" : "") << ": train loss " << fmt("%.4f", es.train_loss);
      if (!valid_data.empty())
        os << ", valid loss " << fmt("%.4f", es.valid_loss) << ", valid BLEU " << fmt("%.2f", es.valid_bleu);
      os << ", lr " << fmt("%.3g", es.lr) << ", " << fmt("%.1f", es.seconds) << " s, " << fmt("%.0f", es.pairs_per_second)
         << " pairs/s" << (better ? " *" : "");
      progress.line(os.str());
    }

    if (save) {
      std::map<std::string, double> metrics = {{"epoch", double(es.epoch)},
                                                {"global_step", double(st.global_step)},
                                                {"train_loss", es.train_loss},
                                                {"valid_loss", es.valid_loss},
                                                {"valid_bleu", es.valid_bleu}};
      st.optimizer = optimizer->state_dict();
      st.scheduler = scheduler.state_dict();
      save_checkpoint((ckdir / "last").string(), *model, cfg, src_vocab, tgt_vocab, metrics, &st, subwords);
      if (better) copy_checkpoint((ckdir / "last").string(), (ckdir / "best").string());
      st.optimizer.clear();
      st.scheduler.clear();
    }
    result.epochs.push_back(es);
    if (on_epoch) on_epoch(es);

    if (!partial && cfg.patience > 0 && st.epochs_without_improvement >= cfg.patience &&
        (!epoch_limit || st.epoch < cfg.epochs)) {
      result.stop_reason = "early_stopping";
      progress.line("early stopping: no better validation BLEU for " + std::to_string(cfg.patience) + " epochs");
      break;
    }
  }

  result.epochs_completed = st.epoch;
  result.global_step = st.global_step;
  result.best_valid_bleu = std::max(st.best_valid_bleu, 0.0);
  result.best_valid_loss = st.best_valid_loss;
  result.best_epoch = st.best_epoch;
  result.model = model;

  // The test split, scored with the best model.
  if (!splits.test.empty()) {
    Pipeline test_pipe = pipe;
    if (save && checkpoint_exists((ckdir / "best").string())) test_pipe.model = build_model(load_checkpoint((ckdir / "best").string()));
    const uint64_t rs = default_generator().seed(), roff = default_generator().offset();
    TranslateOptions topt = vopt;
    const TranslatorEval ev = test_pipe.evaluate_normalized(splits.test, topt, true);
    default_generator().manual_seed(rs);
    default_generator().set_offset(roff);
    result.test_bleu = ev.bleu.score;
    result.test_loss = ev.loss;
    progress.line("test (" + std::to_string(ev.count) + " pairs, best model): loss " + fmt("%.4f", ev.loss) + ", " +
                  ev.bleu.format() + " (tokenize " + ev.bleu_tokenize + ")");
  }
  model->eval();
  result.seconds = seconds_since(t_start);
  progress.line("done (" + result.stop_reason + "): " + std::to_string(result.epochs_completed) + " epochs, " +
                std::to_string(result.global_step) + " steps, best valid BLEU " + fmt("%.2f", result.best_valid_bleu) +
                " at epoch " + std::to_string(result.best_epoch) + ", " + fmt("%.1f", result.seconds) + " s");
  return result;
}

// --- Translator ------------------------------------------------------------------------------------

struct Translator::Impl {
  Pipeline pipe;
};

Translator::Translator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Translator::Translator(Translator&&) noexcept = default;
Translator& Translator::operator=(Translator&&) noexcept = default;
Translator::~Translator() = default;

Translator Translator::load(const std::string& dir) {
  Checkpoint ck = load_checkpoint(dir);
  auto impl = std::make_unique<Impl>();
  impl->pipe.model = build_model(ck);
  impl->pipe.config = std::move(ck.config);
  impl->pipe.src_vocab = std::move(ck.src_vocab);
  impl->pipe.tgt_vocab = std::move(ck.tgt_vocab);
  impl->pipe.subwords = std::move(ck.subwords);
  // Fail now, not on the first sentence, if the preprocessing options are unknown.
  (void)impl->pipe.src_norm();
  (void)impl->pipe.tgt_norm();
  impl->pipe.check();
  return Translator(std::move(impl));
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& sentences,
                                               const TranslateOptions& options) const {
  return impl_->pipe.translate(sentences, options);
}

Translation Translator::translate(const std::string& sentence, const TranslateOptions& options) const {
  return impl_->pipe.translate({sentence}, options).front();
}

TranslatorEval Translator::evaluate(const std::vector<std::pair<std::string, std::string>>& pairs,
                                    const TranslateOptions& options) const {
  std::vector<data::SentencePair> norm;
  norm.reserve(pairs.size());
  const auto sn = impl_->pipe.src_norm(), tn = impl_->pipe.tgt_norm();
  for (const auto& [s, t] : pairs) {
    data::SentencePair p;
    p.src = normalize_text(s, sn);
    p.tgt = normalize_text(t, tn);
    norm.push_back(std::move(p));
  }
  return impl_->pipe.evaluate_normalized(norm, options, true);
}

TranslatorEval Translator::evaluate_file(const std::string& path, const TranslateOptions& options, bool apply_filter,
                                         int64_t max_pairs) const {
  const data::Corpus c = read_translation_corpus(path, impl_->pipe.config, apply_filter, max_pairs);
  return impl_->pipe.evaluate_normalized(c.pairs, options, true);
}

std::string Translator::preprocess(const std::string& sentence) const {
  return normalize_text(sentence, impl_->pipe.src_norm());
}
std::vector<std::string> Translator::source_tokens(const std::string& sentence) const {
  return impl_->pipe.src_tokens(sentence);
}
std::vector<std::string> Translator::target_tokens(const std::string& sentence) const {
  return impl_->pipe.tgt_tok().tokenize(normalize_text(sentence, impl_->pipe.tgt_norm()));
}

Tensor Translator::attention_heads(const Translation& t) const {
  const Pipeline& p = impl_->pipe;
  const int64_t T = int64_t(t.tokens.size()), S = int64_t(t.source_tokens.size());
  auto transformer = std::dynamic_pointer_cast<models::TransformerModel>(p.model);
  if (!transformer) {
    ATTN_CHECK(t.attention.defined() && t.attention.dim() == 2 && t.attention.size(0) == T && t.attention.size(1) == S,
               "attention_heads: the translation's attention has shape ",
               t.attention.defined() ? shape_str(t.attention.shape()) : std::string("(undefined)"), ", expected [", T,
               ", ", S, "]");
    return t.attention.to(kFloat32).contiguous().reshape({1, 1, T, S});
  }
  const int64_t L = transformer->config.num_decoder_layers, H = transformer->config.nhead;
  if (T == 0 || S == 0) return zeros({L, H, T, S});
  // The model reads the source as translate() gave it (tokens + <eos>) and, teacher-forced,
  // <bos> followed by every output token but the last.
  std::vector<int64_t> src_ids, tgt_ids = {Vocab::kBos};
  for (const auto& tok : t.source_tokens) src_ids.push_back(p.src_vocab.id(tok));
  for (int64_t i = 0; i + 1 < T; ++i) tgt_ids.push_back(p.tgt_vocab.id(t.tokens[size_t(i)]));
  const bool was_training = transformer->is_training();
  transformer->eval();
  NoGradGuard no_grad;
  Tensor w;
  try {
    w = transformer->cross_attention_weights(tensor<int64_t>(src_ids, {1, S}), tensor<int64_t>({S}),
                                             tensor<int64_t>(tgt_ids, {1, T}));  // [L, 1, H, T, S]
  } catch (...) {
    transformer->train(was_training);
    throw;
  }
  transformer->train(was_training);
  return w.select(1, 0).to(kFloat32).contiguous();  // [L, H, T, S]
}

const TrainConfig& Translator::config() const { return impl_->pipe.config; }
const std::string& Translator::model_type() const { return impl_->pipe.config.model_type; }
const models::TranslationModel& Translator::model() const { return *impl_->pipe.model; }
std::shared_ptr<models::TranslationModel> Translator::model_ptr() const { return impl_->pipe.model; }
std::shared_ptr<models::Seq2Seq> Translator::seq2seq() const {
  return std::dynamic_pointer_cast<models::Seq2Seq>(impl_->pipe.model);
}
std::shared_ptr<models::TransformerModel> Translator::transformer() const {
  return std::dynamic_pointer_cast<models::TransformerModel>(impl_->pipe.model);
}
int64_t Translator::src_vocab_size() const { return impl_->pipe.src_vocab.size(); }
int64_t Translator::tgt_vocab_size() const { return impl_->pipe.tgt_vocab.size(); }

}  // namespace attn::train
