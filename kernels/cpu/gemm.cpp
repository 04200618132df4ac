#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

// Present only in DYNAMIC_ARCH builds of OpenBLAS (Debian's are); weak so other builds link.
extern "C" [[gnu::weak]] void gotoblas_dynamic_init(void);
extern "C" [[gnu::weak]] void gotoblas_dynamic_quit(void);

namespace abbe::kernels::cpu {
namespace {

// OpenBLAS's DYNAMIC_ARCH picks kernels by CPU model number and falls back to Prescott (SSE3)
// for models newer than the release (0.3.21 on an Emerald Rapids Xeon, family 6 model 207):
// SGEMM then runs at ~40 instead of ~220 GFLOP/s on 2 cores. When that happened on a CPU with
// AVX-512 or AVX2, re-run the selection as OPENBLAS_CORETYPE would have. An explicit
// OPENBLAS_CORETYPE from the user is left alone.
void fix_openblas_core() {
  if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || std::getenv("OPENBLAS_CORETYPE")) return;
  if (std::strcmp(openblas_get_corename(), "Prescott") != 0) return;
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    core = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    core = "Haswell";
  }
  if (!core) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");
}

void setup_once() {
  static const bool done = [] {
    fix_openblas_core();
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

template <typename T>
void blas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N),
                static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
                static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N),
                static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
                static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
  }
}

// Below ~4 MFLOP a fork/join costs more than the second core gives back.
constexpr int64_t kParallelMinMNK = int64_t{1} << 21;

}  // namespace

const char* blas_core_name() {
  setup_once();
  return openblas_get_corename();
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // BLAS rejects lda < 1 for an empty op(A); the product is empty, so C = beta * C.
    for (int64_t i = 0; i < M; ++i) {
      T* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    }
    return;
  }
  setup_once();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || M * N * K < kParallelMinMNK) {
    blas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split C into one block of columns (or rows, when M > N) per thread; each block is an
  // independent single-threaded gemm. Blocks are multiples of 16 to keep the BLAS micro-tiles full.
  const bool split_n = N >= M;
  const int64_t extent = split_n ? N : M;
  const int64_t per_thread = (extent + threads - 1) / threads;
  const int64_t block = (per_thread + 15) / 16 * 16;
  const int64_t blocks = (extent + block - 1) / block;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t lo = b * block, len = std::min(block, extent - lo);
    if (split_n) {
      const T* Bb = trans_b ? B + lo * ldb : B + lo;
      blas_gemm(trans_a, trans_b, M, len, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
    } else {
      const T* Ab = trans_a ? A + lo : A + lo * lda;
      blas_gemm(trans_a, trans_b, len, N, K, alpha, Ab, lda, B, ldb, beta, C + lo * ldc, ldc);
    }
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace abbe::kernels::cpu
