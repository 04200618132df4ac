#pragma once
// Bilinear grid sampling of the CUDA backend, forward and backward, with the names, arguments and
// semantics of kernels/cpu/grid_sample.h (PyTorch 1.13's F.grid_sample, mode='bilinear', padding
// zeros or border, either align_corners), over device pointers (cudaMalloc).
// N = batch, C = channels, H,W = input height,width, P,Q = output (grid) height,width.
// x, y, dy, dx are contiguous NCHW; grid and dgrid are contiguous (N, P, Q, 2), (x, y) pairs.
// Plain C++: no CUDA header. `stream` is a cudaStream_t passed as void* (nullptr = the default
// stream); every launcher is asynchronous on it and throws abbe::Error if a launch fails.
// The forward and dgrid are deterministic (one thread per output pixel sums over the channels in
// the CPU kernel's order); dx is a scatter through atomicAdd, so its float sums may differ from
// run to run in the last bits.
#include <cstdint>

#include "kernels/cpu/grid_sample.h"

namespace abbe::kernels::cuda {

using cpu::GridPadding;

// x is (N, C, H, W), grid is (N, P, Q, 2), y is (N, C, P, Q). H, W >= 1.
template <typename T>
void grid_sample_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, const T* x, const T* grid,
                         GridPadding padding, bool align_corners, T* y, void* stream = nullptr);

// dy is (N, C, P, Q); dx is (N, C, H, W) and dgrid is (N, P, Q, 2), each overwritten (dx is
// zeroed on the stream first), and either may be null (not computed).
template <typename T>
void grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, const T* x, const T* grid,
                          GridPadding padding, bool align_corners, const T* dy, T* dx, T* dgrid,
                          void* stream = nullptr);

}  // namespace abbe::kernels::cuda
