#pragma once
// The Bayesian DPA-TISR kernels on the device: kernels/cpu/laplace.h's functions and semantics,
// plus the stream (a cudaStream_t as void*; nullptr: the default stream). Asynchronous.
#include <cstdint>

namespace abbe::kernels::cuda {

template <typename T>
void laplace_nll_terms(int64_t n, const T* mu, const T* b, const T* y, T* terms, void* stream = nullptr);
template <typename T>
void laplace_nll_backward(int64_t n, const T* mu, const T* b, const T* y, T scale, T* dmu, T* db, T* dy,
                          void* stream = nullptr);
template <typename T>
void mc_statistics(int64_t M, int64_t n, const T* mus, const T* bs, double e, bool intensity_aware, T* out,
                   void* stream = nullptr);

}  // namespace abbe::kernels::cuda
