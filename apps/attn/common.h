// What several `attn` subcommands share: the CLI's error type, finding a checkpoint, the decoding
// options (--beam, --n-best, ...), reading sentences, the terminal attention grid and heatmap files.
// Nothing here trains or decodes by itself; it only turns options into library calls and results
// into text or pictures.
#pragma once
#include <CLI/CLI.hpp>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "attn/train/translator.h"

namespace attn::cli {

// A problem the CLI reports as one line: "attn: error: <what>, <where>, <what to do>".
class CliError : public std::runtime_error {
 public:
  CliError(const std::string& what, std::string where, std::string todo)
      : std::runtime_error(what), where_(std::move(where)), todo_(std::move(todo)) {}
  const std::string& where() const { return where_; }
  const std::string& todo() const { return todo_; }

 private:
  std::string where_, todo_;
};

// The checkpoint directory to load for `path`: path itself when it holds a checkpoint
// (config.json), else path/best (the directory `attn train --out` writes). Throws CliError.
std::string resolve_checkpoint(const std::string& path, const std::string& command);
// Throws CliError when `path` is not a readable regular file.
void require_readable_file(const std::string& path, const std::string& where, const std::string& todo);

// Adds --beam, --n-best, --length-penalty, --max-length-ratio, --max-length, --batch-size.
void add_decode_options(CLI::App* sub, train::TranslateOptions& options, bool with_n_best);
// Adds --sample, --top-k, --top-p, --temperature, --seed (sampling instead of search).
void add_sampling_options(CLI::App* sub, train::TranslateOptions& options);
// Adds --layer, --head: which Transformer cross-attention the attention maps show.
void add_attention_head_options(CLI::App* sub, train::TranslateOptions& options);
// Checks what CLI11 cannot check option by option (n-best <= beam; sampling with beam 1, n-best 1).
void check_decode_options(const train::TranslateOptions& options, const std::string& command);
// Checks --layer / --head against the loaded model (a Transformer's layers and heads; for an RNN
// they must be left at -1, its one attention).
void check_attention_head_options(const train::TranslateOptions& options, const train::Translator& translator,
                                  const std::string& command);

// Lines of `in` without their line ending ("\r\n" or "\n").
std::vector<std::string> read_lines(std::istream& in);

// "Bahdanau (additive)", "Luong general", ... for the model's attention kind.
std::string attention_display_name(const std::string& attention);
// "Bahdanau (additive) attention, GRU encoder-decoder" for titles.
std::string model_description(const models::Seq2SeqConfig& config);
// The same for either model type: the RNN as above, "Transformer (3+3 layers, d_model 256, ...)".
std::string model_title(const train::TrainConfig& config);
std::string model_title(const models::TranslationModel& model);

// The alignment of one translation as text: source tokens across, output tokens down, one shaded
// cell (' ', '░', '▒', '▓', '█' for weights near 0, 1/4, 1/2, 3/4, 1) per weight, fitted into
// `width` terminal columns (labels are shortened with '…' when needed).
std::string attention_grid(const train::Translation& translation, int width = 80);

// Writes the translation's attention as a heatmap: SVG or PNG by `format` ("svg" | "png"), or,
// when `format` is empty, by the file's extension (.png -> PNG, anything else -> SVG).
// Returns the format written. Throws CliError when there is nothing to draw.
struct HeatmapStyle {
  std::string format;     // "", "svg" or "png"
  std::string colormap = "viridis";
  int cell_size = 32;
  std::string title;      // empty: from the model
};
std::string write_translation_heatmap(const std::string& path, const train::Translation& translation,
                                      const models::Seq2SeqConfig& model, const HeatmapStyle& style);
std::string write_translation_heatmap(const std::string& path, const train::Translation& translation,
                                      const train::TrainConfig& config, const HeatmapStyle& style);
// Writes `weights` [R, C, T, S] (e.g. train::Translator::attention_heads: layers x heads) as a grid
// of R x C heatmaps of the translation, one shared 0..1 colour scale, rows titled "layer i" and
// columns "head j" (the numbers in `row_ids` / `col_ids`). Format as above.
std::string write_translation_heatmap_grid(const std::string& path, const train::Translation& translation,
                                           const Tensor& weights, const std::vector<int64_t>& row_ids,
                                           const std::vector<int64_t>& col_ids, const std::string& title,
                                           const HeatmapStyle& style);

// The end-of-training summary: data, model, why it stopped, best valid BLEU, test BLEU, time, where
// the checkpoints are.
std::string train_summary(const train::TrainResult& result, const train::TrainConfig& config);

// Display width of UTF-8 text in a terminal (CJK and full-width characters count 2).
int display_width(const std::string& utf8);

}  // namespace attn::cli
