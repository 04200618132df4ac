#pragma once
// Modulated deformable convolution (DCNv2) of the CUDA backend: the functions, shapes, layouts and
// semantics of kernels/cpu/deform_conv.h (torchvision.ops.deform_conv2d) over device pointers.
// Plain C++ (no CUDA header), so CPU code can include it.
//   N = batch, C = input channels, H,W = input size, K = output channels, R,S = kernel size,
//   P,Q = output size, G = offset_groups; col = the sampled, masked input, (C R S, pixels).
// Per image and chunk of output pixels: deformable im2col into `workspace`, then cuBLAS gemms
// (kernels/cuda/blas.h); the backward scatters dx with atomicAdd (so dx's float rounding depends
// on the atomics' order), gathers the offset and mask gradients (one thread per sampling point,
// summing over its group's channels), and sums dw and db by gemms and a block reduction, without
// atomics. `stream` is a cudaStream_t as void* (nullptr: the default stream); every call is
// asynchronous on it, allocates nothing and does not synchronise the host. Outputs are
// overwritten; buffers must not alias.
#include <cstdint>

#include "kernels/cpu/deform_conv.h"

namespace abbe::kernels::cuda {

using cpu::DeformConv2dShape;

// Bytes of device memory the caller passes as `workspace` (any alignment cudaMalloc gives): the
// column buffer of one chunk of output pixels, sized for double (float uses half of it).
int64_t deform_conv2d_workspace_bytes(const DeformConv2dShape& s);

// x (N,C,H,W), offset (N, 2 G R S, P, Q), mask (N, G R S, P, Q) or nullptr (all ones),
// w (K, C/groups, R, S), bias (K) or nullptr -> y (N,K,P,Q) overwritten
template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask, const T* w,
                           const T* bias, T* y, void* workspace, void* stream = nullptr);

// dy (N,K,P,Q) -> dx (N,C,H,W), doffset (N, 2 G R S, P, Q), dmask (N, G R S, P, Q),
// dw (K, C/groups, R, S), db (K): each overwritten, or skipped when nullptr. With
// mask == nullptr, dmask (if wanted) is the gradient at an all-ones mask.
template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                            const T* w, const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db,
                            void* workspace, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
