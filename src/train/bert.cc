// BERT pre-training: vocabulary, masking, batches, the training loop, held-out MLM accuracy,
// checkpoints and fill-mask queries (see attn/train/bert.h).
#include "attn/train/bert.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/core/file.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"
#include "attn/io/state_dict.h"
#include "attn/kernels/config.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/loss.h"
#include "attn/ops/reduce.h"
#include "attn/ops/softmax.h"
#include "attn/optim/adam.h"
#include "attn/optim/clip_grad.h"
#include "json_fields.h"
#include "thread_scope.h"

namespace attn::train {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kSpecialSpelling[] = {"[PAD]", "[CLS]", "[SEP]", "[UNK]"};
constexpr const char* kMaskSpelling = "[MASK]";

}  // namespace

// --- vocabulary ----------------------------------------------------------------------------------

BertVocab BertVocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq,
                           int64_t max_size) {
  return BertVocab(data::Vocab::build(sentences, min_freq, max_size));
}

int64_t BertVocab::id(std::string_view token) const {
  if (token == kMaskSpelling) return mask_id();
  for (int64_t i = 0; i < kFirstWord; ++i)
    if (token == kSpecialSpelling[i]) return i;
  return words_.id(token);
}

std::string BertVocab::token(int64_t id) const {
  ATTN_CHECK(id >= 0 && id < size(), "BertVocab: id ", id, " is outside [0, ", size(), ")");
  if (id == mask_id()) return kMaskSpelling;
  if (id < kFirstWord) return kSpecialSpelling[id];
  return words_.token(id);
}

std::vector<int64_t> BertVocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size() + 2);
  ids.push_back(kCls);
  for (const auto& t : tokens) ids.push_back(id(t));
  ids.push_back(kSep);
  return ids;
}

// --- masking -------------------------------------------------------------------------------------

void check_masking_options(const MaskingOptions& o) {
  ATTN_CHECK(o.probability >= 0 && o.probability <= 1, "masking: probability must be in [0, 1], got ", o.probability);
  ATTN_CHECK(o.mask_fraction >= 0 && o.random_fraction >= 0 && o.mask_fraction + o.random_fraction <= 1 + 1e-12,
             "masking: mask_fraction (", o.mask_fraction, ") and random_fraction (", o.random_fraction,
             ") must be >= 0 and sum to at most 1");
}

MaskedTokens mask_tokens(const Tensor& input_ids, const BertVocab& vocab, const MaskingOptions& o, Generator* gen) {
  check_masking_options(o);
  ATTN_CHECK(input_ids.defined() && input_ids.dtype() == kInt64, "mask_tokens: input_ids must be int64, got ",
             input_ids.defined() ? input_ids.describe() : std::string("an undefined tensor"));
  ATTN_CHECK(vocab.num_words() > 0, "mask_tokens: the vocabulary has no ordinary word to draw replacements from");
  const Tensor ids = input_ids.contiguous();
  const int64_t n = ids.numel();
  MaskedTokens out;
  out.input_ids = ids.clone();
  out.labels = full(ids.shape(), double(kIgnoreIndex), kInt64);
  if (n == 0) return out;
  // Three uniforms per position (choose?, which replacement?, which random word?), drawn in one
  // call so the corruption depends only on the generator's state and the batch's shape.
  const Tensor u = rand({3, n}, kFloat64, gen);
  const double* choose = u.data_ptr<double>();
  const double* kind = choose + n;
  const double* word = kind + n;
  const int64_t* in = ids.data_ptr<int64_t>();
  int64_t* x = out.input_ids.data_ptr<int64_t>();
  int64_t* y = out.labels.data_ptr<int64_t>();
  const int64_t V = vocab.size(), first = BertVocab::kFirstWord, words = vocab.num_words();
  for (int64_t i = 0; i < n; ++i) {
    ATTN_CHECK(in[i] >= 0 && in[i] < V, "mask_tokens: id ", in[i], " at flat position ", i, " is outside [0, ", V, ")");
    if (vocab.is_special(in[i]) || !(choose[i] < o.probability)) continue;
    y[i] = in[i];
    if (kind[i] < o.mask_fraction)
      x[i] = vocab.mask_id();
    else if (kind[i] < o.mask_fraction + o.random_fraction)
      x[i] = first + std::min(words - 1, int64_t(word[i] * double(words)));
    // else: left unchanged (the model must still predict it)
  }
  return out;
}

// --- text and batches ----------------------------------------------------------------------------

void check_text_options(const TextOptions& t) {
  ATTN_CHECK(t.normalize == "tutorial" || t.normalize == "clean" || t.normalize == "none",
             "text options: normalize must be tutorial, clean or none, got '", t.normalize, "'");
  ATTN_CHECK(t.tokenizer == "word" || t.tokenizer == "char", "text options: tokenizer must be word or char, got '",
             t.tokenizer, "'");
}

namespace {

std::string normalize_text(std::string_view s, const std::string& how) {
  if (how == "tutorial") return data::normalize_string(s);
  if (how == "clean") return data::clean_text(s);
  return std::string(s);
}

data::Tokenization tokenization_of(const std::string& t) {
  return t == "char" ? data::Tokenization::kChar : data::Tokenization::kWord;
}

}  // namespace

std::vector<std::string> bert_tokenize(std::string_view text, const TextOptions& options) {
  check_text_options(options);
  std::vector<std::string> out;
  auto add_piece = [&](std::string_view piece) {
    for (auto& t : data::tokenize(normalize_text(piece, options.normalize), tokenization_of(options.tokenizer)))
      out.push_back(std::move(t));
  };
  size_t start = 0;
  while (start <= text.size()) {
    // The earliest special spelled in the rest of the text.
    size_t best = std::string_view::npos;
    std::string_view best_token;
    for (std::string_view sp : {std::string_view(kMaskSpelling), std::string_view(kSpecialSpelling[0]),
                                std::string_view(kSpecialSpelling[1]), std::string_view(kSpecialSpelling[2]),
                                std::string_view(kSpecialSpelling[3])}) {
      const size_t at = text.find(sp, start);
      if (at < best) best = at, best_token = sp;
    }
    if (best == std::string_view::npos) {
      add_piece(text.substr(start));
      break;
    }
    add_piece(text.substr(start, best - start));
    out.emplace_back(best_token);
    start = best + best_token.size();
  }
  return out;
}

std::vector<std::vector<std::string>> read_sentences(const std::string& path, const std::string& side,
                                                     const TextOptions& text, int64_t max_pairs) {
  check_text_options(text);
  ATTN_CHECK(side == "src" || side == "tgt" || side == "both", "read_sentences: side must be src, tgt or both, got '",
             side, "'");
  data::ReadOptions ro;
  ro.max_pairs = max_pairs;
  ro.normalize = text.normalize == "tutorial" ? data::Normalization::kTutorial
                 : text.normalize == "clean"  ? data::Normalization::kClean
                                              : data::Normalization::kNone;
  const data::Corpus corpus = data::read_tatoeba(path, ro);
  const data::Tokenization tok = tokenization_of(text.tokenizer);
  std::vector<std::vector<std::string>> out;
  out.reserve(corpus.pairs.size() * (side == "both" ? 2 : 1));
  auto add = [&](const std::string& s) {
    auto t = data::tokenize(s, tok);
    if (!t.empty()) out.push_back(std::move(t));
  };
  for (const auto& p : corpus.pairs) {
    if (side != "tgt") add(p.src);
    if (side != "src") add(p.tgt);
  }
  return out;
}

BertBatch collate_bert(const std::vector<BertExample>& examples, int64_t max_length) {
  ATTN_CHECK(!examples.empty(), "collate_bert: no examples");
  bool pairs = false;
  for (const auto& e : examples) pairs = pairs || e.next_sentence_label >= 0;
  ATTN_CHECK(max_length >= (pairs ? 5 : 3), "collate_bert: max_length ", max_length, " leaves no room for a word (",
             pairs ? "[CLS] a [SEP] b [SEP]" : "[CLS] a [SEP]", ")");
  const int64_t B = int64_t(examples.size());
  // Lengths after truncation: cut the longer segment's tail until [CLS] a [SEP] (b [SEP]) fits.
  std::vector<std::pair<int64_t, int64_t>> lens(B);
  int64_t T = 0;
  for (int64_t i = 0; i < B; ++i) {
    const auto& e = examples[i];
    const bool pair = e.next_sentence_label >= 0;
    int64_t la = int64_t(e.a.size()), lb = pair ? int64_t(e.b.size()) : 0;
    const int64_t room = max_length - (pair ? 3 : 2);
    while (la + lb > room) (la >= lb ? la : lb) -= 1;
    lens[i] = {la, lb};
    T = std::max(T, la + lb + (pair ? 3 : 2));
  }
  BertBatch b;
  b.input_ids = zeros({B, T}, kInt64);  // [PAD] = 0
  b.token_type_ids = zeros({B, T}, kInt64);
  b.attention_mask = zeros({B, T}, kInt64);
  if (pairs) b.next_sentence_label = zeros({B}, kInt64);
  int64_t* ids = b.input_ids.data_ptr<int64_t>();
  int64_t* types = b.token_type_ids.data_ptr<int64_t>();
  int64_t* mask = b.attention_mask.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& e = examples[i];
    const auto [la, lb] = lens[i];
    int64_t* row = ids + i * T;
    int64_t t = 0;
    row[t++] = BertVocab::kCls;
    for (int64_t j = 0; j < la; ++j) row[t++] = e.a[j];
    row[t++] = BertVocab::kSep;
    const int64_t first_b = t;
    if (e.next_sentence_label >= 0) {
      for (int64_t j = 0; j < lb; ++j) row[t++] = e.b[j];
      row[t++] = BertVocab::kSep;
      b.next_sentence_label.data_ptr<int64_t>()[i] = e.next_sentence_label;
    } else if (pairs) {
      // A batch mixing single sentences and pairs has no consistent NSP target: a caller bug.
      ATTN_FAIL("collate_bert: example ", i, " has no second segment, but others in the batch do");
    }
    for (int64_t j = 0; j < t; ++j) mask[i * T + j] = 1;
    for (int64_t j = first_b; j < t; ++j) types[i * T + j] = 1;
  }
  return b;
}

// --- evaluation ----------------------------------------------------------------------------------

namespace {

using internal::ThreadScope;

// Restores a module's training mode on scope exit.
struct ModeScope {
  nn::Module& m;
  bool was;
  ModeScope(nn::Module& module, bool training) : m(module), was(module.is_training()) { m.train(training); }
  ~ModeScope() { m.train(was); }
};

// Flat indices of the chosen positions (labels != -100) and their labels.
std::pair<Tensor, Tensor> chosen_positions(const Tensor& labels) {
  const int64_t* y = labels.data_ptr<int64_t>();
  std::vector<int64_t> idx, val;
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (y[i] != kIgnoreIndex) idx.push_back(i), val.push_back(y[i]);
  return {tensor<int64_t>(idx), tensor<int64_t>(val)};
}

// The MLM loss of a masked batch: the head runs on the chosen rows only. Returns an undefined
// tensor when nothing was chosen. `logits_out` receives the [N, V] logits when given.
Tensor mlm_loss(models::BertEncoder& model, const Tensor& hidden, const Tensor& labels, Tensor* logits_out = nullptr,
                Tensor* targets_out = nullptr) {
  auto [idx, targets] = chosen_positions(labels);
  if (idx.numel() == 0) return Tensor();
  const int64_t D = hidden.size(2);
  const Tensor rows = index_select(hidden.reshape({-1, D}), 0, idx);  // [N, D]
  const Tensor logits = model.mlm_logits(rows);                        // [N, V]
  if (logits_out) *logits_out = logits;
  if (targets_out) *targets_out = targets;
  return cross_entropy(logits, targets);
}

// Encodes sentences as word ids (no [CLS] / [SEP]).
std::vector<std::vector<int64_t>> encode_words(const BertVocab& vocab,
                                               const std::vector<std::vector<std::string>>& sentences) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(sentences.size());
  for (const auto& s : sentences) {
    std::vector<int64_t> ids;
    ids.reserve(s.size());
    for (const auto& t : s) ids.push_back(vocab.id(t));
    out.push_back(std::move(ids));
  }
  return out;
}

// Next-sentence pairs: example i pairs sentence order[i] with the sentence after it in `ids`
// (label 0) or with a random other one (label 1), each with probability 1/2. The last sentence
// always gets a random partner.
std::vector<BertExample> nsp_examples(const std::vector<std::vector<int64_t>>& ids,
                                      const std::vector<int64_t>& order, Generator* gen) {
  const int64_t n = int64_t(ids.size());
  const Tensor u = rand({2, int64_t(order.size())}, kFloat64, gen);
  const double* coin = u.data_ptr<double>();
  const double* pick = coin + order.size();
  std::vector<BertExample> out;
  out.reserve(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const int64_t i = order[k];
    BertExample e;
    e.a = ids[i];
    if (coin[k] < 0.5 && i + 1 < n) {
      e.b = ids[i + 1];
      e.next_sentence_label = 0;
    } else {
      int64_t j = std::min(n - 1, int64_t(pick[k] * double(n)));
      if (n > 1 && j == i) j = (j + 1) % n;
      e.b = ids[j];
      e.next_sentence_label = 1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

MlmEvaluation evaluate_mlm(models::BertEncoder& model, const BertVocab& vocab,
                           const std::vector<std::vector<std::string>>& sentences, const MaskingOptions& masking,
                           int64_t max_length, int64_t batch_size, uint64_t seed) {
  ATTN_CHECK(batch_size >= 1, "evaluate_mlm: batch_size must be >= 1, got ", batch_size);
  ATTN_CHECK(vocab.size() == model.config.vocab_size, "evaluate_mlm: the vocabulary has ", vocab.size(),
             " tokens, the model ", model.config.vocab_size);
  NoGradGuard ng;
  ModeScope eval_mode(model, false);
  Generator gen(seed);
  const auto ids = encode_words(vocab, sentences);
  const int64_t n = int64_t(ids.size());
  MlmEvaluation ev;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    std::vector<BertExample> ex;
    for (int64_t i = start; i < std::min(n, start + batch_size); ++i) ex.push_back(BertExample{ids[i], {}, -1});
    const BertBatch b = collate_bert(ex, max_length);
    const MaskedTokens m = mask_tokens(b.input_ids, vocab, masking, &gen);
    const Tensor hidden = model.encode(m.input_ids, b.token_type_ids, b.attention_mask);
    Tensor logits, targets;
    const Tensor loss = mlm_loss(model, hidden, m.labels, &logits, &targets);
    if (!loss.defined()) continue;
    const int64_t N = targets.numel();
    loss_sum += loss.item() * double(N);
    const Tensor pred = argmax(logits, 1);
    const int64_t* p = pred.data_ptr<int64_t>();
    const int64_t* t = targets.data_ptr<int64_t>();
    for (int64_t i = 0; i < N; ++i) correct += p[i] == t[i];
    ev.masked += N;
  }
  if (ev.masked > 0) {
    ev.loss = loss_sum / double(ev.masked);
    ev.accuracy = double(correct) / double(ev.masked);
  }
  if (model.pooler && n >= 2) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    const auto ex = nsp_examples(ids, order, &gen);
    int64_t right = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const std::vector<BertExample> part(ex.begin() + start, ex.begin() + std::min(n, start + batch_size));
      const BertBatch b = collate_bert(part, max_length);
      const Tensor hidden = model.encode(b.input_ids, b.token_type_ids, b.attention_mask);
      const Tensor pred = argmax(model.nsp_logits(hidden), 1);
      const int64_t* p = pred.data_ptr<int64_t>();
      const int64_t* t = b.next_sentence_label.data_ptr<int64_t>();
      for (int64_t i = 0; i < pred.numel(); ++i) right += p[i] == t[i];
    }
    ev.nsp_accuracy = double(right) / double(n);
  }
  return ev;
}

// --- pre-training --------------------------------------------------------------------------------

void check_pretrain_options(const PretrainOptions& o) {
  check_masking_options(o.masking);
  ATTN_CHECK(o.min_freq >= 1, "pretrain: min_freq must be >= 1, got ", o.min_freq);
  ATTN_CHECK(o.max_vocab == 0 || o.max_vocab > data::Vocab::kNumSpecials, "pretrain: max_vocab must be 0 or more than ",
             data::Vocab::kNumSpecials, " (the specials), got ", o.max_vocab);
  ATTN_CHECK(o.max_length >= (o.next_sentence ? 5 : 3), "pretrain: max_length ", o.max_length, " is too short");
  ATTN_CHECK(o.max_length <= o.model.max_position_embeddings, "pretrain: max_length ", o.max_length,
             " exceeds the model's max_position_embeddings ", o.model.max_position_embeddings);
  ATTN_CHECK(o.valid_fraction >= 0 && o.valid_fraction < 1, "pretrain: valid_fraction must be in [0, 1), got ",
             o.valid_fraction);
  ATTN_CHECK(o.batch_size >= 1, "pretrain: batch_size must be >= 1, got ", o.batch_size);
  ATTN_CHECK(o.lr > 0 && std::isfinite(o.lr), "pretrain: lr must be positive, got ", o.lr);
  ATTN_CHECK(o.warmup_steps >= 0, "pretrain: warmup_steps must be >= 0, got ", o.warmup_steps);
  ATTN_CHECK(o.weight_decay >= 0, "pretrain: weight_decay must be >= 0, got ", o.weight_decay);
  ATTN_CHECK(o.clip_norm >= 0, "pretrain: clip_norm must be >= 0, got ", o.clip_norm);
  ATTN_CHECK(o.max_steps >= 0 && o.time_budget >= 0 && o.epochs >= 0,
             "pretrain: max_steps, time_budget and epochs must be >= 0");
  ATTN_CHECK(o.max_steps > 0 || o.time_budget > 0 || o.epochs > 0,
             "pretrain: no limit given: set max_steps, time_budget or epochs");
  ATTN_CHECK(o.threads >= 0, "pretrain: threads must be >= 0, got ", o.threads);
}

PretrainResult pretrain_bert(const std::vector<std::vector<std::string>>& sentences_in, const PretrainOptions& options,
                             const PretrainProgress& progress) {
  check_pretrain_options(options);
  ThreadScope threads(options.threads);
  PretrainResult r;
  r.options = options;
  Generator gen(options.seed);
  default_generator().manual_seed(options.seed);  // dropout draws from the default generator

  // Split: held-out sentences drawn at random; the training ones keep their corpus order (so
  // "the next sentence" means the next one in the file).
  std::vector<std::vector<std::string>> sentences;
  for (const auto& s : sentences_in)
    if (!s.empty()) sentences.push_back(s);
  const int64_t n = int64_t(sentences.size());
  ATTN_CHECK(n >= 2, "pretrain: need at least 2 non-empty sentences, got ", n);
  int64_t n_valid = int64_t(std::llround(options.valid_fraction * double(n)));
  if (options.valid_fraction > 0) n_valid = std::clamp<int64_t>(n_valid, 1, n - 1);
  std::vector<char> is_valid(n, 0);
  {
    const Tensor perm = randperm(n, &gen);
    for (int64_t i = 0; i < n_valid; ++i) is_valid[perm.data_ptr<int64_t>()[i]] = 1;
  }
  std::vector<std::vector<std::string>> train_s, valid_s;
  for (int64_t i = 0; i < n; ++i) (is_valid[i] ? valid_s : train_s).push_back(sentences[i]);
  r.stats.n_train = int64_t(train_s.size());
  r.stats.n_valid = int64_t(valid_s.size());

  r.vocab = BertVocab::build(train_s, options.min_freq, options.max_vocab);
  ATTN_CHECK(r.vocab.num_words() > 0, "pretrain: no word is seen at least min_freq = ", options.min_freq,
             " times in the ", train_s.size(), " training sentences");
  r.options.model.vocab_size = r.vocab.size();
  r.options.model.pad_token_id = BertVocab::kPad;
  r.options.model.next_sentence = options.next_sentence;
  r.model = std::make_shared<models::BertEncoder>(r.options.model);
  models::BertEncoder& model = *r.model;
  model.reset_parameters(&gen);
  model.train();

  // AdamW with BERT's exemption of biases and LayerNorm weights (all 1-D parameters) from decay.
  std::vector<Tensor> decay, no_decay;
  for (const Tensor& p : model.parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  optim::AdamWOptions with_decay;
  with_decay.lr = options.lr;
  with_decay.weight_decay = options.weight_decay;
  optim::AdamWOptions without_decay = with_decay;
  without_decay.weight_decay = 0;
  optim::AdamW opt({{decay, with_decay}, {no_decay, without_decay}});
  const std::vector<Tensor> params = model.parameters();

  const auto ids = encode_words(r.vocab, train_s);
  const int64_t n_train = int64_t(ids.size());
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  // The fraction of the run done, by the limit closest to ending it.
  auto done_fraction = [&](int64_t step, double sentences_seen) {
    double d = 0;
    if (options.max_steps > 0) d = std::max(d, double(step) / double(options.max_steps));
    if (options.time_budget > 0) d = std::max(d, elapsed() / options.time_budget);
    if (options.epochs > 0) d = std::max(d, sentences_seen / double(options.epochs * n_train));
    return std::min(d, 1.0);
  };

  int64_t step = 0, epoch = 0;
  double seen = 0;
  bool stop = false;
  while (!stop) {
    if (options.epochs > 0 && epoch >= options.epochs) {
      r.stats.stop_reason = "epochs";
      break;
    }
    const Tensor perm = randperm(n_train, &gen);
    const int64_t* order = perm.data_ptr<int64_t>();
    for (int64_t b0 = 0; b0 < n_train && !stop; b0 += options.batch_size) {
      if (options.max_steps > 0 && step >= options.max_steps) {
        r.stats.stop_reason = "max_steps";
        stop = true;
        break;
      }
      if (options.time_budget > 0 && elapsed() >= options.time_budget) {
        r.stats.stop_reason = "time_budget";
        stop = true;
        break;
      }
      const int64_t b1 = std::min(n_train, b0 + options.batch_size);
      std::vector<BertExample> ex;
      if (options.next_sentence) {
        ex = nsp_examples(ids, std::vector<int64_t>(order + b0, order + b1), &gen);
      } else {
        for (int64_t k = b0; k < b1; ++k) ex.push_back(BertExample{ids[order[k]], {}, -1});
      }
      const BertBatch batch = collate_bert(ex, options.max_length);
      const MaskedTokens m = mask_tokens(batch.input_ids, r.vocab, options.masking, &gen);
      seen += double(b1 - b0);

      const Tensor hidden = model.encode(m.input_ids, batch.token_type_ids, batch.attention_mask);  // [B, T, D]
      Tensor loss = mlm_loss(model, hidden, m.labels);
      if (options.next_sentence) {
        const Tensor nsp = cross_entropy(model.nsp_logits(hidden), batch.next_sentence_label);
        loss = loss.defined() ? loss + nsp : nsp;
      }
      if (!loss.defined()) continue;  // nothing chosen in this (tiny) batch: no signal
      ++step;
      // Linear warmup, then linear decay to zero at the end of the run.
      const double warm = options.warmup_steps > 0 ? std::min(1.0, double(step) / double(options.warmup_steps)) : 1.0;
      const double lr = options.lr * warm * std::max(0.0, 1.0 - done_fraction(step - 1, seen));
      opt.set_lr(lr);
      loss.backward();
      if (options.clip_norm > 0) optim::clip_grad_norm_(params, options.clip_norm);
      opt.step();
      opt.zero_grad();
      const double l = loss.item();
      ATTN_CHECK(std::isfinite(l), "pretrain: the loss became ", l, " at step ", step,
                 " (lower the learning rate, or keep clipping on)");
      if (step == 1) r.stats.first_loss = l;
      r.stats.loss_history.push_back(l);
      if (progress) progress(step, done_fraction(step, seen), lr, l);
    }
    if (!stop) ++epoch;
  }
  r.stats.steps = step;
  r.stats.epochs = n_train > 0 ? seen / double(n_train) : 0;
  r.stats.seconds = elapsed();
  if (!r.stats.loss_history.empty()) {
    const size_t tail = std::max<size_t>(1, r.stats.loss_history.size() / 10);
    double s = 0;
    for (size_t i = r.stats.loss_history.size() - tail; i < r.stats.loss_history.size(); ++i) s += r.stats.loss_history[i];
    r.stats.final_loss = s / double(tail);
  }
  model.eval();
  if (!valid_s.empty())
    r.stats.valid = evaluate_mlm(model, r.vocab, valid_s, options.masking, options.max_length, options.batch_size);
  return r;
}

// --- checkpoints ---------------------------------------------------------------------------------

namespace {

// One list of (name, member) per struct, used both to write and to read, so the two cannot drift.
template <class V>
void visit_config(models::BertConfig& c, V&& v) {
  v("vocab_size", c.vocab_size);
  v("hidden_size", c.hidden_size);
  v("num_hidden_layers", c.num_hidden_layers);
  v("num_attention_heads", c.num_attention_heads);
  v("intermediate_size", c.intermediate_size);
  v("hidden_act", c.hidden_act);
  v("hidden_dropout_prob", c.hidden_dropout_prob);
  v("max_position_embeddings", c.max_position_embeddings);
  v("type_vocab_size", c.type_vocab_size);
  v("layer_norm_eps", c.layer_norm_eps);
  v("initializer_range", c.initializer_range);
  v("pad_token_id", c.pad_token_id);
  v("next_sentence", c.next_sentence);
}

template <class V>
void visit_text(TextOptions& t, V&& v) {
  v("normalize", t.normalize);
  v("tokenizer", t.tokenizer);
}

template <class V>
void visit_pretrain(PretrainOptions& o, V&& v) {
  v("min_freq", o.min_freq);
  v("max_vocab", o.max_vocab);
  v("max_length", o.max_length);
  v("valid_fraction", o.valid_fraction);
  v("batch_size", o.batch_size);
  v("lr", o.lr);
  v("warmup_steps", o.warmup_steps);
  v("weight_decay", o.weight_decay);
  v("clip_norm", o.clip_norm);
  v("max_steps", o.max_steps);
  v("time_budget", o.time_budget);
  v("epochs", o.epochs);
  v("mask_probability", o.masking.probability);
  v("mask_fraction", o.masking.mask_fraction);
  v("random_fraction", o.masking.random_fraction);
  v("next_sentence", o.next_sentence);
  v("seed", o.seed);
  v("threads", o.threads);
}

using Writer = internal::JsonFieldWriter;

template <class S, class Visit>
void read_object(const json& j, const std::string& where, S& s, Visit visit) {
  ATTN_CHECK(j.is_object(), "checkpoint: ", where, " must be a JSON object, got ", j.type_name());
  std::vector<std::string> known;
  visit(s, [&](const char* name, auto&) { known.emplace_back(name); });
  for (const auto& [key, value] : j.items())
    ATTN_CHECK(std::find(known.begin(), known.end(), key) != known.end(), "checkpoint: ", where, ": unknown field \"",
               key, "\"");
  visit(s, internal::JsonFieldReader{j, "checkpoint: " + where, {}});
}

}  // namespace

void save_bert_checkpoint(const std::string& dir_str, const models::BertEncoder& model, const BertVocab& vocab,
                          const TextOptions& text, const PretrainOptions* options,
                          const std::map<std::string, double>& metrics) {
  ATTN_CHECK(!dir_str.empty(), "save_bert_checkpoint: empty directory name");
  ATTN_CHECK(vocab.size() == model.config.vocab_size, "save_bert_checkpoint: the vocabulary has ", vocab.size(),
             " tokens, the model ", model.config.vocab_size);
  check_text_options(text);
  fs::path dir(dir_str);
  if (!dir.has_filename()) dir = dir.parent_path();  // "ckpt/" -> "ckpt"
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  ATTN_CHECK(!ec, "save_bert_checkpoint: cannot create ", parent.string(), ": ", ec.message());
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp(dir.string() + ".tmp-" + pid);
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  ATTN_CHECK(!ec, "save_bert_checkpoint: cannot create ", tmp.string(), ": ", ec.message());
  try {
    io::save_state_dict((tmp / "model.safetensors").string(), model);
    json cfg = json::object();
    cfg["format"] = kBertCheckpointFormat;
    cfg["version"] = kBertCheckpointVersion;
    json m = json::object();
    visit_config(const_cast<models::BertConfig&>(model.config), Writer{m});
    m["dtype"] = model.config.dtype == kFloat64 ? "float64" : "float32";
    cfg["model"] = m;
    json t = json::object();
    visit_text(const_cast<TextOptions&>(text), Writer{t});
    cfg["text"] = t;
    if (options) {
      json p = json::object();
      visit_pretrain(const_cast<PretrainOptions&>(*options), Writer{p});
      cfg["pretrain"] = p;
    }
    json mt = json::object();
    for (const auto& [k, v] : metrics) mt[k] = v;
    cfg["metrics"] = mt;
    write_file_synced((tmp / "config.json").string(), cfg.dump(2) + "\n");
    write_file_synced((tmp / "vocab.json").string(), vocab.words().to_json() + "\n");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fsync_directory(tmp.string());
  publish_directory(tmp.string(), dir.string());
}

BertCheckpoint load_bert_checkpoint(const std::string& dir_str) {
  const fs::path dir(dir_str);
  ATTN_CHECK(fs::is_directory(dir), "checkpoint: ", dir_str,
             " is not a directory (expected a BERT checkpoint with model.safetensors, config.json, vocab.json)");
  const fs::path cfg_path = dir / "config.json";
  const std::string cfg_file = cfg_path.string();
  json cfg;
  try {
    cfg = json::parse(read_file(cfg_path.string()));
  } catch (const json::exception& e) {
    ATTN_FAIL("checkpoint: ", cfg_file, " is not valid JSON (", e.what(), ")");
  }
  ATTN_CHECK(cfg.is_object(), "checkpoint: ", cfg_file, ": expected a JSON object, got ", cfg.type_name());
  ATTN_CHECK(cfg.contains("format") && cfg["format"] == kBertCheckpointFormat, "checkpoint: ", cfg_file,
             ": \"format\" is ", cfg.contains("format") ? cfg["format"].dump() : std::string("missing"),
             ", expected \"", kBertCheckpointFormat, "\"",
             cfg.contains("format") && cfg["format"] == "attn.translator"
                 ? " (this is a translation checkpoint: use `attn translate`)"
                 : "");
  ATTN_CHECK(cfg.contains("version") && cfg["version"].is_number_integer(), "checkpoint: ", cfg_file,
             ": \"version\" is missing or not an integer");
  const int64_t version = cfg["version"].get<int64_t>();
  ATTN_CHECK(version <= kBertCheckpointVersion, "checkpoint: ", cfg_file, " has format version ", version,
             ", newer than this attn reads (", kBertCheckpointVersion, "): upgrade attn");
  ATTN_CHECK(cfg.contains("model"), "checkpoint: ", cfg_file, ": missing \"model\"");

  BertCheckpoint ck;
  models::BertConfig config;
  json model_j = cfg["model"];
  std::string dtype = "float32";
  if (model_j.is_object() && model_j.contains("dtype")) {
    ATTN_CHECK(model_j["dtype"].is_string() && (model_j["dtype"] == "float32" || model_j["dtype"] == "float64"),
               "checkpoint: ", cfg_file, ": model.dtype must be \"float32\" or \"float64\"");
    dtype = model_j["dtype"].get<std::string>();
    model_j.erase("dtype");
  }
  read_object(model_j, cfg_file + " \"model\"", config, [](auto& s, auto&& v) { visit_config(s, v); });
  config.dtype = dtype == "float64" ? kFloat64 : kFloat32;
  if (cfg.contains("text"))
    read_object(cfg["text"], cfg_file + " \"text\"", ck.text, [](auto& s, auto&& v) { visit_text(s, v); });
  check_text_options(ck.text);
  if (cfg.contains("metrics")) {
    ATTN_CHECK(cfg["metrics"].is_object(), "checkpoint: ", cfg_file, ": \"metrics\" must be an object");
    for (const auto& [k, v] : cfg["metrics"].items()) {
      ATTN_CHECK(v.is_number(), "checkpoint: ", cfg_file, ": metric \"", k, "\" is not a number");
      ck.metrics[k] = v.get<double>();
    }
  }

  const fs::path vocab_path = dir / "vocab.json";
  ck.vocab = BertVocab(data::Vocab::from_json(read_file(vocab_path.string()), vocab_path.string()));
  ATTN_CHECK(ck.vocab.size() == config.vocab_size, "checkpoint: ", vocab_path.string(), " gives ", ck.vocab.size(),
             " tokens with [MASK], but ", cfg_file, " says vocab_size ", config.vocab_size);

  // Building the model draws initial weights; keep the caller's default generator as it was.
  Generator& g = default_generator();
  const uint64_t seed = g.seed(), offset = g.offset();
  try {
    ck.model = std::make_shared<models::BertEncoder>(config);
  } catch (const Error& e) {
    g.manual_seed(seed);
    g.set_offset(offset);
    ATTN_FAIL("checkpoint: the model options in ", cfg_file, " are invalid: ", e.what());
  }
  g.manual_seed(seed);
  g.set_offset(offset);

  const fs::path weights = dir / "model.safetensors";
  ATTN_CHECK(fs::exists(weights), "checkpoint: missing file ", weights.string());
  try {
    const io::StateDict sd = io::load_state_dict(weights.string(), /*check_finite=*/true);
    ck.model->load_state_dict(sd, /*strict=*/true);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(weights.string()) != std::string::npos) throw;
    ATTN_FAIL("checkpoint: ", weights.string(), ": ", msg);
  }
  ck.model->eval();
  return ck;
}

// --- fill-mask -----------------------------------------------------------------------------------

FillMask::FillMask(const std::string& checkpoint_dir) {
  BertCheckpoint ck = load_bert_checkpoint(checkpoint_dir);
  model_ = std::move(ck.model);
  vocab_ = std::move(ck.vocab);
  text_ = ck.text;
  metrics_ = std::move(ck.metrics);
}

FillMask::FillMask(std::shared_ptr<models::BertEncoder> model, BertVocab vocab, TextOptions text)
    : model_(std::move(model)), vocab_(std::move(vocab)), text_(std::move(text)) {
  ATTN_CHECK(model_ != nullptr, "FillMask: no model");
  ATTN_CHECK(vocab_.size() == model_->config.vocab_size, "FillMask: the vocabulary has ", vocab_.size(),
             " tokens, the model ", model_->config.vocab_size);
  check_text_options(text_);
}

FillResult FillMask::operator()(std::string_view text, int64_t k) const { return fill_tokens(bert_tokenize(text, text_), k); }

FillResult FillMask::fill_tokens(const std::vector<std::string>& tokens, int64_t k) const {
  ATTN_CHECK(k >= 1, "fill: k must be >= 1, got ", k);
  FillResult r;
  const std::vector<int64_t> ids = vocab_.encode(tokens);  // [CLS] ... [SEP]
  for (size_t i = 0; i < tokens.size(); ++i) {
    r.tokens.push_back(vocab_.token(ids[i + 1]));
    if (ids[i + 1] == vocab_.mask_id()) r.mask_positions.push_back(int64_t(i));
  }
  ATTN_CHECK(!r.mask_positions.empty(), "fill: the query has no [MASK] token");
  const int64_t T = int64_t(ids.size());
  ATTN_CHECK(T <= model_->config.max_position_embeddings, "fill: the query has ", T,
             " tokens with [CLS] and [SEP], more than the model's ", model_->config.max_position_embeddings);
  NoGradGuard ng;
  model_->eval();
  const Tensor hidden = model_->encode(tensor<int64_t>(ids, {1, T}));  // [1, T, D]
  std::vector<int64_t> rows;
  for (int64_t p : r.mask_positions) rows.push_back(p + 1);  // after [CLS]
  const Tensor h = index_select(hidden.reshape({T, -1}), 0, tensor<int64_t>(rows));  // [M, D]
  const Tensor probs = softmax(model_->mlm_logits(h).to(kFloat64), 1).contiguous();  // [M, V]
  const int64_t V = probs.size(1);
  const int64_t kk = std::min<int64_t>(k, vocab_.num_words());
  for (int64_t m = 0; m < int64_t(rows.size()); ++m) {
    const double* p = probs.data_ptr<double>() + m * V;
    std::vector<int64_t> cand;
    for (int64_t id = BertVocab::kFirstWord; id < V; ++id)
      if (!vocab_.is_special(id)) cand.push_back(id);
    // Best first; ties by id, so the order is the same everywhere.
    std::partial_sort(cand.begin(), cand.begin() + kk, cand.end(),
                      [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    std::vector<FillPrediction> best;
    for (int64_t i = 0; i < kk; ++i) best.push_back(FillPrediction{vocab_.token(cand[i]), cand[i], p[cand[i]]});
    r.predictions.push_back(std::move(best));
  }
  return r;
}

}  // namespace attn::train
