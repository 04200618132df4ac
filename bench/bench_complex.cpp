// Benches of the pointwise complex kernels (kernels/cpu/complex.h) that phase-space alignment runs
// around every rfft2/irfft2: |z|, angle(z) and polar(amp, phase), forward and backward, float,
// 2 OpenMP threads, on DPA-TISR's spectrum of 64 channels of 128x128 (64 x 128 x 65 values).
// GB/s = (bytes read + bytes written) / time.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/complex.h"

namespace abbe::kernels::cpu {
namespace {

constexpr int64_t kN = 64 * 128 * 65;  // complex values

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_complex_abs(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  const std::vector<float> z = bench::random_vector(2 * kN, 1);
  std::vector<float> y(kN), dy = bench::random_vector(kN, 2), dz(2 * kN);
  const bool backward = state.range(0);
  for (auto _ : state) {
    if (backward) complex_abs_backward<float>(kN, z.data(), y.data(), dy.data(), dz.data());
    else complex_abs_forward<float>(kN, z.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, backward ? 4.0 * (2 + 1 + 1 + 2) * kN : 4.0 * (2 + 1) * kN);
}

void BM_complex_angle(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  const std::vector<float> z = bench::random_vector(2 * kN, 3);
  std::vector<float> y(kN), dy = bench::random_vector(kN, 4), dz(2 * kN);
  const bool backward = state.range(0);
  for (auto _ : state) {
    if (backward) complex_angle_backward<float>(kN, z.data(), dy.data(), dz.data());
    else complex_angle_forward<float>(kN, z.data(), y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, backward ? 4.0 * (2 + 1 + 2) * kN : 4.0 * (2 + 1) * kN);
}

void BM_polar(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  const std::vector<float> amp = bench::random_vector(kN, 5), phase = bench::random_vector(kN, 6);
  std::vector<float> z(2 * kN), dz = bench::random_vector(2 * kN, 7), da(kN), dp(kN);
  const bool backward = state.range(0);
  for (auto _ : state) {
    if (backward) polar_backward<float>(kN, amp.data(), phase.data(), dz.data(), da.data(), dp.data());
    else polar_forward<float>(kN, amp.data(), phase.data(), z.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, backward ? 4.0 * (1 + 1 + 2 + 1 + 1) * kN : 4.0 * (1 + 1 + 2) * kN);
}

BENCHMARK(BM_complex_abs)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_complex_angle)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_polar)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace abbe::kernels::cpu
