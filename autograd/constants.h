#pragma once
// Small constant tensors that ops build from host values (flow_warp's pixel grid, the FFT
// backward's per-bin weights, SPyNet's flow scale): made once per (key, dtype, device) and kept
// for the thread's life, so a forward does not allocate and upload them again on every call (a
// host-to-device copy each time on a GPU). Callers must not modify the result in place.
#include <functional>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace abbe::autograd {

// key must determine shape and values; make() gives the values (row-major, as doubles).
const Tensor& cached_constant(const std::string& key, const Shape& shape, DType dtype, Device device,
                              const std::function<std::vector<double>()>& make);

}  // namespace abbe::autograd
