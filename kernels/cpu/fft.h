#pragma once
// Discrete Fourier transforms: the 1-D complex FFT of any length and the 2-D real transforms of
// torch.fft.rfft2 / irfft2 over the last two dims (norm "backward": forward unscaled, inverse
// scaled by 1/(H W)).
//   B = batch (independent transforms), n = 1-D length, H,W = the transformed dims (H rows of
//   W), K = W/2 + 1 = the half spectrum's width.
// Complex numbers are interleaved (re, im) pairs of T in the last dim.
//
// Any length >= 1: Stockham passes of radix 4, 2, 3, 5 and generic odd radices, or Bluestein's
// chirp-z over a power-of-two FFT when a large prime factor makes that cheaper. Plans (factors,
// twiddles) are built once per (length, T) and cached for the process, thread-safely. Twiddles are
// computed in long double and rounded to T; the arithmetic is in T.
// Threads: OpenMP over images, or over row/column blocks of one image. The split never changes
// the arithmetic, so results are bitwise independent of the thread count. Inputs and outputs must
// not alias, except fft's x == y.
#include <cstdint>

namespace abbe::kernels::cpu {

// x (B, n, 2) -> y (B, n, 2): y[b,k] = sum_j x[b,j] exp(-2 pi i jk/n), or exp(+2 pi i jk/n) when
// `inverse`; unnormalised both ways (inverse(forward(x)) = n x). x == y is allowed.
template <typename T>
void fft(int64_t B, int64_t n, const T* x, T* y, bool inverse);

// torch.fft.rfft2(x): x (B, H, W) real -> X (B, H, K, 2), unnormalised: a real FFT along W per
// row, then a complex FFT along H per column. The structurally real bins (column 0 and, for even
// W, column W/2, at row 0 and, for even H, row H/2) get imaginary part exactly +0.0, so that a
// negative real value there has phase +pi (torch gives +0.0 there for power-of-two H; for other
// even H its row H/2 carries ~1 ulp of rounding noise of either sign).
template <typename T>
void rfft2(int64_t B, int64_t H, int64_t W, const T* x, T* X);

// torch.fft.irfft2(X, s=(H, W)) for any X, Hermitian or not: X (B, H, K, 2) -> x (B, H, W),
// times 1/(H W). As PyTorch: an inverse complex FFT along H per column, then per row the
// complex-to-real inverse along W of Y (K bins), which reads only the real part of Y[0] and, for
// even W, of Y[W/2], and counts every other bin twice:
//   x[w] = (Re Y[0] + (-1)^w Re Y[W/2] + 2 sum_{0<k<W/2} Re(Y[k] exp(2 pi i kw/W))) / (H W)
// (no Y[W/2] term for odd W, whose sum runs to k = (W-1)/2).
template <typename T>
void irfft2(int64_t B, int64_t H, int64_t W, const T* X, T* x);

}  // namespace abbe::kernels::cpu
