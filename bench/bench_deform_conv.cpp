// Benches of the shipped deformable conv kernels (kernels/cpu/deform_conv.h), 2 OpenMP threads,
// at DPA-TISR's alignment DCN: 128 -> 64 channels, 3x3, pad 1, 16 offset groups, mask and bias,
// offsets uniform in [-3, 3) pixels; beside it the plain conv2d of the same shape (the floor a
// deformable conv is measured against). Names match bench/torch_bench.py's cases (torchvision).
// Each case checks its kernel once, before timing:
//   forward    output channels 0 and K-1 == the reference loops (run with K = 1)
//   backward   <x, dx> == <w, dw> == <mask, dmask> == <y - b, dy> (y is linear in each),
//              db == sum dy, and <doffset, v> == the central difference of <y, dy> along the
//              offsets' direction v (random signs), in float64 through the float64 kernel
//   conv2d     == the deformable forward with zero offsets and no mask
// GFLOP/s = the gemm work, 2 N K C/groups R S P Q per product: one product forward (w col), two
// backward (dcol = w^T dy, dw = dy col^T); the sampling and the offset gradients are extra.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/deform_conv.h"

#include "bench/bench_util.h"

namespace abbe::kernels::cpu {
namespace {

using bench::kThreads;
using bench::random_vector;

double gemm_flops(const DeformConv2dShape& s) {
  return 2.0 * s.N * s.K * (s.C / s.groups) * s.R * s.S * s.P() * s.Q();
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

DeformConv2dShape dcn(int64_t size) {
  return {1, 128, size, size, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 16};
}

Conv2dShape plain(const DeformConv2dShape& s) {
  return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          s.dil_h, s.dil_w, s.groups};
}

std::string tag(const DeformConv2dShape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
         std::to_string(s.W) + "_k" + std::to_string(s.K) + "_" + std::to_string(s.R) + "x" +
         std::to_string(s.S);
}

struct Data {
  std::vector<float> x, offset, mask, w, b, dy;
};

const Data& data(const DeformConv2dShape& s) {
  static std::map<int64_t, Data> cache;
  auto [it, fresh] = cache.try_emplace(s.H);
  Data& d = it->second;
  if (fresh) {
    const int64_t PQ = s.P() * s.Q(), GRS = s.offset_groups * s.R * s.S;
    d.x = random_vector(s.N * s.C * s.H * s.W, 1);
    d.offset = random_vector(s.N * 2 * GRS * PQ, 2);
    for (float& o : d.offset) o *= 3;
    d.mask = random_vector(s.N * GRS * PQ, 3);
    for (float& m : d.mask) m = 0.5f * (m + 1);
    d.w = random_vector(s.K * s.C / s.groups * s.R * s.S, 4);
    for (float& v : d.w) v /= std::sqrt(static_cast<float>(s.C * s.R * s.S));
    d.b = random_vector(s.K, 5);
    d.dy = random_vector(s.N * s.K * PQ, 6);
  }
  return d;
}

template <typename A, typename B>
double dot(const std::vector<A>& a, const std::vector<B>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}
template <typename A, typename B>
double abs_dot(const std::vector<A>& a, const std::vector<B>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += std::abs(static_cast<double>(a[i]) * static_cast<double>(b[i]));
  return s;
}

// Output channels 0 and K-1 of y against the reference loops run for that channel alone.
std::string check_forward(const DeformConv2dShape& s, const Data& d, const std::vector<float>& y) {
  DeformConv2dShape one = s;
  one.K = 1;
  const int64_t PQ = s.P() * s.Q(), wk = s.C * s.R * s.S;
  std::vector<float> ref(static_cast<size_t>(PQ));
  for (int64_t k : {int64_t{0}, s.K - 1}) {
    reference::deform_conv2d_forward(one, d.x.data(), d.offset.data(), d.mask.data(),
                                     d.w.data() + k * wk, d.b.data() + k, ref.data());
    for (int64_t i = 0; i < PQ; ++i)
      if (std::abs(y[k * PQ + i] - ref[i]) > 1e-4 * (1 + std::abs(ref[i])))
        return "forward differs from the reference at channel " + std::to_string(k);
  }
  return "";
}

std::string check_backward(const DeformConv2dShape& s, const Data& d) {
  std::vector<float> y(d.dy.size()), dx(d.x.size()), doffset(d.offset.size()),
      dmask(d.mask.size()), dw(d.w.size()), db(d.b.size());
  deform_conv2d_forward(s, d.x.data(), d.offset.data(), d.mask.data(), d.w.data(),
                        static_cast<const float*>(nullptr), y.data());
  deform_conv2d_backward(s, d.x.data(), d.offset.data(), d.mask.data(), d.w.data(), d.dy.data(),
                         dx.data(), doffset.data(), dmask.data(), dw.data(), db.data());
  const double ydy = dot(y, d.dy), scale = abs_dot(y, d.dy);
  auto holds = [&](double v) { return std::abs(v - ydy) <= 1e-4 * scale; };
  if (!holds(dot(d.x, dx))) return "backward: <x, dx> != <y, dy>";
  if (!holds(dot(d.w, dw))) return "backward: <w, dw> != <y, dy>";
  if (!holds(dot(d.mask, dmask))) return "backward: <mask, dmask> != <y, dy>";
  const int64_t PQ = s.P() * s.Q();
  for (int64_t k = 0; k < s.K; ++k) {
    double sum = 0;
    for (int64_t i = 0; i < PQ; ++i) sum += d.dy[k * PQ + i];
    if (std::abs(db[k] - sum) > 1e-5 * (1 + std::abs(sum))) return "backward: db != sum dy";
  }
  // d/de <y(offset + e v), dy> at e = 0, in float64: small steps cross few cells' edges.
  auto wide = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const std::vector<double> x = wide(d.x), mask = wide(d.mask), w = wide(d.w), dy = wide(d.dy);
  std::vector<double> v(d.offset.size()), moved(d.offset.size()), yd(d.dy.size());
  std::mt19937 rng(7);
  for (double& e : v) e = rng() % 2 ? 1.0 : -1.0;
  const double eps = 1e-7;
  double loss[2];
  for (int side = 0; side < 2; ++side) {
    for (size_t i = 0; i < v.size(); ++i) moved[i] = d.offset[i] + (side ? -eps : eps) * v[i];
    deform_conv2d_forward(s, x.data(), moved.data(), mask.data(), w.data(),
                          static_cast<const double*>(nullptr), yd.data());
    loss[side] = dot(yd, dy);
  }
  const double fd = (loss[0] - loss[1]) / (2 * eps), an = dot(doffset, v);
  if (std::abs(fd - an) > 1e-5 * abs_dot(doffset, v))
    return "backward: <doffset, v> = " + std::to_string(an) + " but the finite difference is " +
           std::to_string(fd);
  return "";
}

void BM_deform_conv2d_forward(benchmark::State& state, DeformConv2dShape s) {
  omp_set_num_threads(kThreads);
  const Data& d = data(s);
  std::vector<float> y(d.dy.size());
  deform_conv2d_forward(s, d.x.data(), d.offset.data(), d.mask.data(), d.w.data(), d.b.data(),
                        y.data());
  if (const std::string err = check_forward(s, d, y); !err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }
  for (auto _ : state) {
    deform_conv2d_forward(s, d.x.data(), d.offset.data(), d.mask.data(), d.w.data(), d.b.data(),
                          y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, gemm_flops(s));
}

void BM_deform_conv2d_backward(benchmark::State& state, DeformConv2dShape s) {
  omp_set_num_threads(kThreads);
  const Data& d = data(s);
  if (const std::string err = check_backward(s, d); !err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }
  std::vector<float> dx(d.x.size()), doffset(d.offset.size()), dmask(d.mask.size()),
      dw(d.w.size()), db(d.b.size());
  for (auto _ : state) {
    deform_conv2d_backward(s, d.x.data(), d.offset.data(), d.mask.data(), d.w.data(), d.dy.data(),
                           dx.data(), doffset.data(), dmask.data(), dw.data(), db.data());
    benchmark::DoNotOptimize(dx.data());
  }
  set_counters(state, 2 * gemm_flops(s));
}

void BM_plain_conv2d_forward(benchmark::State& state, DeformConv2dShape s) {
  omp_set_num_threads(kThreads);
  const Data& d = data(s);
  const std::vector<float> zero(d.offset.size(), 0.0f);
  std::vector<float> y(d.dy.size()), want(d.dy.size());
  deform_conv2d_forward(s, d.x.data(), zero.data(), static_cast<const float*>(nullptr), d.w.data(),
                        d.b.data(), want.data());
  conv2d_forward(plain(s), d.x.data(), d.w.data(), d.b.data(), y.data());
  for (size_t i = 0; i < y.size(); ++i)
    if (std::abs(y[i] - want[i]) > 1e-4 * (1 + std::abs(want[i]))) {
      state.SkipWithError("conv2d differs from the deformable conv with zero offsets");
      return;
    }
  for (auto _ : state) {
    conv2d_forward(plain(s), d.x.data(), d.w.data(), d.b.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, gemm_flops(s));
}

const bool registered = [] {
  auto timed = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  for (int64_t size : {128, 64}) {
    const DeformConv2dShape s = dcn(size);
    const std::string t = tag(s) + "_og" + std::to_string(s.offset_groups);
    timed(benchmark::RegisterBenchmark(("deform_conv2d_forward/" + t).c_str(),
                                       BM_deform_conv2d_forward, s));
    timed(benchmark::RegisterBenchmark(("deform_conv2d_backward/" + t).c_str(),
                                       BM_deform_conv2d_backward, s));
    timed(benchmark::RegisterBenchmark(("conv2d_forward/" + tag(s)).c_str(),
                                       BM_plain_conv2d_forward, s));
  }
  return true;
}();

}  // namespace
}  // namespace abbe::kernels::cpu
