#pragma once
// Where a tensor lives. The CUDA device is declared here so every layer can name it; the CPU
// backend is always present, the CUDA backend only in CUDA (or CUDA-emulation) builds.
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

// ABBE_WITH_CUDA: this build has the CUDA backend, on a real GPU (ABBE_CUDA, nvcc) or on the CPU
// emulator (ABBE_CUDA_EMULATION). Without it, Device::cuda() names a device no tensor can live on.
#if defined(ABBE_CUDA) || defined(ABBE_CUDA_EMULATION)
#define ABBE_WITH_CUDA 1
#else
#define ABBE_WITH_CUDA 0
#endif

namespace abbe {

// For `if constexpr`: a CUDA branch inside a template is then not even instantiated in CPU-only
// builds, which have no CUDA kernels to link.
inline constexpr bool kCudaBackend = ABBE_WITH_CUDA;

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

// The device a user asked for: "cpu", "cuda" (or "cuda:0") or "auto".
//  - cuda with no usable GPU throws, naming the driver status;
//  - auto takes a real GPU when one is usable, else the CPU, and sets *note to one line saying why
//    (the caller prints it once). The CUDA emulator is never chosen by auto: it is for tests.
Device select_device(std::string_view spec, std::string* note = nullptr);

// Whether tensors can be made on `d` in this build and on this machine.
bool device_usable(Device d);

}  // namespace abbe
