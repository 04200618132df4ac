// kernels/cuda/grid_sample.cu under the CUDA emulator, against the CPU kernels
// (kernels/cpu/grid_sample.h, themselves tested against PyTorch) on the same seeded inputs, float
// and double, zeros/border x align_corners, grids reaching outside [-1, 1] and samples exactly on
// pixel centres. Small shapes: every GPU thread is a fiber here; several blocks, so atomics from
// blocks on different OS threads meet in dx.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/grid_sample.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/grid_sample.h"
#include "tests/cuda_testing.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using abbe::kernels::cpu::GridPadding;
using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::expect_close;
using abbe::testing::cuda::random_vec;

// Relative to max(1, |expected|) (see expect_close). The same expressions in the same types as
// the CPU kernel; FMA contraction (either compiler, differently in each kernel) and, for dx, the
// order of the atomics move the last bits. dgrid is the largest: a sum over C channels of terms
// up to ~size/2 that cancels (float: 2.4e-6 seen on an entry of 0.78).
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-5 : 1e-12;

struct Case {
  const char* name;
  int64_t N, C, H, W, P, Q;
  bool on_pixels;  // grid on pixel centres (exact coordinates), else uniform in [-1.3, 1.3)
};

const Case kCases[] = {
    {"P,Q > H,W (4 blocks)", 2, 3, 7, 9, 20, 24, false},
    {"P,Q < H,W", 1, 4, 12, 10, 5, 6, false},
    {"on pixel centres", 2, 2, 5, 9, 6, 7, true},
    {"H = 1", 1, 2, 1, 8, 3, 20, false},
};

// A grid whose samples sit on pixel centres k in [-2, size] (exact in float for these sizes,
// size-1 or size a power of two), or uniform random.
template <typename T>
std::vector<T> make_grid(const Case& c, bool align_corners, unsigned seed) {
  std::vector<T> g = random_vec<T>(c.N * c.P * c.Q * 2, seed, -1.3, 1.3);
  if (!c.on_pixels) return g;
  const int64_t H = align_corners ? c.H : c.H - 1, W = align_corners ? c.W : c.W - 1;  // 5, 9 / 4, 8
  for (size_t i = 0; i < g.size(); ++i) {
    const int64_t size = i % 2 == 0 ? W : H;
    const double k = static_cast<double>(static_cast<int64_t>((g[i] + 1.3) * (size + 3) / 2.6) - 2);
    g[i] = static_cast<T>(align_corners ? 2 * k / (size - 1) - 1 : (2 * k + 1) / size - 1);
  }
  return g;
}

template <typename T>
class CudaGridSample : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaGridSample, Types);

TYPED_TEST(CudaGridSample, MatchesCpu) {
  using T = TypeParam;
  unsigned seed = 1;
  cudaStream_t stream = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreate(&stream));
  for (const Case& c : kCases)
    for (const GridPadding padding : {GridPadding::zeros, GridPadding::border})
      for (const bool ac : {true, false}) {
        // On-pixel cases use H-1, W-1 without align_corners, so that size is a power of two.
        const int64_t H = c.on_pixels && !ac ? c.H - 1 : c.H, W = c.on_pixels && !ac ? c.W - 1 : c.W;
        const std::string what = std::string(c.name) + (padding == GridPadding::zeros ? ", zeros" : ", border") +
                                 (ac ? ", align_corners" : "") + (sizeof(T) == 4 ? ", float" : ", double");
        const int64_t nx = c.N * c.C * H * W, ny = c.N * c.C * c.P * c.Q, ng = c.N * c.P * c.Q * 2;
        const std::vector<T> x = random_vec<T>(nx, seed++), dy = random_vec<T>(ny, seed++);
        const std::vector<T> grid = make_grid<T>(c, ac, seed++);
        std::vector<T> y(ny), dx(nx), dgrid(ng);
        cpu::grid_sample_forward<T>(c.N, c.C, H, W, c.P, c.Q, x.data(), grid.data(), padding, ac, y.data());
        cpu::grid_sample_backward<T>(c.N, c.C, H, W, c.P, c.Q, x.data(), grid.data(), padding, ac, dy.data(),
                                     dx.data(), dgrid.data());

        DeviceBuffer<T> x_dev(x), grid_dev(grid), dy_dev(dy), y_dev(ny), dx_dev(nx), dgrid_dev(ng);
        gpu::grid_sample_forward<T>(c.N, c.C, H, W, c.P, c.Q, x_dev.get(), grid_dev.get(), padding, ac, y_dev.get(),
                                    stream);
        gpu::grid_sample_backward<T>(c.N, c.C, H, W, c.P, c.Q, x_dev.get(), grid_dev.get(), padding, ac,
                                     dy_dev.get(), dx_dev.get(), dgrid_dev.get(), stream);
        ABBE_CUDA_CHECK(cudaStreamSynchronize(stream));
        expect_close(y_dev.download(), y, kTol<T>, "forward " + what);
        expect_close(dx_dev.download(), dx, kTol<T>, "dx " + what);
        expect_close(dgrid_dev.download(), dgrid, kTol<T>, "dgrid " + what);

        // Each gradient alone (the other null): the other kernel specialisations. dx is
        // overwritten whatever the buffer held (cudaMalloc'd memory reads as NaN here).
        DeviceBuffer<T> dx_only(nx), dgrid_only(ng);
        gpu::grid_sample_backward<T>(c.N, c.C, H, W, c.P, c.Q, x_dev.get(), grid_dev.get(), padding, ac,
                                     dy_dev.get(), dx_only.get(), static_cast<T*>(nullptr), stream);
        gpu::grid_sample_backward<T>(c.N, c.C, H, W, c.P, c.Q, x_dev.get(), grid_dev.get(), padding, ac,
                                     dy_dev.get(), static_cast<T*>(nullptr), dgrid_only.get(), stream);
        ABBE_CUDA_CHECK(cudaStreamSynchronize(stream));
        expect_close(dx_only.download(), dx, kTol<T>, "dx alone " + what);
        expect_close(dgrid_only.download(), dgrid, kTol<T>, "dgrid alone " + what);
      }
  ABBE_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
