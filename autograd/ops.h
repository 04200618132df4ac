#pragma once
// The differentiable operations: what layers, nets and users call. Each records a tape node when
// grad mode is on and an input requires grad (autograd/node.h), dispatches on the device, and
// checks its inputs with a message naming the op, the argument and the shapes.
//
// Shapes: N batch, C channels, H,W height/width; sequences are (N,T,C,H,W).
// The list of ops (for dispatch coverage and the test harness) is graph/op_list.h.
#include <optional>
#include <vector>

#include "autograd/node.h"
#include "graph/rng.h"
#include "graph/tensor.h"

namespace abbe {

// ---- elementwise (autograd/elementwise.cpp) — binary ops broadcast like NumPy ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& x, double s);
Tensor mul_scalar(const Tensor& x, double s);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);  // d|x|/dx = sign(x), 0 at 0 (as PyTorch)
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// weight (1) for one shared slope, or (C) with x (N,C,...) for per-channel slopes.
Tensor prelu(const Tensor& x, const Tensor& weight);
// a += b in place, no gradient recorded (gradient accumulation, optimisers). Same shape.
void add_(Tensor& a, const Tensor& b, double alpha = 1.0);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- reductions (autograd/reduce.cpp) ----
Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
// Sums x down to `shape` (the inverse of broadcasting; used by binary-op backward).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- shape ops (autograd/shape_ops.cpp) — views where possible ----
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int dim, int64_t index);
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor unsqueeze(const Tensor& x, int dim);
Tensor contiguous(const Tensor& x);
Tensor concat(const std::vector<Tensor>& xs, int dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim);
Tensor stack(const std::vector<Tensor>& xs, int dim);

// ---- convolution (autograd/conv.cpp) ----
struct Conv2dOptions {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  Conv2dOptions& stride(int s) { stride_h = stride_w = s; return *this; }
  Conv2dOptions& padding(int p) { pad_h = pad_w = p; return *this; }
  Conv2dOptions& dilation(int d) { dil_h = dil_w = d; return *this; }
  Conv2dOptions& group(int g) { groups = g; return *this; }
};
// x (N,C,H,W), weight (K, C/groups, R, S), bias (K) or undefined -> (N,K,P,Q)
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o = {});
struct ConvTranspose2dOptions {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, out_pad_h = 0, out_pad_w = 0, dil_h = 1,
      dil_w = 1, groups = 1;
};
// x (N,C,H,W), weight (C, K/groups, R, S), bias (K) or undefined -> (N,K,P,Q)
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& o = {});

// ---- resampling (autograd/resample.cpp) ----
Tensor pixel_shuffle(const Tensor& x, int r);    // (N, C r^2, H, W) -> (N, C, rH, rW)
Tensor pixel_unshuffle(const Tensor& x, int r);  // (N, C, rH, rW) -> (N, C r^2, H, W)
// Bilinear / nearest as F.interpolate: give a scale factor (scale > 0) or an output size.
Tensor upsample_bilinear(const Tensor& x, double scale, bool align_corners);
Tensor upsample_bilinear_to(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);
Tensor upsample_nearest(const Tensor& x, double scale);
Tensor upsample_nearest_to(const Tensor& x, int64_t out_h, int64_t out_w);

// ---- pooling (autograd/pool.cpp) ----
struct Pool2dOptions {
  int kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2, pad_h = 0, pad_w = 0;
  bool ceil_mode = false, count_include_pad = true;
};
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o);
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o);

// ---- dropout (autograd/dropout.cpp) ----
// Zeroes each element with probability p and scales the rest by 1/(1-p), when `active`. The switch
// is explicit (not tied to training mode) because Monte Carlo inference needs dropout on in eval.
// The mask is a function of (gen seed, gen offset, element index) only.
Tensor dropout(const Tensor& x, double p, bool active, Generator& gen = default_generator());

// ---- losses (autograd/loss.cpp), mean over all elements ----
Tensor l1_loss(const Tensor& pred, const Tensor& target);
Tensor mse_loss(const Tensor& pred, const Tensor& target);

}  // namespace abbe
