// `attn eval`: scores a checkpoint on a TSV of pairs: corpus BLEU (sacreBLEU-compatible, printed
// as sacreBLEU prints it), teacher-forced loss and perplexity, and the number of pairs.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/translator.h"

namespace attn::cli {

void register_eval(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("eval", "BLEU, loss and perplexity of a checkpoint on a TSV of pairs");
  sub->footer(
      "The file is read with the checkpoint's direction and normalisation; BLEU uses sacreBLEU's\n"
      "13a tokeniser (zh for character-level targets) and exp smoothing, on detokenised text.\n"
      "Example: attn eval runs/enfr data/eng-fra.tutorial.tsv --max-pairs 1000 --beam 5");
  struct Args {
    std::string checkpoint, data, hyps;
    train::TranslateOptions opt;
    bool filter = false;
    int64_t max_pairs = 0;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("CHECKPOINT", a->checkpoint, "checkpoint directory (attn train's --out, or its best/ or last/)")
      ->required();
  sub->add_option("DATA", a->data, "pairs to score: source<TAB>reference per line")->required();
  add_decode_options(sub, a->opt, /*with_n_best=*/false);
  sub->add_flag("--filter", a->filter, "apply the tutorial filter when the model was trained with it");
  sub->add_option("--max-pairs", a->max_pairs, "score only the first N pairs (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--hyps", a->hyps, "also write the translations to this file, one per line");

  actions()[sub] = [a] {
    const std::string dir = resolve_checkpoint(a->checkpoint, "eval");
    require_readable_file(a->data, "attn eval DATA", "give a TSV with one source<TAB>reference pair per line");
    const train::Translator tr = train::Translator::load(dir);
    const train::TranslatorEval ev = tr.evaluate_file(a->data, a->opt, a->filter, a->max_pairs);
    std::printf("%s\n", ev.bleu.format().c_str());
    std::printf("signature: nrefs:1|case:mixed|eff:no|tok:%s|smooth:exp\n", ev.bleu_tokenize.c_str());
    std::printf("loss %.4f  perplexity %.2f  count %lld  (%s, %s)\n", ev.loss, ev.perplexity, (long long)ev.count,
                dir.c_str(), a->opt.beam_size > 1 ? ("beam " + std::to_string(a->opt.beam_size)).c_str() : "greedy");
    if (!a->hyps.empty()) {
      std::ofstream f(a->hyps);
      if (!f) throw CliError("cannot write '" + a->hyps + "'", "attn eval --hyps", "choose a writable path");
      for (const auto& h : ev.hypotheses) f << h << "\n";
    }
  };
}

}  // namespace attn::cli
