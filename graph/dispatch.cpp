#include "graph/dispatch.h"

#if ABBE_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace abbe {

// Every op has a CUDA kernel (tests/test_devices.cpp checks each one against the CPU).
bool supports(Op, Device device) { return device.is_cpu() || kCudaBackend; }

void* cuda_stream() {
#if ABBE_WITH_CUDA
  return cuda::current_stream();
#else
  return nullptr;
#endif
}

Device common_device(Op op, std::initializer_list<const Tensor*> inputs) {
  Device d;
  bool first = true;
  for (const Tensor* t : inputs) {
    if (!t->defined()) continue;
    if (first) {
      d = t->device(), first = false;
    } else {
      ABBE_CHECK(t->device() == d, op_name(op), ": inputs on different devices (", d, " and ",
                 t->device(), ")");
    }
  }
  if (!supports(op, d)) unsupported(op, d);
  return d;
}

void unsupported(Op op, Device device) {
  ABBE_FAIL(op_name(op), " is not implemented on device ", device, " in this build");
}

}  // namespace abbe
