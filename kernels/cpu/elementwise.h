#pragma once
// Elementwise kernels. n = number of elements; all pointers contiguous unless a Broadcast says
// otherwise. Backward kernels overwrite dx.
#include <cstdint>

namespace abbe::kernels::cpu {

enum class UnaryOp : uint8_t {
  neg, exp, log, abs, sqrt, square, relu, leaky_relu, sigmoid, tanh, add_scalar, mul_scalar
};

// y = op(x); alpha is the slope (leaky_relu) or the scalar (add_scalar, mul_scalar).
template <typename T> void unary_forward(UnaryOp op, int64_t n, const T* x, T* y, T alpha);
// dx = dy * op'(x); some ops use the saved output y instead of x (exp, sqrt, sigmoid, tanh).
template <typename T>
void unary_backward(UnaryOp op, int64_t n, const T* x, const T* y, const T* dy, T* dx, T alpha);

enum class BinaryOp : uint8_t { add, sub, mul, div };

// Output index space of a broadcast binary op, padded to 5 dims; a stride of 0 repeats.
struct Broadcast {
  int64_t size[5];
  int64_t a_stride[5], b_stride[5];
  int64_t numel() const { return size[0] * size[1] * size[2] * size[3] * size[4]; }
};
// y (contiguous, Broadcast::size) = a op b.
template <typename T> void binary_forward(BinaryOp op, const Broadcast& bc, const T* a, const T* b, T* y);

// a += alpha * b (n elements).
template <typename T> void axpy(int64_t n, T alpha, const T* b, T* a);

// PReLU over x (N, C, inner) with weight (C) (or (1) when C_w == 1).
template <typename T>
void prelu_forward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, T* y);
// dx overwritten; dw (C_w) overwritten.
template <typename T>
void prelu_backward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w,
                    const T* dy, T* dx, T* dw);

}  // namespace abbe::kernels::cpu
