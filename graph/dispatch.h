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

}  // namespace abbe
