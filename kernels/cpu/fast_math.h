#pragma once
// Float atan2, sin/cos and hypot that vectorise: straight-line code over finite, moderate
// arguments, so a `#pragma omp simd` loop runs 16 lanes at a time instead of calling libm per
// element (libm's atan2f, sinf/cosf and hypotf took ~40 ns each here; phase alignment calls them
// on every spectrum bin). The callers handle the arguments these do not (fast_sincos_ok,
// fast_atan2_ok) with libm in a second pass.
//
// Error against double-precision libm rounded to float, measured by tests/test_fast_math.cpp
// (which holds them to the bounds in brackets): atan2 3 ulp [3]; sin and cos 1 ulp where
// |value| >= 0.25 [2], 2.2e-8 absolute nearer their zeros [5e-8]; hypot within 1 ulp of hypotf
// (computed in double, rounded once). The polynomials are
// Cephes' single-precision ones (S. L. Moshier, atanf.c and sinf.c), the reductions the classic
// ones, written here from the formulas.
#include <cmath>
#include <cstdint>

namespace abbe::kernels::cpu::fast {

// |x| below this (and finite): fast_sincos's reduction in double is exact enough.
constexpr float kSincosLimit = 1e5f;
inline bool fast_sincos_ok(float x) { return std::fabs(x) <= kSincosLimit; }  // false for NaN
inline bool fast_atan2_ok(float y, float x) { return std::isfinite(y) && std::isfinite(x); }

// sqrt(x^2 + y^2) in double, rounded once: no overflow or underflow for any finite floats.
[[gnu::always_inline]] inline float hypot(float x, float y) {
  const double dx = x, dy = y;
  return static_cast<float>(std::sqrt(dx * dx + dy * dy));
}

// atan(t) for t in [0, 1]: t > tan(pi/8) reduces to pi/4 + atan((t - 1) / (t + 1)), whose
// argument lies in [-0.415, 0], then the odd polynomial t + t^3 P(t^2).
[[gnu::always_inline]] inline float atan01(float t) {
  const bool big = t > 0.41421356237f;
  const float u = big ? (t - 1.0f) / (t + 1.0f) : t;
  const float z = u * u;
  const float p = ((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z -
                  3.33329491539e-1f;
  return (big ? 0.78539816340f : 0.0f) + (p * z * u + u);
}

// atan2(y, x) for finite y, x, with libm's signs: atan2(+-0, +0) = +-0, atan2(+-0, -0) = +-pi.
[[gnu::always_inline]] inline float atan2(float y, float x) {
  const float ax = std::fabs(x), ay = std::fabs(y);
  const float mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
  float r = atan01(mx > 0.0f ? mn / mx : 0.0f);
  r = ay > ax ? 1.57079632679f - r : r;
  r = std::signbit(x) ? 3.14159265359f - r : r;
  return std::signbit(y) ? -r : r;
}

// sin(x) and cos(x) for |x| <= kSincosLimit: x = j pi/2 + r with |r| <= pi/4, r computed in
// double (pi/2 to double precision leaves < 1e-11 absolute error at the limit), then the
// polynomials on r and the quadrant j mod 4.
[[gnu::always_inline]] inline void sincos(float x, float* s, float* c) {
  const double j = std::nearbyint(static_cast<double>(x) * 0.63661977236758134);
  const float r = static_cast<float>(static_cast<double>(x) - j * 1.5707963267948966);
  const float z = r * r;
  const float sr = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const float cr = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z +
                    4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
  const int64_t q = static_cast<int64_t>(j) & 3;
  const float sv = (q & 1) ? cr : sr, cv = (q & 1) ? sr : cr;
  *s = (q & 2) ? -sv : sv;
  *c = ((q + 1) & 2) ? -cv : cv;
}

}  // namespace abbe::kernels::cpu::fast
