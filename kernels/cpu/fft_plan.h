#pragma once
// The 1-D complex FFT engine behind kernels/cpu/fft.cpp: plans and the transform of a block of
// lanes. Internal (kernels/cpu/fft.h is the API); defined in kernels/cpu/fft_plan.cpp.
//   n = transform length, V = lanes, E = 2V (T per element of a block).
//
// Lanes: a block holds V independent transforms of length n, element-major with split real and
// imaginary parts: element e of lane v has its real part at buf[E e + v] and its imaginary part
// at buf[E e + V + v] (for V = 1 this is the interleaved layout). Each butterfly is a loop over v
// of scalar code, which the compiler turns into vector instructions; a lane never sees another
// lane's data, so a transform's result does not depend on its block or lane.
//
// The transform is FFTPACK's self-sorting (Stockham) decimation in frequency. For a factor p of n,
// with l1 = the product of the factors before it and ido = n / (l1 p), a pass reads element
// i + ido (m + p k) (m < p) and writes element i + ido (k + l1 j): the radix-p DFT over m, output
// j times exp(-2 pi i j l1 i / n). Radices 4, 2, 3, 5 have their own butterflies, other odd
// factors a generic one; passes alternate between two buffers and the last leaves the spectrum in
// natural order. Lengths with a large prime factor use Bluestein's chirp-z over a power-of-two
// plan when that is cheaper. The inverse conjugates every constant and twiddle. Twiddles are
// computed in long double and rounded to T.
#include <cstdint>
#include <vector>

namespace abbe::kernels::cpu::fft_detail {

// A loop over the lanes of a block: each iteration touches only its own lane, which the compiler
// cannot prove when a butterfly's inputs and outputs lie runtime strides apart, so it is told.
#define ABBE_FFT_LANES _Pragma("omp simd")

template <typename T>
struct Cx {
  T r, i;
};

// Lanes per block: one cache line of real parts (16 float, 8 double); the blocks left over at
// the end of a range of rows or columns use a quarter of that, padded with zero lanes.
template <typename T>
constexpr int kLanes = static_cast<int>(64 / sizeof(T));
template <typename T>
constexpr int kTailLanes = kLanes<T> / 4;

// The plan of one length n: its passes and twiddles, or Bluestein's chirp and sub-plan.
template <typename T>
struct Plan {
  struct Pass {
    int p;
    int64_t l1, ido;
    int64_t tw;     // offset in tw: (ido-1) x (p-1), tw[(i-1)(p-1) + j-1] = exp(-2 pi i j l1 i / n)
    int64_t roots;  // offset in roots (generic radices): exp(-2 pi i q / p), q < p
  };
  int64_t n;
  std::vector<Pass> passes;
  std::vector<Cx<T>> tw, roots;
  int64_t generic = 0;  // largest generic radix: elements of butterfly scratch
  // Bluestein: m (power of two) >= 2n - 1, chirp[k] = exp(-pi i k^2 / n) (k < n),
  // bspec = FFT_m(b) / m with b[l mod m] = conj(chirp[|l|]) for |l| < n, computed in double.
  int64_t m = 0;
  const Plan* sub = nullptr;
  std::vector<Cx<T>> chirp, bspec;

  // Elements (per lane) of scratch that run() needs besides the data.
  int64_t scratch() const { return m ? 2 * m : n + generic; }

  explicit Plan(int64_t len);
};

// The real FFT of a row of length W: even W packs the row into W/2 complex numbers
// z[m] = x[2m] + i x[2m+1] and untangles the half-length spectrum with w[k] = exp(-2 pi i k / W);
// odd W transforms the row as complex numbers with zero imaginary parts.
template <typename T>
struct RowPlan {
  int64_t W, n;  // n = W/2 (even W) or W
  const Plan<T>* c;
  std::vector<Cx<T>> w;  // even W: w[k], k < W/2
  explicit RowPlan(int64_t width);
};

// The plans of length n and of rows of width W, built on first use and kept for the process
// (thread-safe).
template <typename T>
const Plan<T>& plan(int64_t n);
template <typename T>
const RowPlan<T>& row_plan(int64_t W);

// Transforms the n elements (V lanes) at `a`, using p.scratch() elements at `s`; returns a or s,
// wherever the result ended up. Instantiated for V = kLanes<T> and kTailLanes<T>.
template <int V, bool Inv, typename T>
T* run(const Plan<T>& p, T* a, T* s);

template <int V, typename T>
T* run(const Plan<T>& p, bool inverse, T* a, T* s) {
  return inverse ? run<V, true>(p, a, s) : run<V, false>(p, a, s);
}

}  // namespace abbe::kernels::cpu::fft_detail
