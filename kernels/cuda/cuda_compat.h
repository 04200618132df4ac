#pragma once
// The one header every kernels/cuda/*.cu includes, and every host file that calls the CUDA runtime.
// Built by nvcc it is <cuda_runtime.h> plus thin wrappers; built by g++ with ABBE_CUDA_EMULATION it
// is the CPU emulator of kernels/emu/, which defines the same names, so a kernel and its host
// wrapper are written once and run (and are tested) in both builds. Rules for kernel code
// (kernels/emu/README.md explains why):
//  - launch with ABBE_LAUNCH(kernel, grid, block, shared_bytes, stream, args...), never <<<>>>;
//    a templated kernel goes in parentheses: ABBE_LAUNCH((reduce<float, 256>), ...);
//  - shared memory with ABBE_SHARED(T, name[, dims]) and ABBE_DYNAMIC_SHARED(T, name);
//  - warp intrinsics with abbe_shfl, abbe_shfl_up, abbe_shfl_down, abbe_shfl_xor, abbe_ballot,
//    abbe_any, abbe_all, abbe_syncwarp (and abbe_lane_id);
//  - inline PTX only inside `#ifdef __CUDA_ARCH__` with a portable #else branch;
//  - every runtime call wrapped in ABBE_CUDA_CHECK(...).
#include <cstddef>
#include <utility>

#include "graph/error.h"

#if defined(ABBE_CUDA_EMULATION) && defined(__CUDACC__)
#error "ABBE_CUDA_EMULATION is for g++ builds against kernels/emu; nvcc compiles for the real GPU"
#endif

#if defined(ABBE_CUDA_EMULATION)
#include "kernels/emu/emu.h"
#else
#include <cuda_runtime.h>
#endif

namespace abbe::detail {

// Throws abbe::Error for a failed runtime call, clearing CUDA's last error so that the next
// launch check does not report it again.
[[noreturn]] inline void cuda_failed(const char* file, int line, const char* expr, cudaError_t e) {
  std::string msg = concat("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
#if defined(ABBE_CUDA_EMULATION)
  if (*::abbe::emu::last_error_detail()) msg += concat(": ", ::abbe::emu::last_error_detail());
#endif
  (void)cudaGetLastError();
  check_failed(file, line, expr, msg);
}

}  // namespace abbe::detail

#define ABBE_CUDA_CHECK(expr)                                                               \
  do {                                                                                      \
    const cudaError_t abbe_cuda_status_ = (expr);                                           \
    if (abbe_cuda_status_ != cudaSuccess)                                                   \
      ::abbe::detail::cuda_failed(__FILE__, __LINE__, #expr, abbe_cuda_status_);            \
  } while (0)

#if defined(ABBE_CUDA_EMULATION)

// Validates the configuration (throwing abbe::Error naming the kernel, as the launch check would
// on a GPU) and runs the whole grid before returning.
#define ABBE_LAUNCH(kernel, ...) ::abbe::emu::launch(#kernel, __FILE__, __LINE__, kernel, __VA_ARGS__)

#elif defined(__CUDACC__)

namespace abbe::detail {

// kernel<<<...>>> followed by the launch check; asynchronous errors surface at the next check or
// synchronisation, as usual on a GPU.
template <typename... P, typename... A>
void cuda_launch(const char* name, const char* file, int line, void (*kernel)(P...), dim3 grid, dim3 block,
                 std::size_t shared_bytes, cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "ABBE_LAUNCH: argument count differs from the kernel's parameters");
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<A>(args)...);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    check_failed(file, line, "kernel launch",
                 concat("launch of kernel '", name, "' with grid (", grid.x, ",", grid.y, ",", grid.z, "), block (",
                        block.x, ",", block.y, ",", block.z, ") and ", shared_bytes, " bytes of dynamic shared memory failed: ",
                        cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
}

}  // namespace abbe::detail

#define ABBE_LAUNCH(kernel, ...) ::abbe::detail::cuda_launch(#kernel, __FILE__, __LINE__, kernel, __VA_ARGS__)

#define ABBE_SHARED(T, name, ...) __shared__ T name __VA_ARGS__
// All dynamic shared memory of a launch starts at the same address; one byte array with one name
// avoids nvcc's "incompatible redeclaration" when templates declare it with different types.
#define ABBE_DYNAMIC_SHARED(T, name)                                    \
  extern __shared__ __align__(16) unsigned char abbe_dynamic_shared_[]; \
  T* const name = reinterpret_cast<T*>(abbe_dynamic_shared_)

template <typename T>
__device__ __forceinline__ T abbe_shfl(unsigned mask, T v, int src_lane, int width = 32) {
  return __shfl_sync(mask, v, src_lane, width);
}
template <typename T>
__device__ __forceinline__ T abbe_shfl_up(unsigned mask, T v, unsigned delta, int width = 32) {
  return __shfl_up_sync(mask, v, delta, width);
}
template <typename T>
__device__ __forceinline__ T abbe_shfl_down(unsigned mask, T v, unsigned delta, int width = 32) {
  return __shfl_down_sync(mask, v, delta, width);
}
template <typename T>
__device__ __forceinline__ T abbe_shfl_xor(unsigned mask, T v, int lane_mask, int width = 32) {
  return __shfl_xor_sync(mask, v, lane_mask, width);
}
__device__ __forceinline__ unsigned abbe_ballot(unsigned mask, int pred) { return __ballot_sync(mask, pred); }
__device__ __forceinline__ bool abbe_any(unsigned mask, int pred) { return __any_sync(mask, pred) != 0; }
__device__ __forceinline__ bool abbe_all(unsigned mask, int pred) { return __all_sync(mask, pred) != 0; }
__device__ __forceinline__ void abbe_syncwarp(unsigned mask = 0xffffffffu) { __syncwarp(mask); }
// The lane of the calling thread: its linear index in the block modulo 32.
__device__ __forceinline__ unsigned abbe_lane_id() {
  return (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) & 31u;
}

#endif
