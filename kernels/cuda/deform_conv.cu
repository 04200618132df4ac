// CUDA deformable convolution kernels (see deform_conv.h). Written once for nvcc and for the CPU
// emulator (kernels/emu/README.md). Letters as in kernels/cpu/deform_conv.h; RS = R S taps,
// t = r S + s, PQ = output pixels, Cog = C/G channels per offset group, Cg = C/groups,
// Kg = K/groups. The sampling formulas are torchvision's, as the CPU reference's.
//
// Per image n and chunk of `len` output pixels [p0, p0 + len), with col (C RS, len) in the
// workspace (row c RS + t, the weight groups' rows contiguous):
//   forward   im2col (one thread per col element), y[n][j][:, chunk] = w[j] col[j]  (gemm)
//   backward  dcol[j] = w[j]^T dy[n][j][:, chunk] (gemm, into the workspace);
//             col2im: one thread per dcol element, atomicAdd of its 4 bilinear shares into dx;
//             coord: one thread per sampling point (g, t, pixel), gathering over its group's
//             channels the offset (dy, dx) and mask gradients, written once, no atomics;
//             then im2col overwrites dcol and dw[j] += dy[n][j][:, chunk] col[j]^T (gemm, in
//             image and chunk order: deterministic); db by one block per output channel.
#include "kernels/cuda/deform_conv.h"

#include <algorithm>
#include <cstdint>

#include "graph/error.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

// Pixels per chunk: at most kMaxChunk (gemms of 4096 columns keep a GPU busy), and a column
// buffer of at most kWorkspaceBudget bytes in double.
constexpr int64_t kMaxChunk = 4096;
constexpr int64_t kWorkspaceBudget = int64_t{64} << 20;

// What the kernels need of the shape, by value. Index math inside an image is 32-bit (64-bit
// division is a long software sequence on GPUs): the host checks that every per-image tensor
// and every chunk's thread count fit in int.
struct Dims {
  int C, H, W, S, sh, sw, ph, pw, dh, dw, Cog, RS, Q, PQ;
};

Dims dims_of(const DeformConv2dShape& s, int64_t chunk) {
  const int64_t RS = s.R * s.S, PQ = s.P() * s.Q();
  const int64_t largest =
      std::max({s.C * s.H * s.W, 2 * s.offset_groups * RS * PQ, s.K * PQ, s.C * RS * chunk,
                s.stride_h * s.P() + s.dil_h * s.R + s.H, s.stride_w * s.Q() + s.dil_w * s.S + s.W});
  ABBE_CHECK(largest < (int64_t{1} << 31),
             "deform_conv2d: per-image sizes must fit in 32 bits (C H W = ", s.C * s.H * s.W,
             ", 2 G R S P Q = ", 2 * s.offset_groups * RS * PQ, ", K P Q = ", s.K * PQ, ")");
  auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return {i32(s.C), i32(s.H), i32(s.W), i32(s.S), i32(s.stride_h), i32(s.stride_w), i32(s.pad_h), i32(s.pad_w),
          i32(s.dil_h), i32(s.dil_w), i32(s.C / s.offset_groups), i32(RS), i32(s.Q()), i32(PQ)};
}

__device__ __forceinline__ float floor_of(float v) { return floorf(v); }
__device__ __forceinline__ double floor_of(double v) { return floor(v); }

// Where tap t of output pixel `pix` samples for offset group g (offset_n: image n's offsets).
template <typename T>
__device__ __forceinline__ void position(const Dims& d, const T* offset_n, int g, int t, int pix, T& h, T& w) {
  const int p = pix / d.Q, q = pix - p * d.Q, r = t / d.S, s = t - r * d.S;
  const T* o = offset_n + (g * d.RS + t) * 2 * d.PQ + pix;
  h = static_cast<T>(p * d.sh - d.ph + r * d.dh) + o[0];
  w = static_cast<T>(q * d.sw - d.pw + s * d.dw) + o[d.PQ];
}

// torchvision's bilinear_interpolate on the plane x (H, W): 0 unless -1 < h < H, -1 < w < W.
template <typename T>
__device__ __forceinline__ T bilinear(const T* x, int H, int W, T h, T w) {
  if (!(h > T(-1) && h < static_cast<T>(H) && w > T(-1) && w < static_cast<T>(W))) return T(0);
  const T fh = floor_of(h), fw = floor_of(w);
  const int h0 = static_cast<int>(fh), w0 = static_cast<int>(fw), h1 = h0 + 1, w1 = w0 + 1;
  const T lh = h - fh, lw = w - fw, hh = T(1) - lh, hw = T(1) - lw;
  const T v1 = h0 >= 0 && w0 >= 0 ? x[h0 * W + w0] : T(0);
  const T v2 = h0 >= 0 && w1 < W ? x[h0 * W + w1] : T(0);
  const T v3 = h1 < H && w0 >= 0 ? x[h1 * W + w0] : T(0);
  const T v4 = h1 < H && w1 < W ? x[h1 * W + w1] : T(0);
  return hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4;
}

// x[n] (C, H, W), offset[n], mask[n] or nullptr -> col (C RS, len); total = C RS len.
template <typename T>
__global__ void __launch_bounds__(kBlock) im2col_kernel(int64_t total, Dims d, int p0, int len, const T* x,
                                                        const T* offset, const T* mask, T* col) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int e = static_cast<int>(i), pos = e % len, ct = e / len, t = ct % d.RS, c = ct / d.RS, g = c / d.Cog;
    const int pix = p0 + pos;
    T h, w;
    position(d, offset, g, t, pix, h, w);
    const T m = mask ? mask[(g * d.RS + t) * d.PQ + pix] : T(1);
    col[i] = m * bilinear(x + c * d.H * d.W, d.H, d.W, h, w);
  }
}

// dcol (C RS, len) -> dx[n] (C, H, W) += the adjoint of im2col; total = C RS len.
template <typename T>
__global__ void __launch_bounds__(kBlock) col2im_kernel(int64_t total, Dims d, int p0, int len, const T* dcol,
                                                        const T* offset, const T* mask, T* dx) {
  const int H = d.H, W = d.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int e = static_cast<int>(i), pos = e % len, ct = e / len, t = ct % d.RS, c = ct / d.RS, g = c / d.Cog;
    const int pix = p0 + pos;
    T h, w;
    position(d, offset, g, t, pix, h, w);
    if (!(h > T(-1) && h < static_cast<T>(H) && w > T(-1) && w < static_cast<T>(W))) continue;
    const T m = mask ? mask[(g * d.RS + t) * d.PQ + pix] : T(1);
    const T md = m * dcol[i];
    const T fh = floor_of(h), fw = floor_of(w);
    const int h0 = static_cast<int>(fh), w0 = static_cast<int>(fw), h1 = h0 + 1, w1 = w0 + 1;
    const T lh = h - fh, lw = w - fw, hh = T(1) - lh, hw = T(1) - lw;
    T* dxc = dx + c * H * W;
    if (h0 >= 0 && w0 >= 0) atomicAdd(dxc + h0 * W + w0, hh * hw * md);
    if (h0 >= 0 && w1 < W) atomicAdd(dxc + h0 * W + w1, hh * lw * md);
    if (h1 < H && w0 >= 0) atomicAdd(dxc + h1 * W + w0, lh * hw * md);
    if (h1 < H && w1 < W) atomicAdd(dxc + h1 * W + w1, lh * lw * md);
  }
}

// One thread per sampling point (g, t, pixel); total = G RS len. From dcol (C RS, len) and x[n]:
//   doffset[n, 2 (g RS + t) + {0, 1}, pixel] = m sum_c dcol d(sample)/d{h, w}
//   dmask[n, g RS + t, pixel] = sum_c dcol sample
// with torchvision's coordinate weights: the cell is (floor h, floor w) for -1 <= h < H and
// -1 <= w < W, corners outside the image count 0, so at h == -1 the derivative is one-sided.
template <typename T>
__global__ void __launch_bounds__(kBlock) coord_kernel(int64_t total, Dims d, int p0, int len, const T* dcol,
                                                       const T* x, const T* offset, const T* mask, T* doffset,
                                                       T* dmask) {
  const int H = d.H, W = d.W;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int e = static_cast<int>(i), pos = e % len, gt = e / len, t = gt % d.RS, g = gt / d.RS, pix = p0 + pos;
    T h, w;
    position(d, offset, g, t, pix, h, w);
    T gh = T(0), gw = T(0), gm = T(0);
    if (h >= T(-1) && h < static_cast<T>(H) && w >= T(-1) && w < static_cast<T>(W)) {
      const T fh = floor_of(h), fw = floor_of(w);
      const int h0 = static_cast<int>(fh), w0 = static_cast<int>(fw), h1 = h0 + 1, w1 = w0 + 1;
      const T lh = h - fh, lw = w - fw, hh = T(1) - lh, hw = T(1) - lw;
      const bool in_h0 = h0 >= 0, in_h1 = h1 < H, in_w0 = w0 >= 0, in_w1 = w1 < W;
      const T inside = h > T(-1) && w > T(-1) ? T(1) : T(0);  // the sample itself is nonzero
      const T a00 = inside * hh * hw, a01 = inside * hh * lw, a10 = inside * lh * hw, a11 = inside * lh * lw;
      for (int c = g * d.Cog; c < (g + 1) * d.Cog; ++c) {
        const T dv = dcol[(c * d.RS + t) * len + pos];
        const T* xc = x + c * H * W;
        const T v00 = in_h0 && in_w0 ? xc[h0 * W + w0] : T(0);
        const T v01 = in_h0 && in_w1 ? xc[h0 * W + w1] : T(0);
        const T v10 = in_h1 && in_w0 ? xc[h1 * W + w0] : T(0);
        const T v11 = in_h1 && in_w1 ? xc[h1 * W + w1] : T(0);
        gh += dv * (lw * (v11 - v01) + (T(1) - lw) * (v10 - v00));
        gw += dv * (lh * (v11 - v10) + (T(1) - lh) * (v01 - v00));
        gm += dv * (a00 * v00 + a01 * v01 + a10 * v10 + a11 * v11);
      }
    }
    const T m = mask ? mask[(g * d.RS + t) * d.PQ + pix] : T(1);
    if (doffset) {
      T* o = doffset + (g * d.RS + t) * 2 * d.PQ + pix;
      o[0] = m * gh;
      o[d.PQ] = m * gw;
    }
    if (dmask) dmask[(g * d.RS + t) * d.PQ + pix] = gm;
  }
}

// y (N, K, PQ) += bias[k]; total = N K PQ.
template <typename T>
__global__ void __launch_bounds__(kBlock) add_bias_kernel(int64_t total, int64_t K, int64_t PQ, const T* bias, T* y) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) y[i] += bias[i / PQ % K];
}

// db[k] = sum over n and pixels of dy (N, K, PQ): one block per k, a fixed tree in double.
template <typename T>
__global__ void __launch_bounds__(kBlock) bias_grad_kernel(int64_t N, int64_t K, int64_t PQ, const T* dy, T* db) {
  ABBE_SHARED(double, partial, [kBlock]);
  const int64_t k = blockIdx.x;
  double acc = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = threadIdx.x; i < PQ; i += blockDim.x) acc += static_cast<double>(dy[(n * K + k) * PQ + i]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = static_cast<T>(partial[0]);
}

// Pixels per chunk for element type T: as many as the workspace holds, at most kMaxChunk.
template <typename T>
int64_t chunk_for(const DeformConv2dShape& s) {
  const int64_t col_bytes = std::max<int64_t>(s.C * s.R * s.S, 1) * static_cast<int64_t>(sizeof(T));
  const int64_t pixels = std::max<int64_t>(s.P() * s.Q(), 1);
  return std::clamp<int64_t>(deform_conv2d_workspace_bytes(s) / col_bytes, 1, std::min(pixels, kMaxChunk));
}

}  // namespace

int64_t deform_conv2d_workspace_bytes(const DeformConv2dShape& s) {
  const int64_t col_bytes = std::max<int64_t>(s.C * s.R * s.S, 1) * static_cast<int64_t>(sizeof(double));
  const int64_t pixels = std::max<int64_t>(s.P() * s.Q(), 1);
  return std::clamp<int64_t>(kWorkspaceBudget / col_bytes, 1, std::min(pixels, kMaxChunk)) * col_bytes;
}

template <typename T>
void deform_conv2d_forward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask, const T* w,
                           const T* bias, T* y, void* workspace, void* stream) {
  if (s.N <= 0 || s.K <= 0 || s.P() * s.Q() <= 0) return;
  const int64_t chunk = chunk_for<T>(s);
  const Dims d = dims_of(s, chunk);
  const int64_t G = s.offset_groups, Kg = s.K / s.groups, CgRS = s.C / s.groups * d.RS;
  ABBE_CHECK(workspace, "deform_conv2d_forward: no workspace (deform_conv2d_workspace_bytes)");
  T* col = static_cast<T*>(workspace);
  const cudaStream_t st = as_stream(stream);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t p0 = 0; p0 < d.PQ; p0 += chunk) {
      const int64_t len = std::min<int64_t>(chunk, d.PQ - p0), total = s.C * d.RS * len;
      if (total > 0)
        ABBE_LAUNCH(im2col_kernel<T>, grid_for(total), kBlock, 0, st, total, d, static_cast<int>(p0),
                    static_cast<int>(len), x + n * s.C * s.H * s.W, offset + n * 2 * G * d.RS * d.PQ,
                    mask ? mask + n * G * d.RS * d.PQ : nullptr, col);
      for (int64_t j = 0; j < s.groups; ++j)
        gemm<T>(false, false, Kg, len, CgRS, T(1), w + j * Kg * CgRS, CgRS, col + j * CgRS * len, len, T(0),
                y + (n * s.K + j * Kg) * d.PQ + p0, d.PQ, stream);
    }
  if (bias) {
    const int64_t total = s.N * s.K * d.PQ;
    ABBE_LAUNCH(add_bias_kernel<T>, grid_for(total), kBlock, 0, st, total, s.K, static_cast<int64_t>(d.PQ), bias,
                y);
  }
}

template <typename T>
void deform_conv2d_backward(const DeformConv2dShape& s, const T* x, const T* offset, const T* mask, const T* w,
                            const T* dy, T* dx, T* doffset, T* dmask, T* dw, T* db, void* workspace, void* stream) {
  const int64_t PQ = s.P() * s.Q(), HW = s.H * s.W, CgRS = s.C / s.groups * s.R * s.S;
  const cudaStream_t st = as_stream(stream);
  if (db && s.K > 0) ABBE_LAUNCH(bias_grad_kernel<T>, static_cast<int>(s.K), kBlock, 0, st, s.N, s.K, PQ, dy, db);
  if (dx && s.N * s.C * HW > 0)
    ABBE_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(s.N * s.C * HW) * sizeof(T), st));
  if (dw && (s.N <= 0 || PQ <= 0) && s.K * CgRS > 0)
    ABBE_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(s.K * CgRS) * sizeof(T), st));
  if (s.N <= 0 || PQ <= 0 || (!dx && !doffset && !dmask && !dw)) return;
  const int64_t chunk = chunk_for<T>(s);
  const Dims d = dims_of(s, chunk);
  const int64_t G = s.offset_groups, Kg = s.K / s.groups;
  ABBE_CHECK(workspace, "deform_conv2d_backward: no workspace (deform_conv2d_workspace_bytes)");
  T* col = static_cast<T*>(workspace);
  bool first = true;  // the first dw product overwrites, the others accumulate
  for (int64_t n = 0; n < s.N; ++n) {
    const T* x_n = x + n * s.C * HW;
    const T* off_n = offset + n * 2 * G * d.RS * PQ;
    const T* mask_n = mask ? mask + n * G * d.RS * PQ : nullptr;
    const T* dy_n = dy + n * s.K * PQ;
    for (int64_t p0 = 0; p0 < PQ; p0 += chunk) {
      const int64_t len = std::min(chunk, PQ - p0), cols = s.C * d.RS * len, points = G * d.RS * len;
      const int p0i = static_cast<int>(p0), leni = static_cast<int>(len);
      if (dx || doffset || dmask) {
        for (int64_t j = 0; j < s.groups; ++j)
          gemm<T>(true, false, CgRS, len, Kg, T(1), w + j * Kg * CgRS, CgRS, dy_n + j * Kg * PQ + p0, PQ, T(0),
                  col + j * CgRS * len, len, stream);
        if (dx && cols > 0)
          ABBE_LAUNCH(col2im_kernel<T>, grid_for(cols), kBlock, 0, st, cols, d, p0i, leni, col, off_n, mask_n,
                      dx + n * s.C * HW);
        if ((doffset || dmask) && points > 0)
          ABBE_LAUNCH(coord_kernel<T>, grid_for(points), kBlock, 0, st, points, d, p0i, leni, col, x_n, off_n,
                      mask_n, doffset ? doffset + n * 2 * G * d.RS * PQ : nullptr,
                      dmask ? dmask + n * G * d.RS * PQ : nullptr);
      }
      if (dw) {
        if (cols > 0)
          ABBE_LAUNCH(im2col_kernel<T>, grid_for(cols), kBlock, 0, st, cols, d, p0i, leni, x_n, off_n, mask_n, col);
        for (int64_t j = 0; j < s.groups; ++j)
          gemm<T>(false, true, Kg, CgRS, len, T(1), dy_n + j * Kg * PQ + p0, PQ, col + j * CgRS * len, len,
                  first ? T(0) : T(1), dw + j * Kg * CgRS, CgRS, stream);
        first = false;
      }
    }
  }
}

#define ABBE_INSTANTIATE(T)                                                                                   \
  template void deform_conv2d_forward<T>(const DeformConv2dShape&, const T*, const T*, const T*, const T*,    \
                                         const T*, T*, void*, void*);                                         \
  template void deform_conv2d_backward<T>(const DeformConv2dShape&, const T*, const T*, const T*, const T*,   \
                                          const T*, T*, T*, T*, T*, T*, void*, void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cuda
