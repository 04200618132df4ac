// Pointwise complex kernels (see complex.h): grid-stride loops, one complex number per thread,
// the same formulas as kernels/cpu/complex.cpp. A complex value is loaded as one 8- or 16-byte
// vector (float2 / double2: cudaMalloc'd tensors of complex values are aligned to their pairs).
#include "kernels/cuda/complex.h"

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

template <typename T> struct Pair;
template <> struct Pair<float> { using type = float2; };
template <> struct Pair<double> { using type = double2; };
template <typename T> using pair_t = typename Pair<T>::type;

__device__ __forceinline__ float d_hypot(float a, float b) { return hypotf(a, b); }
__device__ __forceinline__ double d_hypot(double a, double b) { return hypot(a, b); }
__device__ __forceinline__ float d_atan2(float y, float x) { return atan2f(y, x); }
__device__ __forceinline__ double d_atan2(double y, double x) { return atan2(y, x); }
// sin and cos through sinpi/cospi of phase / pi: their argument reduction is exact and needs no
// table, where sin/cos keep a Payne-Hanek slow path for huge arguments that uses local memory
// (a build error here). The division costs ~1 ulp of the phase: ~2e-7 rad in float for
// |phase| ~ 3, at the level of sinf's own error.
__device__ __forceinline__ float d_sin(float v) { return sinpif(v * 0.318309886f); }
__device__ __forceinline__ double d_sin(double v) { return sinpi(v * 0.3183098861837907); }
__device__ __forceinline__ float d_cos(float v) { return cospif(v * 0.318309886f); }
__device__ __forceinline__ double d_cos(double v) { return cospi(v * 0.3183098861837907); }

template <typename T>
__global__ void __launch_bounds__(kBlock) abs_fwd(int64_t n, const pair_t<T>* z, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const pair_t<T> v = z[i];
    y[i] = d_hypot(v.x, v.y);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) abs_bwd(int64_t n, const pair_t<T>* z, const T* y, const T* dy,
                                                  pair_t<T>* dz) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const pair_t<T> v = z[i];
    const T s = y[i] == T(0) ? T(0) : dy[i] / y[i];
    dz[i] = {v.x * s, v.y * s};
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) angle_fwd(int64_t n, const pair_t<T>* z, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const pair_t<T> v = z[i];
    y[i] = d_atan2(v.y, v.x);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) angle_bwd(int64_t n, const pair_t<T>* z, const T* dy, pair_t<T>* dz) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const pair_t<T> v = z[i];
    const T r2 = v.x * v.x + v.y * v.y;
    const T s = r2 == T(0) ? T(0) : dy[i] / r2;
    dz[i] = {-v.y * s, v.x * s};
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) polar_fwd(int64_t n, const T* amp, const T* phase, pair_t<T>* z) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T s = d_sin(phase[i]), c = d_cos(phase[i]);
    z[i] = {amp[i] * c, amp[i] * s};
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) polar_bwd(int64_t n, const T* amp, const T* phase, const pair_t<T>* dz,
                                                    T* damp, T* dphase) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T s = d_sin(phase[i]), c = d_cos(phase[i]);
    const pair_t<T> g = dz[i];
    damp[i] = g.x * c + g.y * s;
    dphase[i] = amp[i] * (g.y * c - g.x * s);
  }
}

template <typename T> const pair_t<T>* pairs(const T* p) { return reinterpret_cast<const pair_t<T>*>(p); }
template <typename T> pair_t<T>* pairs(T* p) { return reinterpret_cast<pair_t<T>*>(p); }

}  // namespace

template <typename T>
void complex_abs_forward(int64_t n, const T* z, T* y, void* stream) {
  if (n > 0) ABBE_LAUNCH(abs_fwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, pairs(z), y);
}
template <typename T>
void complex_abs_backward(int64_t n, const T* z, const T* y, const T* dy, T* dz, void* stream) {
  if (n > 0) ABBE_LAUNCH(abs_bwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, pairs(z), y, dy, pairs(dz));
}
template <typename T>
void complex_angle_forward(int64_t n, const T* z, T* y, void* stream) {
  if (n > 0) ABBE_LAUNCH(angle_fwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, pairs(z), y);
}
template <typename T>
void complex_angle_backward(int64_t n, const T* z, const T* dy, T* dz, void* stream) {
  if (n > 0) ABBE_LAUNCH(angle_bwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, pairs(z), dy, pairs(dz));
}
template <typename T>
void polar_forward(int64_t n, const T* amp, const T* phase, T* z, void* stream) {
  if (n > 0) ABBE_LAUNCH(polar_fwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, amp, phase, pairs(z));
}
template <typename T>
void polar_backward(int64_t n, const T* amp, const T* phase, const T* dz, T* damp, T* dphase, void* stream) {
  if (n > 0)
    ABBE_LAUNCH(polar_bwd<T>, grid_for(n), kBlock, 0, as_stream(stream), n, amp, phase, pairs(dz), damp, dphase);
}

#define ABBE_INSTANTIATE_COMPLEX(T)                                                                  \
  template void complex_abs_forward<T>(int64_t, const T*, T*, void*);                                \
  template void complex_abs_backward<T>(int64_t, const T*, const T*, const T*, T*, void*);           \
  template void complex_angle_forward<T>(int64_t, const T*, T*, void*);                              \
  template void complex_angle_backward<T>(int64_t, const T*, const T*, T*, void*);                   \
  template void polar_forward<T>(int64_t, const T*, const T*, T*, void*);                            \
  template void polar_backward<T>(int64_t, const T*, const T*, const T*, T*, T*, void*);
ABBE_INSTANTIATE_COMPLEX(float)
ABBE_INSTANTIATE_COMPLEX(double)

}  // namespace abbe::kernels::cuda
