#pragma once
// Resampling kernels: pixel (un)shuffle, bilinear and nearest upsampling, forward and backward.
// N = batch, C = channels, H,W = input height,width, P,Q = output height,width, r = factor.
// All tensors are contiguous NCHW. Semantics are PyTorch 1.13's (F.pixel_shuffle,
// F.pixel_unshuffle, F.interpolate); backward kernels overwrite their output.
// Threads: the gathers (every forward, pixel (un)shuffle backward) split rows, so each output
// element is written by one thread; the scatter-form backwards split the N*C planes.
#include <cstdint>

namespace abbe::kernels::cpu {

// x is (N, C*r*r, H, W), y is (N, C, H*r, W*r): y[n,c,h*r+i,w*r+j] = x[n,c*r*r+i*r+j,h,w].
template <typename T>
void pixel_shuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y);
// dy is (N, C, H*r, W*r), dx is (N, C*r*r, H, W); the same permutation as pixel_unshuffle.
template <typename T>
void pixel_shuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy,
                            T* dx);

// x is (N, C, H, W) with H % r == 0 and W % r == 0, y is (N, C*r*r, H/r, W/r).
template <typename T>
void pixel_unshuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x,
                             T* y);
// dy is (N, C*r*r, H/r, W/r), dx is (N, C, H, W).
template <typename T>
void pixel_unshuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy,
                              T* dx);

// F.interpolate(x, mode='bilinear'). x is (N, C, H, W), y is (N, C, P, Q).
// scale_h, scale_w: the user's scale factors (> 0), or 0 when an output size was given. Torch
// maps output to input with 1/scale when a scale was given (recompute_scale_factor unset), else
// with H/P; align_corners=True ignores the scales. A dimension with P == H is copied unchanged.
template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               bool align_corners, double scale_h, double scale_w, const T* x,
                               T* y);
// dy is (N, C, P, Q), dx is (N, C, H, W).
template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                                bool align_corners, double scale_h, double scale_w, const T* dy,
                                T* dx);

// F.interpolate(x, mode='nearest'). x is (N, C, H, W), y is (N, C, P, Q).
// src = min(floor(dst * ratio), in-1) in float, ratio = 1/scale if scale > 0 else in/out; as in
// torch, out == in copies and out == 2*in takes dst/2 whatever the scale.
template <typename T>
void upsample_nearest_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                              double scale_h, double scale_w, const T* x, T* y);
// dy is (N, C, P, Q), dx is (N, C, H, W).
template <typename T>
void upsample_nearest_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               double scale_h, double scale_w, const T* dy, T* dx);

// Plain per-element loops in ATen's order, the reference the shipped bilinear kernels are tested
// against. The shipped forward lerps each input row once and reuses it (same arithmetic; its
// float output matched torch 1.13's bitwise when built with GCC -O3 -march=native); the shipped
// backward folds along h before w, so its float sums differ from torch's by an ulp or two, while
// the reference backward matched torch's bitwise.
namespace reference {
template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               bool align_corners, double scale_h, double scale_w, const T* x,
                               T* y);
template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                                bool align_corners, double scale_h, double scale_w, const T* dy,
                                T* dx);
}  // namespace reference

}  // namespace abbe::kernels::cpu
