#pragma once
// Modulated deformable convolution (DCNv2) on the CPU: torchvision.ops.deform_conv2d (0.14), NCHW.
//   N = batch, C = input channels, H,W = input height/width,
//   K = output channels, R,S = kernel height/width, t = r S + s a kernel tap, P,Q = output size,
//   groups = weight groups (as conv2d: output channels [j K/groups, (j+1) K/groups) see input
//            channels [j C/groups, (j+1) C/groups)),
//   G = offset_groups: input channels [g C/G, (g+1) C/G) are sampled with group g's offsets.
// Each tap of each output pixel samples x at a fractional position:
//   h = p stride_h - pad_h + r dil_h + offset[n, 2 (g R S + t),     p, q]   (dy)
//   w = q stride_w - pad_w + s dil_w + offset[n, 2 (g R S + t) + 1, p, q]   (dx)
//   y[n,k,p,q] = bias[k] + sum_{c,r,s} w[k,c,r,s] mask[n, g R S + t, p, q] sample(x[n,c], h, w)
// sample() is bilinear with zero outside the image: 0 unless -1 < h < H and -1 < w < W, and each
// of the four neighbours outside the image counts as 0 (torchvision's bilinear_interpolate).
// The offset gradient is torchvision's too: the derivative of that interpolant on each cell,
// where a cell is picked by floor(h), floor(w), so at h == -1 (or w == -1) exactly it is the
// one-sided derivative from inside although the sample there is 0. Non-finite offsets sample 0.
//
// reference:: (deform_conv_reference.cpp) is the readable spec, plain loops over torchvision's
// formulas; deform_conv2d_forward and deform_conv2d_backward (deform_conv.cpp) are the fast paths
// (deformable im2col tiles + gemm, OpenMP), tested against it. Results are bitwise independent
// of the thread count. Pointers are not validated: shapes must be consistent, buffers must not
// alias, and (H + 3)(W + 2) < 2^31 (the fast paths index padded planes in 32 bits). Scratch
// memory is cached per calling thread between calls.
#include <cstdint>

namespace abbe::kernels::cpu {

struct DeformConv2dShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height/width
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;         // weight groups: C and K divisible by it
  int64_t offset_groups = 1;  // G: C divisible by it
  int64_t P() const { return (H + 2 * pad_h - dil_h * (R - 1) - 1) / stride_h + 1; }
  int64_t Q() const { return (W + 2 * pad_w - dil_w * (S - 1) - 1) / stride_w + 1; }
};

// x (N,C,H,W), offset (N, 2 G R S, P, Q), mask (N, G R S, P, Q) or nullptr (all ones),
// w (K, C/groups, R, S), bias (K) or nullptr -> y (N,K,P,Q) overwritten
template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                           const T* w, const T* bias, T* y);

// The gradients of <y, dy> for the forward's inputs: dy (N,K,P,Q) -> dx (N,C,H,W),
// doffset (N, 2 G R S, P, Q), dmask (N, G R S, P, Q), dw (K, C/groups, R, S), db (K).
// Each output is overwritten, or skipped when nullptr. With mask == nullptr, dmask (if wanted)
// is the gradient at an all-ones mask.
template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                            const T* w, const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db);

namespace reference {

// Plain loops over torchvision's formulas; same arguments as above.
template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                           const T* w, const T* bias, T* y);

template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                            const T* w, const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db);

}  // namespace reference

}  // namespace abbe::kernels::cpu
