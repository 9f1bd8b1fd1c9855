// Pre-training a BERT-style encoder (models/bert.h) on sentences, and querying it: the token
// vocabulary with BERT's special tokens, the masked-language-model corruption, batches of single
// sentences or sentence pairs, the training loop, held-out MLM accuracy, checkpoints, and FillMask
// ("i am [MASK] ." -> the most likely words for the mask). docs/models/bert.md.
//
// Vocabulary: a data::Vocab of the training words (ids 0..3 its specials, then words by count)
// plus [MASK] appended as the last id, the way an added special token gets the next free id. The
// data::Vocab specials play BERT's roles: <pad> = [PAD] (0), <bos> = [CLS] (1), <eos> = [SEP] (2),
// <unk> = [UNK] (3); BertVocab spells them the BERT way. Inputs are
//   [CLS] a_1 .. a_n [SEP]                     token_type_ids 0 .. 0
//   [CLS] a_1 .. a_n [SEP] b_1 .. b_m [SEP]    token_type_ids 0 .. 0 1 .. 1   (next-sentence pairs)
//
// Masking (Devlin et al. 2019, §3.1 and appendix A.1; Hugging Face's
// DataCollatorForLanguageModeling): every position that holds an ordinary word (never [PAD],
// [CLS], [SEP], [UNK] or [MASK]) is chosen independently with probability 0.15; a chosen position
// becomes [MASK] with probability 0.8, a uniformly drawn ordinary word with probability 0.1, and
// stays unchanged otherwise. labels hold the original id at chosen positions and -100 (the
// cross-entropy's ignore_index) everywhere else. The draws are three uniforms per position from
// an attn Generator, so a seed gives the same corruption on every machine.
//
// Training: AdamW (weight decay on the matrices and embedding tables; biases and LayerNorm weights,
// i.e. every 1-D parameter, are exempt, as in BERT's optimizer), the learning rate warmed up
// linearly over warmup_steps and then decayed linearly to zero at the end of the run (the share of
// the run done is the largest of steps / max_steps, elapsed / time_budget and sentences seen /
// (epochs × training sentences) over the limits that are set), gradient-norm clipping.
// The MLM loss is computed only at the chosen positions (the head runs on those rows only). With
// next_sentence, half of the examples pair a sentence with the one that follows it in the corpus
// and half with a random other sentence, and the NSP cross-entropy is added to the loss.
// Held-out sentences (valid_fraction, drawn with the seed) are masked with a fixed seed, so every
// evaluation of a run scores the same corruption: MLM accuracy = the fraction of chosen positions
// whose argmax prediction is the original word.
//
// Checkpoints: a directory with model.safetensors (the state_dict, models/bert.h names),
// config.json ({"format": "attn.bert", "version": 1, "model": BertConfig, "text": TextOptions,
// "pretrain": PretrainOptions, "metrics": {...}}) and vocab.json (the data::Vocab file,
// data/vocab.h), written into a temporary sibling directory and renamed into place, so a crash
// leaves the old or the new checkpoint, never a mixture. Loading checks the format, the version,
// every tensor's name, shape and dtype against the config, and that the weights are finite.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/data/vocab.h"
#include "attn/models/bert.h"

namespace attn::train {

class BertVocab {
 public:
  static constexpr int64_t kPad = data::Vocab::kPad;  // [PAD]
  static constexpr int64_t kCls = data::Vocab::kBos;  // [CLS]
  static constexpr int64_t kSep = data::Vocab::kEos;  // [SEP]
  static constexpr int64_t kUnk = data::Vocab::kUnk;  // [UNK]
  static constexpr int64_t kFirstWord = data::Vocab::kNumSpecials;

  BertVocab() = default;  // no words: the specials and [MASK] only
  explicit BertVocab(data::Vocab words) : words_(std::move(words)) {}
  // data::Vocab::build over the sentences (min_freq, max_size counting the 4 specials).
  static BertVocab build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq = 1,
                         int64_t max_size = 0);

  int64_t size() const { return words_.size() + 1; }  // V: the words' vocab plus [MASK]
  int64_t mask_id() const { return words_.size(); }
  int64_t num_words() const { return words_.size() - kFirstWord; }  // ordinary words
  bool is_special(int64_t id) const { return id < kFirstWord || id == mask_id(); }
  // "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]" are the specials; other tokens are looked up in the
  // words' vocab (unknown ones -> kUnk).
  int64_t id(std::string_view token) const;
  // The token of an id (specials spelled as above); throws attn::Error when out of range.
  std::string token(int64_t id) const;
  // [CLS] tokens [SEP] as ids.
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  const data::Vocab& words() const { return words_; }
  bool operator==(const BertVocab& o) const { return words_ == o.words_; }

 private:
  data::Vocab words_;
};

// --- masking -------------------------------------------------------------------------------------

struct MaskingOptions {
  double probability = 0.15;     // chance that an ordinary word's position is chosen
  double mask_fraction = 0.8;    // of the chosen: replaced by [MASK]
  double random_fraction = 0.1;  // of the chosen: replaced by a random word (the rest: unchanged)
};
void check_masking_options(const MaskingOptions& options);  // throws attn::Error naming the field

struct MaskedTokens {
  Tensor input_ids;  // int64, input's shape: the corrupted ids
  Tensor labels;     // int64, input's shape: the original id where chosen, -100 elsewhere
};

inline constexpr int64_t kIgnoreIndex = -100;

// The corruption described at the top of the file, of input_ids (int64, any shape; values in
// [0, vocab.size())). Draws from `gen` (default: attn::default_generator()). Throws attn::Error
// when the vocabulary has no ordinary word to draw random replacements from.
MaskedTokens mask_tokens(const Tensor& input_ids, const BertVocab& vocab, const MaskingOptions& options = {},
                         Generator* gen = nullptr);

// --- text and batches ----------------------------------------------------------------------------

// How raw text becomes tokens (stored in checkpoints, so `attn fill` prepares a query the way the
// training text was prepared).
struct TextOptions {
  std::string normalize = "tutorial";  // tutorial | clean | none (data/text.h, data/tatoeba.h)
  std::string tokenizer = "word";      // word | char
};
void check_text_options(const TextOptions& options);

// Normalises and tokenises `text`, keeping every literal "[MASK]" (and "[CLS]", "[SEP]", "[UNK]",
// "[PAD]") as one token: "I am [MASK]." -> {"i", "am", "[MASK]", "."} with the tutorial
// normalisation.
std::vector<std::string> bert_tokenize(std::string_view text, const TextOptions& options);

// The sentences of a Tatoeba TSV (data/tatoeba.h): side "src" (column 1), "tgt" (column 2) or
// "both" (column 1 and column 2 of each line, in that order), normalised and tokenised. Empty
// sentences are dropped. max_pairs > 0 reads at most that many lines' pairs.
std::vector<std::vector<std::string>> read_sentences(const std::string& path, const std::string& side,
                                                     const TextOptions& text, int64_t max_pairs = 0);

// One input: sentence a, optionally a second segment b (next_sentence_label 0: b follows a in the
// corpus, 1: b is a random sentence; -1: no pair).
struct BertExample {
  std::vector<int64_t> a, b;  // word ids, without [CLS] / [SEP]
  int64_t next_sentence_label = -1;
};

struct BertBatch {
  Tensor input_ids;            // int64 [B, T], padded with [PAD]
  Tensor token_type_ids;       // int64 [B, T]
  Tensor attention_mask;       // int64 [B, T], 1 real / 0 padding
  Tensor next_sentence_label;  // int64 [B]; undefined when no example has a pair
};

// [CLS] a [SEP] (b [SEP]), truncated to max_length tokens by cutting the longer segment's tail
// first (BERT's truncate_seq_pair); T = the longest row. max_length >= 3 (5 for pairs).
BertBatch collate_bert(const std::vector<BertExample>& examples, int64_t max_length);

// --- pre-training --------------------------------------------------------------------------------

struct PretrainOptions {
  models::BertConfig model;  // vocab_size and next_sentence are set by pretrain_bert
  int64_t min_freq = 1;      // rarer training words become [UNK]
  int64_t max_vocab = 0;     // cap on data::Vocab's size, its 4 specials included (0: none)
  int64_t max_length = 64;   // tokens per input, [CLS] / [SEP] included (<= model.max_position_embeddings)
  double valid_fraction = 0.05;  // held-out sentences
  int64_t batch_size = 64;
  double lr = 1e-3;          // peak learning rate
  int64_t warmup_steps = 100;
  double weight_decay = 0.01;
  double clip_norm = 1.0;    // 0: no clipping
  // Limits: the run stops at the first one reached; at least one must be set.
  int64_t max_steps = 0;
  double time_budget = 0;    // seconds of training (evaluation not counted)
  int64_t epochs = 0;        // passes over the training sentences
  MaskingOptions masking;
  bool next_sentence = false;
  // Split, initial weights, batch order and masks; dropout draws from attn::default_generator(),
  // which pretrain_bert re-seeds with it.
  uint64_t seed = 1;
  // attn kernel threads while training (0: leave the current setting).
  int threads = 0;
};
void check_pretrain_options(const PretrainOptions& options);

// MLM (and NSP) quality on sentences, each masked with `masking` from Generator(seed).
struct MlmEvaluation {
  double loss = 0;          // mean cross-entropy over the chosen positions
  double accuracy = 0;      // argmax == original word, over the chosen positions
  int64_t masked = 0;       // chosen positions scored
  double nsp_accuracy = -1;  // next_sentence models: on pairs built from the sentences; else -1
};
MlmEvaluation evaluate_mlm(models::BertEncoder& model, const BertVocab& vocab,
                           const std::vector<std::vector<std::string>>& sentences, const MaskingOptions& masking,
                           int64_t max_length, int64_t batch_size = 64, uint64_t seed = 1234);

struct PretrainStats {
  int64_t steps = 0;
  double epochs = 0;              // passes over the training sentences (fractional)
  double seconds = 0;
  double first_loss = 0;          // the loss of the first batch
  double final_loss = 0;          // mean training loss over the last 10% of the steps (at least one)
  std::vector<double> loss_history;  // the loss of every step
  int64_t n_train = 0, n_valid = 0;  // sentences
  std::string stop_reason;        // "max_steps", "time_budget" or "epochs"
  MlmEvaluation valid;            // on the held-out sentences at the end (masked == 0 when none)
};

struct PretrainResult {
  BertVocab vocab;
  std::shared_ptr<models::BertEncoder> model;  // in eval mode
  PretrainStats stats;
  PretrainOptions options;  // as used (model.vocab_size filled in)
};

// Progress after each step: the step, the fraction of the run done (by the limit closest to
// ending it), the learning rate and the step's loss.
using PretrainProgress = std::function<void(int64_t step, double done, double lr, double loss)>;

// Splits, builds the vocabulary on the training sentences, trains, evaluates the held-out part.
// Throws attn::Error when there are fewer than 2 sentences or no word reaches min_freq.
PretrainResult pretrain_bert(const std::vector<std::vector<std::string>>& sentences, const PretrainOptions& options,
                             const PretrainProgress& progress = nullptr);

// --- checkpoints ---------------------------------------------------------------------------------

inline constexpr const char* kBertCheckpointFormat = "attn.bert";
inline constexpr int kBertCheckpointVersion = 1;

void save_bert_checkpoint(const std::string& dir, const models::BertEncoder& model, const BertVocab& vocab,
                          const TextOptions& text, const PretrainOptions* options = nullptr,
                          const std::map<std::string, double>& metrics = {});

struct BertCheckpoint {
  std::shared_ptr<models::BertEncoder> model;  // in eval mode
  BertVocab vocab;
  TextOptions text;
  std::map<std::string, double> metrics;
};
// Throws attn::Error naming the file and the problem.
BertCheckpoint load_bert_checkpoint(const std::string& dir);

// --- fill-mask -----------------------------------------------------------------------------------

struct FillPrediction {
  std::string token;
  int64_t id = 0;
  double probability = 0;  // softmax over the whole vocabulary at the mask's position
};

struct FillResult {
  std::vector<std::string> tokens;    // the query as the model read it (without [CLS] / [SEP])
  std::vector<int64_t> mask_positions;  // indices into `tokens`
  std::vector<std::vector<FillPrediction>> predictions;  // per mask: k best ordinary words, best first
};

// All masks of a query are predicted at once (each from one forward pass over the whole query).
// Special tokens are never proposed; the probabilities are those of the full softmax, so the k
// shown sum to at most 1.
class FillMask {
 public:
  explicit FillMask(const std::string& checkpoint_dir);
  FillMask(std::shared_ptr<models::BertEncoder> model, BertVocab vocab, TextOptions text = {});
  // Throws attn::Error when the query has no [MASK] or is longer than the model allows.
  FillResult operator()(std::string_view text, int64_t k = 5) const;
  FillResult fill_tokens(const std::vector<std::string>& tokens, int64_t k = 5) const;
  const BertVocab& vocab() const { return vocab_; }
  const TextOptions& text() const { return text_; }
  const std::map<std::string, double>& metrics() const { return metrics_; }

 private:
  std::shared_ptr<models::BertEncoder> model_;
  BertVocab vocab_;
  TextOptions text_;
  std::map<std::string, double> metrics_;
};

}  // namespace attn::train
