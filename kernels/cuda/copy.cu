// Device strided copy and fill (see copy.h). One thread per destination element in a grid-stride
// loop over the row-major order of `sizes`: when the destination is contiguous (the common case,
// contiguous()) consecutive threads write consecutive addresses, and reads are coalesced whenever
// the source's innermost stride is 1.
//
// The index arithmetic is the cost of a copy on a GPU (a div and a mod per dim and element), so
// the host first drops size-1 dims and merges dims that are contiguous in both tensors (a plain
// cast copy becomes one dim), and uses 32-bit indices whenever every offset fits (64-bit integer
// division is emulated in software on GPUs).
#include "kernels/cuda/copy.h"

#include <algorithm>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

// Up to 5 dims, outermost first; dims [0, ndim) are used.
template <typename Index>
struct Layout {
  int ndim;
  Index size[5];
  Index src_stride[5];
  Index dst_stride[5];
};

template <typename Index, typename Src, typename Dst>
__global__ void strided_copy_kernel(Layout<Index> l, Index n, const Src* __restrict__ src, Dst* __restrict__ dst) {
  for (Index i = static_cast<Index>(global_thread()); i < n; i += static_cast<Index>(grid_threads())) {
    Index rest = i, s = 0, d = 0;
    // A fixed trip count, so the unrolled loop indexes the parameter arrays with constants (a
    // loop bounded by l.ndim would copy them to local memory).
    ABBE_UNROLL
    for (int k = 4; k >= 0; --k) {
      if (k >= l.ndim) continue;
      const Index idx = rest % l.size[k];
      rest /= l.size[k];
      s += idx * l.src_stride[k];
      d += idx * l.dst_stride[k];
    }
    dst[d] = static_cast<Dst>(src[s]);
  }
}

template <typename T>
__global__ void fill_kernel(int64_t n, T value, T* __restrict__ dst) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) dst[i] = value;
}

template <typename Index, typename Src, typename Dst>
void launch_copy(const Layout<int64_t>& l64, int64_t n, const Src* src, Dst* dst, void* stream) {
  Layout<Index> l{l64.ndim, {}, {}, {}};
  for (int k = 0; k < l64.ndim; ++k) {
    l.size[k] = static_cast<Index>(l64.size[k]);
    l.src_stride[k] = static_cast<Index>(l64.src_stride[k]);
    l.dst_stride[k] = static_cast<Index>(l64.dst_stride[k]);
  }
  ABBE_LAUNCH((strided_copy_kernel<Index, Src, Dst>), dim3(grid_for(n)), dim3(kBlock), 0, as_stream(stream), l,
              static_cast<Index>(n), src, dst);
}

}  // namespace

template <typename Src, typename Dst>
void strided_copy(int ndim, const int64_t* sizes, const Src* src, const int64_t* src_strides, Dst* dst,
                  const int64_t* dst_strides, void* stream) {
  ABBE_CHECK(ndim >= 0 && ndim <= 5, "strided_copy: ", ndim, " dims (at most 5)");
  int64_t n = 1;
  for (int k = 0; k < ndim; ++k) n *= sizes[k];
  if (n == 0) return;
  // Drop size-1 dims; merge a dim into the previous (outer) one when both tensors step over the
  // pair as over one dim.
  Layout<int64_t> l{0, {}, {}, {}};
  for (int k = 0; k < ndim; ++k) {
    if (sizes[k] == 1) continue;
    const int j = l.ndim - 1;
    if (j >= 0 && l.src_stride[j] == sizes[k] * src_strides[k] && l.dst_stride[j] == sizes[k] * dst_strides[k]) {
      l.size[j] *= sizes[k];
      l.src_stride[j] = src_strides[k];
      l.dst_stride[j] = dst_strides[k];
    } else {
      l.size[l.ndim] = sizes[k], l.src_stride[l.ndim] = src_strides[k], l.dst_stride[l.ndim] = dst_strides[k];
      ++l.ndim;
    }
  }
  // Largest element offset either side touches (strides are non-negative for abbe's views).
  int64_t reach = n;
  for (int k = 0; k < l.ndim; ++k) {
    reach = std::max(reach, (l.size[k] - 1) * l.src_stride[k] + 1);
    reach = std::max(reach, (l.size[k] - 1) * l.dst_stride[k] + 1);
  }
  if (reach < (int64_t(1) << 30))  // margin for the grid-stride increment
    launch_copy<int32_t>(l, n, src, dst, stream);
  else
    launch_copy<int64_t>(l, n, src, dst, stream);
}

template <typename T>
void fill(int64_t n, T value, T* dst, void* stream) {
  if (n == 0) return;
  ABBE_LAUNCH((fill_kernel<T>), dim3(grid_for(n)), dim3(kBlock), 0, as_stream(stream), n, value, dst);
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
