#pragma once
// Intensity normalisation for data preparation, over the whole tensor (any shape). Inputs are
// float32 or float64 on any device; outputs are new float32 CPU tensors. No autograd: these run
// before a tensor enters the graph. Every function first checks that the input is finite and
// throws naming `what`'s element otherwise.
#include <string>

#include "graph/tensor.h"

namespace abbe::io {

// (x - min) / (max - min); a constant tensor gives zeros, not NaN.
Tensor min_max(const Tensor& x);

// CSBDeep's normalize(x, pmin, pmax, clip, eps=1e-20):
//   lo = percentile(x, p_low), hi = percentile(x, p_high), (x - lo) / (hi - lo + 1e-20),
// then clipped to [0, 1] if clip. Percentiles interpolate linearly between order statistics
// exactly as numpy.percentile's default ("linear"). 0 <= p_low <= p_high <= 100.
// (CSBDeep's own defaults are p_low=3, p_high=99.8.)
Tensor percentile_normalize(const Tensor& x, double p_low = 0.0, double p_high = 99.9,
                            bool clip = false);

// numpy.percentile(x, p) over all elements (method "linear"), 0 <= p <= 100.
double percentile(const Tensor& x, double p);

// x / max(x). Needs max(x) > 0, or an all-zero tensor (which stays zero).
Tensor divide_by_max(const Tensor& x);

// DPA-TISR's targets (spec "Training and data"): each (H, W) plane of x (..., H, W) blurred by the
// 3x3 Gaussian of sigma 0.4 (reflect-101 borders: d c b | a b c d). Divide by the max first.
Tensor blur_target(const Tensor& x);

// Throws abbe::Error "<what>: non-finite value nan at index [0, 3, 5]" for the first NaN/Inf
// in row-major order. float32 or float64, any layout or device.
void check_finite(const Tensor& x, const std::string& what);

}  // namespace abbe::io
