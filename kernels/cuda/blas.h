#pragma once
// Dense matrix multiply of the CUDA backend: kernels/cpu/gemm.h's gemm (row-major, the same
// arguments and semantics) over device pointers, on cuBLAS. Plain C++ (no CUDA header).
//   C = alpha * op(A) * op(B) + beta * C; op(A) is (M,K), op(B) is (K,N), C is (M,N);
//   op(X) = X^T when trans_x; lda/ldb/ldc are row strides in elements of A, B, C as stored
//   (A stored (K,M) when trans_a). All dims and leading dims must be < 2^31; beta == 0 ignores
//   C's old contents; K == 0 gives C = beta * C.
// `stream` is a cudaStream_t passed as void* (nullptr: the default stream); asynchronous on it.
// float runs in FP32 (no TF32), so results match the CPU to float rounding.
#include <cstdint>

namespace abbe::kernels::cuda {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
