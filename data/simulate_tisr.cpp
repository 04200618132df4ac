#include "data/simulate_tisr.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <vector>

#include "data/render.h"
#include "graph/rng.h"

namespace abbe::data {
namespace {

using render::Plane;

template <typename... Args>
void require(bool ok, const Args&... args) {
  if (!ok) throw Error(detail::concat(args...));
}

constexpr double kPi = 3.14159265358979323846;
constexpr double kStep = 0.5;    // spacing of a chain's points along its arc, HR px
constexpr int kIndexShift = 40;  // sequence i draws from counters [i << 40, (i + 1) << 40)

// A drawn point: position (HR px), Gaussian sigma, amplitude. Every structure is a set of these;
// motion moves the points, so chains bend and stretch with the field.
struct Point {
  double y, x, sigma, amp;
};

// A worm-like chain of points kStep apart starting anywhere in the field (or a bit outside).
void add_chain(std::vector<Point>& pts, Generator& gen, double H, double length,
               double persistence, double sigma, double brightness) {
  double y = (gen.uniform() * 1.2 - 0.1) * H, x = (gen.uniform() * 1.2 - 0.1) * H;
  double theta = gen.uniform() * 2 * kPi;
  // Points of the line's sigma kStep apart sum to a line whose cross-section peaks at brightness.
  const double amp = brightness * kStep / (std::sqrt(2 * kPi) * sigma);
  const double turn = std::sqrt(kStep / persistence);  // var(dtheta) = ds / Lp
  for (double s = 0; s < length; s += kStep) {
    pts.push_back({y, x, sigma, amp});
    theta += turn * gen.normal();
    y += kStep * std::sin(theta);
    x += kStep * std::cos(theta);
  }
}

// The velocity field v(p, t) of the header, HR px per frame.
struct Motion {
  double drift_y, drift_x;
  std::array<double, 3> cy, cx, r, wy, wx;  // local translations
  double deform, ay, ax, phy, phx;

  Motion(const TisrSimConfig& c, Generator& gen) {
    const double H = double(c.hr_size);
    double a = gen.uniform() * 2 * kPi;
    drift_y = c.drift * std::sin(a), drift_x = c.drift * std::cos(a);
    for (size_t k = 0; k < 3; ++k) {
      cy[k] = gen.uniform() * H, cx[k] = gen.uniform() * H;
      r[k] = (0.15 + 0.15 * gen.uniform()) * H;
      a = gen.uniform() * 2 * kPi;
      const double speed = c.local * (0.5 + 0.5 * gen.uniform());
      wy[k] = speed * std::sin(a), wx[k] = speed * std::cos(a);
    }
    deform = c.deform;
    ay = 0.5 + gen.uniform(), ax = 0.5 + gen.uniform();
    phy = gen.uniform() * 2 * kPi, phx = gen.uniform() * 2 * kPi;
  }

  // (vy, vx) at (y, x) between frames t and t + 1, for an H x W field.
  void at(double y, double x, int64_t t, double H, double W, double& vy, double& vx) const {
    vy = drift_y, vx = drift_x;
    for (size_t k = 0; k < 3; ++k) {
      const double dy = y - cy[k], dx = x - cx[k];
      const double g = std::exp(-(dy * dy + dx * dx) / (2 * r[k] * r[k]));
      vy += wy[k] * g, vx += wx[k] * g;
    }
    vy += deform * std::sin(ay * 2 * kPi * y / H + phy + 0.1 * double(t));
    vx += deform * std::sin(ax * 2 * kPi * x / W + phx + 0.1 * double(t));
  }
};

std::vector<Point> structures(const TisrSimConfig& c, Generator& gen) {
  const double H = double(c.hr_size);
  std::vector<Point> pts;
  for (int i = 0; i < c.filaments; ++i) {
    const double length = (0.5 + gen.uniform()) * H, persistence = 20 + 60 * gen.uniform();
    add_chain(pts, gen, H, length, persistence, 0.8, 0.4 + 0.6 * gen.uniform());
  }
  for (int i = 0; i < c.tubules; ++i) {
    const double length = (0.1 + 0.2 * gen.uniform()) * H, persistence = 60 + 140 * gen.uniform();
    add_chain(pts, gen, H, length, persistence, 1.5 + 0.7 * gen.uniform(), 0.3 + 0.5 * gen.uniform());
  }
  for (int i = 0; i < c.vesicles; ++i) {
    const double y = gen.uniform() * H, x = gen.uniform() * H, peak = 0.2 + 0.8 * gen.uniform();
    if (i % 2 == 0) {  // a ring: 16 points on a circle, each of sigma 0.7
      const double radius = 1.5 + 1.5 * gen.uniform();
      for (int k = 0; k < 16; ++k) {
        const double a = 2 * kPi * k / 16;
        pts.push_back({y + radius * std::sin(a), x + radius * std::cos(a), 0.7, peak * 0.35});
      }
    } else {
      pts.push_back({y, x, 1.0 + 1.5 * gen.uniform(), peak});
    }
  }
  return pts;
}

}  // namespace

std::vector<std::string> sequence_dirs(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require(fs::is_directory(dir, ec), what, ": '", dir, "' is not a directory");
  std::vector<std::string> seqs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string().rfind("seq_", 0) == 0)
      seqs.push_back(entry.path().string());
  std::sort(seqs.begin(), seqs.end());
  require(!seqs.empty(), what, ": no seq_*/ directories in '", dir, "' (abbe simulate tisr makes them)");
  return seqs;
}

double tisr_photons(int snr) {
  require(snr >= 1 && snr <= 3, "simulate tisr: SNR level must be 1, 2 or 3, got ", snr);
  return snr == 1 ? 25.0 : snr == 2 ? 75.0 : 250.0;
}

void validate(const TisrSimConfig& c) {
  require(c.scale >= 1 && c.scale <= 8, "simulate tisr: scale must be 1..8, got ", c.scale);
  require(c.hr_size >= 8 * c.scale && c.hr_size <= 4096,
          "simulate tisr: HR size must be in [8 x scale, 4096], got ", c.hr_size);
  require(c.hr_size % c.scale == 0, "simulate tisr: HR size ", c.hr_size,
          " is not a multiple of the scale ", c.scale);
  require(c.frames >= 1 && c.frames <= 100000, "simulate tisr: frames must be 1..100000, got ",
          c.frames);
  require(c.filaments >= 0 && c.filaments <= 10000 && c.vesicles >= 0 && c.vesicles <= 100000 &&
              c.tubules >= 0 && c.tubules <= 10000,
          "simulate tisr: structure counts out of range (filaments ", c.filaments, ", vesicles ",
          c.vesicles, ", tubules ", c.tubules, ")");
  for (auto [name, v] : {std::pair<const char*, double>{"drift", c.drift}, {"local", c.local},
                         {"deform", c.deform}})
    require(std::isfinite(v) && v >= 0 && v <= 16, "simulate tisr: ", name,
            " must be in [0, 16] HR px per frame, got ", v);
  require(std::isfinite(c.sr_psf_sigma) && c.sr_psf_sigma >= 0 && c.sr_psf_sigma <= 64 &&
              std::isfinite(c.wf_psf_sigma) && c.wf_psf_sigma >= 0 && c.wf_psf_sigma <= 64,
          "simulate tisr: PSF sigmas must be in [0, 64] HR px, got ", c.sr_psf_sigma, " and ",
          c.wf_psf_sigma);
  (void)tisr_photons(c.snr);
  require(std::isfinite(c.background) && c.background >= 0 && c.background <= 60000,
          "simulate tisr: background must be in [0, 60000], got ", c.background);
  require(std::isfinite(c.read_noise) && c.read_noise >= 0 && c.read_noise <= 10000,
          "simulate tisr: read noise must be in [0, 10000], got ", c.read_noise);
}

TisrSequence simulate_sequence(const TisrSimConfig& c, uint64_t seed, int64_t index) {
  validate(c);
  require(index >= 0 && index < (int64_t(1) << 23), "simulate tisr: sequence index out of range: ",
          index);
  Generator gen(seed);
  gen.set_offset(uint64_t(index) << kIndexShift);
  const int64_t H = c.hr_size, f = c.scale, h = H / f, T = c.frames;
  const double Hd = double(H);
  const Motion motion(c, gen);
  std::vector<Point> pts = structures(c, gen);

  // Sharp drawings, then the two PSFs; the GT's maximum over the sequence normalises both.
  std::vector<Plane> sim, wf;
  double gmax = 0;
  for (int64_t t = 0; t < T; ++t) {
    Plane sharp(H, H);
    for (const Point& p : pts) render::splat(sharp, p.y, p.x, p.sigma, p.amp);
    sim.push_back(render::blur(sharp, c.sr_psf_sigma));
    wf.push_back(render::blur(sharp, c.wf_psf_sigma));
    gmax = std::max(gmax, *std::max_element(sim.back().v.begin(), sim.back().v.end()));
    for (Point& p : pts) {  // advect to frame t + 1
      double vy, vx;
      motion.at(p.y, p.x, t, Hd, Hd, vy, vx);
      p.y += vy, p.x += vx;
    }
  }
  if (gmax <= 0) gmax = 1;

  TisrSequence out{Tensor::empty({T, h, h}), Tensor::empty({T, H, H}),
                   Tensor::empty({std::max<int64_t>(T - 1, 0), 2, h, h})};
  float* gt = out.gt.data<float>();
  float* lr = out.lr.data<float>();
  float* flow = out.flow.data<float>();
  const double photons = tisr_photons(c.snr);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < H * H; ++i) gt[t * H * H + i] = static_cast<float>(sim[t].v[i] / gmax);
    // Noise: camera pixel j of frame t uses counters u0 + j, n0 + j (Poisson), z0 + j (read).
    const uint64_t u0 = gen.take(uint64_t(h * h)), n0 = gen.take(uint64_t(h * h)),
                   z0 = gen.take(uint64_t(h * h));
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < h; ++x) {
        double acc = 0;
        for (int64_t dy = 0; dy < f; ++dy)
          for (int64_t dx = 0; dx < f; ++dx) acc += wf[t].v[(y * f + dy) * H + x * f + dx];
        const double mean = c.background + photons * acc / (double(f * f) * gmax);
        const uint64_t j = uint64_t(y * h + x);
        double v = render::poisson(mean, Philox::uniform_double(seed, u0 + j),
                                   Philox::normal(seed, n0 + j));
        v += c.read_noise * Philox::normal(seed, z0 + j);
        lr[t * h * h + y * h + x] = static_cast<float>(std::clamp(std::round(v), 0.0, 65535.0));
      }
  }
  // Flow at the camera pixels' centres (HR coordinate j f + (f - 1) / 2), in camera pixels.
  for (int64_t t = 0; t + 1 < T; ++t)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < h; ++x) {
        const double py = double(y * f) + 0.5 * double(f - 1), px = double(x * f) + 0.5 * double(f - 1);
        double vy, vx;
        motion.at(py, px, t, Hd, Hd, vy, vx);
        flow[((t * 2 + 0) * h + y) * h + x] = static_cast<float>(vx / double(f));
        flow[((t * 2 + 1) * h + y) * h + x] = static_cast<float>(vy / double(f));
      }
  return out;
}

}  // namespace abbe::data
