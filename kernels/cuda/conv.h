#pragma once
// 2-D convolution and transposed convolution of the CUDA backend: the functions, shapes, layouts
// and semantics of kernels/cpu/conv.h (NCHW, weights as PyTorch, groups, dilation, out_pad),
// over device pointers, on cuDNN. Plain C++ (no CUDA or cuDNN header), so CPU code can include it.
//   N = batch, C = input channels, H,W = input height/width,
//   K = output channels, R,S = kernel height/width, P,Q = output height/width, G = groups.
// `stream` is a cudaStream_t passed as void* (nullptr: the default stream). Every call is
// asynchronous on `stream` (no host synchronisation) and throws abbe::Error if cuDNN rejects it.
// Outputs are overwritten; buffers must not alias. All sizes must fit in int (cuDNN's dims).
//
// Results match the CPU kernels to float rounding (no TF32: see conv.cu), not bit for bit: cuDNN
// picks its own algorithm (im2col, implicit gemm, Winograd, FFT) per shape.
#include <cstdint>

#include "kernels/cpu/conv.h"

namespace abbe::kernels::cuda {

using cpu::Conv2dShape;
using cpu::ConvTranspose2dShape;

// x (N,C,H,W), w (K, C/G, R, S), bias (K) or nullptr, y (N,K,P,Q) overwritten
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y, void* stream = nullptr);

// dy (N,K,P,Q), w (K, C/G, R, S) -> dx (N,C,H,W) overwritten
template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx, void* stream = nullptr);

// x (N,C,H,W), dy (N,K,P,Q) -> dw (K, C/G, R, S) overwritten; db (K) overwritten if not nullptr
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db, void* stream = nullptr);

// x (N,C,H,W), w (C, K/G, R, S), bias (K) or nullptr, y (N,K,P,Q) overwritten
template <typename T>
void conv_transpose2d_forward(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y,
                              void* stream = nullptr);

// dy (N,K,P,Q), w (C, K/G, R, S) -> dx (N,C,H,W) overwritten
template <typename T>
void conv_transpose2d_backward_data(const ConvTranspose2dShape& s, const T* dy, const T* w, T* dx,
                                    void* stream = nullptr);

// x (N,C,H,W), dy (N,K,P,Q) -> dw (C, K/G, R, S) overwritten; db (K) overwritten if not nullptr
template <typename T>
void conv_transpose2d_backward_weight(const ConvTranspose2dShape& s, const T* x, const T* dy, T* dw, T* db,
                                      void* stream = nullptr);

}  // namespace abbe::kernels::cuda
