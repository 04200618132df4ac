#pragma once
// Atomic file output: bytes go to "<path>.tmp-<pid>-<n>" in the same directory, are fsync'ed,
// then renamed over <path>. On any error the temp file is removed and nothing at <path> changes.
#include <functional>
#include <string>

namespace abbe::io {

// Calls write(tmp_path) to produce the file, then publishes it at path.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

}  // namespace abbe::io
