// Translation checkpoints (see attn/train/checkpoint.h).
#include "attn/train/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "attn/core/error.h"
#include "attn/core/random.h"

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
  v("max_src_len", c.max_src_len);
  v("max_tgt_len", c.max_tgt_len);
  v("init_src_embeddings", c.init_src_embeddings);
  v("freeze_src_embeddings", c.freeze_src_embeddings);
  v("optimizer", c.optimizer);
  v("lr", c.lr);
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

DType parse_dtype(const std::string& s, const std::string& where) {
  for (DType d : {kFloat32, kFloat64})
    if (s == dtype_name(d)) return d;
  ATTN_FAIL(where, ": unknown model dtype '", s, "' (expected ", dtype_name(kFloat32), " or ", dtype_name(kFloat64), ")");
}

struct Writer {
  json& j;
  template <class T>
  void operator()(const char* name, const T& value) {
    if constexpr (std::is_same_v<T, DType>)
      j[name] = dtype_name(value);
    else
      j[name] = value;
  }
};

// Reads the fields of `obj` into a struct; every key must be known and well typed.
struct Reader {
  const json& obj;
  std::string where;  // "<file>: <path in the document>"
  std::set<std::string> seen;

  template <class T>
  void operator()(const char* name, T& value) {
    seen.insert(name);
    auto it = obj.find(name);
    if (it == obj.end()) return;
    const json& x = *it;
    const std::string field = where + "." + name;
    if constexpr (std::is_same_v<T, std::string>) {
      ATTN_CHECK(x.is_string(), field, ": expected a string, got ", x.dump());
      value = x.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      ATTN_CHECK(x.is_boolean(), field, ": expected true or false, got ", x.dump());
      value = x.get<bool>();
    } else if constexpr (std::is_same_v<T, double>) {
      ATTN_CHECK(x.is_number(), field, ": expected a number, got ", x.dump());
      value = x.get<double>();
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      ATTN_CHECK(x.is_number_unsigned(), field, ": expected a non-negative integer, got ", x.dump());
      value = x.get<uint64_t>();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      ATTN_CHECK(x.is_number_integer(), field, ": expected an integer, got ", x.dump());
      value = x.get<int64_t>();
    } else if constexpr (std::is_same_v<T, DType>) {
      ATTN_CHECK(x.is_string(), field, ": expected a dtype name, got ", x.dump());
      value = parse_dtype(x.get<std::string>(), field);
    } else {
      static_assert(sizeof(T) == 0, "unsupported field type");
    }
  }
  // Unknown keys are refused (a typo would otherwise silently fall back to a default).
  void check_unknown(const std::set<std::string>& extra_allowed = {}) const {
    for (auto it = obj.begin(); it != obj.end(); ++it)
      ATTN_CHECK(seen.count(it.key()) || extra_allowed.count(it.key()), where, ": unknown field '", it.key(), "'");
  }
};

json model_to_json(const models::Seq2SeqConfig& m) {
  json j = json::object();
  visit_model(const_cast<models::Seq2SeqConfig&>(m), Writer{j});
  return j;
}

json train_to_json(const TrainConfig& c) {
  json j = json::object();
  visit_train(const_cast<TrainConfig&>(c), Writer{j});
  j["model"] = model_to_json(c.model);
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
  r.check_unknown({"model"});
  return c;
}

// --- files -----------------------------------------------------------------------------------------

std::string read_text_file(const fs::path& path, const std::string& what) {
  ATTN_CHECK(fs::exists(path), "checkpoint: missing file ", path.string(), " (", what, ")");
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in, "checkpoint: cannot open ", path.string(), ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  ATTN_CHECK(!in.bad(), "checkpoint: cannot read ", path.string());
  return ss.str();
}

json parse_json_file(const fs::path& path, const std::string& what) {
  const std::string text = read_text_file(path, what);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    ATTN_FAIL("checkpoint: ", path.string(), " is not valid JSON (", e.what(), ")");
  }
}

// Writes `bytes` to `path` and fsyncs it, so the rename that publishes the directory never exposes
// an empty or short file after a crash.
void write_file_synced(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ATTN_CHECK(fd >= 0, "checkpoint: cannot create ", path.string(), ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ATTN_FAIL("checkpoint: cannot write ", path.string(), ": ", std::strerror(err));
    }
    done += size_t(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  ATTN_CHECK(synced, "checkpoint: cannot fsync ", path.string(), ": ", std::strerror(err));
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: some file systems do not allow opening directories
  ::fsync(fd);
  ::close(fd);
}

// Builds a model from `config` without consuming the default generator (whose state belongs to
// the caller, e.g. a training run about to be resumed).
std::shared_ptr<models::Seq2Seq> make_model_quietly(const models::Seq2SeqConfig& config) {
  Generator& g = default_generator();
  const uint64_t seed = g.seed(), offset = g.offset();
  std::shared_ptr<models::Seq2Seq> m;
  try {
    m = std::make_shared<models::Seq2Seq>(config);
  } catch (...) {
    g.manual_seed(seed);
    g.set_offset(offset);
    throw;
  }
  g.manual_seed(seed);
  g.set_offset(offset);
  return m;
}

// Checks every tensor against the shapes of a model built from the config, naming both shapes.
void check_model_tensors(const io::StateDict& sd, const models::Seq2SeqConfig& config, const std::string& file,
                         const std::string& config_file) {
  std::shared_ptr<models::Seq2Seq> ref;
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

// Makes the finished directory `tmp` visible as `dir`: swaps it with the old one in one step where
// the kernel allows it (renameat2 RENAME_EXCHANGE), else moves the old one aside first.
void publish(const fs::path& tmp, const fs::path& dir, const fs::path& parent) {
  std::error_code ec;
  const std::string pid = std::to_string(::getpid());
  if (fs::exists(dir)) {
#ifdef RENAME_EXCHANGE
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_dir(parent);
      fs::remove_all(tmp, ec);  // now holds the old checkpoint
      return;
    }
#endif
    const fs::path old = fs::path(dir.string() + ".old-" + pid);
    fs::remove_all(old, ec);
    fs::rename(dir, old, ec);
    if (ec) {
      std::error_code ec2;
      fs::remove_all(tmp, ec2);
      ATTN_FAIL("checkpoint: cannot move the old ", dir.string(), " aside: ", ec.message());
    }
    fs::rename(tmp, dir, ec);
    if (ec) {
      std::error_code ec2;
      fs::rename(old, dir, ec2);
      fs::remove_all(tmp, ec2);
      ATTN_FAIL("checkpoint: cannot rename ", tmp.string(), " to ", dir.string(), ": ", ec.message());
    }
    fsync_dir(parent);
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove_all(tmp, ec2);
    ATTN_FAIL("checkpoint: cannot rename ", tmp.string(), " to ", dir.string(), ": ", ec.message());
  }
  fsync_dir(parent);
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

void save_checkpoint(const std::string& dir_str, const models::Seq2Seq& model, const TrainConfig& config,
                     const data::Vocab& src_vocab, const data::Vocab& tgt_vocab,
                     const std::map<std::string, double>& metrics, const TrainerState* trainer) {
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
    write_file_synced(tmp / "config.json", cfg.dump(2) + "\n");
    write_file_synced(tmp / "src_vocab.json", src_vocab.to_json() + "\n");
    write_file_synced(tmp / "tgt_vocab.json", tgt_vocab.to_json() + "\n");

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
      write_file_synced(tmp / "trainer.json", t.dump(2) + "\n");
    }
    fsync_dir(tmp);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }

  publish(tmp, dir, parent);
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
  if (with_trainer) files.insert(files.end(), {"trainer.safetensors", "trainer.json"});
  try {
    for (const auto& f : files) {
      ATTN_CHECK(fs::exists(from / f), "copy_checkpoint: missing file ", (from / f).string());
      // Published checkpoint files are never modified in place (every save writes new files), so
      // a hard link is a safe copy; across file systems, copy and fsync instead.
      fs::create_hard_link(from / f, tmp / f, ec);
      if (ec) {
        ec.clear();
        write_file_synced(tmp / f, read_text_file(from / f, f));
      }
    }
    fsync_dir(tmp);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  publish(tmp, dir, parent);
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
  ATTN_CHECK(ck.src_vocab.size() == ck.config.model.src_vocab, "checkpoint: ", sv.string(), " has ",
             ck.src_vocab.size(), " tokens, but ", cfg_file, " says model.src_vocab = ", ck.config.model.src_vocab);
  ATTN_CHECK(ck.tgt_vocab.size() == ck.config.model.tgt_vocab, "checkpoint: ", tv.string(), " has ",
             ck.tgt_vocab.size(), " tokens, but ", cfg_file, " says model.tgt_vocab = ", ck.config.model.tgt_vocab);

  // Weights.
  const fs::path mp = dir / "model.safetensors";
  ck.model = load_tensors(mp, "the model weights", /*finite=*/true);
  check_model_tensors(ck.model, ck.config.model, mp.string(), cfg_file);

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

std::shared_ptr<models::Seq2Seq> build_model(const Checkpoint& checkpoint) {
  auto model = make_model_quietly(checkpoint.config.model);
  model->load_state_dict(checkpoint.model, /*strict=*/true);
  model->eval();
  return model;
}

}  // namespace attn::train
