// Translation checkpoints (src/train/checkpoint.cc): round trips, atomic replacement, and a clear
// attn::Error naming the file for every kind of damage.
#include "attn/train/checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "attn/core/autograd.h"
#include "attn/core/random.h"
#include "attn/optim/adam.h"
#include "test_util.h"
#include "translator_test_util.h"

namespace attn {
namespace {

namespace fs = std::filesystem;
using attn::testing::all_equal;
using attn::testing::expect_error;
using attn::testing::read_file;
using attn::testing::write_file;

const attn::testing::ScratchDirs temp_dir("attn_checkpoint_test_");

void replace_in_file(const fs::path& p, const std::string& from, const std::string& to) {
  std::string s = read_file(p);
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << p;
  s.replace(at, from.size(), to);
  write_file(p, s);
}

struct Fixture {
  train::TrainConfig config;
  data::Vocab src, tgt;
  std::shared_ptr<models::Seq2Seq> model;
};

Fixture small_model() {
  Fixture f;
  f.src = data::Vocab::build({{"i", "am", "cold", "."}, {"he", "is", "tall", "."}});
  f.tgt = data::Vocab::build({{"j", "ai", "froid", "."}, {"il", "est", "grand", "."}});
  f.config.corpus_path = "corpus.tsv";
  f.config.model.src_vocab = f.src.size();
  f.config.model.tgt_vocab = f.tgt.size();
  f.config.model.embed_dim = 8;
  f.config.model.hidden_size = 12;
  f.config.model.attention = "luong-general";
  f.config.model.cell = "lstm";
  f.config.model.bidirectional = true;
  manual_seed(3);
  f.model = std::make_shared<models::Seq2Seq>(f.config.model);
  return f;
}

fs::path saved(const std::string& name, const Fixture& f, bool trainer = false) {
  const fs::path dir = temp_dir(name);
  train::TrainerState st;
  st.epoch = 2;
  st.global_step = 17;
  st.rng_seed = 5;
  st.rng_offset = (uint64_t(1) << 62) + 3;  // above 2^53: must survive JSON exactly
  st.best_valid_bleu = 12.345678901234567;
  st.history.push_back({1, false, 9, 2.5, 2.25, 3.5, 1e-3, 0.5, 100, true});
  optim::Adam opt(f.model->parameters(), 1e-2);
  st.optimizer = opt.state_dict();
  train::save_checkpoint(dir.string(), *f.model, f.config, f.src, f.tgt, {{"valid_bleu", 3.5}}, trainer ? &st : nullptr);
  return dir;
}

TEST(Checkpoint, RoundTrip) {
  const Fixture f = small_model();
  const fs::path dir = saved("roundtrip", f, /*trainer=*/true);
  for (const char* file : {"model.safetensors", "config.json", "src_vocab.json", "tgt_vocab.json", "trainer.json",
                           "trainer.safetensors"})
    EXPECT_TRUE(fs::exists(dir / file)) << file;
  const train::Checkpoint ck = train::load_checkpoint(dir.string(), /*load_trainer=*/true);
  EXPECT_EQ(ck.src_vocab, f.src);
  EXPECT_EQ(ck.tgt_vocab, f.tgt);
  EXPECT_EQ(ck.config.model.hidden_size, 12);
  EXPECT_EQ(ck.config.model.attention, "luong-general");
  EXPECT_TRUE(ck.config.model.bidirectional);
  EXPECT_EQ(ck.metrics.at("valid_bleu"), 3.5);
  ASSERT_TRUE(ck.trainer.has_value());
  EXPECT_EQ(ck.trainer->global_step, 17);
  EXPECT_EQ(ck.trainer->rng_offset, (uint64_t(1) << 62) + 3);
  EXPECT_EQ(ck.trainer->best_valid_bleu, 12.345678901234567);  // exact: JSON doubles round-trip
  ASSERT_EQ(ck.trainer->history.size(), 1u);
  EXPECT_EQ(ck.trainer->history[0].valid_bleu, 3.5);
  const auto model = train::build_model(ck);
  const auto a = f.model->state_dict(), b = model->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(all_equal(b[i].second, a[i].second)) << a[i].first;
  }
  // PyTorch names.
  EXPECT_TRUE(model->get_parameter("encoder.embedding.weight").defined());
  EXPECT_TRUE(model->get_parameter("decoder.out.weight").defined());
}

TEST(Checkpoint, LoadingDoesNotDisturbTheDefaultGenerator) {
  const Fixture f = small_model();
  const fs::path dir = saved("rng", f);
  manual_seed(11);
  default_generator().set_offset(1234);
  const train::Checkpoint ck = train::load_checkpoint(dir.string());
  train::build_model(ck);
  EXPECT_EQ(default_generator().seed(), 11u);
  EXPECT_EQ(default_generator().offset(), 1234u);
}

TEST(Checkpoint, ConfigJsonRoundTripAndUnknownFields) {
  train::TrainConfig c;
  c.train_path = "a.tsv";
  c.reverse = true;
  c.tgt_tokenizer = "char";
  c.lr = 0.1 + 0.2;  // not representable in few digits
  c.seed = 18446744073709551615ull;
  c.model.attention = "concat-linear";
  c.model.dtype = kFloat64;
  const train::TrainConfig d = train::train_config_from_json(train::train_config_to_json(c));
  EXPECT_EQ(d.train_path, "a.tsv");
  EXPECT_TRUE(d.reverse);
  EXPECT_EQ(d.tgt_tokenizer, "char");
  EXPECT_EQ(d.lr, c.lr);
  EXPECT_EQ(d.seed, c.seed);
  EXPECT_EQ(d.model.attention, "concat-linear");
  EXPECT_EQ(d.model.dtype, kFloat64);
  expect_error([] { train::train_config_from_json(R"({"learning_rate": 1})", "cfg.json"); },
               {"cfg.json", "unknown field 'learning_rate'"});
  expect_error([] { train::train_config_from_json(R"({"lr": "fast"})", "cfg.json"); }, {"cfg.json", ".lr", "number"});
  expect_error([] { train::train_config_from_json(R"({"model": {"hidden": 3}})", "cfg.json"); },
               {"cfg.json", "model", "unknown field 'hidden'"});
  expect_error([] { train::train_config_from_json("{\"lr\": 1", "cfg.json"); }, {"cfg.json", "not valid JSON"});
}

TEST(Checkpoint, SaveReplacesAtomically) {
  Fixture f = small_model();
  const fs::path dir = saved("atomic", f);
  // Overwrite with different weights: the directory is replaced as a whole, nothing is left over.
  {
    NoGradGuard no_grad;
    f.model->get_parameter("decoder.out.bias").fill_(0.5);
  }
  train::save_checkpoint(dir.string(), *f.model, f.config, f.src, f.tgt);
  const auto m = train::build_model(train::load_checkpoint(dir.string()));
  EXPECT_EQ(m->get_parameter("decoder.out.bias").contiguous().data_ptr<float>()[0], 0.5f);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind("atomic", 0) == 0) ++entries;
  }
  EXPECT_EQ(entries, 1) << "temporary or old directories left beside the checkpoint";
  // A failed save (unwritable target: a file where the parent directory should be) leaves the
  // old checkpoint untouched.
  const fs::path blocker = temp_dir("blocker");
  write_file(blocker, "not a directory");
  expect_error([&] { train::save_checkpoint((blocker / "ckpt").string(), *f.model, f.config, f.src, f.tgt); },
               {"blocker"});
  EXPECT_NO_THROW(train::load_checkpoint(dir.string()));
}

TEST(Checkpoint, CopyPublishesAnIndependentCheckpoint) {
  Fixture f = small_model();
  const fs::path src = saved("copy_src", f, /*trainer=*/true);
  const fs::path dst = temp_dir("copy_dst");
  train::copy_checkpoint(src.string(), dst.string());
  EXPECT_FALSE(fs::exists(dst / "trainer.json"));  // inference only
  train::copy_checkpoint(src.string(), dst.string(), /*with_trainer=*/true);  // replaces it
  EXPECT_TRUE(train::load_checkpoint(dst.string(), true).trainer.has_value());
  // Saving over the source (a new directory, new files) leaves the copy as it was.
  {
    NoGradGuard no_grad;
    f.model->get_parameter("decoder.out.bias").fill_(0.25);
  }
  train::save_checkpoint(src.string(), *f.model, f.config, f.src, f.tgt);
  const auto copy = train::build_model(train::load_checkpoint(dst.string()));
  EXPECT_NE(copy->get_parameter("decoder.out.bias").contiguous().data_ptr<float>()[0], 0.25f);
  expect_error([&] { train::copy_checkpoint((src / "nothing").string(), dst.string()); }, {"nothing", "not a checkpoint"});
}

TEST(Checkpoint, MissingDirectoryOrFiles) {
  const Fixture f = small_model();
  expect_error([] { train::load_checkpoint("/nonexistent/ckpt"); }, {"/nonexistent/ckpt", "not a directory"});
  for (const char* file : {"model.safetensors", "config.json", "src_vocab.json", "tgt_vocab.json"}) {
    const fs::path dir = saved(std::string("missing_") + file, f);
    fs::remove(dir / file);
    expect_error([&] { train::load_checkpoint(dir.string()); }, {(dir / file).string(), "missing file"});
  }
  // An inference-only checkpoint cannot be resumed.
  const fs::path dir = saved("no_trainer", f);
  expect_error([&] { train::load_checkpoint(dir.string(), true); }, {"trainer.json", "cannot be resumed"});
}

TEST(Checkpoint, TruncatedOrCorruptSafetensors) {
  const Fixture f = small_model();
  const fs::path dir = saved("truncated", f);
  const std::string bytes = read_file(dir / "model.safetensors");
  for (size_t keep : {size_t(0), size_t(5), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    write_file(dir / "model.safetensors", bytes.substr(0, keep));
    expect_error([&] { train::load_checkpoint(dir.string()); }, {"model.safetensors"});
  }
  std::string garbage = bytes;
  garbage[10] = '\x01';  // inside the JSON header
  write_file(dir / "model.safetensors", garbage);
  expect_error([&] { train::load_checkpoint(dir.string()); }, {"model.safetensors"});

  const fs::path dir2 = saved("truncated_trainer", f, true);
  const std::string tb = read_file(dir2 / "trainer.safetensors");
  write_file(dir2 / "trainer.safetensors", tb.substr(0, tb.size() - 3));
  expect_error([&] { train::load_checkpoint(dir2.string(), true); }, {"trainer.safetensors"});
}

TEST(Checkpoint, NonFiniteWeightsAreRefused) {
  Fixture f = small_model();
  {
    NoGradGuard no_grad;
    f.model->get_parameter("decoder.out.bias").fill_(std::nan(""));
  }
  const fs::path dir = saved("nan", f);
  expect_error([&] { train::load_checkpoint(dir.string()); }, {"model.safetensors", "decoder.out.bias"});
}

TEST(Checkpoint, WrongShapesNameBothShapes) {
  const Fixture f = small_model();
  const fs::path dir = saved("shapes", f);
  // The config now describes a narrower model than the weights on disk: the first LSTM weight
  // has 4 * hidden_size rows.
  replace_in_file(dir / "config.json", "\"hidden_size\": 12", "\"hidden_size\": 10");
  expect_error([&] { train::load_checkpoint(dir.string()); },
               {"model.safetensors", "config.json", "encoder.rnn.weight_ih_l0", "has shape [48, 8]", "needs [40, 8]"});
  // A vocabulary that does not match the embedding size.
  const fs::path dir2 = saved("vocab_size", f);
  data::Vocab::build({{"x"}}).save((dir2 / "src_vocab.json").string());
  expect_error([&] { train::load_checkpoint(dir2.string()); }, {"src_vocab.json", "config.json", "src_vocab"});
  // Options that do not describe a valid model.
  const fs::path dir3 = saved("bad_model", f);
  replace_in_file(dir3 / "config.json", "\"luong-general\"", "\"magic\"");
  expect_error([&] { train::load_checkpoint(dir3.string()); }, {"config.json", "magic"});
}

TEST(Checkpoint, UnknownVersionAndCorruptJson) {
  const Fixture f = small_model();
  const fs::path dir = saved("version", f);
  replace_in_file(dir / "config.json", "\"version\": 1", "\"version\": 99");
  expect_error([&] { train::load_checkpoint(dir.string()); }, {"config.json", "unknown format version 99", "upgrade"});

  const fs::path dir2 = saved("format", f);
  replace_in_file(dir2 / "config.json", "attn.translator", "something.else");
  expect_error([&] { train::load_checkpoint(dir2.string()); }, {"config.json", "something.else"});

  const fs::path dir3 = saved("json", f);
  const std::string s = read_file(dir3 / "config.json");
  write_file(dir3 / "config.json", s.substr(0, s.size() / 2));
  expect_error([&] { train::load_checkpoint(dir3.string()); }, {"config.json", "not valid JSON"});

  const fs::path dir4 = saved("vocab_json", f);
  write_file(dir4 / "tgt_vocab.json", "{\"format\": ");
  expect_error([&] { train::load_checkpoint(dir4.string()); }, {"tgt_vocab.json"});

  const fs::path dir5 = saved("field_type", f);
  replace_in_file(dir5 / "config.json", "\"embed_dim\": 8", "\"embed_dim\": \"eight\"");
  expect_error([&] { train::load_checkpoint(dir5.string()); }, {"config.json", "embed_dim", "integer"});

  const fs::path dir6 = saved("trainer_json", f, true);
  write_file(dir6 / "trainer.json", "[1, 2");
  expect_error([&] { train::load_checkpoint(dir6.string(), true); }, {"trainer.json", "not valid JSON"});
}

}  // namespace
}  // namespace attn
