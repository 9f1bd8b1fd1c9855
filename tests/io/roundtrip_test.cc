// attn <-> PyTorch safetensors round trip.
//
// 1. tests/fixtures/io/torch_written.safetensors was written by PyTorch
//    (`/usr/bin/python3 tools/torch_roundtrip.py make-fixture`): attn must read every tensor bit for
//    bit (NaN payloads, -0.0, subnormals, INT64_MIN included), and attn's serialisation of the
//    tensors it read must be byte-identical to PyTorch's file (same header JSON, same padding,
//    same data) — the stronger of the two guarantees one could ask for.
// 2. When a python3 with torch is available, attn writes the same tensors, the script loads them
//    into torch, checks them bit for bit against its own reference values, writes them back with
//    torch, and attn reads that back bit for bit. Skipped (not failed) without torch, so CI needs
//    no PyTorch.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "attn/io/safetensors.h"
#include "test_util.h"

namespace attn::io {
namespace {

namespace fs = std::filesystem;

// The reference set of tools/torch_roundtrip.py, built here without PyTorch.
std::vector<std::pair<std::string, Tensor>> reference_tensors() {
  using F = std::numeric_limits<float>;
  using D = std::numeric_limits<double>;
  using I = std::numeric_limits<int64_t>;
  std::vector<uint8_t> all_bytes(256);
  for (int i = 0; i < 256; ++i) all_bytes[size_t(i)] = uint8_t(i);
  return {
      {"weights.f32", tensor<float>({0.0f, -0.0f, 1.0f, -1.5f, 0.1f, F::denorm_min(), F::max(), F::infinity(),
                                     -F::infinity(), F::quiet_NaN(), F::min(), 123456.789f},
                                    {3, 4})},
      {"weights.f64", tensor<double>({0.0, -0.0, 0.1, -2.5e-308, D::denorm_min(), D::max(), D::infinity(), -D::infinity(),
                                      D::quiet_NaN(), M_PI},
                                     {2, 5})},
      {"ids.i64", tensor<int64_t>({I::min(), -1, 0, 1, I::max(), 1234567890123})},
      {"mask.bool", tensor<uint8_t>({1, 0, 0, 1, 1}).to(kBool)},
      {"bytes.u8", tensor<uint8_t>(all_bytes, {16, 16})},
      {"scalar", scalar_tensor(2.5, kFloat32)},
      {"empty", zeros({0, 3})},
      {"ramp", (arange(24, kFloat32) * 0.5).reshape({2, 3, 4})},
  };
}

::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = size_t(ca.numel()) * ca.itemsize();
  const auto* pa = static_cast<const unsigned char*>(ca.raw_data());
  const auto* pb = static_cast<const unsigned char*>(cb.raw_data());
  for (size_t i = 0; i < n; ++i)
    if (pa[i] != pb[i])
      return ::testing::AssertionFailure() << "byte " << i << " (element " << i / ca.itemsize() << ") differs: "
                                           << int(pa[i]) << " vs " << int(pb[i]);
  return ::testing::AssertionSuccess();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::string kFixture = std::string(ATTN_FIXTURES_DIR) + "/io/torch_written.safetensors";

TEST(TorchRoundTrip, ReadsPyTorchFileBitForBit) {
  const SafetensorsFile f = load_safetensors(kFixture);
  const auto ref = reference_tensors();
  ASSERT_EQ(f.tensors.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, ref[i].first) << "file order";
    EXPECT_TRUE(bit_equal(f.tensors[i].second, ref[i].second)) << ref[i].first;
  }
  EXPECT_NE(f.metadata.at("generator").find("torch_roundtrip.py"), std::string::npos);
}

TEST(TorchRoundTrip, WritesTheSameBytesAsPyTorch) {
  const SafetensorsFile f = load_safetensors(kFixture);
  const std::string torch_bytes = read_file(kFixture);
  // The reference values (not the ones just read) with the file's metadata.
  const std::string attn_bytes = serialize_safetensors(reference_tensors(), f.metadata);
  ASSERT_EQ(attn_bytes.size(), torch_bytes.size());
  EXPECT_TRUE(attn_bytes == torch_bytes) << "attn's serialisation differs from PyTorch's at byte "
                                         << std::mismatch(attn_bytes.begin(), attn_bytes.end(), torch_bytes.begin()).first -
                                                attn_bytes.begin();
}

// The interpreter to run tools/ with: $ATTN_PYTHON, else Debian's python3 (which has torch).
std::string python() {
  if (const char* p = std::getenv("ATTN_PYTHON")) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

TEST(TorchRoundTrip, PyTorchReadsAttnFileAndWritesItBack) {
  const std::string py = python();
  const fs::path dir = fs::temp_directory_path() / ("attn_roundtrip_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string attn_file = (dir / "attn.safetensors").string(), back = (dir / "back.safetensors").string();
  save_safetensors(attn_file, reference_tensors(), {{"writer", "attn"}});
  const std::string cmd = py + " " + ATTN_SOURCE_DIR + "/tools/torch_roundtrip.py check " + attn_file + " --write-back " +
                          back + " > " + (dir / "log.txt").string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::string log = read_file((dir / "log.txt").string());
  if (rc == 77 || rc == 127) {  // the script's "no torch", or the shell's "no such interpreter"
    fs::remove_all(dir);
    GTEST_SKIP() << py << " cannot run the PyTorch side of the round trip: " << log;
  }
  EXPECT_EQ(rc, 0) << cmd << "\n" << log;
  EXPECT_NE(log.find("byte-identical"), std::string::npos) << log;
  if (rc == 0) {
    const SafetensorsFile f = load_safetensors(back);
    const auto ref = reference_tensors();
    ASSERT_EQ(f.tensors.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(bit_equal(f.at(ref[i].first), ref[i].second)) << ref[i].first;
    EXPECT_EQ(f.metadata.at("writer"), "attn");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace attn::io
