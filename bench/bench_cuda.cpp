// Device-side benches of the CUDA kernels (kernels/cuda/), timed with CUDA events around the
// launches on one stream (UseManualTime), float32. Ops go through the public API (so the time
// includes dispatch and the caching allocator, as in training); dropout and Adam call their
// kernels directly. They need a real GPU: in the emulation build
// and on machines without one every case skips, saying why (emulated timings would measure the
// emulator, not the kernel). Each case first checks its result against the CPU kernel on the same
// input; a mismatch skips the case with an error instead of timing a wrong kernel.
//   GB/s    = (bytes read + bytes written) / time, each tensor counted once
//   GFLOP/s = 2 * N*K*P*Q*C*R*S / time for the convolutions
//
//   ./build-cuda/bench/abbe_bench --benchmark_filter=cuda
#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <string>

#include "autograd/ops.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/optim.h"

namespace abbe {
namespace {

namespace kc = kernels::cuda;
const Device kGpu = Device::cuda();

// Skips the case, saying why, unless a real GPU is usable.
bool no_gpu(benchmark::State& state) {
  const cuda::DeviceStatus& s = cuda::device_status();
  std::string why;
  if (s.emulated) why = "emulation build: its CUDA device is the CPU emulator (build with -DABBE_CUDA=ON)";
  else if (!s.usable) why = "no usable CUDA device: " + s.detail;
  if (why.empty()) return false;
  state.SkipWithError(why.c_str());
  return true;
}

Tensor gpu_random(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::rand(shape, gen, -1, 1).to(kGpu);
}

// Times `launch` (which enqueues on the current stream) with events, one iteration per sample.
void time_on_device(benchmark::State& state, const std::function<void()>& launch, double bytes, double flops = 0) {
  cuda::Stream stream;
  cuda::StreamGuard guard(stream.get());
  launch();  // warm-up: algorithm choice, caches
  stream.synchronize();
  cuda::Event start, stop;
  for (auto _ : state) {
    start.record();
    launch();
    stop.record();
    stop.wait();
    state.SetIterationTime(start.elapsed_ms(stop) * 1e-3);
  }
  if (bytes > 0)
    state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
}

// The op on the GPU vs the CPU on the same input; false (and the case skipped) if they differ.
bool check(benchmark::State& state, const Tensor& gpu_result, const Tensor& cpu_result, double rtol) {
  const std::vector<double> a = gpu_result.to_vector<double>(), b = cpu_result.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-5 + rtol * std::abs(b[i])) {
      state.SkipWithError(("GPU result differs from the CPU at element " + std::to_string(i)).c_str());
      return false;
    }
  return true;
}

constexpr int64_t kN = int64_t(1) << 24;  // 16M floats = 64 MiB per tensor

void BM_cuda_relu(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({kN}, 1);
  if (check(state, relu(x), relu(x.to(Device::cpu())), 0)) time_on_device(state, [&] { (void)relu(x); }, 2.0 * kN * 4);
}

void BM_cuda_add_broadcast(benchmark::State& state) {  // (16, 64, 128, 128) + (1, 64, 1, 1): bias add
  if (no_gpu(state)) return;
  const Tensor a = gpu_random({16, 64, 128, 128}, 2), b = gpu_random({1, 64, 1, 1}, 3);
  if (check(state, add(a, b), add(a.to(Device::cpu()), b.to(Device::cpu())), 0))
    time_on_device(state, [&] { (void)add(a, b); }, 2.0 * a.numel() * 4);
}

void BM_cuda_sum_all(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({kN}, 4);
  if (check(state, sum(x), sum(x.to(Device::cpu())), 1e-5))
    time_on_device(state, [&] { (void)sum(x); }, double(kN) * 4);
}

void BM_cuda_sum_bias_grad(benchmark::State& state) {  // (16, 64, 128, 128) -> (64): a conv's db
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({16, 64, 128, 128}, 5);
  if (check(state, sum(x, {0, 2, 3}), sum(x.to(Device::cpu()), {0, 2, 3}), 1e-5))
    time_on_device(state, [&] { (void)sum(x, {0, 2, 3}); }, double(x.numel()) * 4);
}

void BM_cuda_pixel_shuffle(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({1, 256, 128, 128}, 6);
  if (check(state, pixel_shuffle(x, 2), pixel_shuffle(x.to(Device::cpu()), 2), 0))
    time_on_device(state, [&] { (void)pixel_shuffle(x, 2); }, 2.0 * x.numel() * 4);
}

void BM_cuda_upsample_bilinear_x2(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({1, 64, 128, 128}, 7);
  if (check(state, upsample_bilinear(x, 2, false), upsample_bilinear(x.to(Device::cpu()), 2, false), 1e-6))
    time_on_device(state, [&] { (void)upsample_bilinear(x, 2, false); }, 5.0 * x.numel() * 4);
}

void BM_cuda_max_pool2d(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({1, 64, 256, 256}, 8);
  if (check(state, max_pool2d(x, Pool2dOptions()), max_pool2d(x.to(Device::cpu()), Pool2dOptions()), 0))
    time_on_device(state, [&] { (void)max_pool2d(x, Pool2dOptions()); }, (1.0 + 0.25 * 3) * x.numel() * 4);
}

void BM_cuda_dropout(benchmark::State& state) {
  if (no_gpu(state)) return;
  const Tensor x = gpu_random({kN}, 9);
  Tensor y = Tensor::empty({kN}, DType::f32, kGpu);
  time_on_device(state, [&] {
    kc::dropout_apply<float>(kN, 0.5, 1234, 0, x.data<float>(), y.data<float>(), cuda::current_stream());
  }, 2.0 * kN * 4);
}

void BM_cuda_adam_step(benchmark::State& state) {
  if (no_gpu(state)) return;
  const int64_t n = int64_t(1) << 22;
  Tensor p = gpu_random({n}, 10), g = gpu_random({n}, 11);
  Tensor m = Tensor::zeros({n}, DType::f32, kGpu), v = Tensor::zeros({n}, DType::f32, kGpu);
  int64_t step = 0;
  time_on_device(state, [&] {
    kc::adam_step<float>(n, p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), 1e-3, 0.9, 0.999,
                         1e-8, 0, false, ++step, cuda::current_stream());
  }, 7.0 * n * 4);  // reads param, grad, m, v; writes param, m, v
}

void BM_cuda_conv2d_3x3(benchmark::State& state) {  // the SISR body: 64 -> 64, 3x3, pad 1
  if (no_gpu(state)) return;
  const int64_t side = state.range(0);
  const Tensor x = gpu_random({1, 64, side, side}, 12), w = gpu_random({64, 64, 3, 3}, 13), b = gpu_random({64}, 14);
  const Conv2dOptions o = Conv2dOptions().padding(1);
  if (check(state, conv2d(x, w, b, o),
            conv2d(x.to(Device::cpu()), w.to(Device::cpu()), b.to(Device::cpu()), o), 1e-3))
    time_on_device(state, [&] { (void)conv2d(x, w, b, o); }, 0, 2.0 * 64 * side * side * 64 * 9);
}

BENCHMARK(BM_cuda_relu)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_add_broadcast)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_sum_all)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_sum_bias_grad)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_pixel_shuffle)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_upsample_bilinear_x2)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_max_pool2d)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_dropout)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_adam_step)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_conv2d_3x3)->Arg(64)->Arg(128)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace abbe
