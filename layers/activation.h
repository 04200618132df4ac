#pragma once
// Activation and dropout modules. Dropout is active in training, or in eval when Monte Carlo
// dropout is switched on for the model (Module::set_mc_dropout).
#include "layers/module.h"

namespace abbe {

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class LeakyReLU : public UnaryModule {
 public:
  explicit LeakyReLU(double slope = 0.1) : slope_(slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, slope_); }

 private:
  double slope_;
};

class PReLU : public UnaryModule {
 public:
  // num_parameters = 1 (shared slope) or C; init 0.25 as torch.nn.PReLU.
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override { return prelu(x, weight); }
  Tensor weight;
};

class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator()) : p_(p), gen_(&gen) {}
  Tensor forward(const Tensor& x) override {
    return dropout(x, p_, is_training() || mc_dropout(), *gen_);
  }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace abbe
