// Shared pieces of the heatmap writers: value reading, colour scale, checks.
#include "viz/heatmap_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace attn::viz {

namespace detail {

const std::vector<Rgb>& colormap_points(Colormap map) {
  // viridis: matplotlib's colormap sampled at 10 evenly spaced points (the common "viridis(10)"
  // palette); linear interpolation between them stays within a few units of the full 256-entry table.
  static const std::vector<Rgb> viridis = {
      {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x49, 0x89}, {0x31, 0x68, 0x8e}, {0x26, 0x82, 0x8e},
      {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6e, 0xce, 0x58}, {0xb5, 0xde, 0x2b}, {0xfd, 0xe7, 0x25}};
  // Reds: ColorBrewer's 9-class sequential palette, which matplotlib's "Reds" interpolates.
  static const std::vector<Rgb> reds = {
      {0xff, 0xf5, 0xf0}, {0xfe, 0xe0, 0xd2}, {0xfc, 0xbb, 0xa1}, {0xfc, 0x92, 0x72}, {0xfb, 0x6a, 0x4a},
      {0xef, 0x3b, 0x2c}, {0xcb, 0x18, 0x1d}, {0xa5, 0x0f, 0x15}, {0x67, 0x00, 0x0d}};
  switch (map) {
    case Colormap::Viridis: return viridis;
    case Colormap::Reds: return reds;
  }
  ATTN_FAIL("colormap_rgb: unknown colormap ", int(map));
}

Values read_values(const char* what, const std::string& path, const Tensor& weights, int64_t rank) {
  ATTN_CHECK(weights.dim() == rank, what, "('", path, "'): expected weights of rank ", rank,
             rank == 2 ? " [T, S]" : " [R, C, T, S]", ", got shape ", shape_str(weights.shape()));
  ATTN_CHECK(weights.is_floating_point(), what, "('", path, "'): expected floating-point weights, got ",
             weights.dtype());
  Values out;
  out.shape.assign(weights.shape().begin(), weights.shape().end());
  // One dense f64 copy: any layout and dtype in, plain row-major doubles out.
  const Tensor d = weights.detach().to(kFloat64).contiguous();
  const double* p = d.numel() > 0 ? d.data_ptr<double>() : nullptr;
  out.v.assign(p, p + d.numel());
  return out;
}

double Range::t(double v) const {
  if (std::isnan(v)) return v;
  if (!(hi > lo)) return 0.0;  // constant data: everything at the low end, as matplotlib does
  return std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
}

Range color_range(const char* what, const std::string& path, const std::vector<double>& v, const HeatmapOptions& o) {
  double lo = INFINITY, hi = -INFINITY;
  for (double x : v)
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  if (lo > hi) lo = 0, hi = 1;  // no finite value at all
  if (o.vmin) lo = *o.vmin;
  if (o.vmax) hi = *o.vmax;
  ATTN_CHECK(std::isfinite(lo) && std::isfinite(hi), what, "('", path, "'): vmin and vmax must be finite, got ",
             lo, " and ", hi);
  ATTN_CHECK(lo <= hi, what, "('", path, "'): vmin ", lo, " is greater than vmax ", hi);
  return {lo, hi};
}

Rgb cell_color(const Range& r, double v, const HeatmapOptions& o) {
  if (std::isnan(v)) return o.nan_color;
  return colormap_rgb(o.colormap, r.t(v));
}

namespace {
// Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and XML 1.0's character set. Returns
// an empty string when fine, else what is wrong.
std::string text_problem(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        return ::attn::detail::str_cat("control character ", c, " at byte ", i, " (not allowed in XML)");
      ++i;
      continue;
    }
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || c > 0xF4 || i + len > n) return ::attn::detail::str_cat("invalid UTF-8 at byte ", i);
    uint32_t cp = c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const unsigned cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return ::attn::detail::str_cat("invalid UTF-8 at byte ", i);
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return ::attn::detail::str_cat("invalid UTF-8 at byte ", i);
    if (cp == 0xFFFE || cp == 0xFFFF) return ::attn::detail::str_cat("non-character U+FFFE/U+FFFF at byte ", i, " (not allowed in XML)");
    i += len;
  }
  return {};
}
}  // namespace

void check_text(const char* what, const std::string& path, const std::string& text, const char* kind) {
  const std::string problem = text_problem(text);
  ATTN_CHECK(problem.empty(), what, "('", path, "'): ", kind, " has ", problem);
}

void check_labels(const char* what, const std::string& path, const std::vector<std::string>& labels,
                  int64_t expected, const char* kind, const char* unit) {
  ATTN_CHECK(labels.empty() || int64_t(labels.size()) == expected, what, "('", path, "'): ", labels.size(), " ",
             kind, " for ", expected, " ", unit, " (give none or exactly ", expected, ")");
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string problem = text_problem(labels[i]);
    ATTN_CHECK(problem.empty(), what, "('", path, "'): ", kind, " [", i, "] has ", problem);
  }
}

void check_cell_size(const char* what, const std::string& path, const HeatmapOptions& o) {
  ATTN_CHECK(o.cell_size >= 1 && o.cell_size <= 512, what, "('", path, "'): cell_size must be in [1, 512], got ",
             o.cell_size);
}

}  // namespace detail

Rgb colormap_rgb(Colormap map, double t) {
  const std::vector<Rgb>& pts = detail::colormap_points(map);
  if (std::isnan(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0);
  // Segment k spans [k / (n-1), (k+1) / (n-1)]; interpolate linearly in RGB and round to nearest.
  const double x = t * double(pts.size() - 1);
  const size_t k = std::min(size_t(x), pts.size() - 2);
  const double f = x - double(k);
  auto mix = [f](uint8_t a, uint8_t b) { return uint8_t(std::lround(double(a) + (double(b) - double(a)) * f)); };
  return {mix(pts[k].r, pts[k + 1].r), mix(pts[k].g, pts[k + 1].g), mix(pts[k].b, pts[k + 1].b)};
}

}  // namespace attn::viz
