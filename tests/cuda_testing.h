#pragma once
// Helpers for the kernel-level CUDA tests (tests/test_cuda_*.cpp, run on the emulator): device
// buffers, seeded inputs and an elementwise comparison that reports the first mismatch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_compat.h"

namespace abbe::testing::cuda {

// n elements of T in device memory (cudaMalloc), freed on destruction.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t n) : n_(n) {
    void* p = nullptr;
    ABBE_CUDA_CHECK(cudaMalloc(&p, static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(T)));
    ptr_ = static_cast<T*>(p);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(static_cast<int64_t>(host.size())) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { (void)cudaFree(ptr_); }
  T* get() const { return ptr_; }
  void upload(const std::vector<T>& host) {
    if (!host.empty())
      ABBE_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<std::size_t>(n_));
    if (n_ > 0) ABBE_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, host.size() * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* ptr_ = nullptr;
  int64_t n_;
};

// n values uniform in [lo, hi), seeded.
template <typename T>
std::vector<T> random_vec(int64_t n, unsigned seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& e : v) e = static_cast<T>(dist(rng));
  return v;
}

// tol 0: bit-identical. Otherwise |got - want| <= tol * max(1, |want|) (the inputs are O(1), so
// this is relative for large values and does not demand relative accuracy of cancelled sums);
// NaN matches NaN. Reports the first mismatch.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    const bool ok = tol == 0 ? std::memcmp(&got[i], &want[i], sizeof(T)) == 0
                             : (std::isnan(g) && std::isnan(w)) || std::abs(g - w) <= tol * std::max(1.0, std::abs(w));
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " of " << got.size() << " is " << g << ", expected " << w
                    << " (tolerance " << tol << ")";
      return;
    }
  }
}

}  // namespace abbe::testing::cuda
