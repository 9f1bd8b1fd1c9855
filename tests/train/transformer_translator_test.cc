// train_translator / Translator / checkpoints with model_type "transformer" and SentencePiece
// sides (src/train/translator.cc, src/train/checkpoint.cc) on the 40-pair English -> French fixture
// (tests/fixtures/train/tiny.tsv): resuming is bit-exact, a tiny Transformer learns 20 pairs to BLEU
// 100, the attention a translation carries is the teacher-forced cross-attention of the chosen
// layer and head, sampling is reproducible, subword checkpoints carry their SentencePiece models,
// and configs old and new round-trip through JSON.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "attn/data/subword.h"
#include "attn/data/tatoeba.h"
#include "attn/ops/reduce.h"
#include "attn/train/checkpoint.h"
#include "attn/train/translator.h"
#include "test_util.h"
#include "translator_test_util.h"

namespace attn {
namespace {

namespace fs = std::filesystem;
using attn::testing::all_close;
using attn::testing::all_equal;
using attn::testing::expect_error;
using attn::testing::expect_same_checkpoints;
using attn::testing::expect_same_state;
using attn::testing::read_file;
using attn::testing::write_file;

const std::string& kTiny = attn::testing::kTinyTsv;

const attn::testing::ScratchDirs temp_dir("attn_transformer_translator_test_");

// A tiny Transformer with dropout, so resuming must replay the dropout masks and the batch order.
train::TrainConfig tiny_transformer(const fs::path& dir) {
  train::TrainConfig c;
  c.corpus_path = kTiny;
  c.valid_fraction = 0.2;
  c.test_fraction = 0.0;
  c.model_type = "transformer";
  c.transformer.d_model = 16;
  c.transformer.nhead = 2;
  c.transformer.num_encoder_layers = 1;
  c.transformer.num_decoder_layers = 2;
  c.transformer.dim_feedforward = 24;
  c.transformer.dropout = 0.1;
  c.batch_size = 8;
  c.lr = 3e-3;
  c.lr_schedule = "noam";
  c.warmup_steps = 4;
  c.adam_beta2 = 0.98;
  c.label_smoothing = 0.1;
  c.valid_bleu_size = 4;
  c.seed = 5;
  c.quiet = true;
  c.checkpoint_dir = dir.string();
  return c;
}

// Row sums of a [T, S] float32 map.
void expect_rows_sum_to_one(const Tensor& a, const std::string& what) {
  const Tensor c = a.contiguous();
  const int64_t T = c.size(0), S = c.size(1);
  for (int64_t i = 0; i < T; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < S; ++j) sum += c.data_ptr<float>()[i * S + j];
    EXPECT_NEAR(sum, 1.0, 1e-5) << what << " row " << i;  // softmax rows in float32
  }
}

TEST(TransformerTranslator, TrainResumeBitExactAndTranslate) {
  const fs::path full = temp_dir("full"), mid = temp_dir("mid");
  train::TrainConfig c = tiny_transformer(full);
  c.epochs = 2;
  const train::TrainResult r_full = train::train_translator(c);
  EXPECT_EQ(r_full.epochs_completed, 2);
  EXPECT_EQ(r_full.global_step, 8);  // 32 training pairs / 8
  ASSERT_TRUE(r_full.model);
  EXPECT_EQ(r_full.model->model_type(), "transformer");
  for (const auto& e : r_full.epochs) EXPECT_TRUE(std::isfinite(e.train_loss) && std::isfinite(e.valid_loss));

  // Stopped inside epoch 1, resumed to the end: the same weights and optimizer state, bit for bit.
  c = tiny_transformer(mid);
  c.epochs = 2;
  c.max_steps = 3;
  EXPECT_EQ(train::train_translator(c).global_step, 3);
  c.max_steps = 0;
  c.resume = true;
  const train::TrainResult r_mid = train::train_translator(c);
  EXPECT_EQ(r_mid.global_step, 8);
  expect_same_checkpoints(full, mid);
  expect_same_state(r_full.model->state_dict(), r_mid.model->state_dict(), "in-memory model");

  // The checkpoint says what it is, and the Translator rebuilds a TransformerModel from it.
  const train::Checkpoint ck = train::load_checkpoint((full / "last").string());
  EXPECT_EQ(ck.config.model_type, "transformer");
  EXPECT_EQ(ck.config.transformer.d_model, 16);
  EXPECT_EQ(ck.config.transformer.src_vocab, ck.src_vocab.size());
  bool has_decoder_layer_1 = false;
  for (const auto& [name, t] : ck.model) has_decoder_layer_1 |= name.rfind("transformer.decoder.layers.1.", 0) == 0;
  EXPECT_TRUE(has_decoder_layer_1);
  const train::Translator t = train::Translator::load((full / "best").string());
  EXPECT_EQ(t.model_type(), "transformer");
  ASSERT_TRUE(t.transformer());
  EXPECT_FALSE(t.seq2seq());
  EXPECT_EQ(t.model().model_type(), "transformer");

  train::TranslateOptions o;
  o.max_length = 6;
  const train::Translation tr = t.translate("He is tall.", o);
  EXPECT_EQ(tr.source_tokens, (std::vector<std::string>{"he", "is", "tall", ".", "<eos>"}));
  ASSERT_FALSE(tr.tokens.empty());
  EXPECT_LE(tr.tokens.size(), 6u);
  ASSERT_EQ(tr.attention.shape(), (Shape{int64_t(tr.tokens.size()), 5}));
  expect_rows_sum_to_one(tr.attention, "mean over heads");

  // The attention of decoding (KV cache, one step at a time) is the teacher-forced
  // cross-attention of the same tokens: the last layer's mean over heads by default, or one head.
  const Tensor heads = t.attention_heads(tr);  // [L, H, T, S]
  ASSERT_EQ(heads.shape(), (Shape{2, 2, int64_t(tr.tokens.size()), 5}));
  // float32 attention computed two ways (incremental vs whole sequence): a few ulps apart.
  EXPECT_TRUE(all_close(tr.attention, mean(heads.select(0, 1), {0}), 1e-5));
  o.attention_layer = 0;
  o.attention_head = 1;
  const train::Translation tr01 = t.translate("He is tall.", o);
  EXPECT_EQ(tr01.tokens, tr.tokens);  // the choice of map does not change the translation
  EXPECT_TRUE(all_close(tr01.attention, heads.select(0, 0).select(0, 1), 1e-5));
  expect_rows_sum_to_one(tr01.attention, "layer 0 head 1");
  o.attention_head = 2;
  expect_error([&] { t.translate("He is tall.", o); }, {"attention_head", "2 heads"});

  // Sampling: reproducible by seed, one hypothesis only; top_k 1 is greedy search.
  train::TranslateOptions s;
  s.sample = true;
  s.seed = 11;
  s.temperature = 1.5;
  const auto a1 = t.translate(std::vector<std::string>{"He is tall.", "I am cold."}, s);
  const auto a2 = t.translate(std::vector<std::string>{"He is tall.", "I am cold."}, s);
  ASSERT_EQ(a1.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a1[i].tokens, a2[i].tokens);
    EXPECT_EQ(a1[i].nbest.size(), 1u);
    EXPECT_EQ(a1[i].attention.size(0), int64_t(a1[i].tokens.size()));
  }
  s.top_k = 1;
  s.max_length = 6;
  EXPECT_EQ(t.translate("He is tall.", s).tokens, tr.tokens);
  s.beam_size = 2;
  expect_error([&] { t.translate("He is tall.", s); }, {"sampling", "beam_size"});

  // Scoring works as for the RNN.
  const train::TranslatorEval ev = t.evaluate({{"He is tall.", "Il est grand."}});
  EXPECT_EQ(ev.count, 1);
  EXPECT_TRUE(std::isfinite(ev.loss));
}

TEST(TransformerTranslator, OverfitsTwentyPairsToBleu100) {
  const fs::path dir = temp_dir("overfit");
  fs::create_directories(dir);
  const fs::path tsv = dir / "twenty.tsv";
  attn::testing::write_first_pairs(tsv, 20);
  train::TrainConfig c;
  c.train_path = tsv.string();
  c.valid_path = tsv.string();
  c.model_type = "transformer";
  c.transformer.d_model = 32;
  c.transformer.nhead = 2;
  c.transformer.num_encoder_layers = 1;
  c.transformer.num_decoder_layers = 1;
  c.transformer.dim_feedforward = 64;
  c.transformer.dropout = 0.0;
  c.transformer.norm_first = true;
  c.batch_size = 10;
  c.lr = 1e-2;
  c.lr_schedule = "noam";
  c.warmup_steps = 10;
  c.adam_beta2 = 0.98;
  c.epochs = 40;
  c.patience = 0;
  c.seed = 1;
  c.quiet = true;
  c.checkpoint_dir = (dir / "ckpt").string();
  const train::TrainResult r = train::train_translator(c);
  // 100 up to the rounding of exp(mean log precision).
  EXPECT_NEAR(r.best_valid_bleu, 100.0, 1e-9);
  const train::Translator t = train::Translator::load((dir / "ckpt" / "best").string());
  const std::vector<std::pair<std::string, std::string>> pairs = attn::testing::read_pairs(tsv);
  train::TranslateOptions beam;
  beam.beam_size = 3;
  const train::TranslatorEval ev = t.evaluate(pairs, beam);
  EXPECT_EQ(ev.count, 20);
  EXPECT_NEAR(ev.bleu.score, 100.0, 1e-9) << ev.bleu.format();
  EXPECT_EQ(t.translate("He is busy.").text, "il est occupe.");  // tutorial normalisation strips accents
}

TEST(TransformerTranslator, AuxLossAndOptionErrors) {
  // Mixture-of-Experts: the balancing loss joins the loss, so its weight changes the first step.
  const fs::path d0 = temp_dir("moe0"), d1 = temp_dir("moe1");
  train::TrainConfig c = tiny_transformer(d0);
  c.transformer.moe_experts = 2;
  c.transformer.moe_top_k = 1;
  c.transformer.moe_aux_weight = 0.0;
  c.epochs = 1;
  c.max_steps = 1;
  c.valid_fraction = 0.0;
  train::train_translator(c);
  c.transformer.moe_aux_weight = 1.0;
  c.checkpoint_dir = d1.string();
  train::train_translator(c);
  const train::Checkpoint c0 = train::load_checkpoint((d0 / "last").string());
  const train::Checkpoint c1 = train::load_checkpoint((d1 / "last").string());
  ASSERT_EQ(c0.model.size(), c1.model.size());
  int64_t differ = 0;
  for (size_t i = 0; i < c0.model.size(); ++i) differ += !bool(all_equal(c0.model[i].second, c1.model[i].second));
  EXPECT_GT(differ, 0) << "moe_aux_weight had no effect on the first step";

  train::TrainConfig b = tiny_transformer(temp_dir("bad"));
  b.teacher_forcing_ratio = 0.5;
  expect_error([&] { train::train_translator(b); }, {"teacher_forcing_ratio", "transformer"});
  b = tiny_transformer(temp_dir("bad"));
  b.transformer.share_embeddings = true;
  expect_error([&] { train::train_translator(b); }, {"share_embeddings", "spm"});
  b = tiny_transformer(temp_dir("bad"));
  b.model_type = "lstm";
  expect_error([&] { train::train_translator(b); }, {"model_type", "lstm", "rnn, transformer"});
  b = tiny_transformer(temp_dir("bad"));
  b.transformer.nhead = 3;
  expect_error([&] { train::train_translator(b); }, {"d_model", "nhead"});
}

TEST(TransformerTranslator, LearnedPositionsDropAndCutLongSentences) {
  // max_positions 5: training pairs with more than 4 tokens on a side ("il est en retard .") are
  // dropped, and longer inputs are cut to 4 tokens + <eos> when translating.
  const fs::path dir = temp_dir("learned");
  train::TrainConfig c = tiny_transformer(dir);
  c.transformer.positions = "learned";
  c.transformer.max_positions = 5;
  c.epochs = 1;
  const train::TrainResult r = train::train_translator(c);
  EXPECT_GT(r.n_train, 0);
  EXPECT_LT(r.n_train, 32);
  const train::Translator t = train::Translator::load((dir / "best").string());
  const train::Translation tr = t.translate("He is very very very very late.");
  EXPECT_EQ(tr.source_tokens.size(), 5u);
  EXPECT_LE(tr.tokens.size(), 5u);

  // The shape checks of loading cover the Transformer's tensors: a config describing a narrower
  // model than the weights is refused, naming both shapes.
  const fs::path narrow = temp_dir("narrow");
  fs::copy(dir / "last", narrow);
  const fs::path cfg = narrow / "config.json";
  std::string text = read_file(cfg);
  const std::string wide = "\"d_model\": 16";
  const size_t at = text.find(wide);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, wide.size(), "\"d_model\": 8");
  write_file(cfg, text);
  expect_error([&] { train::load_checkpoint(narrow.string()); },
               {"model.safetensors", "config.json", "has shape [", ", 16]", "needs [", ", 8]"});
}

TEST(TransformerTranslator, SentencePieceJointSharedEmbeddings) {
  const fs::path dir = temp_dir("spm_joint");
  train::TrainConfig c = tiny_transformer(dir);
  c.src_tokenizer = c.tgt_tokenizer = "spm";
  c.spm_vocab_size = 80;
  c.transformer.share_embeddings = true;
  c.epochs = 1;
  const train::TrainResult r = train::train_translator(c);
  EXPECT_EQ(r.src_vocab_size, r.tgt_vocab_size);
  for (const char* d : {"best", "last"}) {
    EXPECT_TRUE(fs::exists(dir / d / "spm.model")) << d;
    EXPECT_FALSE(fs::exists(dir / d / "src_spm.model")) << d;
  }
  const train::Checkpoint ck = train::load_checkpoint((dir / "last").string());
  ASSERT_TRUE(ck.subwords.src && ck.subwords.tgt);
  EXPECT_EQ(ck.subwords.src, ck.subwords.tgt);  // one joint model
  EXPECT_EQ(ck.src_vocab, data::vocab_for(*ck.subwords.src));
  EXPECT_EQ(ck.src_vocab.size(), ck.subwords.src->vocab_size() + 3);  // + <pad> <bos> <eos>
  bool has_tgt_embed = false;
  for (const auto& [name, t] : ck.model) has_tgt_embed |= name == "tgt_embed.weight";
  EXPECT_FALSE(has_tgt_embed) << "share_embeddings stores one embedding";

  const train::Translator t = train::Translator::load((dir / "best").string());
  const auto pieces = t.source_tokens("He is tall.");
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front().rfind("\xE2\x96\x81", 0), 0u) << pieces.front();  // "▁" marks a word start
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, "\xE2\x96\x81he\xE2\x96\x81is\xE2\x96\x81tall\xE2\x96\x81.");
  const train::Translation tr = t.translate("He is tall.");
  EXPECT_EQ(tr.text.find("\xE2\x96\x81"), std::string::npos) << "decoded text has no piece markers: " << tr.text;
  EXPECT_EQ(tr.attention.size(1), int64_t(pieces.size()) + 1);

  // A checkpoint whose SentencePiece model is not the one its vocabulary came from is refused.
  fs::remove(dir / "last" / "spm.model");
  expect_error([&] { train::load_checkpoint((dir / "last").string()); }, {"spm.model"});
}

TEST(TransformerTranslator, SentencePieceSeparateModelsRnn) {
  // Per-side models (and an RNN: spm is independent of the model type); resuming reuses them.
  const fs::path dir = temp_dir("spm_separate");
  train::TrainConfig c = tiny_transformer(dir);
  c.model_type = "rnn";
  c.model.embed_dim = 8;
  c.model.hidden_size = 8;
  c.src_tokenizer = c.tgt_tokenizer = "spm";
  c.spm_joint = false;
  c.spm_vocab_size = 60;
  c.spm_model_type = "bpe";
  c.epochs = 1;
  train::train_translator(c);
  EXPECT_TRUE(fs::exists(dir / "last" / "src_spm.model"));
  EXPECT_TRUE(fs::exists(dir / "last" / "tgt_spm.model"));
  EXPECT_FALSE(fs::exists(dir / "last" / "spm.model"));
  const train::Checkpoint ck = train::load_checkpoint((dir / "last").string());
  ASSERT_TRUE(ck.subwords.src && ck.subwords.tgt);
  EXPECT_NE(ck.subwords.src, ck.subwords.tgt);
  EXPECT_EQ(ck.tgt_vocab, data::vocab_for(*ck.subwords.tgt));
  c.resume = true;
  c.epochs = 2;
  EXPECT_EQ(train::train_translator(c).epochs_completed, 2);
  const train::Translator t = train::Translator::load((dir / "last").string());
  EXPECT_EQ(t.model_type(), "rnn");
  ASSERT_TRUE(t.seq2seq());
  const train::TranslatorEval ev = t.evaluate({{"He is tall.", "Il est grand."}});
  EXPECT_EQ(ev.references, (std::vector<std::string>{"il est grand ."}));  // compared as text, not pieces
  EXPECT_EQ(ev.hypotheses.size(), 1u);
  EXPECT_EQ(ev.hypotheses[0].find("\xE2\x96\x81"), std::string::npos);
  // Only one side can be spm too; too large a vocabulary fails with SentencePiece's reason.
  train::TrainConfig one = tiny_transformer(temp_dir("spm_one"));
  one.tgt_tokenizer = "spm";
  one.spm_vocab_size = 5000;
  one.epochs = 1;
  expect_error([&] { train::train_translator(one); }, {"target SentencePiece", "5000"});
}

TEST(TransformerTranslator, ConfigJsonRoundTripAndOldConfigs) {
  train::TrainConfig c;
  c.model_type = "transformer";
  c.transformer.d_model = 48;
  c.transformer.nhead = 6;
  c.transformer.positions = "rope";
  c.transformer.norm_first = true;
  c.transformer.share_embeddings = true;
  c.transformer.tie_output = false;
  c.transformer.num_kv_heads = 2;
  c.transformer.moe_experts = 4;
  c.transformer.moe_aux_weight = 0.125;
  c.src_tokenizer = c.tgt_tokenizer = "spm";
  c.spm_vocab_size = 1234;
  c.spm_model_type = "bpe";
  c.spm_joint = false;
  c.adam_beta2 = 0.98;
  const train::TrainConfig back = train::train_config_from_json(train::train_config_to_json(c));
  EXPECT_EQ(train::train_config_to_json(back), train::train_config_to_json(c));
  EXPECT_EQ(back.model_type, "transformer");
  EXPECT_EQ(back.transformer.d_model, 48);
  EXPECT_EQ(back.transformer.positions, "rope");
  EXPECT_TRUE(back.transformer.norm_first && back.transformer.share_embeddings);
  EXPECT_FALSE(back.transformer.tie_output);
  EXPECT_EQ(back.transformer.num_kv_heads, 2);
  EXPECT_EQ(back.transformer.moe_aux_weight, 0.125);
  EXPECT_EQ(back.spm_vocab_size, 1234);
  EXPECT_EQ(back.spm_model_type, "bpe");
  EXPECT_FALSE(back.spm_joint);
  EXPECT_EQ(back.adam_beta2, 0.98);

  // Unknown fields inside "transformer" are refused like everywhere else.
  std::string bad = train::train_config_to_json(c, -1);
  const size_t at = bad.find("\"d_model\":48");
  ASSERT_NE(at, std::string::npos) << bad;
  bad.replace(at, 12, "\"d_modle\":48");
  expect_error([&] { train::train_config_from_json(bad, "cfg.json"); }, {"cfg.json", "transformer", "d_modle"});

  // A config.json from before model_type, the Transformer and SentencePiece existed is an RNN's.
  std::string old = train::train_config_to_json(train::TrainConfig{}, -1);
  for (const std::string key : {"\"model_type\":\"rnn\",", "\"spm_vocab_size\":8000,", "\"spm_model_type\":\"unigram\",",
                                "\"spm_joint\":true,", "\"adam_beta1\":0.9,", "\"adam_beta2\":0.999,"}) {
    const size_t k = old.find(key);
    ASSERT_NE(k, std::string::npos) << key << " in " << old;
    old.erase(k, key.size());
  }
  const size_t tf = old.find(",\"transformer\":{");
  ASSERT_NE(tf, std::string::npos) << old;
  old.erase(tf, old.find('}', tf) + 1 - tf);
  ASSERT_EQ(old.find("transformer"), std::string::npos) << old;
  const train::TrainConfig o = train::train_config_from_json(old);
  EXPECT_EQ(o.model_type, "rnn");
  EXPECT_EQ(o.spm_vocab_size, 8000);
  EXPECT_EQ(o.adam_beta2, 0.999);
  EXPECT_EQ(o.transformer.d_model, models::TransformerConfig{}.d_model);
}

}  // namespace
}  // namespace attn
