#include "kernels/cpu/complex.h"

#include <cmath>
#include <type_traits>

#include "kernels/cpu/fast_math.h"

namespace abbe::kernels::cpu {

// Float runs through kernels/cpu/fast_math.h (vectorised; libm for the arguments it leaves out,
// in a second pass), double through libm: the gradchecks and golden comparisons in double keep
// libm's last bits.

namespace {
constexpr int64_t kParallelMin = 1 << 14;  // below this, threads cost more than they save
template <typename T>
constexpr bool kFast = std::is_same_v<T, float>;
}

template <typename T>
void complex_abs_forward(int64_t n, const T* z, T* y) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (kFast<T>) {
      y[i] = fast::hypot(z[2 * i], z[2 * i + 1]);
    } else {
      y[i] = std::hypot(z[2 * i], z[2 * i + 1]);
    }
  }
}

template <typename T>
void complex_abs_backward(int64_t n, const T* z, const T* y, const T* dy, T* dz) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T s = y[i] == T(0) ? T(0) : dy[i] / y[i];
    dz[2 * i] = z[2 * i] * s;
    dz[2 * i + 1] = z[2 * i + 1] * s;
  }
}

template <typename T>
void complex_angle_forward(int64_t n, const T* z, T* y) {
  if constexpr (kFast<T>) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = fast::atan2(z[2 * i + 1], z[2 * i]);
    for (int64_t i = 0; i < n; ++i)
      if (!fast::fast_atan2_ok(z[2 * i + 1], z[2 * i])) y[i] = std::atan2(z[2 * i + 1], z[2 * i]);
  } else {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) y[i] = std::atan2(z[2 * i + 1], z[2 * i]);
  }
}

template <typename T>
void complex_angle_backward(int64_t n, const T* z, const T* dy, T* dz) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T re = z[2 * i], im = z[2 * i + 1], r2 = re * re + im * im;
    const T s = r2 == T(0) ? T(0) : dy[i] / r2;
    dz[2 * i] = -im * s;
    dz[2 * i + 1] = re * s;
  }
}

// cos and sin of phase[i], fast for float (libm where fast::sincos does not apply).
template <typename T>
[[gnu::always_inline]] inline void cos_sin(T phase, T& c, T& s) {
  if constexpr (kFast<T>) {
    fast::sincos(phase, &s, &c);
  } else {
    c = std::cos(phase), s = std::sin(phase);
  }
}

template <typename T>
void polar_forward(int64_t n, const T* amp, const T* phase, T* z) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T c, s;
    cos_sin(phase[i], c, s);
    z[2 * i] = amp[i] * c;
    z[2 * i + 1] = amp[i] * s;
  }
  if constexpr (kFast<T>)
    for (int64_t i = 0; i < n; ++i)
      if (!fast::fast_sincos_ok(phase[i]))
        z[2 * i] = amp[i] * std::cos(phase[i]), z[2 * i + 1] = amp[i] * std::sin(phase[i]);
}

template <typename T>
void polar_backward(int64_t n, const T* amp, const T* phase, const T* dz, T* damp, T* dphase) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T c, s;
    cos_sin(phase[i], c, s);
    const T gr = dz[2 * i], gi = dz[2 * i + 1];
    damp[i] = gr * c + gi * s;
    dphase[i] = amp[i] * (gi * c - gr * s);
  }
  if constexpr (kFast<T>)
    for (int64_t i = 0; i < n; ++i)
      if (!fast::fast_sincos_ok(phase[i])) {
        const T c = std::cos(phase[i]), s = std::sin(phase[i]), gr = dz[2 * i], gi = dz[2 * i + 1];
        damp[i] = gr * c + gi * s;
        dphase[i] = amp[i] * (gi * c - gr * s);
      }
}

#define ABBE_INSTANTIATE_COMPLEX(T)                                                          \
  template void complex_abs_forward<T>(int64_t, const T*, T*);                               \
  template void complex_abs_backward<T>(int64_t, const T*, const T*, const T*, T*);          \
  template void complex_angle_forward<T>(int64_t, const T*, T*);                             \
  template void complex_angle_backward<T>(int64_t, const T*, const T*, T*);                  \
  template void polar_forward<T>(int64_t, const T*, const T*, T*);                           \
  template void polar_backward<T>(int64_t, const T*, const T*, const T*, T*, T*);
ABBE_INSTANTIATE_COMPLEX(float)
ABBE_INSTANTIATE_COMPLEX(double)

}  // namespace abbe::kernels::cpu
