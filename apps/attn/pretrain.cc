// `attn pretrain`: pre-trains a BERT-style encoder with masked-language modelling (and optionally
// next-sentence prediction) on the sentences of a Tatoeba TSV (attn/train/bert.h), reports the
// held-out MLM accuracy and writes a checkpoint that `attn fill` queries.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/bert.h"

namespace attn::cli {

void register_pretrain(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("pretrain", "pre-train a BERT-style encoder (masked LM) on sentences");
  sub->footer(
      "Masks 15% of the words of each sentence (80% -> [MASK], 10% -> a random word, 10% unchanged) and\n"
      "trains the encoder to recover them. Stops at the first of --max-steps, --time-budget, --epochs\n"
      "(10 epochs when none is given); then scores the held-out sentences.\n"
      "Example: attn pretrain --data data/eng-fra.tutorial.tsv --time-budget 120 --out runs/bert\n"
      "         attn fill -m runs/bert \"i am [MASK] .\"");
  struct Args {
    std::string data, side = "src", out;
    int64_t max_pairs = 0;
    bool quiet = false;
    train::TextOptions text;
    train::PretrainOptions o;
  };
  auto a = std::make_shared<Args>();
  const std::string data = "Data", model = "Model", opt = "Training";
  sub->add_option("--data", a->data, "sentence pairs, english<TAB>other[<TAB>attribution] per line")
      ->required()
      ->group(data);
  sub->add_option("--side", a->side, "sentences to train on: src (column 1), tgt (column 2) or both")
      ->check(CLI::IsMember({"src", "tgt", "both"}))
      ->capture_default_str()
      ->group(data);
  sub->add_option("--normalize", a->text.normalize, "text normalisation: tutorial (lowercase ASCII), clean or none")
      ->check(CLI::IsMember({"tutorial", "clean", "none"}))
      ->capture_default_str()
      ->group(data);
  sub->add_option("--tokenizer", a->text.tokenizer, "word (split on spaces) or char (CJK characters)")
      ->check(CLI::IsMember({"word", "char"}))
      ->capture_default_str()
      ->group(data);
  sub->add_option("--max-pairs", a->max_pairs, "read at most this many lines (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(data);
  sub->add_option("--min-freq", a->o.min_freq, "words seen fewer times in training become [UNK]")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(data);
  sub->add_option("--valid-fraction", a->o.valid_fraction, "sentences held out to measure MLM accuracy")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str()
      ->group(data);
  sub->add_option("--max-length", a->o.max_length, "tokens per input, [CLS] and [SEP] included (longer: cut)")
      ->check(CLI::Range(3, 100000))
      ->capture_default_str()
      ->group(data);

  sub->add_option("--d-model", a->o.model.hidden_size, "hidden size D")->check(CLI::PositiveNumber)->capture_default_str()->group(model);
  sub->add_option("--layers", a->o.model.num_hidden_layers, "encoder layers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(model);
  sub->add_option("--heads", a->o.model.num_attention_heads, "attention heads (must divide --d-model)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(model);
  sub->add_option("--ffn", a->o.model.intermediate_size, "feed-forward width")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(model);
  sub->add_option("--dropout", a->o.model.hidden_dropout_prob, "dropout (embeddings, attention, residual branches)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str()
      ->group(model);
  sub->add_flag("--nsp", a->o.next_sentence,
                "also train next-sentence prediction on pairs of consecutive / random sentences")
      ->group(model);

  sub->add_option("--mask-prob", a->o.masking.probability, "share of the words chosen for prediction")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str()
      ->group(opt);
  sub->add_option("--batch-size", a->o.batch_size, "sentences per step")->check(CLI::PositiveNumber)->capture_default_str()->group(opt);
  sub->add_option("--lr", a->o.lr, "peak learning rate (AdamW)")->check(CLI::PositiveNumber)->capture_default_str()->group(opt);
  sub->add_option("--warmup-steps", a->o.warmup_steps, "linear warmup steps (then linear decay to 0)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(opt);
  sub->add_option("--weight-decay", a->o.weight_decay, "AdamW weight decay (not on biases and LayerNorm)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(opt);
  sub->add_option("--clip", a->o.clip_norm, "clip the global gradient norm to this (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(opt);
  sub->add_option("--max-steps", a->o.max_steps, "stop after this many steps (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->group(opt);
  sub->add_option("--time-budget", a->o.time_budget, "stop after this many seconds of training (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->group(opt);
  sub->add_option("--epochs", a->o.epochs, "stop after this many passes over the sentences (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->group(opt);
  sub->add_option("--seed", a->o.seed, "seed of the split, the weights, the batches and the masks")
      ->capture_default_str()
      ->group(opt);
  sub->add_option("--out,-o", a->out, "checkpoint directory to write")->required();
  sub->add_flag("--quiet,-q", a->quiet, "no progress on stderr");

  actions()[sub] = [a] {
    require_readable_file(a->data, "attn pretrain --data", "give a TSV with one sentence pair per line");
    train::PretrainOptions o = a->o;
    if (o.max_steps == 0 && o.time_budget == 0 && o.epochs == 0) o.epochs = 10;
    o.model.max_position_embeddings = std::max(o.model.max_position_embeddings, o.max_length);
    if (o.model.hidden_size % o.model.num_attention_heads != 0)
      throw CliError("--heads " + std::to_string(o.model.num_attention_heads) + " does not divide --d-model " +
                         std::to_string(o.model.hidden_size),
                     "attn pretrain", "choose a head count that divides the hidden size");
    const auto sentences = train::read_sentences(a->data, a->side, a->text, a->max_pairs);
    std::fprintf(stderr, "pretrain: %zu sentences from %s (%s side)\n", sentences.size(), a->data.c_str(),
                 a->side.c_str());

    const bool tty = isatty(fileno(stderr));
    auto last = std::chrono::steady_clock::now();
    const auto start = last;
    train::PretrainProgress progress = [&](int64_t step, double done, double lr, double loss) {
      const auto now = std::chrono::steady_clock::now();
      if (a->quiet || std::chrono::duration<double>(now - last).count() < (tty ? 0.25 : 10.0)) return;
      last = now;
      const double el = std::chrono::duration<double>(now - start).count();
      const double eta = done > 0 ? el * (1 - done) / done : 0;
      std::fprintf(stderr, "%s  step %lld  %5.1f%%  lr %.2e  loss %.4f  %.1f steps/s  elapsed %.0fs  eta %.0fs%s",
                   tty ? "\r" : "", (long long)step, 100 * done, lr, loss, el > 0 ? double(step) / el : 0.0, el, eta,
                   tty ? "   " : "\n");
    };
    const train::PretrainResult r = train::pretrain_bert(sentences, o, progress);
    if (!a->quiet && tty) std::fprintf(stderr, "\n");
    const auto& s = r.stats;
    std::map<std::string, double> metrics = {{"steps", double(s.steps)},
                                             {"train_loss", s.final_loss},
                                             {"seconds", s.seconds}};
    if (s.valid.masked > 0) {
      metrics["valid_mlm_accuracy"] = s.valid.accuracy;
      metrics["valid_mlm_loss"] = s.valid.loss;
    }
    if (s.valid.nsp_accuracy >= 0) metrics["valid_nsp_accuracy"] = s.valid.nsp_accuracy;
    train::save_bert_checkpoint(a->out, *r.model, r.vocab, a->text, &r.options, metrics);

    const auto& c = r.options.model;
    std::printf("model: %lld layers, d_model %lld, %lld heads, ffn %lld, vocab %lld (%lld words), %lld parameters%s\n",
                (long long)c.num_hidden_layers, (long long)c.hidden_size, (long long)c.num_attention_heads,
                (long long)c.intermediate_size, (long long)c.vocab_size, (long long)r.vocab.num_words(),
                (long long)r.model->num_parameters(), c.next_sentence ? ", with next-sentence head" : "");
    std::printf("data: %lld training sentences, %lld held out\n", (long long)s.n_train, (long long)s.n_valid);
    std::printf("trained %lld steps (%.2f epochs) in %.1f s, stopped by %s; loss %.4f -> %.4f\n", (long long)s.steps,
                s.epochs, s.seconds, s.stop_reason.c_str(), s.first_loss, s.final_loss);
    if (s.valid.masked > 0)
      std::printf("held-out MLM: accuracy %.2f%% over %lld masked words, loss %.4f\n", 100 * s.valid.accuracy,
                  (long long)s.valid.masked, s.valid.loss);
    if (s.valid.nsp_accuracy >= 0) std::printf("held-out NSP accuracy: %.2f%%\n", 100 * s.valid.nsp_accuracy);
    std::printf("checkpoint written to %s\n", a->out.c_str());
  };
}

}  // namespace attn::cli
