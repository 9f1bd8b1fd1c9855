// Attention heatmaps: pictures of a weight matrix [T, S] (queries down, keys across), one cell per
// entry, coloured through a colormap, as in d2l's show_heatmaps. Two formats:
//   SVG - cells, row labels on the left, column labels at the bottom (rotated 45 degrees when any is
//         wider than a cell), axis names, title, colour bar with min / middle / max ticks. Labels are
//         UTF-8 and XML-escaped; text uses a font list with CJK fallbacks, so Chinese labels render
//         wherever one of those fonts is installed. Each cell carries a <title> tooltip with its value.
//   PNG - cells (cell_size x cell_size pixels each), grid lines and the colour bar, through libpng.
//         No text: drawing labels would need a font rasteriser, so titles and labels are SVG-only.
//         PNG suits a quick look or an image diff; SVG is the one to publish.
// Grids (write_heatmap_grid_*) lay out weights [R, C, T, S] - e.g. layers x heads - as R x C panels
// sharing one colour scale and one colour bar, with optional per-panel, per-row and per-column titles.
//
// Colour scale: value v maps to t = (v - vmin) / (vmax - vmin) clamped to [0, 1], then to a colour by
// linear RGB interpolation between the colormap's control points (our own small tables, sampled from
// matplotlib's viridis and ColorBrewer's Reds). vmin / vmax default to the min / max of the finite
// values; when they are equal every finite cell gets the colour at t = 0. +-inf clamp to the ends;
// NaN cells are drawn in options.nan_color (magenta by default, in neither colormap).
//
// Input: any floating dtype (f32, f64), any strides; the values are read, never modified, and autograd
// history is ignored. Files are written atomically (a temporary file beside the target, then rename),
// so a reader never sees half a picture. Errors throw attn::Error naming the file: wrong rank, a
// non-floating dtype, label / title counts that do not match the data (both counts given), vmin > vmax,
// invalid UTF-8 or XML-forbidden control characters in a label, an unwritable path.
//
// Not here: interactive plots, fonts embedded into the SVG, annotations of the values in the cells.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

enum class Colormap {
  Viridis,  // dark purple (low) -> blue -> green -> yellow (high); perceptually uniform, the default
  Reds,     // white (low) -> dark red (high); d2l's choice for attention weights
};

// The colour of t in [0, 1] (clamped; NaN gives the t = 0 colour) under `map`.
Rgb colormap_rgb(Colormap map, double t);

struct HeatmapOptions {
  std::string title;                    // drawn above the plot (SVG); empty: none
  std::vector<std::string> row_labels;  // empty, or one per row (T), UTF-8
  std::vector<std::string> col_labels;  // empty, or one per column (S), UTF-8
  std::string xlabel = "Keys";          // axis names (SVG); empty: none
  std::string ylabel = "Queries";
  Colormap colormap = Colormap::Viridis;
  bool colorbar = true;
  bool grid = true;                     // thin white lines between cells
  int cell_size = 24;                   // pixels per cell side, 1..512
  std::optional<double> vmin, vmax;     // fixed colour range; unset: from the data
  Rgb nan_color{255, 0, 255};
};

// Titles for a grid of panels; each list is empty or exactly as long as it should be.
struct HeatmapGridTitles {
  std::vector<std::string> panel_titles;  // R*C, row-major (panel [r, c] is index r*C + c)
  std::vector<std::string> row_titles;    // R, drawn left of each row of panels (e.g. "Layer 1")
  std::vector<std::string> col_titles;    // C, drawn above each column of panels (e.g. "Head 1")
};

// weights: [T, S]. Writes an SVG document to `path`.
void write_heatmap_svg(const std::string& path, const Tensor& weights, const HeatmapOptions& options = {});
// weights: [T, S]. Writes an 8-bit RGB PNG to `path`: a margin of cell_size / 2 pixels (at least
// 4), the T x S cells, and when options.colorbar a bar to the right (top = vmax). Pixel positions
// are given by heatmap_png_layout(1, 1, T, S, options).
void write_heatmap_png(const std::string& path, const Tensor& weights, const HeatmapOptions& options = {});

// weights: [R, C, T, S]. options.title is the figure title, options.row_labels / col_labels label
// every panel's rows / columns (so they count T and S).
void write_heatmap_grid_svg(const std::string& path, const Tensor& weights, const HeatmapGridTitles& titles = {},
                            const HeatmapOptions& options = {});
// weights: [R, C, T, S]. Panels separated by a margin; text-free like write_heatmap_png.
void write_heatmap_grid_png(const std::string& path, const Tensor& weights, const HeatmapOptions& options = {});

// Pixel size of the PNG that write_heatmap_grid_png writes for R x C panels of T x S cells
// (write_heatmap_png is the R = C = 1 case), and where panel (r, c)'s cell (0, 0) starts.
// Grid lines (options.grid, cells of 4+ pixels) take the last pixel row and column of each cell
// that has a neighbour; the rest of the cell, its centre included, is the cell's colour.
struct PngLayout {
  int width = 0, height = 0;
  int cell = 0;                  // options.cell_size
  int margin = 0;                // around the figure and between panels: max(4, cell / 2)
  int panel_w = 0, panel_h = 0;  // S * cell, T * cell
  int bar_x = 0, bar_w = 0;      // colour bar column (bar_w = 0 without a bar); rows margin .. height - margin
  // Top-left pixel of cell (row, col) of panel (r, c).
  int cell_x(int64_t c, int64_t col) const { return int(margin + c * (panel_w + margin) + col * cell); }
  int cell_y(int64_t r, int64_t row) const { return int(margin + r * (panel_h + margin) + row * cell); }
};
PngLayout heatmap_png_layout(int64_t R, int64_t C, int64_t T, int64_t S, const HeatmapOptions& options = {});

}  // namespace attn::viz
