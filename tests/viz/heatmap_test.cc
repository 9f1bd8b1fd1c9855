// Heatmap writers: SVG content (cells, escaping, UTF-8, titles, well-formed XML), PNG bytes decoded
// with libpng (size, cell / grid / colour-bar pixels against the colormap), NaN cells, errors, grids.
// Set ATTN_DOC_IMG_DIR=<dir> to also write the documentation images there
// (tools/make_doc_heatmaps.sh does this for docs/attention/img/).
#include "attn/viz/heatmap.h"

#include <png.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <unistd.h>

#include "test_util.h"

namespace attn::viz {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class HeatmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("attn_viz_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  fs::path dir;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

Tensor mat(const std::vector<double>& v, int64_t rows, int64_t cols) { return tensor(v, Shape{rows, cols}); }

// Well-formedness without a parser library: every '<' opens a declaration, a comment-free tag or a
// closing tag; tags nest; attribute values are quoted; '&' starts a known entity; no raw '<' or '>'
// in text or attribute values. Returns "" when fine, else the first problem.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  auto entity_ok = [&](size_t i) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (s.compare(i, std::strlen(e), e) == 0) return true;
    return false;
  };
  size_t i = 0;
  if (s.rfind("<?xml", 0) == 0) i = s.find("?>") + 2;
  while (i < s.size()) {
    if (s[i] == '&' && !entity_ok(i)) return "bad entity at " + std::to_string(i);
    if (s[i] == '>') return "raw '>' in text at " + std::to_string(i);
    if (s[i] != '<') {
      ++i;
      continue;
    }
    const bool closing = s[i + 1] == '/';
    size_t j = i + (closing ? 2 : 1);
    size_t k = j;
    while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '-' || s[k] == ':')) ++k;
    const std::string name = s.substr(j, k - j);
    if (name.empty()) return "empty tag name at " + std::to_string(i);
    // Attributes: name="value" pairs until '>' or '/>'.
    while (k < s.size() && s[k] != '>' && s[k] != '/') {
      if (s[k] == ' ' || s[k] == '\n') {
        ++k;
        continue;
      }
      const size_t eq = s.find('=', k);
      if (eq == std::string::npos || s[eq + 1] != '"') return "unquoted attribute in <" + name + ">";
      const size_t end = s.find('"', eq + 2);
      if (end == std::string::npos) return "unterminated attribute in <" + name + ">";
      for (size_t a = eq + 2; a < end; ++a) {
        if (s[a] == '<' || s[a] == '>') return "raw '<' or '>' in an attribute of <" + name + ">";
        if (s[a] == '&' && !entity_ok(a)) return "bad entity in an attribute of <" + name + ">";
      }
      k = end + 1;
    }
    if (k >= s.size()) return "unterminated tag <" + name + ">";
    const bool self_closing = s[k] == '/';
    if (self_closing && (closing || s[k + 1] != '>')) return "bad '/' in <" + name + ">";
    if (closing) {
      if (stack.empty() || stack.back() != name) return "</" + name + "> does not close the open tag";
      stack.pop_back();
    } else if (!self_closing) {
      stack.push_back(name);
    }
    i = s.find('>', k) + 1;
  }
  if (!stack.empty()) return "<" + stack.back() + "> never closed";
  return "";
}

// Parses with Python's xml.etree when python3 is on PATH (a second, real XML parser).
// Returns the exit status: 0 parsed, 127 no python3.
int python_parse(const std::string& path) {
  const std::string cmd = "python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '" + path +
                          "' 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
  Rgb at(int x, int y) const {
    const uint8_t* p = &rgb[(size_t(y) * size_t(w) + size_t(x)) * 3];
    return {p[0], p[1], p[2]};
  }
};

// Decodes an 8-bit RGB PNG with libpng's simplified API.
Image decode_png(const std::string& path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&img, path.c_str())) << img.message;
  img.format = PNG_FORMAT_RGB;
  Image out;
  out.w = int(img.width), out.h = int(img.height);
  out.rgb.resize(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, out.rgb.data(), 0, nullptr)) << img.message;
  return out;
}

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint32_t(uint8_t(s[at + 3]));
}

std::string rgb_str(Rgb c) {
  return "(" + std::to_string(c.r) + ", " + std::to_string(c.g) + ", " + std::to_string(c.b) + ")";
}
#define EXPECT_RGB(actual, expected) EXPECT_EQ(rgb_str(actual), rgb_str(expected))

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no attn::Error thrown)";
}

// --- colormap ---------------------------------------------------------------------------------

TEST(Colormap, EndpointsAndMatplotlibSamples) {
  // Endpoints are the control points exactly.
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, 0.0), (Rgb{0x44, 0x01, 0x54}));
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, 1.0), (Rgb{0xfd, 0xe7, 0x25}));
  EXPECT_RGB(colormap_rgb(Colormap::Reds, 0.0), (Rgb{0xff, 0xf5, 0xf0}));
  EXPECT_RGB(colormap_rgb(Colormap::Reds, 1.0), (Rgb{0x67, 0x00, 0x0d}));
  // Out of range and NaN clamp to the ends.
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, -3.0), colormap_rgb(Colormap::Viridis, 0.0));
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, 7.0), colormap_rgb(Colormap::Viridis, 1.0));
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, kNaN), colormap_rgb(Colormap::Viridis, 0.0));
  // Within 3 units of matplotlib's 256-entry viridis (cm.viridis(t) for t = 0.25, 0.5, 0.75): the
  // 10-point table interpolated linearly is that close, not closer.
  const std::pair<double, Rgb> mpl[] = {{0.25, {59, 82, 139}}, {0.5, {33, 145, 140}}, {0.75, {94, 201, 98}}};
  for (const auto& [t, want] : mpl) {
    const Rgb got = colormap_rgb(Colormap::Viridis, t);
    EXPECT_LE(std::abs(got.r - want.r), 3) << t << ": " << rgb_str(got) << " vs " << rgb_str(want);
    EXPECT_LE(std::abs(got.g - want.g), 3) << t << ": " << rgb_str(got) << " vs " << rgb_str(want);
    EXPECT_LE(std::abs(got.b - want.b), 3) << t << ": " << rgb_str(got) << " vs " << rgb_str(want);
  }
  // Exactly the linear mix of control points 4 and 5 at t = 0.5 (x = 4.5), rounded to nearest.
  EXPECT_RGB(colormap_rgb(Colormap::Viridis, 0.5), (Rgb{35, 144, 140}));
}

// --- SVG --------------------------------------------------------------------------------------

TEST_F(HeatmapTest, SvgCellsLabelsTitleEscaping) {
  HeatmapOptions o;
  o.title = "Attention <layer 1> & \"head\" 'a'";
  o.row_labels = {"我", "爱", "你"};
  o.col_labels = {"I", "<love>", "you & me", "it's"};
  const Tensor w = mat({0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1}, 3, 4);
  write_heatmap_svg(file("a.svg"), w, o);
  const std::string s = read_all(file("a.svg"));

  EXPECT_EQ(count(s, "<rect class=\"cell"), 12u);
  EXPECT_EQ(count(s, "class=\"colorbar\""), 1u);
  EXPECT_NE(s.find("Attention &lt;layer 1&gt; &amp; &quot;head&quot; &apos;a&apos;"), std::string::npos);
  EXPECT_NE(s.find("&lt;love&gt;"), std::string::npos);
  EXPECT_NE(s.find(">you &amp; me</text>"), std::string::npos);
  EXPECT_NE(s.find(">it&apos;s</text>"), std::string::npos);
  EXPECT_EQ(s.find("<love>"), std::string::npos);
  // UTF-8 bytes of 我 (U+6211), 爱 (U+7231) pass through byte-exact, as label text.
  EXPECT_NE(s.find(">\xe6\x88\x91</text>"), std::string::npos);
  EXPECT_NE(s.find(">\xe7\x88\xb1</text>"), std::string::npos);
  EXPECT_NE(s.find("encoding=\"UTF-8\""), std::string::npos);
  EXPECT_NE(s.find("Noto Sans CJK SC"), std::string::npos);
  EXPECT_NE(s.find(">Keys</text>"), std::string::npos);
  EXPECT_NE(s.find(">Queries</text>"), std::string::npos);
  // Colour bar ticks at the data range.
  EXPECT_NE(s.find(">0</text>"), std::string::npos);
  EXPECT_NE(s.find(">0.5</text>"), std::string::npos);
  EXPECT_NE(s.find(">1</text>"), std::string::npos);
  // The first cell is (0, 0) = data min, the last (2, 3) = data max.
  const size_t first = s.find("<rect class=\"cell");
  EXPECT_NE(s.find("fill=\"#440154\"", first), std::string::npos);
  EXPECT_EQ(s.find("fill=\"#440154\"", first), s.find("fill=\"", first));
  const size_t last = s.rfind("<rect class=\"cell");
  EXPECT_EQ(s.find("fill=\"", last), s.find("fill=\"#fde725\"", last));

  EXPECT_EQ(xml_problem(s), "");
  const int rc = python_parse(file("a.svg"));
  if (rc != 127) {
    EXPECT_EQ(rc, 0) << "python3 xml.etree could not parse the SVG";
  }
  // Atomic write leaves nothing but the file itself.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST_F(HeatmapTest, XmlCheckerRejectsBrokenDocuments) {
  // The hand-written checker above must be able to fail.
  EXPECT_EQ(xml_problem("<a><b/></a>"), "");
  EXPECT_NE(xml_problem("<a><b></a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a t=\"<\"/>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
}

TEST_F(HeatmapTest, LongColumnLabelsRotate) {
  HeatmapOptions o;
  o.col_labels = {"a", "b"};
  write_heatmap_svg(file("short.svg"), mat({1, 2, 3, 4}, 2, 2), o);
  EXPECT_EQ(count(read_all(file("short.svg")), "rotate(-45"), 0u);
  o.col_labels = {"a", "a rather long label"};
  write_heatmap_svg(file("long.svg"), mat({1, 2, 3, 4}, 2, 2), o);
  EXPECT_EQ(count(read_all(file("long.svg")), "rotate(-45"), 2u);
  EXPECT_EQ(xml_problem(read_all(file("long.svg"))), "");
}

TEST_F(HeatmapTest, AnyDtypeAndLayoutGiveTheSamePicture) {
  Generator gen(7);
  const Tensor base = rand({5, 3}, kFloat64, &gen);
  HeatmapOptions o;
  write_heatmap_svg(file("f64.svg"), base.t().contiguous(), o);
  write_heatmap_svg(file("f32_view.svg"), base.to(kFloat32).t(), o);  // transposed view, f32
  // f32 rounding moves values by ~1e-8 relative: the colours (8 bits) agree, the tooltips' %.4g too.
  EXPECT_EQ(read_all(file("f64.svg")), read_all(file("f32_view.svg")));
}

TEST_F(HeatmapTest, NanCellsGetTheNanColour) {
  HeatmapOptions o;
  write_heatmap_svg(file("nan.svg"), mat({0, kNaN, 2, 4}, 2, 2), o);
  const std::string s = read_all(file("nan.svg"));
  EXPECT_EQ(count(s, "<rect class=\"cell"), 4u);
  EXPECT_EQ(count(s, "<rect class=\"cell nan\""), 1u);
  EXPECT_EQ(count(s, "fill=\"#ff00ff\""), 1u);
  EXPECT_NE(s.find(": NaN</title>"), std::string::npos);
  // The range comes from the finite values: 0 -> low end, 4 -> high end, 2 -> middle.
  EXPECT_EQ(count(s, "fill=\"#440154\""), 1u);
  EXPECT_EQ(count(s, "fill=\"#fde725\""), 1u);
  EXPECT_EQ(count(s, "fill=\"#23908c\""), 1u);  // colormap_rgb(0.5) = (35, 144, 140)
  // All NaN: no crash, every cell NaN-coloured.
  write_heatmap_svg(file("allnan.svg"), mat({kNaN, kNaN}, 1, 2), o);
  EXPECT_EQ(count(read_all(file("allnan.svg")), "fill=\"#ff00ff\""), 2u);
}

TEST_F(HeatmapTest, EmptyWeightsGiveAnEmptyPlot) {
  HeatmapOptions o;
  o.col_labels = {"a", "b", "c"};
  write_heatmap_svg(file("e.svg"), zeros({0, 3}), o);
  const std::string s = read_all(file("e.svg"));
  EXPECT_EQ(count(s, "<rect class=\"cell"), 0u);
  EXPECT_EQ(xml_problem(s), "");
  write_heatmap_png(file("e.png"), zeros({0, 3}), o);
  const Image img = decode_png(file("e.png"));
  EXPECT_EQ(img.w, heatmap_png_layout(1, 1, 0, 3, o).width);
  EXPECT_EQ(img.h, heatmap_png_layout(1, 1, 0, 3, o).height);
  write_heatmap_grid_png(file("g.png"), zeros({0, 2, 2, 2}), {});
  EXPECT_TRUE(fs::exists(file("g.png")));
}

TEST_F(HeatmapTest, FixedRangeClamps) {
  HeatmapOptions o;
  o.vmin = 0.0;
  o.vmax = 1.0;
  o.colorbar = false;
  write_heatmap_svg(file("r.svg"), mat({-5, 0.5, 9}, 1, 3), o);
  const std::string s = read_all(file("r.svg"));
  EXPECT_EQ(count(s, "fill=\"#440154\""), 1u);  // -5 clamps to vmin
  EXPECT_EQ(count(s, "fill=\"#fde725\""), 1u);  // 9 clamps to vmax
  EXPECT_EQ(count(s, "class=\"colorbar\""), 0u);
}

TEST_F(HeatmapTest, Errors) {
  const std::string p = file("e.svg");
  HeatmapOptions o;
  o.row_labels = {"a", "b", "c"};
  std::string msg = error_of([&] { write_heatmap_svg(p, zeros({4, 2}), o); });
  EXPECT_NE(msg.find("3 row labels for 4 rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  o.row_labels.clear();
  o.col_labels = {"x"};
  msg = error_of([&] { write_heatmap_png(file("e.png"), zeros({4, 2}), o); });
  EXPECT_NE(msg.find("1 column labels for 2 columns"), std::string::npos) << msg;
  EXPECT_NE(msg.find("e.png"), std::string::npos) << msg;

  msg = error_of([&] { write_heatmap_svg(p, zeros({4}), {}); });
  EXPECT_NE(msg.find("rank 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  msg = error_of([&] { write_heatmap_png(p, zeros({2, 2, 2}), {}); });
  EXPECT_NE(msg.find("[2, 2, 2]"), std::string::npos) << msg;
  msg = error_of([&] { write_heatmap_grid_svg(p, zeros({2, 2}), {}, {}); });
  EXPECT_NE(msg.find("rank 4"), std::string::npos) << msg;
  msg = error_of([&] { write_heatmap_svg(p, zeros({2, 2}, kInt64), {}); });
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;

  HeatmapOptions bad;
  bad.vmin = 2.0;
  bad.vmax = 1.0;
  msg = error_of([&] { write_heatmap_svg(p, zeros({2, 2}), bad); });
  EXPECT_NE(msg.find("vmin 2 is greater than vmax 1"), std::string::npos) << msg;
  bad = {};
  bad.col_labels = {"ok", "\xff\xfe"};
  msg = error_of([&] { write_heatmap_svg(p, zeros({2, 2}), bad); });
  EXPECT_NE(msg.find("column labels [1] has invalid UTF-8"), std::string::npos) << msg;
  bad = {};
  bad.title = std::string("a\x01", 2);
  msg = error_of([&] { write_heatmap_svg(p, zeros({2, 2}), bad); });
  EXPECT_NE(msg.find("title has control character"), std::string::npos) << msg;
  bad = {};
  bad.cell_size = 0;
  msg = error_of([&] { write_heatmap_png(p, zeros({2, 2}), bad); });
  EXPECT_NE(msg.find("cell_size"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(p));  // nothing was written by any failed call

  const std::string nowhere = file("no/such/dir/x.svg");
  msg = error_of([&] { write_heatmap_svg(nowhere, zeros({2, 2}), {}); });
  EXPECT_NE(msg.find(nowhere), std::string::npos) << msg;
  msg = error_of([&] { write_heatmap_png(file("no/such/dir/x.png"), zeros({2, 2}), {}); });
  EXPECT_NE(msg.find("x.png"), std::string::npos) << msg;

  HeatmapGridTitles t;
  t.panel_titles = {"a", "b", "c", "d", "e"};
  msg = error_of([&] { write_heatmap_grid_svg(p, zeros({2, 3, 2, 2}), t, {}); });
  EXPECT_NE(msg.find("5 panel titles for 6 panels"), std::string::npos) << msg;
  t = {};
  t.col_titles = {"h1", "h2"};
  msg = error_of([&] { write_heatmap_grid_svg(p, zeros({2, 3, 2, 2}), t, {}); });
  EXPECT_NE(msg.find("2 column titles for 3 panel columns"), std::string::npos) << msg;
}

TEST_F(HeatmapTest, ExistingFileIsReplacedWhole) {
  const std::string p = file("r.svg");
  { std::ofstream(p) << std::string(100000, 'x'); }
  write_heatmap_svg(p, mat({1, 2}, 1, 2), {});
  const std::string s = read_all(p);
  EXPECT_EQ(s.find('x' + std::string(20, 'x')), std::string::npos);
  EXPECT_EQ(xml_problem(s), "");
}

// --- PNG --------------------------------------------------------------------------------------

TEST_F(HeatmapTest, PngSizePixelsGridAndColourBar) {
  HeatmapOptions o;
  o.cell_size = 10;
  const Tensor w = mat({0, 0.25, 0.5, 0.75, 1, kNaN}, 2, 3);
  write_heatmap_png(file("a.png"), w, o);
  const std::string bytes = read_all(file("a.png"));
  ASSERT_GE(bytes.size(), 33u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  const PngLayout L = heatmap_png_layout(1, 1, 2, 3, o);
  // Layout by hand: margin 5, cells 30x20, bar 8 wide after a margin, margin on the right.
  EXPECT_EQ(L.margin, 5);
  EXPECT_EQ(L.width, 5 + 30 + 5 + 8 + 5);
  EXPECT_EQ(L.height, 5 + 20 + 5);
  EXPECT_EQ(be32(bytes, 16), uint32_t(L.width));
  EXPECT_EQ(be32(bytes, 20), uint32_t(L.height));

  const Image img = decode_png(file("a.png"));
  ASSERT_EQ(img.w, L.width);
  ASSERT_EQ(img.h, L.height);
  const double vals[6] = {0, 0.25, 0.5, 0.75, 1, kNaN};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const Rgb want = std::isnan(vals[i * 3 + j]) ? o.nan_color : colormap_rgb(o.colormap, vals[i * 3 + j]);
      SCOPED_TRACE("cell " + std::to_string(i) + ", " + std::to_string(j));
      EXPECT_RGB(img.at(L.cell_x(0, j) + 5, L.cell_y(0, i) + 5), want);  // centre
      EXPECT_RGB(img.at(L.cell_x(0, j), L.cell_y(0, i)), want);          // top-left pixel
    }
  const Rgb white{255, 255, 255};
  // Grid lines on the last pixel column / row of cells with a neighbour; none on the outer edge.
  EXPECT_RGB(img.at(L.cell_x(0, 0) + 9, L.cell_y(0, 0) + 3), white);
  EXPECT_RGB(img.at(L.cell_x(0, 1) + 3, L.cell_y(0, 0) + 9), white);
  EXPECT_RGB(img.at(L.cell_x(0, 2) + 9, L.cell_y(0, 0) + 3), colormap_rgb(o.colormap, 0.5));
  EXPECT_RGB(img.at(L.cell_x(0, 0) + 3, L.cell_y(0, 1) + 9), colormap_rgb(o.colormap, 0.75));
  // Margins white; colour bar top = near vmax, bottom = near vmin (pixel-row centres, 20 rows).
  EXPECT_RGB(img.at(0, 0), white);
  EXPECT_RGB(img.at(L.bar_x - 1, 10), white);
  EXPECT_RGB(img.at(L.bar_x, L.margin), colormap_rgb(o.colormap, 1 - 0.5 / 20));
  EXPECT_RGB(img.at(L.bar_x + L.bar_w - 1, L.height - L.margin - 1), colormap_rgb(o.colormap, 0.5 / 20));

  // Without grid lines the last pixel column is the cell colour.
  o.grid = false;
  o.colorbar = false;
  write_heatmap_png(file("b.png"), w, o);
  const Image b = decode_png(file("b.png"));
  EXPECT_EQ(b.w, 5 + 30 + 5);
  EXPECT_RGB(b.at(L.cell_x(0, 0) + 9, L.cell_y(0, 0) + 3), colormap_rgb(o.colormap, 0.0));
}

TEST_F(HeatmapTest, PngRedsAndFixedRange) {
  HeatmapOptions o;
  o.colormap = Colormap::Reds;
  o.vmin = 0.0;
  o.vmax = 2.0;
  o.cell_size = 6;
  write_heatmap_png(file("r.png"), mat({0.5, 3}, 1, 2), o);
  const Image img = decode_png(file("r.png"));
  const PngLayout L = heatmap_png_layout(1, 1, 1, 2, o);
  EXPECT_RGB(img.at(L.cell_x(0, 0) + 2, L.cell_y(0, 0) + 2), colormap_rgb(Colormap::Reds, 0.25));
  EXPECT_RGB(img.at(L.cell_x(0, 1) + 2, L.cell_y(0, 0) + 2), (Rgb{0x67, 0x00, 0x0d}));  // 3 clamps to vmax
}

// --- grids ------------------------------------------------------------------------------------

TEST_F(HeatmapTest, GridSvgAndPng) {
  // Panel (r, c) is constant r * 3 + c except panel (0, 0), which spans [0, 5]: one shared scale.
  std::vector<double> v(2 * 3 * 2 * 2);
  for (int p = 0; p < 6; ++p)
    for (int k = 0; k < 4; ++k) v[size_t(p * 4 + k)] = p;
  v[3] = 5;
  const Tensor w = tensor(v, Shape{2, 3, 2, 2});
  HeatmapGridTitles t;
  t.row_titles = {"Layer 1", "Layer 2"};
  t.col_titles = {"Head 1", "Head 2", "Head 3"};
  t.panel_titles = {"p0", "p1", "p2", "p3", "p4", "p5 <last>"};
  HeatmapOptions o;
  o.title = "Self-attention";
  o.row_labels = {"q0", "q1"};
  o.col_labels = {"k0", "k1"};
  write_heatmap_grid_svg(file("g.svg"), w, t, o);
  const std::string s = read_all(file("g.svg"));
  EXPECT_EQ(count(s, "<rect class=\"cell"), 24u);
  EXPECT_EQ(count(s, "<g class=\"panel\">"), 6u);
  EXPECT_EQ(count(s, "class=\"colorbar\""), 1u);
  for (const char* want : {">Layer 2</text>", ">Head 3</text>", ">p5 &lt;last&gt;</text>", ">Self-attention</text>"})
    EXPECT_NE(s.find(want), std::string::npos) << want;
  // Row labels once per panel row (first column), column labels once per panel column (last row).
  EXPECT_EQ(count(s, ">q1</text>"), 2u);
  EXPECT_EQ(count(s, ">k1</text>"), 3u);
  EXPECT_EQ(xml_problem(s), "");
  const int rc = python_parse(file("g.svg"));
  if (rc != 127) {
    EXPECT_EQ(rc, 0) << "python3 xml.etree could not parse the SVG";
  }

  o.cell_size = 8;
  write_heatmap_grid_png(file("g.png"), w, o);
  const Image img = decode_png(file("g.png"));
  const PngLayout L = heatmap_png_layout(2, 3, 2, 2, o);
  EXPECT_EQ(img.w, L.width);
  EXPECT_EQ(img.h, L.height);
  EXPECT_EQ(L.width, 4 + 3 * 16 + 2 * 4 + 4 + 8 + 4);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) {
      const double t01 = double(r * 3 + c) / 5.0;
      EXPECT_RGB(img.at(L.cell_x(c, 1) + 3, L.cell_y(r, 0) + 3), colormap_rgb(o.colormap, t01)) << r << "," << c;
    }
  EXPECT_RGB(img.at(L.cell_x(0, 1) + 3, L.cell_y(0, 1) + 3), colormap_rgb(o.colormap, 1.0));
  // The gap between panels is white.
  EXPECT_RGB(img.at(L.cell_x(1, 0) - 2, L.cell_y(0, 0) + 3), (Rgb{255, 255, 255}));
}

// --- documentation images -----------------------------------------------------------------------

// Real attention weights for the docs: (1) a translation alignment, softmax over scores that favour
// the monotone diagonal; (2) 2 layers x 4 heads of causal self-attention on random queries / keys.
TEST_F(HeatmapTest, DocumentationImages) {
  const char* env = std::getenv("ATTN_DOC_IMG_DIR");
  const fs::path out = env && *env ? fs::path(env) : dir;

  const std::vector<std::string> src = {"I", "love", "deep", "learning", "<eos>"};
  const std::vector<std::string> tgt = {"我", "爱", "深度", "学习", "<eos>"};
  Generator gen(2024);
  const Tensor noise = randn({5, 5}, kFloat64, &gen);
  std::vector<double> scores(25);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) scores[size_t(i * 5 + j)] = -0.8 * (i - j) * (i - j) + 0.6 * noise[i][j].item();
  const Tensor align = softmax(tensor(scores, Shape{5, 5}), 1);  // [T=5, S=5], rows sum to 1
  HeatmapOptions o;
  o.title = "Encoder-decoder attention";
  o.row_labels = tgt;
  o.col_labels = src;
  o.cell_size = 36;
  o.vmin = 0.0;  // attention weights: anchor the scale at 0 so "no attention" is the darkest colour
  write_heatmap_svg((out / "alignment.svg").string(), align, o);
  write_heatmap_png((out / "alignment.png").string(), align, o);

  const int64_t T = 6, Dh = 8;
  const Tensor q = randn({2, 4, T, Dh}, kFloat64, &gen), k = randn({2, 4, T, Dh}, kFloat64, &gen);
  Tensor s = matmul(q, k.transpose(-2, -1)) / std::sqrt(double(Dh));  // [2, 4, T, T]
  std::vector<double> sv(size_t(s.numel()));
  const Tensor sc = s.contiguous();
  for (int64_t n = 0; n < s.numel(); ++n) {
    const int64_t i = (n / T) % T, j = n % T;
    sv[size_t(n)] = j > i ? -INFINITY : sc.data_ptr<double>()[n];  // causal mask
  }
  const Tensor heads = softmax(tensor(sv, Shape{2, 4, T, T}), -1);
  HeatmapGridTitles gt;
  gt.row_titles = {"Layer 1", "Layer 2"};
  gt.col_titles = {"Head 1", "Head 2", "Head 3", "Head 4"};
  HeatmapOptions go;
  go.title = "Causal self-attention";
  go.row_labels = go.col_labels = {"<bos>", "the", "cat", "sat", "down", "."};
  go.cell_size = 16;
  go.colormap = Colormap::Reds;
  write_heatmap_grid_svg((out / "heads.svg").string(), heads, gt, go);
  write_heatmap_grid_png((out / "heads.png").string(), heads, go);

  for (const char* f : {"alignment.svg", "alignment.png", "heads.svg", "heads.png"}) {
    ASSERT_TRUE(fs::exists(out / f)) << f;
    EXPECT_LT(fs::file_size(out / f), 50u * 1024) << f << " should stay small enough to commit";
  }
  EXPECT_EQ(xml_problem(read_all((out / "alignment.svg").string())), "");
  EXPECT_EQ(xml_problem(read_all((out / "heads.svg").string())), "");
}

}  // namespace
}  // namespace attn::viz
