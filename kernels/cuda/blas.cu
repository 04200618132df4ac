// gemm of the CUDA backend (see blas.h). Built by nvcc: cuBLAS. Built by g++ with
// ABBE_CUDA_EMULATION: the CPU gemm on the same pointers (emulated device memory is host memory).
#include "kernels/cuda/blas.h"

#include <cstdint>

#include "graph/error.h"
#include "kernels/cuda/cuda_compat.h"

#if defined(ABBE_CUDA_EMULATION)
#include "kernels/cpu/gemm.h"
#else
#include <cublas_v2.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/cuda/device.h"
#endif

namespace abbe::kernels::cuda {

#if defined(ABBE_CUDA_EMULATION)

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, void* stream) {
  // The emulator runs every launch synchronously, so the work queued before this call on
  // `stream` is already done: running on the host here keeps the stream order.
  ABBE_CHECK(emu::is_device_accessible(A) && emu::is_device_accessible(B) && emu::is_device_accessible(C),
             "cuda::gemm: A, B and C must be device memory (cudaMalloc)");
  ABBE_CHECK(emu::is_live_stream(static_cast<cudaStream_t>(stream)), "cuda::gemm: stream was destroyed");
  cpu::gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#else

namespace {

// "cublasSgemm" out of "cublasSgemm(h, ...)".
std::string call_name(const char* expr) { return std::string(expr, std::strcspn(expr, "(")); }

[[noreturn]] void cublas_failed(const char* expr, cublasStatus_t s) {
  ABBE_FAIL(call_name(expr), " failed: ", cublasGetStatusName(s), " (", cublasGetStatusString(s), ")");
}

#define ABBE_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                   \
    const cublasStatus_t abbe_cublas_status_ = (expr);                                   \
    if (abbe_cublas_status_ != CUBLAS_STATUS_SUCCESS) cublas_failed(#expr, abbe_cublas_status_); \
  } while (0)

// One handle per host thread (cuBLAS handles may be shared, but a per-thread handle needs no lock
// around cublasSetStream + the call), created on first use and destroyed at thread exit.
class Handle {
 public:
  Handle() {
    ::abbe::cuda::require_device();  // a clear "no usable CUDA device" instead of NOT_INITIALIZED
    ABBE_CUBLAS_CHECK(cublasCreate(&h_));
    // CUBLAS_DEFAULT_MATH: FP32 arithmetic for float, never TF32 (10-bit mantissa), so results
    // match the CPU gemm to float rounding.
    const cublasStatus_t s = cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
      (void)cublasDestroy(h_);
      cublas_failed("cublasSetMathMode(h, CUBLAS_DEFAULT_MATH)", s);
    }
  }
  ~Handle() { (void)cublasDestroy(h_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

cublasHandle_t handle_for(void* stream) {
  thread_local Handle handle;
  ABBE_CUBLAS_CHECK(cublasSetStream(handle.get(), static_cast<cudaStream_t>(stream)));
  return handle.get();
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, void* stream) {
  if (M <= 0 || N <= 0) return;
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  ABBE_CHECK(M <= kMax && N <= kMax && K <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
             "cuda::gemm: dims and leading dims must be < 2^31, got M=", M, " N=", N, " K=", K, " lda=", lda,
             " ldb=", ldb, " ldc=", ldc);
  cublasHandle_t h = handle_for(stream);
  if (K <= 0) {
    // The product is empty, so C = beta * C (cuBLAS would also reject lda < 1 for an empty op(A)).
    if (beta == T(0)) {
      ABBE_CUDA_CHECK(cudaMemset2DAsync(C, static_cast<size_t>(ldc) * sizeof(T), 0, static_cast<size_t>(N) * sizeof(T),
                                        static_cast<size_t>(M), static_cast<cudaStream_t>(stream)));
    } else {
      // In place, column-major (N, M): C = beta * C + 0 * C.
      const T zero = 0;
      const int n = static_cast<int>(N), m = static_cast<int>(M), ld = static_cast<int>(ldc);
      if constexpr (std::is_same_v<T, float>)
        ABBE_CUBLAS_CHECK(cublasSgeam(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, &beta, C, ld, &zero, C, ld, C, ld));
      else
        ABBE_CUBLAS_CHECK(cublasDgeam(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, &beta, C, ld, &zero, C, ld, C, ld));
    }
    return;
  }
  // cuBLAS is column-major, and a row-major (R, C) matrix with row stride ld is the column-major
  // (C, R) matrix with the same ld. So row-major C = op(A) op(B) is column-major
  // C^T = op(B)^T op(A)^T: cuBLAS's first operand is B and its second A, each with its own
  // transpose flag, and m, n swap.
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  if constexpr (std::is_same_v<T, float>) {
    ABBE_CUBLAS_CHECK(cublasSgemm(h, op(trans_b), op(trans_a), m, n, k, &alpha, B, static_cast<int>(ldb), A,
                                  static_cast<int>(lda), &beta, C, static_cast<int>(ldc)));
  } else {
    ABBE_CUBLAS_CHECK(cublasDgemm(h, op(trans_b), op(trans_a), m, n, k, &alpha, B, static_cast<int>(ldb), A,
                                  static_cast<int>(lda), &beta, C, static_cast<int>(ldc)));
  }
}

#endif

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, void*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, void*);

}  // namespace abbe::kernels::cuda
