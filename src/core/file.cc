// Crash-safe file writing (include/attn/core/file.h).
#include "attn/core/file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attn/core/error.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

std::string errno_text() { return std::strerror(errno); }

bool write_fully(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t k = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += size_t(k);
  }
  return true;
}

std::string parent_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

}  // namespace

std::string read_file(const std::string& path, const std::string& what) {
  const std::string named = what.empty() ? "'" + path + "'" : "'" + path + "' (" + what + ")";
  std::error_code ec;
  ATTN_CHECK(fs::exists(path, ec), "missing file ", named);
  ATTN_CHECK(!fs::is_directory(path, ec), "cannot read ", named, ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in, "cannot open ", named, ": ", errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  ATTN_CHECK(!in.bad(), "cannot read ", named);
  return ss.str();
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts) {
  // A unique temporary name beside the target (same file system, so the rename is atomic).
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  ATTN_CHECK(fd >= 0, "cannot write '", path, "': creating the temporary file '", tmp, "' failed: ", errno_text());
  auto fail = [&](const char* step) {
    const std::string reason = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    ATTN_FAIL("writing '", path, "' failed: ", step, ": ", reason, " (nothing was written)");
  };
  for (std::string_view part : parts)
    if (!write_fully(fd, part)) fail("write");
  // Data on disk before the rename makes it visible: a crash leaves the old file or the new one.
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    ATTN_FAIL("writing '", path, "' failed: close: ", reason, " (nothing was written)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    ATTN_FAIL("cannot rename '", tmp, "' to '", path, "': ", reason, " (nothing was written)");
  }
  fsync_directory(parent_of(path));
}

void write_file_synced(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ATTN_CHECK(fd >= 0, "cannot create '", path, "': ", errno_text());
  const bool ok = write_fully(fd, bytes) && ::fsync(fd) == 0;
  const std::string reason = errno_text();
  ::close(fd);
  ATTN_CHECK(ok, "cannot write '", path, "': ", reason);
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void publish_directory(const std::string& tmp, const std::string& dir) {
  const std::string parent = parent_of(dir);
  std::error_code ec;
  if (fs::exists(dir)) {
#ifdef RENAME_EXCHANGE
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_directory(parent);
      fs::remove_all(tmp, ec);  // now holds the old directory
      return;
    }
#endif
    const std::string old = dir + ".old-" + std::to_string(::getpid());
    fs::remove_all(old, ec);
    fs::rename(dir, old, ec);
    if (ec) {
      std::error_code ec2;
      fs::remove_all(tmp, ec2);
      ATTN_FAIL("cannot move the old '", dir, "' aside: ", ec.message(), " (nothing was written)");
    }
    fs::rename(tmp, dir, ec);
    if (ec) {
      std::error_code ec2;
      fs::rename(old, dir, ec2);
      fs::remove_all(tmp, ec2);
      ATTN_FAIL("cannot rename '", tmp, "' to '", dir, "': ", ec.message(), " (nothing was written)");
    }
    fsync_directory(parent);
    fs::remove_all(old, ec);
    return;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove_all(tmp, ec2);
    ATTN_FAIL("cannot rename '", tmp, "' to '", dir, "': ", ec.message(), " (nothing was written)");
  }
  fsync_directory(parent);
}

}  // namespace attn
