// Neural machine translation end to end: train a translation model (models/translation_model.h:
// an RNN encoder-decoder with attention, models/seq2seq.h - Bahdanau et al. 2014, Luong et al.
// 2015, the PyTorch tutorial's decoder - or a Transformer, models/transformer.h - Vaswani et al.
// 2017) on a Tatoeba-style parallel corpus, keep the best checkpoint, and translate or score with it.
// docs/training.md describes every option, the checkpoint layout, resuming and the logs.
//
// Training (train_translator):
//   data     read_tatoeba (data/tatoeba.h) with the chosen normalisation, direction and filter;
//            either three files (train / valid / test) or one corpus split deterministically
//            with `seed`; tokenised per side (word, char for Chinese/Japanese, or SentencePiece
//            subwords trained on the training split, data/subword.h); vocabularies built from the
//            training split only (min_freq; <pad>=0 <bos>=1 <eos>=2 <unk>=3; spm: the pieces).
//   batches  source = tokens + <eos>; decoder input = <bos> + tokens; decoder target = tokens +
//            <eos>; padded with <pad>, batched by sentences (batch_size) or by tokens (max_tokens),
//            reshuffled every epoch from the run's generator.
//   loss     cross-entropy over every target position, <pad> ignored (ignore_index = 0), with
//            optional label smoothing; mean over the non-pad target tokens of the batch; plus the
//            model's aux_loss() when it has one (the Mixture-of-Experts balancing loss).
//   step     backward, clip_grad_norm_ (clip_norm > 0), optimizer step, per-step schedule.
//   epoch    validation loss on the whole validation split and BLEU (sacreBLEU-compatible,
//            data/bleu.h) on its first valid_bleu_size pairs, decoded greedily (valid_beam 1)
//            or with beam search. The best validation BLEU so far (ties: lower loss) is kept in
//            <checkpoint_dir>/best, the latest state in <checkpoint_dir>/last; early stopping
//            after `patience` epochs without improvement.
//   budget   with time_budget > 0 (or max_steps > 0), training stops after the batch during which
//            the budget ran out, then validates and saves as at the end of an epoch (the epoch is
//            recorded as partial, and `resume` continues it from the next batch).
//
// Determinism and resume: everything random (model initialisation, data split, batch order,
// dropout masks, teacher-forcing coins) draws from attn::default_generator(), seeded with `seed`
// when a run starts (as torch.manual_seed at the top of a training script). The checkpoint saves
// the generator's state with the model, optimizer and scheduler state, the epoch, the position
// within the epoch and the early-stopping counters, so `resume` continues bit for bit: training
// N epochs in one go and training k epochs, stopping, and resuming give identical weights.
//
// BLEU: sacreBLEU's defaults (13a tokenisation, exp smoothing) on detokenised text for word-level
// targets (SentencePiece targets are first decoded back to text); for char-level targets (Chinese)
// sacreBLEU's "zh" tokeniser, which splits every CJK character, i.e. character-level BLEU as
// published for Chinese. TranslatorEval::bleu_tokenize says which one was used.
//
// What it is not: a multi-GPU pipeline.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/data/bleu.h"
#include "attn/data/tatoeba.h"
#include "attn/models/decoding.h"
#include "attn/models/seq2seq.h"
#include "attn/models/transformer.h"
#include "attn/models/translation_model.h"

namespace attn::train {

// --- training ------------------------------------------------------------------------------------

struct TrainConfig {
  // Data. Either train_path (+ optional valid_path / test_path) or corpus_path, which is split into
  // train / valid / test with valid_fraction / test_fraction (shuffled with `seed`). With
  // train_path and no valid_path, valid_fraction of the training file is held out for validation.
  std::string train_path, valid_path, test_path;
  std::string corpus_path;
  double valid_fraction = 0.1, test_fraction = 0.1;
  int64_t max_pairs = 0;             // read at most this many pairs per file (0: all)
  bool reverse = false;              // false: column 1 -> column 2 (eng -> fra); true: column 2 -> column 1
  std::string normalize = "tutorial";  // tutorial (the tutorial's normalizeString) | clean | none
  // Per-side normalisation; empty: `normalize`. English -> Chinese wants src_normalize "tutorial"
  // (lowercase, "cold." -> "cold .") and tgt_normalize "clean" (tutorial would drop every CJK
  // character). The tutorial filter judges the tutorial form of column 1 whatever these say.
  std::string src_normalize, tgt_normalize;
  bool tutorial_filter = false;      // the tutorial's filterPair (English prefixes, < max_length words)
  int64_t filter_max_length = 10;
  std::string src_tokenizer = "word";  // word | char (char: one token per CJK character) | spm
  std::string tgt_tokenizer = "word";
  int64_t min_freq = 1;              // rarer training tokens map to <unk> (word / char sides)
  // SentencePiece sides (tokenizer "spm"): a model trained on the training split's normalised text
  // and stored in the checkpoint (spm.model when joint, else src_spm.model / tgt_spm.model); the
  // side's vocabulary is the model's pieces (data::vocab_for), min_freq does not apply. Joint (both
  // sides spm): one model over the source and target sentences, so both sides share one vocabulary
  // (what transformer.share_embeddings needs).
  int64_t spm_vocab_size = 8000;
  std::string spm_model_type = "unigram";  // unigram | bpe
  bool spm_joint = true;
  int64_t max_src_len = 0;           // drop training pairs with a longer tokenised side (0: keep all)
  int64_t max_tgt_len = 0;

  // Pretrained source embeddings: a word2vec text file (`attn word2vec train`, train/word2vec.h)
  // whose dimension must equal model.embed_dim. After the vocabularies are built, the encoder's
  // embedding rows are set with load_pretrained_embeddings: a word's vector where the file has
  // the word, a fresh N(0, 1) draw (from a generator seeded with `seed`) where it does not, the
  // <pad> row zero. freeze_src_embeddings keeps those rows fixed during training. A resumed run
  // does not read the file again (the checkpoint's weights win); the freeze still applies.
  std::string init_src_embeddings;
  bool freeze_src_embeddings = false;

  // Model: model_type "rnn" (the Seq2Seq options in `model`) or "transformer" (the options in
  // `transformer`; `model` is then unused). src_vocab / tgt_vocab are filled in from the
  // vocabularies; pad/bos/eos are fixed at 0/1/2.
  std::string model_type = "rnn";
  models::Seq2SeqConfig model;
  models::TransformerConfig transformer;

  // Optimisation.
  std::string optimizer = "adam";  // adam | adamw | sgd
  double lr = 1e-3;
  double adam_beta1 = 0.9, adam_beta2 = 0.999;  // adam / adamw (Transformers usually train with 0.98)
  double weight_decay = 0.0;
  double momentum = 0.0;           // sgd only
  double clip_norm = 1.0;          // max global gradient L2 norm; 0 disables clipping
  double label_smoothing = 0.0;
  // Learning-rate schedule, stepped once per optimizer step (per batch):
  //   none    constant lr (after the warmup, if any)
  //   step    lr *= lr_gamma every lr_step_size epochs
  //   cosine  cosine annealing from lr to lr_min over all epochs' steps
  //   noam    linear warmup over warmup_steps to lr, then lr * sqrt(warmup_steps / step)
  // warmup_steps > 0 adds a linear warmup (from lr / warmup_steps) to none / step / cosine too.
  std::string lr_schedule = "none";
  int64_t lr_step_size = 1;
  double lr_gamma = 0.5;
  double lr_min = 0.0;
  int64_t warmup_steps = 0;
  double teacher_forcing_ratio = 1.0;  // 1: always feed the reference (see Seq2Seq::forward); must be
                                       // 1 for the transformer (it decodes all steps at once)

  // Batches: batch_size sentences, or, with max_tokens > 0 (batch_size then ignored), as many
  // sentences of similar length as fit max_tokens padded tokens (B * max(S, T)) per batch.
  int64_t batch_size = 32;
  int64_t max_tokens = 0;

  // Schedule of the run.
  int64_t epochs = 10;       // 0: no epoch limit (then time_budget, max_steps or patience must end the run)
  double time_budget = 0.0;  // seconds of training; 0: no limit
  int64_t max_steps = 0;     // stop after this many optimizer steps in this call; 0: no limit
                             // (stops like the time budget: a smoke test, or a deterministic cut)
  int64_t patience = 0;      // stop after this many epochs without a better validation BLEU; 0: never

  // Validation: BLEU on the first valid_bleu_size validation pairs (0: all), greedy (valid_beam 1)
  // or beam search; hypotheses at most valid_max_length_ratio * source length + 5 tokens.
  int64_t valid_bleu_size = 500;
  int64_t valid_beam = 1;
  double valid_max_length_ratio = 2.0;

  uint64_t seed = 0;
  int64_t threads = 0;  // kernel threads for this run (0: leave the current setting)

  std::string checkpoint_dir;  // where best/ and last/ go; empty: nothing is saved
  bool resume = false;         // continue from <checkpoint_dir>/last (its config wins for the model and data)
  std::string log_file;        // plain-text log (appended); empty: none
  bool quiet = false;          // no progress on stderr
  int64_t log_every = 0;       // plain progress line every N batches when stderr is not a terminal (0: 10 per epoch)
};

// One line per epoch (the log has the same numbers).
struct EpochStats {
  int64_t epoch = 0;            // 1-based
  bool partial = false;         // cut short by the time budget
  int64_t steps = 0;            // optimizer steps in this epoch (this session)
  double train_loss = 0.0;      // mean per target token
  double valid_loss = 0.0;      // mean per target token
  double valid_bleu = 0.0;
  double lr = 0.0;              // at the end of the epoch
  double seconds = 0.0;
  double pairs_per_second = 0.0;
  bool best = false;            // this epoch's model became <checkpoint_dir>/best
};

struct TrainResult {
  std::vector<EpochStats> epochs;  // the epochs run in this call (a resumed run lists only its own)
  int64_t epochs_completed = 0;    // over the whole run, resumed parts included
  int64_t global_step = 0;
  double best_valid_bleu = 0.0;
  double best_valid_loss = 0.0;
  int64_t best_epoch = 0;
  std::string stop_reason;         // "epochs" | "early_stopping" | "time_budget" | "max_steps" | "interrupted"
  int64_t n_train = 0, n_valid = 0, n_test = 0;
  int64_t src_vocab_size = 0, tgt_vocab_size = 0;
  int64_t num_parameters = 0;
  std::optional<double> test_bleu;  // of the best model on the test split, when there is one
  std::optional<double> test_loss;
  double seconds = 0.0;             // wall time of this call
  // The trained model (the last state, not necessarily the best) and its vocabularies' sizes are
  // in the checkpoints; `model` is the final in-memory model of this call (a models::Seq2Seq or a
  // models::TransformerModel, by config.model_type).
  std::shared_ptr<models::TranslationModel> model;
};

// Called after every epoch (e.g. by the CLI to print a table). May be empty.
using EpochCallback = std::function<void(const EpochStats&)>;

// Trains as described at the top of the file. Throws attn::Error on bad options (naming the
// option), on unreadable data and on a checkpoint that cannot be resumed.
TrainResult train_translator(const TrainConfig& config, const EpochCallback& on_epoch = {});

// Asks a running train_translator (from any thread, or from a signal handler: it only stores to a
// lock-free atomic) to stop after its current batch, then validate and save as when the time
// budget runs out; its stop_reason is then "interrupted". train_translator clears the request
// when it starts. A CLI can call this from its SIGINT handler so Ctrl-C leaves a resumable run.
void request_stop() noexcept;

// The normalisation each side gets: src_normalize / tgt_normalize, or `normalize` when empty.
std::string source_normalization(const TrainConfig& config);
std::string target_normalization(const TrainConfig& config);

// Reads a Tatoeba file as train_translator does: direction, per-side normalisation, the tutorial
// filter when `apply_filter` and config.tutorial_filter, at most `max_pairs` pairs (0: all). With
// different normalisations per side the file is read raw and each side normalised here; a pair
// whose side becomes empty is dropped (counted in report.empty_after_normalize), and max_pairs
// then counts pairs before that drop.
data::Corpus read_translation_corpus(const std::string& path, const TrainConfig& config, bool apply_filter = true,
                                     int64_t max_pairs = 0);

// One line naming the model a config describes, for logs: "bahdanau attention, GRU
// encoder-decoder", "Transformer (3+3 layers, d_model 256, 4 heads, ff 1024, sinusoidal positions)".
std::string model_description(const TrainConfig& config);

// The choices the string options accept, for CLI help and validation.
const std::vector<std::string>& normalize_choices();       // tutorial, clean, none
const std::vector<std::string>& tokenizer_choices();       // word, char, spm
const std::vector<std::string>& model_type_choices();      // rnn, transformer
const std::vector<std::string>& spm_model_type_choices();  // unigram, bpe
const std::vector<std::string>& optimizer_choices();       // adam, adamw, sgd
const std::vector<std::string>& lr_schedule_choices();     // none, step, cosine, noam

// --- inference -----------------------------------------------------------------------------------

struct TranslateOptions {
  int64_t beam_size = 1;          // 1: greedy search
  double length_penalty = 1.0;    // score = log_prob / length^length_penalty
  int64_t n_best = 1;             // hypotheses kept per sentence (<= beam_size)
  double max_length_ratio = 2.0;  // at most ratio * source tokens + max_length_offset tokens ...
  int64_t max_length_offset = 5;
  int64_t max_length = 200;       // ... and never more than this
  int64_t batch_size = 64;        // sentences decoded together
  // Sampling instead of search (models::sample_search): each output token is drawn from the
  // model's distribution divided by `temperature`, restricted to the top_k most likely tokens
  // (0: all) and to the smallest set whose probability reaches top_p (1: all). One hypothesis per
  // sentence (beam_size and n_best must be 1); reproducible for a given seed.
  bool sample = false;
  int64_t top_k = 0;
  double top_p = 1.0;
  double temperature = 1.0;
  uint64_t seed = 0;
  // Transformer models: the decoder layer (-1: the last) and head (-1: the mean over heads) whose
  // cross-attention the translations' attention maps show. Ignored by RNN models.
  int64_t attention_layer = -1;
  int64_t attention_head = -1;
};

struct TranslationHypothesis {
  std::string text;                 // detokenised
  std::vector<std::string> tokens;  // target tokens, without <bos>; "<eos>" last when produced
  double score = 0.0;               // length-normalised (see models/decoding.h)
  double log_prob = 0.0;
  Tensor attention;                 // [tokens.size(), source_tokens.size()] float32
};

struct Translation {
  std::string source;                      // the input as given
  std::vector<std::string> source_tokens;  // what the model read: normalised tokens + "<eos>"
                                           // (tokens outside the vocabulary shown as themselves)
  std::string text;                        // the best hypothesis, detokenised (no <eos>)
  std::vector<std::string> tokens;         // the best hypothesis' tokens (with "<eos>" when produced)
  Tensor attention;                        // [tokens.size(), source_tokens.size()] float32
  double score = 0.0, log_prob = 0.0;
  std::vector<TranslationHypothesis> nbest;  // n_best entries, best first (nbest[0] is the above)
};

struct TranslatorEval {
  data::BleuScore bleu;          // corpus BLEU of the best hypotheses against the references
  std::string bleu_tokenize;     // "13a" (word targets) or "zh" (char targets)
  double loss = 0.0;             // mean cross-entropy per target token (teacher forcing, eval mode)
  double perplexity = 0.0;       // exp(loss)
  int64_t count = 0;             // pairs scored
  std::vector<std::string> hypotheses;  // detokenised, in input order
  std::vector<std::string> references;  // the references as compared (normalised like the model's data)
};

// A trained model with its vocabularies and preprocessing, loaded from a checkpoint directory.
class Translator {
 public:
  // Loads <dir> (a checkpoint written by train_translator: dir/model.safetensors, config.json,
  // src_vocab.json, tgt_vocab.json). Throws attn::Error naming the file and the problem.
  static Translator load(const std::string& dir);

  // Normalises and tokenises each sentence as in training, then decodes (greedy or beam search).
  // An empty or all-whitespace sentence gets an empty translation.
  std::vector<Translation> translate(const std::vector<std::string>& sentences,
                                     const TranslateOptions& options = {}) const;
  Translation translate(const std::string& sentence, const TranslateOptions& options = {}) const;

  // Scores (source, reference) pairs: BLEU of the translations, teacher-forced loss, count.
  // The pairs are raw text, normalised here as in training.
  TranslatorEval evaluate(const std::vector<std::pair<std::string, std::string>>& pairs,
                          const TranslateOptions& options = {}) const;
  // The same on a Tatoeba file read with the checkpoint's options (direction, normalisation; no
  // tutorial filter unless `apply_filter`).
  TranslatorEval evaluate_file(const std::string& path, const TranslateOptions& options = {},
                               bool apply_filter = false, int64_t max_pairs = 0) const;

  // The text as the model sees it: normalisation, then tokens (no <eos>).
  std::vector<std::string> source_tokens(const std::string& sentence) const;
  std::vector<std::string> target_tokens(const std::string& sentence) const;
  std::string preprocess(const std::string& sentence) const;

  // The cross-attention of every decoder layer and head while the model reads the translation's
  // own tokens (teacher forcing, which reproduces the attention of decoding): [L, H, T, S] float32
  // for T = translation.tokens.size(), S = translation.source_tokens.size(). An RNN model has one
  // attention: [1, 1, T, S], the translation's attention. Empty translations give [L, H, 0, S].
  Tensor attention_heads(const Translation& translation) const;

  const TrainConfig& config() const;  // the options the model was trained with
  const std::string& model_type() const;  // config().model_type: "rnn" | "transformer"
  const models::TranslationModel& model() const;
  std::shared_ptr<models::TranslationModel> model_ptr() const;
  // The model as its concrete type; null when the model is of the other type.
  std::shared_ptr<models::Seq2Seq> seq2seq() const;
  std::shared_ptr<models::TransformerModel> transformer() const;
  int64_t src_vocab_size() const;
  int64_t tgt_vocab_size() const;

  Translator(Translator&&) noexcept;
  Translator& operator=(Translator&&) noexcept;
  ~Translator();

 private:
  struct Impl;
  explicit Translator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attn::train
