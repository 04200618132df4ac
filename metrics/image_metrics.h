#pragma once
// Image quality metrics on single images: (H,W) tensors, float32 or float64, any layout; computed
// in double on the host.
//
//   psnr(x, y, peak)   10 log10(peak^2 / mean((x - y)^2)); +inf when x == y. As skimage's
//                      peak_signal_noise_ratio(y, x, data_range=peak).
//   ssim(x, y, range)  mean structural similarity, as skimage's structural_similarity(y, x,
//                      data_range=range, gaussian_weights=True, sigma=1.5,
//                      use_sample_covariance=False): Gaussian window sigma 1.5 truncated at 3.5
//                      sigma (11 taps), scipy 'reflect' borders, K1 0.01, K2 0.03, and the mean
//                      taken over the map with a 5-pixel border cropped.
//   linear_fit(x, y)   a x + b with (a, b) the least-squares fit of x to y. The papers' metrics
//                      fit SR to the GT first, so that an intensity offset or gain (which
//                      normalisation alone leaves) is not counted as error.
#include "graph/tensor.h"

namespace abbe::metrics {

double mse(const Tensor& x, const Tensor& y);
double psnr(const Tensor& x, const Tensor& y, double peak = 1.0);
double ssim(const Tensor& x, const Tensor& y, double data_range = 1.0);
Tensor linear_fit(const Tensor& x, const Tensor& y);

}  // namespace abbe::metrics
