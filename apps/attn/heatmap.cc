// `attn heatmap`: translates one sentence and draws its attention as a picture (SVG with token
// labels and the model's attention kind in the title, or a label-free PNG), by file extension.
#include <cstdio>
#include <memory>
#include <string>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/translator.h"

namespace attn::cli {

void register_heatmap(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("heatmap", "draw the attention of one translation as an SVG or PNG heatmap");
  sub->footer(
      "Rows are output tokens, columns source tokens; the colour scale is fixed to 0 .. 1. PNG has no\n"
      "text (no font rasteriser); SVG carries the labels and the title.\n"
      "Example: attn heatmap runs/enfr \"She is my friend.\" -o friend.svg");
  struct Args {
    std::string checkpoint, sentence, out = "attention.svg";
    train::TranslateOptions opt;
    HeatmapStyle style;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("CHECKPOINT", a->checkpoint, "checkpoint directory (attn train's --out, or its best/ or last/)")
      ->required();
  sub->add_option("SENTENCE", a->sentence, "the sentence to translate")->required();
  sub->add_option("-o,--output", a->out, "picture to write: .svg or .png (by extension; other names get SVG)")
      ->capture_default_str();
  sub->add_option("--format", a->style.format, "svg or png, whatever the extension")->check(CLI::IsMember({"svg", "png"}));
  sub->add_option("--colormap", a->style.colormap, "viridis or reds")
      ->check(CLI::IsMember({"viridis", "reds"}))
      ->capture_default_str();
  sub->add_option("--cell-size", a->style.cell_size, "pixels per cell")->check(CLI::Range(4, 512))->capture_default_str();
  sub->add_option("--title", a->style.title, "title of the SVG (default: the model's attention and cell)");
  add_decode_options(sub, a->opt, /*with_n_best=*/false);

  actions()[sub] = [a] {
    const train::Translator tr = train::Translator::load(resolve_checkpoint(a->checkpoint, "heatmap"));
    const train::Translation t = tr.translate(a->sentence, a->opt);
    const std::string format = write_translation_heatmap(a->out, t, tr.config().model, a->style);
    std::printf("%s\n", t.text.c_str());
    std::printf("wrote %s (%s, %zu output x %zu source tokens, %s)\n", a->out.c_str(), format.c_str(), t.tokens.size(),
                t.source_tokens.size(), model_description(tr.config().model).c_str());
  };
}

}  // namespace attn::cli
