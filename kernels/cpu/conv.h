#pragma once
// 2-D convolution and transposed convolution on the CPU: NCHW, row-major, weights as PyTorch.
//   N = batch, C = input channels, H,W = input height/width,
//   K = output channels, R,S = kernel height/width, P,Q = output height/width,
//   G = groups: C and K are divisible by G, output channels [g K/G, (g+1) K/G) see only input
//       channels [g C/G, (g+1) C/G).
// conv2d_forward_reference is the readable spec (plain loops); the other functions are the fast
// paths (im2col tiles + gemm, Winograd F(2x2,3x3) + gemm for 3x3 stride 1; OpenMP over tiles),
// tested against it. Results are bitwise independent of the thread count. Pointers are not
// validated: shapes must be consistent and buffers must not alias. Scratch memory is cached per
// calling thread between calls.
#include <cstdint>

namespace abbe::kernels::cpu {

struct Conv2dShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height/width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  int64_t P() const { return (H + 2 * pad_h - dil_h * (R - 1) - 1) / stride_h + 1; }
  int64_t Q() const { return (W + 2 * pad_w - dil_w * (S - 1) - 1) / stride_w + 1; }
};

// y[n,k,p,q] = bias[k] + sum_{c,r,s} w[k,c,r,s] x[n, g C/G + c, p stride_h - pad_h + r dil_h,
//                                                   q stride_w - pad_w + s dil_w]
// (out-of-range x reads are 0; c runs over C/G, g = k / (K/G)).
// x (N,C,H,W), w (K, C/G, R, S), bias (K) or nullptr, y (N,K,P,Q) overwritten
template <typename T>
void conv2d_forward_reference(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

// x (N,C,H,W), w (K, C/G, R, S), bias (K) or nullptr, y (N,K,P,Q) overwritten
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

// dx = d<y, dy>/dx, the adjoint of forward in x.
// dy (N,K,P,Q), w (K, C/G, R, S) -> dx (N,C,H,W) overwritten
template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx);

// x (N,C,H,W), dy (N,K,P,Q) -> dw (K, C/G, R, S) overwritten; db (K) overwritten if not nullptr
template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db);

// PyTorch ConvTranspose2d: each input pixel x[n,c,h,w] scatters w[c,k,:,:] into y at
// (h stride_h - pad_h + r dil_h, w stride_w - pad_w + s dil_w). Requires out_pad < stride (the
// case out_pad >= stride, which PyTorch allows when out_pad < dilation, is not supported).
struct ConvTranspose2dShape {
  int64_t N, C, H, W;  // input: C input channels
  int64_t K, R, S;     // output channels, kernel height/width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, out_pad_h = 0, out_pad_w = 0;
  int64_t dil_h = 1, dil_w = 1, groups = 1;
  int64_t P() const { return (H - 1) * stride_h - 2 * pad_h + dil_h * (R - 1) + out_pad_h + 1; }
  int64_t Q() const { return (W - 1) * stride_w - 2 * pad_w + dil_w * (S - 1) + out_pad_w + 1; }
  // The conv from (N,K,P,Q) to (N,C,H,W) with weight (C, K/G, R, S) whose backward_data is this
  // transposed conv's forward (output_padding only widens its input: out_pad < stride).
  Conv2dShape as_conv() const {
    return {N, K, P(), Q(), C, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups};
  }
};

// x (N,C,H,W), w (C, K/G, R, S), bias (K) or nullptr, y (N,K,P,Q) overwritten
template <typename T>
void conv_transpose2d_forward(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias,
                              T* y);

// dy (N,K,P,Q), w (C, K/G, R, S) -> dx (N,C,H,W) overwritten
template <typename T>
void conv_transpose2d_backward_data(const ConvTranspose2dShape& s, const T* dy, const T* w, T* dx);

// x (N,C,H,W), dy (N,K,P,Q) -> dw (C, K/G, R, S) overwritten; db (K) overwritten if not nullptr
template <typename T>
void conv_transpose2d_backward_weight(const ConvTranspose2dShape& s, const T* x, const T* dy, T* dw,
                                      T* db);

}  // namespace abbe::kernels::cpu
