#include "kernels/cpu/copy.h"

#include <algorithm>

namespace abbe::kernels::cpu {

template <typename Src, typename Dst>
void strided_copy(int ndim, const int64_t* sizes, const Src* src, const int64_t* src_strides,
                  Dst* dst, const int64_t* dst_strides) {
  // Pad to 5 dims so the loop nest is fixed; the innermost dim is the one with unit dst stride
  // in the common case (contiguous output).
  int64_t n[5] = {1, 1, 1, 1, 1}, ss[5] = {0, 0, 0, 0, 0}, ds[5] = {0, 0, 0, 0, 0};
  const int pad = 5 - ndim;
  for (int i = 0; i < ndim; ++i) n[pad + i] = sizes[i], ss[pad + i] = src_strides[i], ds[pad + i] = dst_strides[i];
  const int64_t outer = n[0] * n[1] * n[2];
#pragma omp parallel for schedule(static) if (outer * n[3] * n[4] > 32768)
  for (int64_t o = 0; o < outer; ++o) {
    const int64_t i0 = o / (n[1] * n[2]), i1 = (o / n[2]) % n[1], i2 = o % n[2];
    const Src* s = src + i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
    Dst* d = dst + i0 * ds[0] + i1 * ds[1] + i2 * ds[2];
    for (int64_t i3 = 0; i3 < n[3]; ++i3) {
      const Src* s3 = s + i3 * ss[3];
      Dst* d3 = d + i3 * ds[3];
      if (ss[4] == 1 && ds[4] == 1) {
        for (int64_t i4 = 0; i4 < n[4]; ++i4) d3[i4] = static_cast<Dst>(s3[i4]);
      } else {
        for (int64_t i4 = 0; i4 < n[4]; ++i4) d3[i4 * ds[4]] = static_cast<Dst>(s3[i4 * ss[4]]);
      }
    }
  }
}

template <typename T>
void fill(int64_t n, T value, T* dst) {
  std::fill(dst, dst + n, value);
}

#define ABBE_INSTANTIATE_COPY(S, D) \
  template void strided_copy<S, D>(int, const int64_t*, const S*, const int64_t*, D*, const int64_t*);
ABBE_INSTANTIATE_COPY(float, float)
ABBE_INSTANTIATE_COPY(float, double)
ABBE_INSTANTIATE_COPY(double, float)
ABBE_INSTANTIATE_COPY(double, double)
template void fill<float>(int64_t, float, float*);
template void fill<double>(int64_t, double, double*);

}  // namespace abbe::kernels::cpu
