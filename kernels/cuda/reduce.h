#pragma once
// Sum reduction of the CUDA backend: the semantics of kernels/cpu/reduce.h over device pointers.
// Plain C++: no CUDA header. `stream` is a cudaStream_t passed as void* (nullptr: default stream);
// the launcher is asynchronous on it and throws abbe::Error if a launch fails.
#include <cstdint>

namespace abbe::kernels::cuda {

// Dimensions sum_reduce accepts (the CPU kernel has no limit; abbe tensors have at most 5).
constexpr int kReduceMaxDims = 8;

// Device scratch sum_reduce needs for this shape: 0 when one pass suffices, else one double per
// (output, split) partial sum. in_size and out_size are host arrays of ndim entries.
int64_t sum_reduce_workspace_bytes(int ndim, const int64_t* in_size, const int64_t* out_size);

// x is contiguous with sizes in_size[ndim]; y (contiguous) has out_size[ndim], where each
// out_size[d] is in_size[d] (kept) or 1 (summed over). in_size and out_size are HOST arrays,
// x and y device pointers; workspace is device memory of sum_reduce_workspace_bytes (may be null
// when that is 0). Accumulates in double and rounds once to T, like the CPU kernel; an empty
// reduction gives 0. Deterministic: a fixed-shape tree (no atomics), so the result depends only
// on the shape and the data, never on scheduling; it may differ from the CPU's ascending double
// sum in the last bits of the double (so, rarely, by one ulp of a float result).
template <typename T>
void sum_reduce(int ndim, const int64_t* in_size, const int64_t* out_size, const T* x, T* y, void* workspace,
                void* stream = nullptr);

}  // namespace abbe::kernels::cuda
