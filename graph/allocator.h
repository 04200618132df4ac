#pragma once
// Allocators. The CPU allocator returns 64-byte-aligned blocks and caches freed blocks by size
// class (powers of two from 64 B up to 64 MiB, then rounded to 2 MiB), so the inference loop of a
// long movie reuses the same buffers instead of going back to the system for every frame.
#include <cstddef>
#include <cstdint>

#include "graph/device.h"

namespace abbe {

struct AllocatorStats {
  size_t in_use = 0;       // bytes handed out and not yet returned
  size_t peak_in_use = 0;  // high-water mark of in_use since the last reset
  size_t cached = 0;       // bytes held in the free lists
  uint64_t allocations = 0, cache_hits = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  virtual void empty_cache() = 0;
};

// The allocator for a device (throws for a device this build has no backend for).
Allocator& allocator_for(Device d);

// The size class a request of nbytes is served from (exposed for tests).
size_t cpu_size_class(size_t nbytes);

}  // namespace abbe
