#pragma once
// 2-D real FFTs of the CUDA backend: kernels/cpu/fft.h's rfft2 and irfft2 (the same shapes,
// layouts and PyTorch semantics: irfft2 of any spectrum, Hermitian or not, and +0.0 imaginary
// parts at the structurally real bins of rfft2) over device pointers, on cuFFT. Plain C++ (no
// CUDA header), so CPU code can include it.
//   B = batch, H,W = the transformed dims, K = W/2 + 1; complex numbers are interleaved
//   (re, im) pairs of T in the last dim.
// `workspace`: device memory of at least the *_workspace_bytes below (nullptr when that is 0),
// which nothing else may touch until the stream has run this call's work. `stream` is a
// cudaStream_t passed as void* (nullptr: the default stream). Every call is asynchronous on
// `stream` and throws abbe::Error naming the failed cuFFT or CUDA call. Buffers must not alias.
// B*H*W must fit in int (cuFFT's plan dims). Results match the CPU kernels to rounding, not bit
// for bit (cuFFT has its own algorithms).
#include <cstdint>

namespace abbe::kernels::cuda {

// rfft2 needs no workspace (cuFFT's own work area comes from the caching device allocator).
inline int64_t rfft2_workspace_bytes(int64_t /*B*/, int64_t /*H*/, int64_t /*W*/) { return 0; }

// irfft2: one (B, H, K) complex intermediate of T. The default T (double) gives a size that is
// enough for both dtypes; irfft2_workspace_bytes<float> is the exact size for float.
template <typename T = double>
int64_t irfft2_workspace_bytes(int64_t B, int64_t H, int64_t W) {
  return B * H * (W / 2 + 1) * 2 * static_cast<int64_t>(sizeof(T));
}

// x (B, H, W) real -> X (B, H, K, 2), unnormalised (torch.fft.rfft2, norm "backward").
template <typename T>
void rfft2(int64_t B, int64_t H, int64_t W, const T* x, T* X, void* workspace, void* stream = nullptr);

// X (B, H, K, 2) -> x (B, H, W), times 1/(H W) (torch.fft.irfft2(X, s=(H, W))); X is not modified.
template <typename T>
void irfft2(int64_t B, int64_t H, int64_t W, const T* X, T* x, void* workspace, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
