// kernels/cuda/pool.cu under the CUDA emulator, against the CPU kernels on the same seeded inputs,
// float and double. Max pool values and indices must match bit for bit; avg pool and the
// backward sums within kTol. Small shapes: every GPU thread is a fiber here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/pool.h"
#include "kernels/cuda/pool.h"
#include "tests/cuda_testing.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using abbe::kernels::cpu::Pool2dShape;
using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::expect_close;
using abbe::testing::cuda::random_vec;

// Tolerances: relative to max(1, |expected|) (see expect_close); 0 = bit-identical.
constexpr double kExact = 0.0;
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-6 : 1e-12;

template <typename T>
std::string type_name() {
  return sizeof(T) == 4 ? " float" : " double";
}

struct Case {
  const char* name;
  Pool2dShape s;
  bool max_only;  // dilation: avg pool requires 1
};

// Pool2dShape: N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, ceil_mode, count_include_pad.
const Case kCases[] = {
    {"k2 s2", {2, 3, 10, 12, 2, 2, 2, 2}, false},
    {"k2 s2 odd input", {2, 3, 9, 11, 2, 2, 2, 2}, false},
    {"k3 s2 p1", {2, 3, 9, 11, 3, 3, 2, 2, 1, 1}, false},
    {"k3 s1 p1", {2, 3, 9, 11, 3, 3, 1, 1, 1, 1}, false},
    {"k3 s2 p1 ceil_mode", {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, true}, false},
    {"k3 s2 p0 ceil_mode (window past the input)", {2, 3, 9, 10, 3, 3, 2, 2, 0, 0, 1, 1, true}, false},
    {"k3 s2 p1 ceil_mode count_include_pad false", {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, true, false}, false},
    {"k3 s1 p1 count_include_pad false", {2, 3, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, false, false}, false},
    {"k (2,3) s (1,2) p (1,1)", {2, 3, 9, 11, 2, 3, 1, 2, 1, 1}, false},
    {"k4 s3 p2 ceil_mode", {2, 3, 9, 11, 4, 4, 3, 3, 2, 2, 1, 1, true}, false},
    {"k3 s1 p1 dilation 2", {2, 3, 9, 11, 3, 3, 1, 1, 1, 1, 2, 2}, true},
    {"k2 s2 dilation (2,3) ceil_mode", {2, 3, 9, 11, 2, 2, 2, 2, 0, 1, 2, 3, true}, true},
    {"k3 s2 p1 dilation 3", {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 3, 3}, true},
};

template <typename T>
class CudaPool : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaPool, Types);

TYPED_TEST(CudaPool, AvgForwardBackward) {
  using T = TypeParam;
  unsigned seed = 1;
  for (const Case& c : kCases) {
    if (c.max_only) continue;
    const Pool2dShape& s = c.s;
    const std::string what = std::string(c.name) + type_name<T>();
    const int64_t in = s.N * s.C * s.H * s.W, out = s.N * s.C * s.P() * s.Q();
    const std::vector<T> x = random_vec<T>(in, seed++), dy = random_vec<T>(out, seed++);
    std::vector<T> y_ref(static_cast<std::size_t>(out)), dx_ref(static_cast<std::size_t>(in));
    cpu::avg_pool2d_forward<T>(s, x.data(), y_ref.data());
    cpu::avg_pool2d_backward<T>(s, dy.data(), dx_ref.data());
    DeviceBuffer<T> x_dev(x), dy_dev(dy), y_dev(out), dx_dev(in);
    gpu::avg_pool2d_forward<T>(s, x_dev.get(), y_dev.get());
    expect_close(y_dev.download(), y_ref, kTol<T>, "avg forward " + what);
    gpu::avg_pool2d_backward<T>(s, dy_dev.get(), dx_dev.get());
    expect_close(dx_dev.download(), dx_ref, kTol<T>, "avg backward " + what);
  }
}

// x: forward values and indices compared exactly, then the backward from the CPU's indices.
template <typename T>
void check_max(const Pool2dShape& s, const std::vector<T>& x, unsigned seed, const std::string& what) {
  const int64_t in = s.N * s.C * s.H * s.W, out = s.N * s.C * s.P() * s.Q();
  const std::vector<T> dy = random_vec<T>(out, seed);
  std::vector<T> y_ref(static_cast<std::size_t>(out)), dx_ref(static_cast<std::size_t>(in));
  std::vector<int64_t> ind_ref(static_cast<std::size_t>(out));
  cpu::max_pool2d_forward<T>(s, x.data(), y_ref.data(), ind_ref.data());
  cpu::max_pool2d_backward<T>(s, dy.data(), ind_ref.data(), dx_ref.data());
  DeviceBuffer<T> x_dev(x), dy_dev(dy), y_dev(out), dx_dev(in);
  DeviceBuffer<int64_t> ind_dev(out), ind_saved(ind_ref);
  gpu::max_pool2d_forward<T>(s, x_dev.get(), y_dev.get(), ind_dev.get());
  expect_close(y_dev.download(), y_ref, kExact, "max forward " + what);
  expect_close(ind_dev.download(), ind_ref, kExact, "max indices " + what);
  gpu::max_pool2d_backward<T>(s, dy_dev.get(), ind_saved.get(), dx_dev.get());
  expect_close(dx_dev.download(), dx_ref, kTol<T>, "max backward " + what);
}

TYPED_TEST(CudaPool, MaxForwardBackward) {
  using T = TypeParam;
  unsigned seed = 100;
  for (const Case& c : kCases) {
    const Pool2dShape& s = c.s;
    check_max<T>(s, random_vec<T>(s.N * s.C * s.H * s.W, seed), seed + 1, std::string(c.name) + type_name<T>());
    seed += 2;
  }
}

// Values from {-1, 0, 1}: many ties (the first maximum wins) and pixels that are the maximum of
// several overlapping windows (their gradients add).
TYPED_TEST(CudaPool, MaxTies) {
  using T = TypeParam;
  unsigned seed = 300;
  for (const Case& c : kCases) {
    const Pool2dShape& s = c.s;
    std::vector<T> x = random_vec<T>(s.N * s.C * s.H * s.W, seed, -1.5, 1.5);
    for (T& v : x) v = std::round(v);
    check_max<T>(s, x, seed + 1, std::string(c.name) + " ties" + type_name<T>());
    seed += 2;
  }
}

// NaN propagates and the last NaN of a window wins; some windows hold two NaNs, some one NaN
// beside larger values, one plane is all NaN.
TYPED_TEST(CudaPool, MaxNaN) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  unsigned seed = 400;
  for (const Case& c : kCases) {
    const Pool2dShape& s = c.s;
    std::vector<T> x = random_vec<T>(s.N * s.C * s.H * s.W, seed);
    for (std::size_t i = 0; i < x.size(); i += 7) x[i] = nan;
    for (int64_t i = 0; i < s.H * s.W; ++i) x[static_cast<std::size_t>(s.H * s.W + i)] = nan;  // plane 1
    check_max<T>(s, x, seed + 1, std::string(c.name) + " NaN" + type_name<T>());
    seed += 2;
  }
}

}  // namespace
