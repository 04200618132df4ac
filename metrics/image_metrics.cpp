#include "metrics/image_metrics.h"

#include <cmath>
#include <limits>
#include <vector>

namespace abbe::metrics {
namespace {

// H,W: image height and width. Images are held row-major as double.
struct Image {
  int64_t h = 0, w = 0;
  std::vector<double> v;  // (H,W)
};

Image to_image(const Tensor& t, const char* fn, const char* arg) {
  ABBE_CHECK(t.defined() && t.dim() == 2, fn, ": ", arg, " must be a 2-D (H,W) image, got ",
             t.defined() ? describe(t) : std::string("an undefined tensor"));
  ABBE_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, fn, ": ", arg,
             " must be float32 or float64, got ", describe(t));
  return Image{t.size(0), t.size(1), t.to_vector<double>()};
}

void check_pair(const Image& x, const Image& y, const char* fn) {
  ABBE_CHECK(x.h == y.h && x.w == y.w, fn, ": images differ in size, [", x.h, ", ", x.w, "] vs [",
             y.h, ", ", y.w, "]");
  ABBE_CHECK(x.h > 0 && x.w > 0, fn, ": empty image");
}

// scipy.ndimage 'reflect' (half-sample symmetric: d c b a | a b c d | d c b a), any distance.
int64_t reflect(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// scipy.ndimage.gaussian_filter(img, sigma, truncate, mode='reflect'): two 1-D passes with the
// normalised kernel exp(-x^2 / (2 sigma^2)), x in [-r, r], r = int(truncate sigma + 0.5).
std::vector<double> gaussian_filter(const std::vector<double>& in, int64_t h, int64_t w,
                                    double sigma, double truncate) {
  const int64_t r = static_cast<int64_t>(truncate * sigma + 0.5);
  std::vector<double> k(2 * r + 1);
  double ksum = 0;
  for (int64_t i = -r; i <= r; ++i)
    ksum += k[i + r] = std::exp(-0.5 * double(i * i) / (sigma * sigma));
  for (double& v : k) v /= ksum;
  std::vector<double> tmp(in.size()), out(in.size());
  for (int64_t y = 0; y < h; ++y)  // along W
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * in[y * w + reflect(x + i, w)];
      tmp[y * w + x] = acc;
    }
  for (int64_t y = 0; y < h; ++y)  // along H
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * tmp[reflect(y + i, h) * w + x];
      out[y * w + x] = acc;
    }
  return out;
}

}  // namespace

double mse(const Tensor& xt, const Tensor& yt) {
  const Image x = to_image(xt, "mse", "x"), y = to_image(yt, "mse", "y");
  check_pair(x, y, "mse");
  double acc = 0;
  for (size_t i = 0; i < x.v.size(); ++i) acc += (x.v[i] - y.v[i]) * (x.v[i] - y.v[i]);
  return acc / static_cast<double>(x.v.size());
}

double psnr(const Tensor& x, const Tensor& y, double peak) {
  ABBE_CHECK(peak > 0, "psnr: peak must be positive, got ", peak);
  const double m = mse(x, y);
  if (m == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(peak * peak / m);
}

double ssim(const Tensor& xt, const Tensor& yt, double data_range) {
  const Image x = to_image(xt, "ssim", "x"), y = to_image(yt, "ssim", "y");
  check_pair(x, y, "ssim");
  ABBE_CHECK(data_range > 0, "ssim: data_range must be positive, got ", data_range);
  constexpr double kSigma = 1.5, kTruncate = 3.5, kK1 = 0.01, kK2 = 0.03;
  constexpr int64_t kPad = 5;  // (win_size - 1) / 2 with win_size = 2 int(3.5 * 1.5 + 0.5) + 1
  ABBE_CHECK(x.h >= 2 * kPad + 1 && x.w >= 2 * kPad + 1,
             "ssim: images must be at least 11 x 11 (the Gaussian window), got ", x.h, " x ", x.w);
  const int64_t n = x.h * x.w;
  std::vector<double> xx(n), yy(n), xy(n);
  for (int64_t i = 0; i < n; ++i) {
    xx[i] = x.v[i] * x.v[i], yy[i] = y.v[i] * y.v[i], xy[i] = x.v[i] * y.v[i];
  }
  const auto ux = gaussian_filter(x.v, x.h, x.w, kSigma, kTruncate);
  const auto uy = gaussian_filter(y.v, x.h, x.w, kSigma, kTruncate);
  const auto uxx = gaussian_filter(xx, x.h, x.w, kSigma, kTruncate);
  const auto uyy = gaussian_filter(yy, x.h, x.w, kSigma, kTruncate);
  const auto uxy = gaussian_filter(xy, x.h, x.w, kSigma, kTruncate);
  const double c1 = (kK1 * data_range) * (kK1 * data_range);
  const double c2 = (kK2 * data_range) * (kK2 * data_range);
  double acc = 0;
  for (int64_t r = kPad; r < x.h - kPad; ++r)
    for (int64_t c = kPad; c < x.w - kPad; ++c) {
      const int64_t i = r * x.w + c;
      const double vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i];
      const double vxy = uxy[i] - ux[i] * uy[i];
      const double a1 = 2 * ux[i] * uy[i] + c1, a2 = 2 * vxy + c2;
      const double b1 = ux[i] * ux[i] + uy[i] * uy[i] + c1, b2 = vx + vy + c2;
      acc += (a1 * a2) / (b1 * b2);
    }
  return acc / static_cast<double>((x.h - 2 * kPad) * (x.w - 2 * kPad));
}

Tensor linear_fit(const Tensor& xt, const Tensor& yt) {
  const Image x = to_image(xt, "linear_fit", "x"), y = to_image(yt, "linear_fit", "y");
  check_pair(x, y, "linear_fit");
  const double n = static_cast<double>(x.v.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.v.size(); ++i) mx += x.v[i], my += y.v[i];
  mx /= n, my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.v.size(); ++i) {
    sxx += (x.v[i] - mx) * (x.v[i] - mx);
    sxy += (x.v[i] - mx) * (y.v[i] - my);
  }
  // A constant x has no slope to fit: the best affine map is the constant mean of y.
  const double a = sxx > 0 ? sxy / sxx : 0.0, b = my - a * mx;
  std::vector<double> out(x.v.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = a * x.v[i] + b;
  return Tensor::from_vector(out, Shape{x.h, x.w}).to(xt.dtype());
}

}  // namespace abbe::metrics
