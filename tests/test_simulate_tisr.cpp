// The time-lapse simulator (data/simulate_tisr.h): determinism, shapes, that its saved flow really
// is the motion of the frames, the SNR levels, and the checks on its configuration.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "autograd/ops.h"
#include "data/simulate_tisr.h"

namespace abbe::data {
namespace {

TisrSimConfig small() {
  TisrSimConfig c;
  c.hr_size = 96, c.scale = 3, c.frames = 4;
  return c;
}

TEST(SimulateTisr, ShapesRangesAndDeterminism) {
  const TisrSimConfig c = small();
  const TisrSequence a = simulate_sequence(c, 5, 2), b = simulate_sequence(c, 5, 2);
  EXPECT_EQ(a.lr.shape(), Shape({4, 32, 32}));
  EXPECT_EQ(a.gt.shape(), Shape({4, 96, 96}));
  EXPECT_EQ(a.flow.shape(), Shape({3, 2, 32, 32}));
  EXPECT_EQ(a.lr.to_vector<float>(), b.lr.to_vector<float>());
  EXPECT_EQ(a.gt.to_vector<float>(), b.gt.to_vector<float>());
  EXPECT_EQ(a.flow.to_vector<float>(), b.flow.to_vector<float>());
  EXPECT_NE(a.gt.to_vector<float>(), simulate_sequence(c, 5, 3).gt.to_vector<float>());
  EXPECT_NE(a.gt.to_vector<float>(), simulate_sequence(c, 6, 2).gt.to_vector<float>());
  double gmax = 0, gmin = 1;
  for (float v : a.gt.to_vector<float>()) gmax = std::max<double>(gmax, v), gmin = std::min<double>(gmin, v);
  EXPECT_EQ(gmax, 1.0);  // normalised by the sequence's maximum
  EXPECT_GE(gmin, 0.0);
  for (float v : a.lr.to_vector<float>()) ASSERT_TRUE(v >= 0 && v <= 65535 && v == std::round(v)) << v;
}

// The GT binned to the camera grid, frame t+1 sampled at x + flow_t(x), reproduces frame t: the
// residual is a small fraction of what no motion compensation leaves, and of what the flow with
// its sign or its axes swapped leaves. (A wide GT PSF: on sharp structures, bilinear resampling
// at the camera grid alone leaves ~40% of the uncompensated residual; here it leaves ~20%.)
TEST(SimulateTisr, TheSavedFlowIsTheMotion) {
  TisrSimConfig c = small();
  c.hr_size = 144, c.frames = 3, c.drift = 1.5, c.local = 1.5, c.deform = 0.6, c.sr_psf_sigma = 4;
  const TisrSequence s = simulate_sequence(c, 11, 0);
  const int64_t f = c.scale, h = c.hr_size / f;
  const Tensor binned = avg_pool2d(reshape(s.gt, {c.frames, 1, c.hr_size, c.hr_size}),
                                   Pool2dOptions{static_cast<int>(f), static_cast<int>(f), static_cast<int>(f),
                                                 static_cast<int>(f)});
  for (int64_t t = 0; t + 1 < c.frames; ++t) {
    const Tensor now = narrow(binned, 0, t, 1), next = narrow(binned, 0, t + 1, 1);
    const Tensor flow = permute(narrow(s.flow, 0, t, 1), {0, 2, 3, 1});  // (1, h, w, 2)
    const Tensor warped = flow_warp(next, flow);
    // Interior only: near the borders content enters and leaves the field.
    auto residual = [&](const Tensor& a) {
      const Tensor d = sub(narrow(narrow(a, 2, 4, h - 8), 3, 4, h - 8),
                           narrow(narrow(now, 2, 4, h - 8), 3, 4, h - 8));
      return sum(abs(d)).item();
    };
    const Tensor negated = flow_warp(next, mul_scalar(flow, -1));
    const Tensor swapped = flow_warp(next, concat({narrow(flow, 3, 1, 1), narrow(flow, 3, 0, 1)}, 3));
    const double compensated = residual(warped), still = residual(next);
    EXPECT_LT(compensated, 0.3 * still) << "frame " << t << ": " << compensated << " vs " << still;
    EXPECT_LT(compensated, 0.3 * residual(negated)) << "frame " << t;
    EXPECT_LT(compensated, 0.3 * residual(swapped)) << "frame " << t;
  }
}

TEST(SimulateTisr, DriftAloneIsAUniformFlow) {
  TisrSimConfig c = small();
  c.local = 0, c.deform = 0, c.drift = 1.2;
  const TisrSequence s = simulate_sequence(c, 3, 0);
  const auto flow = s.flow.to_vector<float>();
  const int64_t plane = 32 * 32;
  for (int64_t t = 0; t < 3; ++t) {
    const double fx = flow[(t * 2) * plane], fy = flow[(t * 2 + 1) * plane];
    EXPECT_NEAR(std::hypot(fx, fy), 1.2 / 3, 1e-6);  // HR px per frame / f
    for (int64_t i = 0; i < plane; ++i) {
      ASSERT_EQ(flow[(t * 2) * plane + i], fx);
      ASSERT_EQ(flow[(t * 2 + 1) * plane + i], fy);
    }
  }
}

TEST(SimulateTisr, PhotonsFollowTheSnrLevel) {
  TisrSimConfig c = small();
  double signal[4] = {};
  for (int level = 1; level <= 3; ++level) {
    c.snr = level;
    double sum = 0;
    for (float v : simulate_sequence(c, 9, 0).lr.to_vector<float>()) sum += v - c.background;
    signal[level] = sum;  // the same structures for every level: only the photons change
  }
  EXPECT_NEAR(signal[2] / signal[1], 75.0 / 25.0, 0.15);
  EXPECT_NEAR(signal[3] / signal[1], 250.0 / 25.0, 0.5);
}

TEST(SimulateTisr, BadConfigurationsNameTheField) {
  auto fails_with = [](TisrSimConfig c, const std::string& what) {
    try {
      validate(c);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "no error for " << what;
  };
  TisrSimConfig c = small();
  c.hr_size = 95;
  fails_with(c, "multiple of the scale");
  c = small(), c.snr = 4;
  fails_with(c, "SNR level");
  c = small(), c.drift = -1;
  fails_with(c, "drift");
  c = small(), c.frames = 0;
  fails_with(c, "frames");
  c = small(), c.wf_psf_sigma = NAN;
  fails_with(c, "PSF");
}

}  // namespace
}  // namespace abbe::data
