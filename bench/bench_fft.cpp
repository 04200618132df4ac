// Benches of the shipped 2-D real FFTs (kernels/cpu/fft.h), float, 2 OpenMP threads. Names match
// bench/torch_bench.py's fft cases (torch.fft.rfft2 / irfft2 on the same shapes). Each case
// checks its kernel once, before timing:
//   rfft2    image 0 == a separable DFT in double (rows, then columns), max error / max |X|
//   irfft2   irfft2(rfft2(x)) == x
// GFLOP/s = 2.5 N log2 N per image of N = H W pixels, times B (the usual convention for a real
// FFT: half the 5 N log2 N of a complex one), whatever the lengths' factors.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/fft.h"

#include "bench/bench_util.h"

namespace abbe::kernels::cpu {
namespace {

using bench::kThreads;
using bench::random_vector;

// max |X - DFT(x)| / max |DFT(x)| over image 0 of x (H, W) -> X (H, K, 2).
double rfft2_error(int64_t H, int64_t W, const float* x, const float* X) {
  const int64_t K = W / 2 + 1;
  using C = std::complex<double>;
  auto root = [](int64_t q, int64_t n) {
    const double a = -2 * std::numbers::pi * static_cast<double>(q % n) / static_cast<double>(n);
    return C(std::cos(a), std::sin(a));
  };
  std::vector<C> rows(H * K), wW(W), wH(H);
  for (int64_t q = 0; q < W; ++q) wW[q] = root(q, W);
  for (int64_t q = 0; q < H; ++q) wH[q] = root(q, H);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t k = 0; k < K; ++k) {
      C acc = 0;
      for (int64_t w = 0; w < W; ++w) acc += static_cast<double>(x[h * W + w]) * wW[k * w % W];
      rows[h * K + k] = acc;
    }
  double err = 0, scale = 0;
  for (int64_t p = 0; p < H; ++p)
    for (int64_t k = 0; k < K; ++k) {
      C acc = 0;
      for (int64_t h = 0; h < H; ++h) acc += rows[h * K + k] * wH[p * h % H];
      err = std::max(err, std::abs(acc - C(X[2 * (p * K + k)], X[2 * (p * K + k) + 1])));
      scale = std::max(scale, std::abs(acc));
    }
  return err / scale;
}

void BM_fft2(benchmark::State& state, int64_t B, int64_t H, int64_t W, bool inverse) {
  omp_set_num_threads(kThreads);
  const int64_t K = W / 2 + 1;
  const auto x = random_vector(B * H * W, 1);
  std::vector<float> X(2 * B * H * K), y(x.size());
  rfft2(B, H, W, x.data(), X.data());
  if (const double err = rfft2_error(H, W, x.data(), X.data()); err > 2e-6) {
    state.SkipWithError(("rfft2 differs from the DFT: relative error " + std::to_string(err)).c_str());
    return;
  }
  irfft2(B, H, W, X.data(), y.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(y[i] - x[i])));
  if (worst > 2e-6) {
    state.SkipWithError(("irfft2(rfft2(x)) differs from x by " + std::to_string(worst)).c_str());
    return;
  }
  for (auto _ : state) {
    if (inverse)
      irfft2(B, H, W, X.data(), y.data());
    else
      rfft2(B, H, W, x.data(), X.data());
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(H * W);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.5 * n * std::log2(n) * B * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  for (const auto& [B, H, W] : {std::tuple<int64_t, int64_t, int64_t>{64, 64, 64}, {64, 128, 128}, {64, 100, 100}})
    for (const bool inverse : {false, true}) {
      const std::string name = std::string(inverse ? "irfft2/" : "rfft2/") + std::to_string(B) + "x" +
                               std::to_string(H) + "x" + std::to_string(W);
      benchmark::RegisterBenchmark(name.c_str(), BM_fft2, B, H, W, inverse)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  return true;
}();

}  // namespace
}  // namespace abbe::kernels::cpu
