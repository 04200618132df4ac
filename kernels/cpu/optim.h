#pragma once
// Fused optimiser updates over n contiguous elements, in place. One call per parameter tensor:
// param, grad and the state buffers all have the same n elements and the same type T
// (float or double). Hyperparameters arrive as double and are rounded to T once, as PyTorch
// does with Python scalars; the elementwise arithmetic runs in T in PyTorch's order, so a
// float32 step reproduces torch.optim to the last bit or two.
#include <cstdint>

namespace abbe::kernels::cpu {

// torch.optim.Adam (decoupled = false: g += weight_decay * param) or torch.optim.AdamW
// (decoupled = true: param *= 1 - lr * weight_decay), no amsgrad, as PyTorch 1.13:
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// step counts from 1 (the value after this update). exp_avg and exp_avg_sq start at zero.
template <typename T>
void adam_step(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               int64_t step);

// torch.optim.SGD, as PyTorch 1.13:
//   d = g + weight_decay * param
//   buf = first_step ? d : momentum * buf + (1 - dampening) d      (only when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf
//   param -= lr * d
// momentum_buf may be null when momentum == 0. first_step: the buffer holds nothing yet.
template <typename T>
void sgd_step(int64_t n, T* param, const T* grad, T* momentum_buf, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool first_step);

}  // namespace abbe::kernels::cpu
