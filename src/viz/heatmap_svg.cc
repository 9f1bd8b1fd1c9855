// SVG heatmaps. One layout routine serves the single heatmap (a 1 x 1 grid without panel titles)
// and the R x C grid, so both look alike. Text widths are estimated (0.6 em per Latin character,
// 1 em per wide CJK character) because no font metrics are available here; the estimate only sizes
// margins, so an error of a few pixels costs nothing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "viz/heatmap_common.h"

namespace attn::viz {
namespace {

// CJK-capable fallbacks after DejaVu Sans, so Chinese / Japanese labels find a font on Linux,
// Windows and macOS alike. Unquoted family names with spaces are valid CSS.
constexpr const char* kFontFamily =
    "DejaVu Sans, Noto Sans CJK SC, Noto Sans CJK JP, Source Han Sans SC, WenQuanYi Micro Hei, "
    "Microsoft YaHei, PingFang SC, sans-serif";
constexpr double kLabelFont = 12, kTitleFont = 16, kAxisFont = 13, kTickFont = 11;
constexpr double kMargin = 10;

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;  // UTF-8 bytes pass through unchanged
    }
  }
  return out;
}

// Coordinates with at most two decimals and no trailing zeros: short and locale-independent enough
// for SVG (the "C" locale is what printf uses unless the program calls setlocale).
std::string num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string value_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

// Estimated advance of `s` at font size `fs`.
double text_width(const std::string& s, double fs) {
  double w = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    const unsigned c = p[i];
    const int len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
    // Hangul Jamo onwards through the CJK blocks, plus full-width forms: about one em wide.
    const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                      (cp >= 0xFF00 && cp <= 0xFF60) || cp >= 0x20000;
    w += wide ? fs : 0.6 * fs;
    i += len;
  }
  return w;
}

double max_width(const std::vector<std::string>& v, double fs) {
  double w = 0;
  for (const auto& s : v) w = std::max(w, text_width(s, fs));
  return w;
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor, double fs,
          const std::string& extra = {}) {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\" font-size=\"" + num(fs) +
         "\"" + extra + ">" + xml_escape(s) + "</text>\n";
}

// R x C panels of T x S cells from v (row-major [R, C, T, S]).
std::string render(const detail::Values& vals, int64_t R, int64_t C, int64_t T, int64_t S,
                   const HeatmapGridTitles& titles, const HeatmapOptions& o, const detail::Range& range) {
  const double cell = o.cell_size;
  const double panel_w = double(S) * cell, panel_h = double(T) * cell;

  // Column labels rotate by 45 degrees when the widest would not fit its cell.
  const double col_w = max_width(o.col_labels, kLabelFont);
  const bool rotate = col_w > cell - 2;
  const double col_h = o.col_labels.empty() ? 0 : rotate ? (col_w + kLabelFont) * 0.7072 + 4 : kLabelFont + 6;
  const double row_w = o.row_labels.empty() ? 0 : max_width(o.row_labels, kLabelFont) + 6;
  const double ylabel_w = o.ylabel.empty() ? 0 : kAxisFont + 6;
  const double xlabel_h = o.xlabel.empty() ? 0 : kAxisFont + 8;
  const double rowtitle_w = titles.row_titles.empty() ? 0 : max_width(titles.row_titles, kAxisFont) + 10;
  const double title_h = o.title.empty() ? 0 : kTitleFont + 10;
  const double coltitle_h = titles.col_titles.empty() ? 0 : kAxisFont + 8;
  const double ptitle_h = titles.panel_titles.empty() ? 0 : kLabelFont + 6;
  const double hgap = 16, vgap = 16;
  // A rotated first column label reaches left of the cells by up to its width * cos 45.
  const double left_of_cells = rowtitle_w + ylabel_w + row_w;
  const double overhang = rotate ? std::max(0.0, col_w * 0.7072 - cell / 2 - left_of_cells) : 0;

  const double x0 = kMargin + overhang + left_of_cells;
  const double y0 = kMargin + title_h + coltitle_h + ptitle_h;
  const double plots_w = double(C) * panel_w + double(std::max<int64_t>(C - 1, 0)) * hgap;
  const double plots_h = double(R) * panel_h + double(std::max<int64_t>(R - 1, 0)) * (vgap + ptitle_h);
  const double bar_gap = 14, bar_w = 14, tick_w = 8 + 0.6 * kTickFont * 9;
  const double right = o.colorbar ? bar_gap + bar_w + tick_w : 0;
  double width = x0 + plots_w + right + kMargin;
  if (!o.title.empty()) width = std::max(width, 2 * kMargin + text_width(o.title, kTitleFont));
  const double height = y0 + plots_h + col_h + xlabel_h + kMargin;
  auto px = [&](int64_t c) { return x0 + double(c) * (panel_w + hgap); };
  auto py = [&](int64_t r) { return y0 + double(r) * (panel_h + vgap + ptitle_h); };

  std::string out;
  out.reserve(size_t(R * C * T * S) * 120 + 4096);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" font-family=\"" + kFontFamily +
         "\" font-size=\"" + num(kLabelFont) + "\">\n";
  out += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" fill=\"#ffffff\"/>\n";
  if (!o.title.empty()) text(out, width / 2, kMargin + kTitleFont, o.title, "middle", kTitleFont, " font-weight=\"bold\"");
  for (size_t c = 0; c < titles.col_titles.size(); ++c)
    text(out, px(int64_t(c)) + panel_w / 2, kMargin + title_h + kAxisFont, titles.col_titles[c], "middle", kAxisFont);

  for (int64_t r = 0; r < R; ++r) {
    if (!titles.row_titles.empty())
      text(out, kMargin + overhang, py(r) + panel_h / 2 + kAxisFont * 0.35, titles.row_titles[size_t(r)], "start",
           kAxisFont);
    if (!o.ylabel.empty()) {
      const double x = kMargin + overhang + rowtitle_w + kAxisFont, y = py(r) + panel_h / 2;
      text(out, x, y, o.ylabel, "middle", kAxisFont, " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"");
    }
    for (int64_t c = 0; c < C; ++c) {
      const double x = px(c), y = py(r);
      out += "<g class=\"panel\">\n";
      if (!titles.panel_titles.empty())
        text(out, x + panel_w / 2, y - 6, titles.panel_titles[size_t(r * C + c)], "middle", kLabelFont);
      const double* v = vals.v.data() + (r * C + c) * T * S;
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const double value = v[i * S + j];
          const bool nan = std::isnan(value);
          out += std::string("<rect class=\"cell") + (nan ? " nan" : "") + "\" x=\"" + num(x + double(j) * cell) +
                 "\" y=\"" + num(y + double(i) * cell) + "\" width=\"" + num(cell) + "\" height=\"" + num(cell) +
                 "\" fill=\"" + hex(detail::cell_color(range, value, o)) + "\"><title>" +
                 xml_escape(o.row_labels.empty() ? std::to_string(i) : o.row_labels[size_t(i)]) + " \xe2\x86\x92 " +
                 xml_escape(o.col_labels.empty() ? std::to_string(j) : o.col_labels[size_t(j)]) + ": " +
                 (nan ? std::string("NaN") : value_text(value)) + "</title></rect>\n";
        }
      if (o.grid && cell >= 4 && (T > 1 || S > 1)) {
        std::string d;
        for (int64_t j = 1; j < S; ++j) d += "M" + num(x + double(j) * cell) + " " + num(y) + "v" + num(panel_h);
        for (int64_t i = 1; i < T; ++i) d += "M" + num(x) + " " + num(y + double(i) * cell) + "h" + num(panel_w);
        out += "<path class=\"grid\" d=\"" + d + "\" stroke=\"#ffffff\" stroke-width=\"1\" fill=\"none\"/>\n";
      }
      // Row labels on the first column of panels, column labels under the last row of panels.
      if (c == 0)
        for (size_t i = 0; i < o.row_labels.size(); ++i)
          text(out, x - 4, y + (double(i) + 0.5) * cell + kLabelFont * 0.35, o.row_labels[i], "end", kLabelFont);
      if (r == R - 1)
        for (size_t j = 0; j < o.col_labels.size(); ++j) {
          const double cx = x + (double(j) + 0.5) * cell, ty = y + panel_h + 4;
          if (rotate) {
            const double ax = cx + kLabelFont * 0.25, ay = ty + kLabelFont * 0.5;
            text(out, ax, ay, o.col_labels[j], "end", kLabelFont,
                 " transform=\"rotate(-45 " + num(ax) + " " + num(ay) + ")\"");
          } else {
            text(out, cx, ty + kLabelFont, o.col_labels[j], "middle", kLabelFont);
          }
        }
      out += "</g>\n";
    }
  }
  if (!o.xlabel.empty())
    text(out, x0 + plots_w / 2, y0 + plots_h + col_h + kAxisFont + 2, o.xlabel, "middle", kAxisFont);

  if (o.colorbar) {
    // The bar is one rect filled with a gradient whose stops are the colormap's control points;
    // SVG interpolates linearly in sRGB between stops, exactly as colormap_rgb does.
    const auto& pts = detail::colormap_points(o.colormap);
    out += "<defs><linearGradient id=\"attn-colorbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
    for (size_t k = 0; k < pts.size(); ++k)
    {
      char off[32];  // 6 decimals: the stops sit where colormap_rgb puts its control points
      std::snprintf(off, sizeof off, "%.6g", double(k) / double(pts.size() - 1));
      out += std::string("<stop offset=\"") + off + "\" stop-color=\"" + hex(pts[k]) + "\"/>\n";
    }
    out += "</linearGradient></defs>\n";
    const double bx = x0 + plots_w + bar_gap;
    out += "<rect class=\"colorbar\" x=\"" + num(bx) + "\" y=\"" + num(y0) + "\" width=\"" + num(bar_w) +
           "\" height=\"" + num(plots_h) + "\" fill=\"url(#attn-colorbar)\" stroke=\"#000000\" stroke-width=\"0.5\"/>\n";
    const double ticks[3] = {range.lo, (range.lo + range.hi) / 2, range.hi};
    for (int k = 0; k < 3; ++k) {
      const double ty = y0 + plots_h * (1 - 0.5 * k);
      out += "<line class=\"tick\" x1=\"" + num(bx + bar_w) + "\" y1=\"" + num(ty) + "\" x2=\"" + num(bx + bar_w + 4) +
             "\" y2=\"" + num(ty) + "\" stroke=\"#000000\" stroke-width=\"0.5\"/>\n";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3g", ticks[k]);
      text(out, bx + bar_w + 6, ty + kTickFont * 0.35, buf, "start", kTickFont);
    }
  }
  out += "</svg>\n";
  return out;
}

void check_common(const char* what, const std::string& path, const HeatmapOptions& o, int64_t T, int64_t S) {
  detail::check_cell_size(what, path, o);
  detail::check_labels(what, path, o.row_labels, T, "row labels", "rows (T)");
  detail::check_labels(what, path, o.col_labels, S, "column labels", "columns (S)");
  detail::check_text(what, path, o.title, "title");
  detail::check_text(what, path, o.xlabel, "xlabel");
  detail::check_text(what, path, o.ylabel, "ylabel");
}

}  // namespace

void write_heatmap_svg(const std::string& path, const Tensor& weights, const HeatmapOptions& options) {
  constexpr const char* what = "write_heatmap_svg";
  const detail::Values vals = detail::read_values(what, path, weights, 2);
  const int64_t T = vals.shape[0], S = vals.shape[1];
  check_common(what, path, options, T, S);
  const detail::Range range = detail::color_range(what, path, vals.v, options);
  write_file_atomic(path, render(vals, 1, 1, T, S, {}, options, range));
}

void write_heatmap_grid_svg(const std::string& path, const Tensor& weights, const HeatmapGridTitles& titles,
                            const HeatmapOptions& options) {
  constexpr const char* what = "write_heatmap_grid_svg";
  const detail::Values vals = detail::read_values(what, path, weights, 4);
  const int64_t R = vals.shape[0], C = vals.shape[1], T = vals.shape[2], S = vals.shape[3];
  check_common(what, path, options, T, S);
  detail::check_labels(what, path, titles.panel_titles, R * C, "panel titles", "panels (R*C)");
  detail::check_labels(what, path, titles.row_titles, R, "row titles", "panel rows (R)");
  detail::check_labels(what, path, titles.col_titles, C, "column titles", "panel columns (C)");
  const detail::Range range = detail::color_range(what, path, vals.v, options);
  write_file_atomic(path, render(vals, R, C, T, S, titles, options, range));
}

}  // namespace attn::viz
