#pragma once
// Atomic file output: bytes go to "<path>.tmp-<pid>-<n>" in the same directory, are fsync'ed,
// then renamed over <path>. On any error the temp file is removed and nothing at <path> changes.
#include <functional>
#include <string>

namespace abbe::io {

// Calls write(tmp_path) to produce the file, then publishes it at path.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

// The same for output written over time (a stack streamed page by page): write to tmp(), then
// commit() publishes it at path. Destroyed without commit (an error, an interruption), it
// removes the temp file and leaves path as it was.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);  // checks that path's directory exists
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  const std::string& path() const { return path_; }
  const std::string& tmp() const { return tmp_; }
  void commit();  // fsync, rename over path, fsync the directory

 private:
  std::string path_, tmp_, dir_;
  bool done_ = false;
};

}  // namespace abbe::io
