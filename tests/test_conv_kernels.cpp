// The fast conv kernels (kernels/cpu/conv.h) against plain loops, and the gemm wrapper against a
// triple loop. forward: vs conv2d_forward_reference; backward_data: the adjoint identity
// <conv(x), dy> == <x, backward_data(dy)> in double, plus an explicit scatter loop; backward_weight:
// an explicit loop; conv_transpose2d: PyTorch's scatter definition written out.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"

namespace abbe::kernels::cpu {
namespace {

template <typename T>
std::vector<T> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& e : v) e = static_cast<T>(u(rng));
  return v;
}

template <typename To, typename From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

template <typename T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// |got - want| <= tol (1 + |want|) elementwise, tol = terms * eps(T) * 4: each output is a sum of
// `terms` products of values in [-1, 1]. Reports the worst element and how close it came.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, int64_t terms,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = 4.0 * static_cast<double>(std::max<int64_t>(terms, 1)) *
                     std::numeric_limits<T>::epsilon();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::abs(want[i]));
    if (!(err <= worst)) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst relative error " << worst << " at " << at << " (got "
                        << got[at] << ", want " << want[at] << "), tolerance " << tol;
}

// (GCC 12's -Wrestrict misfires on chains of "literal" + std::string at -O3, hence streams.)
std::string describe(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K << " " << s.R << "x"
     << s.S << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h << ","
     << s.pad_w << " dil " << s.dil_h << "," << s.dil_w << " G" << s.groups;
  return os.str();
}

Conv2dShape conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t G) {
  return {N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G};
}

struct ConvCase {
  Conv2dShape s;
  bool bias;
};

// Stride 1/2, padding 0/1/3, dilation 1/2, groups 1/2/4, kernels 1x1/3x3/7x7, batch 1/2,
// non-square images and kernels; cases that take each fast path (1x1 direct, stride-1 backward
// as a flipped forward, strided col2im, one tile only, many tiles).
const std::vector<ConvCase> kConvCases = {
    {conv(1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},
    {conv(2, 4, 9, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2), false},
    {conv(2, 8, 11, 10, 8, 3, 3, 1, 1, 2, 2, 2, 2, 4), true},
    {conv(1, 4, 13, 12, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1), true},
    {conv(2, 8, 6, 5, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1), true},
    {conv(1, 8, 6, 5, 8, 1, 1, 2, 2, 0, 0, 1, 1, 2), false},
    {conv(1, 4, 5, 6, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1), true},
    {conv(1, 3, 7, 7, 5, 7, 7, 1, 1, 0, 0, 1, 1, 1), false},
    {conv(2, 6, 10, 9, 6, 3, 5, 1, 2, 1, 2, 2, 1, 2), true},
    {conv(1, 16, 20, 24, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},
    {conv(1, 4, 9, 9, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1), false},
    {conv(2, 4, 12, 10, 8, 3, 3, 1, 1, 3, 3, 1, 1, 2), true},
    {conv(1, 8, 33, 40, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},
    {conv(1, 8, 40, 36, 8, 5, 5, 2, 2, 2, 2, 1, 1, 1), true},
    {conv(2, 4, 16, 16, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), false},
    // 3x3 stride 1 with >= 16 channels per group: Winograd, odd and even P, Q, padding 0/1/2;
    // forward by im2col, backward_data by Winograd (4 -> 16); weight gradient by im2col (16 -> 48).
    {conv(1, 16, 9, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},
    {conv(2, 4, 10, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), true},
    {conv(1, 16, 11, 8, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},
    {conv(2, 32, 12, 7, 48, 3, 3, 1, 1, 0, 0, 1, 1, 2), false},
    {conv(1, 24, 15, 16, 20, 3, 3, 1, 1, 2, 2, 1, 1, 1), true},
    {conv(1, 16, 40, 50, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), false},
};

// dx[n, gC/G+c, h, w] += w[k, c, r, s] dy[n, k, p, q] at h = p sh - ph + r dh (and w alike).
template <typename T>
std::vector<T> backward_data_loop(const Conv2dShape& s, const std::vector<T>& dy,
                                  const std::vector<T>& w) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  std::vector<T> dx(static_cast<size_t>(s.N * s.C * s.H * s.W), T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t ks = 0; ks < s.S; ++ks) {
                const int64_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t wi = q * s.stride_w - s.pad_w + ks * s.dil_w;
                if (h < 0 || h >= s.H || wi < 0 || wi >= s.W) continue;
                dx[((n * s.C + k / Kg * Cg + c) * s.H + h) * s.W + wi] +=
                    w[((k * Cg + c) * s.R + r) * s.S + ks] * dy[((n * s.K + k) * P + p) * Q + q];
              }
  return dx;
}

// dw[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] x[n, gC/G+c, p sh - ph + r dh, q sw - pw + s dw].
template <typename T>
std::vector<T> backward_weight_loop(const Conv2dShape& s, const std::vector<T>& x,
                                    const std::vector<T>& dy) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  std::vector<T> dw(static_cast<size_t>(s.K * Cg * s.R * s.S), T(0));
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t ks = 0; ks < s.S; ++ks) {
          T acc = 0;
          for (int64_t n = 0; n < s.N; ++n)
            for (int64_t p = 0; p < P; ++p)
              for (int64_t q = 0; q < Q; ++q) {
                const int64_t h = p * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t wi = q * s.stride_w - s.pad_w + ks * s.dil_w;
                if (h < 0 || h >= s.H || wi < 0 || wi >= s.W) continue;
                acc += dy[((n * s.K + k) * P + p) * Q + q] *
                       x[((n * s.C + k / Kg * Cg + c) * s.H + h) * s.W + wi];
              }
          dw[((k * Cg + c) * s.R + r) * s.S + ks] = acc;
        }
  return dw;
}

template <typename T>
std::vector<T> channel_sums(int64_t N, int64_t K, int64_t PQ, const std::vector<T>& dy) {
  std::vector<T> db(static_cast<size_t>(K), T(0));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < PQ; ++i) db[k] += dy[(n * K + k) * PQ + i];
  return db;
}

template <typename T>
void check_conv2d(const ConvCase& cc) {
  const Conv2dShape& s = cc.s;
  std::ostringstream os;
  os << describe(s) << (cc.bias ? " bias" : "") << (sizeof(T) == 4 ? " float" : " double");
  const std::string what = os.str();
  const int64_t P = s.P(), Q = s.Q(), Cg = s.C / s.groups, CRS = Cg * s.R * s.S;
  ASSERT_GT(P, 0) << what;
  ASSERT_GT(Q, 0) << what;
  const auto x = random_vector<T>(s.N * s.C * s.H * s.W, 1);
  const auto w = random_vector<T>(s.K * CRS, 2);
  const auto b = random_vector<T>(s.K, 3);
  const auto dy = random_vector<T>(s.N * s.K * P * Q, 4);
  const T* bias = cc.bias ? b.data() : nullptr;

  std::vector<T> y_ref(dy.size()), y(dy.size(), T(7));
  conv2d_forward_reference(s, x.data(), w.data(), bias, y_ref.data());
  conv2d_forward(s, x.data(), w.data(), bias, y.data());
  expect_close(y, y_ref, CRS + 1, what + " forward");

  std::vector<T> dx(x.size(), T(7));
  conv2d_backward_data(s, dy.data(), w.data(), dx.data());
  const int64_t fan_out = s.K / s.groups * s.R * s.S;
  expect_close(dx, backward_data_loop(s, dy, w), fan_out, what + " backward_data");
  if constexpr (std::is_same_v<T, double>) {
    std::vector<T> y_nobias(dy.size());
    conv2d_forward_reference(s, x.data(), w.data(), static_cast<const T*>(nullptr), y_nobias.data());
    const double lhs = dot(y_nobias, dy), rhs = dot(x, dx);
    EXPECT_NEAR(lhs, rhs, 1e-11 * (1.0 + std::abs(lhs))) << what << " adjoint identity";
  }

  std::vector<T> dw(w.size(), T(7)), db(b.size(), T(7));
  conv2d_backward_weight(s, x.data(), dy.data(), dw.data(), cc.bias ? db.data() : nullptr);
  expect_close(dw, backward_weight_loop(s, x, dy), s.N * P * Q, what + " backward_weight");
  if (cc.bias) expect_close(db, channel_sums(s.N, s.K, P * Q, dy), s.N * P * Q, what + " bias grad");
}

TEST(Conv2dKernels, FloatMatchesLoops) {
  for (const auto& c : kConvCases) check_conv2d<float>(c);
}

TEST(Conv2dKernels, DoubleMatchesLoopsAndIsAdjoint) {
  for (const auto& c : kConvCases) check_conv2d<double>(c);
}

// One thread takes the serial paths (gemm on the caller, dw without per-thread copies).
TEST(Conv2dKernels, SingleThreadMatchesLoops) {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (const auto& c : kConvCases) check_conv2d<float>(c);
  omp_set_num_threads(threads);
}

// Bitwise: training runs must be reproducible whatever the thread count (weight gradients sum
// per-slot partials in a fixed order).
TEST(Conv2dKernels, ResultsDoNotDependOnThreadCount) {
  const int threads = omp_get_max_threads();
  // Winograd; im2col with groups; one tile only, where gemm splits the product over threads.
  for (const Conv2dShape& s : {conv(2, 32, 30, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1),
                               conv(3, 8, 25, 19, 12, 5, 3, 2, 1, 2, 1, 1, 1, 2),
                               conv(1, 64, 1, 2048, 64, 1, 3, 1, 1, 0, 1, 1, 1, 1)}) {
    const auto x = random_vector<float>(s.N * s.C * s.H * s.W, 31);
    const auto w = random_vector<float>(s.K * s.C / s.groups * s.R * s.S, 32);
    const auto dy = random_vector<float>(s.N * s.K * s.P() * s.Q(), 33);
    std::vector<float> results[2][4];
    for (int run = 0; run < 2; ++run) {
      omp_set_num_threads(run == 0 ? 1 : std::max(threads, 2));
      auto& r = results[run];
      r[0].resize(dy.size()), r[1].resize(x.size()), r[2].resize(w.size()), r[3].resize(s.K);
      conv2d_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), r[0].data());
      conv2d_backward_data(s, dy.data(), w.data(), r[1].data());
      conv2d_backward_weight(s, x.data(), dy.data(), r[2].data(), r[3].data());
    }
    omp_set_num_threads(threads);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(results[0][i], results[1][i]) << describe(s) << " output " << i;
  }
}

TEST(Conv2dKernels, BackwardDataFloatMatchesDouble) {
  const Conv2dShape s = conv(2, 8, 17, 15, 12, 3, 3, 2, 1, 1, 1, 1, 2, 2);
  const auto dy = random_vector<double>(s.N * s.K * s.P() * s.Q(), 5);
  const auto w = random_vector<double>(s.K * s.C / s.groups * s.R * s.S, 6);
  std::vector<double> dx(static_cast<size_t>(s.N * s.C * s.H * s.W));
  std::vector<float> dxf(dx.size());
  conv2d_backward_data(s, dy.data(), w.data(), dx.data());
  const auto dyf = cast<float>(dy), wf = cast<float>(w);
  conv2d_backward_data(s, dyf.data(), wf.data(), dxf.data());
  expect_close(dxf, cast<float>(dx), s.K / s.groups * s.R * s.S, "backward_data float vs double");
}

// --- conv_transpose2d -------------------------------------------------------------------------

ConvTranspose2dShape tconv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                           int64_t S, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oph,
                           int64_t opw, int64_t dh, int64_t dw, int64_t G) {
  return {N, C, H, W, K, R, S, sh, sw, ph, pw, oph, opw, dh, dw, G};
}

struct TransposeCase {
  ConvTranspose2dShape s;
  bool bias;
};

const std::vector<TransposeCase> kTransposeCases = {
    {tconv(1, 4, 5, 5, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1), true},
    {tconv(2, 4, 6, 7, 4, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2), false},
    {tconv(1, 6, 7, 5, 3, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1), true},
    {tconv(1, 2, 8, 8, 2, 3, 3, 2, 2, 4, 4, 0, 0, 1, 1, 1), true},  // SOFI decoder: 2H - 7
    {tconv(2, 4, 5, 6, 8, 3, 5, 3, 2, 1, 2, 2, 1, 2, 1, 4), true},
    {tconv(1, 4, 6, 6, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), false},
    {tconv(1, 8, 16, 12, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2), true},
};

// PyTorch's definition: y[n, gK/G+k, h sh - ph + r dh, w sw - pw + s dw] += x[n, gC/G+c, h, w]
// wt[gC/G+c, k, r, s], then + bias.
template <typename T>
std::vector<T> transpose_forward_loop(const ConvTranspose2dShape& s, const std::vector<T>& x,
                                      const std::vector<T>& wt, const T* bias) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  std::vector<T> y(static_cast<size_t>(s.N * s.K * P * Q), T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t ci = 0; ci < s.C; ++ci)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t wi = 0; wi < s.W; ++wi)
          for (int64_t k = 0; k < Kg; ++k)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t ks = 0; ks < s.S; ++ks) {
                const int64_t p = h * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t q = wi * s.stride_w - s.pad_w + ks * s.dil_w;
                if (p < 0 || p >= P || q < 0 || q >= Q) continue;
                const int64_t ko = ci / Cg * Kg + k;
                y[((n * s.K + ko) * P + p) * Q + q] +=
                    x[((n * s.C + ci) * s.H + h) * s.W + wi] * wt[((ci * Kg + k) * s.R + r) * s.S + ks];
              }
  if (bias)
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < s.K; ++k)
        for (int64_t i = 0; i < P * Q; ++i) y[(n * s.K + k) * P * Q + i] += bias[k];
  return y;
}

// dwt[ci, k, r, s] = sum_{n,h,w} x[n, ci, h, w] dy[n, gK/G+k, h sh - ph + r dh, w sw - pw + s dw].
template <typename T>
std::vector<T> transpose_weight_loop(const ConvTranspose2dShape& s, const std::vector<T>& x,
                                     const std::vector<T>& dy) {
  const int64_t Cg = s.C / s.groups, Kg = s.K / s.groups, P = s.P(), Q = s.Q();
  std::vector<T> dw(static_cast<size_t>(s.C * Kg * s.R * s.S), T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t ci = 0; ci < s.C; ++ci)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t wi = 0; wi < s.W; ++wi)
          for (int64_t k = 0; k < Kg; ++k)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t ks = 0; ks < s.S; ++ks) {
                const int64_t p = h * s.stride_h - s.pad_h + r * s.dil_h;
                const int64_t q = wi * s.stride_w - s.pad_w + ks * s.dil_w;
                if (p < 0 || p >= P || q < 0 || q >= Q) continue;
                dw[((ci * Kg + k) * s.R + r) * s.S + ks] +=
                    x[((n * s.C + ci) * s.H + h) * s.W + wi] *
                    dy[((n * s.K + ci / Cg * Kg + k) * P + p) * Q + q];
              }
  return dw;
}

template <typename T>
void check_transpose(const TransposeCase& tc) {
  const ConvTranspose2dShape& s = tc.s;
  std::ostringstream os;
  os << "transposed N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K << " "
     << s.R << "x" << s.S << " stride " << s.stride_h << "," << s.stride_w << " pad " << s.pad_h
     << "," << s.pad_w << " out_pad " << s.out_pad_h << "," << s.out_pad_w << " dil " << s.dil_h
     << "," << s.dil_w << " G" << s.groups << (tc.bias ? " bias" : "")
     << (sizeof(T) == 4 ? " float" : " double");
  const std::string what = os.str();
  const int64_t P = s.P(), Q = s.Q(), Kg = s.K / s.groups;
  ASSERT_GT(P, 0) << what;
  ASSERT_GT(Q, 0) << what;
  const auto x = random_vector<T>(s.N * s.C * s.H * s.W, 11);
  const auto wt = random_vector<T>(s.C * Kg * s.R * s.S, 12);
  const auto b = random_vector<T>(s.K, 13);
  const auto dy = random_vector<T>(s.N * s.K * P * Q, 14);
  const T* bias = tc.bias ? b.data() : nullptr;
  const int64_t fan_in = s.C / s.groups * s.R * s.S;

  std::vector<T> y(dy.size(), T(7));
  conv_transpose2d_forward(s, x.data(), wt.data(), bias, y.data());
  expect_close(y, transpose_forward_loop(s, x, wt, bias), fan_in + 1, what + " forward");

  std::vector<T> dx(x.size(), T(7));
  conv_transpose2d_backward_data(s, dy.data(), wt.data(), dx.data());
  if constexpr (std::is_same_v<T, double>) {
    const auto y_nobias = transpose_forward_loop(s, x, wt, static_cast<const T*>(nullptr));
    const double lhs = dot(y_nobias, dy), rhs = dot(x, dx);
    EXPECT_NEAR(lhs, rhs, 1e-11 * (1.0 + std::abs(lhs))) << what << " adjoint identity";
  } else {
    std::vector<double> dxd(x.size());
    const auto dyd = cast<double>(dy), wtd = cast<double>(wt);
    conv_transpose2d_backward_data(s, dyd.data(), wtd.data(), dxd.data());
    expect_close(dx, cast<float>(dxd), Kg * s.R * s.S, what + " backward_data vs double");
  }

  std::vector<T> dw(wt.size(), T(7)), db(b.size(), T(7));
  conv_transpose2d_backward_weight(s, x.data(), dy.data(), dw.data(), tc.bias ? db.data() : nullptr);
  expect_close(dw, transpose_weight_loop(s, x, dy), s.N * s.H * s.W, what + " backward_weight");
  if (tc.bias) expect_close(db, channel_sums(s.N, s.K, P * Q, dy), s.N * P * Q, what + " bias grad");
}

TEST(ConvTranspose2dKernels, FloatMatchesScatterLoop) {
  for (const auto& c : kTransposeCases) check_transpose<float>(c);
}

TEST(ConvTranspose2dKernels, DoubleMatchesScatterLoopAndIsAdjoint) {
  for (const auto& c : kTransposeCases) check_transpose<double>(c);
}

TEST(ConvTranspose2dKernels, OutputSize) {
  // SOFI decoder: ConvTranspose2d(k=3, stride=2, padding=4) maps H to 2H - 7.
  const ConvTranspose2dShape s = tconv(1, 24, 128, 128, 24, 3, 3, 2, 2, 4, 4, 0, 0, 1, 1, 1);
  EXPECT_EQ(s.P(), 2 * 128 - 7);
  EXPECT_EQ(s.as_conv().P(), 128);
  const ConvTranspose2dShape up = tconv(1, 8, 32, 32, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1);
  EXPECT_EQ(up.P(), 64);
  EXPECT_EQ(up.as_conv().P(), 32);
}

// --- gemm ---------------------------------------------------------------------------------------

template <typename T>
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  const int64_t pad = 3;  // leading dims larger than the rows
  const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  const auto A = random_vector<T>((ta ? K : M) * lda, 21);
  const auto B = random_vector<T>((tb ? N : K) * ldb, 22);
  auto C = random_vector<T>(M * ldc, 23);
  std::vector<T> want = C;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(ta ? A[k * lda + i] : A[i * lda + k]) *
               (tb ? B[j * ldb + k] : B[k * ldb + j]);
      want[i * ldc + j] = static_cast<T>(alpha * acc + (beta == T(0) ? 0.0 : beta * C[i * ldc + j]));
    }
  gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  std::ostringstream what;
  what << "gemm " << (ta ? "T" : "N") << (tb ? "T" : "N") << " " << M << "x" << N << "x" << K;
  expect_close(C, want, K + 1, what.str());
}

TEST(Gemm, AllTransposesMatchLoop) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm<float>(ta, tb, 7, 5, 3, 1.0f, 0.0f);
      check_gemm<double>(ta, tb, 7, 5, 3, 0.5, 2.0);
      // Large enough to be split over the threads, by columns and by rows.
      check_gemm<float>(ta, tb, 33, 300, 257, 1.0f, 1.0f);
      check_gemm<double>(ta, tb, 300, 45, 257, -1.0, 0.5);
    }
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  std::vector<float> C = {1, 2, 3, 4};
  gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2}));
  gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace abbe::kernels::cpu
