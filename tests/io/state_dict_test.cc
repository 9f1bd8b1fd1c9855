// save_state_dict / load_state_dict: format version, check_finite, Module overloads.
#include "attn/io/state_dict.h"

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "attn/io/safetensors.h"
#include "attn/nn/linear.h"
#include "test_util.h"

namespace attn::io {
namespace {

namespace fs = std::filesystem;
using testing::all_equal;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("attn_sd_test_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(StateDict, RoundTripWithVersionAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const StateDict sd = {{"encoder.weight", arange(6, kFloat32).reshape({2, 3})}, {"steps", arange(3)}};
  save_state_dict(path, sd, {{"epoch", "4"}});
  std::map<std::string, std::string> meta;
  const StateDict back = load_state_dict(path, /*check_finite=*/true, &meta);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "encoder.weight");
  EXPECT_TRUE(all_equal(back[0].second, sd[0].second));
  EXPECT_TRUE(all_equal(back[1].second, sd[1].second));
  EXPECT_EQ(meta.at("attn_format"), "1");
  EXPECT_EQ(meta.at("epoch"), "4");
  EXPECT_NE(error_of([&] { save_state_dict(path, sd, {{"attn_format", "7"}}); }).find("reserved"), std::string::npos);
}

TEST(StateDict, RefusesNewerFormatVersions) {
  TempDir dir;
  const std::string path = dir.file("future.safetensors");
  save_safetensors(path, {{"w", ones({2})}}, {{"attn_format", "2"}});
  const std::string m = error_of([&] { load_state_dict(path); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("attn_format 2"), std::string::npos) << m;
  EXPECT_NE(m.find("reads up to version 1"), std::string::npos) << m;
  EXPECT_NE(m.find("upgrade attn"), std::string::npos) << m;
  save_safetensors(path, {{"w", ones({2})}}, {{"attn_format", "one"}});
  EXPECT_NE(error_of([&] { load_state_dict(path); }).find("expected a positive integer"), std::string::npos);
  // A safetensors file from elsewhere (no attn_format) is accepted.
  save_safetensors(path, {{"w", ones({2})}}, {{"format", "pt"}});
  EXPECT_EQ(load_state_dict(path).size(), 1u);
}

TEST(StateDict, CheckFiniteIsOptIn) {
  TempDir dir;
  const std::string path = dir.file("nan.safetensors");
  save_state_dict(path, {{"ok", ones({3})}, {"ids", arange(4)}, {"layer.bias", tensor<double>({0.0, 1.0, -INFINITY})}});
  // Default: loaded as PyTorch would.
  const StateDict sd = load_state_dict(path);
  EXPECT_TRUE(std::isinf(to_double_vector(sd[2].second)[2]));
  const std::string m = error_of([&] { load_state_dict(path, /*check_finite=*/true); });
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("'layer.bias'"), std::string::npos) << m;
  EXPECT_NE(m.find("-inf at flat index 2"), std::string::npos) << m;
  EXPECT_NE(error_of([] { check_finite({{"x", tensor({1.f, NAN})}}, "mem"); }).find("nan at flat index 1"), std::string::npos);
  // Non-contiguous views are checked in logical order.
  Tensor t = tensor({1.f, 2.f, NAN, 4.f}, {2, 2}).t();
  EXPECT_NE(error_of([&] { check_finite({{"t", t}}, "mem"); }).find("flat index 1"), std::string::npos);
}

TEST(StateDict, ModuleOverloads) {
  TempDir dir;
  const std::string path = dir.file("linear.safetensors");
  nn::Linear a(4, 3), b(4, 3);
  save_state_dict(path, a);
  const auto result = load_state_dict(path, b);
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(all_equal(b.weight, a.weight));
  EXPECT_TRUE(all_equal(b.bias, a.bias));
  // strict: a checkpoint of a different model is refused by key.
  nn::Linear no_bias(4, 3, /*bias=*/false);
  save_state_dict(path, no_bias);
  EXPECT_THROW(load_state_dict(path, b), Error);
  EXPECT_EQ(load_state_dict(path, b, /*strict=*/false).missing_keys, (std::vector<std::string>{"bias"}));
}

}  // namespace
}  // namespace attn::io
