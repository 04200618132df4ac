// CUDA elementwise kernels (see elementwise.h). Written once for nvcc and for the CPU emulator
// (kernels/emu/README.md): ABBE_LAUNCH, ABBE_SHARED, abbe_shfl_*.
//
// Layout of the work: every elementwise kernel is a grid-stride loop over 256-thread blocks, so
// consecutive threads touch consecutive elements (coalesced) and any n fits a capped grid. When
// T = float, every pointer the op reads or writes is 16-byte aligned and n % 4 == 0, a float4
// variant moves 4 elements per load/store (checked at run time; otherwise the scalar kernel).
#include "kernels/cuda/elementwise.h"

#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// float4 path possible: every pointer aligned (null counts: the kernel does not read it) and n % 4 == 0.
template <typename T>
bool vec4_ok(int64_t n, const void* p0, const void* p1, const void* p2 = nullptr, const void* p3 = nullptr) {
  if constexpr (sizeof(T) != 4) {
    return false;
  } else {
    return n % 4 == 0 && aligned16(p0) && aligned16(p1) && aligned16(p2) && aligned16(p3);
  }
}

// ---- Math overloads: float calls the f-suffixed function (no silent promotion to double).
__device__ __forceinline__ float d_exp(float v) { return expf(v); }
__device__ __forceinline__ double d_exp(double v) { return exp(v); }
__device__ __forceinline__ float d_log(float v) { return logf(v); }
__device__ __forceinline__ double d_log(double v) { return log(v); }
__device__ __forceinline__ float d_sqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double d_sqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float d_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double d_tanh(double v) { return tanh(v); }
__device__ __forceinline__ float d_abs(float v) { return fabsf(v); }
__device__ __forceinline__ double d_abs(double v) { return fabs(v); }

// ---- Per-element functions, the same formulas as the CPU kernels.
template <UnaryOp kOp, typename T>
__device__ __forceinline__ T unary_f(T v, [[maybe_unused]] T a) {
  if constexpr (kOp == UnaryOp::neg) return -v;
  else if constexpr (kOp == UnaryOp::exp) return d_exp(v);
  else if constexpr (kOp == UnaryOp::log) return d_log(v);
  else if constexpr (kOp == UnaryOp::abs) return d_abs(v);
  else if constexpr (kOp == UnaryOp::sqrt) return d_sqrt(v);
  else if constexpr (kOp == UnaryOp::square) return v * v;
  else if constexpr (kOp == UnaryOp::relu) return v > 0 ? v : T(0);
  else if constexpr (kOp == UnaryOp::leaky_relu) return v > 0 ? v : v * a;
  else if constexpr (kOp == UnaryOp::sigmoid) return T(1) / (T(1) + d_exp(-v));
  else if constexpr (kOp == UnaryOp::tanh) return d_tanh(v);
  else if constexpr (kOp == UnaryOp::add_scalar) return v + a;
  else return v * a;  // mul_scalar
}

// Which saved tensor the backward of kOp reads (variables, not functions: usable in device code).
template <UnaryOp kOp>
constexpr bool kBwdReadsY = kOp == UnaryOp::exp || kOp == UnaryOp::sqrt || kOp == UnaryOp::sigmoid || kOp == UnaryOp::tanh;
template <UnaryOp kOp>
constexpr bool kBwdReadsX =
    !kBwdReadsY<kOp> && kOp != UnaryOp::neg && kOp != UnaryOp::add_scalar && kOp != UnaryOp::mul_scalar;

// v = x or y (whichever kBwdReads* names; unused otherwise), g = dy.
template <UnaryOp kOp, typename T>
__device__ __forceinline__ T unary_df(T v, T g, [[maybe_unused]] T a) {
  if constexpr (kOp == UnaryOp::neg) return -g;
  else if constexpr (kOp == UnaryOp::exp) return g * v;
  else if constexpr (kOp == UnaryOp::log) return g / v;
  else if constexpr (kOp == UnaryOp::abs) return v > 0 ? g : v < 0 ? -g : T(0);
  else if constexpr (kOp == UnaryOp::sqrt) return g / (T(2) * v);
  else if constexpr (kOp == UnaryOp::square) return T(2) * v * g;
  else if constexpr (kOp == UnaryOp::relu) return v > 0 ? g : T(0);
  else if constexpr (kOp == UnaryOp::leaky_relu) return v > 0 ? g : g * a;
  else if constexpr (kOp == UnaryOp::sigmoid) return g * v * (T(1) - v);
  else if constexpr (kOp == UnaryOp::tanh) return g * (T(1) - v * v);
  else if constexpr (kOp == UnaryOp::add_scalar) return g;
  else return g * a;  // mul_scalar
}

template <BinaryOp kOp, typename T>
__device__ __forceinline__ T binary_f(T u, T v) {
  if constexpr (kOp == BinaryOp::add) return u + v;
  else if constexpr (kOp == BinaryOp::sub) return u - v;
  else if constexpr (kOp == BinaryOp::mul) return u * v;
  else return u / v;
}

// Apply f to each component of a float4.
template <typename F>
__device__ __forceinline__ float4 map4(float4 a, F f) {
  return make_float4(f(a.x), f(a.y), f(a.z), f(a.w));
}

// ---- Unary. x, y are (n); the vec4 kernels take n4 = n / 4 float4s.
template <UnaryOp kOp, typename T>
__global__ void __launch_bounds__(kBlock) unary_fwd_kernel(int64_t n, const T* x, T* y, T a) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = unary_f<kOp>(x[i], a);
}
template <UnaryOp kOp>
__global__ void __launch_bounds__(kBlock) unary_fwd_vec4(int64_t n4, const float4* x, float4* y, float a) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n4; i += grid_threads())
    y[i] = map4(x[i], [a](float v) { return unary_f<kOp>(v, a); });
}

template <UnaryOp kOp, typename T>
__global__ void __launch_bounds__(kBlock) unary_bwd_kernel(int64_t n, const T* x, const T* y, const T* dy, T* dx, T a) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    T v = T(0);
    if constexpr (kBwdReadsY<kOp>) v = y[i];
    if constexpr (kBwdReadsX<kOp>) v = x[i];
    dx[i] = unary_df<kOp>(v, dy[i], a);
  }
}
template <UnaryOp kOp>
__global__ void __launch_bounds__(kBlock) unary_bwd_vec4(int64_t n4, const float4* x, const float4* y, const float4* dy,
                                                         float4* dx, float a) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n4; i += grid_threads()) {
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if constexpr (kBwdReadsY<kOp>) v = y[i];
    if constexpr (kBwdReadsX<kOp>) v = x[i];
    const float4 g = dy[i];
    dx[i] = make_float4(unary_df<kOp>(v.x, g.x, a), unary_df<kOp>(v.y, g.y, a), unary_df<kOp>(v.z, g.z, a),
                        unary_df<kOp>(v.w, g.w, a));
  }
}

template <UnaryOp kOp, typename T>
void unary_forward_op(int64_t n, const T* x, T* y, T a, cudaStream_t s) {
  if constexpr (sizeof(T) == 4) {
    if (vec4_ok<T>(n, x, y)) {
      ABBE_LAUNCH(unary_fwd_vec4<kOp>, grid_for(n / 4), kBlock, 0, s, n / 4, reinterpret_cast<const float4*>(x),
                  reinterpret_cast<float4*>(y), a);
      return;
    }
  }
  ABBE_LAUNCH((unary_fwd_kernel<kOp, T>), grid_for(n), kBlock, 0, s, n, x, y, a);
}

template <UnaryOp kOp, typename T>
void unary_backward_op(int64_t n, const T* x, const T* y, const T* dy, T* dx, T a, cudaStream_t s) {
  // Pointers the op does not read are left out of the alignment test (and may be null).
  const T* xr = kBwdReadsX<kOp> ? x : nullptr;
  const T* yr = kBwdReadsY<kOp> ? y : nullptr;
  if constexpr (sizeof(T) == 4) {
    if (vec4_ok<T>(n, xr, yr, dy, dx)) {
      ABBE_LAUNCH(unary_bwd_vec4<kOp>, grid_for(n / 4), kBlock, 0, s, n / 4, reinterpret_cast<const float4*>(xr),
                  reinterpret_cast<const float4*>(yr), reinterpret_cast<const float4*>(dy),
                  reinterpret_cast<float4*>(dx), a);
      return;
    }
  }
  ABBE_LAUNCH((unary_bwd_kernel<kOp, T>), grid_for(n), kBlock, 0, s, n, xr, yr, dy, dx, a);
}

// ---- Binary. Contiguous a, b: flat loop (float4 when aligned). b one scalar: flat loop reading
// b[0]. Otherwise the 5-D index of each output element is decomposed and the strides applied.
template <BinaryOp kOp, typename T>
__global__ void __launch_bounds__(kBlock) binary_flat_kernel(int64_t n, const T* a, const T* b, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = binary_f<kOp>(a[i], b[i]);
}
template <BinaryOp kOp>
__global__ void __launch_bounds__(kBlock) binary_flat_vec4(int64_t n4, const float4* a, const float4* b, float4* y) {
  for (int64_t i = global_thread(); i < n4; i += grid_threads()) {
    const float4 u = a[i], v = b[i];
    y[i] = make_float4(binary_f<kOp>(u.x, v.x), binary_f<kOp>(u.y, v.y), binary_f<kOp>(u.z, v.z),
                       binary_f<kOp>(u.w, v.w));
  }
}
template <BinaryOp kOp, typename T>
__global__ void __launch_bounds__(kBlock) binary_scalar_kernel(int64_t n, const T* a, const T* b, T* y) {
  const T v = b[0];
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = binary_f<kOp>(a[i], v);
}
template <BinaryOp kOp, typename T>
__global__ void __launch_bounds__(kBlock) binary_strided_kernel(Broadcast bc, int64_t n, const T* a, const T* b, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int d = 4; d >= 0; --d) {  // innermost dimension first
      const int64_t k = rest % bc.size[d];
      rest /= bc.size[d];
      ia += k * bc.a_stride[d];
      ib += k * bc.b_stride[d];
    }
    y[i] = binary_f<kOp>(a[ia], b[ib]);
  }
}

// True if `stride` addresses a dense row-major array of `size` (dims of size 1 may have any stride).
bool dense(const int64_t* size, const int64_t* stride) {
  int64_t expect = 1;
  for (int d = 4; d >= 0; --d) {
    if (size[d] != 1 && stride[d] != expect) return false;
    expect *= size[d];
  }
  return true;
}
bool all_zero(const int64_t* size, const int64_t* stride) {
  for (int d = 0; d < 5; ++d)
    if (size[d] != 1 && stride[d] != 0) return false;
  return true;
}

template <BinaryOp kOp, typename T>
void binary_op(const Broadcast& bc, const T* a, const T* b, T* y, cudaStream_t s) {
  const int64_t n = bc.numel();
  const bool a_dense = dense(bc.size, bc.a_stride);
  if (a_dense && dense(bc.size, bc.b_stride)) {
    if constexpr (sizeof(T) == 4) {
      if (vec4_ok<T>(n, a, b, y)) {
        ABBE_LAUNCH(binary_flat_vec4<kOp>, grid_for(n / 4), kBlock, 0, s, n / 4, reinterpret_cast<const float4*>(a),
                    reinterpret_cast<const float4*>(b), reinterpret_cast<float4*>(y));
        return;
      }
    }
    ABBE_LAUNCH((binary_flat_kernel<kOp, T>), grid_for(n), kBlock, 0, s, n, a, b, y);
  } else if (a_dense && all_zero(bc.size, bc.b_stride)) {
    ABBE_LAUNCH((binary_scalar_kernel<kOp, T>), grid_for(n), kBlock, 0, s, n, a, b, y);
  } else {
    ABBE_LAUNCH((binary_strided_kernel<kOp, T>), grid_for(n), kBlock, 0, s, bc, n, a, b, y);
  }
}

// ---- axpy: a (n) += alpha * b (n).
template <typename T>
__global__ void __launch_bounds__(kBlock) axpy_kernel(int64_t n, T alpha, const T* b, T* a) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) a[i] += alpha * b[i];
}
__global__ void __launch_bounds__(kBlock) axpy_vec4(int64_t n4, float alpha, const float4* b, float4* a) {
  for (int64_t i = global_thread(); i < n4; i += grid_threads()) {
    float4 u = a[i];
    const float4 v = b[i];
    u.x += alpha * v.x;
    u.y += alpha * v.y;
    u.z += alpha * v.z;
    u.w += alpha * v.w;
    a[i] = u;
  }
}

// ---- PReLU. x, y, dy, dx are (N, C, inner); w is (C) or (1).
template <typename T>
__global__ void __launch_bounds__(kBlock) prelu_fwd_kernel(int64_t n, int64_t C, int64_t inner, int64_t C_w,
                                                           const T* x, const T* w, T* y) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T v = x[i];
    y[i] = v > 0 ? v : w[C_w == 1 ? 0 : (i / inner) % C] * v;
  }
}

// One block per (n, c) row at a time (grid-stride over rows): writes dx and the row's partial
// sum of x * dy over x <= 0, in double, to part[row]. kThreads is a power of two >= 32.
// Reduction: block tree in shared memory down to one warp, then shuffles.
template <typename T, int kThreads>
__global__ void __launch_bounds__(kThreads) prelu_bwd_rows(int64_t rows, int64_t C, int64_t inner, int64_t C_w,
                                                           const T* x, const T* w, const T* dy, T* dx, double* part) {
  static_assert(kThreads >= 32 && (kThreads & (kThreads - 1)) == 0, "power-of-two block of whole warps");
  ABBE_SHARED(double, s, [kThreads]);
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T slope = w[C_w == 1 ? 0 : row % C];
    const T* px = x + row * inner;
    const T* pg = dy + row * inner;
    T* pd = dx + row * inner;
    double acc = 0;
    for (int64_t i = t; i < inner; i += kThreads) {
      const T v = px[i], g = pg[i];
      const bool pos = v > 0;
      pd[i] = pos ? g : slope * g;
      if (!pos) acc += static_cast<double>(v) * g;
    }
    if constexpr (kThreads > 32) {
      s[t] = acc;
      __syncthreads();
      for (int stride = kThreads / 2; stride >= 32; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
      }
      if (t < 32) acc = s[t];
    }
    if (t < 32) {
      for (int offset = 16; offset > 0; offset /= 2) acc += abbe_shfl_down(0xffffffffu, acc, static_cast<unsigned>(offset));
      if (t == 0) part[row] = acc;
    }
    // s is rewritten by the next row only after warp 0 has read it.
    if constexpr (kThreads > 32) __syncthreads();
  }
}

// One thread per weight: dw[c] = sum over its rows, ascending, of T(part[row]) (the CPU kernel's
// order and rounding). rows = N * C; part is (N, C).
template <typename T>
__global__ void __launch_bounds__(kBlock) prelu_bwd_finish(int64_t N, int64_t C, int64_t C_w, const double* part, T* dw) {
  const int64_t c = global_thread();
  if (c >= C_w) return;
  T sum = T(0);
  if (C_w == 1) {
    for (int64_t r = 0; r < N * C; ++r) sum += static_cast<T>(part[r]);
  } else {
    for (int64_t n = 0; n < N; ++n) sum += static_cast<T>(part[n * C + c]);
  }
  dw[c] = sum;
}

}  // namespace

#define ABBE_UNARY_CASES(CALL)                                                        \
  switch (op) {                                                                       \
    case UnaryOp::neg: return CALL(UnaryOp::neg);                                     \
    case UnaryOp::exp: return CALL(UnaryOp::exp);                                     \
    case UnaryOp::log: return CALL(UnaryOp::log);                                     \
    case UnaryOp::abs: return CALL(UnaryOp::abs);                                     \
    case UnaryOp::sqrt: return CALL(UnaryOp::sqrt);                                   \
    case UnaryOp::square: return CALL(UnaryOp::square);                               \
    case UnaryOp::relu: return CALL(UnaryOp::relu);                                   \
    case UnaryOp::leaky_relu: return CALL(UnaryOp::leaky_relu);                       \
    case UnaryOp::sigmoid: return CALL(UnaryOp::sigmoid);                             \
    case UnaryOp::tanh: return CALL(UnaryOp::tanh);                                   \
    case UnaryOp::add_scalar: return CALL(UnaryOp::add_scalar);                       \
    case UnaryOp::mul_scalar: return CALL(UnaryOp::mul_scalar);                       \
  }                                                                                   \
  ABBE_FAIL("unknown UnaryOp ", static_cast<int>(op))

template <typename T>
void unary_forward(UnaryOp op, int64_t n, const T* x, T* y, T alpha, void* stream) {
  if (n <= 0) return;
#define ABBE_CALL(OP) unary_forward_op<OP, T>(n, x, y, alpha, as_stream(stream))
  ABBE_UNARY_CASES(ABBE_CALL);
#undef ABBE_CALL
}

template <typename T>
void unary_backward(UnaryOp op, int64_t n, const T* x, const T* y, const T* dy, T* dx, T alpha, void* stream) {
  if (n <= 0) return;
#define ABBE_CALL(OP) unary_backward_op<OP, T>(n, x, y, dy, dx, alpha, as_stream(stream))
  ABBE_UNARY_CASES(ABBE_CALL);
#undef ABBE_CALL
}
#undef ABBE_UNARY_CASES

template <typename T>
void binary_forward(BinaryOp op, const Broadcast& bc, const T* a, const T* b, T* y, void* stream) {
  if (bc.numel() <= 0) return;
  const cudaStream_t s = as_stream(stream);
  switch (op) {
    case BinaryOp::add: return binary_op<BinaryOp::add>(bc, a, b, y, s);
    case BinaryOp::sub: return binary_op<BinaryOp::sub>(bc, a, b, y, s);
    case BinaryOp::mul: return binary_op<BinaryOp::mul>(bc, a, b, y, s);
    case BinaryOp::div: return binary_op<BinaryOp::div>(bc, a, b, y, s);
  }
  ABBE_FAIL("unknown BinaryOp ", static_cast<int>(op));
}

template <typename T>
void axpy(int64_t n, T alpha, const T* b, T* a, void* stream) {
  if (n <= 0) return;
  const cudaStream_t s = as_stream(stream);
  if constexpr (sizeof(T) == 4) {
    if (vec4_ok<T>(n, a, b)) {
      ABBE_LAUNCH(axpy_vec4, grid_for(n / 4), kBlock, 0, s, n / 4, alpha, reinterpret_cast<const float4*>(b),
                  reinterpret_cast<float4*>(a));
      return;
    }
  }
  ABBE_LAUNCH(axpy_kernel<T>, grid_for(n), kBlock, 0, s, n, alpha, b, a);
}

template <typename T>
void prelu_forward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, T* y, void* stream) {
  const int64_t n = N * C * inner;
  if (n <= 0) return;
  ABBE_LAUNCH(prelu_fwd_kernel<T>, grid_for(n), kBlock, 0, as_stream(stream), n, C, inner, C_w, x, w, y);
}

int64_t prelu_backward_workspace_bytes(int64_t N, int64_t C) {
  return N * C * static_cast<int64_t>(sizeof(double));
}

template <typename T>
void prelu_backward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, const T* dy, T* dx,
                    T* dw, void* workspace, void* stream) {
  if (C_w <= 0) return;
  const cudaStream_t s = as_stream(stream);
  const int64_t rows = N * C;
  double* part = static_cast<double*>(workspace);
  if (rows > 0 && inner > 0) {
    const int grid = static_cast<int>(rows < 65535 ? rows : 65535);
    // A short row would leave most of a 256-thread block idle: one warp per row then.
    if (inner >= 256)
      ABBE_LAUNCH((prelu_bwd_rows<T, 256>), grid, 256, 0, s, rows, C, inner, C_w, x, w, dy, dx, part);
    else
      ABBE_LAUNCH((prelu_bwd_rows<T, 32>), grid, 32, 0, s, rows, C, inner, C_w, x, w, dy, dx, part);
  } else if (rows > 0) {
    ABBE_CUDA_CHECK(cudaMemsetAsync(part, 0, static_cast<std::size_t>(rows) * sizeof(double), s));
  }
  ABBE_LAUNCH(prelu_bwd_finish<T>, static_cast<int>((C_w + kBlock - 1) / kBlock), kBlock, 0, s, N, C, C_w,
              static_cast<const double*>(part), dw);
}

#define ABBE_INSTANTIATE(T)                                                                                      \
  template void unary_forward<T>(UnaryOp, int64_t, const T*, T*, T, void*);                                     \
  template void unary_backward<T>(UnaryOp, int64_t, const T*, const T*, const T*, T*, T, void*);                \
  template void binary_forward<T>(BinaryOp, const Broadcast&, const T*, const T*, T*, void*);                   \
  template void axpy<T>(int64_t, T, const T*, T*, void*);                                                        \
  template void prelu_forward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*, T*, void*);             \
  template void prelu_backward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*, const T*, T*, T*, void*, \
                                  void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

#undef ABBE_NO_UNROLL

}  // namespace abbe::kernels::cuda
