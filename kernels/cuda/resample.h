#pragma once
// Resampling kernels of the CUDA backend: pixel (un)shuffle, bilinear and nearest upsampling,
// forward and backward, with the names, arguments and semantics of kernels/cpu/resample.h
// (PyTorch 1.13's index and weight rules), over device pointers (cudaMalloc).
// N = batch, C = channels, H,W = input height,width, P,Q = output height,width, r = factor.
// All tensors are contiguous NCHW. Plain C++: no CUDA header. `stream` is a cudaStream_t passed
// as void* (nullptr = the default stream); every launcher is asynchronous on it and throws
// abbe::Error if the launch fails. Backward kernels overwrite their output and are deterministic:
// each input-gradient element is summed by one thread in the CPU kernel's order (no atomics).
#include <cstdint>

namespace abbe::kernels::cuda {

// x is (N, C*r*r, H, W), y is (N, C, H*r, W*r): y[n,c,h*r+i,w*r+j] = x[n,c*r*r+i*r+j,h,w].
template <typename T>
void pixel_shuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y,
                           void* stream = nullptr);
// dy is (N, C, H*r, W*r), dx is (N, C*r*r, H, W).
template <typename T>
void pixel_shuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy, T* dx,
                            void* stream = nullptr);

// x is (N, C, H, W) with H % r == 0 and W % r == 0, y is (N, C*r*r, H/r, W/r).
template <typename T>
void pixel_unshuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y,
                             void* stream = nullptr);
// dy is (N, C*r*r, H/r, W/r), dx is (N, C, H, W).
template <typename T>
void pixel_unshuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy, T* dx,
                              void* stream = nullptr);

// F.interpolate(x, mode='bilinear'). x is (N, C, H, W), y is (N, C, P, Q). scale_h, scale_w: the
// user's scale factors (> 0), or 0 when an output size was given; align_corners ignores them; a
// dimension with P == H is copied.
template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, bool align_corners,
                               double scale_h, double scale_w, const T* x, T* y, void* stream = nullptr);
// dy is (N, C, P, Q), dx is (N, C, H, W). Sums in the CPU kernel's order (along h, then w).
template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, bool align_corners,
                                double scale_h, double scale_w, const T* dy, T* dx, void* stream = nullptr);

// F.interpolate(x, mode='nearest'). x is (N, C, H, W), y is (N, C, P, Q).
// src = min(floor(dst * ratio), in-1) in float, ratio = 1/scale if scale > 0 else in/out;
// out == in copies and out == 2*in takes dst/2 whatever the scale.
template <typename T>
void upsample_nearest_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, double scale_h,
                              double scale_w, const T* x, T* y, void* stream = nullptr);
// dy is (N, C, P, Q), dx is (N, C, H, W). Each dx element sums its dy in (p, q) raster order.
template <typename T>
void upsample_nearest_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, double scale_h,
                               double scale_w, const T* dy, T* dx, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
