// `attn translate`: translates sentences with a trained checkpoint (greedy search, beam search or
// sampling), one output line per input line, optionally with the n-best list or the alignment as a
// text grid.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/translator.h"

namespace attn::cli {

namespace {

struct Args {
  std::string checkpoint;
  std::vector<std::string> sentences;
  train::TranslateOptions opt;
  bool show_attention = false;
  bool scores = false;
  int width = 80;
};

// Prints one sentence's result. n-best lists use the Moses / Marian layout "i ||| text ||| score".
void print_translation(const Args& a, size_t index, const train::Translation& t, bool no_attention) {
  if (a.opt.n_best > 1) {
    for (const auto& h : t.nbest) std::printf("%zu ||| %s ||| %.4f\n", index, h.text.c_str(), h.score);
    if (t.nbest.empty()) std::printf("%zu |||  ||| 0\n", index);
  } else if (a.scores) {
    std::printf("%s\t%.4f\n", t.text.c_str(), t.score);
  } else {
    std::printf("%s\n", t.text.c_str());
  }
  if (a.show_attention) {
    if (no_attention)
      std::printf("(this model has no attention: its decoder reads one fixed context vector)\n\n");
    else
      std::printf("%s\n", attention_grid(t, a.width).c_str());
  }
}

}  // namespace

void register_translate(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("translate", "translate sentences with a trained checkpoint");
  sub->footer(
      "Sentences come from the arguments, or from stdin (one per line) when none is given. They are\n"
      "normalised and tokenised as in training; each output line is the translation of one input line.\n"
      "Examples: attn translate runs/enfr \"I am cold.\" --beam 5 --show-attention\n"
      "          attn translate runs/enfr-tf \"I am cold.\" --sample --top-p 0.9 --seed 3");
  auto a = std::make_shared<Args>();
  sub->add_option("CHECKPOINT", a->checkpoint, "checkpoint directory (attn train's --out, or its best/ or last/)")
      ->required();
  sub->add_option("SENTENCES", a->sentences, "sentences to translate (default: read stdin, one per line)");
  add_decode_options(sub, a->opt, /*with_n_best=*/true);
  add_sampling_options(sub, a->opt);
  add_attention_head_options(sub, a->opt);
  sub->add_flag("--show-attention,-a", a->show_attention,
                "after each translation, print its alignment: source tokens across, output tokens down, "
                "shades ' ░▒▓█' for weights 0 .. 1");
  sub->add_option("--width", a->width, "terminal columns the --show-attention grid fits in")
      ->check(CLI::Range(20, 1000))
      ->capture_default_str();
  sub->add_flag("--scores", a->scores, "print 'translation<TAB>score' (length-normalised log-probability)");

  actions()[sub] = [a] {
    check_decode_options(a->opt, "translate");
    const train::Translator tr = train::Translator::load(resolve_checkpoint(a->checkpoint, "translate"));
    check_attention_head_options(a->opt, tr, "translate");
    const bool no_attention = tr.model_type() == "rnn" && tr.config().model.attention == "none";
    if (a->show_attention)
      std::printf("# %s; grid rows: output tokens, columns: source tokens; ' ░▒▓█' = weight 0, 1/4, 1/2, 3/4, 1\n",
                  model_title(tr.config()).c_str());
    if (!a->sentences.empty()) {
      const auto out = tr.translate(a->sentences, a->opt);
      for (size_t i = 0; i < out.size(); ++i) print_translation(*a, i, out[i], no_attention);
      return;
    }
    // stdin: line by line at a terminal (answers as you type), in batches otherwise.
    const bool interactive = ::isatty(::fileno(stdin)) != 0;
    const size_t chunk = interactive ? 1 : size_t(std::max<int64_t>(a->opt.batch_size, 1)) * 4;
    size_t index = 0;
    std::vector<std::string> lines;
    std::string line;
    auto flush = [&] {
      const auto out = tr.translate(lines, a->opt);
      for (const auto& t : out) print_translation(*a, index++, t, no_attention);
      std::fflush(stdout);
      lines.clear();
    };
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
      if (lines.size() >= chunk) flush();
    }
    if (!lines.empty()) flush();
  };
}

}  // namespace attn::cli
