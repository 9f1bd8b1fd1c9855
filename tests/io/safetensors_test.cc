// safetensors: round trips, and one test per way a file can be bad, each built byte by byte here.
// Every bad file must raise attn::Error naming the file and the problem (never crash, never
// return garbage); tests/fuzz/fuzz_safetensors.cc explores the space beyond these cases.
#include "attn/io/safetensors.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <unistd.h>

#include "test_util.h"

namespace attn::io {
namespace {

namespace fs = std::filesystem;
using testing::all_equal;

// 8-byte little-endian length + header + data.
std::string make_file(const std::string& header, const std::string& data = "", uint64_t length = UINT64_MAX) {
  const uint64_t n = length == UINT64_MAX ? header.size() : length;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// Expects parse_safetensors to throw attn::Error whose message names the file and contains `what`.
void expect_bad(const std::string& bytes, const std::string& what) {
  SCOPED_TRACE(what);
  try {
    parse_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error for a file that should be refused (" << what << ")";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
  }
}

// A unique scratch directory, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("attn_io_test_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), size_t(ca.numel()) * ca.itemsize()) == 0;
}

const std::string kF32x2 = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(Safetensors, RoundTripAllDtypesInGivenOrder) {
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"z_first", tensor({1.5f, -0.0f, NAN, INFINITY}, {2, 2})},
      {"b64", tensor<double>({std::numeric_limits<double>::denorm_min(), -1e300}, {2})},
      {"ids", tensor<int64_t>({std::numeric_limits<int64_t>::min(), 7})},
      {"mask", tensor<uint8_t>({1, 0, 1}).to(kBool)},
      {"raw", tensor<uint8_t>({0, 255, 128})},
      {"scalar", scalar_tensor(3.0, kFloat64)},
      {"empty", zeros({0, 4})},
      {"strided", arange(12, kFloat32).reshape({3, 4}).t()},  // non-contiguous input
  };
  const std::map<std::string, std::string> meta = {{"note", "caf\xC3\xA9 \xE2\x9C\x93"}, {"step", "12"}};
  const std::string bytes = serialize_safetensors(ts, meta);
  const SafetensorsFile f = parse_safetensors(bytes);
  ASSERT_EQ(f.tensors.size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, ts[i].first) << "file order must be the order given";
    EXPECT_TRUE(same_bytes(f.tensors[i].second, ts[i].second)) << ts[i].first;
  }
  EXPECT_EQ(f.metadata, meta);
  // The data section starts 8-byte aligned (header padded with spaces).
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  // Serialising what was read gives the same bytes.
  EXPECT_EQ(serialize_safetensors(f.tensors, f.metadata), bytes);
}

TEST(Safetensors, EmptyFileWithNoTensorsIsValid) {
  const SafetensorsFile f = parse_safetensors(serialize_safetensors({}));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(parse_safetensors(make_file("{}")).tensors.empty());
  EXPECT_TRUE(parse_safetensors(make_file("{}      ")).tensors.empty());  // trailing padding is allowed
}

TEST(Safetensors, AtListsTheNames) {
  const SafetensorsFile f = parse_safetensors(make_file(kF32x2, std::string(8, '\0')));
  try {
    f.at("b");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("have: a"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsTruncatedAndOversizedHeaders) {
  expect_bad("abc", "too short");
  expect_bad(make_file(kF32x2, std::string(8, '\0'), 1000), "runs past the end of the file");
  expect_bad(make_file(kF32x2, std::string(8, '\0'), uint64_t(200) << 20), "exceeds the format's limit of 100 MB");
  expect_bad(make_file(kF32x2, std::string(8, '\0'), UINT64_MAX - 1), "exceeds");
  // A header length that cuts the JSON short.
  expect_bad(make_file(kF32x2, std::string(8, '\0'), 10), "not valid JSON");
}

TEST(Safetensors, RejectsNonUtf8Headers) {
  expect_bad(make_file("{\"a\xFF\":1}"), "not valid UTF-8");
  expect_bad(make_file("{\"\xC0\xAF\":1}"), "not valid UTF-8");      // overlong '/'
  expect_bad(make_file("{\"\xED\xA0\x80\":1}"), "not valid UTF-8");  // a UTF-16 surrogate
  expect_bad(make_file("{\"\xF4\x90\x80\x80\":1}"), "not valid UTF-8");  // above U+10FFFF
  expect_bad(make_file("{\"\xE2\x9C\":1}"), "not valid UTF-8");      // truncated sequence
  // Valid multi-byte names are fine.
  const std::string ok = "{\"caf\xC3\xA9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
  EXPECT_EQ(parse_safetensors(make_file(ok, "x")).tensors[0].first, "caf\xC3\xA9");
}

TEST(Safetensors, RejectsInvalidJson) {
  expect_bad(make_file("{\"a\": "), "not valid JSON");
  expect_bad(make_file("{\"a\": {\"dtype\": \"F32\",}}"), "not valid JSON");
  expect_bad(make_file("[1, 2]"), "does not start with '{'");
  expect_bad(make_file(" {}"), "does not start with '{'");
  expect_bad(make_file(""), "does not start with '{'");
  expect_bad(make_file("{} x"), "not valid JSON");
  expect_bad(make_file("{\"a\":5}"), "entry must be an object");
}

TEST(Safetensors, RejectsDeepNesting) {
  expect_bad(make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[[2]],\"data_offsets\":[0,8]}}", std::string(8, '\0')),
             "nests arrays deeper");
  expect_bad(make_file("{\"a\":{\"b\":{\"c\":1}}}"), "nests objects deeper");
  // Deep enough to overflow a recursive parser's stack, refused at depth 3.
  expect_bad(make_file("{\"a\":{\"shape\":" + std::string(100000, '[') + std::string(100000, ']') + "}}"), "nests arrays");
}

TEST(Safetensors, RejectsDuplicateKeys) {
  const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  expect_bad(make_file("{\"a\":" + e + ",\"a\":" + e + "}", "xx"), "duplicate key \"a\"");
  expect_bad(make_file(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"), "duplicate key \"dtype\"");
  expect_bad(make_file(R"({"__metadata__":{"k":"1","k":"2"}})"), "duplicate key \"k\"");
}

TEST(Safetensors, RejectsBadEntries) {
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2]}})"), "needs dtype, shape and data_offsets");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", std::string(8, '\0')),
             "unexpected field 'x'");
  expect_bad(make_file(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')),
             "unsupported dtype 'F16'");
  expect_bad(make_file(R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')), "dtype is not a string");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", std::string(8, '\0')), "shape is not an array");
  expect_bad(make_file(R"({"__metadata__":[1]})"), "__metadata__ must be an object");
  expect_bad(make_file(R"({"__metadata__":{"k":1}})"), "is not a string");
}

TEST(Safetensors, RejectsBadShapes) {
  const std::string d8(8, '\0');
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8), "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8), "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", d8), "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", d8), "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[true],"data_offsets":[0,8]}})", d8), "non-negative integer");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,8]}})", d8), "non-negative integer");
  // Products that overflow 64 bits (or would make int64 strides overflow), with and without a 0 dim.
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8), "overflows");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", d8), "overflows");
  expect_bad(make_file(R"({"a":{"dtype":"U8","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})"), "overflows");
  // numel fits but numel * itemsize does not.
  expect_bad(make_file(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", d8), "needs");
  // Shape and byte range disagree.
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8), "needs 3 x 4 bytes");
  expect_bad(make_file(R"({"a":{"dtype":"F64","shape":[],"data_offsets":[0,4]}})", std::string(4, '\0')), "needs 1 x 8 bytes");
  // A 0-size tensor with a huge non-zero dim is fine when the product is 0 and strides fit.
  const auto f = parse_safetensors(make_file(R"({"a":{"dtype":"F32","shape":[0,1000000000000],"data_offsets":[0,0]}})"));
  EXPECT_EQ(f.at("a").shape(), (Shape{0, 1000000000000}));
}

TEST(Safetensors, RejectsBadOffsets) {
  const std::string d8(8, '\0');
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8), "out of range");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", d8), "out of range");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d8), "data_offsets must be two");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8), "data_offsets must be two");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}})", d8), "data_offsets must be two");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8), "data_offsets must be two");
  // Overlap, hole, and bytes after the last tensor: the tensors must tile the data section.
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       std::string(12, '\0')),
             "overlap");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                       d8),
             "overlap");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                       std::string(12, '\0')),
             "belong to no tensor");
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8), "belong to no tensor");
  expect_bad(make_file(kF32x2, std::string(9, '\0')), "trailing bytes");
  expect_bad(make_file("{}", "x"), "trailing bytes");
  // A zero-size tensor inside another's bytes overlaps it.
  expect_bad(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                       d8),
             "overlap");
}

TEST(Safetensors, RejectsBoolBytesOtherThanZeroOrOne) {
  expect_bad(make_file(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x00\x02", 3)),
             "BOOL byte 2 at element 2");
}

TEST(Safetensors, LoadFromDisk) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  save_safetensors(path, {{"w", arange(6, kFloat32)}}, {{"k", "v"}});
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_TRUE(all_equal(f.at("w"), arange(6, kFloat32)));
  EXPECT_EQ(f.metadata.at("k"), "v");

  auto expect_load_error = [](const std::string& p, const std::string& what) {
    try {
      load_safetensors(p);
      ADD_FAILURE() << "no error for " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_load_error(dir.file("missing.safetensors"), "No such file");
  expect_load_error(dir.path.string(), "not a regular file");
  // A file cut short after writing: its header promises more data than there is.
  const std::string bytes = serialize_safetensors({{"w", arange(6, kFloat32)}});
  std::ofstream(dir.file("cut.safetensors"), std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() - 4));
  expect_load_error(dir.file("cut.safetensors"), "out of range");
  std::ofstream(dir.file("tiny.safetensors"), std::ios::binary).write("abc", 3);
  expect_load_error(dir.file("tiny.safetensors"), "too short");
}

TEST(Safetensors, SaveIsAtomic) {
  TempDir dir;
  // Into a directory that does not exist: an error naming the path, and no file anywhere.
  const std::string nowhere = dir.file("no/such/dir/t.safetensors");
  try {
    save_safetensors(nowhere, {{"w", ones({2})}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(nowhere), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(nowhere));
  // Onto an existing directory: the rename fails, the temporary file is removed, the directory is
  // left alone.
  fs::create_directory(dir.file("occupied"));
  EXPECT_THROW(save_safetensors(dir.file("occupied"), {{"w", ones({2})}}), Error);
  EXPECT_TRUE(fs::is_directory(dir.file("occupied")));
  // Overwriting replaces the old file as a whole.
  const std::string path = dir.file("t.safetensors");
  save_safetensors(path, {{"w", ones({1000})}});
  save_safetensors(path, {{"v", zeros({2})}});
  EXPECT_FALSE(load_safetensors(path).contains("w"));
  EXPECT_TRUE(load_safetensors(path).contains("v"));
  // Invalid input is refused before anything touches the disk.
  EXPECT_THROW(save_safetensors(dir.file("dup.safetensors"), {{"a", ones({1})}, {"a", ones({1})}}), Error);
  EXPECT_FALSE(fs::exists(dir.file("dup.safetensors")));
  // No temporary files are left behind by any of the above.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"occupied", "t.safetensors"}));
}

TEST(Safetensors, SerializeRefusesBadInput) {
  auto msg = [](const std::vector<std::pair<std::string, Tensor>>& ts, const std::map<std::string, std::string>& m = {}) {
    try {
      serialize_safetensors(ts, m);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_NE(msg({{"a", ones({1})}, {"a", ones({1})}}).find("duplicate tensor name 'a'"), std::string::npos);
  EXPECT_NE(msg({{"__metadata__", ones({1})}}).find("reserved"), std::string::npos);
  EXPECT_NE(msg({{"u", Tensor()}}).find("'u' is undefined"), std::string::npos);
  EXPECT_NE(msg({{"bad\xFF", ones({1})}}).find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(msg({}, {{"k", "\xC0"}}).find("not valid UTF-8"), std::string::npos);
}

TEST(Safetensors, FuzzSeedCorpusStaysValid) {
  // tests/fuzz/corpus seeds the fuzzer with valid files; an invalid seed would silently weaken it.
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(ATTN_SOURCE_DIR) + "/tests/fuzz/corpus")) {
    const SafetensorsFile f = load_safetensors(e.path().string());
    EXPECT_EQ(parse_safetensors(serialize_safetensors(f.tensors, f.metadata)).tensors.size(), f.tensors.size());
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace attn::io
