// Convolutions of the CUDA backend (see conv.h). Built by nvcc: cuDNN's convolution API. Built by
// g++ with ABBE_CUDA_EMULATION: the CPU kernels of kernels/cpu/conv.h on the same pointers.
//
// A transposed convolution is the adjoint of the convolution shape.as_conv() (from (N,K,P,Q) to
// (N,C,H,W), weight (C, K/G, R, S): exactly the transposed conv's weight layout), so it needs no
// kernel of its own:
//   conv_transpose2d_forward         = conv backward_data   of as_conv()
//   conv_transpose2d_backward_data   = conv forward         of as_conv()
//   conv_transpose2d_backward_weight = conv backward_filter of as_conv() with x and dy swapped
// and out_pad only widens as_conv()'s input (P, Q), which the conv's output size formula absorbs.
#include "kernels/cuda/conv.h"

#include <initializer_list>

#include "graph/error.h"
#include "kernels/cuda/cuda_compat.h"

#if !defined(ABBE_CUDA_EMULATION)
// cuDNN 9 marks this whole API (the "legacy" convolution API) CUDNN_DEPRECATED in favour of the
// graph API, but the attribute is empty unless CUDNN_WARN_DEPRECATED is defined, which abbe does
// not: it compiles without warnings and is still supported through cuDNN 9.
#include <cudnn.h>

#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>

#include "graph/tensor.h"
#include "kernels/cuda/device.h"
#endif

namespace abbe::kernels::cuda {

#if defined(ABBE_CUDA_EMULATION)

namespace {

// Emulated device memory is host memory, and the emulator runs every launch synchronously, so the
// work queued on `stream` before this call is already done: the CPU kernel on the same pointers
// sees what a cuDNN call queued on `stream` would. The checks catch what a GPU would crash on.
void check_emulated(const char* fn, void* stream, std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    ABBE_CHECK(emu::is_device_accessible(p), "cuda::", fn, ": pointer ", p, " is not device memory (cudaMalloc)");
  ABBE_CHECK(emu::is_live_stream(static_cast<cudaStream_t>(stream)), "cuda::", fn, ": stream was destroyed");
}

}  // namespace

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y, void* stream) {
  check_emulated("conv2d_forward", stream, {x, w, bias, y});
  cpu::conv2d_forward(s, x, w, bias, y);
}

template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx, void* stream) {
  check_emulated("conv2d_backward_data", stream, {dy, w, dx});
  cpu::conv2d_backward_data(s, dy, w, dx);
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db, void* stream) {
  check_emulated("conv2d_backward_weight", stream, {x, dy, dw, db});
  cpu::conv2d_backward_weight(s, x, dy, dw, db);
}

template <typename T>
void conv_transpose2d_forward(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y,
                              void* stream) {
  check_emulated("conv_transpose2d_forward", stream, {x, w, bias, y});
  cpu::conv_transpose2d_forward(s, x, w, bias, y);
}

template <typename T>
void conv_transpose2d_backward_data(const ConvTranspose2dShape& s, const T* dy, const T* w, T* dx, void* stream) {
  check_emulated("conv_transpose2d_backward_data", stream, {dy, w, dx});
  cpu::conv_transpose2d_backward_data(s, dy, w, dx);
}

template <typename T>
void conv_transpose2d_backward_weight(const ConvTranspose2dShape& s, const T* x, const T* dy, T* dw, T* db,
                                      void* stream) {
  check_emulated("conv_transpose2d_backward_weight", stream, {x, dy, dw, db});
  cpu::conv_transpose2d_backward_weight(s, x, dy, dw, db);
}

#else  // real cuDNN

namespace {

// ---- Errors ----

// "cudnnConvolutionForward" out of "cudnnConvolutionForward(h, ...)".
std::string call_name(const char* expr) { return std::string(expr, std::strcspn(expr, "(")); }

[[noreturn]] void cudnn_failed(const char* expr, cudnnStatus_t s) {
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));  // cuDNN's sentence behind the generic status
  ABBE_FAIL(call_name(expr), " failed: ", cudnnGetErrorString(s), detail[0] ? ": " : "", detail);
}

#define ABBE_CUDNN_CHECK(expr)                                                        \
  do {                                                                                \
    const cudnnStatus_t abbe_cudnn_status_ = (expr);                                  \
    if (abbe_cudnn_status_ != CUDNN_STATUS_SUCCESS) cudnn_failed(#expr, abbe_cudnn_status_); \
  } while (0)

int dim(int64_t v, const char* what) {
  ABBE_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "cuda conv: ", what, " = ", v,
             " does not fit cuDNN's int dimensions");
  return static_cast<int>(v);
}

// ---- Handles and descriptors ----

// One cuDNN handle per host thread, created on first use and destroyed at thread exit: a handle
// must not be used by two threads at once, and cudnnSetStream on a per-thread handle needs no lock.
class Handle {
 public:
  Handle() {
    ::abbe::cuda::require_device();  // a clear "no usable CUDA device" instead of NOT_INITIALIZED
    ABBE_CUDNN_CHECK(cudnnCreate(&h_));
  }
  ~Handle() { (void)cudnnDestroy(h_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  cudnnHandle_t get() const { return h_; }

 private:
  cudnnHandle_t h_ = nullptr;
};

cudnnHandle_t handle_for(void* stream) {
  thread_local Handle handle;
  ABBE_CUDNN_CHECK(cudnnSetStream(handle.get(), static_cast<cudaStream_t>(stream)));
  return handle.get();
}

// A descriptor destroyed with its owner, also when the owner's constructor throws after creating it.
template <typename D, cudnnStatus_t (*kDestroy)(D)>
class Owned {
 public:
  Owned() = default;
  ~Owned() {
    if (d_) (void)kDestroy(d_);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  D* out() { return &d_; }
  D get() const { return d_; }

 private:
  D d_ = nullptr;
};

// NCHW tensor (n, c, h, w).
class TensorDesc {
 public:
  TensorDesc(cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w) {
    const int in = dim(n, "N"), ic = dim(c, "channels"), ih = dim(h, "height"), iw = dim(w, "width");
    ABBE_CUDNN_CHECK(cudnnCreateTensorDescriptor(d_.out()));
    ABBE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_.get(), CUDNN_TENSOR_NCHW, type, in, ic, ih, iw));
  }
  cudnnTensorDescriptor_t get() const { return d_.get(); }

 private:
  Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor> d_;
};

// Filter (k, c, r, s), NCHW order: PyTorch's (K, C/G, R, S).
class FilterDesc {
 public:
  FilterDesc(cudnnDataType_t type, int64_t k, int64_t c, int64_t r, int64_t s) {
    const int ik = dim(k, "K"), ic = dim(c, "C/G"), ir = dim(r, "R"), is = dim(s, "S");
    ABBE_CUDNN_CHECK(cudnnCreateFilterDescriptor(d_.out()));
    ABBE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_.get(), type, CUDNN_TENSOR_NCHW, ik, ic, ir, is));
  }
  cudnnFilterDescriptor_t get() const { return d_.get(); }

 private:
  Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor> d_;
};

class ConvDesc {
 public:
  ConvDesc(cudnnDataType_t type, const Conv2dShape& s) {
    const int ph = dim(s.pad_h, "pad_h"), pw = dim(s.pad_w, "pad_w"), sh = dim(s.stride_h, "stride_h"),
              sw = dim(s.stride_w, "stride_w"), dh = dim(s.dil_h, "dil_h"), dw = dim(s.dil_w, "dil_w"),
              g = dim(s.groups, "groups");
    ABBE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(d_.out()));
    // Cross-correlation (no kernel flip) is what PyTorch and the CPU kernels call convolution;
    // compute type = data type (no pseudo-half accumulation).
    ABBE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d_.get(), ph, pw, sh, sw, dh, dw, CUDNN_CROSS_CORRELATION, type));
    ABBE_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d_.get(), g));
    // float: CUDNN_FMA_MATH forbids tensor-op algorithms, whose TF32 inputs (10-bit mantissa, ~1e-3
    // relative) would break agreement with the CPU to 1e-4 relative; FP32 FMA keeps it.
    // double: CUDNN_DEFAULT_MATH; FP64 tensor cores (sm_80+) compute in full FP64.
    const cudnnMathType_t math = type == CUDNN_DATA_FLOAT ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    ABBE_CUDNN_CHECK(cudnnSetConvolutionMathType(d_.get(), math));
  }
  cudnnConvolutionDescriptor_t get() const { return d_.get(); }

 private:
  Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor> d_;
};

template <typename T>
constexpr cudnnDataType_t kType = std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;

// ---- Algorithm choice, once per (direction, dtype, shape) ----

enum class Direction : int64_t { forward, backward_data, backward_filter };

struct Algo {
  int algo = 0;          // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  size_t workspace = 0;  // bytes that algorithm needs for this shape
};

using AlgoKey = std::array<int64_t, 16>;

AlgoKey algo_key(Direction d, cudnnDataType_t type, const Conv2dShape& s) {
  return {static_cast<int64_t>(d), static_cast<int64_t>(type), s.N, s.C, s.H, s.W, s.K, s.R, s.S,
          s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w, s.groups};
}

// The index in cuDNN's ranked list (best first) of the algorithm to use, or -1. Skips algorithms
// cuDNN reports unusable for the shape and, for float, any that would still use tensor ops (TF32).
// Prefers the best deterministic one (some backward algorithms accumulate with atomics), so that,
// like the CPU kernels, a result does not vary from run to run; the best overall if none is.
template <typename Perf>
int pick(const Perf* perf, int count, cudnnDataType_t type) {
  int fallback = -1;
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (type == CUDNN_DATA_FLOAT &&
        (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    if (perf[i].determinism == CUDNN_DETERMINISTIC) return i;
    if (fallback < 0) fallback = i;
  }
  return fallback;
}

// Descriptors of one convolution: x (N,C,H,W), w (K, C/G, R, S), y (N,K,P,Q).
struct ConvDescs {
  ConvDescs(cudnnDataType_t type, const Conv2dShape& s)
      : x(type, s.N, s.C, s.H, s.W),
        y(type, s.N, s.K, s.P(), s.Q()),
        w(type, s.K, s.C / s.groups, s.R, s.S),
        conv(type, s) {}
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
};

// cudnnGet*Algorithm_v7 (heuristics), not cudnnFind*: Find times every algorithm on the device,
// which synchronises the host and allocates its own scratch with cudaMalloc. The choice and its
// workspace size are cached for the process (one device).
Algo choose_algo(cudnnHandle_t h, Direction dir, cudnnDataType_t type, const Conv2dShape& s, const ConvDescs& d) {
  static std::mutex mu;
  static auto* cache = new std::map<AlgoKey, Algo>();  // never destroyed: calls may come during exit
  const AlgoKey key = algo_key(dir, type, s);
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache->find(key); it != cache->end()) return it->second;

  Algo a;
  int i = -1;
  switch (dir) {
    case Direction::forward: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      if ((i = pick(perf, n, type)) < 0) break;
      a.algo = perf[i].algo;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                               perf[i].algo, &a.workspace));
      break;
    }
    case Direction::backward_data: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      if ((i = pick(perf, n, type)) < 0) break;
      a.algo = perf[i].algo;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(), d.x.get(),
                                                                    perf[i].algo, &a.workspace));
      break;
    }
    case Direction::backward_filter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int n = 0;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, d.x.get(), d.y.get(), d.conv.get(), d.w.get(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      if ((i = pick(perf, n, type)) < 0) break;
      a.algo = perf[i].algo;
      ABBE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), d.conv.get(),
                                                                      d.w.get(), perf[i].algo, &a.workspace));
      break;
    }
  }
  if (i < 0) {
    const char* what = dir == Direction::forward         ? "forward"
                       : dir == Direction::backward_data ? "backward-data"
                                                         : "backward-filter";
    ABBE_FAIL("cuDNN has no usable ", what, " algorithm for the convolution N=", s.N, " C=", s.C, " H=", s.H,
              " W=", s.W, " K=", s.K, " R=", s.R, " S=", s.S, " stride ", s.stride_h, "x", s.stride_w, " pad ",
              s.pad_h, "x", s.pad_w, " dilation ", s.dil_h, "x", s.dil_w, " groups ", s.groups);
  }
  cache->emplace(key, a);
  return a;
}

// ---- One convolution on one stream ----

// cuDNN calls for the convolution `s` (x (N,C,H,W) -> y (N,K,P,Q)) on `stream`; no host sync.
template <typename T>
class Conv {
 public:
  Conv(const Conv2dShape& s, void* stream) : s_(s), stream_(stream), h_(handle_for(stream)), d_(kType<T>, s) {}

  // y = conv(x, w)
  void forward(const T* x, const T* w, T* y) {
    const Algo a = choose_algo(h_, Direction::forward, kType<T>, s_, d_);
    std::optional<Storage> ws;
    void* const wsp = workspace(a.workspace, ws);
    ABBE_CUDNN_CHECK(cudnnConvolutionForward(h_, &kOne, d_.x.get(), x, d_.w.get(), w, d_.conv.get(),
                                             static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), wsp, a.workspace,
                                             &kZero, d_.y.get(), y));
  }
  // dx = conv^T(dy, w)
  void backward_data(const T* dy, const T* w, T* dx) {
    const Algo a = choose_algo(h_, Direction::backward_data, kType<T>, s_, d_);
    std::optional<Storage> ws;
    void* const wsp = workspace(a.workspace, ws);
    ABBE_CUDNN_CHECK(cudnnConvolutionBackwardData(h_, &kOne, d_.w.get(), w, d_.y.get(), dy, d_.conv.get(),
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), wsp,
                                                  a.workspace, &kZero, d_.x.get(), dx));
  }
  // dw = d<y, dy>/dw
  void backward_filter(const T* x, const T* dy, T* dw) {
    const Algo a = choose_algo(h_, Direction::backward_filter, kType<T>, s_, d_);
    std::optional<Storage> ws;
    void* const wsp = workspace(a.workspace, ws);
    ABBE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h_, &kOne, d_.x.get(), x, d_.y.get(), dy, d_.conv.get(),
                                                    static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), wsp,
                                                    a.workspace, &kZero, d_.w.get(), dw));
  }

  // Which side of the convolution a per-channel bias lives on: y (K channels) for a conv, x (C
  // channels) for the transposed conv built on it.
  enum class Side { x, y };
  // t += bias broadcast over n, h, w
  void add_bias(Side side, const T* bias, T* t) {
    const TensorDesc b(kType<T>, 1, side == Side::x ? s_.C : s_.K, 1, 1);
    ABBE_CUDNN_CHECK(cudnnAddTensor(h_, &kOne, b.get(), bias, &kOne, desc(side), t));
  }
  // db = sum of dt over n, h, w
  void bias_grad(Side side, const T* dt, T* db) {
    const TensorDesc b(kType<T>, 1, side == Side::x ? s_.C : s_.K, 1, 1);
    ABBE_CUDNN_CHECK(cudnnConvolutionBackwardBias(h_, &kOne, desc(side), dt, &kZero, b.get(), db));
  }

 private:
  // cuDNN's alpha/beta are float for float data and double for double data.
  static constexpr T kOne = 1, kZero = 0;

  cudnnTensorDescriptor_t desc(Side side) const { return side == Side::x ? d_.x.get() : d_.y.get(); }

  // Scratch from the caching allocator, allocated with `stream` current so that the block returns
  // to that stream's free list when `ws` is destroyed at the end of the call: only later work on
  // the same stream, which runs after the queued cuDNN kernels, can reuse it.
  void* workspace(size_t bytes, std::optional<Storage>& ws) const {
    if (bytes == 0) return nullptr;
    const ::abbe::cuda::StreamGuard guard(stream_);
    ws.emplace(bytes, Device::cuda());
    return ws->data();
  }

  Conv2dShape s_;
  void* stream_;
  cudnnHandle_t h_;
  ConvDescs d_;
};

template <typename T>
void zero_async(T* p, int64_t n, void* stream) {
  if (p && n > 0)
    ABBE_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(T), static_cast<cudaStream_t>(stream)));
}

Conv2dShape checked_as_conv(const ConvTranspose2dShape& s) {
  const Conv2dShape c = s.as_conv();
  ABBE_CHECK(c.P() == s.H && c.Q() == s.W, "cuda conv_transpose2d: output padding (", s.out_pad_h, ", ",
             s.out_pad_w, ") must be smaller than the stride (", s.stride_h, ", ", s.stride_w, ")");
  return c;
}

}  // namespace

// An empty batch (N == 0) has no work, which cuDNN rejects as a bad dimension: outputs are empty,
// except the weight and bias gradients, which are zero.

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y, void* stream) {
  if (s.N == 0) return;
  Conv<T> c(s, stream);
  c.forward(x, w, y);
  if (bias) c.add_bias(Conv<T>::Side::y, bias, y);
}

template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx, void* stream) {
  if (s.N == 0) return;
  Conv<T>(s, stream).backward_data(dy, w, dx);
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db, void* stream) {
  if (s.N == 0) {
    zero_async(dw, s.K * (s.C / s.groups) * s.R * s.S, stream);
    zero_async(db, s.K, stream);
    return;
  }
  Conv<T> c(s, stream);
  c.backward_filter(x, dy, dw);
  if (db) c.bias_grad(Conv<T>::Side::y, dy, db);
}

template <typename T>
void conv_transpose2d_forward(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y,
                              void* stream) {
  if (s.N == 0) return;
  Conv<T> c(checked_as_conv(s), stream);  // y is the conv's x side
  c.backward_data(x, w, y);
  if (bias) c.add_bias(Conv<T>::Side::x, bias, y);
}

template <typename T>
void conv_transpose2d_backward_data(const ConvTranspose2dShape& s, const T* dy, const T* w, T* dx, void* stream) {
  if (s.N == 0) return;
  Conv<T>(checked_as_conv(s), stream).forward(dy, w, dx);
}

template <typename T>
void conv_transpose2d_backward_weight(const ConvTranspose2dShape& s, const T* x, const T* dy, T* dw, T* db,
                                      void* stream) {
  if (s.N == 0) {
    zero_async(dw, s.C * (s.K / s.groups) * s.R * s.S, stream);
    zero_async(db, s.K, stream);
    return;
  }
  Conv<T> c(checked_as_conv(s), stream);
  c.backward_filter(dy, x, dw);  // the conv's input is the transposed conv's dy, its dy our x
  if (db) c.bias_grad(Conv<T>::Side::x, dy, db);
}

#endif

#define ABBE_INSTANTIATE(T)                                                                                   \
  template void conv2d_forward<T>(const Conv2dShape&, const T*, const T*, const T*, T*, void*);                \
  template void conv2d_backward_data<T>(const Conv2dShape&, const T*, const T*, T*, void*);                    \
  template void conv2d_backward_weight<T>(const Conv2dShape&, const T*, const T*, T*, T*, void*);              \
  template void conv_transpose2d_forward<T>(const ConvTranspose2dShape&, const T*, const T*, const T*, T*,     \
                                            void*);                                                           \
  template void conv_transpose2d_backward_data<T>(const ConvTranspose2dShape&, const T*, const T*, T*, void*); \
  template void conv_transpose2d_backward_weight<T>(const ConvTranspose2dShape&, const T*, const T*, T*, T*,   \
                                                    void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cuda
