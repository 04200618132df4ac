// CUDA dropout (see dropout.h): a grid-stride loop over 256-thread blocks; the mask comes from
// graph/rng.h's constexpr Philox, called in device code (nvcc: --expt-relaxed-constexpr), so it
// is the CPU kernel's mask bit for bit.
#include "kernels/cuda/dropout.h"

#include <cstdint>

#include "graph/rng.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

// x, y: (n). pf and scale are rounded on the host exactly as the CPU kernel rounds them.
template <typename T>
__global__ void __launch_bounds__(kBlock) dropout_kernel(int64_t n, float pf, T scale, uint64_t seed, uint64_t base,
                                                         const T* x, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    y[i] = Philox::uniform(seed, base + static_cast<uint64_t>(i)) >= pf ? x[i] * scale : T(0);
}

}  // namespace

template <typename T>
void dropout_apply(int64_t n, double p, uint64_t seed, uint64_t base, const T* x, T* y, void* stream) {
  if (n <= 0) return;
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const float pf = static_cast<float>(p);
  ABBE_LAUNCH(dropout_kernel<T>, grid_for(n), kBlock, 0, static_cast<cudaStream_t>(stream), n, pf, scale, seed, base,
              x, y);
}

template void dropout_apply<float>(int64_t, double, uint64_t, uint64_t, const float*, float*, void*);
template void dropout_apply<double>(int64_t, double, uint64_t, uint64_t, const double*, double*, void*);

}  // namespace abbe::kernels::cuda
