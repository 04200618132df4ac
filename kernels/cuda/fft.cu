// 2-D real FFTs of the CUDA backend (see fft.h). B = batch, H,W = transformed dims, K = W/2 + 1,
// M = W/2 (even W). Built by nvcc: cuFFT plus two small kernels. Built by g++ with
// ABBE_CUDA_EMULATION: the same two kernels around the CPU FFTs of kernels/cpu/fft.h, which
// stand in for cuFFT on the same pointers (emulated device memory is host memory).
//
// irfft2 of a non-Hermitian spectrum. PyTorch computes y = C2R_W(IFFT_H(X)), where the C2R along
// W reads only the real part of columns 0 and (even W) M of IFFT_H(X). Since
// Re(IFFT_H(c)) = IFFT_H(herm(c)) with herm(c)[h] = (c[h] + conj c[-h]) / 2, replacing those two
// columns of X by their Hermitian part along H gives a spectrum X' with y = C2R_W(IFFT_H(X')),
// and X' is the exact half spectrum of a real image (columns 0 and M Hermitian along H, the others
// free). So y is the plain 2-D C2R of X', which is what cuFFT's multi-dimensional C2R is
// specified for: project_kernel writes X' (scaled by 1/(H W)) into the workspace, then one
// batched 2-D C2R. No cuFFT call ever sees a non-Hermitian input, and the whole batch is one cuFFT
// call (a C2C along H, then a zeroing kernel and a 1-D C2R along W, would need one C2C call per
// image: the B*K columns of a (B, H, K) batch have no single batch stride). The emulation build
// runs project_kernel too, so the tests check this identity with the shipped kernel.
//
// rfft2: one batched 2-D R2C, then fix_spectrum_kernel writes +0.0 into the imaginary parts of
// the structurally real bins (what cuFFT leaves there is unspecified: rounding noise or -0.0).
//
// Degenerate sizes keep size-1 dims out of cuFFT plans: H == 1 uses 1-D plans along W; W == 1
// uses 1-D real plans along H with the complex side spaced H apart (an R2C writes bins 0..H/2 and
// fix_spectrum_kernel mirrors the rest); H == W == 1 needs no FFT (copies).
#include "kernels/cuda/fft.h"

#include <cstdint>
#include <initializer_list>

#include "graph/error.h"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

#if defined(ABBE_CUDA_EMULATION)
#include "kernels/cpu/fft.h"
#else
#include <cufft.h>

#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>

#include "graph/tensor.h"
#include "kernels/cuda/device.h"
#endif

namespace abbe::kernels::cuda {

namespace {

// X (B, H, K, 2) after a forward transform. For W == 1, bins h > H/2 = conj X[H-h] (the R2C along
// H wrote h <= H/2); then imaginary part +0.0 at rows 0 and H/2 (even H) of columns 0 and M (even
// W). One thread per (b, h, special column). A mirrored bin reads a bin 0 < H-h < H/2, which no
// thread writes.
template <typename T>
__global__ void __launch_bounds__(kBlock) fix_spectrum_kernel(int64_t B, int64_t H, int64_t W, T* X) {
  const int64_t K = W / 2 + 1, columns = W % 2 == 0 ? 2 : 1, total = B * H * columns;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t c = i % columns == 0 ? 0 : K - 1, t = i / columns, h = t % H, b = t / H;
    T* e = X + ((b * H + h) * K + c) * 2;
    if (W == 1 && 2 * h > H) {
      const T* m = X + (b * H + (H - h)) * K * 2;
      e[0] = m[0];
      e[1] = -m[1];
    }
    if (h == 0 || 2 * h == H) e[1] = T(0);
  }
}

// ws (B, H, K, 2) = scale * X', X' = X with columns 0 and (even W) M replaced by their Hermitian
// part along H: (X[h] + conj X[(H-h) mod H]) / 2, exactly Hermitian (both halves use the same
// sums). One thread per complex element.
template <typename T>
__global__ void __launch_bounds__(kBlock) project_kernel(int64_t total, int64_t H, int64_t W, T scale, const T* X,
                                                         T* ws) {
  const int64_t K = W / 2 + 1;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t c = i % K, t = i / K, h = t % H, b = t / H;
    T re = X[2 * i], im = X[2 * i + 1];
    if (c == 0 || (W % 2 == 0 && c == K - 1)) {
      const int64_t j = (b * H + (h == 0 ? 0 : H - h)) * K + c;
      re = T(0.5) * (re + X[2 * j]);
      im = T(0.5) * (im - X[2 * j + 1]);
    }
    ws[2 * i] = scale * re;
    ws[2 * i + 1] = scale * im;
  }
}

template <typename T>
void fix_spectrum(int64_t B, int64_t H, int64_t W, T* X, void* stream) {
  const int64_t total = B * H * (W % 2 == 0 ? 2 : 1);
  ABBE_LAUNCH((fix_spectrum_kernel<T>), dim3(grid_for(total)), dim3(kBlock), 0, as_stream(stream), B, H, W, X);
}

template <typename T>
void project(int64_t B, int64_t H, int64_t W, T scale, const T* X, T* ws, void* stream) {
  const int64_t total = B * H * (W / 2 + 1);
  ABBE_LAUNCH((project_kernel<T>), dim3(grid_for(total)), dim3(kBlock), 0, as_stream(stream), total, H, W, scale, X,
              ws);
}

void check_sizes(const char* fn, int64_t B, int64_t H, int64_t W) {
  ABBE_CHECK(B >= 0 && H >= 1 && W >= 1, "cuda::", fn, ": need B >= 0, H >= 1, W >= 1, got (", B, ", ", H, ", ", W,
             ")");
}

}  // namespace

#if defined(ABBE_CUDA_EMULATION)

namespace {

// The emulator runs every launch synchronously, so the work queued on `stream` before this call
// is done: the CPU FFT on the same pointers sees what a cuFFT call queued on `stream` would.
void check_emulated(const char* fn, void* stream, std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    ABBE_CHECK(p && emu::is_device_accessible(p), "cuda::", fn, ": pointer ", p, " is not device memory (cudaMalloc)");
  ABBE_CHECK(emu::is_live_stream(static_cast<cudaStream_t>(stream)), "cuda::", fn, ": stream was destroyed");
}

}  // namespace

template <typename T>
void rfft2(int64_t B, int64_t H, int64_t W, const T* x, T* X, void* /*workspace*/, void* stream) {
  check_sizes("rfft2", B, H, W);
  if (B == 0) return;
  check_emulated("rfft2", stream, {x, X});
  cpu::rfft2(B, H, W, x, X);  // stands in for the R2C
  fix_spectrum(B, H, W, X, stream);
}

template <typename T>
void irfft2(int64_t B, int64_t H, int64_t W, const T* X, T* x, void* workspace, void* stream) {
  check_sizes("irfft2", B, H, W);
  if (B == 0) return;
  check_emulated("irfft2", stream, {X, x, workspace});
  T* ws = static_cast<T*>(workspace);
  project(B, H, W, T(1), X, ws, stream);  // the CPU stand-in for the C2R scales by 1/(H W) itself
  cpu::irfft2(B, H, W, ws, x);
}

#else  // real cuFFT

namespace {

// ---- Errors. cuFFT has no function naming its results; cufft.h's values, by number so that
// results added or removed between CUDA versions still compile.
const char* cufft_result_name(cufftResult r) {
  switch (static_cast<int>(r)) {
    case 0x0: return "CUFFT_SUCCESS";
    case 0x1: return "CUFFT_INVALID_PLAN";
    case 0x2: return "CUFFT_ALLOC_FAILED";
    case 0x3: return "CUFFT_INVALID_TYPE";
    case 0x4: return "CUFFT_INVALID_VALUE";
    case 0x5: return "CUFFT_INTERNAL_ERROR";
    case 0x6: return "CUFFT_EXEC_FAILED";
    case 0x7: return "CUFFT_SETUP_FAILED";
    case 0x8: return "CUFFT_INVALID_SIZE";
    case 0x9: return "CUFFT_UNALIGNED_DATA";
    case 0xA: return "CUFFT_INCOMPLETE_PARAMETER_LIST";
    case 0xB: return "CUFFT_INVALID_DEVICE";
    case 0xC: return "CUFFT_PARSE_ERROR";
    case 0xD: return "CUFFT_NO_WORKSPACE";
    case 0xE: return "CUFFT_NOT_IMPLEMENTED";
    case 0xF: return "CUFFT_LICENSE_ERROR";
    case 0x10: return "CUFFT_NOT_SUPPORTED";
    case 0x11: return "CUFFT_MISSING_DEPENDENCY";
    case 0x12: return "CUFFT_NVRTC_FAILURE";
    case 0x13: return "CUFFT_NVJITLINK_FAILURE";
    case 0x14: return "CUFFT_NVSHMEM_FAILURE";
    default: return "unknown cufftResult";
  }
}

// "cufftExecR2C" out of "cufftExecR2C(h, ...)".
std::string call_name(const char* expr) { return std::string(expr, std::strcspn(expr, "(")); }

[[noreturn]] void cufft_failed(const char* expr, cufftResult r) {
  ABBE_FAIL(call_name(expr), " failed: ", cufft_result_name(r), " (", static_cast<int>(r), ")");
}

#define ABBE_CUFFT_CHECK(expr)                                                               \
  do {                                                                                       \
    const cufftResult abbe_cufft_status_ = (expr);                                           \
    if (abbe_cufft_status_ != CUFFT_SUCCESS) cufft_failed(#expr, abbe_cufft_status_);        \
  } while (0)

// ---- Plans, cached per (kind, B, H, W, dtype) for the process (one device).

enum class Kind : int64_t { r2c, c2r };

// A cuFFT plan without its own work area: each call takes one from the caching allocator on its
// stream, so one cached plan can run on several streams at once. `mu` makes set-stream,
// set-work-area and exec one step when host threads share the plan.
class Plan {
 public:
  Plan(Kind kind, bool dbl, int64_t B, int64_t H, int64_t W) {
    ::abbe::cuda::require_device();  // a clear "no usable CUDA device" instead of a cuFFT error
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    ABBE_CHECK(B * H * W <= kMax && B * H * (W / 2 + 1) * 2 <= kMax, "cuda fft: B*H*W = ", B * H * W,
               " does not fit cuFFT's int dims");
    ABBE_CUFFT_CHECK(cufftCreate(&h_));
    created_ = true;
    ABBE_CUFFT_CHECK(cufftSetAutoAllocation(h_, 0));
    const cufftType type = kind == Kind::r2c ? (dbl ? CUFFT_D2Z : CUFFT_R2C) : (dbl ? CUFFT_Z2D : CUFFT_C2R);
    const int b = static_cast<int>(B), h = static_cast<int>(H), w = static_cast<int>(W);
    if (H > 1 && W > 1) {  // (H, W) per image, packed
      int n[2] = {h, w};
      ABBE_CUFFT_CHECK(cufftMakePlanMany(h_, 2, n, nullptr, 1, 0, nullptr, 1, 0, type, b, &work_));
    } else if (W > 1) {  // H == 1: rows of W
      int n[1] = {w};
      ABBE_CUFFT_CHECK(cufftMakePlanMany(h_, 1, n, nullptr, 1, 0, nullptr, 1, 0, type, b, &work_));
    } else {  // W == 1: real columns of H, complex side H apart (bins 0..H/2 used)
      int n[1] = {h}, embed[1] = {h};
      ABBE_CUFFT_CHECK(cufftMakePlanMany(h_, 1, n, embed, 1, h, embed, 1, h, type, b, &work_));
    }
  }
  ~Plan() {
    if (created_) (void)cufftDestroy(h_);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  // exec(handle) with the plan bound to `stream` and a fresh work area on it.
  template <typename F>
  void run(void* stream, const F& exec) {
    const ::abbe::cuda::StreamGuard guard(stream);  // the work area returns to this stream's free list
    std::optional<Storage> work;
    if (work_ > 0) work.emplace(work_, Device::cuda());
    const std::lock_guard<std::mutex> lock(mu_);
    ABBE_CUFFT_CHECK(cufftSetStream(h_, as_stream(stream)));
    if (work) ABBE_CUFFT_CHECK(cufftSetWorkArea(h_, work->data()));
    exec(h_);
  }

 private:
  cufftHandle h_ = 0;
  bool created_ = false;
  size_t work_ = 0;
  std::mutex mu_;
};

template <typename T>
Plan& plan_for(Kind kind, int64_t B, int64_t H, int64_t W) {
  static std::mutex mu;
  static auto* cache = new std::map<std::array<int64_t, 5>, std::unique_ptr<Plan>>();  // never destroyed
  const std::array<int64_t, 5> key = {static_cast<int64_t>(kind), B, H, W, static_cast<int64_t>(sizeof(T))};
  const std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it == cache->end())
    it = cache->emplace(key, std::make_unique<Plan>(kind, std::is_same_v<T, double>, B, H, W)).first;
  return *it->second;
}

}  // namespace

template <typename T>
void rfft2(int64_t B, int64_t H, int64_t W, const T* x, T* X, void* /*workspace*/, void* stream) {
  check_sizes("rfft2", B, H, W);
  if (B == 0) return;
  const cudaStream_t s = as_stream(stream);
  if (H == 1 && W == 1) {  // X = (x, +0.0)
    ABBE_CUDA_CHECK(cudaMemsetAsync(X, 0, static_cast<size_t>(B) * 2 * sizeof(T), s));
    ABBE_CUDA_CHECK(cudaMemcpy2DAsync(X, 2 * sizeof(T), x, sizeof(T), sizeof(T), static_cast<size_t>(B),
                                      cudaMemcpyDeviceToDevice, s));
  } else {
    // cuFFT's exec functions take non-const inputs; an out-of-place R2C does not write its input.
    T* in = const_cast<T*>(x);
    plan_for<T>(Kind::r2c, B, H, W).run(stream, [&](cufftHandle h) {
      if constexpr (std::is_same_v<T, float>)
        ABBE_CUFFT_CHECK(cufftExecR2C(h, reinterpret_cast<cufftReal*>(in), reinterpret_cast<cufftComplex*>(X)));
      else
        ABBE_CUFFT_CHECK(
            cufftExecD2Z(h, reinterpret_cast<cufftDoubleReal*>(in), reinterpret_cast<cufftDoubleComplex*>(X)));
    });
  }
  fix_spectrum(B, H, W, X, stream);
}

template <typename T>
void irfft2(int64_t B, int64_t H, int64_t W, const T* X, T* x, void* workspace, void* stream) {
  check_sizes("irfft2", B, H, W);
  if (B == 0) return;
  ABBE_CHECK(workspace, "cuda::irfft2: needs a workspace of irfft2_workspace_bytes<T>(B, H, W) = ",
             irfft2_workspace_bytes<T>(B, H, W), " bytes, got nullptr");
  T* ws = static_cast<T*>(workspace);
  const T scale = static_cast<T>(1.0 / (static_cast<double>(H) * static_cast<double>(W)));
  project(B, H, W, scale, X, ws, stream);
  const cudaStream_t s = as_stream(stream);
  if (H == 1 && W == 1) {  // x = Re ws
    ABBE_CUDA_CHECK(cudaMemcpy2DAsync(x, sizeof(T), ws, 2 * sizeof(T), sizeof(T), static_cast<size_t>(B),
                                      cudaMemcpyDeviceToDevice, s));
    return;
  }
  // The C2R may overwrite its input: the workspace copy, never X.
  plan_for<T>(Kind::c2r, B, H, W).run(stream, [&](cufftHandle h) {
    if constexpr (std::is_same_v<T, float>)
      ABBE_CUFFT_CHECK(cufftExecC2R(h, reinterpret_cast<cufftComplex*>(ws), reinterpret_cast<cufftReal*>(x)));
    else
      ABBE_CUFFT_CHECK(
          cufftExecZ2D(h, reinterpret_cast<cufftDoubleComplex*>(ws), reinterpret_cast<cufftDoubleReal*>(x)));
  });
}

#endif

template void rfft2<float>(int64_t, int64_t, int64_t, const float*, float*, void*, void*);
template void rfft2<double>(int64_t, int64_t, int64_t, const double*, double*, void*, void*);
template void irfft2<float>(int64_t, int64_t, int64_t, const float*, float*, void*, void*);
template void irfft2<double>(int64_t, int64_t, int64_t, const double*, double*, void*, void*);

}  // namespace abbe::kernels::cuda
