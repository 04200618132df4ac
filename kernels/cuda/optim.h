#pragma once
// Fused optimiser updates of the CUDA backend: the semantics and arithmetic of kernels/cpu/optim.h
// over device pointers. n contiguous elements, in place; param, grad and the state buffers have
// the same n elements and type T (float or double). Hyperparameters arrive as double and are
// rounded to T once on the host, exactly as the CPU kernel does; the per-element arithmetic runs
// in T in the same order, with the CPU's fused multiply-adds as FMAs and every other product and
// sum rounded on its own (never contracted), so a step matches the CPU kernel bit for bit when
// that was built with FMA (-march=native on x86-64), within an ulp or two otherwise.
// Plain C++: no CUDA header. `stream` is a cudaStream_t passed as void* (nullptr: default
// stream); asynchronous; throws abbe::Error if the launch fails.
#include <cstdint>

namespace abbe::kernels::cuda {

// torch.optim.Adam (decoupled = false: g += weight_decay * param) or torch.optim.AdamW
// (decoupled = true: param *= 1 - lr * weight_decay), no amsgrad, as PyTorch 1.13:
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// step counts from 1 (the value after this update). exp_avg and exp_avg_sq start at zero.
template <typename T>
void adam_step(int64_t n, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled, int64_t step, void* stream = nullptr);

// torch.optim.SGD, as PyTorch 1.13:
//   d = g + weight_decay * param
//   buf = first_step ? d : momentum * buf + (1 - dampening) d      (only when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf
//   param -= lr * d
// momentum_buf may be null when momentum == 0. first_step: the buffer holds nothing yet.
template <typename T>
void sgd_step(int64_t n, T* param, const T* grad, T* momentum_buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step, void* stream = nullptr);

}  // namespace abbe::kernels::cuda
