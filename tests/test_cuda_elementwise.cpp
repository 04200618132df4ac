// kernels/cuda/elementwise.cu under the CUDA emulator, against the CPU kernels on the same inputs.
// Exact ops must match bit for bit; transcendental ones within 1e-6 (float) / 1e-12 (double)
// relative. Sizes 1, 7 and 1000003 (odd: scalar path), 4096 and 1 << 20 (float4 path when
// aligned), and pointers offset by one element (float4 fallback).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/elementwise.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using cpu::BinaryOp;
using cpu::Broadcast;
using cpu::UnaryOp;

// n elements of T in device memory, starting `offset` elements into the allocation (offset 1
// breaks 16-byte alignment for float: cudaMalloc returns 256-byte aligned memory).
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t n, int offset = 0) : n_(n), offset_(offset) {
    void* p = nullptr;
    ABBE_CUDA_CHECK(cudaMalloc(&p, static_cast<std::size_t>(n + offset + 1) * sizeof(T)));
    base_ = static_cast<T*>(p);
  }
  DeviceBuffer(const std::vector<T>& host, int offset = 0) : DeviceBuffer(static_cast<int64_t>(host.size()), offset) {
    upload(host);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { (void)cudaFree(base_); }
  T* get() const { return base_ + offset_; }
  void upload(const std::vector<T>& host) {
    ABBE_CUDA_CHECK(cudaMemcpy(get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<std::size_t>(n_));
    ABBE_CUDA_CHECK(cudaMemcpy(host.data(), get(), host.size() * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* base_ = nullptr;
  int64_t n_;
  int offset_;
};

template <typename T>
constexpr double kRelTol = sizeof(T) == 4 ? 1e-6 : 1e-12;

// Uniform in [lo, hi) with every 13th value an exact 0 when zeros (the x > 0 branch points).
template <typename T>
std::vector<T> random_vec(int64_t n, unsigned seed, double lo = -2.0, double hi = 2.0, bool zeros = true) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = zeros && i % 13 == 5 ? T(0) : static_cast<T>(dist(rng));
  return v;
}

// rel_tol 0: bit-identical. Reports the first mismatch only (the vectors can have 10^6 elements).
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double rel_tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const bool ok = rel_tol == 0 ? std::memcmp(&got[i], &want[i], sizeof(T)) == 0
                                 : (std::isnan(g) && std::isnan(w)) || std::abs(g - w) <= rel_tol * std::abs(w);
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << g << ", expected " << w;
      return;
    }
  }
}

const UnaryOp kUnaryOps[] = {UnaryOp::neg,        UnaryOp::exp,     UnaryOp::log,  UnaryOp::abs,
                             UnaryOp::sqrt,       UnaryOp::square,  UnaryOp::relu, UnaryOp::leaky_relu,
                             UnaryOp::sigmoid,    UnaryOp::tanh,    UnaryOp::add_scalar, UnaryOp::mul_scalar};

bool transcendental(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::sigmoid ||
         op == UnaryOp::tanh;
}

// One unary op forward and backward at size n, device pointers offset by `offset` elements.
template <typename T>
void check_unary(UnaryOp op, int64_t n, int offset, unsigned seed) {
  const std::string what = "op " + std::to_string(static_cast<int>(op)) + " n " + std::to_string(n) + " offset " +
                           std::to_string(offset) + (sizeof(T) == 4 ? " float" : " double");
  const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
  const std::vector<T> x = random_vec<T>(n, seed, positive ? 0.1 : -3.0, 3.0, !positive);
  const std::vector<T> dy = random_vec<T>(n, seed + 1);
  const T alpha = T(0.3);
  const double tol = transcendental(op) ? kRelTol<T> : 0.0;

  std::vector<T> y_ref(x.size()), dx_ref(x.size());
  cpu::unary_forward<T>(op, n, x.data(), y_ref.data(), alpha);
  cpu::unary_backward<T>(op, n, x.data(), y_ref.data(), dy.data(), dx_ref.data(), alpha);

  DeviceBuffer<T> dx_dev(x, offset), dy_dev(dy, offset), y_dev(n, offset), dgrad(n, offset), ysaved(y_ref, offset);
  gpu::unary_forward<T>(op, n, dx_dev.get(), y_dev.get(), alpha);
  expect_close(y_dev.download(), y_ref, tol, what + " forward");
  // Backward from the CPU's saved output, so that only the backward formula is compared.
  gpu::unary_backward<T>(op, n, dx_dev.get(), ysaved.get(), dy_dev.get(), dgrad.get(), alpha);
  expect_close(dgrad.download(), dx_ref, tol, what + " backward");
}

template <typename T>
class CudaElementwise : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaElementwise, Types);

TYPED_TEST(CudaElementwise, UnaryEveryOpSmallAndAlignedAndMisaligned) {
  unsigned seed = 1;
  for (UnaryOp op : kUnaryOps)
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4096}})
      for (int offset : {0, 1}) check_unary<TypeParam>(op, n, offset, seed++);
}

TYPED_TEST(CudaElementwise, UnaryLarge) {
  for (UnaryOp op : {UnaryOp::relu, UnaryOp::sigmoid}) {
    check_unary<TypeParam>(op, 1000003, 0, 7);
    check_unary<TypeParam>(op, int64_t{1} << 20, 0, 8);
  }
}

// The float4 kernel moves 4 elements per thread, so it needs a quarter of the blocks.
TEST(CudaElementwiseFloat, Float4PathTakenOnlyWhenAligned) {
  const int64_t n = 4096;  // 16 scalar blocks of 256, 4 float4 blocks
  const std::vector<float> x = random_vec<float>(n, 3);
  DeviceBuffer<float> a(x), b(x, 1), y(n), y1(n, 1);
  gpu::unary_forward<float>(UnaryOp::relu, n, a.get(), y.get(), 0.0f);
  EXPECT_EQ(abbe::emu::last_launch_stats().blocks, 4u);
  gpu::unary_forward<float>(UnaryOp::relu, n, b.get(), y.get(), 0.0f);
  EXPECT_EQ(abbe::emu::last_launch_stats().blocks, 16u);
  gpu::unary_forward<float>(UnaryOp::relu, n, a.get(), y1.get(), 0.0f);
  EXPECT_EQ(abbe::emu::last_launch_stats().blocks, 16u);
  gpu::unary_forward<float>(UnaryOp::relu, n - 1, a.get(), y.get(), 0.0f);  // n % 4 != 0
  EXPECT_EQ(abbe::emu::last_launch_stats().blocks, 16u);
}

// ---- Binary ops over several broadcast patterns.
struct Pattern {
  const char* name;
  Broadcast bc;
  int offset;  // device pointers offset by this many elements
};

// Elements a buffer addressed by `stride` over `size` must hold.
int64_t extent(const int64_t* size, const int64_t* stride) {
  int64_t last = 0;
  for (int d = 0; d < 5; ++d) last += (size[d] - 1) * stride[d];
  return last + 1;
}

std::vector<Pattern> patterns() {
  return {
      {"flat 1000003", {{1, 1, 1, 1, 1000003}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 0},
      {"flat 4096 aligned", {{1, 1, 1, 1, 4096}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 0},
      {"flat 4096 misaligned", {{1, 1, 1, 1, 4096}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 1},
      {"flat 7", {{1, 1, 1, 1, 7}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 1}}, 0},
      {"dense 5-D", {{2, 3, 4, 5, 6}, {360, 120, 30, 6, 1}, {360, 120, 30, 6, 1}}, 0},
      // Size-1 dims with arbitrary strides are still dense.
      {"dense with odd size-1 strides", {{1, 3, 1, 4, 5}, {99, 20, 7, 5, 1}, {0, 20, 0, 5, 1}}, 0},
      {"b scalar", {{2, 3, 4, 5, 6}, {360, 120, 30, 6, 1}, {0, 0, 0, 0, 0}}, 1},
      {"b per channel (N, C, H, W)", {{1, 2, 3, 4, 5}, {0, 60, 20, 5, 1}, {0, 0, 1, 0, 0}}, 0},
      {"a row, b column (outer product)", {{1, 1, 1, 7, 9}, {0, 0, 0, 0, 1}, {0, 0, 0, 1, 0}}, 0},
      {"a scalar, b dense", {{1, 1, 2, 3, 5}, {0, 0, 0, 0, 0}, {0, 0, 15, 5, 1}}, 0},
      // a is the (2, 6, 5) array read transposed; b is every other element of (2, 5, 12).
      {"non-contiguous", {{1, 1, 2, 5, 6}, {0, 0, 30, 1, 5}, {0, 0, 60, 12, 2}}, 1},
      {"inner broadcast, strided outer", {{3, 1, 4, 1, 33}, {400, 0, 100, 0, 1}, {0, 0, 1, 0, 0}}, 0},
  };
}

TYPED_TEST(CudaElementwise, BinaryEveryOpEveryPattern) {
  using T = TypeParam;
  unsigned seed = 100;
  for (const Pattern& p : patterns()) {
    const Broadcast& bc = p.bc;
    // b away from 0 so div stays finite; the values are what is compared, not their range.
    const std::vector<T> a = random_vec<T>(extent(bc.size, bc.a_stride), seed++, -2.0, 2.0, false);
    const std::vector<T> b = random_vec<T>(extent(bc.size, bc.b_stride), seed++, 0.5, 2.0, false);
    DeviceBuffer<T> a_dev(a, p.offset), b_dev(b, p.offset), y_dev(bc.numel(), p.offset);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      std::vector<T> want(static_cast<std::size_t>(bc.numel()));
      cpu::binary_forward<T>(op, bc, a.data(), b.data(), want.data());
      gpu::binary_forward<T>(op, bc, a_dev.get(), b_dev.get(), y_dev.get());
      expect_close(y_dev.download(), want, 0.0, std::string(p.name) + " op " + std::to_string(static_cast<int>(op)));
    }
  }
}

TYPED_TEST(CudaElementwise, Axpy) {
  using T = TypeParam;
  unsigned seed = 200;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4096}, int64_t{1000003}})
    for (int offset : {0, 1}) {
      const std::vector<T> a = random_vec<T>(n, seed++), b = random_vec<T>(n, seed++);
      std::vector<T> want = a;
      cpu::axpy<T>(n, T(-0.75), b.data(), want.data());
      DeviceBuffer<T> a_dev(a, offset), b_dev(b, offset);
      gpu::axpy<T>(n, T(-0.75), b_dev.get(), a_dev.get());
      expect_close(a_dev.download(), want, 0.0, "axpy n " + std::to_string(n) + " offset " + std::to_string(offset));
    }
}

// ---- PReLU, per-channel and shared slope; the 32- and 256-thread row kernels.
TYPED_TEST(CudaElementwise, PreluForwardBackward) {
  using T = TypeParam;
  struct Shape {
    int64_t N, C, inner;
  };
  unsigned seed = 300;
  for (const Shape s : {Shape{2, 3, 5}, Shape{4, 8, 300}, Shape{3, 1, 1}, Shape{1, 16, 1}, Shape{5, 7, 1000},
                        Shape{2, 3, 0}})
    for (const int64_t C_w : {s.C, int64_t{1}}) {
      const std::string what = "prelu N " + std::to_string(s.N) + " C " + std::to_string(s.C) + " inner " +
                               std::to_string(s.inner) + " C_w " + std::to_string(C_w);
      const int64_t n = s.N * s.C * s.inner;
      const std::vector<T> x = random_vec<T>(n, seed++), dy = random_vec<T>(n, seed++);
      const std::vector<T> w = random_vec<T>(C_w, seed++, 0.05, 0.5, false);
      std::vector<T> y_ref(x.size()), dx_ref(x.size()), dw_ref(static_cast<std::size_t>(C_w));
      cpu::prelu_forward<T>(s.N, s.C, s.inner, C_w, x.data(), w.data(), y_ref.data());
      cpu::prelu_backward<T>(s.N, s.C, s.inner, C_w, x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data());

      DeviceBuffer<T> x_dev(x), dy_dev(dy), w_dev(w), y_dev(n), dx_dev(n), dw_dev(C_w);
      DeviceBuffer<unsigned char> work(gpu::prelu_backward_workspace_bytes(s.N, s.C));
      gpu::prelu_forward<T>(s.N, s.C, s.inner, C_w, x_dev.get(), w_dev.get(), y_dev.get());
      expect_close(y_dev.download(), y_ref, 0.0, what + " y");
      gpu::prelu_backward<T>(s.N, s.C, s.inner, C_w, x_dev.get(), w_dev.get(), dy_dev.get(), dx_dev.get(),
                             dw_dev.get(), work.get());
      expect_close(dx_dev.download(), dx_ref, 0.0, what + " dx");
      expect_close(dw_dev.download(), dw_ref, kRelTol<T>, what + " dw");
    }
}

// dw comes from a fixed-order reduction: bit-identical whatever the number of OS threads that
// run the blocks (and so whatever order blocks finish in), on a non-default stream.
TEST(CudaElementwiseFloat, PreluDwDeterministic) {
  const int64_t N = 8, C = 4, inner = 777;
  const std::vector<float> x = random_vec<float>(N * C * inner, 400), dy = random_vec<float>(N * C * inner, 401);
  const std::vector<float> w = random_vec<float>(C, 402, 0.1, 0.3, false);
  DeviceBuffer<float> x_dev(x), dy_dev(dy), w_dev(w), dx_dev(N * C * inner), dw_dev(C);
  DeviceBuffer<unsigned char> work(gpu::prelu_backward_workspace_bytes(N, C));
  cudaStream_t stream = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreate(&stream));
  const abbe::emu::Config saved = abbe::emu::config();
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 1}) {
    abbe::emu::Config c = saved;
    c.os_threads = threads;
    abbe::emu::set_config(c);
    gpu::prelu_backward<float>(N, C, inner, C, x_dev.get(), w_dev.get(), dy_dev.get(), dx_dev.get(), dw_dev.get(),
                               work.get(), stream);
    ABBE_CUDA_CHECK(cudaStreamSynchronize(stream));
    results.push_back(dw_dev.download());
  }
  abbe::emu::set_config(saved);
  ABBE_CUDA_CHECK(cudaStreamDestroy(stream));
  expect_close(results[1], results[0], 0.0, "dw with 2 OS threads vs 1");
  expect_close(results[2], results[0], 0.0, "dw rerun");
}

}  // namespace
