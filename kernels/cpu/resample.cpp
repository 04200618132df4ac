// Resampling kernels. N = batch, C = channels, H,W = input size, P,Q = output size, r = factor.
// Index and weight rules follow ATen 1.13 (aten/src/ATen/native/UpSample.h, UpSampleKernel.cpp,
// PixelShuffle.cpp), down to the rounding of the interpolation weights.
#include "kernels/cpu/resample.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace abbe::kernels::cpu {

namespace {

// Below this many output elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// ---------------------------------------------------------------------------------------------
// Pixel shuffle is a permutation: one output row interleaves r input rows (shuffle), or one input
// row is dealt out to r output rows (unshuffle). R > 0 fixes r at compile time for the usual
// factors so the inner loop vectorises; R == 0 is the runtime-r fallback.

// y[w*r + j] = x[j*xs + w] for w < W, j < r. x rows are xs apart, y is (W*r).
template <int R, typename T>
void interleave(int64_t r, int64_t W, const T* x, int64_t xs, T* y) {
  if constexpr (R > 0) {
    for (int64_t w = 0; w < W; ++w)
      for (int j = 0; j < R; ++j) y[w * R + j] = x[j * xs + w];
  } else {
    for (int64_t w = 0; w < W; ++w)
      for (int64_t j = 0; j < r; ++j) y[w * r + j] = x[j * xs + w];
  }
}

// y[j*ys + w] = x[w*r + j] for w < W, j < r. x is (W*r), y rows are ys apart.
template <int R, typename T>
void deinterleave(int64_t r, int64_t W, const T* x, T* y, int64_t ys) {
  if constexpr (R > 0) {
    for (int64_t w = 0; w < W; ++w)
      for (int j = 0; j < R; ++j) y[j * ys + w] = x[w * R + j];
  } else {
    for (int64_t w = 0; w < W; ++w)
      for (int64_t j = 0; j < r; ++j) y[j * ys + w] = x[w * r + j];
  }
}

// x (N, C*r*r, H, W) -> y (N, C, H*r, W*r), one output row per iteration.
template <int R, typename T>
void shuffle_rows(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y) {
  const int64_t Ho = H * r, Wo = W * r, rows = N * C * Ho;
#pragma omp parallel for schedule(static) if (rows * Wo > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / Ho, oh = row % Ho, h = oh / r, i = oh % r;
    // Input channel (n, c*r*r + i*r + j) is plane nc*r*r + i*r + j; j steps one plane.
    interleave<R>(r, W, x + ((nc * r * r + i * r) * H + h) * W, H * W, y + row * Wo);
  }
}

// x (N, C, H, W) -> y (N, C*r*r, H/r, W/r), one input row per iteration.
template <int R, typename T>
void unshuffle_rows(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x, T* y) {
  const int64_t Ho = H / r, Wo = W / r, rows = N * C * H;
#pragma omp parallel for schedule(static) if (rows * W > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / H, ih = row % H, h = ih / r, i = ih % r;
    deinterleave<R>(r, Wo, x + row * W, y + ((nc * r * r + i * r) * Ho + h) * Wo, Ho * Wo);
  }
}

// ---------------------------------------------------------------------------------------------
// Linear interpolation along one dimension: out[d] = in[i0[d]] * l0[d] + in[i1[d]] * l1[d].
template <typename T>
struct LinearTaps {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

// ATen's area_pixel_compute_scale + compute_source_index_and_lambda. As in torch 1.13 for float:
// the ratio is rounded to T, the source coordinate is evaluated in double, l1 = T(src - i0) and
// l0 = 1 - l1 in T (checked bitwise against torch's float32 interpolation weights).
template <typename T>
LinearTaps<T> linear_taps(int64_t in, int64_t out, bool align_corners, double scale) {
  LinearTaps<T> t{std::vector<int64_t>(out), std::vector<int64_t>(out), std::vector<T>(out),
                  std::vector<T>(out)};
  T ratio;
  if (align_corners)
    ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else
    ratio = scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  for (int64_t d = 0; d < out; ++d) {
    if (in == out) {  // torch copies a same-size dimension whatever the scale says
      t.i0[d] = t.i1[d] = d;
      t.l0[d] = T(1), t.l1[d] = T(0);
      continue;
    }
    const double r = static_cast<double>(ratio);
    const double src = std::max(align_corners ? r * d : r * (d + 0.5) - 0.5, 0.0);
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    t.i0[d] = i0;
    t.i1[d] = i0 < in - 1 ? i0 + 1 : i0;
    t.l1[d] = static_cast<T>(src - static_cast<double>(i0));
    t.l0[d] = T(1) - t.l1[d];
  }
  return t;
}

// One output row of horizontal interpolation: y is (Q), x is one input row.
template <typename T>
void lerp_row(const LinearTaps<T>& tw, int64_t Q, const T* x, T* y) {
  const int64_t* i0 = tw.i0.data();
  const int64_t* i1 = tw.i1.data();
  const T* l0 = tw.l0.data();
  const T* l1 = tw.l1.data();
  for (int64_t q = 0; q < Q; ++q) y[q] = x[i0[q]] * l0[q] + x[i1[q]] * l1[q];
}

// ATen's nearest_idx: float arithmetic, and the out == in / out == 2*in shortcuts.
std::vector<int64_t> nearest_taps(int64_t in, int64_t out, double scale) {
  std::vector<int64_t> src(out);
  if (out == in) {
    for (int64_t d = 0; d < out; ++d) src[d] = d;
  } else if (out == 2 * in) {
    for (int64_t d = 0; d < out; ++d) src[d] = d >> 1;
  } else {
    const float ratio = scale > 0 ? static_cast<float>(1.0 / scale)
                                  : static_cast<float>(in) / static_cast<float>(out);
    for (int64_t d = 0; d < out; ++d)
      src[d] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(d) * ratio)), in - 1);
  }
  return src;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
template <typename T>
void pixel_shuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x,
                           T* y) {
  switch (r) {
    case 2: return shuffle_rows<2>(N, C, H, W, r, x, y);
    case 3: return shuffle_rows<3>(N, C, H, W, r, x, y);
    case 4: return shuffle_rows<4>(N, C, H, W, r, x, y);
    default: return shuffle_rows<0>(N, C, H, W, r, x, y);
  }
}

template <typename T>
void pixel_unshuffle_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* x,
                             T* y) {
  switch (r) {
    case 2: return unshuffle_rows<2>(N, C, H, W, r, x, y);
    case 3: return unshuffle_rows<3>(N, C, H, W, r, x, y);
    case 4: return unshuffle_rows<4>(N, C, H, W, r, x, y);
    default: return unshuffle_rows<0>(N, C, H, W, r, x, y);
  }
}

template <typename T>
void pixel_shuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy,
                            T* dx) {
  pixel_unshuffle_forward(N, C, H * r, W * r, r, dy, dx);
}

template <typename T>
void pixel_unshuffle_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r, const T* dy,
                              T* dx) {
  pixel_shuffle_forward(N, C, H / r, W / r, r, dy, dx);
}

// ---------------------------------------------------------------------------------------------
// Separable: y row = l0 * (row i0 lerped along w) + l1 * (row i1 lerped along w), the same
// expression ATen evaluates per element. Each thread keeps its last two lerped input rows, so
// with static scheduling (consecutive output rows per thread) an input row is lerped about once.
template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               bool align_corners, double scale_h, double scale_w, const T* x,
                               T* y) {
  const LinearTaps<T> th = linear_taps<T>(H, P, align_corners, scale_h);
  const LinearTaps<T> tw = linear_taps<T>(W, Q, align_corners, scale_w);
  const int64_t rows = N * C * P;
#pragma omp parallel if (rows * Q > kParallelMin)
  {
    std::vector<T> buf(2 * Q);
    T* slot[2] = {buf.data(), buf.data() + Q};
    int64_t held[2] = {-1, -1};  // global input row (nc*H + h) in each slot
    // The lerped input row `key`, evicting the slot that does not hold `keep`.
    auto lerped = [&](int64_t key, int64_t keep) -> const T* {
      for (int s = 0; s < 2; ++s)
        if (held[s] == key) return slot[s];
      const int s = held[0] == keep ? 1 : 0;
      lerp_row(tw, Q, x + key * W, slot[s]);
      held[s] = key;
      return slot[s];
    };
#pragma omp for schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t nc = row / P, p = row % P;
      const int64_t k0 = nc * H + th.i0[p], k1 = nc * H + th.i1[p];
      const T* a = lerped(k0, k1);
      const T* b = lerped(k1, k0);
      const T l0 = th.l0[p], l1 = th.l1[p];
      T* yr = y + row * Q;
      for (int64_t q = 0; q < Q; ++q) yr[q] = a[q] * l0 + b[q] * l1;
    }
  }
}

// Scatter, one plane per thread, in the adjoint's order: dy rows are first folded along h into
// rows of e (Q), e[h] = sum over p with a tap on h of (height weight) * dy[p] (vector axpys), and
// each finished e row is then folded along w into dx row h (the scalar scatter, done H times
// instead of P times). Taps only move down, so two e rows are live at a time.
template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                                bool align_corners, double scale_h, double scale_w, const T* dy,
                                T* dx) {
  const LinearTaps<T> th = linear_taps<T>(H, P, align_corners, scale_h);
  const LinearTaps<T> tw = linear_taps<T>(W, Q, align_corners, scale_w);
  const int64_t planes = N * C;
#pragma omp parallel if (planes * P * Q > kParallelMin)
  {
    std::vector<T> ebuf(2 * Q);
    T* slot[2] = {ebuf.data(), ebuf.data() + Q};
    const int64_t* i0 = tw.i0.data();
    const int64_t* i1 = tw.i1.data();
    const T* l0 = tw.l0.data();
    const T* l1 = tw.l1.data();
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < planes; ++nc) {
      T* dxp = dx + nc * H * W;
      std::fill(dxp, dxp + H * W, T(0));
      int64_t held[2] = {-1, -1};  // the dx row each e slot accumulates
      auto flush = [&](int s) {
        const T* e = slot[s];
        T* r = dxp + held[s] * W;
        for (int64_t q = 0; q < Q; ++q) {
          r[i0[q]] += l0[q] * e[q];
          r[i1[q]] += l1[q] * e[q];
        }
        held[s] = -1;
      };
      auto row = [&](int64_t h) -> T* {
        for (int s = 0; s < 2; ++s)
          if (held[s] == h) return slot[s];
        const int s = held[0] < 0 ? 0 : 1;
        std::fill(slot[s], slot[s] + Q, T(0));
        held[s] = h;
        return slot[s];
      };
      for (int64_t p = 0; p < P; ++p) {
        for (int s = 0; s < 2; ++s)  // rows above this p's taps are final
          if (held[s] >= 0 && held[s] < th.i0[p]) flush(s);
        const T* d = dy + (nc * P + p) * Q;
        T* e0 = row(th.i0[p]);
        const T h0 = th.l0[p];
        for (int64_t q = 0; q < Q; ++q) e0[q] += h0 * d[q];
        T* e1 = row(th.i1[p]);  // may be e0
        const T h1 = th.l1[p];
        for (int64_t q = 0; q < Q; ++q) e1[q] += h1 * d[q];
      }
      for (int s = 0; s < 2; ++s)
        if (held[s] >= 0) flush(s);
    }
  }
}

namespace reference {

template <typename T>
void upsample_bilinear_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               bool align_corners, double scale_h, double scale_w, const T* x,
                               T* y) {
  const LinearTaps<T> th = linear_taps<T>(H, P, align_corners, scale_h);
  const LinearTaps<T> tw = linear_taps<T>(W, Q, align_corners, scale_w);
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const T* xp = x + nc * H * W;
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const T* r0 = xp + th.i0[p] * W;
        const T* r1 = xp + th.i1[p] * W;
        const int64_t a = tw.i0[q], b = tw.i1[q];
        y[(nc * P + p) * Q + q] = (r0[a] * tw.l0[q] + r0[b] * tw.l1[q]) * th.l0[p] +
                                  (r1[a] * tw.l0[q] + r1[b] * tw.l1[q]) * th.l1[p];
      }
  }
}

template <typename T>
void upsample_bilinear_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                                bool align_corners, double scale_h, double scale_w, const T* dy,
                                T* dx) {
  const LinearTaps<T> th = linear_taps<T>(H, P, align_corners, scale_h);
  const LinearTaps<T> tw = linear_taps<T>(W, Q, align_corners, scale_w);
  std::fill(dx, dx + N * C * H * W, T(0));
  for (int64_t nc = 0; nc < N * C; ++nc) {
    T* dxp = dx + nc * H * W;
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const T d = dy[(nc * P + p) * Q + q];
        dxp[th.i0[p] * W + tw.i0[q]] += th.l0[p] * tw.l0[q] * d;
        dxp[th.i0[p] * W + tw.i1[q]] += th.l0[p] * tw.l1[q] * d;
        dxp[th.i1[p] * W + tw.i0[q]] += th.l1[p] * tw.l0[q] * d;
        dxp[th.i1[p] * W + tw.i1[q]] += th.l1[p] * tw.l1[q] * d;
      }
  }
}

}  // namespace reference

// ---------------------------------------------------------------------------------------------
template <typename T>
void upsample_nearest_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                              double scale_h, double scale_w, const T* x, T* y) {
  const std::vector<int64_t> sh = nearest_taps(H, P, scale_h), sw = nearest_taps(W, Q, scale_w);
  const int64_t* src_w = sw.data();
  const int64_t rows = N * C * P;
#pragma omp parallel for schedule(static) if (rows * Q > kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t nc = row / P, p = row % P;
    const T* xr = x + (nc * H + sh[p]) * W;
    T* yr = y + row * Q;
    for (int64_t q = 0; q < Q; ++q) yr[q] = xr[src_w[q]];
  }
}

// Scatter, one plane per thread; each dx element sums its dy in (p, q) raster order, as ATen.
template <typename T>
void upsample_nearest_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                               double scale_h, double scale_w, const T* dy, T* dx) {
  const std::vector<int64_t> sh = nearest_taps(H, P, scale_h), sw = nearest_taps(W, Q, scale_w);
  const int64_t* src_w = sw.data();
  const int64_t planes = N * C;
#pragma omp parallel for schedule(static) if (planes * P * Q > kParallelMin)
  for (int64_t nc = 0; nc < planes; ++nc) {
    T* dxp = dx + nc * H * W;
    std::fill(dxp, dxp + H * W, T(0));
    for (int64_t p = 0; p < P; ++p) {
      const T* d = dy + (nc * P + p) * Q;
      T* r = dxp + sh[p] * W;
      for (int64_t q = 0; q < Q; ++q) r[src_w[q]] += d[q];
    }
  }
}

// ---------------------------------------------------------------------------------------------
#define ABBE_INSTANTIATE_RESAMPLE(T)                                                               \
  template void pixel_shuffle_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*,    \
                                         T*);                                                      \
  template void pixel_shuffle_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*,   \
                                          T*);                                                     \
  template void pixel_unshuffle_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*,  \
                                           T*);                                                    \
  template void pixel_unshuffle_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, \
                                            T*);                                                   \
  template void upsample_bilinear_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                             bool, double, double, const T*, T*);                  \
  template void upsample_bilinear_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                              int64_t, bool, double, double, const T*, T*);        \
  template void reference::upsample_bilinear_forward<T>(                                           \
      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, double, double, const T*, T*);   \
  template void reference::upsample_bilinear_backward<T>(                                          \
      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, double, double, const T*, T*);   \
  template void upsample_nearest_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                            double, double, const T*, T*);                         \
  template void upsample_nearest_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                             double, double, const T*, T*);
ABBE_INSTANTIATE_RESAMPLE(float)
ABBE_INSTANTIATE_RESAMPLE(double)
#undef ABBE_INSTANTIATE_RESAMPLE

}  // namespace abbe::kernels::cpu
