// Whole-network benches of DPA-TISR, the spec's shipped configuration: Bayesian, 3/3/5 blocks,
// 64 channels, x3, 7 frames (../shared/specs/dpa_tisr.md), float32, 2 OpenMP threads, CPU.
//   dpa_tisr_forward/64, /128   inference forward (no tape) of 1x7x1xHxW
//   dpa_tisr_train_step/64      forward with the tape + L1 of mu + backward + Adam step
// One untimed warm-up call first. Counters: seconds per stage of the forward (nets/dpa_tisr.h
// DpaTisrProfile; for the training step, of its forward only). Side by side:
// /usr/bin/python3 bench/torch_bench.py dpa_tisr (the PyTorch build of tests/golden/gen_dpa_tisr.py).
#include <benchmark/benchmark.h>
#include <omp.h>

#include "bench/bench_util.h"
#include "autograd/node.h"
#include "nets/dpa_tisr.h"
#include "train/optimizer.h"

namespace abbe {
namespace {

DpaTisrConfig shipped() {
  return DpaTisrConfig{.scale = 3, .n_extract = 3, .n_prop = 3, .n_recon = 5, .bayesian = true};
}

Tensor sequence(int64_t side) {
  Generator gen(7);
  return Tensor::rand({1, 7, 1, side, side}, gen);
}

void report(benchmark::State& state, const DpaTisrProfile& p) {
  const double n = static_cast<double>(state.iterations());
  state.counters["s_feat_extract"] = p.feat_extract / n;
  state.counters["s_spynet"] = p.spynet / n;
  state.counters["s_phase_align"] = p.phase_align / n;
  state.counters["s_deform_align"] = p.deform_align / n;
  state.counters["s_backbone"] = p.backbone / n;
  state.counters["s_reconstruction"] = p.reconstruction / n;
}

void BM_dpa_tisr_forward(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  DpaTisr net(shipped());
  net.eval();
  const Tensor x = sequence(state.range(0));
  {
    autograd::NoGradGuard no_grad;
    (void)net.forward(x);  // warm-up: allocator cache, FFT plans, per-thread scratch
  }
  DpaTisrProfile profile;
  net.set_profile(&profile);
  for (auto _ : state) {
    autograd::NoGradGuard no_grad;
    benchmark::DoNotOptimize(net.forward(x));
  }
  report(state, profile);
}

void BM_dpa_tisr_train_step(benchmark::State& state) {
  omp_set_num_threads(bench::kThreads);
  DpaTisr net(shipped());
  net.train();
  train::Adam adam(net.named_parameters(), train::AdamOptions{});
  const Tensor x = sequence(state.range(0));
  Generator gen(8);
  const Tensor target = Tensor::rand({1, 7, 1, 3 * state.range(0), 3 * state.range(0)}, gen);
  auto step = [&] {
    adam.zero_grad();
    const Tensor loss = l1_loss(narrow(net.forward(x), 2, 0, 1), target);
    loss.backward();
    adam.step();
  };
  step();  // warm-up
  DpaTisrProfile profile;
  net.set_profile(&profile);
  autograd::BackwardProfile backward;
  autograd::BackwardProfile* const previous = autograd::set_backward_profile(&backward);
  for (auto _ : state) step();
  autograd::set_backward_profile(previous);
  report(state, profile);
  // The backward, by op: every node over 1% of it, as counters "b_<op>" (seconds per step).
  double total = 0;
  for (const auto& [name, e] : backward.by_node) total += e.seconds;
  for (const auto& [name, e] : backward.by_node)
    if (e.seconds > 0.01 * total) state.counters["b_" + name] = e.seconds / static_cast<double>(state.iterations());
  state.counters["s_backward"] = total / static_cast<double>(state.iterations());
}

BENCHMARK(BM_dpa_tisr_forward)->Arg(64)->Arg(128)->Iterations(2)->Unit(benchmark::kSecond);
BENCHMARK(BM_dpa_tisr_train_step)->Arg(64)->Iterations(4)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace abbe
