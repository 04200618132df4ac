#pragma once
// Pointwise complex kernels. A complex tensor is a real one whose last dim holds (re, im) pairs
// (PyTorch's view_as_real layout), so z has 2n values for n complex numbers. Gradients follow
// PyTorch's convention for real losses: the gradient of a complex value is
// dL/dre + i dL/dim, stored as (re, im) pairs like the value. Backward kernels overwrite.
#include <cstdint>

namespace abbe::kernels::cpu {

// y[i] = |z[i]|. dz = dy * z / |z|, and 0 where z == 0 (PyTorch's sgn(0) = 0).
template <typename T> void complex_abs_forward(int64_t n, const T* z, T* y);
template <typename T> void complex_abs_backward(int64_t n, const T* z, const T* y, const T* dy, T* dz);

// y[i] = atan2(im, re) in [-pi, pi]: a negative real with imaginary part +0.0 gives +pi, with
// -0.0 it gives -pi. dz = dy * (-im, re) / |z|^2, and 0 where z == 0.
template <typename T> void complex_angle_forward(int64_t n, const T* z, T* y);
template <typename T> void complex_angle_backward(int64_t n, const T* z, const T* dy, T* dz);

// z[i] = amp[i] * (cos phase[i], sin phase[i]).
// damp = dre cos + dim sin; dphase = amp * (dim cos - dre sin).
template <typename T> void polar_forward(int64_t n, const T* amp, const T* phase, T* z);
template <typename T>
void polar_backward(int64_t n, const T* amp, const T* phase, const T* dz, T* damp, T* dphase);

}  // namespace abbe::kernels::cpu
