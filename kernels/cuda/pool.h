#pragma once
// 2-D average and max pooling of the CUDA backend, with the names, arguments and semantics of
// kernels/cpu/pool.h (PyTorch 1.13's F.avg_pool2d / F.max_pool2d: windows, divisors, ties, NaN),
// over device pointers (cudaMalloc). N = batch, C = channels, H,W = input height,width,
// P,Q = output height,width (s.P(), s.Q()). All tensors are contiguous NCHW. Plain C++: no CUDA
// header. `stream` is a cudaStream_t passed as void* (nullptr = the default stream); every
// launcher is asynchronous on it and throws abbe::Error if the launch fails. Backward kernels
// overwrite their output and are deterministic: each dx element is summed by one thread, over
// the windows that contain it, in the CPU kernel's (p, q) raster order (no atomics).
#include <cstdint>

#include "kernels/cpu/pool.h"

namespace abbe::kernels::cuda {

using cpu::Pool2dShape;

// x is (N, C, H, W), y is (N, C, P, Q). Windows clipped as in cpu::avg_pool2d_forward.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y, void* stream = nullptr);
// dy is (N, C, P, Q), dx is (N, C, H, W).
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx, void* stream = nullptr);

// x is (N, C, H, W), y and indices are (N, C, P, Q); indices[..] = h*W + w within the plane of
// the first maximum in (h, w) raster order, or of the last NaN if the window holds one (y = NaN).
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* indices, void* stream = nullptr);
// dy and indices are (N, C, P, Q), dx is (N, C, H, W): dx[indices] += dy. As a gather, an index
// counts only if it lies in its own window, which is always so for indices from
// max_pool2d_forward (the CPU kernel would also add one pointing elsewhere in the plane).
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* indices, T* dx, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
