// Bilinear grid sampling (see grid_sample.h). N = batch, C = channels, H,W = input size,
// P,Q = output size; r = n*P + p indexes an output row, pq = p*Q + q a pixel of one plane.
// Formulas and gradient conventions are those of ATen 1.13's vectorised CPU kernel
// (aten/src/ATen/native/cpu/GridSamplerKernel.cpp, which torch runs for float and double), in T:
// the weights are products of the distances to the cell's sides, the sum runs nw, ne, sw, se, and
// the grid gradient sums ((ne - nw) s + (se - sw) n) dy over channels before scaling it.
//
// Each output pixel's cell (corners, weights, distances) is computed once and reused for all C
// channels: per output row for the forward and dgrid (a row buffer of Q cells), and for dx, a
// scatter, in a table of every pixel's corners and weights that the per-plane scatter reads.
#include "kernels/cpu/grid_sample.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace abbe::kernels::cpu {

namespace {

// Below this many multiply-adds (output pixels x channels) a parallel region costs more than it
// saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// One axis of the input: how a normalised grid coordinate maps to a source coordinate.
template <typename T>
struct Axis {
  int64_t size;
  T scale;  // d source / d grid: (size-1)/2 with align_corners, size/2 without
  T shift;  // 0 with align_corners, 1/2 without
  T top;    // size - 1, where border padding clips
  bool border;
};

template <typename T>
Axis<T> make_axis(int64_t size, GridPadding padding, bool align_corners) {
  return {size, align_corners ? static_cast<T>(size - 1) / 2 : static_cast<T>(size) / 2,
          align_corners ? T(0) : T(0.5), static_cast<T>(size - 1),
          padding == GridPadding::border};
}

// The source coordinate of grid value g, ATen's (g + 1) * scale - shift: equal bit for bit to
// GridSampler.h's ((g + 1) / 2) * (size - 1) and ((g + 1) * size - 1) / 2, since halving is
// exact (unless the compiler contracts it into an FMA). *grad = d source / d g; the border clip
// passes none at or beyond the edges (ATen's clip_coordinates_set_grad) and sends NaN to 0.
template <typename T>
inline T source(const Axis<T>& a, T g, T* grad) {
  const T c = (g + T(1)) * a.scale - a.shift;
  if (!a.border) {
    *grad = a.scale;
    return c;
  }
  *grad = c > T(0) && c < a.top ? a.scale : T(0);
  const T lo = c > T(0) ? c : T(0);
  return lo < a.top ? lo : a.top;
}

// floor(f) as an integer, with coordinates far outside [-2, size] (and NaN) pinned to -2 or size,
// so that the conversion is defined; a pinned cell lies wholly outside the input, as the original.
template <typename T>
inline int64_t pin(T f, int64_t size) {
  if (!(f >= T(-2))) return -2;
  return f <= static_cast<T>(size) ? static_cast<int64_t>(f) : size;
}

// One sample's cell. Corners k = 0..3 are nw, ne, sw, se (north = smaller h, west = smaller w), at
// plane offsets base, base+1, base+W, base+W+1. This much is what the dx scatter needs.
template <typename T>
struct Cell {
  int64_t base;  // y0*W + x0 of the nw corner (meaningful only with the corner's `in` bit)
  T wt[4];       // bilinear weights: nw = s*e, ne = s*w, sw = n*e, se = n*w
  unsigned in;   // bit k set: corner k lies inside the plane
};
constexpr unsigned kAllIn = 15;

// The cell of grid point g (x, y); *n and *w are the distances to the cell's north and west sides
// (s = 1 - n and e = 1 - w), *mx and *my d source / d grid along w and along h.
template <typename T>
inline Cell<T> make_cell(const Axis<T>& ax, const Axis<T>& ay, const T* g, T* n, T* w, T* mx,
                         T* my) {
  const T sx = source(ax, g[0], mx), sy = source(ay, g[1], my);
  const T fx = std::floor(sx), fy = std::floor(sy);
  *w = sx - fx;
  *n = sy - fy;
  const T e = T(1) - *w, s = T(1) - *n;
  const int64_t W = ax.size, H = ay.size, x0 = pin(fx, W), y0 = pin(fy, H);
  const bool in_w = x0 >= 0 && x0 < W, in_e = x0 + 1 >= 0 && x0 + 1 < W;
  const bool in_n = y0 >= 0 && y0 < H, in_s = y0 + 1 >= 0 && y0 + 1 < H;
  return {y0 * W + x0,
          {s * e, s * *w, *n * e, *n * *w},
          unsigned(in_n && in_w) | unsigned(in_n && in_e) << 1 | unsigned(in_s && in_w) << 2 |
              unsigned(in_s && in_e) << 3};
}

// The cells of one output row, as arrays over q so that the per-channel loops read them at unit
// stride: index q for base, in, n, w, mx, my; k*Q + q for wt.
template <typename T>
struct RowCells {
  explicit RowCells(int64_t Q)
      : base(Q), in(Q), wt(4 * Q), n(Q), w(Q), mx(Q), my(Q) {}
  std::vector<int64_t> base;
  std::vector<unsigned> in;
  std::vector<T> wt, n, w, mx, my;

  void fill(const Axis<T>& ax, const Axis<T>& ay, int64_t Q, const T* grid_row,
            Cell<T>* cells_out) {
    for (int64_t q = 0; q < Q; ++q) {
      const Cell<T> c = make_cell(ax, ay, grid_row + 2 * q, &n[q], &w[q], &mx[q], &my[q]);
      base[q] = c.base;
      in[q] = c.in;
      for (int k = 0; k < 4; ++k) wt[k * Q + q] = c.wt[k];
      if (cells_out != nullptr) cells_out[q] = c;
    }
  }
};

// The four corner values of plane xc around base (0 for a corner outside). Samples with every
// corner inside, nearly all of them in a warp, take the branch-free loads.
template <typename T>
inline void corners(const T* xc, int64_t base, unsigned in, int64_t W, T v[4]) {
  if (in == kAllIn) {
    const T* a = xc + base;
    v[0] = a[0], v[1] = a[1], v[2] = a[W], v[3] = a[W + 1];
  } else {
    v[0] = in & 1u ? xc[base] : T(0);
    v[1] = in & 2u ? xc[base + 1] : T(0);
    v[2] = in & 4u ? xc[base + W] : T(0);
    v[3] = in & 8u ? xc[base + W + 1] : T(0);
  }
}

}  // namespace

// One output row per iteration: its Q cells, then C rows of y from them.
template <typename T>
void grid_sample_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                         const T* x, const T* grid, GridPadding padding, bool align_corners,
                         T* y) {
  const Axis<T> ax = make_axis<T>(W, padding, align_corners);
  const Axis<T> ay = make_axis<T>(H, padding, align_corners);
  const int64_t rows = N * P, HW = H * W;
#pragma omp parallel if (rows * Q * C > kParallelMin)
  {
    RowCells<T> row(Q);
    const int64_t* base = row.base.data();
    const unsigned* in = row.in.data();
    const T* wt = row.wt.data();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = r / P, p = r % P;
      row.fill(ax, ay, Q, grid + r * Q * 2, nullptr);
      for (int64_t c = 0; c < C; ++c) {
        const T* xc = x + (n * C + c) * HW;
        T* yr = y + ((n * C + c) * P + p) * Q;
        for (int64_t q = 0; q < Q; ++q) {
          T v[4];
          corners(xc, base[q], in[q], W, v);
          yr[q] = v[0] * wt[q] + v[1] * wt[Q + q] + v[2] * wt[2 * Q + q] + v[3] * wt[3 * Q + q];
        }
      }
    }
  }
}

// Pass 1, over output rows: each pixel's cell (into the dx table) and, for dgrid, the channel sums
// ATen forms: gx += ((ne - nw) s + (se - sw) n) dy, gy += ((sw - nw) e + (se - ne) w) dy, then
// dgrid = (gx mx, gy my). Pass 2, over planes: dx[corner] += weight * dy, pixels in raster order,
// corners nw, ne, sw, se.
template <typename T>
void grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                          const T* x, const T* grid, GridPadding padding, bool align_corners,
                          const T* dy, T* dx, T* dgrid) {
  if (dx == nullptr && dgrid == nullptr) return;
  const Axis<T> ax = make_axis<T>(W, padding, align_corners);
  const Axis<T> ay = make_axis<T>(H, padding, align_corners);
  const int64_t rows = N * P, HW = H * W, PQ = P * Q;
  std::vector<Cell<T>> table(dx != nullptr ? static_cast<size_t>(rows * Q) : 0);
#pragma omp parallel if (rows * Q * (dgrid != nullptr ? C : 1) > kParallelMin)
  {
    RowCells<T> row(Q);
    const int64_t* base = row.base.data();
    const unsigned* in = row.in.data();
    const T* nn = row.n.data();
    const T* ww = row.w.data();
    std::vector<T> gx(static_cast<size_t>(Q)), gy(static_cast<size_t>(Q));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = r / P, p = r % P;
      row.fill(ax, ay, Q, grid + r * Q * 2, dx != nullptr ? table.data() + r * Q : nullptr);
      if (dgrid == nullptr) continue;
      std::fill(gx.begin(), gx.end(), T(0));
      std::fill(gy.begin(), gy.end(), T(0));
      for (int64_t c = 0; c < C; ++c) {
        const T* xc = x + (n * C + c) * HW;
        const T* d = dy + ((n * C + c) * P + p) * Q;
        for (int64_t q = 0; q < Q; ++q) {
          T v[4];
          corners(xc, base[q], in[q], W, v);
          const T s = T(1) - nn[q], e = T(1) - ww[q];
          gx[q] += ((v[1] - v[0]) * s + (v[3] - v[2]) * nn[q]) * d[q];
          gy[q] += ((v[2] - v[0]) * e + (v[3] - v[1]) * ww[q]) * d[q];
        }
      }
      T* dg = dgrid + r * Q * 2;
      for (int64_t q = 0; q < Q; ++q) {
        dg[2 * q] = gx[q] * row.mx[q];
        dg[2 * q + 1] = gy[q] * row.my[q];
      }
    }
  }
  if (dx == nullptr) return;
  const int64_t planes = N * C;
#pragma omp parallel for schedule(static) if (planes * PQ > kParallelMin)
  for (int64_t nc = 0; nc < planes; ++nc) {
    T* dxp = dx + nc * HW;
    std::fill(dxp, dxp + HW, T(0));
    const T* d = dy + nc * PQ;
    const Cell<T>* cells = table.data() + (nc / C) * PQ;
    for (int64_t pq = 0; pq < PQ; ++pq) {
      const Cell<T>& cell = cells[pq];
      const T g = d[pq];
      if (cell.in == kAllIn) {
        T* a = dxp + cell.base;
        a[0] += cell.wt[0] * g;
        a[1] += cell.wt[1] * g;
        a[W] += cell.wt[2] * g;
        a[W + 1] += cell.wt[3] * g;
      } else {
        if (cell.in & 1u) dxp[cell.base] += cell.wt[0] * g;
        if (cell.in & 2u) dxp[cell.base + 1] += cell.wt[1] * g;
        if (cell.in & 4u) dxp[cell.base + W] += cell.wt[2] * g;
        if (cell.in & 8u) dxp[cell.base + W + 1] += cell.wt[3] * g;
      }
    }
  }
}

#define ABBE_INSTANTIATE_GRID_SAMPLE(T)                                                            \
  template void grid_sample_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,      \
                                       const T*, const T*, GridPadding, bool, T*);                 \
  template void grid_sample_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                        const T*, const T*, GridPadding, bool, const T*, T*, T*);
ABBE_INSTANTIATE_GRID_SAMPLE(float)
ABBE_INSTANTIATE_GRID_SAMPLE(double)
#undef ABBE_INSTANTIATE_GRID_SAMPLE

}  // namespace abbe::kernels::cpu
