// CUDA resampling kernels (see resample.h). Written once for nvcc and for the CPU emulator
// (kernels/emu/README.md). N = batch, C = channels, H,W = input size, P,Q = output size,
// r = factor; nc = n*C + c indexes a plane.
//
// Layout of the work: one thread per element of the tensor being written, in a grid-stride loop
// over 256-thread blocks, so consecutive threads write consecutive w (coalesced). Forwards gather
// from the input. Backwards gather too, so that they need no atomics and sum in a fixed order:
// the thread of dx[nc, h, w] finds the output rows and columns that read input row h and column
// w (a contiguous range, because the source index is monotone in the output index), checks each
// with the forward's own tap function, and adds their gradients in the order the CPU kernel does,
// so the result is the CPU's bit for bit where the arithmetic is the same.
//
// Rounding: the same expressions as the CPU kernel, in the same types (source coordinates in
// double, weights and sums in T). Either compiler may contract a*b + c into an FMA (g++ does with
// -march=native, nvcc by default), so results can differ from the CPU's by an ulp or so.
#include "kernels/cuda/resample.h"

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- Pixel (un)shuffle: permutations, one thread per output element.

// x (N, C*r*r, H, W) -> y (N, C, H*r, W*r); total = N*C*H*r*W*r.
template <typename T>
__global__ void __launch_bounds__(kBlock) shuffle_kernel(int64_t total, int64_t H, int64_t W, int64_t r, const T* x,
                                                         T* y) {
  const int64_t Ho = H * r, Wo = W * r;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t ow = i % Wo, t = i / Wo, oh = t % Ho, nc = t / Ho;
    const int64_t h = oh / r, a = oh % r, w = ow / r, b = ow % r;
    y[i] = x[((nc * r * r + a * r + b) * H + h) * W + w];
  }
}

// x (N, C, H, W) -> y (N, C*r*r, H/r, W/r); total = N*C*H*W.
template <typename T>
__global__ void __launch_bounds__(kBlock) unshuffle_kernel(int64_t total, int64_t H, int64_t W, int64_t r, const T* x,
                                                           T* y) {
  const int64_t Ho = H / r, Wo = W / r;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t ow = i % Wo, t = i / Wo, oh = t % Ho, ch = t / Ho;  // ch = nc*r*r + a*r + b
    const int64_t nc = ch / (r * r), a = (ch / r) % r, b = ch % r;
    y[i] = x[(nc * H + oh * r + a) * W + ow * r + b];
  }
}

// ---- Bilinear. One dimension's mapping from output index d to its two input taps.
struct LinearAxis {
  int64_t in, out;
  double ratio;  // the CPU's ratio, rounded to T as there, then widened
  bool align_corners;
};

template <typename T>
struct Tap {
  int64_t i0, i1;
  T l0, l1;
};

// ATen's area_pixel_compute_source_index: the source coordinate of output index d (a.in != a.out).
__device__ __forceinline__ double linear_src(const LinearAxis& a, int64_t d) {
  const double dd = static_cast<double>(d);
  const double raw = a.align_corners ? a.ratio * dd : a.ratio * (dd + 0.5) - 0.5;
  return raw < 0.0 ? 0.0 : raw;  // std::max(raw, 0.0)
}

// The first tap of output index d; monotone non-decreasing in d.
__device__ __forceinline__ int64_t linear_i0(const LinearAxis& a, int64_t d) {
  return a.in == a.out ? d : imin(static_cast<int64_t>(linear_src(a, d)), a.in - 1);
}

// Both taps of output index d, as the CPU kernel's linear_taps.
template <typename T>
__device__ __forceinline__ Tap<T> linear_tap(const LinearAxis& a, int64_t d) {
  if (a.in == a.out) return {d, d, T(1), T(0)};  // torch copies a same-size dimension
  const double src = linear_src(a, d);
  const int64_t i0 = imin(static_cast<int64_t>(src), a.in - 1);
  const T l1 = static_cast<T>(src - static_cast<double>(i0));
  return {i0, i0 < a.in - 1 ? i0 + 1 : i0, T(1) - l1, l1};
}

// The first d in [0, out) whose first tap is >= target (out if none): start from the inverse of
// the mapping and walk to the exact boundary (a few steps; more where src is clamped at 0).
__device__ __forceinline__ int64_t linear_first(const LinearAxis& a, int64_t target) {
  double g = 0.0;
  if (a.in == a.out) g = static_cast<double>(target);
  else if (a.ratio > 0.0)
    g = a.align_corners ? target / a.ratio : (target + 0.5) / a.ratio - 0.5;
  int64_t d = g <= 0.0 ? 0 : g >= static_cast<double>(a.out) ? a.out : static_cast<int64_t>(g);
  while (d > 0 && linear_i0(a, d - 1) >= target) --d;
  while (d < a.out && linear_i0(a, d) < target) ++d;
  return d;
}

// x (N, C, H, W) -> y (N, C, P, Q); total = N*C*P*Q. The CPU's expression: each input row lerped
// along w, then the two rows lerped along h.
template <typename T>
__global__ void __launch_bounds__(kBlock) bilinear_fwd_kernel(int64_t total, LinearAxis ah, LinearAxis aw, const T* x,
                                                              T* y) {
  const int64_t H = ah.in, W = aw.in, P = ah.out, Q = aw.out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t q = i % Q, t = i / Q, p = t % P, nc = t / P;
    const Tap<T> th = linear_tap<T>(ah, p), tw = linear_tap<T>(aw, q);
    const T* r0 = x + (nc * H + th.i0) * W;
    const T* r1 = x + (nc * H + th.i1) * W;
    const T a = r0[tw.i0] * tw.l0 + r0[tw.i1] * tw.l1;
    const T b = r1[tw.i0] * tw.l0 + r1[tw.i1] * tw.l1;
    y[i] = a * th.l0 + b * th.l1;
  }
}

// dy (N, C, P, Q) -> dx (N, C, H, W); total = N*C*H*W. Output row p has a tap on h iff its i0 is
// h-1 or h, so the candidates are [first i0 >= h-1, first i0 >= h+1), and likewise for columns.
// Order of the CPU kernel: e[q] = sum over p (tap i0, then i1) of the height weight * dy[p, q];
// dx = sum over q (tap i0, then i1) of the width weight * e[q].
template <typename T>
__global__ void __launch_bounds__(kBlock) bilinear_bwd_kernel(int64_t total, LinearAxis ah, LinearAxis aw, const T* dy,
                                                              T* dx) {
  const int64_t H = ah.in, W = aw.in, P = ah.out, Q = aw.out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % W, t = i / W, h = t % H, nc = t / H;
    const int64_t p0 = linear_first(ah, h - 1), p1 = linear_first(ah, h + 1);
    const int64_t q0 = linear_first(aw, w - 1), q1 = linear_first(aw, w + 1);
    const T* d = dy + nc * P * Q;
    T acc = T(0);
    for (int64_t q = q0; q < q1; ++q) {
      const Tap<T> tw = linear_tap<T>(aw, q);
      if (tw.i0 != w && tw.i1 != w) continue;  // only in a copied dimension (i0 == i1 == w-1)
      T e = T(0);
      for (int64_t p = p0; p < p1; ++p) {
        const Tap<T> th = linear_tap<T>(ah, p);
        const T g = d[p * Q + q];
        if (th.i0 == h) e += th.l0 * g;
        if (th.i1 == h) e += th.l1 * g;
      }
      if (tw.i0 == w) acc += tw.l0 * e;
      if (tw.i1 == w) acc += tw.l1 * e;
    }
    dx[i] = acc;
  }
}

// The CPU kernel's ratio for one dimension (rounded to T, as there).
template <typename T>
LinearAxis linear_axis(int64_t in, int64_t out, bool align_corners, double scale) {
  T ratio;
  if (align_corners)
    ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else
    ratio = scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  return {in, out, static_cast<double>(ratio), align_corners};
}

// ---- Nearest. ATen's nearest_idx: float arithmetic and the out == in / out == 2*in shortcuts.
struct NearestAxis {
  int64_t in, out;
  float ratio;
};

__device__ __forceinline__ int64_t nearest_src(const NearestAxis& a, int64_t d) {
  if (a.out == a.in) return d;
  if (a.out == 2 * a.in) return d >> 1;
  return imin(static_cast<int64_t>(floorf(static_cast<float>(d) * a.ratio)), a.in - 1);
}

// The first d in [0, out) with nearest_src(d) >= target (out if none); nearest_src is monotone
// non-decreasing in d, so this is found as linear_first is.
__device__ __forceinline__ int64_t nearest_first(const NearestAxis& a, int64_t target) {
  double g = 0.0;
  if (a.out == a.in) g = static_cast<double>(target);
  else if (a.out == 2 * a.in) g = 2.0 * static_cast<double>(target);
  else if (a.ratio > 0.0f) g = target / static_cast<double>(a.ratio);
  int64_t d = g <= 0.0 ? 0 : g >= static_cast<double>(a.out) ? a.out : static_cast<int64_t>(g);
  while (d > 0 && nearest_src(a, d - 1) >= target) --d;
  while (d < a.out && nearest_src(a, d) < target) ++d;
  return d;
}

// x (N, C, H, W) -> y (N, C, P, Q); total = N*C*P*Q.
template <typename T>
__global__ void __launch_bounds__(kBlock) nearest_fwd_kernel(int64_t total, NearestAxis ah, NearestAxis aw, const T* x,
                                                             T* y) {
  const int64_t H = ah.in, W = aw.in, P = ah.out, Q = aw.out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t q = i % Q, t = i / Q, p = t % P, nc = t / P;
    y[i] = x[(nc * H + nearest_src(ah, p)) * W + nearest_src(aw, q)];
  }
}

// dy (N, C, P, Q) -> dx (N, C, H, W); total = N*C*H*W. The outputs reading (h, w) are exactly
// [first src >= h, first src >= h+1) x the same for w, summed p-major like the CPU kernel.
template <typename T>
__global__ void __launch_bounds__(kBlock) nearest_bwd_kernel(int64_t total, NearestAxis ah, NearestAxis aw, const T* dy,
                                                             T* dx) {
  const int64_t H = ah.in, W = aw.in, P = ah.out, Q = aw.out;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % W, t = i / W, h = t % H, nc = t / H;
    const int64_t p0 = nearest_first(ah, h), p1 = nearest_first(ah, h + 1);
    const int64_t q0 = nearest_first(aw, w), q1 = nearest_first(aw, w + 1);
    const T* d = dy + nc * P * Q;
    T acc = T(0);
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t q = q0; q < q1; ++q) acc += d[p * Q + q];
    dx[i] = acc;
  }
}

NearestAxis nearest_axis(int64_t in, int64_t out, double scale) {
  const float ratio = scale > 0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
  return {in, out, ratio};
}

}  // namespace

template <typename T>
void pixel_shuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y, void* stream) {
  const int64_t total = N * C * H * r * W * r;
  if (total <= 0) return;
  ABBE_LAUNCH(shuffle_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, H, W, r, x, y);
}

template <typename T>
void pixel_unshuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y, void* stream) {
  const int64_t total = N * C * H * W;
  if (total <= 0) return;
  ABBE_LAUNCH(unshuffle_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, H, W, r, x, y);
}

template <typename T>
void pixel_shuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy, T* dx, void* stream) {
  pixel_unshuffle_forward(N, C, H * r, W * r, r, dy, dx, stream);
}

template <typename T>
void pixel_unshuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy, T* dx,
                              void* stream) {
  pixel_shuffle_forward(N, C, H / r, W / r, r, dy, dx, stream);
}

template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, bool align_corners,
                               double scale_h, double scale_w, const T* x, T* y, void* stream) {
  const int64_t total = N * C * P * Q;
  if (total <= 0) return;
  ABBE_LAUNCH(bilinear_fwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total,
              linear_axis<T>(H, P, align_corners, scale_h), linear_axis<T>(W, Q, align_corners, scale_w), x, y);
}

template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, bool align_corners,
                                double scale_h, double scale_w, const T* dy, T* dx, void* stream) {
  const int64_t total = N * C * H * W;
  if (total <= 0) return;
  ABBE_LAUNCH(bilinear_bwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total,
              linear_axis<T>(H, P, align_corners, scale_h), linear_axis<T>(W, Q, align_corners, scale_w), dy, dx);
}

template <typename T>
void upsample_nearest_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, double scale_h,
                              double scale_w, const T* x, T* y, void* stream) {
  const int64_t total = N * C * P * Q;
  if (total <= 0) return;
  ABBE_LAUNCH(nearest_fwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total,
              nearest_axis(H, P, scale_h), nearest_axis(W, Q, scale_w), x, y);
}

template <typename T>
void upsample_nearest_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, double scale_h,
                               double scale_w, const T* dy, T* dx, void* stream) {
  const int64_t total = N * C * H * W;
  if (total <= 0) return;
  ABBE_LAUNCH(nearest_bwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total,
              nearest_axis(H, P, scale_h), nearest_axis(W, Q, scale_w), dy, dx);
}

#define ABBE_INSTANTIATE(T)                                                                                          \
  template void pixel_shuffle_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*, void*);          \
  template void pixel_shuffle_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*, void*);         \
  template void pixel_unshuffle_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*, void*);        \
  template void pixel_unshuffle_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*, void*);       \
  template void upsample_bilinear_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, double,     \
                                             double, const T*, T*, void*);                                           \
  template void upsample_bilinear_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, double,    \
                                              double, const T*, T*, void*);                                          \
  template void upsample_nearest_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, double,    \
                                            const T*, T*, void*);                                                    \
  template void upsample_nearest_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, double,   \
                                             const T*, T*, void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cuda
