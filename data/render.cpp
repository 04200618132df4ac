#include "data/render.h"

#include <algorithm>
#include <cmath>

namespace abbe::data::render {

namespace {
// Mirrored index (a b c | c b a), as the PSF sees a sample that continues past the edge.
int64_t mirror(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

}  // namespace

// Adds amp * exp(-|p - c|^2 / (2 s^2)) over a +-3.5 s window around c = (cy, cx).
void splat(Plane& img, double cy, double cx, double s, double amp) {
  const double reach = 3.5 * s, inv = 1.0 / (2 * s * s);
  const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(cy - reach)));
  const int64_t y1 = std::min<int64_t>(img.h - 1, int64_t(std::ceil(cy + reach)));
  const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(cx - reach)));
  const int64_t x1 = std::min<int64_t>(img.w - 1, int64_t(std::ceil(cx + reach)));
  for (int64_t y = y0; y <= y1; ++y)
    for (int64_t x = x0; x <= x1; ++x) {
      const double dy = double(y) - cy, dx = double(x) - cx;
      img.at(y, x) += amp * std::exp(-(dy * dy + dx * dx) * inv);
    }
}

// Separable Gaussian blur, truncated at 4 sigma.
Plane blur(const Plane& in, double sigma) {
  if (sigma <= 0) return in;
  const int64_t r = std::max<int64_t>(1, int64_t(std::ceil(4 * sigma)));
  std::vector<double> k(2 * r + 1);
  double ksum = 0;
  for (int64_t i = -r; i <= r; ++i)
    ksum += k[i + r] = std::exp(-0.5 * double(i * i) / (sigma * sigma));
  for (double& x : k) x /= ksum;
  Plane tmp(in.h, in.w), out(in.h, in.w);
  for (int64_t y = 0; y < in.h; ++y)
    for (int64_t x = 0; x < in.w; ++x) {
      double acc = 0;
      for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * in.v[y * in.w + mirror(x + i, in.w)];
      tmp.at(y, x) = acc;
    }
  for (int64_t y = 0; y < in.h; ++y)
    for (int64_t x = 0; x < in.w; ++x) {
      double acc = 0;
      for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * tmp.v[mirror(y + i, in.h) * in.w + x];
      out.at(y, x) = acc;
    }
  return out;
}

// A Poisson(lambda) draw from one uniform u (inversion; exact) for lambda < 64, else the normal
// approximation from z (error in the tails only, irrelevant at these counts).
double poisson(double lambda, double u, double z) {
  if (lambda <= 0) return 0;
  if (lambda >= 64) return std::max(0.0, std::round(lambda + std::sqrt(lambda) * z));
  double p = std::exp(-lambda), cdf = p;
  int k = 0;
  while (u > cdf && k < 1000) {
    ++k;
    p *= lambda / k;
    cdf += p;
  }
  return k;
}


}  // namespace abbe::data::render
