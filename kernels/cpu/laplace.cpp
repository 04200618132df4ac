#include "kernels/cpu/laplace.h"

#include <algorithm>
#include <cmath>

namespace abbe::kernels::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 14;
}

template <typename T>
void laplace_nll_terms(int64_t n, const T* mu, const T* b, const T* y, T* terms) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T s = b[i] + T(kLaplaceEps);
    terms[i] = std::abs(y[i] - mu[i]) / s + std::log(s);
  }
}

template <typename T>
void laplace_nll_backward(int64_t n, const T* mu, const T* b, const T* y, T scale, T* dmu, T* db, T* dy) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T s = b[i] + T(kLaplaceEps), d = y[i] - mu[i];
    const T sign = d > T(0) ? T(1) : d < T(0) ? T(-1) : T(0);
    if (dmu) dmu[i] = -scale * sign / s;
    if (dy) dy[i] = scale * sign / s;
    if (db) db[i] = scale * (T(1) / s - std::abs(d) / (s * s));
  }
}

template <typename T>
void mc_statistics(int64_t M, int64_t n, const T* mus, const T* bs, double e, bool intensity_aware, T* out) {
#pragma omp parallel for schedule(static) if (n * M > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    double mean = 0, bsum = 0;
    for (int64_t m = 0; m < M; ++m) mean += double(mus[m * n + i]), bsum += double(bs[m * n + i]);
    mean /= double(M);
    double var = 0, conf = 0;
    const double ee = intensity_aware ? std::max(0.2 * std::abs(mean), e) : e;
    for (int64_t m = 0; m < M; ++m) {
      const double mu = double(mus[m * n + i]), b = double(bs[m * n + i]);
      var += (mu - mean) * (mu - mean);
      // F(mean + e) - F(mean - e) for this sample's Laplace CDF (minus 1/2).
      const double hi = mean + ee - mu, lo = mean - ee - mu;
      const double fh = 0.5 * (hi > 0 ? 1.0 : hi < 0 ? -1.0 : 0.0) * (1 - std::exp(-std::abs(hi) / b));
      const double fl = 0.5 * (lo > 0 ? 1.0 : lo < 0 ? -1.0 : 0.0) * (1 - std::exp(-std::abs(lo) / b));
      conf += fh - fl;
    }
    out[i] = T(mean);
    out[n + i] = T(std::sqrt(var / double(M)));
    out[2 * n + i] = T(bsum / double(M));
    out[3 * n + i] = T(conf / double(M));
  }
}

#define ABBE_INSTANTIATE_LAPLACE(T)                                                                 \
  template void laplace_nll_terms<T>(int64_t, const T*, const T*, const T*, T*);                   \
  template void laplace_nll_backward<T>(int64_t, const T*, const T*, const T*, T, T*, T*, T*);     \
  template void mc_statistics<T>(int64_t, int64_t, const T*, const T*, double, bool, T*);
ABBE_INSTANTIATE_LAPLACE(float)
ABBE_INSTANTIATE_LAPLACE(double)
#undef ABBE_INSTANTIATE_LAPLACE

}  // namespace abbe::kernels::cpu
