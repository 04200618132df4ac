// The emulator's CUDA runtime: one emulated device whose memory is host memory, tracked so that
// copies and kernel arguments can be checked; streams and events are handles to nothing (every
// call runs synchronously), events still record host time so cudaEventElapsedTime works.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "graph/error.h"
#include "kernels/emu/runtime.h"

struct abbe_emu_stream {
  unsigned flags;
};
struct abbe_emu_event {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point time;
};

namespace abbe::emu {
namespace {

enum class MemKind { device, host, managed };
const char* kind_name(MemKind k) {
  return k == MemKind::device ? "cudaMalloc" : k == MemKind::host ? "cudaMallocHost" : "cudaMallocManaged";
}

struct Allocation {
  std::size_t bytes;
  MemKind kind;
};

struct Registry {
  std::mutex mutex;
  std::map<std::uintptr_t, Allocation> allocations;  // by start address
  std::size_t device_bytes = 0;
  std::set<const abbe_emu_stream*> streams;
  std::set<const abbe_emu_event*> events;
  std::unordered_map<const void*, std::size_t> max_dynamic;  // kernel -> opted-in dynamic shared bytes
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: frees from static destructors stay valid
  return *r;
}

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local std::string t_detail;

cudaError_t fail(cudaError_t e, std::string detail) {
  t_last_error = e;
  t_detail = std::move(detail);
  return e;
}

// The allocation containing p (or ending at p, if one_past_end), with its start; registry locked.
const std::pair<const std::uintptr_t, Allocation>* find(Registry& r, const void* p, bool one_past_end = false) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = r.allocations.upper_bound(a);
  if (it == r.allocations.begin()) return nullptr;
  --it;
  const std::uintptr_t end = it->first + it->second.bytes;
  return (a < end || (one_past_end && a == end)) ? &*it : nullptr;
}

std::size_t physical_bytes() {
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

cudaError_t allocate(void** p, std::size_t bytes, MemKind kind, const char* fn) {
  if (!p) return fail(cudaErrorInvalidValue, detail::concat(fn, ": null output pointer"));
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  const std::size_t rounded = (bytes + 255) / 256 * 256;  // cudaMalloc's 256-byte alignment
  void* m = std::aligned_alloc(256, rounded);
  if (!m) return fail(cudaErrorMemoryAllocation, detail::concat(fn, ": out of host memory for ", bytes, " bytes"));
  if (config().poison) std::memset(m, 0xFF, rounded);  // uninitialised device memory reads as NaN
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.allocations[reinterpret_cast<std::uintptr_t>(m)] = Allocation{bytes, kind};
  if (kind != MemKind::host) r.device_bytes += bytes;
  *p = m;
  return cudaSuccess;
}

cudaError_t release(void* p, bool host, const char* fn) {
  if (!p) return cudaSuccess;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == r.allocations.end())
    return fail(cudaErrorInvalidValue, detail::concat(fn, "(", p, "): not the start of a live allocation (double free?)"));
  if ((it->second.kind == MemKind::host) != host)
    return fail(cudaErrorInvalidValue, detail::concat(fn, "(", p, "): memory came from ", kind_name(it->second.kind)));
  if (it->second.kind != MemKind::host) r.device_bytes -= it->second.bytes;
  r.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

// Checks one side of a copy: device memory must lie wholly inside one device or managed
// allocation; host memory must not be device memory (pinned and managed memory are fine).
bool check_side(Registry& r, const void* p, std::size_t bytes, bool device, const char* side, std::string& why) {
  const auto* a = find(r, p);
  if (device) {
    if (!a || a->second.kind == MemKind::host) {
      why = detail::concat(side, " ", p, " is not device memory");
      return false;
    }
  } else if (!a || a->second.kind != MemKind::device) {
    return true;
  } else {
    why = detail::concat(side, " ", p, " is device memory but the copy kind says host");
    return false;
  }
  const std::size_t offset = reinterpret_cast<std::uintptr_t>(p) - a->first;
  if (offset + bytes > a->second.bytes) {
    why = detail::concat(side, " range of ", bytes, " bytes at offset ", offset, " overruns its allocation of ",
                         a->second.bytes, " bytes");
    return false;
  }
  return true;
}

bool live_stream(Registry& r, cudaStream_t s) { return s == nullptr || r.streams.count(s) != 0; }

}  // namespace

bool is_device_accessible(const void* p) {
  if (!p) return true;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return find(r, p, true) != nullptr;
}

std::size_t device_bytes_in_use() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.device_bytes;
}

const char* last_error_detail() { return t_detail.c_str(); }

std::size_t max_dynamic_shared(const void* kernel) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.max_dynamic.find(kernel);
  return it == r.max_dynamic.end() ? kSharedPerBlock : it->second;
}

bool is_live_stream(cudaStream_t s) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return live_stream(r, s);
}

}  // namespace abbe::emu

// The CUDA runtime API under the emulator's own symbols (runtime.h re-exports CUDA's names).
namespace abbe::emu::api {

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define ABBE_EMU_ERR(name) \
  case name: return #name;
    ABBE_EMU_ERR(cudaSuccess)
    ABBE_EMU_ERR(cudaErrorInvalidValue)
    ABBE_EMU_ERR(cudaErrorMemoryAllocation)
    ABBE_EMU_ERR(cudaErrorInitializationError)
    ABBE_EMU_ERR(cudaErrorInvalidConfiguration)
    ABBE_EMU_ERR(cudaErrorInvalidSymbol)
    ABBE_EMU_ERR(cudaErrorInvalidDevicePointer)
    ABBE_EMU_ERR(cudaErrorInvalidMemcpyDirection)
    ABBE_EMU_ERR(cudaErrorInvalidDeviceFunction)
    ABBE_EMU_ERR(cudaErrorNoDevice)
    ABBE_EMU_ERR(cudaErrorInvalidDevice)
    ABBE_EMU_ERR(cudaErrorInvalidResourceHandle)
    ABBE_EMU_ERR(cudaErrorNotReady)
    ABBE_EMU_ERR(cudaErrorIllegalAddress)
    ABBE_EMU_ERR(cudaErrorLaunchOutOfResources)
    ABBE_EMU_ERR(cudaErrorLaunchFailure)
    ABBE_EMU_ERR(cudaErrorNotSupported)
    ABBE_EMU_ERR(cudaErrorUnknown)
#undef ABBE_EMU_ERR
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    default: return cudaGetErrorName(e);
  }
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = abbe::emu::t_last_error;
  abbe::emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return abbe::emu::t_last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: null pointer");
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice, "the emulator has one device, 0");
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue, "cudaGetDevice: null pointer");
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: null pointer");
  if (device != 0) return fail(cudaErrorInvalidDevice, "the emulator has one device, 0");
  std::memset(p, 0, sizeof(*p));
  std::strncpy(p->name, "abbe CUDA emulator (CPU)", sizeof(p->name) - 1);
  p->totalGlobalMem = abbe::emu::physical_bytes();
  p->sharedMemPerBlock = abbe::emu::kSharedPerBlock;
  p->sharedMemPerBlockOptin = abbe::emu::kSharedPerBlockOptin;
  p->sharedMemPerMultiprocessor = 102400;
  p->totalConstMem = 65536;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = p->maxGridSize[2] = 65535;
  p->maxThreadsPerMultiProcessor = 2048;
  const int threads = abbe::emu::config().os_threads;
  p->multiProcessorCount = threads > 0 ? threads : omp_get_max_threads();
  p->major = 8;
  p->minor = 0;
  p->l2CacheSize = 4 * 1024 * 1024;
  p->unifiedAddressing = 1;
  p->managedMemory = 1;
  p->concurrentKernels = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // every call already ran to completion
cudaError_t cudaDeviceReset() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& a : r.allocations) std::free(reinterpret_cast<void*>(a.first));
  r.allocations.clear();
  r.device_bytes = 0;
  r.max_dynamic.clear();
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return fail(cudaErrorInvalidValue, "null pointer");
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) { return cudaDriverGetVersion(v); }
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return fail(cudaErrorInvalidValue, "cudaMemGetInfo: null pointer");
  *total_bytes = abbe::emu::physical_bytes();
  *free_bytes = static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  return abbe::emu::allocate(p, bytes, abbe::emu::MemKind::device, "cudaMalloc");
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  return abbe::emu::allocate(p, bytes, abbe::emu::MemKind::host, "cudaMallocHost");
}
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned) {
  return abbe::emu::allocate(p, bytes, abbe::emu::MemKind::host, "cudaHostAlloc");
}
cudaError_t cudaMallocManaged(void** p, std::size_t bytes, unsigned) {
  return abbe::emu::allocate(p, bytes, abbe::emu::MemKind::managed, "cudaMallocManaged");
}
cudaError_t cudaFree(void* p) { return abbe::emu::release(p, false, "cudaFree"); }
cudaError_t cudaFreeHost(void* p) { return abbe::emu::release(p, true, "cudaFreeHost"); }

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue, "cudaMemcpy: null pointer");
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return fail(cudaErrorInvalidMemcpyDirection, "cudaMemcpy: unknown cudaMemcpyKind");
  {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!abbe::emu::live_stream(r, stream)) return fail(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: dead stream");
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {  // inferred from the pointers, as with unified addressing
      const auto* d = abbe::emu::find(r, dst);
      const auto* s = abbe::emu::find(r, src);
      dst_dev = d && d->second.kind != abbe::emu::MemKind::host;
      src_dev = s && s->second.kind != abbe::emu::MemKind::host;
    }
    std::string why;
    if (!abbe::emu::check_side(r, dst, bytes, dst_dev, "destination", why) ||
        !abbe::emu::check_side(r, src, bytes, src_dev, "source", why))
      return fail(cudaErrorInvalidValue, "cudaMemcpy of " + std::to_string(bytes) + " bytes: " + why);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!abbe::emu::live_stream(r, stream)) return fail(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: dead stream");
    std::string why;
    if (!abbe::emu::check_side(r, p, bytes, true, "destination", why))
      return fail(cudaErrorInvalidValue, "cudaMemset of " + std::to_string(bytes) + " bytes: " + why);
  }
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, std::size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (!s) return fail(cudaErrorInvalidValue, "cudaStreamCreate: null pointer");
  *s = new abbe_emu_stream{flags};
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!s || !r.streams.erase(s)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  return abbe::emu::is_live_stream(s) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: dead stream");
}
cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!abbe::emu::live_stream(r, s) || !r.events.count(e))
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: dead stream or event");
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  if (!e) return fail(cudaErrorInvalidValue, "cudaEventCreate: null pointer");
  *e = new abbe_emu_event{flags, false, {}};
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.events.insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!e || !r.events.erase(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.events.count(e) || !abbe::emu::live_stream(r, s))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: dead event or stream");
  e->recorded = true;
  e->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.events.count(e) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: dead event");
}
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null pointer");
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.events.count(start) || !r.events.count(end) || !start->recorded || !end->recorded ||
      ((start->flags | end->flags) & cudaEventDisableTiming))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: events not recorded or without timing");
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: the emulator knows only MaxDynamicSharedMemorySize");
  if (value < 0 || static_cast<std::size_t>(value) > abbe::emu::kSharedPerBlockOptin)
    return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) + " bytes exceed the opt-in limit of " +
                                           std::to_string(abbe::emu::kSharedPerBlockOptin));
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.max_dynamic[kernel] = static_cast<std::size_t>(value);
  return cudaSuccess;
}

}  // namespace abbe::emu::api
