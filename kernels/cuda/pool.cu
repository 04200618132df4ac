// CUDA 2-D pooling kernels (see pool.h). Written once for nvcc and for the CPU emulator
// (kernels/emu/README.md). N = batch, C = channels, H,W = input size, P,Q = output size,
// kh,kw = window, sh,sw = stride, ph,pw = padding, dh,dw = dilation; nc = n*C + c.
//
// Layout of the work: one thread per element of the tensor being written, in a grid-stride loop
// over 256-thread blocks, so consecutive threads write consecutive w (coalesced). Forwards gather
// their window. Backwards gather too (no atomics): the thread of dx[nc, h, w] visits the output
// rows p and columns q whose windows can contain (h, w) (a contiguous range of each), checks each
// exactly, and adds in (p, q) raster order, the order in which the CPU kernel scatters, so the
// sums are the CPU's bit for bit.
#include "kernels/cuda/pool.h"

#include <cstdint>
#include <limits>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t imax(int64_t a, int64_t b) { return a < b ? b : a; }

// Output indices [first, last] of the windows (start o*s - p, extent e) that contain input index
// i along one dimension: o*s - p <= i <= o*s - p + e - 1, clipped to [0, out). Empty if first > last.
struct Range {
  int64_t first, last;
};
__device__ __forceinline__ Range windows_containing(int64_t i, int64_t out, int64_t e, int64_t s, int64_t p) {
  const int64_t lo = i + p - e + 1;  // smallest o*s allowed
  return {lo <= 0 ? 0 : (lo + s - 1) / s, imin((i + p) / s, out - 1)};
}

// One avg-pool window along a dimension, as the CPU kernel: [lo, hi) inside the input, and
// `padded` = its length clipped to the padded input only (torch's count_include_pad size).
struct AvgSpan {
  int64_t lo, hi, padded;
};
__device__ __forceinline__ AvgSpan avg_span(int64_t o, int64_t in, int64_t k, int64_t s, int64_t p) {
  const int64_t lo = o * s - p, hi = imin(lo + k, in + p);
  return {imax(lo, 0), imin(hi, in), hi - lo};
}

__device__ __forceinline__ int64_t avg_divisor(const Pool2dShape& s, const AvgSpan& hs, const AvgSpan& ws) {
  return s.count_include_pad ? hs.padded * ws.padded : (hs.hi - hs.lo) * (ws.hi - ws.lo);
}

// x (N, C, H, W) -> y (N, C, P, Q); total = N*C*P*Q. Summed h-major from 0, then divided, as
// both the edge and the interior loops of the CPU kernel do.
template <typename T>
__global__ void __launch_bounds__(kBlock) avg_fwd_kernel(int64_t total, Pool2dShape s, int64_t P, int64_t Q,
                                                         const T* x, T* y) {
  const int64_t H = s.H, W = s.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t q = i % Q, t = i / Q, p = t % P, nc = t / P;
    const AvgSpan hs = avg_span(p, H, s.kh, s.sh, s.ph), ws = avg_span(q, W, s.kw, s.sw, s.pw);
    if (hs.lo >= hs.hi || ws.lo >= ws.hi) {
      y[i] = T(0);
      continue;
    }
    const T* xp = x + nc * H * W;
    T sum = T(0);
    for (int64_t h = hs.lo; h < hs.hi; ++h)
      for (int64_t w = ws.lo; w < ws.hi; ++w) sum += xp[h * W + w];
    y[i] = sum / static_cast<T>(avg_divisor(s, hs, ws));
  }
}

// dy (N, C, P, Q) -> dx (N, C, H, W); total = N*C*H*W. dx = sum over the windows holding (h, w)
// of dy / divisor, p-major.
template <typename T>
__global__ void __launch_bounds__(kBlock) avg_bwd_kernel(int64_t total, Pool2dShape s, int64_t P, int64_t Q,
                                                         const T* dy, T* dx) {
  const int64_t H = s.H, W = s.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % W, t = i / W, h = t % H, nc = t / H;
    const Range pr = windows_containing(h, P, s.kh, s.sh, s.ph), qr = windows_containing(w, Q, s.kw, s.sw, s.pw);
    const T* d = dy + nc * P * Q;
    T acc = T(0);
    for (int64_t p = pr.first; p <= pr.last; ++p) {
      const AvgSpan hs = avg_span(p, H, s.kh, s.sh, s.ph);
      if (h < hs.lo || h >= hs.hi) continue;
      for (int64_t q = qr.first; q <= qr.last; ++q) {
        const AvgSpan ws = avg_span(q, W, s.kw, s.sw, s.pw);
        if (w < ws.lo || w >= ws.hi) continue;
        acc += d[p * Q + q] / static_cast<T>(avg_divisor(s, hs, ws));
      }
    }
    dx[i] = acc;
  }
}

// x (N, C, H, W) -> y, indices (N, C, P, Q); total = N*C*P*Q. Torch's rule: start from -inf and
// take a value that is greater or NaN, so ties keep the first maximum and the last NaN wins.
template <typename T>
__global__ void __launch_bounds__(kBlock) max_fwd_kernel(int64_t total, Pool2dShape s, int64_t P, int64_t Q,
                                                         const T* x, T* y, int64_t* indices) {
  const int64_t H = s.H, W = s.W, dh = s.dil_h, dw = s.dil_w;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t q = i % Q, t = i / Q, p = t % P, nc = t / P;
    int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
    const int64_t h1 = imin(h0 + (s.kh - 1) * dh + 1, H), w1 = imin(w0 + (s.kw - 1) * dw + 1, W);
    while (h0 < 0) h0 += dh;
    while (w0 < 0) w0 += dw;
    const T* xp = x + nc * H * W;
    T best = -std::numeric_limits<T>::infinity();
    int64_t arg = h0 * W + w0;
    for (int64_t h = h0; h < h1; h += dh)
      for (int64_t w = w0; w < w1; w += dw) {
        const T v = xp[h * W + w];
        if (v > best || v != v) best = v, arg = h * W + w;  // v != v: NaN
      }
    y[i] = best;
    indices[i] = arg;
  }
}

// dy, indices (N, C, P, Q) -> dx (N, C, H, W); total = N*C*H*W. dx = sum of the dy whose saved
// index is this pixel, over the (dilated) windows that span it, p-major.
template <typename T>
__global__ void __launch_bounds__(kBlock) max_bwd_kernel(int64_t total, Pool2dShape s, int64_t P, int64_t Q,
                                                         const T* dy, const int64_t* indices, T* dx) {
  const int64_t H = s.H, W = s.W;
  const int64_t eh = (s.kh - 1) * s.dil_h + 1, ew = (s.kw - 1) * s.dil_w + 1;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t w = i % W, t = i / W, h = t % H, nc = t / H;
    const Range pr = windows_containing(h, P, eh, s.sh, s.ph), qr = windows_containing(w, Q, ew, s.sw, s.pw);
    const T* d = dy + nc * P * Q;
    const int64_t* ind = indices + nc * P * Q;
    const int64_t self = h * W + w;
    T acc = T(0);
    for (int64_t p = pr.first; p <= pr.last; ++p)
      for (int64_t q = qr.first; q <= qr.last; ++q)
        if (ind[p * Q + q] == self) acc += d[p * Q + q];
    dx[i] = acc;
  }
}

}  // namespace

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y, void* stream) {
  const int64_t P = s.P(), Q = s.Q(), total = s.N * s.C * P * Q;
  if (total <= 0) return;
  ABBE_LAUNCH(avg_fwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, s, P, Q, x, y);
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx, void* stream) {
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total <= 0) return;
  ABBE_LAUNCH(avg_bwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, s, s.P(), s.Q(), dy, dx);
}

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* indices, void* stream) {
  const int64_t P = s.P(), Q = s.Q(), total = s.N * s.C * P * Q;
  if (total <= 0) return;
  ABBE_LAUNCH(max_fwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, s, P, Q, x, y, indices);
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* indices, T* dx, void* stream) {
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total <= 0) return;
  ABBE_LAUNCH(max_bwd_kernel<T>, grid_for(total), kBlock, 0, as_stream(stream), total, s, s.P(), s.Q(), dy, indices,
              dx);
}

#define ABBE_INSTANTIATE(T)                                                                     \
  template void avg_pool2d_forward<T>(const Pool2dShape&, const T*, T*, void*);                 \
  template void avg_pool2d_backward<T>(const Pool2dShape&, const T*, T*, void*);                \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*, void*);       \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*, void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cuda
