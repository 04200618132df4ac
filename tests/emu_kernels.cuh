#pragma once
// Kernels that exercise the CUDA emulator, written exactly as for the GPU (through
// kernels/cuda/cuda_compat.h). tests/test_emu.cpp runs them under emulation; the real-CUDA build
// check compiles this header with nvcc (see kernels/emu/README.md), so both sides see one source.
// Several kernels take a template flag that plants a classic bug (a missing barrier, a wrong
// shuffle offset): the emulator's tests prove that these bugs change the result.
//
// Host launchers take device pointers (cudaMalloc) and a stream, like every kernels/cuda wrapper.
#include "kernels/cuda/cuda_compat.h"

namespace abbe::emu_test {

// ---- Block reduction: grid-stride accumulate, shared-memory tree down to one warp, shuffle tail.
// kDrop plants a bug: 0 drops the barrier after the store to shared memory, 1 drops the barrier
// after the first tree step, -1 is the correct kernel. x is (n), partial is (gridDim.x).
template <int kBlock, int kDrop>
__global__ void __launch_bounds__(kBlock) block_sum(const float* __restrict__ x, float* __restrict__ partial, int n) {
  static_assert(kBlock >= 64 && (kBlock & (kBlock - 1)) == 0, "power-of-two block of at least two warps");
  ABBE_SHARED(float, s, [kBlock]);
  const int t = static_cast<int>(threadIdx.x);
  float acc = 0.0f;
  for (int i = static_cast<int>(blockIdx.x) * kBlock + t; i < n; i += static_cast<int>(gridDim.x) * kBlock) acc += x[i];
  s[t] = acc;
  if (kDrop != 0) __syncthreads();
  for (int stride = kBlock / 2; stride >= 32; stride /= 2) {
    if (t < stride) s[t] += s[t + stride];
    if (kDrop != 1 || stride != kBlock / 2) __syncthreads();
  }
  if (t < 32) {
    float v = s[t];
    for (int offset = 16; offset > 0; offset /= 2) v += abbe_shfl_down(0xffffffffu, v, static_cast<unsigned>(offset));
    if (t == 0) partial[blockIdx.x] = v;
  }
}

// Sum of x (n floats) into *out (one float): `blocks` partial sums, then one block sums those.
// partial holds `blocks` floats.
template <int kDrop>
inline void device_sum(const float* x, int n, float* partial, int blocks, float* out, cudaStream_t stream) {
  ABBE_LAUNCH((block_sum<256, kDrop>), blocks, 256, 0, stream, x, partial, n);
  ABBE_LAUNCH((block_sum<256, -1>), 1, 256, 0, stream, partial, out, blocks);
}

// ---- Tiled transpose through a 32x33 shared tile (the +1 column avoids bank conflicts); any
// sizes. Blocks are (32, 8), each thread moves 4 rows; grid (ceil(cols/32), ceil(rows/32)).
// in is (rows, cols), out is (cols, rows).
__global__ void transpose(const float* __restrict__ in, float* __restrict__ out, int rows, int cols) {
  ABBE_SHARED(float, tile, [32][33]);
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  int x = static_cast<int>(blockIdx.x) * 32 + tx;
  int y = static_cast<int>(blockIdx.y) * 32 + ty;
  for (int j = 0; j < 32; j += 8)
    if (x < cols && y + j < rows) tile[ty + j][tx] = in[(y + j) * cols + x];
  __syncthreads();
  x = static_cast<int>(blockIdx.y) * 32 + tx;
  y = static_cast<int>(blockIdx.x) * 32 + ty;
  for (int j = 0; j < 32; j += 8)
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[tx][ty + j];
}

inline void launch_transpose(const float* in, float* out, int rows, int cols, cudaStream_t stream) {
  ABBE_LAUNCH(transpose, dim3((cols + 31) / 32, (rows + 31) / 32), dim3(32, 8), 0, stream, in, out, rows, cols);
}

// ---- Scans. Inclusive warp scan by shfl_up (Hillis-Steele); kBad adds a wrong offset to the
// shuffle. The block scan scans each warp, scans the warp totals in warp 0 and adds them back.
// in/out are (n); each block scans its own blockDim.x-long segment.
template <int kBad>
__device__ __forceinline__ int warp_inclusive_scan(int v) {
  const unsigned lane = abbe_lane_id();
  for (unsigned offset = 1; offset < 32; offset *= 2) {
    const int up = abbe_shfl_up(0xffffffffu, v, offset + kBad);
    if (lane >= offset) v += up;
  }
  return v;
}

template <int kBad>
__global__ void block_scan(const int* __restrict__ in, int* __restrict__ out, int n) {
  ABBE_SHARED(int, warp_totals, [32]);
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  int v = warp_inclusive_scan<kBad>(i < n ? in[i] : 0);
  if (lane == 31) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int total = warp_inclusive_scan<kBad>(lane < warps ? warp_totals[lane] : 0);
    warp_totals[lane] = total;
  }
  __syncthreads();
  if (warp > 0) v += warp_totals[warp - 1];
  if (i < n) out[i] = v;
}

template <int kBad>
inline void launch_block_scan(const int* in, int* out, int n, int block, cudaStream_t stream) {
  ABBE_LAUNCH(block_scan<kBad>, (n + block - 1) / block, block, 0, stream, in, out, n);
}

// ---- Warp intrinsic semantics, one warp: out is (8, 32), one row per intrinsic.
__global__ void warp_probe(int* out) {
  const int lane = static_cast<int>(abbe_lane_id());
  out[0 * 32 + lane] = abbe_shfl_xor(0xffffffffu, lane, 1);
  out[1 * 32 + lane] = abbe_shfl(0xffffffffu, lane, 5, 16);
  out[2 * 32 + lane] = abbe_shfl_down(0xffffffffu, lane, 3u, 8);
  out[3 * 32 + lane] = abbe_shfl_up(0xffffffffu, lane, 2u, 8);
  out[4 * 32 + lane] = static_cast<int>(abbe_ballot(0xffffffffu, lane % 3 == 0));
  out[5 * 32 + lane] = abbe_any(0xffffffffu, lane == 7);
  out[6 * 32 + lane] = abbe_all(0xffffffffu, lane < 31);
  // A shuffle within the lower half only: the upper half does not take part.
  int half = -1;
  if (lane < 16) half = abbe_shfl_xor(0x0000ffffu, lane, 8);
  abbe_syncwarp();
  out[7 * 32 + lane] = half;
}

// ---- Histogram of values in [0, bins): one privatised histogram per block in shared memory,
// merged into the global one with atomics (so blocks on different OS threads race on `hist`).
// values is (n), hist is (bins) and must start at zero. Dynamic shared memory: bins ints.
__global__ void histogram(const int* __restrict__ values, int n, int* __restrict__ hist, int bins) {
  ABBE_DYNAMIC_SHARED(int, local);
  for (int b = static_cast<int>(threadIdx.x); b < bins; b += static_cast<int>(blockDim.x)) local[b] = 0;
  __syncthreads();
  const int stride = static_cast<int>(gridDim.x * blockDim.x);
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += stride) atomicAdd(&local[values[i]], 1);
  __syncthreads();
  for (int b = static_cast<int>(threadIdx.x); b < bins; b += static_cast<int>(blockDim.x)) atomicAdd(&hist[b], local[b]);
}

// The same straight into global memory: every increment contends across blocks.
__global__ void histogram_global(const int* __restrict__ values, int n, int* __restrict__ hist) {
  const int stride = static_cast<int>(gridDim.x * blockDim.x);
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += stride) atomicAdd(&hist[values[i]], 1);
}

// Every atomic flavour over x (n), all threads of all blocks hitting the one AtomicTotals.
struct AtomicTotals {
  double dsum;
  float fsum;
  int imax, imin;
  unsigned long long count;
  unsigned ticket;  // atomicInc wraps at 1000
  int cas_max;      // maximum computed with an atomicCAS loop
  int last;         // whatever atomicExch left
};
__global__ void atomic_mix(const int* __restrict__ x, int n, AtomicTotals* t) {
  const int stride = static_cast<int>(gridDim.x * blockDim.x);
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += stride) {
    const int v = x[i];
    atomicAdd(&t->dsum, static_cast<double>(v));
    atomicAdd(&t->fsum, 1.0f);
    atomicMax(&t->imax, v);
    atomicMin(&t->imin, v);
    atomicAdd(&t->count, 1ull);
    atomicInc(&t->ticket, 999u);
    int old = t->cas_max;
    while (old < v) {
      const int seen = atomicCAS(&t->cas_max, old, v);
      if (seen == old) break;
      old = seen;
    }
    atomicExch(&t->last, v);
  }
}

// ---- Iterative 3-point smoothing of each block's segment in shared memory: load, then `iters`
// rounds of (read neighbours | barrier | write in place | barrier). kDropReadBarrier plants a
// write-after-read race. Segment edges are clamped. x and y are (n), n a multiple of blockDim.x;
// dynamic shared memory: blockDim.x floats.
template <bool kDropReadBarrier>
__global__ void smooth(const float* __restrict__ x, float* __restrict__ y, int iters) {
  ABBE_DYNAMIC_SHARED(float, b);
  const int t = static_cast<int>(threadIdx.x), last = static_cast<int>(blockDim.x) - 1;
  const int i = static_cast<int>(blockIdx.x * blockDim.x) + t;
  b[t] = x[i];
  __syncthreads();
  for (int k = 0; k < iters; ++k) {
    const float v = (b[max(t - 1, 0)] + b[t] + b[min(t + 1, last)]) * (1.0f / 3.0f);
    if (!kDropReadBarrier) __syncthreads();
    b[t] = v;
    __syncthreads();
  }
  y[i] = b[t];
}

template <bool kDropReadBarrier>
inline void launch_smooth(const float* x, float* y, int n, int block, int iters, cudaStream_t stream) {
  ABBE_LAUNCH(smooth<kDropReadBarrier>, n / block, block, block * sizeof(float), stream, x, y, iters);
}

// ---- 3-D grid of 3-D blocks: each thread writes its global linear index at its (z, y, x) place
// and counts its visit. out and visits are (Z, Y, X) with X = grid.x*block.x, etc.
__global__ void index_3d(int* __restrict__ out, int* __restrict__ visits) {
  const int X = static_cast<int>(gridDim.x * blockDim.x), Y = static_cast<int>(gridDim.y * blockDim.y);
  const int x = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int y = static_cast<int>(blockIdx.y * blockDim.y + threadIdx.y);
  const int z = static_cast<int>(blockIdx.z * blockDim.z + threadIdx.z);
  const int at = (z * Y + y) * X + x;
  out[at] = static_cast<int>(((blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x) * 1000 +
                             (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x);
  atomicAdd(&visits[at], 1);
}

// ---- Grid-stride saxpy: y = a*x + y over n, for any grid.
__global__ void saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += static_cast<int>(gridDim.x * blockDim.x))
    y[i] = a * x[i] + y[i];
}

// ---- __constant__ memory, filled with cudaMemcpyToSymbol: y[i] = x[i] * scale[i % 4].
__constant__ float kScale[4];
__global__ void scale_by_constant(const float* __restrict__ x, float* __restrict__ y, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) y[i] = x[i] * kScale[i % 4];
}

// ---- Parameters are per-thread copies: thread 0 zeroes its `n`, the others must still see theirs.
__global__ void param_copies(int n, int* out) {
  if (threadIdx.x == 0) n = 0;
  __syncthreads();
  out[threadIdx.x] = n;
}

// ---- Block-wide votes: out = {count of odd threads, all below blockDim, any equal to 5}.
__global__ void barrier_votes(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int odd = __syncthreads_count(t % 2);
  const int all = __syncthreads_and(t < static_cast<int>(blockDim.x));
  const int any = __syncthreads_or(t == 5);
  if (t == 0) {
    out[0] = odd;
    out[1] = all;
    out[2] = any;
  }
}

// ---- Broken on purpose: a barrier only half the block reaches; a barrier at two different
// lines; a shuffle naming a lane that has exited.
__global__ void divergent_barrier(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void split_barrier(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}
__global__ void shuffle_after_exit(int* out) {
  if (threadIdx.x >= 8) return;
  out[threadIdx.x] = abbe_shfl_down(0xffffffffu, static_cast<int>(threadIdx.x), 1u);
}

// A do-nothing kernel for launch-configuration checks; `p` is checked as a pointer argument.
__global__ void noop(float* p) {
  if (p && threadIdx.x == 0 && blockIdx.x == 0) p[0] = 0.0f;
}

// For the nvcc build check (kernels/emu/README.md, "Checking the real-GPU side"): instantiate every
// templated launcher, and with it every kernel, so that nvcc compiles all of them.
#ifdef ABBE_EMU_KERNELS_INSTANTIATE
template void device_sum<-1>(const float*, int, float*, int, float*, cudaStream_t);
template void device_sum<0>(const float*, int, float*, int, float*, cudaStream_t);
template void device_sum<1>(const float*, int, float*, int, float*, cudaStream_t);
template void launch_block_scan<0>(const int*, int*, int, int, cudaStream_t);
template void launch_block_scan<1>(const int*, int*, int, int, cudaStream_t);
template void launch_smooth<false>(const float*, float*, int, int, int, cudaStream_t);
template void launch_smooth<true>(const float*, float*, int, int, int, cudaStream_t);
#endif

}  // namespace abbe::emu_test
