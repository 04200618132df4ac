// The CUDA-on-CPU emulator (kernels/emu): real CUDA kernels (tests/emu_kernels.cuh) run on the
// CPU and are checked against plain C++ references; kernels with planted bugs (a missing
// __syncthreads, a wrong shuffle offset, a barrier in divergent code, an invalid launch) must give
// a wrong result or an abbe::Error naming the kernel, deterministically.
#ifndef ABBE_CUDA_EMULATION
#define ABBE_CUDA_EMULATION 1
#endif
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_compat.h"
#include "tests/emu_kernels.cuh"

namespace abbe::emu_test {
namespace {

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { ABBE_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    ABBE_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { (void)cudaFree(p_); }
  T* get() const { return p_; }
  void zero() { ABBE_CUDA_CHECK(cudaMemset(p_, 0, n_ * sizeof(T))); }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    ABBE_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};

// Restores the emulator's configuration at the end of a test that changes it.
class ConfigGuard {
 public:
  explicit ConfigGuard(const emu::Config& c) : saved_(emu::config()) { emu::set_config(c); }
  ~ConfigGuard() { emu::set_config(saved_); }

 private:
  emu::Config saved_;
};

std::vector<float> uniform(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<int> integers(std::size_t n, int lo, int hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int> v(n);
  for (int& x : v) x = d(rng);
  return v;
}

// Runs fn, which must throw abbe::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    std::printf("  expected error: %s\n", msg.c_str());
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return;
  }
  ADD_FAILURE() << "no abbe::Error thrown";
}

// ---- Block reduction ----

constexpr int kSumN = 1 << 20, kSumBlocks = 256;

struct SumCase {
  std::vector<float> x = uniform(kSumN, 1);
  double ref = 0.0;
  DeviceBuffer<float> dx{x}, partial{kSumBlocks}, out{1};
  SumCase() {
    for (float v : x) ref += v;
  }
  template <int kDrop>
  float run() {
    device_sum<kDrop>(dx.get(), kSumN, partial.get(), kSumBlocks, out.get(), nullptr);
    return out.download()[0];
  }
};

TEST(Emu, BlockReductionMatchesDoublePrecisionSum) {
  SumCase c;
  const float got = c.run<-1>();
  const double rel = std::abs(got - c.ref) / c.ref;
  std::printf("sum of 2^20 floats: %.3f vs double %.3f, relative error %.2e (tolerance 1e-5)\n", got, c.ref, rel);
  EXPECT_LE(rel, 1e-5);
  const emu::LaunchStats s = emu::last_launch_stats();  // the second, one-block launch
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.block_barriers, 4u);  // after the store, then strides 128, 64, 32
  EXPECT_EQ(s.warp_barriers, 5u);   // the five shuffle steps of the one active warp
  EXPECT_EQ(s.static_shared_bytes, 256 * sizeof(float));
}

// A missing barrier must produce a wrong sum, not a lucky right one: shared memory is poisoned
// with NaN at each block start and the thread order alternates between blocks, so whichever
// direction the race runs, half the blocks read poison or a stale partial sum.
TEST(EmuCatchesBugs, ReductionMissingBarrierAfterStoreIsWrong) {
  SumCase c;
  const float a = c.run<0>(), b = c.run<0>();
  std::printf("barrier after the store removed: %f (right: %f)\n", a, c.ref);
  EXPECT_FALSE(std::abs(a - c.ref) <= 1e-3 * c.ref);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(a), std::bit_cast<std::uint32_t>(b));  // deterministic, to the bit
}

TEST(EmuCatchesBugs, ReductionMissingBarrierInTreeIsWrong) {
  SumCase c;
  const float a = c.run<1>(), b = c.run<1>();
  std::printf("barrier after the first tree step removed: %f (right: %f)\n", a, c.ref);
  EXPECT_FALSE(std::abs(a - c.ref) <= 1e-3 * c.ref);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(a), std::bit_cast<std::uint32_t>(b));
}

// Why the order alternates: with the last thread always first, the store's missing barrier is
// invisible (every s[t + stride] is written before thread t reads it).
TEST(EmuCatchesBugs, OneFixedThreadOrderWouldMissTheStoreBarrier) {
  emu::Config cfg = emu::config();
  cfg.order = emu::Order::descending;
  ConfigGuard guard(cfg);
  SumCase c;
  EXPECT_LE(std::abs(c.run<0>() - c.ref) / c.ref, 1e-5);
}

// ---- Transpose ----

TEST(Emu, TiledTransposeAnySize) {
  for (const auto& [rows, cols] : {std::pair{333, 517}, std::pair{32, 64}, std::pair{1, 45}}) {
    const std::vector<float> in = uniform(static_cast<std::size_t>(rows) * cols, 2);
    DeviceBuffer<float> din(in), dout(in.size());
    launch_transpose(din.get(), dout.get(), rows, cols, nullptr);
    const std::vector<float> out = dout.download();
    int wrong = 0;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) wrong += out[static_cast<std::size_t>(c) * rows + r] != in[static_cast<std::size_t>(r) * cols + c];
    EXPECT_EQ(wrong, 0) << rows << "x" << cols;
  }
}

// ---- Scans ----

std::vector<int> segmented_inclusive_scan(const std::vector<int>& in, int segment) {
  std::vector<int> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] + (i % segment ? out[i - 1] : 0);
  return out;
}

TEST(Emu, WarpAndBlockInclusiveScan) {
  const int n = 10000;
  const std::vector<int> in = integers(n, -100, 100, 3);
  DeviceBuffer<int> din(in), dout(n);
  for (int block : {32, 256, 1024}) {
    launch_block_scan<0>(din.get(), dout.get(), n, block, nullptr);
    EXPECT_EQ(dout.download(), segmented_inclusive_scan(in, block)) << "block " << block;
  }
}

TEST(EmuCatchesBugs, ScanWithWrongShuffleOffsetIsWrong) {
  const int n = 10000;
  const std::vector<int> in = integers(n, -100, 100, 3);
  DeviceBuffer<int> din(in), dout(n);
  launch_block_scan<1>(din.get(), dout.get(), n, 256, nullptr);
  const std::vector<int> got = dout.download(), ref = segmented_inclusive_scan(in, 256);
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += got[i] != ref[i];
  std::printf("scan with shfl_up offset + 1: %d of %d outputs wrong\n", wrong, n);
  EXPECT_GT(wrong, n / 2);
}

TEST(Emu, WarpIntrinsicsFollowPtxSemantics) {
  DeviceBuffer<int> d(8 * 32);
  ABBE_LAUNCH(warp_probe, 1, 32, 0, nullptr, d.get());
  const std::vector<int> o = d.download();
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(o[0 * 32 + l], l ^ 1) << l;
    EXPECT_EQ(o[1 * 32 + l], (l & ~15) | 5) << l;          // width 16: lane 5 of each half
    EXPECT_EQ(o[2 * 32 + l], l % 8 + 3 < 8 ? l + 3 : l) << l;  // down within 8-lane segments
    EXPECT_EQ(o[3 * 32 + l], l % 8 >= 2 ? l - 2 : l) << l;     // up within 8-lane segments
    EXPECT_EQ(static_cast<unsigned>(o[4 * 32 + l]), 0x49249249u) << l;
    EXPECT_EQ(o[5 * 32 + l], 1) << l;
    EXPECT_EQ(o[6 * 32 + l], 0) << l;
    EXPECT_EQ(o[7 * 32 + l], l < 16 ? l ^ 8 : -1) << l;
  }
}

// ---- Atomics across blocks on two OS threads ----

TEST(Emu, AtomicHistogramOnTwoOsThreads) {
  emu::Config cfg = emu::config();
  cfg.os_threads = 2;
  ConfigGuard guard(cfg);
  const int n = 1 << 20, bins = 64;
  const std::vector<int> values = integers(n, 0, bins - 1, 4);
  std::vector<int> ref(bins, 0);
  for (int v : values) ++ref[v];
  DeviceBuffer<int> dv(values), hist(bins);

  hist.zero();
  ABBE_LAUNCH(histogram, 64, 256, bins * sizeof(int), nullptr, dv.get(), n, hist.get(), bins);
  EXPECT_EQ(hist.download(), ref);
  const emu::LaunchStats s = emu::last_launch_stats();
  EXPECT_EQ(s.os_threads, 2);
  EXPECT_EQ(s.blocks, 64u);

  hist.zero();
  ABBE_LAUNCH(histogram_global, 128, 256, 0, nullptr, dv.get(), n, hist.get());
  EXPECT_EQ(hist.download(), ref);
  EXPECT_EQ(emu::last_launch_stats().os_threads, 2);
}

TEST(Emu, AtomicFlavours) {
  emu::Config cfg = emu::config();
  cfg.os_threads = 2;
  ConfigGuard guard(cfg);
  const int n = 100000;
  const std::vector<int> x = integers(n, -1000, 1000, 5);
  DeviceBuffer<int> dx(x);
  DeviceBuffer<AtomicTotals> dt(1);
  const AtomicTotals init{0.0, 0.0f, INT_MIN, INT_MAX, 0ull, 0u, INT_MIN, 0};
  ABBE_CUDA_CHECK(cudaMemcpy(dt.get(), &init, sizeof(init), cudaMemcpyHostToDevice));
  ABBE_LAUNCH(atomic_mix, 40, 128, 0, nullptr, dx.get(), n, dt.get());
  const AtomicTotals t = dt.download()[0];
  double sum = 0;
  for (int v : x) sum += v;
  EXPECT_EQ(t.dsum, sum);
  EXPECT_EQ(t.fsum, static_cast<float>(n));
  EXPECT_EQ(t.imax, *std::max_element(x.begin(), x.end()));
  EXPECT_EQ(t.imin, *std::min_element(x.begin(), x.end()));
  EXPECT_EQ(t.count, static_cast<unsigned long long>(n));
  EXPECT_EQ(t.ticket, static_cast<unsigned>(n % 1000));
  EXPECT_EQ(t.cas_max, t.imax);
  EXPECT_NE(std::find(x.begin(), x.end(), t.last), x.end());
}

// ---- Several barriers in sequence ----

std::vector<float> smooth_ref(const std::vector<float>& x, int segment, int iters) {
  std::vector<float> y = x, next(x.size());
  for (int k = 0; k < iters; ++k) {
    for (std::size_t i = 0; i < y.size(); ++i) {
      const std::size_t base = i / segment * segment, last = base + segment - 1;
      next[i] = (y[i > base ? i - 1 : base] + y[i] + y[i < last ? i + 1 : last]) * (1.0f / 3.0f);
    }
    y.swap(next);
  }
  return y;
}

TEST(Emu, IterativeStencilWithManyBarriers) {
  const int block = 256, blocks = 37, iters = 5;
  const std::vector<float> x = uniform(static_cast<std::size_t>(block) * blocks, 6);
  DeviceBuffer<float> dx(x), dy(x.size());
  launch_smooth<false>(dx.get(), dy.get(), block * blocks, block, iters, nullptr);
  const std::vector<float> y = dy.download(), ref = smooth_ref(x, block, iters);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-6f) << i;
  EXPECT_EQ(emu::last_launch_stats().block_barriers, static_cast<std::uint64_t>(blocks) * (1 + 2 * iters));
}

TEST(EmuCatchesBugs, StencilMissingReadBarrierIsWrong) {
  const int block = 256, blocks = 8, iters = 5;
  const std::vector<float> x = uniform(static_cast<std::size_t>(block) * blocks, 6);
  DeviceBuffer<float> dx(x), dy(x.size());
  launch_smooth<true>(dx.get(), dy.get(), block * blocks, block, iters, nullptr);
  const std::vector<float> y = dy.download(), ref = smooth_ref(x, block, iters);
  int wrong = 0;
  for (std::size_t i = 0; i < y.size(); ++i) wrong += !(std::abs(y[i] - ref[i]) <= 1e-6f);
  std::printf("stencil without the read barrier: %d of %zu outputs wrong\n", wrong, y.size());
  EXPECT_GT(wrong, static_cast<int>(y.size()) / 2);
}

// ---- Dynamic shared memory, 3-D grids, grid-stride loops, parameters ----

TEST(Emu, DynamicSharedMemoryAndOptIn) {
  // smooth with zero iterations copies through dynamic shared memory.
  const int block = 128;
  const std::vector<float> x = uniform(block * 4, 7);
  DeviceBuffer<float> dx(x), dy(x.size());
  launch_smooth<false>(dx.get(), dy.get(), block * 4, block, 0, nullptr);
  EXPECT_EQ(dy.download(), x);
  // 64 KiB of dynamic shared memory needs the opt-in, as on the GPU (the attribute is per kernel
  // and process-wide, so start from and return to the default).
  ABBE_CUDA_CHECK(cudaFuncSetAttribute(noop, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024));
  expect_error([&] { ABBE_LAUNCH(noop, 1, 32, 64 * 1024, nullptr, dy.get()); },
               {"noop", "65536 bytes of dynamic shared memory", "cudaFuncSetAttribute"});
  ABBE_CUDA_CHECK(cudaFuncSetAttribute(noop, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
  ABBE_LAUNCH(noop, 1, 32, 64 * 1024, nullptr, dy.get());
  ABBE_CUDA_CHECK(cudaFuncSetAttribute(noop, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024));
}

TEST(Emu, ThreeDimensionalGridAndBlocks) {
  const dim3 grid(3, 5, 7), block(8, 4, 2);
  const int X = 24, Y = 20, Z = 14;
  DeviceBuffer<int> out(X * Y * Z), visits(X * Y * Z);
  visits.zero();
  ABBE_LAUNCH(index_3d, grid, block, 0, nullptr, out.get(), visits.get());
  const std::vector<int> o = out.download(), v = visits.download();
  for (int z = 0; z < Z; ++z)
    for (int y = 0; y < Y; ++y)
      for (int x = 0; x < X; ++x) {
        const int at = (z * Y + y) * X + x;
        const int b = ((z / 2) * 5 + y / 4) * 3 + x / 8, t = ((z % 2) * 4 + y % 4) * 8 + x % 8;
        ASSERT_EQ(v[at], 1) << x << "," << y << "," << z;
        ASSERT_EQ(o[at], b * 1000 + t) << x << "," << y << "," << z;
      }
}

TEST(Emu, GridStrideLoop) {
  const int n = 100003;
  const std::vector<float> x = uniform(n, 8), y0 = uniform(n, 9);
  DeviceBuffer<float> dx(x), dy(y0);
  ABBE_LAUNCH(saxpy, 7, 64, 0, nullptr, n, 2.5f, dx.get(), dy.get());
  const std::vector<float> y = dy.download();
  for (int i = 0; i < n; ++i) ASSERT_NEAR(y[i], 2.5f * x[i] + y0[i], 1e-6f) << i;
}

TEST(Emu, KernelParametersArePerThreadCopies) {
  DeviceBuffer<int> d(64);
  ABBE_LAUNCH(param_copies, 1, 64, 0, nullptr, 7, d.get());
  const std::vector<int> o = d.download();
  EXPECT_EQ(o[0], 0);
  for (int i = 1; i < 64; ++i) EXPECT_EQ(o[i], 7) << i;
}

TEST(Emu, ConstantMemory) {
  const float scale[4] = {1.0f, -2.0f, 0.5f, 4.0f};
  ABBE_CUDA_CHECK(cudaMemcpyToSymbol(kScale, scale, sizeof(scale)));
  const std::vector<float> x = uniform(10, 10);
  DeviceBuffer<float> dx(x), dy(x.size());
  ABBE_LAUNCH(scale_by_constant, 1, 32, 0, nullptr, dx.get(), dy.get(), 10);
  const std::vector<float> y = dy.download();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(y[i], x[i] * scale[i % 4]) << i;
}

// Reading shared memory before any thread of the block wrote it gives NaN in every block, not the
// previous block's values (each block here writes its index after reading).
__global__ void read_before_write(float* out) {
  ABBE_SHARED(float, s, [32]);
  out[blockIdx.x * 32 + threadIdx.x] = s[threadIdx.x];
  s[threadIdx.x] = static_cast<float>(blockIdx.x);
}

TEST(Emu, SharedMemoryIsPoisonedAtEveryBlockStart) {
  emu::Config cfg = emu::config();
  cfg.os_threads = 1;  // one OS thread runs all blocks, so they share one arena
  ConfigGuard guard(cfg);
  DeviceBuffer<float> d(4 * 32);
  ABBE_LAUNCH(read_before_write, 4, 32, 0, nullptr, d.get());
  for (float v : d.download()) EXPECT_TRUE(std::isnan(v)) << v;
}

TEST(Emu, BlockWideVotes) {
  DeviceBuffer<int> d(3);
  ABBE_LAUNCH(barrier_votes, 2, 100, 0, nullptr, d.get());
  EXPECT_EQ(d.download(), (std::vector<int>{50, 1, 1}));
}

// ---- Errors a GPU would report (or hang on), raised as abbe::Error naming the kernel ----

// Only the emulator can run these (nvcc rejects 52 KB of static shared memory at compile time).
__global__ void too_much_static(float* out) {
  ABBE_SHARED(float, big, [13000]);
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}
__global__ void lane_outside_mask(int* out) {
  out[threadIdx.x] = abbe_shfl_xor(0x1u, static_cast<int>(threadIdx.x), 1);
}
__global__ void warp_waits_for_block(int* out) {
  if (threadIdx.x < 16) abbe_syncwarp();
  else __syncthreads();
  out[threadIdx.x] = 1;
}
// Host code called from a kernel (possible only here) may throw; the error crosses the fiber.
__global__ void throws_in_thread_3(int* out) {
  out[threadIdx.x] = 1;
  __syncthreads();
  ABBE_CHECK(threadIdx.x != 3, "thread ", threadIdx.x, " refuses");
}

TEST(EmuCatchesBugs, BarrierInDivergentCodeRaises) {
  DeviceBuffer<int> d(64);
  expect_error([&] { ABBE_LAUNCH(divergent_barrier, 2, 64, 0, nullptr, d.get()); },
               {"kernel 'divergent_barrier'", "block (0,0,0)", "threads 16..63 exited", "threads 0..15 wait at __syncthreads() at emu_kernels.cuh"});
  expect_error([&] { ABBE_LAUNCH(split_barrier, 1, 64, 0, nullptr, d.get()); },
               {"kernel 'split_barrier'", "different barriers", "threads 0, 2, 4, 6, 8, 10, 12, 14, ..."});
  expect_error([&] { ABBE_LAUNCH(shuffle_after_exit, 1, 32, 0, nullptr, d.get()); },
               {"kernel 'shuffle_after_exit'", "abbe_shfl_down", "has exited"});
  expect_error([&] { ABBE_LAUNCH(lane_outside_mask, 1, 32, 0, nullptr, d.get()); },
               {"kernel 'lane_outside_mask'", "not in its own mask"});
  expect_error([&] { ABBE_LAUNCH(warp_waits_for_block, 1, 32, 0, nullptr, d.get()); },
               {"kernel 'warp_waits_for_block'", "deadlock", "threads 0..15 wait at abbe_syncwarp(mask 0xffffffff)",
                "threads 16..31 wait at __syncthreads()"});
  expect_error([&] { ABBE_LAUNCH(throws_in_thread_3, 4, 64, 0, nullptr, d.get()); }, {"thread 3 refuses"});
  // The worker threads recover: the next launch runs normally.
  ABBE_LAUNCH(param_copies, 1, 64, 0, nullptr, 3, d.get());
  EXPECT_EQ(d.download()[5], 3);
}

TEST(EmuCatchesBugs, InvalidLaunchesRaiseNamingTheKernel) {
  DeviceBuffer<float> d(2048);
  expect_error([&] { ABBE_LAUNCH(noop, 1, 2048, 0, nullptr, d.get()); },
               {"kernel 'noop'", "2048 threads per block exceed the limit of 1024", "test_emu.cpp"});
  expect_error([&] { ABBE_LAUNCH(noop, 0, 32, 0, nullptr, d.get()); }, {"kernel 'noop'", "grid dimension is 0"});
  expect_error([&] { ABBE_LAUNCH(noop, 1, dim3(1, 1, 65), 0, nullptr, d.get()); }, {"kernel 'noop'", "(1024,1024,64)"});
  expect_error([&] { ABBE_LAUNCH(noop, dim3(1, 65536), 1, 0, nullptr, d.get()); }, {"kernel 'noop'", "grid dimension exceeds"});
  std::vector<float> host(4);
  expect_error([&] { ABBE_LAUNCH(noop, 1, 32, 0, nullptr, host.data()); }, {"kernel 'noop'", "argument 0", "not device memory"});
  expect_error([&] { ABBE_LAUNCH(too_much_static, 1, 32, 0, nullptr, d.get()); },
               {"kernel 'too_much_static'", "ABBE_SHARED 'big'", "48 KiB"});
  cudaStream_t s = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreate(&s));
  ABBE_LAUNCH(noop, 1, 32, 0, s, d.get());
  ABBE_CUDA_CHECK(cudaStreamDestroy(s));
  expect_error([&] { ABBE_LAUNCH(noop, 1, 32, 0, s, d.get()); }, {"kernel 'noop'", "stream"});
}

// ---- The host runtime ----

TEST(EmuRuntime, MemoryIsTrackedAndChecked) {
  const std::size_t before = emu::device_bytes_in_use();
  float* p = nullptr;
  ABBE_CUDA_CHECK(cudaMalloc(&p, 100 * sizeof(float)));
  EXPECT_EQ(emu::device_bytes_in_use(), before + 400);
  float poison = 0.0f;
  ABBE_CUDA_CHECK(cudaMemcpy(&poison, p + 99, sizeof(float), cudaMemcpyDeviceToHost));
  EXPECT_TRUE(std::isnan(poison));  // fresh device memory reads as NaN
  std::vector<float> h(101, 1.0f);
  expect_error([&] { ABBE_CUDA_CHECK(cudaMemcpy(p, h.data(), 101 * sizeof(float), cudaMemcpyHostToDevice)); },
               {"cudaErrorInvalidValue", "overruns its allocation of 400 bytes"});
  EXPECT_EQ(cudaMemcpy(h.data(), p, 4, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // directions swapped
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(emu::is_device_accessible(p + 100));  // one past the end
  EXPECT_FALSE(emu::is_device_accessible(h.data()));
  ABBE_CUDA_CHECK(cudaFree(p));
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // double free
  (void)cudaGetLastError();
  EXPECT_EQ(emu::device_bytes_in_use(), before);
}

TEST(EmuRuntime, DeviceStreamsAndEvents) {
  int count = 0;
  ABBE_CUDA_CHECK(cudaGetDeviceCount(&count));
  EXPECT_EQ(count, 1);
  cudaDeviceProp prop;
  ABBE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  EXPECT_EQ(prop.warpSize, 32);
  EXPECT_EQ(prop.maxThreadsPerBlock, 1024);
  EXPECT_NE(std::string(prop.name).find("emulator"), std::string::npos);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  (void)cudaGetLastError();
  cudaStream_t s = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ABBE_CUDA_CHECK(cudaEventCreate(&start));
  ABBE_CUDA_CHECK(cudaEventCreate(&stop));
  ABBE_CUDA_CHECK(cudaEventRecord(start, s));
  DeviceBuffer<float> d(1000);
  ABBE_CUDA_CHECK(cudaMemsetAsync(d.get(), 0, 1000 * sizeof(float), s));
  ABBE_CUDA_CHECK(cudaEventRecord(stop, s));
  ABBE_CUDA_CHECK(cudaStreamSynchronize(s));
  float ms = -1.0f;
  ABBE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(d.download()[999], 0.0f);
  ABBE_CUDA_CHECK(cudaEventDestroy(start));
  ABBE_CUDA_CHECK(cudaEventDestroy(stop));
  ABBE_CUDA_CHECK(cudaStreamDestroy(s));
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, OutsideAKernelDeviceFunctionsRaise) {
  expect_error([] { __syncthreads(); }, {"__syncthreads()", "outside a kernel"});
}

}  // namespace
}  // namespace abbe::emu_test
