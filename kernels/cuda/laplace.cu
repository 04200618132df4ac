// The Bayesian DPA-TISR kernels (see laplace.h): grid-stride loops, one element or pixel per
// thread, the formulas of kernels/cpu/laplace.cpp (the statistics accumulated in double).
#include "kernels/cuda/laplace.h"

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

constexpr double kEps = 1e-6;

__device__ __forceinline__ float d_log(float v) { return logf(v); }
__device__ __forceinline__ double d_log(double v) { return log(v); }

template <typename T>
__device__ __forceinline__ T sign_of(T d) {
  return d > T(0) ? T(1) : d < T(0) ? T(-1) : T(0);
}

template <typename T>
__global__ void __launch_bounds__(kBlock) nll_terms(int64_t n, const T* mu, const T* b, const T* y, T* terms) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T s = b[i] + T(kEps), d = y[i] - mu[i];
    terms[i] = (d < T(0) ? -d : d) / s + d_log(s);
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) nll_backward(int64_t n, const T* mu, const T* b, const T* y, T scale,
                                                       T* dmu, T* db, T* dy) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T s = b[i] + T(kEps), d = y[i] - mu[i], sg = sign_of(d);
    if (dmu) dmu[i] = -scale * sg / s;
    if (dy) dy[i] = scale * sg / s;
    if (db) db[i] = scale * (T(1) / s - (d < T(0) ? -d : d) / (s * s));
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock) statistics(int64_t M, int64_t n, const T* mus, const T* bs, double e,
                                                     bool intensity_aware, T* out) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    double mean = 0, bsum = 0;
    for (int64_t m = 0; m < M; ++m) mean += double(mus[m * n + i]), bsum += double(bs[m * n + i]);
    mean /= double(M);
    const double am = mean < 0 ? -mean : mean;
    const double ee = intensity_aware && 0.2 * am > e ? 0.2 * am : e;
    double var = 0, conf = 0;
    for (int64_t m = 0; m < M; ++m) {
      const double mu = double(mus[m * n + i]), b = double(bs[m * n + i]);
      var += (mu - mean) * (mu - mean);
      const double hi = mean + ee - mu, lo = mean - ee - mu;
      conf += 0.5 * sign_of(hi) * (1 - exp(-(hi < 0 ? -hi : hi) / b)) -
              0.5 * sign_of(lo) * (1 - exp(-(lo < 0 ? -lo : lo) / b));
    }
    out[i] = T(mean);
    out[n + i] = T(sqrt(var / double(M)));
    out[2 * n + i] = T(bsum / double(M));
    out[3 * n + i] = T(conf / double(M));
  }
}

}  // namespace

template <typename T>
void laplace_nll_terms(int64_t n, const T* mu, const T* b, const T* y, T* terms, void* stream) {
  if (n > 0) ABBE_LAUNCH(nll_terms<T>, grid_for(n), kBlock, 0, as_stream(stream), n, mu, b, y, terms);
}

template <typename T>
void laplace_nll_backward(int64_t n, const T* mu, const T* b, const T* y, T scale, T* dmu, T* db, T* dy,
                          void* stream) {
  if (n > 0)
    ABBE_LAUNCH(nll_backward<T>, grid_for(n), kBlock, 0, as_stream(stream), n, mu, b, y, scale, dmu, db, dy);
}

template <typename T>
void mc_statistics(int64_t M, int64_t n, const T* mus, const T* bs, double e, bool intensity_aware, T* out,
                   void* stream) {
  if (n > 0 && M > 0)
    ABBE_LAUNCH(statistics<T>, grid_for(n), kBlock, 0, as_stream(stream), M, n, mus, bs, e, intensity_aware, out);
}

#define ABBE_INSTANTIATE_LAPLACE(T)                                                                          \
  template void laplace_nll_terms<T>(int64_t, const T*, const T*, const T*, T*, void*);                     \
  template void laplace_nll_backward<T>(int64_t, const T*, const T*, const T*, T, T*, T*, T*, void*);       \
  template void mc_statistics<T>(int64_t, int64_t, const T*, const T*, double, bool, T*, void*);
ABBE_INSTANTIATE_LAPLACE(float)
ABBE_INSTANTIATE_LAPLACE(double)
#undef ABBE_INSTANTIATE_LAPLACE

}  // namespace abbe::kernels::cuda
