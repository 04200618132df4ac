#pragma once
// Sum reduction. x is contiguous with sizes in_size[ndim]; y has out_size[ndim] where each
// out_size[d] is in_size[d] (kept) or 1 (summed over). Accumulates in double.
#include <cstdint>

namespace abbe::kernels::cpu {

template <typename T>
void sum_reduce(int ndim, const int64_t* in_size, const int64_t* out_size, const T* x, T* y);

}  // namespace abbe::kernels::cpu
