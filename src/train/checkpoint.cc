// Translation checkpoints (see attn/train/checkpoint.h).
#include "attn/train/checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "attn/core/error.h"
#include "attn/core/file.h"
#include "attn/core/random.h"
#include "attn/models/seq2seq.h"
#include "attn/models/transformer.h"
#include "json_fields.h"

namespace attn::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// --- field tables ----------------------------------------------------------------------------------
// One list of (name, member) per struct, used both to write and to read, so the two cannot drift.

template <class V>
void visit_model(models::Seq2SeqConfig& m, V&& v) {
  v("src_vocab", m.src_vocab);
  v("tgt_vocab", m.tgt_vocab);
  v("embed_dim", m.embed_dim);
  v("hidden_size", m.hidden_size);
  v("num_layers", m.num_layers);
  v("cell", m.cell);
  v("bidirectional", m.bidirectional);
  v("attention", m.attention);
  v("dropout", m.dropout);
  v("tie_weights", m.tie_weights);
  v("max_length", m.max_length);
  v("local_window", m.local_window);
  v("pad", m.pad);
  v("bos", m.bos);
  v("eos", m.eos);
  v("dtype", m.dtype);
}

template <class V>
void visit_transformer(models::TransformerConfig& m, V&& v) {
  v("src_vocab", m.src_vocab);
  v("tgt_vocab", m.tgt_vocab);
  v("d_model", m.d_model);
  v("nhead", m.nhead);
  v("num_encoder_layers", m.num_encoder_layers);
  v("num_decoder_layers", m.num_decoder_layers);
  v("dim_feedforward", m.dim_feedforward);
  v("dropout", m.dropout);
  v("activation", m.activation);
  v("layer_norm_eps", m.layer_norm_eps);
  v("norm_first", m.norm_first);
  v("positions", m.positions);
  v("max_positions", m.max_positions);
  v("share_embeddings", m.share_embeddings);
  v("tie_output", m.tie_output);
  v("num_kv_heads", m.num_kv_heads);
  v("moe_experts", m.moe_experts);
  v("moe_top_k", m.moe_top_k);
  v("moe_aux_weight", m.moe_aux_weight);
  v("pad", m.pad);
  v("bos", m.bos);
  v("eos", m.eos);
  v("dtype", m.dtype);
}

template <class V>
void visit_train(TrainConfig& c, V&& v) {
  v("train_path", c.train_path);
  v("valid_path", c.valid_path);
  v("test_path", c.test_path);
  v("corpus_path", c.corpus_path);
  v("valid_fraction", c.valid_fraction);
  v("test_fraction", c.test_fraction);
  v("max_pairs", c.max_pairs);
  v("reverse", c.reverse);
  v("normalize", c.normalize);
  v("src_normalize", c.src_normalize);  // absent in older checkpoints: "" (= normalize)
  v("tgt_normalize", c.tgt_normalize);
  v("tutorial_filter", c.tutorial_filter);
  v("filter_max_length", c.filter_max_length);
  v("src_tokenizer", c.src_tokenizer);
  v("tgt_tokenizer", c.tgt_tokenizer);
  v("min_freq", c.min_freq);
  v("spm_vocab_size", c.spm_vocab_size);  // absent in older checkpoints (no spm sides there)
  v("spm_model_type", c.spm_model_type);
  v("spm_joint", c.spm_joint);
  v("max_src_len", c.max_src_len);
  v("max_tgt_len", c.max_tgt_len);
  v("init_src_embeddings", c.init_src_embeddings);
  v("freeze_src_embeddings", c.freeze_src_embeddings);
  v("model_type", c.model_type);  // absent in older checkpoints: "rnn"
  v("optimizer", c.optimizer);
  v("lr", c.lr);
  v("adam_beta1", c.adam_beta1);
  v("adam_beta2", c.adam_beta2);
  v("weight_decay", c.weight_decay);
  v("momentum", c.momentum);
  v("clip_norm", c.clip_norm);
  v("label_smoothing", c.label_smoothing);
  v("lr_schedule", c.lr_schedule);
  v("lr_step_size", c.lr_step_size);
  v("lr_gamma", c.lr_gamma);
  v("lr_min", c.lr_min);
  v("warmup_steps", c.warmup_steps);
  v("teacher_forcing_ratio", c.teacher_forcing_ratio);
  v("batch_size", c.batch_size);
  v("max_tokens", c.max_tokens);
  v("epochs", c.epochs);
  v("time_budget", c.time_budget);
  v("max_steps", c.max_steps);
  v("patience", c.patience);
  v("valid_bleu_size", c.valid_bleu_size);
  v("valid_beam", c.valid_beam);
  v("valid_max_length_ratio", c.valid_max_length_ratio);
  v("seed", c.seed);
  v("threads", c.threads);
  v("checkpoint_dir", c.checkpoint_dir);
  v("resume", c.resume);
  v("log_file", c.log_file);
  v("quiet", c.quiet);
  v("log_every", c.log_every);
}

template <class V>
void visit_epoch(EpochStats& e, V&& v) {
  v("epoch", e.epoch);
  v("partial", e.partial);
  v("steps", e.steps);
  v("train_loss", e.train_loss);
  v("valid_loss", e.valid_loss);
  v("valid_bleu", e.valid_bleu);
  v("lr", e.lr);
  v("seconds", e.seconds);
  v("pairs_per_second", e.pairs_per_second);
  v("best", e.best);
}

template <class V>
void visit_trainer(TrainerState& t, V&& v) {
  v("epoch", t.epoch);
  v("batch_in_epoch", t.batch_in_epoch);
  v("global_step", t.global_step);
  v("rng_seed", t.rng_seed);
  v("rng_offset", t.rng_offset);
  v("best_valid_bleu", t.best_valid_bleu);
  v("best_valid_loss", t.best_valid_loss);
  v("best_epoch", t.best_epoch);
  v("epochs_without_improvement", t.epochs_without_improvement);
  v("elapsed_seconds", t.elapsed_seconds);
  v("n_train", t.n_train);
}

using Writer = internal::JsonFieldWriter;
using Reader = internal::JsonFieldReader;

json model_to_json(const models::Seq2SeqConfig& m) {
  json j = json::object();
  visit_model(const_cast<models::Seq2SeqConfig&>(m), Writer{j});
  return j;
}

json transformer_to_json(const models::TransformerConfig& m) {
  json j = json::object();
  visit_transformer(const_cast<models::TransformerConfig&>(m), Writer{j});
  return j;
}

json train_to_json(const TrainConfig& c) {
  json j = json::object();
  visit_train(const_cast<TrainConfig&>(c), Writer{j});
  j["model"] = model_to_json(c.model);
  j["transformer"] = transformer_to_json(c.transformer);
  return j;
}

TrainConfig train_from_json(const json& j, const std::string& where) {
  ATTN_CHECK(j.is_object(), where, ": expected an object, got ", j.type_name());
  TrainConfig c;
  Reader r{j, where, {}};
  visit_train(c, r);
  if (auto it = j.find("model"); it != j.end()) {
    ATTN_CHECK(it->is_object(), where, ".model: expected an object, got ", it->type_name());
    Reader rm{*it, where + ".model", {}};
    visit_model(c.model, rm);
    rm.check_unknown();
  }
  if (auto it = j.find("transformer"); it != j.end()) {
    ATTN_CHECK(it->is_object(), where, ".transformer: expected an object, got ", it->type_name());
    Reader rt{*it, where + ".transformer", {}};
    visit_transformer(c.transformer, rt);
    rt.check_unknown();
  }
  r.check_unknown({"model", "transformer"});
  return c;
}

// --- files -----------------------------------------------------------------------------------------

json parse_json_file(const fs::path& path, const std::string& what) {
  const std::string text = read_file(path.string(), what);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    ATTN_FAIL("checkpoint: ", path.string(), " is not valid JSON (", e.what(), ")");
  }
}

// Builds a model from `config` without consuming the default generator (whose state belongs to
// the caller, e.g. a training run about to be resumed).
std::shared_ptr<models::TranslationModel> make_model_quietly(const TrainConfig& config) {
  Generator& g = default_generator();
  const uint64_t seed = g.seed(), offset = g.offset();
  std::shared_ptr<models::TranslationModel> m;
  try {
    m = make_model(config);
  } catch (...) {
    g.manual_seed(seed);
    g.set_offset(offset);
    throw;
  }
  g.manual_seed(seed);
  g.set_offset(offset);
  return m;
}

// The vocabulary sizes the model options of `c` were built for.
int64_t config_src_vocab(const TrainConfig& c) {
  return c.model_type == "transformer" ? c.transformer.src_vocab : c.model.src_vocab;
}
int64_t config_tgt_vocab(const TrainConfig& c) {
  return c.model_type == "transformer" ? c.transformer.tgt_vocab : c.model.tgt_vocab;
}
// "model" or "transformer": where in config.json the model options are.
const char* model_section(const TrainConfig& c) { return c.model_type == "transformer" ? "transformer" : "model"; }

// Checks every tensor against the shapes of a model built from the config, naming both shapes.
void check_model_tensors(const io::StateDict& sd, const TrainConfig& config, const std::string& file,
                         const std::string& config_file) {
  std::shared_ptr<models::TranslationModel> ref;
  try {
    ref = make_model_quietly(config);
  } catch (const Error& e) {
    ATTN_FAIL("checkpoint: the model options in ", config_file, " are invalid: ", e.what());
  }
  const nn::NamedTensors expected = ref->state_dict();
  std::map<std::string, const Tensor*> got;
  for (const auto& [name, t] : sd) got[name] = &t;
  std::vector<std::string> missing;
  for (const auto& [name, t] : expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& g = *it->second;
    ATTN_CHECK(g.shape() == t.shape(), "checkpoint: ", file, ": tensor '", name, "' has shape ", shape_str(g.shape()),
               ", but the model described by ", config_file, " needs ", shape_str(t.shape()));
    ATTN_CHECK(g.dtype() == t.dtype(), "checkpoint: ", file, ": tensor '", name, "' has dtype ", dtype_name(g.dtype()),
               ", but the model described by ", config_file, " needs ", dtype_name(t.dtype()));
    got.erase(it);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    ATTN_FAIL("checkpoint: ", file, " lacks tensors the model in ", config_file, " needs: ", list);
  }
  if (!got.empty()) {
    std::string list;
    for (const auto& [name, t] : got) list += (list.empty() ? "" : ", ") + name;
    ATTN_FAIL("checkpoint: ", file, " has tensors the model in ", config_file, " does not have: ", list);
  }
}

// The SentencePiece model files of a config's "spm" sides (empty: not spm). One joint model when
// both sides are spm and spm_joint.
struct SubwordFiles {
  std::string src, tgt;
};
SubwordFiles subword_files(const TrainConfig& c) {
  const bool s = c.src_tokenizer == "spm", t = c.tgt_tokenizer == "spm";
  if (s && t && c.spm_joint) return {"spm.model", "spm.model"};
  return {s ? "src_spm.model" : "", t ? "tgt_spm.model" : ""};
}

// A side's vocabulary must be the one made from its SentencePiece model, id for id.
void check_subword_vocab(const data::SentencePiece& spm, const data::Vocab& vocab, const fs::path& spm_path,
                         const fs::path& vocab_path) {
  const data::Vocab expected = data::vocab_for(spm);
  ATTN_CHECK(expected == vocab, "checkpoint: ", vocab_path.string(), " (", vocab.size(),
             " tokens) is not the vocabulary of the SentencePiece model ", spm_path.string(), " (",
             expected.size(), " tokens with the specials); the files come from different runs");
}

std::shared_ptr<const data::SentencePiece> load_subword_model(const fs::path& path, const data::Vocab& vocab,
                                                              const fs::path& vocab_path) {
  ATTN_CHECK(fs::exists(path), "checkpoint: missing file ", path.string(),
             " (the SentencePiece model of a side with tokenizer spm)");
  auto spm = std::make_shared<const data::SentencePiece>(data::SentencePiece::load(path.string()));
  check_subword_vocab(*spm, vocab, path, vocab_path);
  return spm;
}

// Loads a safetensors state dict, prefixing errors with the checkpoint context.
io::StateDict load_tensors(const fs::path& path, const std::string& what, bool finite) {
  ATTN_CHECK(fs::exists(path), "checkpoint: missing file ", path.string(), " (", what, ")");
  try {
    return io::load_state_dict(path.string(), finite);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(path.string()) != std::string::npos) throw;
    ATTN_FAIL("checkpoint: ", path.string(), ": ", msg);
  }
}

}  // namespace

std::string train_config_to_json(const TrainConfig& config, int indent) { return train_to_json(config).dump(indent); }

TrainConfig train_config_from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    ATTN_FAIL(source, " is not valid JSON (", e.what(), ")");
  }
  return train_from_json(j, source);
}

bool checkpoint_exists(const std::string& dir) { return fs::exists(fs::path(dir) / "config.json"); }

void save_checkpoint(const std::string& dir_str, const models::TranslationModel& model, const TrainConfig& config,
                     const data::Vocab& src_vocab, const data::Vocab& tgt_vocab,
                     const std::map<std::string, double>& metrics, const TrainerState* trainer,
                     const SubwordModels& subwords) {
  ATTN_CHECK(model.model_type() == config.model_type, "save_checkpoint: the model is a '", model.model_type(),
             "' model but config.model_type is '", config.model_type, "'");
  const auto files = subword_files(config);
  ATTN_CHECK(files.src.empty() || subwords.src, "save_checkpoint: src_tokenizer is spm but no source SentencePiece model was given");
  ATTN_CHECK(files.tgt.empty() || subwords.tgt, "save_checkpoint: tgt_tokenizer is spm but no target SentencePiece model was given");
  ATTN_CHECK(!dir_str.empty(), "save_checkpoint: empty directory name");
  fs::path dir = fs::path(dir_str);
  if (!dir.has_filename()) dir = dir.parent_path();  // "ckpt/" -> "ckpt"
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  ATTN_CHECK(!ec, "save_checkpoint: cannot create ", parent.string(), ": ", ec.message());
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = fs::path(dir.string() + ".tmp-" + pid);
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  ATTN_CHECK(!ec, "save_checkpoint: cannot create ", tmp.string(), ": ", ec.message());

  try {
    io::save_state_dict((tmp / "model.safetensors").string(), model);

    json cfg = json::object();
    cfg["format"] = kCheckpointFormat;
    cfg["version"] = kCheckpointFormatVersion;
    cfg["train"] = train_to_json(config);
    json m = json::object();
    for (const auto& [k, v] : metrics) m[k] = v;
    cfg["metrics"] = m;
    cfg["src_vocab_size"] = src_vocab.size();
    cfg["tgt_vocab_size"] = tgt_vocab.size();
    write_file_synced((tmp / "config.json").string(), cfg.dump(2) + "\n");
    write_file_synced((tmp / "src_vocab.json").string(), src_vocab.to_json() + "\n");
    write_file_synced((tmp / "tgt_vocab.json").string(), tgt_vocab.to_json() + "\n");
    if (!files.src.empty()) write_file_synced((tmp / files.src).string(), subwords.src->serialized());
    if (!files.tgt.empty() && files.tgt != files.src)
      write_file_synced((tmp / files.tgt).string(), subwords.tgt->serialized());

    if (trainer) {
      io::StateDict tensors;
      for (const auto& [k, t] : trainer->optimizer) tensors.emplace_back("optimizer." + k, t);
      for (const auto& [k, t] : trainer->scheduler) tensors.emplace_back("scheduler." + k, t);
      io::save_state_dict((tmp / "trainer.safetensors").string(), tensors);
      json t = json::object();
      visit_trainer(const_cast<TrainerState&>(*trainer), Writer{t});
      json hist = json::array();
      for (const EpochStats& e : trainer->history) {
        json je = json::object();
        visit_epoch(const_cast<EpochStats&>(e), Writer{je});
        hist.push_back(je);
      }
      t["history"] = hist;
      t["format"] = "attn.trainer";
      t["version"] = kCheckpointFormatVersion;
      write_file_synced((tmp / "trainer.json").string(), t.dump(2) + "\n");
    }
    fsync_directory(tmp.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }

  publish_directory(tmp.string(), dir.string());
}

void copy_checkpoint(const std::string& from_str, const std::string& to_str, bool with_trainer) {
  const fs::path from(from_str);
  fs::path dir(to_str);
  if (!dir.has_filename()) dir = dir.parent_path();
  ATTN_CHECK(checkpoint_exists(from_str), "copy_checkpoint: ", from_str, " is not a checkpoint (no config.json)");
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  ATTN_CHECK(!ec, "copy_checkpoint: cannot create ", parent.string(), ": ", ec.message());
  const fs::path tmp = fs::path(dir.string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  ATTN_CHECK(!ec, "copy_checkpoint: cannot create ", tmp.string(), ": ", ec.message());
  std::vector<std::string> files = {"model.safetensors", "config.json", "src_vocab.json", "tgt_vocab.json"};
  // The SentencePiece models that are there (which ones a checkpoint has follows from its config).
  for (const char* f : {"spm.model", "src_spm.model", "tgt_spm.model"})
    if (fs::exists(from / f)) files.push_back(f);
  if (with_trainer) files.insert(files.end(), {"trainer.safetensors", "trainer.json"});
  try {
    for (const auto& f : files) {
      ATTN_CHECK(fs::exists(from / f), "copy_checkpoint: missing file ", (from / f).string());
      // Published checkpoint files are never modified in place (every save writes new files), so
      // a hard link is a safe copy; across file systems, copy and fsync instead.
      fs::create_hard_link(from / f, tmp / f, ec);
      if (ec) {
        ec.clear();
        write_file_synced((tmp / f).string(), read_file((from / f).string(), f));
      }
    }
    fsync_directory(tmp.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  publish_directory(tmp.string(), dir.string());
}

Checkpoint load_checkpoint(const std::string& dir_str, bool load_trainer) {
  const fs::path dir(dir_str);
  ATTN_CHECK(fs::is_directory(dir), "checkpoint: ", dir_str, " is not a directory (expected a checkpoint directory with ",
             "model.safetensors, config.json, src_vocab.json, tgt_vocab.json)");
  Checkpoint ck;

  // config.json
  const fs::path cfg_path = dir / "config.json";
  const std::string cfg_file = cfg_path.string();
  const json cfg = parse_json_file(cfg_path, "the model and training options");
  ATTN_CHECK(cfg.is_object(), "checkpoint: ", cfg_file, ": expected a JSON object, got ", cfg.type_name());
  ATTN_CHECK(cfg.contains("format") && cfg["format"].is_string() && cfg["format"] == kCheckpointFormat, "checkpoint: ",
             cfg_file, ": \"format\" is ", cfg.contains("format") ? cfg["format"].dump() : std::string("missing"),
             ", expected \"", kCheckpointFormat, "\"");
  ATTN_CHECK(cfg.contains("version") && cfg["version"].is_number_integer(), "checkpoint: ", cfg_file,
             ": \"version\" is missing or not an integer");
  const int64_t version = cfg["version"].get<int64_t>();
  ATTN_CHECK(version >= 1 && version <= kCheckpointFormatVersion, "checkpoint: ", cfg_file, ": unknown format version ",
             version, "; this attn reads version ", kCheckpointFormatVersion,
             version > kCheckpointFormatVersion ? " (the checkpoint was written by a newer attn: upgrade attn)" : "");
  ATTN_CHECK(cfg.contains("train"), "checkpoint: ", cfg_file, ": missing field \"train\"");
  ck.config = train_from_json(cfg["train"], cfg_file + ": train");
  if (cfg.contains("metrics")) {
    const json& m = cfg["metrics"];
    ATTN_CHECK(m.is_object(), "checkpoint: ", cfg_file, ": \"metrics\" must be an object");
    for (auto it = m.begin(); it != m.end(); ++it) {
      ATTN_CHECK(it->is_number(), "checkpoint: ", cfg_file, ": metric '", it.key(), "' is not a number");
      ck.metrics[it.key()] = it->get<double>();
    }
  }

  // Vocabularies, checked against the sizes the model was built with.
  const fs::path sv = dir / "src_vocab.json", tv = dir / "tgt_vocab.json";
  ATTN_CHECK(fs::exists(sv), "checkpoint: missing file ", sv.string(), " (the source vocabulary)");
  ATTN_CHECK(fs::exists(tv), "checkpoint: missing file ", tv.string(), " (the target vocabulary)");
  ck.src_vocab = data::Vocab::load(sv.string());
  ck.tgt_vocab = data::Vocab::load(tv.string());
  ATTN_CHECK(ck.config.model_type == "rnn" || ck.config.model_type == "transformer", "checkpoint: ", cfg_file,
             ": unknown model_type '", ck.config.model_type, "' (expected rnn or transformer)");
  const char* section = model_section(ck.config);
  ATTN_CHECK(ck.src_vocab.size() == config_src_vocab(ck.config), "checkpoint: ", sv.string(), " has ",
             ck.src_vocab.size(), " tokens, but ", cfg_file, " says ", section, ".src_vocab = ",
             config_src_vocab(ck.config));
  ATTN_CHECK(ck.tgt_vocab.size() == config_tgt_vocab(ck.config), "checkpoint: ", tv.string(), " has ",
             ck.tgt_vocab.size(), " tokens, but ", cfg_file, " says ", section, ".tgt_vocab = ",
             config_tgt_vocab(ck.config));

  // SentencePiece models, each checked against the vocabulary made from it.
  const SubwordFiles spm_files = subword_files(ck.config);
  if (!spm_files.src.empty()) ck.subwords.src = load_subword_model(dir / spm_files.src, ck.src_vocab, sv);
  if (spm_files.tgt == spm_files.src && ck.subwords.src) {  // joint
    check_subword_vocab(*ck.subwords.src, ck.tgt_vocab, dir / spm_files.tgt, tv);
    ck.subwords.tgt = ck.subwords.src;
  } else if (!spm_files.tgt.empty()) {
    ck.subwords.tgt = load_subword_model(dir / spm_files.tgt, ck.tgt_vocab, tv);
  }

  // Weights.
  const fs::path mp = dir / "model.safetensors";
  ck.model = load_tensors(mp, "the model weights", /*finite=*/true);
  check_model_tensors(ck.model, ck.config, mp.string(), cfg_file);

  if (!load_trainer) return ck;

  const fs::path tj = dir / "trainer.json", ts = dir / "trainer.safetensors";
  ATTN_CHECK(fs::exists(tj), "checkpoint: missing file ", tj.string(),
             " (the training state; ", dir_str, " is an inference-only checkpoint and cannot be resumed)");
  const json t = parse_json_file(tj, "the training state");
  ATTN_CHECK(t.is_object(), "checkpoint: ", tj.string(), ": expected a JSON object");
  ATTN_CHECK(t.contains("version") && t["version"].is_number_integer(), "checkpoint: ", tj.string(),
             ": \"version\" is missing or not an integer");
  const int64_t tver = t["version"].get<int64_t>();
  ATTN_CHECK(tver >= 1 && tver <= kCheckpointFormatVersion, "checkpoint: ", tj.string(), ": unknown format version ",
             tver, "; this attn reads version ", kCheckpointFormatVersion);
  TrainerState st;
  Reader r{t, tj.string(), {}};
  visit_trainer(st, r);
  if (t.contains("history")) {
    ATTN_CHECK(t["history"].is_array(), "checkpoint: ", tj.string(), ": \"history\" must be an array");
    size_t i = 0;
    for (const json& je : t["history"]) {
      ATTN_CHECK(je.is_object(), "checkpoint: ", tj.string(), ": history[", i, "] must be an object");
      EpochStats e;
      Reader re{je, tj.string() + ": history[" + std::to_string(i) + "]", {}};
      visit_epoch(e, re);
      re.check_unknown();
      st.history.push_back(e);
      ++i;
    }
  }
  r.check_unknown({"history", "format", "version"});
  ATTN_CHECK(st.epoch >= 0 && st.batch_in_epoch >= 0 && st.global_step >= 0, "checkpoint: ", tj.string(),
             ": negative epoch, batch or step counter");

  const io::StateDict tensors = load_tensors(ts, "the optimizer and scheduler state", /*finite=*/false);
  for (const auto& [k, v] : tensors) {
    if (k.rfind("optimizer.", 0) == 0)
      st.optimizer.emplace_back(k.substr(10), v);
    else if (k.rfind("scheduler.", 0) == 0)
      st.scheduler.emplace_back(k.substr(10), v);
    else
      ATTN_FAIL("checkpoint: ", ts.string(), ": unexpected tensor '", k, "'");
  }
  ck.trainer = std::move(st);
  return ck;
}

std::shared_ptr<models::TranslationModel> make_model(const TrainConfig& config) {
  if (config.model_type == "rnn") return std::make_shared<models::Seq2Seq>(config.model);
  if (config.model_type == "transformer") return std::make_shared<models::TransformerModel>(config.transformer);
  ATTN_FAIL("make_model: model_type is '", config.model_type, "'; expected rnn or transformer");
}

std::shared_ptr<models::TranslationModel> build_model(const Checkpoint& checkpoint) {
  auto model = make_model_quietly(checkpoint.config);
  model->load_state_dict(checkpoint.model, /*strict=*/true);
  model->eval();
  return model;
}

}  // namespace attn::train
