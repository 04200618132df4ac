#pragma once
// abbe::Error and ABBE_CHECK: the library reports every bad input by throwing, never by exiting.
// The message carries file:line, the failed expression and a sentence naming the thing and the
// problem, e.g. ABBE_CHECK(x.dim() == 4, "conv2d: input must be 4-D (N,C,H,W), got ", x.shape()).
#include <sstream>
#include <stdexcept>
#include <string>

namespace abbe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);
}  // namespace detail

}  // namespace abbe

#define ABBE_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) [[unlikely]]                                                          \
      ::abbe::detail::check_failed(__FILE__, __LINE__, #cond, ::abbe::detail::concat(__VA_ARGS__)); \
  } while (0)

// Errors about user input (files, flags) that should not show source locations.
#define ABBE_FAIL(...) throw ::abbe::Error(::abbe::detail::concat(__VA_ARGS__))
