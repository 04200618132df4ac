// Benches of the shipped conv and gemm kernels (kernels/cpu/conv.h, gemm.h), 2 OpenMP threads.
// Names match bench/torch_bench.py's cases. Each case checks its kernel once, before timing,
// against conv2d_forward_reference (plain loops):
//   forward          y == reference y, elementwise
//   backward_data    <x, dx> == <y, dy>   (y = reference conv of x without bias)
//   backward_weight  <w, dw> == <y, dy>, <b, db> == sum_k b[k] sum dy[:,k]
//   conv_transpose2d <y, dy> == <x, reference conv of dy> (the transposed conv's adjoint)
//   gemm             sampled entries == dot products
// GFLOP/s = 2 N K C/G R S P Q / time (the multiply-adds of the direct conv; for the transposed
// conv, those of its equivalent conv).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"

#include "bench/bench_util.h"

namespace abbe::kernels::cpu {
namespace {

using bench::kThreads;
using bench::random_vector;

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Scale for comparing two evaluations of <a, b>: the sum of |a_i b_i|.
double abs_dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(static_cast<double>(a[i]) * b[i]);
  return s;
}

double conv_flops(const Conv2dShape& s) {
  return 2.0 * s.N * s.K * (s.C / s.groups) * s.R * s.S * s.P() * s.Q();
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Inputs of one conv shape and the reference output without bias, computed once per shape
// (the plain-loop reference takes seconds at 128x128x64).
struct ConvData {
  std::vector<float> x, w, b, dy, y_ref;
};

const ConvData& conv_data(const Conv2dShape& s) {
  static std::map<std::vector<int64_t>, ConvData> cache;
  auto [it, fresh] = cache.try_emplace({s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride_h, s.stride_w,
                                        s.pad_h, s.pad_w, s.dil_h, s.dil_w, s.groups});
  ConvData& d = it->second;
  if (fresh) {
    d.x = random_vector(s.N * s.C * s.H * s.W, 1);
    d.w = random_vector(s.K * s.C / s.groups * s.R * s.S, 2);
    d.b = random_vector(s.K, 3);
    d.dy = random_vector(s.N * s.K * s.P() * s.Q(), 4);
    d.y_ref.resize(d.dy.size());
    conv2d_forward_reference(s, d.x.data(), d.w.data(), static_cast<const float*>(nullptr),
                             d.y_ref.data());
  }
  return d;
}

// |lhs - rhs| <= 1e-4 sum |terms|: float kernels vs a double-accumulated identity.
bool identity_holds(double lhs, double rhs, double scale) {
  return std::abs(lhs - rhs) <= 1e-4 * scale;
}

Conv2dShape conv3x3(int64_t size) {
  return {1, 64, size, size, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1};
}

void BM_conv2d_forward(benchmark::State& state, Conv2dShape s) {
  omp_set_num_threads(kThreads);
  const ConvData& d = conv_data(s);
  std::vector<float> y(d.dy.size());
  conv2d_forward(s, d.x.data(), d.w.data(), d.b.data(), y.data());
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double want = d.y_ref[i] + d.b[i / (s.P() * s.Q()) % s.K];
    worst = std::max(worst, std::abs(y[i] - want) / (1.0 + std::abs(want)));
  }
  if (worst > 1e-4) {
    state.SkipWithError(("forward differs from the reference by " + std::to_string(worst)).c_str());
    return;
  }
  for (auto _ : state) {
    conv2d_forward(s, d.x.data(), d.w.data(), d.b.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, conv_flops(s));
}

void BM_conv2d_backward_data(benchmark::State& state, Conv2dShape s) {
  omp_set_num_threads(kThreads);
  const ConvData& d = conv_data(s);
  std::vector<float> dx(d.x.size());
  conv2d_backward_data(s, d.dy.data(), d.w.data(), dx.data());
  if (!identity_holds(dot(d.x, dx), dot(d.y_ref, d.dy), abs_dot(d.y_ref, d.dy))) {
    state.SkipWithError("backward_data: <x, dx> != <conv(x), dy>");
    return;
  }
  for (auto _ : state) {
    conv2d_backward_data(s, d.dy.data(), d.w.data(), dx.data());
    benchmark::DoNotOptimize(dx.data());
  }
  set_counters(state, conv_flops(s));
}

void BM_conv2d_backward_weight(benchmark::State& state, Conv2dShape s) {
  omp_set_num_threads(kThreads);
  const ConvData& d = conv_data(s);
  std::vector<float> dw(d.w.size()), db(d.b.size());
  conv2d_backward_weight(s, d.x.data(), d.dy.data(), dw.data(), db.data());
  double bias_lhs = 0, bias_rhs = 0, bias_scale = 0;
  const int64_t PQ = s.P() * s.Q();
  for (int64_t k = 0; k < s.K; ++k) {
    double sum = 0;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t i = 0; i < PQ; ++i) sum += d.dy[(n * s.K + k) * PQ + i];
    bias_lhs += static_cast<double>(d.b[k]) * db[k];
    bias_rhs += d.b[k] * sum;
    bias_scale += std::abs(d.b[k] * sum);
  }
  if (!identity_holds(dot(d.w, dw), dot(d.y_ref, d.dy), abs_dot(d.y_ref, d.dy)) ||
      !identity_holds(bias_lhs, bias_rhs, bias_scale)) {
    state.SkipWithError("backward_weight: <w, dw> != <conv(x), dy> or db != sum(dy)");
    return;
  }
  for (auto _ : state) {
    conv2d_backward_weight(s, d.x.data(), d.dy.data(), dw.data(), db.data());
    benchmark::DoNotOptimize(dw.data());
  }
  set_counters(state, conv_flops(s));
}

void BM_conv_transpose2d_forward(benchmark::State& state, ConvTranspose2dShape s) {
  omp_set_num_threads(kThreads);
  const Conv2dShape c = s.as_conv();
  const auto x = random_vector(s.N * s.C * s.H * s.W, 5);
  const auto w = random_vector(s.C * s.K / s.groups * s.R * s.S, 6);
  const auto dy = random_vector(s.N * s.K * s.P() * s.Q(), 7);
  std::vector<float> y(dy.size()), conv_dy(x.size());
  conv_transpose2d_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  conv2d_forward_reference(c, dy.data(), w.data(), static_cast<const float*>(nullptr),
                           conv_dy.data());
  if (!identity_holds(dot(y, dy), dot(x, conv_dy), abs_dot(x, conv_dy))) {
    state.SkipWithError("conv_transpose2d forward: <y, dy> != <x, conv(dy)>");
    return;
  }
  for (auto _ : state) {
    conv_transpose2d_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, conv_flops(c));
}

void BM_gemm(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  omp_set_num_threads(kThreads);
  const auto A = random_vector(M * K, 8), B = random_vector(K * N, 9);
  std::vector<float> C(static_cast<size_t>(M * N));
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
  std::mt19937 rng(10);
  for (int sample = 0; sample < 64; ++sample) {
    const int64_t i = rng() % M, j = rng() % N;
    double want = 0, scale = 0;
    for (int64_t k = 0; k < K; ++k) {
      want += static_cast<double>(A[i * K + k]) * B[k * N + j];
      scale += std::abs(static_cast<double>(A[i * K + k]) * B[k * N + j]);
    }
    if (!identity_holds(C[i * N + j], want, scale)) {
      state.SkipWithError("gemm: C differs from the dot products");
      return;
    }
  }
  for (auto _ : state) {
    gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    benchmark::DoNotOptimize(C.data());
  }
  set_counters(state, 2.0 * M * N * K);
}

std::string conv_tag(const Conv2dShape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
         std::to_string(s.W) + "_k" + std::to_string(s.K) + "_" + std::to_string(s.R) + "x" +
         std::to_string(s.S);
}

const bool registered = [] {
  benchmark::AddCustomContext("blas_core", blas_core_name());
  benchmark::AddCustomContext("omp_threads", std::to_string(kThreads));
  auto timed = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  // The SR nets' 64 -> 64 body conv at two sizes, then DPA-TISR's other heavy 3x3 convs at
  // 64x64: conv_offset's first (3 C + 4 = 196 -> 64) and last (64 -> 27 x 16 offset groups =
  // 432) layers, and phase alignment's convs on the 64 x 33 half spectrum.
  std::vector<Conv2dShape> shapes = {conv3x3(128), conv3x3(64)};
  shapes.push_back({1, 196, 64, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  shapes.push_back({1, 64, 64, 64, 432, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  shapes.push_back({1, 64, 64, 33, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  // SPyNet's 7x7 convs at its finest level, 6 image pairs: 32 -> 64 and 64 -> 32.
  shapes.push_back({6, 32, 64, 64, 64, 7, 7, 1, 1, 3, 3, 1, 1, 1});
  shapes.push_back({6, 64, 64, 64, 32, 7, 7, 1, 1, 3, 3, 1, 1, 1});
  for (const Conv2dShape& s : shapes) {
    timed(benchmark::RegisterBenchmark(("conv2d_forward/" + conv_tag(s)).c_str(),
                                       BM_conv2d_forward, s));
    timed(benchmark::RegisterBenchmark(("conv2d_backward_data/" + conv_tag(s)).c_str(),
                                       BM_conv2d_backward_data, s));
    timed(benchmark::RegisterBenchmark(("conv2d_backward_weight/" + conv_tag(s)).c_str(),
                                       BM_conv2d_backward_weight, s));
  }
  // SOFI decoder: ConvTranspose2d(24->24, k=3, stride=2, padding=4), 128x128 -> 249x249.
  const ConvTranspose2dShape t{1, 24, 128, 128, 24, 3, 3, 2, 2, 4, 4, 0, 0, 1, 1, 1};
  timed(benchmark::RegisterBenchmark("conv_transpose2d_forward/1x24x128x128_k24_3x3_s2_p4_op0",
                                     BM_conv_transpose2d_forward, t));
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1024, 1024, 1024}, {64, 16384, 576}})
    timed(benchmark::RegisterBenchmark(
        ("gemm/" + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K)).c_str(),
        BM_gemm, M, N, K));
  return true;
}();

}  // namespace
}  // namespace abbe::kernels::cpu
