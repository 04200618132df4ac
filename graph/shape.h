#pragma once
// Shape: the sizes of a tensor's dimensions (at most 5: N,T,C,H,W), printed as [1, 64, 128, 128].
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

namespace abbe {

constexpr int kMaxDims = 5;

struct Shape : std::vector<int64_t> {
  using std::vector<int64_t>::vector;
  Shape(std::initializer_list<int64_t> l) : std::vector<int64_t>(l) {}
  explicit Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}

  int dim() const { return static_cast<int>(size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : *this) n *= s;
    return n;
  }
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os << ']';
}

// Row-major (contiguous) strides of a shape, in elements.
inline Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int i = shape.dim() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

}  // namespace abbe
