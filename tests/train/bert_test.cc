// Tests for BERT pre-training (include/attn/train/bert.h): the vocabulary's specials, masking
// statistics over ~100k tokens (15% chosen, 80/10/10 split, specials never chosen, labels exactly
// at the chosen positions, random replacements are ordinary words, determinism by generator),
// tokenisation of queries with [MASK], batches of sentences and pairs (truncation, segments,
// padding), a tiny pre-training run whose loss falls and whose held-out accuracy beats chance,
// the checkpoint round trip and its errors, and fill-mask results (k sorted probabilities, summing
// to at most 1, never a special token). About 2 s.
#include "attn/train/bert.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace attn::train {
namespace {

using attn::testing::all_equal;
using attn::testing::expect_error;
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  return (fs::temp_directory_path() / ("attn_bert_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// A vocabulary of `n` words w0 .. w{n-1}.
BertVocab words_vocab(int n) {
  std::vector<std::vector<std::string>> s(1);
  for (int i = 0; i < n; ++i) s[0].push_back("w" + std::to_string(i));
  return BertVocab::build(s);
}

TEST(BertVocab, SpecialsAndMask) {
  const BertVocab v = words_vocab(10);
  EXPECT_EQ(v.size(), 4 + 10 + 1);
  EXPECT_EQ(v.mask_id(), 14);
  EXPECT_EQ(v.num_words(), 10);
  EXPECT_EQ(v.id("[PAD]"), 0);
  EXPECT_EQ(v.id("[CLS]"), 1);
  EXPECT_EQ(v.id("[SEP]"), 2);
  EXPECT_EQ(v.id("[UNK]"), 3);
  EXPECT_EQ(v.id("[MASK]"), 14);
  EXPECT_EQ(v.id("never-seen"), BertVocab::kUnk);
  EXPECT_EQ(v.token(14), "[MASK]");
  EXPECT_EQ(v.token(1), "[CLS]");
  EXPECT_EQ(v.token(v.id("w3")), "w3");
  for (int64_t id : {0, 1, 2, 3, 14}) EXPECT_TRUE(v.is_special(id)) << id;
  for (int64_t id = 4; id < 14; ++id) EXPECT_FALSE(v.is_special(id)) << id;
  EXPECT_EQ(v.encode({"w1", "[MASK]", "zzz"}), (std::vector<int64_t>{1, v.id("w1"), 14, 3, 2}));
  expect_error([&] { v.token(15); }, {"id 15", "[0, 15)"});
}

TEST(BertMasking, Statistics) {
  // 400 rows of [CLS] w.. [SEP] [PAD].. with some [UNK] and [MASK] inside: ~100k ordinary words.
  const BertVocab v = words_vocab(50);
  const int64_t B = 400, T = 300;
  Generator data_gen(11);
  Tensor ids = randint(4, 54, {B, T}, kInt64, &data_gen);
  int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = 250 + b % 50;  // real tokens; the rest is padding
    p[b * T] = BertVocab::kCls;
    p[b * T + len - 1] = BertVocab::kSep;
    for (int64_t t = len; t < T; ++t) p[b * T + t] = BertVocab::kPad;
    p[b * T + 7] = BertVocab::kUnk;
    p[b * T + 9] = v.mask_id();
  }
  Generator gen(5);
  const MaskedTokens m = mask_tokens(ids, v, {}, &gen);
  ASSERT_EQ(m.input_ids.shape(), ids.shape());
  ASSERT_EQ(m.labels.shape(), ids.shape());
  const int64_t* x = m.input_ids.data_ptr<int64_t>();
  const int64_t* y = m.labels.data_ptr<int64_t>();
  int64_t eligible = 0, chosen = 0, to_mask = 0, to_random = 0, unchanged = 0;
  for (int64_t i = 0; i < B * T; ++i) {
    if (v.is_special(p[i])) {
      ASSERT_EQ(y[i], kIgnoreIndex) << "special chosen at " << i;
      ASSERT_EQ(x[i], p[i]) << "special changed at " << i;
      continue;
    }
    ++eligible;
    if (y[i] == kIgnoreIndex) {
      ASSERT_EQ(x[i], p[i]) << "unchosen position changed at " << i;
      continue;
    }
    ASSERT_EQ(y[i], p[i]) << "label is not the original at " << i;
    ++chosen;
    if (x[i] == v.mask_id()) {
      ++to_mask;
    } else if (x[i] != p[i]) {
      ++to_random;
      ASSERT_FALSE(v.is_special(x[i])) << "random replacement is special at " << i;
    } else {
      ++unchanged;
    }
  }
  ASSERT_GT(eligible, 100000);
  // Binomial sd of the chosen share: sqrt(.15 * .85 / 1e5) = 0.0011, so +-1% is ~9 sd; of the
  // split: sqrt(.8 * .2 / 15000) = 0.0033, so +-2% is ~6 sd. A random replacement draws the
  // original word with probability 1/50, so 0.2% of the chosen look unchanged instead of random.
  const double share = double(chosen) / double(eligible);
  EXPECT_NEAR(share, 0.15, 0.01);
  EXPECT_NEAR(double(to_mask) / double(chosen), 0.8, 0.02);
  EXPECT_NEAR(double(to_random) / double(chosen), 0.1 * 49.0 / 50.0, 0.02);
  EXPECT_NEAR(double(unchanged) / double(chosen), 0.1 + 0.1 / 50.0, 0.02);

  // Deterministic by generator state; a different seed gives a different corruption.
  Generator again(5), other(6);
  const MaskedTokens m2 = mask_tokens(ids, v, {}, &again);
  EXPECT_TRUE(all_equal(m2.input_ids, m.input_ids));
  EXPECT_TRUE(all_equal(m2.labels, m.labels));
  const MaskedTokens m3 = mask_tokens(ids, v, {}, &other);
  EXPECT_FALSE(all_equal(m3.labels, m.labels));
}

TEST(BertMasking, ProbabilityExtremesAndErrors) {
  const BertVocab v = words_vocab(5);
  const Tensor ids = tensor<int64_t>({1, 4, 5, 6, 2, 0}, {1, 6});
  Generator gen(1);
  MaskingOptions none;
  none.probability = 0;
  const MaskedTokens a = mask_tokens(ids, v, none, &gen);
  EXPECT_TRUE(all_equal(a.input_ids, ids));
  EXPECT_TRUE(all_equal(a.labels, full({1, 6}, -100.0, kInt64)));
  MaskingOptions all_mask;
  all_mask.probability = 1;
  all_mask.mask_fraction = 1;
  all_mask.random_fraction = 0;
  const MaskedTokens b = mask_tokens(ids, v, all_mask, &gen);
  EXPECT_TRUE(all_equal(b.input_ids, tensor<int64_t>({1, 9, 9, 9, 2, 0}, {1, 6})));
  EXPECT_TRUE(all_equal(b.labels, tensor<int64_t>({-100, 4, 5, 6, -100, -100}, {1, 6})));

  MaskingOptions bad;
  bad.mask_fraction = 0.95;
  expect_error([&] { mask_tokens(ids, v, bad, &gen); }, {"mask_fraction (0.95)", "random_fraction (0.1)"});
  expect_error([&] { mask_tokens(ids, BertVocab(), {}, &gen); }, {"no ordinary word"});
  expect_error([&] { mask_tokens(tensor<int64_t>({1, 99}, {1, 2}), v, {}, &gen); }, {"id 99", "[0, 10)"});
  expect_error([&] { mask_tokens(ids.to(kFloat32), v, {}, &gen); }, {"int64"});
}

TEST(BertText, TokenizeKeepsMask) {
  const TextOptions t;  // tutorial normalisation, words
  EXPECT_EQ(bert_tokenize("I am [MASK].", t), (std::vector<std::string>{"i", "am", "[MASK]", "."}));
  EXPECT_EQ(bert_tokenize("[MASK] est là [MASK]", TextOptions{"tutorial", "word"}),
            (std::vector<std::string>{"[MASK]", "est", "la", "[MASK]"}));
  EXPECT_EQ(bert_tokenize("He's [MASK][MASK] !", t), (std::vector<std::string>{"he", "s", "[MASK]", "[MASK]", "!"}));
  EXPECT_EQ(bert_tokenize("Keep Case [MASK]", TextOptions{"none", "word"}),
            (std::vector<std::string>{"Keep", "Case", "[MASK]"}));
  expect_error([] { bert_tokenize("x", TextOptions{"lower", "word"}); }, {"normalize", "lower"});
}

TEST(BertText, ReadSentencesSides) {
  const std::string path = temp_dir("pairs.tsv");
  write_file(path, "I'm cold.\tJ'ai froid.\nGo!\tVa !\n");
  const TextOptions t;
  EXPECT_EQ(read_sentences(path, "src", t), (std::vector<std::vector<std::string>>{{"i", "m", "cold", "."}, {"go", "!"}}));
  EXPECT_EQ(read_sentences(path, "tgt", t).size(), 2u);
  const auto both = read_sentences(path, "both", t);
  ASSERT_EQ(both.size(), 4u);
  EXPECT_EQ(both[1], (std::vector<std::string>{"j", "ai", "froid", "."}));
  expect_error([&] { read_sentences(path, "left", t); }, {"side", "left"});
  fs::remove(path);
}

TEST(BertBatch, CollateSinglesAndPairs) {
  const BertBatch s = collate_bert({BertExample{{4, 5, 6}, {}, -1}, BertExample{{7}, {}, -1}}, 10);
  EXPECT_TRUE(all_equal(s.input_ids, tensor<int64_t>({1, 4, 5, 6, 2, 1, 7, 2, 0, 0}, {2, 5})));
  EXPECT_TRUE(all_equal(s.attention_mask, tensor<int64_t>({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 5})));
  EXPECT_TRUE(all_equal(s.token_type_ids, zeros({2, 5}, kInt64)));
  EXPECT_FALSE(s.next_sentence_label.defined());

  // Pairs, cut to max_length 8: 5 words of room, the longer segment loses its tail first.
  const BertBatch p = collate_bert({BertExample{{4, 5, 6, 7, 8}, {9, 10}, 0}, BertExample{{4}, {5}, 1}}, 8);
  EXPECT_TRUE(all_equal(p.input_ids, tensor<int64_t>({1, 4, 5, 6, 2, 9, 10, 2,  //
                                                      1, 4, 2, 5, 2, 0, 0, 0},
                                                     {2, 8})));
  EXPECT_TRUE(all_equal(p.token_type_ids, tensor<int64_t>({0, 0, 0, 0, 0, 1, 1, 1,  //
                                                           0, 0, 0, 1, 1, 0, 0, 0},
                                                          {2, 8})));
  EXPECT_TRUE(all_equal(p.next_sentence_label, tensor<int64_t>({0, 1})));
  expect_error([] { collate_bert({BertExample{{4}, {5}, 0}, BertExample{{4}, {}, -1}}, 8); }, {"example 1"});
  expect_error([] { collate_bert({BertExample{{4}, {}, -1}}, 2); }, {"max_length 2"});
}

// Sentences with strong regularities: each animal always eats the same food.
std::vector<std::vector<std::string>> toy_corpus() {
  const std::vector<std::pair<std::string, std::string>> eats = {
      {"cat", "fish"}, {"dog", "meat"}, {"bird", "seeds"}, {"cow", "grass"}, {"bee", "nectar"}};
  const std::vector<std::string> when = {"today", "always", "now", "often"};
  std::vector<std::vector<std::string>> s;
  for (int r = 0; r < 12; ++r)
    for (const auto& [animal, food] : eats)
      for (const auto& w : when) s.push_back({"the", animal, "eats", food, w, "."});
  return s;  // 240 sentences
}

PretrainOptions toy_options() {
  PretrainOptions o;
  o.model.hidden_size = 32;
  o.model.num_hidden_layers = 1;
  o.model.num_attention_heads = 2;
  o.model.intermediate_size = 64;
  o.model.hidden_dropout_prob = 0.0;
  o.model.max_position_embeddings = 16;
  o.max_length = 16;
  o.batch_size = 32;
  o.lr = 3e-3;
  o.warmup_steps = 5;
  o.valid_fraction = 0.1;
  o.masking.probability = 0.3;  // more targets per step on a tiny corpus
  o.max_steps = 80;
  o.seed = 3;
  return o;
}

const PretrainResult& toy_run() {
  static const PretrainResult r = pretrain_bert(toy_corpus(), toy_options());
  return r;
}

TEST(BertPretrain, LossFallsAndHeldOutBeatsChance) {
  const PretrainResult& r = toy_run();
  EXPECT_EQ(r.stats.steps, 80);
  EXPECT_EQ(r.stats.stop_reason, "max_steps");
  EXPECT_EQ(r.stats.n_valid, 24);
  EXPECT_EQ(r.stats.n_train, 216);
  EXPECT_EQ(r.vocab.num_words(), 17);  // the, eats, ., 5 animals, 5 foods, 4 adverbs
  EXPECT_EQ(r.model->config.vocab_size, r.vocab.size());
  ASSERT_EQ(r.stats.loss_history.size(), 80u);
  // ln(22) = 3.1 at the start; the structure makes most words predictable.
  EXPECT_GT(r.stats.first_loss, 2.0);
  EXPECT_LT(r.stats.final_loss, 0.6 * r.stats.first_loss);
  EXPECT_GT(r.stats.valid.masked, 20);
  EXPECT_GT(r.stats.valid.accuracy, 0.5);  // chance: 1/17
  EXPECT_EQ(r.stats.valid.nsp_accuracy, -1);
  EXPECT_FALSE(r.model->is_training());
}

TEST(BertPretrain, DeterministicBySeedAndNextSentenceRuns) {
  PretrainOptions o = toy_options();
  o.max_steps = 4;
  const PretrainResult a = pretrain_bert(toy_corpus(), o);
  const PretrainResult b = pretrain_bert(toy_corpus(), o);
  EXPECT_EQ(a.stats.loss_history, b.stats.loss_history);
  o.threads = 2;  // the ops give the same bits for any thread count
  const PretrainResult two = pretrain_bert(toy_corpus(), o);
  EXPECT_EQ(two.stats.loss_history, a.stats.loss_history);
  o.threads = 0;
  o.next_sentence = true;
  const PretrainResult c = pretrain_bert(toy_corpus(), o);
  ASSERT_NE(c.model->pooler, nullptr);
  EXPECT_EQ(c.stats.steps, 4);
  EXPECT_GE(c.stats.valid.nsp_accuracy, 0.0);
  EXPECT_LE(c.stats.valid.nsp_accuracy, 1.0);

  PretrainOptions bad = toy_options();
  bad.max_steps = 0;
  expect_error([&] { pretrain_bert(toy_corpus(), bad); }, {"no limit"});
  bad = toy_options();
  bad.max_length = 40;
  expect_error([&] { pretrain_bert(toy_corpus(), bad); }, {"max_length 40", "max_position_embeddings 16"});
  expect_error([&] { pretrain_bert({{"one"}}, toy_options()); }, {"at least 2"});
}

TEST(BertCheckpoint, RoundTripAndErrors) {
  const PretrainResult& r = toy_run();
  const std::string dir = temp_dir("ckpt");
  const TextOptions text{"tutorial", "word"};
  save_bert_checkpoint(dir, *r.model, r.vocab, text, &r.options, {{"valid_mlm_accuracy", 0.5}});
  save_bert_checkpoint(dir, *r.model, r.vocab, text, &r.options, {{"valid_mlm_accuracy", 0.75}});  // replaces
  EXPECT_FALSE(fs::exists(dir + ".tmp-" + std::to_string(::getpid())));
  const BertCheckpoint ck = load_bert_checkpoint(dir);
  EXPECT_EQ(ck.vocab, r.vocab);
  EXPECT_EQ(ck.text.normalize, "tutorial");
  EXPECT_EQ(ck.metrics.at("valid_mlm_accuracy"), 0.75);
  EXPECT_FALSE(ck.model->is_training());
  const auto want = r.model->state_dict();
  const auto got = ck.model->state_dict();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_TRUE(all_equal(got[i].second, want[i].second)) << got[i].first;
  }
  EXPECT_TRUE(ck.model->cls->predictions->decoder->weight.is_same(ck.model->embeddings->word_embeddings->weight));

  // Errors name the file and the problem.
  expect_error([&] { load_bert_checkpoint(dir + "-missing"); }, {"is not a directory"});
  const std::string bad = temp_dir("bad");
  fs::remove_all(bad);
  fs::copy(dir, bad);
  write_file(bad + "/config.json", "{not json");
  expect_error([&] { load_bert_checkpoint(bad); }, {"config.json", "not valid JSON"});
  write_file(bad + "/config.json", R"({"format": "attn.translator", "version": 1, "model": {}})");
  expect_error([&] { load_bert_checkpoint(bad); }, {"\"attn.translator\"", "use `attn translate`"});
  write_file(bad + "/config.json", R"({"format": "attn.bert", "version": 7, "model": {}})");
  expect_error([&] { load_bert_checkpoint(bad); }, {"version 7", "upgrade attn"});
  // A config whose model differs from the weights: the shapes are named.
  std::ifstream in(dir + "/config.json");
  std::string cfg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = cfg.find("\"hidden_size\": 32");
  ASSERT_NE(at, std::string::npos);
  write_file(bad + "/config.json", cfg.substr(0, at) + "\"hidden_size\": 16" + cfg.substr(at + 17));
  expect_error([&] { load_bert_checkpoint(bad); }, {"model.safetensors", "[16]", "[32]"});
  write_file(bad + "/config.json", cfg.substr(0, at) + "\"hidden_sise\": 32" + cfg.substr(at + 17));
  expect_error([&] { load_bert_checkpoint(bad); }, {"unknown field \"hidden_sise\""});
  fs::remove_all(bad);
  fs::remove_all(dir);
}

TEST(BertFill, TopKSortedProbabilities) {
  const PretrainResult& r = toy_run();
  const FillMask fill(r.model, r.vocab);
  const FillResult one = fill("The cat eats [MASK] today.", 3);
  EXPECT_EQ(one.tokens, (std::vector<std::string>{"the", "cat", "eats", "[MASK]", "today", "."}));
  EXPECT_EQ(one.mask_positions, (std::vector<int64_t>{3}));
  ASSERT_EQ(one.predictions.size(), 1u);
  ASSERT_EQ(one.predictions[0].size(), 3u);
  double total = 0;
  for (size_t i = 0; i < 3; ++i) {
    const auto& p = one.predictions[0][i];
    EXPECT_FALSE(r.vocab.is_special(p.id)) << p.token;
    EXPECT_EQ(r.vocab.token(p.id), p.token);
    EXPECT_GT(p.probability, 0.0);
    if (i > 0) {
      EXPECT_GE(one.predictions[0][i - 1].probability, p.probability);
    }
    total += p.probability;
  }
  EXPECT_LE(total, 1.0 + 1e-12);
  EXPECT_EQ(one.predictions[0][0].token, "fish");  // learnt from the 216 training sentences

  const FillResult two = fill("the [MASK] eats [MASK] now .", 100);  // k above the vocabulary: all words
  ASSERT_EQ(two.predictions.size(), 2u);
  EXPECT_EQ(two.predictions[1].size(), size_t(r.vocab.num_words()));
  double all = 0;
  for (const auto& p : two.predictions[1]) all += p.probability;
  EXPECT_LE(all, 1.0 + 1e-12);
  expect_error([&] { fill("no mask here", 3); }, {"no [MASK]"});
  expect_error([&] { fill("[MASK]", 0); }, {"k must be >= 1"});
}

}  // namespace
}  // namespace attn::train
