// The deformable conv kernels (kernels/cpu/deform_conv.h):
//  - the fast paths against the reference loops, forward and all five gradients, on shapes with
//    weight groups, offset groups 1/2/4/8/16, stride 2, dilation 2, no mask, no bias, offsets that
//    push samples outside the image and onto exact integer positions (cell edges, the -1 and H
//    borders), one and several tiles, offset groups split into parts;
//  - bitwise equality of 1 and 2 OpenMP threads;
//  - the reference backward against central finite differences in float64;
//  - both against torchvision 0.14 (tests/golden/data/deform_conv.safetensors, written by
//    tests/golden/gen_deform.py): float64 within 1e-10 relative, float32 within 1e-4.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/json.h"
#include "kernels/cpu/deform_conv.h"
#include "tests/testing.h"

namespace abbe::kernels::cpu {
namespace {

// Fast vs reference: |got - want| <= tol (1 + |want|), the inputs being O(1).
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-4 : 1e-11;

// Golden: |abbe - torchvision| <= rtol |torchvision| + atol.
constexpr double kGoldenRtolF64 = 1e-10, kGoldenAtolF64 = 1e-12;
constexpr double kGoldenRtolF32 = 1e-4, kGoldenAtolF32 = 1e-5;
constexpr int kGoldenFormatVersion = 1;  // tests/golden/gen_deform.py FORMAT_VERSION

struct Case {
  DeformConv2dShape s;
  bool mask, bias;
};

DeformConv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                        int64_t S, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                        int64_t dw, int64_t groups, int64_t offset_groups) {
  return {N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, groups, offset_groups};
}

const std::vector<Case> kCases = {
    {shape(1, 4, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true, true},
    {shape(2, 8, 7, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2), true, true},   // groups 2, G 2
    {shape(2, 8, 6, 7, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 4), false, true},  // stride 2, G 4, no mask
    {shape(1, 4, 9, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1), true, false},  // dilation 2, no bias
    {shape(1, 6, 5, 5, 6, 3, 2, 1, 2, 0, 1, 1, 1, 3, 1), true, true},   // anisotropic, groups 3
    {shape(2, 12, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1), true, true},  // parts across groups
    {shape(1, 5, 6, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), false, false},  // 5 one-channel parts
    {shape(1, 4, 6, 6, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 2), true, true},   // 1x1
    {shape(1, 16, 12, 11, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 16), true, true},  // one channel a group
    {shape(1, 64, 40, 40, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 8), true, true},   // several tiles
};

std::string describe(const DeformConv2dShape& s) {
  std::ostringstream os;
  os << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K << " " << s.R << "x"
     << s.S << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << ","
     << s.pad_w << " dil " << s.dil_h << "," << s.dil_w << " groups " << s.groups << " G "
     << s.offset_groups;
  return os.str();
}

template <typename T>
std::vector<T> uniform(int64_t n, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& e : v) e = static_cast<T>(u(rng));
  return v;
}

struct Sizes {
  int64_t x, offset, mask, w, y;
};
Sizes sizes(const DeformConv2dShape& s) {
  const int64_t PQ = s.P() * s.Q(), GRS = s.offset_groups * s.R * s.S;
  return {s.N * s.C * s.H * s.W, s.N * 2 * GRS * PQ, s.N * GRS * PQ,
          s.K * s.C / s.groups * s.R * s.S, s.N * s.K * PQ};
}

template <typename T>
struct Inputs {
  std::vector<T> x, offset, mask, w, bias, dy;
};

// Offsets in [-spread, spread): a third of them integers (samples exactly on pixels, and for
// small images on the -1 and H borders), a sixth half-integers, the rest uniform; with
// `avoid_kinks` (finite differences) none within 0.02 of an integer instead.
template <typename T>
Inputs<T> make_inputs(const DeformConv2dShape& s, uint32_t seed, double spread = 2.5,
                      bool avoid_kinks = false) {
  std::mt19937 rng(seed);
  const Sizes n = sizes(s);
  Inputs<T> in;
  in.x = uniform<T>(n.x, rng, -1, 1);
  in.offset = uniform<T>(n.offset, rng, -spread, spread);
  std::uniform_int_distribution<int> kind(0, 5);
  for (auto& o : in.offset) {
    const double v = static_cast<double>(o);
    if (avoid_kinks) {
      const double f = v - std::floor(v);
      o = static_cast<T>(std::floor(v) + std::clamp(f, 0.02, 0.98));
    } else if (const int k = kind(rng); k < 2) {
      o = static_cast<T>(std::round(v));
    } else if (k == 2) {
      o = static_cast<T>(std::round(v * 2) / 2);
    }
  }
  in.mask = uniform<T>(n.mask, rng, 0, 1);
  in.w = uniform<T>(n.w, rng, -1, 1);
  in.bias = uniform<T>(s.K, rng, -1, 1);
  in.dy = uniform<T>(n.y, rng, -1, 1);
  return in;
}

template <typename T>
struct Outputs {
  std::vector<T> y, dx, doffset, dmask, dw, db;
};

enum class Impl { fast, reference };

template <typename T>
Outputs<T> run(Impl impl, const DeformConv2dShape& s, const Inputs<T>& in, bool mask, bool bias) {
  const Sizes n = sizes(s);
  Outputs<T> out;
  out.y.assign(n.y, T(-7));  // every output must be overwritten
  out.dx.assign(n.x, T(-7));
  out.doffset.assign(n.offset, T(-7));
  out.dmask.assign(n.mask, T(-7));
  out.dw.assign(n.w, T(-7));
  out.db.assign(s.K, T(-7));
  const T* m = mask ? in.mask.data() : nullptr;
  const T* b = bias ? in.bias.data() : nullptr;
  if (impl == Impl::fast) {
    deform_conv2d_forward(s, in.x.data(), in.offset.data(), m, in.w.data(), b, out.y.data());
    deform_conv2d_backward(s, in.x.data(), in.offset.data(), m, in.w.data(), in.dy.data(),
                           out.dx.data(), out.doffset.data(), out.dmask.data(), out.dw.data(),
                           out.db.data());
  } else {
    reference::deform_conv2d_forward(s, in.x.data(), in.offset.data(), m, in.w.data(), b,
                                     out.y.data());
    reference::deform_conv2d_backward(s, in.x.data(), in.offset.data(), m, in.w.data(),
                                      in.dy.data(), out.dx.data(), out.doffset.data(),
                                      out.dmask.data(), out.dw.data(), out.db.data());
  }
  return out;
}

// Reports the worst element and how close it came.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) /
                       (1.0 + std::abs(static_cast<double>(want[i])));
    if (!(err <= worst)) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst relative error " << worst << " at " << at << " (got "
                        << got[at] << ", want " << want[at] << "), tolerance " << tol;
}

template <typename T>
void expect_outputs_close(const Outputs<T>& got, const Outputs<T>& want, double tol,
                          const std::string& what) {
  expect_close(got.y, want.y, tol, what + ": y");
  expect_close(got.dx, want.dx, tol, what + ": dx");
  expect_close(got.doffset, want.doffset, tol, what + ": doffset");
  expect_close(got.dmask, want.dmask, tol, what + ": dmask");
  expect_close(got.dw, want.dw, tol, what + ": dw");
  expect_close(got.db, want.db, tol, what + ": db");
}

template <typename T>
class DeformConvKernels : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(DeformConvKernels, Types);

TYPED_TEST(DeformConvKernels, FastMatchesReference) {
  using T = TypeParam;
  uint32_t seed = 1;
  for (const Case& c : kCases) {
    const Inputs<T> in = make_inputs<T>(c.s, seed++);
    const Outputs<T> want = run(Impl::reference, c.s, in, c.mask, c.bias);
    const Outputs<T> got = run(Impl::fast, c.s, in, c.mask, c.bias);
    expect_outputs_close(got, want, kTol<T>, describe(c.s) + (c.mask ? "" : " no mask"));
  }
}

// Samples far outside the image (all zero) and non-finite offsets (sampled as 0).
TYPED_TEST(DeformConvKernels, FarAndNonFiniteOffsets) {
  using T = TypeParam;
  const DeformConv2dShape s = shape(1, 4, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2);
  Inputs<T> in = make_inputs<T>(s, 77, 40.0);
  in.offset[3] = std::numeric_limits<T>::quiet_NaN();
  in.offset[10] = std::numeric_limits<T>::infinity();
  in.offset[11] = -std::numeric_limits<T>::infinity();
  const Outputs<T> want = run(Impl::reference, s, in, true, true);
  const Outputs<T> got = run(Impl::fast, s, in, true, true);
  expect_outputs_close(got, want, kTol<T>, "far offsets");
  for (T v : got.y) EXPECT_TRUE(std::isfinite(v));
}

TYPED_TEST(DeformConvKernels, BitwiseIndependentOfThreadCount) {
  using T = TypeParam;
  const int threads = omp_get_max_threads();
  uint32_t seed = 100;
  for (const Case& c : kCases) {
    const Inputs<T> in = make_inputs<T>(c.s, seed++);
    omp_set_num_threads(1);
    const Outputs<T> one = run(Impl::fast, c.s, in, c.mask, c.bias);
    omp_set_num_threads(std::max(threads, 2));
    const Outputs<T> two = run(Impl::fast, c.s, in, c.mask, c.bias);
    omp_set_num_threads(threads);
    const std::string what = describe(c.s);
    EXPECT_EQ(one.y, two.y) << what;
    EXPECT_EQ(one.dx, two.dx) << what;
    EXPECT_EQ(one.doffset, two.doffset) << what;
    EXPECT_EQ(one.dmask, two.dmask) << what;
    EXPECT_EQ(one.dw, two.dw) << what;
    EXPECT_EQ(one.db, two.db) << what;
  }
}

// The reference backward is the gradient of L = <y, dy>: central differences in float64 on a
// tiny shape, offsets kept away from the integer kinks of the bilinear interpolant.
TEST(DeformConvReference, BackwardMatchesFiniteDifferences) {
  const DeformConv2dShape s = shape(1, 4, 4, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2);
  Inputs<double> in = make_inputs<double>(s, 9, 2.0, true);
  const Outputs<double> g = run(Impl::reference, s, in, true, true);
  auto loss = [&](const Inputs<double>& v) {
    std::vector<double> y(g.y.size());
    reference::deform_conv2d_forward(s, v.x.data(), v.offset.data(), v.mask.data(), v.w.data(),
                                     v.bias.data(), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * v.dy[i];
    return l;
  };
  const double eps = 1e-6;
  auto check = [&](std::vector<double> Inputs<double>::*field, const std::vector<double>& grad,
                   const char* name) {
    for (size_t i = 0; i < grad.size(); ++i) {
      Inputs<double> plus = in, minus = in;
      (plus.*field)[i] += eps;
      (minus.*field)[i] -= eps;
      const double fd = (loss(plus) - loss(minus)) / (2 * eps);
      ASSERT_NEAR(grad[i], fd, 1e-6 * (1 + std::abs(fd))) << name << "[" << i << "]";
    }
  };
  check(&Inputs<double>::x, g.dx, "dx");
  check(&Inputs<double>::offset, g.doffset, "doffset");
  check(&Inputs<double>::mask, g.dmask, "dmask");
  check(&Inputs<double>::w, g.dw, "dw");
  check(&Inputs<double>::bias, g.db, "db");
}

// --- torchvision golden data --------------------------------------------------------------------

template <typename T>
std::vector<T> golden_vector(const io::SafetensorsFile& g, const std::string& key) {
  return testing::golden_tensor(g, key).to_vector<T>();
}

// |got - want| <= rtol |want| + atol; prints the largest err / tol (<= 1 passes).
template <typename T>
void expect_golden(const std::vector<T>& got, const std::vector<double>& want, double rtol,
                   double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double ratio =
        std::abs(static_cast<double>(got[i]) - want[i]) / (atol + rtol * std::abs(want[i]));
    if (!(ratio <= worst)) worst = ratio, at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << at << " is " << got[at] << ", torchvision "
                        << want[at] << " (rtol " << rtol << ", atol " << atol
                        << "); regenerate with /usr/bin/python3 tests/golden/gen_deform.py";
  std::printf("  %-32s err/tol %.3g\n", what.c_str(), worst);
}

template <typename T>
void check_golden(double rtol, double atol) {
  const io::SafetensorsFile g = testing::load_golden("deform_conv");
  ASSERT_EQ(std::stoi(g.metadata.at("format_version")), kGoldenFormatVersion)
      << "regenerate with /usr/bin/python3 tests/golden/gen_deform.py";
  int cases = 0;
  for (const auto& [name, json] : g.metadata) {
    if (name.rfind("deform_conv.", 0) != 0) continue;
    ++cases;
    const io::Json p = io::Json::parse(json);
    const bool use_mask = p.at("mask").as_bool(), use_bias = p.at("bias").as_bool();
    const Tensor x = testing::golden_tensor(g, name + ".x"),
                 w = testing::golden_tensor(g, name + ".weight");
    DeformConv2dShape s{x.size(0), x.size(1), x.size(2), x.size(3),
                        w.size(0), w.size(2), w.size(3)};
    const auto& st = p.at("stride"), &pad = p.at("padding"), &dil = p.at("dilation");
    s.stride_h = st.at(0).as_int(), s.stride_w = st.at(1).as_int();
    s.pad_h = pad.at(0).as_int(), s.pad_w = pad.at(1).as_int();
    s.dil_h = dil.at(0).as_int(), s.dil_w = dil.at(1).as_int();
    s.groups = p.at("groups").as_int(), s.offset_groups = p.at("offset_groups").as_int();
    Inputs<T> in;
    in.x = golden_vector<T>(g, name + ".x");
    in.offset = golden_vector<T>(g, name + ".offset");
    in.w = golden_vector<T>(g, name + ".weight");
    in.dy = golden_vector<T>(g, name + ".gy");
    if (use_mask) in.mask = golden_vector<T>(g, name + ".mask");
    if (use_bias) in.bias = golden_vector<T>(g, name + ".bias");
    for (Impl impl : {Impl::fast, Impl::reference}) {
      const std::string what =
          name + (impl == Impl::fast ? " fast" : " reference") + (sizeof(T) == 4 ? " f32" : " f64");
      const Outputs<T> out = run(impl, s, in, use_mask, use_bias);
      auto want = [&](const std::string& key) { return golden_vector<double>(g, name + key); };
      expect_golden(out.y, want(".y"), rtol, atol, what + " y");
      expect_golden(out.dx, want(".grad.x"), rtol, atol, what + " dx");
      expect_golden(out.doffset, want(".grad.offset"), rtol, atol, what + " doffset");
      if (use_mask) expect_golden(out.dmask, want(".grad.mask"), rtol, atol, what + " dmask");
      expect_golden(out.dw, want(".grad.weight"), rtol, atol, what + " dw");
      if (use_bias) expect_golden(out.db, want(".grad.bias"), rtol, atol, what + " db");
    }
  }
  EXPECT_GE(cases, 5);
}

TEST(DeformConvGolden, Float64MatchesTorchvision) {
  check_golden<double>(kGoldenRtolF64, kGoldenAtolF64);
}
TEST(DeformConvGolden, Float32MatchesTorchvision) {
  check_golden<float>(kGoldenRtolF32, kGoldenAtolF32);
}

}  // namespace
}  // namespace abbe::kernels::cpu
