// Translation checkpoints: one directory holding everything needed to translate with a model
// and to continue training it bit for bit.
//
//   <dir>/model.safetensors   the model's state_dict, PyTorch names (encoder.embedding.weight, ...);
//                             plain safetensors that torch / the `safetensors` package read
//   <dir>/config.json         {"format": "attn.translator", "version": 1, "train": {every
//                             TrainConfig field, "model_type", the RNN's Seq2SeqConfig under
//                             "model", the TransformerConfig under "transformer"},
//                             "metrics": {name: number}, "src_vocab_size", "tgt_vocab_size"}
//                             (configs written before model_type existed read as "rnn")
//   <dir>/src_vocab.json      data::Vocab files (data/vocab.h)
//   <dir>/tgt_vocab.json
//   <dir>/spm.model           SentencePiece sides only: the joint model, or src_spm.model and/or
//                             tgt_spm.model (SentencePiece's own ModelProto, what spm_encode reads)
//   <dir>/trainer.safetensors optimizer state ("optimizer.<key>"), scheduler state    } training
//                             ("scheduler.<key>")                                       } checkpoints
//   <dir>/trainer.json        epoch, batch position, global step, generator seed and   } only
//                             offset, best score, early-stopping counter, elapsed time,
//                             epoch history
// (The batch order needs no saving: data::plan_batches derives it from the seed and the epoch.)
//
// Writing is atomic at the directory level: everything goes into a temporary sibling directory
// (<dir>.tmp-<pid>), each file is fsync'ed, then the old directory is moved aside, the new one is
// renamed into place and the old one removed. A crash leaves either the old or the new checkpoint
// (plus a stray temporary directory), never a mixture or a half-written file.
//
// Loading trusts nothing: a missing file, a truncated or corrupt safetensors file, NaN/Inf in the
// weights, a tensor whose shape differs from what the config implies (both shapes named), a
// missing or unexpected tensor, corrupt JSON, a missing or mistyped field, an unknown format or a
// newer version all throw attn::Error naming the file and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <memory>

#include "attn/data/subword.h"
#include "attn/data/vocab.h"
#include "attn/io/state_dict.h"
#include "attn/models/translation_model.h"
#include "attn/train/translator.h"

namespace attn::train {

inline constexpr int kCheckpointFormatVersion = 1;
inline constexpr const char* kCheckpointFormat = "attn.translator";

// Everything besides the model and the optimizer that --resume needs.
struct TrainerState {
  int64_t epoch = 0;           // epochs fully completed
  int64_t batch_in_epoch = 0;  // batches of epoch `epoch + 1` already trained (a partial epoch), else 0
  int64_t global_step = 0;     // optimizer steps so far
  uint64_t rng_seed = 0;       // attn::default_generator() state at the save point
  uint64_t rng_offset = 0;
  double best_valid_bleu = -1.0;  // -1: no validation yet
  double best_valid_loss = 0.0;
  int64_t best_epoch = 0;
  int64_t epochs_without_improvement = 0;
  double elapsed_seconds = 0.0;   // training time spent so far, over all sessions
  int64_t n_train = 0;            // training pairs (resume refuses data that changed; 0: unknown)
  std::vector<EpochStats> history;
  io::StateDict optimizer;        // Optimizer::state_dict()
  io::StateDict scheduler;        // LRScheduler::state_dict(); empty without a scheduler
};

// The SentencePiece models of the sides whose tokenizer is "spm" (null otherwise). With
// config.spm_joint both point to one model, stored once as spm.model.
struct SubwordModels {
  std::shared_ptr<const data::SentencePiece> src, tgt;
};

struct Checkpoint {
  TrainConfig config;  // config.model (rnn) or config.transformer carries the vocabulary sizes
  data::Vocab src_vocab, tgt_vocab;
  SubwordModels subwords;
  io::StateDict model;  // in file order
  std::map<std::string, double> metrics;
  std::optional<TrainerState> trainer;
};

// TrainConfig <-> JSON text (the "train" object of config.json). from_json checks every field's
// type; unknown fields are refused (naming them), missing ones keep their defaults. `source`
// names the file in errors.
std::string train_config_to_json(const TrainConfig& config, int indent = 2);
TrainConfig train_config_from_json(const std::string& json, const std::string& source = "<string>");

// Writes a checkpoint directory atomically (see above); `trainer` null writes an inference-only
// checkpoint (no trainer.* files). Throws attn::Error naming the path on I/O failure; the old
// checkpoint is then left as it was.
// `subwords` must hold the models of the config's "spm" sides.
void save_checkpoint(const std::string& dir, const models::TranslationModel& model, const TrainConfig& config,
                     const data::Vocab& src_vocab, const data::Vocab& tgt_vocab,
                     const std::map<std::string, double>& metrics = {}, const TrainerState* trainer = nullptr,
                     const SubwordModels& subwords = {});

// Publishes a copy of the checkpoint `from` as `to`, atomically like save_checkpoint: the model,
// config and vocabularies, plus the trainer files with `with_trainer`. Files are hard-linked when
// both directories are on one file system (checkpoint files are never modified in place), else
// copied. The trainer uses it to publish best/ from the last/ it has just written.
void copy_checkpoint(const std::string& from, const std::string& to, bool with_trainer = false);

// Reads and checks a checkpoint. The model tensors are checked against the shapes a model built
// from the config has (a Seq2Seq or a TransformerModel by model_type), the vocabularies' sizes
// against the config, and the SentencePiece sides' vocabularies against their models. With
// load_trainer, the trainer files must exist; without, they are ignored.
Checkpoint load_checkpoint(const std::string& dir, bool load_trainer = false);

// A fresh model of config.model_type (Seq2Seq from config.model, TransformerModel from
// config.transformer), initialised from the default generator. Throws attn::Error on an unknown
// model_type.
std::shared_ptr<models::TranslationModel> make_model(const TrainConfig& config);

// A model built from the checkpoint's config with its weights loaded, in eval mode (a
// models::Seq2Seq or models::TransformerModel; dynamic_pointer_cast to reach either). Building it
// leaves the default generator as it was.
std::shared_ptr<models::TranslationModel> build_model(const Checkpoint& checkpoint);

// True when `dir` looks like a checkpoint (has config.json).
bool checkpoint_exists(const std::string& dir);

}  // namespace attn::train
