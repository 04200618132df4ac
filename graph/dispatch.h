#pragma once
// Device dispatch. Ops switch on the device of their inputs; a device without an implementation
// of an op raises a clear error instead of silently falling back to the CPU.
#include "graph/op_list.h"
#include "graph/tensor.h"

namespace abbe {

// Whether this build has `op` on `device` (the CPU has every op).
bool supports(Op op, Device device);

// All inputs on one device; returns it. Names the op and the offending tensor otherwise.
Device common_device(Op op, std::initializer_list<const Tensor*> inputs);

[[noreturn]] void unsupported(Op op, Device device);

// The current CUDA stream (a cudaStream_t as void*) for kernel launchers; nullptr without CUDA.
void* cuda_stream();

}  // namespace abbe

// Runs one kernel on `device`: kernels::cuda::NAME(args..., stream) for a CUDA tensor,
// kernels::cpu::NAME(args...) otherwise. Both backends give each kernel the same name and
// arguments (the CUDA one adds the stream), so an op has one call site per kernel. Use it inside
// a dispatch_float lambda (a template): in CPU-only builds the CUDA call is then discarded
// without being instantiated, and there is nothing to link.
#define ABBE_KERNEL(device, name, ...)                                        \
  do {                                                                        \
    if constexpr (::abbe::kCudaBackend) {                                     \
      if ((device).is_cuda()) {                                               \
        ::abbe::kernels::cuda::name(__VA_ARGS__, ::abbe::cuda_stream());      \
        break;                                                                \
      }                                                                       \
    }                                                                         \
    ::abbe::kernels::cpu::name(__VA_ARGS__);                                  \
  } while (0)
