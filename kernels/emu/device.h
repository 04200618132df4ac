#pragma once
// The kernel-side half of the CUDA-on-CPU emulator: what a kernels/cuda/*.cu body sees when it is
// compiled by g++ with ABBE_CUDA_EMULATION. Never include this directly: include
// kernels/cuda/cuda_compat.h, which picks this header or <cuda_runtime.h>.
//
// Execution model (details in kernels/emu/README.md): a block runs on one OS thread; each of its
// CUDA threads is a fiber with its own small stack. A fiber runs until it reaches a barrier
// (__syncthreads, or a warp intrinsic, which is a barrier of its warp) and then yields to the
// block's scheduler, which resumes the others. threadIdx/blockIdx/... are thread_local variables
// that the scheduler sets before resuming a fiber.
#if defined(__CUDACC__) || defined(__CUDA_ARCH__)
#error "kernels/emu is for g++ builds with ABBE_CUDA_EMULATION; nvcc uses the real CUDA headers"
#endif

#include <math.h>  // the C++ <math.h> also puts the float overloads (exp(float), ...) in ::, as CUDA does

#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

// ---- CUDA keywords: execution-space qualifiers mean nothing on the CPU. ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
// __restrict__ is a native g++ keyword and keeps its aliasing meaning.
// Plain __shared__ cannot give per-block, poisoned storage (see README "Shared memory"):
#define __shared__ \
  static_assert(false, "abbe emulator: declare shared memory with ABBE_SHARED(T, name, dims) or ABBE_DYNAMIC_SHARED(T, name)");

// ---- Vector types (vector_types.h). threadIdx and blockIdx are uint3; blockDim and gridDim dim3. ----
#define ABBE_EMU_VEC2(T, name, align) \
  struct alignas(align) name { T x, y; }; \
  inline constexpr name make_##name(T x, T y) { return name{x, y}; }
#define ABBE_EMU_VEC3(T, name) \
  struct name { T x, y, z; }; \
  inline constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define ABBE_EMU_VEC4(T, name, align) \
  struct alignas(align) name { T x, y, z, w; }; \
  inline constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }
ABBE_EMU_VEC2(float, float2, 8)
ABBE_EMU_VEC3(float, float3)
ABBE_EMU_VEC4(float, float4, 16)
ABBE_EMU_VEC2(double, double2, 16)
ABBE_EMU_VEC2(int, int2, 8)
ABBE_EMU_VEC3(int, int3)
ABBE_EMU_VEC4(int, int4, 16)
ABBE_EMU_VEC2(unsigned int, uint2, 8)
ABBE_EMU_VEC3(unsigned int, uint3)
ABBE_EMU_VEC4(unsigned int, uint4, 16)
ABBE_EMU_VEC4(unsigned char, uchar4, 4)
ABBE_EMU_VEC2(long long, longlong2, 16)
ABBE_EMU_VEC2(unsigned long long, ulonglong2, 16)
#undef ABBE_EMU_VEC2
#undef ABBE_EMU_VEC3
#undef ABBE_EMU_VEC4

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// The scheduler writes these before it resumes a fiber (threadIdx) or starts a block (the rest).
// Kernels must treat them as read-only, as nvcc enforces.
inline constinit thread_local uint3 threadIdx{};
inline constinit thread_local uint3 blockIdx{};
inline constinit thread_local dim3 blockDim{};
inline constinit thread_local dim3 gridDim{};
inline constexpr int warpSize = 32;

// ---- The emulator's interface to kernel code (implemented in kernels/emu/fiber.cpp). ----
namespace abbe::emu {

enum class WarpOp : unsigned char { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };
enum class BlockOp : unsigned char { sync, count, and_, or_ };

// A barrier of the calling thread's warp: waits until every existing lane named in `mask` has
// reached a warp op with the same mask and kind, then returns this lane's result (the shuffled
// value's bits, or the ballot). `bits` is this lane's value, `arg` the lane/offset/xor mask.
std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t bits, unsigned arg, int width, int pred,
                      const std::source_location& where);
// __syncthreads and its counting variants; the result is the count / and / or of `pred`.
int block_barrier(BlockOp op, int pred, const std::source_location& where);
// Storage of one ABBE_SHARED declaration in the running block, keyed by the address of a static
// unique to the declaration; the first thread to reach it allocates and poisons it.
void* shared_static(const void* key, std::size_t bytes, std::size_t align, const char* name);
void* shared_dynamic();
// Linear thread index of the running fiber within its block, modulo 32.
unsigned lane_id();

template <typename T>
std::uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move values of at most 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// Atomics: a CAS loop for the read-modify-writes that std::atomic_ref lacks. Blocks run on
// several OS threads, so these must be real atomics even though a block's fibers are not.
template <typename T, typename F>
T atomic_update(T* address, F f) {
  std::atomic_ref<T> a(*address);
  T old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, f(old), std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
  return old;
}
template <typename T>
T exchange(T* a, T v) {
  return std::atomic_ref<T>(*a).exchange(v, std::memory_order_acq_rel);
}
template <typename T>
T cas(T* a, T compare, T val) {
  std::atomic_ref<T>(*a).compare_exchange_strong(compare, val, std::memory_order_acq_rel, std::memory_order_acquire);
  return compare;  // on failure compare_exchange stored the current value: CUDA returns the old value either way
}

}  // namespace abbe::emu

// ---- Shared memory. ----
// ABBE_SHARED(float, tile, [32][33]) declares one float[32][33] per block, shared by its threads;
// ABBE_SHARED(float, total) a scalar. Under nvcc it is `__shared__ T name dims`.
#define ABBE_SHARED(T, name, ...)                                                                 \
  static char abbe_emu_shared_key_##name;                                                          \
  T(&name) __VA_ARGS__ = *static_cast<T(*) __VA_ARGS__>(::abbe::emu::shared_static(              \
      &abbe_emu_shared_key_##name, sizeof(T __VA_ARGS__), alignof(T __VA_ARGS__), #name))
// The launch's dynamic shared memory (ABBE_LAUNCH's shared_bytes), as a T*; declare it once per
// kernel and carve further arrays out of it by offset.
#define ABBE_DYNAMIC_SHARED(T, name) T* const name = static_cast<T*>(::abbe::emu::shared_dynamic())

// ---- Barriers. The call site is recorded so a divergent barrier is reported with its line. ----
inline void __syncthreads(std::source_location where = std::source_location::current()) {
  ::abbe::emu::block_barrier(::abbe::emu::BlockOp::sync, 0, where);
}
inline int __syncthreads_count(int pred, std::source_location where = std::source_location::current()) {
  return ::abbe::emu::block_barrier(::abbe::emu::BlockOp::count, pred, where);
}
inline int __syncthreads_and(int pred, std::source_location where = std::source_location::current()) {
  return ::abbe::emu::block_barrier(::abbe::emu::BlockOp::and_, pred, where);
}
inline int __syncthreads_or(int pred, std::source_location where = std::source_location::current()) {
  return ::abbe::emu::block_barrier(::abbe::emu::BlockOp::or_, pred, where);
}
// Memory fences: blocks on different OS threads communicate through real memory.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- Warp intrinsics, only through the project's wrappers (the raw __shfl_*_sync names are not
// defined, so kernels that bypass the wrappers do not compile here). Semantics follow PTX
// shfl.sync exactly, including `width` segments; reading a lane outside `mask` or beyond the block
// returns all-ones bits (NaN for floats), the emulator's "undefined value". ----
template <typename T>
T abbe_shfl(unsigned mask, T v, int src_lane, int width = 32,
            std::source_location where = std::source_location::current()) {
  return ::abbe::emu::from_bits<T>(::abbe::emu::warp_op(::abbe::emu::WarpOp::shfl_idx, mask,
                                                        ::abbe::emu::to_bits(v), static_cast<unsigned>(src_lane), width, 0, where));
}
template <typename T>
T abbe_shfl_up(unsigned mask, T v, unsigned delta, int width = 32,
               std::source_location where = std::source_location::current()) {
  return ::abbe::emu::from_bits<T>(
      ::abbe::emu::warp_op(::abbe::emu::WarpOp::shfl_up, mask, ::abbe::emu::to_bits(v), delta, width, 0, where));
}
template <typename T>
T abbe_shfl_down(unsigned mask, T v, unsigned delta, int width = 32,
                 std::source_location where = std::source_location::current()) {
  return ::abbe::emu::from_bits<T>(
      ::abbe::emu::warp_op(::abbe::emu::WarpOp::shfl_down, mask, ::abbe::emu::to_bits(v), delta, width, 0, where));
}
template <typename T>
T abbe_shfl_xor(unsigned mask, T v, int lane_mask, int width = 32,
                std::source_location where = std::source_location::current()) {
  return ::abbe::emu::from_bits<T>(::abbe::emu::warp_op(::abbe::emu::WarpOp::shfl_xor, mask,
                                                        ::abbe::emu::to_bits(v), static_cast<unsigned>(lane_mask), width, 0, where));
}
inline unsigned abbe_ballot(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return static_cast<unsigned>(::abbe::emu::warp_op(::abbe::emu::WarpOp::ballot, mask, 0, 0, 32, pred, where));
}
inline bool abbe_any(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return ::abbe::emu::warp_op(::abbe::emu::WarpOp::any, mask, 0, 0, 32, pred, where) != 0;
}
inline bool abbe_all(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
  return ::abbe::emu::warp_op(::abbe::emu::WarpOp::all, mask, 0, 0, 32, pred, where) != 0;
}
inline void abbe_syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
  ::abbe::emu::warp_op(::abbe::emu::WarpOp::syncwarp, mask, 0, 0, 32, 0, where);
}
inline unsigned abbe_lane_id() { return ::abbe::emu::lane_id(); }

// ---- Atomics (CUDA's overload set; relaxed on the GPU, acq_rel here, which is stronger). ----
inline int atomicAdd(int* a, int v) { return std::atomic_ref<int>(*a).fetch_add(v, std::memory_order_acq_rel); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_add(v, std::memory_order_acq_rel); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*a).fetch_add(v, std::memory_order_acq_rel);
}
inline float atomicAdd(float* a, float v) { return std::atomic_ref<float>(*a).fetch_add(v, std::memory_order_acq_rel); }
inline double atomicAdd(double* a, double v) { return std::atomic_ref<double>(*a).fetch_add(v, std::memory_order_acq_rel); }
inline int atomicSub(int* a, int v) { return std::atomic_ref<int>(*a).fetch_sub(v, std::memory_order_acq_rel); }
inline unsigned atomicSub(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_sub(v, std::memory_order_acq_rel); }
inline int atomicExch(int* a, int v) { return ::abbe::emu::exchange(a, v); }
inline unsigned atomicExch(unsigned* a, unsigned v) { return ::abbe::emu::exchange(a, v); }
inline unsigned long long atomicExch(unsigned long long* a, unsigned long long v) { return ::abbe::emu::exchange(a, v); }
inline float atomicExch(float* a, float v) { return ::abbe::emu::exchange(a, v); }
inline int atomicCAS(int* a, int c, int v) { return ::abbe::emu::cas(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return ::abbe::emu::cas(a, c, v); }
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return ::abbe::emu::cas(a, c, v);
}
#define ABBE_EMU_MINMAX(T)                                                                                     \
  inline T atomicMin(T* a, T v) { return ::abbe::emu::atomic_update(a, [v](T o) { return v < o ? v : o; }); } \
  inline T atomicMax(T* a, T v) { return ::abbe::emu::atomic_update(a, [v](T o) { return v > o ? v : o; }); }
ABBE_EMU_MINMAX(int)
ABBE_EMU_MINMAX(unsigned)
ABBE_EMU_MINMAX(long long)
ABBE_EMU_MINMAX(unsigned long long)
#undef ABBE_EMU_MINMAX
#define ABBE_EMU_BITOPS(T)                                                                                     \
  inline T atomicAnd(T* a, T v) { return std::atomic_ref<T>(*a).fetch_and(v, std::memory_order_acq_rel); }   \
  inline T atomicOr(T* a, T v) { return std::atomic_ref<T>(*a).fetch_or(v, std::memory_order_acq_rel); }     \
  inline T atomicXor(T* a, T v) { return std::atomic_ref<T>(*a).fetch_xor(v, std::memory_order_acq_rel); }
ABBE_EMU_BITOPS(int)
ABBE_EMU_BITOPS(unsigned)
ABBE_EMU_BITOPS(unsigned long long)
#undef ABBE_EMU_BITOPS
// atomicInc wraps to 0 past `limit`; atomicDec wraps to `limit` below 0 or above it (CUDA's rules).
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return ::abbe::emu::atomic_update(a, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  return ::abbe::emu::atomic_update(a, [limit](unsigned o) { return (o == 0 || o > limit) ? limit : o - 1; });
}

// ---- Loads, math intrinsics and integer intrinsics (device_functions.h). The fast-math
// intrinsics (__expf, ...) are exact here: the emulator checks logic, not ulps. ----
template <typename T>
inline T __ldg(const T* p) { return *p; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / std::cbrt(x); }
inline float fdividef(float x, float y) { return x / y; }
inline float __fdividef(float x, float y) { return x / y; }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
// sin(pi x) and cos(pi x) (CUDA's sinpi family; glibc 2.36 has none), in double.
inline float sinpif(float x) { return static_cast<float>(std::sin(3.141592653589793 * static_cast<double>(x))); }
inline float cospif(float x) { return static_cast<float>(std::cos(3.141592653589793 * static_cast<double>(x))); }
inline double sinpi(double x) { return std::sin(3.141592653589793 * x); }
inline double cospi(double x) { return std::cos(3.141592653589793 * x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}
// CUDA's device min/max overloads (same-type pairs).
#define ABBE_EMU_MINMAX_FN(T) \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
ABBE_EMU_MINMAX_FN(int)
ABBE_EMU_MINMAX_FN(unsigned)
ABBE_EMU_MINMAX_FN(long)
ABBE_EMU_MINMAX_FN(unsigned long)
ABBE_EMU_MINMAX_FN(long long)
ABBE_EMU_MINMAX_FN(unsigned long long)
#undef ABBE_EMU_MINMAX_FN
// ... and CUDA's mixed ones: a signed/unsigned pair compares as unsigned, float/double as double.
#define ABBE_EMU_MINMAX_MIXED(R, A, B)                                                           \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(b) : static_cast<R>(a); }
ABBE_EMU_MINMAX_MIXED(unsigned, int, unsigned)
ABBE_EMU_MINMAX_MIXED(unsigned, unsigned, int)
ABBE_EMU_MINMAX_MIXED(unsigned long long, long long, unsigned long long)
ABBE_EMU_MINMAX_MIXED(unsigned long long, unsigned long long, long long)
#undef ABBE_EMU_MINMAX_MIXED
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin(a, b); }
inline double max(float a, double b) { return std::fmax(a, b); }
inline double min(double a, float b) { return std::fmin(a, b); }
inline double max(double a, float b) { return std::fmax(a, b); }
