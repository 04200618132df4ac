#pragma once
// The CUDA device as the rest of abbe sees it: whether a GPU is usable, the current stream,
// events, the caching device allocator and host<->device copies. Plain C++ (no CUDA header), so
// graph/ and tools/ can include it; only builds with a CUDA backend (ABBE_WITH_CUDA, see
// graph/device.h) link its implementation, kernels/cuda/device.cu.
//
// Streams: each host thread has a current stream (initially the default stream, nullptr). Every
// kernel launcher and copy takes it; StreamGuard changes it for a scope. Nothing here
// synchronises the host except the functions that say so (downloads, synchronize, Event::wait).
#include <cstddef>
#include <cstdint>
#include <string>

#include "graph/allocator.h"

namespace abbe::cuda {

// What the CUDA runtime says about this machine. Never throws.
struct DeviceStatus {
  bool usable = false;    // a device can run kernels
  bool emulated = false;  // the device is kernels/emu (the CPU), not a GPU
  int count = 0;          // devices the runtime sees
  std::string name;       // device 0, e.g. "NVIDIA A100-SXM4-40GB" or "abbe CUDA emulator"
  std::string detail;     // why not usable: the runtime's error, driver and runtime versions
};
const DeviceStatus& device_status();

// Throws abbe::Error naming the driver status unless device_status().usable.
void require_device();

// ---- Streams and events. Handles are cudaStream_t / cudaEvent_t as void*. ----
void* current_stream();

// Makes `stream` current on this thread for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(void* stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  void* previous_;
};

// An owned non-blocking stream.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void* get() const { return handle_; }
  void synchronize() const;

 private:
  void* handle_ = nullptr;
};

// An owned event with timing.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(void* stream = current_stream());
  void wait() const;                           // host waits for the recorded work
  void block(void* stream = current_stream()) const;  // stream waits (no host sync)
  float elapsed_ms(const Event& later) const;  // between two recorded, completed events

 private:
  void* handle_ = nullptr;
};

// Waits for all work on the device.
void synchronize();

// ---- Memory ----
// The caching device allocator (size-class bins as the CPU's, one free list per stream).
// A block freed by a tensor returns to the free list of the stream it was allocated on and is
// reused only by allocations on that stream: kernels on one stream run in order, so a later
// kernel cannot overwrite memory an earlier one still reads. Memory used on another stream must
// be synchronised by the caller before the tensor is dropped. On cudaErrorMemoryAllocation the
// cache is released (cudaFree) and the allocation retried once.
Allocator& device_allocator();

// Asynchronous on the current stream; the host memory of an upload may be reused as soon as the
// call returns (the copy is staged or completed, as cudaMemcpyAsync from pageable memory is).
void upload(void* device_dst, const void* host_src, size_t nbytes);
// Synchronous: returns once host_dst holds the data.
void download(void* host_dst, const void* device_src, size_t nbytes);
void copy_device(void* dst, const void* src, size_t nbytes);

}  // namespace abbe::cuda
