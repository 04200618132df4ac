#include "graph/device.h"

#include "graph/error.h"
#if ABBE_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace abbe {

bool device_usable(Device d) {
  if (d.is_cpu()) return true;
#if ABBE_WITH_CUDA
  return d.index == 0 && cuda::device_status().usable;
#else
  return false;
#endif
}

Device select_device(std::string_view spec, std::string* note) {
  if (spec == "cpu") return Device::cpu();
  if (spec == "cuda" || spec == "cuda:0") {
#if ABBE_WITH_CUDA
    cuda::require_device();
    return Device::cuda();
#else
    ABBE_FAIL("--device cuda: this build of abbe has no CUDA backend (configure with -DABBE_CUDA=ON)");
#endif
  }
  if (spec == "auto") {
#if ABBE_WITH_CUDA
    const cuda::DeviceStatus& s = cuda::device_status();
    if (s.usable && !s.emulated) return Device::cuda();
    if (note)
      *note = s.emulated ? "device auto: this build's CUDA device is the CPU emulator (for tests); running on "
                           "the CPU (--device cuda runs the emulator)"
                         : "device auto: no usable CUDA device (" + s.detail + "); running on the CPU";
#else
    if (note) *note = "device auto: this build has no CUDA backend; running on the CPU";
#endif
    return Device::cpu();
  }
  if (spec.starts_with("cuda:")) ABBE_FAIL("device '", spec, "': abbe uses one GPU, cuda or cuda:0");
  ABBE_FAIL("unknown device '", spec, "' (expected cpu, cuda or auto)");
}

}  // namespace abbe
