#include "kernels/cpu/reduce.h"

#include <vector>

namespace abbe::kernels::cpu {

template <typename T>
void sum_reduce(int ndim, const int64_t* in_size, const int64_t* out_size, const T* x, T* y) {
  std::vector<int64_t> in_stride(ndim), kept, red;  // kept/red: dims of the output / summed
  int64_t acc = 1;
  for (int d = ndim - 1; d >= 0; --d) in_stride[d] = acc, acc *= in_size[d];
  int64_t n_out = 1, n_red = 1;
  for (int d = 0; d < ndim; ++d) {
    if (out_size[d] == in_size[d]) kept.push_back(d), n_out *= in_size[d];
    else red.push_back(d), n_red *= in_size[d];
  }
  // The innermost summed dim, when it is the last dim, is a contiguous run.
  const bool inner_run = !red.empty() && red.back() == ndim - 1;
  const int64_t run = inner_run ? in_size[ndim - 1] : 1;
  const int64_t n_outer_red = n_red / run;
#pragma omp parallel for schedule(static) if (n_out * n_red > (1 << 15))
  for (int64_t o = 0; o < n_out; ++o) {
    int64_t base = 0, rem = o;
    for (int k = static_cast<int>(kept.size()) - 1; k >= 0; --k) {
      const int d = kept[k];
      base += (rem % in_size[d]) * in_stride[d];
      rem /= in_size[d];
    }
    double s = 0;
    for (int64_t r = 0; r < n_outer_red; ++r) {
      int64_t off = base, rr = r;
      for (int k = static_cast<int>(red.size()) - 1 - (inner_run ? 1 : 0); k >= 0; --k) {
        const int d = red[k];
        off += (rr % in_size[d]) * in_stride[d];
        rr /= in_size[d];
      }
      const T* p = x + off;
      for (int64_t i = 0; i < run; ++i) s += p[i];
    }
    y[o] = static_cast<T>(s);
  }
}

template void sum_reduce<float>(int, const int64_t*, const int64_t*, const float*, float*);
template void sum_reduce<double>(int, const int64_t*, const int64_t*, const double*, double*);

}  // namespace abbe::kernels::cpu
