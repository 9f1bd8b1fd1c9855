#include "attn/core/file.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("attn_file_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Names in the directory, so a test can check no temporary file or directory is left behind.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

TEST_F(FileTest, AtomicWriteRoundTripsAndReplaces) {
  const std::string p = path("a.bin");
  const std::string bytes("first\0with a NUL byte", 21);
  write_file_atomic(p, bytes);
  EXPECT_EQ(read_file(p), bytes);
  write_file_atomic(p, std::string_view("second"));
  EXPECT_EQ(read_file(p), "second");
  write_file_atomic(p, std::string_view(""));
  EXPECT_EQ(read_file(p), "");
  EXPECT_EQ(entries(), std::vector<std::string>{"a.bin"});  // no temporary file left
}

TEST_F(FileTest, AtomicWriteOfPartsConcatenates) {
  const std::string p = path("parts.bin");
  write_file_atomic(p, std::vector<std::string_view>{"ab", "", "cde", "f"});
  EXPECT_EQ(read_file(p), "abcdef");
}

TEST_F(FileTest, FailedAtomicWriteLeavesTheOldFileAndNoTemporary) {
  // Renaming a file over a non-empty directory fails after the data was written.
  const std::string target = path("taken");
  fs::create_directories(fs::path(target) / "inside");
  testing::expect_error([&] { write_file_atomic(target, std::string_view("x")); },
                        {target, "nothing was written"});
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(entries(), std::vector<std::string>{"taken"});
  // A missing parent directory: the temporary file cannot even be created.
  const std::string nowhere = path("missing/dir/x.bin");
  testing::expect_error([&] { write_file_atomic(nowhere, std::string_view("x")); }, {nowhere, "temporary file"});
}

TEST_F(FileTest, SyncedWriteTruncates) {
  const std::string p = path("s.txt");
  write_file_synced(p, "a longer first version");
  write_file_synced(p, "short");
  EXPECT_EQ(read_file(p), "short");
  testing::expect_error([&] { write_file_synced(path("no/such/dir.txt"), "x"); }, {"no/such/dir.txt", "cannot create"});
}

TEST_F(FileTest, ReadFileErrorsNameTheFileAndWhat) {
  const std::string missing = path("missing.json");
  testing::expect_error([&] { read_file(missing, "the model's config"); },
                        {"missing file", missing, "the model's config"});
  testing::expect_error([&] { read_file(dir_.string()); }, {dir_.string(), "is a directory"});
}

TEST_F(FileTest, PublishDirectoryReplacesTheOldOneCompletely) {
  const std::string dir = path("ckpt");
  // First publication: no old directory.
  fs::create_directories(path("tmp1"));
  write_file_synced(path("tmp1/a.txt"), "one");
  write_file_synced(path("tmp1/only_in_old.txt"), "old");
  publish_directory(path("tmp1"), dir);
  EXPECT_EQ(read_file(path("ckpt/a.txt")), "one");
  // Second: the new directory replaces the old one as a whole (files absent from it are gone).
  fs::create_directories(path("tmp2"));
  write_file_synced(path("tmp2/a.txt"), "two");
  publish_directory(path("tmp2"), dir);
  EXPECT_EQ(read_file(path("ckpt/a.txt")), "two");
  EXPECT_FALSE(fs::exists(path("ckpt/only_in_old.txt")));
  EXPECT_EQ(entries(), std::vector<std::string>{"ckpt"});  // neither tmp nor an old copy is left
  // A temporary directory that does not exist: an error, the published one untouched.
  testing::expect_error([&] { publish_directory(path("tmp3"), dir); }, {"tmp3", "nothing was written"});
  EXPECT_EQ(read_file(path("ckpt/a.txt")), "two");
}

}  // namespace
}  // namespace attn
