// PSNR / SSIM / linear fit against scikit-image 0.26 (skimage.metrics.peak_signal_noise_ratio and
// structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)) on
// float64 images given by a formula, so the reference needs no data file:
//   x[r,c] = 0.5 + 0.4 sin(0.7 r + 0.3 c) cos(0.2 r - 0.5 c),  y = x + 0.1 sin(1.3 r c + 0.1)
// The expected values were printed by this script and are embedded as literals:
//   psnr(y, x, data_range=1); ssim(y, x, data_range=1); ssim(y, 0.5 x, data_range=2);
//   np.linalg.lstsq([x, 1], y) -> a, b and psnr(y, a x + b)
#include <cmath>

#include "metrics/image_metrics.h"
#include "tests/testing.h"

namespace abbe {
namespace {

std::pair<Tensor, Tensor> images(int64_t h, int64_t w) {
  std::vector<double> x(h * w), y(h * w);
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      const double dr = double(r), dc = double(c);
      x[r * w + c] = 0.5 + 0.4 * std::sin(0.7 * dr + 0.3 * dc) * std::cos(0.2 * dr - 0.5 * dc);
      y[r * w + c] = x[r * w + c] + 0.1 * std::sin(1.3 * dr * dc + 0.1);
    }
  return {Tensor::from_vector(x, Shape{h, w}), Tensor::from_vector(y, Shape{h, w})};
}

struct Case {
  int64_t h, w;
  double psnr, ssim, ssim_half_range2;
};

TEST(ImageMetrics, MatchScikitImage) {
  const Case cases[] = {{16, 20, 23.368259673263644, 0.9334093998618617, 0.5834456632144415},
                        {32, 32, 23.409326675712755, 0.9302088287342519, 0.5931509766051959},
                        {11, 13, 23.61154278716288, 0.9187103515770483, 0.5763368341637484}};
  for (const Case& k : cases) {
    SCOPED_TRACE(::testing::Message() << k.h << "x" << k.w);
    auto [x, y] = images(k.h, k.w);
    EXPECT_NEAR(metrics::psnr(x, y), k.psnr, 1e-9);
    EXPECT_NEAR(metrics::ssim(x, y), k.ssim, 1e-9);
    EXPECT_NEAR(metrics::ssim(mul_scalar(x, 0.5), y, 2.0), k.ssim_half_range2, 1e-9);
    // float32 inputs: the metric still accumulates in double; only the input rounding differs.
    EXPECT_NEAR(metrics::ssim(x.to(DType::f32), y.to(DType::f32)), k.ssim, 1e-6);
  }
}

TEST(ImageMetrics, LinearFitMatchesLeastSquares) {
  auto [x, y] = images(16, 20);
  const Tensor fit = metrics::linear_fit(x, y);
  const Tensor expected = add_scalar(mul_scalar(x, 1.0127634569499686), -0.002941247510476388);
  EXPECT_ALL_CLOSE(fit, expected, 1e-9, 1e-12);
  EXPECT_NEAR(metrics::psnr(fit, y), 23.385109452836573, 1e-9);
}

TEST(ImageMetrics, EdgeCasesAndErrors) {
  auto [x, y] = images(16, 20);
  EXPECT_TRUE(std::isinf(metrics::psnr(x, x)));
  EXPECT_NEAR(metrics::ssim(x, x), 1.0, 1e-12);
  // A constant image fits to the mean of the target.
  const Tensor c = metrics::linear_fit(Tensor::full({16, 20}, 3.0, DType::f64), y);
  EXPECT_NEAR(c.to_vector<double>()[7], mean(y).item(), 1e-12);
  EXPECT_THROW(metrics::psnr(x, images(16, 21).first), Error);
  EXPECT_THROW(metrics::ssim(images(8, 8).first, images(8, 8).second), Error);
  EXPECT_THROW(metrics::psnr(reshape(x, {320}), reshape(y, {320})), Error);
}

}  // namespace
}  // namespace abbe
