// The readable spec of kernels/cpu/deform_conv.h: plain loops over torchvision 0.14's formulas
// (torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp), one sampling point at a time. The fast
// paths (deform_conv.cpp) are tested against these, and these against torchvision itself
// (tests/golden/gen_deform.py) and finite differences.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/deform_conv.h"

namespace abbe::kernels::cpu {

namespace reference {
namespace {

// torchvision's bilinear_interpolate on the plane x (H, W): 0 unless -1 < h < H, -1 < w < W.
template <typename T>
T bilinear(const T* x, int64_t H, int64_t W, T h, T w) {
  if (!(h > -1 && h < H && w > -1 && w < W)) return T(0);
  const int64_t h0 = static_cast<int64_t>(std::floor(h)), w0 = static_cast<int64_t>(std::floor(w));
  const int64_t h1 = h0 + 1, w1 = w0 + 1;
  const T lh = h - h0, lw = w - w0, hh = 1 - lh, hw = 1 - lw;
  const T v1 = h0 >= 0 && w0 >= 0 ? x[h0 * W + w0] : T(0);
  const T v2 = h0 >= 0 && w1 < W ? x[h0 * W + w1] : T(0);
  const T v3 = h1 < H && w0 >= 0 ? x[h1 * W + w0] : T(0);
  const T v4 = h1 < H && w1 < W ? x[h1 * W + w1] : T(0);
  return hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4;
}

// torchvision's get_coordinate_weight: d bilinear / dh (along_h) or / dw on the cell
// (floor(h), floor(w)), each corner outside the image counting 0. Nonzero only for
// -1 <= h < H and -1 <= w < W (no corner inside otherwise).
template <typename T>
T coordinate_weight(const T* x, int64_t H, int64_t W, T h, T w, bool along_h) {
  if (!(h >= -1 && h < H && w >= -1 && w < W)) return T(0);
  const int64_t h0 = static_cast<int64_t>(std::floor(h)), w0 = static_cast<int64_t>(std::floor(w));
  const int64_t h1 = h0 + 1, w1 = w0 + 1;
  const bool in_h0 = h0 >= 0, in_h1 = h1 < H, in_w0 = w0 >= 0, in_w1 = w1 < W;
  const T v00 = in_h0 && in_w0 ? x[h0 * W + w0] : T(0);
  const T v01 = in_h0 && in_w1 ? x[h0 * W + w1] : T(0);
  const T v10 = in_h1 && in_w0 ? x[h1 * W + w0] : T(0);
  const T v11 = in_h1 && in_w1 ? x[h1 * W + w1] : T(0);
  if (along_h) {
    const T lw = w - w0;
    return lw * (v11 - v01) + (1 - lw) * (v10 - v00);
  }
  const T lh = h - h0;
  return lh * (v11 - v10) + (1 - lh) * (v01 - v00);
}

// Where tap (r, ks) of output pixel (p, q) of image n samples channel c: (h, w), and the indices
// of its dy offset (the dx offset is off + PQ) and of its mask value.
template <typename T>
void sample_at(const DeformConv2dShape& s, const T* offset, int64_t n, int64_t c, int64_t r,
               int64_t ks, int64_t p, int64_t q, T& h, T& w, int64_t& off, int64_t& off_mask) {
  const int64_t G = s.offset_groups, RS = s.R * s.S, PQ = s.P() * s.Q();
  const int64_t g = c / (s.C / G), t = r * s.S + ks, pq = p * s.Q() + q;
  off_mask = ((n * G + g) * RS + t) * PQ + pq;
  off = ((n * G + g) * RS + t) * 2 * PQ + pq;
  h = static_cast<T>(p * s.stride_h - s.pad_h + r * s.dil_h) + offset[off];
  w = static_cast<T>(q * s.stride_w - s.pad_w + ks * s.dil_w) + offset[off + PQ];
}

}  // namespace

template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                           const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          T acc = 0;
          for (int64_t cl = 0; cl < Cg; ++cl)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t ks = 0; ks < s.S; ++ks) {
                const int64_t c = k / Kg * Cg + cl;
                T h, wi;
                int64_t off, off_mask;
                sample_at(s, offset, n, c, r, ks, p, q, h, wi, off, off_mask);
                const T m = mask ? mask[off_mask] : T(1);
                const T col = m * bilinear(x + (n * s.C + c) * s.H * s.W, s.H, s.W, h, wi);
                acc += w[((k * Cg + cl) * s.R + r) * s.S + ks] * col;
              }
          y[((n * s.K + k) * P + p) * Q + q] = acc + (bias ? bias[k] : T(0));
        }
}

template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask,
                            const T* w, const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q(), PQ = P * Q;
  const int64_t RS = s.R * s.S, HW = s.H * s.W, G = s.offset_groups;
  if (dx) std::fill(dx, dx + s.N * s.C * HW, T(0));
  if (doffset) std::fill(doffset, doffset + s.N * 2 * G * RS * PQ, T(0));
  if (dmask) std::fill(dmask, dmask + s.N * G * RS * PQ, T(0));
  if (dw) std::fill(dw, dw + s.K * Cg * RS, T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t ks = 0; ks < s.S; ++ks)
          for (int64_t p = 0; p < P; ++p)
            for (int64_t q = 0; q < Q; ++q) {
              const int64_t j = c / Cg, cl = c - j * Cg, t = r * s.S + ks, pq = p * Q + q;
              T h, wi;
              int64_t off, off_mask;
              sample_at(s, offset, n, c, r, ks, p, q, h, wi, off, off_mask);
              const T m = mask ? mask[off_mask] : T(1);
              const T* xc = x + (n * s.C + c) * HW;
              // dcol = w^T dy: the gradient of col[c RS + t, pq].
              T dcol = 0;
              for (int64_t k = j * Kg; k < (j + 1) * Kg; ++k)
                dcol += w[(k * Cg + cl) * RS + t] * dy[(n * s.K + k) * PQ + pq];
              if (dx && h > -1 && h < s.H && wi > -1 && wi < s.W) {
                // torchvision's col2im: the pixels within distance 1 of (h, w) along both axes.
                for (int64_t a = -1; a <= 1; ++a)
                  for (int64_t b = -1; b <= 1; ++b) {
                    const int64_t yp = static_cast<int64_t>(h) + a,
                                  xp = static_cast<int64_t>(wi) + b;
                    if (yp < 0 || yp >= s.H || xp < 0 || xp >= s.W) continue;
                    if (!(std::abs(h - yp) < 1 && std::abs(wi - xp) < 1)) continue;
                    const T weight = (1 - std::abs(h - yp)) * (1 - std::abs(wi - xp));
                    dx[(n * s.C + c) * HW + yp * s.W + xp] += m * weight * dcol;
                  }
              }
              if (doffset) {
                doffset[off] += m * coordinate_weight(xc, s.H, s.W, h, wi, true) * dcol;
                doffset[off + PQ] += m * coordinate_weight(xc, s.H, s.W, h, wi, false) * dcol;
              }
              if (dmask) dmask[off_mask] += dcol * bilinear(xc, s.H, s.W, h, wi);
              if (dw) {
                const T col = m * bilinear(xc, s.H, s.W, h, wi);
                for (int64_t k = j * Kg; k < (j + 1) * Kg; ++k)
                  dw[(k * Cg + cl) * RS + t] += dy[(n * s.K + k) * PQ + pq] * col;
              }
            }
  if (db)
    for (int64_t k = 0; k < s.K; ++k) {
      double acc = 0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < PQ; ++i) acc += dy[(n * s.K + k) * PQ + i];
      db[k] = static_cast<T>(acc);
    }
}

}  // namespace reference

#define ABBE_INSTANTIATE_DEFORM_CONV_REFERENCE(T)                                              \
  template void reference::deform_conv2d_forward<T>(const DeformConv2dShape&, const T*,         \
                                                    const T*, const T*, const T*, const T*, T*); \
  template void reference::deform_conv2d_backward<T>(const DeformConv2dShape&, const T*,        \
                                                     const T*, const T*, const T*, const T*,   \
                                                     T*, T*, T*, T*, T*);
ABBE_INSTANTIATE_DEFORM_CONV_REFERENCE(float)
ABBE_INSTANTIATE_DEFORM_CONV_REFERENCE(double)
#undef ABBE_INSTANTIATE_DEFORM_CONV_REFERENCE

}  // namespace abbe::kernels::cpu
