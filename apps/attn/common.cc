// Shared pieces of the attn subcommands (see common.h).
#include "apps/attn/common.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <sstream>

#include "attn/train/checkpoint.h"
#include "attn/viz/heatmap.h"

namespace attn::cli {

namespace fs = std::filesystem;

std::string resolve_checkpoint(const std::string& path, const std::string& command) {
  const std::string where = "attn " + command + " CHECKPOINT";
  if (path.empty()) throw CliError("no checkpoint given", where, "pass the directory written by `attn train --out DIR`");
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw CliError("checkpoint '" + path + "' does not exist", where,
                   "pass the directory written by `attn train --out DIR` (DIR or DIR/best)");
  if (train::checkpoint_exists(path)) return path;
  const std::string best = (fs::path(path) / "best").string();
  if (train::checkpoint_exists(best)) return best;
  throw CliError("'" + path + "' is not a checkpoint (no config.json in it or in its best/)", where,
                 "pass the directory written by `attn train --out DIR` (DIR or DIR/best)");
}

void require_readable_file(const std::string& path, const std::string& where, const std::string& todo) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw CliError("file '" + path + "' does not exist", where, todo);
  if (!fs::is_regular_file(path, ec)) throw CliError("'" + path + "' is not a regular file", where, todo);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CliError("cannot open '" + path + "' for reading", where, todo);
}

void add_decode_options(CLI::App* sub, train::TranslateOptions& o, bool with_n_best) {
  sub->add_option("--beam,-b", o.beam_size, "beam size; 1 is greedy search")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  if (with_n_best)
    sub->add_option("--n-best", o.n_best, "hypotheses printed per sentence, best first (at most --beam)")
        ->check(CLI::Range(int64_t{1}, int64_t{1000}))
        ->capture_default_str();
  sub->add_option("--length-penalty", o.length_penalty,
                  "hypotheses are ranked by log_prob / length^P (0: raw log-probability, 1: per token)")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  sub->add_option("--max-length-ratio", o.max_length_ratio,
                  "an output has at most RATIO * source tokens + 5 tokens")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  sub->add_option("--max-length", o.max_length, "and never more than this many tokens")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  sub->add_option("--batch-size", o.batch_size, "sentences decoded together")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
}

void add_sampling_options(CLI::App* sub, train::TranslateOptions& o) {
  const char* g = "Sampling";
  sub->add_flag("--sample", o.sample,
                "sample each output token from the model's distribution instead of searching for the most "
                "likely translation (one translation per sentence)")
      ->group(g);
  sub->add_option("--top-k", o.top_k, "--sample: draw only among the K most likely tokens (0: all)")
      ->group(g)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--top-p", o.top_p,
                  "--sample: draw only among the most likely tokens whose probabilities add up to P (1: all)")
      ->group(g)
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  sub->add_option("--temperature", o.temperature, "--sample: divide the log-probabilities by T (< 1 sharpens)")
      ->group(g)
      ->check(CLI::Range(1e-6, 1e6))
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "--sample: seed of the draws (same seed, same input: same output)")
      ->group(g)
      ->capture_default_str();
}

void add_attention_head_options(CLI::App* sub, train::TranslateOptions& o) {
  sub->add_option("--layer", o.attention_layer,
                  "transformer: the decoder layer whose cross-attention is shown (0-based; -1: the last)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1024}))
      ->capture_default_str();
  sub->add_option("--head", o.attention_head, "transformer: the head shown (0-based; -1: the mean over heads)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1024}))
      ->capture_default_str();
}

void check_decode_options(const train::TranslateOptions& o, const std::string& command) {
  if (o.sample && (o.beam_size > 1 || o.n_best > 1))
    throw CliError("--sample draws one translation per sentence; it does not combine with --beam or --n-best",
                   "attn " + command + " --sample", "drop --beam and --n-best, or drop --sample");
  if (o.n_best > o.beam_size)
    throw CliError("--n-best " + std::to_string(o.n_best) + " is larger than --beam " + std::to_string(o.beam_size),
                   "attn " + command, "use --n-best <= --beam (e.g. --beam 5 --n-best 5)");
}

void check_attention_head_options(const train::TranslateOptions& o, const train::Translator& tr,
                                  const std::string& command) {
  const auto transformer = tr.transformer();
  if (!transformer) {
    if (o.attention_layer != -1 || o.attention_head != -1)
      throw CliError("--layer and --head choose among a Transformer's attention heads, but this is an RNN model "
                     "with one attention",
                     "attn " + command, "drop --layer / --head");
    return;
  }
  const int64_t L = transformer->config.num_decoder_layers, H = transformer->config.nhead;
  if (o.attention_layer >= L)
    throw CliError("--layer " + std::to_string(o.attention_layer) + " is out of range: the model has " +
                       std::to_string(L) + " decoder layers",
                   "attn " + command + " --layer", "use 0 .. " + std::to_string(L - 1) + ", or -1 for the last");
  if (o.attention_head >= H)
    throw CliError("--head " + std::to_string(o.attention_head) + " is out of range: the model has " +
                       std::to_string(H) + " heads",
                   "attn " + command + " --head", "use 0 .. " + std::to_string(H - 1) + ", or -1 for their mean");
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string attention_display_name(const std::string& a) {
  if (a == "none") return "no attention (fixed context)";
  if (a == "bahdanau") return "Bahdanau (additive)";
  if (a == "luong-dot") return "Luong dot";
  if (a == "luong-general") return "Luong general";
  if (a == "luong-concat") return "Luong concat";
  if (a == "luong-local") return "Luong local-p";
  if (a == "concat-linear") return "concat-linear (PyTorch tutorial)";
  return a;
}

std::string model_description(const models::Seq2SeqConfig& c) {
  std::string cell = c.cell;
  std::transform(cell.begin(), cell.end(), cell.begin(), [](unsigned char ch) { return char(std::toupper(ch)); });
  std::string s = attention_display_name(c.attention);
  if (c.attention != "none") s += " attention";
  return s + ", " + (c.bidirectional ? "bidirectional " : "") + cell + " encoder-decoder";
}

std::string model_title(const train::TrainConfig& c) {
  return c.model_type == "rnn" ? model_description(c.model) : train::model_description(c);
}

std::string model_title(const models::TranslationModel& model) {
  if (const auto* rnn = dynamic_cast<const models::Seq2Seq*>(&model)) return model_description(rnn->config);
  if (const auto* tr = dynamic_cast<const models::TransformerModel*>(&model)) {
    train::TrainConfig c;
    c.model_type = "transformer";
    c.transformer = tr->config;
    return train::model_description(c);
  }
  return model.model_type();
}

std::string train_summary(const train::TrainResult& r, const train::TrainConfig& c) {
  std::ostringstream os;
  char buf[256];
  os << "summary\n";
  std::snprintf(buf, sizeof buf, "  data     %lld train / %lld valid / %lld test pairs; vocab %lld source, %lld target\n",
                (long long)r.n_train, (long long)r.n_valid, (long long)r.n_test, (long long)r.src_vocab_size,
                (long long)r.tgt_vocab_size);
  os << buf;
  if (r.model) {
    std::snprintf(buf, sizeof buf, "  model    %s, %lld parameters\n", model_title(*r.model).c_str(),
                  (long long)r.num_parameters);
    os << buf;
  }
  std::snprintf(buf, sizeof buf, "  run      %.1f s, %lld epochs (%lld steps), stopped by %s\n", r.seconds,
                (long long)r.epochs_completed, (long long)r.global_step, r.stop_reason.c_str());
  os << buf;
  if (r.n_valid > 0) {
    std::snprintf(buf, sizeof buf, "  valid    best BLEU %.2f at epoch %lld (loss %.4f)\n", r.best_valid_bleu,
                  (long long)r.best_epoch, r.best_valid_loss);
    os << buf;
  }
  if (r.test_bleu) {
    std::snprintf(buf, sizeof buf, "  test     BLEU %.2f, loss %.4f (best model, %s)\n", *r.test_bleu,
                  r.test_loss.value_or(0.0), c.valid_beam > 1 ? ("beam " + std::to_string(c.valid_beam)).c_str() : "greedy");
    os << buf;
  }
  if (!c.checkpoint_dir.empty())
    os << "  saved    " << (fs::path(c.checkpoint_dir) / "best").string() << " (best), "
       << (fs::path(c.checkpoint_dir) / "last").string() << " (last)\n";
  return os.str();
}

namespace {

// Decodes one code point at s[i] (advancing i); invalid bytes count as one column each.
char32_t next_code_point(const std::string& s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + size_t(n) > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + size_t(k)]) & 0x3F);
  i += size_t(n);
  return cp;
}

// East Asian wide and full-width characters take two terminal columns; combining marks none.
int code_point_width(char32_t c) {
  if (c >= 0x0300 && c <= 0x036F) return 0;
  const bool wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
                    (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
                    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
                    (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
  return wide ? 2 : 1;
}

// `s` cut to at most `width` columns, ending in '…' when cut.
std::string fit(const std::string& s, int width) {
  if (display_width(s) <= width) return s;
  std::string out;
  int w = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const int cw = code_point_width(next_code_point(s, i));
    if (w + cw > width - 1) break;
    out.append(s, start, i - start);
    w += cw;
  }
  return out + "…";
}

std::string pad(const std::string& s, int width) {
  return s + std::string(size_t(std::max(0, width - display_width(s))), ' ');
}

void rstrip(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

}  // namespace

int display_width(const std::string& s) {
  int w = 0;
  for (size_t i = 0; i < s.size();) w += code_point_width(next_code_point(s, i));
  return w;
}

std::string attention_grid(const train::Translation& t, int width) {
  const int64_t T = int64_t(t.tokens.size()), S = int64_t(t.source_tokens.size());
  if (T == 0 || S == 0) return "(empty translation: no alignment to show)\n";
  const Tensor w = t.attention.to(kFloat32).contiguous();  // [T, S]
  const float* a = w.data_ptr<float>();

  int label_w = 1;  // output tokens, down the left
  for (const auto& tok : t.tokens) label_w = std::max(label_w, display_width(tok));
  label_w = std::min(label_w, 12);
  int col_w = 3;  // a source token plus one space
  for (const auto& tok : t.source_tokens) col_w = std::max(col_w, display_width(tok) + 1);
  col_w = std::min(col_w, 8);
  const int avail = width - label_w - 1;
  if (col_w * S > avail) col_w = std::max(2, avail / int(S));

  // Five shades: the nearest of 0, 1/4, 1/2, 3/4, 1.
  static const char* const kShades[] = {" ", "░", "▒", "▓", "█"};
  std::ostringstream os;
  std::string line = std::string(size_t(label_w + 1), ' ');
  for (const auto& tok : t.source_tokens) line += pad(fit(tok, col_w - 1), col_w);
  rstrip(line);
  os << line << "\n";
  for (int64_t r = 0; r < T; ++r) {
    line = pad(fit(t.tokens[size_t(r)], label_w), label_w) + " ";
    for (int64_t c = 0; c < S; ++c) {
      const float v = std::clamp(a[r * S + c], 0.0f, 1.0f);
      const int level = std::clamp(int(v * 4.0f + 0.5f), 0, 4);
      for (int k = 0; k < col_w - 1; ++k) line += kShades[level];
      line += ' ';
    }
    rstrip(line);
    os << line << "\n";
  }
  return os.str();
}

namespace {

// "svg" or "png": the style's format, else by the file's extension (.png -> PNG, others SVG).
std::string heatmap_format(const std::string& path, const HeatmapStyle& style) {
  if (!style.format.empty()) return style.format;
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".png" ? "png" : "svg";
}

viz::HeatmapOptions heatmap_options(const train::Translation& t, const std::string& title, const HeatmapStyle& style) {
  viz::HeatmapOptions o;
  o.title = style.title.empty() ? title : style.title;
  o.row_labels = t.tokens;
  o.col_labels = t.source_tokens;
  o.xlabel = "source tokens";
  o.ylabel = "output tokens";
  o.colormap = style.colormap == "reds" ? viz::Colormap::Reds : viz::Colormap::Viridis;
  o.cell_size = style.cell_size;
  // Attention weights are probabilities: one fixed 0..1 scale makes pictures comparable.
  o.vmin = 0.0;
  o.vmax = 1.0;
  return o;
}

void check_drawable(const std::string& path, const train::Translation& t) {
  if (t.tokens.empty() || t.source_tokens.empty())
    throw CliError("the translation of '" + t.source + "' is empty, so there is no attention to draw",
                   "writing " + path, "try a sentence with words the model knows");
  const fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
  }
}

std::string write_heatmap_titled(const std::string& path, const train::Translation& t, const std::string& title,
                                 const HeatmapStyle& style) {
  check_drawable(path, t);
  const std::string format = heatmap_format(path, style);
  const viz::HeatmapOptions o = heatmap_options(t, title, style);
  if (format == "png")
    viz::write_heatmap_png(path, t.attention, o);
  else
    viz::write_heatmap_svg(path, t.attention, o);
  return format;
}

}  // namespace

std::string write_translation_heatmap(const std::string& path, const train::Translation& t,
                                      const models::Seq2SeqConfig& model, const HeatmapStyle& style) {
  return write_heatmap_titled(path, t, model_description(model), style);
}

std::string write_translation_heatmap(const std::string& path, const train::Translation& t,
                                      const train::TrainConfig& config, const HeatmapStyle& style) {
  return write_heatmap_titled(path, t, model_title(config), style);
}

std::string write_translation_heatmap_grid(const std::string& path, const train::Translation& t, const Tensor& weights,
                                           const std::vector<int64_t>& row_ids, const std::vector<int64_t>& col_ids,
                                           const std::string& title, const HeatmapStyle& style) {
  check_drawable(path, t);
  const std::string format = heatmap_format(path, style);
  const viz::HeatmapOptions o = heatmap_options(t, title, style);
  if (format == "png") {
    viz::write_heatmap_grid_png(path, weights, o);
  } else {
    viz::HeatmapGridTitles titles;
    for (int64_t r : row_ids) titles.row_titles.push_back("layer " + std::to_string(r));
    for (int64_t c : col_ids) titles.col_titles.push_back(c < 0 ? std::string("mean of heads") : "head " + std::to_string(c));
    viz::write_heatmap_grid_svg(path, weights, titles, o);
  }
  return format;
}

}  // namespace attn::cli
