#pragma once
// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011). Element i of a draw is a
// pure function of (seed, offset + i), so results do not depend on the thread count or on how the
// work is split — the CPU and CUDA dropout masks for a seed are the same.
#include <array>
#include <cmath>
#include <cstdint>

namespace abbe {

struct Philox {
  static constexpr std::array<uint32_t, 4> block(uint64_t seed, uint64_t counter) {
    uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
    uint32_t c2 = 0, c3 = 0;
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
      const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
      c1 = static_cast<uint32_t>(p1);
      c3 = static_cast<uint32_t>(p0);
      c0 = n0;
      c2 = n2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return {c0, c1, c2, c3};
  }
  // Uniform in [0, 1) with 24 bits (float) from word 0 of the block at `counter`.
  static constexpr float uniform(uint64_t seed, uint64_t counter) {
    return static_cast<float>(block(seed, counter)[0] >> 8) * (1.0f / 16777216.0f);
  }
  // Uniform in [0, 1) with 53 bits.
  static constexpr double uniform_double(uint64_t seed, uint64_t counter) {
    const auto b = block(seed, counter);
    const uint64_t bits = (uint64_t(b[0]) << 21) ^ uint64_t(b[1] >> 11);
    return static_cast<double>(bits & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
  }
  // Standard normal by Box-Muller on two 32-bit words of the block.
  static double normal(uint64_t seed, uint64_t counter) {
    const auto b = block(seed, counter);
    const double u1 = (static_cast<double>(b[0]) + 1.0) * (1.0 / 4294967297.0);  // (0, 1]
    const double u2 = static_cast<double>(b[1]) * (1.0 / 4294967296.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

// A seed and a running offset: each draw of n numbers takes counters [offset, offset + n).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void manual_seed(uint64_t seed) { seed_ = seed, offset_ = 0; }
  void set_offset(uint64_t off) { offset_ = off; }
  // Reserves n counters and returns the first.
  uint64_t take(uint64_t n) {
    const uint64_t o = offset_;
    offset_ += n;
    return o;
  }
  // A small integer or real draw for host-side decisions (crop positions, flips).
  double uniform() { return Philox::uniform_double(seed_, take(1)); }
  int64_t randint(int64_t lo, int64_t hi) {  // [lo, hi)
    return lo + static_cast<int64_t>(uniform() * static_cast<double>(hi - lo));
  }
  double normal() { return Philox::normal(seed_, take(1)); }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator used when none is passed.
Generator& default_generator();

}  // namespace abbe
