// `attn train`: trains a translator (attn/train/translator.h: an RNN encoder-decoder with attention
// or a Transformer) from a Tatoeba-style TSV and keeps the best checkpoint. Every TrainConfig field
// is one option here; the option names follow fairseq / Marian where they have one.
#include <cstdio>
#include <memory>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/checkpoint.h"
#include "attn/train/translator.h"

namespace attn::cli {

namespace {

const std::vector<std::string>& attention_choices() {
  static const std::vector<std::string> v = {"none",          "bahdanau",    "luong-dot",    "luong-general",
                                             "luong-concat", "luong-local", "concat-linear"};
  return v;
}

// What --model accepts: the model types, and (as before --model chose the model type) the RNN
// decoders, which mean "rnn with that decoder".
std::vector<std::string> model_choices() {
  std::vector<std::string> v = train::model_type_choices();
  for (const auto& a : attention_choices()) v.push_back(a);
  return v;
}

// The Transformer recipe's defaults (Vaswani et al. 2017; fairseq's transformer_iwslt_de_en), for
// the options the command line did not set.
void transformer_defaults(CLI::App* sub, train::TrainConfig& c) {
  auto unset = [&](const char* name) { return sub->get_option(name)->count() == 0; };
  if (unset("--lr")) c.lr = 5e-4;
  if (unset("--lr-schedule")) c.lr_schedule = "noam";
  if (unset("--warmup-steps") && c.lr_schedule == "noam") c.warmup_steps = 4000;
  if (unset("--adam-betas")) c.adam_beta2 = 0.98;
  if (unset("--label-smoothing")) c.label_smoothing = 0.1;
}

}  // namespace

void register_train(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "train", "train a translator (RNN encoder-decoder with attention, or Transformer) on a TSV of sentence pairs");
  sub->footer(
      "Data: --train [--valid] [--test], or --data split by --split. One pair per line, "
      "source<TAB>target[<TAB>attribution] (Tatoeba / manythings format).\n"
      "Examples: attn train --data data/eng-fra.tutorial.tsv --filter --attention bahdanau "
      "--time-budget 300 --out runs/enfr\n"
      "          attn train --data data/eng-fra.tutorial.tsv --model transformer --tokenizer spm --vocab-size 4000 "
      "--share-embeddings --d-model 256 --warmup-steps 1000 --out runs/enfr-tf");
  struct Args {
    train::TrainConfig c;
    std::vector<double> split;
    std::string model = "rnn";
    std::string tokenizer;
    std::vector<double> adam_betas;
    bool no_tie_output = false, spm_separate = false;
  };
  auto a = std::make_shared<Args>();
  train::TrainConfig& c = a->c;
  c.checkpoint_dir = "checkpoints";

  // Data.
  const char* data = "Data";
  sub->add_option("--train", c.train_path, "training pairs (TSV)")->group(data);
  sub->add_option("--valid", c.valid_path, "validation pairs (TSV); default: --split's share of --train")->group(data);
  sub->add_option("--test", c.test_path, "test pairs (TSV), scored with the best model at the end")->group(data);
  sub->add_option("--data", c.corpus_path, "one corpus (TSV) split into train / valid / test by --split")
      ->group(data)
      ->excludes("--train");
  sub->add_option("--split", a->split, "VALID,TEST: the fractions held out for validation and test (of --data; "
                                       "of --train only VALID, when there is no --valid) [default: 0.1,0.1]")
      ->group(data)
      ->delimiter(',')
      ->expected(2)
      ->check(CLI::Range(0.0, 0.9));
  sub->add_option("--max-pairs", c.max_pairs, "read at most this many pairs per file (0: all)")
      ->group(data)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_flag("--reverse", c.reverse, "translate column 2 -> column 1 (default: column 1 -> column 2)")->group(data);
  sub->add_option("--normalize", c.normalize,
                  "text normalisation: tutorial (lowercase ASCII, as the PyTorch tutorial), clean (fix "
                  "typography, keep case and accents), none")
      ->group(data)
      ->check(CLI::IsMember(train::normalize_choices()))
      ->capture_default_str();
  sub->add_option("--src-normalize", c.src_normalize, "normalisation of the source side only (default: --normalize)")
      ->group(data)
      ->check(CLI::IsMember(train::normalize_choices()));
  sub->add_option("--tgt-normalize", c.tgt_normalize,
                  "normalisation of the target side only (default: --normalize); e.g. English -> Chinese: "
                  "--src-normalize tutorial --tgt-normalize clean")
      ->group(data)
      ->check(CLI::IsMember(train::normalize_choices()));
  sub->add_flag("--filter", c.tutorial_filter,
                "keep only the PyTorch tutorial's pairs: English side starts with 'i am', 'he is', ... "
                "and both sides have fewer than --max-length words")
      ->group(data);
  sub->add_option("--max-length", c.filter_max_length, "word limit of --filter")
      ->group(data)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--max-src-len", c.max_src_len, "drop training pairs with more source tokens (0: no limit)")
      ->group(data)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--max-tgt-len", c.max_tgt_len, "drop training pairs with more target tokens (0: no limit)")
      ->group(data)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--tokenizer", a->tokenizer,
                  "tokens of both sides: word, char (one per CJK character) or spm (SentencePiece subwords "
                  "trained on the training split; see --vocab-size)")
      ->group(data)
      ->check(CLI::IsMember(train::tokenizer_choices()));
  sub->add_option("--src-tokenizer", c.src_tokenizer, "source tokens only: word, char or spm (default: --tokenizer)")
      ->group(data)
      ->check(CLI::IsMember(train::tokenizer_choices()))
      ->capture_default_str();
  sub->add_option("--tgt-tokenizer", c.tgt_tokenizer, "target tokens only: word, char or spm (default: --tokenizer)")
      ->group(data)
      ->check(CLI::IsMember(train::tokenizer_choices()))
      ->capture_default_str();
  sub->add_option("--vocab-size", c.spm_vocab_size, "spm: pieces per SentencePiece model (<unk> included)")
      ->group(data)
      ->check(CLI::Range(int64_t{2}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_option("--spm-model-type", c.spm_model_type, "spm: unigram (language model) or bpe segmentation")
      ->group(data)
      ->check(CLI::IsMember(train::spm_model_type_choices()))
      ->capture_default_str();
  sub->add_flag("--spm-separate", a->spm_separate,
                "spm on both sides: one model per side instead of one joint model (a joint model gives one "
                "vocabulary, which --share-embeddings needs)")
      ->group(data);
  sub->add_option("--min-freq", c.min_freq, "tokens seen fewer times in training become <unk>")
      ->group(data)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  // Model.
  const char* model = "Model";
  sub->add_option("--model", a->model,
                  "rnn (encoder-decoder with the --attention decoder) or transformer (the Transformer options "
                  "below, with its own training defaults: --lr 5e-4, --lr-schedule noam, --warmup-steps 4000, "
                  "--adam-betas 0.9,0.98, --label-smoothing 0.1); a decoder name means rnn with that decoder")
      ->group(model)
      ->check(CLI::IsMember(model_choices()))
      ->capture_default_str();
  sub->add_option("--attention", c.model.attention,
                  "rnn decoder: none (fixed context), bahdanau (additive), luong-dot | luong-general | luong-concat "
                  "(global, input feeding), luong-local (local-p), concat-linear (the PyTorch tutorial's)")
      ->group(model)
      ->check(CLI::IsMember(attention_choices()))
      ->capture_default_str();
  sub->add_option("--cell", c.model.cell, "recurrent cell: gru or lstm")
      ->group(model)
      ->check(CLI::IsMember({"gru", "lstm"}))
      ->capture_default_str();
  sub->add_flag("--bidirectional", c.model.bidirectional, "bidirectional encoder")->group(model);
  sub->add_option("--embed-dim", c.model.embed_dim, "embedding size")
      ->group(model)
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--init-src-embeddings", c.init_src_embeddings,
                  "start the encoder's embedding from word vectors (a word2vec text file from `attn word2vec "
                  "train`, trained with --dim = --embed-dim and the same normalisation)")
      ->group(model);
  sub->add_flag("--freeze-src-embeddings", c.freeze_src_embeddings,
                "keep the encoder's embedding fixed during training (use with --init-src-embeddings)")
      ->group(model);
  sub->add_option("--hidden-size", c.model.hidden_size, "RNN hidden size")
      ->group(model)
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--layers", c.model.num_layers, "stacked RNN layers (encoder and decoder)")
      ->group(model)
      ->check(CLI::Range(int64_t{1}, int64_t{64}))
      ->capture_default_str();
  sub->add_option("--dropout", c.model.dropout,
                  "dropout on embeddings and between RNN layers (transformer: on embeddings, attention "
                  "outputs, feed-forward and residual branches)")
      ->group(model)
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_flag("--tie-weights", c.model.tie_weights,
                "share the output projection with the target embedding (needs --embed-dim = --hidden-size)")
      ->group(model);
  sub->add_option("--attn-max-length", c.model.max_length,
                  "concat-linear: source positions it attends over (longer sources are cut)")
      ->group(model)
      ->check(CLI::Range(int64_t{2}, int64_t{100000}))
      ->capture_default_str();
  sub->add_option("--local-window", c.model.local_window, "luong-local: half-width D of the window")
      ->group(model)
      ->check(CLI::Range(int64_t{0}, int64_t{10000}))
      ->capture_default_str();

  // Transformer.
  const char* tf = "Transformer (--model transformer)";
  models::TransformerConfig& t = c.transformer;
  sub->add_option("--d-model", t.d_model, "model width (embeddings, attention, residual stream)")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))
      ->capture_default_str();
  sub->add_option("--nhead", t.nhead, "attention heads (must divide --d-model)")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  sub->add_option("--kv-heads", t.num_kv_heads, "key/value heads for grouped-query attention (-1: --nhead)")
      ->group(tf)
      ->check(CLI::Range(int64_t{-1}, int64_t{1024}))
      ->capture_default_str();
  sub->add_option("--encoder-layers", t.num_encoder_layers, "encoder layers")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{64}))
      ->capture_default_str();
  sub->add_option("--decoder-layers", t.num_decoder_layers, "decoder layers")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{64}))
      ->capture_default_str();
  sub->add_option("--ff-dim", t.dim_feedforward, "feed-forward width")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{1048576}))
      ->capture_default_str();
  sub->add_option("--activation", t.activation, "feed-forward activation: relu or gelu")
      ->group(tf)
      ->check(CLI::IsMember({"relu", "gelu"}))
      ->capture_default_str();
  sub->add_flag("--norm-first", t.norm_first, "pre-LN layers (LayerNorm before each sublayer; trains more easily)")
      ->group(tf);
  sub->add_option("--positions", t.positions,
                  "position information: sinusoidal (added), learned (added; at most --max-positions tokens) "
                  "or rope (rotary, inside self-attention)")
      ->group(tf)
      ->check(CLI::IsMember({"sinusoidal", "learned", "rope"}))
      ->capture_default_str();
  sub->add_option("--max-positions", t.max_positions, "learned positions: table size (longer sentences are dropped / cut)")
      ->group(tf)
      ->check(CLI::Range(int64_t{2}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_flag("--share-embeddings", t.share_embeddings,
                "one embedding for source and target (needs one vocabulary: --tokenizer spm, joint)")
      ->group(tf);
  sub->add_flag("--no-tie-output", a->no_tie_output,
                "a separate output projection (default: tied to the target embedding)")
      ->group(tf);
  sub->add_option("--moe-experts", t.moe_experts, "Mixture-of-Experts feed-forward with this many experts (0: off)")
      ->group(tf)
      ->check(CLI::Range(int64_t{0}, int64_t{1024}))
      ->capture_default_str();
  sub->add_option("--moe-top-k", t.moe_top_k, "experts each token is routed to")
      ->group(tf)
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  sub->add_option("--moe-aux-weight", t.moe_aux_weight, "weight of the load-balancing loss added to the loss")
      ->group(tf)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  // Optimisation.
  const char* opt = "Optimisation";
  sub->add_option("--optimizer", c.optimizer, "adam, adamw or sgd")
      ->group(opt)
      ->check(CLI::IsMember(train::optimizer_choices()))
      ->capture_default_str();
  sub->add_option("--lr", c.lr, "learning rate (noam: the peak, reached after the warmup)")
      ->group(opt)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--adam-betas", a->adam_betas, "B1,B2: Adam's moment decay rates [default: 0.9,0.999]")
      ->group(opt)
      ->delimiter(',')
      ->expected(2)
      ->check(CLI::Range(0.0, 0.999999));
  sub->add_option("--weight-decay", c.weight_decay, "weight decay (adamw: decoupled)")
      ->group(opt)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--momentum", c.momentum, "sgd momentum")->group(opt)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  sub->add_option("--clip", c.clip_norm, "clip the global gradient L2 norm to this (0: no clipping)")
      ->group(opt)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--label-smoothing", c.label_smoothing, "label smoothing of the cross-entropy")
      ->group(opt)
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_option("--lr-schedule", c.lr_schedule,
                  "none, step (x --lr-gamma every --lr-step-size epochs), cosine (to --lr-min), noam "
                  "(warmup then 1/sqrt(step))")
      ->group(opt)
      ->check(CLI::IsMember(train::lr_schedule_choices()))
      ->capture_default_str();
  sub->add_option("--lr-step-size", c.lr_step_size, "step schedule: epochs between decays")
      ->group(opt)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--lr-gamma", c.lr_gamma, "step schedule: decay factor")
      ->group(opt)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--lr-min", c.lr_min, "cosine schedule: final learning rate")
      ->group(opt)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--warmup-steps", c.warmup_steps, "linear warmup over this many steps (noam needs it)")
      ->group(opt)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--teacher-forcing", c.teacher_forcing_ratio,
                  "probability of feeding the reference token (else the model's own previous guess)")
      ->group(opt)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();

  // Schedule.
  const char* run = "Run";
  sub->add_option("--batch-size", c.batch_size, "sentences per batch")
      ->group(run)
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  sub->add_option("--max-tokens", c.max_tokens,
                  "batch by tokens instead: at most this many padded source + target tokens per batch (0: off)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--epochs", c.epochs,
                  "epochs to train (in total, counting a resumed run's earlier ones); 0: no limit (needs "
                  "--time-budget, --max-steps or --patience)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--time-budget", c.time_budget,
                  "stop after this many seconds (then validate, save and test as usual; 0: no limit)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--max-steps", c.max_steps, "stop after this many optimizer steps in this run (0: no limit)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--patience", c.patience, "stop after this many epochs without a better valid BLEU (0: never)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--valid-bleu-size", c.valid_bleu_size, "validation pairs translated for BLEU each epoch (0: all)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--valid-beam", c.valid_beam, "beam size of validation and test decoding (1: greedy)")
      ->group(run)
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  sub->add_option("--valid-max-length-ratio", c.valid_max_length_ratio,
                  "validation outputs have at most RATIO * source tokens + 5 tokens")
      ->group(run)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--seed", c.seed, "seed of the split, the initial weights, batch order, dropout")
      ->group(run)
      ->capture_default_str();
  sub->add_option("--out,-o", c.checkpoint_dir, "checkpoint directory: OUT/best (best valid BLEU) and OUT/last")
      ->group(run)
      ->capture_default_str();
  sub->add_flag("--resume", c.resume, "continue from OUT/last (its model, data and optimiser settings win)")->group(run);
  sub->add_option("--log", c.log_file, "append the progress lines to this file")->group(run);
  sub->add_option("--log-every", c.log_every,
                  "a progress line every N batches when stderr is not a terminal (0: 10 per epoch)")
      ->group(run)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_flag("--quiet,-q", c.quiet, "no progress on stderr (the summary is still printed)")->group(run);

  actions()[sub] = [a, sub] {
    train::TrainConfig cfg = a->c;
    if (a->model == "rnn" || a->model == "transformer") {
      cfg.model_type = a->model;
    } else {  // a decoder name: rnn with that decoder
      if (sub->get_option("--attention")->count() > 0 && cfg.model.attention != a->model)
        throw CliError("--model " + a->model + " and --attention " + cfg.model.attention + " disagree", "attn train",
                       "give the decoder once: --model rnn --attention " + a->model);
      cfg.model_type = "rnn";
      cfg.model.attention = a->model;
    }
    if (!a->tokenizer.empty()) {
      if (sub->get_option("--src-tokenizer")->count() == 0) cfg.src_tokenizer = a->tokenizer;
      if (sub->get_option("--tgt-tokenizer")->count() == 0) cfg.tgt_tokenizer = a->tokenizer;
    }
    cfg.spm_joint = !a->spm_separate;
    if (a->adam_betas.size() == 2) {
      cfg.adam_beta1 = a->adam_betas[0];
      cfg.adam_beta2 = a->adam_betas[1];
    }
    if (cfg.model_type == "transformer") {
      transformer_defaults(sub, cfg);
      cfg.transformer.dropout = cfg.model.dropout;
      cfg.transformer.tie_output = !a->no_tie_output;
      if (cfg.transformer.d_model % cfg.transformer.nhead != 0)
        throw CliError("--nhead " + std::to_string(cfg.transformer.nhead) + " does not divide --d-model " +
                           std::to_string(cfg.transformer.d_model),
                       "attn train", "choose --d-model as a multiple of --nhead (e.g. --d-model 256 --nhead 4)");
      if (cfg.teacher_forcing_ratio != 1.0)
        throw CliError("--teacher-forcing must be 1 for the transformer (it reads the whole reference at once)",
                       "attn train --teacher-forcing", "drop --teacher-forcing, or use --model rnn");
      if (cfg.transformer.share_embeddings &&
          !(cfg.src_tokenizer == "spm" && cfg.tgt_tokenizer == "spm" && cfg.spm_joint))
        throw CliError("--share-embeddings needs one vocabulary for both sides", "attn train --share-embeddings",
                       "add --tokenizer spm (one joint SentencePiece model), or drop --share-embeddings");
    }
    if (a->split.size() == 2) {
      cfg.valid_fraction = a->split[0];
      cfg.test_fraction = a->split[1];
      if (cfg.valid_fraction + cfg.test_fraction >= 1.0)
        throw CliError("--split leaves no training data", "attn train --split",
                       "use fractions that sum to less than 1 (e.g. --split 0.1,0.1)");
    }
    if (cfg.train_path.empty() && cfg.corpus_path.empty())
      throw CliError("no training data given", "attn train", "pass --data CORPUS.tsv, or --train FILE [--valid FILE]");
    const char* todo = "give a TSV with one source<TAB>target pair per line";
    for (const auto& [opt, path] : {std::pair<const char*, std::string>{"--train", cfg.train_path},
                                    {"--valid", cfg.valid_path},
                                    {"--test", cfg.test_path},
                                    {"--data", cfg.corpus_path}})
      if (!path.empty()) require_readable_file(path, std::string("attn train ") + opt, todo);
    if (!cfg.init_src_embeddings.empty() && !cfg.resume)
      require_readable_file(cfg.init_src_embeddings, "attn train --init-src-embeddings",
                            "give the vectors file written by `attn word2vec train --out FILE`");
    if (cfg.model_type == "rnn" && cfg.model.tie_weights && cfg.model.embed_dim != cfg.model.hidden_size)
      throw CliError("--tie-weights needs --embed-dim (" + std::to_string(cfg.model.embed_dim) + ") = --hidden-size (" +
                         std::to_string(cfg.model.hidden_size) + ")",
                     "attn train", "set both to the same size or drop --tie-weights");
    if (cfg.resume && !train::checkpoint_exists(cfg.checkpoint_dir + "/last"))
      throw CliError("nothing to resume: no checkpoint in '" + cfg.checkpoint_dir + "/last'", "attn train --resume",
                     "pass the --out directory of an earlier run, or drop --resume");

    const train::TrainResult r = train::train_translator(cfg);
    std::printf("%s", train_summary(r, cfg).c_str());
  };
}

}  // namespace attn::cli
