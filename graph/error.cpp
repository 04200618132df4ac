#include "graph/error.h"

#include <cstring>

namespace abbe::detail {

void check_failed(const char* file, int line, const char* expr, const std::string& msg) {
  const char* base = std::strrchr(file, '/');
  std::string where = std::string(base ? base + 1 : file) + ":" + std::to_string(line);
  throw Error(msg + " [" + where + ": check '" + expr + "' failed]");
}

}  // namespace abbe::detail
