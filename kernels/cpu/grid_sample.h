#pragma once
// Bilinear grid sampling, forward and backward: F.grid_sample(x, grid, mode='bilinear') of
// PyTorch 1.13 for 4-D input, the warp behind optical-flow alignment (flow_warp, SPyNet).
// N = batch, C = channels, H,W = input height,width, P,Q = output (grid) height,width.
// x, y, dy, dx are contiguous NCHW; grid and dgrid are contiguous (N, P, Q, 2), with
// grid[n,p,q,0] the x (width) coordinate and grid[n,p,q,1] the y (height) one, normalised so that
// -1 and +1 are the corner pixels' centres (align_corners) or the image's outer edges (not).
// Threads: forward and dgrid split the N*P output rows, dx splits the N*C planes, so every output
// element is summed by one thread in a fixed order: results do not depend on the thread count.
#include <cstdint>

namespace abbe::kernels::cpu {

// What a sample outside the input reads: zeros, or the nearest border pixel (the coordinate is
// clipped to [0, size-1], and the clip passes no gradient to the grid outside or on the border).
enum class GridPadding { zeros, border };

// x is (N, C, H, W), grid is (N, P, Q, 2), y is (N, C, P, Q). H, W >= 1.
template <typename T>
void grid_sample_forward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                         const T* x, const T* grid, GridPadding padding, bool align_corners, T* y);

// dy is (N, C, P, Q); dx is (N, C, H, W) and dgrid is (N, P, Q, 2), each overwritten, and either
// may be null (not computed). The conventions of ATen's CPU kernel: a source coordinate exactly on
// a pixel takes its gradient from the cell to its right/below; corners outside the input add
// nothing; d source / d grid is (size-1)/2 with align_corners, size/2 without (0 where clipped).
template <typename T>
void grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q,
                          const T* x, const T* grid, GridPadding padding, bool align_corners,
                          const T* dy, T* dx, T* dgrid);

}  // namespace abbe::kernels::cpu
