#pragma once
// The CUDA-on-CPU emulator: what kernels/cuda/cuda_compat.h includes instead of <cuda_runtime.h>
// when ABBE_CUDA_EMULATION is defined (g++ builds). device.h is the kernel side (threadIdx,
// barriers, shared memory, warp intrinsics, atomics, math); runtime.h the host side (memory,
// streams, events, the launch). Model, guarantees and rules: kernels/emu/README.md.
#include "kernels/emu/device.h"
#include "kernels/emu/runtime.h"
