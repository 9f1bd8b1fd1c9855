// `attn fill`: asks a pre-trained BERT checkpoint (`attn pretrain`) for the most likely words at
// each [MASK] of a sentence (attn/train/bert.h FillMask).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/bert.h"

namespace attn::cli {

namespace {

std::string join(const std::vector<std::string>& tokens) {
  std::string s;
  for (const auto& t : tokens) s += (s.empty() ? "" : " ") + t;
  return s;
}

void print_fill(const train::FillResult& r) {
  std::printf("%s\n", join(r.tokens).c_str());
  for (size_t m = 0; m < r.mask_positions.size(); ++m) {
    if (r.mask_positions.size() > 1) std::printf("[MASK] #%zu (token %lld):\n", m + 1, (long long)r.mask_positions[m] + 1);
    for (const auto& p : r.predictions[m]) {
      std::vector<std::string> filled = r.tokens;
      filled[r.mask_positions[m]] = p.token;
      // Padded by display width, so CJK tokens (two columns each) line up too.
      const std::string pad(size_t(std::max(1, 17 - display_width(p.token))), ' ');
      std::printf("  %s%s%.4f   %s\n", p.token.c_str(), pad.c_str(), p.probability, join(filled).c_str());
    }
  }
}

}  // namespace

void register_fill(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("fill", "predict the words behind [MASK] with a pre-trained BERT checkpoint");
  sub->footer(
      "Arguments: -m CHECKPOINT [SENTENCE ...]; without sentences, reads stdin, one per line.\n"
      "Each sentence may hold several [MASK] tokens; each gets its k most likely words (special tokens\n"
      "excluded) with their probabilities. Sentences are normalised as the training text was.\n"
      "Example: attn fill -m runs/bert \"i am [MASK] .\" -k 5");
  struct Args {
    std::string model;
    std::vector<std::string> sentences;
    int64_t k = 5;
  };
  auto a = std::make_shared<Args>();
  // The sentences are the arguments CLI11 leaves over: a positional list option would read an
  // argument in brackets as a list of values ("[MASK]" -> "MASK").
  sub->allow_extras();
  sub->add_option("--model,-m", a->model, "checkpoint directory written by `attn pretrain --out`")->required();
  sub->add_option("-k,--top-k", a->k, "predictions per mask")->check(CLI::PositiveNumber)->capture_default_str();

  actions()[sub] = [a, sub] {
    for (const std::string& arg : sub->remaining()) {
      if (arg.size() > 1 && arg[0] == '-')
        throw CliError("unknown option " + arg, "attn fill", "see `attn fill --help`");
      a->sentences.push_back(arg);
    }
    require_readable_file(a->model + "/config.json", "attn fill --model",
                          "give the directory that `attn pretrain --out` wrote");
    const train::FillMask fill(a->model);
    auto one = [&](const std::string& s) {
      if (s.find("[MASK]") == std::string::npos)
        throw CliError("the sentence \"" + s + "\" has no [MASK]", "attn fill", "write [MASK] where a word is missing");
      print_fill(fill(s, a->k));
    };
    if (!a->sentences.empty()) {
      for (const auto& s : a->sentences) one(s);
      return;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      one(line);
      std::fflush(stdout);
    }
  };
}

}  // namespace attn::cli
