#include "kernels/cpu/dropout.h"

#include "graph/rng.h"

namespace abbe::kernels::cpu {

template <typename T>
void dropout_apply(int64_t n, double p, uint64_t seed, uint64_t base, const T* x, T* y) {
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const float pf = static_cast<float>(p);
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t i = 0; i < n; ++i)
    y[i] = Philox::uniform(seed, base + static_cast<uint64_t>(i)) >= pf ? x[i] * scale : T(0);
}

template void dropout_apply<float>(int64_t, double, uint64_t, uint64_t, const float*, float*);
template void dropout_apply<double>(int64_t, double, uint64_t, uint64_t, const double*, double*);

}  // namespace abbe::kernels::cpu
