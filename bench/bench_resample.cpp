// Benches of the shipped resampling and pooling kernels (kernels/cpu/resample.h, pool.h), float,
// 2 OpenMP threads. Names match bench/torch_bench.py's cases. Each case checks its kernel once,
// before timing, against straightforward loops:
//   pixel_shuffle        every y element == x at the index formula (and backward inverts it)
//   upsample_bilinear    forward and backward == reference:: per-element loops
//   avg_pool2d k2        y == the mean of each 2x2 block
//   max_pool2d k2        y and indices == the first maximum of each 2x2 block
// GB/s = (bytes read + bytes written) / time, each tensor counted once (indices as int64).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/pool.h"
#include "kernels/cpu/resample.h"

#include "bench/bench_util.h"

namespace abbe::kernels::cpu {
namespace {

using bench::kThreads;
using bench::random_vector;

// max |a - b| / (1 + |b|)
double worst_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::abs(b[i])));
  return worst;
}

void set_counters(benchmark::State& state, double bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

std::string nchw(int64_t N, int64_t C, int64_t H, int64_t W) {
  return std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
         std::to_string(W);
}

// ---------------------------------------------------------------------------------------------
// x (N, C*r*r, H, W) -> y (N, C, H*r, W*r); backward is the inverse permutation.
void BM_pixel_shuffle(benchmark::State& state, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t r, bool backward) {
  omp_set_num_threads(kThreads);
  const int64_t n = N * C * r * r * H * W;
  const auto x = random_vector(n, 1);
  std::vector<float> y(n), back(n);
  pixel_shuffle_forward(N, C, H, W, r, x.data(), y.data());
  for (int64_t b = 0; b < N * C; ++b)
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < r; ++j)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            if (y[(b * H * r + h * r + i) * W * r + w * r + j] !=
                x[((b * r * r + i * r + j) * H + h) * W + w]) {
              state.SkipWithError("pixel_shuffle_forward differs from the index formula");
              return;
            }
  pixel_shuffle_backward(N, C, H, W, r, y.data(), back.data());
  if (back != x) {
    state.SkipWithError("pixel_shuffle_backward does not invert the forward");
    return;
  }
  for (auto _ : state) {
    if (backward)
      pixel_shuffle_backward(N, C, H, W, r, y.data(), back.data());
    else
      pixel_shuffle_forward(N, C, H, W, r, x.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * n * sizeof(float));
}

// x (N, C, H, W) -> y (N, C, H*f, W*f), align_corners=False, scale factor f given.
void BM_upsample_bilinear(benchmark::State& state, int64_t N, int64_t C, int64_t H, int64_t W,
                          int64_t f, bool backward) {
  omp_set_num_threads(kThreads);
  const int64_t P = H * f, Q = W * f, nx = N * C * H * W, ny = N * C * P * Q;
  const double s = static_cast<double>(f);
  const auto x = random_vector(nx, 2), dy = random_vector(ny, 3);
  std::vector<float> y(ny), y_ref(ny), dx(nx), dx_ref(nx);
  upsample_bilinear_forward(N, C, H, W, P, Q, false, s, s, x.data(), y.data());
  reference::upsample_bilinear_forward(N, C, H, W, P, Q, false, s, s, x.data(), y_ref.data());
  upsample_bilinear_backward(N, C, H, W, P, Q, false, s, s, dy.data(), dx.data());
  reference::upsample_bilinear_backward(N, C, H, W, P, Q, false, s, s, dy.data(), dx_ref.data());
  if (worst_error(y, y_ref) > 1e-6 || worst_error(dx, dx_ref) > 1e-5) {
    state.SkipWithError("upsample_bilinear differs from the reference loops");
    return;
  }
  for (auto _ : state) {
    if (backward)
      upsample_bilinear_backward(N, C, H, W, P, Q, false, s, s, dy.data(), dx.data());
    else
      upsample_bilinear_forward(N, C, H, W, P, Q, false, s, s, x.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(nx + ny) * sizeof(float));
}

// 2x2 stride-2 windows, no padding: x (N, C, H, W) -> y (N, C, H/2, W/2).
Pool2dShape pool2x2(int64_t N, int64_t C, int64_t H, int64_t W) {
  return {.N = N, .C = C, .H = H, .W = W, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
}

void BM_avg_pool2d_forward(benchmark::State& state, Pool2dShape s) {
  omp_set_num_threads(kThreads);
  const int64_t P = s.P(), Q = s.Q(), nx = s.N * s.C * s.H * s.W, ny = s.N * s.C * P * Q;
  const auto x = random_vector(nx, 4);
  std::vector<float> y(ny), y_ref(ny);
  for (int64_t b = 0; b < s.N * s.C; ++b)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const float* xp = x.data() + (b * s.H + 2 * p) * s.W + 2 * q;
        y_ref[(b * P + p) * Q + q] = (xp[0] + xp[1] + xp[s.W] + xp[s.W + 1]) / 4;
      }
  avg_pool2d_forward(s, x.data(), y.data());
  if (worst_error(y, y_ref) > 1e-6) {
    state.SkipWithError("avg_pool2d_forward differs from the 2x2 block means");
    return;
  }
  for (auto _ : state) {
    avg_pool2d_forward(s, x.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(nx + ny) * sizeof(float));
}

// forward: x -> y, indices; backward: dy, indices -> dx.
void BM_max_pool2d(benchmark::State& state, Pool2dShape s, bool backward) {
  omp_set_num_threads(kThreads);
  const int64_t P = s.P(), Q = s.Q(), nx = s.N * s.C * s.H * s.W, ny = s.N * s.C * P * Q;
  const auto x = random_vector(nx, 5), dy = random_vector(ny, 6);
  std::vector<float> y(ny), dx(nx);
  std::vector<int64_t> idx(ny);
  max_pool2d_forward(s, x.data(), y.data(), idx.data());
  for (int64_t b = 0; b < s.N * s.C; ++b)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        int64_t arg = 2 * p * s.W + 2 * q;
        for (int64_t i : {arg + 1, arg + s.W, arg + s.W + 1})
          if (x[b * s.H * s.W + i] > x[b * s.H * s.W + arg]) arg = i;
        const int64_t o = (b * P + p) * Q + q;
        if (idx[o] != arg || y[o] != x[b * s.H * s.W + arg]) {
          state.SkipWithError("max_pool2d_forward differs from the 2x2 block maxima");
          return;
        }
      }
  for (auto _ : state) {
    if (backward)
      max_pool2d_backward(s, dy.data(), idx.data(), dx.data());
    else
      max_pool2d_forward(s, x.data(), y.data(), idx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, (nx + ny) * sizeof(float) + ny * sizeof(int64_t));
}

const bool registered = [] {
  auto timed = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  for (auto [C, H, r] : {std::tuple<int64_t, int64_t, int64_t>{64, 128, 2}, {64, 64, 3}}) {
    // (1, C*r*r, H, H) -> (1, C, H*r, H*r): 1x256x128x128 r2 and 1x576x64x64 r3.
    const std::string tag = nchw(1, C * r * r, H, H) + "_r" + std::to_string(r);
    timed(benchmark::RegisterBenchmark(("pixel_shuffle_forward/" + tag).c_str(), BM_pixel_shuffle,
                                       1, C, H, H, r, false));
    timed(benchmark::RegisterBenchmark(("pixel_shuffle_backward/" + tag).c_str(), BM_pixel_shuffle,
                                       1, C, H, H, r, true));
  }
  for (int64_t C : {64, 1})
    for (int64_t f : {2, 3})
      timed(benchmark::RegisterBenchmark(
          ("upsample_bilinear_forward/" + nchw(1, C, 128, 128) + "_x" + std::to_string(f)).c_str(),
          BM_upsample_bilinear, 1, C, 128, 128, f, false));
  timed(benchmark::RegisterBenchmark("upsample_bilinear_backward/1x64x128x128_x2",
                                     BM_upsample_bilinear, 1, 64, 128, 128, 2, true));
  timed(benchmark::RegisterBenchmark("avg_pool2d_forward/1x3x128x128_k2", BM_avg_pool2d_forward,
                                     pool2x2(1, 3, 128, 128)));
  timed(benchmark::RegisterBenchmark("max_pool2d_forward/1x64x128x128_k2", BM_max_pool2d,
                                     pool2x2(1, 64, 128, 128), false));
  timed(benchmark::RegisterBenchmark("max_pool2d_backward/1x64x128x128_k2", BM_max_pool2d,
                                     pool2x2(1, 64, 128, 128), true));
  return true;
}();

}  // namespace
}  // namespace abbe::kernels::cpu
