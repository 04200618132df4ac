#pragma once
// Element types. float32 is the working type; float64 exists for gradcheck on the CPU.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace abbe {

enum class DType : uint8_t { f32, f64 };

constexpr size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
constexpr std::string_view dtype_name(DType t) { return t == DType::f32 ? "float32" : "float64"; }
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }

}  // namespace abbe

namespace abbe {

// Calls f(T{}) with T the C++ type of dtype t; inside, write `using scalar_t = decltype(tag);`.
// (A function, not a macro, so the body may hold OpenMP pragmas.)
template <typename F>
decltype(auto) dispatch_float(DType t, F&& f) {
  if (t == DType::f64) return f(double{});
  return f(float{});
}

}  // namespace abbe
