// kernels/cpu/fast_math.h against double-precision libm, and the float complex kernels that use
// it on the arguments it leaves to libm (non-finite, huge phases, signed zeros).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/complex.h"
#include "kernels/cpu/fast_math.h"

namespace abbe::kernels::cpu {
namespace {

// Distance in units in the last place between two finite floats of the same sign (or zeros).
int64_t ulps(float a, float b) {
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};  // monotonic over all floats
  };
  return std::llabs(key(a) - key(b));
}

TEST(FastMath, Atan2WithinThreeUlps) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> angle(-M_PI, M_PI);
  int64_t worst = 0;
  for (double radius : {1e-30, 1e-6, 1.0, 37.5, 1e6, 1e30})
    for (int i = 0; i < 200000; ++i) {
      const double t = i < 4096 ? -M_PI + 2 * M_PI * i / 4096 : angle(rng);
      const float x = static_cast<float>(radius * std::cos(t));
      const float y = static_cast<float>(radius * std::sin(t));
      const float want = static_cast<float>(std::atan2(static_cast<double>(y), x));
      worst = std::max(worst, ulps(fast::atan2(y, x), want));
    }
  EXPECT_LE(worst, 3);
  // Axes and signed zeros exactly as libm.
  const float z = 0.0f;
  for (float y : {z, -z, 1.0f, -1.0f})
    for (float x : {z, -z, 1.0f, -1.0f}) {
      const float got = fast::atan2(y, x), want = std::atan2(y, x);
      EXPECT_LE(ulps(got, want), 1) << y << ", " << x;
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << y << ", " << x;
    }
}

TEST(FastMath, SincosWithinTwoUlpsOrTinyAbsolute) {
  std::mt19937 rng(2);
  std::vector<float> xs;
  std::uniform_real_distribution<float> near(-10.0f, 10.0f);
  for (int i = 0; i < 400000; ++i) xs.push_back(near(rng));
  for (int k = -2000; k <= 2000; ++k)  // around the zeros of sin and cos
    for (float d : {0.0f, 1e-7f, -1e-7f, 1e-4f})
      xs.push_back(static_cast<float>(k * M_PI_2) + d);
  std::uniform_real_distribution<double> log10(-3.0, 5.0);
  for (int i = 0; i < 200000; ++i) {
    const float x = static_cast<float>(std::pow(10.0, log10(rng)));
    xs.push_back(std::min(x, fast::kSincosLimit));
    xs.push_back(-std::min(x, fast::kSincosLimit));
  }
  int64_t worst_ulps = 0;
  double worst_abs = 0;
  for (float x : xs) {
    ASSERT_TRUE(fast::fast_sincos_ok(x));
    float s, c;
    fast::sincos(x, &s, &c);
    for (auto [got, want] : {std::pair<float, double>{s, std::sin(static_cast<double>(x))},
                             std::pair<float, double>{c, std::cos(static_cast<double>(x))}}) {
      // Relative (ulps) where the value is not small; absolute near the zeros, where the float
      // argument's own rounding (half an ulp of x) dominates any method.
      if (std::fabs(want) >= 0.25) {
        worst_ulps = std::max(worst_ulps, ulps(got, static_cast<float>(want)));
      } else {
        worst_abs = std::max(worst_abs, std::fabs(got - want));
      }
    }
  }
  EXPECT_LE(worst_ulps, 2);
  EXPECT_LE(worst_abs, 5e-8);
  EXPECT_FALSE(fast::fast_sincos_ok(std::numeric_limits<float>::quiet_NaN()));
  EXPECT_FALSE(fast::fast_sincos_ok(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(fast::fast_sincos_ok(2e5f));
}

TEST(FastMath, HypotNeverOverflowsEarly) {
  EXPECT_EQ(fast::hypot(3e-30f, 4e-30f), std::hypot(3e-30f, 4e-30f));
  EXPECT_EQ(fast::hypot(3e30f, 4e30f), std::hypot(3e30f, 4e30f));
  EXPECT_EQ(fast::hypot(-0.0f, 0.0f), 0.0f);
  EXPECT_TRUE(std::isinf(fast::hypot(3e38f, 3e38f)));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-100.0f, 100.0f);
  for (int i = 0; i < 100000; ++i) {
    const float a = u(rng), b = u(rng);
    ASSERT_LE(ulps(fast::hypot(a, b), std::hypot(a, b)), 1) << a << ", " << b;
  }
}

// The float kernels hand what the fast paths do not cover to libm, so those elements equal it.
TEST(FastMath, ComplexKernelsFallBackToLibm) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> z = {inf, 1.0f, -inf, inf, nan, 1.0f, 1.0f, nan, 0.0f, -0.0f,
                                -0.0f, 0.0f, 3.0f, 4.0f};
  const int64_t n = static_cast<int64_t>(z.size() / 2);
  std::vector<float> angle(n);
  complex_angle_forward(n, z.data(), angle.data());
  for (int64_t i = 0; i < n; ++i) {
    const float want = std::atan2(z[2 * i + 1], z[2 * i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(angle[i])) << i;
    } else {
      EXPECT_LE(ulps(angle[i], want), 1) << i;
      EXPECT_EQ(std::signbit(angle[i]), std::signbit(want)) << i;
    }
  }
  const std::vector<float> amp = {2.0f, 2.0f, 2.0f, 2.0f, 2.0f};
  const std::vector<float> phase = {1e7f, -3e9f, inf, nan, 0.5f};
  const int64_t m = static_cast<int64_t>(phase.size());
  std::vector<float> out(2 * m), dz(2 * m, 1.0f), damp(m), dphase(m);
  polar_forward(m, amp.data(), phase.data(), out.data());
  polar_backward(m, amp.data(), phase.data(), dz.data(), damp.data(), dphase.data());
  for (int64_t i = 0; i < m; ++i) {
    const float c = std::cos(phase[i]), s = std::sin(phase[i]);
    for (auto [got, want] : {std::pair<float, float>{out[2 * i], amp[i] * c},
                             std::pair<float, float>{out[2 * i + 1], amp[i] * s},
                             std::pair<float, float>{damp[i], c + s},
                             std::pair<float, float>{dphase[i], amp[i] * (c - s)}}) {
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << i;
      } else {
        EXPECT_NEAR(got, want, 1e-6f * (1 + std::fabs(want))) << "phase " << phase[i];
      }
    }
  }
}

}  // namespace
}  // namespace abbe::kernels::cpu
