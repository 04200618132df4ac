#pragma once
// Strided copy with dtype conversion: the one kernel behind contiguous(), to(dtype), copy_() and
// the backward of views. D = number of dims (<= 5), sizes[D], strides in elements.
#include <cstdint>

namespace abbe::kernels::cpu {

template <typename Src, typename Dst>
void strided_copy(int ndim, const int64_t* sizes, const Src* src, const int64_t* src_strides,
                  Dst* dst, const int64_t* dst_strides);

template <typename T>
void fill(int64_t n, T value, T* dst);

}  // namespace abbe::kernels::cpu
