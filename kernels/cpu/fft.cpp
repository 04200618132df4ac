// FFTs (see fft.h): the 2-D drivers and the 1-D batch around the engine of fft_plan.h.
// B = batch, n = 1-D length, H,W = 2-D dims, K = W/2 + 1, M = W/2 (even W), V = lanes, E = 2V.
//
// The engine transforms blocks of V sequences in lanes (fft_plan.h). rfft2 runs, per image, the
// real FFT of each block of V rows (even W: the half-length complex FFT and its untangling), then
// the complex FFT of each block of V columns; irfft2 the columns first, into a per-image (H, K)
// intermediate, then the rows. Gathers and scatters move a block between the image and the lanes
// (a small transpose through L1).
#include "kernels/cpu/fft.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "graph/error.h"
#include "kernels/cpu/fft_plan.h"

namespace abbe::kernels::cpu {
namespace {

using fft_detail::Cx;
using fft_detail::kLanes;
using fft_detail::kTailLanes;
using fft_detail::plan;
using fft_detail::Plan;
using fft_detail::row_plan;
using fft_detail::RowPlan;
using fft_detail::run;

// Below this many real elements per call one thread does all the work.
constexpr int64_t kParallelMin = int64_t{1} << 14;

// ---------------------------------------------------------------------------------------------
// Drivers: blocks of lanes, gathers and scatters.

// n items (rows, columns, sequences) in blocks: kLanes items each, then kTailLanes each for the
// rest (the last one partial). Block t of block_count(n): f.template operator()<V>(first, count).
template <typename T>
int64_t block_count(int64_t n) {
  const int64_t full = n / kLanes<T>;
  return full + (n - full * kLanes<T> + kTailLanes<T> - 1) / kTailLanes<T>;
}

template <typename T, typename F>
void block(int64_t n, int64_t t, const F& f) {
  constexpr int L = kLanes<T>, S = kTailLanes<T>;
  const int64_t full = n / L;
  if (t < full) return f.template operator()<L>(t * L, int64_t{L});
  const int64_t first = full * L + (t - full) * S;
  f.template operator()<S>(first, std::min<int64_t>(S, n - first));
}

// Lanes <- `count` complex sequences of `len` elements, sequence v at src + v*vs, element e at
// + e*es (T units, (re, im) adjacent); lanes >= count are zero. Full blocks take a branch-free
// loop, which the compiler vectorises.
template <int V, typename T>
void gather(int64_t len, int64_t count, const T* src, int64_t vs, int64_t es, T* a) {
  constexpr int64_t E = 2 * V;
  if (count < V) std::fill(a, a + E * len, T(0));
  for (int64_t e = 0; e < len; ++e) {
    const T* x = src + e * es;
    T* y = a + E * e;
    if (count == V) {
      ABBE_FFT_LANES
      for (int64_t v = 0; v < V; ++v) y[v] = x[v * vs], y[V + v] = x[v * vs + 1];
    } else {
      for (int64_t v = 0; v < count; ++v) y[v] = x[v * vs], y[V + v] = x[v * vs + 1];
    }
  }
}

template <int V, typename T>
void scatter(int64_t len, int64_t count, const T* a, T* dst, int64_t vs, int64_t es) {
  constexpr int64_t E = 2 * V;
  for (int64_t e = 0; e < len; ++e) {
    const T* x = a + E * e;
    T* y = dst + e * es;
    if (count == V) {
      ABBE_FFT_LANES
      for (int64_t v = 0; v < V; ++v) y[v * vs] = x[v], y[v * vs + 1] = x[V + v];
    } else {
      for (int64_t v = 0; v < count; ++v) y[v * vs] = x[v], y[v * vs + 1] = x[V + v];
    }
  }
}

// Runs the two phases of every image b < B: phase1(buf, img, b, t) for t < n1, then
// phase2(buf, img, b, t) for t < n2. buf: `scratch` T per thread; img: `img_size` T per image in
// flight (irfft2's intermediate). With several threads, whole images go to threads when there are
// enough of them, otherwise the blocks of each phase are split; the blocks are the same either way.
template <typename T, typename F1, typename F2>
void for_images(int64_t B, int64_t n1, int64_t n2, int64_t img_size, int64_t scratch, bool parallel, const F1& phase1,
                const F2& phase2) {
  const int threads = parallel && !omp_in_parallel() ? omp_get_max_threads() : 1;
  auto image = [&](T* buf, T* img, int64_t b) {
    for (int64_t t = 0; t < n1; ++t) phase1(buf, img, b, t);
    for (int64_t t = 0; t < n2; ++t) phase2(buf, img, b, t);
  };
  if (threads <= 1) {
    std::vector<T> buf(scratch + img_size);
    for (int64_t b = 0; b < B; ++b) image(buf.data(), buf.data() + scratch, b);
  } else if (B % threads == 0 || B >= 4 * threads) {
#pragma omp parallel num_threads(threads)
    {
      std::vector<T> buf(scratch + img_size);
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; ++b) image(buf.data(), buf.data() + scratch, b);
    }
  } else {
    std::vector<T> img(img_size);
    for (int64_t b = 0; b < B; ++b) {
#pragma omp parallel num_threads(threads)
      {
        std::vector<T> buf(scratch);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n1; ++t) phase1(buf.data(), img.data(), b, t);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n2; ++t) phase2(buf.data(), img.data(), b, t);
      }
    }
  }
}

// rfft2, one block of `count` rows: x rows (W) -> X rows (K complex). buf: (n + scratch + K) x 2V.
template <int V, typename T>
void rfft_rows(const RowPlan<T>& rp, int64_t count, const T* x, T* X, T* buf) {
  constexpr int64_t E = 2 * V;
  const int64_t W = rp.W, n = rp.n, K = W / 2 + 1;
  T *a = buf, *s = a + E * n, *o = s + E * rp.c->scratch();
  if (W % 2 == 0) {
    const int64_t M = n;
    gather<V>(M, count, x, W, 2, a);  // z[m] = x[2m] + i x[2m+1]
    const T* z = run<V, false>(*rp.c, a, s);
    // X[k] = Ze[k] + w[k] Zo[k]: Ze = (Z[k] + conj Z[M-k]) / 2 and Zo = (Z[k] - conj Z[M-k]) / 2i
    // are the spectra of the even and odd samples; X[0] and X[M] are real.
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      o[v] = z[v] + z[V + v], o[V + v] = 0;
      o[E * M + v] = z[v] - z[V + v], o[E * M + V + v] = 0;
    }
    for (int64_t k = 1; k < M; ++k) {
      const Cx<T> w = rp.w[k];
      const T *A = z + E * k, *Bz = z + E * (M - k);
      T* y = o + E * k;
      ABBE_FFT_LANES
      for (int v = 0; v < V; ++v) {
        const T er = T(0.5) * (A[v] + Bz[v]), ei = T(0.5) * (A[V + v] - Bz[V + v]);
        const T dr = T(0.5) * (A[V + v] + Bz[V + v]), di = T(0.5) * (Bz[v] - A[v]);
        y[v] = er + w.r * dr - w.i * di, y[V + v] = ei + w.r * di + w.i * dr;
      }
    }
  } else {
    std::fill(a, a + E * W, T(0));
    for (int64_t v = 0; v < count; ++v)
      for (int64_t m = 0; m < W; ++m) a[E * m + v] = x[v * W + m];
    o = run<V, false>(*rp.c, a, s);
  }
  scatter<V>(K, count, o, X, 2 * K, 2);
}

// irfft2, one block of `count` rows: Y rows (K complex) -> x rows (W) times `scale`.
// buf: (K + n + scratch) x 2V.
template <int V, typename T>
void irfft_rows(const RowPlan<T>& rp, int64_t count, const T* Y, T* x, T scale, T* buf) {
  constexpr int64_t E = 2 * V;
  const int64_t W = rp.W, n = rp.n, K = W / 2 + 1;
  T *g = buf, *a = g + E * K, *s = a + E * n;
  gather<V>(K, count, Y, 2 * K, 2, g);
  if (W % 2 == 0) {
    // The inverse of rfft_rows' untangling, z[k] = E[k] + i O[k] with E = Y[k] + conj Y[M-k] and
    // O = (Y[k] - conj Y[M-k]) conj w[k]; only the real parts of Y[0] and Y[M] enter.
    const int64_t M = n;
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      const T r0 = g[v], rm = g[E * M + v];
      a[v] = r0 + rm, a[V + v] = r0 - rm;
    }
    for (int64_t k = 1; k < M; ++k) {
      const Cx<T> w = rp.w[k];
      const T *A = g + E * k, *Bz = g + E * (M - k);
      T* y = a + E * k;
      ABBE_FFT_LANES
      for (int v = 0; v < V; ++v) {
        const T er = A[v] + Bz[v], ei = A[V + v] - Bz[V + v];
        const T dr = A[v] - Bz[v], di = A[V + v] + Bz[V + v];
        const T or_ = dr * w.r + di * w.i, oi = di * w.r - dr * w.i;
        y[v] = er - oi, y[V + v] = ei + or_;
      }
    }
    const T* z = run<V, true>(*rp.c, a, s);
    for (int64_t v = 0; v < count; ++v) {
      T* row = x + v * W;
      for (int64_t m = 0; m < M; ++m) row[2 * m] = z[E * m + v] * scale, row[2 * m + 1] = z[E * m + V + v] * scale;
    }
  } else {
    // The Hermitian extension a[W-k] = conj Y[k], with Y[0] made real.
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) a[v] = g[v], a[V + v] = 0;
    for (int64_t k = 1; k < K; ++k) {
      ABBE_FFT_LANES
      for (int v = 0; v < V; ++v) {
        a[E * k + v] = g[E * k + v], a[E * k + V + v] = g[E * k + V + v];
        a[E * (W - k) + v] = g[E * k + v], a[E * (W - k) + V + v] = -g[E * k + V + v];
      }
    }
    const T* z = run<V, true>(*rp.c, a, s);
    for (int64_t v = 0; v < count; ++v) {
      T* row = x + v * W;
      for (int64_t m = 0; m < W; ++m) row[m] = z[E * m + v] * scale;
    }
  }
}

// Complex FFT along H of columns c0 .. c0+count-1 of an (H, K) complex image, src -> dst (may be
// the same). buf: (H + scratch) x 2V.
template <int V, bool Inv, typename T>
void fft_columns(const Plan<T>& p, int64_t K, int64_t c0, int64_t count, const T* src, T* dst, T* buf) {
  const int64_t H = p.n;
  T *a = buf, *s = a + 2 * V * H;
  gather<V>(H, count, src + 2 * c0, 2, 2 * K, a);
  const T* z = run<V, Inv>(p, a, s);
  scatter<V>(H, count, z, dst + 2 * c0, 2, 2 * K);
}

}  // namespace

template <typename T>
void fft(int64_t B, int64_t n, const T* x, T* y, bool inverse) {
  ABBE_CHECK(B >= 0 && n >= 1, "fft: need B >= 0 and n >= 1, got B=", B, " n=", n);
  if (B == 0) return;
  const Plan<T>& p = plan<T>(n);
  const int64_t scratch = 2 * kLanes<T> * (n + p.scratch()), blocks = block_count<T>(B);
  const int threads = B * n >= kParallelMin && !omp_in_parallel() ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> buf(scratch);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < blocks; ++t)
      block<T>(B, t, [&]<int V>(int64_t b0, int64_t count) {
        gather<V>(n, count, x + 2 * n * b0, 2 * n, 2, buf.data());
        const T* z = run<V>(p, inverse, buf.data(), buf.data() + 2 * V * n);
        scatter<V>(n, count, z, y + 2 * n * b0, 2 * n, 2);
      });
  }
}

template <typename T>
void rfft2(int64_t B, int64_t H, int64_t W, const T* x, T* X) {
  ABBE_CHECK(B >= 0 && H >= 1 && W >= 1, "rfft2: need B >= 0, H >= 1, W >= 1, got (", B, ", ", H, ", ", W, ")");
  const int64_t K = W / 2 + 1;
  const RowPlan<T>& rp = row_plan<T>(W);
  const Plan<T>& cp = plan<T>(H);
  const int64_t scratch = 2 * kLanes<T> * (std::max(rp.n, H) + std::max(rp.c->scratch(), cp.scratch()) + K);
  auto rows = [&](T* buf, T*, int64_t b, int64_t t) {
    block<T>(H, t, [&]<int V>(int64_t h0, int64_t count) {
      rfft_rows<V>(rp, count, x + (b * H + h0) * W, X + (b * H + h0) * 2 * K, buf);
    });
  };
  auto columns = [&](T* buf, T*, int64_t b, int64_t t) {
    block<T>(K, t, [&]<int V>(int64_t c0, int64_t count) {
      T* img = X + b * H * 2 * K;
      fft_columns<V, false>(cp, K, c0, count, img, img, buf);
      // Structurally real bins: exactly +0.0, whatever the rounding of row H/2 left there.
      for (const int64_t c : {int64_t{0}, W % 2 == 0 ? K - 1 : int64_t{-1}})
        if (c >= c0 && c < c0 + count) {
          img[2 * c + 1] = 0;
          if (H % 2 == 0) img[(H / 2 * K + c) * 2 + 1] = 0;
        }
    });
  };
  for_images<T>(B, block_count<T>(H), block_count<T>(K), 0, scratch, B * H * W >= kParallelMin, rows, columns);
}

template <typename T>
void irfft2(int64_t B, int64_t H, int64_t W, const T* X, T* x) {
  ABBE_CHECK(B >= 0 && H >= 1 && W >= 1, "irfft2: need B >= 0, H >= 1, W >= 1, got (", B, ", ", H, ", ", W, ")");
  const int64_t K = W / 2 + 1;
  const RowPlan<T>& rp = row_plan<T>(W);
  const Plan<T>& cp = plan<T>(H);
  const T scale = static_cast<T>(1.0 / (static_cast<double>(H) * static_cast<double>(W)));
  const int64_t scratch = 2 * kLanes<T> * (K + std::max(rp.n, H) + std::max(rp.c->scratch(), cp.scratch()));
  // Y = the image after the inverse along H, (H, K) complex.
  auto columns = [&](T* buf, T* Y, int64_t b, int64_t t) {
    block<T>(K, t, [&]<int V>(int64_t c0, int64_t count) {
      fft_columns<V, true>(cp, K, c0, count, X + b * H * 2 * K, Y, buf);
    });
  };
  auto rows = [&](T* buf, T* Y, int64_t b, int64_t t) {
    block<T>(H, t, [&]<int V>(int64_t h0, int64_t count) {
      irfft_rows<V>(rp, count, Y + h0 * 2 * K, x + (b * H + h0) * W, scale, buf);
    });
  };
  for_images<T>(B, block_count<T>(K), block_count<T>(H), H * 2 * K, scratch, B * H * W >= kParallelMin, columns,
                rows);
}

template void fft<float>(int64_t, int64_t, const float*, float*, bool);
template void fft<double>(int64_t, int64_t, const double*, double*, bool);
template void rfft2<float>(int64_t, int64_t, int64_t, const float*, float*);
template void rfft2<double>(int64_t, int64_t, int64_t, const double*, double*);
template void irfft2<float>(int64_t, int64_t, int64_t, const float*, float*);
template void irfft2<double>(int64_t, int64_t, int64_t, const double*, double*);

}  // namespace abbe::kernels::cpu
