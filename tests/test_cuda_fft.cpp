// kernels/cuda/fft.cu under the CUDA emulator against the CPU FFTs (kernels/cpu/fft.h), float
// and double. Under emulation the CPU FFT stands in for cuFFT, so this mainly proves the linking,
// the pointer and size checks, and the two kernels that surround cuFFT in the real build:
// rfft2's +0.0 fix-up of the structurally real bins (and W == 1's mirrored half), and irfft2's
// Hermitian projection of columns 0 and W/2, on which the real build's plain 2-D C2R relies. The
// projection changes rounding, so irfft2 is compared within kTol; rfft2 is bit-identical except
// for W == 1, whose upper half is mirrored.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/fft.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/fft.h"
#include "tests/cuda_testing.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::expect_close;
using abbe::testing::cuda::random_vec;

template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-6 : 1e-13;

template <typename T>
class CudaFft : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaFft, Types);

struct Shape {
  int64_t B, H, W;
};

TYPED_TEST(CudaFft, MatchesCpu) {
  using T = TypeParam;
  unsigned seed = 1;
  for (const Shape s : {Shape{2, 8, 8}, Shape{3, 7, 9}, Shape{2, 6, 5}, Shape{1, 1, 4}, Shape{2, 4, 1},
                        Shape{2, 5, 1}, Shape{3, 1, 1}, Shape{2, 17, 31}}) {
    const std::string what = std::to_string(s.B) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W) +
                             (sizeof(T) == 4 ? " float" : " double");
    const int64_t K = s.W / 2 + 1, nx = s.B * s.H * s.W, nX = 2 * s.B * s.H * K;
    const std::vector<T> x = random_vec<T>(nx, seed++), Z = random_vec<T>(nX, seed++);
    std::vector<T> X_cpu(nX), z_cpu(nx);
    cpu::rfft2<T>(s.B, s.H, s.W, x.data(), X_cpu.data());
    cpu::irfft2<T>(s.B, s.H, s.W, Z.data(), z_cpu.data());

    ASSERT_EQ(gpu::rfft2_workspace_bytes(s.B, s.H, s.W), 0);
    ASSERT_EQ(gpu::irfft2_workspace_bytes<T>(s.B, s.H, s.W), nX * static_cast<int64_t>(sizeof(T)));
    ASSERT_GE(gpu::irfft2_workspace_bytes(s.B, s.H, s.W), gpu::irfft2_workspace_bytes<T>(s.B, s.H, s.W));
    DeviceBuffer<T> x_dev(x), Z_dev(Z), X_dev(nX), z_dev(nx), ws(nX);
    gpu::rfft2<T>(s.B, s.H, s.W, x_dev.get(), X_dev.get(), nullptr);
    const std::vector<T> X = X_dev.download();
    expect_close(X, X_cpu, s.W == 1 ? kTol<T> : 0.0, "rfft2 " + what);
    for (int64_t b = 0; b < s.B; ++b)  // +0.0 at (0, 0)
      EXPECT_TRUE(X[2 * b * s.H * K + 1] == 0 && !std::signbit(X[2 * b * s.H * K + 1])) << what;

    gpu::irfft2<T>(s.B, s.H, s.W, Z_dev.get(), z_dev.get(), ws.get());
    expect_close(z_dev.download(), z_cpu, kTol<T>, "irfft2 " + what);
    expect_close(Z_dev.download(), Z, 0.0, "irfft2 leaves its input alone, " + what);
  }
}

TEST(CudaFftErrors, RejectHostPointersAndBadSizes) {
  DeviceBuffer<float> dev(64);
  std::vector<float> host(64);
  EXPECT_THROW(gpu::rfft2<float>(1, 4, 4, host.data(), dev.get(), nullptr), abbe::Error);
  EXPECT_THROW(gpu::irfft2<float>(1, 4, 4, dev.get(), host.data(), dev.get()), abbe::Error);
  EXPECT_THROW(gpu::irfft2<float>(1, 4, 4, dev.get(), dev.get() + 32, nullptr), abbe::Error);  // no workspace
  EXPECT_THROW(gpu::rfft2<float>(1, 0, 4, dev.get(), dev.get(), nullptr), abbe::Error);
  EXPECT_NO_THROW(gpu::rfft2<float>(0, 4, 4, nullptr, nullptr, nullptr));
}

}  // namespace
