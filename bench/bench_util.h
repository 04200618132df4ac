#pragma once
// Shared by the bench_*.cpp files: the thread count every bench runs with and seeded inputs.
#include <cstdint>
#include <random>
#include <vector>

namespace abbe::bench {

constexpr int kThreads = 2;

// n values uniform in [-1, 1) from a fixed seed.
inline std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& e : v) e = u(rng);
  return v;
}

}  // namespace abbe::bench
