// kernels/cuda/resample.cu under the CUDA emulator, against the CPU kernels on the same seeded
// inputs, float and double. Permutations and nearest forward must match bit for bit; bilinear and
// the nearest backward (sums) within kTol. Small shapes: every GPU thread is a fiber here.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/resample.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/resample.h"
#include "tests/cuda_testing.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::expect_close;
using abbe::testing::cuda::random_vec;

// Tolerances: relative to max(1, |expected|) (see expect_close); 0 = bit-identical.
constexpr double kExact = 0.0;
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-6 : 1e-12;

constexpr int64_t kN = 2, kC = 3, kH = 9, kW = 11;

template <typename T>
std::string type_name() {
  return sizeof(T) == 4 ? " float" : " double";
}

template <typename T>
class CudaResample : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaResample, Types);

TYPED_TEST(CudaResample, PixelShuffleAndUnshuffle) {
  using T = TypeParam;
  unsigned seed = 1;
  for (const int64_t r : {int64_t{2}, int64_t{3}}) {
    const std::string what = "r " + std::to_string(r) + type_name<T>();
    const int64_t small = kN * kC * r * r * kH * kW;  // (N, C*r*r, H, W) = (N, C, H*r, W*r) elements
    const std::vector<T> a = random_vec<T>(small, seed++), b = random_vec<T>(small, seed++);
    std::vector<T> want(a.size());
    DeviceBuffer<T> a_dev(a), b_dev(b), out(small);

    cpu::pixel_shuffle_forward<T>(kN, kC, kH, kW, r, a.data(), want.data());
    gpu::pixel_shuffle_forward<T>(kN, kC, kH, kW, r, a_dev.get(), out.get());
    expect_close(out.download(), want, kExact, "pixel_shuffle forward " + what);
    cpu::pixel_shuffle_backward<T>(kN, kC, kH, kW, r, b.data(), want.data());
    gpu::pixel_shuffle_backward<T>(kN, kC, kH, kW, r, b_dev.get(), out.get());
    expect_close(out.download(), want, kExact, "pixel_shuffle backward " + what);

    // Unshuffle of (N, C, H*r, W*r).
    cpu::pixel_unshuffle_forward<T>(kN, kC, kH * r, kW * r, r, a.data(), want.data());
    gpu::pixel_unshuffle_forward<T>(kN, kC, kH * r, kW * r, r, a_dev.get(), out.get());
    expect_close(out.download(), want, kExact, "pixel_unshuffle forward " + what);
    cpu::pixel_unshuffle_backward<T>(kN, kC, kH * r, kW * r, r, b.data(), want.data());
    gpu::pixel_unshuffle_backward<T>(kN, kC, kH * r, kW * r, r, b_dev.get(), out.get());
    expect_close(out.download(), want, kExact, "pixel_unshuffle backward " + what);
  }
}

// One resampling configuration of the (kN, kC, kH, kW) input. scale 0 = output size given.
struct Case {
  const char* name;
  int64_t P, Q;
  bool align_corners;
  double scale_h, scale_w;
};

const Case kBilinearCases[] = {
    {"x2 scale given", 18, 22, false, 2.0, 2.0},
    {"x2 size given", 18, 22, false, 0.0, 0.0},
    {"x2 align_corners", 18, 22, true, 0.0, 0.0},
    {"x3 scale given", 27, 33, false, 3.0, 3.0},
    {"non-integer size given", 13, 17, false, 0.0, 0.0},
    {"non-integer size align_corners", 13, 17, true, 0.0, 0.0},
    {"scale 1.5 given", 13, 16, false, 1.5, 1.5},
    {"downsample size given", 4, 5, false, 0.0, 0.0},
    {"downsample scale 0.45 given", 4, 4, false, 0.45, 0.45},
    {"downsample align_corners", 4, 5, true, 0.0, 0.0},
    {"P == H copied, W scale 2.1", 9, 23, false, 1.05, 2.1},
    {"P == H copied, align_corners", 9, 23, true, 0.0, 0.0},
    {"to 1x1 align_corners (ratio 0)", 1, 1, true, 0.0, 0.0},
    {"to 1x2", 1, 2, false, 0.0, 0.0},
};

TYPED_TEST(CudaResample, BilinearForwardBackward) {
  using T = TypeParam;
  unsigned seed = 100;
  for (const Case& c : kBilinearCases) {
    const std::string what = std::string(c.name) + type_name<T>();
    const int64_t in = kN * kC * kH * kW, out = kN * kC * c.P * c.Q;
    const std::vector<T> x = random_vec<T>(in, seed++), dy = random_vec<T>(out, seed++);
    std::vector<T> y_ref(static_cast<std::size_t>(out)), dx_ref(static_cast<std::size_t>(in));
    cpu::upsample_bilinear_forward<T>(kN, kC, kH, kW, c.P, c.Q, c.align_corners, c.scale_h, c.scale_w, x.data(),
                                      y_ref.data());
    cpu::upsample_bilinear_backward<T>(kN, kC, kH, kW, c.P, c.Q, c.align_corners, c.scale_h, c.scale_w, dy.data(),
                                       dx_ref.data());
    DeviceBuffer<T> x_dev(x), dy_dev(dy), y_dev(out), dx_dev(in);
    gpu::upsample_bilinear_forward<T>(kN, kC, kH, kW, c.P, c.Q, c.align_corners, c.scale_h, c.scale_w, x_dev.get(),
                                      y_dev.get());
    expect_close(y_dev.download(), y_ref, kTol<T>, "bilinear forward " + what);
    gpu::upsample_bilinear_backward<T>(kN, kC, kH, kW, c.P, c.Q, c.align_corners, c.scale_h, c.scale_w, dy_dev.get(),
                                       dx_dev.get());
    expect_close(dx_dev.download(), dx_ref, kTol<T>, "bilinear backward " + what);
  }
}

const Case kNearestCases[] = {
    {"x2 scale given", 18, 22, false, 2.0, 2.0},
    {"x2 size given", 18, 22, false, 0.0, 0.0},
    {"x3 scale given", 27, 33, false, 3.0, 3.0},
    {"x3 size given", 27, 33, false, 0.0, 0.0},
    {"odd ratios size given", 7, 17, false, 0.0, 0.0},
    {"scale 1.7 given", 15, 18, false, 1.7, 1.7},
    {"downsample size given", 4, 5, false, 0.0, 0.0},
    {"downsample scale 0.45 given", 4, 4, false, 0.45, 0.45},
    {"same size, scale ignored", 9, 11, false, 1.05, 1.05},
};

TYPED_TEST(CudaResample, NearestForwardBackward) {
  using T = TypeParam;
  unsigned seed = 200;
  cudaStream_t stream = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreate(&stream));
  for (const Case& c : kNearestCases) {
    const std::string what = std::string(c.name) + type_name<T>();
    const int64_t in = kN * kC * kH * kW, out = kN * kC * c.P * c.Q;
    const std::vector<T> x = random_vec<T>(in, seed++), dy = random_vec<T>(out, seed++);
    std::vector<T> y_ref(static_cast<std::size_t>(out)), dx_ref(static_cast<std::size_t>(in));
    cpu::upsample_nearest_forward<T>(kN, kC, kH, kW, c.P, c.Q, c.scale_h, c.scale_w, x.data(), y_ref.data());
    cpu::upsample_nearest_backward<T>(kN, kC, kH, kW, c.P, c.Q, c.scale_h, c.scale_w, dy.data(), dx_ref.data());
    DeviceBuffer<T> x_dev(x), dy_dev(dy), y_dev(out), dx_dev(in);
    gpu::upsample_nearest_forward<T>(kN, kC, kH, kW, c.P, c.Q, c.scale_h, c.scale_w, x_dev.get(), y_dev.get(), stream);
    gpu::upsample_nearest_backward<T>(kN, kC, kH, kW, c.P, c.Q, c.scale_h, c.scale_w, dy_dev.get(), dx_dev.get(),
                                      stream);
    ABBE_CUDA_CHECK(cudaStreamSynchronize(stream));
    expect_close(y_dev.download(), y_ref, kExact, "nearest forward " + what);
    expect_close(dx_dev.download(), dx_ref, kTol<T>, "nearest backward " + what);
  }
  ABBE_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
