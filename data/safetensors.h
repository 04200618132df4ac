#pragma once
// safetensors: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian tensor bytes. Used for weights, checkpoints and golden test data.
// Reading validates everything against the file: header size bound, JSON syntax, dtype, shape,
// offsets inside the data section, non-overlapping; errors name the file and the problem.
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace abbe::io {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;           // F32 -> float32, F64 -> float64 (F16/BF16 -> float32)
  std::vector<std::string> order;                  // names in file order
  std::map<std::string, std::string> metadata;     // "__metadata__" (string values)
};

constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;  // 100 MiB, as the reference reader

SafetensorsFile read_safetensors(const std::string& path);
// Writes atomically (temp file in the same directory, fsync, rename): a crash leaves the old
// file or the new one, never a torn one. Tensors are written as F32 or F64 by their dtype.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace abbe::io
