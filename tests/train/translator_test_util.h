// Shared by the translation-training tests (translator_test.cc, transformer_translator_test.cc,
// checkpoint_test.cc): per-process scratch directories, the 40-pair English -> French fixture and
// its first pairs, whole-file reads and writes, and bit-for-bit comparisons of state dicts and checkpoints.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "attn/data/tatoeba.h"
#include "attn/train/checkpoint.h"
#include "test_util.h"

namespace attn::testing {

// tests/fixtures/train/tiny.tsv: 40 English -> French pairs.
inline const std::string kTinyTsv = std::string(ATTN_FIXTURES_DIR) + "/train/tiny.tsv";

// Scratch directories under <tmp>/<prefix><pid>, one root per test file and process (so parallel
// test processes never share one), all removed when the test program ends.
class ScratchDirs {
 public:
  explicit ScratchDirs(const std::string& prefix)
      : root_(std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()))) {
    ::testing::AddGlobalTestEnvironment(new RemoveRoot(root_));
  }

  // A path `name` below the root that does not exist yet; its parent does.
  std::filesystem::path operator()(const std::string& name) const {
    const std::filesystem::path p = root_ / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p.parent_path());
    return p;
  }

 private:
  class RemoveRoot : public ::testing::Environment {
   public:
    explicit RemoveRoot(std::filesystem::path root) : root_(std::move(root)) {}
    void TearDown() override { std::filesystem::remove_all(root_); }

   private:
    std::filesystem::path root_;
  };

  std::filesystem::path root_;
};

// Writes the first n pairs of the tiny fixture, as they are (no normalisation), to `tsv`.
inline void write_first_pairs(const std::filesystem::path& tsv, int64_t n) {
  data::ReadOptions ro;
  ro.max_pairs = n;
  ro.normalize = data::Normalization::kNone;
  data::write_tatoeba(tsv.string(), data::read_tatoeba(kTinyTsv, ro).pairs);
}

// The (source, target) pairs of a TSV file, as they are.
inline std::vector<std::pair<std::string, std::string>> read_pairs(const std::filesystem::path& tsv) {
  data::ReadOptions ro;
  ro.normalize = data::Normalization::kNone;
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& p : data::read_tatoeba(tsv.string(), ro).pairs) pairs.emplace_back(p.src, p.tgt);
  return pairs;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

inline void expect_same_state(const io::StateDict& a, const io::StateDict& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first) << what;
    EXPECT_TRUE(all_equal(a[i].second, b[i].second)) << what << ": " << a[i].first;
  }
}

// The "last" checkpoints under two checkpoint directories hold the same weights and trainer
// state, bit for bit.
inline void expect_same_checkpoints(const std::filesystem::path& a, const std::filesystem::path& b) {
  const train::Checkpoint ca = train::load_checkpoint((a / "last").string(), true);
  const train::Checkpoint cb = train::load_checkpoint((b / "last").string(), true);
  expect_same_state(ca.model, cb.model, "model");
  expect_same_state(ca.trainer->optimizer, cb.trainer->optimizer, "optimizer");
  expect_same_state(ca.trainer->scheduler, cb.trainer->scheduler, "scheduler");
  EXPECT_EQ(ca.trainer->global_step, cb.trainer->global_step);
  EXPECT_EQ(ca.trainer->rng_offset, cb.trainer->rng_offset);
  EXPECT_EQ(ca.trainer->epoch, cb.trainer->epoch);
}

}  // namespace attn::testing
