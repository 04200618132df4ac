// Benches of the shipped bilinear grid-sampling kernels (kernels/cpu/grid_sample.h), float,
// 2 OpenMP threads, on the optical-flow warp's shape: x (1, 64, 128, 128) sampled at the pixel
// grid plus a smooth random flow of a few pixels (a coarse 8x8 random field upsampled
// bilinearly), align_corners=True; zeros padding (flow_warp) and border (SPyNet's warp). Names
// match bench/torch_bench.py's cases. Each case first checks its kernel against plain per-element
// loops in double (ATen's GridSampler.h scalar formulas), below.
// GB/s = (bytes read + bytes written) / time, each tensor counted once: forward x, grid, y;
// backward x, grid, dy, dx, dgrid.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/grid_sample.h"
#include "kernels/cpu/resample.h"

#include "bench/bench_util.h"

namespace abbe::kernels::cpu {
namespace {

using bench::kThreads;
using bench::random_vector;

// The pixel grid plus a smooth flow of up to `amplitude` pixels, normalised for align_corners:
// grid is (N, P, Q, 2), P = H, Q = W.
std::vector<float> flow_grid(int64_t N, int64_t H, int64_t W, float amplitude, uint32_t seed) {
  const int64_t K = 8;
  std::vector<float> coarse = random_vector(N * 2 * K * K, seed), flow(N * 2 * H * W);
  for (float& v : coarse) v *= amplitude;
  upsample_bilinear_forward(N, int64_t{2}, K, K, H, W, true, 0.0, 0.0, coarse.data(), flow.data());
  std::vector<float> grid(N * H * W * 2);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        const float fx = flow[((n * 2 + 0) * H + h) * W + w];
        const float fy = flow[((n * 2 + 1) * H + h) * W + w];
        float* g = grid.data() + ((n * H + h) * W + w) * 2;
        g[0] = 2 * (static_cast<float>(w) + fx) / static_cast<float>(W - 1) - 1;
        g[1] = 2 * (static_cast<float>(h) + fy) / static_cast<float>(H - 1) - 1;
      }
  return grid;
}

// ---- The check: GridSampler.h's scalar formulas per element, the source coordinate in float as
// torch computes it (in double, a sample within 1e-5 px of a pixel centre can fall in the other
// cell, where dgrid jumps), the rest in double.
struct Coord {
  double v, grad;  // source coordinate and d source / d grid
};

Coord reference_source(float g, int64_t size, bool border, bool align_corners) {
  const float s = static_cast<float>(size);
  Coord c{align_corners ? (g + 1) / 2 * (s - 1) : ((g + 1) * s - 1) / 2,
          align_corners ? (size - 1) / 2.0 : size / 2.0};
  if (border) {
    if (c.v <= 0) c = {0, 0};
    else if (c.v >= size - 1) c = {static_cast<double>(size - 1), 0};
  }
  return c;
}

// y, dx, dgrid for x (N,C,H,W), grid (N,P,Q,2), dy (N,C,P,Q).
void reference(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
               const std::vector<float>& x, const std::vector<float>& grid,
               const std::vector<float>& dy, bool border, bool align_corners,
               std::vector<double>& y, std::vector<double>& dx, std::vector<double>& dgrid) {
  y.assign(N * C * P * Q, 0);
  dx.assign(N * C * H * W, 0);
  dgrid.assign(N * P * Q * 2, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t pq = 0; pq < P * Q; ++pq) {
      const float* g = grid.data() + (n * P * Q + pq) * 2;
      const Coord cx = reference_source(g[0], W, border, align_corners);
      const Coord cy = reference_source(g[1], H, border, align_corners);
      const int64_t x0 = static_cast<int64_t>(std::floor(cx.v)),
                    y0 = static_cast<int64_t>(std::floor(cy.v));
      const double w = cx.v - x0, nn = cy.v - y0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t plane = (n * C + c) * H * W;
        auto at = [&](int64_t yy, int64_t xx) -> double {
          return yy >= 0 && yy < H && xx >= 0 && xx < W ? x[plane + yy * W + xx] : 0.0;
        };
        auto add = [&](int64_t yy, int64_t xx, double v) {
          if (yy >= 0 && yy < H && xx >= 0 && xx < W) dx[plane + yy * W + xx] += v;
        };
        const double nw = at(y0, x0), ne = at(y0, x0 + 1), sw = at(y0 + 1, x0),
                     se = at(y0 + 1, x0 + 1);
        const double d = dy[(n * C + c) * P * Q + pq];
        y[(n * C + c) * P * Q + pq] = nw * (1 - w) * (1 - nn) + ne * w * (1 - nn) +
                                      sw * (1 - w) * nn + se * w * nn;
        add(y0, x0, (1 - w) * (1 - nn) * d);
        add(y0, x0 + 1, w * (1 - nn) * d);
        add(y0 + 1, x0, (1 - w) * nn * d);
        add(y0 + 1, x0 + 1, w * nn * d);
        dgrid[(n * P * Q + pq) * 2] += ((ne - nw) * (1 - nn) + (se - sw) * nn) * d * cx.grad;
        dgrid[(n * P * Q + pq) * 2 + 1] += ((sw - nw) * (1 - w) + (se - ne) * w) * d * cy.grad;
      }
    }
}

// max |a - b| / (1 + |b|)
double worst_error(const std::vector<float>& a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / (1.0 + std::abs(b[i])));
  return worst;
}

// x (N, C, H, W) warped by a flow grid (N, H, W, 2) into y (N, C, H, W), align_corners=True.
void BM_grid_sample(benchmark::State& state, int64_t N, int64_t C, int64_t H, int64_t W,
                    GridPadding padding, bool backward) {
  omp_set_num_threads(kThreads);
  const int64_t P = H, Q = W, nx = N * C * H * W, ny = N * C * P * Q, ng = N * P * Q * 2;
  const auto x = random_vector(nx, 1), dy = random_vector(ny, 2);
  const auto grid = flow_grid(N, H, W, 3.0f, 3);
  std::vector<float> y(ny), dx(nx), dgrid(ng);
  grid_sample_forward(N, C, H, W, P, Q, x.data(), grid.data(), padding, true, y.data());
  grid_sample_backward(N, C, H, W, P, Q, x.data(), grid.data(), padding, true, dy.data(),
                       dx.data(), dgrid.data());
  std::vector<double> y_ref, dx_ref, dgrid_ref;
  reference(N, C, H, W, P, Q, x, grid, dy, padding == GridPadding::border, true, y_ref, dx_ref,
            dgrid_ref);
  if (worst_error(y, y_ref) > 1e-5 || worst_error(dx, dx_ref) > 1e-5 ||
      worst_error(dgrid, dgrid_ref) > 1e-4) {
    state.SkipWithError("grid_sample differs from the per-element reference loops");
    return;
  }
  for (auto _ : state) {
    if (backward)
      grid_sample_backward(N, C, H, W, P, Q, x.data(), grid.data(), padding, true, dy.data(),
                           dx.data(), dgrid.data());
    else
      grid_sample_forward(N, C, H, W, P, Q, x.data(), grid.data(), padding, true, y.data());
    benchmark::ClobberMemory();
  }
  const double bytes = backward ? 2.0 * nx + 2.0 * ng + ny : nx + ng + ny;
  state.counters["GB/s"] = benchmark::Counter(bytes * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  for (const auto& [padding, tag] :
       {std::pair{GridPadding::zeros, "zeros"}, std::pair{GridPadding::border, "border"}})
    for (const bool backward : {false, true}) {
      const std::string name = std::string("grid_sample_") + (backward ? "backward" : "forward") +
                               "/1x64x128x128_" + tag;
      benchmark::RegisterBenchmark(name.c_str(), BM_grid_sample, 1, 64, 128, 128, padding,
                                   backward)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  return true;
}();

}  // namespace
}  // namespace abbe::kernels::cpu
