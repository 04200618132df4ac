// Bench of the CPU dropout kernel (kernels/cpu/dropout.h): Philox-4x32-10 per element, the mask
// the CUDA kernel draws too. Bayesian DPA-TISR runs it on every backbone's features in training
// and in each Monte Carlo pass: here 64 channels of 128x128, p = 0.5, float, 2 OpenMP threads.
// GB/s = (bytes read + bytes written) / time.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/dropout.h"

namespace abbe::kernels::cpu {
namespace {

void BM_dropout_apply(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  constexpr int64_t n = 64 * 128 * 128;
  const std::vector<float> x = bench::random_vector(n, 1);
  std::vector<float> y(n);
  uint64_t base = 0;
  for (auto _ : state) {
    dropout_apply<float>(n, 0.5, 1234, base, x.data(), y.data());
    base += n;
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(8.0 * n, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_dropout_apply)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace abbe::kernels::cpu
