#pragma once
// Dropout of the CUDA backend: the semantics of kernels/cpu/dropout.h over device pointers, with
// the same counter-based mask: element i is kept when Philox::uniform(seed, base + i) >= p, so a
// seed gives the same mask on the CPU and the GPU. Plain C++: no CUDA header. `stream` is a
// cudaStream_t passed as void* (nullptr: default stream); asynchronous; throws abbe::Error if the
// launch fails.
#include <cstdint>

namespace abbe::kernels::cuda {

// y (n) = keep ? x (n) / (1 - p) : 0. y may be x. The backward is the same call applied to dy.
template <typename T>
void dropout_apply(int64_t n, double p, uint64_t seed, uint64_t base, const T* x, T* y, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
