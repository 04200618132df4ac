// Device strided copy and fill (see copy.h). One thread per destination element in a grid-stride
// loop over the row-major order of `sizes`: when the destination is contiguous (the common case,
// contiguous()) consecutive threads write consecutive addresses, and reads are coalesced whenever
// the source's innermost stride is 1.
#include "kernels/cuda/copy.h"

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

// Sizes and strides padded to 5 dims (leading sizes 1), passed by value.
struct Layout {
  int64_t size[5];
  int64_t src_stride[5];
  int64_t dst_stride[5];
};

template <typename Src, typename Dst>
__global__ void strided_copy_kernel(Layout l, int64_t n, const Src* __restrict__ src, Dst* __restrict__ dst) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t rest = i, s = 0, d = 0;
    for (int k = 4; k >= 0; --k) {
      const int64_t idx = rest % l.size[k];
      rest /= l.size[k];
      s += idx * l.src_stride[k];
      d += idx * l.dst_stride[k];
    }
    dst[d] = static_cast<Dst>(src[s]);
  }
}

template <typename T>
__global__ void fill_kernel(int64_t n, T value, T* __restrict__ dst) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    dst[i] = value;
}

}  // namespace

template <typename Src, typename Dst>
void strided_copy(int ndim, const int64_t* sizes, const Src* src, const int64_t* src_strides, Dst* dst,
                  const int64_t* dst_strides, void* stream) {
  ABBE_CHECK(ndim >= 0 && ndim <= 5, "strided_copy: ", ndim, " dims (at most 5)");
  Layout l;
  int64_t n = 1;
  const int pad = 5 - ndim;
  for (int k = 0; k < 5; ++k) {
    const bool real = k >= pad;
    l.size[k] = real ? sizes[k - pad] : 1;
    l.src_stride[k] = real ? src_strides[k - pad] : 0;
    l.dst_stride[k] = real ? dst_strides[k - pad] : 0;
    n *= l.size[k];
  }
  if (n == 0) return;
  ABBE_LAUNCH((strided_copy_kernel<Src, Dst>), dim3(grid_for(n)), dim3(kBlock), 0,
              static_cast<cudaStream_t>(stream), l, n, src, dst);
}

template <typename T>
void fill(int64_t n, T value, T* dst, void* stream) {
  if (n == 0) return;
  ABBE_LAUNCH((fill_kernel<T>), dim3(grid_for(n)), dim3(kBlock), 0, static_cast<cudaStream_t>(stream), n,
              value, dst);
}

#define ABBE_INSTANTIATE_COPY(S, D) \
  template void strided_copy<S, D>(int, const int64_t*, const S*, const int64_t*, D*, const int64_t*, void*);
ABBE_INSTANTIATE_COPY(float, float)
ABBE_INSTANTIATE_COPY(float, double)
ABBE_INSTANTIATE_COPY(double, float)
ABBE_INSTANTIATE_COPY(double, double)
template void fill<float>(int64_t, float, float*, void*);
template void fill<double>(int64_t, double, double*, void*);

}  // namespace abbe::kernels::cuda
