#include "graph/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "graph/error.h"
#if ABBE_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace abbe {

size_t cpu_size_class(size_t nbytes) {
  constexpr size_t kMin = 64, kPow2Limit = size_t(64) << 20, kLargeStep = size_t(2) << 20;
  if (nbytes <= kMin) return kMin;
  if (nbytes <= kPow2Limit) {
    size_t c = kMin;
    while (c < nbytes) c <<= 1;
    return c;
  }
  return (nbytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

namespace {

class CpuCachingAllocator final : public Allocator {
 public:
  ~CpuCachingAllocator() override { empty_cache(); }

  void* allocate(size_t nbytes) override {
    const size_t cls = cpu_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= cls;
      ++stats_.cache_hits;
    } else {
      p = std::aligned_alloc(64, cls);
      if (!p) {  // give the cache back to the system and try once more
        release_locked();
        p = std::aligned_alloc(64, cls);
      }
      ABBE_CHECK(p != nullptr, "out of host memory allocating ", nbytes, " bytes (in use: ",
                 stats_.in_use, " bytes)");
    }
    stats_.in_use += cls;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    const size_t cls = cpu_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use -= cls;
    free_[cls].push_back(p);
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
    for (auto& [cls, blocks] : free_)
      for (void* b : blocks) std::free(b);
    free_.clear();
    stats_.cached = 0;
  }

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace

Allocator& allocator_for(Device d) {
  if (d.is_cpu()) {
    static auto* cpu = new CpuCachingAllocator();  // never destroyed: tensors may outlive main
    return *cpu;
  }
#if ABBE_WITH_CUDA
  ABBE_CHECK(d.index == 0, "device ", d, ": abbe uses one GPU, cuda:0");
  return cuda::device_allocator();
#else
  ABBE_FAIL("device ", d, " is not available in this build of abbe (built without CUDA)");
#endif
}

}  // namespace abbe
