// The fast paths of kernels/cpu/deform_conv.h, tested against the reference loops
// (deform_conv_reference.cpp). Letters as there; RS = R S taps, t = r S + s, PQ = output pixels,
// Cg = C/groups, Kg = K/groups, Cog = C/G channels per offset group; col = the sampled, masked
// input of one image, (C RS, PQ), so that y[n] = w col per weight group, dw = sum_n dy[n] col^T.
#include "kernels/cpu/deform_conv.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/gemm.h"

// Channels are cut into blocks: the offset groups, split at weight-group boundaries and, when
// there are fewer than kMinItems offset groups, into `parts`. A block's channels share every
// sampling point, so per image x[n] is copied into padded, channel-interleaved planes, block by
// block: xi[c0 plane + (hp Wp + wp) bs + (c - c0)] for block [c0, c0 + bs), padded pixel
// (hp, wp) = image pixel (hp - 1, wp - 1), Hp = H + 3, Wp = W + 2, zero outside the image. A
// sampling point is then one index, its cell's top-left pixel, and its four corners are four
// runs of bs channels (one vector for bs = 8 floats), read without bounds checks: corners outside
// the image read (and dx scatters into) the zero border, and points with no corner inside point
// at the 2x2 zero block at padded row H + 1 with zero weights.
// col is used transposed, colT (pixels, C RS), columns ordered block by block and tap-major in a
// block: (c, t) -> c0 RS + t bs + (c - c0); the weights are permuted to match (w'). Then
//   forward   per tile of pixels and slab (~kSlabColumns columns of whole blocks): sample the
//             slab of colT, pixel by pixel, then yT[:, group] += slab w'^T (gemm); y = yT^T + b.
//   backward  per unit (an offset group, or a part of one) and tile: dcolT (tile, unit RS) =
//             dy[n][:, tile]^T w'; one pass over the unit's blocks sums the offset and mask
//             gradients, recomputes colT and scatters dx into the unit's own planes;
//             dw'[:, unit] += dy[n][:, tile] colT (gemm).
// A unit owns its dx channels, dw columns and (whole groups) offset gradients, so threads share
// nothing, and every sum runs in an order fixed by the shape (images, tiles, pixels, taps,
// channels): the results are bitwise the same for any thread count.

namespace abbe::kernels::cpu {
namespace {

enum Workspace {
  kPadded, kPaddedGrad, kScratch, kIndex, kMaskRows, kPartial, kWeights, kWorkspaces
};
template <typename T>
T* workspace(Workspace which, int64_t n) {
  thread_local std::vector<T> buffers[kWorkspaces];
  std::vector<T>& b = buffers[which];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Bytes of the per-thread column tiles, kept in L2 (2 MiB a core here) between the sampling that
// writes them and the gemm that reads them. Forward: a tile is sampled and multiplied in slabs
// of ~kSlabColumns columns of colT (whole blocks), accumulating yT += slab w'_slab^T: at 128 x 128
// x (128 -> 64) that is ~670 pixels x 288 columns, where gemms run at ~1.4x the speed of
// single-slab tiles of L2 size (~160 x 1152: too thin), and ~1.2x that of 3 MiB tiles, which
// the sampling writes out to L3 and the gemm reads back. Backward: 2 tiles (dcolT, colT) of a
// unit's columns (~72).
constexpr int64_t kTileBytes = int64_t{768} << 10;
constexpr int64_t kSlabColumns = 288;
// Work items per image wanted for balancing two threads (tiles forward, units backward).
constexpr int64_t kMinItems = 8;

struct Plan {
  int64_t P, Q, PQ, RS, Cg, Kg, CgRS, CRS, Cog, G;
  int64_t Wp, plane;            // padded planes: (H + 3, W + 2)
  int64_t per_part, parts;      // offset groups are cut into parts of per_part channels
  std::vector<int64_t> bounds;  // block b = channels [bounds[b], bounds[b + 1])
  std::vector<size_t> slabs;    // forward slab k = blocks [slabs[k], slabs[k + 1])
  int64_t slab_cols;            // the widest slab's columns
  // Blocks whose channels lie in [c0, c1) (a union of blocks): [first, last).
  std::pair<size_t, size_t> blocks(int64_t c0, int64_t c1) const {
    const auto first = std::lower_bound(bounds.begin(), bounds.end(), c0);
    const auto last = std::lower_bound(bounds.begin(), bounds.end(), c1);
    return {static_cast<size_t>(first - bounds.begin()),
            static_cast<size_t>(last - bounds.begin())};
  }
};

Plan make_plan(const DeformConv2dShape& s) {
  Plan p{};
  p.P = s.P(), p.Q = s.Q(), p.PQ = p.P * p.Q, p.RS = s.R * s.S;
  p.Cg = s.C / s.groups, p.Kg = s.K / s.groups, p.CgRS = p.Cg * p.RS, p.CRS = s.C * p.RS;
  p.G = s.offset_groups, p.Cog = s.C / p.G;
  p.Wp = s.W + 2, p.plane = (s.H + 3) * p.Wp;
  // Parts: enough units per image to balance the threads when there are few offset groups
  // (their offset and mask gradients then go through partial buffers, added in part order).
  const int64_t wanted = std::max<int64_t>(1, std::min(p.Cog, (kMinItems + p.G - 1) / p.G));
  p.per_part = std::max<int64_t>(1, (p.Cog + wanted - 1) / wanted);
  p.parts = (p.Cog + p.per_part - 1) / p.per_part;  // none empty
  for (int64_t c = 0; c < s.C; ++c)
    if (c % p.Cog % p.per_part == 0 || c % p.Cg == 0) p.bounds.push_back(c);
  p.bounds.push_back(s.C);
  p.slabs.push_back(0);
  for (size_t b = 1; b < p.bounds.size(); ++b)
    if ((p.bounds[b] - p.bounds[p.slabs.back()]) * p.RS >= kSlabColumns || b + 1 == p.bounds.size())
      p.slabs.push_back(b);
  p.slab_cols = 0;
  for (size_t k = 0; k + 1 < p.slabs.size(); ++k)
    p.slab_cols = std::max(p.slab_cols, (p.bounds[p.slabs[k + 1]] - p.bounds[p.slabs[k]]) * p.RS);
  return p;
}

// Output pixels per tile: about `bytes` of cols of col_elems values, a multiple of 16 (not below
// 16), and small enough to give `items` tiles per image. Depends only on the shape.
int64_t tile_cols(int64_t PQ, int64_t col_elems, int64_t elem_bytes, int64_t bytes, int64_t items) {
  const int64_t col_bytes = std::max<int64_t>(col_elems, 1) * elem_bytes;
  int64_t cols = std::max<int64_t>(16, bytes / col_bytes / 16 * 16);
  const int64_t even = (PQ + items - 1) / items;
  cols = std::min(cols, std::max<int64_t>(16, (even + 15) / 16 * 16));
  return std::min(cols, PQ);
}

// w (K, C/groups RS) -> w' with each weight group's columns in colT's order.
template <typename T>
void permute_weights(const DeformConv2dShape& s, const Plan& p, const T* w, T* wp) {
  for (size_t b = 0; b + 1 < p.bounds.size(); ++b) {
    const int64_t c0 = p.bounds[b], bs = p.bounds[b + 1] - c0, j = c0 / p.Cg;
    for (int64_t k = j * p.Kg; k < (j + 1) * p.Kg; ++k)
      for (int64_t c = c0; c < c0 + bs; ++c)
        for (int64_t t = 0; t < p.RS; ++t)
          wp[k * p.CgRS + (c0 - j * p.Cg) * p.RS + t * bs + (c - c0)] =
              w[k * p.CgRS + (c - j * p.Cg) * p.RS + t];
  }
}

// The inverse: dw' (K, C/groups RS) in colT's order -> dw.
template <typename T>
void unpermute_weights(const DeformConv2dShape& s, const Plan& p, const T* dwp, T* dw) {
  for (size_t b = 0; b + 1 < p.bounds.size(); ++b) {
    const int64_t c0 = p.bounds[b], bs = p.bounds[b + 1] - c0, j = c0 / p.Cg;
    for (int64_t k = j * p.Kg; k < (j + 1) * p.Kg; ++k)
      for (int64_t c = c0; c < c0 + bs; ++c)
        for (int64_t t = 0; t < p.RS; ++t)
          dw[k * p.CgRS + (c - j * p.Cg) * p.RS + t] =
              dwp[k * p.CgRS + (c0 - j * p.Cg) * p.RS + t * bs + (c - c0)];
  }
}

// Block [c0, c1) of x[n] (C, H, W) -> its padded, interleaved planes xi + c0 plane.
template <typename T>
void interleave(const DeformConv2dShape& s, const Plan& p, const T* x, int64_t c0, int64_t c1,
                T* xi) {
  const int64_t bs = c1 - c0, row = p.Wp * bs;
  T* d = xi + c0 * p.plane;
  std::fill(d, d + row, T(0));                              // padded row 0
  std::fill(d + (s.H + 1) * row, d + p.plane * bs, T(0));   // rows H + 1, H + 2
  for (int64_t h = 0; h < s.H; ++h) {
    T* r = d + (h + 1) * row;
    std::fill(r, r + bs, T(0));                             // column 0
    std::fill(r + (s.W + 1) * bs, r + row, T(0));           // column W + 1
    for (int64_t c = c0; c < c1; ++c) {
      const T* src = x + (c * s.H + h) * s.W;
      T* dst = r + bs + (c - c0);
      for (int64_t w = 0; w < s.W; ++w) dst[w * bs] = src[w];
    }
  }
}

// The inverse for a gradient: the image part of block [c0, c1)'s planes -> dx[n] (C, H, W).
template <typename T>
void deinterleave(const DeformConv2dShape& s, const Plan& p, const T* xi, int64_t c0, int64_t c1,
                  T* dx) {
  const int64_t bs = c1 - c0;
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t h = 0; h < s.H; ++h) {
      const T* src = xi + c0 * p.plane + ((h + 1) * p.Wp + 1) * bs + (c - c0);
      T* dst = dx + (c * s.H + h) * s.W;
      for (int64_t w = 0; w < s.W; ++w) dst[w] = src[w * bs];
    }
}

// The sampling points of one offset group's taps for a tile of `cnt` output pixels: tap t's
// values at [t cnt, (t + 1) cnt) of each array.
template <typename T>
struct Points {
  int32_t* idx;              // top-left corner of the cell, a padded pixel index
  T *a00, *a01, *a10, *a11;  // bilinear weights, 0 unless -1 < h < H, -1 < w < W (times the
                             // mask when sampled `masked`)
  T *lh, *lw;                // position inside the cell (coordinate gradients)
  const T** m;               // per tap: its mask row, or `ones`
  T *bh, *bw;                // the tile's p stride_h - pad_h and q stride_w - pad_w (cnt each)
  T* ones;                   // cnt ones
  // T values of scratch for `taps` taps (and taps cnt int32 for idx, taps pointers for m).
  static int64_t values(int64_t taps, int64_t cnt) { return (6 * taps + 3) * cnt; }
  static Points carve(T* buf, int32_t* ibuf, const T** mbuf, int64_t taps, int64_t cnt) {
    const int64_t n = taps * cnt;
    Points pt{ibuf, buf, buf + n, buf + 2 * n, buf + 3 * n, buf + 4 * n, buf + 5 * n, mbuf,
              buf + 6 * n, buf + 6 * n + cnt, buf + 6 * n + 2 * cnt};
    std::fill(pt.ones, pt.ones + cnt, T(1));
    return pt;
  }
};

// bh, bw for the output pixels [i0, i0 + cnt).
template <typename T>
void tile_bases(const DeformConv2dShape& s, const Plan& p, int64_t i0, int64_t cnt, Points<T>& pt) {
  for (int64_t i = 0, row = i0 / p.Q, q = i0 % p.Q; i < cnt; ++i) {
    pt.bh[i] = static_cast<T>(row * s.stride_h - s.pad_h);
    pt.bw[i] = static_cast<T>(q * s.stride_w - s.pad_w);
    if (++q == p.Q) q = 0, ++row;
  }
}

// Adding kMagic to |v| < 2^22 (float) or 2^51 (double) rounds it to the nearest integer, held
// in the low bits of the sum: a floor that vectorizes (GCC does not if-convert the clamping
// selects when they feed a float -> int conversion).
template <typename T>
struct Rounding;
template <>
struct Rounding<float> {
  static constexpr float kMagic = 12582912.0f;  // 1.5 2^23
  using Bits = int32_t;
};
template <>
struct Rounding<double> {
  static constexpr double kMagic = 6755399441055744.0;  // 1.5 2^52
  using Bits = int64_t;
};

// The sampling points of one tap for cnt pixels with bases bh, bw and offset rows oh, ow: the
// cell's index, bilinear weights (times m[i]: the mask, or ones) and the position in the cell.
// Points with no corner inside the image (-1 <= h < H, -1 <= w < W fails; NaN too) are moved to
// the zero block (h0 = H, w0 = -1); the weights are 0 unless -1 < h and -1 < w (torchvision's
// test for a nonzero sample). Restrict parameters: GCC vectorizes the loop.
template <typename T>
void tap_points(int64_t cnt, const T* __restrict__ bh, const T* __restrict__ bw,
                const T* __restrict__ oh, const T* __restrict__ ow, const T* __restrict__ m, T rh,
                T sw, T Hf, T Wf, int32_t Wp, int32_t* __restrict__ idx, T* __restrict__ a00,
                T* __restrict__ a01, T* __restrict__ a10, T* __restrict__ a11,
                T* __restrict__ lhs, T* __restrict__ lws) {
  using Bits = typename Rounding<T>::Bits;
  constexpr T magic = Rounding<T>::kMagic;
  const Bits magic_bits = std::bit_cast<Bits>(magic);
  for (int64_t i = 0; i < cnt; ++i) {
    const T h = (bh[i] + rh) + oh[i], w = (bw[i] + sw) + ow[i];
    const bool live = (h >= T(-1)) & (h < Hf) & (w >= T(-1)) & (w < Wf);
    const T in = live & (h > T(-1)) & (w > T(-1)) ? m[i] : T(0);
    const T hc = live ? h : Hf, wc = live ? w : T(-1);
    const T rh_ = hc + magic, rw_ = wc + magic;  // nearest integers in the low bits
    const T above_h = rh_ - magic > hc ? T(1) : T(0), above_w = rw_ - magic > wc ? T(1) : T(0);
    const T fh = (rh_ - magic) - above_h, fw = (rw_ - magic) - above_w;  // floors
    const Bits ih = std::bit_cast<Bits>(rh_) - magic_bits - static_cast<Bits>(above_h);
    const Bits iw = std::bit_cast<Bits>(rw_) - magic_bits - static_cast<Bits>(above_w);
    const T lh = hc - fh, lw = wc - fw, hh = 1 - lh, hw = 1 - lw;
    idx[i] = static_cast<int32_t>((ih + 1) * Wp + iw + 1);
    a00[i] = in * hh * hw;
    a01[i] = in * hh * lw;
    a10[i] = in * lh * hw;
    a11[i] = in * lh * lw;
    lhs[i] = lh;
    lws[i] = lw;
  }
}

// Fills pt for every tap of offset group og from image n's offsets off_n and mask mask_n (or
// nullptr), for the pixels [i0, i0 + cnt). With `masked`, the weights include the mask (and
// pt.m is ones): the forward's samples m a . v.
template <typename T>
void sample_points(const DeformConv2dShape& s, const Plan& p, int64_t og, const T* off_n,
                   const T* mask_n, int64_t i0, int64_t cnt, bool masked, Points<T>& pt) {
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t ks = 0; ks < s.S; ++ks) {
      const int64_t t = r * s.S + ks, row = og * p.RS + t, e = t * cnt;
      const T* m = mask_n ? mask_n + row * p.PQ + i0 : pt.ones;
      tap_points(cnt, pt.bh, pt.bw, off_n + 2 * row * p.PQ + i0, off_n + (2 * row + 1) * p.PQ + i0,
                 masked ? m : pt.ones, static_cast<T>(r * s.dil_h), static_cast<T>(ks * s.dil_w),
                 static_cast<T>(s.H), static_cast<T>(s.W), static_cast<int32_t>(p.Wp), pt.idx + e,
                 pt.a00 + e, pt.a01 + e, pt.a10 + e, pt.a11 + e, pt.lh + e, pt.lw + e);
      pt.m[t] = masked ? pt.ones : m;
    }
}

// The block functions below take the block size bs as a template argument kBs for the common
// sizes (the channel loops then vectorize exactly: 8 floats or doubles are one or two vectors,
// where a loop of runtime length runs them in its scalar remainder), kBs = 0 for any other.
template <typename F>
void with_block_size(int64_t bs, F&& f) {
  switch (bs) {
    case 4: return f(std::integral_constant<int, 4>{});
    case 8: return f(std::integral_constant<int, 8>{});
    case 16: return f(std::integral_constant<int, 16>{});
    default: return f(std::integral_constant<int, 0>{});
  }
}

// out[i ld + t bs + c] = the masked bilinear sample of channel c at point (t, i) (pt with the
// mask folded into the weights), for the taps t and the channels c < bs of a block with planes
// xb. Pixel-major, so that each pixel's row of out is written in one contiguous run. Not inlined:
// inside the parallel region's body GCC keeps the loop's pointers on the stack.
template <typename T, int kBs>
[[gnu::noinline]] void sample_block(int64_t cnt, int64_t taps, const T* __restrict__ xb,
                                    int64_t bs_, int64_t Wp, const Points<T>& pt,
                                    T* __restrict__ out, int64_t ld) {
  const int64_t bs = kBs > 0 ? kBs : bs_, down = Wp * bs;
  const int32_t* __restrict__ idx = pt.idx;
  const T* __restrict__ w00 = pt.a00;
  const T* __restrict__ w01 = pt.a01;
  const T* __restrict__ w10 = pt.a10;
  const T* __restrict__ w11 = pt.a11;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t e = t * cnt + i;
      const T* __restrict__ v = xb + static_cast<int64_t>(idx[e]) * bs;
      T* __restrict__ o = out + i * ld + t * bs;
      const T a00 = w00[e], a01 = w01[e], a10 = w10[e], a11 = w11[e];
#pragma omp simd
      for (int64_t c = 0; c < bs; ++c)
        o[c] = a00 * v[c] + a01 * v[bs + c] + a10 * v[down + c] + a11 * v[down + bs + c];
    }
}

// The backward pass over one block: from dcol (entries i ld + t bs + c), adds the offset and mask
// gradients before the mask to gh, gw, gm (entries t cnt + i), writes col (as dcol, for dw), and
// scatters m a_corner dcol into the block's dx planes dxb (if not nullptr).
template <typename T, int kBs>
[[gnu::noinline]] void backward_block(int64_t cnt, int64_t taps, const T* __restrict__ xb,
                                      T* __restrict__ dxb, int64_t bs_, int64_t Wp,
                                      const Points<T>& pt, const T* __restrict__ dcol,
                                      T* __restrict__ col, int64_t ld, T* __restrict__ gh,
                                      T* __restrict__ gw, T* __restrict__ gm) {
  const int64_t bs = kBs > 0 ? kBs : bs_, down = Wp * bs;
  for (int64_t i = 0; i < cnt; ++i)
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t e = t * cnt + i, at = static_cast<int64_t>(pt.idx[e]) * bs;
      const T* __restrict__ v = xb + at;
      const T* __restrict__ d = dcol + i * ld + t * bs;
      T* __restrict__ o = col + i * ld + t * bs;
      const T a00 = pt.a00[e], a01 = pt.a01[e], a10 = pt.a10[e], a11 = pt.a11[e], m = pt.m[t][i];
      const T lh = pt.lh[e], lw = pt.lw[e];
      T sum_h = 0, sum_w = 0, sum_m = 0;
#pragma omp simd reduction(+ : sum_h, sum_w, sum_m)
      for (int64_t c = 0; c < bs; ++c) {
        const T v00 = v[c], v01 = v[bs + c], v10 = v[down + c], v11 = v[down + bs + c];
        const T sample = a00 * v00 + a01 * v01 + a10 * v10 + a11 * v11;
        o[c] = m * sample;
        sum_m += d[c] * sample;
        sum_h += d[c] * (lw * (v11 - v01) + (1 - lw) * (v10 - v00));
        sum_w += d[c] * (lh * (v11 - v10) + (1 - lh) * (v01 - v00));
      }
      gh[e] += sum_h;
      gw[e] += sum_w;
      gm[e] += sum_m;
      if (!dxb) continue;
      // A scatter: neighbouring points share corners, so point by point, a run of bs each.
      T* __restrict__ q00 = dxb + at;
#pragma omp simd
      for (int64_t c = 0; c < bs; ++c) q00[c] += a00 * (m * d[c]);
      T* __restrict__ q01 = dxb + at + bs;
#pragma omp simd
      for (int64_t c = 0; c < bs; ++c) q01[c] += a01 * (m * d[c]);
      T* __restrict__ q10 = dxb + at + down;
#pragma omp simd
      for (int64_t c = 0; c < bs; ++c) q10[c] += a10 * (m * d[c]);
      T* __restrict__ q11 = dxb + at + down + bs;
#pragma omp simd
      for (int64_t c = 0; c < bs; ++c) q11[c] += a11 * (m * d[c]);
    }
}

// Calls f(a, b, j) for the parts [a, b) of channels [c0, c1) in one weight group j each.
template <typename F>
void by_weight_group(int64_t c0, int64_t c1, int64_t Cg, F&& f) {
  for (int64_t a = c0; a < c1;) {
    const int64_t j = a / Cg, b = std::min(c1, (j + 1) * Cg);
    f(a, b, j);
    a = b;
  }
}

}  // namespace

template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                           const T* w, const T* bias, T* y) {
  if (s.N <= 0 || s.P() <= 0 || s.Q() <= 0) return;
  if (s.C <= 0) {  // no input channels: y = bias
    for (int64_t nk = 0; nk < s.N * s.K; ++nk)
      std::fill(y + nk * s.P() * s.Q(), y + (nk + 1) * s.P() * s.Q(), bias ? bias[nk % s.K] : T(0));
    return;
  }
  const Plan p = make_plan(s);
  const int64_t cols = tile_cols(p.PQ, p.slab_cols, sizeof(T), kTileBytes, kMinItems);
  const int64_t tiles = (p.PQ + cols - 1) / cols;
  const int64_t blocks = static_cast<int64_t>(p.bounds.size()) - 1;
  const int threads = omp_get_max_threads();
  const int64_t scratch = (p.slab_cols + s.K) * cols + Points<T>::values(p.RS, cols);
  // Allocated here, not inside omp (no throw there).
  T* xi = workspace<T>(kPadded, s.C * p.plane);
  T* wp = workspace<T>(kWeights, s.K * p.CgRS);
  T* buf = workspace<T>(kScratch, threads * scratch);
  int32_t* ibuf = workspace<int32_t>(kIndex, threads * p.RS * cols);
  const T** mbuf = workspace<const T*>(kMaskRows, threads * p.RS);
  permute_weights(s, p, w, wp);
  for (int64_t n = 0; n < s.N; ++n) {
    const T* off_n = offset + n * 2 * p.G * p.RS * p.PQ;
    const T* mask_n = mask ? mask + n * p.G * p.RS * p.PQ : nullptr;
#pragma omp parallel num_threads(threads)
    {
      const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < blocks; ++b)
        interleave(s, p, x + n * s.C * s.H * s.W, p.bounds[b], p.bounds[b + 1], xi);
      T* slab = buf + tid * scratch;       // (cnt, slab columns)
      T* yT = slab + p.slab_cols * cols;   // (cnt, K)
      T* pbuf = yT + s.K * cols;
#pragma omp for schedule(dynamic)
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t i0 = tile * cols, cnt = std::min(cols, p.PQ - i0);
        Points<T> pt =
            Points<T>::carve(pbuf, ibuf + tid * p.RS * cols, mbuf + tid * p.RS, p.RS, cnt);
        tile_bases(s, p, i0, cnt, pt);
        int64_t sampled = -1;  // the offset group pt holds
        for (size_t k = 0; k + 1 < p.slabs.size(); ++k) {
          const int64_t k0 = p.bounds[p.slabs[k]] * p.RS, k1 = p.bounds[p.slabs[k + 1]] * p.RS;
          for (size_t b = p.slabs[k]; b < p.slabs[k + 1]; ++b) {
            const int64_t c0 = p.bounds[b], bs = p.bounds[b + 1] - c0, og = c0 / p.Cog;
            if (og != sampled) {
              sample_points(s, p, og, off_n, mask_n, i0, cnt, true, pt);
              sampled = og;
            }
            with_block_size(bs, [&](auto kbs) {
              sample_block<T, kbs()>(cnt, p.RS, xi + c0 * p.plane, bs, p.Wp, pt,
                                     slab + c0 * p.RS - k0, k1 - k0);
            });
          }
          // yT[:, group j] (cnt, K/groups) += slab w'^T over the slab's columns in group j: the
          // pixels as the gemm's long side run faster than y = w' colT^T.
          for (int64_t j = k0 / p.CgRS; j * p.CgRS < k1; ++j) {
            const int64_t a = std::max(k0, j * p.CgRS), e = std::min(k1, (j + 1) * p.CgRS);
            gemm<T>(false, true, cnt, p.Kg, e - a, T(1), slab + (a - k0), k1 - k0,
                    wp + j * p.Kg * p.CgRS + (a - j * p.CgRS), p.CgRS,
                    a == j * p.CgRS ? T(0) : T(1), yT + j * p.Kg, s.K);
          }
        }
        // y[n][:, tile] = yT^T + bias.
        T* yt = y + n * s.K * p.PQ + i0;
        for (int64_t k = 0; k < s.K; ++k) {
          const T bk = bias ? bias[k] : T(0);
          for (int64_t i = 0; i < cnt; ++i) yt[k * p.PQ + i] = yT[i * s.K + k] + bk;
        }
      }
    }
  }
}

template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                            const T* w, const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db) {
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, CgRS = s.C / s.groups * s.R * s.S;
  if (db) {
#pragma omp parallel for schedule(static) if (s.N * s.K * PQ > 65536)
    for (int64_t k = 0; k < s.K; ++k) {
      double acc = 0;  // a float sum of N P Q (~1e5) terms would lose digits
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < PQ; ++i) acc += dy[(n * s.K + k) * PQ + i];
      db[k] = static_cast<T>(acc);
    }
  }
  if (dw) std::fill(dw, dw + s.K * CgRS, T(0));
  if (s.N <= 0 || PQ <= 0 || s.C <= 0) {
    if (dx) std::fill(dx, dx + s.N * s.C * HW, T(0));
    return;
  }
  if (!dx && !doffset && !dmask && !dw) return;
  const Plan p = make_plan(s);
  const int64_t GRPQ = p.G * p.RS * p.PQ, units = p.G * p.parts, unit_rs = p.per_part * p.RS;
  const int64_t blocks = static_cast<int64_t>(p.bounds.size()) - 1;
  const int64_t cols = tile_cols(p.PQ, 2 * unit_rs, sizeof(T), kTileBytes, 1);
  const int64_t tiles = (p.PQ + cols - 1) / cols;
  const int threads = omp_get_max_threads();
  const int64_t scratch = (2 * unit_rs + 3 * p.RS) * cols + Points<T>::values(p.RS, cols);
  T* xi = workspace<T>(kPadded, s.C * p.plane);
  T* dxi = dx ? workspace<T>(kPaddedGrad, s.C * p.plane) : nullptr;
  T* wp = workspace<T>(kWeights, 2 * s.K * p.CgRS);
  T* dwp = wp + s.K * p.CgRS;  // dw in colT's column order
  T* buf = workspace<T>(kScratch, threads * scratch);
  int32_t* ibuf = workspace<int32_t>(kIndex, threads * p.RS * cols);
  const T** mbuf = workspace<const T*>(kMaskRows, threads * p.RS);
  // partial (parts, 3, G RS PQ): gradients of offset dy, offset dx and mask, before the mask.
  T* partial = p.parts > 1 ? workspace<T>(kPartial, p.parts * 3 * GRPQ) : nullptr;
  permute_weights(s, p, w, wp);
  std::fill(dwp, dwp + s.K * p.CgRS, T(0));
  for (int64_t n = 0; n < s.N; ++n) {
    const T* off_n = offset + n * 2 * GRPQ;
    const T* mask_n = mask ? mask + n * GRPQ : nullptr;
    const T* dy_n = dy + n * s.K * p.PQ;
    T* doff_n = doffset ? doffset + n * 2 * GRPQ : nullptr;
    T* dmask_n = dmask ? dmask + n * GRPQ : nullptr;
#pragma omp parallel num_threads(threads)
    {
      const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t c0 = p.bounds[b], c1 = p.bounds[b + 1];
        interleave(s, p, x + n * s.C * HW, c0, c1, xi);
        if (dxi) std::fill(dxi + c0 * p.plane, dxi + c1 * p.plane, T(0));
      }
      T* dcolT = buf + tid * scratch;       // (cnt, unit RS)
      T* colT = dcolT + unit_rs * cols;     // (cnt, unit RS)
      T* gh = colT + unit_rs * cols;        // (RS, cnt) each
      T* gw = gh + p.RS * cols;
      T* gm = gw + p.RS * cols;
      T* pbuf = gm + p.RS * cols;
#pragma omp for schedule(dynamic)
      for (int64_t u = 0; u < units; ++u) {
        const int64_t og = u / p.parts, part = u % p.parts;
        const int64_t cu0 = og * p.Cog + part * p.per_part;
        const int64_t cu1 = std::min((og + 1) * p.Cog, cu0 + p.per_part);
        const int64_t ld = (cu1 - cu0) * p.RS;
        const auto [b0, b1] = p.blocks(cu0, cu1);
        for (int64_t tile = 0; tile < tiles; ++tile) {
          const int64_t i0 = tile * cols, cnt = std::min(cols, p.PQ - i0);
          Points<T> pt =
              Points<T>::carve(pbuf, ibuf + tid * p.RS * cols, mbuf + tid * p.RS, p.RS, cnt);
          tile_bases(s, p, i0, cnt, pt);
          by_weight_group(cu0, cu1, p.Cg, [&](int64_t a, int64_t b, int64_t j) {
            gemm<T>(true, false, cnt, (b - a) * p.RS, p.Kg, T(1), dy_n + j * p.Kg * p.PQ + i0,
                    p.PQ, wp + j * p.Kg * p.CgRS + (a - j * p.Cg) * p.RS, p.CgRS, T(0),
                    dcolT + (a - cu0) * p.RS, ld);
          });
          sample_points(s, p, og, off_n, mask_n, i0, cnt, false, pt);
          std::fill(gh, gh + 3 * p.RS * cols, T(0));
          for (size_t b = b0; b < b1; ++b) {
            const int64_t c0 = p.bounds[b], bs = p.bounds[b + 1] - c0, at = (c0 - cu0) * p.RS;
            with_block_size(bs, [&](auto kbs) {
              backward_block<T, kbs()>(cnt, p.RS, xi + c0 * p.plane,
                                       dxi ? dxi + c0 * p.plane : nullptr, bs, p.Wp, pt,
                                       dcolT + at, colT + at, ld, gh, gw, gm);
            });
          }
          for (int64_t t = 0; t < p.RS; ++t) {
            const int64_t row = og * p.RS + t, e = t * cnt;
            if (p.parts > 1) {
              T* pp = partial + part * 3 * GRPQ + row * p.PQ + i0;
              std::copy(gh + e, gh + e + cnt, pp);
              std::copy(gw + e, gw + e + cnt, pp + GRPQ);
              std::copy(gm + e, gm + e + cnt, pp + 2 * GRPQ);
              continue;
            }
            if (doff_n) {
              T* oh = doff_n + 2 * row * p.PQ + i0;
              T* ow = oh + p.PQ;
              const T* m = pt.m[t];
              for (int64_t i = 0; i < cnt; ++i) oh[i] = m[i] * gh[e + i], ow[i] = m[i] * gw[e + i];
            }
            if (dmask_n) std::copy(gm + e, gm + e + cnt, dmask_n + row * p.PQ + i0);
          }
          if (dw)
            by_weight_group(cu0, cu1, p.Cg, [&](int64_t a, int64_t b, int64_t j) {
              gemm<T>(false, false, p.Kg, (b - a) * p.RS, cnt, T(1), dy_n + j * p.Kg * p.PQ + i0,
                      p.PQ, colT + (a - cu0) * p.RS, ld, T(1),
                      dwp + j * p.Kg * p.CgRS + (a - j * p.Cg) * p.RS, p.CgRS);
            });
        }
      }
      // Implicit barrier above: every unit of image n is done.
      if (dx) {
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < blocks; ++b)
          deinterleave(s, p, dxi, p.bounds[b], p.bounds[b + 1], dx + n * s.C * HW);
      }
      if (p.parts > 1 && (doff_n || dmask_n)) {
#pragma omp for schedule(static)
        for (int64_t e = 0; e < GRPQ; ++e) {
          T sum[3] = {0, 0, 0};
          for (int64_t part = 0; part < p.parts; ++part)
            for (int a = 0; a < 3; ++a) sum[a] += partial[(part * 3 + a) * GRPQ + e];
          const int64_t row = e / p.PQ, i = e % p.PQ;
          const T m = mask_n ? mask_n[e] : T(1);
          if (doff_n) {
            doff_n[2 * row * p.PQ + i] = m * sum[0];
            doff_n[(2 * row + 1) * p.PQ + i] = m * sum[1];
          }
          if (dmask_n) dmask_n[e] = sum[2];
        }
      }
    }
  }
  if (dw) unpermute_weights(s, p, dwp, dw);
}

#define ABBE_INSTANTIATE_DEFORM_CONV(T)                                                        \
  template void deform_conv2d_forward<T>(const DeformConv2dShape&, const T*, const T*, const T*, \
                                         const T*, const T*, T*);                              \
  template void deform_conv2d_backward<T>(const DeformConv2dShape&, const T*, const T*,         \
                                          const T*, const T*, const T*, T*, T*, T*, T*, T*);
ABBE_INSTANTIATE_DEFORM_CONV(float)
ABBE_INSTANTIATE_DEFORM_CONV(double)
#undef ABBE_INSTANTIATE_DEFORM_CONV

}  // namespace abbe::kernels::cpu
