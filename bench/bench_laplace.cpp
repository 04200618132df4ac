// Benches of the Bayesian DPA-TISR kernels (kernels/cpu/laplace.h), float, 2 OpenMP threads:
//   laplace_nll_terms / _backward over a training batch's output: 3 x 7 frames of 192 x 192
//   (64-pixel LR patches at x3);
//   mc_statistics over M = 6 Monte Carlo passes of 7 frames of 384 x 384.
// GB/s = (bytes read + bytes written) / time.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/laplace.h"

namespace abbe::kernels::cpu {
namespace {

void gbps(benchmark::State& state, double bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

std::vector<float> positive(int64_t n, uint64_t seed) {
  std::vector<float> v = bench::random_vector(n, seed);
  for (float& x : v) x = 0.05f + 0.5f * (x < 0 ? -x : x);
  return v;
}

void BM_laplace_nll(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  constexpr int64_t n = 3 * 7 * 192 * 192;
  const std::vector<float> mu = bench::random_vector(n, 1), b = positive(n, 2), y = bench::random_vector(n, 3);
  std::vector<float> t(n), dmu(n), db(n);
  const bool backward = state.range(0);
  for (auto _ : state) {
    if (backward) laplace_nll_backward<float>(n, mu.data(), b.data(), y.data(), 1.0f / n, dmu.data(), db.data(), nullptr);
    else laplace_nll_terms<float>(n, mu.data(), b.data(), y.data(), t.data());
    benchmark::ClobberMemory();
  }
  gbps(state, 4.0 * n * (backward ? 5 : 4));
}

void BM_mc_statistics(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  constexpr int64_t M = 6, n = 7 * 384 * 384;
  const std::vector<float> mus = bench::random_vector(M * n, 4), bs = positive(M * n, 5);
  std::vector<float> out(4 * n);
  for (auto _ : state) {
    mc_statistics<float>(M, n, mus.data(), bs.data(), 0.04, state.range(0) != 0, out.data());
    benchmark::ClobberMemory();
  }
  gbps(state, 4.0 * n * (2 * M + 4));
}

BENCHMARK(BM_laplace_nll)->ArgName("backward")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_mc_statistics)->ArgName("intensity_aware")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace abbe::kernels::cpu
