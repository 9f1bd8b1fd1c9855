// Shared by the SVG and PNG writers: reading the weights as doubles, the colour scale, checks of
// options and labels, and the atomic file write. Internal to attn_viz.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/file.h"
#include "attn/viz/heatmap.h"

namespace attn::viz::detail {

// The weights as a dense row-major copy in f64, with the shape, after checking rank and dtype.
struct Values {
  std::vector<double> v;
  std::vector<int64_t> shape;
  int64_t numel() const { return int64_t(v.size()); }
};
// `what` names the function in messages ("write_heatmap_svg"); `rank` is 2 or 4.
Values read_values(const char* what, const std::string& path, const Tensor& weights, int64_t rank);

// The colour range after options: {vmin, vmax}, from the finite values when unset ({0, 1} when there
// are none). Throws when vmin > vmax or either is not finite.
struct Range {
  double lo = 0, hi = 1;
  double t(double v) const;  // position in [0, 1]; NaN stays NaN
};
Range color_range(const char* what, const std::string& path, const std::vector<double>& v, const HeatmapOptions& o);
Rgb cell_color(const Range& r, double v, const HeatmapOptions& o);

// Checks that `labels` is empty or has `expected` entries, each valid UTF-8 without characters XML
// forbids. `kind` is e.g. "row labels", `unit` e.g. "rows".
void check_labels(const char* what, const std::string& path, const std::vector<std::string>& labels,
                  int64_t expected, const char* kind, const char* unit);
void check_text(const char* what, const std::string& path, const std::string& text, const char* kind);
void check_cell_size(const char* what, const std::string& path, const HeatmapOptions& o);

// Control points of a colormap, evenly spaced over [0, 1].
const std::vector<Rgb>& colormap_points(Colormap map);

}  // namespace attn::viz::detail
