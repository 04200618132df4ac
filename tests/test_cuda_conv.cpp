// kernels/cuda/conv.cu and blas.cu under the CUDA emulator, against the CPU kernels on the same
// inputs. Emulated, the wrappers call the CPU kernels themselves, so this proves that they link,
// dispatch every function and dtype to the right kernel, pass null bias / db through and reject
// host pointers; cuDNN and cuBLAS numerics need the GPU suite.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "graph/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/conv.h"
#include "kernels/cuda/cuda_compat.h"
#include "tests/cuda_testing.h"

namespace {

using abbe::testing::cuda::DeviceBuffer;

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using cpu::Conv2dShape;
using cpu::ConvTranspose2dShape;

template <typename T>
std::vector<T> random_vec(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& e : v) e = static_cast<T>(dist(rng));
  return v;
}

// The same kernel on the same values: equal up to the last bits (buffer alignment may differ).
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-14;
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(double(got[i]) - double(want[i])), tol * (1 + std::abs(double(want[i]))))
        << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
}

Conv2dShape conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t stride, int64_t pad,
                 int64_t dil, int64_t groups) {
  Conv2dShape s{N, C, H, W, K, R, R};
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  s.dil_h = s.dil_w = dil;
  s.groups = groups;
  return s;
}

// Forward, backward data and backward weight of one conv, with and without bias / db.
template <typename T>
void check_conv(const Conv2dShape& s, const std::string& name) {
  const int64_t nx = s.N * s.C * s.H * s.W, nw = s.K * (s.C / s.groups) * s.R * s.S, ny = s.N * s.K * s.P() * s.Q();
  const auto x = random_vec<T>(nx, 1), w = random_vec<T>(nw, 2), b = random_vec<T>(s.K, 3), dy = random_vec<T>(ny, 4);
  const DeviceBuffer<T> dx_(x), dw_(w), db_(b), ddy(dy);
  for (bool bias : {true, false}) {
    const std::string what = name + (bias ? " with bias" : " without bias");
    std::vector<T> y(ny), gw(nw), gb(s.K);
    DeviceBuffer<T> y_dev(ny), gw_dev(nw), gb_dev(s.K);
    cpu::conv2d_forward(s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
    gpu::conv2d_forward(s, dx_.get(), dw_.get(), bias ? db_.get() : nullptr, y_dev.get());
    expect_close(y_dev.download(), y, what + " forward");
    cpu::conv2d_backward_weight(s, x.data(), dy.data(), gw.data(), bias ? gb.data() : nullptr);
    gpu::conv2d_backward_weight(s, dx_.get(), ddy.get(), gw_dev.get(), bias ? gb_dev.get() : nullptr);
    expect_close(gw_dev.download(), gw, what + " backward_weight dw");
    if (bias) expect_close(gb_dev.download(), gb, what + " backward_weight db");
  }
  std::vector<T> gx(nx);
  DeviceBuffer<T> gx_dev(nx);
  cpu::conv2d_backward_data(s, dy.data(), w.data(), gx.data());
  gpu::conv2d_backward_data(s, ddy.get(), dw_.get(), gx_dev.get());
  expect_close(gx_dev.download(), gx, name + " backward_data");
}

template <typename T>
void check_conv_transpose(const ConvTranspose2dShape& s, const std::string& name) {
  const int64_t nx = s.N * s.C * s.H * s.W, nw = s.C * (s.K / s.groups) * s.R * s.S, ny = s.N * s.K * s.P() * s.Q();
  const auto x = random_vec<T>(nx, 5), w = random_vec<T>(nw, 6), b = random_vec<T>(s.K, 7), dy = random_vec<T>(ny, 8);
  const DeviceBuffer<T> dx_(x), dw_(w), db_(b), ddy(dy);
  for (bool bias : {true, false}) {
    const std::string what = name + (bias ? " with bias" : " without bias");
    std::vector<T> y(ny), gw(nw), gb(s.K);
    DeviceBuffer<T> y_dev(ny), gw_dev(nw), gb_dev(s.K);
    cpu::conv_transpose2d_forward(s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
    gpu::conv_transpose2d_forward(s, dx_.get(), dw_.get(), bias ? db_.get() : nullptr, y_dev.get());
    expect_close(y_dev.download(), y, what + " forward");
    cpu::conv_transpose2d_backward_weight(s, x.data(), dy.data(), gw.data(), bias ? gb.data() : nullptr);
    gpu::conv_transpose2d_backward_weight(s, dx_.get(), ddy.get(), gw_dev.get(), bias ? gb_dev.get() : nullptr);
    expect_close(gw_dev.download(), gw, what + " backward_weight dw");
    if (bias) expect_close(gb_dev.download(), gb, what + " backward_weight db");
  }
  std::vector<T> gx(nx);
  DeviceBuffer<T> gx_dev(nx);
  cpu::conv_transpose2d_backward_data(s, dy.data(), w.data(), gx.data());
  gpu::conv_transpose2d_backward_data(s, ddy.get(), dw_.get(), gx_dev.get());
  expect_close(gx_dev.download(), gx, name + " backward_data");
}

template <typename T>
class CudaConv : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaConv, Types);

TYPED_TEST(CudaConv, Conv2dMatchesCpu) {
  //                                    N  C  H  W  K  R  stride pad dil groups
  check_conv<TypeParam>(conv(/*3x3 s1 p1*/ 2, 3, 8, 7, 4, 3, 1, 1, 1, 1), "3x3 s1 p1");
  check_conv<TypeParam>(conv(/*1x1*/ 1, 4, 5, 6, 3, 1, 1, 0, 1, 1), "1x1");
  check_conv<TypeParam>(conv(/*s2*/ 2, 3, 9, 9, 4, 3, 2, 1, 1, 1), "3x3 s2 p1");
  check_conv<TypeParam>(conv(/*groups*/ 1, 4, 6, 6, 6, 3, 1, 1, 1, 2), "3x3 groups 2");
  check_conv<TypeParam>(conv(/*dilation*/ 1, 3, 9, 8, 2, 3, 1, 2, 2, 1), "3x3 dilation 2");
}

TYPED_TEST(CudaConv, ConvTranspose2dMatchesCpu) {
  ConvTranspose2dShape s{2, 4, 5, 4, 3, 3, 3};
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  s.out_pad_h = s.out_pad_w = 1;
  check_conv_transpose<TypeParam>(s, "transposed 3x3 s2 p1 out_pad 1");
  s.K = 6;
  s.groups = 2;
  check_conv_transpose<TypeParam>(s, "transposed 3x3 s2 p1 out_pad 1 groups 2");
}

TYPED_TEST(CudaConv, GemmAllTransposesMatchCpu) {
  using T = TypeParam;
  const int64_t M = 5, N = 7, K = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // Leading dims wider than the rows, to check they are passed through.
      const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
      const auto A = random_vec<T>((ta ? K : M) * lda, 9), B = random_vec<T>((tb ? N : K) * ldb, 10);
      const auto C0 = random_vec<T>(M * ldc, 11);
      std::vector<T> C = C0;
      const DeviceBuffer<T> A_dev(A), B_dev(B);
      DeviceBuffer<T> C_dev(C0);
      cpu::gemm<T>(ta, tb, M, N, K, T(1.5), A.data(), lda, B.data(), ldb, T(0.5), C.data(), ldc);
      gpu::gemm<T>(ta, tb, M, N, K, T(1.5), A_dev.get(), lda, B_dev.get(), ldb, T(0.5), C_dev.get(), ldc);
      const std::string what = std::string("gemm trans_a ") + (ta ? "1" : "0") + " trans_b " + (tb ? "1" : "0");
      expect_close(C_dev.download(), C, what);
    }
}

// On a GPU a host pointer would crash cuDNN; emulated, the wrappers refuse it.
TEST(CudaConvEmulated, RejectsHostPointers) {
  const Conv2dShape s = conv(1, 1, 3, 3, 1, 1, 1, 0, 1, 1);
  std::vector<float> host(9);
  const DeviceBuffer<float> dev(9);
  EXPECT_THROW(gpu::conv2d_forward<float>(s, host.data(), dev.get(), nullptr, dev.get()), abbe::Error);
  EXPECT_THROW(gpu::gemm<float>(false, false, 3, 3, 3, 1.f, dev.get(), 3, host.data(), 3, 0.f, dev.get(), 3),
               abbe::Error);
}

}  // namespace
