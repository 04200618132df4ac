#include "data/simulate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/render.h"
#include "graph/rng.h"

namespace abbe::data {
namespace {

using render::Plane;
using render::blur;
using render::poisson;
using render::splat;

// A check on user input (flags, files): the message alone, without the source location that
// ABBE_CHECK adds for programming errors.
template <typename... Args>
void require(bool ok, const Args&... args) {
  if (!ok) throw Error(detail::concat(args...));
}

constexpr double kPi = 3.14159265358979323846;
constexpr double kLineSigma = 0.8;  // filament cross-section, HR px
constexpr double kStep = 0.5;       // filament sampling step along its arc, HR px
constexpr int kIndexShift = 40;     // image i draws from counters [i << 40, (i + 1) << 40)

void render_filament(Plane& gt, Generator& gen) {
  const double H = double(gt.h), W = double(gt.w);
  double y = (gen.uniform() * 1.2 - 0.1) * H, x = (gen.uniform() * 1.2 - 0.1) * W;
  double theta = gen.uniform() * 2 * kPi;
  const double length = (0.5 + gen.uniform()) * std::max(H, W);
  const double persistence = 20 + 60 * gen.uniform();  // HR px
  const double brightness = 0.4 + 0.6 * gen.uniform();
  // Points kStep apart, each a Gaussian of the line's sigma: their sum is a line whose
  // cross-section peaks at `brightness` (amplitude = brightness * step / (sqrt(2 pi) sigma)).
  const double amp = brightness * kStep / (std::sqrt(2 * kPi) * kLineSigma);
  const double turn = std::sqrt(kStep / persistence);  // worm-like chain: var(dtheta) = ds / Lp
  for (double s = 0; s < length; s += kStep) {
    splat(gt, y, x, kLineSigma, amp);
    theta += turn * gen.normal();
    y += kStep * std::sin(theta);
    x += kStep * std::cos(theta);
  }
}

}  // namespace

void validate(const SimConfig& c) {
  require(c.scale >= 1 && c.scale <= 8, "simulate: scale must be 1..8, got ", c.scale);
  require(c.hr_size >= 4 * c.scale && c.hr_size <= 8192,
          "simulate: HR size must be in [4 x scale, 8192], got ", c.hr_size);
  require(c.hr_size % c.scale == 0, "simulate: HR size ", c.hr_size,
          " is not a multiple of the scale ", c.scale);
  require(c.filaments >= 0 && c.filaments <= 10000, "simulate: filaments must be 0..10000, got ",
          c.filaments);
  require(c.blobs >= 0 && c.blobs <= 100000, "simulate: blobs must be 0..100000, got ", c.blobs);
  require(std::isfinite(c.psf_sigma) && c.psf_sigma >= 0 && c.psf_sigma <= 64,
          "simulate: PSF sigma must be in [0, 64] HR px, got ", c.psf_sigma);
  require(std::isfinite(c.photons) && c.photons > 0 && c.photons <= 60000,
          "simulate: photons must be in (0, 60000], got ", c.photons);
  require(std::isfinite(c.background) && c.background >= 0 && c.background <= 60000,
          "simulate: background must be in [0, 60000], got ", c.background);
  require(std::isfinite(c.read_noise) && c.read_noise >= 0 && c.read_noise <= 10000,
          "simulate: read noise must be in [0, 10000], got ", c.read_noise);
}

namespace {

// Writes image `index` into lr (h,w) and hr (H,W). Allocates no tensors, so it may run on any
// OpenMP thread; cfg and index are checked by the callers.
void simulate_into(const SimConfig& cfg, uint64_t seed, int64_t index, float* lr, float* hr) {
  Generator gen(seed);
  gen.set_offset(uint64_t(index) << kIndexShift);

  const int64_t H = cfg.hr_size, f = cfg.scale, h = H / f;
  Plane gt(H, H);
  for (int i = 0; i < cfg.filaments; ++i) render_filament(gt, gen);
  for (int i = 0; i < cfg.blobs; ++i) {
    const double cy = gen.uniform() * double(H), cx = gen.uniform() * double(H);
    const double s = 1.0 + 1.5 * gen.uniform(), peak = 0.2 + 0.8 * gen.uniform();
    splat(gt, cy, cx, s, peak);
  }
  const double gmax = *std::max_element(gt.v.begin(), gt.v.end());
  if (gmax > 0)
    for (double& v : gt.v) v /= gmax;

  const Plane blurred = blur(gt, cfg.psf_sigma);
  // Noise: pixel j of the camera frame uses counters u0 + j and n0 + j (Poisson) and z0 + j (read
  // noise): a fixed number of draws per pixel.
  const uint64_t u0 = gen.take(uint64_t(h * h)), z0 = gen.take(uint64_t(h * h));
  const uint64_t n0 = gen.take(uint64_t(h * h));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < h; ++x) {
      double acc = 0;
      for (int64_t dy = 0; dy < f; ++dy)
        for (int64_t dx = 0; dx < f; ++dx) acc += blurred.v[(y * f + dy) * H + x * f + dx];
      const double mean = cfg.background + cfg.photons * acc / double(f * f);
      const uint64_t j = uint64_t(y * h + x);
      double v = poisson(mean, Philox::uniform_double(seed, u0 + j), Philox::normal(seed, n0 + j));
      v += cfg.read_noise * Philox::normal(seed, z0 + j);
      lr[j] = static_cast<float>(std::clamp(std::round(v), 0.0, 65535.0));
    }
  std::copy(gt.v.begin(), gt.v.end(), hr);
}

}  // namespace

SimPair simulate_pair(const SimConfig& cfg, uint64_t seed, int64_t index) {
  validate(cfg);
  require(index >= 0 && index < (int64_t(1) << 23), "simulate: image index out of range: ", index);
  const int64_t H = cfg.hr_size, h = H / cfg.scale;
  Tensor lr = Tensor::empty({h, h}), hr = Tensor::empty({H, H});
  simulate_into(cfg, seed, index, lr.data<float>(), hr.data<float>());
  return {lr, hr};
}

SimPair simulate_stack(const SimConfig& cfg, uint64_t seed, int64_t n) {
  validate(cfg);
  require(n >= 1 && n <= 100000, "simulate: image count must be 1..100000, got ", n);
  const int64_t H = cfg.hr_size, h = H / cfg.scale;
  Tensor lr = Tensor::empty({n, h, h}), hr = Tensor::empty({n, H, H});
  float* lp = lr.data<float>();
  float* hp = hr.data<float>();
  // Images are independent functions of (seed, index), so any thread may make any of them.
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) simulate_into(cfg, seed, i, lp + i * h * h, hp + i * H * H);
  return {lr, hr};
}

}  // namespace abbe::data
