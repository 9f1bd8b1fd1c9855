// load_digits (src/data/digits.cc) on the real data/digits.csv.gz and on broken copies of it.
#include "attn/data/digits.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_util.h"

namespace attn {
namespace {

using attn::testing::expect_error;

const std::string kDigits = std::string(ATTN_SOURCE_DIR) + "/data/digits.csv.gz";

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A scratch file under the system temp dir, removed at the end of the test.
struct TempFile {
  explicit TempFile(const std::string& name, const std::string& bytes)
      : path((std::filesystem::temp_directory_path() / ("attn_digits_" + name)).string()) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() { std::filesystem::remove(path); }
  std::string path;
};

std::string gzip(const std::string& text, const std::string& path) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), unsigned(text.size()));
  gzclose(f);
  return read_bytes(path);
}

std::string row(int first_pixel, int label, int n_pixels = 64) {
  std::string s = std::to_string(first_pixel);
  for (int i = 1; i < n_pixels; ++i) s += ",0";
  return s + "," + std::to_string(label) + "\n";
}

TEST(Digits, RealFileRowCountAndLabelHistogram) {
  data::Digits d = data::load_digits(kDigits);
  // digits.rst: "Number of Instances: 1797", "8x8 image of integer pixels in the range 0..16".
  ASSERT_EQ(d.images.shape(), (Shape{1797, 1, 8, 8}));
  ASSERT_EQ(d.labels.shape(), (Shape{1797}));
  EXPECT_EQ(d.images.dtype(), kFloat32);
  EXPECT_EQ(d.labels.dtype(), kInt64);
  // Class sizes of the file (sklearn's load_digits gives the same bincount).
  const std::vector<int64_t> expected = {178, 182, 177, 183, 181, 182, 181, 179, 174, 180};
  std::vector<int64_t> hist(10, 0);
  const int64_t* y = d.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < 1797; ++i) {
    ASSERT_TRUE(y[i] >= 0 && y[i] < 10) << "row " << i;
    ++hist[size_t(y[i])];
  }
  EXPECT_EQ(hist, expected);
  // Pixels scaled to [0, 1] and reaching both ends; the first row as in the file
  // ("0,0,5,13,9,1,0,0,...", label 0).
  const float* x = d.images.data_ptr<float>();
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < d.images.numel(); ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  EXPECT_EQ(lo, 0.f);
  EXPECT_EQ(hi, 1.f);
  EXPECT_EQ(x[2], 5.f / 16.f);
  EXPECT_EQ(x[3], 13.f / 16.f);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 1);
}

TEST(Digits, MissingFile) {
  expect_error([] { data::load_digits("/nonexistent/digits.csv.gz"); }, {"not found", "/nonexistent/digits.csv.gz"});
}

TEST(Digits, TruncatedGzip) {
  const std::string bytes = read_bytes(kDigits);
  ASSERT_GT(bytes.size(), 1000u);
  TempFile f("truncated.csv.gz", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { data::load_digits(f.path); }, {"truncated or corrupt", f.path});
}

TEST(Digits, CorruptGzip) {
  std::string bytes = read_bytes(kDigits);
  for (size_t i = 200; i < 260; ++i) bytes[i] = char(bytes[i] ^ 0x5a);  // scramble the deflate stream
  TempFile f("corrupt.csv.gz", bytes);
  expect_error([&] { data::load_digits(f.path); }, {"truncated or corrupt", f.path});
}

TEST(Digits, MalformedRowsNameFileAndLine) {
  TempFile scratch("scratch.gz", "");
  // Too few fields on line 2 (gzip-compressed).
  TempFile few("few.csv.gz", gzip(row(1, 3) + row(0, 4, 63), scratch.path));
  expect_error([&] { data::load_digits(few.path); }, {few.path + ":2:", "expected 65", "got 64"});
  // Too many fields, a non-integer, a pixel and a label out of range (plain text is read too).
  TempFile many("many.csv", row(1, 3) + row(2, 5) + row(0, 4, 65));
  expect_error([&] { data::load_digits(many.path); }, {many.path + ":3:", "got more"});
  TempFile word("word.csv", "0,x" + row(0, 1).substr(1));
  expect_error([&] { data::load_digits(word.path); }, {word.path + ":1:", "not an integer"});
  TempFile pixel("pixel.csv", row(17, 1));
  expect_error([&] { data::load_digits(pixel.path); }, {pixel.path + ":1:", "outside 0..16"});
  TempFile label("label.csv", row(0, 1) + row(0, 10));
  expect_error([&] { data::load_digits(label.path); }, {label.path + ":2:", "label 10"});
  TempFile empty("empty.csv", "");
  expect_error([&] { data::load_digits(empty.path); }, {"no rows"});
  // A good two-row file loads: the first pixel of row 2 is 16/16.
  TempFile good("good.csv", row(3, 7) + row(16, 2));
  data::Digits d = data::load_digits(good.path);
  ASSERT_EQ(d.images.shape(), (Shape{2, 1, 8, 8}));
  EXPECT_EQ(d.images.data_ptr<float>()[64], 1.f);
  EXPECT_EQ(d.labels.data_ptr<int64_t>()[0], 7);
  EXPECT_EQ(d.labels.data_ptr<int64_t>()[1], 2);
}

}  // namespace
}  // namespace attn
