#pragma once
// The Bayesian DPA-TISR kernels (spec "Bayesian variant"), pointwise and fused:
//   laplace_nll_terms      t[i] = |y - mu| / (b + 1e-6) + log(b + 1e-6), the Laplace NLL's terms
//                          (the op takes their mean with the deterministic sum kernels);
//   laplace_nll_backward   with s = dL/dloss / n: dmu = -s sign(y - mu) / (b + eps),
//                          dy = -dmu, db = s (1 / (b + eps) - |y - mu| / (b + eps)^2); a null
//                          output pointer skips that gradient; sign(0) = 0 as abs's;
//   mc_statistics          over M samples mus, bs (M, n): out (4, n) = mean, sigma_model (std,
//                          ddof 0), sigma_data (mean b) and the confidence
//                          (1/M) sum_m [F_m(mean + e) - F_m(mean - e)],
//                          F_m(x) = 0.5 sign(x - mu_m)(1 - exp(-|x - mu_m| / b_m)), with e per
//                          pixel max(0.2 |mean|, e) when intensity_aware. Accumulated in double.
#include <cstdint>

namespace abbe::kernels::cpu {

constexpr double kLaplaceEps = 1e-6;

template <typename T> void laplace_nll_terms(int64_t n, const T* mu, const T* b, const T* y, T* terms);
template <typename T>
void laplace_nll_backward(int64_t n, const T* mu, const T* b, const T* y, T scale, T* dmu, T* db, T* dy);
template <typename T>
void mc_statistics(int64_t M, int64_t n, const T* mus, const T* bs, double e, bool intensity_aware, T* out);

}  // namespace abbe::kernels::cpu
