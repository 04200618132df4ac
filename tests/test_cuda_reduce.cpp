// kernels/cuda/{reduce,dropout,optim}.cu under the CUDA emulator, against the CPU kernels on the
// same seeded inputs, for float and double.
//  - sum_reduce: every canonical layout (reduce-all, rows, columns, a kept middle dim, 8-D
//    alternating dims), sizes 1 and odd, a ~1M-element reduce-all, size-1 and empty dims. The GPU
//    adds in a different (fixed) order than the CPU, so results agree to the double sum's rounding:
//    kReduceRel / kReduceAbs below. Bit-identical across OS-thread counts (no atomics).
//  - dropout_apply: the mask and the values are the CPU's bit for bit.
//  - adam_step, sgd_step: three steps each; within kOptimUlps of the CPU (bit-identical when the
//    CPU library was built with FMA, as with -march=native on x86-64).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "graph/error.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/reduce.h"
#include "tests/cuda_testing.h"

namespace {

using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::random_vec;

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;

// ---- Tolerances. |got - want| <= rel * |want| + abs.
// Reduce: the CPU and GPU double sums differ by a few double roundings (~1e-16 relative to the
// sum of |x|, at most 1e6 * 2 here); a float result is that double rounded once, so it is the
// CPU's or the adjacent float (2 ulps of margin).
template <typename T>
constexpr double kReduceRel = sizeof(T) == 4 ? 2.4e-7 : 1e-13;
constexpr double kReduceAbs = 1e-8;
// Optimisers: same operations, same roundings; ulps of slack for a CPU built without FMA.
constexpr double kOptimUlps = 2;

// Reports the first mismatch only. rel = abs = 0: bit-identical.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const bool ok = rel == 0 && abs == 0 ? std::memcmp(&got[i], &want[i], sizeof(T)) == 0
                                         : (std::isnan(g) && std::isnan(w)) || std::abs(g - w) <= rel * std::abs(w) + abs;
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << g << ", expected " << w
                    << " (difference " << g - w << ")";
      return;
    }
  }
}

template <typename T>
class CudaKernels : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaKernels, Types);

// ---- sum_reduce

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}
int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Runs both kernels on x and returns the GPU result after comparing it with the CPU's.
template <typename T>
std::vector<T> check_reduce(const std::vector<int64_t>& in, const std::vector<int64_t>& out, const std::vector<T>& x,
                            void* stream = nullptr) {
  const std::string what = "sum_reduce " + shape_str(in) + " -> " + shape_str(out) + (sizeof(T) == 4 ? " float" : " double");
  const int ndim = static_cast<int>(in.size());
  // Empty input: every sum is 0. (Not asked of the CPU kernel: it divides by a summed innermost
  // size of 0.)
  std::vector<T> want(static_cast<std::size_t>(numel(out)), T(0));
  if (!x.empty()) cpu::sum_reduce<T>(ndim, in.data(), out.data(), x.data(), want.data());
  const int64_t bytes = gpu::sum_reduce_workspace_bytes(ndim, in.data(), out.data());
  DeviceBuffer<T> x_dev(x), y_dev(numel(out));
  DeviceBuffer<unsigned char> work(bytes);
  gpu::sum_reduce<T>(ndim, in.data(), out.data(), x_dev.get(), y_dev.get(), bytes > 0 ? work.get() : nullptr, stream);
  if (stream) ABBE_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
  std::vector<T> got = y_dev.download();
  expect_close(got, want, kReduceRel<T>, kReduceAbs, what);
  return got;
}

template <typename T>
void check_reduce(const std::vector<int64_t>& in, const std::vector<int64_t>& out, unsigned seed) {
  check_reduce<T>(in, out, random_vec<T>(numel(in), seed));
}

struct ReduceCase {
  std::vector<int64_t> in, out;
};

TYPED_TEST(CudaKernels, SumReduceEveryLayout) {
  const ReduceCase cases[] = {
      {{}, {}},                                    // 0-D
      {{1}, {1}},                                  // size-1 tensor
      {{1, 1, 1}, {1, 1, 1}},
      {{7}, {1}},                                  // reduce-all, a thread per output
      {{1000}, {1}},                               // reduce-all, a warp
      {{100003}, {1}},                             // reduce-all, blocks over chunks + finish
      {{3, 4}, {3, 4}},                            // nothing summed
      {{1, 5, 1, 7}, {1, 1, 1, 7}},                // size-1 dims dropped
      // Rows (innermost dim summed).
      {{1000, 5}, {1000, 1}},
      {{70001, 3}, {70001, 1}},
      {{129, 77}, {129, 1}},
      {{3, 50001}, {3, 1}},
      // Bias gradients: sum over N, H, W keeping C (the kept dim in the middle).
      {{8, 16, 33, 35}, {1, 16, 1, 1}},
      {{2, 64, 8, 8}, {1, 64, 1, 1}},
      {{64, 4, 5, 5}, {1, 4, 1, 1}},
      {{600, 4, 3, 3}, {1, 4, 1, 1}},              // runs (9) shorter than the block
      {{6, 50, 31}, {1, 50, 1}},
      // Columns (innermost dim kept): leading dim only, a middle dim, merged kept dims.
      {{37, 129}, {1, 129}},
      {{5000, 3}, {1, 3}},
      {{2, 100003}, {1, 100003}},
      {{200, 40, 2}, {1, 40, 2}},
      {{6, 50, 31}, {6, 1, 31}},
      {{3, 4, 5, 6}, {1, 4, 1, 6}},
      {{3, 4, 5, 6}, {3, 1, 5, 1}},
      // 8-D, alternating kept and summed groups (4 of each at most).
      {{2, 1, 3, 2, 2, 1, 3, 2}, {1, 1, 3, 1, 2, 1, 1, 2}},
      {{2, 1, 3, 2, 2, 1, 3, 2}, {2, 1, 1, 2, 1, 1, 3, 1}},
      {{2, 3, 2, 3, 2, 3, 2, 3}, {2, 1, 2, 1, 2, 1, 2, 1}},
      {{2, 3, 2, 3, 2, 3, 2, 3}, {1, 3, 1, 3, 1, 3, 1, 3}},
      // Empty: a summed dim of size 0 gives zeros; a kept dim of size 0 gives nothing.
      {{3, 0, 4}, {3, 1, 4}},
      {{0, 5}, {1, 5}},
      {{0}, {1}},
      {{0, 5}, {0, 1}},
      {{4, 0}, {1, 0}},
  };
  unsigned seed = 1;
  for (const ReduceCase& c : cases) check_reduce<TypeParam>(c.in, c.out, seed++);
}

// The one large case: reduce-all of ~1M elements (multi-block pass, then the finishing pass).
TYPED_TEST(CudaKernels, SumReduceAllLarge) {
  const std::vector<int64_t> in = {4, 3, 257, 341}, out = {1, 1, 1, 1};
  EXPECT_GT(gpu::sum_reduce_workspace_bytes(4, in.data(), out.data()), 0);
  check_reduce<TypeParam>(in, out, 11);
}

// Positive values only: any element left out or counted twice changes the sum beyond tolerance.
TYPED_TEST(CudaKernels, SumReduceCountsEveryElementOnce) {
  using T = TypeParam;
  for (const ReduceCase& c : {ReduceCase{{100003}, {1}}, ReduceCase{{8, 16, 33, 35}, {1, 16, 1, 1}},
                              ReduceCase{{5000, 3}, {1, 3}}, ReduceCase{{3, 4, 5, 6}, {1, 4, 1, 6}}}) {
    const std::vector<T> ones(static_cast<std::size_t>(numel(c.in)), T(1));
    const std::vector<T> got = check_reduce<T>(c.in, c.out, ones);
    for (T v : got) EXPECT_EQ(v, static_cast<T>(numel(c.in) / numel(c.out))) << shape_str(c.in);
  }
}

// Bit-identical whatever the number of OS threads running the blocks, on a non-default stream.
TEST(CudaKernelsFloat, SumReduceDeterministic) {
  cudaStream_t stream = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreate(&stream));
  const abbe::emu::Config saved = abbe::emu::config();
  for (const ReduceCase& c : {ReduceCase{{100003}, {1}}, ReduceCase{{8, 16, 33, 35}, {1, 16, 1, 1}},
                              ReduceCase{{5000, 3}, {1, 3}}}) {
    const std::vector<float> x = random_vec<float>(numel(c.in), 21);
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 1}) {
      abbe::emu::Config cfg = saved;
      cfg.os_threads = threads;
      abbe::emu::set_config(cfg);
      results.push_back(check_reduce<float>(c.in, c.out, x, stream));
    }
    expect_close(results[1], results[0], 0, 0, "2 OS threads vs 1, " + shape_str(c.in));
    expect_close(results[2], results[0], 0, 0, "rerun, " + shape_str(c.in));
  }
  abbe::emu::set_config(saved);
  ABBE_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST(CudaKernelsFloat, SumReduceRejectsBadArguments) {
  DeviceBuffer<float> x(100003), y(1);
  const int64_t in[] = {5, 3}, bad_out[] = {2, 3};
  EXPECT_THROW(gpu::sum_reduce<float>(2, in, bad_out, x.get(), y.get(), nullptr), abbe::Error);
  const int64_t in9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_THROW(gpu::sum_reduce<float>(9, in9, in9, x.get(), y.get(), nullptr), abbe::Error);
  const int64_t big[] = {100003}, one[] = {1};  // needs a workspace
  EXPECT_THROW(gpu::sum_reduce<float>(1, big, one, x.get(), y.get(), nullptr), abbe::Error);
}

// ---- dropout_apply

template <typename T>
void check_dropout(int64_t n, double p, uint64_t seed, uint64_t base) {
  const std::string what = "dropout n " + std::to_string(n) + " p " + std::to_string(p) + " base " +
                           std::to_string(base) + (sizeof(T) == 4 ? " float" : " double");
  const std::vector<T> x = random_vec<T>(n, static_cast<unsigned>(seed));
  std::vector<T> want(x.size());
  cpu::dropout_apply<T>(n, p, seed, base, x.data(), want.data());
  DeviceBuffer<T> x_dev(x), y_dev(n);
  gpu::dropout_apply<T>(n, p, seed, base, x_dev.get(), y_dev.get());
  expect_close(y_dev.download(), want, 0, 0, what);
  gpu::dropout_apply<T>(n, p, seed, base, x_dev.get(), x_dev.get());  // in place
  expect_close(x_dev.download(), want, 0, 0, what + " in place");
}

TYPED_TEST(CudaKernels, DropoutMaskIsTheCpuMask) {
  // The second base makes the 64-bit counter cross 2^32 inside the range.
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4097}})
    for (double p : {0.0, 0.1, 0.5, 0.9, 1.0})
      for (uint64_t base : {uint64_t{0}, (uint64_t{1} << 32) - 3}) check_dropout<TypeParam>(n, p, 42, base);
  check_dropout<TypeParam>(200003, 0.3, 7, 12345);
}

// The mask is a function of the counter: shifting base by one shifts it by one element; another
// seed gives another mask, keeping about 1 - p of the elements.
TEST(CudaKernelsFloat, DropoutMaskFollowsCounterAndSeed) {
  const int64_t n = 20000;
  const double p = 0.25;
  const std::vector<float> ones(static_cast<std::size_t>(n + 1), 1.0f);
  DeviceBuffer<float> x(ones), a(n + 1), b(n + 1), c(n + 1);
  gpu::dropout_apply<float>(n + 1, p, 5, 100, x.get(), a.get());
  gpu::dropout_apply<float>(n, p, 5, 101, x.get(), b.get());
  gpu::dropout_apply<float>(n + 1, p, 6, 100, x.get(), c.get());
  const std::vector<float> ya = a.download(), yb = b.download(), yc = c.download();
  int64_t kept = 0, differ = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(yb[i], ya[i + 1]) << "element " << i;
    kept += ya[i] != 0;
    differ += (ya[i] != 0) != (yc[i] != 0);
  }
  const double sd = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(kept), n * (1 - p), 5 * sd);
  EXPECT_NEAR(static_cast<double>(differ), n * 2 * p * (1 - p), 6 * sd);  // independent masks
}

// ---- adam_step, sgd_step

struct AdamCase {
  double weight_decay;
  bool decoupled;
};

TYPED_TEST(CudaKernels, AdamStepMatchesCpu) {
  using T = TypeParam;
  const double rel = kOptimUlps * std::numeric_limits<T>::epsilon();
  unsigned seed = 500;
  for (const AdamCase c : {AdamCase{0.0, false}, AdamCase{0.01, false}, AdamCase{0.01, true}})
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{30011}}) {
      std::vector<T> param = random_vec<T>(n, seed++), m(param.size(), T(0)), v(param.size(), T(0));
      DeviceBuffer<T> p_dev(param), m_dev(m), v_dev(v), g_dev(n);
      for (int64_t step = 1; step <= 3; ++step) {
        const std::string what = "adam wd " + std::to_string(c.weight_decay) + (c.decoupled ? " AdamW" : " Adam") +
                                 " n " + std::to_string(n) + " step " + std::to_string(step);
        const std::vector<T> grad = random_vec<T>(n, seed++, -0.5, 0.5);
        g_dev.upload(grad);
        cpu::adam_step<T>(n, param.data(), grad.data(), m.data(), v.data(), 1e-3, 0.9, 0.999, 1e-8, c.weight_decay,
                          c.decoupled, step);
        gpu::adam_step<T>(n, p_dev.get(), g_dev.get(), m_dev.get(), v_dev.get(), 1e-3, 0.9, 0.999, 1e-8,
                          c.weight_decay, c.decoupled, step);
        expect_close(p_dev.download(), param, rel, 0, what + " param");
        expect_close(m_dev.download(), m, rel, 0, what + " exp_avg");
        expect_close(v_dev.download(), v, rel, 0, what + " exp_avg_sq");
      }
    }
}

struct SgdCase {
  double momentum, dampening, weight_decay;
  bool nesterov;
};

TYPED_TEST(CudaKernels, SgdStepMatchesCpu) {
  using T = TypeParam;
  const double rel = kOptimUlps * std::numeric_limits<T>::epsilon();
  unsigned seed = 600;
  for (const SgdCase c : {SgdCase{0.0, 0.0, 0.0, false}, SgdCase{0.0, 0.0, 1e-4, false}, SgdCase{0.9, 0.0, 0.0, false},
                          SgdCase{0.9, 0.1, 1e-4, true}})
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{30011}}) {
      const bool use_buf = c.momentum != 0;
      std::vector<T> param = random_vec<T>(n, seed++), buf(use_buf ? param.size() : 0);
      DeviceBuffer<T> p_dev(param), b_dev(n), g_dev(n);
      for (int step = 1; step <= 3; ++step) {
        const std::string what = "sgd momentum " + std::to_string(c.momentum) + " dampening " +
                                 std::to_string(c.dampening) + " wd " + std::to_string(c.weight_decay) +
                                 (c.nesterov ? " nesterov" : "") + " n " + std::to_string(n) + " step " +
                                 std::to_string(step);
        const std::vector<T> grad = random_vec<T>(n, seed++, -0.5, 0.5);
        g_dev.upload(grad);
        cpu::sgd_step<T>(n, param.data(), grad.data(), use_buf ? buf.data() : nullptr, 0.05, c.momentum, c.dampening,
                         c.weight_decay, c.nesterov, step == 1);
        gpu::sgd_step<T>(n, p_dev.get(), g_dev.get(), use_buf ? b_dev.get() : nullptr, 0.05, c.momentum, c.dampening,
                         c.weight_decay, c.nesterov, step == 1);
        expect_close(p_dev.download(), param, rel, 0, what + " param");
        if (use_buf) expect_close(b_dev.download(), buf, rel, 0, what + " momentum_buf");
      }
    }
}

}  // namespace
