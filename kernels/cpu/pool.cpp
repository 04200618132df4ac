// 2-D pooling. N = batch, C = channels, H,W = input size, P,Q = output size, kh,kw = window,
// sh,sw = stride, ph,pw = padding, dil_h,dil_w = dilation.
// Window, divisor, tie and NaN rules follow ATen 1.13 (aten/src/ATen/native/Pool.h,
// cpu/AvgPoolKernel.cpp, cpu/MaxPoolKernel.cpp).
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace abbe::kernels::cpu {

namespace {

// Below this many output elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 14;

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// One avg-pool window along a dimension: [lo, hi) inside the input, and `padded` = the window's
// length clipped to the padded input only (torch's count_include_pad pool size).
struct AvgSpan {
  int64_t lo, hi, padded;
};

AvgSpan avg_span(int64_t o, int64_t in, int64_t k, int64_t s, int64_t p) {
  const int64_t lo = o * s - p, hi = std::min(lo + k, in + p);
  return {std::max<int64_t>(lo, 0), std::min(hi, in), hi - lo};
}

// Output columns [a, b) whose window (extent e = (k-1)*dil + 1, start q*s - p) lies inside
// [0, in): no clipping, so their inner loops have a fixed trip count and vectorise across q.
struct Interior {
  int64_t a, b;
};

Interior interior(int64_t out, int64_t in, int64_t e, int64_t s, int64_t p) {
  const int64_t a = std::min((p + s - 1) / s, out);
  const int64_t b = in + p - e >= 0 ? std::min((in + p - e) / s + 1, out) : 0;
  return {a, std::max(a, b)};
}

// Interior columns of one avg-pool output row: yr[q] = (sum of the nh x kw window whose top-left
// is x0[q*sw - pw]) / divisor, summed h-major like ATen. x0 is the first in-input window row.
// KW, SW > 0 fix kw, sw at compile time (the common 2x2/2, 3x3/2, 3x3/1 windows).
template <int KW, int SW, typename T>
void avg_interior(Interior c, int64_t kw, int64_t sw, int64_t pw, int64_t W, const T* x0,
                  int64_t nh, T divisor, T* yr) {
  const int64_t k = KW > 0 ? KW : kw, st = SW > 0 ? SW : sw;
  for (int64_t q = c.a; q < c.b; ++q) yr[q] = T(0);
  for (int64_t h = 0; h < nh; ++h) {
    const T* xr = x0 + h * W;
    for (int64_t q = c.a; q < c.b; ++q) {
      T sum = yr[q];
      for (int64_t j = 0; j < k; ++j) sum += xr[q * st - pw + j];
      yr[q] = sum;
    }
  }
  for (int64_t q = c.a; q < c.b; ++q) yr[q] /= divisor;
}

// Interior columns of one max-pool output row over input rows h0, h0+dh, .. < h1 of plane xp.
template <int KW, int SW, typename T>
void max_interior(Interior c, int64_t kw, int64_t sw, int64_t pw, int64_t dw, int64_t W,
                  const T* xp, int64_t h0, int64_t h1, int64_t dh, T* yr, int64_t* ir) {
  const int64_t k = KW > 0 ? KW : kw, st = SW > 0 ? SW : sw, d = KW > 0 ? 1 : dw;
  for (int64_t q = c.a; q < c.b; ++q) {
    yr[q] = -std::numeric_limits<T>::infinity();
    ir[q] = h0 * W + q * st - pw;
  }
  for (int64_t h = h0; h < h1; h += dh) {
    const T* xr = xp + h * W;
    for (int64_t q = c.a; q < c.b; ++q) {
      T best = yr[q];
      int64_t arg = ir[q];
      for (int64_t j = 0; j < k; ++j) {
        const int64_t w = q * st - pw + j * d;
        const T v = xr[w];
        if (v > best || v != v) best = v, arg = h * W + w;  // v != v: NaN wins, as ATen
      }
      yr[q] = best;
      ir[q] = arg;
    }
  }
}

template <typename T>
using AvgInteriorFn = void (*)(Interior, int64_t, int64_t, int64_t, int64_t, const T*, int64_t, T,
                               T*);
template <typename T>
using MaxInteriorFn = void (*)(Interior, int64_t, int64_t, int64_t, int64_t, int64_t, const T*,
                               int64_t, int64_t, int64_t, T*, int64_t*);

// The compile-time variant for this window width and stride (dilation 1), else the runtime one.
template <typename T>
AvgInteriorFn<T> avg_interior_for(int64_t kw, int64_t sw) {
  if (kw == 2 && sw == 2) return avg_interior<2, 2, T>;
  if (kw == 3 && sw == 2) return avg_interior<3, 2, T>;
  if (kw == 3 && sw == 1) return avg_interior<3, 1, T>;
  return avg_interior<0, 0, T>;
}

template <typename T>
MaxInteriorFn<T> max_interior_for(int64_t kw, int64_t sw, int64_t dw) {
  if (dw == 1 && kw == 2 && sw == 2) return max_interior<2, 2, T>;
  if (dw == 1 && kw == 3 && sw == 2) return max_interior<3, 2, T>;
  if (dw == 1 && kw == 3 && sw == 1) return max_interior<3, 1, T>;
  return max_interior<0, 0, T>;
}

}  // namespace

int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode, int64_t dil) {
  int64_t out = floor_div(in + 2 * p - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;  // the last window would start in the right pad
  return out;
}

// Gather: each thread owns whole output rows. Edge columns take the clipped-window loop, the
// interior ones the fixed-width loop; both sum and divide exactly as ATen.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y) {
  const int64_t H = s.H, W = s.W, P = s.P(), Q = s.Q(), rows = s.N * s.C * P;
  const Interior cols = interior(Q, W, s.kw, s.sw, s.pw);
  const AvgInteriorFn<T> fast = avg_interior_for<T>(s.kw, s.sw);
#pragma omp parallel for schedule(static) if (rows * Q > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / P, p = row % P;
    const AvgSpan hs = avg_span(p, H, s.kh, s.sh, s.ph);
    const T* xp = x + nc * H * W;
    T* yr = y + row * Q;
    if (hs.lo >= hs.hi) {
      std::fill(yr, yr + Q, T(0));
      continue;
    }
    auto edge = [&](int64_t q) {
      const AvgSpan ws = avg_span(q, W, s.kw, s.sw, s.pw);
      if (ws.lo >= ws.hi) {
        yr[q] = T(0);
        return;
      }
      T sum = T(0);
      for (int64_t h = hs.lo; h < hs.hi; ++h)
        for (int64_t w = ws.lo; w < ws.hi; ++w) sum += xp[h * W + w];
      const int64_t divisor =
          s.count_include_pad ? hs.padded * ws.padded : (hs.hi - hs.lo) * (ws.hi - ws.lo);
      yr[q] = sum / static_cast<T>(divisor);
    };
    for (int64_t q = 0; q < cols.a; ++q) edge(q);
    for (int64_t q = cols.b; q < Q; ++q) edge(q);
    const int64_t hdiv = s.count_include_pad ? hs.padded : hs.hi - hs.lo;
    fast(cols, s.kw, s.sw, s.pw, W, xp + hs.lo * W, hs.hi - hs.lo, static_cast<T>(hdiv * s.kw), yr);
  }
}

// Scatter (windows overlap when s < k), one plane per thread.
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx) {
  const int64_t H = s.H, W = s.W, P = s.P(), Q = s.Q(), planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * P * Q > kParallelMin)
  for (int64_t nc = 0; nc < planes; ++nc) {
    T* dxp = dx + nc * H * W;
    std::fill(dxp, dxp + H * W, T(0));
    for (int64_t p = 0; p < P; ++p) {
      const AvgSpan hs = avg_span(p, H, s.kh, s.sh, s.ph);
      const T* d = dy + (nc * P + p) * Q;
      for (int64_t q = 0; q < Q; ++q) {
        const AvgSpan ws = avg_span(q, W, s.kw, s.sw, s.pw);
        if (hs.lo >= hs.hi || ws.lo >= ws.hi) continue;
        const int64_t divisor =
            s.count_include_pad ? hs.padded * ws.padded : (hs.hi - hs.lo) * (ws.hi - ws.lo);
        const T delta = d[q] / static_cast<T>(divisor);
        for (int64_t h = hs.lo; h < hs.hi; ++h)
          for (int64_t w = ws.lo; w < ws.hi; ++w) dxp[h * W + w] += delta;
      }
    }
  }
}

// Gather: each thread owns whole output rows. Torch's rule: start from -inf, take a value that is
// greater or NaN; so ties keep the first maximum and the last NaN wins.
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int64_t* indices) {
  const int64_t H = s.H, W = s.W, P = s.P(), Q = s.Q(), rows = s.N * s.C * P;
  const int64_t dh = s.dil_h, dw = s.dil_w;
  const Interior cols = interior(Q, W, (s.kw - 1) * dw + 1, s.sw, s.pw);
  const MaxInteriorFn<T> fast = max_interior_for<T>(s.kw, s.sw, dw);
#pragma omp parallel for schedule(static) if (rows * Q > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / P, p = row % P;
    int64_t h0 = p * s.sh - s.ph;
    const int64_t h1 = std::min(h0 + (s.kh - 1) * dh + 1, H);
    while (h0 < 0) h0 += dh;
    const T* xp = x + nc * H * W;
    T* yr = y + row * Q;
    int64_t* ir = indices + row * Q;
    auto edge = [&](int64_t q) {
      int64_t w0 = q * s.sw - s.pw;
      const int64_t w1 = std::min(w0 + (s.kw - 1) * dw + 1, W);
      while (w0 < 0) w0 += dw;
      int64_t arg = h0 * W + w0;
      T best = -std::numeric_limits<T>::infinity();
      for (int64_t h = h0; h < h1; h += dh)
        for (int64_t w = w0; w < w1; w += dw) {
          const T v = xp[h * W + w];
          if (v > best || std::isnan(v)) best = v, arg = h * W + w;
        }
      yr[q] = best;
      ir[q] = arg;
    };
    for (int64_t q = 0; q < cols.a; ++q) edge(q);
    for (int64_t q = cols.b; q < Q; ++q) edge(q);
    fast(cols, s.kw, s.sw, s.pw, dw, W, xp, h0, h1, dh, yr, ir);
  }
}

// Scatter (windows overlap when s < k), one plane per thread. Torch skips index -1; an index
// outside the plane (only from an empty window, which torch's checks rule out) is skipped too.
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int64_t* indices, T* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P() * s.Q(), planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * PQ > kParallelMin)
  for (int64_t nc = 0; nc < planes; ++nc) {
    T* dxp = dx + nc * HW;
    std::fill(dxp, dxp + HW, T(0));
    const T* d = dy + nc * PQ;
    const int64_t* ind = indices + nc * PQ;
    for (int64_t i = 0; i < PQ; ++i)
      if (ind[i] >= 0 && ind[i] < HW) dxp[ind[i]] += d[i];
  }
}

#define ABBE_INSTANTIATE_POOL(T)                                                   \
  template void avg_pool2d_forward<T>(const Pool2dShape&, const T*, T*);           \
  template void avg_pool2d_backward<T>(const Pool2dShape&, const T*, T*);          \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int64_t*); \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int64_t*, T*);
ABBE_INSTANTIATE_POOL(float)
ABBE_INSTANTIATE_POOL(double)
#undef ABBE_INSTANTIATE_POOL

}  // namespace abbe::kernels::cpu
