// CUDA optimiser steps (see optim.h): grid-stride loops over 256-thread blocks, one thread per
// element. The expressions follow kernels/cpu/optim.cpp operation by operation (which follows
// PyTorch's kernels); do not "simplify" them. madd is the CPU's fused multiply-add; mul and add
// are single roundings that nvcc may not contract into an FMA, so that every rounding matches
// the CPU's. Divisions and square roots are IEEE (nvcc's default -prec-div, -prec-sqrt).
#include "kernels/cuda/optim.h"

#include <cmath>
#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/launch.h"

namespace abbe::kernels::cuda {

namespace {

__device__ __forceinline__ float madd(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double madd(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float d_sqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double d_sqrt(double v) { return sqrt(v); }

// Hyperparameters already rounded to T (see adam_step).
template <typename T>
struct AdamScalars {
  T neg_step_size, bc2_sqrt, b1, b2, one_minus_b1, one_minus_b2, e, l2, decay;
};

// param, grad, exp_avg, exp_avg_sq: (n).
template <typename T>
__global__ void __launch_bounds__(kBlock) adam_kernel(int64_t n, AdamScalars<T> c, T* param, const T* grad, T* exp_avg,
                                                      T* exp_avg_sq) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    T p = param[i];
    T g = grad[i];
    // grad.add(param, alpha=weight_decay); AdamW: param.mul_(1 - lr * weight_decay)
    if (c.l2 != T(0)) g = madd(c.l2, p, g);
    p = mul(p, c.decay);
    // exp_avg.mul_(beta1).add_(g, alpha=1-beta1); exp_avg_sq.mul_(beta2).addcmul_(g, g, 1-beta2)
    const T m = madd(c.one_minus_b1, g, mul(exp_avg[i], c.b1));
    const T v = madd(mul(c.one_minus_b2, g), g, mul(exp_avg_sq[i], c.b2));
    const T denom = add(d_sqrt(v) / c.bc2_sqrt, c.e);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = add(p, mul(c.neg_step_size, m) / denom);  // param.addcdiv_(m, denom, value=-step_size)
  }
}

// param, grad, momentum_buf (null when !use_momentum): (n).
template <typename T>
__global__ void __launch_bounds__(kBlock) sgd_kernel(int64_t n, T wd, T mom, T one_minus_damp, T neg_lr,
                                                     bool use_momentum, bool nesterov, bool first_step, T* param,
                                                     const T* grad, T* momentum_buf) {
  ABBE_NO_UNROLL
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T p = param[i];
    T d = grad[i];
    if (wd != T(0)) d = madd(wd, p, d);
    if (use_momentum) {
      const T buf = first_step ? d : madd(one_minus_damp, d, mul(momentum_buf[i], mom));
      momentum_buf[i] = buf;
      d = nesterov ? madd(mom, buf, d) : buf;
    }
    param[i] = madd(neg_lr, d, p);
  }
}

}  // namespace

template <typename T>
void adam_step(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled, int64_t step, void* stream) {
  if (n <= 0) return;
  // Scalars in double, as Python computes them, then rounded to T: kernels/cpu/optim.cpp's code.
  const double bias_correction1 = 1 - std::pow(beta1, double(step));
  const double bias_correction2 = 1 - std::pow(beta2, double(step));
  AdamScalars<T> c;
  c.neg_step_size = T(-(lr / bias_correction1));
  c.bc2_sqrt = T(std::sqrt(bias_correction2));
  c.b1 = T(beta1);
  c.b2 = T(beta2);
  c.one_minus_b1 = T(1 - beta1);
  c.one_minus_b2 = T(1 - beta2);
  c.e = T(eps);
  c.l2 = decoupled ? T(0) : T(weight_decay);
  c.decay = decoupled ? T(1 - lr * weight_decay) : T(1);
  ABBE_LAUNCH(adam_kernel<T>, grid_for(n), kBlock, 0, as_stream(stream), n, c, param, grad, exp_avg, exp_avg_sq);
}

template <typename T>
void sgd_step(int64_t n, T* param, const T* grad, T* momentum_buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step, void* stream) {
  if (n <= 0) return;
  const T wd = T(weight_decay), mom = T(momentum), one_minus_damp = T(1 - dampening);
  const T neg_lr = T(-lr);
  const bool use_momentum = momentum != 0;
  ABBE_LAUNCH(sgd_kernel<T>, grid_for(n), kBlock, 0, as_stream(stream), n, wd, mom, one_minus_damp, neg_lr,
              use_momentum, nesterov, first_step, param, grad, use_momentum ? momentum_buf : nullptr);
}

#define ABBE_INSTANTIATE(T)                                                                                         \
  template void adam_step<T>(int64_t, T*, const T*, T*, T*, double, double, double, double, double, bool, int64_t, \
                             void*);                                                                               \
  template void sgd_step<T>(int64_t, T*, const T*, T*, double, double, double, double, bool, bool, void*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)
#undef ABBE_INSTANTIATE

#undef ABBE_NO_UNROLL

}  // namespace abbe::kernels::cuda
