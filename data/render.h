#pragma once
// Drawing and camera helpers shared by the simulators (data/simulate.h, data/simulate_tisr.h):
// double-precision planes, Gaussian splats, a separable Gaussian PSF, Poisson draws.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace abbe::data::render {

// Row-major (H,W) image of doubles.
struct Plane {
  int64_t h, w;
  std::vector<double> v;
  Plane(int64_t hh, int64_t ww) : h(hh), w(ww), v(static_cast<size_t>(hh * ww), 0.0) {}
  double& at(int64_t y, int64_t x) { return v[static_cast<size_t>(y * w + x)]; }
};

// Adds amp * exp(-|p - c|^2 / (2 s^2)) over a +-3.5 s window around c = (cy, cx), in pixel-index
// coordinates (pixel (y, x) is the point (y, x)).
void splat(Plane& img, double cy, double cx, double s, double amp);

// Separable Gaussian blur, truncated at 4 sigma, mirrored borders (a b c | c b a). sigma <= 0:
// a copy.
Plane blur(const Plane& in, double sigma);

// A Poisson(lambda) draw from one uniform u (inversion; exact) for lambda < 64, else the normal
// approximation from z (error in the tails only, irrelevant at these counts).
double poisson(double lambda, double u, double z);

}  // namespace abbe::data::render
