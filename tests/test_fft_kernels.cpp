// Pointer-level tests of kernels/cpu/fft.h. B = batch, n = 1-D length, H,W = 2-D dims, K = W/2+1.
//  - fft (1-D, any n) against an O(n^2) DFT in long double, forward and inverse;
//  - rfft2 / irfft2 against torch 1.13 (tests/golden/gen_fft.py -> data/fft.safetensors), incl.
//    irfft2 of non-Hermitian spectra and the +pi phase at negative structurally real bins;
//  - rfft2 / irfft2 against a long double 2-D DFT on shapes the golden file lacks (even non-power-
//    of-two H, Bluestein lengths), irfft2(rfft2(x)) == x, and 1 vs 2 threads bit for bit.
// Errors are max |got - want| / max |want| (relative to the largest magnitude, as FFT rounding
// scales with it); each check prints how close it came.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fft.h"
#include "tests/testing.h"

namespace {

namespace k = abbe::kernels::cpu;
using LD = long double;
using CLD = std::complex<LD>;

template <typename T>
std::vector<T> random_vec(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) e = static_cast<T>(u(rng));
  return v;
}

// max |got - want| / max |want| (max |want| floored at 1e-300).
template <typename T, typename U>
double rel_error(const std::vector<T>& got, const std::vector<U>& want) {
  EXPECT_EQ(got.size(), want.size());
  double diff = 0, scale = 1e-300;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(static_cast<LD>(got[i]) - static_cast<LD>(want[i]))));
    scale = std::max(scale, static_cast<double>(std::abs(static_cast<LD>(want[i]))));
  }
  return diff / scale;
}

template <typename T, typename U>
void expect_close(const std::vector<T>& got, const std::vector<U>& want, double tol, const std::string& what) {
  const double err = rel_error(got, want);
  std::printf("  %-44s err %.2e  tol %.0e  (%.3f of tol)\n", what.c_str(), err, tol, err / tol);
  EXPECT_LE(err, tol) << what << ": max |abbe - ref| / max |ref| = " << err << " > " << tol;
}

// exp(2 pi i q / n) in long double.
CLD root(int64_t q, int64_t n) {
  const LD a = 2 * std::numbers::pi_v<LD> * static_cast<LD>(q % n) / static_cast<LD>(n);
  return {std::cos(a), std::sin(a)};
}

// y[k] = sum_j x[j] exp(-+2 pi i jk/n), interleaved (re, im), B sequences.
template <typename T>
std::vector<LD> naive_dft(int64_t B, int64_t n, const std::vector<T>& x, bool inverse) {
  std::vector<CLD> w(n);
  for (int64_t q = 0; q < n; ++q) w[q] = root(inverse ? q : -q, n);
  std::vector<LD> y(2 * B * n);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t kk = 0; kk < n; ++kk) {
      CLD acc = 0;
      for (int64_t j = 0; j < n; ++j) acc += CLD(x[2 * (b * n + j)], x[2 * (b * n + j) + 1]) * w[j * kk % n];
      y[2 * (b * n + kk)] = acc.real(), y[2 * (b * n + kk) + 1] = acc.imag();
    }
  return y;
}

// The 2-D references in long double. x (B, H, W) -> X (B, H, K, 2).
template <typename T>
std::vector<LD> naive_rfft2(int64_t B, int64_t H, int64_t W, const std::vector<T>& x) {
  const int64_t K = W / 2 + 1;
  std::vector<CLD> w(H * W);
  for (int64_t q = 0; q < H * W; ++q) w[q] = root(-q, H * W);
  std::vector<LD> X(2 * B * H * K);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < H; ++p)
      for (int64_t q = 0; q < K; ++q) {
        CLD acc = 0;
        for (int64_t h = 0; h < H; ++h)
          for (int64_t c = 0; c < W; ++c)
            acc += static_cast<LD>(x[(b * H + h) * W + c]) * w[(p * h * W + q * c * H) % (H * W)];
        X[2 * ((b * H + p) * K + q)] = acc.real(), X[2 * ((b * H + p) * K + q) + 1] = acc.imag();
      }
  return X;
}

// PyTorch's irfft2 (fft.h): inverse along H, then Re Y[0] + (-1)^w Re Y[W/2] + 2 Re(...) along W.
template <typename T>
std::vector<LD> naive_irfft2(int64_t B, int64_t H, int64_t W, const std::vector<T>& X) {
  const int64_t K = W / 2 + 1;
  std::vector<LD> x(B * H * W);
  std::vector<CLD> Y(H * K);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h)
      for (int64_t q = 0; q < K; ++q) {
        CLD acc = 0;
        for (int64_t p = 0; p < H; ++p)
          acc += CLD(X[2 * ((b * H + p) * K + q)], X[2 * ((b * H + p) * K + q) + 1]) * root(p * h, H);
        Y[h * K + q] = acc;
      }
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        LD acc = Y[h * K].real();
        for (int64_t q = 1; q < K; ++q) {
          const bool nyquist = W % 2 == 0 && q == W / 2;
          acc += nyquist ? Y[h * K + q].real() * (w % 2 ? -1 : 1) : 2 * (Y[h * K + q] * root(q * w, W)).real();
        }
        x[(b * H + h) * W + w] = acc / static_cast<LD>(H * W);
      }
  }
  return x;
}

template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-5 : 1e-12;  // against torch (its own rounding included)

template <typename T>
std::string dtype_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

template <typename T>
class Fft : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Fft, Types);

// ---------------------------------------------------------------------------------------------
TYPED_TEST(Fft, OneDimensionalMatchesNaiveDft) {
  using T = TypeParam;
  // 1-D accuracy against the exact DFT: float ~ eps log n, double likewise.
  const double tol = sizeof(T) == 4 ? 2e-6 : 5e-15;
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 64; ++n) lengths.push_back(n);
  for (int64_t n : {97, 128, 243, 1000, 1009}) lengths.push_back(n);
  double worst = 0;
  std::string worst_what;
  for (const int64_t n : lengths)
    for (const bool inverse : {false, true}) {
      // 19 sequences: one full block of lanes (16 float, 8 double) and tail blocks.
      const int64_t B = n <= 64 ? 19 : 3;
      const std::vector<T> x = random_vec<T>(2 * B * n, static_cast<unsigned>(n));
      std::vector<T> y(x.size());
      k::fft<T>(B, n, x.data(), y.data(), inverse);
      const double err = rel_error(y, naive_dft(B, n, x, inverse));
      const std::string what = "n " + std::to_string(n) + (inverse ? " inverse" : " forward");
      EXPECT_LE(err, tol) << what;
      if (err > worst) worst = err, worst_what = what;
    }
  std::printf("  worst 1-D error %.2e (%s), tol %.0e\n", worst, worst_what.c_str(), tol);
}

TYPED_TEST(Fft, OneDimensionalInPlaceAndRoundTrip) {
  using T = TypeParam;
  for (const int64_t n : {12, 49, 97, 1009}) {
    const int64_t B = 5;
    const std::vector<T> x = random_vec<T>(2 * B * n, 7);
    std::vector<T> y(x.size());
    k::fft<T>(B, n, x.data(), y.data(), false);
    std::vector<T> z = x;
    k::fft<T>(B, n, z.data(), z.data(), false);  // in place
    EXPECT_EQ(z, y) << "n " << n;
    k::fft<T>(B, n, z.data(), z.data(), true);
    for (T& e : z) e /= static_cast<T>(n);
    expect_close(z, x, sizeof(T) == 4 ? 2e-6 : 5e-15, "1-D inverse(forward(x)) / n, n " + std::to_string(n));
  }
}

// ---------------------------------------------------------------------------------------------
struct Shape2 {
  int64_t B, H, W;
};
std::string tag(const Shape2& s) {
  return std::to_string(s.B) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W);
}

TYPED_TEST(Fft, MatchPyTorchGolden) {
  using T = TypeParam;
  const abbe::io::SafetensorsFile g = abbe::testing::load_golden("fft");
  ASSERT_EQ(g.metadata.at("format_version"), "1") << "regenerate: /usr/bin/python3 tests/golden/gen_fft.py";
  const double tol = kTol<T>;
  const std::vector<std::pair<int64_t, int64_t>> cases = {{8, 8}, {7, 9}, {6, 5}, {64, 64}, {17, 31}, {1, 4}, {4, 1}};
  for (const auto& [H, W] : cases) {
    const std::string shape = std::to_string(H) + "x" + std::to_string(W), out = dtype_name<T>() + "." + shape;
    auto golden = [&](const std::string& key) {
      return abbe::testing::golden_tensor(g, key).template to_vector<double>();
    };
    auto as_t = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
    const int64_t B = 2, K = W / 2 + 1;
    SCOPED_TRACE(out + " (regenerate with /usr/bin/python3 tests/golden/gen_fft.py)");

    const std::vector<T> x = as_t(golden(shape + ".x"));
    std::vector<T> X(2 * B * H * K);
    k::rfft2<T>(B, H, W, x.data(), X.data());
    expect_close(X, golden(out + ".X"), tol, out + " rfft2");

    const std::vector<T> Z = as_t(golden(shape + ".Z"));
    std::vector<T> z(B * H * W);
    k::irfft2<T>(B, H, W, Z.data(), z.data());
    expect_close(z, golden(out + ".z"), tol, out + " irfft2 (non-Hermitian Z)");

    // Negative real parts at every structurally real bin: +0.0 imaginary parts, phase +pi.
    const std::vector<T> xs = as_t(golden(shape + ".xs"));
    k::rfft2<T>(B, H, W, xs.data(), X.data());
    const std::vector<double> Xs = golden(out + ".Xs"), angle = golden(out + ".angle");
    expect_close(X, Xs, tol, out + " rfft2 (negative real bins)");
    const double pi = std::numbers::pi;
    for (int64_t b = 0; b < B; ++b)
      for (const int64_t p : {int64_t{0}, H % 2 == 0 ? H / 2 : int64_t{-1}})
        for (const int64_t q : {int64_t{0}, W % 2 == 0 ? W / 2 : int64_t{-1}}) {
          if (p < 0 || q < 0) continue;
          const int64_t i = (b * H + p) * K + q;
          const T re = X[2 * i], im = X[2 * i + 1];
          EXPECT_LT(re, 0) << "bin (" << p << ", " << q << ")";
          EXPECT_TRUE(im == 0 && !std::signbit(im)) << "bin (" << p << ", " << q << ") imaginary part " << im;
          EXPECT_EQ(std::atan2(static_cast<double>(im), static_cast<double>(re)), pi)
              << "bin (" << p << ", " << q << ")";
          // torch: +pi wherever its imaginary part is exactly zero (always at row 0; at row H/2
          // only for power-of-two H: the 6x5 case carries rounding noise there).
          if (Xs[2 * i + 1] == 0) {  // torch's angle is in T: float pi for f32
            EXPECT_EQ(angle[i], static_cast<double>(static_cast<T>(pi)))
                << "torch's phase at bin (" << p << ", " << q << ")";
          }
        }
  }
}

// Shapes the golden file lacks: even non-power-of-two H (row H/2 rounding), odd and Bluestein W.
TYPED_TEST(Fft, MatchLongDoubleReference2d) {
  using T = TypeParam;
  const double tol = sizeof(T) == 4 ? 2e-6 : 5e-15;
  for (const Shape2 s : {Shape2{1, 6, 6}, Shape2{2, 10, 12}, Shape2{1, 12, 7}, Shape2{3, 5, 2}, Shape2{1, 53, 106},
                         Shape2{1, 2, 97}, Shape2{17, 3, 3}}) {
    const int64_t K = s.W / 2 + 1;
    const std::vector<T> x = random_vec<T>(s.B * s.H * s.W, 3), Z = random_vec<T>(2 * s.B * s.H * K, 4);
    std::vector<T> X(2 * s.B * s.H * K), z(s.B * s.H * s.W);
    k::rfft2<T>(s.B, s.H, s.W, x.data(), X.data());
    expect_close(X, naive_rfft2(s.B, s.H, s.W, x), tol, dtype_name<T>() + " rfft2 " + tag(s));
    // Exactly +0.0 at the structurally real bins, also at row H/2 of an even non-power-of-two H,
    // where the transform along H leaves rounding noise.
    for (int64_t b = 0; b < s.B; ++b)
      for (const int64_t p : {int64_t{0}, s.H % 2 == 0 ? s.H / 2 : int64_t{0}})
        for (const int64_t q : {int64_t{0}, s.W % 2 == 0 ? s.W / 2 : int64_t{0}}) {
          const T im = X[2 * ((b * s.H + p) * K + q) + 1];
          EXPECT_TRUE(im == 0 && !std::signbit(im)) << tag(s) << " bin (" << p << ", " << q << "): " << im;
        }
    k::irfft2<T>(s.B, s.H, s.W, Z.data(), z.data());
    expect_close(z, naive_irfft2(s.B, s.H, s.W, Z), tol, dtype_name<T>() + " irfft2 " + tag(s));
  }
}

TYPED_TEST(Fft, RoundTrip) {
  using T = TypeParam;
  const double tol = sizeof(T) == 4 ? 2e-6 : 5e-15;
  for (const Shape2 s : {Shape2{1, 1, 1}, Shape2{2, 1, 4}, Shape2{2, 4, 1}, Shape2{3, 64, 64}, Shape2{2, 100, 100},
                         Shape2{1, 128, 128}, Shape2{2, 17, 31}, Shape2{1, 97, 60}}) {
    const int64_t K = s.W / 2 + 1;
    const std::vector<T> x = random_vec<T>(s.B * s.H * s.W, 5);
    std::vector<T> X(2 * s.B * s.H * K), y(x.size());
    k::rfft2<T>(s.B, s.H, s.W, x.data(), X.data());
    k::irfft2<T>(s.B, s.H, s.W, X.data(), y.data());
    expect_close(y, x, tol, dtype_name<T>() + " irfft2(rfft2(x)) " + tag(s));
  }
}

// 1 and 2 threads give the same bits: the work split never changes the arithmetic. All shapes
// are above the parallel threshold (2^14 elements); they cover whole images per thread (B = 2, 8)
// and each image split into row/column blocks (B = 1, 3), odd W and a Bluestein H.
TYPED_TEST(Fft, ThreadCountDoesNotChangeBits) {
  using T = TypeParam;
  const int saved = omp_get_max_threads();
  for (const Shape2 s : {Shape2{1, 128, 200}, Shape2{2, 128, 128}, Shape2{3, 100, 61}, Shape2{8, 64, 64},
                         Shape2{1, 97, 170}}) {
    const int64_t K = s.W / 2 + 1;
    const std::vector<T> x = random_vec<T>(s.B * s.H * s.W, 6), Z = random_vec<T>(2 * s.B * s.H * K, 7);
    std::vector<T> X[2], z[2], f[2];
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      std::vector<T>&Xt = X[threads - 1], &zt = z[threads - 1], &ft = f[threads - 1];
      Xt.resize(Z.size()), zt.resize(x.size()), ft.resize(Z.size());
      k::rfft2<T>(s.B, s.H, s.W, x.data(), Xt.data());
      k::irfft2<T>(s.B, s.H, s.W, Z.data(), zt.data());
      k::fft<T>(s.B * s.H, K, Z.data(), ft.data(), true);  // B*H sequences of K (some of them serial)
    }
    EXPECT_EQ(X[0], X[1]) << "rfft2 " << tag(s);
    EXPECT_EQ(z[0], z[1]) << "irfft2 " << tag(s);
    EXPECT_EQ(f[0], f[1]) << "fft " << tag(s);
  }
  omp_set_num_threads(saved);
}

TEST(FftErrors, RejectBadSizes) {
  float buf[8] = {};
  EXPECT_THROW(k::rfft2<float>(1, 0, 4, buf, buf), abbe::Error);
  EXPECT_THROW(k::irfft2<float>(1, 4, 0, buf, buf), abbe::Error);
  EXPECT_THROW(k::fft<float>(1, 0, buf, buf, false), abbe::Error);
  EXPECT_NO_THROW(k::rfft2<float>(0, 4, 4, buf, buf));
}

}  // namespace
