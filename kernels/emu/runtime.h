#pragma once
// The host half of the CUDA-on-CPU emulator: the subset of the CUDA runtime API that abbe's host
// wrappers use, mapped to host memory and synchronous execution, plus the kernel launch that
// ABBE_LAUNCH expands to. Names keep CUDA's spelling so a host wrapper is written once for both
// builds; the emulator's own additions live in abbe::emu.
//
// Device memory is host memory, but it is still tracked: cudaMemcpy/cudaMemset check that the
// device side lies inside a live allocation, and a kernel launch checks that every pointer argument
// is null or points into memory a real GPU could reach (cudaMalloc, cudaMallocHost,
// cudaMallocManaged). New allocations are poisoned (0xFF bytes, NaN as floats) so a kernel that
// reads an output it never initialised fails visibly.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/emu/device.h"

// ---- Types (driver_types.h); enum values are CUDA's. ----
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
struct abbe_emu_stream;  // opaque handles, created by the emulator's runtime
struct abbe_emu_event;
using cudaStream_t = abbe_emu_stream*;
using cudaEvent_t = abbe_emu_event*;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00
#define cudaMemAttachGlobal 0x01

// The fields of cudaDeviceProp that the emulator fills (a subset of CUDA 13's struct).
struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  std::size_t sharedMemPerBlockOptin;
  std::size_t sharedMemPerMultiprocessor;
  std::size_t totalConstMem;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int maxThreadsPerMultiProcessor;
  int multiProcessorCount;
  int major;
  int minor;
  int l2CacheSize;
  int unifiedAddressing;
  int managedMemory;
  int concurrentKernels;
};

// ---- Runtime API (implemented in kernels/emu/runtime.cpp). Functions return error codes and
// never throw, as CUDA's do; the last error is per host thread. They live in abbe::emu::api and are
// re-exported under CUDA's names below, so their symbols are the emulator's own: an emulated and
// the real runtime never collide at link time, and a backtrace says which one ran. ----
namespace abbe::emu::api {

const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);  // one emulated device
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);

cudaError_t cudaMalloc(void** p, std::size_t bytes);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned flags);
cudaError_t cudaMallocManaged(void** p, std::size_t bytes, unsigned flags = cudaMemAttachGlobal);
cudaError_t cudaFree(void* p);
cudaError_t cudaFreeHost(void* p);
template <typename T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
template <typename T>
cudaError_t cudaMallocHost(T** p, std::size_t bytes) { return cudaMallocHost(reinterpret_cast<void**>(p), bytes); }
template <typename T>
cudaError_t cudaMallocManaged(T** p, std::size_t bytes, unsigned flags = cudaMemAttachGlobal) {
  return cudaMallocManaged(reinterpret_cast<void**>(p), bytes, flags);
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);  // host wall time

// Opting a kernel in to more than 48 KiB of dynamic shared memory, as on the GPU.
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attr, int value);
template <typename... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}
// __constant__ variables are ordinary globals here.
template <typename T>
cudaError_t cudaMemcpyToSymbol(const T& symbol, const void* src, std::size_t bytes, std::size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
  if (offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
  std::memcpy(const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(&symbol)) + offset, src, bytes);
  return cudaSuccess;
}
template <typename T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, std::size_t bytes, std::size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  if (offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
  std::memcpy(dst, reinterpret_cast<const unsigned char*>(&symbol) + offset, bytes);
  return cudaSuccess;
}

}  // namespace abbe::emu::api

using abbe::emu::api::cudaDeviceReset;
using abbe::emu::api::cudaDeviceSynchronize;
using abbe::emu::api::cudaDriverGetVersion;
using abbe::emu::api::cudaEventCreate;
using abbe::emu::api::cudaEventCreateWithFlags;
using abbe::emu::api::cudaEventDestroy;
using abbe::emu::api::cudaEventElapsedTime;
using abbe::emu::api::cudaEventQuery;
using abbe::emu::api::cudaEventRecord;
using abbe::emu::api::cudaEventSynchronize;
using abbe::emu::api::cudaFree;
using abbe::emu::api::cudaFreeHost;
using abbe::emu::api::cudaFuncSetAttribute;
using abbe::emu::api::cudaGetDevice;
using abbe::emu::api::cudaGetDeviceCount;
using abbe::emu::api::cudaGetDeviceProperties;
using abbe::emu::api::cudaGetErrorName;
using abbe::emu::api::cudaGetErrorString;
using abbe::emu::api::cudaGetLastError;
using abbe::emu::api::cudaHostAlloc;
using abbe::emu::api::cudaMalloc;
using abbe::emu::api::cudaMallocHost;
using abbe::emu::api::cudaMallocManaged;
using abbe::emu::api::cudaMemGetInfo;
using abbe::emu::api::cudaMemcpy;
using abbe::emu::api::cudaMemcpyAsync;
using abbe::emu::api::cudaMemcpyFromSymbol;
using abbe::emu::api::cudaMemcpyToSymbol;
using abbe::emu::api::cudaMemset;
using abbe::emu::api::cudaMemsetAsync;
using abbe::emu::api::cudaPeekAtLastError;
using abbe::emu::api::cudaRuntimeGetVersion;
using abbe::emu::api::cudaSetDevice;
using abbe::emu::api::cudaStreamCreate;
using abbe::emu::api::cudaStreamCreateWithFlags;
using abbe::emu::api::cudaStreamDestroy;
using abbe::emu::api::cudaStreamQuery;
using abbe::emu::api::cudaStreamSynchronize;
using abbe::emu::api::cudaStreamWaitEvent;

namespace abbe::emu {

// The emulated device's limits (an sm_80-class GPU; the opt-in shared memory limit is sm_86's
// 99 KiB, the smallest of the architectures abbe builds for, so a kernel that fits here fits all).
inline constexpr unsigned kMaxThreadsPerBlock = 1024;
inline constexpr unsigned kMaxBlockDimZ = 64;
inline constexpr unsigned kMaxGridDimX = 2147483647u;
inline constexpr unsigned kMaxGridDimYZ = 65535;
inline constexpr std::size_t kSharedPerBlock = 48 * 1024;      // static + dynamic, default
inline constexpr std::size_t kSharedPerBlockOptin = 101376;    // with cudaFuncSetAttribute

// How kernels are run; change only while no kernel runs.
enum class Order {
  alternate,   // ascending and descending thread order, alternating per block and per barrier phase
  ascending,   // thread 0 first in every phase
  descending,  // last thread first in every phase
};
struct Config {
  std::size_t fiber_stack_bytes = 64 * 1024;  // per CUDA thread; a guard page below catches overflow
  int os_threads = 0;                         // OS threads running blocks; 0: omp_get_max_threads()
  Order order = Order::alternate;
  bool poison = true;                         // poison shared memory per block and new allocations
};
Config config();
void set_config(const Config& c);

// What the most recent launch from this host thread did (for tests and the README's claims).
struct LaunchStats {
  int os_threads = 0;                 // OS threads that ran blocks
  std::uint64_t blocks = 0;
  std::uint64_t fiber_resumes = 0;    // context switches into fibers
  std::uint64_t block_barriers = 0;   // __syncthreads releases, summed over blocks
  std::uint64_t warp_barriers = 0;    // warp-intrinsic group releases, summed over blocks
  std::size_t static_shared_bytes = 0;  // ABBE_SHARED bytes of one block
};
LaunchStats last_launch_stats();

// True if a kernel may dereference p: null, or inside (or one past) a live cudaMalloc,
// cudaMallocHost/cudaHostAlloc or cudaMallocManaged allocation.
bool is_device_accessible(const void* p);
// Bytes currently allocated through cudaMalloc/cudaMallocManaged (for leak tests).
std::size_t device_bytes_in_use();
// The sentence behind the last runtime error on this host thread (CUDA's strings are generic).
const char* last_error_detail();
// The dynamic shared memory limit a kernel was opted in to (kSharedPerBlock if never).
std::size_t max_dynamic_shared(const void* kernel);
bool is_live_stream(cudaStream_t s);

// One kernel launch, type-erased: `invoke(args)` runs the kernel body for the calling fiber.
struct PointerArg {
  int index;
  const void* value;
};
struct LaunchSpec {
  const char* kernel_name;
  const char* file;
  int line;
  const void* kernel;
  dim3 grid, block;
  std::size_t shared_bytes;
  cudaStream_t stream;
  void (*invoke)(const void* args);
  const void* args;
  const PointerArg* pointer_args;
  int num_pointer_args;
};
// Validates the configuration like the GPU would (throwing abbe::Error that names the kernel and
// the launch site), then runs every block to completion before returning.
void launch_kernel(const LaunchSpec& spec);

template <typename... P, typename... A>
void launch(const char* name, const char* file, int line, void (*kernel)(P...), dim3 grid, dim3 block,
            std::size_t shared_bytes, cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "ABBE_LAUNCH: argument count differs from the kernel's parameters");
  // Arguments are converted to the parameter types once, as CUDA does; each fiber then calls the
  // kernel with its own copies, so a thread that modifies a parameter changes only its own.
  struct Bound {
    void (*kernel)(P...);
    std::tuple<P...> args;
  };
  const Bound bound{kernel, std::tuple<P...>(std::forward<A>(args)...)};
  PointerArg pointers[sizeof...(P) + 1] = {};
  int num_pointers = 0;
  std::apply(
      [&](const auto&... a) {
        int index = 0;
        auto note = [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_pointer_v<V> && !std::is_function_v<std::remove_pointer_t<V>>)
            pointers[num_pointers++] = PointerArg{index, const_cast<const void*>(static_cast<const volatile void*>(v))};
          ++index;
        };
        (note(a), ...);
      },
      bound.args);
  const LaunchSpec spec{name, file, line, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
                        [](const void* p) {
                          const Bound& b = *static_cast<const Bound*>(p);
                          std::apply(b.kernel, b.args);
                        },
                        &bound, pointers, num_pointers};
  launch_kernel(spec);
}

}  // namespace abbe::emu
