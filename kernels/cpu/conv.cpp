#include "kernels/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "kernels/cpu/gemm.h"

// Fast paths, all gemm-based, all checked against conv2d_forward_reference by the tests:
// 1. im2col tiles (any shape). For image n, group g and a tile of output rows [p0, p1), the input
//    patches the tile reads are lowered to col (CRS, T Q), CRS = C/G R S, T = p1 - p0:
//      forward          y[n,g][:, tile] (K/G, T Q)  = w[g] (K/G, CRS) * col
//      backward_weight  dw[g] (K/G, CRS)           += dy[n,g][:, tile] * col^T
//      backward_data    dcol (CRS, T Q)             = w[g]^T * dy[n,g][:, tile], then col2im
//    Tiles keep col in L2 (not a 37 MB CRS x PQ buffer at 64 channels, 3x3, 128x128) and run in
//    parallel, one single-threaded gemm each. For a 1x1 stride-1 unpadded conv x[n,g] is col.
// 2. Winograd F(2x2, 3x3) for 3x3 stride-1 undilated convs with >= 16 input channels per group
//    (the bulk of the SR nets): 16 instead of 36 multiply-adds per 4 outputs and (k, c).
// 3. A stride-1 backward_data is the forward conv of dy with flipped weights, so it takes 1 or 2.
// The transposed conv reuses these with roles swapped (its forward is conv's backward_data).

namespace abbe::kernels::cpu {
namespace {

// Scratch memory, kept per calling thread and reused across calls: a fresh multi-MiB allocation
// is a fresh mmap whose page faults cost more than the work at 64x64 (0.9 of 2.6 ms with two
// threads). Each buffer keeps its high-water mark; concurrent callers never share one.
enum Workspace { kScratch, kPartial, kWeights, kFlipped, kChannelsLast, kWorkspaces };
template <typename T>
T* workspace(Workspace which, int64_t n) {
  thread_local std::vector<T> buffers[kWorkspaces];
  std::vector<T>& b = buffers[which];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Calls f(item, scratch) for item in [0, items): in parallel, each thread with its own
// scratch_elems of scratch, when there is an item per thread; otherwise on the caller, where
// gemm spreads each product over the threads itself.
template <typename T, typename F>
void for_each_item(int64_t items, int64_t scratch_elems, F&& f) {
  const int threads = omp_get_max_threads();
  const bool parallel = threads > 1 && items >= threads;
  const int used = parallel ? threads : 1;
  T* scratch = workspace<T>(kScratch, used * scratch_elems);  // here: no throw inside omp
  if (!parallel) {
    for (int64_t i = 0; i < items; ++i) f(i, scratch);
    return;
  }
#pragma omp parallel num_threads(used)
  {
    T* mine = scratch + omp_get_thread_num() * scratch_elems;
#pragma omp for schedule(dynamic)
    for (int64_t i = 0; i < items; ++i) f(i, mine);
  }
}

// Weight gradients sum over all items. The items are cut into at most kSlots contiguous runs of
// at least 2 (fewer buffers to add up on small inputs), each summed in order into its own buffer,
// and the buffers are added in run order: the result is bitwise the same for any thread count
// and schedule, so training runs are reproducible.
constexpr int64_t kSlots = 8;

struct Slots {
  int64_t per, count;  // items per run, runs
};
Slots slots_for(int64_t items) {
  const int64_t per = std::max<int64_t>(2, (items + kSlots - 1) / kSlots);
  return {per, (items + per - 1) / per};
}

// Zeroes run r's buffer partial + r psize, then calls f(item, buffer, scratch) for its items.
template <typename T, typename F>
void for_each_item_by_slot(int64_t items, int64_t scratch_elems, T* partial, int64_t psize,
                           F&& f) {
  const Slots sl = slots_for(items);
  for_each_item<T>(sl.count, scratch_elems, [&](int64_t r, T* scratch) {
    T* sum = partial + r * psize;
    std::fill(sum, sum + psize, T(0));
    for (int64_t i = r * sl.per; i < std::min(items, (r + 1) * sl.per); ++i) f(i, sum, scratch);
  });
}

// out (n) = sum of the runs' buffers partial (runs, n), in run order.
template <typename T>
void sum_slots(int64_t n, int64_t runs, const T* partial, T* out) {
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    T sum = 0;
    for (int64_t r = 0; r < runs; ++r) sum += partial[r * n + i];
    out[i] = sum;
  }
}

// Chunk size for splitting `count` units (rows, tiles) of each of `images` (n, g) pairs: `size`,
// or smaller (not below `floor`) so that small inputs still give kMinChunks chunks to balance
// over the threads. Independent of the thread count, like everything that shapes the gemms, so
// that results are too.
constexpr int64_t kMinChunks = 8;
int64_t chunk_size(int64_t count, int64_t images, int64_t size, int64_t floor) {
  if (images < kMinChunks) {
    const int64_t each = (kMinChunks + images - 1) / images;
    size = std::min(size, std::max(floor, (count + each - 1) / each));
  }
  return std::clamp<int64_t>(size, 1, std::max<int64_t>(count, 1));
}

// y (N, K, PQ) += bias[k].
template <typename T>
void add_bias(int64_t N, int64_t K, int64_t PQ, const T* bias, T* y) {
#pragma omp parallel for schedule(static) if (N * K * PQ > 65536)
  for (int64_t nk = 0; nk < N * K; ++nk) {
    const T b = bias[nk % K];
    T* row = y + nk * PQ;
    for (int64_t i = 0; i < PQ; ++i) row[i] += b;
  }
}

// db[k] = sum over n and PQ of dy (N, K, PQ).
template <typename T>
void sum_bias_grad(int64_t N, int64_t K, int64_t PQ, const T* dy, T* db) {
#pragma omp parallel for schedule(static) if (N * K * PQ > 65536)
  for (int64_t k = 0; k < K; ++k) {
    // A float sum of N P Q (~1e5) terms would lose digits. The simd reduction keeps one double
    // per lane (a fixed order for a given build, whatever the thread count).
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = dy + (n * K + k) * PQ;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < PQ; ++i) acc += row[i];
    }
    db[k] = static_cast<T>(acc);
  }
}

// --- 1. im2col tiles -----------------------------------------------------------------------------

// Bytes of col per tile. Timings are flat from ~0.4 to 1.5 MiB on a 2 MiB-L2 Xeon; 128 KiB tiles
// (thin gemms) and 4 MiB ones (col leaves L2) are up to 1.5x slower.
constexpr int64_t kTileBytes = int64_t{768} << 10;

struct Tiling {
  int64_t Cg, Kg, CRS, P, Q, PQ, HW;
  bool direct;                // 1x1, stride 1, no padding: col is x[n,g] itself
  int64_t rows, tiles, items;  // output rows per tile, tiles per (n, g), N G tiles
};

// min_rows: a floor on rows per tile (see conv2d_backward_data).
Tiling plan(const Conv2dShape& s, int64_t elem_bytes, int64_t min_rows) {
  const int64_t Cg = s.C / s.groups, CRS = Cg * s.R * s.S, P = s.P(), Q = s.Q();
  const bool direct = s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 &&
                      s.pad_h == 0 && s.pad_w == 0;
  const int64_t budget = std::max<int64_t>(1, kTileBytes / std::max<int64_t>(1, CRS * Q * elem_bytes));
  const int64_t rows = std::min(std::max(chunk_size(P, s.N * s.groups, budget, 1), min_rows),
                                std::max<int64_t>(P, 1));
  const int64_t tiles = (P + rows - 1) / rows;
  return {Cg, s.K / s.groups, CRS, P, Q, P * Q, s.H * s.W, direct, rows, tiles,
          s.N * s.groups * tiles};
}

// Range [lo, hi) of the q in [0, Q) whose input column q stride + off lies in [0, W).
void valid_q(int64_t off, int64_t stride, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = std::min(Q, off >= 0 ? 0 : (-off + stride - 1) / stride);
  hi = std::clamp(W - 1 - off < 0 ? 0 : (W - 1 - off) / stride + 1, lo, Q);
}

// x (C/G, H, W) of one image and group -> col (C/G R S, (p1-p0) Q) for output rows [p0, p1).
template <typename T>
void im2col(const Conv2dShape& s, int64_t Cg, int64_t Q, const T* x, int64_t p0, int64_t p1,
            T* col) {
  const int64_t ld = (p1 - p0) * Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t ks = 0; ks < s.S; ++ks) {
        const int64_t off = ks * s.dil_w - s.pad_w;
        int64_t q_lo, q_hi;
        valid_q(off, s.stride_w, s.W, Q, q_lo, q_hi);
        T* row = col + ((c * s.R + r) * s.S + ks) * ld;
        for (int64_t p = p0; p < p1; ++p) {
          T* d = row + (p - p0) * Q;
          const int64_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (h < 0 || h >= s.H) {
            std::fill(d, d + Q, T(0));
            continue;
          }
          const T* src = x + (c * s.H + h) * s.W;
          std::fill(d, d + q_lo, T(0));
          if (s.stride_w == 1) {
            std::copy(src + (q_lo + off), src + (q_hi + off), d + q_lo);
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) d[q] = src[q * s.stride_w + off];
          }
          std::fill(d + q_hi, d + Q, T(0));
        }
      }
}

// The adjoint of im2col: col (C/G R S, (p1-p0) Q) is added into dx (C/G, H, W).
template <typename T>
void col2im(const Conv2dShape& s, int64_t Cg, int64_t Q, const T* col, int64_t p0, int64_t p1,
            T* dx) {
  const int64_t ld = (p1 - p0) * Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t ks = 0; ks < s.S; ++ks) {
        const int64_t off = ks * s.dil_w - s.pad_w;
        int64_t q_lo, q_hi;
        valid_q(off, s.stride_w, s.W, Q, q_lo, q_hi);
        const T* row = col + ((c * s.R + r) * s.S + ks) * ld;
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
          if (h < 0 || h >= s.H) continue;
          const T* d = row + (p - p0) * Q;
          T* dst = dx + (c * s.H + h) * s.W;
          for (int64_t q = q_lo; q < q_hi; ++q) dst[q * s.stride_w + off] += d[q];
        }
      }
}

// --- 2. Winograd F(2x2, 3x3) -----------------------------------------------------------------------
// Each 2x2 output tile is y = A^T [(G w G^T) .* (B^T d B)] A, d the 4x4 input patch, w the 3x3
// kernel, summed over c. With U = G w G^T (16, K/G, C/G) once per call and, per block of T tiles,
// V = B^T d B (16, C/G, T), the sum over c is 16 gemms M[xi] (K/G, T) = U[xi] * V[xi], and
// y = A^T M A. backward_weight is the adjoint in w: dU[xi] = sum over tiles of
// (A dy A^T)[xi] V[xi]^T, dw = G^T dU G. The matrices hold only 0, +-1, +-1/2, so the rounding
// error stays close to the direct sum's (the tests hold it to the same tolerance).
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// The loops over a row of tiles are small functions with restrict parameters: GCC vectorizes
// them, and does not vectorize the same loops written with row offsets from one pointer.

// When Winograd pays, from single-threaded timings at 128x128 (channels in -> out): forward
// needs C/G >= 16 (2 -> 32 and 4 -> 64 are 1.5-2x faster with im2col, 64 -> 1, 8 and 16 are
// 1.2-2.3x faster with Winograd); the weight gradient also needs K/G <= 2 C/G (its gemms are
// the slower transposed kind; 16 -> 64 and 8 -> 64 are faster with im2col).
bool winograd_geometry(const Conv2dShape& s) {
  return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 &&
         s.dil_w == 1 && s.C / s.groups >= 16;
}
bool use_winograd_forward(const Conv2dShape& s) { return winograd_geometry(s); }
bool use_winograd_weight(const Conv2dShape& s) {
  return winograd_geometry(s) && s.K / s.groups <= 2 * (s.C / s.groups);
}

// U = G w G^T is linear in w: U[4i+j] = sum_{r,s} Gw[4i+j][3r+s] w[r][s], Gw = G (x) G. So the
// weight transform of a group is one gemm, U (16, K/G C/G) = Gw (16, 9) * w^T, and its adjoint
// dw = G^T dU G the transposed one. (Per-kernel loops writing U's 16 planes are 5x slower: the
// planes are 16 KiB apart and thrash one L1 set.)
template <typename T>
std::array<T, 144> winograd_weight_matrix() {
  const T G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  std::array<T, 144> Gw{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) Gw[(4 * i + j) * 9 + 3 * r + c] = G[i][r] * G[j][c];
  return Gw;
}

// w (K, C/G, 3, 3) -> U (G, 16, K/G, C/G).
template <typename T>
void winograd_weights(const Conv2dShape& s, const T* w, T* U) {
  const auto Gw = winograd_weight_matrix<T>();
  const int64_t n = (s.K / s.groups) * (s.C / s.groups);
  for (int64_t g = 0; g < s.groups; ++g)
    gemm<T>(false, true, 16, n, 9, T(1), Gw.data(), 9, w + g * n * 9, 9, T(0), U + g * 16 * n, n);
}

// dU (G, 16, K/G, C/G) -> dw (K, C/G, 3, 3).
template <typename T>
void winograd_weights_grad(const Conv2dShape& s, const T* dU, T* dw) {
  const auto Gw = winograd_weight_matrix<T>();
  const int64_t n = (s.K / s.groups) * (s.C / s.groups);
  for (int64_t g = 0; g < s.groups; ++g)
    gemm<T>(true, false, n, 9, 16, T(1), dU + g * 16 * n, n, Gw.data(), 9, T(0), dw + g * n * 9, 9);
}

// b = B^T d down the columns of 4 input rows d0..d3 of length L.
template <typename T>
void bt_rows(int64_t L, const T* __restrict__ d0, const T* __restrict__ d1,
             const T* __restrict__ d2, const T* __restrict__ d3, T* __restrict__ b0,
             T* __restrict__ b1, T* __restrict__ b2, T* __restrict__ b3) {
  for (int64_t j = 0; j < L; ++j) {
    b0[j] = d0[j] - d2[j];
    b1[j] = d1[j] + d2[j];
    b2[j] = d2[j] - d1[j];
    b3[j] = d1[j] - d3[j];
  }
}

// v = a B for the len tiles along one row a (2 len + 2) of B^T d; tile t covers a[2t .. 2t+3].
template <typename T>
void b_cols(int64_t len, const T* __restrict__ a, T* __restrict__ v0, T* __restrict__ v1,
            T* __restrict__ v2, T* __restrict__ v3) {
  for (int64_t t = 0; t < len; ++t) {
    const T a0 = a[2 * t], a1 = a[2 * t + 1], a2 = a[2 * t + 2], a3 = a[2 * t + 3];
    v0[t] = a0 - a2;
    v1[t] = a1 + a2;
    v2[t] = a2 - a1;
    v3[t] = a1 - a3;
  }
}

// A^T m down one tile column: top = m0 + m1 + m2, bottom = m1 - m2 - m3, for len tiles.
template <typename T>
void at_rows(int64_t len, const T* __restrict__ m0, const T* __restrict__ m1,
             const T* __restrict__ m2, const T* __restrict__ m3, T* __restrict__ top,
             T* __restrict__ bottom) {
  for (int64_t t = 0; t < len; ++t) {
    top[t] = m0[t] + m1[t] + m2[t];
    bottom[t] = m1[t] - m2[t] - m3[t];
  }
}

// One output row of len tiles, r A + bias: out[2t] = r0 + r1 + r2, out[2t+1] = r1 - r2 - r3,
// the first `width` values written; even and odd are len-long scratch.
template <typename T>
void a_cols(int64_t len, int64_t width, const T* __restrict__ r0, const T* __restrict__ r1,
            const T* __restrict__ r2, const T* __restrict__ r3, T bias, T* __restrict__ even,
            T* __restrict__ odd, T* __restrict__ out) {
  for (int64_t t = 0; t < len; ++t) {
    even[t] = r0[t] + r1[t] + r2[t] + bias;
    odd[t] = r1[t] - r2[t] - r3[t] + bias;
  }
  const int64_t pairs = width / 2;
  for (int64_t t = 0; t < pairs; ++t) {
    out[2 * t] = even[t];
    out[2 * t + 1] = odd[t];
  }
  if (width % 2) out[width - 1] = even[pairs];
}

// even[t] = row[2t], odd[t] = row[2t+1] for the first n values of row.
template <typename T>
void deinterleave(int64_t n, const T* __restrict__ row, T* __restrict__ even, T* __restrict__ odd) {
  for (int64_t t = 0; t < n / 2; ++t) {
    even[t] = row[2 * t];
    odd[t] = row[2 * t + 1];
  }
  if (n % 2) even[n / 2] = row[n - 1];
}

// x = A [u v]^T per tile: x0 = u, x1 = u + v, x2 = u - v, x3 = -v.
template <typename T>
void a_expand(int64_t len, const T* __restrict__ u, const T* __restrict__ v, T* __restrict__ x0,
              T* __restrict__ x1, T* __restrict__ x2, T* __restrict__ x3) {
  for (int64_t t = 0; t < len; ++t) {
    x0[t] = u[t];
    x1[t] = u[t] + v[t];
    x2[t] = u[t] - v[t];
    x3[t] = -v[t];
  }
}

// Tiles are numbered row-major over the (P/2, TX) tile grid; a block [t0, t0 + n) is walked in
// segments that stay within one tile row.
struct Segment {
  int64_t done, ty, tx, len;
};
template <typename F>
void for_each_segment(int64_t TX, int64_t t0, int64_t n, F&& f) {
  for (int64_t done = 0; done < n;) {
    const int64_t ty = (t0 + done) / TX, tx = (t0 + done) % TX, len = std::min(n - done, TX - tx);
    f(Segment{done, ty, tx, len});
    done += len;
  }
}

// x (C/G, H, W) of tiles [t0, t0 + n) -> V = B^T d B: 16 (C/G, ldv) planes xs apart.
// B^T d is taken straight from the image rows over the columns inside the image, with a row of
// zeros for rows outside it (copying the rows into a zero-padded buffer first cost a third of
// the transform). buf: 5 (2 n + 2) values.
template <typename T>
void winograd_input(const Conv2dShape& s, int64_t Cg, int64_t TX, const T* x, int64_t t0,
                    int64_t n, T* V, int64_t ldv, int64_t xs, T* buf) {
  for_each_segment(TX, t0, n, [&](const Segment& sg) {
    const int64_t L = 2 * sg.len + 2, w0 = 2 * sg.tx - s.pad_w;
    int64_t lo, hi;  // columns [lo, hi) of a patch row lie inside the image
    valid_q(w0, 1, s.W, L, lo, hi);
    T* zero = buf;        // (L) the rows outside the image
    T* bt = buf + L;      // (4, L) B^T d; zero outside [lo, hi) for every channel
    std::fill(buf, buf + 5 * L, T(0));
    for (int64_t c = 0; c < Cg; ++c) {
      const T* r[4];
      for (int i = 0; i < 4; ++i) {
        const int64_t h = 2 * sg.ty - s.pad_h + i;
        r[i] = h < 0 || h >= s.H ? zero + lo : x + (c * s.H + h) * s.W + w0 + lo;
      }
      bt_rows(hi - lo, r[0], r[1], r[2], r[3], bt + lo, bt + L + lo, bt + 2 * L + lo,
              bt + 3 * L + lo);
      for (int i = 0; i < 4; ++i) {
        T* v = V + 4 * i * xs + c * ldv + sg.done;
        b_cols(sg.len, bt + i * L, v, v + xs, v + 2 * xs, v + 3 * xs);
      }
    }
  });
}

// M (16 (K/G, ldm) planes xs apart) of tiles [t0, t0 + n) -> y (K/G, P, Q) = A^T M A + bias
// (K/G, or nullptr). buf: 10 n values.
template <typename T>
void winograd_output(int64_t Kg, int64_t P, int64_t Q, int64_t TX, const T* M, int64_t ldm,
                     int64_t xs, int64_t t0, int64_t n, const T* bias, T* y, T* buf) {
  for_each_segment(TX, t0, n, [&](const Segment& sg) {
    const int64_t len = sg.len, width = std::min(2 * len, Q - 2 * sg.tx);
    T* at = buf;  // (2, 4, len) A^T m
    for (int64_t k = 0; k < Kg; ++k) {
      for (int j = 0; j < 4; ++j) {
        const T* m = M + j * xs + k * ldm + sg.done;
        at_rows(len, m, m + 4 * xs, m + 8 * xs, m + 12 * xs, at + j * len, at + (4 + j) * len);
      }
      for (int i = 0; i < 2 && 2 * sg.ty + i < P; ++i) {
        const T* r = at + 4 * i * len;
        a_cols(len, width, r, r + len, r + 2 * len, r + 3 * len, bias ? bias[k] : T(0),
               buf + 8 * len, buf + 9 * len, y + (k * P + 2 * sg.ty + i) * Q + 2 * sg.tx);
      }
    }
  });
}

// dy (K/G, P, Q) of tiles [t0, t0 + n), zero beyond P and Q -> D = A dy A^T, the gradient of
// M: 16 (K/G, ldd) planes xs apart. buf: 12 n values.
template <typename T>
void winograd_grad_output(int64_t Kg, int64_t P, int64_t Q, int64_t TX, const T* dy, int64_t t0,
                          int64_t n, T* D, int64_t ldd, int64_t xs, T* buf) {
  for_each_segment(TX, t0, n, [&](const Segment& sg) {
    const int64_t len = sg.len, width = std::min(2 * len, Q - 2 * sg.tx);
    T* g = buf;            // (2 rows, even/odd column, len) the 2x2 dy of each tile
    T* h = buf + 4 * len;  // (2, 4, len) dy A^T
    for (int64_t k = 0; k < Kg; ++k) {
      for (int a = 0; a < 2; ++a) {
        T* even = g + 2 * a * len;
        T* odd = even + len;
        std::fill(even, even + 2 * len, T(0));
        if (2 * sg.ty + a < P) {
          const T* row = dy + (k * P + 2 * sg.ty + a) * Q + 2 * sg.tx;
          deinterleave(width, row, even, odd);
        }
        T* ha = h + 4 * a * len;
        a_expand(len, even, odd, ha, ha + len, ha + 2 * len, ha + 3 * len);
      }
      for (int j = 0; j < 4; ++j) {
        T* d = D + j * xs + k * ldd + sg.done;
        a_expand(len, h + j * len, h + (4 + j) * len, d, d + 4 * xs, d + 8 * xs, d + 12 * xs);
      }
    }
  });
}

// Tiles per block: a block's two 16-matrix stacks (16 (C/G + K/G) T values) fill ~half of L2.
constexpr int64_t kWinogradBlockBytes = int64_t{1} << 20;

struct WinogradPlan {
  int64_t Cg, Kg, P, Q, TX, tiles, block, blocks, items;
  int64_t vs, ms, scratch;  // strides of the V and M (or D) planes, scratch values per thread
};

WinogradPlan winograd_plan(const Conv2dShape& s, int64_t elem_bytes) {
  WinogradPlan w{};
  w.Cg = s.C / s.groups, w.Kg = s.K / s.groups, w.P = s.P(), w.Q = s.Q();
  w.TX = (w.Q + 1) / 2;
  w.tiles = (w.P + 1) / 2 * w.TX;
  const int64_t budget = kWinogradBlockBytes / (16 * (w.Cg + w.Kg) * elem_bytes);
  // At least 64 tiles and a multiple of 16 (OpenBLAS's small-gemm kernel works in 16-column
  // panels): 63-tile blocks, the budget of 64 -> 196 channels, made its backward_data 1.2-1.4x
  // slower than 64-tile ones, and 33-tile blocks (64 -> 432) 1.1-1.4x.
  const int64_t block = chunk_size(w.tiles, s.N * s.groups, std::max<int64_t>(64, budget), 16);
  w.block = std::min(w.tiles, (block + 15) / 16 * 16);
  w.blocks = (w.tiles + w.block - 1) / w.block;
  w.items = s.N * s.groups * w.blocks;
  // One cache line more than a plane: planes a multiple of 4 KiB apart (64 channels x 64 tiles)
  // share L1 sets, and the transforms stream through 4 of them at once (forward at 128x128 is
  // 1.1-1.2x slower without).
  w.vs = w.Cg * w.block + 16;
  w.ms = w.Kg * w.block + 16;
  w.scratch = 16 * (w.vs + w.ms) + 16 * w.block + 16;  // V, M, transform rows
  return w;
}

template <typename T>
void winograd_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const WinogradPlan p = winograd_plan(s, sizeof(T));
  const int64_t Cg = p.Cg, Kg = p.Kg;
  T* U = workspace<T>(kWeights, 16 * s.K * Cg);
  winograd_weights(s, w, U);
  for_each_item<T>(p.items, p.scratch, [&](int64_t item, T* buf) {
    const int64_t n = item / (s.groups * p.blocks), g = item / p.blocks % s.groups;
    const int64_t t0 = item % p.blocks * p.block, cnt = std::min(p.block, p.tiles - t0);
    T* V = buf;               // 16 planes (C/G, cnt)
    T* M = V + 16 * p.vs;     // 16 planes (K/G, cnt)
    T* rows = M + 16 * p.ms;
    winograd_input(s, Cg, p.TX, x + (n * s.C + g * Cg) * s.H * s.W, t0, cnt, V, cnt, p.vs, rows);
    const T* Ug = U + g * 16 * Kg * Cg;
    for (int xi = 0; xi < 16; ++xi)
      gemm<T>(false, false, Kg, cnt, Cg, T(1), Ug + xi * Kg * Cg, Cg, V + xi * p.vs, cnt, T(0),
              M + xi * p.ms, cnt);
    winograd_output(Kg, p.P, p.Q, p.TX, M, cnt, p.ms, t0, cnt, bias ? bias + g * Kg : nullptr,
                    y + (n * s.K + g * Kg) * p.P * p.Q, rows);
  });
}

// The weight gradient's products dU[xi] (K/G, C/G) += D[xi] (K/G, T) V[xi]^T would be
// transposed-B gemms, which OpenBLAS runs 1.4x slower than plain ones at these sizes (76 against
// 108 GFLOP/s for 64 x 64 x 128 on one core). So here V is made tile-major, Vt[xi] (T, C/G),
// from a channels-last copy of the image with a zero border, xt (Hp, Wp, C/G): every value of
// a tile's transform is then a contiguous run over the channels.

// Padded extent of the channels-last copy: the rows and columns all tiles read.
struct ChannelsLast {
  int64_t Hp, Wp, size;
};
ChannelsLast channels_last_extent(const WinogradPlan& p) {
  const int64_t Hp = 2 * ((p.P + 1) / 2) + 2, Wp = 2 * p.TX + 2;
  return {Hp, Wp, Hp * Wp * p.Cg};
}

// x (C, H, W) of one image -> xt (G, Hp, Wp, C/G): x[g C/G + c, h, w] at xt[g, h + pad_h,
// w + pad_w, c], zero elsewhere.
template <typename T>
void to_channels_last(const Conv2dShape& s, const WinogradPlan& p, const ChannelsLast& e,
                      const T* x, T* xt) {
  const int64_t Cg = p.Cg, rows = s.groups * e.Hp;
#pragma omp parallel for schedule(static) if (rows * e.Wp * Cg > 65536)
  for (int64_t gr = 0; gr < rows; ++gr) {
    const int64_t g = gr / e.Hp, h = gr % e.Hp - s.pad_h;
    T* out = xt + gr * e.Wp * Cg;
    if (h < 0 || h >= s.H) {
      std::fill(out, out + e.Wp * Cg, T(0));
      continue;
    }
    std::fill(out, out + s.pad_w * Cg, T(0));
    std::fill(out + (s.pad_w + s.W) * Cg, out + e.Wp * Cg, T(0));
    // 16 columns at a time: the 16 output pixels (16 C/G values) stay in L1 over the c loop.
    for (int64_t w0 = 0; w0 < s.W; w0 += 16) {
      const int64_t wn = std::min<int64_t>(16, s.W - w0);
      T* o = out + (s.pad_w + w0) * Cg;
      for (int64_t c = 0; c < Cg; ++c) {
        const T* src = x + ((g * Cg + c) * s.H + h) * s.W + w0;
        for (int64_t i = 0; i < wn; ++i) o[i * Cg + c] = src[i];
      }
    }
  }
}

// Tiles [t0, t0 + n) of xt (Hp, Wp, C/G) -> Vt = B^T d B: 16 (n, C/G) planes vs apart.
template <typename T>
void winograd_input_channels_last(int64_t Cg, int64_t Wp, int64_t TX, const T* xt, int64_t t0,
                                  int64_t n, T* __restrict__ Vt, int64_t vs) {
  const int64_t rs = Wp * Cg;  // between patch rows
  for (int64_t t = 0; t < n; ++t) {
    const int64_t ty = (t0 + t) / TX, tx = (t0 + t) % TX;
    const T* __restrict__ d = xt + (2 * ty * Wp + 2 * tx) * Cg;  // the patch's top left
    T* v = Vt + t * Cg;
#pragma omp simd
    for (int64_t c = 0; c < Cg; ++c) {
      T b[4][4];  // B^T d, down the patch's columns
      for (int j = 0; j < 4; ++j) {
        const T d0 = d[j * Cg + c], d1 = d[rs + j * Cg + c], d2 = d[2 * rs + j * Cg + c],
                d3 = d[3 * rs + j * Cg + c];
        b[0][j] = d0 - d2;
        b[1][j] = d1 + d2;
        b[2][j] = d2 - d1;
        b[3][j] = d1 - d3;
      }
      for (int i = 0; i < 4; ++i) {  // (B^T d) B, along each row
        v[(4 * i) * vs + c] = b[i][0] - b[i][2];
        v[(4 * i + 1) * vs + c] = b[i][1] + b[i][2];
        v[(4 * i + 2) * vs + c] = b[i][2] - b[i][1];
        v[(4 * i + 3) * vs + c] = b[i][1] - b[i][3];
      }
    }
  }
}

template <typename T>
void winograd_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
  const WinogradPlan p = winograd_plan(s, sizeof(T));
  const int64_t Cg = p.Cg, Kg = p.Kg, usize = s.groups * 16 * Kg * Cg;
  const int64_t runs = slots_for(p.items).count;
  const ChannelsLast e = channels_last_extent(p);
  T* xt = workspace<T>(kChannelsLast, s.N * s.groups * e.size);
  for (int64_t n = 0; n < s.N; ++n)
    to_channels_last(s, p, e, x + n * s.C * s.H * s.W, xt + n * s.groups * e.size);
  T* dU = workspace<T>(kPartial, runs * usize);
  for_each_item_by_slot<T>(p.items, p.scratch, dU, usize, [&](int64_t item, T* sum, T* buf) {
    const int64_t n = item / (s.groups * p.blocks), g = item / p.blocks % s.groups;
    const int64_t t0 = item % p.blocks * p.block, cnt = std::min(p.block, p.tiles - t0);
    T* Vt = buf;              // 16 planes (cnt, C/G)
    T* D = Vt + 16 * p.vs;    // 16 planes (K/G, cnt)
    T* rows = D + 16 * p.ms;
    winograd_input_channels_last(Cg, e.Wp, p.TX, xt + (n * s.groups + g) * e.size, t0, cnt, Vt,
                                 p.vs);
    winograd_grad_output(Kg, p.P, p.Q, p.TX, dy + (n * s.K + g * Kg) * p.P * p.Q, t0, cnt, D, cnt,
                         p.ms, rows);
    T* dUg = sum + g * 16 * Kg * Cg;
    for (int xi = 0; xi < 16; ++xi)
      gemm<T>(false, false, Kg, Cg, cnt, T(1), D + xi * p.ms, cnt, Vt + xi * p.vs, Cg, T(1),
              dUg + xi * Kg * Cg, Cg);
  });
  sum_slots(usize, runs, dU, dU);
  winograd_weights_grad(s, dU, dw);
}

}  // namespace

template <typename T>
void conv2d_forward_reference(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t g = k / Kg;
          T acc = bias ? bias[k] : T(0);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t ks = 0; ks < s.S; ++ks) {
                const int64_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t wi = q * s.stride_w - s.pad_w + ks * s.dil_w;
                if (h < 0 || h >= s.H || wi < 0 || wi >= s.W) continue;
                acc += w[((k * Cg + c) * s.R + r) * s.S + ks] *
                       x[((n * s.C + g * Cg + c) * s.H + h) * s.W + wi];
              }
          y[((n * s.K + k) * P + p) * Q + q] = acc;
        }
}

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  if (use_winograd_forward(s)) return winograd_forward(s, x, w, bias, y);
  const Tiling t = plan(s, sizeof(T), 1);
  for_each_item<T>(t.items, t.direct ? 0 : t.CRS * t.rows * t.Q, [&](int64_t item, T* col) {
    const int64_t n = item / (s.groups * t.tiles), g = item / t.tiles % s.groups;
    const int64_t p0 = item % t.tiles * t.rows, p1 = std::min(t.P, p0 + t.rows);
    const int64_t cols = (p1 - p0) * t.Q;
    const T* xg = x + (n * s.C + g * t.Cg) * t.HW;
    if (!t.direct) im2col(s, t.Cg, t.Q, xg, p0, p1, col);
    T* yt = y + (n * s.K + g * t.Kg) * t.PQ + p0 * t.Q;
    gemm<T>(false, false, t.Kg, cols, t.CRS, T(1), w + g * t.Kg * t.CRS, t.CRS,
            t.direct ? xg + p0 * t.Q : col, t.direct ? t.HW : cols, T(0), yt, t.PQ);
    if (bias)
      for (int64_t k = 0; k < t.Kg; ++k) {
        const T bk = bias[g * t.Kg + k];
        for (int64_t i = 0; i < cols; ++i) yt[k * t.PQ + i] += bk;
      }
  });
}

template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, RS = s.R * s.S;
  if (s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.dil_h * (s.R - 1) &&
      s.pad_w <= s.dil_w * (s.S - 1)) {
    // dx = conv(dy, wf) with wf (C, K/G, R, S), wf[c,k,r,s] = w[k,c,R-1-r,S-1-s] per group, and
    // padding dil (R-1) - pad: each dx pixel gathers the dy pixels its x pixel was seen by.
    T* wf = workspace<T>(kFlipped, s.K * Cg * RS);
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t k = 0; k < Kg; ++k)
          for (int64_t rs = 0; rs < RS; ++rs)
            wf[((g * Cg + c) * Kg + k) * RS + rs] = w[((g * Kg + k) * Cg + c) * RS + RS - 1 - rs];
    const Conv2dShape f{s.N, s.K, s.P(), s.Q(), s.C, s.R, s.S, 1, 1,
                        s.dil_h * (s.R - 1) - s.pad_h, s.dil_w * (s.S - 1) - s.pad_w,
                        s.dil_h, s.dil_w, s.groups};
    return conv2d_forward<T>(f, dy, wf, nullptr, dx);
  }
  // col2im scatters into overlapping dx rows. With (rows + 1) stride_h > dil_h (R - 1), tiles t
  // and t + 2 of one (n, g) do not overlap, so the even tiles run in parallel, then the odd ones.
  const int64_t min_rows = (s.dil_h * (s.R - 1) + s.stride_h - 1) / s.stride_h;
  const Tiling t = plan(s, sizeof(T), min_rows);
  std::fill(dx, dx + s.N * s.C * t.HW, T(0));
  for (int64_t parity = 0; parity < 2; ++parity) {
    const int64_t tiles = (t.tiles - parity + 1) / 2;
    for_each_item<T>(s.N * s.groups * tiles, t.CRS * t.rows * t.Q, [&](int64_t item, T* col) {
      const int64_t n = item / (s.groups * tiles), g = item / tiles % s.groups;
      const int64_t p0 = (item % tiles * 2 + parity) * t.rows, p1 = std::min(t.P, p0 + t.rows);
      const int64_t cols = (p1 - p0) * t.Q;
      const T* dyt = dy + (n * s.K + g * t.Kg) * t.PQ + p0 * t.Q;
      gemm<T>(true, false, t.CRS, cols, t.Kg, T(1), w + g * t.Kg * t.CRS, t.CRS, dyt, t.PQ, T(0),
              col, cols);
      col2im(s, t.Cg, t.Q, col, p0, p1, dx + (n * s.C + g * t.Cg) * t.HW);
    });
  }
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db) {
  if (db) sum_bias_grad(s.N, s.K, s.P() * s.Q(), dy, db);
  if (use_winograd_weight(s)) return winograd_backward_weight(s, x, dy, dw);
  const Tiling t = plan(s, sizeof(T), 1);
  const int64_t wsize = s.K * t.CRS, runs = slots_for(t.items).count;
  T* partial = workspace<T>(kPartial, runs * wsize);
  const int64_t scratch = t.direct ? 0 : t.CRS * t.rows * t.Q;
  for_each_item_by_slot<T>(t.items, scratch, partial, wsize, [&](int64_t item, T* sum, T* col) {
    const int64_t n = item / (s.groups * t.tiles), g = item / t.tiles % s.groups;
    const int64_t p0 = item % t.tiles * t.rows, p1 = std::min(t.P, p0 + t.rows);
    const int64_t cols = (p1 - p0) * t.Q;
    const T* xg = x + (n * s.C + g * t.Cg) * t.HW;
    if (!t.direct) im2col(s, t.Cg, t.Q, xg, p0, p1, col);
    const T* dyt = dy + (n * s.K + g * t.Kg) * t.PQ + p0 * t.Q;
    gemm<T>(false, true, t.Kg, t.CRS, cols, T(1), dyt, t.PQ, t.direct ? xg + p0 * t.Q : col,
            t.direct ? t.HW : cols, T(1), sum + g * t.Kg * t.CRS, t.CRS);
  });
  sum_slots(wsize, runs, partial, dw);
}

template <typename T>
void conv_transpose2d_forward(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias,
                              T* y) {
  conv2d_backward_data(s.as_conv(), x, w, y);
  if (bias) add_bias(s.N, s.K, s.P() * s.Q(), bias, y);
}

template <typename T>
void conv_transpose2d_backward_data(const ConvTranspose2dShape& s, const T* dy, const T* w, T* dx) {
  conv2d_forward(s.as_conv(), dy, w, static_cast<const T*>(nullptr), dx);
}

template <typename T>
void conv_transpose2d_backward_weight(const ConvTranspose2dShape& s, const T* x, const T* dy, T* dw,
                                      T* db) {
  // In the equivalent conv, dy is the input and x the output gradient.
  conv2d_backward_weight(s.as_conv(), dy, x, dw, static_cast<T*>(nullptr));
  if (db) sum_bias_grad(s.N, s.K, s.P() * s.Q(), dy, db);
}

#define ABBE_INSTANTIATE_CONV(T)                                                                  \
  template void conv2d_forward_reference<T>(const Conv2dShape&, const T*, const T*, const T*, T*); \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*);           \
  template void conv2d_backward_data<T>(const Conv2dShape&, const T*, const T*, T*);               \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*, T*);         \
  template void conv_transpose2d_forward<T>(const ConvTranspose2dShape&, const T*, const T*,       \
                                            const T*, T*);                                         \
  template void conv_transpose2d_backward_data<T>(const ConvTranspose2dShape&, const T*,           \
                                                  const T*, T*);                                   \
  template void conv_transpose2d_backward_weight<T>(const ConvTranspose2dShape&, const T*,         \
                                                    const T*, T*, T*);
ABBE_INSTANTIATE_CONV(float)
ABBE_INSTANTIATE_CONV(double)
#undef ABBE_INSTANTIATE_CONV

}  // namespace abbe::kernels::cpu
