#pragma once
// Pointwise complex kernels on the device: the same functions and semantics as
// kernels/cpu/complex.h ((re, im) pairs in the last dim), plus the stream.
#include <cstdint>

namespace abbe::kernels::cuda {

template <typename T> void complex_abs_forward(int64_t n, const T* z, T* y, void* stream = nullptr);
template <typename T>
void complex_abs_backward(int64_t n, const T* z, const T* y, const T* dy, T* dz, void* stream = nullptr);
template <typename T> void complex_angle_forward(int64_t n, const T* z, T* y, void* stream = nullptr);
template <typename T>
void complex_angle_backward(int64_t n, const T* z, const T* dy, T* dz, void* stream = nullptr);
template <typename T> void polar_forward(int64_t n, const T* amp, const T* phase, T* z, void* stream = nullptr);
template <typename T>
void polar_backward(int64_t n, const T* amp, const T* phase, const T* dz, T* damp, T* dphase,
                    void* stream = nullptr);

}  // namespace abbe::kernels::cuda
