// `attn heatmap`: translates one sentence and draws its attention as a picture (SVG with token
// labels and the model in the title, or a label-free PNG), by file extension. For a Transformer,
// --layer / --head choose the cross-attention drawn, and --grid draws every head of a layer (or of
// every layer) side by side.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/train/translator.h"

namespace attn::cli {

void register_heatmap(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("heatmap", "draw the attention of one translation as an SVG or PNG heatmap");
  sub->footer(
      "Rows are output tokens, columns source tokens; the colour scale is fixed to 0 .. 1. PNG has no\n"
      "text (no font rasteriser); SVG carries the labels and the title.\n"
      "Transformer models: --layer L --head H draw one head of one decoder layer's cross-attention\n"
      "(default: the last layer, mean over heads); --grid draws every head of --layer L in one row, or,\n"
      "without --layer, a grid of every layer (rows) and head (columns).\n"
      "Examples: attn heatmap runs/enfr \"She is my friend.\" -o friend.svg\n"
      "          attn heatmap runs/enfr-tf \"She is my friend.\" --grid -o heads.svg");
  struct Args {
    std::string checkpoint, sentence, out = "attention.svg";
    train::TranslateOptions opt;
    HeatmapStyle style;
    bool grid = false;
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
  sub->add_option("--title", a->style.title, "title of the SVG (default: the model)");
  add_decode_options(sub, a->opt, /*with_n_best=*/false);
  add_attention_head_options(sub, a->opt);
  sub->add_flag("--grid", a->grid,
                "draw every head (columns) of --layer, or of every decoder layer (rows) without --layer, in one "
                "picture");

  actions()[sub] = [a, sub] {
    const train::Translator tr = train::Translator::load(resolve_checkpoint(a->checkpoint, "heatmap"));
    check_attention_head_options(a->opt, tr, "heatmap");
    const bool layer_given = sub->get_option("--layer")->count() > 0;
    if (a->grid && sub->get_option("--head")->count() > 0)
      throw CliError("--grid draws every head, so --head does not apply", "attn heatmap --grid",
                     "drop --head (or drop --grid to draw one head)");
    const train::Translation t = tr.translate(a->sentence, a->opt);
    std::string format, what;
    if (!a->grid) {
      format = write_translation_heatmap(a->out, t, tr.config(), a->style);
      what = std::to_string(t.tokens.size()) + " output x " + std::to_string(t.source_tokens.size()) + " source tokens";
    } else {
      Tensor w = tr.attention_heads(t);  // [L, H, T, S]
      std::vector<int64_t> rows, cols;
      if (tr.transformer()) {
        const int64_t L = w.size(0);
        int64_t first = 0;
        if (layer_given) {
          first = a->opt.attention_layer < 0 ? L - 1 : a->opt.attention_layer;
          w = w.slice(0, first, first + 1);
        }
        for (int64_t l = 0; l < w.size(0); ++l) rows.push_back(first + l);
        for (int64_t h = 0; h < w.size(1); ++h) cols.push_back(h);
      }
      format = write_translation_heatmap_grid(a->out, t, w, rows, cols, model_title(tr.config()), a->style);
      what = std::to_string(w.size(0)) + " x " + std::to_string(w.size(1)) + " panels of " +
             std::to_string(t.tokens.size()) + " output x " + std::to_string(t.source_tokens.size()) + " source tokens";
    }
    std::printf("%s\n", t.text.c_str());
    std::printf("wrote %s (%s, %s, %s)\n", a->out.c_str(), format.c_str(), what.c_str(), model_title(tr.config()).c_str());
  };
}

}  // namespace attn::cli
