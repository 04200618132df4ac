// Pointer-level tests of kernels/cpu/grid_sample.h. N = batch, C = channels, H,W = input size,
// P,Q = output (grid) size.
//  - Golden: y, dx and dgrid against PyTorch 1.13's F.grid_sample and its autograd, from
//    tests/golden/data/grid_sample.safetensors (tests/golden/gen_grid_sample.py: zeros/border x
//    align_corners, grids reaching outside [-1, 1], samples exactly on pixel centres, P,Q above
//    and below H,W, flow_warp-like grids, H or W = 1). float64 against torch's float64 results,
//    float32 against torch's float32 results.
//  - The same results with 1 and 2 OpenMP threads, bit for bit, at a size that runs in parallel.
//  - dx is the exact adjoint of the forward (<y(x), dy> == <x, dx>), and computing dx or dgrid
//    alone gives what computing both gives.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "data/json.h"
#include "kernels/cpu/grid_sample.h"
#include "tests/testing.h"

namespace {

namespace k = abbe::kernels::cpu;
using k::GridPadding;

// |abbe - torch| <= tol * max(1, |torch|): relative for large values, absolute below 1 (dgrid sums
// over channels cancel to near zero). float64: only the rounding order differs from torch's;
// float32: against torch's own float32 results.
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-5 : 1e-10;

struct Shape {
  int64_t N, C, H, W, P, Q;
  GridPadding padding;
  bool align_corners;
};

template <typename T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// The largest |got - want| / (tol * max(1, |want|)); <= 1 passes. NaN fails.
template <typename T>
double worst_ratio(const std::vector<T>& got, const std::vector<double>& want, double tol,
                   size_t* at) {
  double worst = 0;
  *at = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]);
    const double r = err / (tol * std::max(1.0, std::abs(want[i])));
    if (!(r <= worst)) {
      worst = std::isnan(r) ? INFINITY : r;
      *at = i;
    }
  }
  return worst;
}

// Runs one golden case in T and returns "y x.xx, dx x.xx, dgrid x.xx" (err/tol of each).
template <typename T>
std::string run_golden_case(const abbe::io::SafetensorsFile& g, const std::string& name) {
  const abbe::io::Json m = abbe::io::Json::parse(g.metadata.at(name));
  const Shape s{m.at("N").as_int(), m.at("C").as_int(), m.at("H").as_int(), m.at("W").as_int(),
                m.at("P").as_int(), m.at("Q").as_int(),
                m.at("padding").as_string() == "border" ? GridPadding::border : GridPadding::zeros,
                m.at("align_corners").as_bool()};
  auto tensor = [&](const std::string& key) {
    return abbe::testing::golden_tensor(g, name + "." + key).to_vector<double>();
  };
  const std::vector<T> x = cast<T>(tensor("x")), grid = cast<T>(tensor("grid")),
                       gy = cast<T>(tensor("gy"));
  const std::string ref = sizeof(T) == 4 ? "f32." : "";
  const std::vector<double> y_ref = tensor(ref + "y"), dx_ref = tensor(ref + "dx"),
                            dgrid_ref = tensor(ref + "dgrid");
  EXPECT_EQ(x.size(), static_cast<size_t>(s.N * s.C * s.H * s.W)) << name;
  EXPECT_EQ(y_ref.size(), static_cast<size_t>(s.N * s.C * s.P * s.Q)) << name;
  EXPECT_EQ(grid.size(), static_cast<size_t>(s.N * s.P * s.Q * 2)) << name;
  std::vector<T> y(y_ref.size()), dx(x.size()), dgrid(grid.size());
  k::grid_sample_forward<T>(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), s.padding,
                            s.align_corners, y.data());
  k::grid_sample_backward<T>(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), s.padding,
                             s.align_corners, gy.data(), dx.data(), dgrid.data());
  std::string report;
  auto check = [&](const char* what, const std::vector<T>& got, const std::vector<double>& want) {
    size_t at = 0;
    const double r = worst_ratio(got, want, kTol<T>, &at);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%s %.2g", report.empty() ? "" : ", ", what, r);
    report += buf;
    EXPECT_LE(r, 1.0) << name << " (" << m.at("what").as_string() << ", "
                      << (sizeof(T) == 4 ? "float32" : "float64") << "): " << what << "[" << at
                      << "] is " << static_cast<double>(got[at]) << ", torch " << want[at]
                      << " (tolerance " << kTol<T> << " x max(1, |torch|)); if the cases changed, "
                      << "regenerate: /usr/bin/python3 tests/golden/gen_grid_sample.py";
  };
  check("y", y, y_ref);
  check("dx", dx, dx_ref);
  check("dgrid", dgrid, dgrid_ref);
  return report;
}

TEST(GridSampleKernels, MatchesTorch) {
  const abbe::io::SafetensorsFile g = abbe::testing::load_golden("grid_sample");
  ASSERT_EQ(g.metadata.at("format_version"), "1")
      << "golden format changed; update this test or regenerate";
  int cases = 0;
  for (const auto& [name, value] : g.metadata) {
    if (name.rfind("grid_sample.", 0) != 0) continue;
    ++cases;
    const std::string r64 = run_golden_case<double>(g, name);
    const std::string r32 = run_golden_case<float>(g, name);
    std::printf("%-15s err/tol float64: %s | float32: %s  (%s)\n", name.c_str(), r64.c_str(),
                r32.c_str(), abbe::io::Json::parse(value).at("what").as_string().c_str());
  }
  EXPECT_GE(cases, 17);
}

// ---------------------------------------------------------------------------------------------
template <typename T>
std::vector<T> uniform(size_t n, unsigned seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (T& e : v) e = static_cast<T>(u(rng));
  return v;
}

struct Outputs {
  std::vector<float> y, dx, dgrid;
};

Outputs run_all(const Shape& s, const std::vector<float>& x, const std::vector<float>& grid,
                const std::vector<float>& dy) {
  Outputs o{std::vector<float>(dy.size()), std::vector<float>(x.size()),
            std::vector<float>(grid.size())};
  k::grid_sample_forward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), s.padding,
                         s.align_corners, o.y.data());
  k::grid_sample_backward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), s.padding,
                          s.align_corners, dy.data(), o.dx.data(), o.dgrid.data());
  return o;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// 2*40*45*16 = 57600 multiply-adds per pass, above the kernels' parallel threshold.
TEST(GridSampleKernels, OneAndTwoThreadsAgreeBitwise) {
  for (const GridPadding padding : {GridPadding::zeros, GridPadding::border})
    for (const bool ac : {true, false}) {
      const Shape s{2, 16, 33, 37, 40, 45, padding, ac};
      const auto x = uniform<float>(s.N * s.C * s.H * s.W, 1, -1, 1);
      const auto grid = uniform<float>(s.N * s.P * s.Q * 2, 2, -1.2, 1.2);
      const auto dy = uniform<float>(s.N * s.C * s.P * s.Q, 3, -1, 1);
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      const Outputs one = run_all(s, x, grid, dy);
      omp_set_num_threads(2);
      const Outputs two = run_all(s, x, grid, dy);
      omp_set_num_threads(threads);
      const std::string what = std::string(padding == GridPadding::zeros ? "zeros" : "border") +
                               (ac ? ", align_corners" : "");
      EXPECT_TRUE(bitwise_equal(one.y, two.y)) << "y, " << what;
      EXPECT_TRUE(bitwise_equal(one.dx, two.dx)) << "dx, " << what;
      EXPECT_TRUE(bitwise_equal(one.dgrid, two.dgrid)) << "dgrid, " << what;
    }
}

// dx is linear in dy and y linear in x: <y(x), dy> == <x, dx(dy)> up to rounding, in double.
// dx or dgrid alone (the other null) equals the one computed together, bit for bit.
TEST(GridSampleKernels, AdjointAndNullableOutputs) {
  for (const GridPadding padding : {GridPadding::zeros, GridPadding::border}) {
    const Shape s{2, 5, 23, 19, 31, 27, padding, false};
    const auto x = uniform<double>(s.N * s.C * s.H * s.W, 4, -1, 1);
    const auto grid = uniform<double>(s.N * s.P * s.Q * 2, 5, -1.3, 1.3);
    const auto dy = uniform<double>(s.N * s.C * s.P * s.Q, 6, -1, 1);
    std::vector<double> y(dy.size()), dx(x.size()), dgrid(grid.size());
    k::grid_sample_forward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), padding, false,
                           y.data());
    k::grid_sample_backward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), padding, false,
                            dy.data(), dx.data(), dgrid.data());
    double lhs = 0, rhs = 0, scale = 0;
    for (size_t i = 0; i < y.size(); ++i) lhs += y[i] * dy[i], scale += std::abs(y[i] * dy[i]);
    for (size_t i = 0; i < x.size(); ++i) rhs += x[i] * dx[i];
    EXPECT_NEAR(lhs, rhs, 1e-13 * scale);

    std::vector<double> dx_only(x.size(), -7.0), dgrid_only(grid.size(), -7.0);
    k::grid_sample_backward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), padding, false,
                            dy.data(), dx_only.data(), static_cast<double*>(nullptr));
    k::grid_sample_backward(s.N, s.C, s.H, s.W, s.P, s.Q, x.data(), grid.data(), padding, false,
                            dy.data(), static_cast<double*>(nullptr), dgrid_only.data());
    EXPECT_EQ(dx_only, dx);
    EXPECT_EQ(dgrid_only, dgrid);
  }
}

// A flow of zero with align_corners is the identity: y == x, dx == dy.
TEST(GridSampleKernels, ZeroFlowIsIdentity) {
  const int64_t N = 1, C = 2, H = 6, W = 9;
  std::vector<double> grid(N * H * W * 2);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) {
      grid[(h * W + w) * 2] = 2.0 * w / (W - 1) - 1;
      grid[(h * W + w) * 2 + 1] = 2.0 * h / (H - 1) - 1;
    }
  const auto x = uniform<double>(N * C * H * W, 7, -1, 1);
  for (const GridPadding padding : {GridPadding::zeros, GridPadding::border}) {
    std::vector<double> y(x.size()), dx(x.size());
    k::grid_sample_forward(N, C, H, W, H, W, x.data(), grid.data(), padding, true, y.data());
    k::grid_sample_backward(N, C, H, W, H, W, x.data(), grid.data(), padding, true, x.data(),
                            dx.data(), static_cast<double*>(nullptr));
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(y[i], x[i], 1e-15) << i;
      EXPECT_NEAR(dx[i], x[i], 1e-15) << i;
    }
  }
}

}  // namespace
