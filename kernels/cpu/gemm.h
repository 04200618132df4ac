#pragma once
// Dense matrix multiply, row-major: C = alpha * op(A) * op(B) + beta * C, the one BLAS entry
// point of the CPU backend (conv, linear, attention). float -> cblas_sgemm, double -> cblas_dgemm.
//   M,N,K: op(A) is (M,K), op(B) is (K,N), C is (M,N). op(X) = X^T when trans_x.
//   lda/ldb/ldc: row strides in elements of A, B, C as stored (A stored (K,M) when trans_a).
// All dims and leading dims must be < 2^31 (BLAS ints); beta == 0 ignores C's old contents.
//
// Threading: OpenMP is the only thread pool. On first use OpenBLAS is set to one thread, and
// gemm splits a large product over the OpenMP threads itself; called inside an OpenMP parallel
// region it runs on the calling thread. (Two pools on two cores preempt each other; conv tiles
// call gemm from its own parallel loop.) Call BLAS through here, not cblas directly.
#include <cstdint>

namespace abbe::kernels::cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The OpenBLAS kernel family in use (e.g. "SkylakeX"), after gemm's one-time setup.
const char* blas_core_name();

}  // namespace abbe::kernels::cpu
