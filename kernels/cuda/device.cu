// The CUDA device runtime (see device.h): status, streams, events, the caching allocator, copies.
// Host code only; compiled by nvcc against the real runtime or by g++ against kernels/emu.
#include "kernels/cuda/device.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/cuda_compat.h"

namespace abbe::cuda {

namespace {

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }

std::string version_string(int v) { return detail::concat(v / 1000, ".", (v % 1000) / 10); }

DeviceStatus query_status() {
  DeviceStatus s;
#if defined(ABBE_CUDA_EMULATION)
  s.emulated = true;
#endif
  int driver = 0, runtime = 0;
  (void)cudaDriverGetVersion(&driver);
  (void)cudaRuntimeGetVersion(&runtime);
  const std::string versions =
      detail::concat("driver supports CUDA ", driver ? version_string(driver) : std::string("(no driver)"),
             ", runtime is CUDA ", version_string(runtime));
  const cudaError_t e = cudaGetDeviceCount(&s.count);
  if (e != cudaSuccess) {
    s.detail = detail::concat("cudaGetDeviceCount failed with ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                      "); ", versions);
    (void)cudaGetLastError();
    s.count = 0;
    return s;
  }
  if (s.count == 0) {
    s.detail = detail::concat("the CUDA runtime sees no device; ", versions);
    return s;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) s.name = prop.name;
  s.usable = true;
  s.detail = versions;
  return s;
}

thread_local void* t_current_stream = nullptr;

// ---- The caching allocator ----

class DeviceCachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    require_device();
    const size_t cls = cpu_size_class(nbytes);  // the same bins as the host allocator
    void* const stream = current_stream();
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    void* p = nullptr;
    auto& bin = free_[{stream, cls}];
    if (!bin.empty()) {
      p = bin.back();
      bin.pop_back();
      stats_.cached -= cls;
      ++stats_.cache_hits;
    } else {
      cudaError_t e = cudaMalloc(&p, cls);
      if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
        (void)cudaGetLastError();
        release_locked();
        e = cudaMalloc(&p, cls);
      }
      if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        ABBE_FAIL("out of device memory allocating ", nbytes, " bytes (abbe holds ", stats_.in_use,
                  " bytes in tensors; the device has ", free_b, " of ", total_b, " bytes free)");
      }
      ABBE_CUDA_CHECK(e);
    }
    owner_[p] = stream;
    stats_.in_use += cls;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    const size_t cls = cpu_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = owner_.find(p);
    ABBE_CHECK(it != owner_.end(), "device allocator: freeing ", p, ", which it did not allocate");
    free_[{it->second, cls}].push_back(p);
    owner_.erase(it);
    stats_.in_use -= cls;
    stats_.cached += cls;
  }

  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_in_use = stats_.in_use;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked();
  }

 private:
  void release_locked() {
    // cudaFree synchronises the device, so cached blocks still read by queued kernels are safe.
    for (auto& [key, blocks] : free_)
      for (void* b : blocks) (void)cudaFree(b);
    free_.clear();
    stats_.cached = 0;
  }

  mutable std::mutex mu_;
  std::map<std::pair<void*, size_t>, std::vector<void*>> free_;  // (stream, size class) -> blocks
  std::unordered_map<void*, void*> owner_;                        // live block -> its stream
  AllocatorStats stats_;
};

}  // namespace

const DeviceStatus& device_status() {
  static const DeviceStatus status = query_status();
  return status;
}

void require_device() {
  const DeviceStatus& s = device_status();
  if (!s.usable) ABBE_FAIL("no usable CUDA device: ", s.detail);
}

void* current_stream() { return t_current_stream; }

StreamGuard::StreamGuard(void* stream) : previous_(t_current_stream) { t_current_stream = stream; }
StreamGuard::~StreamGuard() { t_current_stream = previous_; }

Stream::Stream() {
  require_device();
  cudaStream_t s = nullptr;
  ABBE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  handle_ = s;
}
// Synchronised first: its cached blocks (keyed by this handle, which a new stream may reuse) are
// then idle.
Stream::~Stream() {
  (void)cudaStreamSynchronize(as_stream(handle_));
  (void)cudaStreamDestroy(as_stream(handle_));
}
void Stream::synchronize() const { ABBE_CUDA_CHECK(cudaStreamSynchronize(as_stream(handle_))); }

Event::Event() {
  require_device();
  cudaEvent_t e = nullptr;
  ABBE_CUDA_CHECK(cudaEventCreate(&e));
  handle_ = e;
}
Event::~Event() { (void)cudaEventDestroy(as_event(handle_)); }
void Event::record(void* stream) { ABBE_CUDA_CHECK(cudaEventRecord(as_event(handle_), as_stream(stream))); }
void Event::wait() const { ABBE_CUDA_CHECK(cudaEventSynchronize(as_event(handle_))); }
void Event::block(void* stream) const {
  ABBE_CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), as_event(handle_), 0));
}
float Event::elapsed_ms(const Event& later) const {
  float ms = 0;
  ABBE_CUDA_CHECK(cudaEventElapsedTime(&ms, as_event(handle_), as_event(later.handle_)));
  return ms;
}

void synchronize() { ABBE_CUDA_CHECK(cudaDeviceSynchronize()); }

Allocator& device_allocator() {
  static auto* allocator = new DeviceCachingAllocator();  // never destroyed: tensors may outlive main
  return *allocator;
}

void upload(void* device_dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  ABBE_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, nbytes, cudaMemcpyHostToDevice, as_stream(current_stream())));
}

void download(void* host_dst, const void* device_src, size_t nbytes) {
  if (nbytes == 0) return;
  const cudaStream_t s = as_stream(current_stream());
  ABBE_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, nbytes, cudaMemcpyDeviceToHost, s));
  ABBE_CUDA_CHECK(cudaStreamSynchronize(s));
}

void copy_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  ABBE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, as_stream(current_stream())));
}

}  // namespace abbe::cuda
