#pragma once
// 2-D average and max pooling, forward and backward.
// N = batch, C = channels, H,W = input height,width, P,Q = output height,width,
// kh,kw = window, sh,sw = stride, ph,pw = implicit padding (each side), dil_h,dil_w = dilation.
// All tensors are contiguous NCHW. Semantics are PyTorch 1.13's F.avg_pool2d / F.max_pool2d;
// backward kernels overwrite their output. The op layer checks torch's preconditions
// (k, s, dil >= 1; p <= k/2; P, Q >= 1); the kernels assume them.
#include <cstdint>

namespace abbe::kernels::cpu {

// Output length of one pooled dimension, as ATen's pooling_output_shape: with ceil_mode the
// last window must start inside the input or its left padding.
int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode, int64_t dil = 1);

struct Pool2dShape {
  int64_t N, C, H, W;
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t ph = 0, pw = 0;
  int64_t dil_h = 1, dil_w = 1;  // max pool only; avg pool requires 1
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pool only
  int64_t P() const { return pool_out_size(H, kh, sh, ph, ceil_mode, dil_h); }
  int64_t Q() const { return pool_out_size(W, kw, sw, pw, ceil_mode, dil_w); }
};

// x is (N, C, H, W), y is (N, C, P, Q). Each window is clipped to the padded input
// [-ph, H+ph) x [-pw, W+pw) (ceil_mode windows can reach past it); the divisor is the clipped
// window's area when count_include_pad, else its number of in-input elements.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y);
// dy is (N, C, P, Q), dx is (N, C, H, W).
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx);

// x is (N, C, H, W), y and indices are (N, C, P, Q); indices[..] = h*W + w within the plane of
// the first maximum in (h, w) raster order, or of the last NaN if the window holds one (y = NaN).
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* indices);
// dy and indices are (N, C, P, Q), dx is (N, C, H, W): dx[indices] += dy.
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* indices, T* dx);

}  // namespace abbe::kernels::cpu
