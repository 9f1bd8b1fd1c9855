// train_translator and Translator (src/train/translator.cc) on a 40-pair English -> French
// fixture (tests/fixtures/train/tiny.tsv): resuming continues bit for bit, the time budget stops
// training cleanly, a tiny model learns 20 pairs to BLEU 100, and Translator reads the result.
#include "attn/train/translator.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "attn/data/tatoeba.h"
#include "attn/train/checkpoint.h"
#include "test_util.h"
#include "translator_test_util.h"

namespace attn {
namespace {

namespace fs = std::filesystem;
using attn::testing::all_equal;
using attn::testing::expect_error;
using attn::testing::expect_same_checkpoints;
using attn::testing::expect_same_state;
using attn::testing::read_file;

const std::string& kTiny = attn::testing::kTinyTsv;

const attn::testing::ScratchDirs temp_dir("attn_translator_test_");

// A small model that still exercises every source of randomness the trainer must replay on
// resume: dropout masks, teacher-forcing coins, the batch order.
train::TrainConfig tiny_config(const fs::path& dir) {
  train::TrainConfig c;
  c.corpus_path = kTiny;
  c.valid_fraction = 0.2;
  c.test_fraction = 0.0;
  c.model.embed_dim = 12;
  c.model.hidden_size = 16;
  c.model.attention = "bahdanau";
  c.model.dropout = 0.2;
  c.teacher_forcing_ratio = 0.5;
  c.batch_size = 8;
  c.lr = 5e-3;
  c.lr_schedule = "step";
  c.lr_gamma = 0.7;
  c.warmup_steps = 3;
  c.valid_bleu_size = 4;
  c.seed = 7;
  c.quiet = true;
  c.checkpoint_dir = dir.string();
  return c;
}

TEST(TrainTranslator, ResumeEqualsUninterruptedTraining) {
  constexpr int64_t kEpochs = 4;
  const fs::path full = temp_dir("full"), split = temp_dir("split"), mid = temp_dir("mid");

  train::TrainConfig c = tiny_config(full);
  c.epochs = kEpochs;
  const train::TrainResult r_full = train::train_translator(c);
  EXPECT_EQ(r_full.epochs_completed, kEpochs);
  EXPECT_EQ(r_full.stop_reason, "epochs");
  EXPECT_EQ(r_full.n_train, 32);
  EXPECT_EQ(r_full.n_valid, 8);

  // k = 2 epochs, stop, resume to N.
  c = tiny_config(split);
  c.epochs = 2;
  EXPECT_EQ(train::train_translator(c).epochs_completed, 2);
  c.epochs = kEpochs;
  c.resume = true;
  const train::TrainResult r_split = train::train_translator(c);
  EXPECT_EQ(r_split.epochs_completed, kEpochs);
  EXPECT_EQ(r_split.epochs.size(), size_t(kEpochs - 2));
  expect_same_checkpoints(full, split);

  // Stopped in the middle of an epoch (5 steps, with 4 batches per epoch), then resumed twice,
  // with different thread counts (kernels are thread-count independent).
  c = tiny_config(mid);
  c.epochs = kEpochs;
  c.max_steps = 5;
  c.threads = 1;
  const train::TrainResult r1 = train::train_translator(c);
  EXPECT_EQ(r1.stop_reason, "max_steps");
  EXPECT_EQ(r1.global_step, 5);
  ASSERT_FALSE(r1.epochs.empty());
  EXPECT_TRUE(r1.epochs.back().partial);
  c.resume = true;
  c.max_steps = 6;
  c.threads = 2;
  EXPECT_EQ(train::train_translator(c).global_step, 11);
  c.max_steps = 0;
  const train::TrainResult r3 = train::train_translator(c);
  EXPECT_EQ(r3.global_step, r_full.global_step);
  expect_same_checkpoints(full, mid);

  // The in-memory models agree too.
  expect_same_state(r_full.model->state_dict(), r_split.model->state_dict(), "in-memory model");
}

TEST(TrainTranslator, TimeBudgetStopsCleanly) {
  const fs::path dir = temp_dir("budget");
  train::TrainConfig c = tiny_config(dir);
  c.epochs = 100000;  // only the budget can end this run
  c.time_budget = 0.4;
  const auto t0 = std::chrono::steady_clock::now();
  const train::TrainResult r = train::train_translator(c);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.stop_reason, "time_budget");
  EXPECT_LT(r.epochs_completed, 100000);
  EXPECT_GT(r.global_step, 0);
  // One batch, validation and two small checkpoint writes after the budget: far below 10 s.
  EXPECT_LT(s, c.time_budget + 10.0);
  ASSERT_FALSE(r.epochs.empty());
  // The run left a resumable checkpoint and a best model.
  EXPECT_TRUE(train::checkpoint_exists((dir / "last").string()));
  EXPECT_TRUE(train::checkpoint_exists((dir / "best").string()));
  const train::Checkpoint ck = train::load_checkpoint((dir / "last").string(), true);
  EXPECT_EQ(ck.trainer->global_step, r.global_step);
  EXPECT_EQ(ck.trainer->epoch * 4 + ck.trainer->batch_in_epoch, r.global_step);
}

TEST(TrainTranslator, RequestStopEndsAfterTheCurrentBatch) {
  const fs::path dir = temp_dir("interrupt");
  train::TrainConfig c = tiny_config(dir);
  c.epochs = 10;
  // Requested at the end of epoch 1 (4 batches): epoch 2 trains one batch, then stops and saves.
  const train::TrainResult r = train::train_translator(c, [](const train::EpochStats& e) {
    if (e.epoch == 1) train::request_stop();
  });
  EXPECT_EQ(r.stop_reason, "interrupted");
  EXPECT_EQ(r.global_step, 5);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(r.epochs[1].partial);
  const train::Checkpoint ck = train::load_checkpoint((dir / "last").string(), true);
  EXPECT_EQ(ck.trainer->epoch, 1);
  EXPECT_EQ(ck.trainer->batch_in_epoch, 1);
  // A new run starts with the request cleared.
  c.epochs = 1;
  c.checkpoint_dir.clear();
  EXPECT_EQ(train::train_translator(c).stop_reason, "epochs");
}

TEST(TrainTranslator, OverfitsTwentyPairsToBleu100) {
  // 20 pairs, trained and validated on the same file: the model must learn them by heart.
  const fs::path dir = temp_dir("overfit");
  fs::create_directories(dir);
  const fs::path tsv = dir / "twenty.tsv";
  attn::testing::write_first_pairs(tsv, 20);
  train::TrainConfig c;
  c.train_path = tsv.string();
  c.valid_path = tsv.string();
  c.model.embed_dim = 32;
  c.model.hidden_size = 64;
  c.model.attention = "bahdanau";
  c.model.dropout = 0.0;
  c.batch_size = 10;
  c.lr = 0.02;
  c.epochs = 30;
  c.patience = 0;
  c.seed = 1;
  c.quiet = true;
  c.log_file = (dir / "train.log").string();
  c.checkpoint_dir = (dir / "ckpt").string();
  int64_t callbacks = 0;
  const train::TrainResult r = train::train_translator(c, [&](const train::EpochStats&) { ++callbacks; });
  EXPECT_EQ(callbacks, int64_t(r.epochs.size()));
  // 100 up to the rounding of exp(mean log precision) (sacreBLEU prints 100.00 the same way).
  EXPECT_NEAR(r.best_valid_bleu, 100.0, 1e-9);

  const train::Translator t = train::Translator::load((dir / "ckpt" / "best").string());
  const std::vector<std::pair<std::string, std::string>> pairs = attn::testing::read_pairs(tsv);
  const train::TranslatorEval ev = t.evaluate(pairs);
  EXPECT_EQ(ev.count, 20);
  EXPECT_EQ(ev.bleu_tokenize, "13a");
  EXPECT_NEAR(ev.bleu.score, 100.0, 1e-9) << ev.bleu.format();
  EXPECT_LT(ev.loss, 0.5);
  EXPECT_NEAR(ev.perplexity, std::exp(ev.loss), 1e-9);

  // Beam search finds the same translations, with an n-best list and attention maps.
  train::TranslateOptions opt;
  opt.beam_size = 3;
  opt.n_best = 2;
  const train::Translation tr = t.translate("He is busy.", opt);
  EXPECT_EQ(tr.text, "il est occupe.");  // the tutorial normalisation strips accents
  EXPECT_EQ(tr.source_tokens, (std::vector<std::string>{"he", "is", "busy", ".", "<eos>"}));
  EXPECT_EQ(tr.tokens.back(), "<eos>");
  ASSERT_EQ(tr.nbest.size(), 2u);
  EXPECT_EQ(tr.nbest[0].text, tr.text);
  EXPECT_GE(tr.nbest[0].score, tr.nbest[1].score);
  ASSERT_EQ(tr.attention.shape(), (Shape{int64_t(tr.tokens.size()), 5}));
  const Tensor a = tr.attention.contiguous();
  for (int64_t i = 0; i < a.size(0); ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 5; ++j) sum += a.data_ptr<float>()[i * 5 + j];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "attention row " << i;  // softmax rows, float32 rounding
  }
  // Batch translation keeps the input order; empty input gives an empty translation.
  const auto many = t.translate(std::vector<std::string>{"I am cold.", "", "He is tall."});
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(many[0].text, "j ai froid.");
  EXPECT_EQ(many[1].text, "");
  EXPECT_TRUE(many[1].tokens.empty());
  EXPECT_EQ(many[2].text, "il est grand.");
  // The log has the epoch lines.
  std::ifstream log(c.log_file);
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("epoch 1: train loss"), std::string::npos);
  EXPECT_NE(all.find("valid BLEU"), std::string::npos);
}

TEST(TrainTranslator, BadOptionsAndResumeErrors) {
  const fs::path dir = temp_dir("bad");
  train::TrainConfig c = tiny_config(dir);
  c.optimizer = "adagrad";
  expect_error([&] { train::train_translator(c); }, {"optimizer", "adagrad", "adam, adamw, sgd"});
  c = tiny_config(dir);
  c.tgt_tokenizer = "bpe";
  expect_error([&] { train::train_translator(c); }, {"tgt_tokenizer", "bpe"});
  c = tiny_config(dir);
  c.lr_schedule = "noam";
  expect_error([&] { c.warmup_steps = 0; train::train_translator(c); }, {"noam", "warmup_steps"});
  c = tiny_config(dir);
  c.corpus_path = (dir / "nope.tsv").string();
  expect_error([&] { train::train_translator(c); }, {"nope.tsv"});
  c = tiny_config(dir);
  c.resume = true;
  expect_error([&] { train::train_translator(c); }, {"last"});
}

TEST(TrainTranslator, TokenBatchesAndChangedDataOnResume) {
  const fs::path dir = temp_dir("tokens");
  fs::create_directories(dir);
  const fs::path tsv = dir / "copy.tsv";
  fs::copy_file(kTiny, tsv);
  train::TrainConfig c = tiny_config(dir / "ckpt");
  c.corpus_path = tsv.string();
  c.max_tokens = 40;  // padded tokens per batch: ~6 short pairs
  c.epochs = 1;
  const train::TrainResult r = train::train_translator(c);
  EXPECT_GT(r.global_step, 4);  // more batches than 32 pairs / batch_size 8
  {
    std::ofstream out(tsv, std::ios::app);
    out << "I am late.\tJe suis en retard.\nHe is here.\tIl est ici.\n";
  }
  c.resume = true;
  c.epochs = 2;
  expect_error([&] { train::train_translator(c); }, {"cannot resume", "changed"});
}

TEST(TrainTranslator, OtherDecodersTrainAndTranslate) {
  // One epoch each: the pipeline works for every decoder family, and concat-linear models cut
  // sources to the positions they can attend over.
  for (const char* attention : {"none", "luong-general", "luong-local", "concat-linear"}) {
    const fs::path dir = temp_dir(std::string("kind_") + attention);
    train::TrainConfig c = tiny_config(dir);
    c.model.attention = attention;
    c.model.cell = "lstm";
    c.model.bidirectional = std::string(attention) != "concat-linear";
    c.model.max_length = 5;  // "he is late ." + <eos>
    c.epochs = 1;
    const train::TrainResult r = train::train_translator(c);
    EXPECT_EQ(r.epochs_completed, 1) << attention;
    const train::Translator t = train::Translator::load((dir / "best").string());
    const train::Translation tr = t.translate("He is very very very late.");
    const size_t S = std::string(attention) == "concat-linear" ? 5 : 8;
    EXPECT_EQ(tr.source_tokens.size(), S) << attention;
    EXPECT_EQ(tr.attention.shape(), (Shape{int64_t(tr.tokens.size()), int64_t(S)})) << attention;
  }
}

TEST(TrainTranslator, CharTargetsUseChineseBleu) {
  // Char-level targets: vocabulary of characters, BLEU with sacreBLEU's "zh" tokeniser.
  const fs::path dir = temp_dir("zh");
  fs::create_directories(dir);
  const fs::path tsv = dir / "zh.tsv";
  {
    std::ofstream out(tsv);
    out << "I am cold.\t我很冷。\nHe is tall.\t他很高。\nShe is kind.\t她很善良。\nWe are busy.\t我们很忙。\n";
  }
  train::TrainConfig c;
  c.train_path = tsv.string();
  c.valid_path = tsv.string();
  c.normalize = "clean";
  c.tgt_tokenizer = "char";
  c.model.embed_dim = 16;
  c.model.hidden_size = 32;
  c.model.dropout = 0.0;
  c.epochs = 3;  // the point here is the pipeline, not the quality
  c.lr = 0.02;
  c.batch_size = 4;
  c.quiet = true;
  c.checkpoint_dir = (dir / "ckpt").string();
  const train::TrainResult r = train::train_translator(c);
  EXPECT_EQ(r.tgt_vocab_size, 4 + 11);  // the specials + 我 很 冷 。 他 高 她 善 良 们 忙
  const train::Translator t = train::Translator::load((dir / "ckpt" / "best").string());
  EXPECT_EQ(t.target_tokens("我们很忙。"), (std::vector<std::string>{"我", "们", "很", "忙", "。"}));
  const train::TranslatorEval ev = t.evaluate({{"I am cold.", "我很冷。"}, {"We are busy.", "我们很忙。"}});
  EXPECT_EQ(ev.bleu_tokenize, "zh");
  EXPECT_EQ(ev.count, 2);
}

}  // namespace
}  // namespace attn

// --- per-side normalisation, pretrained source embeddings, no epoch limit ----------------------

namespace attn {
namespace {

TEST(TrainTranslator, PerSideNormalization) {
  // English -> Chinese: tutorial normalisation for English (lowercase, punctuation split off),
  // clean for Chinese (tutorial would drop every CJK character).
  const fs::path dir = temp_dir("per_side");
  fs::create_directories(dir);
  const fs::path tsv = dir / "zh.tsv";
  {
    std::ofstream out(tsv);
    out << "I am cold.\t我很冷。\nHe is tall.\t他很高。\nShe is kind.\t她很善良。\nWe are busy.\t我们很忙。\n"
        << "19!\t十九！\n";  // the tutorial form of "19!" is "!": kept; "19" alone would be dropped
    out << "42\t四十二\n";     // tutorial turns the source into "": dropped
  }
  train::TrainConfig c;
  c.train_path = tsv.string();
  c.valid_path = tsv.string();
  c.src_normalize = "tutorial";
  c.tgt_normalize = "clean";
  c.tgt_tokenizer = "char";
  c.model.embed_dim = 8;
  c.model.hidden_size = 8;
  c.epochs = 1;
  c.batch_size = 4;
  c.quiet = true;
  c.checkpoint_dir = (dir / "ckpt").string();
  EXPECT_EQ(train::source_normalization(c), "tutorial");
  EXPECT_EQ(train::target_normalization(c), "clean");

  const data::Corpus corpus = train::read_translation_corpus(tsv.string(), c);
  ASSERT_EQ(corpus.pairs.size(), 5u);
  EXPECT_EQ(corpus.pairs[0].src, "i am cold .");
  EXPECT_EQ(corpus.pairs[0].tgt, "我很冷。");
  EXPECT_EQ(corpus.pairs[4].src, "!");
  EXPECT_EQ(corpus.report.empty_after_normalize, 1);
  EXPECT_EQ(corpus.report.pairs, 5);

  const train::TrainResult r = train::train_translator(c);
  // i am cold . he is tall she kind we are busy ! -- "cold." is two tokens, case folded.
  EXPECT_EQ(r.src_vocab_size, 4 + 13);
  EXPECT_EQ(r.tgt_vocab_size, 4 + 14);  // 我 很 冷 。 他 高 她 善 良 们 忙 十 九 ！
  const train::Translator t = train::Translator::load((dir / "ckpt" / "best").string());
  EXPECT_EQ(t.config().src_normalize, "tutorial");
  EXPECT_EQ(t.config().tgt_normalize, "clean");
  EXPECT_EQ(t.source_tokens("I am COLD."), (std::vector<std::string>{"i", "am", "cold", "."}));
  EXPECT_EQ(t.preprocess("He is tall!"), "he is tall !");
  EXPECT_EQ(t.target_tokens("我们 很忙。"), (std::vector<std::string>{"我", "们", "很", "忙", "。"}));
  const train::TranslatorEval ev = t.evaluate({{"I am cold.", "我很冷。"}});
  EXPECT_EQ(ev.references, (std::vector<std::string>{"我很冷。"}));  // clean keeps the Chinese text

  // One setting for both sides when the per-side ones are empty; a bad one names its option.
  train::TrainConfig d;
  d.normalize = "clean";
  EXPECT_EQ(train::source_normalization(d), "clean");
  EXPECT_EQ(train::target_normalization(d), "clean");
  c.tgt_normalize = "nfkc";
  expect_error([&] { train::train_translator(c); }, {"tgt_normalize", "nfkc"});
}

TEST(TrainTranslator, ConfigJsonNewFieldsAndOldConfigs) {
  train::TrainConfig c;
  c.corpus_path = "x.tsv";
  c.src_normalize = "tutorial";
  c.tgt_normalize = "clean";
  c.init_src_embeddings = "vectors.txt";
  c.freeze_src_embeddings = true;
  c.epochs = 0;
  const train::TrainConfig back = train::train_config_from_json(train::train_config_to_json(c));
  EXPECT_EQ(back.src_normalize, "tutorial");
  EXPECT_EQ(back.tgt_normalize, "clean");
  EXPECT_EQ(back.init_src_embeddings, "vectors.txt");
  EXPECT_TRUE(back.freeze_src_embeddings);
  EXPECT_EQ(back.epochs, 0);

  // A config.json written before these fields existed still loads, with both sides = normalize.
  std::string old = train::train_config_to_json(train::TrainConfig{}, -1);
  for (const std::string key : {"\"src_normalize\":\"\",", "\"tgt_normalize\":\"\",", "\"init_src_embeddings\":\"\",",
                                "\"freeze_src_embeddings\":false,"}) {
    const size_t at = old.find(key);
    ASSERT_NE(at, std::string::npos) << key << " in " << old;
    old.erase(at, key.size());
  }
  const train::TrainConfig o = train::train_config_from_json(old);
  EXPECT_EQ(o.src_normalize, "");
  EXPECT_EQ(train::source_normalization(o), "tutorial");
  EXPECT_EQ(train::target_normalization(o), "tutorial");
  EXPECT_TRUE(o.init_src_embeddings.empty());
  EXPECT_FALSE(o.freeze_src_embeddings);
}

// A word2vec text file: "V D" then "word x_1 ... x_D".
void write_vectors(const fs::path& p, const std::vector<std::pair<std::string, std::vector<float>>>& rows) {
  std::ofstream out(p);
  out << rows.size() << " " << rows.front().second.size() << "\n";
  for (const auto& [w, v] : rows) {
    out << w;
    for (float x : v) out << " " << x;
    out << "\n";
  }
}

TEST(TrainTranslator, PretrainedSourceEmbeddings) {
  const fs::path dir = temp_dir("w2v_init");
  fs::create_directories(dir);
  const fs::path vec = dir / "vectors.txt";
  std::vector<std::pair<std::string, std::vector<float>>> rows;
  for (const std::string w : {"i", "cold", "zzzz"}) {  // zzzz is not in the corpus
    std::vector<float> v;
    for (int k = 0; k < 12; ++k) v.push_back(0.25f * float(k) - float(w.size()));  // exact in decimal
    rows.emplace_back(w, v);
  }
  write_vectors(vec, rows);

  // Frozen: after training the rows are still exactly the vectors, <pad> still zero.
  train::TrainConfig c = tiny_config(dir / "ck");
  c.init_src_embeddings = vec.string();
  c.freeze_src_embeddings = true;
  c.epochs = 1;
  c.log_file = (dir / "train.log").string();
  train::train_translator(c);
  const std::string log = read_file(dir / "train.log");
  EXPECT_NE(log.find("source embeddings: 2 of "), std::string::npos) << log;
  const train::Checkpoint ck = train::load_checkpoint((dir / "ck" / "last").string());
  EXPECT_EQ(ck.config.init_src_embeddings, vec.string());
  EXPECT_TRUE(ck.config.freeze_src_embeddings);
  Tensor w;
  for (const auto& [name, t] : ck.model)
    if (name == "encoder.embedding.weight") w = t;
  ASSERT_TRUE(w.defined());
  for (const auto& [word, v] : rows) {
    if (word == "zzzz") continue;
    const int64_t id = ck.src_vocab.id(word);
    ASSERT_GE(id, 4) << word;
    EXPECT_TRUE(all_equal(w.select(0, id), tensor<float>(v))) << word;
  }
  EXPECT_TRUE(all_equal(w.select(0, 0), zeros({12}))) << "<pad>";

  // Resume does not read the file again (the checkpoint's weights win) and keeps the freeze.
  fs::remove(vec);
  c.resume = true;
  c.epochs = 2;
  train::train_translator(c);
  const train::Checkpoint ck2 = train::load_checkpoint((dir / "ck" / "last").string());
  Tensor w2;
  for (const auto& [name, t] : ck2.model)
    if (name == "encoder.embedding.weight") w2 = t;
  EXPECT_TRUE(all_equal(w2, w));

  // Not frozen: the vectors are only the starting point, so a training step moves them.
  write_vectors(vec, rows);
  train::TrainConfig u = tiny_config(dir / "ck_unfrozen");
  u.init_src_embeddings = vec.string();
  u.epochs = 1;
  train::train_translator(u);
  const train::Checkpoint cu = train::load_checkpoint((dir / "ck_unfrozen" / "last").string());
  for (const auto& [name, t] : cu.model) {
    if (name == "encoder.embedding.weight") {
      EXPECT_FALSE(bool(all_equal(t.select(0, cu.src_vocab.id("i")), tensor<float>(rows[0].second))));
    }
  }

  // Dimension mismatch: an error naming both.
  write_vectors(vec, {{"i", {1.0f, 2.0f, 3.0f, 4.0f, 5.0f}}});
  train::TrainConfig bad = tiny_config(dir / "ck_bad");
  bad.init_src_embeddings = vec.string();
  expect_error([&] { train::train_translator(bad); }, {"init_src_embeddings", "dimension 5", "embed_dim is 12"});
  bad.init_src_embeddings = (dir / "missing.txt").string();
  expect_error([&] { train::train_translator(bad); }, {"missing.txt"});
}

TEST(TrainTranslator, NoEpochLimit) {
  // epochs 0: only max_steps (here) or the time budget ends the run; progress reads "epoch 2",
  // not "epoch 2/0".
  const fs::path dir = temp_dir("no_epoch_limit");
  train::TrainConfig c = tiny_config(dir / "ck");
  c.epochs = 0;
  c.max_steps = 6;  // 4 batches per epoch: ends inside epoch 2
  c.log_every = 1;
  c.log_file = (dir / "train.log").string();
  const train::TrainResult r = train::train_translator(c);
  EXPECT_EQ(r.stop_reason, "max_steps");
  EXPECT_EQ(r.global_step, 6);
  EXPECT_EQ(r.epochs_completed, 1);
  const std::string log = read_file(dir / "train.log");
  EXPECT_NE(log.find("epoch 2 batch 2/"), std::string::npos) << log;
  EXPECT_EQ(log.find("epoch 1/"), std::string::npos) << log;

  c.max_steps = 0;
  expect_error([&] { train::train_translator(c); }, {"epochs 0", "time_budget", "max_steps"});
  c.max_steps = 1;
  c.lr_schedule = "cosine";
  expect_error([&] { train::train_translator(c); }, {"cosine", "epochs > 0"});
}

}  // namespace
}  // namespace attn
