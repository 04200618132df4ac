#include "data/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "graph/error.h"

namespace abbe::io {
namespace {

// strerror is not thread-safe; the generic category gives the same text.
std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// fsync needs a descriptor; a read-only one is enough on Linux, for files and directories alike.
void fsync_path(const std::string& p, bool directory, const std::string& target) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) {
    const int e = errno;
    ABBE_FAIL(target, ": cannot open ", directory ? "directory '" : "'", p, "' to sync it: ",
              errno_text(e));
  }
  int rc;
  do rc = ::fsync(fd);
  while (rc != 0 && errno == EINTR);
  const int e = errno;
  ::close(fd);
  // Some filesystems cannot sync directories (EINVAL); the rename is still atomic there.
  if (rc != 0 && !(directory && (e == EINVAL || e == ENOTSUP)))
    ABBE_FAIL(target, ": fsync of '", p, "' failed: ", errno_text(e));
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  namespace fs = std::filesystem;
  ABBE_CHECK(!path.empty(), "write_atomically: empty output path");
  const fs::path target(path);
  dir_ = target.parent_path().string();
  if (dir_.empty()) dir_ = ".";
  std::error_code ec;
  if (!fs::is_directory(dir_, ec))
    ABBE_FAIL(path, ": cannot write: directory '", dir_, "' does not exist");
  if (fs::is_directory(target, ec)) ABBE_FAIL(path, ": cannot write: it is a directory");
  static std::atomic<uint64_t> counter{0};
  tmp_ = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

AtomicFile::~AtomicFile() {
  if (!done_) ::unlink(tmp_.c_str());  // may not exist if nothing was written; that is fine
}

void AtomicFile::commit() {
  fsync_path(tmp_, false, path_);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ABBE_FAIL(path_, ": cannot rename temporary file '", tmp_, "' over it: ", errno_text(e));
  }
  done_ = true;
  // Makes the rename itself durable: without it a crash can bring back the old directory entry.
  fsync_path(dir_, true, path_);
}

void write_atomically(const std::string& path,
                      const std::function<void(const std::string& tmp)>& write) {
  AtomicFile file(path);
  write(file.tmp());
  file.commit();
}

}  // namespace abbe::io
