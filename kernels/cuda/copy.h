#pragma once
// Strided copy with dtype conversion and fill on the device: the kernels behind contiguous(),
// to(dtype), copy_() and fill_() of CUDA tensors. Same semantics as kernels/cpu/copy.h:
// ndim <= 5, sizes and strides (in elements) are host arrays, pointers are device memory.
#include <cstdint>

namespace abbe::kernels::cuda {

template <typename Src, typename Dst>
void strided_copy(int ndim, const int64_t* sizes, const Src* src, const int64_t* src_strides, Dst* dst,
                  const int64_t* dst_strides, void* stream = nullptr);

template <typename T>
void fill(int64_t n, T value, T* dst, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
