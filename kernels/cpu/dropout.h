#pragma once
// Dropout with a counter-based mask: element i is kept when Philox::uniform(seed, base + i) >= p,
// so the mask is recomputed (not stored) for backward and is the same on every device and thread
// count. y = keep ? x / (1 - p) : 0. The backward is the same kernel applied to dy.
#include <cstdint>

namespace abbe::kernels::cpu {

template <typename T>
void dropout_apply(int64_t n, double p, uint64_t seed, uint64_t base, const T* x, T* y);

}  // namespace abbe::kernels::cpu
