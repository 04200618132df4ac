#include "kernels/cpu/optim.h"

#include <cmath>

// The expressions below follow PyTorch's CPU kernels operation by operation so that float32
// results match torch.optim; do not "simplify" them. Where PyTorch's AVX2 kernels fuse a
// multiply-add (add with alpha, addcmul) we call madd; its division steps (the scalar divide,
// addcdiv) stay unfused, as there.

namespace abbe::kernels::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threading costs more than it saves

// a * b + c, rounded once when the CPU has FMA (bitwise as PyTorch's AVX2 build), else twice.
// Without __FMA__, std::fma would be a slow library call per element.
template <typename T>
inline T madd(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}
}  // namespace

template <typename T>
void adam_step(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               int64_t step) {
  // Scalars in double, as Python computes them.
  const double bias_correction1 = 1 - std::pow(beta1, double(step));
  const double bias_correction2 = 1 - std::pow(beta2, double(step));
  const T neg_step_size = T(-(lr / bias_correction1));
  const T bc2_sqrt = T(std::sqrt(bias_correction2));
  const T b1 = T(beta1), b2 = T(beta2), one_minus_b1 = T(1 - beta1), one_minus_b2 = T(1 - beta2);
  const T e = T(eps);
  const T l2 = decoupled ? T(0) : T(weight_decay);
  const T decay = decoupled ? T(1 - lr * weight_decay) : T(1);
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T p = param[i];
    T g = grad[i];
    // grad.add(param, alpha=weight_decay); AdamW: param.mul_(1 - lr * weight_decay)
    if (l2 != T(0)) g = madd(l2, p, g);
    p = p * decay;
    // exp_avg.mul_(beta1).add_(g, alpha=1-beta1); exp_avg_sq.mul_(beta2).addcmul_(g, g, 1-beta2)
    const T m = madd(one_minus_b1, g, exp_avg[i] * b1);
    const T v = madd(one_minus_b2 * g, g, exp_avg_sq[i] * b2);
    const T denom = std::sqrt(v) / bc2_sqrt + e;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = p + neg_step_size * m / denom;  // param.addcdiv_(m, denom, value=-step_size)
  }
}

template <typename T>
void sgd_step(int64_t n, T* param, const T* grad, T* momentum_buf, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool first_step) {
  const T wd = T(weight_decay), mom = T(momentum), one_minus_damp = T(1 - dampening);
  const T neg_lr = T(-lr);
  const bool use_momentum = momentum != 0;
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T p = param[i];
    T d = grad[i];
    if (wd != T(0)) d = madd(wd, p, d);
    if (use_momentum) {
      const T buf = first_step ? d : madd(one_minus_damp, d, momentum_buf[i] * mom);
      momentum_buf[i] = buf;
      d = nesterov ? madd(mom, buf, d) : buf;
    }
    param[i] = madd(neg_lr, d, p);
  }
}

template void adam_step<float>(int64_t, float*, const float*, float*, float*, double, double,
                               double, double, double, bool, int64_t);
template void adam_step<double>(int64_t, double*, const double*, double*, double*, double, double,
                                double, double, double, bool, int64_t);
template void sgd_step<float>(int64_t, float*, const float*, float*, double, double, double, double,
                              bool, bool);
template void sgd_step<double>(int64_t, double*, const double*, double*, double, double, double,
                               double, bool, bool);

}  // namespace abbe::kernels::cpu
