// Loader of the 8x8 digits CSV (include/attn/data/digits.h).
#include "attn/data/digits.h"

#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "attn/core/error.h"

namespace attn::data {
namespace {

constexpr int kPixels = 64;        // 8 x 8
constexpr int kMaxCount = 16;      // each pixel counts on-bits in a 4x4 block: 0..16
constexpr int kClasses = 10;

// The whole decompressed file. gzread also reads plain (uncompressed) files unchanged.
std::string read_gz(const std::string& path) {
  std::error_code ec;
  ATTN_CHECK(std::filesystem::exists(path, ec), "load_digits: file not found: '", path, "'");
  gzFile f = gzopen(path.c_str(), "rb");
  ATTN_CHECK(f != nullptr, "load_digits: cannot open '", path, "': ", std::strerror(errno));
  std::string out;
  char buf[1 << 15];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n > 0) out.append(buf, size_t(n));
    if (n < int(sizeof buf)) {
      int err = Z_OK;
      const char* msg = gzerror(f, &err);
      // A truncated stream reads as a short final chunk with Z_BUF_ERROR ("unexpected end of
      // file"); corrupt data as Z_DATA_ERROR. Either way the rows would be incomplete.
      if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
        const std::string m = msg ? msg : "unknown zlib error";
        gzclose(f);
        ATTN_FAIL("load_digits: '", path, "' is truncated or corrupt (zlib: ", m, ")");
      }
      if (n == 0) break;
    }
  }
  gzclose(f);
  return out;
}

}  // namespace

Digits load_digits(const std::string& path) {
  const std::string text = read_gz(path);
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  std::string_view rest(text);
  int64_t line_no = 0;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ATTN_CHECK(!line.empty(), "load_digits: ", path, ":", line_no, ": empty line");
    int field = 0;
    const char* p = line.data();
    const char* end = line.data() + line.size();
    for (;; ++field) {
      int v = 0;
      auto [next, ec] = std::from_chars(p, end, v);
      ATTN_CHECK(ec == std::errc() && next != p, "load_digits: ", path, ":", line_no, ": field ", field + 1,
                 " is not an integer");
      ATTN_CHECK(field <= kPixels, "load_digits: ", path, ":", line_no, ": expected ", kPixels + 1,
                 " comma-separated integers, got more");
      if (field < kPixels) {
        ATTN_CHECK(v >= 0 && v <= kMaxCount, "load_digits: ", path, ":", line_no, ": pixel ", field + 1, " = ", v,
                   " is outside 0..", kMaxCount);
        pixels.push_back(float(v) / float(kMaxCount));
      } else {
        ATTN_CHECK(v >= 0 && v < kClasses, "load_digits: ", path, ":", line_no, ": label ", v, " is outside 0..",
                   kClasses - 1);
        labels.push_back(v);
      }
      p = next;
      if (p == end) break;
      ATTN_CHECK(*p == ',', "load_digits: ", path, ":", line_no, ": unexpected character '", *p, "' after field ",
                 field + 1);
      ++p;
    }
    ATTN_CHECK(field == kPixels, "load_digits: ", path, ":", line_no, ": expected ", kPixels + 1,
               " comma-separated integers, got ", field + 1);
  }
  const auto n = int64_t(labels.size());
  ATTN_CHECK(n > 0, "load_digits: '", path, "' holds no rows");
  Digits d;
  d.images = tensor(pixels, {n, 1, 8, 8});
  d.labels = tensor(labels, {n});
  return d;
}

}  // namespace attn::data
