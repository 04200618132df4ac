// CUDA bilinear grid sampling (see grid_sample.h). Written once for nvcc and for the CPU
// emulator (kernels/emu/README.md). N = batch, C = channels, H,W = input size, P,Q = output
// size; i = n*P*Q + pq indexes an output pixel, pq = p*Q + q within its plane.
//
// Layout of the work: one thread per output pixel (n, p, q), in a grid-stride loop over 256-thread
// blocks. Each thread computes its sample's cell once (corners, weights, distances: the CPU
// kernel's expressions, in T) and loops over the C channels, so at every channel consecutive
// threads read and write consecutive q (coalesced y and dy; the x corners are gathers).
//  - forward: y[n, c, p, q] for every c.
//  - backward, dgrid: a gather, the thread sums over its channels in the CPU kernel's order, no
//    atomics. dx: a scatter into wherever the samples fall, which no thread can own, so each
//    corner is added with atomicAdd into dx, zeroed first on the same stream. One kernel does both
//    (one read of dy and one cell per pixel), specialised on which of the two is wanted.
// Rounding: either compiler may contract a*b + c into an FMA, so results can differ from the CPU
// kernel's by an ulp or so; dx also by the order of the atomics.
#include "kernels/cuda/grid_sample.h"

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

// One axis of the input: how a normalised grid coordinate maps to a source coordinate.
template <typename T>
struct Axis {
  int64_t size;
  T scale;  // d source / d grid: (size-1)/2 with align_corners, size/2 without
  T shift;  // 0 with align_corners, 1/2 without
  T top;    // size - 1, where border padding clips
  bool border;
};

template <typename T>
Axis<T> make_axis(int64_t size, GridPadding padding, bool align_corners) {
  return {size, align_corners ? static_cast<T>(size - 1) / 2 : static_cast<T>(size) / 2,
          align_corners ? T(0) : T(0.5), static_cast<T>(size - 1), padding == GridPadding::border};
}

template <typename T>
__device__ __forceinline__ T floor_t(T v) {
  if constexpr (sizeof(T) == 4) return floorf(v);
  else return floor(v);
}

// ATen's (g + 1) * scale - shift; *grad = d source / d g, 0 where border padding clips (at and
// beyond the edges); the clip sends NaN to 0.
template <typename T>
__device__ __forceinline__ T source(const Axis<T>& a, T g, T* grad) {
  const T c = (g + T(1)) * a.scale - a.shift;
  if (!a.border) {
    *grad = a.scale;
    return c;
  }
  *grad = c > T(0) && c < a.top ? a.scale : T(0);
  const T lo = c > T(0) ? c : T(0);
  return lo < a.top ? lo : a.top;
}

// floor value f as an integer, far-off coordinates (and NaN) pinned to -2 or size, wholly outside.
template <typename T>
__device__ __forceinline__ int64_t pin(T f, int64_t size) {
  if (!(f >= T(-2))) return -2;
  return f <= static_cast<T>(size) ? static_cast<int64_t>(f) : size;
}

// One sample's cell: corners nw (base), ne (base+1), sw (base+W), se (base+W+1).
template <typename T>
struct Taps {
  int64_t base;                     // y0*W + x0
  bool in_nw, in_ne, in_sw, in_se;  // corner inside the plane
  T nw, ne, sw, se;                 // bilinear weights: s*e, s*w, n*e, n*w
  T n, s, w, e;                     // distances to the cell's north, south, west, east sides
  T mx, my;                         // d source / d grid along w and along h
};

template <typename T>
__device__ __forceinline__ Taps<T> make_taps(const Axis<T>& ax, const Axis<T>& ay, const T* g) {
  Taps<T> t;
  const T sx = source(ax, g[0], &t.mx), sy = source(ay, g[1], &t.my);
  const T fx = floor_t(sx), fy = floor_t(sy);
  t.w = sx - fx;
  t.e = T(1) - t.w;
  t.n = sy - fy;
  t.s = T(1) - t.n;
  t.nw = t.s * t.e;
  t.ne = t.s * t.w;
  t.sw = t.n * t.e;
  t.se = t.n * t.w;
  const int64_t W = ax.size, H = ay.size, x0 = pin(fx, W), y0 = pin(fy, H);
  const bool in_w = x0 >= 0 && x0 < W, in_e = x0 + 1 >= 0 && x0 + 1 < W;
  const bool in_n = y0 >= 0 && y0 < H, in_s = y0 + 1 >= 0 && y0 + 1 < H;
  t.in_nw = in_n && in_w;
  t.in_ne = in_n && in_e;
  t.in_sw = in_s && in_w;
  t.in_se = in_s && in_e;
  t.base = y0 * W + x0;
  return t;
}

// x (N, C, H, W), grid (N, P, Q, 2) -> y (N, C, P, Q); pixels = N*P*Q.
template <typename T>
__global__ void __launch_bounds__(kBlock) grid_fwd_kernel(int64_t pixels, int64_t C, int64_t PQ, Axis<T> ax,
                                                          Axis<T> ay, const T* x, const T* grid, T* y) {
  const int64_t W = ax.size, HW = ay.size * W;
  for (int64_t i = global_thread(); i < pixels; i += grid_threads()) {
    const int64_t n = i / PQ, pq = i - n * PQ;
    const Taps<T> t = make_taps(ax, ay, grid + 2 * i);
    int64_t at = n * C * HW + t.base;  // the nw corner in channel c (read only if inside)
    T* yc = y + n * C * PQ + pq;
    for (int64_t c = 0; c < C; ++c, at += HW, yc += PQ) {
      const T v_nw = t.in_nw ? x[at] : T(0), v_ne = t.in_ne ? x[at + 1] : T(0);
      const T v_sw = t.in_sw ? x[at + W] : T(0), v_se = t.in_se ? x[at + W + 1] : T(0);
      *yc = v_nw * t.nw + v_ne * t.ne + v_sw * t.sw + v_se * t.se;
    }
  }
}

// dy (N, C, P, Q) -> dx (N, C, H, W) (kDx: atomics into a zeroed dx) and dgrid (N, P, Q, 2)
// (kDgrid: gx = sum over c of ((ne - nw) s + (se - sw) n) dy, gy likewise, then times mx, my).
template <typename T, bool kDx, bool kDgrid>
__global__ void __launch_bounds__(kBlock) grid_bwd_kernel(int64_t pixels, int64_t C, int64_t PQ, Axis<T> ax,
                                                          Axis<T> ay, const T* x, const T* grid, const T* dy, T* dx,
                                                          T* dgrid) {
  const int64_t W = ax.size, HW = ay.size * W;
  for (int64_t i = global_thread(); i < pixels; i += grid_threads()) {
    const int64_t n = i / PQ, pq = i - n * PQ;
    const Taps<T> t = make_taps(ax, ay, grid + 2 * i);
    int64_t at = n * C * HW + t.base;  // the nw corner in channel c (touched only if inside)
    const T* d = dy + n * C * PQ + pq;
    T gx = T(0), gy = T(0);
    for (int64_t c = 0; c < C; ++c, at += HW, d += PQ) {
      const T g = *d;
      if constexpr (kDx) {
        if (t.in_nw) atomicAdd(dx + at, t.nw * g);
        if (t.in_ne) atomicAdd(dx + at + 1, t.ne * g);
        if (t.in_sw) atomicAdd(dx + at + W, t.sw * g);
        if (t.in_se) atomicAdd(dx + at + W + 1, t.se * g);
      }
      if constexpr (kDgrid) {
        const T v_nw = t.in_nw ? x[at] : T(0), v_ne = t.in_ne ? x[at + 1] : T(0);
        const T v_sw = t.in_sw ? x[at + W] : T(0), v_se = t.in_se ? x[at + W + 1] : T(0);
        gx += ((v_ne - v_nw) * t.s + (v_se - v_sw) * t.n) * g;
        gy += ((v_sw - v_nw) * t.e + (v_se - v_ne) * t.w) * g;
      }
    }
    if constexpr (kDgrid) {
      dgrid[2 * i] = gx * t.mx;
      dgrid[2 * i + 1] = gy * t.my;
    }
  }
}

}  // namespace

template <typename T>
void grid_sample_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, const T* x, const T* grid,
                         GridPadding padding, bool align_corners, T* y, void* stream) {
  const int64_t pixels = N * P * Q;
  if (pixels <= 0 || C <= 0) return;
  ABBE_LAUNCH(grid_fwd_kernel<T>, grid_for(pixels), kBlock, 0, as_stream(stream), pixels, C, P * Q,
              make_axis<T>(W, padding, align_corners), make_axis<T>(H, padding, align_corners), x, grid, y);
}

template <typename T>
void grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, const T* x, const T* grid,
                          GridPadding padding, bool align_corners, const T* dy, T* dx, T* dgrid, void* stream) {
  const cudaStream_t s = as_stream(stream);
  const int64_t dx_count = N * C * H * W;
  if (dx != nullptr && dx_count > 0)
    ABBE_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(dx_count) * sizeof(T), s));
  const int64_t pixels = N * P * Q;
  if (pixels <= 0 || (dx == nullptr && dgrid == nullptr)) return;
  const Axis<T> ax = make_axis<T>(W, padding, align_corners), ay = make_axis<T>(H, padding, align_corners);
  const int blocks = grid_for(pixels);
  if (dx != nullptr && dgrid != nullptr)
    ABBE_LAUNCH((grid_bwd_kernel<T, true, true>), blocks, kBlock, 0, s, pixels, C, P * Q, ax, ay, x, grid, dy, dx,
                dgrid);
  else if (dx != nullptr)
    ABBE_LAUNCH((grid_bwd_kernel<T, true, false>), blocks, kBlock, 0, s, pixels, C, P * Q, ax, ay, x, grid, dy, dx,
                dgrid);
  else
    ABBE_LAUNCH((grid_bwd_kernel<T, false, true>), blocks, kBlock, 0, s, pixels, C, P * Q, ax, ay, x, grid, dy, dx,
                dgrid);
}

#define ABBE_INSTANTIATE(T)                                                                                          \
  template void grid_sample_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const T*, const T*,     \
                                       GridPadding, bool, T*, void*);                                                \
  template void grid_sample_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const T*, const T*,    \
                                        GridPadding, bool, const T*, T*, T*, void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cuda
