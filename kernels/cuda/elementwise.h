#pragma once
// Elementwise kernels of the CUDA backend: the same operations and semantics as
// kernels/cpu/elementwise.h (same enums, same Broadcast), over device pointers (cudaMalloc).
// Plain C++: no CUDA header, so CPU code can include it. `stream` is a cudaStream_t passed as
// void* (the real runtime's CUstream_st* or the emulator's handle); nullptr is the default stream.
// Every launcher is asynchronous on `stream` and throws abbe::Error if the launch fails.
// n = number of elements; all pointers contiguous unless a Broadcast says otherwise.
#include <cstdint>

#include "kernels/cpu/elementwise.h"

namespace abbe::kernels::cuda {

using cpu::BinaryOp;
using cpu::Broadcast;
using cpu::UnaryOp;

// y = op(x); alpha is the slope (leaky_relu) or the scalar (add_scalar, mul_scalar). y may be x.
template <typename T>
void unary_forward(UnaryOp op, int64_t n, const T* x, T* y, T alpha, void* stream = nullptr);
// dx = dy * op'(x); exp, sqrt, sigmoid, tanh read the saved output y, the others x (a pointer an
// op does not read may be null). dx is overwritten.
template <typename T>
void unary_backward(UnaryOp op, int64_t n, const T* x, const T* y, const T* dy, T* dx, T alpha,
                    void* stream = nullptr);

// y (contiguous, bc.size) = a op b, a and b addressed through bc's strides (0 = broadcast).
template <typename T>
void binary_forward(BinaryOp op, const Broadcast& bc, const T* a, const T* b, T* y, void* stream = nullptr);

// a += alpha * b (n elements).
template <typename T> void axpy(int64_t n, T alpha, const T* b, T* a, void* stream = nullptr);

// PReLU over x (N, C, inner) with weight (C), or (1) when C_w == 1.
template <typename T>
void prelu_forward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, T* y,
                   void* stream = nullptr);
// Device scratch prelu_backward needs: one double per (n, c) row.
int64_t prelu_backward_workspace_bytes(int64_t N, int64_t C);
// dx (N, C, inner) and dw (C_w) overwritten. dw is reduced deterministically (no atomics): one
// block per (n, c) row writes that row's partial sum to `workspace`, then one thread per weight
// adds its rows in ascending order, like the CPU kernel, so the result never depends on scheduling.
template <typename T>
void prelu_backward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, const T* dy,
                    T* dx, T* dw, void* workspace, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
