// PNG heatmaps: the cells, grid lines and colour bar rasterised into an RGB buffer, encoded in memory
// with libpng and written atomically. No text (see the header): labels need a font rasteriser.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cmath>
#include <new>

#include "viz/heatmap_common.h"

namespace attn::viz {
namespace {

struct Canvas {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel
  Canvas(int width, int height) : w(width), h(height), rgb(size_t(width) * size_t(height) * 3, 0xff) {}
  void fill(int x, int y, int fw, int fh, Rgb c) {
    const int x1 = std::min(w, x + fw), y1 = std::min(h, y + fh);
    for (int yy = std::max(0, y); yy < y1; ++yy)
      for (int xx = std::max(0, x); xx < x1; ++xx) {
        uint8_t* p = &rgb[(size_t(yy) * size_t(w) + size_t(xx)) * 3];
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
      }
  }
};

void append_bytes(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  try {
    out->append(reinterpret_cast<const char*>(data), n);
  } catch (const std::bad_alloc&) {
    png_error(png, "out of memory");  // longjmps to encode()'s setjmp; no C++ exception crosses libpng
  }
}
void flush_nothing(png_structp) {}

// Encodes the canvas; returns false (with `err` set) when libpng reports an error. Only trivially
// destructible locals live between setjmp and the calls that may longjmp.
bool encode(const Canvas& cv, std::string* out, const char** err) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) return *err = "png_create_write_struct failed", false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return *err = "png_create_info_struct failed", false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return *err = "libpng failed to encode the image", false;
  }
  png_set_write_fn(png, out, append_bytes, flush_nothing);
  png_set_IHDR(png, info, png_uint_32(cv.w), png_uint_32(cv.h), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < cv.h; ++y)
    png_write_row(png, const_cast<png_bytep>(cv.rgb.data() + size_t(y) * size_t(cv.w) * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

void write_png(const char* what, const std::string& path, const detail::Values& vals, int64_t R, int64_t C,
               int64_t T, int64_t S, const HeatmapOptions& o) {
  detail::check_cell_size(what, path, o);
  detail::check_labels(what, path, o.row_labels, T, "row labels", "rows (T)");
  detail::check_labels(what, path, o.col_labels, S, "column labels", "columns (S)");
  const detail::Range range = detail::color_range(what, path, vals.v, o);
  // Layout in doubles first so a huge T or S gives an error, not an int overflow.
  const double cells = double(o.cell_size) * double(std::max(R * T, C * S));
  ATTN_CHECK(cells < 1e5, what, "('", path, "'): a picture of ", R, "x", C, " panels of ", T, "x", S,
             " cells at cell_size ", o.cell_size, " would be over 100000 pixels wide or tall; lower cell_size");
  const PngLayout L = heatmap_png_layout(R, C, T, S, o);
  ATTN_CHECK(double(L.width) * double(L.height) <= double(1 << 28), what, "('", path, "'): ", L.width, "x",
             L.height, " pixels is too large; lower cell_size");

  Canvas cv(L.width, L.height);
  const bool grid = o.grid && L.cell >= 4;
  const Rgb white{255, 255, 255};
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double* v = vals.v.data() + (r * C + c) * T * S;
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < S; ++j)
          cv.fill(L.cell_x(c, j), L.cell_y(r, i), L.cell, L.cell, detail::cell_color(range, v[i * S + j], o));
      if (grid) {
        // On the last pixel column / row of each cell that has a neighbour (see PngLayout).
        for (int64_t j = 0; j + 1 < S; ++j) cv.fill(L.cell_x(c, j) + L.cell - 1, L.cell_y(r, 0), 1, L.panel_h, white);
        for (int64_t i = 0; i + 1 < T; ++i) cv.fill(L.cell_x(c, 0), L.cell_y(r, i) + L.cell - 1, L.panel_w, 1, white);
      }
    }
  if (L.bar_w > 0) {
    // Top row is vmax: pixel row y of the bar's H rows shows t = 1 - (y + 0.5) / H.
    const int top = L.margin, H = L.height - 2 * L.margin;
    for (int y = 0; y < H; ++y)
      cv.fill(L.bar_x, top + y, L.bar_w, 1, colormap_rgb(o.colormap, 1.0 - (double(y) + 0.5) / double(H)));
  }
  std::string bytes;
  const char* err = nullptr;
  ATTN_CHECK(encode(cv, &bytes, &err), what, "('", path, "'): ", err);
  write_file_atomic(path, bytes);
}

}  // namespace

PngLayout heatmap_png_layout(int64_t R, int64_t C, int64_t T, int64_t S, const HeatmapOptions& o) {
  ATTN_CHECK(R >= 0 && C >= 0 && T >= 0 && S >= 0 && o.cell_size >= 1 &&
                 double(o.cell_size) * double(std::max(R * T, C * S)) < 1e5,
             "heatmap_png_layout: ", R, "x", C, " panels of ", T, "x", S, " cells at cell_size ", o.cell_size,
             " do not give a picture under 100000 pixels a side");
  PngLayout L;
  L.cell = o.cell_size;
  L.margin = std::max(4, o.cell_size / 2);
  L.panel_w = int(S * L.cell);
  L.panel_h = int(T * L.cell);
  const int plots_w = int(C * L.panel_w + std::max<int64_t>(C - 1, 0) * L.margin);
  const int plots_h = int(R * L.panel_h + std::max<int64_t>(R - 1, 0) * L.margin);
  L.height = std::max(plots_h, 1) + 2 * L.margin;  // at least one pixel row inside the margins
  if (o.colorbar) {
    L.bar_w = std::max(8, o.cell_size / 2);
    L.bar_x = L.margin + plots_w + L.margin;
    L.width = L.bar_x + L.bar_w + L.margin;
  } else {
    L.width = std::max(plots_w, 1) + 2 * L.margin;
  }
  return L;
}

void write_heatmap_png(const std::string& path, const Tensor& weights, const HeatmapOptions& options) {
  const detail::Values vals = detail::read_values("write_heatmap_png", path, weights, 2);
  write_png("write_heatmap_png", path, vals, 1, 1, vals.shape[0], vals.shape[1], options);
}

void write_heatmap_grid_png(const std::string& path, const Tensor& weights, const HeatmapOptions& options) {
  const detail::Values vals = detail::read_values("write_heatmap_grid_png", path, weights, 4);
  write_png("write_heatmap_grid_png", path, vals, vals.shape[0], vals.shape[1], vals.shape[2], vals.shape[3],
            options);
}

}  // namespace attn::viz
